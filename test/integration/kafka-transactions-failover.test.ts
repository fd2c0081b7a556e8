/**
 * KafkaJS transactions through the Kafka listener while the transaction coordinator's broker is
 * SIGKILLed and later restarted: 3 brokers, a 3-partition topic with replication factor 3 and
 * min.insync.replicas 2. Each transaction writes one record to every partition; every fourth is aborted
 * on purpose; a transaction whose outcome KafkaJS could not learn is "unknown" and its producer is
 * replaced by a new incarnation (which fences it and aborts what it left open). A read_committed KafkaJS
 * reader then must see every committed transaction whole and once, no aborted one, and each unknown
 * one whole or not at all.
 */
import { createRequire } from 'node:module';
import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { kafka } from '@samsa/protocol/kafka';
import { LocalCluster } from '../helpers/cluster.js';
import { KafkaTestClient } from '../helpers/kafka-client.js';
import { freePort } from '../helpers/ports.js';
import { waitFor } from '../helpers/wait.js';

const require = createRequire(import.meta.url);
const { Kafka, logLevel } = require('kafkajs') as typeof import('kafkajs');
type Producer = import('kafkajs').Producer;

const topic = `kafka-txn-failover-${process.pid}`;
const TXID = `kafka-txn-failover-${process.pid}`;
const TRANSACTIONS = 24;
const kafkaPorts = new Map<number, number>();
let cluster: LocalCluster;
const client = () =>
  new Kafka({
    clientId: 'kafka-txn-failover',
    brokers: [...kafkaPorts.values()].map((port) => `127.0.0.1:${port}`),
    logLevel: logLevel.NOTHING,
    retry: { retries: 30, initialRetryTime: 100, maxRetryTime: 1000 },
  });

beforeAll(async () => {
  for (const id of [1, 2, 3]) kafkaPorts.set(id, await freePort());
  cluster = await LocalCluster.start({
    brokers: 3,
    brokerSettings: {
      'zookeeper.session.timeout.ms': '3000',
      'replica.lag.time.max.ms': '2000',
      'transaction.state.log.num.partitions': '1',
      'offsets.topic.num.partitions': '1',
      'group.initial.rebalance.delay.ms': '0',
    },
    brokerSettingsFor: (b) => ({ listeners: `PLAINTEXT://${b.address},KAFKA://127.0.0.1:${kafkaPorts.get(b.id)}` }),
  });
  const admin = client().admin();
  await admin.connect();
  await admin.createTopics({
    topics: [
      { topic, numPartitions: 3, replicationFactor: 3, configEntries: [{ name: 'min.insync.replicas', value: '2' }] },
    ],
    waitForLeaders: true,
  });
  await admin.disconnect();
}, 90_000);

afterAll(async () => {
  await cluster?.close();
});

/** The broker FindCoordinator names for the transactional id, asked at a live broker. */
async function coordinatorBroker(askAt: number): Promise<number> {
  const socket = connect({ host: '127.0.0.1', port: kafkaPorts.get(askAt)! });
  await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
  try {
    const raw = new KafkaTestClient(socket);
    let node = -1;
    await waitFor(
      async () => {
        const r = await raw.send<kafka.FindCoordinatorResponseData>(kafka.ApiKey.FindCoordinator, 3, {
          key: TXID,
          keyType: 1,
        });
        node = r.nodeId ?? -1;
        return r.errorCode === 0;
      },
      { timeoutMs: 30_000, description: 'the transaction coordinator' },
    );
    return node;
  } finally {
    socket.destroy();
  }
}

async function newProducer(): Promise<Producer> {
  const producer = client().producer({ transactionalId: TXID, maxInFlightRequests: 1, idempotent: true });
  await producer.connect();
  return producer;
}

describe('KafkaJS transactions across a SIGKILL of the transaction coordinator', () => {
  it('committed transactions whole and once, aborted ones never, unknown ones whole or not at all', async () => {
    const outcome = new Map<number, 'commit' | 'abort' | 'unknown'>();
    let producer = await newProducer();
    let killed: number | undefined;
    for (let n = 0; n < TRANSACTIONS; n++) {
      if (n === 6) {
        killed = await coordinatorBroker(1);
        await cluster.killBroker(killed);
      }
      if (n === 16 && killed !== undefined) await cluster.startBroker(killed);
      const commit = n % 4 !== 3;
      try {
        const txn = await producer.transaction();
        await txn.send({ topic, messages: [0, 1, 2].map((partition) => ({ partition, value: `t${n}-${partition}` })) });
        if (commit) await txn.commit();
        else await txn.abort();
        outcome.set(n, commit ? 'commit' : 'abort');
      } catch {
        outcome.set(n, commit ? 'unknown' : 'abort');
        await producer.disconnect().catch(() => undefined);
        producer = await newProducer();
      }
    }
    // A last committed transaction on every partition: once it is read, everything before it was.
    const final = await producer.transaction();
    await final.send({ topic, messages: [0, 1, 2].map((partition) => ({ partition, value: `final-${partition}` })) });
    await final.commit();
    await producer.disconnect();

    const values: string[] = [];
    const consumer = client().consumer({ groupId: `${topic}-reader`, maxWaitTimeInMs: 200 });
    await consumer.connect();
    try {
      await consumer.subscribe({ topic, fromBeginning: true });
      await consumer.run({ eachMessage: async ({ message }) => void values.push(message.value!.toString()) });
      await waitFor(() => values.filter((v) => v.startsWith('final-')).length === 3, {
        timeoutMs: 90_000,
        description: 'the final transaction read on every partition',
      });
    } finally {
      await consumer.disconnect();
    }
    const seen = new Map<number, string[]>();
    for (const v of values.filter((x) => x.startsWith('t'))) {
      const n = Number(v.slice(1, v.indexOf('-')));
      seen.set(n, [...(seen.get(n) ?? []), v]);
    }
    const counts = { commit: 0, abort: 0, unknown: 0 };
    for (const [n, o] of outcome) {
      counts[o]++;
      const got = (seen.get(n) ?? []).sort();
      if (o === 'commit') expect(got, `committed transaction ${n}`).toEqual([`t${n}-0`, `t${n}-1`, `t${n}-2`]);
      if (o === 'abort') expect(got, `aborted transaction ${n}`).toEqual([]);
      if (o === 'unknown') expect([0, 3], `unknown transaction ${n}: ${got}`).toContain(got.length);
    }
    console.log(`kafka transactions failover: ${JSON.stringify({ ...counts, killed })}`);
    expect(counts.commit).toBeGreaterThan(TRANSACTIONS / 2);
  }, 300_000);
});
