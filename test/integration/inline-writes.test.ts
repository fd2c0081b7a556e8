/**
 * Appends through a real cluster with both ways of writing a run (packages/broker/src/storage/append-chain.ts):
 * brokers 1 and 2 write runs of at most log.inline.write.max.bytes (32 KiB) on the event loop, broker 3
 * has it at 0 and writes every run on the thread pool. Small records one at a time, concurrent sends
 * (several appends per drain) and batches over the threshold all end up byte for byte the same on
 * every replica, and a consumer reads them back in order.
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dumpSegment } from '@samsa/broker';
import { Samsa } from '@samsa/client';
import { LocalCluster } from '../helpers/cluster.js';
import { waitFor } from '../helpers/wait.js';

let cluster: LocalCluster;
let samsa: Samsa;

beforeAll(async () => {
  cluster = await LocalCluster.start({
    brokers: 3,
    brokerSettingsFor: (broker): Record<string, string> =>
      broker.id === 3 ? { 'log.inline.write.max.bytes': '0' } : {},
  });
  samsa = new Samsa({
    brokers: cluster.bootstrap,
    retry: { retries: 50, initialRetryTimeMs: 50, maxRetryTimeMs: 300 },
  });
}, 60_000);

afterAll(async () => {
  await samsa?.close();
  await cluster?.close();
});

/** Every batch of a broker's copy of partition 0, as [base offset, record values], read from its files. */
async function replicaBatches(brokerId: number, topic: string): Promise<Array<[number, string[]]>> {
  const batches: Array<[number, string[]]> = [];
  for await (const entry of dumpSegment(join(cluster.broker(brokerId).dataDir, `${topic}-0`), { printRecords: true })) {
    if (entry.kind === 'error') throw new Error(`broker ${brokerId}: ${entry.reason} at ${entry.position}`);
    batches.push([entry.baseOffset, (entry.records ?? []).map((r) => Buffer.from(r.value!).toString())]);
  }
  return batches;
}

describe('appends written on the event loop and on the thread pool, through a real cluster', () => {
  it('small, concurrent and large acks=all appends are the same on every replica and read back in order', async () => {
    const topic = `inline-writes-${process.pid}`;
    await samsa
      .admin()
      .createTopics([{ topic, numPartitions: 1, replicationFactor: 3, configs: { 'min.insync.replicas': '3' } }]);
    const partition = async () => (await samsa.admin().describeTopics([topic]))[0]!.partitions[0]!;
    await waitFor(async () => (await partition()).isr.length === 3, { description: 'a full ISR' });

    // Batches up to 256 KiB: a request of 150 records of 1 KB is one append over the 32 KiB threshold.
    const producer = samsa.producer({ acks: 'all', batchSize: 256 * 1024 });
    const expected: string[] = [];
    const value = (tag: string, i: number, size: number) => `${tag}-${i}-`.padEnd(size, tag);
    // One at a time: every append is a run of one small batch.
    for (let i = 0; i < 50; i++) {
      expected.push(value('a', i, 100));
      await producer.send({ topic, value: expected.at(-1)! });
    }
    // Concurrent sends: followers copy several batches per fetch, a leader may drain several at once.
    const concurrent = Array.from({ length: 200 }, (_, i) => value('b', i, 100));
    await Promise.all(concurrent.map((v) => producer.send({ topic, value: v })));
    // Over the threshold.
    const large = Array.from({ length: 150 }, (_, i) => value('c', i, 1000));
    await producer.sendBatch({ topic, messages: large.map((v) => ({ value: v })) });
    // Small again, after the large runs.
    const tail = Array.from({ length: 20 }, (_, i) => value('d', i, 100));
    for (const v of tail) await producer.send({ topic, value: v });
    await producer.close();

    const total = 50 + 200 + 150 + 20;
    const consumer = samsa.consumer({ autoOffsetReset: 'earliest', maxWaitMs: 100 });
    await consumer.assign([{ topic, partition: 0 }]);
    const values: string[] = [];
    for await (const m of consumer.messages({ signal: AbortSignal.timeout(20_000) })) {
      expect(m.offset).toBe(values.length);
      values.push(m.value!.toString());
      if (values.length === total) break;
    }
    await consumer.close();
    // One partition: the log's order is the send order, concurrent sends included.
    expect(values).toEqual([...expected, ...concurrent, ...large, ...tail]);

    // min.insync.replicas 3: every acknowledged record is on all three; their files hold the same batches.
    const leaderCopy = await replicaBatches((await partition()).leader, topic);
    expect(leaderCopy.flatMap(([, v]) => v)).toEqual(values);
    for (const id of [1, 2, 3]) expect(await replicaBatches(id, topic)).toEqual(leaderCopy);
  });
});
