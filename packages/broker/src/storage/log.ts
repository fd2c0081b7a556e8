import { join } from 'node:path';
import { pino, type Logger } from 'pino';
import { readBatchHeader, SamsaError } from '@samsa/protocol';
import { AppendChain, type AppendResult } from './append-chain.js';
import { cleanLog, CleanerCheckpoint, sectionOf, type CleanOptions, type CleanStats } from './cleaner.js';
import type { CleanableSection, CompactionConfig } from './cleaner-plan.js';
import { isCompacted, resolveLogConfig, type LogConfig } from './config.js';
import { Durability } from './durability.js';
import { KafkaStorageError, UnexpectedAppendOffsetError } from './errors.js';
import { CLEAN_SHUTDOWN_FILE, writeFileAtomic } from './files.js';
import { LogContext, type LogState, noop } from './log-context.js';
import { DEFAULT_PRODUCER_ID_EXPIRATION_MS, ProducerStates } from './producer-states.js';
import type { AbortedTxn } from './txn-index.js';
import type { ProducerEntry } from './producer-state.js';
import type { ReadBufferPool } from './read-buffers.js';
import {
  EMPTY_BYTES,
  offsetForMaxTimestamp,
  offsetForTimestamp,
  readLog,
  readLogNow,
  type ReadParts,
  type ReadResult,
} from './reads.js';
import { loadLog, type RecoveryParts } from './recovery.js';
import { deleteOldSegments, deleteRecordsBefore, type RetentionParts } from './retention.js';
import { SegmentSet } from './segment-set.js';
import { LogTail } from './tail.js';
import type { TailBudget } from './tail-budget.js';
import { resetTo, restartBelowStart, truncateTo, type TruncationParts } from './truncation.js';
import { WritebackSlots } from './writeback-slots.js';

export type { AppendResult } from './append-chain.js';
export type { LogState } from './log-context.js';
export { EARLIEST_TIMESTAMP, LATEST_TIMESTAMP, type ReadResult } from './reads.js';
export { BROKER_TAIL_MAX_BYTES } from './tail.js';

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
  /** Shared by the logs of a broker (BROKER_TAIL_MAX_BYTES); a log without one keeps up to 1 MiB. */
  readonly tailBudget?: TailBudget;
  /** Shared by the logs of a broker (BROKER_WRITEBACK_SLOTS); a log without one has a slot of its own. */
  readonly writebackSlots?: WritebackSlots;
  /** producer.id.expiration.ms: producers idle this long are forgotten at the next retention check. */
  readonly producerIdExpirationMs?: number;
  /**
   * Called once, synchronously, when the log goes offline (an I/O error such as a full disk, or
   * corruption); from then on every operation throws `error`. A log that opens offline does not call it.
   */
  readonly onOffline?: (error: KafkaStorageError) => void;
}

/** The parts the operations in recovery.ts, reads.ts, retention.ts and truncation.ts work on. */
type LogParts = RecoveryParts & ReadParts & RetentionParts & TruncationParts;

/**
 * A crash-safe segmented partition log: the face the rest of the broker uses. It holds no state of
 * its own; each part owns one kind:
 * - append-chain.ts: the queue of appends and the chain every change runs on, and the log's
 *   ordering rules (read those first);
 * - segment-set.ts: the segments, the log start offset, open files and indexes, rolling;
 * - tail.ts: the latest leader appends kept in memory for followers' fetches;
 * - durability.ts: the flush policy, the work beside the chain (fsyncs, deletions), the recovery point;
 * - recovery.ts (open), reads.ts, retention.ts (the front of the log), truncation.ts (its end);
 * - log-context.ts: directory, config, logger, clock, and the online/offline/closed state.
 */
export class PartitionLog {
  private readonly ctx: LogContext;
  private readonly segments: SegmentSet;
  private readonly tail: LogTail;
  private readonly durability: Durability;
  private readonly appends: AppendChain;
  private readonly producers: ProducerStates;
  private readonly producerIdExpirationMs: number;
  private readonly parts: LogParts;
  /** The first offset the cleaner has not cleaned yet (cleaner-offset-checkpoint), and its one writer. */
  private cleanerCheckpoint!: CleanerCheckpoint;
  /** The cleaning pass in progress, if any; passes on one log run one at a time. */
  private cleaning: Promise<unknown> = Promise.resolve();
  private cleaningActive = false;
  private cleanerStopped = false;

  private constructor(
    readonly dir: string,
    options: PartitionLogOptions,
  ) {
    this.ctx = new LogContext(
      dir,
      resolveLogConfig(options.config),
      options.logger ?? pino({ level: 'silent' }),
      options.clock ?? Date.now,
    );
    const onChain = (op: () => Promise<void>): Promise<void> => this.appends.enqueue(op);
    this.tail = new LogTail(options.tailBudget);
    this.ctx.onOffline(() => this.tail.clear());
    this.segments = new SegmentSet(this.ctx, onChain);
    this.durability = new Durability(
      this.ctx,
      this.segments,
      options.writebackSlots ?? new WritebackSlots(1),
      onChain,
      (offset, bytes) => this.producers.writeSnapshot(offset, bytes),
    );
    this.producers = new ProducerStates(this.ctx, this.segments);
    this.producerIdExpirationMs = options.producerIdExpirationMs ?? DEFAULT_PRODUCER_ID_EXPIRATION_MS;
    this.appends = new AppendChain(this.ctx, this.segments, this.tail, this.durability, this.producers);
    this.parts = {
      ctx: this.ctx,
      segments: this.segments,
      tail: this.tail,
      durability: this.durability,
      producers: this.producers,
    };
  }

  /** The settings in effect now (reconfigure changes them). */
  get config(): LogConfig {
    return this.ctx.config;
  }

  /**
   * Applies changed topic configs to the open log without reopening it: `overrides` go over the
   * current settings, checked as at open (a RangeError leaves them as they were). Every part reads
   * the settings at each use, so retention, the cleaner, flushing and append checks follow at once;
   * segment.bytes and segment.ms apply from the next roll decision (the active segment is not cut).
   */
  reconfigure(overrides: Partial<LogConfig>): void {
    this.ctx.reconfigure(resolveLogConfig({ ...this.ctx.config, ...overrides }));
  }

  /** Opens (and if needed recovers) the log in `options.dir`. A corrupt log opens in state 'offline'. */
  static async open(options: PartitionLogOptions): Promise<PartitionLog> {
    const log = new PartitionLog(options.dir, options);
    try {
      await loadLog(log.parts, options.initialOffset ?? 0);
      const onOffline = options.onOffline;
      if (onOffline) log.ctx.onOffline(onOffline);
      // Inside the try: lowering the checkpoint writes a file, and a failure there must close the segments too.
      log.cleanerCheckpoint = await CleanerCheckpoint.load(options.dir);
      if (log.state === 'online') await log.lowerCleanerCheckpoint(log.logEndOffset);
    } catch (err) {
      // An I/O failure while opening (permissions, a full disk, EIO) is a storage error, not a crash; the
      // segment files opened so far are closed (the caller gets no log to close).
      await log.segments.closeAll();
      if (err instanceof SamsaError) throw err;
      throw new KafkaStorageError(
        `cannot open the log in ${options.dir}: ${(err as Error).message}`,
        undefined,
        undefined,
        { cause: err },
      );
    }
    log.durability.startFlushTimer();
    return log;
  }

  get state(): LogState {
    return this.ctx.state;
  }

  get logStartOffset(): number {
    return this.segments.startOffset;
  }

  /**
   * The log start that survives a crash: at most logStartOffset, and behind it while a start moved
   * by deleteRecordsBefore or retention is not saved yet (its file, or the segment files below it
   * deleted). What a follower states to its leader for DeleteRecords' low watermark.
   */
  get savedLogStartOffset(): number {
    return this.segments.savedStartOffset;
  }

  /** Offset the next append gets: one past the last acknowledged-as-written batch. */
  get logEndOffset(): number {
    return this.segments.endOffset;
  }

  /** Total bytes of all segments. */
  get sizeInBytes(): number {
    return this.segments.sizeInBytes;
  }

  get segmentCount(): number {
    return this.segments.all.length;
  }

  /** Base offsets of the segments, oldest first. */
  segmentBaseOffsets(): number[] {
    return this.segments.all.map((s) => s.baseOffset);
  }

  /**
   * The last stable offset given the high watermark: below it every transaction has ended (its marker
   * is written). A transaction's decision is final before its markers are written (the coordinator
   * replicated it), so a marker not yet below the high watermark does not hold the offset back.
   */
  lastStableOffset(highWatermark: number): number {
    const firstUnstable = this.producers.table.firstUnstableOffset();
    return firstUnstable === undefined ? highWatermark : Math.min(highWatermark, firstUnstable);
  }

  /** The aborted transactions that may have batches in [fromOffset, toOffset) (read_committed fetches). */
  abortedTransactions(fromOffset: number, toOffset: number): AbortedTxn[] {
    return this.producers.aborted.overlapping(fromOffset, toOffset);
  }

  /** Every producer this log keeps state for, in producer id order (DescribeProducers). */
  activeProducers(): ProducerEntry[] {
    return this.producers.table.all();
  }

  /** What this log knows of a producer (its epoch and last batches), for tests and tools. */
  producerState(producerId: number): ProducerEntry | undefined {
    return this.producers.table.entry(producerId);
  }

  /** The first offset of the oldest open transaction, if any: the last stable offset cannot pass it. */
  get firstUnstableOffset(): number | undefined {
    return this.producers.table.firstUnstableOffset();
  }

  /** Bytes this log keeps in its tail (for tests and metrics). */
  get tailBytes(): number {
    return this.tail.retainedBytes;
  }

  /**
   * Appends producer batches as the leader: checks framing, CRC and sizes, then stamps base offsets
   * and `leaderEpoch` into `batches` in place (outside the CRC, records untouched). The caller must
   * not modify the buffer until the promise settles. Several concatenated batches are one append.
   * With `onExposed`, its run is exposed to followers (readForFollower) once its CRCs passed, before
   * its write completes, and `onExposed` is told then; without, it is exposed once written.
   */
  append(batches: Buffer, options: { leaderEpoch?: number; onExposed?: () => void } = {}): Promise<AppendResult> {
    return this.appends.append(batches, false, options.leaderEpoch ?? -1, undefined, options.onExposed);
  }

  /**
   * What a leader's followers may copy: the log end, or past it the end of the appends whose CRCs
   * passed and whose write is under way (append-chain.ts). Only replication reads up to it.
   */
  get exposedEndOffset(): number {
    return Math.max(this.segments.endOffset, this.tail.endOffset);
  }

  /**
   * A leader's read for a follower: as read(), but up to exposedEndOffset. An exposed append the tail
   * no longer holds (the broker-wide tail budget took it back) is read once written.
   */
  async readForFollower(fromOffset: number, maxBytes: number): Promise<ReadResult> {
    const now = this.readForFollowerNow(fromOffset, maxBytes);
    if (now !== undefined) return now;
    if (this.exposedUnread(fromOffset) && fromOffset >= this.segments.endOffset) await this.appends.appendsSettled();
    return readLog(this.parts, fromOffset, maxBytes, {});
  }

  /**
   * readForFollower's answer when memory holds it (the tail, or nothing to read), without a promise: a
   * leader reads for each follower fetch twice, when it parks and when an append wakes it. Undefined
   * when the bytes must come from the files (call readForFollower). Throws as readForFollower rejects.
   */
  readForFollowerNow(fromOffset: number, maxBytes: number): ReadResult | undefined {
    this.ctx.ensureOnline();
    if (this.exposedUnread(fromOffset)) {
      const exposedEnd = this.exposedEndOffset;
      const written = this.segments.endOffset;
      const logStartOffset = this.segments.startOffset;
      if (fromOffset === exposedEnd)
        return { bytes: EMPTY_BYTES, firstOffset: -1, lastOffset: -1, logStartOffset, logEndOffset: written };
      const fromTail = this.tail.read(fromOffset, maxBytes, exposedEnd, this.segments.active.baseOffset);
      if (fromTail === undefined) return undefined;
      const { bytes, firstOffset, lastOffset } = fromTail;
      return { bytes, firstOffset, lastOffset, logStartOffset, logEndOffset: written };
    }
    return readLogNow(this.parts, fromOffset, maxBytes, {});
  }

  /** Whether `fromOffset` is in the range of a read past the written end (appends exposed, not written). */
  private exposedUnread(fromOffset: number): boolean {
    const exposedEnd = this.exposedEndOffset;
    return exposedEnd > this.segments.endOffset && fromOffset >= this.segments.startOffset && fromOffset <= exposedEnd;
  }

  /**
   * Resolves once every append (leader, marker or follower) queued before the call is written or
   * refused. A leader taking a new epoch waits for it, so the epoch starts after every batch stamped
   * with an older one (Kafka assigns the epoch under the log's lock for the same reason).
   */
  appendsSettled(): Promise<void> {
    return this.appends.appendsSettled();
  }

  /**
   * Appends a transaction marker (one control batch) as the leader, for the transaction coordinator of
   * `coordinatorEpoch` (WriteTxnMarkers). Producer state checks it as a marker (analyzeMarker); a retry
   * of a marker already written resolves with lastOffset -1 and writes nothing.
   */
  appendMarker(
    batch: Buffer,
    options: { leaderEpoch: number; coordinatorEpoch: number; sameEpoch?: boolean; txnStartMs?: number },
  ): Promise<AppendResult> {
    return this.appends.append(batch, false, options.leaderEpoch, {
      coordinatorEpoch: options.coordinatorEpoch,
      sameEpoch: options.sameEpoch ?? false,
      txnStartMs: options.txnStartMs ?? 0,
    });
  }

  /** The coordinator verified a write of `producerId`'s transaction started at `txnStartMs` (see MarkerCheck). */
  noteTxnVerified(producerId: number, txnStartMs: number): void {
    this.producers.table.noteVerified(producerId, txnStartMs);
  }

  /**
   * Appends batches copied from the leader, keeping their offsets and epochs. The first base offset
   * must not be below the log end offset (above it is a gap a cleaned leader left) and offsets must
   * increase, else UnexpectedAppendOffsetError. One exception: an empty log whose start lies inside
   * the first batch (its leader's start, moved there by DeleteRecords, retention or compaction, and
   * the follower reset to it) restarts at that batch's base, keeping its start, and takes the batch
   * (see restartBelowStart in truncation.ts).
   */
  async appendAsFollower(batches: Buffer): Promise<AppendResult> {
    try {
      return await this.appends.append(batches, true, -1);
    } catch (err) {
      if (!(err instanceof UnexpectedAppendOffsetError) || batches.length === 0) throw err;
      const first = readBatchHeader(batches, 0);
      const restarted = await this.appends.enqueue(async () => {
        const last = first.baseOffset + first.lastOffsetDelta;
        const done = await restartBelowStart(this.parts, first.baseOffset, last);
        if (done) await this.lowerCleanerCheckpoint(first.baseOffset);
        return done;
      });
      if (!restarted) throw err;
      return this.appends.append(batches, true, -1);
    }
  }

  /** See readLog. */
  read(
    fromOffset: number,
    maxBytes: number,
    options: { maxOffset?: number; buffers?: ReadBufferPool; fromFiles?: boolean } = {},
  ): Promise<ReadResult> {
    return readLog(this.parts, fromOffset, maxBytes, options);
  }

  /** See reads.ts: the first offset whose timestamp is >= `timestamp`. */
  offsetForTimestamp(timestamp: number): Promise<{ offset: number; timestamp: number } | undefined> {
    return offsetForTimestamp(this.parts, timestamp);
  }

  /** See reads.ts: the first record with the largest timestamp (ListOffsets MAX_TIMESTAMP, KIP-734). */
  offsetForMaxTimestamp(): Promise<{ offset: number; timestamp: number } | undefined> {
    return offsetForMaxTimestamp(this.parts);
  }

  /** fsyncs everything written so far. Resolves when it is on stable storage. */
  flush(): Promise<void> {
    return this.appends.enqueue(async () => {
      this.ctx.ensureOnline();
      await this.durability.syncActive();
    });
  }

  /** Rolls now if the active segment is non-empty (Kafka's forced roll). */
  roll(): Promise<void> {
    return this.appends.roll();
  }

  /**
   * Kafka's DeleteRecords (see retention.ts). The caller bounds `offset` by the high watermark.
   * Returns the log start offset.
   */
  deleteRecordsBefore(offset: number): Promise<number> {
    return deleteRecordsBefore(this.parts, (op) => this.appends.enqueue(op), offset);
  }

  /**
   * Deletes whole inactive segments beyond retention.ms or retention.bytes (see retention.ts); the
   * files go beside the append chain. Returns how many were deleted, once their files are gone. The
   * broker calls this periodically (Kafka's log.retention.check.interval.ms), with the partition's
   * high watermark as `maxOffset`: only segments wholly below it go.
   */
  deleteOldSegments(maxOffset?: number): Promise<number> {
    return deleteOldSegments(this.parts, (op) => this.appends.enqueue(op), this.producerIdExpirationMs, maxOffset);
  }

  /** Removes everything at or after `offset` (replica divergence): see truncation.ts. */
  truncateTo(offset: number): Promise<void> {
    return this.appends.enqueue(async () => {
      await truncateTo(this.parts, offset);
      await this.lowerCleanerCheckpoint(this.segments.endOffset);
    });
  }

  /** Empties the log and restarts it at `offset` (Kafka's truncateFullyAndStartAt): see truncation.ts. */
  resetTo(offset: number): Promise<void> {
    return this.appends.enqueue(async () => {
      await resetTo(this.parts, offset);
      await this.lowerCleanerCheckpoint(offset);
    });
  }

  // ---------------------------------------------------------------- compaction (cleaner.ts)

  /** The settings the cleaner obeys for this log. */
  get compactionConfig(): CompactionConfig {
    const { minCleanableDirtyRatio, minCompactionLagMs, maxCompactionLagMs, deleteRetentionMs, segmentBytes } =
      this.config;
    return { minCleanableDirtyRatio, minCompactionLagMs, maxCompactionLagMs, deleteRetentionMs, segmentBytes };
  }

  /** Whether the cleaner works on this log (cleanup.policy compact or compact,delete). */
  get compacted(): boolean {
    return isCompacted(this.config);
  }

  /** The clean and dirty sections, for the cleaner to choose a log; `stableOffset` is the high watermark. */
  cleanableSection(stableOffset: number): CleanableSection {
    return sectionOf(this.parts, this.cleanerCheckpoint.offset, stableOffset, this.compactionConfig, this.ctx.clock());
  }

  /**
   * One cleaning pass (see cleaner.ts): compacts the log up to where the offset map reaches and
   * moves the cleaner checkpoint there. Undefined when nothing was dirty or the pass was stopped.
   * Appends and reads go on meanwhile; passes on one log run one at a time.
   */
  clean(options: CleanOptions): Promise<CleanStats | undefined> {
    const run = this.cleaning.then(async () => {
      this.ctx.ensureOnline();
      if (!this.compacted || this.cleanerStopped) return undefined;
      this.cleaningActive = true;
      const checkpoint = this.cleanerCheckpoint;
      checkpoint.beginPass();
      try {
        // A truncation below what the pass may reach (an unclean election) stops it: see CleanerCheckpoint.
        const stopped = (): boolean =>
          this.cleanerStopped ||
          !this.ctx.online ||
          options.aborted?.() === true ||
          checkpoint.truncatedBelow(options.stableOffset);
        const stats = await cleanLog(
          { ...this.parts, onChain: (op) => this.appends.enqueue(op) },
          checkpoint.offset,
          this.compactionConfig,
          { ...options, aborted: stopped },
        );
        if (stats === undefined || stopped()) return undefined;
        if (!(await checkpoint.advance(stats.mapEndOffset))) return undefined;
        options.crashAt?.('checkpoint-written');
        return stats;
      } finally {
        this.cleaningActive = false;
      }
    });
    this.cleaning = run.catch(noop);
    return run;
  }

  /**
   * After truncation the cleaner must look at what gets appended again below its old checkpoint. Also
   * at open: a crash between a truncation and this, or a torn tail, leaves a checkpoint past the end.
   */
  private lowerCleanerCheckpoint(offset: number): Promise<void> {
    return this.cleanerCheckpoint.lower(offset);
  }

  /**
   * Tests: plays a crash. Nothing more is written (no indexes, no recovery point, no clean-shutdown
   * marker); the files are closed and the next open recovers as after a SIGKILL.
   */
  async abandon(): Promise<void> {
    this.cleanerStopped = true;
    this.durability.stopFlushTimer();
    this.ctx.markClosed();
    await this.segments.closeAll();
  }

  /**
   * Clean shutdown: waits for queued work, writes the indexes, fsyncs, records the recovery point and
   * writes the clean-shutdown marker last. An offline log just releases its files.
   */
  close(): Promise<void> {
    this.durability.stopFlushTimer();
    // A cleaning pass stops at its next step; its swap, if it started, finishes first.
    this.cleanerStopped = true;
    if (this.cleaningActive) return this.cleaning.then(() => this.closeOnChain());
    return this.closeOnChain();
  }

  private closeOnChain(): Promise<void> {
    return this.appends.enqueue(async () => {
      if (this.ctx.state === 'closed') return;
      const wasOnline = this.ctx.online;
      this.ctx.markClosed();
      this.tail.clear();
      try {
        if (wasOnline) {
          await this.durability.settled();
          this.durability.throwIfBackgroundFailed();
          const active = this.segments.active;
          active.sealTimeIndex();
          await active.writeIndexes();
          await (await active.handle()).datasync();
          await this.durability.saveRecoveryPoint(active.nextOffset);
          await this.producers.writeSnapshot(active.nextOffset);
          await writeFileAtomic(join(this.dir, CLEAN_SHUTDOWN_FILE), '', this.dir);
        }
      } finally {
        await this.segments.closeAll();
      }
    });
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}

/** Opens the log of one partition. See PartitionLog. */
export function openPartitionLog(options: PartitionLogOptions): Promise<PartitionLog> {
  return PartitionLog.open(options);
}
