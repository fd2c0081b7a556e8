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
  };
}

/** A hosted internal-topic partition with its role, as the broker's role hooks see it. */
export interface InternalTopicPartitionRole extends InternalTopicReplica {
  readonly role: 'leader' | 'follower';
}

/** The leader side of replication the coordinators' logs need (LeaderDriver satisfies it). */
export interface InternalTopicLeader<R> {
  checkEnoughReplicas(replica: R): void;
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

  async append(records: readonly Rec[]): Promise<number> {
    this.leader.checkEnoughReplicas(this.replica);
    const { codec } = this;
    const batch = encodeBatch(
      records.map((r) => ({ key: codec.encodeKey(r), value: codec.encodeValue(r) })),
      { now: this.nowMs() },
    );
    const appended = await this.replica.log.append(batch, { leaderEpoch: this.replica.leaderEpoch });
    this.leader.onLeaderAppend(this.replica);
    return appended.lastOffset + 1;
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
    const { topic, partition } = this.replica;
    const end = this.replica.log.logEndOffset;
    let next = this.replica.log.logStartOffset;
    while (next < end) {
      const { bytes } = await this.replica.log.read(next, LOAD_READ_BYTES);
      if (bytes.length === 0) return;
      const from = next;
      for (const batch of decodeBatches(bytes)) {
        const records: Rec[] = [];
        for (const record of batch.control ? [] : batch.records) {
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
        next = Math.max(next, batch.header.baseOffset + batch.header.lastOffsetDelta + 1);
        yield records;
      }
      if (next <= from) throw new Error(`loading ${topic}-${partition} stuck at ${from}`);
    }
  }
}
