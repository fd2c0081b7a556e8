#!/usr/bin/env node
// Per-record latency through a Kafka listener from a minimal Node client shaped like the Samsa SDK's
// producer (records made at a fixed rate, one Produce request in flight, the records made meanwhile in
// the next batch, linger 1 ms, acks=all), so the broker's Kafka path and its gRPC path can be compared
// with the client out of the picture. Used by scripts/bench-kafka.mjs (after npx tsc -b).
// Usage: node scripts/kafka-latency-probe.mjs HOST:PORT TOPIC RATE RECORDS; prints JSON.
import { connect } from 'node:net';
import { encodeBatch } from '@samsa/protocol';
import { kafka } from '@samsa/protocol/kafka';

const [address, topic, rateArg, recordsArg] = process.argv.slice(2);
const [host, port] = address.split(':');
const rate = Number(rateArg);
const records = Number(recordsArg);
const produce = kafka.KAFKA_APIS.get(kafka.ApiKey.Produce);

async function open(to) {
  const socket = connect({ host: to.host, port: to.port, noDelay: true });
  await new Promise((resolve, reject) => socket.once('connect', resolve).once('error', reject));
  return socket;
}

/** The partition's leader, from a Metadata request to the bootstrap address. */
async function leaderOf() {
  const metadata = kafka.KAFKA_APIS.get(kafka.ApiKey.Metadata);
  const bootstrap = await open({ host, port: Number(port) });
  bootstrap.write(
    kafka.encodeRequest(
      metadata,
      { apiVersion: 1, correlationId: 0, clientId: 'probe' },
      { topics: [{ name: topic }] },
    ),
  );
  let data = Buffer.alloc(0);
  for await (const chunk of bootstrap) {
    data = Buffer.concat([data, chunk]);
    if (data.length >= 4 && data.length >= 4 + data.readInt32BE(0)) break;
  }
  bootstrap.destroy();
  const { body } = kafka.decodeResponse(metadata, 1, data.subarray(4, 4 + data.readInt32BE(0)));
  const leader = body.topics[0]?.partitions.find((p) => p.partitionIndex === 0)?.leaderId;
  const broker = body.brokers.find((b) => b.nodeId === leader);
  if (!broker) throw new Error(`no leader for ${topic}-0 yet`);
  return broker;
}

const socket = await open(await leaderOf());

const value = Buffer.alloc(100, 120);
let waiting = []; // creation times of records not sent yet
let inFlight; // creation times of the records in the request in flight
const latencies = [];
let correlationId = 0;
let received = Buffer.alloc(0);

function sendNext() {
  if (inFlight || waiting.length === 0) return;
  inFlight = waiting;
  waiting = [];
  const batch = encodeBatch(
    inFlight.map(() => ({ value })),
    { now: Date.now() },
  );
  const body = {
    acks: -1,
    timeoutMs: 30_000,
    topicData: [{ name: topic, partitionData: [{ index: 0, records: batch }] }],
  };
  socket.write(
    kafka.encodeRequest(produce, { apiVersion: 9, correlationId: ++correlationId, clientId: 'probe' }, body),
  );
}

socket.on('data', (data) => {
  received = Buffer.concat([received, data]);
  while (received.length >= 4 && received.length >= 4 + received.readInt32BE(0)) {
    const frame = received.subarray(4, 4 + received.readInt32BE(0));
    received = received.subarray(4 + frame.length);
    const { body } = kafka.decodeResponse(produce, 9, frame);
    const errorCode = body.responses[0].partitionResponses[0].errorCode;
    if (errorCode !== 0) throw new Error(`produce failed with error code ${errorCode}`);
    const now = performance.now();
    for (const made of inFlight) latencies.push(now - made);
    inFlight = undefined;
    sendNext();
  }
});

const start = performance.now();
let made = 0;
while (made < records) {
  const due = Math.min(records, Math.floor(((performance.now() - start) * rate) / 1000));
  for (; made < due; made++) waiting.push(start + (made * 1000) / rate);
  setTimeout(sendNext, 1); // linger 1 ms
  await new Promise((resolve) => setTimeout(resolve, 1));
}
while (latencies.length < records) {
  sendNext();
  await new Promise((resolve) => setTimeout(resolve, 5));
}
const elapsedS = (performance.now() - start) / 1000;
latencies.sort((a, b) => a - b);
const at = (q) => latencies[Math.min(records - 1, Math.floor(q * records))];
console.log(
  JSON.stringify({
    records,
    recordsPerSec: records / elapsedS,
    p50Ms: at(0.5),
    p99Ms: at(0.99),
    p999Ms: at(0.999),
    maxMs: at(1),
  }),
);
socket.destroy();
