/** A raw gRPC handle on one broker, for tests that must send what no well-behaved client would. */
import * as grpc from '@grpc/grpc-js';
import { loadBrokerProto, type v1 } from '@samsa/protocol';

type Method = 'Metadata' | 'DescribeCluster' | 'CreateTopics' | 'DeleteTopics' | 'Produce' | 'Fetch' | 'ListOffsets';

export class RawBroker {
  private readonly client: grpc.Client &
    Record<
      Method,
      (
        req: unknown,
        opts: grpc.CallOptions,
        cb: (err: grpc.ServiceError | null, res: unknown) => void,
      ) => grpc.ClientUnaryCall
    >;

  constructor(address: string) {
    const Broker = loadBrokerProto().Broker;
    this.client = new Broker(address, grpc.credentials.createInsecure()) as never;
  }

  call<T>(method: Method, request: unknown, options: { deadlineMs?: number; signal?: AbortSignal } = {}): Promise<T> {
    return new Promise((resolve, reject) => {
      const call = this.client[method](
        request,
        { deadline: Date.now() + (options.deadlineMs ?? 15_000) },
        (err, res) => (err ? reject(err) : resolve(res as T)),
      );
      options.signal?.addEventListener('abort', () => call.cancel(), { once: true });
    });
  }

  metadata(request: v1.MetadataRequest): Promise<v1.MetadataResponse__Output> {
    return this.call('Metadata', request);
  }

  produce(topic: string, partition: number, records: Buffer, acks = 1): Promise<v1.ProducePartitionResponse__Output> {
    return this.call<v1.ProduceResponse__Output>('Produce', {
      acks,
      timeoutMs: 10_000,
      topics: [{ name: topic, partitions: [{ partition, records }] }],
    }).then((r) => r.topics[0]!.partitions[0]!);
  }

  fetch(
    topic: string,
    partition: number,
    fetchOffset: number,
    options: { maxWaitMs?: number; signal?: AbortSignal } = {},
  ): Promise<v1.FetchPartitionResponse__Output> {
    return this.call<v1.FetchResponse__Output>(
      'Fetch',
      {
        maxWaitMs: options.maxWaitMs ?? 0,
        minBytes: 1,
        maxBytes: 1 << 20,
        topics: [
          { name: topic, partitions: [{ partition, fetchOffset, partitionMaxBytes: 1 << 20, currentLeaderEpoch: -1 }] },
        ],
      },
      options.signal ? { signal: options.signal } : {},
    ).then((r) => r.topics[0]!.partitions[0]!);
  }

  close(): void {
    this.client.close();
  }
}
