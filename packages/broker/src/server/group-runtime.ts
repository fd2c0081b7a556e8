import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import type { TopicsView } from '../group/core.js';
import { GroupCoordinator } from '../group/driver.js';
import { classicConfigFrom, groupCoreConfigFrom, OFFSETS_TOPIC } from '../group/offsets-topic.js';
import * as groupRecords from '../group/records.js';
import { type InternalTopicLeader, InternalTopicLog, type InternalTopicPartitionRole } from './internal-topic-log.js';

/**
 * The group coordinator as the broker runs it: one GroupCoordinator, told when this broker starts or
 * stops leading a __consumer_offsets partition (broker.ts forwards its role hooks), ticking its timers.
 */
export class GroupCoordinatorRuntime<R extends InternalTopicPartitionRole> {
  readonly coordinator: GroupCoordinator;
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly options: {
      readonly settings: Readonly<Record<string, unknown>>;
      readonly leader: InternalTopicLeader<R>;
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
    const log = new InternalTopicLog(
      replica,
      this.options.leader,
      groupRecords,
      this.options.settings['offsets.commit.timeout.ms'] as number,
      this.options.nowMs,
      this.options.logger,
    );
    this.coordinator.becomeLeader(replica.partition, log).catch((err: unknown) => {
      this.options.logger.error({ err, partition: replica.partition }, 'loading groups failed');
      this.coordinator.resign(replica.partition);
    });
  }

  /**
   * A transaction marker for a __consumer_offsets partition is appended in order with the group
   * coordinator's writes of it, which commits or drops its producer's pending offsets; other
   * partitions' markers are appended as they come.
   */
  readonly orderMarker = (
    topic: string,
    partition: number,
    marker: { readonly producerId: number; readonly committed: boolean },
    append: () => Promise<number>,
  ): Promise<number> => {
    if (topic !== OFFSETS_TOPIC) return append();
    return this.coordinator.writeTxnMarker(
      partition,
      { producerId: marker.producerId, commit: marker.committed },
      append,
    );
  };

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
