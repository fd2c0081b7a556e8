import type { KafkaRecordInput } from '@samsa/protocol';

export interface RecordMetadata {
  readonly topic: string;
  readonly partition: number;
  /** The record's offset in the partition; -1 with acks=0 (nobody told us). */
  readonly offset: number;
}

/** sendBatch's onAcknowledged: records `first` to `first + count - 1` of the call are acknowledged. */
export type AcknowledgedCallback = (first: number, count: number) => void;

/**
 * The promise of one send() or sendBatch() call. Its records may spread over several batches (and
 * partitions); it settles when the last of them is acknowledged, or at the first failure.
 */
export class SendTracker {
  readonly results: RecordMetadata[];
  /** Batch segments still outstanding. */
  pending = 0;
  /** All records have been appended (sendBatch may wait for memory half way through). */
  sealed = false;
  settled = false;
  readonly promise: Promise<RecordMetadata[] | RecordMetadata>;
  private resolveFn!: (results: RecordMetadata[] | RecordMetadata) => void;
  private rejectFn!: (err: unknown) => void;

  /** `single`: resolve with the one result rather than an array (send()). */
  constructor(
    count: number,
    private readonly single = false,
    private readonly onAcknowledged?: AcknowledgedCallback,
  ) {
    this.results = new Array<RecordMetadata>(count);
    this.promise = new Promise((resolve, reject) => {
      this.resolveFn = resolve;
      this.rejectFn = reject;
    });
  }

  /** Records `first` to `first + count - 1` of the call are acknowledged, whatever became of the others. */
  acknowledged(first: number, count: number): void {
    const callback = this.onAcknowledged;
    if (callback === undefined) return;
    try {
      callback(first, count);
    } catch (err) {
      // The producer's state must not depend on user code: report it as an uncaught exception would be.
      queueMicrotask(() => {
        throw err;
      });
    }
  }

  seal(): void {
    this.sealed = true;
    if (this.pending === 0) this.succeed();
  }

  segmentDone(): void {
    if (--this.pending === 0 && this.sealed) this.succeed();
  }

  /** The call failed before it returned its promise (it threw instead): settle quietly. */
  abandon(): void {
    this.settled = true;
  }

  fail(err: unknown): void {
    if (this.settled) return;
    this.settled = true;
    this.rejectFn(err);
  }

  private succeed(): void {
    if (this.settled) return;
    this.settled = true;
    this.resolveFn(this.single ? (this.results[0] as RecordMetadata) : this.results);
  }
}

/** A run of consecutive records of one call inside one batch. */
interface Segment {
  readonly tracker: SendTracker;
  /** Index of the first record in the call's messages. */
  readonly callIndex: number;
  /** Index of the first record in the batch. */
  readonly batchIndex: number;
  count: number;
}

let nextBatchId = 1;

/** Records bound for one partition, encoded once into one RecordBatch v2 when it is sent. */
export class ProducerBatch {
  readonly id = nextBatchId++;
  records: KafkaRecordInput[] = [];
  recordCount = 0;
  /** Estimated bytes, the amount held in buffer memory. */
  bytes = 0;
  /** No more records join once full or sent. */
  closed = false;
  encoded: Buffer | undefined;
  attempts = 0;
  lastError: unknown;
  /** Delivered or failed; acks=0 batches are done once sent, though still awaiting the broker's answer. */
  done = false;
  /** Made by split(): sent as the only batch of its partition in a request, so a refusal is about it alone. */
  alone = false;
  /**
   * Idempotent batches: the sequence of the first record, fixed when the batch is first encoded so that
   * every retry carries the same one (the broker answers a repeat with the first copy's offsets); -1
   * until then, and again when the partition's sequences start over under a new producer id.
   */
  baseSequence = -1;
  /** When it was opened on the high-resolution clock (performance.now), for onRequestTimed's queue time. */
  readonly openedAt = performance.now();
  private readonly segments: Segment[] = [];
  private doneListeners: (() => void)[] | undefined;

  constructor(
    readonly topic: string,
    readonly partition: number,
    readonly acks: number,
    readonly createdMs: number,
  ) {}

  append(record: KafkaRecordInput, bytes: number, tracker: SendTracker, callIndex: number): void {
    const last = this.segments[this.segments.length - 1];
    if (last !== undefined && last.tracker === tracker && last.callIndex + last.count === callIndex) {
      last.count++;
    } else {
      this.segments.push({ tracker, callIndex, batchIndex: this.recordCount, count: 1 });
      tracker.pending++;
    }
    this.records.push(record);
    this.recordCount++;
    this.bytes += bytes;
  }

  /** Acknowledged at `baseOffset` (-1 for acks=0): fills in each call's results. */
  complete(baseOffset: number): void {
    for (const segment of this.segments) {
      const { tracker, callIndex, batchIndex, count } = segment;
      if (!tracker.settled) {
        for (let i = 0; i < count; i++) {
          tracker.results[callIndex + i] = {
            topic: this.topic,
            partition: this.partition,
            offset: baseOffset < 0 ? -1 : baseOffset + batchIndex + i,
          };
        }
      }
      tracker.acknowledged(callIndex, count);
      tracker.segmentDone();
    }
    this.finish();
  }

  fail(err: unknown): void {
    for (const segment of this.segments) {
      segment.tracker.fail(err);
      segment.tracker.segmentDone();
    }
    this.finish();
  }

  /**
   * Splits a batch the broker refused as too large into two halves holding its records in order.
   * `records` are its records (decoded back from `encoded`), `recordBytes` each one's share of `bytes`
   * (summing to it). The calls' segments move to the halves, which keep this batch's creation time (so
   * its deliveryTimeoutMs), acks and attempts; this batch is done once both halves are.
   */
  split(records: readonly KafkaRecordInput[], recordBytes: readonly number[]): ProducerBatch[] {
    const n = this.recordCount;
    if (n < 2 || records.length !== n || recordBytes.length !== n)
      throw new Error(`cannot split a batch of ${n} records given ${records.length}`);
    const mid = Math.ceil(n / 2);
    const halves: ProducerBatch[] = [];
    for (const [start, end] of [
      [0, mid],
      [mid, n],
    ] as const) {
      const half = new ProducerBatch(this.topic, this.partition, this.acks, this.createdMs);
      half.records = records.slice(start, end);
      half.recordCount = end - start;
      for (let i = start; i < end; i++) half.bytes += recordBytes[i] as number;
      half.closed = true;
      half.alone = true;
      half.attempts = this.attempts;
      half.lastError = this.lastError;
      // The halves cover the same sequences the refused batch did, so later batches keep theirs.
      half.baseSequence = this.baseSequence < 0 ? -1 : addSequence(this.baseSequence, start);
      for (const { tracker, callIndex, batchIndex, count } of this.segments) {
        const lo = Math.max(batchIndex, start);
        const hi = Math.min(batchIndex + count, end);
        if (lo >= hi) continue;
        half.segments.push({
          tracker,
          callIndex: callIndex + (lo - batchIndex),
          batchIndex: lo - start,
          count: hi - lo,
        });
        tracker.pending++;
      }
      halves.push(half);
    }
    // Each segment now lives in the halves (which counted themselves): not done, just moved.
    for (const segment of this.segments) segment.tracker.pending--;
    this.segments.length = 0;
    this.records = [];
    this.encoded = undefined;
    let left = halves.length;
    for (const half of halves) half.onDone(() => --left === 0 && this.finish());
    return halves;
  }

  /** Calls `listener` once the batch is delivered or failed (at once if it is already). */
  onDone(listener: () => void): void {
    if (this.done) listener();
    else {
      this.doneListeners ??= [];
      this.doneListeners.push(listener);
    }
  }

  private finish(): void {
    this.done = true;
    this.records = [];
    this.segments.length = 0;
    for (const listener of this.doneListeners ?? []) listener();
    this.doneListeners = undefined;
  }
}

/** The batches of one partition, oldest first; at most one request carries them at a time (ordering). */
export class PartitionQueue {
  readonly batches: ProducerBatch[] = [];
  /** A request with this partition's batches is outstanding. */
  inFlight = false;
  /**
   * The producer's own record of that request's part (acks 1 and all): an answer to a part that is no
   * longer this is dropped (the producer gave up on it and retried elsewhere).
   */
  outstanding: unknown = undefined;
  /** Not before this time (retry backoff), unless the partition's leader moves meanwhile. */
  retryAtMs = 0;
  /**
   * The leader (id and epoch, as the metadata had them) the failed request went to: once the metadata
   * names another leader, or a newer epoch, the retry goes at once instead of after its backoff (KIP-951).
   */
  retryLeader = -1;
  retryLeaderEpoch = -1;
  /** The failure suggested the metadata is stale (not the leader, unreachable): refresh it while backing off. */
  retryAwaitsMetadata = false;
  /** The producer id and epoch this partition's sequences belong to (-1 until the first idempotent batch). */
  producerId = -1;
  producerEpoch = -1;
  /** The sequence the next new batch starts at. */
  nextSequence = 0;
  /**
   * After a failed request: how many head batches it carried, less those delivered since. The retry
   * carries no more than those (batches queued since wait for the next request), and an idempotent one
   * carries one at a time: the broker recognises a batch it already appended as a duplicate, but not a
   * request extending or covering part of what it appended (Producer.retryLimit).
   */
  retryBatches = 0;

  constructor(
    readonly topic: string,
    readonly partition: number,
  ) {}

  /** The batch records are appended to, if it can take more. */
  get open(): ProducerBatch | undefined {
    const last = this.batches[this.batches.length - 1];
    return last !== undefined && !last.closed ? last : undefined;
  }
}

/** Sequences are int32 and wrap to 0 after 2^31 - 1, as the broker expects. */
export function addSequence(sequence: number, delta: number): number {
  return (sequence + delta) % 0x80000000;
}
