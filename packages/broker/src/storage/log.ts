import { mkdir, open, readdir, readFile, stat, unlink, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { pino, type Logger } from 'pino';
import {
  Attribute,
  BatchField,
  CorruptRecordError,
  ErrorCodes,
  SamsaError,
  batchSize,
  computeBatchCrc,
  lastOffsetOf,
  splitBatches,
  stampBatch,
  verifyBatchCrc,
  writeBatchCrc,
  type BatchSpan,
} from '@samsa/protocol';
import { resolveLogConfig, UNLIMITED, type LogConfig } from './config.js';
import {
  KafkaStorageError,
  OffsetOutOfRangeError,
  RecordListTooLargeError,
  RecordTooLargeError,
  UnexpectedAppendOffsetError,
} from './errors.js';
import {
  CLEAN_SHUTDOWN_FILE,
  INDEX_SUFFIX,
  LOG_START_OFFSET_FILE,
  RECOVERY_POINT_FILE,
  TIME_INDEX_SUFFIX,
  fsyncDir,
  parseSegmentFileName,
  unlinkIfExists,
  writeFileAtomic,
  writeFully,
} from './files.js';
import { IndexCorruptError, OFFSET_INDEX_ENTRY_SIZE } from './indexes.js';
import type { ReadBufferPool } from './read-buffers.js';
import { findValidBatchAfter } from './scan.js';
import { IndexMismatchError, LogSegment, type RecoveryOutcome, type SegmentSnapshot } from './segment.js';
import { TailBudget, type TailToken } from './tail-budget.js';
import { WritebackSlots } from './writeback-slots.js';

export interface PartitionLogOptions {
  /** The partition directory (`<topic>-<partition>`); created if missing. */
  readonly dir: string;
  readonly config?: Partial<LogConfig>;
  /** pino logger with partition context; silent when omitted. */
  readonly logger?: Logger;
  /** Injected clock (ms since the epoch) for rolls, retention, flush.ms and LogAppendTime. */
  readonly clock?: () => number;
  /** Base offset of the first segment of a brand-new log. */
  readonly initialOffset?: number;
  /** Shared by the logs of a broker (BROKER_TAIL_MAX_BYTES); a log without one keeps up to TAIL_MAX_BYTES. */
  readonly tailBudget?: TailBudget;
  /** Shared by the logs of a broker (BROKER_WRITEBACK_SLOTS); a log without one has a slot of its own. */
  readonly writebackSlots?: WritebackSlots;
}

export interface AppendResult {
  readonly baseOffset: number;
  readonly lastOffset: number;
  /** Set when the log stamps LogAppendTime. */
  readonly logAppendTimeMs: number | undefined;
  readonly recordCount: number;
  readonly sizeInBytes: number;
}

export interface ReadResult {
  /** Whole batches, exactly as stored: send them as they are. Empty at the end of the log. */
  readonly bytes: Buffer;
  /** Base offset of the first batch returned, -1 when empty. */
  readonly firstOffset: number;
  /** Last offset of the last batch returned, -1 when empty. */
  readonly lastOffset: number;
  readonly logStartOffset: number;
  readonly logEndOffset: number;
}

export type LogState = 'online' | 'offline' | 'closed';

/** Kafka's ListOffsets sentinels. */
export const LATEST_TIMESTAMP = -1;
export const EARLIEST_TIMESTAMP = -2;

interface PendingAppend {
  readonly bytes: Buffer;
  readonly spans: BatchSpan[];
  /** False until the drain checks the CRCs alongside the write. */
  readonly crcChecked: boolean;
  readonly follower: boolean;
  readonly leaderEpoch: number;
  readonly resolve: (result: AppendResult) => void;
  readonly reject: (err: unknown) => void;
}

const noop = (): void => {};

/**
 * Bound on what a log keeps of its latest leader appends in memory (`tail`), counted by the buffers
 * the appended bytes are views of (a produce request's message). Followers fetch at the log end, so
 * what they ask for is almost always the last append or two: served from here, without a read
 * through the thread pool and a fresh buffer per fetch.
 */
const TAIL_MAX_BYTES = 1024 * 1024;

/** One leader append, exactly the bytes written: whole batches from baseOffset to lastOffset. */
interface TailEntry {
  /** Its share of the broker-wide tail budget. */
  readonly token: TailToken;
  readonly bytes: Buffer;
  /** Its batches (sizes and offset deltas; the base offsets in these headers are the producer's). */
  readonly spans: readonly BatchSpan[];
  readonly baseOffset: number;
  readonly lastOffset: number;
  /** What keeping it holds in memory (its underlying buffer). */
  readonly retained: number;
}

/** Bound on the tails of all the logs of a broker together: see TailBudget. */
export const BROKER_TAIL_MAX_BYTES = 64 * 1024 * 1024;

/**
 * A crash-safe segmented partition log.
 *
 * Ordering rules:
 * - Appends, rolls, flushes, truncation and retention run one at a time on `chain`; reads run
 *   concurrently and only look at bytes whose write has completed (`segment.size`).
 * - An append resolves after its bytes are written (page cache), and after fsync when the flush
 *   policy says so (including the fsync of a segment rolled since the last one).
 * - A roll only seals the old segment and opens the next on the chain; the old segment's indexes,
 *   its fsync and the directory's run beside the chain (`backgroundSyncs`, one at a time, as Kafka's
 *   roll schedules its flush), and only then does the recovery point move past it. Appends never
 *   wait for a rolled segment to reach the disk unless the flush policy asks for an fsync.
 * - Every `writebackIntervalBytes` appended, an fdatasync of the active segment joins
 *   `backgroundSyncs` too (early writeback, see maybeQueueWriteback); nothing waits for it.
 * - The clean-shutdown marker is deleted before the first change after open and written last on close.
 */
export class PartitionLog {
  readonly config: LogConfig;
  private readonly logger: Logger;
  private readonly clock: () => number;
  private segments: LogSegment[] = [];
  private logStart = 0;
  private status: LogState = 'online';
  private offlineError: KafkaStorageError | undefined;
  private chain: Promise<void> = Promise.resolve();
  private pending: PendingAppend[] = [];
  private drainScheduled = false;
  private unflushedMessages = 0;
  private firstUnflushedMs = 0;
  private recoveryPoint = 0;
  /** fsyncs beside the chain, one at a time: rolled segments (rollTo) and early writeback. Never rejects. */
  private backgroundSyncs: Promise<void> = Promise.resolve();
  /** Bytes appended since the last early writeback was queued; see maybeQueueWriteback. */
  private bytesSinceWriteback = 0;
  /** An early writeback is queued and has not started: no second one is queued behind it. */
  private writebackQueued = false;
  /** Why a background fsync failed while the log was closing: close() must not call it clean. */
  private backgroundSyncError: unknown;
  /** Inactive segments holding a file handle and indexes, least recently used first. */
  private readonly openInactive = new Set<LogSegment>();
  private flushTimer: NodeJS.Timeout | undefined;
  /** The latest leader appends, contiguous and visible (written), oldest first; see TAIL_MAX_BYTES. */
  private tail: TailEntry[] = [];
  private tailRetained = 0;
  private readonly tailBudget: TailBudget;
  private readonly writebackSlots: WritebackSlots;

  private constructor(
    readonly dir: string,
    options: PartitionLogOptions,
  ) {
    this.config = resolveLogConfig(options.config);
    this.logger = options.logger ?? pino({ level: 'silent' });
    this.clock = options.clock ?? Date.now;
    this.tailBudget = options.tailBudget ?? new TailBudget(TAIL_MAX_BYTES);
    this.writebackSlots = options.writebackSlots ?? new WritebackSlots(1);
  }

  /** Opens (and if needed recovers) the log in `options.dir`. A corrupt log opens in state 'offline'. */
  static async open(options: PartitionLogOptions): Promise<PartitionLog> {
    const log = new PartitionLog(options.dir, options);
    try {
      await log.load(options.initialOffset ?? 0);
    } catch (err) {
      // An I/O failure while opening (permissions, a full disk, EIO) is a storage error, not a crash.
      for (const segment of log.segments) await segment.closeHandle().catch(noop);
      if (err instanceof SamsaError) throw err;
      throw new KafkaStorageError(
        `cannot open the log in ${options.dir}: ${(err as Error).message}`,
        undefined,
        undefined,
        { cause: err },
      );
    }
    // flush.ms = 0 fsyncs on every append already; a positive value also needs a timer for idle logs.
    if (log.config.flushMs > 0 && log.config.flushMs < UNLIMITED && log.status === 'online') {
      const interval = Math.max(1, Math.min(log.config.flushMs, 1000));
      log.flushTimer = setInterval(() => log.flushIfDue(), interval);
      log.flushTimer.unref();
    }
    return log;
  }

  get state(): LogState {
    return this.status;
  }

  get logStartOffset(): number {
    return this.logStart;
  }

  /** Offset the next append gets: one past the last acknowledged-as-written batch. */
  get logEndOffset(): number {
    return this.active.nextOffset;
  }

  /** Total bytes of all segments. */
  get sizeInBytes(): number {
    return this.segments.reduce((sum, s) => sum + s.size, 0);
  }

  get segmentCount(): number {
    return this.segments.length;
  }

  /** Base offsets of the segments, oldest first. */
  segmentBaseOffsets(): number[] {
    return this.segments.map((s) => s.baseOffset);
  }

  private get active(): LogSegment {
    return this.segments[this.segments.length - 1]!;
  }

  // ---------------------------------------------------------------- append

  /**
   * Appends producer batches as the leader: checks framing, CRC and sizes, then stamps base offsets
   * and `leaderEpoch` into `batches` in place (outside the CRC, records untouched). The caller must
   * not modify the buffer until the promise settles. Several concatenated batches are one append.
   */
  append(batches: Buffer, options: { leaderEpoch?: number } = {}): Promise<AppendResult> {
    try {
      this.ensureOnline();
      const { spans, crcChecked } = this.validate(batches, false);
      return this.enqueueAppend({
        bytes: batches,
        spans,
        crcChecked,
        follower: false,
        leaderEpoch: options.leaderEpoch ?? -1,
      });
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /**
   * Appends batches copied from the leader, keeping their offsets and epochs. The first base offset
   * must equal the log end offset and offsets must increase, else UnexpectedAppendOffsetError.
   */
  appendAsFollower(batches: Buffer): Promise<AppendResult> {
    try {
      this.ensureOnline();
      const { spans, crcChecked } = this.validate(batches, true);
      return this.enqueueAppend({ bytes: batches, spans, crcChecked, follower: true, leaderEpoch: -1 });
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /** Framing and sizes now; the CRC is checked while the write runs unless LogAppendTime rewrites it first. */
  private validate(batches: Buffer, follower: boolean): { spans: BatchSpan[]; crcChecked: boolean } {
    const crcChecked = !follower && this.config.messageTimestampType === 'LogAppendTime';
    const spans = splitBatches(batches, { verifyCrc: crcChecked });
    if (spans.length === 0) throw new CorruptRecordError('no record batches in the append', 0);
    if (batches.length > this.config.segmentBytes) {
      throw new RecordListTooLargeError(
        `append of ${batches.length} bytes is larger than segmentBytes ${this.config.segmentBytes}`,
      );
    }
    let previousLast = -1;
    for (const { header, position } of spans) {
      if (follower) {
        if (header.baseOffset <= previousLast) {
          throw new UnexpectedAppendOffsetError(
            `follower batch at byte ${position} starts at ${header.baseOffset}, not after ${previousLast}`,
            previousLast + 1,
            header.baseOffset,
          );
        }
        previousLast = lastOffsetOf(header);
        continue;
      }
      if (batchSize(header) > this.config.maxMessageBytes) {
        throw new RecordTooLargeError(
          `batch of ${batchSize(header)} bytes at byte ${position} exceeds maxMessageBytes ${this.config.maxMessageBytes}`,
        );
      }
      if (header.recordCount === 0 || header.lastOffsetDelta !== header.recordCount - 1) {
        throw new CorruptRecordError(
          `batch has ${header.recordCount} records but last offset delta ${header.lastOffsetDelta}`,
          position + BatchField.lastOffsetDelta,
        );
      }
    }
    return { spans, crcChecked };
  }

  private enqueueAppend(append: Omit<PendingAppend, 'resolve' | 'reject'>): Promise<AppendResult> {
    return new Promise<AppendResult>((resolve, reject) => {
      this.pending.push({ ...append, resolve, reject });
      if (!this.drainScheduled) {
        this.drainScheduled = true;
        void this.enqueue(() => this.drainAppends()).catch(noop);
      }
    });
  }

  /**
   * Writes every queued append in one go: offsets assigned in queue order, one write per segment
   * touched, then the flush policy, then every promise settles. Concurrent producers share a
   * syscall (and an fsync when flush.messages asks for one). CRCs are checked on the event loop
   * while the write runs on the thread pool; a bad batch undoes its run before anything becomes
   * visible, and the good appends of that run are queued again.
   */
  private async drainAppends(): Promise<void> {
    const entries = this.pending;
    this.pending = [];
    this.drainScheduled = false;
    const done: Array<{ entry: PendingAppend; result: AppendResult }> = [];
    let run: Array<{ entry: PendingAppend; result: AppendResult }> = [];
    let snapshot = this.active.snapshot();
    let writePos = this.active.size;
    let nextOffset = this.active.nextOffset;
    const commitRun = async (): Promise<PendingAppend[]> => {
      const bad =
        run.length === 0
          ? []
          : await this.writeRun(
              run.map((r) => r.entry),
              snapshot,
              writePos,
              nextOffset,
            );
      if (bad.length === 0) {
        for (const r of run) {
          this.countUnflushed(r.result.recordCount);
          this.rememberTail(r.entry, r.result);
        }
        done.push(...run);
      }
      return bad;
    };
    try {
      this.ensureOnline();
      for (let i = 0; i < entries.length; i++) {
        const entry = entries[i]!;
        if (entry.follower && entry.spans[0]!.header.baseOffset !== nextOffset) {
          const actual = entry.spans[0]!.header.baseOffset;
          entry.reject(
            new UnexpectedAppendOffsetError(
              `follower append starts at ${actual}, log end offset is ${nextOffset}`,
              nextOffset,
              actual,
            ),
          );
          continue;
        }
        const now = this.clock();
        if (this.shouldRoll(writePos, entry, nextOffset, now)) {
          const bad = await commitRun();
          if (bad.length > 0) return await this.retryWithout(bad, run, entries.slice(i), done);
          run = [];
          await this.rollTo(nextOffset);
          snapshot = this.active.snapshot();
          writePos = 0;
        }
        const result = this.assignOffsets(entry, nextOffset, writePos, now);
        nextOffset = result.lastOffset + 1;
        writePos += entry.bytes.length;
        run.push({ entry, result });
      }
      const bad = await commitRun();
      if (bad.length > 0) return await this.retryWithout(bad, run, [], done);
      if (this.flushDue()) await this.syncActive();
      else this.maybeQueueWriteback(done);
    } catch (err) {
      const storageError = this.goOffline(err, this.active.paths.log, snapshot.size);
      for (const entry of entries) entry.reject(storageError);
      return;
    }
    for (const { entry, result } of done) entry.resolve(result);
  }

  /** A run failed its CRC check and was undone: reject the bad appends, queue the rest again. */
  private async retryWithout(
    bad: PendingAppend[],
    run: Array<{ entry: PendingAppend }>,
    unprocessed: PendingAppend[],
    done: Array<{ entry: PendingAppend; result: AppendResult }>,
  ): Promise<void> {
    for (const entry of bad) entry.reject(corruptionOf(entry));
    const again = [...run.map((r) => r.entry).filter((e) => !bad.includes(e)), ...unprocessed];
    this.pending.unshift(...again);
    if (this.pending.length > 0 && !this.drainScheduled) {
      this.drainScheduled = true;
      void this.enqueue(() => this.drainAppends()).catch(noop);
    }
    if (this.flushDue()) await this.syncActive();
    for (const { entry, result } of done) entry.resolve(result);
  }

  /** A written append joins the tail if it is a leader's and follows the tail's last entry. */
  private rememberTail(entry: PendingAppend, result: AppendResult): void {
    const last = this.tail[this.tail.length - 1];
    if (entry.follower || (last && last.lastOffset + 1 !== result.baseOffset)) {
      this.clearTail();
      if (entry.follower) return;
    }
    const retained = entry.bytes.buffer.byteLength;
    if (retained > TAIL_MAX_BYTES) {
      this.clearTail();
      return;
    }
    const token: TailToken = { retained, dropped: false };
    this.tail.push({
      token,
      bytes: entry.bytes,
      spans: entry.spans,
      baseOffset: result.baseOffset,
      lastOffset: result.lastOffset,
      retained,
    });
    this.tailRetained += retained;
    while (this.tailRetained > TAIL_MAX_BYTES) this.dropOldestTail();
    this.tailBudget.add(token, () => this.evictTail(token));
  }

  private dropOldestTail(): void {
    const oldest = this.tail.shift()!;
    this.tailRetained -= oldest.retained;
    this.tailBudget.release(oldest.token);
  }

  /** The broker-wide budget wants this entry's memory back: it is this log's oldest (see TailBudget). */
  private evictTail(token: TailToken): void {
    const index = this.tail.findIndex((e) => e.token === token);
    if (index < 0) return;
    for (let i = 0; i <= index; i++) this.dropOldestTail();
  }

  private clearTail(): void {
    for (const entry of this.tail) this.tailBudget.release(entry.token);
    this.tail = [];
    this.tailRetained = 0;
  }

  /** Bytes this log keeps in its tail (for tests and metrics). */
  get tailBytes(): number {
    return this.tailRetained;
  }

  /**
   * What read() returns, from the tail, batch by batch as a file read would (first batch whole, the
   * next ones within `maxBytes`, all below `upperBound`): only when `fromOffset` starts a tail entry
   * in the active segment (a file read stops at the end of a segment); otherwise undefined.
   */
  private readTail(
    fromOffset: number,
    maxBytes: number,
    upperBound: number,
  ): { bytes: Buffer; firstOffset: number; lastOffset: number } | undefined {
    const tail = this.tail;
    if (
      tail.length === 0 ||
      fromOffset < tail[0]!.baseOffset ||
      fromOffset > tail[tail.length - 1]!.baseOffset ||
      fromOffset < this.active.baseOffset
    )
      return undefined;
    let i = tail.length - 1;
    while (i > 0 && tail[i]!.baseOffset > fromOffset) i--;
    if (tail[i]!.baseOffset !== fromOffset) return undefined;
    const parts: Buffer[] = [];
    let size = 0;
    let lastOffset = -1;
    let full = false;
    for (; i < tail.length && !full; i++) {
      const entry = tail[i]!;
      let next = entry.baseOffset;
      let end = 0;
      for (const span of entry.spans) {
        const bytes = batchSize(span.header);
        const last = next + span.header.lastOffsetDelta;
        if (last >= upperBound || (size + end > 0 && size + end + bytes > maxBytes)) {
          full = true;
          break;
        }
        end = span.position + bytes;
        lastOffset = last;
        next = last + 1;
      }
      if (end > 0) parts.push(end === entry.bytes.length ? entry.bytes : entry.bytes.subarray(0, end));
      size += end;
    }
    if (parts.length === 0) return undefined;
    return { bytes: parts.length === 1 ? parts[0]! : Buffer.concat(parts, size), firstOffset: fromOffset, lastOffset };
  }

  private countUnflushed(records: number): void {
    if (this.unflushedMessages === 0) this.firstUnflushedMs = this.clock();
    this.unflushedMessages += records;
  }

  private shouldRoll(writePos: number, entry: PendingAppend, nextOffset: number, now: number): boolean {
    const segment = this.active;
    if (writePos === 0) return false;
    const lastOffset = entry.follower
      ? lastOffsetOf(entry.spans[entry.spans.length - 1]!.header)
      : nextOffset + countOffsets(entry.spans) - 1;
    return (
      writePos + entry.bytes.length > this.config.segmentBytes ||
      now - segment.createdMs >= this.config.segmentMs ||
      (segment.offsetIndex!.entries + entry.spans.length) * OFFSET_INDEX_ENTRY_SIZE > this.config.segmentIndexBytes ||
      lastOffset - segment.baseOffset > 0x7fffffff
    );
  }

  /** Stamps offsets (leader), updates the in-memory indexes; nothing is visible until the write completes. */
  private assignOffsets(entry: PendingAppend, firstOffset: number, filePosition: number, now: number): AppendResult {
    const segment = this.active;
    const logAppendTime = !entry.follower && this.config.messageTimestampType === 'LogAppendTime';
    let next = firstOffset;
    let recordCount = 0;
    for (const { header, position } of entry.spans) {
      const baseOffset = entry.follower ? header.baseOffset : next;
      if (!entry.follower) stampBatch(entry.bytes, position, baseOffset, entry.leaderEpoch);
      let maxTimestamp = header.maxTimestamp;
      if (logAppendTime) {
        entry.bytes.writeInt16BE(
          header.attributes | Attribute.timestampTypeLogAppend,
          position + BatchField.attributes,
        );
        entry.bytes.writeBigInt64BE(BigInt(now), position + BatchField.maxTimestamp);
        writeBatchCrc(entry.bytes, position, header);
        maxTimestamp = now;
      }
      const last = baseOffset + header.lastOffsetDelta;
      segment.recordBatch(
        filePosition + position,
        baseOffset,
        last,
        maxTimestamp,
        batchSize(header),
        this.config.indexIntervalBytes,
      );
      recordCount += header.recordCount;
      next = last + 1;
    }
    return {
      baseOffset: entry.follower ? entry.spans[0]!.header.baseOffset : firstOffset,
      lastOffset: next - 1,
      logAppendTimeMs: logAppendTime ? now : undefined,
      recordCount,
      sizeInBytes: entry.bytes.length,
    };
  }

  /**
   * Writes one run of appends to the active segment at `snapshot.size`. Returns the appends whose
   * CRC check (done while the write is in flight) failed, after undoing the run; otherwise makes
   * the run visible to readers and returns [].
   */
  private async writeRun(
    entries: PendingAppend[],
    snapshot: SegmentSnapshot,
    end: number,
    nextOffset: number,
  ): Promise<PendingAppend[]> {
    const segment = this.active;
    const fh = segment.fh ?? (await segment.handle());
    const written = writeBuffers(
      fh,
      entries.map((e) => e.bytes),
      snapshot.size,
    );
    const bad = entries.filter((e) => !e.crcChecked && !crcsValid(e));
    await written;
    if (bad.length > 0) {
      await fh.truncate(snapshot.size);
      segment.restore(snapshot);
      return bad;
    }
    segment.size = end;
    segment.nextOffset = nextOffset;
    segment.lastModifiedMs = this.clock();
    return [];
  }

  // ---------------------------------------------------------------- durability

  /** fsyncs everything written so far. Resolves when it is on stable storage. */
  flush(): Promise<void> {
    return this.enqueue(async () => {
      this.ensureOnline();
      await this.syncActive();
    });
  }

  /** flush.messages or flush.ms says the unflushed appends must reach the disk now. */
  private flushDue(): boolean {
    if (this.unflushedMessages === 0) return false;
    return (
      this.unflushedMessages >= this.config.flushMessages || this.clock() - this.firstUnflushedMs >= this.config.flushMs
    );
  }

  private flushIfDue(): void {
    if (this.status !== 'online' || this.unflushedMessages === 0) return;
    if (this.clock() - this.firstUnflushedMs < this.config.flushMs) return;
    void this.enqueue(async () => {
      if (this.status === 'online' && this.flushDue()) await this.syncActive();
    }).catch(noop);
  }

  /**
   * Queues an fdatasync of the active segment once `writebackIntervalBytes` were appended since the
   * last (RocksDB's bytes_per_sync). It promises nothing and nothing waits for it: it keeps the page
   * cache from piling up gigabytes of dirty log that the kernel then writes back all at once (from
   * 10% of memory dirty, or 30 s old). On a 2-vCPU VM those bursts took the CPUs from every process
   * for 0.2–1.6 s; written back as it comes, the same bytes cost no stall. Without a free slot
   * (writebackSlots, shared by a broker's logs) it is skipped until one frees.
   */
  private maybeQueueWriteback(appended: ReadonlyArray<{ entry: PendingAppend }>): void {
    const interval = this.config.writebackIntervalBytes;
    if (interval <= 0) return;
    for (const { entry } of appended) this.bytesSinceWriteback += entry.bytes.length;
    if (this.bytesSinceWriteback < interval || this.writebackQueued || !this.writebackSlots.tryAcquire()) return;
    this.bytesSinceWriteback = 0;
    this.writebackQueued = true;
    const segment = this.active;
    segment.refs++;
    this.backgroundSyncs = this.backgroundSyncs.then(async () => {
      this.writebackQueued = false;
      try {
        if (this.status === 'online' && !segment.deleted) await (await segment.handle()).datasync();
      } catch (err) {
        // After a failed fsync the kernel may have dropped the pages: the log cannot be trusted.
        if (this.status === 'online') this.goOffline(err, segment.paths.log, undefined);
      } finally {
        this.releaseSegment(segment);
        this.writebackSlots.release();
      }
    });
  }

  private async syncActive(): Promise<void> {
    // Appends acknowledged by this fsync may also sit in a segment rolled since the last one.
    await this.backgroundSyncs;
    try {
      await (await this.active.handle()).datasync();
    } catch (err) {
      throw this.goOffline(err, this.active.paths.log, this.active.size);
    }
    this.unflushedMessages = 0;
  }

  // ---------------------------------------------------------------- roll

  /**
   * Seals the active segment and starts one at `baseOffset`. Only opening the new file happens here,
   * on the chain; writing the old segment's indexes and fsyncing it and the directory (Kafka's
   * flush-log task after a roll) can take seconds behind other writes on a busy disk, and appends no
   * longer wait for it. A crash before it ends leaves the recovery point below the old segment, so
   * opening the log rescans it and rebuilds its indexes.
   */
  private async rollTo(baseOffset: number): Promise<void> {
    const old = this.active;
    old.sealTimeIndex();
    const segment = await this.openNewSegment(baseOffset);
    this.segments.push(segment);
    this.unflushedMessages = 0;
    old.refs++; // its file stays open for the flush, whatever retention or the LRU of open files do
    this.backgroundSyncs = this.backgroundSyncs.then(() => this.flushRolled(old, baseOffset));
    this.logger.info({ segment: segment.paths.log, previousSize: old.size }, 'rolled segment');
  }

  /**
   * The disk half of a roll: the old segment's indexes and bytes, then the directory (the new
   * segment's entry), then the recovery point moves to `baseOffset`. Truncations wait for it first,
   * so nothing below `baseOffset` changes meanwhile. A failure takes the log offline, as the same
   * failure on the chain would.
   */
  private async flushRolled(old: LogSegment, baseOffset: number): Promise<void> {
    try {
      if (!old.deleted) {
        await old.writeIndexes();
        await (await old.handle()).datasync();
      }
      await fsyncDir(this.dir);
      if (this.status !== 'online' || this.recoveryPoint >= baseOffset) return;
      this.recoveryPoint = baseOffset;
      await this.writeRecoveryPoint();
    } catch (err) {
      if (this.status === 'online') this.goOffline(err, old.paths.log, undefined);
      else this.backgroundSyncError ??= err;
    } finally {
      this.releaseSegment(old);
    }
  }

  /** An empty segment at `baseOffset`, its files written and fsynced with the directory. */
  private async createSegment(baseOffset: number): Promise<LogSegment> {
    const segment = await this.openNewSegment(baseOffset);
    await segment.writeIndexes();
    await fsyncDir(this.dir);
    return segment;
  }

  /** An empty segment at `baseOffset` with its log file open; nothing fsynced, no index files yet. */
  private async openNewSegment(baseOffset: number): Promise<LogSegment> {
    const segment = new LogSegment(this.dir, baseOffset, this.clock());
    segment.resetIndexes();
    segment.fh = await open(segment.paths.log, 'w+');
    return segment;
  }

  /** Rolls now if the active segment is non-empty (Kafka's forced roll). */
  roll(): Promise<void> {
    return this.enqueue(async () => {
      this.ensureOnline();
      if (this.active.size > 0) await this.rollTo(this.active.nextOffset);
    });
  }

  // ---------------------------------------------------------------- read

  /**
   * Whole batches from the one holding `fromOffset`: at most `maxBytes`, except that the first batch
   * is always returned whole so a consumer makes progress. `maxOffset` (exclusive, e.g. the high
   * watermark) stops before any batch reaching it. Throws OffsetOutOfRangeError outside
   * [logStartOffset, logEndOffset]. With `buffers`, the bytes are read into a buffer from that pool
   * (the caller releases it once done with the bytes, see ReadBufferPool).
   */
  async read(
    fromOffset: number,
    maxBytes: number,
    options: { maxOffset?: number; buffers?: ReadBufferPool } = {},
  ): Promise<ReadResult> {
    this.ensureOnline();
    if (!Number.isSafeInteger(maxBytes) || maxBytes < 0)
      throw new SamsaError(ErrorCodes.INVALID_FETCH_SIZE, `maxBytes ${maxBytes}`);
    const logStartOffset = this.logStart;
    const logEndOffset = this.logEndOffset;
    if (!Number.isSafeInteger(fromOffset) || fromOffset < logStartOffset || fromOffset > logEndOffset) {
      throw new OffsetOutOfRangeError(fromOffset, logStartOffset, logEndOffset);
    }
    const upperBound = Math.min(options.maxOffset ?? logEndOffset, logEndOffset);
    const empty = { bytes: Buffer.alloc(0), firstOffset: -1, lastOffset: -1, logStartOffset, logEndOffset };
    if (fromOffset >= upperBound) return empty;
    // Pooled reads hand their buffer back later: only plain reads (followers') share the tail's bytes.
    const fromTail = options.buffers ? undefined : this.readTail(fromOffset, maxBytes, upperBound);
    if (fromTail) return { ...fromTail, logStartOffset, logEndOffset };
    const segments = this.segments;
    for (let i = this.segmentIndexFor(fromOffset); i < segments.length; i++) {
      const segment = segments[i]!;
      const found = await this.withSegment(segment, () =>
        segment.read(fromOffset, maxBytes, upperBound, this.config.indexIntervalBytes, options.buffers),
      );
      if (found) return { ...found, logStartOffset, logEndOffset };
    }
    return empty;
  }

  /**
   * Kafka's ListOffsets by timestamp: the first offset whose record timestamp is >= `timestamp`
   * (exact for uncompressed batches, the batch's base offset otherwise), or undefined if none.
   * LATEST_TIMESTAMP and EARLIEST_TIMESTAMP return the log end and start offsets.
   */
  async offsetForTimestamp(timestamp: number): Promise<{ offset: number; timestamp: number } | undefined> {
    this.ensureOnline();
    if (timestamp === LATEST_TIMESTAMP) return { offset: this.logEndOffset, timestamp: -1 };
    if (timestamp === EARLIEST_TIMESTAMP) return { offset: this.logStart, timestamp: -1 };
    for (const segment of [...this.segments]) {
      if (segment.maxTimestamp < timestamp) continue;
      const found = await this.withSegment(segment, () => segment.findByTimestamp(timestamp, this.logStart));
      if (found) return found;
    }
    return undefined;
  }

  private segmentIndexFor(offset: number): number {
    let lo = 0;
    let hi = this.segments.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >>> 1;
      if (this.segments[mid]!.baseOffset <= offset) lo = mid;
      else hi = mid - 1;
    }
    return lo;
  }

  /**
   * Runs `fn` with the segment's file open and indexes loaded. An index that turns out not to match
   * the log is rebuilt once; corrupt bytes inside the log take the partition offline.
   */
  private async withSegment<T>(segment: LogSegment, fn: () => Promise<T>): Promise<T> {
    segment.refs++;
    try {
      for (let attempt = 0; ; attempt++) {
        try {
          await this.ensureIndexes(segment);
          return await fn();
        } catch (err) {
          if (err instanceof IndexMismatchError && attempt === 0) {
            this.logger.warn(
              { file: segment.paths.index, reason: err.message },
              'offset index does not match the log, rebuilding',
            );
            if (segment === this.active) await this.enqueue(() => this.rebuildIndexes(segment));
            else await this.rebuildIndexes(segment);
            continue;
          }
          if (err instanceof SamsaError && !(err instanceof CorruptRecordError)) throw err;
          // Retention removed the segment under a concurrent read: the offset is simply gone now.
          if (segment.deleted) throw new OffsetOutOfRangeError(segment.baseOffset, this.logStart, this.logEndOffset);
          const position = err instanceof CorruptRecordError ? err.position : undefined;
          throw this.goOffline(err, segment.paths.log, position);
        }
      }
    } finally {
      this.releaseSegment(segment);
    }
  }

  /** Drops a reference taken while using a segment: the last user of a deleted segment closes it. */
  private releaseSegment(segment: LogSegment): void {
    segment.refs--;
    if (segment.deleted && segment.refs === 0) void segment.closeHandle().catch(noop);
    else this.touchInactive(segment);
  }

  private async ensureIndexes(segment: LogSegment): Promise<void> {
    if (segment.offsetIndex) return;
    segment.loadingIndexes ??= (async () => {
      try {
        await segment.loadIndexes(this.maxRelOffsetOf(segment));
      } catch (err) {
        if (!(err instanceof IndexCorruptError) && (err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
        this.logger.warn(
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
  private async rebuildIndexes(segment: LogSegment): Promise<void> {
    const next = this.segments[this.segments.indexOf(segment) + 1];
    const scratch = new LogSegment(this.dir, segment.baseOffset, this.clock());
    let outcome: RecoveryOutcome;
    try {
      outcome = await scratch.recover({
        verifyCrc: true,
        endOffsetExclusive: next?.baseOffset ?? Number.MAX_SAFE_INTEGER,
        indexIntervalBytes: this.config.indexIntervalBytes,
        fileSize: segment.size,
      });
    } finally {
      await scratch.closeHandle();
    }
    if (outcome.failure || outcome.validBytes !== segment.size) {
      throw this.goOffline(
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
      if (this.openInactive.size <= this.config.maxOpenInactiveSegments) break;
      if (candidate.refs > 0 || candidate.loadingIndexes) continue;
      this.openInactive.delete(candidate);
      candidate.unloadIndexes();
      void candidate.closeHandle().catch(noop);
    }
  }

  // ---------------------------------------------------------------- retention and truncation

  /**
   * Kafka's DeleteRecords: offsets below `offset` become unreadable (OffsetOutOfRange) and whole
   * segments entirely below it are deleted; the new log start offset survives restarts. The caller
   * bounds `offset` by the high watermark. Returns the log start offset.
   */
  deleteRecordsBefore(offset: number): Promise<number> {
    return this.enqueue(async () => {
      this.ensureOnline();
      if (!Number.isSafeInteger(offset) || offset > this.logEndOffset)
        throw new OffsetOutOfRangeError(offset, this.logStart, this.logEndOffset);
      if (offset <= this.logStart) return this.logStart;
      this.logStart = offset;
      await writeFileAtomic(join(this.dir, LOG_START_OFFSET_FILE), `${offset}\n`, this.dir);
      let count = 0;
      while (count < this.segments.length - 1 && this.segments[count + 1]!.baseOffset <= offset) count++;
      if (count > 0) {
        const doomed = this.segments.slice(0, count);
        this.segments = this.segments.slice(count);
        await this.deleteSegmentFiles(doomed);
      }
      this.logger.info({ logStartOffset: offset, deletedSegments: count }, 'deleted records');
      return this.logStart;
    });
  }

  /**
   * Deletes whole inactive segments beyond retention.ms (by largest timestamp) or retention.bytes,
   * oldest first; never the active segment. Returns how many were deleted. The broker calls this
   * periodically (Kafka's log.retention.check.interval.ms).
   */
  deleteOldSegments(): Promise<number> {
    return this.enqueue(async () => {
      this.ensureOnline();
      const now = this.clock();
      let excessBytes = this.config.retentionBytes >= 0 ? this.sizeInBytes - this.config.retentionBytes : -1;
      let count = 0;
      while (count < this.segments.length - 1) {
        const segment = this.segments[count]!;
        const expired = this.config.retentionMs >= 0 && now - segment.largestTimestamp > this.config.retentionMs;
        const oversize = excessBytes >= 0 && excessBytes - segment.size >= 0;
        if (!expired && !oversize) break;
        excessBytes -= segment.size;
        count++;
      }
      if (count === 0) return 0;
      const doomed = this.segments.slice(0, count);
      this.segments = this.segments.slice(count);
      this.logStart = Math.max(this.logStart, this.segments[0]!.baseOffset);
      await this.deleteSegmentFiles(doomed);
      this.logger.info(
        { deleted: doomed.map((s) => s.baseOffset), logStartOffset: this.logStart },
        'deleted segments by retention',
      );
      return count;
    });
  }

  private async deleteSegmentFiles(doomed: LogSegment[]): Promise<void> {
    for (const segment of doomed) {
      segment.deleted = true;
      this.openInactive.delete(segment);
      if (segment.refs === 0) await segment.closeHandle();
      for (const path of [segment.paths.log, segment.paths.index, segment.paths.timeIndex]) await unlinkIfExists(path);
    }
    await fsyncDir(this.dir);
  }

  /**
   * Removes everything at or after `offset` (replica divergence): later segments are deleted and the
   * segment holding `offset` is cut before the batch that contains it, so the new log end offset is
   * that batch's base offset. At or below the log start the log is emptied and restarts at `offset`.
   */
  truncateTo(offset: number): Promise<void> {
    return this.enqueue(async () => {
      this.ensureOnline();
      if (offset >= this.logEndOffset) return;
      await this.backgroundSyncs;
      this.ensureOnline();
      try {
        if (offset <= this.logStart) await this.truncateFullyAndStartAt(offset);
        else await this.truncateWithin(offset);
      } catch (err) {
        if (err instanceof KafkaStorageError) throw err;
        throw this.goOffline(err, this.active.paths.log, undefined);
      }
      await this.clampLogStart();
      this.recoveryPoint = Math.min(this.recoveryPoint, this.logEndOffset);
      await this.writeRecoveryPoint();
      this.unflushedMessages = 0;
      this.logger.info({ offset, logEndOffset: this.logEndOffset }, 'truncated log');
    });
  }

  /**
   * Empties the log and restarts it at `offset`: a follower whose position fell below the leader's log
   * start (retention deleted what it still needed) starts again from there, as Kafka's
   * truncateFullyAndStartAt does.
   */
  resetTo(offset: number): Promise<void> {
    return this.enqueue(async () => {
      this.ensureOnline();
      await this.backgroundSyncs;
      this.ensureOnline();
      try {
        await this.truncateFullyAndStartAt(offset);
      } catch (err) {
        if (err instanceof KafkaStorageError) throw err;
        throw this.goOffline(err, this.active.paths.log, undefined);
      }
      this.recoveryPoint = offset;
      await this.writeRecoveryPoint();
      this.unflushedMessages = 0;
      this.logger.info({ offset }, 'emptied the log and restarted it');
    });
  }

  private async truncateWithin(offset: number): Promise<void> {
    this.clearTail();
    const keep = this.segmentIndexFor(offset);
    const target = this.segments[keep]!;
    await this.ensureIndexes(target);
    // On the chain already, so a bad index is rebuilt here rather than through withSegment.
    const cut = await target.cutFor(offset).catch(async (err: unknown) => {
      if (!(err instanceof IndexMismatchError)) throw err;
      await this.rebuildIndexes(target);
      return target.cutFor(offset);
    });
    // From here the log shrinks: memory first (readers see the new end at once), then the files.
    const doomed = this.segments.slice(keep + 1);
    this.segments = this.segments.slice(0, keep + 1);
    this.openInactive.delete(target);
    target.cutInMemory(cut.position, cut.baseOffset ?? offset);
    await this.deleteSegmentFiles(doomed);
    await target.finishTruncation();
    await target.writeIndexes();
    await (await target.handle()).datasync();
    target.createdMs = this.clock();
  }

  private async truncateFullyAndStartAt(offset: number): Promise<void> {
    this.clearTail();
    const doomed = this.segments;
    this.segments = [];
    await this.deleteSegmentFiles(doomed);
    await unlinkIfExists(join(this.dir, LOG_START_OFFSET_FILE));
    this.segments = [await this.createSegment(offset)];
    this.logStart = offset;
  }

  // ---------------------------------------------------------------- open, recovery, close

  private async load(initialOffset: number): Promise<void> {
    await mkdir(this.dir, { recursive: true });
    const names = await readdir(this.dir);
    const clean = names.includes(CLEAN_SHUTDOWN_FILE);
    const bases = await this.tidyDirectory(names);
    if (clean) {
      // From here on the log may change: a crash must not look like a clean shutdown.
      await unlink(join(this.dir, CLEAN_SHUTDOWN_FILE));
      await fsyncDir(this.dir);
    }
    this.recoveryPoint = clean ? Number.MAX_SAFE_INTEGER : await this.readOffsetFile(RECOVERY_POINT_FILE, 0);
    if (bases.length === 0) {
      this.segments = [await this.createSegment(initialOffset)];
      this.logStart = initialOffset;
      return;
    }
    const now = this.clock();
    this.segments = bases.map((base) => new LogSegment(this.dir, base, now));
    for (const segment of this.segments) segment.size = (await stat(segment.paths.log)).size;
    for (let i = 0; i < this.segments.length && this.status === 'online'; i++) {
      await this.loadSegment(i, clean);
    }
    this.logStart = Math.max(this.segments[0]!.baseOffset, await this.readOffsetFile(LOG_START_OFFSET_FILE, 0));
    if (this.status === 'online') {
      await this.clampLogStart();
      this.recoveryPoint = Math.min(this.recoveryPoint, this.active.nextOffset);
      this.logger.info(
        {
          dir: this.dir,
          clean,
          segments: this.segments.length,
          logStartOffset: this.logStart,
          logEndOffset: this.logEndOffset,
        },
        'opened log',
      );
    }
  }

  /** Removes leftovers (temp files, indexes without a log); returns the segment base offsets. */
  private async tidyDirectory(names: string[]): Promise<number[]> {
    const bases = names
      .map((n) => parseSegmentFileName(n))
      .filter((b): b is number => b !== undefined)
      .sort((a, b) => a - b);
    const known = new Set(bases);
    for (const name of names) {
      const orphanIndex = [INDEX_SUFFIX, TIME_INDEX_SUFFIX].some((suffix) => {
        const base = parseSegmentFileName(name, suffix);
        return base !== undefined && !known.has(base);
      });
      if (name.endsWith('.tmp') || orphanIndex) await unlinkIfExists(join(this.dir, name));
    }
    return bases;
  }

  /**
   * Loads segment i. Segments holding offsets at or past the recovery point (all of them after a
   * crash with no checkpoint) are rescanned with CRC checks; the others trust their indexes when
   * those look sane. The active segment always gets its tail state from the log itself.
   */
  private async loadSegment(i: number, clean: boolean): Promise<void> {
    const segment = this.segments[i]!;
    const next = this.segments[i + 1];
    const isLast = next === undefined;
    const needsRecovery = !clean && (isLast || next.baseOffset > this.recoveryPoint);
    if (!needsRecovery) {
      try {
        if (isLast) {
          await segment.loadIndexes(0x7fffffff);
          if (await segment.loadTailState()) return;
          this.logger.warn({ file: segment.paths.log }, 'active segment tail does not match its index, recovering');
        } else {
          await segment.loadLargestTimestamp();
          await this.checkIndexFileSizes(segment);
          return;
        }
      } catch (err) {
        if (!(err instanceof IndexCorruptError) && (err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
        this.logger.warn(
          { file: segment.paths.index, reason: (err as Error).message },
          'index files missing or inconsistent, rebuilding from the log',
        );
      }
    }
    await this.recoverSegment(segment, next, isLast);
    if (!isLast && this.status === 'online') {
      segment.unloadIndexes();
      await segment.closeHandle();
    }
  }

  private async checkIndexFileSizes(segment: LogSegment): Promise<void> {
    const index = await stat(segment.paths.index);
    const timeIndex = await stat(segment.paths.timeIndex);
    if (index.size % 8 !== 0 || timeIndex.size % 12 !== 0 || index.size > this.config.segmentIndexBytes) {
      throw new IndexCorruptError(
        `index sizes ${index.size}/${timeIndex.size} of ${segment.paths.index} are inconsistent`,
      );
    }
  }

  /**
   * Validates a segment batch by batch. A bad tail of the last segment (nothing valid after it) is a
   * torn write: truncated. Anything else is corruption of acknowledged data: the partition goes
   * offline, naming the file and byte position, and nothing is deleted.
   */
  private async recoverSegment(segment: LogSegment, next: LogSegment | undefined, isLast: boolean): Promise<void> {
    const fileSize = (await stat(segment.paths.log)).size;
    const outcome = await segment.recover({
      verifyCrc: true,
      endOffsetExclusive: next?.baseOffset ?? Number.MAX_SAFE_INTEGER,
      indexIntervalBytes: this.config.indexIntervalBytes,
      fileSize,
    });
    const { failure } = outcome;
    if (failure) {
      const fh = await segment.handle();
      const validAfter =
        isLast && !failure.crcValid
          ? await findValidBatchAfter(fh, failure.position, fileSize, segment.nextOffset)
          : undefined;
      if (!isLast || failure.crcValid || validAfter !== undefined) {
        const where = validAfter !== undefined ? `; a valid batch follows at byte ${validAfter}` : '';
        this.goOffline(new Error(`${failure.reason}${where}`), segment.paths.log, failure.position);
        return;
      }
      this.logger.warn(
        {
          file: segment.paths.log,
          position: failure.position,
          droppedBytes: fileSize - failure.position,
          reason: failure.reason,
        },
        'truncating torn tail of the log',
      );
      await fh.truncate(failure.position);
      await fh.datasync();
    }
    segment.size = outcome.validBytes;
    if (!isLast) segment.sealTimeIndex();
    await segment.writeIndexes();
    segment.lastModifiedMs = (await stat(segment.paths.log)).mtimeMs;
  }

  /**
   * A start moved by deleteRecordsBefore can end up past the log end when truncation or a torn tail
   * removes the batch holding it: the start follows the end back, durably, so that new appends there
   * stay readable after a restart.
   */
  private async clampLogStart(): Promise<void> {
    if (this.logStart <= this.logEndOffset) return;
    this.logStart = this.logEndOffset;
    await writeFileAtomic(join(this.dir, LOG_START_OFFSET_FILE), `${this.logStart}\n`, this.dir);
  }

  /** A checkpoint file's offset; `fallback` when it is missing or unreadable. */
  private async readOffsetFile(name: string, fallback: number): Promise<number> {
    try {
      const value = Number((await readFile(join(this.dir, name), 'utf8')).trim());
      return Number.isSafeInteger(value) && value >= 0 ? value : fallback;
    } catch {
      return fallback;
    }
  }

  /**
   * Saves the recovery point. Writes never overlap (they share a temp file): a roll's flush writes it
   * from backgroundSyncs, and truncation, reset and close, the only other writers, wait for that first.
   */
  private async writeRecoveryPoint(): Promise<void> {
    await writeFileAtomic(join(this.dir, RECOVERY_POINT_FILE), `${this.recoveryPoint}\n`, this.dir);
  }

  /**
   * Clean shutdown: waits for queued work, writes the indexes, fsyncs, records the recovery point and
   * writes the clean-shutdown marker last. An offline log just releases its files.
   */
  close(): Promise<void> {
    if (this.flushTimer) clearInterval(this.flushTimer);
    return this.enqueue(async () => {
      if (this.status === 'closed') return;
      const wasOnline = this.status === 'online';
      this.status = 'closed';
      this.clearTail();
      try {
        if (wasOnline) {
          await this.backgroundSyncs;
          if (this.backgroundSyncError !== undefined) throw this.backgroundSyncError;
          const active = this.active;
          active.sealTimeIndex();
          await active.writeIndexes();
          await (await active.handle()).datasync();
          this.recoveryPoint = active.nextOffset;
          await this.writeRecoveryPoint();
          await writeFileAtomic(join(this.dir, CLEAN_SHUTDOWN_FILE), '', this.dir);
        }
      } finally {
        for (const segment of this.segments) await segment.closeHandle().catch(noop);
        this.openInactive.clear();
      }
    });
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  // ---------------------------------------------------------------- helpers

  private enqueue<T>(op: () => Promise<T>): Promise<T> {
    const result = this.chain.then(op);
    this.chain = result.then(noop, noop);
    return result;
  }

  private ensureOnline(): void {
    if (this.status === 'offline') throw this.offlineError!;
    if (this.status === 'closed') throw new KafkaStorageError(`log ${this.dir} is closed`);
  }

  /** Takes the partition offline (once), logs why and where, and returns the error to throw. */
  private goOffline(cause: unknown, file: string | undefined, position: number | undefined): KafkaStorageError {
    if (this.status === 'offline') return this.offlineError!;
    if (cause instanceof KafkaStorageError) return cause;
    const reason = cause instanceof Error ? cause.message : String(cause);
    const at = position === undefined ? '' : ` at byte ${position}`;
    const error = new KafkaStorageError(
      `partition ${this.dir} is offline: ${file ?? ''}${at}: ${reason}`,
      file,
      position,
      { cause },
    );
    if (this.status === 'online') {
      this.status = 'offline';
      this.offlineError = error;
      this.clearTail();
      if (this.flushTimer) clearInterval(this.flushTimer);
      this.logger.error({ file, position, reason }, 'partition log is offline');
      for (const entry of this.pending.splice(0)) entry.reject(error);
    }
    return error;
  }
}

/** One write call for the common single-buffer case, writev otherwise; short writes are finished. */
async function writeBuffers(fh: FileHandle, buffers: Buffer[], start: number): Promise<void> {
  if (buffers.length === 1) {
    const buffer = buffers[0]!;
    const { bytesWritten } = await fh.write(buffer, 0, buffer.length, start);
    if (bytesWritten < buffer.length) await writeFully(fh, buffer.subarray(bytesWritten), start + bytesWritten);
    return;
  }
  let position = start;
  // writev takes at most IOV_MAX buffers at a time.
  for (let i = 0; i < buffers.length; i += 1024) {
    const group = buffers.slice(i, i + 1024);
    const groupBytes = group.reduce((n, b) => n + b.length, 0);
    const { bytesWritten } = await fh.writev(group, position);
    if (bytesWritten < groupBytes)
      await writeFully(fh, Buffer.concat(group).subarray(bytesWritten), position + bytesWritten);
    position += groupBytes;
  }
}

function crcsValid(entry: PendingAppend): boolean {
  return entry.spans.every(({ header, position }) => verifyBatchCrc(entry.bytes, position, header));
}

function corruptionOf(entry: PendingAppend): CorruptRecordError {
  const span = entry.spans.find(({ header, position }) => !verifyBatchCrc(entry.bytes, position, header))!;
  const computed = computeBatchCrc(entry.bytes, span.position, span.header);
  return new CorruptRecordError(
    `CRC mismatch: stored ${span.header.crc.toString(16)}, computed ${computed.toString(16)}`,
    span.position + BatchField.crc,
  );
}

function countOffsets(spans: BatchSpan[]): number {
  return spans.reduce((n, s) => n + s.header.lastOffsetDelta + 1, 0);
}

/** Opens the log of one partition. See PartitionLog. */
export function openPartitionLog(options: PartitionLogOptions): Promise<PartitionLog> {
  return PartitionLog.open(options);
}
