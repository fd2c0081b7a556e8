/**
 * Per-partition log configuration. Names are the camelCase of Kafka's topic-level settings and the
 * defaults are Kafka's, so an operator who knows `segment.bytes` knows `segmentBytes`.
 */
export interface LogConfig {
  /** segment.bytes: roll the active segment before it would grow past this size. */
  readonly segmentBytes: number;
  /** segment.ms: roll a non-empty active segment this long after it was created (or opened). */
  readonly segmentMs: number;
  /** segment.index.bytes: the largest offset index; a full index rolls the segment. */
  readonly segmentIndexBytes: number;
  /** index.interval.bytes: bytes of log between two offset index entries. */
  readonly indexIntervalBytes: number;
  /** retention.ms: delete whole segments whose largest timestamp is older than this; -1 keeps forever. */
  readonly retentionMs: number;
  /** retention.bytes: delete the oldest whole segments while the log is larger than this; -1 is unlimited. */
  readonly retentionBytes: number;
  /** flush.messages: fsync after this many records; MAX_SAFE_INTEGER leaves durability to replication. */
  readonly flushMessages: number;
  /** flush.ms: fsync when the oldest unflushed write is this old; MAX_SAFE_INTEGER leaves it to replication. */
  readonly flushMs: number;
  /** max.message.bytes: the largest batch (after the 12-byte log overhead) a producer may append. */
  readonly maxMessageBytes: number;
  /** message.timestamp.type: CreateTime keeps the producer's timestamps, LogAppendTime stamps the broker's clock. */
  readonly messageTimestampType: 'CreateTime' | 'LogAppendTime';
  /**
   * Not a Kafka setting: how many inactive segments keep an open file and loaded indexes. Kafka
   * relies on mmap and the OS; we bound the memory and descriptors ourselves.
   */
  readonly maxOpenInactiveSegments: number;
  /**
   * Not a Kafka setting (RocksDB's bytes_per_sync): every this many bytes appended, start writing
   * the active segment to the disk beside the append path, so the kernel never holds a burst of
   * dirty log to write back at once. Appends do not wait for it and it promises no durability (that
   * is flush.messages / flush.ms). 0 leaves writeback to the kernel, as Kafka does.
   */
  readonly writebackIntervalBytes: number;
  /**
   * Not a Kafka setting: a run of appends up to this many bytes is written with a synchronous
   * positional write on the event loop (as Kafka's request threads write to the page cache), larger
   * runs through the libuv thread pool. Up to about 32 KiB the synchronous write costs the event loop
   * no more than handing the write to the pool does, and it saves the pool's round trip (about 50 µs).
   * 0 writes every run through the pool: for storage where a write to the page cache can block for
   * long (a network file system, a disk whose dirty pages throttle writers), where it would stall
   * every partition of the broker.
   */
  readonly inlineWriteMaxBytes: number;
  /**
   * cleanup.policy: 'delete' (retention removes old segments), 'compact' (the cleaner keeps the last
   * record of every key; retention.ms and retention.bytes do not apply), or both.
   */
  readonly cleanupPolicy: CleanupPolicy;
  /** min.cleanable.dirty.ratio: the cleaner cleans a log once this share of it is dirty. */
  readonly minCleanableDirtyRatio: number;
  /** min.compaction.lag.ms: records younger than this are not compacted yet. */
  readonly minCompactionLagMs: number;
  /** max.compaction.lag.ms: a dirty record older than this is compacted whatever the dirty ratio. */
  readonly maxCompactionLagMs: number;
  /** delete.retention.ms: how long a tombstone stays readable after its segment was cleaned. */
  readonly deleteRetentionMs: number;
}

export type CleanupPolicy = 'delete' | 'compact' | 'compact,delete';

/** Whether the log cleaner works on logs with this policy. */
export function isCompacted(config: Pick<LogConfig, 'cleanupPolicy'>): boolean {
  return config.cleanupPolicy !== 'delete';
}

/** Kafka's "unlimited" for flush.messages and flush.ms is Long.MAX_VALUE; ours is the largest exact number. */
export const UNLIMITED = Number.MAX_SAFE_INTEGER;

export const DEFAULT_LOG_CONFIG: LogConfig = Object.freeze({
  segmentBytes: 1024 * 1024 * 1024,
  segmentMs: 7 * 24 * 60 * 60 * 1000,
  segmentIndexBytes: 10 * 1024 * 1024,
  indexIntervalBytes: 4096,
  retentionMs: 7 * 24 * 60 * 60 * 1000,
  retentionBytes: -1,
  flushMessages: UNLIMITED,
  flushMs: UNLIMITED,
  maxMessageBytes: 1024 * 1024 + 12,
  messageTimestampType: 'CreateTime',
  maxOpenInactiveSegments: 16,
  writebackIntervalBytes: 8 * 1024 * 1024,
  inlineWriteMaxBytes: 32 * 1024,
  cleanupPolicy: 'delete',
  minCleanableDirtyRatio: 0.5,
  minCompactionLagMs: 0,
  maxCompactionLagMs: UNLIMITED,
  deleteRetentionMs: 24 * 60 * 60 * 1000,
});

function requireInt(name: string, value: number, min: number, max = Number.MAX_SAFE_INTEGER): void {
  if (!Number.isSafeInteger(value) || value < min || value > max) {
    throw new RangeError(`log config ${name} must be an integer in [${min}, ${max}], got ${value}`);
  }
}

/** Fills in Kafka's defaults and rejects values that would make the log misbehave. */
export function resolveLogConfig(overrides: Partial<LogConfig> = {}): LogConfig {
  const config: LogConfig = { ...DEFAULT_LOG_CONFIG, ...stripUndefined(overrides) };
  // Positions in the offset index are int32, so a segment can never exceed 2 GiB.
  requireInt('segmentBytes', config.segmentBytes, 14, 0x7fffffff);
  requireInt('segmentMs', config.segmentMs, 1);
  requireInt('segmentIndexBytes', config.segmentIndexBytes, 8, 0x7fffffff);
  requireInt('indexIntervalBytes', config.indexIntervalBytes, 0, 0x7fffffff);
  requireInt('retentionMs', config.retentionMs, -1);
  requireInt('retentionBytes', config.retentionBytes, -1);
  requireInt('flushMessages', config.flushMessages, 1);
  requireInt('flushMs', config.flushMs, 0);
  requireInt('maxMessageBytes', config.maxMessageBytes, 0, 0x7fffffff);
  requireInt('maxOpenInactiveSegments', config.maxOpenInactiveSegments, 1);
  requireInt('writebackIntervalBytes', config.writebackIntervalBytes, 0);
  requireInt('inlineWriteMaxBytes', config.inlineWriteMaxBytes, 0);
  requireInt('minCompactionLagMs', config.minCompactionLagMs, 0);
  requireInt('maxCompactionLagMs', config.maxCompactionLagMs, 1);
  requireInt('deleteRetentionMs', config.deleteRetentionMs, 0);
  if (!(config.minCleanableDirtyRatio >= 0 && config.minCleanableDirtyRatio <= 1))
    throw new RangeError(`log config minCleanableDirtyRatio must lie in [0, 1], got ${config.minCleanableDirtyRatio}`);
  if (!['delete', 'compact', 'compact,delete'].includes(config.cleanupPolicy))
    throw new RangeError(
      `log config cleanupPolicy must be delete, compact or compact,delete, got ${config.cleanupPolicy}`,
    );
  if (config.messageTimestampType !== 'CreateTime' && config.messageTimestampType !== 'LogAppendTime') {
    throw new RangeError(
      `log config messageTimestampType must be CreateTime or LogAppendTime, got ${String(config.messageTimestampType)}`,
    );
  }
  return Object.freeze(config);
}

function stripUndefined<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}
