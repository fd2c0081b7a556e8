#!/usr/bin/env node
// Transaction figures on real processes (embedded coordinator + 3 brokers, replication factor 3), from
// the same run, rounds alternated:
//   1. produce throughput of a transactional producer committing every --commit-ms (100) next to the
//      idempotent (non-transactional) producer, both with send() and --in-flight records outstanding;
//   2. consuming what the transactional rounds wrote (every tenth transaction aborted), read_committed
//      next to read_uncommitted, one consumer with assign() from the earliest offset.
// Usage: node scripts/bench-txn.mjs [--seconds 5] [--commit-ms 100] [--in-flight 2000] [--rounds 3]
//          [--value-bytes 100]
// Build first (npm run build; npm run bench:txn does). Prints the figures.
import { cpus, loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import { startCluster } from './bench-processes.mjs';

const { Samsa } = await import('@samsa/client');

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '5' },
    'commit-ms': { type: 'string', default: '100' },
    'in-flight': { type: 'string', default: '2000' },
    rounds: { type: 'string', default: '3' },
    'value-bytes': { type: 'string', default: '100' },
    phases: { type: 'boolean', default: false },
  },
});
const SECONDS = Number(values.seconds);
const COMMIT_MS = Number(values['commit-ms']);
const IN_FLIGHT = Number(values['in-flight']);
const VALUE = Buffer.alloc(Number(values['value-bytes']), 'x');
const TOPIC = 'bench-txn';
const PARTITIONS = 6;

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** Sends for SECONDS with IN_FLIGHT records outstanding; `txn` commits every COMMIT_MS. Records/s acknowledged. */
async function produce(producer, txn, round, phases) {
  let acked = 0;
  let abortedRecords = 0;
  let transactions = 0;
  const end = Date.now() + SECONDS * 1000;
  const started = Date.now();
  let n = 0;
  while (Date.now() < end) {
    const t0 = performance.now();
    if (txn) await producer.begin();
    const abort = txn && transactions % 10 === 9;
    const until = txn ? Math.min(end, Date.now() + COMMIT_MS) : end;
    const outstanding = new Set();
    let firstAck = -1;
    while (Date.now() < until) {
      const p = producer.send({ topic: TOPIC, key: `k${n++}`, value: VALUE }).then(() => {
        if (firstAck < 0) firstAck = performance.now();
        outstanding.delete(p);
        if (abort) abortedRecords++;
        else acked++;
      });
      outstanding.add(p);
      if (outstanding.size >= IN_FLIGHT) await Promise.race(outstanding);
    }
    const t1 = performance.now();
    await Promise.all(outstanding);
    const t2 = performance.now();
    if (txn) {
      if (abort) await producer.abort();
      else await producer.commit();
      transactions++;
    }
    phases?.push({ firstAck: firstAck - t0, sending: t1 - t0, drain: t2 - t1, end: performance.now() - t2 });
  }
  const seconds = (Date.now() - started) / 1000;
  return { recordsPerSec: acked / seconds, acked, abortedRecords, transactions, round };
}

async function consume(samsa, isolationLevel, expected) {
  const consumer = samsa.consumer({ autoOffsetReset: 'earliest', isolationLevel, maxWaitMs: 100 });
  await consumer.assign([{ topic: TOPIC }]);
  const started = Date.now();
  let count = 0;
  for await (const batch of consumer.batches({ signal: AbortSignal.timeout(120_000) })) {
    count += batch.messages.length;
    if (count >= expected) break;
  }
  const seconds = (Date.now() - started) / 1000;
  await consumer.close();
  return { recordsPerSec: count / seconds, count };
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function main() {
  const cluster = await startCluster({ brokers: 3, name: 'txn', logLevel: 'warn' });
  const samsa = new Samsa({ brokers: cluster.addresses });
  await samsa.connect();
  for (;;) {
    if ((await samsa.admin().describeCluster()).brokers.length === 3) break;
    await sleep(100);
  }
  await samsa.admin().createTopics([{ topic: TOPIC, numPartitions: PARTITIONS, replicationFactor: 3 }]);
  const plain = samsa.producer({});
  const txn = samsa.producer({ transactionalId: 'bench-txn' });
  await txn.init();
  const rows = { idempotent: [], transactional: [] };
  const phases = values.phases ? [] : undefined;
  let visible = 0;
  let aborted = 0;
  for (let round = 1; round <= Number(values.rounds); round++) {
    const i = await produce(plain, false, round);
    rows.idempotent.push(i.recordsPerSec);
    const t = await produce(txn, true, round, phases);
    rows.transactional.push(t.recordsPerSec);
    visible += i.acked + t.acked;
    aborted += t.abortedRecords;
  }
  const consumeRows = { read_uncommitted: [], read_committed: [] };
  for (let round = 1; round <= Number(values.rounds); round++) {
    const u = await consume(samsa, 'read_uncommitted', visible + aborted);
    consumeRows.read_uncommitted.push(u.recordsPerSec);
    const c = await consume(samsa, 'read_committed', visible);
    consumeRows.read_committed.push(c.recordsPerSec);
  }
  const committedRecords = visible + aborted;
  const fmt = (x) => `${Math.round(x).toLocaleString('en-US')} records/s`;
  console.log(
    `machine: ${cpus().length} cores, load ${loadavg()
      .map((l) => l.toFixed(1))
      .join(' ')}`,
  );
  console.log(`produce (${SECONDS} s per round, ${IN_FLIGHT} in flight, ${VALUE.length}-byte values, RF 3, acks=all):`);
  console.log(
    `  idempotent:     median ${fmt(median(rows.idempotent))}  rounds ${rows.idempotent.map(fmt).join(', ')}`,
  );
  console.log(
    `  transactional (commit every ${COMMIT_MS} ms): median ${fmt(median(rows.transactional))}  ` +
      `rounds ${rows.transactional.map(fmt).join(', ')}`,
  );
  console.log(`  ratio: ${((100 * median(rows.transactional)) / median(rows.idempotent)).toFixed(0)}%`);
  if (phases !== undefined) {
    const ms = (key) => `${median(phases.map((p) => p[key])).toFixed(1)} ms`;
    console.log(
      `  per transaction (medians of ${phases.length}): begin to first acknowledgement ${ms('firstAck')}, ` +
        `sending ${ms('sending')}, draining ${ms('drain')}, commit/abort ${ms('end')}`,
    );
  }
  console.log(
    `consume from the start: ${committedRecords.toLocaleString('en-US')} records, ` +
      `${aborted.toLocaleString('en-US')} of them in aborted transactions (read_committed skips those):`,
  );
  console.log(`  read_uncommitted: median ${fmt(median(consumeRows.read_uncommitted))}`);
  console.log(`  read_committed:   median ${fmt(median(consumeRows.read_committed))}`);
  await txn.close();
  await samsa.close();
  await cluster.stop();
  process.exit(0);
}

await main();
