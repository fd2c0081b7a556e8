import { kafkaPartitionForKey } from '@samsa/protocol';

/**
 * 'default': a record with a key goes where Kafka's default partitioner puts it (murmur2 of the key
 * bytes); a record without one goes to the topic's sticky partition, which changes once a batch's worth
 * of bytes went to it or its batch was sent (KIP-480 / KIP-794).
 * 'round-robin' and 'random' ignore keys, as Kafka's RoundRobinPartitioner does.
 */
export type PartitionerName = 'default' | 'round-robin' | 'random';

export interface PartitionerArgs {
  readonly topic: string;
  readonly key: Uint8Array | null;
  readonly numPartitions: number;
  /** Partitions that have a leader right now (all of them when none has). */
  readonly availablePartitions: readonly number[];
}

/** A custom partitioner: must return an integer in [0, numPartitions). */
export type PartitionerFunction = (args: PartitionerArgs) => number;

interface StickyState {
  partition: number;
  bytes: number;
}

/** Chooses partitions for records without an explicit one. Pure apart from `random`, which tests can replace. */
export class Partitioner {
  private readonly sticky = new Map<string, StickyState>();
  private readonly counters = new Map<string, number>();

  constructor(
    private readonly strategy: PartitionerName | PartitionerFunction,
    /** After this many bytes the sticky partition moves on (batchSize, as KIP-794). */
    private readonly stickyBatchBytes: number,
    private readonly random: () => number = Math.random,
  ) {}

  partition(topic: string, key: Uint8Array | null, numPartitions: number, available: readonly number[], recordBytes: number): number {
    const strategy = this.strategy;
    if (typeof strategy === 'function') return strategy({ topic, key, numPartitions, availablePartitions: available });
    if (strategy === 'round-robin') {
      const n = this.counters.get(topic) ?? 0;
      this.counters.set(topic, (n + 1) % 0x3fff_ffff);
      return available[n % available.length] as number;
    }
    if (strategy === 'random') return available[Math.floor(this.random() * available.length)] as number;
    if (key !== null) return kafkaPartitionForKey(key, numPartitions);
    return this.stickyPartition(topic, available, recordBytes);
  }

  private stickyPartition(topic: string, available: readonly number[], recordBytes: number): number {
    let state = this.sticky.get(topic);
    if (state === undefined) {
      state = { partition: this.pick(available, -1), bytes: 0 };
      this.sticky.set(topic, state);
    } else if (state.bytes >= this.stickyBatchBytes || !available.includes(state.partition)) {
      state.partition = this.pick(available, state.partition);
      state.bytes = 0;
    }
    state.bytes += recordBytes;
    return state.partition;
  }

  /** The accumulator sent the batch of `partition` before it filled: keyless records move on (KIP-480). */
  batchSent(topic: string, partition: number): void {
    const state = this.sticky.get(topic);
    if (state !== undefined && state.partition === partition && state.bytes > 0) state.bytes = this.stickyBatchBytes;
  }

  private pick(available: readonly number[], previous: number): number {
    if (available.length === 1) return available[0] as number;
    for (;;) {
      const choice = available[Math.floor(this.random() * available.length)] as number;
      if (choice !== previous) return choice;
    }
  }
}
