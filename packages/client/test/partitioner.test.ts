import { describe, expect, it } from 'vitest';
import { Partitioners } from 'kafkajs';
import { Partitioner } from '../src/partitioner.js';

/** A deterministic stand-in for Math.random. */
function seeded(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

const all = (n: number) => Array.from({ length: n }, (_, i) => i);

describe('partitioner', () => {
  it("puts a key where Kafka's default (murmur2) partitioner does", () => {
    // KafkaJS's DefaultPartitioner is its Java-compatible murmur2 one: an independent implementation.
    const kafkajs = Partitioners.DefaultPartitioner();
    const partitioner = new Partitioner('default', 16384);
    for (const numPartitions of [1, 3, 7, 12, 100]) {
      const partitionMetadata = all(numPartitions).map((partitionId) => ({
        partitionId,
        leader: 0,
        partitionErrorCode: 0,
        replicas: [0],
        isr: [0],
      }));
      for (let i = 0; i < 200; i++) {
        const key = `key-${i}-${'x'.repeat(i % 13)}`;
        const expected = kafkajs({ topic: 't', partitionMetadata, message: { key, value: null } });
        expect(partitioner.partition('t', Buffer.from(key), numPartitions, all(numPartitions), 100)).toBe(expected);
      }
    }
    // A key keeps its partition whatever is available (records with the same key stay together).
    expect(partitioner.partition('t', Buffer.from('21'), 3, [0], 10)).toBe(
      partitioner.partition('t', Buffer.from('21'), 3, all(3), 10),
    );
  });

  it('sticks keyless records to one partition for a batch, then moves on, spreading over many batches', () => {
    const batchBytes = 1000;
    const partitioner = new Partitioner('default', batchBytes, seeded(7));
    const chosen: number[] = [];
    for (let i = 0; i < 2000; i++) chosen.push(partitioner.partition('t', null, 6, all(6), 100));
    // 10 records of 100 bytes fill a batch: runs of exactly 10, each run on a different partition than the previous.
    for (let run = 0; run < 200; run++) {
      const slice = chosen.slice(run * 10, run * 10 + 10);
      expect(new Set(slice).size).toBe(1);
      if (run > 0) expect(slice[0]).not.toBe(chosen[run * 10 - 1]);
    }
    const counts = all(6).map((p) => chosen.filter((c) => c === p).length);
    for (const count of counts) expect(count).toBeGreaterThan(150);
  });

  it('moves the sticky partition on when its batch is sent before filling (KIP-480)', () => {
    const partitioner = new Partitioner('default', 16384, seeded(1));
    const first = partitioner.partition('t', null, 4, all(4), 10);
    expect(partitioner.partition('t', null, 4, all(4), 10)).toBe(first);
    partitioner.batchSent('t', first);
    expect(partitioner.partition('t', null, 4, all(4), 10)).not.toBe(first);
  });

  it("draws the next sticky partition against the load, as Kafka's adaptive partitioning (KIP-794)", () => {
    const partitioner = new Partitioner('default', 100, seeded(5));
    // Partition 0 has 6 batches waiting, 1 and 2 one each: weights 1, 6, 6 (largest load + 1 - load).
    const loads = [6, 1, 1];
    const load = (p: number) => loads[p] as number;
    const counts = [0, 0, 0];
    let previous = -1;
    for (let i = 0; i < 26_000; i++) {
      // each record fills a batch: a new draw each time
      const p = partitioner.partition('t', null, 3, all(3), 100, load);
      expect(p).not.toBe(previous);
      previous = p;
      counts[p]! += 1;
    }
    // Partition 0 is drawn only against 1 or 2 (never after itself): 1/7 of those draws, about 1 in 8 overall.
    expect(counts[0]! / 26_000).toBeGreaterThan(0.09);
    expect(counts[0]! / 26_000).toBeLessThan(0.16);
    expect(Math.abs(counts[1]! - counts[2]!) / 26_000).toBeLessThan(0.03);
    // Equal loads: uniform again.
    const even = new Partitioner('default', 100, seeded(9));
    const evenCounts = [0, 0, 0];
    for (let i = 0; i < 30_000; i++) evenCounts[even.partition('t', null, 3, all(3), 100, () => 2)]! += 1;
    for (const c of evenCounts) expect(c / 30_000).toBeCloseTo(1 / 3, 1);
  });

  it('moves the sticky partition to an idle partition whenever there is one', () => {
    const partitioner = new Partitioner('default', 100, seeded(4));
    const loads = [3, 0, 1];
    const chosen: number[] = [];
    for (let i = 0; i < 1000; i++) chosen.push(partitioner.partition('t', null, 3, all(3), 100, (p) => loads[p]!));
    // Never the busy ones after the idle one, never twice in a row: 1, then the less busy 2 or 0, then 1 again.
    for (let i = 0; i < chosen.length; i += 2) expect(chosen[i]).toBe(1);
    const after = chosen.filter((_, i) => i % 2 === 1);
    expect(after.filter((p) => p === 2).length / after.length).toBeGreaterThan(0.55); // weights 2 and 1
  });

  it('uses only partitions with a leader for keyless records', () => {
    const partitioner = new Partitioner('default', 100, seeded(3));
    for (let i = 0; i < 100; i++) expect([1, 3]).toContain(partitioner.partition('t', null, 4, [1, 3], 60));
  });

  it('round-robin cycles through the available partitions, ignoring keys', () => {
    const partitioner = new Partitioner('round-robin', 16384);
    const chosen = all(7).map((i) => partitioner.partition('t', i % 2 ? Buffer.from('k') : null, 3, all(3), 10));
    expect(chosen).toEqual([0, 1, 2, 0, 1, 2, 0]);
    expect(partitioner.partition('other', null, 3, all(3), 10)).toBe(0);
  });

  it('random and custom partitioners', () => {
    const random = new Partitioner('random', 16384, seeded(11));
    const seen = new Set(all(300).map(() => random.partition('t', Buffer.from('same'), 5, all(5), 10)));
    expect(seen.size).toBe(5);
    const custom = new Partitioner(({ numPartitions, key }) => (key ? key.length % numPartitions : 0), 16384);
    expect(custom.partition('t', Buffer.from('abcd'), 3, all(3), 10)).toBe(1);
  });
});
