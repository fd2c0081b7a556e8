/**
 * The controller's ZooKeeper driver: loads the cluster when this broker is elected, watches brokers,
 * topics and deletion requests, feeds them to ControllerCore one at a time and performs its writes.
 *
 * Ordering rules:
 *  - one input at a time: an input's writes are all performed before the next input is stepped;
 *  - every write is a multi() that first checks /controller_epoch's znode version as read at
 *    election (Kafka's fence), so a deposed controller's writes fail with StaleControllerEpoch;
 *  - a write that fails for another reason (a znode written by someone else) is followed by a full
 *    re-read fed as `Resynced`, before any further input.
 */
import { ErrorCodes, SamsaError } from '@samsa/protocol';
import type { Logger } from 'pino';
import { type Clock, systemClock } from '../clock.js';

import {
  type ControllerInput,
  ControllerCore,
  type PartitionReassignment,
  type RequestResult,
  type StepOutput,
  type TopicPartitionRef,
  type WriteBatch,
} from './core.js';
import type { ClusterSnapshot, LoadedPartition, LoadedTopic, TopicConfigs } from './types.js';
import {
  ZNODES,
  brokerPath,
  decodeOfflineReplicas,
  decodePartitionState,
  decodeTopic,
  decodeTopicConfig,
  encodeTopicAssignment,
  newTopicId,
  partitionPath,
  partitionsPath,
  partitionStatePath,
  topicConfigPath,
  topicPath,
  type ReplicaRef,
} from './znodes.js';
import { type ControllerZk, ZkErrorCode, type ZnodeWatcher, zkErrorCode, zxidHex } from './zk-edge.js';

/** Per-topic answer of CreateTopics/DeleteTopics, shaped like the gRPC TopicResult. */
export interface TopicResult {
  readonly name: string;
  readonly errorCode: number;
  readonly errorMessage: string;
}

/** Per-partition answer of ElectLeaders, shaped like the gRPC PartitionResult. */
export interface PartitionResult {
  readonly topic: string;
  readonly partition: number;
  readonly errorCode: number;
  readonly errorMessage: string;
}

/** Kafka's auto.leader.rebalance.enable with its interval and threshold. */
export interface AutoLeaderRebalance {
  /** leader.imbalance.check.interval.seconds, in ms. */
  readonly intervalMs: number;
  /** leader.imbalance.per.broker.percentage. */
  readonly imbalancePercentage: number;
}

/** The first check after an election, as Kafka's controller schedules it (then every interval). */
const FIRST_REBALANCE_CHECK_MS = 5000;

export interface NewTopic {
  readonly name: string;
  readonly numPartitions: number;
  readonly replicationFactor: number;
  readonly configs?: TopicConfigs;
}

/** How many times a failed write is retried after a re-read before the controller resigns. */
const MAX_RESYNCS = 5;

async function loadTopic(zk: ControllerZk, name: string): Promise<LoadedTopic | undefined> {
  const assignment = await zk.getData(topicPath(name));
  if (!assignment) return undefined;
  const { replicas, topicId, moves } = decodeTopic(name, assignment.data);
  if (topicId === undefined) await backfillTopicId(zk, name, assignment.data, assignment.stat);
  const [config, partitionsStat] = await Promise.all([
    zk.getData(topicConfigPath(name)),
    zk.exists(partitionsPath(name)),
  ]);
  const partitions = await Promise.all(
    replicas.map(async (r, p): Promise<LoadedPartition> => {
      const [node, state] = await Promise.all([
        zk.exists(partitionPath(name, p)),
        zk.getData(partitionStatePath(name, p)),
      ]);
      const move = moves.get(p);
      const base = { replicas: r, hasPartitionZnode: node !== undefined, ...move };
      return state
        ? { ...base, state: decodePartitionState(name, p, state.data), stateZkVersion: state.stat.version }
        : base;
    }),
  );
  return {
    name,
    // What the backfill wrote (or a concurrent writer did: the same czxid).
    topicId: topicId ?? zxidHex(assignment.stat.czxid),
    partitions,
    configs: config ? decodeTopicConfig(name, config.data) : {},
    hasConfigZnode: config !== undefined,
    hasPartitionsZnode: partitionsStat !== undefined,
  };
}

/**
 * A topic znode written without a topic id (by a Samsa from before topic ids, or an old Kafka) gets
 * the id brokers already know it by, its czxid, written in as `topic_id` (as Kafka's controller gives
 * old topics ids). The id then travels with the znode's data, e.g. into another ensemble, where the
 * czxid would differ and every broker would take the topic for a new creation. Version-checked and
 * idempotent: a concurrent change wins, and the next load tries again.
 */
async function backfillTopicId(
  zk: ControllerZk,
  name: string,
  data: Buffer,
  stat: { czxid: Buffer; version: number },
): Promise<void> {
  const { replicas, moves } = decodeTopic(name, data);
  try {
    await zk.multi([
      {
        op: 'set',
        path: topicPath(name),
        data: encodeTopicAssignment(replicas, zxidHex(stat.czxid), moves),
        expectedVersion: stat.version,
      },
    ]);
  } catch (error) {
    const code = zkErrorCode(error);
    if (code !== ZkErrorCode.BAD_VERSION && code !== ZkErrorCode.NO_NODE) throw error;
  }
}

/** Reads everything the controller decides on. */
export async function loadClusterSnapshot(zk: ControllerZk): Promise<ClusterSnapshot> {
  const [ids, names, deletions] = await Promise.all([
    zk.getChildren(ZNODES.brokerIds),
    zk.getChildren(ZNODES.brokerTopics),
    zk.getChildren(ZNODES.deleteTopics),
  ]);
  const liveBrokerIds = (ids ?? []).map(Number).filter(Number.isInteger);
  const [topics, registrations] = await Promise.all([
    Promise.all((names ?? []).map((n) => loadTopic(zk, n))),
    readRegistrations(zk, liveBrokerIds),
  ]);
  return {
    liveBrokerIds,
    topics: topics.filter((t): t is LoadedTopic => t !== undefined),
    pendingDeletions: deletions ?? [],
    offlineReplicas: [...registrations].map(([brokerId, r]) => ({ brokerId, partitions: r.offline })),
  };
}

/** A live broker's registration as the controller reads it: its broker epoch and its offline logs. */
interface Registration {
  /** The registration's czxid: a new one means the broker restarted. */
  readonly zxid: string;
  readonly offline: ReplicaRef[];
}

async function readRegistrations(
  zk: ControllerZk,
  ids: readonly number[],
  watcher?: ZnodeWatcher,
): Promise<Map<number, Registration>> {
  const entries = await Promise.all(
    ids.map(async (id) => {
      const node = await zk.getData(brokerPath(id), watcher);
      if (!node) return undefined;
      return [id, { zxid: zxidHex(node.stat.czxid), offline: decodeOfflineReplicas(id, node.data) }] as const;
    }),
  );
  return new Map(entries.filter((e) => e !== undefined));
}

const replicaNames = (refs: readonly ReplicaRef[]): string =>
  refs
    .map((r) => `${r.topic}-${r.partition}`)
    .sort()
    .join(',');

/**
 * Runs one write batch fenced by the controller epoch. Resolves, or rejects with SamsaError
 * StaleControllerEpoch when the fence failed, or with the ZooKeeper error of the failed op otherwise.
 */
export async function fencedWrite(zk: ControllerZk, epochZkVersion: number, batch: WriteBatch): Promise<void> {
  try {
    await zk.multi(batch.ops, [{ path: ZNODES.controllerEpoch, version: epochZkVersion }]);
  } catch (error) {
    // The multi's error names the failed op's code only; ask ZooKeeper whether the fence moved.
    const stat = await zk.exists(ZNODES.controllerEpoch).catch(() => undefined);
    if (stat?.version !== epochZkVersion) {
      throw new SamsaError(
        ErrorCodes.STALE_CONTROLLER_EPOCH,
        `controller epoch znode is at version ${stat?.version ?? '?'}, this ` +
          `controller was elected at ${epochZkVersion} (${batch.reason})`,
        { cause: error },
      );
    }
    throw error;
  }
}

export interface ControllerDriverOptions {
  readonly zk: ControllerZk;
  readonly brokerId: number;
  readonly controllerEpoch: number;
  /** Version of /controller_epoch right after this broker's election write. */
  readonly epochZkVersion: number;
  readonly logger: Logger;
  /** Seed source for replica assignment (non-negative integers). */
  readonly randomSeed: () => number;
  /** Called once when the driver stops acting as controller because a write was fenced or failed. */
  readonly onResign: (reason: Error) => void;
  /** Move leadership back to preferred replicas on its own; absent: only when asked (ElectLeaders). */
  readonly autoLeaderRebalance?: AutoLeaderRebalance;
  /** Times the imbalance checks (the simulation passes a simulated clock). */
  readonly clock?: Clock;
}

export class ControllerDriver {
  private readonly core = new ControllerCore();
  private queue: Promise<unknown> = Promise.resolve();
  private active = true;
  private readonly log: Logger;
  /** The czxid of each live broker's registration as last read: a new one means the broker restarted. */
  private registrations = new Map<number, string>();
  private cancelRebalance: (() => void) | undefined;
  private readonly onBrokers = (): void => this.enqueueWatch('brokers', () => this.readBrokers());
  private readonly onTopics = (): void => this.enqueueWatch('topics', () => this.readTopics());
  private readonly onDeletions = (): void => this.enqueueWatch('deletions', () => this.readDeletions());

  constructor(private readonly options: ControllerDriverOptions) {
    this.log = options.logger.child({ brokerId: options.brokerId, controllerEpoch: options.controllerEpoch });
  }

  get isActive(): boolean {
    return this.active;
  }

  get controllerEpoch(): number {
    return this.options.controllerEpoch;
  }

  /** What the core has decided so far, to read (a simulation compares it with the znodes). */
  get decisions(): Pick<ControllerCore, 'topic' | 'knownTopics'> {
    return this.core;
  }

  /** Loads the cluster, arms the watches and makes the failover decisions. */
  start(): Promise<void> {
    return this.enqueue(async () => {
      const { zk } = this.options;
      // Arm the watches first so nothing between the read and the watch is missed.
      await Promise.all([
        zk.getChildren(ZNODES.brokerIds, this.onBrokers),
        zk.getChildren(ZNODES.brokerTopics, this.onTopics),
        zk.getChildren(ZNODES.deleteTopics, this.onDeletions),
      ]);
      const snapshot = await loadClusterSnapshot(zk);
      this.log.info(
        { liveBrokers: snapshot.liveBrokerIds, topics: snapshot.topics.length },
        'controller loaded cluster state',
      );
      await this.run({ type: 'ControllerElected', controllerEpoch: this.options.controllerEpoch, snapshot });
      // Read again with data watches armed: a broker states its offline logs in its registration.
      const registrations = await readRegistrations(zk, snapshot.liveBrokerIds, this.onBrokers);
      this.registrations = new Map([...registrations].map(([id, r]) => [id, r.zxid]));
      await this.reportedOffline(registrations);
      // A leader registered after its partition's state was written has restarted since (perhaps while
      // no controller was watching): it must not resume that term, so elect again as for a bounce.
      for (const id of await this.leadersRegisteredAfterTheirState(snapshot)) await this.bounce(id);
      this.scheduleRebalance(
        Math.min(FIRST_REBALANCE_CHECK_MS, this.options.autoLeaderRebalance?.intervalMs ?? Infinity),
      );
    });
  }

  /** Stops acting (another broker is controller, or shutdown). Queued requests answer NotController. */
  resign(): void {
    if (!this.active) return;
    this.active = false;
    this.cancelRebalance?.();
    this.log.info('controller resigned');
  }

  createTopics(topics: readonly NewTopic[], validateOnly = false): Promise<TopicResult[]> {
    return Promise.all(
      topics.map((t) =>
        this.request(t.name, {
          type: 'CreateTopic',
          topic: t.name,
          numPartitions: t.numPartitions,
          replicationFactor: t.replicationFactor,
          configs: t.configs ?? {},
          seed: this.options.randomSeed(),
          topicId: newTopicId(),
          validateOnly,
        }),
      ),
    );
  }

  /**
   * CreatePartitions: each topic grows to its count. The topic znode is read first (in the queue, so
   * no other change of ours comes between) for its id and the version the new assignment replaces.
   */
  createPartitions(
    topics: ReadonlyArray<{ readonly name: string; readonly count: number }>,
    validateOnly = false,
  ): Promise<TopicResult[]> {
    return Promise.all(
      topics.map((t) =>
        this.requestWith(t.name, async () => {
          const node = await this.options.zk.getData(topicPath(t.name));
          const topicZnode = node
            ? { topicId: decodeTopic(t.name, node.data).topicId, version: node.stat.version }
            : undefined;
          return {
            type: 'CreatePartitions',
            topic: t.name,
            count: t.count,
            topicZnode,
            seed: this.options.randomSeed(),
            validateOnly,
          };
        }),
      ),
    );
  }

  deleteTopics(names: readonly string[]): Promise<TopicResult[]> {
    return Promise.all(
      names.map((name) => this.request(name, { type: 'DeleteTopic', topic: name, adminRequest: false })),
    );
  }

  /** The seam for replication: a leader's ISR proposal, fenced by leader epoch and state znode version. */
  alterIsr(input: Omit<Extract<ControllerInput, { type: 'AlterIsr' }>, 'type'>): Promise<TopicResult> {
    return this.request(input.topic, { type: 'AlterIsr', ...input });
  }

  /**
   * ElectLeaders (preferred): one answer per partition, every partition of the cluster when none is
   * named. ElectionNotNeeded means the preferred replica leads already.
   */
  electPreferredLeaders(partitions: readonly TopicPartitionRef[]): Promise<PartitionResult[]> {
    return this.enqueue(async () => {
      if (!this.active) throw new SamsaError(ErrorCodes.NOT_CONTROLLER, 'This broker is not the controller');
      const { out, failure } = await this.runCapturing({ type: 'ElectPreferredLeaders', partitions });
      // Fenced or lost the session: the whole request goes to the next controller (the client retries).
      if (failure instanceof SamsaError)
        throw new SamsaError(ErrorCodes.NOT_CONTROLLER, `this broker stopped being the controller: ${failure.detail}`, {
          cause: failure,
        });
      // Any other failed write moved nothing: the partitions it would have moved report it instead,
      // also where a request named a partition twice and the second answer relied on the first move.
      const moved = new Set(
        out.results.filter((r) => r.error.code === ErrorCodes.NONE.code).map((r) => `${r.topic}\u0000${r.partition}`),
      );
      return out.results.map((r) => {
        const error =
          failure !== undefined && moved.has(`${r.topic}\u0000${r.partition}`)
            ? {
                errorCode: ErrorCodes.UNKNOWN_SERVER_ERROR.code,
                errorMessage: `the election was not written: ${String(failure)}`,
              }
            : { errorCode: r.error.code, errorMessage: r.message };
        return { topic: r.topic, partition: r.partition ?? -1, ...error };
      });
    });
  }

  /**
   * AlterPartitionReassignments: starts (or, with replicas null, cancels) each partition's move; one
   * answer per entry. The moves then complete on their own as the new replicas join the ISR.
   */
  reassignPartitions(
    reassignments: readonly PartitionReassignment[],
    throttleBytesPerSecond = 0,
  ): Promise<PartitionResult[]> {
    return this.enqueue(async () => {
      if (!this.active) throw new SamsaError(ErrorCodes.NOT_CONTROLLER, 'This broker is not the controller');
      const input: ControllerInput = { type: 'ReassignPartitions', reassignments, throttleBytesPerSecond };
      let { out, failure } = await this.runCapturing(input);
      // A write that lost a version race was followed by a re-read: decide once more on what is there
      // now (the same target again is accepted as it is).
      if (failure !== undefined && !(failure instanceof SamsaError) && this.active)
        ({ out, failure } = await this.runCapturing(input));
      if (failure instanceof SamsaError)
        throw new SamsaError(ErrorCodes.NOT_CONTROLLER, `this broker stopped being the controller: ${failure.detail}`, {
          cause: failure,
        });
      return out.results.map((r) => {
        const error =
          failure !== undefined && r.error.code === ErrorCodes.NONE.code
            ? {
                errorCode: ErrorCodes.UNKNOWN_SERVER_ERROR.code,
                errorMessage: `the reassignment was not written: ${String(failure)}`,
              }
            : { errorCode: r.error.code, errorMessage: r.message };
        return { topic: r.topic, partition: r.partition ?? -1, ...error };
      });
    });
  }

  /** Removes the reassignment throttle of each topic whose moves are all done (ReassignmentInProgress otherwise). */
  clearReassignmentThrottles(topics: readonly string[]): Promise<TopicResult[]> {
    return Promise.all(
      topics.map((topic) => this.request(topic, { type: 'ClearReassignmentThrottles', topics: [topic] })),
    );
  }

  /** Alters one topic's configs (see the AlterTopicConfigs input); one answer. */
  alterTopicConfigs(
    input: Omit<Extract<ControllerInput, { type: 'AlterTopicConfigs' }>, 'type'>,
  ): Promise<TopicResult> {
    return this.request(input.topic, { type: 'AlterTopicConfigs', ...input });
  }

  // ---- internals ----

  /** The periodic auto leader rebalance (when configured): each check runs in the input queue. */
  private scheduleRebalance(delayMs: number): void {
    const auto = this.options.autoLeaderRebalance;
    if (!auto || !this.active || !Number.isFinite(delayMs)) return;
    // resign() cancels it: a controller that stops leaves no timer behind.
    this.cancelRebalance = (this.options.clock ?? systemClock).schedule(delayMs, () => {
      this.enqueueWatch('leader imbalance check', async () => {
        await this.run({
          type: 'ElectPreferredLeaders',
          partitions: 'imbalanced',
          imbalancePercentage: auto.imbalancePercentage,
        });
        this.scheduleRebalance(auto.intervalMs);
      });
    });
  }

  private enqueue<T>(task: () => Promise<T>): Promise<T> {
    const next = this.queue.then(task);
    this.queue = next.catch(() => undefined);
    return next;
  }

  private enqueueWatch(what: string, task: () => Promise<void>): void {
    if (!this.active) return;
    void this.enqueue(async () => {
      if (!this.active) return;
      try {
        await task();
      } catch (error) {
        this.fail(error instanceof Error ? error : new Error(String(error)), `handling ${what} change`);
      }
    });
  }

  private request(topic: string, input: ControllerInput): Promise<TopicResult> {
    return this.requestWith(topic, async () => input);
  }

  /** A request whose input is built inside the queue (after the requests before it are done). */
  private requestWith(topic: string, build: () => Promise<ControllerInput>): Promise<TopicResult> {
    return this.enqueue(async () => {
      if (!this.active) return notController(topic);
      const input = await build();
      const { out, failure } = await this.runCapturing(input);
      const result: RequestResult | undefined = out.results[0];
      if (failure) {
        if (failure instanceof SamsaError)
          return { name: topic, errorCode: failure.code, errorMessage: failure.message };
        if (zkErrorCode(failure) === ZkErrorCode.NODE_EXISTS && input.type === 'CreateTopic') {
          return {
            name: topic,
            errorCode: ErrorCodes.TOPIC_ALREADY_EXISTS.code,
            errorMessage: `Topic '${topic}' already exists`,
          };
        }
        return { name: topic, errorCode: ErrorCodes.UNKNOWN_SERVER_ERROR.code, errorMessage: String(failure) };
      }
      if (!result) throw new Error(`ControllerCore gave no result for ${input.type}`);
      return { name: topic, errorCode: result.error.code, errorMessage: result.message };
    });
  }

  /** Steps and performs the writes; on a non-fence failure re-reads and re-decides. Throws only if resigned. */
  private async run(input: ControllerInput): Promise<void> {
    const { failure } = await this.runCapturing(input);
    if (failure instanceof SamsaError && !this.active) throw failure;
  }

  private async runCapturing(input: ControllerInput): Promise<{ out: StepOutput; failure: unknown }> {
    const out = this.core.step(input);
    this.logOutput(input, out);
    let failure = await this.perform(out);
    const first = failure;
    for (let attempt = 1; failure !== undefined && this.active; attempt++) {
      if (attempt > MAX_RESYNCS) {
        this.fail(
          failure instanceof Error ? failure : new Error(String(failure)),
          'writes keep failing after re-reads',
        );
        break;
      }
      this.log.warn({ err: failure, attempt }, 'controller write failed; re-reading cluster state');
      const snapshot = await loadClusterSnapshot(this.options.zk);
      const resynced = this.core.step({ type: 'Resynced', snapshot });
      this.logOutput({ type: 'Resynced', snapshot }, resynced);
      failure = await this.perform(resynced);
    }
    return { out, failure: first };
  }

  /** Performs batches in order; returns the first failure (after which nothing more is written). */
  private async perform(out: StepOutput): Promise<unknown> {
    for (const batch of out.writes) {
      if (!this.active) return new SamsaError(ErrorCodes.NOT_CONTROLLER, 'controller resigned');
      try {
        await fencedWrite(this.options.zk, this.options.epochZkVersion, batch);
      } catch (error) {
        if (
          error instanceof SamsaError ||
          zkErrorCode(error) === ZkErrorCode.SESSION_EXPIRED ||
          zkErrorCode(error) === ZkErrorCode.CONNECTION_LOSS
        ) {
          this.fail(error instanceof Error ? error : new Error(String(error)), batch.reason);
          return error instanceof SamsaError
            ? error
            : new SamsaError(ErrorCodes.NOT_CONTROLLER, 'lost the coordinator session', { cause: error });
        }
        return error;
      }
    }
    return undefined;
  }

  private fail(error: Error, doing: string): void {
    if (!this.active) return;
    this.log.error({ err: error }, `controller stops: ${doing}`);
    this.resign();
    this.options.onResign(error);
  }

  private logOutput(input: ControllerInput, out: StepOutput): void {
    for (const c of out.changes) {
      this.log.info(
        {
          topic: c.topic,
          partition: c.partition,
          before: c.before,
          after: c.after,
          unclean: c.unclean,
          cause: input.type,
        },
        'partition state change',
      );
    }
  }

  private async readBrokers(): Promise<void> {
    const ids = ((await this.options.zk.getChildren(ZNODES.brokerIds, this.onBrokers)) ?? [])
      .map(Number)
      .filter(Number.isInteger);
    const registrations = await readRegistrations(this.options.zk, ids, this.onBrokers);
    // A broker that restarted within its session timeout may never be seen missing from the children:
    // its registration's czxid tells (Kafka's broker epoch), and it is handled as down, then up.
    for (const [id, { zxid }] of registrations) {
      const known = this.registrations.get(id);
      if (known !== undefined && known !== zxid) await this.bounce(id);
    }
    this.registrations = new Map([...registrations].map(([id, r]) => [id, r.zxid]));
    // Before BrokersChanged: a broker coming up must not be elected for a partition it cannot host.
    await this.reportedOffline(registrations);
    await this.run({ type: 'BrokersChanged', liveBrokerIds: ids });
  }

  /** Feeds the offline logs a registration lists when they differ from what the core knows. */
  private async reportedOffline(registrations: ReadonlyMap<number, Registration>): Promise<void> {
    for (const [brokerId, { offline }] of registrations) {
      if (replicaNames(offline) === this.core.offlineReplicasOf(brokerId).join(',')) continue;
      this.log.info(
        { reportingBrokerId: brokerId, offline: offline.map((r) => `${r.topic}-${r.partition}`) },
        'broker reports offline logs',
      );
      await this.run({ type: 'ReplicasOffline', brokerId, partitions: offline });
    }
  }

  /** A restarted broker: down (its partitions get new leaders and epochs), then up on the next read. */
  private async bounce(id: number): Promise<void> {
    this.log.info({ restartedBrokerId: id }, 'broker restarted: handling it as down, then up');
    await this.run({ type: 'BrokerDown', brokerId: id });
    await this.run({ type: 'BrokersChanged', liveBrokerIds: [...this.registrations.keys()] });
  }

  private async leadersRegisteredAfterTheirState(snapshot: ClusterSnapshot): Promise<Set<number>> {
    const restarted = new Set<number>();
    for (const topic of snapshot.topics) {
      await Promise.all(
        topic.partitions.map(async (p, partition) => {
          const leader = p.state?.leader;
          const registered = leader === undefined ? undefined : this.registrations.get(leader);
          if (registered === undefined || restarted.has(leader!)) return;
          const stat = await this.options.zk.exists(partitionStatePath(topic.name, partition));
          if (stat && zxidHex(stat.mzxid) < registered) restarted.add(leader!);
        }),
      );
    }
    return restarted;
  }

  private async readTopics(): Promise<void> {
    const names = (await this.options.zk.getChildren(ZNODES.brokerTopics, this.onTopics)) ?? [];
    const known = new Set(this.core.knownTopics());
    const loaded = await Promise.all(names.filter((n) => !known.has(n)).map((n) => loadTopic(this.options.zk, n)));
    await this.run({
      type: 'TopicZnodesChanged',
      current: names,
      loaded: loaded.filter((t): t is LoadedTopic => t !== undefined),
    });
  }

  private async readDeletions(): Promise<void> {
    const names = (await this.options.zk.getChildren(ZNODES.deleteTopics, this.onDeletions)) ?? [];
    for (const topic of names) await this.run({ type: 'DeleteTopic', topic, adminRequest: true });
  }
}

function notController(name: string): TopicResult {
  return { name, errorCode: ErrorCodes.NOT_CONTROLLER.code, errorMessage: 'This broker is not the controller' };
}
