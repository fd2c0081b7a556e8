/**
 * Preferred leader election on real processes. After a broker dies and comes back it is a follower
 * of everything; leadership moves back to it (each partition's first replica) when asked, with
 * `samsa leader-election`, or on its own with auto.leader.rebalance.enable. Writes going on meanwhile
 * with acks=all are all kept, in order.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Samsa, type PartitionDescription } from '@samsa/client';
import { runSamsa } from '../helpers/cli.js';
import { LocalCluster } from '../helpers/cluster.js';
import { waitFor } from '../helpers/wait.js';

const SESSION_TIMEOUT_MS = 6000;
const BROKER_SETTINGS = {
  'zookeeper.session.timeout.ms': String(SESSION_TIMEOUT_MS),
  'replica.lag.time.max.ms': '1500',
};

const client = (cluster: LocalCluster) =>
  new Samsa({
    brokers: cluster.bootstrap,
    requestTimeoutMs: 4000,
    retry: { retries: 100, initialRetryTimeMs: 50, maxRetryTimeMs: 300 },
  });

async function partitions(samsa: Samsa, topic: string): Promise<PartitionDescription[]> {
  const [described] = await samsa.admin().describeTopics([topic]);
  return described!.partitions;
}

/**
 * Kills broker 1, waits for its partitions to get other leaders, starts it again and waits until it
 * is back in every ISR. Returns the partitions it is the preferred leader of.
 */
async function displaceBroker1(cluster: LocalCluster, samsa: Samsa, topic: string): Promise<number[]> {
  const preferred = (await partitions(samsa, topic)).filter((p) => p.replicas[0] === 1).map((p) => p.partition);
  expect(preferred.length).toBeGreaterThan(0);
  await cluster.killBroker(1);
  await waitFor(
    async () => (await partitions(samsa, topic)).every((p) => p.leader >= 0 && p.leader !== 1 && !p.isr.includes(1)),
    {
      timeoutMs: SESSION_TIMEOUT_MS + 15_000,
      description: "other leaders for broker 1's partitions",
    },
  );
  await cluster.startBroker(1);
  await waitFor(async () => (await partitions(samsa, topic)).every((p) => p.isr.includes(1)), {
    timeoutMs: 20_000,
    description: 'broker 1 back in every ISR',
  });
  return preferred;
}

/** Writes sequenced values with acks=all, 20 at a time, until stopped. */
function backgroundWriter(samsa: Samsa, topic: string) {
  const producer = samsa.producer({ acks: 'all' });
  const acknowledged: { value: string; partition: number; offset: number }[] = [];
  let stopped = false;
  const done = (async () => {
    for (let i = 0; !stopped; i++) {
      const messages = Array.from({ length: 20 }, (_, j) => ({ value: `w${i}-${j}` }));
      const results = await producer.sendBatch({ topic, messages });
      for (const [j, r] of results.entries()) {
        acknowledged.push({ value: messages[j]!.value, partition: r.partition, offset: r.offset });
      }
    }
  })().finally(() => producer.close());
  // Handled here so that a test failing elsewhere does not also report the writer's error unhandled;
  // stop() still rethrows it.
  done.catch(() => undefined);
  return {
    acknowledged,
    async stop() {
      stopped = true;
      await done;
    },
  };
}

/** Every acknowledged value is where its acknowledgement said, read from the current leaders. */
async function expectAllKept(
  samsa: Samsa,
  topic: string,
  acknowledged: readonly { value: string; partition: number; offset: number }[],
): Promise<void> {
  const consumer = samsa.consumer({ autoOffsetReset: 'earliest', maxWaitMs: 100 });
  await consumer.assign([{ topic }]);
  const last = new Map<number, number>();
  for (const a of acknowledged) last.set(a.partition, Math.max(last.get(a.partition) ?? -1, a.offset));
  const read = new Map<string, string>();
  for await (const m of consumer.messages({ signal: AbortSignal.timeout(20_000) })) {
    read.set(`${m.partition}@${m.offset}`, m.value!.toString());
    if ([...last].every(([p, offset]) => read.has(`${p}@${offset}`))) break;
  }
  await consumer.close();
  const lost = acknowledged.filter((a) => read.get(`${a.partition}@${a.offset}`) !== a.value);
  expect(lost).toEqual([]);
}

/** A 3-broker cluster with these settings, and a client, for the tests of one describe block. */
function clusterForBlock(settings: Record<string, string>): { cluster: LocalCluster; samsa: Samsa } {
  const ctx = {} as { cluster: LocalCluster; samsa: Samsa };
  beforeAll(async () => {
    ctx.cluster = await LocalCluster.start({ brokers: 3, brokerSettings: { ...BROKER_SETTINGS, ...settings } });
    ctx.samsa = client(ctx.cluster);
  }, 60_000);
  afterAll(async () => {
    await ctx.samsa?.close();
    await ctx.cluster?.close();
  });
  return ctx;
}

/**
 * Creates a topic (6 partitions, RF 3, min.insync.replicas 2), runs `body` while a writer sends to it
 * with acks=all, then checks that every acknowledged value was kept.
 */
async function whileWriting(samsa: Samsa, topic: string, body: () => Promise<void>): Promise<void> {
  await samsa
    .admin()
    .createTopics([{ topic, numPartitions: 6, replicationFactor: 3, configs: { 'min.insync.replicas': '2' } }]);
  await waitFor(async () => (await partitions(samsa, topic)).every((p) => p.isr.length === 3), {
    description: 'full ISRs',
  });
  const writer = backgroundWriter(samsa, topic);
  try {
    await body();
  } finally {
    await writer.stop();
  }
  expect(writer.acknowledged.length).toBeGreaterThan(0);
  await expectAllKept(samsa, topic, writer.acknowledged);
}

describe('preferred leader election when asked (samsa leader-election)', () => {
  const ctx = clusterForBlock({ 'auto.leader.rebalance.enable': 'false' });

  it('moves leadership back to the restarted broker, bumps leader epochs, loses no acknowledged write', async () => {
    const { cluster, samsa } = ctx;
    const topic = `elect-${process.pid}`;
    await whileWriting(samsa, topic, async () => {
      const preferred = await displaceBroker1(cluster, samsa, topic);
      // Without auto rebalance, broker 1 is back in every ISR and leads nothing.
      const before = await partitions(samsa, topic);
      expect(before.filter((p) => p.leader === 1)).toEqual([]);

      const bootstrap = `--bootstrap-server=${cluster.bootstrap.join(',')}`;
      const run = await runSamsa([
        'leader-election',
        '--election-type',
        'preferred',
        '--all-topic-partitions',
        bootstrap,
      ]);
      expect(run.stderr).toBe('');
      expect(run.code).toBe(0);
      const names = (ps: number[]) => ps.map((p) => `${topic}-${p}`).join(', ');
      const others = before.map((p) => p.partition).filter((p) => !preferred.includes(p));
      expect(run.stdout).toBe(
        `Successfully completed leader election (PREFERRED) for partitions ` +
          `${names(preferred)}\nValid replica already elected for partitions ${names(others)}\n`,
      );

      const after = await partitions(samsa, topic);
      for (const p of after) {
        expect(p.leader).toBe(p.replicas[0]);
        const was = before.find((b) => b.partition === p.partition)!;
        // A new leader gets a new epoch; the others keep theirs.
        expect(p.leaderEpoch).toBe(preferred.includes(p.partition) ? was.leaderEpoch + 1 : was.leaderEpoch);
        expect(p.isr).toContain(p.leader);
      }

      // Again: nothing to do, exit code 0. One partition by name works too.
      const again = await runSamsa([
        'leader-election',
        '--election-type',
        'preferred',
        '--topic',
        topic,
        '--partition',
        String(preferred[0]),
        bootstrap,
      ]);
      expect(again).toEqual({
        code: 0,
        stdout: `Valid replica already elected for partitions ${topic}-${preferred[0]}\n`,
        stderr: '',
      });
    });
  }, 90_000); // a broker stopped, restarted and caught up, then two CLI runs: 19.7 s in a full run at load 15

  it('says which partitions could not be elected, and why, with exit code 1', async () => {
    const { cluster } = ctx;
    const bootstrap = `--bootstrap-server=${cluster.bootstrap.join(',')}`;
    const unknown = await runSamsa([
      'leader-election',
      '--election-type',
      'preferred',
      '--topic',
      'no-such-topic',
      bootstrap,
    ]);
    expect(unknown.code).toBe(1);
    expect(unknown.stdout).toMatch(
      /^Error completing leader election \(PREFERRED\) for partition no-such-topic: .*does not exist/,
    );
    expect(unknown.stderr.trim().split('\n')).toHaveLength(1);

    const usage = await runSamsa([
      'leader-election',
      '--election-type',
      'unclean',
      '--all-topic-partitions',
      bootstrap,
    ]);
    expect(usage.code).toBe(2);
    expect(usage.stderr).toMatch(/--election-type must be preferred/);
  });
});

describe('auto.leader.rebalance.enable', () => {
  const ctx = clusterForBlock({ 'leader.imbalance.check.interval.seconds': '1' });

  it('gives a restarted broker its preferred partitions back on its own once it is in sync', async () => {
    const { cluster, samsa } = ctx;
    const topic = `rebalance-${process.pid}`;
    await whileWriting(samsa, topic, async () => {
      const preferred = await displaceBroker1(cluster, samsa, topic);
      const led = await waitFor(
        async () => {
          const ps = await partitions(samsa, topic);
          return ps.every((p) => p.leader === p.replicas[0]) ? ps : undefined;
        },
        { timeoutMs: 20_000, description: 'every partition led by its preferred replica again' },
      );
      expect(led.filter((p) => p.leader === 1).map((p) => p.partition)).toEqual(preferred);
    });
  });
});
