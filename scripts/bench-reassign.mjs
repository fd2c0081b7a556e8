#!/usr/bin/env node
// Replica reassignment figures on real processes (issue 20's closing note): a four-broker cluster, an
// RF 3 topic preloaded with --mb of 1 KiB records, moved back and forth between brokers 1,2,3 and 2,3,4
// once per --throttles entry (0: none), while a paced acks=all producer sends --rate records/s. Per
// move it reports the move's duration (start to the controller's completion, polled every 50 ms), the
// bytes/s that implies, and the producer's p50/p99/max send latency in the --before-seconds before the
// move against during it. Every figure of a run is measured in the same run, on the same data.
// Usage: node scripts/bench-reassign.mjs [--mb 20] [--throttles 0,5242880] [--rate 200] [--before-seconds 10]
// Build first (npx tsc -b).
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Samsa } from '@samsa/client';
import { startCluster } from './bench-processes.mjs';

const { values } = parseArgs({
  options: {
    mb: { type: 'string', default: '20' },
    throttles: { type: 'string', default: '0,5242880' },
    rate: { type: 'string', default: '200' },
    'before-seconds': { type: 'string', default: '10' },
  },
});
const preloadBytes = Number(values.mb) * 1024 * 1024;
const throttles = values.throttles.split(',').map(Number);
const ratePerSecond = Number(values.rate);
const beforeMs = Number(values['before-seconds']) * 1000;

const cluster = await startCluster({ brokers: 4, name: 'reassign' });
const addresses = cluster.addresses;

const samsa = new Samsa({ brokers: addresses, metadataMaxAgeMs: 500, retry: { retries: 100, maxRetryTimeMs: 500 } });
const admin = samsa.admin();
const topic = `reassign-bench-${Date.now()}`;
const partitionOf = async () => (await admin.describeTopics([topic]))[0].partitions[0];
const until = async (check, what, timeoutMs = 600_000) => {
  const deadline = Date.now() + timeoutMs;
  while (!(await check().catch(() => false))) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
};
/** Moves the partition and resolves with the time until the controller completed the move. */
async function move(replicas, throttleBytesPerSecond) {
  const startedMs = performance.now();
  const [outcome] = await admin.alterPartitionReassignments([{ topic, partition: 0, replicas }], {
    throttleBytesPerSecond,
  });
  if (outcome.error) throw outcome.error;
  await until(async () => {
    const p = await partitionOf();
    return p.removingReplicas.length === 0 && p.addingReplicas.length === 0 && p.replicas.join() === replicas.join();
  }, `the move to ${replicas}`);
  const ms = performance.now() - startedMs;
  if (throttleBytesPerSecond > 0)
    await until(
      async () => (await admin.clearReassignmentThrottles([topic]))[0].error === undefined,
      'throttle removal',
    );
  return ms;
}

await admin.createTopics([{ topic, numPartitions: 1, replicationFactor: 3 }]);
await until(async () => (await partitionOf()).leader >= 0, 'a leader');
if ([...(await partitionOf()).replicas].sort().join() !== '1,2,3') await move([1, 2, 3], 0);
const producer = samsa.producer({ acks: 'all', lingerMs: 5, idempotent: true });
const value = Buffer.alloc(1024, 0x61);
for (let sent = 0; sent < preloadBytes; sent += 1000 * 1024)
  await Promise.all(Array.from({ length: 1000 }, () => producer.send({ topic, value })));

// The paced producer: one record every 1000/rate ms, each send timed, tagged with the phase it began in.
let phase = 'idle';
const samples = [];
const failures = [];
let stop = false;
const pacing = (async () => {
  const intervalMs = 1000 / ratePerSecond;
  let next = performance.now();
  const inFlight = new Set();
  while (!stop) {
    const t0 = performance.now();
    const tag = phase;
    const p = producer.send({ topic, value: Buffer.from('live') }).then(
      () => samples.push({ tag, ms: performance.now() - t0 }),
      (err) => {
        failures.push({ tag, err });
      },
    );
    inFlight.add(p);
    p.finally(() => inFlight.delete(p));
    next += intervalMs;
    await new Promise((r) => setTimeout(r, Math.max(0, next - performance.now())));
  }
  await Promise.all(inFlight);
})();

const pct = (xs, q) => {
  if (xs.length === 0) return Number.NaN;
  const sorted = [...xs].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
};
const stats = (tag) => {
  const xs = samples.filter((s) => s.tag === tag).map((s) => s.ms);
  const failed = failures.filter((f) => f.tag === tag);
  const failedText = failed.length > 0 ? `; ${failed.length} sends failed, first: ${failed[0].err}` : '';
  if (xs.length === 0) return `no send began and succeeded in this phase${failedText}`;
  const ms = (x) => `${x.toFixed(1)} ms`;
  const spread = `p50 ${ms(pct(xs, 0.5))}, p99 ${ms(pct(xs, 0.99))}, max ${ms(Math.max(...xs))}`;
  return `${spread} (${xs.length} sends)${failedText}`;
};
const offsets = (await samsa.admin().fetchTopicOffsets(topic))[0];
console.log(
  `topic ${topic}: ${(preloadBytes / 1024 / 1024).toFixed(0)} MiB preloaded (${offsets.high} records), ` +
    `producer at ${ratePerSecond} records/s acks=all; machine shared with other work: figures are noisy`,
);
let on = [1, 2, 3];
for (const [i, throttle] of throttles.entries()) {
  const target = on.join() === '1,2,3' ? [2, 3, 4] : [1, 2, 3];
  phase = `before-${i}`;
  await new Promise((r) => setTimeout(r, beforeMs));
  phase = `during-${i}`;
  const ms = await move(target, throttle);
  phase = 'idle';
  // What the added broker copied: its log's size once the move completed.
  const added = target.find((id) => !on.includes(id));
  const partitionDir = join(cluster.brokers[added - 1].dataDir, `${topic}-0`);
  const copied = readdirSync(partitionDir)
    .filter((f) => f.endsWith('.log'))
    .reduce((sum, f) => sum + statSync(join(partitionDir, f)).size, 0);
  const mbps = copied / 1024 / 1024 / (ms / 1000);
  console.log(
    `move ${on} -> ${target}, throttle ${throttle > 0 ? `${(throttle / 1024 / 1024).toFixed(2)} MiB/s` : 'none'}: ` +
      `${(ms / 1000).toFixed(1)} s: broker ${added} copied ${(copied / 1024 / 1024).toFixed(1)} MiB, ` +
      `${mbps.toFixed(2)} MiB/s\n` +
      `  producer before: ${stats(`before-${i}`)}\n  producer during: ${stats(`during-${i}`)}`,
  );
  on = target;
}
stop = true;
await pacing;
await producer.close();
await samsa.close();
await cluster.stop();
process.exit(0);
