/**
 * An in-memory ReplicaLog for the seeded simulation: real Kafka v2 batches (one record each, so a
 * batch is an offset), stamped and split with the protocol package's code as PartitionLog does,
 * kept in an array. Every operation completes within the microtasks of its call, so the
 * simulation's schedule alone decides what happens when. It survives its broker's crash (a process
 * crash: the page cache keeps what was written).
 *
 * With `queueing` on, appends, truncations and restarts wait in a queue, as on PartitionLog's append
 * chain, until the schedule drains it (`drain`): a role can then change while a leader's appends,
 * stamped with its old epoch, or a follower's truncation are still queued. A crash drops the queue
 * (the dead process's operations never settle, like its requests).
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
  readonly bytes: Buffer;
  /** The batch's one record, as the checkers see it. */
  readonly entry: Entry;
}

export class MemoryLog implements ReplicaLog {
  readonly state = 'online';
  /** Truncations and restarts that removed records. */
  truncations = 0;
  /** Told before every truncation or restart (the simulation checks it against the HW). */
  onTruncate: ((offset: number) => void) | undefined;
  /** Queue operations until drain() (see the file comment). */
  queueing = false;
  private ops: Array<() => void> = [];
  private readonly unsettledAppends = new Set<Promise<unknown>>();
  private batches: StoredBatch[] = [];
  private start = 0;
  private end = 0;

  /** `recordValue` names the record a batch carries, by its CRC (the simulation keeps the map). */
  constructor(private readonly recordValue: (crc: number) => string) {}

  get logStartOffset(): number {
    return this.start;
  }

  get logEndOffset(): number {
    return this.end;
  }

  /** Operations waiting for drain(). */
  get queued(): number {
    return this.ops.length;
  }

  /** Runs every queued operation, in order. */
  drain(): void {
    const ops = this.ops;
    this.ops = [];
    for (const op of ops) op();
  }

  /** The process died: what it queued is lost, and its callers never hear back. */
  dropQueued(): void {
    this.ops = [];
    this.unsettledAppends.clear();
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
    options: { leaderEpoch?: number },
  ): Promise<{ baseOffset: number; lastOffset: number; logAppendTimeMs: number | undefined }> {
    // The epoch is read now, as PartitionLog takes it when the append is queued.
    return this.trackAppend(this.queueOr(() => this.appendNow(batches, options.leaderEpoch ?? -1)));
  }

  private appendNow(
    batches: Buffer,
    leaderEpoch: number,
  ): { baseOffset: number; lastOffset: number; logAppendTimeMs: number | undefined } {
    const options = { leaderEpoch };
    const baseOffset = this.end;
    for (const { position, header } of splitBatches(batches)) {
      const bytes = Buffer.from(batches.subarray(position, position + batchSize(header)));
      stampBatch(bytes, 0, this.end, options.leaderEpoch ?? -1);
      this.push(this.end, options.leaderEpoch ?? -1, bytes, header);
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
    for (const { position, header } of splitBatches(batches)) {
      if (header.baseOffset !== this.end)
        throw new SamsaError(ErrorCodes.UNKNOWN_SERVER_ERROR, `batch at ${header.baseOffset}, log end ${this.end}`);
      const bytes = Buffer.from(batches.subarray(position, position + batchSize(header)));
      this.push(header.baseOffset, header.partitionLeaderEpoch, bytes, header);
    }
  }

  async read(fromOffset: number, maxBytes: number): Promise<{ bytes: Buffer }> {
    if (fromOffset < this.start || fromOffset > this.end)
      throw new SamsaError(ErrorCodes.OFFSET_OUT_OF_RANGE, `offset ${fromOffset} outside [${this.start}, ${this.end}]`);
    const out: Buffer[] = [];
    let bytes = 0;
    for (let i = this.indexOf(fromOffset); i < this.batches.length; i++) {
      const batch = this.batches[i]!;
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
    this.onTruncate?.(offset);
    this.truncations++;
    this.batches = this.batches.filter((b) => b.baseOffset < offset);
    this.end = offset;
  }

  private resetNow(offset: number): void {
    this.onTruncate?.(Math.min(offset, this.end));
    if (this.end > this.start || offset !== this.start) this.truncations++;
    this.batches = [];
    this.start = offset;
    this.end = offset;
  }

  /** Retention (Kafka's DeleteRecords): offsets below `offset` go. */
  deleteRecordsBefore(offset: number): void {
    if (offset <= this.start) return;
    this.batches = this.batches.filter((b) => b.baseOffset >= offset);
    this.start = offset;
  }

  /** The record at `offset`, or undefined (deleted, or past the end). */
  entryAt(offset: number): Entry | undefined {
    if (offset < this.start || offset >= this.end) return undefined;
    return this.batches[this.indexOf(offset)]?.entry;
  }

  /** Every record held, oldest first. */
  entries(): Entry[] {
    return this.batches.map((b) => b.entry);
  }

  private push(baseOffset: number, epoch: number, bytes: Buffer, header: BatchHeader): void {
    if (header.lastOffsetDelta !== 0)
      throw new Error('the simulation writes one record per batch (a batch is an offset)');
    const entry = { offset: baseOffset, epoch, value: this.recordValue(header.crc) };
    this.batches.push({ baseOffset, bytes, entry });
    this.end = baseOffset + 1;
  }

  /** Runs `op` now (within the call, as before queueing existed) or queues it for drain(). */
  private queueOr<T>(op: () => T): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const run = (): void => {
        try {
          resolve(op());
        } catch (err) {
          reject(err);
        }
      };
      if (this.queueing) this.ops.push(run);
      else run();
    });
  }

  /** Index of the batch at `offset` (one record per batch, no gaps above the log start). */
  private indexOf(offset: number): number {
    return this.batches.length === 0 ? 0 : offset - this.batches[0]!.baseOffset;
  }
}
