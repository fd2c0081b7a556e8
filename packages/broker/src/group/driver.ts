import { ErrorCodes, SamsaError } from '@samsa/protocol';
import type { Logger } from 'pino';
import {
  type CommitInput,
  type FetchedOffset,
  GroupCoordinatorCore,
  type GroupCoreConfig,
  type GroupDescription,
  type GroupState,
  type HeartbeatInput,
  type HeartbeatResult,
  type Outcome,
  type PartitionError,
  type PartitionResults,
  type TopicsView,
  validateGroupId,
} from './core.js';
import { offsetsPartitionFor } from './hash.js';
import type { GroupRecord } from './records.js';

/**
 * One __consumer_offsets partition as its leader sees it: what the coordinator driver needs from
 * storage and replication. The broker backs it with the partition's log; the simulation with memory.
 */
export interface CoordinatorLog {
  /**
   * Appends the records of one operation as one batch; resolves with the log end offset after it.
   * The driver calls it one batch at a time, in the order the operations ran on the core.
   */
  append(records: readonly GroupRecord[]): Promise<number>;
  /**
   * Throws when an append would be refused now (too few in-sync replicas), so the driver refuses an
   * operation before it changes the core rather than reloading after a failed append.
   */
  checkWritable?(): void;
  /** Resolves once the high watermark has reached `offset` (acks=all); rejects when it cannot. */
  waitCommitted(offset: number): Promise<void>;
  /** The log end offset now. */
  endOffset(): number;
  /** Every record of the log, batch by batch (loading). */
  read(): AsyncIterable<readonly GroupRecord[]>;
}

export interface GroupCoordinatorOptions {
  readonly config: GroupCoreConfig;
  /**
   * Partitions of __consumer_offsets: the topic's own count once it exists (offsets.topic.num.partitions
   * only decides the count at creation), so every broker maps a group to the same partition.
   */
  readonly numPartitions: number | (() => number);
  readonly nowMs: () => number;
  /** The broker's topics (name -> partition count), for assignment and regex subscriptions. */
  readonly topics: () => TopicsView;
  /** A fresh member id (a UUID in the broker, a counter in the simulation). */
  readonly newMemberId: () => string;
  readonly logger?: Logger;
}

type Loaded = {
  readonly partition: number;
  readonly log: CoordinatorLog;
  /** Bumped at every (re)load: work of an older load must not touch the new one. */
  readonly generation: number;
  status: 'loading' | 'active';
  core: GroupCoordinatorCore;
  /** The end offset once every append issued so far has completed (rejected once one failed). */
  appended: Promise<number>;
};

/**
 * The group coordinator of one broker: a core per __consumer_offsets partition it leads. Operations
 * run on the core at once (state first), their records are appended in that order, and the answer is
 * released once the high watermark has passed everything written so far: no member hears of a state
 * a failover could undo. An append that fails leaves the core ahead of the log, so the partition is
 * reloaded from the log.
 */
export class GroupCoordinator {
  private readonly partitions = new Map<number, Loaded>();
  private generations = 0;

  constructor(private readonly options: GroupCoordinatorOptions) {}

  partitionFor(groupId: string): number {
    const n = this.options.numPartitions;
    return offsetsPartitionFor(groupId, typeof n === 'number' ? n : n());
  }

  isLoaded(partition: number): boolean {
    return this.partitions.get(partition)?.status === 'active';
  }

  /** This broker now leads `partition`: load its groups (CoordinatorLoadInProgress until done). */
  async becomeLeader(partition: number, log: CoordinatorLog): Promise<void> {
    const generation = ++this.generations;
    const loading: Loaded = {
      partition,
      log,
      generation,
      status: 'loading',
      core: new GroupCoordinatorCore(this.options.config),
      appended: Promise.resolve(0),
    };
    this.partitions.set(partition, loading);
    let records = 0;
    for await (const batch of log.read()) {
      if (this.partitions.get(partition) !== loading) return;
      for (const record of batch) loading.core.apply(record);
      records += batch.length;
    }
    if (this.partitions.get(partition) !== loading) return;
    loading.core.finishLoad(this.options.nowMs());
    loading.appended = Promise.resolve(log.endOffset());
    loading.status = 'active';
    this.options.logger?.info({ partition, records }, 'group coordinator loaded');
  }

  /** This broker no longer leads `partition`: its groups are answered NotCoordinator from now on. */
  resign(partition: number): void {
    if (this.partitions.delete(partition)) this.options.logger?.info({ partition }, 'group coordinator unloaded');
  }

  resignAll(): void {
    for (const partition of [...this.partitions.keys()]) this.resign(partition);
  }

  private loadedFor(groupId: string): Loaded {
    validateGroupId(groupId);
    const loaded = this.partitions.get(this.partitionFor(groupId));
    if (!loaded) throw new SamsaError(ErrorCodes.NOT_COORDINATOR, `this broker does not coordinate group ${groupId}`);
    if (loaded.status === 'loading')
      throw new SamsaError(ErrorCodes.COORDINATOR_LOAD_IN_PROGRESS, `group ${groupId} is being loaded`);
    return loaded;
  }

  /**
   * Runs `op` on the core, appends its records (chained after earlier appends), and resolves with its
   * result once the high watermark has passed the end of everything written so far.
   */
  private async run<T>(loaded: Loaded, op: (core: GroupCoordinatorCore) => Outcome<T>, writes = true): Promise<T> {
    if (writes) {
      try {
        loaded.log.checkWritable?.();
      } catch (err) {
        throw coordinatorError(err);
      }
    }
    const { records, result } = this.step(loaded, op);
    const end = records.length > 0 ? this.append(loaded, records) : loaded.appended;
    let offset: number;
    try {
      offset = await end;
    } catch {
      throw new SamsaError(
        ErrorCodes.COORDINATOR_LOAD_IN_PROGRESS,
        'the coordinator is reloading after a failed write',
      );
    }
    try {
      await loaded.log.waitCommitted(offset);
    } catch (err) {
      throw coordinatorError(err);
    }
    if (this.partitions.get(loaded.partition) !== loaded)
      throw new SamsaError(ErrorCodes.NOT_COORDINATOR, 'the coordinator moved while the request was in flight');
    return result;
  }

  private append(loaded: Loaded, records: readonly GroupRecord[]): Promise<number> {
    const appended = loaded.appended.then(() => loaded.log.append(records));
    loaded.appended = appended;
    appended.catch((err: unknown) => this.reload(loaded, err, 'append failed'));
    return appended;
  }

  /**
   * Runs `op` on the core. A SamsaError is an expected refusal, thrown before the core changed; anything
   * else is a bug that may have left the core half-changed and ahead of the log: the partition is
   * reloaded from the log, which is what the core must equal.
   */
  private step<T>(loaded: Loaded, op: (core: GroupCoordinatorCore) => Outcome<T>): Outcome<T> {
    try {
      return op(loaded.core);
    } catch (err) {
      if (!(err instanceof SamsaError)) this.reload(loaded, err, 'the group core failed');
      throw err;
    }
  }

  /** Drops a partition's core that no longer matches its log and loads it again (if still current). */
  private reload(loaded: Loaded, err: unknown, why: string): void {
    if (this.partitions.get(loaded.partition) !== loaded) return;
    this.options.logger?.error({ err, partition: loaded.partition }, `${why}: reloading the partition`);
    void this.becomeLeader(loaded.partition, loaded.log).catch((loadErr: unknown) => {
      this.options.logger?.error({ err: loadErr, partition: loaded.partition }, 'reload failed');
      this.resign(loaded.partition);
    });
  }

  private context() {
    return { nowMs: this.options.nowMs(), topics: this.options.topics() };
  }

  async heartbeat(input: HeartbeatInput): Promise<HeartbeatResult> {
    const loaded = this.loadedFor(input.groupId);
    return this.run(loaded, (core) =>
      core.heartbeat(input, { ...this.context(), newMemberId: this.options.newMemberId() }),
    );
  }

  async commitOffsets(input: CommitInput): Promise<PartitionResults> {
    const loaded = this.loadedFor(input.groupId);
    return this.run(loaded, (core) => core.commitOffsets(input, this.context()));
  }

  async fetchOffsets(
    input: Parameters<GroupCoordinatorCore['fetchOffsets']>[0],
  ): Promise<{ name: string; partitions: FetchedOffset[] }[]> {
    const loaded = this.loadedFor(input.groupId);
    return this.run(loaded, (core) => ({ records: [], result: core.fetchOffsets(input) }), false);
  }

  async deleteOffsets(input: Parameters<GroupCoordinatorCore['deleteOffsets']>[0]): Promise<PartitionResults> {
    const loaded = this.loadedFor(input.groupId);
    return this.run(loaded, (core) => core.deleteOffsets(input, this.context()));
  }

  async describeGroup(groupId: string): Promise<GroupDescription | undefined> {
    const loaded = this.loadedFor(groupId);
    return this.run(loaded, (core) => ({ records: [], result: core.describeGroup(groupId) }), false);
  }

  async deleteGroup(groupId: string): Promise<PartitionError> {
    const loaded = this.loadedFor(groupId);
    const [outcome] = await this.run(loaded, (core) => {
      const { records, result } = core.deleteGroups([groupId]);
      return { records, result: result.map((r) => r.error) };
    });
    return outcome!;
  }

  /** The groups of every loaded partition (ListGroups answers what this broker coordinates). */
  listGroups(): { groupId: string; state: GroupState }[] {
    const out: { groupId: string; state: GroupState }[] = [];
    for (const loaded of this.partitions.values())
      if (loaded.status === 'active') out.push(...loaded.core.listGroups());
    return out.sort((a, b) => (a.groupId < b.groupId ? -1 : a.groupId > b.groupId ? 1 : 0));
  }

  /** Timers: expels silent members and slow revokers, expires offsets. The broker calls it periodically. */
  tick(): void {
    for (const loaded of this.partitions.values()) {
      if (loaded.status !== 'active') continue;
      try {
        loaded.log.checkWritable?.();
      } catch {
        continue; // expulsions wait until the partition can take writes again
      }
      let records: GroupRecord[];
      try {
        records = this.step(loaded, (core) => ({ records: core.tick(this.context()), result: undefined })).records;
      } catch {
        continue;
      }
      if (records.length > 0) void this.append(loaded, records).catch(() => undefined);
    }
  }

  /** For tests and the simulation: the core of a loaded partition. */
  coreOf(partition: number): GroupCoordinatorCore | undefined {
    const loaded = this.partitions.get(partition);
    return loaded?.status === 'active' ? loaded.core : undefined;
  }
}

/**
 * What a failed write of the coordinator's records means to the client (Kafka's mapping): the
 * partition's leadership moved (NotCoordinator), or its replicas did not take the write in time or
 * are too few (CoordinatorNotAvailable); both retriable. The records may still commit: every write is
 * idempotent for the client (heartbeats and commits are simply sent again).
 */
export function coordinatorError(err: unknown): SamsaError {
  if (!(err instanceof SamsaError)) return new SamsaError(ErrorCodes.UNKNOWN_SERVER_ERROR, String(err));
  switch (err.code) {
    case ErrorCodes.NOT_LEADER_OR_FOLLOWER.code:
    case ErrorCodes.KAFKA_STORAGE_ERROR.code:
      return new SamsaError(ErrorCodes.NOT_COORDINATOR, err.detail, { cause: err });
    case ErrorCodes.NOT_ENOUGH_REPLICAS.code:
    case ErrorCodes.NOT_ENOUGH_REPLICAS_AFTER_APPEND.code:
    case ErrorCodes.REQUEST_TIMED_OUT.code:
    case ErrorCodes.UNKNOWN_TOPIC_OR_PARTITION.code:
      return new SamsaError(ErrorCodes.COORDINATOR_NOT_AVAILABLE, err.detail, { cause: err });
    default:
      return err;
  }
}
