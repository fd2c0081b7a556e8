/**
 * Named listeners on real processes: every broker listens on EXTERNAL (for clients) and INTERNAL (for
 * brokers) on different ports, with inter.broker.listener.name=INTERNAL. INTERNAL is advertised through
 * a TCP proxy per broker, so the test can cut it: replication must stall while EXTERNAL keeps serving
 * clients, which proves followers fetch over INTERNAL and never over EXTERNAL. A client bootstrapped on
 * the EXTERNAL ports is only ever told EXTERNAL addresses, and produces and consumes through them.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Samsa } from '@samsa/client';
import type { v1 } from '@samsa/protocol';
import { TcpProxy } from '../../packages/broker/test/cluster/tcp-proxy.js';
import { LocalCluster } from '../helpers/cluster.js';
import { freePort } from '../helpers/ports.js';
import { waitFor } from '../helpers/wait.js';
import { RawBroker } from './grpc.js';

const BROKERS = [1, 2, 3];
let cluster: LocalCluster;
let samsa: Samsa;
/** Where each broker's INTERNAL listener is bound. */
const internalPorts = new Map<number, number>();
/** What each broker advertises for INTERNAL: a proxy in front of the bound port. */
const internalProxies = new Map<number, TcpProxy>();
const topic = `listeners-${process.pid}`;

beforeAll(async () => {
  for (const id of BROKERS) {
    const port = await freePort();
    internalPorts.set(id, port);
    internalProxies.set(id, await TcpProxy.start('127.0.0.1', port));
  }
  cluster = await LocalCluster.start({
    brokers: BROKERS.length,
    brokerSettingsFor: (b) => ({
      // EXTERNAL first: without inter.broker.listener.name brokers would replicate over it.
      listeners: `EXTERNAL://127.0.0.1:${b.port},INTERNAL://127.0.0.1:${internalPorts.get(b.id)}`,
      'advertised.listeners': `EXTERNAL://127.0.0.1:${b.port},INTERNAL://${internalProxies.get(b.id)!.address}`,
      'inter.broker.listener.name': 'INTERNAL',
    }),
  });
  samsa = new Samsa({ brokers: cluster.bootstrap }); // the EXTERNAL ports
  await samsa.connect();
}, 90_000);

afterAll(async () => {
  await samsa?.close();
  await cluster?.close();
  await Promise.all([...internalProxies.values()].map((p) => p.close()));
});

describe('named listeners', () => {
  it('answers Metadata and DescribeCluster with the addresses of the listener the request arrived on', async () => {
    const externalAddresses = BROKERS.map((id) => cluster.broker(id).address).sort();
    const internalAddresses = BROKERS.map((id) => internalProxies.get(id)!.address).sort();
    const described = await waitFor(
      async () => {
        const d = await samsa.admin().describeCluster();
        return d.brokers.length === BROKERS.length && d.brokers;
      },
      { description: 'every broker registered' },
    );
    expect(described.map((b) => `${b.host}:${b.port}`).sort()).toEqual(externalAddresses);

    for (const [listener, address, expected] of [
      ['EXTERNAL', cluster.broker(2).address, externalAddresses],
      ['INTERNAL', `127.0.0.1:${internalPorts.get(2)}`, internalAddresses],
    ] as const) {
      const raw = new RawBroker(address);
      try {
        const metadata = await raw.metadata({ topics: [], allowAutoTopicCreation: false });
        expect(metadata.brokers.map((b: v1.BrokerInfo__Output) => `${b.host}:${b.port}`).sort(), listener).toEqual(
          expected,
        );
      } finally {
        raw.close();
      }
    }
  });

  it('replicates a replication-factor-3 topic over INTERNAL; a client on EXTERNAL produces and consumes', async () => {
    const admin = samsa.admin();
    await admin.createTopics([
      { topic, numPartitions: 2, replicationFactor: 3, configs: { 'min.insync.replicas': '2' } },
    ]);
    const producer = samsa.producer({ acks: 'all' });
    const values = Array.from({ length: 200 }, (_, i) => `v${i}`);
    const results = await producer.sendBatch({ topic, messages: values.map((value) => ({ value })) });
    await producer.close();
    expect(results.every((r) => r.offset >= 0)).toBe(true);
    const [description] = await admin.describeTopics([topic]);
    for (const p of description!.partitions) expect([...p.isr].sort()).toEqual(BROKERS);

    const consumer = samsa.consumer({ autoOffsetReset: 'earliest', maxWaitMs: 100 });
    await consumer.assign([{ topic }]);
    const read: string[] = [];
    try {
      for await (const m of consumer.messages({ signal: AbortSignal.timeout(20_000) })) {
        read.push(m.value!.toString());
        if (read.length >= values.length) break;
      }
    } finally {
      await consumer.close();
    }
    expect(read.sort()).toEqual([...values].sort());
  });

  it('stalls replication while INTERNAL is cut (EXTERNAL still serves clients); resumes once it heals', async () => {
    const admin = samsa.admin();
    const before = await admin.fetchTopicOffsets(topic);
    for (const proxy of internalProxies.values()) proxy.partition();
    try {
      // acks=1 needs only the leader, reached over EXTERNAL.
      const producer = samsa.producer({ acks: 1 });
      await producer.sendBatch({ topic, messages: Array.from({ length: 20 }, (_, i) => ({ value: `cut-${i}` })) });
      await producer.close();
      // The high watermark moves only with the followers' fetches (the ISR is still all three, for
      // replica.lag.time.max.ms): it must stay put while they cannot reach the leaders over INTERNAL.
      // A negative check needs some time to pass; 1.5 s is many fetch round trips.
      await new Promise((resolve) => setTimeout(resolve, 1_500));
      expect(await admin.fetchTopicOffsets(topic)).toEqual(before);
    } finally {
      for (const proxy of internalProxies.values()) proxy.heal();
    }
    const total = before.reduce((sum, p) => sum + p.high, 0) + 20;
    await waitFor(async () => (await admin.fetchTopicOffsets(topic)).reduce((sum, p) => sum + p.high, 0) === total, {
      timeoutMs: 15_000,
      description: 'the high watermarks to take in the records produced while INTERNAL was cut',
    });
  });
});
