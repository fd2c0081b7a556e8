import type { OffsetRecord } from './records.js';

/**
 * Offsets committed inside transactions (TxnOffsetCommit) whose transaction has not ended on this
 * __consumer_offsets partition yet, by producer id. They are written as a transactional batch of the
 * producer; the commit marker makes them the group's committed offsets, the abort marker drops them.
 * A producer has at most one transaction open, so its pending offsets all belong to that one. Pure:
 * the driver feeds it the same way at run time (in log order) and when replaying the partition.
 */
export class PendingTxnOffsets {
  /** producer id -> (group, topic, partition) -> the latest offset record of its open transaction. */
  private readonly byProducer = new Map<number, Map<string, OffsetRecord>>();
  /** (group, topic, partition) -> how many producers have an offset pending for it. */
  private readonly pendingCount = new Map<string, number>();

  /** A transactional offset record of `producerId` (a later one for the same partition replaces it). */
  add(producerId: number, record: OffsetRecord): void {
    let offsets = this.byProducer.get(producerId);
    if (offsets === undefined) {
      offsets = new Map();
      this.byProducer.set(producerId, offsets);
    }
    const key = keyOf(record.group, record.topic, record.partition);
    if (!offsets.has(key)) this.pendingCount.set(key, (this.pendingCount.get(key) ?? 0) + 1);
    offsets.set(key, record);
  }

  has(producerId: number): boolean {
    return this.byProducer.has(producerId);
  }

  /** Whether some open transaction has an offset for the partition (OffsetFetch with require_stable). */
  isPending(group: string, topic: string, partition: number): boolean {
    return this.pendingCount.has(keyOf(group, topic, partition));
  }

  /**
   * The producer's transaction ended on this partition: forgets its offsets and returns the records to
   * apply to the core (all of them for a commit, none for an abort).
   */
  complete(producerId: number, commit: boolean): OffsetRecord[] {
    const offsets = this.byProducer.get(producerId);
    if (offsets === undefined) return [];
    this.byProducer.delete(producerId);
    for (const key of offsets.keys()) {
      const n = this.pendingCount.get(key)! - 1;
      if (n === 0) this.pendingCount.delete(key);
      else this.pendingCount.set(key, n);
    }
    return commit ? [...offsets.values()] : [];
  }

  /** Producers with offsets pending (tools and tests). */
  producers(): number[] {
    return [...this.byProducer.keys()];
  }
}

function keyOf(group: string, topic: string, partition: number): string {
  return `${group}\u0000${topic}\u0000${partition}`;
}
