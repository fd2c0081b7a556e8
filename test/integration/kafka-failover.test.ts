/**
 * acks=all through the Kafka listener while the partition's leader is killed: a KafkaJS producer
 * (retrying, one request in flight) writes sequenced values to a topic with replication factor 3
 * and min.insync.replicas 2; the leader gets SIGKILL half-way and comes back later. Every value
 * KafkaJS saw acknowledged must be read back, by the SDK and by kcat through the Kafka listener.
 */
import { createRequire } from 'node:module';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Samsa } from '@samsa/client';
import { LocalCluster } from '../helpers/cluster.js';
import { freePort } from '../helpers/ports.js';
import { waitFor } from '../helpers/wait.js';
import { available, run, toolPath } from '../kafka/tools.js';

const require = createRequire(import.meta.url);
const { Kafka, logLevel } = require('kafkajs') as typeof import('kafkajs');

const topic = `kafka-failover-${process.pid}`;
const RECORDS = 600;
const kafkaPorts = new Map<number, number>();
let cluster: LocalCluster;
let samsa: Samsa;

beforeAll(async () => {
  for (const id of [1, 2, 3]) kafkaPorts.set(id, await freePort());
  cluster = await LocalCluster.start({
    brokers: 3,
    brokerSettings: { 'zookeeper.session.timeout.ms': '3000', 'replica.lag.time.max.ms': '2000' },
    brokerSettingsFor: (b) => ({ listeners: `PLAINTEXT://${b.address},KAFKA://127.0.0.1:${kafkaPorts.get(b.id)}` }),
  });
  samsa = new Samsa({
    brokers: cluster.bootstrap,
    retry: { retries: 100, initialRetryTimeMs: 50, maxRetryTimeMs: 300 },
  });
  await samsa
    .admin()
    .createTopics([{ topic, numPartitions: 1, replicationFactor: 3, configs: { 'min.insync.replicas': '2' } }]);
}, 90_000);

afterAll(async () => {
  await samsa?.close();
  await cluster?.close();
});

async function leaderOf(): Promise<number> {
  return waitFor(
    async () => {
      const [described] = await samsa.admin().describeTopics([topic]);
      const leader = described?.partitions[0]?.leader ?? -1;
      return leader > 0 && leader;
    },
    { description: 'a leader', timeoutMs: 30_000 },
  );
}

describe('Kafka listener under leader failover', () => {
  it('loses no record acknowledged with acks=all', async () => {
    const kafkajs = new Kafka({
      clientId: 'failover',
      brokers: [...kafkaPorts.values()].map((p) => `127.0.0.1:${p}`),
      logLevel: logLevel.NOTHING,
      requestTimeout: 4000,
      retry: { retries: 50, initialRetryTime: 100, maxRetryTime: 1000 },
    });
    const producer = kafkajs.producer({ maxInFlightRequests: 1, metadataMaxAge: 1000 });
    await producer.connect();
    const acked: string[] = [];
    const victim = await leaderOf();
    for (let i = 0; i < RECORDS; i++) {
      if (i === RECORDS / 3) await cluster.killBroker(victim);
      if (i === (2 * RECORDS) / 3) await cluster.startBroker(victim);
      const value = `value-${i}`;
      try {
        await producer.send({ topic, acks: -1, messages: [{ value }] });
        acked.push(value);
      } catch {
        // Not acknowledged after its retries: it may or may not be in the log.
      }
    }
    await producer.disconnect();
    expect(acked.length).toBeGreaterThan(RECORDS / 2);

    const consumer = samsa.consumer({ autoOffsetReset: 'earliest', maxWaitMs: 100 });
    await consumer.assign([{ topic }]);
    const read = new Set<string>();
    const last = acked.at(-1);
    for await (const m of consumer.messages({ signal: AbortSignal.timeout(30_000) })) {
      read.add(m.value!.toString());
      if (m.value!.toString() === last) break;
    }
    await consumer.close();
    expect(acked.filter((v) => !read.has(v))).toEqual([]);

    const kcat = toolPath('kcat');
    if (available('kcat', kcat !== undefined)) {
      const bootstrap = [...kafkaPorts.values()].map((p) => `127.0.0.1:${p}`).join(',');
      const consumed = await run(kcat!, ['-b', bootstrap, '-C', '-t', topic, '-e', '-o', 'beginning', '-f', '%s\n']);
      expect(consumed.code, consumed.stderr).toBe(0);
      const viaKafka = new Set(consumed.stdout.trim().split('\n'));
      expect(acked.filter((v) => !viaKafka.has(v))).toEqual([]);
    }
  }, 180_000);
});
