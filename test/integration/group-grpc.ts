/** Raw GroupCoordinator calls (proto/samsa/v1/group.proto) for broker-side group tests. */
import * as grpc from '@grpc/grpc-js';
import { loadGroupProto, type v1 } from '@samsa/protocol';

type Method =
  | 'FindCoordinator'
  | 'ConsumerGroupHeartbeat'
  | 'OffsetCommit'
  | 'OffsetFetch'
  | 'ListGroups'
  | 'DescribeGroups'
  | 'DeleteGroups'
  | 'OffsetDelete';

type Unary = (
  req: unknown,
  opts: grpc.CallOptions,
  cb: (err: grpc.ServiceError | null, res: unknown) => void,
) => grpc.ClientUnaryCall;

export class RawGroups {
  private readonly client: grpc.Client & Record<Method, Unary>;

  constructor(readonly address: string) {
    const GroupCoordinator = loadGroupProto().GroupCoordinator;
    this.client = new GroupCoordinator(address, grpc.credentials.createInsecure()) as never;
  }

  call<T>(method: Method, request: unknown, deadlineMs = 15_000): Promise<T> {
    return new Promise((resolve, reject) => {
      this.client[method](request, { deadline: Date.now() + deadlineMs }, (err, res) =>
        err ? reject(err) : resolve(res as T),
      );
    });
  }

  findCoordinator(keys: string[]): Promise<v1.FindCoordinatorResponse__Output> {
    return this.call('FindCoordinator', { keyType: 0, keys });
  }

  heartbeat(request: v1.ConsumerGroupHeartbeatRequest): Promise<v1.ConsumerGroupHeartbeatResponse__Output> {
    return this.call('ConsumerGroupHeartbeat', { rebalanceTimeoutMs: -1, ...request });
  }

  commit(request: v1.OffsetCommitRequest): Promise<v1.OffsetCommitResponse__Output> {
    return this.call('OffsetCommit', request);
  }

  fetchOffsets(request: v1.OffsetFetchRequest): Promise<v1.OffsetFetchResponse__Output> {
    return this.call('OffsetFetch', request);
  }

  listGroups(): Promise<v1.ListGroupsResponse__Output> {
    return this.call('ListGroups', {});
  }

  describe(groupIds: string[]): Promise<v1.DescribeGroupsResponse__Output> {
    return this.call('DescribeGroups', { groupIds });
  }

  deleteGroups(groupIds: string[]): Promise<v1.DeleteGroupsResponse__Output> {
    return this.call('DeleteGroups', { groupIds });
  }

  deleteOffsets(request: v1.OffsetDeleteRequest): Promise<v1.OffsetDeleteResponse__Output> {
    return this.call('OffsetDelete', request);
  }

  close(): void {
    this.client.close();
  }
}

/** Partitions of an assignment as "topic-partition" strings, sorted. */
export function flatten(list: { topic: string; partitions: number[] }[] | undefined): string[] {
  return (list ?? []).flatMap((t) => t.partitions.map((p) => `${t.topic}-${p}`)).sort();
}
