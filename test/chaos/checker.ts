/**
 * The chaos checker: pure functions over what the workload recorded (every attempt and every
 * acknowledgement) and what the cluster holds afterwards (every partition read from the beginning).
 */

/** A write the cluster acknowledged: this value sits at this offset. */
export interface Ack {
  readonly producer: number;
  readonly seq: number;
  readonly partition: number;
  readonly offset: number;
  readonly value: string;
}

/** A record read back from a partition. */
export interface Stored {
  readonly partition: number;
  readonly offset: number;
  readonly value: string;
}

export interface Verdict {
  readonly attempted: number;
  readonly acknowledged: number;
  /** Acknowledged values not found at their acknowledged offset. */
  readonly lost: Ack[];
  /** Values stored more than once (retries of writes whose first answer was lost). */
  readonly duplicated: number;
  /** Offsets missing between the log start and the end of each partition. */
  readonly holes: { partition: number; offset: number }[];
  /** A producer's acknowledged values of one partition stored out of their send order. */
  readonly reordered: { producer: number; partition: number; seq: number }[];
}

/**
 * - every acknowledged value is stored at the offset it was acknowledged at (so no offset ever held
 *   two different values: a replaced value would be missing there);
 * - offsets are contiguous from the first stored one;
 * - per producer and partition, acknowledged values appear in send order;
 * - duplicates are counted; the chaos test expects none (its producers are idempotent).
 */
export function check(attempted: number, acks: readonly Ack[], stored: readonly Stored[]): Verdict {
  const byPosition = new Map<string, string>();
  const byPartition = new Map<number, number[]>();
  const seen = new Map<string, number>();
  for (const s of stored) {
    byPosition.set(`${s.partition}:${s.offset}`, s.value);
    const offsets = byPartition.get(s.partition) ?? [];
    offsets.push(s.offset);
    byPartition.set(s.partition, offsets);
    seen.set(s.value, (seen.get(s.value) ?? 0) + 1);
  }
  const lost = acks.filter((a) => byPosition.get(`${a.partition}:${a.offset}`) !== a.value);
  const holes: { partition: number; offset: number }[] = [];
  for (const [partition, offsets] of byPartition) {
    const sorted = [...offsets].sort((a, b) => a - b);
    for (let i = 1; i < sorted.length; i++) {
      for (let missing = sorted[i - 1]! + 1; missing < sorted[i]!; missing++)
        holes.push({ partition, offset: missing });
    }
  }
  const reordered: { producer: number; partition: number; seq: number }[] = [];
  const lastOffset = new Map<string, { seq: number; offset: number }>();
  for (const a of [...acks].sort((x, y) => x.producer - y.producer || x.seq - y.seq)) {
    const key = `${a.producer}:${a.partition}`;
    const prev = lastOffset.get(key);
    if (prev && a.offset <= prev.offset) reordered.push({ producer: a.producer, partition: a.partition, seq: a.seq });
    lastOffset.set(key, { seq: a.seq, offset: a.offset });
  }
  let duplicated = 0;
  for (const count of seen.values()) if (count > 1) duplicated += count - 1;
  return { attempted, acknowledged: acks.length, lost, duplicated, holes, reordered };
}
