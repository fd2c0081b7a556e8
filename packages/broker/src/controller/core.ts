/**
 * The controller's decisions, as a pure state machine: `step(input)` takes one event and returns the
 * znode writes to perform, the roles to announce and the answers for requesters. No I/O, no time, no
 * randomness (the driver passes a seed for replica assignment).
 *
 * Ordering rule: the core applies its own decisions to its state immediately (it predicts znode
 * versions: create -> 0, set -> expected + 1). The driver performs the writes of one step, in order,
 * before it feeds the next input; if a write fails, the driver must re-read the coordinator and feed
 * `Resynced`, or resign when the failure was the controller-epoch fence.
 *
 * Leader election rule (Kafka's, ZooKeeper mode), applied by `reconcile` to every partition an event
 * touches:
 *  - a dead broker leaves every ISR it is in, except that an ISR never becomes empty: its last member
 *    stays, so only that replica (or an unclean election) can bring the partition back without losing
 *    acknowledged records;
 *  - if the leader is dead, the new leader is the first replica, in assignment order, that is alive
 *    and in the ISR; if there is none the leader becomes -1, unless the topic sets
 *    unclean.leader.election.enable=true, in which case the first live replica leads with ISR [itself];
 *  - every controller-made change bumps the leader epoch (as Kafka's controller does, ISR-only
 *    changes included), except a replica move's steps that keep the leader (see writeMoveState);
 *    leader-proposed ISR changes (AlterIsr) keep the leader epoch and are fenced by the state znode's
 *    version;
 *  - a partition whose replicas were all offline when it was created has no state znode yet; it is
 *    initialised (leader = first live replica, ISR = live replicas, epoch 0) once one comes up;
 *  - a replica whose log its broker reports offline (a full disk, an I/O error: `ReplicasOffline`,
 *    read from the broker's registration) counts as dead for that partition only: it leaves the ISR
 *    (unless it is the last member), cannot be elected, and a partition it led gets another leader.
 *    Reported back online, it is treated as a broker coming up for that partition: it leads a
 *    leaderless partition whose ISR holds it, and otherwise rejoins the ISR through its leader.
 *
 * Preferred leader election (`ElectPreferredLeaders`, Kafka's): a partition's first replica is its
 * preferred leader, and assignment spreads first replicas evenly over the brokers. A failover moves
 * leadership away and nothing above moves it back, so a restarted broker would lead nothing until
 * asked. The election hands leadership to the preferred replica when it is alive and in the ISR,
 * bumps the leader epoch and keeps the ISR: the new leader has every committed record (it is in the
 * ISR), and the old one becomes its follower. Asked for explicit partitions (an ElectLeaders request)
 * each gets an answer; asked for `imbalanced` (the periodic check of auto.leader.rebalance.enable) it
 * elects, for each broker whose share of preferred partitions it does not lead is above the given
 * percentage, those of its partitions where it is eligible.
 */
import { ErrorCodes, type ErrorSpec, MAX_PARTITIONS_PER_TOPIC } from '@samsa/protocol';
import { assignReplicas, validateNewTopic, validateTopicName } from './assignment.js';
import {
  type ClusterSnapshot,
  type LeaderAndIsr,
  type LoadedTopic,
  NO_LEADER,
  type TopicConfigs,
  UNCLEAN_LEADER_ELECTION_CONFIG,
} from './types.js';
import {
  deleteTopicPath,
  encodePartitionState,
  encodeTopicAssignment,
  encodeTopicConfig,
  type ReplicaMove,
  partitionPath,
  partitionsPath,
  partitionStatePath,
  topicConfigPath,
  topicPath,
} from './znodes.js';

// ---- inputs ----

export type ControllerInput =
  /** This broker won the /controller election; the driver loaded the cluster as it is now. */
  | { readonly type: 'ControllerElected'; readonly controllerEpoch: number; readonly snapshot: ClusterSnapshot }
  /** A write failed on something other than the epoch fence; this is the re-read state. */
  | { readonly type: 'Resynced'; readonly snapshot: ClusterSnapshot }
  /** The children of /brokers/ids, as now. */
  | { readonly type: 'BrokersChanged'; readonly liveBrokerIds: readonly number[] }
  | { readonly type: 'BrokerUp'; readonly brokerId: number }
  | { readonly type: 'BrokerDown'; readonly brokerId: number }
  /**
   * The partitions whose logs `brokerId` cannot serve now, as its registration lists them (the whole
   * set: a partition missing from it is back online). Kafka's log directory failure, per partition.
   */
  | { readonly type: 'ReplicasOffline'; readonly brokerId: number; readonly partitions: readonly TopicPartitionRef[] }
  | {
      readonly type: 'CreateTopic';
      readonly topic: string;
      readonly numPartitions: number;
      readonly replicationFactor: number;
      readonly configs: TopicConfigs;
      /** Non-negative integer choosing the assignment's start broker and follower shift. */
      readonly seed: number;
      /** The new topic's id (znodes.newTopicId), chosen by the driver so the core stays deterministic. */
      readonly topicId: string;
      readonly validateOnly?: boolean;
    }
  /**
   * The children of /brokers/topics changed. `current` is the full list; `loaded` holds the topics the
   * driver read because the core did not know them (written by another broker's auto-creation or by a
   * tool), see `knownTopics()`.
   */
  | {
      readonly type: 'TopicZnodesChanged';
      readonly current: readonly string[];
      readonly loaded: readonly LoadedTopic[];
    }
  /**
   * CreatePartitions: grow `topic` to `count` partitions. The driver read the topic znode (its id and
   * version: the new assignment is written over exactly that version); undefined when it is gone.
   */
  | {
      readonly type: 'CreatePartitions';
      readonly topic: string;
      readonly count: number;
      readonly topicZnode: { readonly topicId: string | undefined; readonly version: number } | undefined;
      /** Non-negative integer choosing the new partitions' start broker and follower shift. */
      readonly seed: number;
      readonly validateOnly?: boolean;
    }
  /** A DeleteTopics request, or a child of /admin/delete_topics (`adminRequest`: that znode exists). */
  | { readonly type: 'DeleteTopic'; readonly topic: string; readonly adminRequest: boolean }
  /**
   * A leader proposes a new ISR (the seam for replication's ISR shrink/expand). Fenced by the leader
   * epoch and by the state znode's version, so a deposed leader cannot overwrite.
   */
  | {
      readonly type: 'AlterIsr';
      readonly topic: string;
      readonly partition: number;
      readonly leaderId: number;
      readonly leaderEpoch: number;
      readonly stateZkVersion: number;
      readonly newIsr: readonly number[];
    }
  /**
   * AlterPartitionReassignments (KIP-455): move each partition's replicas to `replicas` (the target,
   * preferred leader first), or with `replicas` null cancel its move in progress. One answer per entry.
   */
  | {
      readonly type: 'ReassignPartitions';
      readonly reassignments: readonly PartitionReassignment[];
      /** > 0: throttle the moving partitions' replication to this many bytes/s (see setThrottles). */
      readonly throttleBytesPerSecond?: number;
    }
  /** Removes the reassignment throttle of topics with no move in progress (one answer per topic). */
  | { readonly type: 'ClearReassignmentThrottles'; readonly topics: readonly string[] }
  /**
   * IncrementalAlterConfigs on one topic (one answer): `set` over its current configs, then `remove`
   * (back to the broker default); with `replace` (Kafka's older AlterConfigs) `set` is the whole new
   * set. Values were validated by the caller; the core checks what needs the topic (it exists, and
   * min.insync.replicas fits its replication factor) and writes /config/topics/<topic>.
   */
  | {
      readonly type: 'AlterTopicConfigs';
      readonly topic: string;
      readonly set: TopicConfigs;
      readonly remove: readonly string[];
      readonly replace?: boolean;
      readonly validateOnly?: boolean;
    }
  /**
   * Move leadership back to preferred replicas: the listed partitions (every partition if empty), or
   * with `imbalanced` those of brokers whose leader imbalance is above `imbalancePercentage`.
   */
  | {
      readonly type: 'ElectPreferredLeaders';
      readonly partitions: readonly TopicPartitionRef[] | 'imbalanced';
      /** Only for `imbalanced`: Kafka's leader.imbalance.per.broker.percentage. */
      readonly imbalancePercentage?: number;
    };

export interface TopicPartitionRef {
  readonly topic: string;
  readonly partition: number;
}

export interface PartitionReassignment extends TopicPartitionRef {
  /** The target replicas, preferred leader first; null cancels the partition's move in progress. */
  readonly replicas: readonly number[] | null;
}

// ---- outputs ----

export type ZnodeOp =
  /** Persistent unless `ephemeral` (the core never writes ephemerals; the election multi does). */
  | { readonly op: 'create'; readonly path: string; readonly data: string; readonly ephemeral?: boolean }
  | { readonly op: 'set'; readonly path: string; readonly data: string; readonly expectedVersion: number }
  /** expectedVersion -1 means any version. */
  | { readonly op: 'delete'; readonly path: string; readonly expectedVersion: number };

/** One atomic write; the driver runs it as a multi() that also checks the controller epoch's znode version. */
export interface WriteBatch {
  readonly reason: string;
  readonly ops: readonly ZnodeOp[];
}

export type RoleAnnouncement =
  | {
      readonly role: 'leader' | 'follower';
      readonly brokerId: number;
      readonly topic: string;
      readonly partition: number;
      readonly leader: number;
      readonly leaderEpoch: number;
      readonly isr: readonly number[];
    }
  | { readonly role: 'deleted'; readonly brokerId: number; readonly topic: string; readonly partition: number };

/** The answer to a CreateTopic, DeleteTopic or AlterIsr input; `error` is ErrorCodes.NONE on success. */
export interface RequestResult {
  readonly topic: string;
  readonly partition?: number;
  readonly error: ErrorSpec;
  readonly message: string;
}

/** A leader or ISR change the controller decided (for logs and invariant checks). */
export interface StateChange {
  readonly topic: string;
  readonly partition: number;
  readonly before: LeaderAndIsr | undefined;
  readonly after: LeaderAndIsr;
  /** The new leader was not in the ISR. */
  readonly unclean: boolean;
}

export interface StepOutput {
  readonly writes: readonly WriteBatch[];
  readonly announcements: readonly RoleAnnouncement[];
  readonly results: readonly RequestResult[];
  readonly changes: readonly StateChange[];
}

// ---- read-only views ----

export interface PartitionView {
  readonly topic: string;
  readonly partition: number;
  readonly replicas: readonly number[];
  /** Undefined until the state znode exists. */
  readonly state: LeaderAndIsr | undefined;
  readonly stateZkVersion: number;
  /** The replicas a move in progress adds and removes (both empty when none is). */
  readonly adding: readonly number[];
  readonly removing: readonly number[];
}

export interface TopicView {
  readonly name: string;
  readonly configs: TopicConfigs;
  readonly partitions: readonly PartitionView[];
}

/** Partition state changes are written in batches of at most this many partitions (bounded multi size). */
export const MAX_PARTITIONS_PER_BATCH = 200;

interface PartitionRec {
  /** During a move: the target, then the replicas being removed. */
  replicas: readonly number[];
  adding: readonly number[];
  removing: readonly number[];
  state: LeaderAndIsr | undefined;
  zkVersion: number;
  hasZnode: boolean;
}

interface TopicRec {
  readonly name: string;
  configs: TopicConfigs;
  /** Written back whenever the controller rewrites the topic znode. */
  topicId: string | undefined;
  readonly partitions: PartitionRec[];
  hasConfigZnode: boolean;
  hasPartitionsZnode: boolean;
}

class Collector {
  readonly writes: WriteBatch[] = [];
  readonly announcements: RoleAnnouncement[] = [];
  readonly results: RequestResult[] = [];
  readonly changes: StateChange[] = [];
  /** Partition-state ops waiting to be batched, by partition. */
  private pending: ZnodeOp[][] = [];

  addPartitionOps(ops: ZnodeOp[]): void {
    this.pending.push(ops);
  }

  flush(reason: string): void {
    for (let i = 0; i < this.pending.length; i += MAX_PARTITIONS_PER_BATCH) {
      this.writes.push({ reason, ops: this.pending.slice(i, i + MAX_PARTITIONS_PER_BATCH).flat() });
    }
    this.pending = [];
  }

  output(): StepOutput {
    return { writes: this.writes, announcements: this.announcements, results: this.results, changes: this.changes };
  }
}

const ok = (topic: string, message = ''): RequestResult => ({ topic, error: ErrorCodes.NONE, message });
const fail = (topic: string, error: ErrorSpec, message: string): RequestResult => ({ topic, error, message });

const replicaKey = (topic: string, partition: number): string => `${topic}\u0000${partition}`;

/** Kafka's throttle configs (the rate is a broker config in Kafka; Samsa keeps it with the topic). */
export const THROTTLED_LEADERS = 'leader.replication.throttled.replicas';
export const THROTTLED_FOLLOWERS = 'follower.replication.throttled.replicas';
export const THROTTLED_RATE = 'leader.replication.throttled.rate';

export class ControllerCore {
  private readonly live = new Set<number>();
  /** Per broker, the partitions (replicaKey) whose logs it reported offline. */
  private readonly offline = new Map<number, ReadonlySet<string>>();
  private readonly topics = new Map<string, TopicRec>();
  private epoch = -1;

  /** The controller epoch this core writes with; -1 before ControllerElected. */
  get controllerEpoch(): number {
    return this.epoch;
  }

  get liveBrokerIds(): number[] {
    return [...this.live].sort((a, b) => a - b);
  }

  /** The partitions `brokerId` reported offline, as `topic-partition` names (for logs and tests). */
  offlineReplicasOf(brokerId: number): string[] {
    return [...(this.offline.get(brokerId) ?? [])].map((k) => k.replace('\u0000', '-')).sort();
  }

  knownTopics(): string[] {
    return [...this.topics.keys()].sort();
  }

  topic(name: string): TopicView | undefined {
    const t = this.topics.get(name);
    if (!t) return undefined;
    return {
      name,
      configs: t.configs,
      partitions: t.partitions.map((p, i) => ({
        topic: name,
        partition: i,
        replicas: p.replicas,
        state: p.state,
        stateZkVersion: p.zkVersion,
        adding: p.adding,
        removing: p.removing,
      })),
    };
  }

  step(input: ControllerInput): StepOutput {
    const out = new Collector();
    if (input.type !== 'ControllerElected' && this.epoch < 0) {
      throw new Error(`ControllerCore: ${input.type} before ControllerElected`);
    }
    switch (input.type) {
      case 'ControllerElected':
        this.epoch = input.controllerEpoch;
        this.load(input.snapshot, out);
        break;
      case 'Resynced':
        this.load(input.snapshot, out);
        break;
      case 'BrokersChanged':
        this.brokersChanged(input.liveBrokerIds, out);
        break;
      case 'BrokerUp':
        this.brokerUp(input.brokerId, out);
        break;
      case 'BrokerDown':
        this.brokerDown(input.brokerId, out);
        break;
      case 'ReplicasOffline':
        this.replicasOffline(input.brokerId, input.partitions, out);
        break;
      case 'CreateTopic':
        this.createTopic(input, out);
        break;
      case 'TopicZnodesChanged':
        this.topicZnodesChanged(input.current, input.loaded, out);
        break;
      case 'CreatePartitions':
        this.createPartitions(input, out);
        break;
      case 'DeleteTopic':
        this.deleteTopic(input.topic, input.adminRequest, out);
        break;
      case 'AlterIsr':
        this.alterIsr(input, out);
        break;
      case 'ElectPreferredLeaders':
        if (input.partitions === 'imbalanced') this.rebalanceLeaders(input.imbalancePercentage ?? 10, out);
        else this.electPreferred(input.partitions, out);
        break;
      case 'ReassignPartitions':
        for (const r of input.reassignments) this.reassign(r, out);
        if ((input.throttleBytesPerSecond ?? 0) > 0)
          for (const topic of new Set(input.reassignments.map((r) => r.topic)))
            this.setThrottles(topic, input.throttleBytesPerSecond!, out);
        out.flush('partition reassignment');
        break;
      case 'ClearReassignmentThrottles':
        for (const topic of input.topics) this.clearThrottles(topic, out);
        out.flush('clear reassignment throttles');
        break;
      case 'AlterTopicConfigs':
        this.alterTopicConfigs(input, out);
        out.flush('alter topic configs');
        break;
      default: {
        const never: never = input;
        throw new Error(`ControllerCore: unknown input ${JSON.stringify(never)}`);
      }
    }
    // Any event may be the one a move waited for: the last new replica joining the ISR, a broker coming
    // back, a new controller loading a move its predecessor started.
    this.completeReassignments(out);
    return out.output();
  }

  // ---- events ----

  private load(snapshot: ClusterSnapshot, out: Collector): void {
    this.live.clear();
    for (const id of snapshot.liveBrokerIds) this.live.add(id);
    this.topics.clear();
    for (const t of snapshot.topics) this.topics.set(t.name, toRec(t));
    this.offline.clear();
    for (const { brokerId, partitions } of snapshot.offlineReplicas ?? [])
      if (partitions.length > 0)
        this.offline.set(brokerId, new Set(partitions.map((r) => replicaKey(r.topic, r.partition))));
    this.reconcileAll(() => true, out);
    out.flush('controller failover: elect leaders for offline partitions');
    for (const name of snapshot.pendingDeletions) this.deleteTopic(name, true, out);
  }

  private brokersChanged(ids: readonly number[], out: Collector): void {
    const now = new Set(ids);
    for (const id of this.liveBrokerIds) if (!now.has(id)) this.brokerDown(id, out);
    for (const id of [...now].sort((a, b) => a - b)) if (!this.live.has(id)) this.brokerUp(id, out);
  }

  private brokerDown(id: number, out: Collector): void {
    // Its next registration brings its own list.
    this.offline.delete(id);
    if (!this.live.delete(id)) return;
    this.reconcileAll((p) => p.replicas.includes(id), out);
    out.flush(`broker ${id} down`);
  }

  private brokerUp(id: number, out: Collector): void {
    if (this.live.has(id)) return;
    this.live.add(id);
    // Only leaderless or uninitialised partitions change: a returning broker rejoins ISRs through its leader.
    this.reconcileAll((p) => p.replicas.includes(id) && (p.state === undefined || p.state.leader === NO_LEADER), out);
    out.flush(`broker ${id} up`);
  }

  private replicasOffline(id: number, partitions: readonly TopicPartitionRef[], out: Collector): void {
    const before = this.offline.get(id) ?? new Set<string>();
    const after = new Set(partitions.map((r) => replicaKey(r.topic, r.partition)));
    if (after.size > 0) this.offline.set(id, after);
    else this.offline.delete(id);
    if (!this.live.has(id)) return;
    const wentOffline = (key: string): boolean => after.has(key) && !before.has(key);
    const cameBack = (key: string): boolean => before.has(key) && !after.has(key);
    for (const rec of this.topics.values()) {
      rec.partitions.forEach((p, i) => {
        if (!p.replicas.includes(id)) return;
        const key = replicaKey(rec.name, i);
        // Back online: as a broker coming up, it only takes a partition nobody leads.
        if (wentOffline(key) || (cameBack(key) && (p.state === undefined || p.state.leader === NO_LEADER)))
          this.reconcile(rec, i, out);
      });
    }
    out.flush(`replicas offline on broker ${id}: [${this.offlineReplicasOf(id).join(', ')}]`);
  }

  private unavailability(id: number, topic: string, partition: number): string {
    if (!this.live.has(id)) return 'not alive';
    return this.eligible(id, topic, partition) ? 'not in the ISR' : 'offline (its broker reports its log offline)';
  }

  /** Whether broker `id` can hold its replica of the partition: registered, and its log not offline. */
  private eligible(id: number, topic: string, partition: number): boolean {
    return this.live.has(id) && !this.offline.get(id)?.has(replicaKey(topic, partition));
  }

  private createTopic(input: Extract<ControllerInput, { type: 'CreateTopic' }>, out: Collector): void {
    const { topic, numPartitions, replicationFactor } = input;
    if (this.topics.has(topic)) {
      out.results.push(fail(topic, ErrorCodes.TOPIC_ALREADY_EXISTS, `Topic '${topic}' already exists`));
      return;
    }
    const rejection = validateNewTopic(topic, numPartitions, replicationFactor, this.live.size);
    if (rejection) {
      out.results.push(fail(topic, rejection.error, rejection.message));
      return;
    }
    const replicas = assignReplicas(this.liveBrokerIds, numPartitions, replicationFactor, input.seed);
    if (input.validateOnly) {
      out.results.push(ok(topic));
      return;
    }
    const rec: TopicRec = {
      name: topic,
      topicId: input.topicId,
      partitions: replicas.map((r) => newPartitionRec(r)),
      configs: { ...input.configs },
      hasConfigZnode: false,
      hasPartitionsZnode: false,
    };
    this.topics.set(topic, rec);
    const ops: ZnodeOp[] = [
      { op: 'create', path: topicConfigPath(topic), data: encodeTopicConfig(rec.configs) },
      { op: 'create', path: topicPath(topic), data: encodeTopicAssignment(replicas, input.topicId) },
    ];
    rec.hasConfigZnode = true;
    out.addPartitionOps(ops);
    for (let i = 0; i < rec.partitions.length; i++) this.reconcile(rec, i, out);
    out.flush(`create topic ${topic}`);
    out.results.push(ok(topic));
  }

  /**
   * Adds partitions at the end (never removes any: a count at or below the current one is
   * InvalidPartitions, as in Kafka), with the topic's replication factor, spread like a new topic's.
   * One write: the topic znode's new assignment (over the version read) and the new partitions'
   * states, so brokers watching the topic see both.
   */
  private createPartitions(input: Extract<ControllerInput, { type: 'CreatePartitions' }>, out: Collector): void {
    const { topic, count } = input;
    const rec = this.topics.get(topic);
    if (!rec || input.topicZnode === undefined) {
      out.results.push(fail(topic, ErrorCodes.UNKNOWN_TOPIC_OR_PARTITION, `Topic '${topic}' does not exist`));
      return;
    }
    const current = rec.partitions.length;
    if (!Number.isInteger(count) || count <= current) {
      const message = `Topic '${topic}' has ${current} partitions; the new count ${count} must be larger`;
      out.results.push(fail(topic, ErrorCodes.INVALID_PARTITIONS, message));
      return;
    }
    if (count > MAX_PARTITIONS_PER_TOPIC) {
      const message = `Number of partitions must be at most ${MAX_PARTITIONS_PER_TOPIC} (got ${count})`;
      out.results.push(fail(topic, ErrorCodes.INVALID_PARTITIONS, message));
      return;
    }
    const replicationFactor = rec.partitions[0]?.replicas.length ?? 1;
    if (replicationFactor > this.live.size) {
      const message = `Replication factor ${replicationFactor} is larger than the ${this.live.size} live brokers`;
      out.results.push(fail(topic, ErrorCodes.INVALID_REPLICATION_FACTOR, message));
      return;
    }
    const added = assignReplicas(this.liveBrokerIds, count - current, replicationFactor, input.seed);
    if (input.validateOnly) {
      out.results.push(ok(topic));
      return;
    }
    for (const replicas of added) rec.partitions.push(newPartitionRec(replicas));
    rec.topicId = input.topicZnode.topicId ?? rec.topicId;
    out.addPartitionOps([topicZnodeWrite(rec, input.topicZnode.version)]);
    for (let i = current; i < count; i++) this.reconcile(rec, i, out);
    out.flush(`add partitions ${current}..${count - 1} to ${topic}`);
    out.results.push(ok(topic));
  }

  private topicZnodesChanged(current: readonly string[], loaded: readonly LoadedTopic[], out: Collector): void {
    const present = new Set(current);
    for (const name of this.knownTopics()) {
      if (!present.has(name)) this.forget(name, out);
    }
    for (const t of loaded) {
      if (this.topics.has(t.name) || !present.has(t.name)) continue;
      const rec = toRec(t);
      this.topics.set(t.name, rec);
      for (let i = 0; i < rec.partitions.length; i++) this.reconcile(rec, i, out);
    }
    out.flush('new topics');
  }

  private deleteTopic(topic: string, adminRequest: boolean, out: Collector): void {
    const rec = this.topics.get(topic);
    if (!rec) {
      const rejection = validateTopicName(topic);
      if (adminRequest)
        out.writes.push({
          reason: `drop deletion request for unknown topic ${topic}`,
          ops: [{ op: 'delete', path: deleteTopicPath(topic), expectedVersion: -1 }],
        });
      out.results.push(
        rejection
          ? fail(topic, rejection.error, rejection.message)
          : fail(topic, ErrorCodes.UNKNOWN_TOPIC_OR_PARTITION, `Topic '${topic}' does not exist`),
      );
      return;
    }
    // Children before parents: ZooKeeper only deletes leaves.
    const ops: ZnodeOp[] = [];
    rec.partitions.forEach((p, i) => {
      if (p.state) ops.push({ op: 'delete', path: partitionStatePath(topic, i), expectedVersion: -1 });
      if (p.hasZnode) ops.push({ op: 'delete', path: partitionPath(topic, i), expectedVersion: -1 });
    });
    if (rec.hasPartitionsZnode) ops.push({ op: 'delete', path: partitionsPath(topic), expectedVersion: -1 });
    ops.push({ op: 'delete', path: topicPath(topic), expectedVersion: -1 });
    if (rec.hasConfigZnode) ops.push({ op: 'delete', path: topicConfigPath(topic), expectedVersion: -1 });
    if (adminRequest) ops.push({ op: 'delete', path: deleteTopicPath(topic), expectedVersion: -1 });
    out.writes.push({ reason: `delete topic ${topic}`, ops });
    this.forget(topic, out);
    out.results.push(ok(topic));
  }

  private alterIsr(input: Extract<ControllerInput, { type: 'AlterIsr' }>, out: Collector): void {
    const { topic, partition } = input;
    const rejection = this.alterIsrRejection(input);
    if (rejection) {
      out.results.push({ topic, partition, error: rejection[0], message: rejection[1] });
      return;
    }
    const rec = this.topics.get(topic)!;
    const s = rec.partitions[partition]!.state!;
    const after: LeaderAndIsr = { ...s, isr: [...new Set(input.newIsr)], controllerEpoch: this.epoch };
    this.writeState(rec, partition, after, false, out);
    out.flush(`alter ISR of ${topic}-${partition}`);
    out.results.push({ topic, partition, error: ErrorCodes.NONE, message: '' });
  }

  private alterIsrRejection(input: Extract<ControllerInput, { type: 'AlterIsr' }>): [ErrorSpec, string] | undefined {
    const { topic, partition, leaderId, leaderEpoch, newIsr } = input;
    const p = this.topics.get(topic)?.partitions[partition];
    if (!p?.state) return [ErrorCodes.UNKNOWN_TOPIC_OR_PARTITION, `${topic}-${partition} is unknown or has no state`];
    const s = p.state;
    if (leaderId !== s.leader)
      return [ErrorCodes.NOT_LEADER_OR_FOLLOWER, `Broker ${leaderId} is not the leader (${s.leader})`];
    if (leaderEpoch < s.leaderEpoch)
      return [ErrorCodes.FENCED_LEADER_EPOCH, `Leader epoch ${leaderEpoch} < ${s.leaderEpoch}`];
    if (leaderEpoch > s.leaderEpoch)
      return [ErrorCodes.UNKNOWN_LEADER_EPOCH, `Leader epoch ${leaderEpoch} > ${s.leaderEpoch}`];
    if (input.stateZkVersion !== p.zkVersion) {
      return [
        ErrorCodes.INVALID_UPDATE_VERSION,
        `Partition state version ${input.stateZkVersion} is stale (now ${p.zkVersion})`,
      ];
    }
    const isr = [...new Set(newIsr)];
    if (isr.length !== newIsr.length || !isr.includes(leaderId) || !isr.every((r) => p.replicas.includes(r))) {
      return [ErrorCodes.INVALID_REQUEST, `ISR [${newIsr.join(',')}] must be distinct replicas including the leader`];
    }
    const dead = isr.filter((r) => !this.live.has(r));
    if (dead.length > 0) return [ErrorCodes.INVALID_REQUEST, `ISR members [${dead.join(',')}] are not alive`];
    const offline = isr.filter((r) => !s.isr.includes(r) && !this.eligible(r, topic, partition));
    if (offline.length > 0)
      return [ErrorCodes.INELIGIBLE_REPLICA, `replicas [${offline.join(',')}] report their log of it offline`];
    return undefined;
  }

  private electPreferred(requested: readonly TopicPartitionRef[], out: Collector): void {
    const refs = requested.length > 0 ? requested : this.allPartitions();
    for (const { topic, partition } of refs) {
      const result = (error: ErrorSpec, message = ''): void =>
        void out.results.push({ topic, partition, error, message });
      const rec = this.topics.get(topic);
      const p = rec?.partitions[partition];
      if (!rec || !p) {
        result(ErrorCodes.UNKNOWN_TOPIC_OR_PARTITION, `${topic}-${partition} does not exist`);
        continue;
      }
      const preferred = p.replicas[0]!;
      if (p.state?.leader === preferred)
        result(ErrorCodes.ELECTION_NOT_NEEDED, `broker ${preferred} already leads ${topic}-${partition}`);
      else if (!this.canLeadPreferred(rec, partition))
        result(
          ErrorCodes.PREFERRED_LEADER_NOT_AVAILABLE,
          `preferred leader ${preferred} of ${topic}-${partition} is ` +
            `${this.unavailability(preferred, topic, partition)}`,
        );
      else {
        this.movePreferred(rec, partition, out);
        result(ErrorCodes.NONE);
      }
    }
    out.flush('preferred leader election');
  }

  /**
   * Kafka's auto leader rebalance: a broker with more than the given share of its preferred partitions led by others
   * gets them back.
   */
  private rebalanceLeaders(imbalancePercentage: number, out: Collector): void {
    const byPreferred = new Map<number, { rec: TopicRec; partition: number }[]>();
    for (const rec of this.topics.values()) {
      rec.partitions.forEach((p, partition) => {
        if (!p.state) return;
        const preferred = p.replicas[0]!;
        const list = byPreferred.get(preferred) ?? [];
        list.push({ rec, partition });
        byPreferred.set(preferred, list);
      });
    }
    for (const [broker, owned] of [...byPreferred].sort((a, b) => a[0] - b[0])) {
      if (!this.live.has(broker)) continue;
      const notLed = owned.filter(({ rec, partition }) => rec.partitions[partition]!.state!.leader !== broker);
      if (notLed.length * 100 <= imbalancePercentage * owned.length) continue;
      for (const { rec, partition } of notLed) {
        if (this.canLeadPreferred(rec, partition)) this.movePreferred(rec, partition, out);
      }
    }
    out.flush('auto leader rebalance');
  }

  private allPartitions(): TopicPartitionRef[] {
    return [...this.topics.values()].flatMap((rec) =>
      rec.partitions.map((_, partition) => ({ topic: rec.name, partition })),
    );
  }

  private canLeadPreferred(rec: TopicRec, partition: number): boolean {
    const p = rec.partitions[partition]!;
    const preferred = p.replicas[0]!;
    return p.state !== undefined && this.eligible(preferred, rec.name, partition) && p.state.isr.includes(preferred);
  }

  private movePreferred(rec: TopicRec, partition: number, out: Collector): void {
    const s = rec.partitions[partition]!.state!;
    this.writeState(
      rec,
      partition,
      {
        leader: rec.partitions[partition]!.replicas[0]!,
        leaderEpoch: s.leaderEpoch + 1,
        isr: s.isr,
        controllerEpoch: this.epoch,
      },
      false,
      out,
    );
  }

  // ---- replica reassignment (KIP-455) ----

  /**
   * Starts, replaces or cancels one partition's move (Kafka's ReplicaAssignment.reassignTo). The
   * original replicas O are the current ones less those being added; for a target T the replicas
   * become T followed by O - T, and the topic znode records the difference (adding / removing): the
   * leader learns the new replica set from it and the new replicas start following (the leader
   * epoch stays, see writeMoveState). Nothing of O is removed here: completeReassignments does that
   * once the whole target is in the ISR. Replicas a previous move was adding that T no longer names
   * leave the replica set and the ISR at once (they were never needed for a commit: O stayed in the
   * replica set throughout). Cancel is the move to O. The same target again changes nothing.
   */
  private reassign(r: PartitionReassignment, out: Collector): void {
    const [error, message] = this.startOrCancelMove(r, out);
    out.results.push({ topic: r.topic, partition: r.partition, error, message });
  }

  private startOrCancelMove(r: PartitionReassignment, out: Collector): [ErrorSpec, string] {
    const { topic, partition } = r;
    const rec = this.topics.get(topic);
    const p = rec?.partitions[partition];
    if (!rec || !p) return [ErrorCodes.UNKNOWN_TOPIC_OR_PARTITION, `${topic}-${partition} does not exist`];
    const s = p.state;
    if (!s) return [ErrorCodes.LEADER_NOT_AVAILABLE, `${topic}-${partition} has no leader and ISR yet`];
    const original = p.replicas.filter((id) => !p.adding.includes(id));
    if (r.replicas === null && !moving(p))
      return [ErrorCodes.NO_REASSIGNMENT_IN_PROGRESS, `${topic}-${partition} has no move in progress`];
    const target = r.replicas === null ? original : [...r.replicas];
    const problem = this.targetProblem(target, p.replicas);
    if (problem) return [ErrorCodes.INVALID_REPLICA_ASSIGNMENT, `${topic}-${partition}: ${problem}`];
    const current = p.replicas.filter((id) => !p.removing.includes(id));
    if (moving(p) && current.length === target.length && current.every((id, i) => target[i] === id))
      return [ErrorCodes.NONE, ''];
    if (!moving(p) && sameMembers(target, original)) {
      // Only the order (the preferred leader) changes: no replica moves.
      p.replicas = target;
      out.addPartitionOps([topicZnodeWrite(rec)]);
      return [ErrorCodes.NONE, ''];
    }
    const dropped = p.adding.filter((id) => !target.includes(id));
    const isr = s.isr.filter((id) => !dropped.includes(id));
    if (isr.length === 0)
      return [
        ErrorCodes.REASSIGNMENT_IN_PROGRESS,
        `only replicas [${dropped.join(',')}] being added to ${topic}-${partition} are in its ISR: ` +
          'its move cannot be cancelled or replaced until an original replica is back in sync',
      ];
    p.adding = target.filter((id) => !original.includes(id));
    p.removing = original.filter((id) => !target.includes(id));
    p.replicas = [...target, ...p.removing];
    const canLead = (id: number): boolean => this.eligible(id, topic, partition) && isr.includes(id);
    const leader = dropped.includes(s.leader) ? (p.replicas.find(canLead) ?? NO_LEADER) : s.leader;
    out.addPartitionOps([topicZnodeWrite(rec)]);
    this.writeMoveState(rec, partition, leader, isr, out);
    this.announceRemoved(topic, partition, dropped, out);
    // A leaderless partition (of an unclean topic, or after a dropped leader) may now have a replica to elect.
    this.reconcile(rec, partition, out);
    return [ErrorCodes.NONE, ''];
  }

  /**
   * Why a target replica list cannot be used (Kafka's InvalidReplicaAssignment), or undefined. Brokers
   * that are not replicas yet must be alive.
   */
  private targetProblem(target: readonly number[], replicas: readonly number[]): string | undefined {
    if (target.length === 0) return 'the target replica list is empty';
    if (!target.every((id) => Number.isInteger(id) && id >= 0)) return `[${target.join(',')}] are not broker ids`;
    if (new Set(target).size !== target.length) return `[${target.join(',')}] names a broker twice`;
    const absent = target.filter((id) => !replicas.includes(id) && !this.live.has(id));
    if (absent.length > 0) return `brokers [${absent.join(',')}] are not alive`;
    return undefined;
  }

  /**
   * Finishes every move whose target replicas are all in the ISR: only then can the old replicas go
   * without the partition holding fewer in-sync copies than the target. Leadership moves to the
   * first eligible target replica in the ISR if the leader is leaving (or there is none; a move
   * with no such replica waits), with a new leader epoch; the replicas and ISR shrink to the target in
   * the same write. The removed replicas are out of the ISR and the replica set (the controller
   * refuses them back), and their brokers delete their directories once metadata no longer lists them.
   */
  private completeReassignments(out: Collector): void {
    for (const rec of this.topics.values()) {
      rec.partitions.forEach((p, partition) => {
        const s = p.state;
        if (!moving(p) || !s) return;
        const target = p.replicas.filter((id) => !p.removing.includes(id));
        if (!target.every((id) => s.isr.includes(id))) return;
        const canLead = (id: number): boolean => this.eligible(id, rec.name, partition) && s.isr.includes(id);
        const leader = target.includes(s.leader) && canLead(s.leader) ? s.leader : target.find(canLead);
        if (leader === undefined) return;
        const removed = p.removing;
        p.replicas = target;
        p.adding = [];
        p.removing = [];
        out.addPartitionOps([topicZnodeWrite(rec)]);
        this.writeMoveState(
          rec,
          partition,
          leader,
          s.isr.filter((id) => target.includes(id)),
          out,
        );
        this.announceRemoved(rec.name, partition, removed, out);
      });
    }
    out.flush('complete partition reassignments');
  }

  /**
   * Kafka's reassignment throttle, in the topic's configs: the leader side lists each moving
   * partition's original replicas (any of them may lead while it moves), the follower side the
   * replicas being added, and the rate is the bytes/s a leader sends those replicas while they are
   * out of sync. Lists are rebuilt from the moves in progress; completed moves keep their throttle
   * until it is cleared (--verify).
   */
  private setThrottles(topic: string, bytesPerSecond: number, out: Collector): void {
    const rec = this.topics.get(topic);
    if (!rec) return;
    const leaders: string[] = [];
    const followers: string[] = [];
    rec.partitions.forEach((p, i) => {
      if (!moving(p)) return;
      for (const id of p.replicas) (p.adding.includes(id) ? followers : leaders).push(`${i}:${id}`);
    });
    if (leaders.length + followers.length === 0) return;
    this.writeConfigs(
      rec,
      {
        ...rec.configs,
        [THROTTLED_LEADERS]: leaders.join(','),
        [THROTTLED_FOLLOWERS]: followers.join(','),
        [THROTTLED_RATE]: String(Math.trunc(bytesPerSecond)),
      },
      out,
    );
  }

  private clearThrottles(topic: string, out: Collector): void {
    const rec = this.topics.get(topic);
    if (!rec) {
      out.results.push(fail(topic, ErrorCodes.UNKNOWN_TOPIC_OR_PARTITION, `Topic '${topic}' does not exist`));
      return;
    }
    const inMove = rec.partitions.flatMap((p, i) => (moving(p) ? [i] : []));
    if (inMove.length > 0) {
      const message = `partitions [${inMove.join(',')}] of ${topic} are still moving`;
      out.results.push(fail(topic, ErrorCodes.REASSIGNMENT_IN_PROGRESS, message));
      return;
    }
    const configs = Object.fromEntries(
      Object.entries(rec.configs).filter(
        ([k]) => k !== THROTTLED_LEADERS && k !== THROTTLED_FOLLOWERS && k !== THROTTLED_RATE,
      ),
    );
    if (Object.keys(configs).length !== Object.keys(rec.configs).length) this.writeConfigs(rec, configs, out);
    out.results.push(ok(topic));
  }

  private alterTopicConfigs(input: Extract<ControllerInput, { type: 'AlterTopicConfigs' }>, out: Collector): void {
    const rec = this.topics.get(input.topic);
    if (!rec) {
      const message = `Topic '${input.topic}' does not exist`;
      out.results.push(fail(input.topic, ErrorCodes.UNKNOWN_TOPIC_OR_PARTITION, message));
      return;
    }
    const configs: Record<string, string> = input.replace ? { ...input.set } : { ...rec.configs, ...input.set };
    for (const name of input.remove) delete configs[name];
    const minIsr = configs['min.insync.replicas'];
    const replicationFactor = Math.min(...rec.partitions.map((p) => p.replicas.length));
    if (minIsr !== undefined && Number(minIsr) > replicationFactor) {
      const message =
        `min.insync.replicas ${minIsr} is larger than the replication factor ${replicationFactor}: ` +
        'no acks=all write could be acknowledged';
      out.results.push(fail(input.topic, ErrorCodes.INVALID_CONFIG, message));
      return;
    }
    const same =
      Object.keys(configs).length === Object.keys(rec.configs).length &&
      Object.entries(configs).every(([k, v]) => rec.configs[k] === v);
    if (!input.validateOnly && !same) this.writeConfigs(rec, configs, out);
    out.results.push(ok(input.topic));
  }

  private writeConfigs(rec: TopicRec, configs: TopicConfigs, out: Collector): void {
    rec.configs = configs;
    const data = encodeTopicConfig(configs);
    const path = topicConfigPath(rec.name);
    out.addPartitionOps([
      rec.hasConfigZnode ? { op: 'set', path, data, expectedVersion: -1 } : { op: 'create', path, data },
    ]);
    rec.hasConfigZnode = true;
  }

  /**
   * The state a move step leaves: a new leader gets a new leader epoch (the usual fencing); with the
   * same leader only the ISR changes, within its epoch, as a leader's own AlterIsr does (and nothing
   * is written when the ISR stays too). A leader told of a new epoch for its own term re-reads its log
   * end while appends stamped with the old epoch may still land: their followers then diverge at that
   * offset on every fetch until leadership moves (seen on real processes), so a move, which needs no
   * fencing while the leader stays, does not bump. The replicas learn the new replica set from the
   * topic znode (MetadataCache re-announces a changed replica set within a term).
   */
  private writeMoveState(
    rec: TopicRec,
    partition: number,
    leader: number,
    isr: readonly number[],
    out: Collector,
  ): void {
    const p = rec.partitions[partition]!;
    const s = p.state!;
    if (leader !== s.leader) {
      const after = { leader, leaderEpoch: s.leaderEpoch + 1, isr, controllerEpoch: this.epoch };
      this.writeState(rec, partition, after, false, out);
    } else if (!sameMembers(isr, s.isr)) {
      this.writeState(rec, partition, { ...s, isr, controllerEpoch: this.epoch }, false, out);
    } else {
      for (const brokerId of p.replicas)
        if (this.live.has(brokerId) && p.adding.includes(brokerId))
          out.announcements.push({
            role: 'follower',
            brokerId,
            topic: rec.name,
            partition,
            leader,
            leaderEpoch: s.leaderEpoch,
            isr,
          });
    }
  }

  private announceRemoved(topic: string, partition: number, removed: readonly number[], out: Collector): void {
    for (const brokerId of removed)
      if (this.live.has(brokerId)) out.announcements.push({ role: 'deleted', brokerId, topic, partition });
  }

  // ---- decisions ----

  private reconcileAll(touches: (p: PartitionRec) => boolean, out: Collector): void {
    for (const rec of this.topics.values()) {
      rec.partitions.forEach((p, i) => {
        if (touches(p)) this.reconcile(rec, i, out);
      });
    }
  }

  /** Applies the election rule (see the file comment) to one partition and records any change. */
  private reconcile(rec: TopicRec, partition: number, out: Collector): void {
    const p = rec.partitions[partition]!;
    const isLive = (id: number): boolean => this.eligible(id, rec.name, partition);
    const s = p.state;
    if (!s) {
      const liveReplicas = p.replicas.filter(isLive);
      if (liveReplicas.length === 0) return; // stays uninitialised until a replica comes up
      this.writeState(
        rec,
        partition,
        { leader: liveReplicas[0]!, leaderEpoch: 0, isr: liveReplicas, controllerEpoch: this.epoch },
        false,
        out,
      );
      return;
    }
    const liveIsr = s.isr.filter(isLive);
    const bump = (leader: number, isr: readonly number[], unclean = false): void =>
      this.writeState(
        rec,
        partition,
        { leader, leaderEpoch: s.leaderEpoch + 1, isr, controllerEpoch: this.epoch },
        unclean,
        out,
      );
    if (s.leader !== NO_LEADER && isLive(s.leader)) {
      if (liveIsr.length !== s.isr.length) bump(s.leader, liveIsr);
      return;
    }
    const clean = p.replicas.find((r) => isLive(r) && liveIsr.includes(r));
    if (clean !== undefined) {
      bump(clean, liveIsr);
      return;
    }
    const uncleanCandidate = p.replicas.find(isLive);
    if (uncleanCandidate !== undefined && rec.configs[UNCLEAN_LEADER_ELECTION_CONFIG] === 'true') {
      bump(uncleanCandidate, [uncleanCandidate], true);
      return;
    }
    // No eligible leader: the ISR keeps its last members so that only they can lead again cleanly.
    if (s.leader !== NO_LEADER) bump(NO_LEADER, s.isr);
  }

  private writeState(rec: TopicRec, partition: number, after: LeaderAndIsr, unclean: boolean, out: Collector): void {
    const p = rec.partitions[partition]!;
    const before = p.state;
    const data = encodePartitionState(after);
    const ops: ZnodeOp[] = [];
    if (before) {
      ops.push({ op: 'set', path: partitionStatePath(rec.name, partition), data, expectedVersion: p.zkVersion });
      p.zkVersion += 1;
    } else {
      if (!rec.hasPartitionsZnode) {
        ops.push({ op: 'create', path: partitionsPath(rec.name), data: '' });
        rec.hasPartitionsZnode = true;
      }
      if (!p.hasZnode) {
        ops.push({ op: 'create', path: partitionPath(rec.name, partition), data: '' });
        p.hasZnode = true;
      }
      ops.push({ op: 'create', path: partitionStatePath(rec.name, partition), data });
      p.zkVersion = 0;
    }
    p.state = after;
    out.addPartitionOps(ops);
    out.changes.push({ topic: rec.name, partition, before, after, unclean });
    for (const r of p.replicas) {
      if (!this.live.has(r)) continue;
      out.announcements.push({
        role: r === after.leader ? 'leader' : 'follower',
        brokerId: r,
        topic: rec.name,
        partition,
        leader: after.leader,
        leaderEpoch: after.leaderEpoch,
        isr: after.isr,
      });
    }
  }

  private forget(topic: string, out: Collector): void {
    const rec = this.topics.get(topic);
    if (!rec) return;
    this.topics.delete(topic);
    rec.partitions.forEach((p, partition) => {
      for (const r of p.replicas)
        if (this.live.has(r)) out.announcements.push({ role: 'deleted', brokerId: r, topic, partition });
    });
  }
}

function newPartitionRec(replicas: readonly number[]): PartitionRec {
  return { replicas, adding: [], removing: [], state: undefined, zkVersion: -1, hasZnode: false };
}

/** Whether the partition has a replica move in progress. */
const moving = (p: PartitionRec): boolean => p.adding.length > 0 || p.removing.length > 0;

/**
 * The topic znode as the controller knows it: assignment, topic id and moves in progress. Over any
 * version (-1) unless told: an existing topic znode's assignment is written only by the controller
 * (the epoch fence on every write stops a deposed one), and topic creation by others only creates.
 */
function topicZnodeWrite(rec: TopicRec, expectedVersion = -1): ZnodeOp {
  const moves = new Map<number, ReplicaMove>();
  rec.partitions.forEach((p, i) => {
    if (moving(p)) moves.set(i, { adding: p.adding, removing: p.removing });
  });
  const data = encodeTopicAssignment(
    rec.partitions.map((p) => p.replicas),
    rec.topicId,
    moves,
  );
  return { op: 'set', path: topicPath(rec.name), data, expectedVersion };
}

const sameMembers = (a: readonly number[], b: readonly number[]): boolean =>
  a.length === b.length && a.every((r) => b.includes(r));

function toRec(t: LoadedTopic): TopicRec {
  return {
    name: t.name,
    topicId: t.topicId,
    configs: { ...t.configs },
    hasConfigZnode: t.hasConfigZnode,
    hasPartitionsZnode: t.hasPartitionsZnode,
    partitions: t.partitions.map((p) => ({
      replicas: [...p.replicas],
      adding: [...(p.adding ?? [])],
      removing: [...(p.removing ?? [])],
      state: p.state,
      zkVersion: p.state ? (p.stateZkVersion ?? 0) : -1,
      hasZnode: p.hasPartitionZnode,
    })),
  };
}
