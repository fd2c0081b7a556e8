/** Raw TransactionCoordinator and Broker calls (proto/samsa/v1/txn.proto, broker.proto) for transaction tests. */
import * as grpc from '@grpc/grpc-js';
import { loadBrokerProto, loadGroupProto, loadTxnProto, type v1 } from '@samsa/protocol';

type Unary = (
  req: unknown,
  opts: grpc.CallOptions,
  cb: (err: grpc.ServiceError | null, res: unknown) => void,
) => grpc.ClientUnaryCall;

function unary<T>(client: Record<string, Unary>, method: string, request: unknown, deadlineMs = 15_000): Promise<T> {
  return new Promise((resolve, reject) => {
    client[method]!(request, { deadline: Date.now() + deadlineMs }, (err, res) =>
      err ? reject(err) : resolve(res as T),
    );
  });
}

export class RawTxn {
  private readonly txn: Record<string, Unary> & grpc.Client;
  private readonly broker: Record<string, Unary> & grpc.Client;
  private readonly groups: Record<string, Unary> & grpc.Client;

  constructor(readonly address: string) {
    const credentials = grpc.credentials.createInsecure();
    this.txn = new (loadTxnProto().TransactionCoordinator)(address, credentials) as never;
    this.broker = new (loadBrokerProto().Broker)(address, credentials) as never;
    this.groups = new (loadGroupProto().GroupCoordinator)(address, credentials) as never;
  }

  findCoordinator(transactionalId: string): Promise<v1.FindCoordinatorResponse__Output> {
    return unary(this.groups, 'FindCoordinator', { keyType: 1, keys: [transactionalId] });
  }

  initProducerId(transactionalId: string, producerId = -1, producerEpoch = -1, timeoutMs = 60_000) {
    return unary<v1.InitProducerIdResponse__Output>(this.broker, 'InitProducerId', {
      transactionalId,
      transactionTimeoutMs: timeoutMs,
      producerId,
      producerEpoch,
    });
  }

  addPartitions(request: v1.AddPartitionsToTxnRequest): Promise<v1.AddPartitionsToTxnResponse__Output> {
    return unary(this.txn, 'AddPartitionsToTxn', request);
  }

  endTxn(request: v1.EndTxnRequest): Promise<v1.EndTxnResponse__Output> {
    return unary(this.txn, 'EndTxn', request);
  }

  describe(transactionalIds: string[]): Promise<v1.DescribeTransactionsResponse__Output> {
    return unary(this.txn, 'DescribeTransactions', { transactionalIds });
  }

  list(): Promise<v1.ListTransactionsResponse__Output> {
    return unary(this.txn, 'ListTransactions', {});
  }

  produce(
    topic: string,
    partition: number,
    records: Buffer,
    transactionalId: string,
    addPartitionsToTxn = false,
  ): Promise<v1.ProducePartitionResponse__Output> {
    return unary<v1.ProduceResponse__Output>(this.broker, 'Produce', {
      acks: -1,
      timeoutMs: 10_000,
      transactionalId,
      addPartitionsToTxn,
      topics: [{ name: topic, partitions: [{ partition, records }] }],
    }).then((r) => r.topics[0]!.partitions[0]!);
  }

  fetch(topic: string, partition: number, fetchOffset: number): Promise<v1.FetchPartitionResponse__Output> {
    return unary<v1.FetchResponse__Output>(this.broker, 'Fetch', {
      maxWaitMs: 0,
      minBytes: 1,
      maxBytes: 1 << 20,
      topics: [
        { name: topic, partitions: [{ partition, fetchOffset, partitionMaxBytes: 1 << 20, currentLeaderEpoch: -1 }] },
      ],
    }).then((r) => r.topics[0]!.partitions[0]!);
  }

  close(): void {
    this.txn.close();
    this.broker.close();
    this.groups.close();
  }
}
