import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import * as grpc from '@grpc/grpc-js';
import { ErrorCodes } from '@samsa/protocol';
import { Samsa, type RecordMetadata } from '@samsa/client';
import { TestCluster } from './support/test-cluster.js';

function seeded(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

/**
 * A seeded schedule of faults while records flow: leader moves, refused appends, dropped connections and
 * answers lost after the append. Invariants: every send is acknowledged; the acknowledged offset holds
 * that record; per partition, first occurrences in the log follow send order (retries may duplicate,
 * never reorder or lose).
 */
describe('producer under faults', () => {
  let cluster: TestCluster;
  let samsa: Samsa;

  beforeEach(async () => {
    cluster = await TestCluster.start({ brokers: 3 });
    samsa = new Samsa({ brokers: cluster.bootstrap, retry: { retries: 5, initialRetryTimeMs: 5, maxRetryTimeMs: 20 } });
  });

  afterEach(async () => {
    await samsa.close();
    await cluster.stop();
  });

  it.each([1, 2, 3])('keeps acknowledged records, in order, with seed %i', async (seed) => {
    const random = seeded(seed);
    cluster.createTopic('t', 3);
    const producer = samsa.producer({ lingerMs: 1, batchSize: 512 });
    const sends: Promise<RecordMetadata[]>[] = [];
    const sentValues: string[] = [];
    for (let round = 0; round < 40; round++) {
      const roll = random();
      const partition = Math.floor(random() * 3);
      if (roll < 0.15) cluster.moveLeader('t', partition, Math.floor(random() * 3));
      else if (roll < 0.3)
        cluster.inject({
          method: 'Produce',
          topic: 't',
          partition,
          errorCode: ErrorCodes.NOT_ENOUGH_REPLICAS.code,
          times: 1 + Math.floor(random() * 3),
        });
      else if (roll < 0.4) cluster.inject({ method: 'Produce', grpcStatus: grpc.status.UNAVAILABLE });
      else if (roll < 0.5)
        cluster.inject({ method: 'Produce', grpcStatus: grpc.status.UNAVAILABLE, afterHandling: true });
      const messages = Array.from({ length: 1 + Math.floor(random() * 30) }, (_, i) => {
        const value = `r${round}-${i}`;
        sentValues.push(value);
        return { key: `key-${Math.floor(random() * 10)}`, value };
      });
      sends.push(producer.sendBatch({ topic: 't', messages }));
      if (random() < 0.3) await sends[sends.length - 1];
    }
    const results = (await Promise.all(sends)).flat();
    expect(results).toHaveLength(sentValues.length);
    const sentByPartition = new Map<number, string[]>();
    results.forEach((r, i) => {
      const stored = cluster.partition('t', r.partition).records.find((x) => x.offset === r.offset);
      expect(stored?.value?.toString()).toBe(sentValues[i]);
      sentByPartition.set(r.partition, [...(sentByPartition.get(r.partition) ?? []), sentValues[i] as string]);
    });
    for (const [partition, sent] of sentByPartition) {
      const firstOccurrences = [...new Set(cluster.partition('t', partition).records.map((x) => x.value?.toString()))];
      expect(firstOccurrences).toEqual(sent);
    }
  });
});
