/**
 * Adding partitions on real processes: `samsa topics alter --partitions N` refuses to shrink, grows
 * the topic, and a running group rebalances onto the new partitions while a producer (picking them
 * up from metadata) writes to them. Nothing written is lost.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Samsa, type ConsumedMessage } from '@samsa/client';
import { runSamsa } from '../helpers/cli.js';
import { LocalCluster } from '../helpers/cluster.js';
import { waitFor } from '../helpers/wait.js';

describe('adding partitions', () => {
  let cluster: LocalCluster;
  let samsa: Samsa;

  beforeAll(async () => {
    cluster = await LocalCluster.start({ brokers: 3 });
    samsa = new Samsa({
      brokers: cluster.bootstrap,
      metadataMaxAgeMs: 500,
      retry: { retries: 50, initialRetryTimeMs: 50, maxRetryTimeMs: 500 },
    });
  }, 60_000);

  afterAll(async () => {
    await samsa?.close();
    await cluster?.close();
  });

  it('grows a topic under a running group and producer; refuses to shrink', async () => {
    const topic = `grow-${Date.now()}`;
    const bootstrap = ['--bootstrap-server', cluster.bootstrap.join(',')];
    const created = await runSamsa([
      'topics',
      'create',
      ...bootstrap,
      '--topic',
      topic,
      '--partitions',
      '2',
      '--replication-factor',
      '2',
    ]);
    expect(created.code, created.stderr).toBe(0);
    const partitionCount = async (): Promise<number> =>
      (await samsa.admin().describeTopics([topic]))[0]!.partitions.filter((p) => p.leader >= 0).length;
    await waitFor(async () => (await partitionCount()) === 2, { timeoutMs: 20_000, description: 'leaders' });

    // One group member, subscribed before the topic grows.
    const consumer = samsa.consumer({ groupId: `g-${topic}`, autoOffsetReset: 'earliest', maxWaitMs: 100 });
    const owned = new Set<number>();
    consumer.subscribe([topic], {
      onPartitionsAssigned: (tps) => {
        for (const tp of tps) owned.add(tp.partition);
      },
      onPartitionsRevoked: (tps) => {
        for (const tp of tps) owned.delete(tp.partition);
      },
    });
    const received: ConsumedMessage[] = [];
    const consuming = (async () => {
      for await (const m of consumer) received.push(m);
    })();
    await waitFor(() => owned.size === 2, { timeoutMs: 30_000, description: 'the member owns both partitions' });

    // A producer writes keyless records all along; its partitioner spreads them over what metadata shows.
    const producer = samsa.producer({ acks: 'all', lingerMs: 1 });
    const sent: Array<{ value: string; partition: number }> = [];
    let stop = false;
    const producing = (async () => {
      for (let i = 0; !stop; i++) {
        const result = await producer.send({ topic, value: `v${i}` });
        sent.push({ value: `v${i}`, partition: result.partition });
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
    })();

    const shrink = await runSamsa(['topics', 'alter', ...bootstrap, '--topic', topic, '--partitions', '1']);
    expect(shrink.code).not.toBe(0);
    expect(shrink.stderr).toMatch(/InvalidPartitions/);
    const same = await runSamsa(['topics', 'alter', ...bootstrap, '--topic', topic, '--partitions', '2']);
    expect(same.stderr).toMatch(/InvalidPartitions/);
    const grow = await runSamsa(['topics', 'alter', ...bootstrap, '--topic', topic, '--partitions', '4']);
    expect(grow.code, grow.stderr).toBe(0);
    expect(grow.stdout).toMatch(/has 4 partitions/);
    await waitFor(async () => (await partitionCount()) === 4, { timeoutMs: 20_000, description: 'new leaders' });

    // The group rebalances onto the new partitions, and the producer writes to them.
    await waitFor(() => owned.size === 4, { timeoutMs: 30_000, description: 'the member owns all four' });
    await waitFor(() => new Set(sent.map((s) => s.partition)).size === 4, {
      timeoutMs: 30_000,
      description: 'records in every partition',
    });
    stop = true;
    await producing;
    await producer.close();
    await waitFor(() => received.length >= sent.length, { timeoutMs: 30_000, description: 'everything consumed' });
    await consumer.close();
    await consuming;
    expect(new Set(received.map((m) => m.value!.toString()))).toEqual(new Set(sent.map((s) => s.value)));
    expect(new Set(received.map((m) => m.partition))).toEqual(new Set([0, 1, 2, 3]));
  }, 180_000);
});
