import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import { decodeBatches, encodeBatch } from '@samsa/protocol';
import type { TopicsView } from '../group/core.js';
import { type CoordinatorLog, GroupCoordinator } from '../group/driver.js';
import { classicConfigFrom, groupCoreConfigFrom, OFFSETS_TOPIC } from '../group/offsets-topic.js';
import { decodeRecord, encodeKey, encodeValue, type GroupRecord } from '../group/records.js';

/** Bytes read per step while loading a partition. */
const LOAD_READ_BYTES = 1024 * 1024;

/** The slice of a hosted partition the coordinator's log needs (HostedPartition satisfies it). */
export interface OffsetsReplica {
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

/** The leader side of replication the coordinator's log needs (LeaderDriver satisfies it). */
export interface OffsetsLeader<R> {
  checkEnoughReplicas(replica: R): void;
  onLeaderAppend(replica: R): void;
  waitForIsr(replica: R, requiredOffset: number, timeoutMs: number, signal: AbortSignal): Promise<void>;
}

/**
 * A __consumer_offsets partition this broker leads, as the group coordinator uses it: appends go
 * through the leader with acks=all semantics (refused up front when the ISR is too small), and
 * waitCommitted is the acks=all wait on the high watermark.
 */
export class OffsetsTopicLog<R extends OffsetsReplica> implements CoordinatorLog {
  private readonly never = new AbortController().signal;

  constructor(
    private readonly replica: R,
    private readonly leader: OffsetsLeader<R>,
    private readonly commitTimeoutMs: number,
    private readonly nowMs: () => number,
    private readonly logger: Logger,
  ) {}

  checkWritable(): void {
    this.leader.checkEnoughReplicas(this.replica);
  }

  async append(records: readonly GroupRecord[]): Promise<number> {
    this.leader.checkEnoughReplicas(this.replica);
    const batch = encodeBatch(
      records.map((r) => ({ key: encodeKey(r), value: encodeValue(r) })),
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

  async *read(): AsyncIterable<readonly GroupRecord[]> {
    const end = this.replica.log.logEndOffset;
    let next = this.replica.log.logStartOffset;
    while (next < end) {
      const { bytes } = await this.replica.log.read(next, LOAD_READ_BYTES);
      if (bytes.length === 0) return;
      const from = next;
      for (const batch of decodeBatches(bytes)) {
        const records: GroupRecord[] = [];
        // Transaction markers (AddOffsetsToTxn puts a partition in a transaction) are not group records.
        for (const record of batch.control ? [] : batch.records) {
          next = record.offset + 1;
          if (record.key === null) continue;
          try {
            records.push(decodeRecord(record.key, record.value));
          } catch (err) {
            // One unreadable record must not keep every group of the partition from loading.
            this.logger.error(
              { err, topic: this.replica.topic, partition: this.replica.partition, offset: record.offset },
              'skipping an unreadable __consumer_offsets record',
            );
          }
        }
        next = Math.max(next, batch.header.baseOffset + batch.header.lastOffsetDelta + 1);
        yield records;
      }
      if (next <= from) throw new Error(`loading ${this.replica.topic}-${this.replica.partition} stuck at ${from}`);
    }
  }
}

/** A hosted __consumer_offsets partition with its role, as the broker's role hooks see it. */
export interface OffsetsPartitionRole extends OffsetsReplica {
  readonly role: 'leader' | 'follower';
}

/**
 * The group coordinator as the broker runs it: one GroupCoordinator, told when this broker starts or
 * stops leading a __consumer_offsets partition (broker.ts forwards its role hooks), ticking its timers.
 */
export class GroupCoordinatorRuntime<R extends OffsetsPartitionRole> {
  readonly coordinator: GroupCoordinator;
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly options: {
      readonly settings: Readonly<Record<string, unknown>>;
      readonly leader: OffsetsLeader<R>;
      readonly topics: () => TopicsView;
      readonly nowMs: () => number;
      readonly logger: Logger;
    },
  ) {
    const config = groupCoreConfigFrom(options.settings);
    this.coordinator = new GroupCoordinator({
      config,
      numPartitions: () =>
        options.topics().get(OFFSETS_TOPIC) ?? (options.settings['offsets.topic.num.partitions'] as number),
      nowMs: options.nowMs,
      topics: options.topics,
      newMemberId: () => randomUUID(),
      logger: options.logger,
      classic: classicConfigFrom(options.settings),
    });
    // Session timers are checked this often: a twentieth of the session, at most once a second.
    const tickMs = Math.max(20, Math.min(1000, Math.floor(config.sessionTimeoutMs / 20)));
    this.timer = setInterval(() => this.coordinator.tick(), tickMs);
    this.timer.unref();
  }

  /** A role of a hosted partition was applied: load its groups as leader, drop them otherwise. */
  onRole(replica: R): void {
    if (replica.topic !== OFFSETS_TOPIC) return;
    if (replica.role !== 'leader') {
      this.coordinator.resign(replica.partition);
      return;
    }
    const log = new OffsetsTopicLog(
      replica,
      this.options.leader,
      this.options.settings['offsets.commit.timeout.ms'] as number,
      this.options.nowMs,
      this.options.logger,
    );
    this.coordinator.becomeLeader(replica.partition, log).catch((err: unknown) => {
      this.options.logger.error({ err, partition: replica.partition }, 'loading groups failed');
      this.coordinator.resign(replica.partition);
    });
  }

  onStepDown(replica: R): void {
    if (replica.topic === OFFSETS_TOPIC) this.coordinator.resign(replica.partition);
  }

  close(): void {
    clearInterval(this.timer);
    this.coordinator.resignAll();
  }
}

/** Topic name -> partition count from a metadata image, computed once per image. */
export function topicsViewOf<
  I extends { readonly topics: ReadonlyMap<string, { readonly partitions: readonly unknown[] }> },
>(image: () => I): () => TopicsView {
  let last: I | undefined;
  let view: TopicsView = new Map();
  return () => {
    const current = image();
    if (current !== last) {
      last = current;
      view = new Map([...current.topics].map(([name, t]) => [name, t.partitions.length]));
    }
    return view;
  };
}
