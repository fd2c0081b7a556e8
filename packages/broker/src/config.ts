import { readFile } from 'node:fs/promises';
import { ErrorCodes, SamsaError } from '@samsa/protocol';
import { DEFAULT_LISTENER_NAME, parseListenerEndpoint, type ListenerEndpoint } from './listeners.js';

/**
 * Broker and topic settings. Names are Kafka's (`log.retention.ms`, `min.insync.replicas`, ...) and so
 * are the defaults, unless a comment says why not. A broker reads them, lowest precedence first, from
 * the defaults, a Java-properties file (`--config server.properties`), SAMSA_* environment variables
 * (`SAMSA_LOG_RETENTION_MS` sets `log.retention.ms`, as the Kafka images do with KAFKA_*), and flags.
 */
type SettingType = 'int' | 'long' | 'double' | 'boolean' | 'string';

export interface SettingSpec {
  readonly type: SettingType;
  readonly default: string | number | boolean | undefined;
  readonly min?: number;
  /** Only for doubles (ints and longs are bounded by their type). */
  readonly max?: number;
  readonly oneOf?: readonly string[];
  readonly doc: string;
}

const INT_MAX = 2 ** 31 - 1;
const LONG_MAX = Number.MAX_SAFE_INTEGER;
const DAY_MS = 24 * 60 * 60 * 1000;
/** log.cleaner.io.max.bytes.per.second by default: 30 MiB/s (Kafka's is unlimited; see the setting). */
const CLEANER_IO_DEFAULT_BYTES_PER_SECOND = 30 * 1024 * 1024;

const int = (def: number, min: number, doc: string): SettingSpec => ({ type: 'int', default: def, min, doc });
const long = (def: number, min: number, doc: string): SettingSpec => ({ type: 'long', default: def, min, doc });
const double = (def: number, min: number, max: number, doc: string): SettingSpec => ({
  type: 'double',
  default: def,
  min,
  max,
  doc,
});
const bool = (def: boolean, doc: string): SettingSpec => ({ type: 'boolean', default: def, doc });
const str = (def: string | undefined, doc: string, oneOf?: readonly string[]): SettingSpec =>
  oneOf ? { type: 'string', default: def, doc, oneOf } : { type: 'string', default: def, doc };

/** Per-topic settings: what `topics create --config KEY=VALUE` accepts. Defaults come from the broker keys. */
export const TOPIC_SETTINGS = {
  'cleanup.policy': str(
    'delete',
    'delete: retention removes old segments; compact: the log cleaner keeps the last record of every key ' +
      '(retention does not apply); compact,delete: both; __consumer_offsets uses compact',
    ['delete', 'compact', 'compact,delete', 'delete,compact'],
  ),
  'min.cleanable.dirty.ratio': double(
    0.5,
    0,
    1,
    'the cleaner compacts a log once this share of it (bytes after the last clean point) is dirty',
  ),
  'min.compaction.lag.ms': long(0, 0, 'records younger than this are not compacted yet'),
  'max.compaction.lag.ms': long(LONG_MAX, 1, 'a dirty record older than this is compacted whatever the dirty ratio'),
  'delete.retention.ms': long(
    DAY_MS,
    0,
    'how long a tombstone (a record with a null value) stays readable in a compacted topic once cleaned',
  ),
  'retention.ms': long(7 * DAY_MS, -1, 'delete whole segments older than this; -1 keeps them forever'),
  'retention.bytes': long(-1, -1, 'delete old segments while the partition is larger than this; -1 for no limit'),
  'segment.bytes': int(1024 * 1024 * 1024, 14, 'roll to a new segment at this size'),
  'segment.ms': long(7 * DAY_MS, 1, 'roll to a new segment when the active one is this old'),
  'max.message.bytes': int(1048588, 0, 'largest record batch accepted (after compression)'),
  'min.insync.replicas': int(1, 1, 'acks=all writes need at least this many in-sync replicas'),
  'unclean.leader.election.enable': bool(false, 'allow a replica outside the ISR to become leader (may lose data)'),
  'flush.messages': long(LONG_MAX, 1, 'fsync after this many messages; unlimited leaves durability to replication'),
  'flush.ms': long(LONG_MAX, 0, 'fsync when the oldest unflushed message is this old'),
  'index.interval.bytes': int(4096, 0, 'bytes of log between two offset index entries'),
  'message.timestamp.type': str(
    'CreateTime',
    "CreateTime keeps the producer's timestamps; LogAppendTime stamps the broker's",
    ['CreateTime', 'LogAppendTime'],
  ),
  'leader.replication.throttled.replicas': str(
    '',
    'partition:broker pairs (or *) whose leader throttles fetches of out-of-sync followers; set by a reassignment',
  ),
  'follower.replication.throttled.replicas': str(
    '',
    'partition:broker pairs (or *) of replicas being added by a reassignment (their fetches are throttled)',
  ),
  'leader.replication.throttled.rate': long(
    LONG_MAX,
    1,
    "bytes/s a leader sends the topic's throttled replicas (Kafka's broker key; a reassignment sets it per topic)",
  ),
} as const satisfies Record<string, SettingSpec>;

export type TopicSettingName = keyof typeof TOPIC_SETTINGS;

/** Broker keys whose value is the default of a topic key (Kafka's `log.retention.ms` -> `retention.ms`). */
export const TOPIC_DEFAULT_FROM_BROKER: Readonly<Partial<Record<TopicSettingName, string>>> = {
  'cleanup.policy': 'log.cleanup.policy',
  'min.cleanable.dirty.ratio': 'log.cleaner.min.cleanable.ratio',
  'min.compaction.lag.ms': 'log.cleaner.min.compaction.lag.ms',
  'max.compaction.lag.ms': 'log.cleaner.max.compaction.lag.ms',
  'delete.retention.ms': 'log.cleaner.delete.retention.ms',
  'retention.ms': 'log.retention.ms',
  'retention.bytes': 'log.retention.bytes',
  'segment.bytes': 'log.segment.bytes',
  'segment.ms': 'log.roll.ms',
  'max.message.bytes': 'message.max.bytes',
  'min.insync.replicas': 'min.insync.replicas',
  'unclean.leader.election.enable': 'unclean.leader.election.enable',
  'flush.messages': 'log.flush.interval.messages',
  'flush.ms': 'log.flush.interval.ms',
  'index.interval.bytes': 'log.index.interval.bytes',
  'message.timestamp.type': 'log.message.timestamp.type',
  'leader.replication.throttled.rate': 'leader.replication.throttled.rate',
};

export const BROKER_SETTINGS = {
  'broker.id': int(-1, 0, "this broker's id, unique in the cluster (required)"),
  'leader.replication.throttled.rate': long(
    LONG_MAX,
    1,
    'bytes/s a leader sends throttled replicas (leader.replication.throttled.replicas) of a topic; ' +
      'the topic key of the same name, which a reassignment sets, wins',
  ),
  listeners: str(
    '127.0.0.1:9092',
    'where the gRPC servers listen: host:port (one listener, PLAINTEXT) or NAME://host:port,NAME://host:port,...',
  ),
  'advertised.listeners': str(
    undefined,
    'the addresses published to clients and brokers, same syntax; defaults to ' +
      'listeners (a 0.0.0.0 host is advertised as 127.0.0.1, port 0 as the bound port)',
  ),
  'listener.security.protocol.map': str(
    'KAFKA:PLAINTEXT',
    "NAME:PROTOCOL,... for listeners: PLAINTEXT speaks Kafka's binary protocol (as on a Kafka broker), " +
      "GRPC Samsa's gRPC API; a listener not named here speaks gRPC",
  ),
  'inter.broker.listener.name': str(
    undefined,
    "the listener brokers use to reach each other (replication, AlterPartition); defaults to the first listener's name",
  ),
  'log.dirs': str('./data', "directory holding this broker's partitions"),
  'zookeeper.connect': str('127.0.0.1:2181', 'coordinator or ZooKeeper ensemble, host:port[,host:port...][/chroot]'),
  'zookeeper.session.timeout.ms': int(18000, 1, 'session timeout; a broker silent this long is considered dead'),
  'zookeeper.connection.timeout.ms': int(18000, 1, 'how long start-up waits for the coordinator'),
  'broker.rack': str(undefined, 'rack of this broker, reported in metadata'),
  'num.partitions': int(1, 1, 'partitions of an auto-created topic'),
  'default.replication.factor': int(1, 1, 'replication factor of an auto-created topic'),
  'auto.create.topics.enable': bool(true, 'create a missing topic on produce or metadata request'),
  'delete.topic.enable': bool(true, 'allow topics to be deleted'),
  'replica.lag.time.max.ms': long(30000, 1, 'a follower not caught up for this long leaves the ISR'),
  'replica.fetch.unwritten.enable': bool(
    false,
    'not a Kafka setting: a leader hands its followers an append once its CRCs passed, while its own ' +
      'write still runs (the high watermark still waits for that write); off by default, since on a ' +
      'saturated 2-core machine it made acks=all slower at 10k records/s',
  ),
  'auto.leader.rebalance.enable': bool(
    true,
    'the controller moves leadership back to preferred replicas ' +
      "(each partition's first) when a broker leads too few of them",
  ),
  'leader.imbalance.check.interval.seconds': long(300, 1, 'how often the controller checks leader imbalance'),
  'leader.imbalance.per.broker.percentage': int(
    10,
    0,
    'when more than this share (percent) of the partitions a broker ' +
      'is preferred for are led by others, they move back to it',
  ),
  'replica.high.watermark.checkpoint.interval.ms': long(
    5000,
    1,
    "how often the partitions' high watermarks are saved to " +
      'replication-offset-checkpoint in log.dirs (also at shutdown)',
  ),
  'log.retention.check.interval.ms': long(300000, 1, 'how often retention is enforced'),
  'log.writeback.interval.bytes': long(
    8 * 1024 * 1024,
    0,
    'not a Kafka setting: every this many bytes appended to a partition, start writing them to the disk ' +
      'without waiting (no durability promise; keeps the kernel from writing back gigabytes at once); ' +
      '0 leaves it to the kernel',
  ),
  'log.inline.write.max.bytes': long(
    32 * 1024,
    0,
    'not a Kafka setting: an append run of at most this many bytes is written to the page cache on the ' +
      'event loop instead of the thread pool (saves a round trip); 0 writes every run on the thread pool, ' +
      'for storage where a write can block for long',
  ),
  'log.offline.retry.backoff.ms': long(
    1000,
    1,
    'not a Kafka setting: how soon a partition whose log failed (a full disk, an I/O error) is reopened, ' +
      'once the data directory has room; doubled after each failed reopen',
  ),
  'log.offline.retry.backoff.max.ms': long(30000, 1, 'the longest wait between two reopens of an offline log'),
  'leadership.wait.ms': long(
    5000,
    0,
    'not a Kafka setting: how long a Kafka-protocol request for a partition this broker is about to lead ' +
      '(a topic just created, an election) waits for the role; a topic or partition the coordinator ' +
      'does not have is answered at once',
  ),
  'socket.request.max.bytes': int(104857600, 1024, 'largest request the broker accepts'),
  'controlled.shutdown.timeout.ms': int(10000, 0, 'how long a stopping broker lets requests in flight finish'),
  'offsets.topic.num.partitions': int(50, 1, 'partitions of __consumer_offsets (fixed once it is created)'),
  'offsets.topic.replication.factor': int(
    3,
    1,
    'replication factor of __consumer_offsets (the live broker count when fewer brokers are up at creation)',
  ),
  'offsets.topic.segment.bytes': int(104857600, 14, 'segment size of __consumer_offsets'),
  'offsets.commit.timeout.ms': int(
    5000,
    1,
    'how long a commit (or any group change) waits for the in-sync replicas of __consumer_offsets',
  ),
  'offsets.retention.minutes': int(
    10080,
    1,
    'committed offsets of a group without members expire this long after their commit',
  ),
  'offsets.retention.check.interval.ms': long(600000, 1, 'how often expired offsets are looked for'),
  'offset.metadata.max.bytes': int(4096, 0, 'largest metadata string of a committed offset'),
  'transaction.state.log.num.partitions': int(50, 1, 'partitions of __transaction_state (fixed once it is created)'),
  'transaction.state.log.replication.factor': int(
    3,
    1,
    'replication factor of __transaction_state (the live broker count when fewer brokers are up at creation)',
  ),
  'transaction.state.log.min.isr': int(
    2,
    1,
    'min.insync.replicas of __transaction_state (capped by its replication factor)',
  ),
  'transaction.state.log.segment.bytes': int(104857600, 14, 'segment size of __transaction_state'),
  'transaction.max.timeout.ms': int(900000, 1, 'the longest transaction.timeout.ms a producer may ask for'),
  'transactional.id.expiration.ms': int(
    604800000,
    1,
    'a transactional id with no open transaction is forgotten this long after its last update',
  ),
  'transaction.abort.timed.out.transaction.cleanup.interval.ms': int(
    10000,
    1,
    'how often transactions past their timeout are looked for (and aborted)',
  ),
  'group.consumer.session.timeout.ms': int(45000, 1, 'a group member not heard from this long is expelled'),
  'group.consumer.heartbeat.interval.ms': int(5000, 1, 'how often members heartbeat'),
  'group.consumer.max.size': int(INT_MAX, 1, 'most members a consumer group may have'),
  'group.consumer.assignors': str(
    'uniform,range',
    'server-side assignors a group may use (uniform, range); the first is the default',
  ),
  'group.min.session.timeout.ms': int(6000, 1, 'the shortest session timeout a classic (JoinGroup) member may ask for'),
  'group.max.session.timeout.ms': int(1800000, 1, 'the longest session timeout a classic member may ask for'),
  'group.initial.rebalance.delay.ms': int(3000, 0, 'how long the first rebalance of an empty classic group waits'),
  'group.max.size': int(INT_MAX, 1, 'most members a classic group may have'),
  'group.consumer.migration.policy': str(
    'bidirectional',
    'upgrade: a classic group becomes a consumer (KIP-848) group when an SDK member joins it; downgrade: back ' +
      'when only classic members are left; bidirectional: both; disabled: neither',
    ['bidirectional', 'upgrade', 'downgrade', 'disabled'],
  ),
  'log.cleanup.policy': TOPIC_SETTINGS['cleanup.policy'],
  'log.cleaner.min.cleanable.ratio': TOPIC_SETTINGS['min.cleanable.dirty.ratio'],
  'log.cleaner.min.compaction.lag.ms': TOPIC_SETTINGS['min.compaction.lag.ms'],
  'log.cleaner.max.compaction.lag.ms': TOPIC_SETTINGS['max.compaction.lag.ms'],
  'log.cleaner.delete.retention.ms': TOPIC_SETTINGS['delete.retention.ms'],
  'log.cleaner.enable': bool(true, 'run the log cleaner, which compacts topics with cleanup.policy compact'),
  'log.cleaner.threads': int(1, 1, 'logs the cleaner compacts at the same time'),
  'log.cleaner.dedupe.buffer.size': long(
    134217728,
    1024,
    "memory for the cleaners' key → offset maps, shared by log.cleaner.threads; a dirty section with more " +
      'keys than fit is cleaned in passes',
  ),
  // Not Kafka's default (unlimited): unthrottled, the cleaner doubled a concurrent producer's p99 on a
  // 2-core machine; 1.7976931348623157E308 (Kafka's Double.MAX_VALUE) is Kafka's behaviour. Left
  // unset, it adapts (storage/cleaner-budget.ts), so a cleaner that falls behind is not held to it.
  // README: Compacted topics; docs/performance-log.md: the cleaner's default I/O budget.
  'log.cleaner.io.max.bytes.per.second': double(
    CLEANER_IO_DEFAULT_BYTES_PER_SECOND,
    1,
    Number.MAX_VALUE,
    'the cleaners read and write at most this many bytes per second together (a double, as in Kafka); ' +
      'left at the default, it doubles while the cleaner falls behind (up to unlimited) and comes back ' +
      'once the cleaner is idle; set, it is a hard cap',
  ),
  'log.cleaner.backoff.ms': long(15000, 1, 'how long the cleaner sleeps when no log needs cleaning'),
  'log.retention.ms': TOPIC_SETTINGS['retention.ms'],
  'log.retention.bytes': TOPIC_SETTINGS['retention.bytes'],
  'log.segment.bytes': TOPIC_SETTINGS['segment.bytes'],
  'log.roll.ms': TOPIC_SETTINGS['segment.ms'],
  'message.max.bytes': TOPIC_SETTINGS['max.message.bytes'],
  'min.insync.replicas': TOPIC_SETTINGS['min.insync.replicas'],
  'unclean.leader.election.enable': TOPIC_SETTINGS['unclean.leader.election.enable'],
  'log.flush.interval.messages': TOPIC_SETTINGS['flush.messages'],
  'log.flush.interval.ms': TOPIC_SETTINGS['flush.ms'],
  'log.index.interval.bytes': TOPIC_SETTINGS['index.interval.bytes'],
  'log.message.timestamp.type': TOPIC_SETTINGS['message.timestamp.type'],
} as const satisfies Record<string, SettingSpec>;

export type BrokerSettingName = keyof typeof BROKER_SETTINGS;
export type SettingValue = string | number | boolean | undefined;
export type Settings<K extends string> = Readonly<Record<K, SettingValue>>;

function invalid(detail: string): SamsaError {
  return new SamsaError(ErrorCodes.INVALID_CONFIG, detail);
}

/** Parses one value by its spec; throws InvalidConfig naming the key. */
export function parseSetting(key: string, spec: SettingSpec, raw: string): SettingValue {
  const value = raw.trim();
  switch (spec.type) {
    case 'boolean':
      if (value === 'true' || value === 'false') return value === 'true';
      throw invalid(`${key} must be true or false, not '${raw}'`);
    case 'double': {
      const n = Number(value);
      const min = spec.min ?? -Number.MAX_VALUE;
      const max = spec.max ?? Number.MAX_VALUE;
      if (value === '' || !Number.isFinite(n) || n < min || n > max) {
        throw invalid(`${key} must be a number from ${min} to ${max}, not '${raw}'`);
      }
      return n;
    }
    case 'int':
    case 'long': {
      const max = spec.type === 'int' ? INT_MAX : LONG_MAX;
      const n = Number(value);
      if (value === '' || !Number.isInteger(n) || n < (spec.min ?? -max) || n > max) {
        throw invalid(`${key} must be an integer from ${spec.min ?? -max} to ${max}, not '${raw}'`);
      }
      return n;
    }
    case 'string':
      if (spec.oneOf && !spec.oneOf.includes(value))
        throw invalid(`${key} must be one of ${spec.oneOf.join(', ')}, not '${raw}'`);
      // Kafka's cleanup.policy is a list: both orders name the same policy.
      return value === 'delete,compact' ? 'compact,delete' : value;
  }
}

/** The keys a resolved settings object took from a layer (file, environment, flags), not from the defaults. */
const setKeys = new WeakMap<object, ReadonlySet<string>>();

/** Applies `overrides` (raw strings by Kafka name) over the defaults of `table`; unknown keys are an error. */
export function resolveSettings<K extends string>(
  table: Record<K, SettingSpec>,
  ...layers: Readonly<Record<string, string>>[]
): Settings<K> {
  const out: Record<string, SettingValue> = {};
  const set = new Set<string>();
  for (const [key, spec] of Object.entries<SettingSpec>(table)) out[key] = spec.default;
  for (const layer of layers) {
    for (const [key, raw] of Object.entries(layer)) {
      const spec = (table as Record<string, SettingSpec | undefined>)[key];
      if (!spec) throw invalid(`unknown setting '${key}'`);
      out[key] = parseSetting(key, spec, raw);
      set.add(key);
    }
  }
  setKeys.set(out, set);
  return out as Settings<K>;
}

/**
 * Whether the user set a broker setting (to any value, its default's included) rather than leaving
 * the default. For settings not from resolveSettings (a copy): whether the value differs from the default.
 */
export function brokerSettingIsSet(settings: Settings<BrokerSettingName>, key: BrokerSettingName): boolean {
  const set = setKeys.get(settings);
  if (set !== undefined) return set.has(key);
  return settings[key] !== (BROKER_SETTINGS[key] as SettingSpec).default;
}

/** Validates per-topic overrides (as sent by `topics create --config`) and returns them normalised. */
export function validateTopicConfigs(configs: Readonly<Record<string, string>>): Record<string, string> {
  const normalised: Record<string, string> = {};
  for (const [key, raw] of Object.entries(configs)) {
    const spec = (TOPIC_SETTINGS as Record<string, SettingSpec | undefined>)[key];
    if (!spec) throw invalid(`unknown topic setting '${key}' (known: ${Object.keys(TOPIC_SETTINGS).join(', ')})`);
    normalised[key] = String(parseSetting(key, spec, raw));
  }
  return normalised;
}

/** Kafka's IncrementalAlterConfigs operations (APPEND and SUBTRACT on list configs are not served). */
export const ALTER_CONFIG_SET = 0;
export const ALTER_CONFIG_DELETE = 1;

/**
 * Checks one topic's IncrementalAlterConfigs operations as creation checks configs (unknown names and
 * bad values are InvalidConfig; a name twice or another operation InvalidRequest) and returns what
 * to set (normalised) and what to remove.
 */
export function topicConfigChanges(ops: readonly { name: string; op: number; value: string | null }[]): {
  set: Record<string, string>;
  remove: string[];
} {
  const names = new Set<string>();
  const raw: Record<string, string> = {};
  const remove: string[] = [];
  for (const { name, op, value } of ops) {
    if (names.has(name)) throw new SamsaError(ErrorCodes.INVALID_REQUEST, `config '${name}' is named twice`);
    names.add(name);
    if (op === ALTER_CONFIG_SET) raw[name] = value ?? '';
    else if (op === ALTER_CONFIG_DELETE) {
      if (!(name in TOPIC_SETTINGS)) throw invalid(`unknown topic setting '${name}'`);
      remove.push(name);
    } else
      throw new SamsaError(
        ErrorCodes.INVALID_REQUEST,
        `config operation ${op} on '${name}' is not served (SET or DELETE)`,
      );
  }
  return { set: validateTopicConfigs(raw), remove };
}

/**
 * A topic whose min.insync.replicas is above its replication factor could never acknowledge an
 * acks=all write (every one would wait out its timeout and fail with NotEnoughReplicas): refused
 * with InvalidConfig when the topic is created, instead of failing every write later.
 */
export function checkMinInsyncReplicas(configs: Readonly<Record<string, string>>, replicationFactor: number): void {
  const raw = configs['min.insync.replicas'];
  if (raw === undefined) return;
  const minIsr = Number(raw);
  if (minIsr > replicationFactor)
    throw invalid(
      `min.insync.replicas ${minIsr} is larger than the replication factor ${replicationFactor}: ` +
        'no acks=all write could be acknowledged',
    );
}

/** A topic's effective settings: its own overrides over the broker's defaults for topics. */
export function effectiveTopicSettings(
  broker: Settings<BrokerSettingName>,
  overrides: Readonly<Record<string, string>>,
): Settings<TopicSettingName> {
  const defaults: Record<string, string> = {};
  for (const [topicKey, brokerKey] of Object.entries(TOPIC_DEFAULT_FROM_BROKER)) {
    const value = broker[brokerKey as BrokerSettingName];
    if (value !== undefined) defaults[topicKey] = String(value);
  }
  return resolveSettings(TOPIC_SETTINGS, defaults, overrides);
}

/** Java-properties subset: `key=value` or `key: value` lines, `#`/`!` comments, blank lines. */
export function parseProperties(text: string, source: string): Record<string, string> {
  const out: Record<string, string> = {};
  text.split(/\r?\n/).forEach((line, index) => {
    const trimmed = line.trim();
    if (trimmed === '' || trimmed.startsWith('#') || trimmed.startsWith('!')) return;
    const match = /^([^=:\s]+)\s*[=:]\s*(.*)$/.exec(trimmed);
    if (!match) throw invalid(`${source}:${index + 1}: expected key=value`);
    out[match[1]!] = match[2]!;
  });
  return out;
}

/** SAMSA_LOG_RETENTION_MS=... -> { 'log.retention.ms': ... } for every known broker key. */
export function settingsFromEnv(env: NodeJS.ProcessEnv): Record<string, string> {
  const out: Record<string, string> = {};
  for (const key of Object.keys(BROKER_SETTINGS)) {
    const value = env[`SAMSA_${key.toUpperCase().replace(/\./g, '_')}`];
    if (value !== undefined) out[key] = value;
  }
  return out;
}

export async function loadBrokerSettings(options: {
  configFile?: string;
  env?: NodeJS.ProcessEnv;
  flags?: Record<string, string>;
}): Promise<Settings<BrokerSettingName>> {
  const fromFile = options.configFile
    ? parseProperties(await readFile(options.configFile, 'utf8'), options.configFile)
    : {};
  const settings = resolveSettings(BROKER_SETTINGS, fromFile, settingsFromEnv(options.env ?? {}), options.flags ?? {});
  if ((settings['broker.id'] as number) < 0)
    throw invalid('broker.id is required (--id N, broker.id=N in the config file, or SAMSA_BROKER_ID)');
  listenerConfig(settings); // fail at start-up, naming the setting, rather than half-way through binding
  return settings;
}

/** Splits `host:port` (IPv6 as `[::1]:9092`). */
export function parseHostPort(value: string, what: string): { host: string; port: number } {
  const match = /^(?:\[([^\]]+)\]|([^:]+)):(\d{1,5})$/.exec(value.trim());
  const port = match ? Number(match[3]) : NaN;
  if (!match || port < 0 || port > 65535) throw invalid(`${what} must be host:port, not '${value}'`);
  return { host: (match[1] ?? match[2])!, port };
}

/**
 * Parses `listeners` or `advertised.listeners`: a comma list of Kafka's `NAME://host:port`, or a plain
 * `host:port`, which is the one listener named PLAINTEXT. Names are upper-cased and must be unique.
 */
export function parseListeners(value: string, what: string): ListenerEndpoint[] {
  const entries = value
    .split(',')
    .map((e) => e.trim())
    .filter((e) => e !== '');
  if (entries.length === 0) throw invalid(`${what} must name at least one listener, host:port or NAME://host:port`);
  const out: ListenerEndpoint[] = [];
  for (const entry of entries) {
    let endpoint: ListenerEndpoint | undefined;
    if (entry.includes('://')) {
      endpoint = parseListenerEndpoint(entry);
      if (!endpoint) throw invalid(`${what}: '${entry}' is not NAME://host:port (NAME of letters, digits, _ or -)`);
    } else {
      endpoint = { listener: DEFAULT_LISTENER_NAME, ...parseHostPort(entry, what) };
    }
    if (out.some((e) => e.listener === endpoint.listener))
      throw invalid(`${what} names the listener ${endpoint.listener} twice`);
    out.push(endpoint);
  }
  return out;
}

/** The listener settings, parsed and checked against each other (Kafka's rules). */
export interface ListenerConfig {
  /** Where to bind, one gRPC server each; an empty host means every interface. */
  readonly listeners: readonly ListenerEndpoint[];
  /** What to publish, before port 0 and wildcard hosts are resolved (see advertisedEndpoints). */
  readonly advertised: readonly ListenerEndpoint[];
  readonly interBrokerListenerName: string;
  /** The wire protocol of each listener, by name. */
  readonly protocols: ReadonlyMap<string, ListenerProtocol>;
}

/** GRPC: Samsa's gRPC API. PLAINTEXT: Kafka's binary protocol without TLS, Kafka's name for it. */
export type ListenerProtocol = 'GRPC' | 'PLAINTEXT';

/** Parses `listener.security.protocol.map` (Kafka's `NAME:PROTOCOL,...`). */
export function parseProtocolMap(value: string): Map<string, ListenerProtocol> {
  const out = new Map<string, ListenerProtocol>();
  for (const entry of value
    .split(',')
    .map((e) => e.trim())
    .filter((e) => e !== '')) {
    const match = /^([A-Za-z0-9_-]+):([A-Za-z_]+)$/.exec(entry);
    const protocol = match?.[2]?.toUpperCase();
    if (!match || (protocol !== 'GRPC' && protocol !== 'PLAINTEXT'))
      throw invalid(
        `listener.security.protocol.map: '${entry}' is not NAME:GRPC or NAME:PLAINTEXT ` +
          '(TLS and SASL are not supported)',
      );
    out.set(match[1]!.toUpperCase(), protocol);
  }
  return out;
}

export function listenerConfig(settings: Settings<BrokerSettingName>): ListenerConfig {
  const listeners = parseListeners(settings.listeners as string, 'listeners');
  for (const [i, a] of listeners.entries()) {
    const clash = listeners.slice(i + 1).find((b) => a.port !== 0 && a.port === b.port);
    if (clash)
      throw invalid(
        `listeners ${a.listener} and ${clash.listener} both use port ${a.port}; each listener needs its own port`,
      );
  }
  const advertisedSetting = settings['advertised.listeners'] as string | undefined;
  const advertised = advertisedSetting ? parseListeners(advertisedSetting, 'advertised.listeners') : listeners;
  const names = new Set(listeners.map((l) => l.listener));
  for (const a of advertised) {
    if (!names.has(a.listener))
      throw invalid(
        `advertised.listeners names ${a.listener}, which is not one of listeners (${[...names].join(', ')})`,
      );
  }
  const interSetting = settings['inter.broker.listener.name'] as string | undefined;
  const interBrokerListenerName = interSetting ? interSetting.toUpperCase() : listeners[0]!.listener;
  if (!names.has(interBrokerListenerName)) {
    throw invalid(
      `inter.broker.listener.name ${interBrokerListenerName} is not one of listeners (${[...names].join(', ')})`,
    );
  }
  if (!advertised.some((a) => a.listener === interBrokerListenerName)) {
    throw invalid(
      `inter.broker.listener.name ${interBrokerListenerName} must be ` +
        `in advertised.listeners: other brokers reach this one there`,
    );
  }
  const protocolMap = parseProtocolMap(settings['listener.security.protocol.map'] as string);
  const protocols = new Map(listeners.map((l) => [l.listener, protocolMap.get(l.listener) ?? ('GRPC' as const)]));
  if (protocols.get(interBrokerListenerName) !== 'GRPC') {
    throw invalid(
      `inter.broker.listener.name ${interBrokerListenerName} speaks Kafka's protocol; ` +
        'brokers replicate over gRPC, so it must be a GRPC listener',
    );
  }
  return { listeners, advertised, interBrokerListenerName, protocols };
}

const WILDCARD_HOSTS = new Set(['', '0.0.0.0', '::']);

/** The host to bind a listener to: an empty host (Kafka's `NAME://:9092`) means every interface. */
export function bindHost(listener: ListenerEndpoint): string {
  return listener.host === '' ? '0.0.0.0' : listener.host;
}

/**
 * The endpoints to register: a wildcard host (0.0.0.0, ::, empty) is advertised as 127.0.0.1, and
 * port 0 as the port the listener of that name was bound to.
 */
export function advertisedEndpoints(
  config: ListenerConfig,
  boundPorts: ReadonlyMap<string, number>,
): ListenerEndpoint[] {
  return config.advertised.map((a) => {
    const port = a.port !== 0 ? a.port : boundPorts.get(a.listener);
    if (port === undefined) throw new Error(`listener ${a.listener} was not bound`);
    return { listener: a.listener, host: WILDCARD_HOSTS.has(a.host) ? '127.0.0.1' : a.host, port };
  });
}
