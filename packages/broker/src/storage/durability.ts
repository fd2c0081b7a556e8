import { join } from 'node:path';
import { UNLIMITED } from './config.js';
import { RECOVERY_POINT_FILE, fsyncDir, writeFileAtomic } from './files.js';
import { type LogContext, noop } from './log-context.js';
import type { LogSegment } from './segment.js';
import type { SegmentSet } from './segment-set.js';
import type { WritebackSlots } from './writeback-slots.js';

/**
 * When a log's bytes reach the disk: the flush policy (flush.messages, flush.ms and its timer), the
 * work that runs beside the append chain (`background`: a rolled segment's flush and early
 * writeback; `deletions`: retention's), and the recovery point, the offset below which everything
 * is known to be on disk. The rules that tie these to appends (what waits for what) are stated
 * once, in append-chain.ts.
 */
export class Durability {
  private unflushedMessages = 0;
  private firstUnflushedMs = 0;
  private recovery = 0;
  /** fsyncs beside the chain, one at a time: rolled segments (afterRoll) and early writeback. Never rejects. */
  private background: Promise<void> = Promise.resolve();
  /** Retention's file deletions beside the chain, one at a time, apart from the fsyncs: flushes never wait for them. */
  private deletions: Promise<void> = Promise.resolve();
  /** Bytes appended since the last early writeback was queued; see maybeQueueWriteback. */
  private bytesSinceWriteback = 0;
  /** An early writeback is queued and has not started: no second one is queued behind it. */
  private writebackQueued = false;
  /** Why a background fsync failed while the log was closing: close() must not call it clean. */
  private backgroundError: unknown;
  private flushTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly ctx: LogContext,
    private readonly segments: SegmentSet,
    private readonly writebackSlots: WritebackSlots,
    /** Runs `op` on the append chain: how the flush.ms timer fsyncs an idle log. */
    private readonly onChain: (op: () => Promise<void>) => Promise<void>,
    /** Saves a producer-state snapshot (ProducerStates.writeSnapshot: its transaction index first). */
    private readonly writeSnapshot: (offset: number, bytes: Buffer) => Promise<void>,
  ) {
    ctx.onOffline(() => this.stopFlushTimer());
  }

  // ---------------------------------------------------------------- recovery point

  get recoveryPoint(): number {
    return this.recovery;
  }

  /** In memory only: what open() learned from the checkpoint file and the segments. */
  setRecoveryPoint(offset: number): void {
    this.recovery = offset;
  }

  /**
   * Moves the recovery point and saves it. Writes never overlap (they share a temp file): a roll's
   * flush saves it from `background`, and truncation, reset and close, the only other writers, wait
   * for that first (settled()).
   */
  async saveRecoveryPoint(offset: number): Promise<void> {
    this.recovery = offset;
    await writeFileAtomic(join(this.ctx.dir, RECOVERY_POINT_FILE), `${this.recovery}\n`, this.ctx.dir);
  }

  // ---------------------------------------------------------------- flush policy

  countUnflushed(records: number): void {
    if (this.unflushedMessages === 0) this.firstUnflushedMs = this.ctx.clock();
    this.unflushedMessages += records;
  }

  /**
   * Nothing written since the last fsync needs one: a roll (its flush covers them; a drain that rolled
   * still waits for it when the policy asked, see AppendChain) or a truncation.
   */
  resetUnflushed(): void {
    this.unflushedMessages = 0;
  }

  /** flush.messages or flush.ms says the unflushed appends must reach the disk now. */
  flushDue(): boolean {
    if (this.unflushedMessages === 0) return false;
    return (
      this.unflushedMessages >= this.ctx.config.flushMessages ||
      this.ctx.clock() - this.firstUnflushedMs >= this.ctx.config.flushMs
    );
  }

  /** fsyncs the active segment, after the flushes of segments rolled before it. Goes offline on failure. */
  async syncActive(): Promise<void> {
    // Appends acknowledged by this fsync may also sit in a segment rolled since the last one.
    await this.background;
    const active = this.segments.active;
    try {
      await (await active.handle()).datasync();
    } catch (err) {
      throw this.ctx.goOffline(err, active.paths.log, active.size);
    }
    this.unflushedMessages = 0;
  }

  /** flush.ms = 0 fsyncs on every append already; a positive value also needs a timer for idle logs. */
  startFlushTimer(): void {
    const { flushMs } = this.ctx.config;
    if (!(flushMs > 0 && flushMs < UNLIMITED) || !this.ctx.online) return;
    const interval = Math.max(1, Math.min(flushMs, 1000));
    this.flushTimer = setInterval(() => this.flushIfDue(), interval);
    this.flushTimer.unref();
  }

  stopFlushTimer(): void {
    if (this.flushTimer) clearInterval(this.flushTimer);
  }

  private flushIfDue(): void {
    if (!this.ctx.online || this.unflushedMessages === 0) return;
    if (this.ctx.clock() - this.firstUnflushedMs < this.ctx.config.flushMs) return;
    void this.onChain(async () => {
      if (this.ctx.online && this.flushDue()) await this.syncActive();
    }).catch(noop);
  }

  // ---------------------------------------------------------------- beside the chain

  /** Resolves once the fsyncs and deletions queued so far are done (they never reject). */
  settled(): Promise<void> {
    return Promise.all([this.background, this.deletions]).then(noop);
  }

  /**
   * Runs `work` (retention's file deletions) beside the chain, after the deletions queued before it.
   * Its outcome is the caller's; the queue goes on either way.
   */
  queueDeletion<T>(work: () => Promise<T>): Promise<T> {
    const result = this.deletions.then(work);
    this.deletions = result.then(noop, noop);
    return result;
  }

  /** What close() must not ignore: a background fsync that failed after the log stopped being online. */
  throwIfBackgroundFailed(): void {
    if (this.backgroundError !== undefined) throw this.backgroundError;
  }

  /**
   * The disk half of a roll, queued beside the chain: the old segment's indexes and bytes, then the
   * directory (the new segment's entry), then the recovery point moves to `baseOffset`. Truncations
   * wait for it first, so nothing below `baseOffset` changes meanwhile. A failure takes the log
   * offline, as the same failure on the chain would. A crash before it ends leaves the recovery point
   * below the old segment, so opening the log rescans it and rebuilds its indexes.
   */
  afterRoll(old: LogSegment, baseOffset: number, producerSnapshot?: Buffer): void {
    old.refs++; // its file stays open for the flush, whatever retention or the LRU of open files do
    this.background = this.background.then(() => this.flushRolled(old, baseOffset, producerSnapshot));
  }

  /** With the rolled segment, the producer state snapshot at the new segment's base goes to disk. */
  private async flushRolled(old: LogSegment, baseOffset: number, producerSnapshot?: Buffer): Promise<void> {
    try {
      if (!old.deleted) {
        await old.writeIndexes();
        await (await old.handle()).datasync();
      }
      if (producerSnapshot !== undefined && this.ctx.online) {
        await this.writeSnapshot(baseOffset, producerSnapshot);
      }
      await fsyncDir(this.ctx.dir);
      if (!this.ctx.online || this.recovery >= baseOffset) return;
      await this.saveRecoveryPoint(baseOffset);
    } catch (err) {
      if (this.ctx.online) this.ctx.goOffline(err, old.paths.log, undefined);
      else this.backgroundError ??= err;
    } finally {
      this.segments.release(old);
    }
  }

  /**
   * Queues an fdatasync of the active segment once `writebackIntervalBytes` were appended since the
   * last (RocksDB's bytes_per_sync). It promises nothing and nothing waits for it: it keeps the page
   * cache from piling up gigabytes of dirty log that the kernel then writes back all at once, which
   * stalls every process on a small VM (docs/performance-log.md, the fifth look). Without a free slot
   * (writebackSlots, shared by a broker's logs) it is skipped until one frees.
   */
  maybeQueueWriteback(appended: ReadonlyArray<{ readonly bytes: Buffer }>): void {
    const interval = this.ctx.config.writebackIntervalBytes;
    if (interval <= 0) return;
    for (const entry of appended) this.bytesSinceWriteback += entry.bytes.length;
    if (this.bytesSinceWriteback < interval || this.writebackQueued || !this.writebackSlots.tryAcquire()) return;
    this.bytesSinceWriteback = 0;
    this.writebackQueued = true;
    const segment = this.segments.active;
    segment.refs++;
    this.background = this.background.then(async () => {
      this.writebackQueued = false;
      try {
        if (this.ctx.online && !segment.deleted) await (await segment.handle()).datasync();
      } catch (err) {
        // After a failed fsync the kernel may have dropped the pages: the log cannot be trusted.
        if (this.ctx.online) this.ctx.goOffline(err, segment.paths.log, undefined);
      } finally {
        this.segments.release(segment);
        this.writebackSlots.release();
      }
    });
  }
}
