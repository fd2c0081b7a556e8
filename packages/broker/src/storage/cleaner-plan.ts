// tidy: pure
/**
 * The log cleaner's decisions, with no I/O: which part of a log may be cleaned and whether it is
 * worth it, which log to clean first, how the segments to rewrite are grouped, what the key → offset
 * map holds, and which records and batches a rewrite keeps. The driver (cleaner.ts) reads and writes
 * the files; everything it decides comes from here, so the model tests exercise the same rules.
 *
 * Kafka's cleaner, in short: the log is a clean section (already compacted once), a dirty section
 * after it (from the cleaner checkpoint), and an uncleanable tail (the active segment, anything not
 * yet committed or stable, anything younger than min.compaction.lag.ms). A pass fills the map with
 * the latest offset of every key of the dirty section (as far as the map has room: a dirty section
 * larger than the map is cleaned in passes), then rewrites every segment from the log start up to
 * the map's end, keeping a record only if no later record of its key is in the map.
 *
 * Transactions: batches of aborted transactions never enter the map and are removed; committed
 * transactional records supersede and are superseded like any other; markers follow MarkerTracker.
 */
import { Attribute, BATCH_HEADER_SIZE, type BatchHeader, ByteReader } from '@samsa/protocol';

/** What the planner needs to know of one segment. */
export interface CleanerSegmentInfo {
  readonly baseOffset: number;
  /** One past the last offset the segment covers (the next segment's base; the log end for the last). */
  readonly endOffset: number;
  readonly sizeBytes: number;
  /** Largest record timestamp (the file's mtime when it has none). */
  readonly largestTimestampMs: number;
}

/** The topic settings the cleaner obeys (Kafka's names in camelCase). */
export interface CompactionConfig {
  /** min.cleanable.dirty.ratio: clean once dirty / (clean + dirty) bytes reaches this. */
  readonly minCleanableDirtyRatio: number;
  /** min.compaction.lag.ms: a segment with a record younger than this is not cleaned yet. */
  readonly minCompactionLagMs: number;
  /** max.compaction.lag.ms: a dirty segment older than this is cleaned whatever the ratio. */
  readonly maxCompactionLagMs: number;
  /** delete.retention.ms: how long a tombstone stays readable once its segment is clean. */
  readonly deleteRetentionMs: number;
  /** segment.bytes: the largest a rewritten group of segments may be. */
  readonly segmentBytes: number;
}

export interface CleanableSection {
  /** The cleaner checkpoint clamped to the log: where the dirty section starts. */
  readonly firstDirtyOffset: number;
  /** The first offset the cleaner may not touch: the base of the first uncleanable segment. */
  readonly firstUncleanableOffset: number;
  /** Index (in the segments given) of the segment holding firstDirtyOffset. */
  readonly firstDirtyIndex: number;
  /** Index of the first uncleanable segment: segments before it may be rewritten. */
  readonly uncleanableIndex: number;
  readonly cleanBytes: number;
  readonly dirtyBytes: number;
  /** dirty / (clean + dirty); 0 when both are 0. */
  readonly dirtyRatio: number;
  /** The oldest dirty segment is past max.compaction.lag.ms: clean it whatever the ratio. */
  readonly overdue: boolean;
}

/**
 * The clean and dirty sections of a log. `stableOffset` bounds what may be cleaned: the high
 * watermark (a record above it may still be truncated away, and the older value of its key with
 * it), the first offset of an open transaction, and the recovery point (segments whose roll flush
 * is pending are not touched). Only whole segments below every bound are cleanable; the last
 * segment (the active one) never is.
 */
export function cleanableSection(
  segments: readonly CleanerSegmentInfo[],
  input: { readonly checkpoint: number; readonly logStartOffset: number; readonly stableOffset: number },
  config: Pick<CompactionConfig, 'minCompactionLagMs' | 'maxCompactionLagMs'>,
  nowMs: number,
): CleanableSection {
  let uncleanableIndex = 0;
  while (uncleanableIndex < segments.length - 1) {
    const segment = segments[uncleanableIndex]!;
    if (segment.endOffset > input.stableOffset) break;
    if (config.minCompactionLagMs > 0 && segment.largestTimestampMs > nowMs - config.minCompactionLagMs) break;
    uncleanableIndex++;
  }
  const firstUncleanableOffset = segments[uncleanableIndex]?.baseOffset ?? input.logStartOffset;
  const firstDirtyOffset = Math.min(Math.max(input.checkpoint, input.logStartOffset), firstUncleanableOffset);
  let firstDirtyIndex = 0;
  while (firstDirtyIndex < uncleanableIndex && segments[firstDirtyIndex]!.endOffset <= firstDirtyOffset)
    firstDirtyIndex++;
  let cleanBytes = 0;
  let dirtyBytes = 0;
  for (let i = 0; i < uncleanableIndex; i++) {
    if (i < firstDirtyIndex) cleanBytes += segments[i]!.sizeBytes;
    else dirtyBytes += segments[i]!.sizeBytes;
  }
  const total = cleanBytes + dirtyBytes;
  const firstDirty = segments[firstDirtyIndex];
  const overdue =
    dirtyBytes > 0 && firstDirty !== undefined && firstDirty.largestTimestampMs < nowMs - config.maxCompactionLagMs;
  return {
    firstDirtyOffset,
    firstUncleanableOffset,
    firstDirtyIndex,
    uncleanableIndex,
    cleanBytes,
    dirtyBytes,
    dirtyRatio: total === 0 ? 0 : dirtyBytes / total,
    overdue,
  };
}

/** Whether a log's section needs cleaning now: enough dirty bytes, or an overdue segment. */
export function needsCleaning(section: CleanableSection, minCleanableDirtyRatio: number): boolean {
  if (section.dirtyBytes === 0) return false;
  return section.overdue || section.dirtyRatio >= minCleanableDirtyRatio;
}

/**
 * Which of the candidates to clean first, as Kafka's cleaner manager picks: overdue logs first, then
 * the highest dirty ratio. Undefined when none needs cleaning.
 */
export function chooseLogToClean<T extends { readonly section: CleanableSection; readonly minRatio: number }>(
  candidates: readonly T[],
): T | undefined {
  let best: T | undefined;
  for (const candidate of candidates) {
    if (!needsCleaning(candidate.section, candidate.minRatio)) continue;
    if (
      best === undefined ||
      (candidate.section.overdue && !best.section.overdue) ||
      (candidate.section.overdue === best.section.overdue && candidate.section.dirtyRatio > best.section.dirtyRatio)
    )
      best = candidate;
  }
  return best;
}

/**
 * Tombstones in batches whose largest timestamp is at or below this may be dropped: the newest
 * timestamp this pass cleans (the clean section's, or the map's) minus delete.retention.ms. So a
 * tombstone goes once records written delete.retention.ms after it are cleaned, and a consumer that
 * reads from the start within delete.retention.ms sees it. Kafka's horizon is the clean section's
 * newest segment; here it is per batch and includes the map, because cleaning merges segments (a
 * tombstone's segment with newer ones, and the whole clean section into the segment the next dirty
 * section starts in), which kept tombstones forever in a first version (and in Kafka before KIP-534).
 */
export function deleteHorizonMs(
  segments: readonly CleanerSegmentInfo[],
  section: CleanableSection,
  mapNewestTimestampMs: number,
  deleteRetentionMs: number,
): number {
  const lastClean = segments[section.firstDirtyIndex - 1];
  const newest = Math.max(lastClean?.largestTimestampMs ?? Number.NEGATIVE_INFINITY, mapNewestTimestampMs);
  return newest - deleteRetentionMs;
}

/**
 * Groups consecutive segments to rewrite into one file each, as Kafka does, so that cleaning also
 * merges segments that became small: a group's input fits `segmentBytes`, and its offsets fit the
 * int32 relative offsets of the indexes.
 */
export function groupSegments<T extends CleanerSegmentInfo>(segments: readonly T[], segmentBytes: number): T[][] {
  const groups: T[][] = [];
  let group: T[] = [];
  let groupBytes = 0;
  for (const segment of segments) {
    const first = group[0];
    const fits =
      first !== undefined &&
      groupBytes + segment.sizeBytes <= segmentBytes &&
      segment.endOffset - 1 - first.baseOffset <= 0x7fffffff;
    if (!fits && group.length > 0) {
      groups.push(group);
      group = [];
      groupBytes = 0;
    }
    group.push(segment);
    groupBytes += segment.sizeBytes;
  }
  if (group.length > 0) groups.push(group);
  return groups;
}

/**
 * Bytes an entry of the offset map is charged: the key's bytes plus what a JavaScript Map entry
 * with a one-byte string key and a number costs (measured about 60-70 bytes on V8). Kafka's map
 * stores a 16-byte hash per key instead; keeping the key itself means no collisions to reason about.
 */
export const OFFSET_MAP_ENTRY_OVERHEAD_BYTES = 64;

/**
 * Key → latest offset over a dirty section, bounded by `capacityBytes` (a share of
 * log.cleaner.dedupe.buffer.size). A key seen again only moves its offset.
 */
export class OffsetMap {
  private readonly offsets = new Map<string, number>();
  private used = 0;
  /** One past the last offset put: records at or after it were not looked at. */
  private end = -1;

  constructor(readonly capacityBytes: number) {}

  get size(): number {
    return this.offsets.size;
  }

  get usedBytes(): number {
    return this.used;
  }

  /** One past the last offset put, or -1 when empty. */
  get endOffset(): number {
    return this.end;
  }

  /**
   * Records `offset` as the latest of `key`. False when a new key does not fit (the map is full and
   * nothing changed); the first key always fits, so every pass makes progress.
   */
  put(key: Buffer, offset: number): boolean {
    const id = key.toString('latin1');
    if (!this.offsets.has(id)) {
      const cost = key.length + OFFSET_MAP_ENTRY_OVERHEAD_BYTES;
      if (this.offsets.size > 0 && this.used + cost > this.capacityBytes) return false;
      this.used += cost;
    }
    this.offsets.set(id, offset);
    this.end = offset + 1;
    return true;
  }

  /** Marks offsets up to `offset` (exclusive) as looked at: records without a key, control batches. */
  advanceTo(offset: number): void {
    if (offset > this.end) this.end = offset;
  }

  latest(key: Buffer): number | undefined {
    return this.offsets.get(key.toString('latin1'));
  }

  clear(): void {
    this.offsets.clear();
    this.used = 0;
    this.end = -1;
  }
}

/** One record of a batch as the cleaner sees it: where its bytes are, its key, and whether it is a tombstone. */
export interface CleanerRecord {
  readonly offset: number;
  /** Null for a record without a key. A view into the records' buffer. */
  readonly key: Buffer | null;
  readonly tombstone: boolean;
  /** The record's bytes (length varint included) in the records' buffer: copied as they are when kept. */
  readonly start: number;
  readonly end: number;
}

/**
 * The records of a batch, from its (decompressed) record bytes. Only the fields the cleaner needs
 * are read; the bytes of a kept record are copied unchanged, so offset and timestamp deltas (relative
 * to the batch's base offset and base timestamp, which a rewrite keeps) stay right.
 */
export function recordsOf(plain: Buffer, header: Pick<BatchHeader, 'baseOffset' | 'recordCount'>): CleanerRecord[] {
  const reader = new ByteReader(plain, 0, plain.length);
  const records: CleanerRecord[] = [];
  for (let i = 0; i < header.recordCount; i++) {
    const start = reader.pos;
    const bodySize = reader.readVarint('record length');
    const end = reader.pos + bodySize;
    if (bodySize < 0 || end > plain.length) throw reader.corrupt(`record length ${bodySize} does not fit`, start);
    reader.readInt8('record attributes');
    reader.readVarlong('timestamp delta');
    const offsetDelta = reader.readVarint('offset delta');
    const keyLength = reader.readVarint('key length');
    const key = keyLength < 0 ? null : reader.readBytes(keyLength, 'key');
    const valueLength = reader.readVarint('value length');
    records.push({ offset: header.baseOffset + offsetDelta, key, tombstone: valueLength < 0, start, end });
    reader.pos = end;
  }
  if (reader.pos !== plain.length) throw reader.corrupt(`${plain.length - reader.pos} bytes follow the last record`);
  return records;
}

/** A control batch (a transaction marker): its fate is the marker rules', not the map's. */
export function isControl(header: Pick<BatchHeader, 'attributes'>): boolean {
  return (header.attributes & Attribute.control) !== 0;
}

/** Transactional data (not a marker). */
export function isTransactionalData(header: Pick<BatchHeader, 'attributes'>): boolean {
  return (header.attributes & (Attribute.control | Attribute.transactional)) === Attribute.transactional;
}

/** An aborted transaction, from the aborted-transaction index: its producer's batches from first to last offset. */
export interface AbortedRange {
  readonly producerId: number;
  readonly firstOffset: number;
  /** The abort marker's offset. */
  readonly lastOffset: number;
}

/**
 * Which transactional batches belong to aborted transactions, from the index entries overlapping
 * the cleaned range. Every transaction with data there is decided (the section ends before the
 * first open transaction), so a transactional batch not covered here was committed, even when its
 * marker lies beyond the range. A producer's batches between an aborted transaction's first offset
 * and its marker are that transaction's (a producer has one transaction open at a time).
 */
export class AbortedTransactions {
  private readonly byProducer = new Map<number, AbortedRange[]>();

  constructor(ranges: readonly AbortedRange[]) {
    for (const range of ranges) {
      const list = this.byProducer.get(range.producerId);
      if (list === undefined) this.byProducer.set(range.producerId, [range]);
      else list.push(range);
    }
  }

  /** Whether `header` is transactional data of an aborted transaction. */
  contains(header: Pick<BatchHeader, 'attributes' | 'producerId' | 'baseOffset'>): boolean {
    if (!isTransactionalData(header)) return false;
    const ranges = this.byProducer.get(header.producerId);
    return ranges?.some((r) => r.firstOffset <= header.baseOffset && header.baseOffset < r.lastOffset) ?? false;
  }
}

/** The control record types of transaction markers (Kafka's ControlRecordType). */
export const MarkerType = Object.freeze({ abort: 0, commit: 1 });

/**
 * The transaction markers of one rewrite pass, which sees every batch from the log start on, in
 * offset order (Kafka's CleanedTransactionMetadata). A marker is removed only when no batch of its
 * transaction was in the log when the pass began (its data went in an earlier pass: Kafka's two
 * passes), it is past the delete horizon (like a tombstone: a consumer less than
 * delete.retention.ms behind still reads it), and it is not the last thing its producer wrote (the
 * epoch it bumped must survive a rebuild of producer state). While any batch of its transaction
 * remains, even one left empty, the marker stays: producer state rebuilt from the log would see the
 * transaction open forever without it (the last stable offset stuck), and a read_committed consumer
 * that fetched the aborted data before it went needs the marker to stop skipping that producer.
 */
export class MarkerTracker {
  /** Producers with a transactional batch seen since their last marker, in this pass. */
  private readonly open = new Set<number>();

  /** Notes a data batch (call it for every batch that is not a marker, kept or not). */
  onData(header: Pick<BatchHeader, 'attributes' | 'producerId'>): void {
    if (isTransactionalData(header) && header.producerId >= 0) this.open.add(header.producerId);
  }

  /** Whether a marker goes; its transaction ends here either way. */
  markerRemovable(
    header: Pick<BatchHeader, 'producerId'>,
    marker: { readonly type: number | undefined; readonly pastHorizon: boolean; readonly lastOfProducer: boolean },
  ): boolean {
    const hadData = this.open.delete(header.producerId);
    if (marker.type !== MarkerType.abort && marker.type !== MarkerType.commit) return false;
    return !hadData && marker.pastHorizon && !marker.lastOfProducer;
  }

  clear(): void {
    this.open.clear();
  }
}

export interface RetainContext {
  readonly map: OffsetMap;
  /** Tombstones in this segment are past the delete horizon. */
  readonly tombstonesExpired: boolean;
}

/**
 * Whether a record survives the rewrite. A record without a key is dropped (Kafka's cleaner does
 * the same; a compacted topic's records need keys). A record is superseded when the map holds a
 * later offset for its key. A tombstone past the delete horizon goes too, but only if the map covers
 * it: then every older value of its key is removed in this same pass, so none can come back.
 */
export function retainRecord(record: CleanerRecord, context: RetainContext): boolean {
  if (record.key === null) return false;
  const latest = context.map.latest(record.key);
  if (latest !== undefined && record.offset < latest) return false;
  if (record.tombstone && context.tombstonesExpired && record.offset < context.map.endOffset) return false;
  return true;
}

/** What the rewrite does with one batch. */
export type BatchVerdict =
  | { readonly kind: 'keep' }
  | { readonly kind: 'drop' }
  /** Records left (maybe none: a producer's last batch stays as an empty batch, as Kafka keeps it). */
  | { readonly kind: 'rewrite'; readonly records: readonly CleanerRecord[] };

/**
 * A batch whose records all survive is kept byte for byte; one with none left is dropped, unless it
 * is the last batch of a producer the log still knows (its sequence numbers are what the producer
 * state is rebuilt from, so its header stays, empty); otherwise it is rewritten with the survivors.
 */
export function batchVerdict(
  records: readonly CleanerRecord[],
  kept: readonly CleanerRecord[],
  lastOfProducer: boolean,
): BatchVerdict {
  if (kept.length === records.length) return { kind: 'keep' };
  if (kept.length === 0 && !lastOfProducer) return { kind: 'drop' };
  return { kind: 'rewrite', records: kept };
}

/** Size of a rewritten batch: header plus records (before compression). */
export function plainBatchSize(records: readonly CleanerRecord[]): number {
  return BATCH_HEADER_SIZE + records.reduce((n, r) => n + r.end - r.start, 0);
}
