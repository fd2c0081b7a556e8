/**
 * An in-memory ReplicaLog for the seeded simulation: real Kafka v2 batches (one record each, or
 * several with the simulation's `batchRecords`), stamped and split with the protocol package's code
 * as PartitionLog does, kept in an array. As PartitionLog: a truncation cuts before the batch that
 * holds its offset, a log start may lie inside a batch (the batch is kept, the records below the
 * start unreadable), and a follower's empty log restarts at the base of a first batch that holds its
 * start (PartitionLog.appendAsFollower). Every operation completes within the microtasks of its call, so the
 * simulation's schedule alone decides what happens when. It survives its broker's crash (a process
 * crash: the page cache keeps what was written).
 *
 * With `queueing` on, appends, truncations and restarts wait in a queue, as on PartitionLog's append
 * chain, until the schedule drains it (`drain`): a role can then change while a leader's appends,
 * stamped with its old epoch, or a follower's truncation are still queued. A crash drops the queue
 * (the dead process's operations never settle, like its requests).
 *
 * Queued leader appends with `onExposed` (replica.fetch.unwritten.enable) also pass through the phase
 * PartitionLog gives them between its CRC check and the end of its write: a drain that reaches them
 * exposes them (stamped, readable by followers up to
 * exposedEndOffset, not in the log yet) and stops; the next drain writes them. A crash in between
 * loses them here while followers may already hold them.
 *
 * With `deferStartSaves` on, a log start moved forward (DeleteRecords, retention, a follower adopting
 * its leader's) takes effect at once and is saved at the next drain, as PartitionLog moves it on its
 * chain and saves it beside (the log-start file, or the segment files below it deleted): the promise
 * resolves then. A crash in between brings the records below the move back.
 */
import { type BatchHeader, ErrorCodes, SamsaError, batchSize, splitBatches, stampBatch } from '@samsa/protocol';
import type { ReplicaLog } from '../../../src/replication/index.js';

export interface Entry {
  readonly offset: number;
  readonly epoch: number;
  readonly value: string;
}

interface StoredBatch {
  readonly baseOffset: number;
  readonly lastOffset: number;
  readonly bytes: Buffer;
  /** The batch's records, as the checkers see them. */
  readonly entries: readonly Entry[];
}

interface QueuedOp {
  readonly run: () => void;
  /** A leader append's exposure (see drain). */
  readonly expose?: () => void;
  exposed?: boolean;
}

export class MemoryLog implements ReplicaLog {
  readonly state = 'online';
  /** Truncations and restarts that removed records. */
  truncations = 0;
  /** Empty logs restarted at the base of a batch holding their start (see appendAsFollowerNow). */
  restartsBelowStart = 0;
  /** Told before every truncation or restart (the simulation checks it against the HW). */
  onTruncate: ((offset: number) => void) | undefined;
  /** Queue operations until drain() (see the file comment). */
  queueing = false;
  private ops: QueuedOp[] = [];
  /** Leader appends exposed by a drain and not written yet, in offset order. */
  private exposed: StoredBatch[] = [];
  private readonly unsettledAppends = new Set<Promise<unknown>>();
  /** Save moved log starts only at the next drain (see the file comment). */
  deferStartSaves = false;
  /** Starts moved and not saved yet, in order, each with its waiter. */
  private saves: Array<{ readonly offset: number; readonly done: () => void }> = [];
  /** Every record from the saved start on (those below `start` until their move is saved). */
  private batches: StoredBatch[] = [];
  private start = 0;
  private savedStart = 0;
  private end = 0;

  /** `recordValue` names the record a batch carries, by its CRC (the simulation keeps the map). */
  constructor(private readonly recordValue: (crc: number) => string) {}

  get logStartOffset(): number {
    return this.start;
  }

  get savedLogStartOffset(): number {
    return Math.min(this.start, this.savedStart);
  }

  get logEndOffset(): number {
    return this.end;
  }

  get exposedEndOffset(): number {
    return this.exposed.length === 0 ? this.end : this.exposed[this.exposed.length - 1]!.lastOffset + 1;
  }

  /** Operations and log-start saves waiting for drain(). */
  get queued(): number {
    return this.ops.length + this.saves.length;
  }

  /**
   * Runs the queued operations in order: writes the exposed leader appends, runs what follows them,
   * and stops after exposing the next leader appends in a row (written by the next drain). Then
   * saves the log starts moved so far.
   */
  drain(): void {
    while (this.ops.length > 0 && !(this.ops[0]!.expose && !this.ops[0]!.exposed)) this.ops.shift()!.run();
    for (const op of this.ops) {
      if (!op.expose || op.exposed) break;
      op.exposed = true;
      op.expose();
    }
    this.saveStarts();
  }

  /**
   * The process died: what it queued (and exposed) is lost, and its callers never hear back; a log
   * start not saved yet goes back to the saved one, and the records between are readable again.
   */
  dropQueued(): void {
    this.ops = [];
    this.exposed = [];
    this.unsettledAppends.clear();
    this.saves = [];
    this.start = this.savedStart;
  }

  private saveStarts(): void {
    const saves = this.saves;
    this.saves = [];
    for (const save of saves) {
      if (save.offset > this.savedStart) {
        this.savedStart = save.offset;
        this.batches = this.batches.filter((b) => b.lastOffset >= save.offset);
      }
      save.done();
    }
  }

  private trackAppend<T>(appended: Promise<T>): Promise<T> {
    if (!this.queueing) return appended;
    this.unsettledAppends.add(appended);
    const settled = (): void => {
      this.unsettledAppends.delete(appended);
    };
    appended.then(settled, settled);
    return appended;
  }

  append(
    batches: Buffer,
    options: { leaderEpoch?: number; onExposed?: () => void },
  ): Promise<{ baseOffset: number; lastOffset: number; logAppendTimeMs: number | undefined }> {
    // The epoch is read now, as PartitionLog takes it when the append is queued.
    const leaderEpoch = options.leaderEpoch ?? -1;
    const writeNow = () => this.appendNow(this.stamp(batches, leaderEpoch, this.end));
    if (!this.queueing) {
      return this.queueOr(() => {
        const written = writeNow();
        options.onExposed?.();
        return written;
      });
    }
    // As PartitionLog: exposed before written only when the caller asks for it (onExposed).
    if (options.onExposed === undefined) return this.trackAppend(this.queue(writeNow));
    let stamped: StoredBatch[] = [];
    const expose = (): void => {
      stamped = this.stamp(batches, leaderEpoch, this.exposedEndOffset);
      this.exposed.push(...stamped);
      options.onExposed?.();
    };
    return this.trackAppend(this.queue(() => this.appendNow(stamped), expose));
  }

  /** The batches of a leader append as they will be stored, at offsets from `baseOffset`. */
  private stamp(batches: Buffer, leaderEpoch: number, baseOffset: number): StoredBatch[] {
    let next = baseOffset;
    return splitBatches(batches).map(({ position, header }) => {
      const bytes = Buffer.from(batches.subarray(position, position + batchSize(header)));
      stampBatch(bytes, 0, next, leaderEpoch);
      const stored = this.stored(next, leaderEpoch, bytes, header);
      next = stored.lastOffset + 1;
      return stored;
    });
  }

  /** Writes stamped batches (exposed first, when queued). */
  private appendNow(stamped: StoredBatch[]): {
    baseOffset: number;
    lastOffset: number;
    logAppendTimeMs: number | undefined;
  } {
    const baseOffset = this.end;
    for (const batch of stamped) {
      if (batch.baseOffset !== this.end) throw new Error(`leader append at ${batch.baseOffset}, log end ${this.end}`);
      if (this.exposed[0] === batch) this.exposed.shift();
      this.batches.push(batch);
      this.end = batch.lastOffset + 1;
    }
    return { baseOffset, lastOffset: this.end - 1, logAppendTimeMs: undefined };
  }

  /** Settles once every append queued before the call has run (as PartitionLog's: truncations not included). */
  appendsSettled(): Promise<void> {
    return this.unsettledAppends.size === 0 ? Promise.resolve() : Promise.allSettled([...this.unsettledAppends]).then();
  }

  appendAsFollower(batches: Buffer): Promise<void> {
    return this.trackAppend(this.queueOr(() => this.appendAsFollowerNow(batches)));
  }

  private appendAsFollowerNow(batches: Buffer): void {
    const spans = splitBatches(batches);
    const first = spans[0]?.header;
    // The leader's start inside a batch: an empty log restarts at its base, the start kept.
    if (
      first &&
      this.end === this.start &&
      first.baseOffset < this.start &&
      first.baseOffset + first.lastOffsetDelta >= this.start
    ) {
      this.saveStarts();
      this.batches = [];
      this.end = first.baseOffset;
      this.restartsBelowStart++;
    }
    for (const { position, header } of spans) {
      if (header.baseOffset !== this.end)
        throw new SamsaError(ErrorCodes.UNKNOWN_SERVER_ERROR, `batch at ${header.baseOffset}, log end ${this.end}`);
      const bytes = Buffer.from(batches.subarray(position, position + batchSize(header)));
      this.push(header.baseOffset, header.partitionLeaderEpoch, bytes, header);
    }
  }

  async readForFollower(fromOffset: number, maxBytes: number): Promise<{ bytes: Buffer }> {
    const end = this.exposedEndOffset;
    if (fromOffset < this.start || fromOffset > end)
      throw new SamsaError(ErrorCodes.OFFSET_OUT_OF_RANGE, `offset ${fromOffset} outside [${this.start}, ${end}]`);
    const out: Buffer[] = [];
    let bytes = 0;
    const all = [...this.batches, ...this.exposed];
    const first = all.findIndex((b) => b.lastOffset >= fromOffset);
    for (let i = first < 0 ? all.length : first; i < all.length; i++) {
      const batch = all[i]!;
      if (out.length > 0 && bytes + batch.bytes.length > maxBytes) break;
      out.push(batch.bytes);
      bytes += batch.bytes.length;
    }
    return { bytes: Buffer.concat(out) };
  }

  truncateTo(offset: number): Promise<void> {
    return this.queueOr(() => this.truncateNow(offset));
  }

  resetTo(offset: number): Promise<void> {
    return this.queueOr(() => this.resetNow(offset));
  }

  private truncateNow(offset: number): void {
    if (offset >= this.end) return;
    if (offset <= this.start) {
      this.resetNow(offset);
      return;
    }
    // As PartitionLog: cut before the batch that holds `offset`; when that batch holds the start too,
    // the log is the empty one at its start, which stays (storage/truncation.ts).
    const cut = this.batches.find((b) => b.lastOffset >= offset)?.baseOffset ?? offset;
    if (cut < this.start) {
      this.resetNow(this.start);
      return;
    }
    this.onTruncate?.(cut);
    this.truncations++;
    this.batches = this.batches.filter((b) => b.baseOffset < cut);
    this.end = cut;
  }

  private resetNow(offset: number): void {
    this.saveStarts(); // PartitionLog's reset waits for the saves beside its chain first
    this.onTruncate?.(Math.min(offset, this.end));
    if (this.end > this.start || offset !== this.start) this.truncations++;
    this.batches = [];
    this.start = offset;
    this.savedStart = offset;
    this.end = offset;
  }

  /**
   * Retention, DeleteRecords, a follower adopting its leader's start: offsets below `offset` go.
   * Resolves once the start is saved, also when it was moved there already (see the file comment).
   */
  deleteRecordsBefore(offset: number): Promise<void> {
    return this.queueOr(() => this.moveStart(offset)).then((saved) => saved);
  }

  private moveStart(offset: number): Promise<void> {
    if (offset > this.start) this.start = offset;
    if (!this.deferStartSaves) {
      this.saves.push({ offset: this.start, done: () => {} });
      this.saveStarts();
      return Promise.resolve();
    }
    if (this.start <= this.savedStart && this.saves.length === 0) return Promise.resolve();
    return new Promise((done) => this.saves.push({ offset: this.start, done }));
  }

  /** The record at `offset`, or undefined (deleted, or past the end). */
  entryAt(offset: number): Entry | undefined {
    if (offset < this.start || offset >= this.end) return undefined;
    const batch = this.batches.find((b) => b.lastOffset >= offset);
    return batch?.entries[offset - batch.baseOffset];
  }

  /** Every record held, oldest first. */
  entries(): Entry[] {
    return this.batches.flatMap((b) => b.entries).filter((e) => e.offset >= this.start);
  }

  private push(baseOffset: number, epoch: number, bytes: Buffer, header: BatchHeader): void {
    const batch = this.stored(baseOffset, epoch, bytes, header);
    this.batches.push(batch);
    this.end = batch.lastOffset + 1;
  }

  /** A batch's records: the first carries the value the simulation named its CRC by, record i `${value}+${i}`. */
  private stored(baseOffset: number, epoch: number, bytes: Buffer, header: BatchHeader): StoredBatch {
    const value = this.recordValue(header.crc);
    const entries = Array.from({ length: header.lastOffsetDelta + 1 }, (_, i) => ({
      offset: baseOffset + i,
      epoch,
      value: i === 0 ? value : `${value}+${i}`,
    }));
    return { baseOffset, lastOffset: baseOffset + header.lastOffsetDelta, bytes, entries };
  }

  /** Runs `op` now (within the call, as before queueing existed) or queues it for drain(). */
  private queueOr<T>(op: () => T): Promise<T> {
    return this.queueing ? this.queue(op) : new Promise<T>((resolve) => resolve(op()));
  }

  /** Queues `op` for drain(); `expose` first, in a drain of its own, for a leader append. */
  private queue<T>(op: () => T, expose?: () => void): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const run = (): void => {
        try {
          resolve(op());
        } catch (err) {
          reject(err);
        }
      };
      this.ops.push(expose ? { run, expose, exposed: false } : { run });
    });
  }
}
