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
 * Bytes an entry of the offset map is charged: the key's bytes plus its slot in the hash table and
 * the entry's hash, key place and offset (about 30 bytes), with room for the tables' growth. Kafka's
 * map stores a 16-byte hash per key instead; keeping the key itself means no collisions to reason about.
 */
export const OFFSET_MAP_ENTRY_OVERHEAD_BYTES = 64;

/**
 * Key → latest offset over a dirty section, bounded by `capacityBytes` (a share of
 * log.cleaner.dedupe.buffer.size). A key seen again only moves its offset.
 *
 * An open-addressing hash table over typed arrays, with the keys' bytes copied into one arena: a
 * lookup hashes the key's bytes where they lie and allocates nothing. (A JavaScript Map keyed by
 * latin1 strings made a string per record looked up, and its hashing and the garbage were most of
 * the cleaner's CPU time: scripts/bench-cleaner.mjs.)
 */
export class OffsetMap {
  /** Entry index + 1 per slot, 0 for a free slot; a power of two, at most half full. */
  private slots = new Int32Array(1024);
  private hashes = new Int32Array(512);
  private keyStarts = new Int32Array(512);
  private keyLengths = new Int32Array(512);
  private offsets = new Float64Array(512);
  private arena = Buffer.allocUnsafe(16 * 1024);
  private arenaUsed = 0;
  private count = 0;
  private used = 0;
  /** One past the last offset put: records at or after it were not looked at. */
  private end = -1;

  constructor(readonly capacityBytes: number) {}

  get size(): number {
    return this.count;
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
    return this.putRange(key, 0, key.length, offset);
  }

  /** Marks offsets up to `offset` (exclusive) as looked at: records without a key, control batches. */
  advanceTo(offset: number): void {
    if (offset > this.end) this.end = offset;
  }

  /** put() of the key at `bytes[start, end)`, without a view of it. */
  putRange(bytes: Buffer, start: number, end: number, offset: number): boolean {
    const hash = hashBytes(bytes, start, end);
    const found = this.find(bytes, start, end - start, hash);
    if (found >= 0) {
      this.offsets[found] = offset;
    } else {
      const cost = end - start + OFFSET_MAP_ENTRY_OVERHEAD_BYTES;
      if (this.count > 0 && this.used + cost > this.capacityBytes) return false;
      this.used += cost;
      this.insert(-found - 1, bytes, start, end, hash, offset);
    }
    this.end = offset + 1;
    return true;
  }

  latest(key: Buffer): number | undefined {
    const found = this.find(key, 0, key.length, hashBytes(key, 0, key.length));
    return found >= 0 ? this.offsets[found] : undefined;
  }

  clear(): void {
    this.slots.fill(0);
    this.count = 0;
    this.arenaUsed = 0;
    this.used = 0;
    this.end = -1;
  }

  /** The entry of the key at `bytes[start, start + length)`, or -(its free slot + 1). */
  private find(bytes: Buffer, start: number, length: number, hash: number): number {
    const mask = this.slots.length - 1;
    for (let slot = hash & mask; ; slot = (slot + 1) & mask) {
      const entry = this.slots[slot]! - 1;
      if (entry < 0) return -slot - 1;
      if (this.hashes[entry] !== hash || this.keyLengths[entry] !== length) continue;
      const at = this.keyStarts[entry]!;
      let same = true;
      for (let i = 0; i < length && same; i++) same = this.arena[at + i] === bytes[start + i];
      if (same) return entry;
    }
  }

  private insert(slot: number, bytes: Buffer, start: number, end: number, hash: number, offset: number): void {
    const entry = this.count;
    if (entry === this.offsets.length) this.growEntries();
    const length = end - start;
    if (this.arenaUsed + length > this.arena.length) {
      const arena = Buffer.allocUnsafe(Math.max(this.arena.length * 2, this.arenaUsed + length));
      this.arena.copy(arena, 0, 0, this.arenaUsed);
      this.arena = arena;
    }
    bytes.copy(this.arena, this.arenaUsed, start, end);
    this.hashes[entry] = hash;
    this.keyStarts[entry] = this.arenaUsed;
    this.keyLengths[entry] = length;
    this.offsets[entry] = offset;
    this.arenaUsed += length;
    this.count++;
    this.slots[slot] = entry + 1;
    if (this.count * 2 > this.slots.length) this.rehash(this.slots.length * 2);
  }

  private growEntries(): void {
    const grow = <T extends Int32Array | Float64Array>(old: T, make: (n: number) => T): T => {
      const next = make(old.length * 2);
      next.set(old);
      return next;
    };
    this.hashes = grow(this.hashes, (n) => new Int32Array(n));
    this.keyStarts = grow(this.keyStarts, (n) => new Int32Array(n));
    this.keyLengths = grow(this.keyLengths, (n) => new Int32Array(n));
    this.offsets = grow(this.offsets, (n) => new Float64Array(n));
  }

  private rehash(slotCount: number): void {
    const slots = new Int32Array(slotCount);
    const mask = slotCount - 1;
    for (let entry = 0; entry < this.count; entry++) {
      let slot = this.hashes[entry]! & mask;
      while (slots[slot] !== 0) slot = (slot + 1) & mask;
      slots[slot] = entry + 1;
    }
    this.slots = slots;
  }
}

/** FNV-1a over `bytes[start, end)`, as a signed 32-bit integer. */
function hashBytes(bytes: Buffer, start: number, end: number): number {
  let hash = 0x811c9dc5 | 0;
  for (let i = start; i < end; i++) hash = Math.imul(hash ^ bytes[i]!, 0x01000193);
  return hash;
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

/**
 * The map phase's view of a batch's records, as recordsOf reads them but without an object or a key
 * view per record: calls `visit` with each record's offset and its key's place in `plain` (keyStart
 * -1 for a record without a key) until it returns false. False when `visit` stopped it. The map
 * phase reads every record of the dirty section, and those allocations were most of its garbage.
 */
export function visitRecordKeys(
  plain: Buffer,
  header: Pick<BatchHeader, 'baseOffset' | 'recordCount'>,
  visit: (offset: number, keyStart: number, keyEnd: number) => boolean,
): boolean {
  const reader = new ByteReader(plain, 0, plain.length);
  for (let i = 0; i < header.recordCount; i++) {
    const start = reader.pos;
    const bodySize = reader.readVarint('record length');
    const end = reader.pos + bodySize;
    if (bodySize < 0 || end > plain.length) throw reader.corrupt(`record length ${bodySize} does not fit`, start);
    reader.readInt8('record attributes');
    reader.readVarlong('timestamp delta');
    const offsetDelta = reader.readVarint('offset delta');
    const keyLength = reader.readVarint('key length');
    if (keyLength >= 0 && reader.pos + keyLength > plain.length) {
      throw reader.corrupt(`key needs ${keyLength} bytes, ${plain.length - reader.pos} left`, reader.pos);
    }
    const keyStart = keyLength < 0 ? -1 : reader.pos;
    if (!visit(header.baseOffset + offsetDelta, keyStart, keyStart + keyLength)) return false;
    reader.pos = end;
  }
  if (reader.pos !== plain.length) throw reader.corrupt(`${plain.length - reader.pos} bytes follow the last record`);
  return true;
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
