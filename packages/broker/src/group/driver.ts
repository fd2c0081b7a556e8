import { ErrorCodes, errorSpecForCode, SamsaError } from '@samsa/protocol';
import type { Logger } from 'pino';
import {
  type ClassicConfig,
  type ClassicDescription,
  ClassicGroups,
  type ClassicOutcome,
  type Completed,
  DEFAULT_CLASSIC_CONFIG,
  type JoinAnswer,
  type JoinInput,
  type LeavingMember,
  type MigrationPolicy,
  type SyncAnswer,
  type SyncInput,
  classicDescription,
} from './classic.js';
import {
  type ClassicMemberRequest,
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
import { PendingTxnOffsets } from './txn-offsets.js';

/** The producer whose transaction a batch of offset records belongs to (TxnOffsetCommit). */
export interface TxnProducer {
  readonly producerId: number;
  readonly producerEpoch: number;
}

/**
 * A batch of the log as loading sees it: its records, and whether it is a transactional batch of a
 * producer (pending offsets) or a transaction marker (its producer's pending offsets end).
 */
export interface LoggedBatch {
  readonly records: readonly GroupRecord[];
  readonly producerId: number;
  readonly transactional: boolean;
  /** Set on a control batch: the marker's outcome. */
  readonly marker?: { readonly commit: boolean };
}

/**
 * One __consumer_offsets partition as its leader sees it: what the coordinator driver needs from
 * storage and replication. The broker backs it with the partition's log; the simulation with memory.
 */
export interface CoordinatorLog {
  /**
   * Appends the records of one operation as one batch; resolves with the log end offset after it.
   * The driver calls it one batch at a time, in the order the operations ran on the core. With `txn`,
   * the batch is a transactional batch of that producer (the log picks its sequence).
   */
  append(records: readonly GroupRecord[], txn?: TxnProducer): Promise<number>;
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
  /** As read(), with the batches' producers and the transaction markers (transactional offsets need them). */
  readBatches?(): AsyncIterable<LoggedBatch>;
  /** The producer epoch the partition's producer state has for `producerId`, if any. */
  producerEpoch?(producerId: number): number | undefined;
  /** The transaction coordinator verified the producer's transaction that started at `txnStartMs`. */
  noteTxnVerified?(producerId: number, txnStartMs: number): void;
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
  /** The classic protocol's settings (Kafka's group.min/max.session.timeout.ms, group.initial.rebalance.delay.ms). */
  readonly classic?: ClassicConfig;
  /** For tests: the core of each loaded partition (a deliberately broken one, to prove the simulation catches it). */
  readonly newCore?: (config: GroupCoreConfig) => GroupCoordinatorCore;
}

type Loaded = {
  readonly partition: number;
  readonly log: CoordinatorLog;
  /** Bumped at every (re)load: work of an older load must not touch the new one. */
  readonly generation: number;
  status: 'loading' | 'active';
  core: GroupCoordinatorCore;
  /** The classic-protocol groups of the partition, and their JoinGroup/SyncGroup requests waiting for an answer. */
  classic: ClassicGroups;
  /** Offsets of transactions that have not ended on this partition (TxnOffsetCommit). */
  pending: PendingTxnOffsets;
  readonly waiters: Map<string, (answer: Completed) => void>;
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
      core: this.options.newCore?.(this.options.config) ?? new GroupCoordinatorCore(this.options.config),
      classic: new ClassicGroups(this.options.classic ?? DEFAULT_CLASSIC_CONFIG),
      pending: new PendingTxnOffsets(),
      waiters: new Map(),
      appended: Promise.resolve(0),
    };
    this.answerWaiters(this.partitions.get(partition), ErrorCodes.NOT_COORDINATOR.code);
    this.partitions.set(partition, loading);
    let records = 0;
    for await (const batch of log.readBatches?.() ?? log.read()) {
      if (this.partitions.get(partition) !== loading) return;
      records += this.replay(loading, batch);
    }
    if (this.partitions.get(partition) !== loading) return;
    loading.core.finishLoad(this.options.nowMs());
    loading.classic.finishLoad(this.options.nowMs());
    loading.appended = Promise.resolve(log.endOffset());
    loading.status = 'active';
    this.options.logger?.info({ partition, records }, 'group coordinator loaded');
  }

  /**
   * Applies one batch of the log while loading: the records of a transactional batch wait as pending
   * offsets of its producer, a marker commits or drops them, anything else applies at once.
   */
  private replay(loading: Loaded, batch: readonly GroupRecord[] | LoggedBatch): number {
    const logged: LoggedBatch = isLogged(batch) ? batch : { records: batch, producerId: -1, transactional: false };
    if (logged.marker !== undefined) {
      for (const record of loading.pending.complete(logged.producerId, logged.marker.commit))
        loading.core.apply(record);
      return 0;
    }
    for (const record of logged.records)
      if (logged.transactional && record.type === 'offset') loading.pending.add(logged.producerId, record);
      else if (record.type === 'classic') loading.classic.apply(record);
      else loading.core.apply(record);
    return logged.records.length;
  }

  /** This broker no longer leads `partition`: its groups are answered NotCoordinator from now on. */
  resign(partition: number): void {
    this.answerWaiters(this.partitions.get(partition), ErrorCodes.NOT_COORDINATOR.code);
    if (this.partitions.delete(partition)) this.options.logger?.info({ partition }, 'group coordinator unloaded');
  }

  resignAll(): void {
    for (const partition of [...this.partitions.keys()]) this.resign(partition);
  }

  /** The loaded partition of the group; `allowEmpty` for the APIs that take group id "" (validateGroupId). */
  private loadedFor(groupId: string, allowEmpty = false): Loaded {
    validateGroupId(groupId, allowEmpty);
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
  private async run<T>(
    loaded: Loaded,
    op: (core: GroupCoordinatorCore) => Outcome<T>,
    writes = true,
    txn?: TxnProducer,
  ): Promise<T> {
    if (writes) {
      try {
        loaded.log.checkWritable?.();
      } catch (err) {
        throw coordinatorError(err);
      }
    }
    const { records, result } = this.step(loaded, op);
    const end = records.length > 0 ? this.append(loaded, records, txn) : loaded.appended;
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

  private append(loaded: Loaded, records: readonly GroupRecord[], txn?: TxnProducer): Promise<number> {
    return this.chain(loaded, () => loaded.log.append(records, txn), true);
  }

  /**
   * Runs `write` after every write issued so far. When the core already reflects the write
   * (`coreChanged`), a failure means the core is ahead of the log: the partition is reloaded.
   */
  private chain(loaded: Loaded, write: () => Promise<number>, coreChanged: boolean): Promise<number> {
    const appended = loaded.appended.then(write);
    if (coreChanged) {
      loaded.appended = appended;
      appended.catch((err: unknown) => this.reload(loaded, err, 'append failed'));
    } else {
      // Nothing to undo: the writes after it go on from wherever the log ends.
      loaded.appended = appended.catch(() => loaded.log.endOffset());
    }
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
    if (loaded.classic.has(input.groupId) && input.memberEpoch >= 0) this.upgrade(loaded, input);
    return this.run(loaded, (core) => {
      const { records, result } = core.heartbeat(input, { ...this.context(), newMemberId: this.options.newMemberId() });
      return { records: [...records, ...this.maybeDowngrade(loaded, input.groupId)], result };
    });
  }

  private get migrationPolicy(): MigrationPolicy {
    return (this.options.classic ?? DEFAULT_CLASSIC_CONFIG).migrationPolicy;
  }

  /**
   * A KIP-848 member joins a classic group: the group becomes a KIP-848 group with its classic members in
   * it (Kafka's online upgrade, group.consumer.migration.policy upgrade or bidirectional); an empty
   * classic group simply gives way. Runs on the core at once and appends its records before the joining
   * heartbeat's, so that heartbeat's answer waits for them too.
   */
  private upgrade(loaded: Loaded, input: HeartbeatInput): void {
    const groupId = input.groupId;
    let records: GroupRecord[];
    let completed: Completed[] = [];
    if (!loaded.classic.hasMembers(groupId)) {
      records = loaded.classic.delete(groupId).records;
    } else {
      if (input.memberEpoch !== 0)
        throw new SamsaError(ErrorCodes.UNKNOWN_MEMBER_ID, `group ${groupId} is a classic group: join with epoch 0`);
      const policy = this.migrationPolicy;
      const classic = loaded.classic.describe(groupId)!;
      if ((policy !== 'upgrade' && policy !== 'bidirectional') || classic.protocolType !== 'consumer')
        throw new SamsaError(
          ErrorCodes.INCONSISTENT_GROUP_PROTOCOL,
          `group ${groupId} has classic members` +
            (classic.protocolType !== 'consumer' ? ` of protocol type ${classic.protocolType}` : '') +
            ` and group.consumer.migration.policy is ${policy}`,
        );
      try {
        loaded.log.checkWritable?.();
      } catch (err) {
        throw coordinatorError(err);
      }
      const value = loaded.classic.valueOf(groupId)!;
      const adopted = this.step(loaded, (core) => ({
        records: core.adoptClassicGroup(groupId, value, this.context()),
        result: undefined,
      })).records;
      const taken = loaded.classic.takeForUpgrade(groupId);
      completed = taken.completed;
      records = [taken.tombstone, ...adopted];
      this.options.logger?.info(
        { groupId, members: value.members.length },
        'classic group upgraded to a consumer group',
      );
    }
    if (records.length > 0) void this.append(loaded, records).catch(() => undefined);
    this.dispatch(loaded, completed);
  }

  /**
   * Downgrade: once every member left in a KIP-848 group speaks the classic protocol (its last KIP-848
   * member left or was expelled), it becomes a classic group again and rebalances (policy downgrade or
   * bidirectional). Called inside an operation on the core; returns the records to append with it.
   */
  private maybeDowngrade(loaded: Loaded, groupId: string): GroupRecord[] {
    const policy = this.migrationPolicy;
    if ((policy !== 'downgrade' && policy !== 'bidirectional') || !loaded.core.onlyClassicMembers(groupId)) return [];
    const { records, result } = loaded.core.releaseToClassic(groupId);
    const classic = loaded.classic.adoptFromConsumerGroup(groupId, result, this.options.nowMs());
    this.options.logger?.info({ groupId, members: result.members.length }, 'consumer group downgraded to classic');
    return [...records, classic];
  }

  /** The group's members are the KIP-848 core's (classic ones among them, if any): a consumer group. */
  private isConsumerGroup(loaded: Loaded, groupId: string): boolean {
    return loaded.core.hasMembers(groupId) && !loaded.classic.hasMembers(groupId);
  }

  async commitOffsets(input: CommitInput): Promise<PartitionResults> {
    const loaded = this.loadedFor(input.groupId, true);
    return this.run(loaded, (core) => core.commitOffsets(input, this.context()));
  }

  /**
   * OffsetFetch. With `requireStable` (KIP-447), a partition with offsets of an open transaction
   * pending answers UnstableOffsetCommit (retriable): its committed offset is about to be replaced.
   * The offsets and the pending check are read together, before the wait on the high watermark: a
   * marker applied during the wait must not make an offset read before it look stable.
   */
  async fetchOffsets(
    input: Parameters<GroupCoordinatorCore['fetchOffsets']>[0] & { readonly requireStable?: boolean },
  ): Promise<{ name: string; partitions: (FetchedOffset & PartitionError)[] }[]> {
    const loaded = this.loadedFor(input.groupId, true);
    const unstable = (topic: string, partition: number) =>
      input.requireStable === true && loaded.pending.isPending(input.groupId, topic, partition);
    const snapshot = (core: GroupCoordinatorCore) =>
      core.fetchOffsets(input).map((t) => ({
        name: t.name,
        partitions: t.partitions.map((p) =>
          unstable(t.name, p.partition)
            ? {
                ...p,
                errorCode: ErrorCodes.UNSTABLE_OFFSET_COMMIT.code,
                errorMessage: `${t.name}-${p.partition} has offsets of an open transaction pending`,
              }
            : { ...p, errorCode: 0, errorMessage: '' },
        ),
      }));
    return this.run(loaded, (core) => ({ records: [], result: snapshot(core) }), false);
  }

  /**
   * TxnOffsetCommit (KIP-98, KIP-447): offsets written as a transactional batch of the producer, kept
   * pending until its marker reaches the partition. Fenced by the producer epoch the partition knows,
   * by the member (a classic member by its generation, and by its instance id when it names one: a static
   * member replaced by a newer incarnation is FENCED_INSTANCE_ID, as Kafka's validateMember answers), and
   * by `verify`: the transaction coordinator's word that the partition was added to the producer's open
   * transaction (AddOffsetsToTxn). A refusal writes nothing.
   */
  async txnCommitOffsets(
    input: CommitInput &
      TxnProducer & {
        readonly generationId?: number;
        readonly memberless?: boolean;
        readonly groupInstanceId?: string | null;
      },
    verify: (partition: number) => Promise<unknown>,
  ): Promise<PartitionResults> {
    const { producerId, producerEpoch } = input;
    const partition = this.loadedFor(input.groupId).partition;
    const txnStartMs = await verify(partition);
    const loaded = this.loadedFor(input.groupId);
    if (typeof txnStartMs === 'number') loaded.log.noteTxnVerified?.(producerId, txnStartMs);
    const known = loaded.log.producerEpoch?.(producerId);
    if (known !== undefined && known > producerEpoch)
      throw new SamsaError(
        ErrorCodes.INVALID_PRODUCER_EPOCH,
        `producer ${producerId} epoch ${producerEpoch} is older than ${known} on ${partition}`,
      );
    let commit: CommitInput = input;
    if (loaded.classic.has(input.groupId)) {
      const code = input.memberless
        ? 0
        : loaded.classic.checkCommit(
            input.groupId,
            input.memberId,
            input.generationId ?? input.memberEpoch,
            input.groupInstanceId ?? null,
          );
      if (code !== 0)
        throw new SamsaError(
          errorSpecForCode(code),
          `transactional commit refused for member ${input.memberId} of group ${input.groupId}`,
        );
      commit = { ...input, memberId: '', memberEpoch: -1 };
    }
    return this.run(
      loaded,
      (core) => {
        const outcome = core.txnCommitRecords(commit, this.context());
        for (const record of outcome.records) if (record.type === 'offset') loaded.pending.add(producerId, record);
        return outcome;
      },
      true,
      { producerId, producerEpoch },
    );
  }

  /**
   * A transaction marker for `partition`, written by `write` (which resolves with the log end offset
   * after it) in the order of this partition's writes: the producer's pending offsets become committed
   * (or are dropped) on the core as the marker is queued, as loading does when it meets the marker.
   */
  writeTxnMarker(
    partition: number,
    marker: { readonly producerId: number; readonly commit: boolean },
    write: () => Promise<number>,
  ): Promise<number> {
    const loaded = this.partitions.get(partition);
    if (loaded === undefined)
      throw new SamsaError(ErrorCodes.NOT_COORDINATOR, `the group coordinator does not lead partition ${partition}`);
    if (loaded.status === 'loading')
      throw new SamsaError(ErrorCodes.COORDINATOR_LOAD_IN_PROGRESS, `partition ${partition} is being loaded`);
    const changes = loaded.pending.has(marker.producerId);
    for (const record of loaded.pending.complete(marker.producerId, marker.commit)) loaded.core.apply(record);
    return this.chain(loaded, write, changes);
  }

  /** Producers with transactional offsets pending on a loaded partition (tests and tools). */
  pendingTxnProducers(partition: number): number[] {
    return this.partitions.get(partition)?.pending.producers() ?? [];
  }

  async deleteOffsets(input: Parameters<GroupCoordinatorCore['deleteOffsets']>[0]): Promise<PartitionResults> {
    const loaded = this.loadedFor(input.groupId);
    const classic = loaded.classic.describe(input.groupId);
    // A classic group's members subscribe through their protocol metadata (Kafka's consumer protocol).
    const subscribed = new Set(
      classic ? classicDescription(classic).members.flatMap((m) => m.member.subscribedTopicNames) : [],
    );
    const free = input.topics.filter((t) => !subscribed.has(t.name));
    const refused: PartitionResults = input.topics
      .filter((t) => subscribed.has(t.name))
      .map((t) => ({
        name: t.name,
        partitions: t.partitions.map((partition) => ({
          partition,
          errorCode: ErrorCodes.GROUP_SUBSCRIBED_TO_TOPIC.code,
          errorMessage: `a member of group ${input.groupId} is subscribed to ${t.name}`,
        })),
      }));
    if (free.length === 0 && refused.length > 0) return refused;
    const deleted = await this.run(loaded, (core) => core.deleteOffsets({ ...input, topics: free }, this.context()));
    return [...deleted, ...refused];
  }

  async describeGroup(groupId: string): Promise<GroupDescription | undefined> {
    const loaded = this.loadedFor(groupId, true);
    return this.run(
      loaded,
      (core) => {
        const classic = loaded.classic.describe(groupId);
        return { records: [], result: classic ? classicDescription(classic) : core.describeGroup(groupId) };
      },
      false,
    );
  }

  async deleteGroup(groupId: string): Promise<PartitionError> {
    const loaded = this.loadedFor(groupId, true);
    const [outcome] = await this.run(loaded, (core) => {
      if (loaded.classic.hasMembers(groupId)) {
        const errorMessage = `group ${groupId} has members`;
        return { records: [], result: [{ errorCode: ErrorCodes.NON_EMPTY_GROUP.code, errorMessage }] };
      }
      const classic = loaded.classic.delete(groupId);
      const { records, result } = core.deleteGroups([groupId]);
      const error =
        classic.errorCode === 0 && result[0]!.error.errorCode === ErrorCodes.GROUP_ID_NOT_FOUND.code
          ? { errorCode: 0, errorMessage: '' }
          : result[0]!.error;
      return { records: [...classic.records, ...records], result: [error] };
    });
    return outcome!;
  }

  // ---- the classic protocol (Kafka's JoinGroup/SyncGroup/Heartbeat/LeaveGroup) ----

  /** JoinGroup: resolves when the group's join phase ends (or at once with an error or MEMBER_ID_REQUIRED). */
  async joinGroup(input: JoinInput): Promise<JoinAnswer> {
    const loaded = this.loadedFor(input.groupId);
    const newMemberId = `${input.clientId || 'member'}-${this.options.newMemberId()}`;
    if (this.isConsumerGroup(loaded, input.groupId)) return this.joinConsumerGroup(loaded, input, newMemberId);
    return this.runClassic(loaded, 'join', input.groupId, (classic) => {
      const outcome = classic.join(input, this.options.nowMs(), newMemberId);
      return { outcome, memberId: input.memberId === '' ? newMemberId : input.memberId };
    });
  }

  /** A classic member joining a KIP-848 group: answered at once, with its epoch as generation and no leader. */
  private async joinConsumerGroup(loaded: Loaded, input: JoinInput, newMemberId: string): Promise<JoinAnswer> {
    const { minSessionTimeoutMs, maxSessionTimeoutMs } = this.options.classic ?? DEFAULT_CLASSIC_CONFIG;
    if (input.sessionTimeoutMs < minSessionTimeoutMs || input.sessionTimeoutMs > maxSessionTimeoutMs)
      return classicJoinError(ErrorCodes.INVALID_SESSION_TIMEOUT.code, input.memberId);
    const joined = await this.run(loaded, (core) => {
      const { records, result } = core.classicJoin(
        { ...input, instanceId: input.groupInstanceId },
        { ...this.context(), newMemberId },
      );
      return { records: [...records, ...this.maybeDowngrade(loaded, input.groupId)], result };
    });
    if (joined.errorCode !== 0) return classicJoinError(joined.errorCode, joined.memberId);
    return {
      errorCode: 0,
      generationId: joined.generationId,
      protocolType: 'consumer',
      protocolName: joined.protocolName,
      leader: '',
      memberId: joined.memberId,
      members: [],
    };
  }

  /** SyncGroup: resolves when the leader has handed in the generation's assignment. */
  async syncGroup(input: SyncInput): Promise<SyncAnswer> {
    const loaded = this.loadedFor(input.groupId);
    if (this.isConsumerGroup(loaded, input.groupId))
      return this.run(
        loaded,
        (core) => {
          const synced = core.classicSync(input, this.options.nowMs());
          const protocolType = synced.errorCode === 0 ? 'consumer' : null;
          return { records: [], result: { ...synced, protocolType } };
        },
        false,
      );
    return this.runClassic(loaded, 'sync', input.groupId, (classic) => ({
      outcome: classic.sync(input, this.options.nowMs()),
      memberId: input.memberId,
    }));
  }

  /** Heartbeat of a classic member: an error code (REBALANCE_IN_PROGRESS tells it to join again). */
  classicHeartbeat(input: ClassicMemberRequest): number {
    const loaded = this.loadedFor(input.groupId);
    if (this.isConsumerGroup(loaded, input.groupId)) return loaded.core.classicHeartbeat(input, this.options.nowMs());
    return loaded.classic.heartbeat(input, this.options.nowMs());
  }

  /** LeaveGroup: per member, an error code. */
  async leaveGroup(groupId: string, members: readonly LeavingMember[]): Promise<number[]> {
    const loaded = this.loadedFor(groupId);
    if (this.isConsumerGroup(loaded, groupId))
      return this.run(loaded, (core) => {
        const { records, result } = core.classicLeave(groupId, members, this.context());
        return { records: [...records, ...this.maybeDowngrade(loaded, groupId)], result };
      });
    let completed: Completed[] = [];
    const codes = await this.run(loaded, () => {
      const outcome = loaded.classic.leave(groupId, members, this.options.nowMs());
      completed = outcome.completed;
      return { records: outcome.records, result: outcome.result ?? [] };
    });
    this.dispatch(loaded, completed);
    return codes;
  }

  /**
   * OffsetCommit from a Kafka client: a classic group's member is fenced by member id and generation,
   * then the offsets are stored as a memberless commit of the core (which holds no members for a
   * classic group); a commit for a group the classic side does not know is the core's (KIP-848 member
   * epochs, or -1 for a simple commit).
   */
  async commitKafkaOffsets(
    input: CommitInput & { readonly generationId: number; readonly groupInstanceId?: string | null },
  ): Promise<PartitionResults> {
    const loaded = this.loadedFor(input.groupId, true);
    const classic = loaded.classic.has(input.groupId);
    if (!classic) return this.commitOffsets(input);
    const code = loaded.classic.checkCommit(
      input.groupId,
      input.memberId,
      input.generationId,
      input.groupInstanceId ?? null,
    );
    if (code !== 0) {
      const errorMessage = `commit refused for member ${input.memberId} generation ${input.generationId}`;
      return input.topics.map((t) => ({
        name: t.name,
        partitions: t.partitions.map((p) => ({ partition: p.partition, errorCode: code, errorMessage })),
      }));
    }
    return this.commitOffsets({ ...input, memberId: '', memberEpoch: -1 });
  }

  classicGroups(): { groupId: string; state: string; protocolType: string; type: 'classic' | 'consumer' }[] {
    const out: { groupId: string; state: string; protocolType: string; type: 'classic' | 'consumer' }[] = [];
    for (const loaded of this.partitions.values()) {
      if (loaded.status !== 'active') continue;
      const classic = loaded.classic.list();
      const names = new Set(classic.map((g) => g.groupId));
      out.push(...classic.map((g) => ({ ...g, type: 'classic' as const })));
      for (const g of loaded.core.listGroups())
        if (!names.has(g.groupId))
          out.push({ groupId: g.groupId, state: g.state, protocolType: 'consumer', type: 'consumer' });
    }
    return out;
  }

  /** A classic group as Kafka's DescribeGroups shows it; undefined when the group is not a classic one. */
  describeClassic(groupId: string): ClassicDescription | undefined {
    return this.loadedFor(groupId, true).classic.describe(groupId);
  }

  /**
   * Runs a classic operation: a request that must wait is registered before the operation's own
   * completions are handed out (it may complete itself), and answers go out once its records are committed.
   */
  private async runClassic<T>(
    loaded: Loaded,
    kind: 'join' | 'sync',
    groupId: string,
    op: (classic: ClassicGroups) => { outcome: ClassicOutcome<T>; memberId: string },
  ): Promise<T> {
    let waiting: Promise<T> | undefined;
    let completed: Completed[] = [];
    const immediate = await this.run(loaded, () => {
      const { outcome, memberId } = op(loaded.classic);
      completed = outcome.completed;
      if (outcome.result === undefined) waiting = this.waitFor<T>(loaded, kind, groupId, memberId);
      return { records: outcome.records, result: outcome.result };
    });
    this.dispatch(loaded, completed);
    return waiting ?? (immediate as T);
  }

  private waitFor<T>(loaded: Loaded, kind: 'join' | 'sync', groupId: string, memberId: string): Promise<T> {
    const key = waiterKey(kind, groupId, memberId);
    // A member sending the same request again replaces its earlier one, which will get no answer of its own.
    loaded.waiters.get(key)?.({
      kind,
      groupId,
      memberId,
      answer: classicError(kind, ErrorCodes.REBALANCE_IN_PROGRESS.code, memberId),
    } as Completed);
    return new Promise<T>((resolve) => {
      loaded.waiters.set(key, (c) => resolve(c.answer as T));
    });
  }

  /**
   * Members the timers removed, at info: a member that went silent (or did not give partitions back in
   * time) explains a rebalance nobody asked for, and the client's own log may be gone with it.
   */
  private logExpulsions(
    classic: readonly { groupId: string; memberId: string }[],
    records: readonly GroupRecord[],
  ): void {
    const logger = this.options.logger;
    if (!logger) return;
    for (const { groupId, memberId } of classic)
      logger.info({ groupId, memberId, groupType: 'classic' }, 'group member expelled: its session timed out');
    for (const r of records)
      if (r.type === 'member' && r.value === null)
        logger.info(
          { groupId: r.group, memberId: r.memberId, groupType: 'consumer' },
          'group member expelled: its session or its revocation timed out',
        );
  }

  private dispatch(loaded: Loaded, completed: readonly Completed[]): void {
    // A classic group's join phase ends with every member's JoinGroup answered at once: one line for the
    // new generation (and nothing when the phase only answered errors).
    const generations = new Map<string, { generationId: number; members: number; leader: string }>();
    for (const c of completed)
      if (c.kind === 'join' && c.answer.errorCode === 0) {
        const seen = generations.get(c.groupId);
        generations.set(c.groupId, {
          generationId: c.answer.generationId,
          members: (seen?.members ?? 0) + 1,
          leader: c.answer.leader,
        });
      }
    for (const [groupId, g] of generations)
      this.options.logger?.info({ groupId, ...g, groupType: 'classic' }, 'classic group rebalanced');
    for (const c of completed) {
      const key = waiterKey(c.kind, c.groupId, c.memberId);
      const waiter = loaded.waiters.get(key);
      if (!waiter) continue;
      loaded.waiters.delete(key);
      waiter(c);
    }
  }

  /** Every waiting JoinGroup/SyncGroup of a partition being dropped gets `code` (NotCoordinator: find the new one). */
  private answerWaiters(loaded: Loaded | undefined, code: number): void {
    if (!loaded) return;
    for (const [key, waiter] of loaded.waiters) {
      const [kind, groupId, memberId] = key.split('\u0000') as ['join' | 'sync', string, string];
      waiter({ kind, groupId, memberId, answer: classicError(kind, code, memberId) } as Completed);
    }
    loaded.waiters.clear();
  }

  /** The groups of every loaded partition (ListGroups answers what this broker coordinates). */
  listGroups(): { groupId: string; state: GroupState }[] {
    const out: { groupId: string; state: GroupState }[] = [];
    for (const loaded of this.partitions.values())
      if (loaded.status === 'active') {
        const classic = loaded.classic.list();
        const names = new Set(classic.map((g) => g.groupId));
        out.push(...loaded.core.listGroups().filter((g) => !names.has(g.groupId)));
        out.push(...classic.map((g) => ({ groupId: g.groupId, state: groupStateOf(g.state) })));
      }
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
      let completed: Completed[] = [];
      let expired: { groupId: string; memberId: string }[] = [];
      let expelled: GroupRecord[] = [];
      try {
        records = this.step(loaded, (core) => {
          const classic = loaded.classic.tick(this.options.nowMs());
          completed = classic.completed;
          expired = classic.expired;
          expelled = core.tick(this.context());
          const groups = new Set(expelled.map((r) => r.group));
          const downgraded = [...groups].flatMap((groupId) => this.maybeDowngrade(loaded, groupId));
          return { records: [...expelled, ...downgraded, ...classic.records], result: undefined };
        }).records;
      } catch {
        continue;
      }
      this.logExpulsions(expired, expelled);
      // Join phases ended by time write nothing; an emptied group's record is only read after a failover.
      this.dispatch(loaded, completed);
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

function isLogged(batch: readonly GroupRecord[] | LoggedBatch): batch is LoggedBatch {
  return !Array.isArray(batch);
}

function waiterKey(kind: 'join' | 'sync', groupId: string, memberId: string): string {
  return `${kind}\u0000${groupId}\u0000${memberId}`;
}

function classicJoinError(code: number, memberId: string): JoinAnswer {
  return {
    errorCode: code,
    generationId: -1,
    protocolType: null,
    protocolName: null,
    leader: '',
    memberId,
    members: [],
  };
}

function classicError(kind: 'join' | 'sync', code: number, memberId: string): JoinAnswer | SyncAnswer {
  if (kind === 'join') return classicJoinError(code, memberId);
  return { errorCode: code, protocolType: null, protocolName: null, assignment: Buffer.alloc(0) };
}

function groupStateOf(state: string): GroupState {
  return state === 'Empty' ? 'Empty' : state === 'Stable' ? 'Stable' : 'Reconciling';
}
