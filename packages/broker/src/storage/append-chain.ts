/**
 * The append chain: the one place where the ordering rules of a partition log live.
 *
 * What the chain serializes. Every change to a log runs on `chain`, one at a time, in the order it
 * was queued: a drain of the queued appends (which may roll), a forced roll, flush() and the flush.ms
 * timer's fsync, truncateTo and resetTo, deleteRecordsBefore, retention's choice of segments, the
 * rebuild of the active segment's indexes, and close(). None of them sees another half done, and
 * only they change the segment set, the log start offset, and the active segment's in-memory state.
 *
 * What runs beside it.
 * - Reads, at any time. They only see bytes whose write has completed: a run of appends becomes
 *   visible (`segment.size`, `nextOffset`, the tail) only once its write returned and its CRCs
 *   passed, and a run with a bad batch is undone before anything became visible. Truncation cuts
 *   memory before files, so no reader sees past the new end; a segment deleted under a read keeps
 *   its file open until the read is done, which then ends with OffsetOutOfRange.
 * - One exception, for a leader's followers only (PartitionLog.readForFollower), and only for a run
 *   written through the thread pool with an append that asks for it (`onExposed`,
 *   replica.fetch.unwritten.enable): the run's leader appends join the tail, exposed, as soon as its
 *   CRCs passed and its write was handed to the thread pool, so followers copy it while the leader
 *   writes. Replication's high watermark still counts only the written end (the leader's
 *   LeaderState), so nothing exposed is acknowledged or read by consumers before the leader's own
 *   log holds it. A run written on the event loop is exposed (onExposed called) once written.
 *
 * How a run is written. A run of at most inlineWriteMaxBytes (32 KiB by default) is written with a
 * synchronous pwrite/pwritev on the event loop, as Kafka's request threads write to the page cache:
 * its CRCs are checked first (a bad run never reaches the file), and the write costs the loop no
 * more than handing it to the thread pool would, without the pool's round trip (about 50 µs on the
 * leader and again on each follower of an acks=all append). A larger run is written on the thread
 * pool while its CRCs are checked on the event loop; a bad one is cut from the file again. Either
 * way short writes are finished and a failed write takes the log offline.
 * - Background fsyncs (Durability's queue, one at a time, never rejecting): the disk half of a roll
 *   (the old segment's indexes, its fdatasync, the directory's fsync, then the recovery point), as
 *   Kafka's roll schedules its flush, and early writeback of the active segment every
 *   writebackIntervalBytes. A roll on the chain only seals the old segment and opens the next file.
 * - Retention's file deletions (a queue of their own in Durability): the segments leave the set on
 *   the chain, then their files are unlinked and the directory fsynced beside it.
 * - Index loads and rebuilds of inactive segments, started by readers.
 * - The log cleaner (cleaner.ts): it reads inactive segments below the high watermark, the recovery
 *   point and any open transaction, and writes `.cleaned` files, all beside the chain. Only its swap
 *   touches the chain, briefly and without fsync: it checks that the group of segments is still in
 *   the set exactly as planned (same objects, same sizes, not the active segment), renames
 *   `.cleaned` to `.swap` (the commit point: from here a crash finishes the swap at open) and puts
 *   the cleaned segment in the group's place. Renaming the old files to `.deleted`, the `.swap` to
 *   its name, writing its indexes and deleting the old files run on Durability's deletion queue.
 *   Readers holding an old segment finish with it (the cleaner pinned it, file open, indexes
 *   loaded); readers that reach it afterwards look the offset up again in the new set.
 *   Followers accept a batch that starts past their log end: it is the gap a cleaned leader left.
 *
 * What waits for what.
 * - Persist before acknowledging: an append resolves only after its bytes are written (page cache),
 *   and when flush.messages or flush.ms ask for it, after the active segment's fdatasync. That
 *   fsync first waits for the background flushes of segments rolled since the last one: acknowledged
 *   appends may sit there too. A roll in the middle of a drain restarts flush.messages' count but not
 *   what the policy asked for the appends before it (whatever the runs after the roll hold, a bad
 *   one included). Otherwise appends never wait for a background fsync.
 * - The recovery point moves past a rolled segment only once its indexes, its bytes and the
 *   directory entry of the next one are on disk. Truncation, reset and close wait for the background
 *   fsyncs and deletions first, so nothing below a pending recovery point changes under them, no two
 *   writes of the checkpoint overlap, and no new segment takes the name of one being deleted.
 * - Nothing waits for retention's deletions (and the cleaner's swaps on the same queue) but their
 *   own callers, those three, and deleteRecordsBefore (which deletes files on the chain itself).
 *   close() first stops a cleaning pass and waits for it, outside the chain.
 * - The clean-shutdown marker is deleted (and the directory fsynced) at open, before the first
 *   change, and written last by close(), after the background fsyncs, the active segment's indexes
 *   and fdatasync, and the recovery point.
 * - Going offline rejects the queued appends; every operation after it throws.
 *
 * Producer state (producer-states.ts) changes on the chain only: a leader append with a producer id is
 * checked against the state the appends before it in queue order leave (a retry is answered with the
 * original offsets, a gap or a fenced epoch is refused) and applied when its offsets are assigned; a
 * run whose CRC check fails undoes its applies with its bytes. A duplicate's answer waits for the
 * write of its run, so nothing is acknowledged before the bytes it names are written. A transaction
 * marker (appendMarker) is checked the same way against the state before it (ProducerStateTable.analyzeMarker).
 */
import fs from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import { Attribute, BatchField, batchSize, stampBatch, writeBatchCrc, type BatchSpan } from '@samsa/protocol';
import { Bag, type BagEntry } from '../bag.js';
import { corruptionOf, crcsValid, validateAppend } from './append-validation.js';
import type { Durability } from './durability.js';
import type { MarkerCheck } from './producer-state.js';
import type { ProducerStates } from './producer-states.js';
import { UnexpectedAppendOffsetError } from './errors.js';
import { SamsaError } from '@samsa/protocol';
import { writeFully } from './files.js';
import { type LogContext, noop } from './log-context.js';
import type { LogSegment, SegmentSnapshot } from './segment.js';
import type { SegmentSet } from './segment-set.js';
import type { LogTail } from './tail.js';

export interface AppendResult {
  readonly baseOffset: number;
  readonly lastOffset: number;
  /** Set when the log stamps LogAppendTime. */
  readonly logAppendTimeMs: number | undefined;
  readonly recordCount: number;
  readonly sizeInBytes: number;
}

/**
 * One queued append, from `append` until it settles: one object (no spreads of a base, no per-append
 * record of its result or its place in the unsettled set), as every append on a broker makes one.
 */
class PendingAppend {
  /** Set by the drain when producer state says this append repeats one already in the log. */
  duplicateOf: AppendResult | undefined = undefined;
  /** Its offsets once assigned (or duplicateOf's), in the run being written. */
  result: AppendResult | undefined = undefined;
  /** Its place in the chain's unsettled appends. */
  unsettled: BagEntry<PendingAppend> | undefined = undefined;
  readonly promise: Promise<AppendResult>;
  private resolvePromise!: (result: AppendResult) => void;
  private rejectPromise!: (err: unknown) => void;

  constructor(
    readonly bytes: Buffer,
    readonly spans: BatchSpan[],
    /** False until the drain checks the CRCs alongside the write. */
    readonly crcChecked: boolean,
    readonly follower: boolean,
    readonly leaderEpoch: number,
    /** Set for a transaction marker written for a coordinator (a leader append). */
    readonly marker: MarkerCheck | undefined,
    /** Told when a leader's followers may copy it: its CRCs passed and its write is under way. */
    readonly onExposed: (() => void) | undefined,
  ) {
    this.promise = new Promise<AppendResult>((resolve, reject) => {
      this.resolvePromise = resolve;
      this.rejectPromise = reject;
    });
  }

  resolve(result: AppendResult): void {
    this.settled();
    this.resolvePromise(result);
  }

  reject(err: unknown): void {
    this.settled();
    this.rejectPromise(err);
  }

  private settled(): void {
    if (this.unsettled !== undefined) this.unsettled.bag.delete(this.unsettled);
    this.unsettled = undefined;
  }
}

/** No appends: what a run whose CRCs all passed returns (never added to). */
const NONE: readonly PendingAppend[] = Object.freeze([]);

export class AppendChain {
  private chain: Promise<void> = Promise.resolve();
  private pending: PendingAppend[] = [];
  private drainScheduled = false;
  /**
   * Every append queued and not yet settled (appendsSettled waits for them); a Bag, not a Set: it empties
   * at every append (see bag.ts).
   */
  private readonly unsettled = new Bag<PendingAppend>();
  /** The drain, as queued on the chain: one function for every drain. */
  private readonly drainOnChain = (): Promise<void> => this.drainAppends();

  constructor(
    private readonly ctx: LogContext,
    private readonly segments: SegmentSet,
    private readonly tail: LogTail,
    private readonly durability: Durability,
    private readonly producers: ProducerStates,
  ) {
    ctx.onOffline((error) => {
      for (const entry of this.pending.splice(0)) entry.reject(error);
    });
  }

  /** Runs `op` once everything queued before it has settled; see the rules above. */
  enqueue<T>(op: () => Promise<T>): Promise<T> {
    const result = this.chain.then(op);
    this.chain = result.then(noop, noop);
    return result;
  }

  /**
   * Checks `batches` (framing and sizes now, CRCs during the write) and queues them. A leader's are
   * stamped with offsets and `leaderEpoch` in place; a follower's keep theirs and must continue the log.
   */
  append(
    batches: Buffer,
    follower: boolean,
    leaderEpoch: number,
    marker?: MarkerCheck,
    onExposed?: () => void,
  ): Promise<AppendResult> {
    try {
      this.ctx.ensureOnline();
      const { spans, crcChecked } = validateAppend(batches, follower, this.ctx.config);
      return this.enqueueAppend(
        new PendingAppend(batches, spans, crcChecked, follower, leaderEpoch, marker, onExposed),
      );
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /**
   * Resolves once every append queued before the call has settled (written, or refused). A drain
   * queued behind a no-op on the chain is not enough: a run whose CRC check failed puts its good
   * appends back in the queue with a new drain, which then runs after such a no-op. Appends queued
   * after the call are not waited for.
   */
  appendsSettled(): Promise<void> {
    if (this.unsettled.size === 0) return Promise.resolve();
    return Promise.allSettled(this.unsettled.values().map((entry) => entry.promise)).then(noop);
  }

  /** Rolls now if the active segment is non-empty (Kafka's forced roll). */
  roll(): Promise<void> {
    return this.enqueue(async () => {
      this.ctx.ensureOnline();
      const active = this.segments.active;
      if (active.size > 0) await this.rollTo(active.nextOffset);
    });
  }

  private enqueueAppend(append: PendingAppend): Promise<AppendResult> {
    this.pending.push(append);
    append.unsettled = this.unsettled.add(append);
    this.scheduleDrain();
    return append.promise;
  }

  /** Queues a drain on the chain unless one is queued (as enqueue does, without a closure per drain). */
  private scheduleDrain(): void {
    if (this.drainScheduled) return;
    this.drainScheduled = true;
    // drainOnChain never rejects, so the chain stays a fulfilled promise (enqueue's rule).
    this.chain = this.chain.then(this.drainOnChain);
  }

  /**
   * Writes every queued append in one go: offsets assigned in queue order, one write per segment
   * touched, then the flush policy, then every promise settles. Concurrent producers share a
   * syscall (and an fsync when flush.messages asks for one). A bad batch undoes its run before
   * anything becomes visible, and the good appends of that run are queued again (writeRun).
   */
  private async drainAppends(): Promise<void> {
    // Never rejects (the chain must stay a fulfilled promise): no .catch() promise per drain.
    try {
      const entries = this.pending;
      this.pending = [];
      this.drainScheduled = false;
      const done: PendingAppend[] = [];
      let run: PendingAppend[] = [];
      let duplicates = false;
      // A roll resets flush.messages' count (its flush is queued beside the chain), but what the flush
      // policy asked for the appends before it still holds: syncActive waits for that flush.
      let flushOwed = false;
      let snapshot = this.segments.active.snapshot();
      let writePos = this.segments.active.size;
      let nextOffset = this.segments.active.nextOffset;
      this.producers.beginWrite();
      try {
        this.ctx.ensureOnline();
        for (let i = 0; i < entries.length; i++) {
          const entry = entries[i]!;
          // A gap is fine: the leader's cleaner may have removed the records a follower lacks.
          if (entry.follower && entry.spans[0]!.header.baseOffset < nextOffset) {
            const actual = entry.spans[0]!.header.baseOffset;
            entry.reject(
              new UnexpectedAppendOffsetError(
                `follower append starts at ${actual}, below the log end offset ${nextOffset}`,
                nextOffset,
                actual,
              ),
            );
            continue;
          }
          if (!entry.follower) {
            const verdict =
              entry.marker === undefined
                ? this.producers.analyze(entry.spans)
                : this.producers.analyzeMarker(entry.spans, entry.marker);
            if (verdict.kind === 'rejected') {
              entry.reject(new SamsaError(verdict.error, verdict.message));
              continue;
            }
            if (verdict.kind === 'duplicate') {
              entry.duplicateOf = duplicateResult(verdict.firstOffset, verdict.lastOffset, entry);
              entry.result = entry.duplicateOf;
              duplicates = true;
              run.push(entry);
              continue;
            }
          }
          const now = this.ctx.clock();
          if (this.segments.shouldRoll(writePos, entry, nextOffset, now)) {
            const committed = this.commitRun(run, duplicates, snapshot, writePos, nextOffset, done);
            const bad = committed instanceof Promise ? await committed : committed;
            if (bad.length > 0) return await this.retryWithout(bad, run, entries.slice(i), done, flushOwed);
            run = [];
            duplicates = false;
            if (this.durability.flushDue()) flushOwed = true;
            await this.rollTo(nextOffset);
            snapshot = this.segments.active.snapshot();
            writePos = 0;
            this.producers.beginWrite();
          }
          const result = this.assignOffsets(entry, nextOffset, writePos, now);
          nextOffset = result.lastOffset + 1;
          writePos += entry.bytes.length;
          entry.result = result;
          run.push(entry);
        }
        const committed = this.commitRun(run, duplicates, snapshot, writePos, nextOffset, done);
        const bad = committed instanceof Promise ? await committed : committed;
        if (bad.length > 0) return await this.retryWithout(bad, run, [], done, flushOwed);
        if (flushOwed || this.durability.flushDue()) await this.durability.syncActive();
        else this.durability.maybeQueueWriteback(done);
      } catch (err) {
        this.producers.commitWrite();
        const storageError = this.ctx.goOffline(err, this.segments.active.paths.log, snapshot.size);
        for (const entry of entries) entry.reject(storageError);
        return;
      }
      for (const entry of done) entry.resolve(entry.result as AppendResult);
    } catch (err) {
      // Only a bug gets here (every failure of a drain is its appends', rejected above): say so, loudly,
      // rather than leave appends unanswered without a trace.
      this.ctx.logger.error({ err }, 'append drain failed outside its appends (a bug)');
    }
  }

  /**
   * Writes a run (its appends but the duplicates) and commits or undoes its producer state; a good
   * run's appends join `done`. Returns the appends whose CRC check failed; without a promise when the run
   * was written on the event loop (the usual run: no async step between the write and the commit).
   */
  private commitRun(
    run: PendingAppend[],
    duplicates: boolean,
    snapshot: SegmentSnapshot,
    writePos: number,
    nextOffset: number,
    done: PendingAppend[],
  ): readonly PendingAppend[] | Promise<readonly PendingAppend[]> {
    const writes = duplicates ? run.filter((entry) => entry.duplicateOf === undefined) : run;
    const bad = writes.length === 0 ? NONE : this.writeRun(writes, snapshot, writePos, nextOffset);
    if (bad instanceof Promise) return bad.then((b) => this.afterRun(b, run, writes, done));
    return this.afterRun(bad, run, writes, done);
  }

  /**
   * commitRun once the run's write is done: commits or undoes its producer state. The write ends here
   * (the drain begins another for a run after a roll): left open, the applies of a truncation's
   * rebuild would be taken for a write's, their aborted transactions held back for its commit.
   */
  private afterRun(
    bad: readonly PendingAppend[],
    run: PendingAppend[],
    writes: PendingAppend[],
    done: PendingAppend[],
  ): readonly PendingAppend[] {
    if (bad.length === 0) {
      this.producers.commitWrite();
      for (const entry of writes) this.durability.countUnflushed((entry.result as AppendResult).recordCount);
      for (const entry of run) done.push(entry);
    } else {
      this.producers.abortWrite();
    }
    return bad;
  }

  /** A run failed its CRC check and was undone: reject the bad appends, queue the rest again. */
  private async retryWithout(
    bad: readonly PendingAppend[],
    run: PendingAppend[],
    unprocessed: PendingAppend[],
    done: PendingAppend[],
    flushOwed: boolean,
  ): Promise<void> {
    for (const entry of bad) entry.reject(corruptionOf(entry));
    const again = [...run.filter((e) => !bad.includes(e)), ...unprocessed];
    for (const entry of again) {
      entry.duplicateOf = undefined;
      entry.result = undefined;
    }
    this.pending.unshift(...again);
    if (this.pending.length > 0) this.scheduleDrain();
    if (flushOwed || this.durability.flushDue()) await this.durability.syncActive();
    for (const entry of done) entry.resolve(entry.result as AppendResult);
  }

  /**
   * A run whose CRCs passed joins the tail. When one of its appends asked for it (onExposed), that is
   * while its write is still under way, and a leader's followers may copy it (PartitionLog.
   * exposedEndOffset and readForFollower) meanwhile; other readers stop at the written end. Nothing
   * else undoes a run from there: a failed write takes the log offline, which clears the tail.
   * Exposing before the CRC check would hand followers batches that a bad one's undo then moves to
   * other offsets. Otherwise a run joins the tail once written, before it becomes visible.
   */
  private expose(run: readonly PendingAppend[]): void {
    for (const entry of run) this.tail.remember(entry, entry.result as AppendResult);
    for (const entry of run) entry.onExposed?.();
  }

  /**
   * Seals the active segment and starts one at `baseOffset`. Only opening the new file happens here,
   * on the chain; the old segment's flush (Durability.afterRoll) can take seconds behind other
   * writes on a busy disk, and appends do not wait for it.
   */
  private async rollTo(baseOffset: number): Promise<void> {
    const old = await this.segments.roll(baseOffset);
    this.durability.resetUnflushed();
    this.durability.afterRoll(old, baseOffset, this.producers.snapshotAt(baseOffset));
    this.ctx.logger.info({ segment: this.segments.active.paths.log, previousSize: old.size }, 'rolled segment');
  }

  /** Stamps offsets (leader), updates the in-memory indexes; nothing is visible until the write completes. */
  private assignOffsets(entry: PendingAppend, firstOffset: number, filePosition: number, now: number): AppendResult {
    const segment = this.segments.active;
    const config = this.ctx.config;
    const logAppendTime = !entry.follower && config.messageTimestampType === 'LogAppendTime';
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
      if (header.producerId >= 0) this.producers.applyStamped(header, entry.bytes, position, baseOffset, maxTimestamp);
      segment.recordBatch(
        filePosition + position,
        baseOffset,
        last,
        maxTimestamp,
        batchSize(header),
        config.indexIntervalBytes,
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
   * Writes one run of appends to the active segment at `snapshot.size`: on the event loop when the
   * run is at most inlineWriteMaxBytes, else through the thread pool. Returns the appends whose CRC
   * check failed, after undoing the run; otherwise makes the run visible to readers and returns [].
   */
  private writeRun(
    entries: PendingAppend[],
    snapshot: SegmentSnapshot,
    end: number,
    nextOffset: number,
  ): readonly PendingAppend[] | Promise<readonly PendingAppend[]> {
    const segment = this.segments.active;
    const inline = end - snapshot.size <= this.ctx.config.inlineWriteMaxBytes;
    if (!inline || segment.fh === undefined) return this.writeRunAsync(entries, snapshot, end, nextOffset);
    return this.ranWrite(segment, this.writeInline(segment.fh, entries, snapshot.size), snapshot, end, nextOffset);
  }

  /** writeRun through the thread pool, or once the segment's file handle is open. */
  private async writeRunAsync(
    entries: PendingAppend[],
    snapshot: SegmentSnapshot,
    end: number,
    nextOffset: number,
  ): Promise<readonly PendingAppend[]> {
    const segment = this.segments.active;
    const fh = segment.fh ?? (await segment.handle());
    const bad =
      end - snapshot.size <= this.ctx.config.inlineWriteMaxBytes
        ? this.writeInline(fh, entries, snapshot.size)
        : await this.writeThroughPool(fh, entries, snapshot.size);
    return this.ranWrite(segment, bad, snapshot, end, nextOffset);
  }

  /** A run's write is done: undoes it (bad CRCs) or makes it visible to readers. */
  private ranWrite(
    segment: LogSegment,
    bad: readonly PendingAppend[],
    snapshot: SegmentSnapshot,
    end: number,
    nextOffset: number,
  ): readonly PendingAppend[] {
    if (bad.length > 0) {
      segment.restore(snapshot);
      return bad;
    }
    segment.size = end;
    segment.nextOffset = nextOffset;
    segment.lastModifiedMs = this.ctx.clock();
    return NONE;
  }

  /**
   * A small run, written with synchronous positional writes: no thread-pool round trip, and the
   * event loop spends no longer on it than on handing it to the pool. Its CRCs are checked first, so
   * a bad run never reaches the file; a good one is exposed once its write returned.
   */
  private writeInline(fh: FileHandle, entries: PendingAppend[], start: number): readonly PendingAppend[] {
    const bad = badCrcs(entries);
    if (bad.length > 0) return bad;
    if (entries.length === 1) writeBufferSync(fh.fd, (entries[0] as PendingAppend).bytes, start);
    else
      writeBuffersSync(
        fh.fd,
        entries.map((e) => e.bytes),
        start,
      );
    this.expose(entries);
    return NONE;
  }

  /**
   * A larger run, written on the thread pool while its CRCs are checked on the event loop. A bad run's
   * bytes are cut from the file again. Only a run with an append that asks for it (onExposed) is
   * exposed before its write completes.
   */
  private async writeThroughPool(
    fh: FileHandle,
    entries: PendingAppend[],
    start: number,
  ): Promise<readonly PendingAppend[]> {
    const written = writeBuffers(
      fh,
      entries.map((e) => e.bytes),
      start,
    );
    const bad = badCrcs(entries);
    const early = entries.some((e) => e.onExposed !== undefined);
    if (bad.length === 0 && early) this.expose(entries);
    await written;
    if (bad.length > 0) {
      await fh.truncate(start);
      return bad;
    }
    if (!early) this.expose(entries);
    return NONE;
  }
}

/** The appends whose CRCs the drain checks and which fail; NONE (no array made) when all pass. */
function badCrcs(entries: readonly PendingAppend[]): readonly PendingAppend[] {
  let bad: PendingAppend[] | undefined;
  for (const entry of entries) {
    if (entry.crcChecked || crcsValid(entry)) continue;
    bad ??= [];
    bad.push(entry);
  }
  return bad ?? NONE;
}

/** writev takes at most IOV_MAX buffers at a time. */
const IOV_MAX = 1024;

/** One write call for the common single-buffer case, writev otherwise; short writes are finished. */
async function writeBuffers(fh: FileHandle, buffers: Buffer[], start: number): Promise<void> {
  if (buffers.length === 1) {
    const buffer = buffers[0]!;
    const { bytesWritten } = await fh.write(buffer, 0, buffer.length, start);
    if (bytesWritten < buffer.length) await writeFully(fh, buffer.subarray(bytesWritten), start + bytesWritten);
    return;
  }
  let position = start;
  for (let i = 0; i < buffers.length; i += IOV_MAX) {
    const group = buffers.slice(i, i + IOV_MAX);
    const groupBytes = group.reduce((n, b) => n + b.length, 0);
    const { bytesWritten } = await fh.writev(group, position);
    if (bytesWritten < groupBytes)
      await writeFully(fh, Buffer.concat(group).subarray(bytesWritten), position + bytesWritten);
    position += groupBytes;
  }
}

/**
 * writeBuffers with pwrite/pwritev on the calling thread; short writes are finished, and an error
 * is thrown as the async path's rejects. Called through the `fs` object so tests can replace them.
 */
function writeBuffersSync(fd: number, buffers: Buffer[], start: number): void {
  let position = start;
  for (let i = 0; i < buffers.length; i += IOV_MAX) {
    const group = buffers.length <= IOV_MAX ? buffers : buffers.slice(i, i + IOV_MAX);
    let groupBytes = 0;
    for (const buffer of group) groupBytes += buffer.length;
    let done =
      group.length === 1 ? fs.writeSync(fd, group[0]!, 0, groupBytes, position) : fs.writevSync(fd, group, position);
    if (done < groupBytes) {
      const whole = group.length === 1 ? group[0]! : Buffer.concat(group);
      while (done < groupBytes) done += fs.writeSync(fd, whole, done, groupBytes - done, position + done);
    }
    position += groupBytes;
  }
}

/** writeBuffersSync for one buffer (the usual run: one append), without an array around it. */
function writeBufferSync(fd: number, buffer: Buffer, start: number): void {
  let done = fs.writeSync(fd, buffer, 0, buffer.length, start);
  while (done < buffer.length) done += fs.writeSync(fd, buffer, done, buffer.length - done, start + done);
}

/** The answer to a retried append: the offsets its first copy got. Nothing new is written. */
function duplicateResult(firstOffset: number, lastOffset: number, entry: PendingAppend): AppendResult {
  const recordCount = entry.spans.reduce((n, span) => n + span.header.recordCount, 0);
  return { baseOffset: firstOffset, lastOffset, logAppendTimeMs: undefined, recordCount, sizeInBytes: 0 };
}
