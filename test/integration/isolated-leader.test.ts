/**
 * Jepsen's 2013 Kafka finding, on real processes: a leader cut off from the coordinator and from its
 * followers while its clients can still reach it. The cluster elects a new leader; the old one still
 * believes it leads and takes writes for a while. None of those may be acknowledged, and once the
 * network heals the old leader must drop them and copy the new leader's log.
 *
 * Every broker listens on EXTERNAL (clients, reached directly) and INTERNAL (brokers, reached through
 * a proxy per broker), and reaches the coordinator through a proxy of its own. Cutting the leader's
 * two proxies isolates it from the coordinator and from its followers' fetches, not from clients.
 * replica.lag.time.max.ms is longer than the session timeout, so the old leader cannot shrink its ISR
 * before the controller has moved on: the case where only leader epochs stand between it and an
 * acknowledgement.
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dumpSegment } from '@samsa/broker';
import { ClosedError, Samsa, SamsaClientError } from '@samsa/client';
import { ErrorCodes } from '@samsa/protocol';
import { TcpProxy } from '../../packages/broker/test/cluster/tcp-proxy.js';
import { LocalCluster } from '../helpers/cluster.js';
import { freePort } from '../helpers/ports.js';
import { waitFor } from '../helpers/wait.js';

const BROKERS = [1, 2, 3];
const SESSION_TIMEOUT_MS = 3000;
const TOPIC = `isolated-${process.pid}`;

let cluster: LocalCluster;
let samsa: Samsa;
const internalPorts = new Map<number, number>();
const internalProxies = new Map<number, TcpProxy>();
const coordinatorProxies = new Map<number, TcpProxy>();

beforeAll(async () => {
  // The coordinator starts with the cluster, after the proxies: they ask for its port per connection.
  let coordinatorPort = 0;
  for (const id of BROKERS) {
    const port = await freePort();
    internalPorts.set(id, port);
    internalProxies.set(id, await TcpProxy.start('127.0.0.1', port));
    coordinatorProxies.set(id, await TcpProxy.start('127.0.0.1', () => coordinatorPort));
  }
  cluster = await LocalCluster.start({
    brokers: BROKERS.length,
    brokerSettings: {
      'zookeeper.session.timeout.ms': String(SESSION_TIMEOUT_MS),
      'replica.lag.time.max.ms': String(SESSION_TIMEOUT_MS * 3),
      // Leadership stays where the test puts it.
      'auto.leader.rebalance.enable': 'false',
    },
    brokerSettingsFor: (b, c) => {
      coordinatorPort = Number(c.coordinator.connectString.split(':').at(-1));
      return {
        listeners: `EXTERNAL://127.0.0.1:${b.port},INTERNAL://127.0.0.1:${internalPorts.get(b.id)}`,
        'advertised.listeners': `EXTERNAL://127.0.0.1:${b.port},INTERNAL://${internalProxies.get(b.id)!.address}`,
        'inter.broker.listener.name': 'INTERNAL',
        'zookeeper.connect': coordinatorProxies.get(b.id)!.address,
      };
    },
  });
  samsa = new Samsa({
    brokers: cluster.bootstrap,
    requestTimeoutMs: 2000,
    metadataMaxAgeMs: 1000,
    retry: { retries: 200, initialRetryTimeMs: 50, maxRetryTimeMs: 300 },
  });
}, 90_000);

afterAll(async () => {
  await samsa?.close();
  await cluster?.close();
  await Promise.all([...internalProxies.values(), ...coordinatorProxies.values()].map((p) => p.close()));
});

async function describePartition(partition: number) {
  const [topic] = await samsa.admin().describeTopics([TOPIC]);
  return topic!.partitions[partition]!;
}

/** The values a broker's copy of the partition holds below `end`, by offset (read from its files). */
async function replicaValues(brokerId: number, partition: number, end: number): Promise<string[]> {
  const values: string[] = [];
  for await (const entry of dumpSegment(join(cluster.broker(brokerId).dataDir, `${TOPIC}-${partition}`), {
    printRecords: true,
  })) {
    if (entry.kind === 'error') throw new Error(`broker ${brokerId}: ${entry.reason} at ${entry.position}`);
    for (const r of entry.records ?? []) if (r.offset < end) values[r.offset] = Buffer.from(r.value!).toString();
  }
  return values;
}

describe('a leader cut off from the coordinator and its followers, still reachable by clients', () => {
  it('acknowledges nothing the new leader lacks, and drops what it took once the network heals', async () => {
    // On a loaded machine a broker's 3 s session may lapse while the cluster starts: it registers again
    // within seconds, and the topic needs all three.
    await waitFor(
      async () => {
        try {
          await samsa
            .admin()
            .createTopics([
              { topic: TOPIC, numPartitions: 3, replicationFactor: 3, configs: { 'min.insync.replicas': '2' } },
            ]);
          return true;
        } catch (err) {
          if (err instanceof SamsaClientError && err.code === ErrorCodes.INVALID_REPLICATION_FACTOR.code) return false;
          throw err;
        }
      },
      { timeoutMs: 30_000, description: 'three live brokers to create the topic on' },
    );
    await waitFor(
      async () => (await samsa.admin().describeTopics([TOPIC]))[0]!.partitions.every((p) => p.isr.length === 3),
      { timeoutMs: 20_000, description: 'full ISRs' },
    );
    // A partition led by a broker other than the controller, so the controller stays reachable.
    const controller = (await samsa.admin().describeCluster()).controllerId;
    const partitions = (await samsa.admin().describeTopics([TOPIC]))[0]!.partitions;
    const { partition, leader: isolated, leaderEpoch } = partitions.find((p) => p.leader !== controller)!;

    const producer = samsa.producer({ acks: 'all', deliveryTimeoutMs: 120_000 });
    const acks: { value: string; offset: number }[] = [];
    let failures = 0;
    let stopped = false;
    const writing = (async () => {
      for (let i = 0; !stopped; i++) {
        const value = `v${i}`;
        try {
          acks.push({ value, offset: (await producer.send({ topic: TOPIC, partition, value })).offset });
        } catch (err) {
          if (err instanceof ClosedError) break; // the test ended without stopping the writer (it failed)
          failures++;
        }
      }
    })();
    try {
      await waitFor(() => acks.length >= 100, { timeoutMs: 20_000, description: 'writes before the cut' });
      const beforeCut = acks.length;
      coordinatorProxies.get(isolated)!.partition();
      internalProxies.get(isolated)!.partition();
      try {
        const moved = await waitFor(
          async () => {
            const p = await describePartition(partition);
            return p.leader >= 0 && p.leader !== isolated && p.leaderEpoch > leaderEpoch ? p : undefined;
          },
          {
            timeoutMs: SESSION_TIMEOUT_MS + 15_000,
            intervalMs: 100,
            description: "a new leader for the isolated leader's partition",
          },
        );
        expect(moved.isr).not.toContain(isolated);
        await waitFor(() => acks.length >= beforeCut + 100, {
          timeoutMs: 30_000,
          description: 'writes to go on at the new leader',
        });
      } finally {
        coordinatorProxies.get(isolated)!.heal();
        internalProxies.get(isolated)!.heal();
      }
      await waitFor(async () => (await describePartition(partition)).isr.includes(isolated), {
        timeoutMs: 30_000,
        description: 'the old leader back in the ISR as a follower',
      });
    } finally {
      stopped = true;
      // A send still retrying when the test gives up is cut short by closing the producer.
      await Promise.race([writing, new Promise((resolve) => setTimeout(resolve, 10_000))]);
      await producer.close();
      await writing;
    }

    // Every acknowledged value is at its offset, read from the current leader up to the high watermark.
    const { high } = (await samsa.admin().fetchTopicOffsets(TOPIC)).find((o) => o.partition === partition)!;
    const consumer = samsa.consumer({ autoOffsetReset: 'earliest', maxWaitMs: 100 });
    await consumer.assign([{ topic: TOPIC, partition }]);
    const stored = new Map<number, string>();
    for await (const m of consumer.messages({ signal: AbortSignal.timeout(20_000) })) {
      stored.set(m.offset, m.value!.toString());
      if (m.offset >= high - 1) break;
    }
    await consumer.close();
    const lost = acks.filter((a) => stored.get(a.offset) !== a.value);
    expect(lost).toEqual([]);

    // The old leader's copy matches the new leader's below the high watermark: what it took while cut
    // off is gone.
    const leader = (await describePartition(partition)).leader;
    await waitFor(
      async () => {
        const [a, b] = await Promise.all([
          replicaValues(leader, partition, high),
          replicaValues(isolated, partition, high),
        ]);
        return a.length === high && b.length === high && a.every((v, i) => v === b[i]);
      },
      { timeoutMs: 15_000, description: "the old leader's log to match the new leader's" },
    );
    const truncated = cluster.broker(isolated).process!.output().includes('log diverged from the leader; truncating');
    console.log(
      `isolated leader: broker ${isolated} of partition ${partition}; ${acks.length} ` +
        `acknowledged, ${failures} failed, the old leader truncated: ${truncated}`,
    );
  }, 120_000);
});
