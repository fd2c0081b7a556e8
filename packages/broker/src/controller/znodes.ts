/**
 * Kafka's ZooKeeper layout (JSON values), as pure path builders and codecs. See CONTROLLER.md.
 * Decoders throw a plain Error with the path on malformed data: a corrupt znode is not an expected
 * failure the caller could handle.
 */
import { randomBytes } from 'node:crypto';
import {
  formatListenerEndpoint,
  parseListenerEndpoint,
  type BrokerEndpoint,
  type ListenerEndpoint,
} from '../listeners.js';
import type { LeaderAndIsr, TopicConfigs } from './types.js';

export const ZNODES = Object.freeze({
  clusterId: '/cluster/id',
  brokerIds: '/brokers/ids',
  brokerTopics: '/brokers/topics',
  controller: '/controller',
  controllerEpoch: '/controller_epoch',
  configTopics: '/config/topics',
  deleteTopics: '/admin/delete_topics',
});

/** Persistent parents every member makes sure of at start (create-if-absent). */
export const PERSISTENT_PATHS: readonly string[] = [
  '/cluster',
  '/brokers',
  ZNODES.brokerIds,
  ZNODES.brokerTopics,
  '/config',
  ZNODES.configTopics,
  '/admin',
  ZNODES.deleteTopics,
];

export const brokerPath = (id: number): string => `${ZNODES.brokerIds}/${id}`;
export const topicPath = (topic: string): string => `${ZNODES.brokerTopics}/${topic}`;
export const topicConfigPath = (topic: string): string => `${ZNODES.configTopics}/${topic}`;
export const partitionsPath = (topic: string): string => `${topicPath(topic)}/partitions`;
export const partitionPath = (topic: string, partition: number): string => `${partitionsPath(topic)}/${partition}`;
export const partitionStatePath = (topic: string, partition: number): string =>
  `${partitionPath(topic, partition)}/state`;
export const deleteTopicPath = (topic: string): string => `${ZNODES.deleteTopics}/${topic}`;

function parse(path: string, data: Buffer | string | undefined): Record<string, unknown> {
  const text = typeof data === 'string' ? data : (data?.toString('utf8') ?? '');
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (cause) {
    throw new Error(`Znode ${path} does not hold JSON: ${JSON.stringify(text.slice(0, 100))}`, { cause });
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new Error(`Znode ${path} does not hold a JSON object`);
  }
  return value as Record<string, unknown>;
}

function int(path: string, value: unknown, field: string): number {
  if (typeof value !== 'number' || !Number.isInteger(value))
    throw new Error(`Znode ${path}: "${field}" is not an integer`);
  return value;
}

function intArray(path: string, value: unknown, field: string): number[] {
  if (!Array.isArray(value)) throw new Error(`Znode ${path}: "${field}" is not an array`);
  return value.map((v) => int(path, v, field));
}

// ---- /brokers/ids/<id> ----

/**
 * Kafka's registration: `host`/`port` (the inter-broker endpoint, what version-1 readers use) and,
 * when the broker has named listeners, Kafka's version-4 fields: `endpoints` as `NAME://host:port`
 * and `listener_security_protocol_map` (every Samsa listener is plaintext gRPC), plus `jmx_port`
 * (-1), which Kafka's own reader expects.
 */
export function encodeBroker(b: BrokerEndpoint, offline: readonly ReplicaRef[] = []): string {
  const rack = b.rack ? { rack: b.rack } : {};
  const offlineField = offline.length > 0 ? { offline_replicas: encodeOfflineReplicas(offline) } : {};
  if (!b.endpoints) return JSON.stringify({ host: b.host, port: b.port, ...rack, ...offlineField, version: 1 });
  return JSON.stringify({
    listener_security_protocol_map: Object.fromEntries(b.endpoints.map((e) => [e.listener, 'PLAINTEXT'])),
    endpoints: b.endpoints.map(formatListenerEndpoint),
    ...rack,
    jmx_port: -1,
    host: b.host,
    port: b.port,
    ...offlineField,
    version: 4,
  });
}

/** A partition replica's topic and partition. */
export interface ReplicaRef {
  readonly topic: string;
  readonly partition: number;
}

/**
 * Samsa's `offline_replicas` field of a registration, `{"topic": [0, 2]}`: the partitions whose logs
 * the broker cannot serve now (a full disk, an I/O error). Kafka's ZooKeeper mode signals a failed log
 * directory with a `/log_dir_event_notification` znode and learns the partitions through
 * LeaderAndIsr answers; here the broker states them where the controller and every broker's
 * metadata already watch, and they end with its session.
 */
function encodeOfflineReplicas(offline: readonly ReplicaRef[]): Record<string, number[]> {
  const byTopic: Record<string, number[]> = {};
  for (const { topic, partition } of offline) {
    const list = byTopic[topic] ?? [];
    list.push(partition);
    byTopic[topic] = list;
  }
  for (const list of Object.values(byTopic)) list.sort((a, b) => a - b);
  return byTopic;
}

/** The partitions a registration reports offline ([] when it has no such field, as Kafka's never do). */
export function decodeOfflineReplicas(id: number, data: Buffer | string): ReplicaRef[] {
  const path = brokerPath(id);
  const field = parse(path, data).offline_replicas;
  if (field === undefined) return [];
  if (typeof field !== 'object' || field === null || Array.isArray(field))
    throw new Error(`Znode ${path}: "offline_replicas" is not an object`);
  return Object.entries(field as Record<string, unknown>).flatMap(([topic, list]) =>
    intArray(path, list, `offline_replicas.${topic}`).map((partition) => ({ topic, partition })),
  );
}

/**
 * Reads our registrations and Kafka's (any version). Without `endpoints` the broker has one listener,
 * PLAINTEXT at host:port. Kafka writes host null and port -1 when it has no PLAINTEXT listener: the
 * first endpoint stands in for them then.
 */
export function decodeBroker(id: number, data: Buffer | string): BrokerEndpoint {
  const path = brokerPath(id);
  const v = parse(path, data);
  const endpoints = v.endpoints === undefined ? undefined : decodeEndpoints(path, v.endpoints);
  const first = endpoints?.[0];
  let host: string;
  let port: number;
  if (typeof v.host === 'string' && typeof v.port === 'number' && v.port >= 0) {
    host = v.host;
    port = int(path, v.port, 'port');
  } else if (first) {
    ({ host, port } = first);
  } else {
    if (typeof v.host !== 'string') throw new Error(`Znode ${path}: "host" is not a string`);
    host = v.host;
    port = int(path, v.port, 'port');
  }
  return {
    id,
    host,
    port,
    ...(typeof v.rack === 'string' ? { rack: v.rack } : {}),
    ...(endpoints && endpoints.length > 0 ? { endpoints } : {}),
  };
}

function decodeEndpoints(path: string, value: unknown): ListenerEndpoint[] {
  if (!Array.isArray(value)) throw new Error(`Znode ${path}: "endpoints" is not an array`);
  return value.map((text) => {
    const endpoint = typeof text === 'string' ? parseListenerEndpoint(text) : undefined;
    if (!endpoint) throw new Error(`Znode ${path}: endpoint ${JSON.stringify(text)} is not NAME://host:port`);
    return endpoint;
  });
}

// ---- /controller and /controller_epoch ----

export function encodeController(brokerId: number, nowMs: number): string {
  return JSON.stringify({ version: 1, brokerid: brokerId, timestamp: String(nowMs) });
}

export function decodeControllerId(data: Buffer | string): number {
  return int(ZNODES.controller, parse(ZNODES.controller, data).brokerid, 'brokerid');
}

export function encodeControllerEpoch(epoch: number): string {
  return String(epoch);
}

export function decodeControllerEpoch(data: Buffer | string): number {
  const text = (typeof data === 'string' ? data : data.toString('utf8')).trim();
  const epoch = Number(text);
  if (text === '' || !Number.isInteger(epoch))
    throw new Error(`Znode ${ZNODES.controllerEpoch} does not hold an integer`);
  return epoch;
}

// ---- /brokers/topics/<t> ----

/** Kafka's Uuid.ZERO_UUID in base64: "no topic id". */
const ZERO_TOPIC_ID = 'AAAAAAAAAAAAAAAAAAAAAA';

/**
 * A new topic id, as Kafka's `Uuid.randomUuid()` (KIP-516): 16 random bytes in URL-safe base64 without
 * padding. Kafka never hands out an id starting with '-' (it would read as a command-line flag) nor the
 * all-zero id, which means "none".
 */
export function newTopicId(): string {
  for (;;) {
    const id = randomBytes(16).toString('base64url');
    if (!id.startsWith('-') && id !== ZERO_TOPIC_ID) return id;
  }
}

/**
 * A partition's replica move in progress (KIP-455), as the topic znode's `adding_replicas` and
 * `removing_replicas` hold it: the partition's replicas are then the target followed by the
 * replicas being removed.
 */
export interface ReplicaMove {
  readonly adding: readonly number[];
  readonly removing: readonly number[];
}

/**
 * The value of /brokers/topics/<t>; `topicId` becomes Kafka's `topic_id` field. `moves` (by partition
 * id) become Kafka's `adding_replicas` / `removing_replicas` (version 2 fields; only partitions with a
 * move are listed).
 */
export function encodeTopicAssignment(
  replicas: readonly (readonly number[])[],
  topicId?: string,
  moves: ReadonlyMap<number, ReplicaMove> = new Map(),
): string {
  const partitions: Record<string, readonly number[]> = {};
  for (const [p, r] of replicas.entries()) partitions[String(p)] = r;
  const adding: Record<string, readonly number[]> = {};
  const removing: Record<string, readonly number[]> = {};
  for (const [p, m] of [...moves].sort((a, b) => a[0] - b[0])) {
    if (m.adding.length > 0) adding[String(p)] = m.adding;
    if (m.removing.length > 0) removing[String(p)] = m.removing;
  }
  const hasMoves = Object.keys(adding).length + Object.keys(removing).length > 0;
  const moving = hasMoves ? { adding_replicas: adding, removing_replicas: removing } : {};
  if (topicId === undefined) return JSON.stringify({ version: hasMoves ? 2 : 1, partitions, ...moving });
  return JSON.stringify({ version: 3, partitions, ...moving, topic_id: topicId });
}

/**
 * Replicas by partition id (partition ids must be 0..n-1), the topic id when the znode has one
 * (written by Samsa since topic ids, or by Kafka 2.8+; the all-zero id counts as none), and the
 * partitions with a replica move in progress.
 */
export function decodeTopic(
  topic: string,
  data: Buffer | string,
): { replicas: number[][]; topicId: string | undefined; moves: Map<number, ReplicaMove> } {
  const path = topicPath(topic);
  const v = parse(path, data);
  const parts = v.partitions;
  if (typeof parts !== 'object' || parts === null || Array.isArray(parts))
    throw new Error(`Znode ${path}: "partitions" is not an object`);
  const entries = Object.entries(parts as Record<string, unknown>);
  const replicas: number[][] = [];
  for (const [key, list] of entries) {
    const p = Number(key);
    if (!Number.isInteger(p) || p < 0 || p >= entries.length)
      throw new Error(`Znode ${path}: partition ids must be 0..${entries.length - 1}`);
    replicas[p] = intArray(path, list, `partitions.${key}`);
  }
  const id = v.topic_id;
  if (id !== undefined && typeof id !== 'string') throw new Error(`Znode ${path}: "topic_id" is not a string`);
  const adding = replicaLists(path, v.adding_replicas, 'adding_replicas', replicas.length);
  const removing = replicaLists(path, v.removing_replicas, 'removing_replicas', replicas.length);
  const moves = new Map<number, ReplicaMove>();
  for (const p of new Set([...adding.keys(), ...removing.keys()]))
    moves.set(p, { adding: adding.get(p) ?? [], removing: removing.get(p) ?? [] });
  return { replicas, topicId: id === undefined || id === '' || id === ZERO_TOPIC_ID ? undefined : id, moves };
}

function replicaLists(path: string, value: unknown, field: string, partitions: number): Map<number, number[]> {
  const lists = new Map<number, number[]>();
  if (value === undefined || value === null) return lists;
  if (typeof value !== 'object' || Array.isArray(value)) throw new Error(`Znode ${path}: "${field}" is not an object`);
  for (const [key, list] of Object.entries(value as Record<string, unknown>)) {
    const p = Number(key);
    if (!Number.isInteger(p) || p < 0 || p >= partitions)
      throw new Error(`Znode ${path}: "${field}" names partition ${key}, not one of 0..${partitions - 1}`);
    const ids = intArray(path, list, `${field}.${key}`);
    if (ids.length > 0) lists.set(p, ids);
  }
  return lists;
}

/** Returns replicas by partition id; partition ids must be 0..n-1. */
export function decodeTopicAssignment(topic: string, data: Buffer | string): number[][] {
  return decodeTopic(topic, data).replicas;
}

// ---- /config/topics/<t> ----

export function encodeTopicConfig(configs: TopicConfigs): string {
  return JSON.stringify({ version: 1, config: configs });
}

export function decodeTopicConfig(topic: string, data: Buffer | string): Record<string, string> {
  const path = topicConfigPath(topic);
  const config = parse(path, data).config ?? {};
  if (typeof config !== 'object' || config === null || Array.isArray(config))
    throw new Error(`Znode ${path}: "config" is not an object`);
  const out: Record<string, string> = {};
  for (const [k, val] of Object.entries(config as Record<string, unknown>)) out[k] = String(val);
  return out;
}

// ---- /brokers/topics/<t>/partitions/<p>/state ----

export function encodePartitionState(s: LeaderAndIsr): string {
  return JSON.stringify({
    controller_epoch: s.controllerEpoch,
    leader: s.leader,
    version: 1,
    leader_epoch: s.leaderEpoch,
    isr: s.isr,
  });
}

export function decodePartitionState(topic: string, partition: number, data: Buffer | string): LeaderAndIsr {
  const path = partitionStatePath(topic, partition);
  const v = parse(path, data);
  return {
    leader: int(path, v.leader, 'leader'),
    leaderEpoch: int(path, v.leader_epoch, 'leader_epoch'),
    isr: intArray(path, v.isr, 'isr'),
    controllerEpoch: int(path, v.controller_epoch, 'controller_epoch'),
  };
}
