import { open, readFile, rename, stat, type FileHandle } from 'node:fs/promises';
import {
  Attribute,
  BATCH_HEADER_SIZE,
  CorruptRecordError,
  batchSize,
  lastOffsetOf,
  readBatchHeader,
  type BatchHeader,
} from '@samsa/protocol';
import { readFully, segmentPaths } from './files.js';
import { IndexCorruptError, OffsetIndex, TimeIndex } from './indexes.js';
import type { ReadBufferPool } from './read-buffers.js';
import { scanBatches } from './scan.js';

/** A reader took a segment the cleaner has since swapped out: it looks the offset up again. */
export class SegmentReplacedError extends Error {
  constructor(baseOffset: number) {
    super(`segment ${baseOffset} was replaced by a cleaned one`);
    this.name = 'SegmentReplacedError';
  }
}

/** Thrown by a read when an index entry does not point at the batch it claims; the caller rebuilds. */
export class IndexMismatchError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'IndexMismatchError';
  }
}

export interface SegmentRead {
  /** Whole batches, ready to send; empty when the upper bound stops the read before the first batch. */
  readonly bytes: Buffer;
  readonly firstOffset: number;
  readonly lastOffset: number;
}

/** The in-memory state an append run changes, so a failed run can be undone. */
export interface SegmentSnapshot {
  readonly size: number;
  readonly nextOffset: number;
  readonly maxTimestamp: number;
  readonly offsetOfMaxTimestamp: number;
  readonly bytesSinceLastIndexEntry: number;
  readonly offsetIndexEntries: number;
  readonly timeIndexEntries: number;
}

export interface RecoveryOutcome {
  /** Bytes of valid, in-order batches from the start of the file. */
  readonly validBytes: number;
  /** Present when the scan stopped before the end of the file. */
  readonly failure?: { readonly position: number; readonly reason: string; readonly crcValid: boolean };
}

/**
 * One segment: a `.log` file of batches plus its two sparse indexes. Holds the in-memory state the
 * hot path needs (size, next offset, index images, timestamps) so that appends and reads never
 * stat or scan. Not safe for concurrent mutation: the owning PartitionLog serializes writers.
 */
export class LogSegment {
  readonly paths: { log: string; index: string; timeIndex: string };
  /** Bytes written and acknowledged by the OS; reads never look past this. */
  size = 0;
  /** Offset after the last batch. Exact for the active segment and for recovered segments. */
  nextOffset: number;
  maxTimestamp = -1;
  offsetOfMaxTimestamp = -1;
  bytesSinceLastIndexEntry = 0;
  createdMs: number;
  lastModifiedMs: number;
  offsetIndex: OffsetIndex | undefined;
  timeIndex: TimeIndex | undefined;
  fh: FileHandle | undefined;
  opening: Promise<FileHandle> | undefined;
  loadingIndexes: Promise<void> | undefined;
  refs = 0;
  deleted = false;
  /** The cleaner swapped this segment out for a cleaned one: a reader finds the new one in the set. */
  replaced = false;
  /**
   * Its log closed its files (close, a crash played by a test, a failed open): nothing opens it again.
   * A roll's flush or a read still under way would otherwise open a file nobody closes any more.
   */
  retired = false;

  constructor(
    readonly dir: string,
    readonly baseOffset: number,
    nowMs: number,
  ) {
    this.paths = segmentPaths(dir, baseOffset);
    this.nextOffset = baseOffset;
    this.createdMs = nowMs;
    this.lastModifiedMs = nowMs;
  }

  /** The timestamp retention compares against: the largest record timestamp, else the file's mtime. */
  get largestTimestamp(): number {
    return this.maxTimestamp >= 0 ? this.maxTimestamp : this.lastModifiedMs;
  }

  async handle(): Promise<FileHandle> {
    if (this.fh) return this.fh;
    // Its name may already belong to another file (a cleaned segment, a new one after truncation).
    if (this.deleted) throw new Error(`segment ${this.paths.log} was deleted`);
    if (this.retired) throw new Error(`segment ${this.paths.log} was closed with its log`);
    // A failed open is not kept: the next call tries again (EMFILE, say, passes).
    this.opening ??= open(this.paths.log, 'r+').then(
      (fh) => {
        this.fh = fh;
        this.opening = undefined;
        return fh;
      },
      (err: unknown) => {
        this.opening = undefined;
        throw err;
      },
    );
    return this.opening;
  }

  /** Closes the file for good: see `retired`. */
  retire(): Promise<void> {
    this.retired = true;
    return this.closeHandle();
  }

  async closeHandle(): Promise<void> {
    const fh = this.fh ?? (this.opening ? await this.opening : undefined);
    this.fh = undefined;
    if (fh) await fh.close();
  }

  /** Drops the in-memory indexes of an inactive segment (they are on disk). */
  unloadIndexes(): void {
    this.offsetIndex = undefined;
    this.timeIndex = undefined;
  }

  resetIndexes(): void {
    this.offsetIndex = new OffsetIndex();
    this.timeIndex = new TimeIndex();
    this.bytesSinceLastIndexEntry = 0;
    this.maxTimestamp = -1;
    this.offsetOfMaxTimestamp = -1;
    this.nextOffset = this.baseOffset;
  }

  snapshot(): SegmentSnapshot {
    return {
      size: this.size,
      nextOffset: this.nextOffset,
      maxTimestamp: this.maxTimestamp,
      offsetOfMaxTimestamp: this.offsetOfMaxTimestamp,
      bytesSinceLastIndexEntry: this.bytesSinceLastIndexEntry,
      offsetIndexEntries: this.offsetIndex!.entries,
      timeIndexEntries: this.timeIndex!.entries,
    };
  }

  restore(snapshot: SegmentSnapshot): void {
    this.size = snapshot.size;
    this.nextOffset = snapshot.nextOffset;
    this.maxTimestamp = snapshot.maxTimestamp;
    this.offsetOfMaxTimestamp = snapshot.offsetOfMaxTimestamp;
    this.bytesSinceLastIndexEntry = snapshot.bytesSinceLastIndexEntry;
    this.offsetIndex!.truncateToEntries(snapshot.offsetIndexEntries);
    this.timeIndex!.truncateToEntries(snapshot.timeIndexEntries);
  }

  /** Takes the indexes and derived state a scratch copy rebuilt from the same file. */
  adoptIndexes(scratch: LogSegment): void {
    this.offsetIndex = scratch.offsetIndex;
    this.timeIndex = scratch.timeIndex;
    this.maxTimestamp = scratch.maxTimestamp;
    this.offsetOfMaxTimestamp = scratch.offsetOfMaxTimestamp;
    this.bytesSinceLastIndexEntry = scratch.bytesSinceLastIndexEntry;
    this.nextOffset = scratch.nextOffset;
  }

  /** Index maintenance for one batch at `position`, like Kafka's LogSegment.append. */
  recordBatch(
    position: number,
    baseOffset: number,
    lastOffset: number,
    maxTimestamp: number,
    size: number,
    indexIntervalBytes: number,
  ): void {
    if (maxTimestamp > this.maxTimestamp) {
      this.maxTimestamp = maxTimestamp;
      this.offsetOfMaxTimestamp = lastOffset;
    }
    if (this.bytesSinceLastIndexEntry > indexIntervalBytes) {
      this.offsetIndex!.append(baseOffset - this.baseOffset, position);
      if (this.maxTimestamp >= 0)
        this.timeIndex!.maybeAppend(this.maxTimestamp, this.offsetOfMaxTimestamp - this.baseOffset);
      this.bytesSinceLastIndexEntry = 0;
    }
    this.bytesSinceLastIndexEntry += size;
  }

  /** On roll and close: the time index ends with the segment's largest timestamp. */
  sealTimeIndex(): void {
    if (this.timeIndex && this.maxTimestamp >= 0)
      this.timeIndex.maybeAppend(this.maxTimestamp, this.offsetOfMaxTimestamp - this.baseOffset);
  }

  /** Writes both index images and fsyncs them, each replacing its file by rename (writeAndSync). */
  async writeIndexes(): Promise<void> {
    await writeAndSync(this.paths.index, this.offsetIndex!.toBuffer());
    await writeAndSync(this.paths.timeIndex, this.timeIndex!.toBuffer());
  }

  /**
   * Loads and checks the index files of a segment whose log was not rescanned. Throws
   * IndexCorruptError (or ENOENT) when they cannot be trusted. `maxRelOffset` bounds entries by the
   * next segment's base offset.
   */
  async loadIndexes(maxRelOffset: number): Promise<void> {
    const offsetIndex = OffsetIndex.fromBuffer(await readFile(this.paths.index), this.size, maxRelOffset);
    const timeIndex = TimeIndex.fromBuffer(await readFile(this.paths.timeIndex), maxRelOffset);
    if (offsetIndex.entries > 0) {
      // The last entry must point at a batch with exactly that base offset.
      const header = await this.headerAt(offsetIndex.lastPosition()).catch(() => undefined);
      if (header?.baseOffset !== this.baseOffset + offsetIndex.lastRelOffset()) {
        throw new IndexCorruptError(`last offset index entry of ${this.paths.index} does not point at its batch`);
      }
    }
    this.offsetIndex = offsetIndex;
    this.timeIndex = timeIndex;
    if (timeIndex.entries > 0 && timeIndex.lastTimestamp() > this.maxTimestamp) {
      this.maxTimestamp = timeIndex.lastTimestamp();
      this.offsetOfMaxTimestamp = this.baseOffset + timeIndex.lastRelOffset();
    }
  }

  /** Reads only the last time index entry: the segment's largest timestamp, for retention. */
  async loadLargestTimestamp(): Promise<void> {
    const info = await stat(this.paths.timeIndex);
    this.lastModifiedMs = (await stat(this.paths.log)).mtimeMs;
    if (info.size < 12 || info.size % 12 !== 0) return;
    const fh = await open(this.paths.timeIndex, 'r');
    try {
      const buf = Buffer.alloc(12);
      await readFully(fh, buf, 0, 12, info.size - 12);
      this.maxTimestamp = Number(buf.readBigInt64BE(0));
      this.offsetOfMaxTimestamp = this.baseOffset + buf.readInt32BE(8);
    } finally {
      await fh.close();
    }
  }

  async headerAt(position: number): Promise<BatchHeader> {
    const fh = await this.handle();
    const buf = Buffer.allocUnsafe(BATCH_HEADER_SIZE);
    const n = await readFully(fh, buf, 0, BATCH_HEADER_SIZE, position);
    return readBatchHeader(buf.subarray(0, n), 0);
  }

  /**
   * Rescans the log from `start` (0 or a trusted index position), rebuilding the in-memory state
   * and indexes, checking framing, CRC (optional) and that offsets increase and stay below
   * `endOffsetExclusive` (the next segment's base). Stops at the first problem.
   */
  async recover(options: {
    verifyCrc: boolean;
    endOffsetExclusive: number;
    indexIntervalBytes: number;
    fileSize: number;
  }): Promise<RecoveryOutcome> {
    this.resetIndexes();
    const fh = await this.handle();
    let expectedMin = this.baseOffset;
    let validBytes = 0;
    for await (const item of scanBatches(fh, 0, options.fileSize, { verifyCrc: options.verifyCrc })) {
      if (item.kind === 'error')
        return { validBytes, failure: { position: item.position, reason: item.reason, crcValid: false } };
      const { header, position } = item;
      if (item.crcValid === false)
        return {
          validBytes,
          failure: { position, reason: `CRC mismatch in batch at offset ${header.baseOffset}`, crcValid: false },
        };
      const last = lastOffsetOf(header);
      if (
        header.baseOffset < expectedMin ||
        last >= options.endOffsetExclusive ||
        last - this.baseOffset > 0x7fffffff
      ) {
        const reason =
          `batch offsets ${header.baseOffset}..${last} out of order (expected ` +
          `from ${expectedMin}, below ${options.endOffsetExclusive})`;
        return { validBytes, failure: { position, reason, crcValid: true } };
      }
      this.recordBatch(
        position,
        header.baseOffset,
        last,
        header.maxTimestamp,
        item.bytes.length,
        options.indexIntervalBytes,
      );
      expectedMin = last + 1;
      this.nextOffset = last + 1;
      validBytes = position + item.bytes.length;
    }
    this.size = validBytes;
    return { validBytes };
  }

  /**
   * On a clean open: trusts the loaded indexes and scans (framing only) from the last index entry to
   * the end to find the next offset and the index interval counter. False when the tail is not
   * whole batches, in which case the caller recovers the segment fully.
   */
  async loadTailState(): Promise<boolean> {
    const start = this.offsetIndex!.lastPosition();
    const fh = await this.handle();
    let expectedMin = this.baseOffset + Math.max(0, this.offsetIndex!.lastRelOffset());
    let end = start;
    for await (const item of scanBatches(fh, start, this.size, { verifyCrc: false })) {
      if (item.kind === 'error' || item.header.baseOffset < expectedMin) return false;
      const last = lastOffsetOf(item.header);
      if (item.header.maxTimestamp > this.maxTimestamp) {
        this.maxTimestamp = item.header.maxTimestamp;
        this.offsetOfMaxTimestamp = last;
      }
      this.nextOffset = last + 1;
      expectedMin = last + 1;
      end = item.position + item.bytes.length;
    }
    this.bytesSinceLastIndexEntry = end - start;
    return end === this.size;
  }

  /**
   * Whole batches starting with the one that holds `fromOffset`, at most `maxBytes` (but always the
   * first batch), all with lastOffset < `upperBoundOffset`. Undefined when the segment holds nothing
   * at or after fromOffset. One positioned read in the common case.
   */
  async read(
    fromOffset: number,
    maxBytes: number,
    upperBoundOffset: number,
    slackBytes: number,
    buffers?: ReadBufferPool,
  ): Promise<SegmentRead | undefined> {
    const fh = await this.handle();
    const committed = this.size;
    const entry = this.offsetIndex!.lookup(fromOffset - this.baseOffset);
    let position = entry.position;
    let expectBase = entry.relOffset >= 0 ? this.baseOffset + entry.relOffset : undefined;
    let want = maxBytes + slackBytes;
    while (position < committed) {
      const length = Math.min(committed - position, Math.max(want, BATCH_HEADER_SIZE));
      const view = buffers ? buffers.acquire(length) : Buffer.allocUnsafeSlow(length);
      const n = await readFully(fh, view, 0, length, position);
      const buf = view.subarray(0, n);
      let at = 0;
      let first: BatchHeader | undefined;
      while (at + BATCH_HEADER_SIZE <= n) {
        const header = expectBase === undefined ? readBatchHeader(buf, at) : this.indexedHeader(buf, at, expectBase);
        expectBase = undefined;
        if (lastOffsetOf(header) >= fromOffset) {
          first = header;
          break;
        }
        at += batchSize(header);
      }
      if (first === undefined) {
        if (at === 0) throw new CorruptRecordError(`incomplete batch at the end of ${this.paths.log}`, position);
        position += at;
        continue;
      }
      const firstSize = batchSize(first);
      if (at + firstSize > n) {
        position += at;
        want = Math.max(firstSize, maxBytes);
        continue;
      }
      if (lastOffsetOf(first) >= upperBoundOffset) return { bytes: Buffer.alloc(0), firstOffset: -1, lastOffset: -1 };
      return collectBatches(buf, at, first, maxBytes, upperBoundOffset);
    }
    return undefined;
  }

  /** The header an index entry points at; anything but a batch with that base offset is a bad index. */
  private indexedHeader(buf: Buffer, at: number, expectedBaseOffset: number): BatchHeader {
    let header: BatchHeader | undefined;
    try {
      header = readBatchHeader(buf, at);
    } catch {
      header = undefined;
    }
    if (header?.baseOffset !== expectedBaseOffset) {
      throw new IndexMismatchError(
        `index of ${this.paths.log} does not point at a batch with offset ${expectedBaseOffset}`,
      );
    }
    return header;
  }

  /** Scan start for `offset` from the index; the batch there is checked against its entry. */
  private async indexedStart(offset: number): Promise<number> {
    const entry = this.offsetIndex!.lookup(offset - this.baseOffset);
    if (entry.relOffset >= 0) {
      const buf = Buffer.allocUnsafe(BATCH_HEADER_SIZE);
      const n = await readFully(await this.handle(), buf, 0, BATCH_HEADER_SIZE, entry.position);
      this.indexedHeader(buf.subarray(0, n), 0, this.baseOffset + entry.relOffset);
    }
    return entry.position;
  }

  /**
   * Where truncation at `offset` cuts: the first batch whose last offset is >= offset (its position
   * and base offset), or the end of the segment.
   */
  async cutFor(offset: number): Promise<{ position: number; baseOffset: number | undefined }> {
    const fh = await this.handle();
    const start = await this.indexedStart(offset);
    for await (const item of scanBatches(fh, start, this.size, { verifyCrc: false })) {
      if (item.kind === 'error') throw new CorruptRecordError(`${item.reason} in ${this.paths.log}`, item.position);
      if (lastOffsetOf(item.header) >= offset) return { position: item.position, baseOffset: item.header.baseOffset };
    }
    return { position: this.size, baseOffset: undefined };
  }

  /**
   * First half of truncation, synchronous: cuts the in-memory state at `position` (a batch
   * boundary) so that concurrent readers never look past it. `provisionalNextOffset` stands until
   * finishTruncation has rescanned the tail.
   */
  cutInMemory(position: number, provisionalNextOffset: number): void {
    const relEnd = provisionalNextOffset - this.baseOffset;
    this.size = position;
    this.nextOffset = position === 0 ? this.baseOffset : provisionalNextOffset;
    this.offsetIndex!.truncate(relEnd, position);
    this.timeIndex!.truncate(relEnd);
    this.maxTimestamp = this.timeIndex!.lastTimestamp();
    this.offsetOfMaxTimestamp = this.timeIndex!.entries > 0 ? this.baseOffset + this.timeIndex!.lastRelOffset() : -1;
  }

  /**
   * Second half: truncates the file, then rescans the few batches after the last surviving index
   * entry for the exact next offset, largest timestamp and index interval counter.
   */
  async finishTruncation(): Promise<void> {
    await (await this.handle()).truncate(this.size);
    if (!(await this.loadTailState())) {
      throw new CorruptRecordError(
        `the batches before the truncation point of ${this.paths.log} are not whole`,
        this.offsetIndex!.lastPosition(),
      );
    }
  }

  /** First record at or after `timestamp` in this segment, via the time index and a scan. */
  async findByTimestamp(
    timestamp: number,
    minOffset: number,
  ): Promise<{ offset: number; timestamp: number } | undefined> {
    const fh = await this.handle();
    const rel = this.timeIndex!.lastRelOffsetBefore(timestamp);
    const startOffset = Math.max(minOffset, rel < 0 ? this.baseOffset : this.baseOffset + rel + 1);
    const start = await this.indexedStart(startOffset);
    for await (const item of scanBatches(fh, start, this.size, { verifyCrc: false })) {
      if (item.kind === 'error') throw new CorruptRecordError(`${item.reason} in ${this.paths.log}`, item.position);
      const { header } = item;
      if (lastOffsetOf(header) < startOffset || header.maxTimestamp < timestamp) continue;
      const found = firstRecordAtOrAfter(item.bytes, header, timestamp, startOffset);
      if (found) return found;
    }
    return undefined;
  }
}

function collectBatches(
  buf: Buffer,
  start: number,
  first: BatchHeader,
  maxBytes: number,
  upperBoundOffset: number,
): SegmentRead {
  let end = start + batchSize(first);
  let lastOffset = lastOffsetOf(first);
  while (end + BATCH_HEADER_SIZE <= buf.length) {
    const header = readBatchHeader(buf, end);
    const size = batchSize(header);
    if (end + size > buf.length || end + size - start > maxBytes || lastOffsetOf(header) >= upperBoundOffset) break;
    end += size;
    lastOffset = lastOffsetOf(header);
  }
  return { bytes: buf.subarray(start, end), firstOffset: first.baseOffset, lastOffset };
}

/** Temp-file names of index writes in flight: two writes of one segment's indexes never share one. */
let indexWrites = 0;

/**
 * Replaces an index file by rename, so a crash leaves the old file or the new one, never an empty
 * or short one: below the recovery point indexes are trusted after a sanity check that an empty
 * file passes (every read of the segment would then scan it from its first byte). The directory is
 * the caller's to fsync; a leftover `.tmp` is deleted at open.
 */
async function writeAndSync(path: string, data: Buffer): Promise<void> {
  const tmp = `${path}.${++indexWrites}.tmp`;
  const fh = await open(tmp, 'w');
  try {
    await fh.writeFile(data);
    await fh.sync();
  } finally {
    await fh.close();
  }
  await rename(tmp, path);
}

/**
 * The exact record for a time lookup when the batch is uncompressed (reads each record's timestamp
 * delta), ignoring records below `minOffset`; otherwise the batch's base offset (or minOffset),
 * which is where a consumer must start anyway. Undefined when no record of an uncompressed batch
 * at or after minOffset qualifies.
 */
function firstRecordAtOrAfter(
  batch: Buffer,
  header: BatchHeader,
  timestamp: number,
  minOffset: number,
): { offset: number; timestamp: number } | undefined {
  const fallback = { offset: Math.max(header.baseOffset, minOffset), timestamp: header.maxTimestamp };
  if (
    (header.attributes & Attribute.compressionMask) !== 0 ||
    (header.attributes & Attribute.timestampTypeLogAppend) !== 0
  )
    return fallback;
  let pos = BATCH_HEADER_SIZE;
  const cursor = { pos };
  for (let i = 0; i < header.recordCount; i++) {
    cursor.pos = pos;
    const length = readVarint(batch, cursor);
    const bodyStart = cursor.pos;
    if (length === undefined || bodyStart + length > batch.length) return fallback;
    cursor.pos += 1; // attributes
    const timestampDelta = readVarint(batch, cursor);
    const offsetDelta = readVarint(batch, cursor);
    if (timestampDelta === undefined || offsetDelta === undefined) return fallback;
    const recordTimestamp = header.baseTimestamp + timestampDelta;
    const offset = header.baseOffset + offsetDelta;
    if (recordTimestamp >= timestamp && offset >= minOffset) return { offset, timestamp: recordTimestamp };
    pos = bodyStart + length;
  }
  return undefined;
}

/** Zigzag varint (up to 8 bytes, enough for any exact JavaScript number); undefined if malformed. */
function readVarint(buf: Buffer, cursor: { pos: number }): number | undefined {
  let value = 0;
  let scale = 1;
  for (let i = 0; i < 8; i++) {
    if (cursor.pos >= buf.length) return undefined;
    const byte = buf[cursor.pos++]!;
    value += (byte & 0x7f) * scale;
    if ((byte & 0x80) === 0) return value % 2 === 0 ? value / 2 : -(value + 1) / 2;
    scale *= 128;
  }
  return undefined;
}
