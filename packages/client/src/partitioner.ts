import { kafkaPartitionForKey } from '@samsa/protocol';

/**
 * 'default': a record with a key goes where Kafka's default partitioner puts it (murmur2 of the key
 * bytes); a record without one goes to the topic's sticky partition, which changes once a batch's worth
 * of bytes went to it or its batch was sent (KIP-480 / KIP-794). The next sticky partition is drawn
 * at random, weighted against partitions with more batches waiting (KIP-794's adaptive partitioning),
 * so keyless records drift away from a slow leader instead of queueing behind it.
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

  /**
   * `load(p)`, when given, is how many batches partition p has waiting or in flight; it weights the
   * choice of the next sticky partition.
   */
  partition(
    topic: string,
    key: Uint8Array | null,
    numPartitions: number,
    available: readonly number[],
    recordBytes: number,
    load?: (partition: number) => number,
  ): number {
    const strategy = this.strategy;
    if (typeof strategy === 'function') return strategy({ topic, key, numPartitions, availablePartitions: available });
    if (strategy === 'round-robin') {
      const n = this.counters.get(topic) ?? 0;
      this.counters.set(topic, (n + 1) % 0x3fff_ffff);
      return available[n % available.length] as number;
    }
    if (strategy === 'random') return available[Math.floor(this.random() * available.length)] as number;
    if (key !== null) return kafkaPartitionForKey(key, numPartitions);
    return this.stickyPartition(topic, available, recordBytes, load);
  }

  private stickyPartition(
    topic: string,
    available: readonly number[],
    recordBytes: number,
    load: ((partition: number) => number) | undefined,
  ): number {
    let state = this.sticky.get(topic);
    if (state === undefined) {
      state = { partition: this.pick(available, -1, load), bytes: 0 };
      this.sticky.set(topic, state);
    } else if (state.bytes >= this.stickyBatchBytes || !available.includes(state.partition)) {
      state.partition = this.pick(available, state.partition, load);
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

  /**
   * A partition other than `previous`, at random. With loads: an idle one (nothing waiting or in
   * flight) when there is one, since its batch can go at once while a busy partition's waits for the
   * request ahead of it (one per partition); otherwise as Kafka's BuiltInPartitioner, each candidate
   * weighing (largest load + 1 - its load), so the busiest weighs 1 and the least busy the most.
   */
  private pick(available: readonly number[], previous: number, load?: (partition: number) => number): number {
    if (available.length === 1) return available[0] as number;
    const candidates = available.filter((p) => p !== previous);
    if (candidates.length === 0) return previous;
    const loads = load === undefined ? undefined : candidates.map(load);
    const most = loads === undefined ? 0 : Math.max(...loads);
    if (loads === undefined || most === 0) return candidates[Math.floor(this.random() * candidates.length)] as number;
    const idle = candidates.filter((_, i) => loads[i] === 0);
    if (idle.length > 0) return idle[Math.floor(this.random() * idle.length)] as number;
    let total = 0;
    const cumulative = loads.map((l) => (total += most + 1 - l));
    const draw = this.random() * total;
    const index = cumulative.findIndex((c) => draw < c);
    return candidates[index < 0 ? candidates.length - 1 : index] as number;
  }
}
