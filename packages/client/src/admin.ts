import { ErrorCodes, errorSpecForCode, type v1 } from '@samsa/protocol';
import {
  type DeleteRecordsOptions,
  type DeletedRecords,
  type RecordsToDelete,
  deleteRecords,
} from './admin-delete-records.js';
import type { Cluster } from './cluster.js';
import { SamsaClientError, errorFromCode, needsMetadataRefresh, topicNameError } from './errors.js';
import { EARLIEST_TIMESTAMP, type IsolationLevel, LATEST_TIMESTAMP, listOffsets } from './offsets.js';
import { type RetryLoopOptions, withRetries } from './retry.js';
import type { BrokerConnection } from './transport.js';
import { GroupAdmin, type GroupDescription, type GroupListing } from './group/admin.js';
import {
  type ProducerState,
  TransactionAdmin,
  type TransactionDescription,
  type TransactionListing,
} from './transaction.js';
import type { CommitOffset, CommittedOffset } from './group/offsets.js';
import type { TopicPartition } from './offsets.js';

export interface NewTopic {
  topic: string;
  /** Omitted: the broker's default (sent as -1, as Kafka's AdminClient does). */
  numPartitions?: number;
  /** Omitted: the broker's default (-1). */
  replicationFactor?: number;
  /** Per-topic settings with Kafka's names, e.g. { 'retention.ms': '86400000' }. */
  configs?: Readonly<Record<string, string>>;
}

export interface AdminRequestOptions {
  /** How long the controller may take (sent to the broker); defaults to the client's requestTimeoutMs. */
  timeoutMs?: number;
  signal?: AbortSignal;
}

export interface PartitionDescription {
  partition: number;
  /** -1 while the partition has no leader. */
  leader: number;
  leaderEpoch: number;
  replicas: number[];
  isr: number[];
  offlineReplicas: number[];
  /** A replica move in progress (KIP-455): `replicas` is then the target followed by `removingReplicas`. */
  addingReplicas: number[];
  removingReplicas: number[];
  /** Non-zero while, e.g., LeaderNotAvailable. */
  errorCode: number;
}

export interface TopicDescription {
  name: string;
  partitions: PartitionDescription[];
  configs: Record<string, string>;
}

export interface BrokerDescription {
  id: number;
  host: string;
  port: number;
  rack: string;
}

export interface ClusterDescription {
  clusterId: string;
  controllerId: number;
  controllerEpoch: number;
  brokers: BrokerDescription[];
}

/** Partitions to elect preferred leaders for: a topic without `partitions` means all of its partitions. */
export interface ElectionTarget {
  topic: string;
  partitions?: readonly number[];
}

/** A partition's new replicas (preferred leader first), or null to cancel its move in progress. */
export interface PartitionReassignment {
  topic: string;
  partition: number;
  replicas: readonly number[] | null;
}

/** One partition's answer to alterPartitionReassignments: absent error means started (or cancelled). */
export interface ReassignmentOutcome {
  topic: string;
  partition: number;
  /** InvalidReplicaAssignment, ReassignmentInProgress, NoReassignmentInProgress, UnknownTopicOrPartition. */
  error?: SamsaClientError;
}

/** One partition's outcome of a preferred leader election. */
export interface ElectionOutcome {
  topic: string;
  /** -1 when the topic itself is unknown. */
  partition: number;
  /**
   * Absent: the preferred replica leads now. ElectionNotNeeded: it already did.
   * PreferredLeaderNotAvailable: it is not alive or not in the ISR. UnknownTopicOrPartition.
   */
  error?: SamsaClientError;
}

export interface PartitionOffsets {
  partition: number;
  /** Log start offset. */
  low: number;
  /**
   * High watermark: the offset the next acknowledged record will get; with read_committed the last
   * stable offset (the first offset of the earliest open transaction, or the high watermark).
   */
  high: number;
}

/** Options of the admin's ListOffsets lookups (Kafka's ListOffsetsOptions). */
export interface ListOffsetsOptions {
  signal?: AbortSignal;
  /** 'read_uncommitted' (default) or 'read_committed': latest is then the last stable offset. */
  isolationLevel?: IsolationLevel;
}

interface TopicOutcome {
  name: string;
  errorCode: number;
  errorMessage: string;
}

/**
 * Topic administration and cluster description. Creates and deletes go to the controller named by the
 * metadata, as Kafka's AdminClient does; NotController (the controller moved) refreshes and retries.
 * Everything else goes to any broker. Operations are bounded by the client's defaultApiTimeoutMs.
 */
export class Admin implements AsyncDisposable {
  private readonly groups: GroupAdmin;

  constructor(private readonly cluster: Cluster) {
    this.groups = new GroupAdmin(cluster);
  }

  /** Every consumer group (asking every broker), optionally only those in `states`. */
  /** The transactional ids the brokers coordinate, with their producer id and state (kafka-transactions.sh --list). */
  listTransactions(options: { states?: readonly string[] } = {}): Promise<TransactionListing[]> {
    return new TransactionAdmin(this.cluster).listTransactions(options);
  }

  /** One transactional id: producer id and epoch, state, timeout, open transaction's start and partitions. */
  describeTransaction(transactionalId: string): Promise<TransactionDescription> {
    return new TransactionAdmin(this.cluster).describeTransaction(transactionalId);
  }

  /** The producers a partition's leader keeps state for (Kafka's describeProducers). */
  describeProducers(topic: string, partition: number): Promise<ProducerState[]> {
    return new TransactionAdmin(this.cluster).describeProducers(topic, partition);
  }

  /** Ends a hanging transaction with an abort marker (kafka-transactions.sh abort); see TransactionAdmin. */
  abortTransaction(options: {
    topic: string;
    partition: number;
    startOffset: number;
    force?: boolean;
  }): Promise<ProducerState> {
    return new TransactionAdmin(this.cluster).abortTransaction(options);
  }

  listGroups(options: { states?: readonly string[]; signal?: AbortSignal } = {}): Promise<GroupListing[]> {
    return this.groups.listGroups(options);
  }

  /** State, epochs, assignor and members of each group; an unknown group rejects with GroupIdNotFound. */
  describeGroups(groupIds: readonly string[], options: { signal?: AbortSignal } = {}): Promise<GroupDescription[]> {
    return this.groups.describeGroups(groupIds, options);
  }

  /** Deletes groups and their offsets; refused with NonEmptyGroup while a group has members. */
  deleteGroups(groupIds: readonly string[], options: { signal?: AbortSignal } = {}): Promise<void> {
    return this.groups.deleteGroups(groupIds, options);
  }

  /** A group's committed offsets (of `partitions`, or all it has); offset -1 where there is none. */
  fetchGroupOffsets(
    groupId: string,
    partitions?: readonly TopicPartition[],
    options: { signal?: AbortSignal } = {},
  ): Promise<CommittedOffset[]> {
    return this.groups.fetchOffsets(groupId, partitions, options);
  }

  /** Sets a group's committed offsets; refused while the group has members (as Kafka's tools are). */
  alterGroupOffsets(
    groupId: string,
    offsets: readonly CommitOffset[],
    options: { signal?: AbortSignal } = {},
  ): Promise<void> {
    return this.groups.alterOffsets(groupId, offsets, options);
  }

  /** Deletes a group's committed offsets of partitions no member is subscribed to. */
  deleteGroupOffsets(
    groupId: string,
    partitions: readonly TopicPartition[],
    options: { signal?: AbortSignal } = {},
  ): Promise<void> {
    return this.groups.deleteOffsets(groupId, partitions, options);
  }

  /** Creates topics; rejects with the first topic's error (e.g. TopicAlreadyExists), `errors` has all. */
  async createTopics(
    topics: readonly NewTopic[],
    options: AdminRequestOptions & { validateOnly?: boolean } = {},
  ): Promise<void> {
    checkTopicNames(topics.map((t) => t.topic));
    const timeoutMs = options.timeoutMs ?? this.cluster.options.requestTimeoutMs;
    const byName = new Map(topics.map((t) => [t.topic, t]));
    await this.controllerOperation([...byName.keys()], options, async (connection, names) => {
      const response = await connection.call(
        'CreateTopics',
        {
          topics: names.map((name) => {
            const t = byName.get(name) as NewTopic;
            return {
              name,
              numPartitions: t.numPartitions ?? -1,
              replicationFactor: t.replicationFactor ?? -1,
              configs: { ...t.configs },
            };
          }),
          timeoutMs,
          validateOnly: options.validateOnly ?? false,
        },
        { timeoutMs: timeoutMs + this.cluster.options.requestTimeoutMs, signal: options.signal },
      );
      return response.topics;
    });
  }

  /**
   * Adds partitions: each topic grows to `count` partitions (Kafka's createPartitions). A count at or
   * below the current one rejects with InvalidPartitions: partitions are never removed. Producers,
   * consumers and groups pick the new partitions up with their next metadata refresh. Keyed records
   * map to partitions by the partition count, so a key's new records may land in another partition.
   */
  async createPartitions(
    topics: ReadonlyArray<{ readonly topic: string; readonly count: number }>,
    options: AdminRequestOptions & { validateOnly?: boolean } = {},
  ): Promise<void> {
    checkTopicNames(topics.map((t) => t.topic));
    const timeoutMs = options.timeoutMs ?? this.cluster.options.requestTimeoutMs;
    const countOf = new Map(topics.map((t) => [t.topic, t.count]));
    await this.controllerOperation([...countOf.keys()], options, async (connection, names) => {
      const response = await connection.call(
        'CreatePartitions',
        {
          topics: names.map((name) => ({ name, count: countOf.get(name)! })),
          timeoutMs,
          validateOnly: options.validateOnly ?? false,
        },
        { timeoutMs: timeoutMs + this.cluster.options.requestTimeoutMs, signal: options.signal },
      );
      return response.topics;
    });
  }

  /**
   * Changes topics' configs (Kafka's incrementalAlterConfigs): per topic, `set` gives config names new
   * values and `delete` returns names to the broker default; configs not named keep their values.
   * Validated as at creation (an unknown name or a bad value rejects with InvalidConfig, an unknown
   * topic with UnknownTopicOrPartition); brokers apply the change to open logs without reopening them.
   * describeTopics shows the new configs once this broker's metadata has them.
   */
  async incrementalAlterConfigs(
    changes: ReadonlyArray<{
      readonly topic: string;
      readonly set?: Readonly<Record<string, string>>;
      readonly delete?: readonly string[];
    }>,
    options: AdminRequestOptions & { validateOnly?: boolean } = {},
  ): Promise<void> {
    checkTopicNames(changes.map((c) => c.topic));
    const timeoutMs = options.timeoutMs ?? this.cluster.options.requestTimeoutMs;
    const byTopic = new Map(changes.map((c) => [c.topic, c]));
    await this.controllerOperation([...byTopic.keys()], options, async (connection, names) => {
      const resources = names.map((topic) => {
        const change = byTopic.get(topic)!;
        const ops = [
          ...Object.entries(change.set ?? {}).map(([name, value]) => ({ name, op: 0, value })),
          ...(change.delete ?? []).map((name) => ({ name, op: 1, value: '' })),
        ];
        return { topic, ops };
      });
      const response = await connection.call(
        'AlterConfigs',
        { resources, validateOnly: options.validateOnly ?? false },
        { timeoutMs, signal: options.signal },
      );
      return response.topics;
    });
  }

  async deleteTopics(topics: readonly string[], options: AdminRequestOptions = {}): Promise<void> {
    checkTopicNames(topics);
    const timeoutMs = options.timeoutMs ?? this.cluster.options.requestTimeoutMs;
    await this.controllerOperation([...new Set(topics)], options, async (connection, names) => {
      const response = await connection.call(
        'DeleteTopics',
        { topics: names, timeoutMs },
        { timeoutMs: timeoutMs + this.cluster.options.requestTimeoutMs, signal: options.signal },
      );
      return response.topics;
    });
  }

  /**
   * Moves leadership back to each partition's preferred replica (its first), as Kafka's
   * electLeaders(PREFERRED): for the partitions named, or every partition in the cluster when none
   * are. Resolves with one outcome per partition once the new leaders show in metadata (or the
   * timeout passed); rejects only when the request as a whole failed (no controller in time).
   */
  async electPreferredLeaders(
    targets: readonly ElectionTarget[] = [],
    options: AdminRequestOptions = {},
  ): Promise<ElectionOutcome[]> {
    const timeoutMs = options.timeoutMs ?? this.cluster.options.requestTimeoutMs;
    const request: v1.ElectLeadersRequest = {
      topics: targets.map((t) => ({ topic: t.topic, partitions: [...(t.partitions ?? [])] })),
      timeoutMs,
    };
    return withRetries(async () => {
      const connection = await this.controller();
      const response = await connection.call('ElectLeaders', request, {
        timeoutMs: timeoutMs + this.cluster.options.requestTimeoutMs,
        signal: options.signal,
      });
      if (response.errorCode !== 0) throw errorFromCode(response.errorCode, response.errorMessage || undefined);
      // The broker's messages name the partition already: no place appended (errorFromCode would).
      return response.results.map(
        ({ topic, partition, errorCode, errorMessage }): ElectionOutcome =>
          errorCode === 0
            ? { topic, partition }
            : {
                topic,
                partition,
                error: new SamsaClientError(
                  errorSpecForCode(errorCode),
                  errorMessage || undefined,
                  partition < 0 ? { topic } : { topic, partition },
                ),
              },
      );
    }, this.controllerRetries(options));
  }

  /**
   * Kafka's alterPartitionReassignments (KIP-455): starts moving each partition to its replicas, or
   * with null cancels its move. Resolves once the controller has recorded the moves, not when they
   * are done: describeTopics shows addingReplicas / removingReplicas until then. With
   * `throttleBytesPerSecond` the leaders send the moving replicas at most that many bytes/s per topic
   * (kept until clearReassignmentThrottles).
   */
  async alterPartitionReassignments(
    reassignments: readonly PartitionReassignment[],
    options: AdminRequestOptions & { throttleBytesPerSecond?: number } = {},
  ): Promise<ReassignmentOutcome[]> {
    const request: v1.AlterPartitionReassignmentsRequest = {
      partitions: reassignments.map((r) => ({
        topic: r.topic,
        partition: r.partition,
        replicas: [...(r.replicas ?? [])],
      })),
      throttleBytesPerSec: options.throttleBytesPerSecond ?? 0,
      clearThrottleTopics: [],
    };
    const response = await this.reassignmentCall(request, options);
    return response.results.map(({ topic, partition, errorCode, errorMessage }) =>
      errorCode === 0
        ? { topic, partition }
        : {
            topic,
            partition,
            error: new SamsaClientError(errorSpecForCode(errorCode), errorMessage || undefined, { topic, partition }),
          },
    );
  }

  /**
   * Removes the reassignment throttle of the topics whose moves are all done (Kafka's --verify does
   * this); a topic still moving keeps it and is answered ReassignmentInProgress.
   */
  async clearReassignmentThrottles(
    topics: readonly string[],
    options: AdminRequestOptions = {},
  ): Promise<Array<{ topic: string; error?: SamsaClientError }>> {
    const request: v1.AlterPartitionReassignmentsRequest = {
      partitions: [],
      throttleBytesPerSec: 0,
      clearThrottleTopics: [...topics],
    };
    const response = await this.reassignmentCall(request, options);
    return response.throttlesCleared.map(({ name, errorCode, errorMessage }) =>
      errorCode === 0
        ? { topic: name }
        : {
            topic: name,
            error: new SamsaClientError(errorSpecForCode(errorCode), errorMessage || undefined, { topic: name }),
          },
    );
  }

  private reassignmentCall(
    request: v1.AlterPartitionReassignmentsRequest,
    options: AdminRequestOptions,
  ): Promise<v1.AlterPartitionReassignmentsResponse__Output> {
    const timeoutMs = options.timeoutMs ?? this.cluster.options.requestTimeoutMs;
    return withRetries(async () => {
      const connection = await this.controller();
      const response = await connection.call('AlterPartitionReassignments', request, {
        timeoutMs: timeoutMs + this.cluster.options.requestTimeoutMs,
        signal: options.signal,
      });
      if (response.errorCode !== 0) throw errorFromCode(response.errorCode, response.errorMessage || undefined);
      return response;
    }, this.controllerRetries(options));
  }

  /**
   * Sends to the controller until every topic has a final answer. Retriable per-topic errors
   * (NotController) and failed connections refresh metadata (to find the controller) and retry
   * those topics only.
   */
  private async controllerOperation(
    names: string[],
    options: AdminRequestOptions,
    send: (connection: BrokerConnection, names: string[]) => Promise<TopicOutcome[]>,
  ): Promise<void> {
    let pending = names;
    const failures: SamsaClientError[] = [];
    await withRetries(async () => {
      const connection = await this.controller();
      const outcomes = await send(connection, pending);
      const retry: string[] = [];
      let retryError: SamsaClientError | undefined;
      const answered = new Set<string>();
      for (const outcome of outcomes) {
        if (!pending.includes(outcome.name)) continue;
        answered.add(outcome.name);
        if (outcome.errorCode === 0) continue;
        const err = errorFromCode(outcome.errorCode, outcome.errorMessage || undefined, { topic: outcome.name });
        // UnknownTopicOrPartition is the answer, not a transient state, for topic administration (as in Kafka's
        // AdminClient).
        if (err.retriable && outcome.errorCode !== ErrorCodes.UNKNOWN_TOPIC_OR_PARTITION.code) {
          retry.push(outcome.name);
          retryError ??= err;
        } else {
          failures.push(err);
        }
      }
      for (const name of pending) {
        if (!answered.has(name))
          failures.push(
            errorFromCode(ErrorCodes.UNKNOWN_SERVER_ERROR.code, 'the controller did not answer for this topic', {
              topic: name,
            }),
          );
      }
      pending = retry;
      if (retryError) throw retryError;
    }, this.controllerRetries(options));
    if (failures.length > 0) throw withAll(failures);
  }

  /** Retries until defaultApiTimeoutMs; NotController and failed connections refresh metadata first. */
  private controllerRetries(options: AdminRequestOptions): RetryLoopOptions {
    return {
      retry: { ...this.cluster.options.retry, retries: Number.MAX_SAFE_INTEGER },
      deadline: Date.now() + this.cluster.options.defaultApiTimeoutMs,
      signal: options.signal,
      onRetriable: async (err) => {
        if (err instanceof SamsaClientError && needsMetadataRefresh(err.code))
          await this.cluster.refresh().catch(() => {});
      },
    };
  }

  private async controller(): Promise<BrokerConnection> {
    if (this.cluster.controllerId < 0 || !this.cluster.brokers.has(this.cluster.controllerId))
      await this.cluster.refresh();
    const connection = this.cluster.connection(this.cluster.controllerId);
    if (!connection) throw errorFromCode(ErrorCodes.NOT_CONTROLLER.code, 'the cluster has no controller right now');
    return connection;
  }

  /** Names of every topic, sorted. */
  async listTopics(options: { signal?: AbortSignal } = {}): Promise<string[]> {
    const response = await this.cluster.callAny(
      'Metadata',
      { topics: [], allowAutoTopicCreation: false },
      { signal: options.signal },
    );
    return response.topics
      .filter((t) => t.errorCode === 0)
      .map((t) => t.name)
      .sort();
  }

  /** Partitions (leader, leader epoch, replicas, ISR) and configs; every topic when none are named. */
  async describeTopics(
    topics: readonly string[] = [],
    options: { signal?: AbortSignal } = {},
  ): Promise<TopicDescription[]> {
    checkTopicNames(topics);
    const response = await this.cluster.callAny(
      'Metadata',
      { topics: [...topics], allowAutoTopicCreation: false },
      { signal: options.signal },
    );
    const byName = new Map(response.topics.map((t) => [t.name, t]));
    const names = topics.length > 0 ? topics : [...byName.keys()].sort();
    return names.map((name) => {
      const t = byName.get(name);
      if (!t)
        throw errorFromCode(ErrorCodes.UNKNOWN_TOPIC_OR_PARTITION.code, `topic ${name} does not exist`, {
          topic: name,
        });
      if (t.errorCode !== 0) throw errorFromCode(t.errorCode, t.errorMessage || undefined, { topic: name });
      return describe(t);
    });
  }

  async describeCluster(options: { signal?: AbortSignal } = {}): Promise<ClusterDescription> {
    const response = await this.cluster.callAny('DescribeCluster', {}, { signal: options.signal });
    return {
      clusterId: response.clusterId,
      controllerId: response.controllerId,
      controllerEpoch: response.controllerEpoch,
      brokers: response.brokers
        .map(({ id, host, port, rack }) => ({ id, host, port, rack }))
        .sort((a, b) => a.id - b.id),
    };
  }

  /**
   * Per partition, the offset of the first record with a timestamp at or after `timestampMs`
   * (Kafka's offsetsForTimes); -1 where there is none. Never creates the topic. With
   * `isolationLevel: 'read_committed'` only records below the last stable offset are found.
   */
  async fetchTopicOffsetsByTimestamp(
    topic: string,
    timestampMs: number,
    options: ListOffsetsOptions = {},
  ): Promise<Array<{ partition: number; offset: number }>> {
    const info = await this.cluster.topic(topic, undefined, options.signal, false);
    const answers = await listOffsets(
      this.cluster,
      info.partitions.map((p) => ({ topic, partition: p.partition, timestamp: timestampMs })),
      options.signal,
      options.isolationLevel,
    );
    return answers.map((a) => ({ partition: a.partition, offset: a.offset }));
  }

  /** The broker coordinating a group (FindCoordinator). */
  findGroupCoordinator(
    groupId: string,
    options: { signal?: AbortSignal } = {},
  ): Promise<{ nodeId: number; address: string }> {
    return this.groups.findCoordinator(groupId, options.signal);
  }

  /**
   * Log start offset and high watermark of every partition of a topic (ListOffsets to the leaders);
   * with `isolationLevel: 'read_committed'` (Kafka's ListOffsetsOptions) `high` is the last stable offset.
   * Never creates the topic: one the brokers do not know is asked again (it may be being created) until
   * defaultApiTimeoutMs, then UnknownTopicOrPartition.
   */
  async fetchTopicOffsets(topic: string, options: ListOffsetsOptions = {}): Promise<PartitionOffsets[]> {
    const info = await this.cluster.topic(topic, undefined, options.signal, false);
    const partitions = info.partitions.map((p) => p.partition);
    const [low, high] = await Promise.all([
      listOffsets(
        this.cluster,
        partitions.map((partition) => ({ topic, partition, timestamp: EARLIEST_TIMESTAMP })),
        options.signal,
        options.isolationLevel,
      ),
      listOffsets(
        this.cluster,
        partitions.map((partition) => ({ topic, partition, timestamp: LATEST_TIMESTAMP })),
        options.signal,
        options.isolationLevel,
      ),
    ]);
    return partitions.map((partition, i) => ({ partition, low: low[i]?.offset ?? -1, high: high[i]?.offset ?? -1 }));
  }

  /**
   * Kafka's deleteRecords (KafkaJS's deleteTopicRecords): makes the records below each offset
   * unreadable and deletes them, on every in-sync replica, so a new leader does not bring them back;
   * offset -1 means the high watermark. One answer per partition: its low watermark, or its error
   * (OffsetOutOfRange past the high watermark, UnknownTopicOrPartition, PolicyViolation for a
   * compact-only topic, RequestTimedOut when the replicas did not follow within `timeoutMs`).
   */
  deleteRecords(targets: readonly RecordsToDelete[], options: DeleteRecordsOptions = {}): Promise<DeletedRecords[]> {
    return deleteRecords(this.cluster, targets, options);
  }

  /** The admin shares the client's connections; closing it releases nothing. Close the Samsa client. */
  async close(): Promise<void> {}

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}

function describe(t: v1.TopicMetadata__Output): TopicDescription {
  return {
    name: t.name,
    partitions: t.partitions
      .map((p) => ({
        partition: p.partition,
        leader: p.leader,
        leaderEpoch: p.leaderEpoch,
        replicas: [...p.replicas],
        isr: [...p.isr],
        offlineReplicas: [...p.offlineReplicas],
        addingReplicas: [...p.addingReplicas],
        removingReplicas: [...p.removingReplicas],
        errorCode: p.errorCode,
      }))
      .sort((a, b) => a.partition - b.partition),
    configs: { ...t.configs },
  };
}

/** InvalidTopic for the first name no topic can have, before anything is sent. */
function checkTopicNames(names: readonly string[]): void {
  for (const name of names) {
    const invalid = topicNameError(name);
    if (invalid) throw invalid;
  }
}

/** The first error, carrying all of them in `errors` (several topics can fail at once). */
function withAll(failures: SamsaClientError[]): SamsaClientError {
  const first = failures[0] as SamsaClientError;
  if (failures.length > 1) Object.defineProperty(first, 'errors', { value: failures, enumerable: false });
  return first;
}
