/**
 * Replica reassignment survives faults on real processes: a throttled move of an RF 3 topic from
 * brokers 1,2,3 to 2,3,4 goes on while the new replica's broker is SIGKILLed and restarted and then
 * the controller is SIGKILLed and restarted (a controller failover mid-move), under an acks=all
 * producer. The move completes, nothing acknowledged is lost, and `--cancel` of a second move brings
 * the partition back to its original replicas with the added replica's directory gone.
 */
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Samsa } from '@samsa/client';
import { runSamsa } from '../helpers/cli.js';
import { LocalCluster } from '../helpers/cluster.js';
import { createTopicOnFirstThree, describePartition as describeOnlyPartition } from '../helpers/reassign.js';
import { createTempDir, type TempDir } from '../helpers/temp.js';
import { waitFor } from '../helpers/wait.js';

describe('replica reassignment under faults', () => {
  let cluster: LocalCluster;
  let samsa: Samsa;
  let temp: TempDir;
  let bootstrap: string[];

  beforeAll(async () => {
    cluster = await LocalCluster.start({ brokers: 4 });
    bootstrap = ['--bootstrap-server', cluster.bootstrap.join(',')];
    temp = createTempDir('reassign-faults');
    samsa = new Samsa({
      brokers: cluster.bootstrap,
      metadataMaxAgeMs: 500,
      retry: { retries: 200, initialRetryTimeMs: 50, maxRetryTimeMs: 500 },
    });
  }, 60_000);

  afterAll(async () => {
    await samsa?.close();
    await cluster?.close();
    temp?.remove();
  });

  const describePartition = (topic: string) => describeOnlyPartition(samsa, topic);

  const writePlan = (topic: string, replicas: number[]): string => {
    const plan = join(temp.path, `${topic}-${replicas.join('')}.json`);
    writeFileSync(plan, JSON.stringify({ version: 1, partitions: [{ topic, partition: 0, replicas }] }));
    return plan;
  };

  it('a move finishes across a restart of the new replica and a controller failover', async () => {
    const topic = `faults-${Date.now()}`;
    await createTopicOnFirstThree(samsa, topic);
    const producer = samsa.producer({ acks: 'all', lingerMs: 5, idempotent: true });
    const filler = 'x'.repeat(1024);
    await Promise.all(Array.from({ length: 400 }, (_, i) => producer.send({ topic, value: `pre${i}:${filler}` })));
    const acked: string[] = [];
    let stop = false;
    const producing = (async () => {
      for (let i = 0; !stop; i++) {
        await producer.send({ topic, value: `live${i}` });
        acked.push(`live${i}`);
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
    })();

    const plan = writePlan(topic, [2, 3, 4]);
    const executed = await runSamsa([
      'reassign-partitions',
      ...bootstrap,
      '--execute',
      '--plan',
      plan,
      '--throttle',
      '65536',
    ]);
    expect(executed.code, executed.stderr).toBe(0);
    await waitFor(async () => (await describePartition(topic)).addingReplicas.includes(4), { description: 'moving' });

    // The new replica's broker dies mid-copy and comes back: it rejoins as a follower and goes on.
    await cluster.killBroker(4);
    await cluster.startBroker(4);
    expect((await describePartition(topic)).removingReplicas).toEqual([1]);
    // Then the controller dies: the next one loads the move from the topic znode and finishes it.
    const { controllerId } = await samsa.admin().describeCluster();
    await cluster.killBroker(controllerId);
    await cluster.startBroker(controllerId);

    await waitFor(
      async () => {
        const p = await describePartition(topic);
        return p.removingReplicas.length === 0 && p.replicas.join() === '2,3,4' && p.isr.length === 3;
      },
      { timeoutMs: 90_000, intervalMs: 200, description: 'the move completes' },
    );
    const verified = await runSamsa(['reassign-partitions', ...bootstrap, '--verify', '--plan', plan]);
    expect(verified.stdout).toMatch(/is completed/);
    expect(verified.stdout).toMatch(/Throttle was removed/);
    stop = true;
    await producing;
    await producer.close();

    const consumer = samsa.consumer({ autoOffsetReset: 'earliest', maxWaitMs: 100 });
    await consumer.assign([{ topic }]);
    const received = new Set<string>();
    const consuming = (async () => {
      for await (const m of consumer) received.add(m.value!.toString().split(':')[0]!);
    })();
    await waitFor(() => acked.every((v) => received.has(v)) && received.has('pre399'), {
      timeoutMs: 30_000,
      description: 'every acknowledged record readable',
    });
    await consumer.close();
    await consuming;
    await waitFor(() => !existsSync(join(cluster.broker(1).dataDir, `${topic}-0`)), {
      description: "broker 1's replica directory deleted",
    });
  }, 180_000);

  it('--cancel goes back to the original replicas and the added replica is deleted', async () => {
    const topic = `cancel-${Date.now()}`;
    await createTopicOnFirstThree(samsa, topic);
    const producer = samsa.producer({ acks: 'all', lingerMs: 5 });
    const filler = 'x'.repeat(1024);
    await Promise.all(Array.from({ length: 300 }, (_, i) => producer.send({ topic, value: `pre${i}:${filler}` })));
    await producer.close();
    const plan = writePlan(topic, [4, 2, 3]);
    // Throttled well below the data size, so the move is still in progress when it is cancelled.
    const executed = await runSamsa([
      'reassign-partitions',
      ...bootstrap,
      '--execute',
      '--plan',
      plan,
      '--throttle',
      '16384',
    ]);
    expect(executed.code, executed.stderr).toBe(0);
    await waitFor(() => existsSync(join(cluster.broker(4).dataDir, `${topic}-0`)), {
      description: 'broker 4 holds a replica',
    });
    // The same plan again is accepted and changes nothing.
    const again = await runSamsa(['reassign-partitions', ...bootstrap, '--execute', '--plan', plan]);
    expect(again.code, again.stderr).toBe(0);
    const cancelled = await runSamsa(['reassign-partitions', ...bootstrap, '--cancel', '--plan', plan]);
    expect(cancelled.code, cancelled.stderr).toBe(0);
    expect(cancelled.stdout).toMatch(/Successfully cancelled partition reassignment for .*-0/);
    const p = await describePartition(topic);
    expect([...p.replicas].sort()).toEqual([1, 2, 3]);
    expect(p.addingReplicas).toEqual([]);
    await waitFor(() => !existsSync(join(cluster.broker(4).dataDir, `${topic}-0`)), {
      description: "broker 4's replica directory deleted",
    });
    const verified = await runSamsa(['reassign-partitions', ...bootstrap, '--verify', '--plan', plan]);
    expect(verified.stdout).toMatch(/no active reassignment .* rather than 4,2,3/);
  }, 120_000);
});
