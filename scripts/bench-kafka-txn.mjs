#!/usr/bin/env node
// KafkaJS through a Kafka listener, A/B in one run: an idempotent producer (acks=all) against a
// transactional one committing every batch, both sending batches of 100 records of 100 bytes to a
// 3-partition topic, alternated ROUNDS times for SECONDS each. Prints records/s and the p50/p99 of a
// batch (send, or begin + send + commit).
// Usage: node scripts/bench-kafka-txn.mjs BOOTSTRAP [SECONDS=8] [ROUNDS=2]
// e.g. against `npx samsa dev --brokers 1` (Kafka listener on 19092): node scripts/bench-kafka-txn.mjs 127.0.0.1:19092
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const { Kafka, logLevel } = require('kafkajs');

const [bootstrap = '127.0.0.1:19092', secondsArg = '8', roundsArg = '2'] = process.argv.slice(2);
const seconds = Number(secondsArg);
const topic = `bench-kafka-txn-${process.pid}`;
const kafka = new Kafka({ clientId: 'bench-kafka-txn', brokers: [bootstrap], logLevel: logLevel.NOTHING });
const value = Buffer.alloc(100, 'x');
const messages = Array.from({ length: 100 }, (_, i) => ({ partition: i % 3, value }));

async function run(name, transactional) {
  const producer = kafka.producer(
    transactional
      ? { transactionalId: `${topic}-${Date.now()}`, maxInFlightRequests: 1, idempotent: true }
      : { idempotent: true, maxInFlightRequests: 1 },
  );
  await producer.connect();
  const end = Date.now() + seconds * 1000;
  const latencies = [];
  let records = 0;
  while (Date.now() < end) {
    const started = process.hrtime.bigint();
    if (transactional) {
      const txn = await producer.transaction();
      await txn.send({ topic, messages });
      await txn.commit();
    } else {
      await producer.send({ topic, acks: -1, messages });
    }
    latencies.push(Number(process.hrtime.bigint() - started) / 1e6);
    records += messages.length;
  }
  await producer.disconnect();
  latencies.sort((a, b) => a - b);
  const at = (q) => latencies[Math.min(latencies.length - 1, Math.floor(latencies.length * q))].toFixed(1);
  console.log(`${name}: ${(records / seconds).toFixed(0)} records/s, batch p50 ${at(0.5)} ms, p99 ${at(0.99)} ms`);
}

const admin = kafka.admin();
await admin.connect();
await admin.createTopics({ topics: [{ topic, numPartitions: 3 }], waitForLeaders: true });
await admin.disconnect();
for (let round = 0; round < Number(roundsArg); round++) {
  await run('idempotent   ', false);
  await run('transactional', true);
}
