/**
 * A partition of an internal topic (`__consumer_offsets`, `__transaction_state`) that this broker
 * leads, as a coordinator uses it: its records encoded by the coordinator's own codec, appended by
 * the leader with acks=all semantics (refused up front when the ISR is too small), waitCommitted is
 * the acks=all wait on the high watermark, and read() replays the partition to load the coordinator.
 */
import { decodeBatches, encodeBatch } from '@samsa/protocol';
import type { Logger } from 'pino';

/** Bytes read per step while loading a partition. */
const LOAD_READ_BYTES = 1024 * 1024;

/** The slice of a hosted partition the coordinators' logs need (HostedPartition satisfies it). */
export interface InternalTopicReplica {
  readonly topic: string;
  readonly partition: number;
  readonly leaderEpoch: number;
  readonly log: {
    readonly logStartOffset: number;
    readonly logEndOffset: number;
    append(batches: Buffer, options: { leaderEpoch?: number }): Promise<{ lastOffset: number }>;
    read(fromOffset: number, maxBytes: number): Promise<{ bytes: Buffer }>;
    /** The partition's producer state for a producer (transactional offset commits). */
    producerState?(
      producerId: number,
    ): { readonly epoch: number; readonly batches: readonly { readonly lastSeq: number }[] } | undefined;
    /** The coordinator verified the producer's transaction started then (see ProducerStateTable.analyzeMarker). */
    noteTxnVerified?(producerId: number, txnStartMs: number): void;
  };
}

/** A batch of an internal topic as loading sees it: its records, its producer, or its marker. */
export interface InternalBatch<Rec> {
  readonly records: readonly Rec[];
  readonly producerId: number;
  readonly transactional: boolean;
  /** Set on a control batch (a transaction marker). */
  readonly marker?: { readonly commit: boolean };
}

/** Kafka's control record type of a commit marker (0 is an abort). */
const CONTROL_COMMIT = 1;
const INT32_MAX = 0x7fffffff;

/** A hosted internal-topic partition with its role, as the broker's role hooks see it. */
export interface InternalTopicPartitionRole extends InternalTopicReplica {
  readonly role: 'leader' | 'follower';
}

/** The leader side of replication the coordinators' logs need (LeaderDriver satisfies it). */
export interface InternalTopicLeader<R> {
  checkEnoughReplicas(replica: R): void;
  /** Set while a new leader epoch of the replica is starting: appends wait for it (LeaderDriver.epochStarting). */
  epochStarting?(replica: R): Promise<void> | undefined;
  onLeaderAppend(replica: R): void;
  waitForIsr(replica: R, requiredOffset: number, timeoutMs: number, signal: AbortSignal): Promise<void>;
}

/** How a coordinator's records become record keys and values, and back. */
export interface InternalRecordCodec<Rec> {
  encodeKey(record: Rec): Buffer;
  encodeValue(record: Rec): Buffer | null;
  decodeRecord(key: Uint8Array, value: Uint8Array | null): Rec;
}

export class InternalTopicLog<R extends InternalTopicReplica, Rec> {
  private readonly never = new AbortController().signal;

  constructor(
    private readonly replica: R,
    private readonly leader: InternalTopicLeader<R>,
    private readonly codec: InternalRecordCodec<Rec>,
    private readonly commitTimeoutMs: number,
    private readonly nowMs: () => number,
    private readonly logger: Logger,
  ) {}

  checkWritable(): void {
    this.leader.checkEnoughReplicas(this.replica);
  }

  /**
   * Appends one batch of records. With `txn`, a transactional batch of that producer (the group
   * coordinator's TxnOffsetCommit): its sequence continues the producer's on this partition, so the
   * log's producer-state checks (epoch, sequence) apply to it as to a client's batch.
   */
  async append(records: readonly Rec[], txn?: { producerId: number; producerEpoch: number }): Promise<number> {
    this.leader.checkEnoughReplicas(this.replica);
    const { codec } = this;
    const batch = encodeBatch(
      records.map((r) => ({ key: codec.encodeKey(r), value: codec.encodeValue(r) })),
      txn === undefined
        ? { now: this.nowMs() }
        : { now: this.nowMs(), ...txn, baseSequence: this.nextSequence(txn), transactional: true },
    );
    // A new epoch starting: wait, then append with no await between the last look and the append.
    for (let s = this.leader.epochStarting?.(this.replica); s; s = this.leader.epochStarting?.(this.replica)) await s;
    const appended = await this.replica.log.append(batch, { leaderEpoch: this.replica.leaderEpoch });
    this.leader.onLeaderAppend(this.replica);
    return appended.lastOffset + 1;
  }

  /** The producer epoch this partition knows for `producerId`, if any. */
  producerEpoch(producerId: number): number | undefined {
    return this.replica.log.producerState?.(producerId)?.epoch;
  }

  noteTxnVerified(producerId: number, txnStartMs: number): void {
    this.replica.log.noteTxnVerified?.(producerId, txnStartMs);
  }

  private nextSequence(txn: { producerId: number; producerEpoch: number }): number {
    const known = this.replica.log.producerState?.(txn.producerId);
    const last = known?.epoch === txn.producerEpoch ? known.batches.at(-1)?.lastSeq : undefined;
    return last === undefined ? 0 : (last + 1) % (INT32_MAX + 1);
  }

  waitCommitted(offset: number): Promise<void> {
    return this.leader.waitForIsr(this.replica, offset, this.commitTimeoutMs, this.never);
  }

  endOffset(): number {
    return this.replica.log.logEndOffset;
  }

  /**
   * The partition's records from its log start, a batch at a time. Transaction markers (control
   * batches) are not coordinator records; an unreadable record is logged and skipped, so one bad
   * record does not keep every group or transaction of the partition from loading.
   */
  async *read(): AsyncIterable<readonly Rec[]> {
    for await (const batch of this.readBatches()) if (batch.marker === undefined) yield batch.records;
  }

  /** As read(), with each batch's producer, and the transaction markers (whose records are not the codec's). */
  async *readBatches(): AsyncIterable<InternalBatch<Rec>> {
    const { topic, partition } = this.replica;
    const end = this.replica.log.logEndOffset;
    let next = this.replica.log.logStartOffset;
    while (next < end) {
      const { bytes } = await this.replica.log.read(next, LOAD_READ_BYTES);
      if (bytes.length === 0) return;
      const from = next;
      for (const batch of decodeBatches(bytes)) {
        const records: Rec[] = [];
        const { producerId } = batch.header;
        next = Math.max(next, batch.header.baseOffset + batch.header.lastOffsetDelta + 1);
        if (batch.control) {
          const key = batch.records[0]?.key;
          const type = key && key.byteLength >= 4 ? Buffer.from(key).readInt16BE(2) : -1;
          yield { records, producerId, transactional: true, marker: { commit: type === CONTROL_COMMIT } };
          continue;
        }
        for (const record of batch.records) {
          if (record.key === null) continue;
          try {
            records.push(this.codec.decodeRecord(record.key, record.value));
          } catch (err) {
            this.logger.error(
              { err, topic, partition, offset: record.offset },
              `skipping an unreadable ${topic} record`,
            );
          }
        }
        yield { records, producerId, transactional: batch.transactional };
      }
      if (next <= from) throw new Error(`loading ${topic}-${partition} stuck at ${from}`);
    }
  }
}
