import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { CorruptRecordError, SamsaError, lastOffsetOf, type BatchSpan } from '@samsa/protocol';
import { OffsetOutOfRangeError } from './errors.js';
import { LOG_START_OFFSET_FILE, fsyncDir, unlinkIfExists, writeFileAtomic } from './files.js';
import { IndexCorruptError, OFFSET_INDEX_ENTRY_SIZE } from './indexes.js';
import { type LogContext, noop } from './log-context.js';
import { IndexMismatchError, LogSegment, SegmentReplacedError, type RecoveryOutcome } from './segment.js';

/**
 * The segments of one log, oldest first (the last is the active one), and the log start offset:
 * which offsets exist. Also which inactive segments keep a file handle and loaded indexes (an LRU of
 * `maxOpenInactiveSegments`), and the part of rolling that is about the set: when to roll
 * (shouldRoll) and the new active segment (roll). The old segment's flush is Durability's.
 *
 * Only the append chain changes the set (see append-chain.ts); readers take a segment with
 * withSegment, which holds a reference so that a segment removed meanwhile closes its file only once
 * its last reader is done.
 */
export class SegmentSet {
  private segments: LogSegment[] = [];
  private logStart = 0;
  /** The log start a crash would leave (see savedStartOffset). */
  private savedStart = 0;
  /** Inactive segments holding a file handle and indexes, least recently used first. */
  private readonly openInactive = new Set<LogSegment>();

  constructor(
    private readonly ctx: LogContext,
    /** Runs `op` on the append chain: how the active segment's indexes get rebuilt between appends. */
    private readonly onChain: (op: () => Promise<void>) => Promise<void>,
  ) {}

  get all(): readonly LogSegment[] {
    return this.segments;
  }

  get active(): LogSegment {
    return this.segments[this.segments.length - 1]!;
  }

  get startOffset(): number {
    return this.logStart;
  }

  /**
   * The log start offset that holds now and after a crash: the lower of the start in memory and
   * the one on disk (the log-start-offset file, or the first segment file left). DeleteRecords and
   * retention move the start in memory first and save it beside the chain; until then a crash
   * brings the records between the two back. A follower states this one in its fetches, so a
   * leader answers DeleteRecords only once its followers' deletions survive a crash.
   */
  get savedStartOffset(): number {
    return Math.min(this.logStart, this.savedStart);
  }

  /** Offset the next append gets: one past the last written batch. */
  get endOffset(): number {
    return this.active.nextOffset;
  }

  get sizeInBytes(): number {
    return this.segments.reduce((sum, s) => sum + s.size, 0);
  }

  /** Index in `all` of the segment that holds `offset` (the first one when it is below every base). */
  indexFor(offset: number): number {
    let lo = 0;
    let hi = this.segments.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >>> 1;
      if (this.segments[mid]!.baseOffset <= offset) lo = mid;
      else hi = mid - 1;
    }
    return lo;
  }

  // ---------------------------------------------------------------- changes (on the append chain)

  /** The set found on disk at open, or a fresh one; every earlier segment is forgotten, not closed. */
  replaceAll(segments: LogSegment[], logStart: number): void {
    this.segments = segments;
    this.logStart = logStart;
    this.savedStart = logStart;
  }

  /** Moves the log start offset in memory; see saveStartOffset for the durable kind. */
  setStartOffset(offset: number): void {
    this.logStart = offset;
  }

  /**
   * The start `offset` is on disk now (found there at open, its file written, or the segment files
   * below it deleted): savedStartOffset follows. Saves run in the order their moves were made.
   */
  startOffsetSaved(offset: number): void {
    this.savedStart = offset;
  }

  /** Writes `offset` as the log-start-offset file (not the start in memory, which may be ahead). */
  async writeStartOffset(offset: number): Promise<void> {
    await writeFileAtomic(join(this.ctx.dir, LOG_START_OFFSET_FILE), `${offset}\n`, this.ctx.dir);
    this.savedStart = offset;
  }

  /** Moves the log start offset and saves it, so that it survives restarts. */
  async saveStartOffset(offset: number): Promise<void> {
    this.logStart = offset;
    await this.writeStartOffset(offset);
  }

  /** Takes the oldest `count` segments out of the set (memory only); delete their files next. */
  removeOldest(count: number): LogSegment[] {
    const doomed = this.segments.slice(0, count);
    this.segments = this.segments.slice(count);
    return doomed;
  }

  /** Takes every segment after `index` out of the set (memory only); delete their files next. */
  removeAfter(index: number): LogSegment[] {
    const doomed = this.segments.slice(index + 1);
    this.segments = this.segments.slice(0, index + 1);
    this.openInactive.delete(this.segments[index]!);
    return doomed;
  }

  /**
   * The cleaner's swap (memory only): `fresh` takes the place of `count` segments from `index`, which
   * are marked deleted and replaced. Their files are the cleaner's to rename and delete.
   */
  replaceRange(index: number, count: number, fresh: LogSegment): void {
    const olds = this.segments.slice(index, index + count);
    this.segments = [...this.segments.slice(0, index), fresh, ...this.segments.slice(index + count)];
    this.markDeleted(olds);
    for (const old of olds) old.replaced = true;
  }

  /**
   * Marks segments taken out of the set as deleted: a reader still holding one ends with
   * OffsetOutOfRange, and its file closes when the last one lets go.
   */
  markDeleted(doomed: readonly LogSegment[]): void {
    for (const segment of doomed) {
      segment.deleted = true;
      this.openInactive.delete(segment);
    }
  }

  /**
   * Marks the segments deleted, closes the files nobody reads and unlinks them in the order given, then
   * fsyncs the directory. Callers give them from the edge of the log inwards (retention oldest first,
   * truncation newest first), so a crash part way leaves a log without a hole.
   */
  async deleteFiles(doomed: readonly LogSegment[]): Promise<void> {
    this.markDeleted(doomed);
    for (const segment of doomed) {
      if (segment.refs === 0) await segment.closeHandle();
      for (const path of [segment.paths.log, segment.paths.index, segment.paths.timeIndex]) await unlinkIfExists(path);
    }
    await fsyncDir(this.ctx.dir);
  }

  /**
   * Closes every file for good (close, abandon, or a failed open); the set itself stays as it is. Work
   * beside the chain that is still under way (a roll's flush after a log went offline) cannot reopen one.
   */
  async closeAll(): Promise<void> {
    for (const segment of this.segments) await segment.retire().catch(noop);
    this.openInactive.clear();
  }

  // ---------------------------------------------------------------- rolling

  /**
   * Whether `append`, written at `writePos` of the active segment and (a leader's) starting at
   * `nextOffset`, must go to a new segment: segment.bytes, segment.ms, segment.index.bytes, or the
   * int32 relative offsets of the indexes. Never rolls an empty segment.
   */
  shouldRoll(
    writePos: number,
    append: { readonly follower: boolean; readonly bytes: Buffer; readonly spans: readonly BatchSpan[] },
    nextOffset: number,
    now: number,
  ): boolean {
    const segment = this.active;
    const config = this.ctx.config;
    if (writePos === 0) return false;
    const lastOffset = append.follower
      ? lastOffsetOf(append.spans[append.spans.length - 1]!.header)
      : nextOffset + countOffsets(append.spans) - 1;
    return (
      writePos + append.bytes.length > config.segmentBytes ||
      now - segment.createdMs >= config.segmentMs ||
      (segment.offsetIndex!.entries + append.spans.length) * OFFSET_INDEX_ENTRY_SIZE > config.segmentIndexBytes ||
      lastOffset - segment.baseOffset > 0x7fffffff
    );
  }

  /**
   * The set's half of a roll: seals the active segment's time index and makes an empty segment at
   * `baseOffset` the active one. Returns the old one, whose flush is the caller's (Durability).
   */
  async roll(baseOffset: number): Promise<LogSegment> {
    const old = this.active;
    old.sealTimeIndex();
    this.segments.push(await this.openNewSegment(baseOffset));
    return old;
  }

  /** An empty segment at `baseOffset`, its files written and fsynced with the directory. */
  async createSegment(baseOffset: number): Promise<LogSegment> {
    const segment = await this.openNewSegment(baseOffset);
    try {
      await segment.writeIndexes();
      await fsyncDir(this.ctx.dir);
    } catch (err) {
      // Not in the set yet, so closeAll() would not see it: a full disk here left the handle to the GC.
      await segment.closeHandle().catch(noop);
      throw err;
    }
    return segment;
  }

  /** An empty segment at `baseOffset` with its log file open; nothing fsynced, no index files yet. */
  private async openNewSegment(baseOffset: number): Promise<LogSegment> {
    const segment = new LogSegment(this.ctx.dir, baseOffset, this.ctx.clock());
    segment.resetIndexes();
    segment.fh = await open(segment.paths.log, 'w+');
    return segment;
  }

  // ---------------------------------------------------------------- using a segment

  /**
   * Runs `fn` with the segment's file open and indexes loaded. An index that turns out not to match
   * the log is rebuilt once; corrupt bytes inside the log take the partition offline.
   */
  async withSegment<T>(segment: LogSegment, fn: () => Promise<T>): Promise<T> {
    if (segment.replaced) throw new SegmentReplacedError(segment.baseOffset);
    segment.refs++;
    try {
      for (let attempt = 0; ; attempt++) {
        try {
          await this.ensureIndexes(segment);
          return await fn();
        } catch (err) {
          if (err instanceof IndexMismatchError && attempt === 0) {
            this.ctx.logger.warn(
              { file: segment.paths.index, reason: err.message },
              'offset index does not match the log, rebuilding',
            );
            if (segment === this.active) await this.onChain(() => this.rebuildIndexes(segment));
            else await this.rebuildIndexes(segment);
            continue;
          }
          if (err instanceof SamsaError && !(err instanceof CorruptRecordError)) throw err;
          if (segment.replaced) throw new SegmentReplacedError(segment.baseOffset);
          // Retention removed the segment under a concurrent read: the offset is simply gone now.
          if (segment.deleted) throw new OffsetOutOfRangeError(segment.baseOffset, this.logStart, this.endOffset);
          const position = err instanceof CorruptRecordError ? err.position : undefined;
          throw this.ctx.goOffline(err, segment.paths.log, position);
        }
      }
    } finally {
      this.release(segment);
    }
  }

  /** Drops a reference taken while using a segment: the last user of a deleted segment closes it. */
  release(segment: LogSegment): void {
    segment.refs--;
    if (segment.deleted && segment.refs === 0) void segment.closeHandle().catch(noop);
    else this.touchInactive(segment);
  }

  async ensureIndexes(segment: LogSegment): Promise<void> {
    if (segment.offsetIndex) return;
    segment.loadingIndexes ??= (async () => {
      try {
        await segment.loadIndexes(this.maxRelOffsetOf(segment));
      } catch (err) {
        if (!(err instanceof IndexCorruptError) && (err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
        this.ctx.logger.warn(
          { file: segment.paths.index, reason: (err as Error).message },
          'index files missing or inconsistent, rebuilding from the log',
        );
        await this.rebuildIndexes(segment);
      }
    })().finally(() => {
      segment.loadingIndexes = undefined;
    });
    await segment.loadingIndexes;
  }

  private maxRelOffsetOf(segment: LogSegment): number {
    const next = this.segments[this.segments.indexOf(segment) + 1];
    return next ? next.baseOffset - segment.baseOffset - 1 : 0x7fffffff;
  }

  /**
   * Rebuilds a segment's indexes from a full validating scan of its committed bytes, done on a
   * scratch copy of the segment and swapped in at the end, so readers never see half-built state.
   * The active segment's rebuild runs on the chain, between appends. Corruption goes offline.
   */
  async rebuildIndexes(segment: LogSegment): Promise<void> {
    const next = this.segments[this.segments.indexOf(segment) + 1];
    const scratch = new LogSegment(this.ctx.dir, segment.baseOffset, this.ctx.clock());
    let outcome: RecoveryOutcome;
    try {
      outcome = await scratch.recover({
        verifyCrc: true,
        endOffsetExclusive: next?.baseOffset ?? Number.MAX_SAFE_INTEGER,
        indexIntervalBytes: this.ctx.config.indexIntervalBytes,
        fileSize: segment.size,
      });
    } finally {
      await scratch.closeHandle();
    }
    if (outcome.failure || outcome.validBytes !== segment.size) {
      throw this.ctx.goOffline(
        new Error(outcome.failure?.reason ?? 'segment is shorter than expected'),
        segment.paths.log,
        outcome.failure?.position ?? outcome.validBytes,
      );
    }
    segment.adoptIndexes(scratch);
    if (segment !== this.active) segment.sealTimeIndex();
    await segment.writeIndexes();
  }

  /** Keeps at most maxOpenInactiveSegments inactive segments open; the rest give back fd and memory. */
  private touchInactive(segment: LogSegment): void {
    if (segment.deleted || segment === this.active) return;
    this.openInactive.delete(segment);
    this.openInactive.add(segment);
    for (const candidate of this.openInactive) {
      if (this.openInactive.size <= this.ctx.config.maxOpenInactiveSegments) break;
      if (candidate.refs > 0 || candidate.loadingIndexes) continue;
      this.openInactive.delete(candidate);
      candidate.unloadIndexes();
      void candidate.closeHandle().catch(noop);
    }
  }
}

function countOffsets(spans: readonly BatchSpan[]): number {
  return spans.reduce((n, s) => n + s.header.lastOffsetDelta + 1, 0);
}
