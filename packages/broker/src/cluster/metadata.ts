/**
 * The cluster as every broker sees it (pure): an immutable image updated one znode at a time, and the
 * diff that tells the local broker which partitions it now leads, follows or must drop.
 */
import type { LeaderAndIsr, TopicConfigs } from '../controller/types.js';
import type { BrokerEndpoint } from '../listeners.js';
import { NO_LEADER } from '../controller/types.js';
import type { ReplicaMove } from '../controller/znodes.js';

export interface PartitionInfo {
  readonly topic: string;
  readonly partition: number;
  /** Preferred leader first. */
  readonly replicas: readonly number[];
  /** -1 when there is none (or the state znode does not exist yet). */
  readonly leader: number;
  /** -1 until the state znode exists. */
  readonly leaderEpoch: number;
  readonly isr: readonly number[];
  /** Version of the state znode (-1 when absent): a leader's ISR update must name it. */
  readonly stateZkVersion: number;
  /**
   * The state znode's mzxid (16 hex digits, so strings compare like numbers; '' when absent). A leader
   * compares it with its own registration's czxid: a state older than this broker's registration was
   * written for an earlier run of the broker, and must not be resumed (see PartitionRegistry).
   */
  readonly stateMzxid: string;
  /** The replicas a move in progress adds and removes (KIP-455; both empty when none is). */
  readonly addingReplicas: readonly number[];
  readonly removingReplicas: readonly number[];
}

export interface TopicInfo {
  readonly name: string;
  /**
   * Which creation of the topic this is ('' when unknown): the random `topic_id` written into the topic
   * znode when it was created (Kafka's topic ids, KIP-516), or for a znode without one, its czxid (16
   * hex digits; the controller then writes that in as the znode's topic_id). A topic deleted and
   * created again under the same name gets a new one, so a replica that missed the deletion still
   * tells the two apart and does not keep the old one's records. Being data rather than the czxid, it
   * also survives copying the znodes into another ensemble.
   */
  readonly id: string;
  /** Index = partition id. */
  readonly partitions: readonly PartitionInfo[];
  readonly configs: TopicConfigs;
}

export interface MetadataImage {
  readonly clusterId: string | undefined;
  readonly brokers: ReadonlyMap<number, BrokerEndpoint>;
  /** -1 when there is no controller right now. */
  readonly controllerId: number;
  readonly controllerEpoch: number;
  readonly topics: ReadonlyMap<string, TopicInfo>;
  /** Per registered broker, the partitions (`replicaKey`) whose logs it reports offline. */
  readonly offlineReplicas: ReadonlyMap<number, ReadonlySet<string>>;
}

/** How `MetadataImage.offlineReplicas` names a partition. */
export const replicaKey = (topic: string, partition: number): string => `${topic}\u0000${partition}`;

export const EMPTY_IMAGE: MetadataImage = Object.freeze({
  clusterId: undefined,
  brokers: new Map(),
  controllerId: -1,
  controllerEpoch: 0,
  topics: new Map(),
  offlineReplicas: new Map(),
});

export function withClusterId(image: MetadataImage, clusterId: string | undefined): MetadataImage {
  return { ...image, clusterId };
}

export function withBrokers(
  image: MetadataImage,
  brokers: readonly BrokerEndpoint[],
  offline: ReadonlyMap<number, readonly { topic: string; partition: number }[]> = new Map(),
): MetadataImage {
  const offlineReplicas = new Map<number, ReadonlySet<string>>();
  for (const [id, refs] of offline)
    if (refs.length > 0) offlineReplicas.set(id, new Set(refs.map((r) => replicaKey(r.topic, r.partition))));
  return {
    ...image,
    brokers: new Map([...brokers].sort((a, b) => a.id - b.id).map((b) => [b.id, b])),
    offlineReplicas,
  };
}

export function withController(image: MetadataImage, controllerId: number, controllerEpoch?: number): MetadataImage {
  return { ...image, controllerId, controllerEpoch: controllerEpoch ?? image.controllerEpoch };
}

/**
 * Sets a topic's assignment (new topic or added partitions) keeping known states; undefined removes it.
 * A different `id` is another creation of the topic: nothing of the old one (partition states,
 * configs) carries over.
 */
export function withTopicAssignment(
  image: MetadataImage,
  topic: string,
  replicas: readonly (readonly number[])[] | undefined,
  id = '',
  moves: ReadonlyMap<number, ReplicaMove> = new Map(),
): MetadataImage {
  const topics = new Map(image.topics);
  if (!replicas) {
    topics.delete(topic);
    return { ...image, topics };
  }
  const known = image.topics.get(topic);
  const old = known?.id === id ? known : undefined;
  const partitions = replicas.map((r, p): PartitionInfo => {
    const prev = old?.partitions[p];
    const move = { addingReplicas: moves.get(p)?.adding ?? [], removingReplicas: moves.get(p)?.removing ?? [] };
    return prev
      ? { ...prev, replicas: r, ...move }
      : {
          topic,
          partition: p,
          replicas: r,
          leader: NO_LEADER,
          leaderEpoch: -1,
          isr: [],
          stateZkVersion: -1,
          stateMzxid: '',
          ...move,
        };
  });
  topics.set(topic, { name: topic, id, partitions, configs: old?.configs ?? {} });
  return { ...image, topics };
}

export function withTopicConfigs(image: MetadataImage, topic: string, configs: TopicConfigs): MetadataImage {
  const old = image.topics.get(topic);
  if (!old) return image;
  const topics = new Map(image.topics);
  topics.set(topic, { ...old, configs });
  return { ...image, topics };
}

/** Applies a partition state read (undefined: the state znode is gone). Unknown topics are ignored. */
export function withPartitionState(
  image: MetadataImage,
  topic: string,
  partition: number,
  state: LeaderAndIsr | undefined,
  stateZkVersion: number,
  stateMzxid = '',
): MetadataImage {
  const old = image.topics.get(topic);
  const prev = old?.partitions[partition];
  if (!old || !prev) return image;
  const next: PartitionInfo = state
    ? { ...prev, leader: state.leader, leaderEpoch: state.leaderEpoch, isr: state.isr, stateZkVersion, stateMzxid }
    : { ...prev, leader: NO_LEADER, leaderEpoch: -1, isr: [], stateZkVersion: -1, stateMzxid: '' };
  const partitions = [...old.partitions];
  partitions[partition] = next;
  const topics = new Map(image.topics);
  topics.set(topic, { ...old, partitions });
  return { ...image, topics };
}

export type RoleChange =
  | {
      readonly kind: 'leader' | 'follower';
      readonly topic: string;
      readonly partition: number;
      /** The leader to follow (-1: none right now). */
      readonly leader: number;
      readonly leaderEpoch: number;
      readonly isr: readonly number[];
      readonly replicas: readonly number[];
      /** The partition state znode's mzxid (see PartitionInfo.stateMzxid). */
      readonly stateMzxid: string;
      /** TopicInfo.id: which creation of the topic the role is in. */
      readonly topicId: string;
    }
  /** The topic was deleted or this broker is no longer a replica: close and remove the log. */
  | { readonly kind: 'deleted'; readonly topic: string; readonly partition: number };

/**
 * What changed for `brokerId` between two images. A role is re-announced whenever the leader epoch
 * changes (a new epoch means a new leadership term even with the same leader). Partitions without a
 * state znode yet are not announced; `deleted` is announced for every partition the broker was a
 * replica of (removing a log that was never opened is a no-op for the caller).
 */
export function diffRoles(brokerId: number, before: MetadataImage, after: MetadataImage): RoleChange[] {
  const changes: RoleChange[] = [];
  const mine = (p: PartitionInfo | undefined): boolean => p?.replicas.includes(brokerId) === true;
  for (const [name, topic] of before.topics) {
    // Deleted, or deleted and created again: a replica of the old creation must drop its log.
    const now = after.topics.get(name)?.id === topic.id ? after.topics.get(name) : undefined;
    for (const p of topic.partitions) {
      if (mine(p) && !mine(now?.partitions[p.partition])) {
        changes.push({ kind: 'deleted', topic: name, partition: p.partition });
      }
    }
  }
  for (const [name, topic] of after.topics) {
    const previous = before.topics.get(name);
    for (const p of topic.partitions) {
      if (!mine(p) || p.leaderEpoch < 0) continue;
      const old = previous?.id === topic.id ? previous.partitions[p.partition] : undefined;
      // A changed replica set is announced too: the state and topic znodes of a reassignment are read
      // separately, and a leader that took the new epoch with the old set would ignore new followers.
      const sameReplicas =
        old?.replicas.length === p.replicas.length && old.replicas.every((r, i) => p.replicas[i] === r);
      if (old && mine(old) && old.leaderEpoch === p.leaderEpoch && old.leader === p.leader && sameReplicas) continue;
      changes.push({
        kind: p.leader === brokerId ? 'leader' : 'follower',
        topic: name,
        partition: p.partition,
        leader: p.leader,
        leaderEpoch: p.leaderEpoch,
        isr: p.isr,
        replicas: p.replicas,
        stateMzxid: p.stateMzxid,
        topicId: topic.id,
      });
    }
  }
  return changes;
}

/** The roles `brokerId` holds in `image`, as changes from nothing: what to open at start. */
export function currentRoles(brokerId: number, image: MetadataImage): RoleChange[] {
  return diffRoles(brokerId, EMPTY_IMAGE, image);
}

/**
 * Replicas of a partition that are not registered right now, or whose broker reports its log offline
 * (the Metadata response's offline_replicas).
 */
export function offlineReplicas(image: MetadataImage, partition: PartitionInfo): number[] {
  const key = replicaKey(partition.topic, partition.partition);
  return partition.replicas.filter((r) => !image.brokers.has(r) || image.offlineReplicas.get(r)?.has(key) === true);
}
