#!/usr/bin/env node
// Consumer group figures on real processes (embedded coordinator + 3 brokers, replication factor 3),
// every figure from the same run:
//   1. rebalance of a 10-member group over 100 partitions when an 11th member joins and when one
//      leaves: the time until every partition is owned again (by the listeners' view), how many
//      members were asked to give anything up, and the worst end-to-end latency (produce to delivery),
//      during the rebalance, on
//      the partitions that did not move (a producer writes to every partition all along), next to
//      the same in a quiet window before it (a member that stopped consuming would show it there);
//   2. consume throughput of a group with 1, 2 and 3 members (one process each, auto-commit on) next to
//      one consumer with assign() over the same records;
//   3. OffsetCommit latency p50/p99 (one partition per commit, one at a time, acks=all to RF 3).
// Usage: node scripts/bench-groups.mjs [--records N] [--heartbeat-interval-ms MS] [--commits N]
//          [--parts commit,rebalance,throughput] [--rounds 3]
// Build first (npm run build; npm run bench:groups does). Prints the figures.
import { spawn } from 'node:child_process';
import { cpus, loadavg } from 'node:os';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { killOnExit, startCluster } from './bench-processes.mjs';

const SELF = fileURLToPath(import.meta.url);
const { Samsa } = await import('@samsa/client');

const { values } = parseArgs({
  options: {
    records: { type: 'string', default: '1000000' },
    'heartbeat-interval-ms': { type: 'string', default: '1000' },
    commits: { type: 'string', default: '2000' },
    parts: { type: 'string', default: 'commit,rebalance,throughput' },
    rounds: { type: 'string', default: '3' },
    worker: { type: 'string' },
    bootstrap: { type: 'string' },
    topic: { type: 'string' },
    group: { type: 'string' },
  },
});

// ---- a consuming process: prints its count every 100 ms ----

async function worker() {
  const samsa = new Samsa({ brokers: values.bootstrap.split(','), clientId: `bench-${values.worker}` });
  const consumer = samsa.consumer(
    values.worker === 'group'
      ? { groupId: values.group, autoOffsetReset: 'earliest' }
      : { autoOffsetReset: 'earliest' },
  );
  if (values.worker === 'group') consumer.subscribe([values.topic]);
  else await consumer.assign([{ topic: values.topic }]);
  let count = 0;
  let firstMs = 0;
  const report = setInterval(() => process.stdout.write(`${count} ${firstMs}\n`), 100);
  process.once('SIGTERM', () => {
    clearInterval(report);
    void samsa.close().then(() => process.exit(0));
  });
  for await (const _ of consumer) {
    if (count++ === 0) firstMs = Date.now();
  }
}

// ---- the cluster ----

async function main() {
  const heartbeatIntervalMs = Number(values['heartbeat-interval-ms']);
  const cluster = await startCluster({
    brokers: 3,
    name: 'groups',
    logLevel: 'warn',
    overrides: {
      'group.consumer.heartbeat.interval.ms': String(heartbeatIntervalMs),
      'group.consumer.session.timeout.ms': '10000',
      'offsets.topic.replication.factor': '3',
    },
  });
  const bootstrap = cluster.addresses;
  const samsa = new Samsa({ brokers: bootstrap });
  await samsa.connect();
  await waitUntil(async () => (await samsa.admin().describeCluster()).brokers.length === 3, 'three brokers');
  const out = [];
  const print = (line) => {
    out.push(line);
    process.stdout.write(`${line}\n`);
  };
  print(`bench:groups, 3 brokers, RF 3, group.consumer.heartbeat.interval.ms=${heartbeatIntervalMs}`);
  print(`machine: ${cpus().length} cores, load average ${loadavg()[0].toFixed(1)} at the start`);
  const parts = new Set(values.parts.split(','));
  // Commit latency first, on an idle cluster.
  if (parts.has('commit')) await commitLatency(samsa, print);
  if (parts.has('rebalance')) await rebalance(samsa, print, heartbeatIntervalMs);
  if (parts.has('throughput')) await throughput(samsa, bootstrap, print);
  await samsa.close();
  await cluster.stop();
  process.exit(0);
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

async function waitUntil(check, what, timeoutMs = 120_000) {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(5);
  }
}

// ---- 1. rebalance ----

/** A member in this process: what it owns (by its listener), per partition the last delivery time. */
function member(samsa, topic, group, name) {
  const m = {
    name,
    owned: new Set(),
    revoked: 0,
    assigned: 0,
    gaps: new Map(),
    consumer: undefined,
  };
  m.consumer = samsa.consumer({ groupId: group, autoOffsetReset: 'latest', maxWaitMs: 50 });
  m.consumer.subscribe([topic], {
    onPartitionsAssigned: (tps) => {
      m.assigned++;
      for (const tp of tps) m.owned.add(tp.partition);
    },
    onPartitionsRevoked: (tps) => {
      m.revoked++;
      for (const tp of tps) {
        m.owned.delete(tp.partition);
      }
    },
  });
  m.loop = (async () => {
    try {
      for await (const r of m.consumer) {
        const now = Date.now();
        // From the producer's create time to delivery: a member that stops consuming shows here.
        m.gaps.set(r.partition, Math.max(m.gaps.get(r.partition) ?? 0, now - r.timestamp));
      }
    } catch (err) {
      console.error(`${name}: ${err.message}`);
    }
  })();
  return m;
}

const ownedOnce = (members, partitions) => {
  const all = members.flatMap((m) => [...m.owned]);
  return all.length === partitions && new Set(all).size === partitions;
};

async function rebalance(samsa, print, heartbeatIntervalMs) {
  const topic = `rebalance-${Date.now()}`;
  const group = `bench-rebalance-${Date.now()}`;
  const partitions = 100;
  await samsa.admin().createTopics([{ topic, numPartitions: partitions, replicationFactor: 3 }]);
  // A steady trickle on every partition: about 20 records/s each.
  const producer = samsa.producer({ acks: 1, lingerMs: 5 });
  let producing = true;
  let rounds = 0;
  const writingSinceMs = Date.now();
  const writer = (async () => {
    while (producing) {
      await producer.sendBatch({
        topic,
        messages: Array.from({ length: partitions }, (_, p) => ({ value: 'x'.repeat(100), partition: p })),
      });
      rounds++;
      await sleep(50);
    }
  })();
  const members = Array.from({ length: 10 }, (_, i) => member(samsa, topic, group, `m${i}`));
  await waitUntil(() => ownedOnce(members, partitions) && members.every((m) => m.owned.size === 10), '10 x 10');
  // Settle (members that got partitions late catch up from the offsets committed before), then a quiet
  // window: the latency when nothing happens.
  await sleep(5_000);
  const quietGap = await gapDuring(members, heartbeatIntervalMs * 3, () => sleep(heartbeatIntervalMs * 3));

  const joinFigures = await measure(members, async () => {
    const joiner = member(samsa, topic, group, 'm10');
    members.push(joiner);
    await waitUntil(
      () => ownedOnce(members, partitions) && members.every((m) => m.owned.size >= 9 && m.owned.size <= 10),
      'the joiner has its share',
    );
  });
  const leaver = members.find((m) => m.owned.size === 10) ?? members[0];
  const leaveFigures = await measure(
    members.filter((m) => m !== leaver),
    async () => {
      members.splice(members.indexOf(leaver), 1);
      await leaver.consumer.close();
      await waitUntil(() => ownedOnce(members, partitions) && members.every((m) => m.owned.size === 10), 'ten again');
    },
  );
  print('');
  print(`(load average ${loadavg()[0].toFixed(1)})`);
  print('rebalance, 10 members over 100 partitions (time until every partition is owned again)');
  print(
    `  an 11th member joins:  ${joinFigures.ms} ms; members asked to give partitions up: ` +
      `${joinFigures.revokers} of 10`,
  );
  print(
    `  a member leaves:       ${leaveFigures.ms} ms; members asked to give partitions up: ` +
      `${leaveFigures.revokers} of 10`,
  );
  print(
    '  partitions that did not move, worst produce-to-delivery latency: ' +
      `${joinFigures.gap} ms during the join, ${leaveFigures.gap} ms during the leave ` +
      `(${quietGap} ms in a quiet window before)`,
  );
  print(`  (a record on every partition every ${Math.round((Date.now() - writingSinceMs) / rounds)} ms on average)`);
  producing = false;
  await writer;
  await producer.close();
  await Promise.all(members.map((m) => m.consumer.close()));
}

/** Runs `change`, timing it, and the worst latency on partitions whose owner did not change. */
async function measure(members, change) {
  const before = new Map(members.map((m) => [m, new Set(m.owned)]));
  const revokedBefore = new Map(members.map((m) => [m, m.revoked]));
  for (const m of members) m.gaps.clear();
  const startMs = Date.now();
  await change();
  const ms = Date.now() - startMs;
  let gap = 0;
  for (const [m, owned] of before) for (const p of owned) if (m.owned.has(p)) gap = Math.max(gap, m.gaps.get(p) ?? 0);
  const revokers = [...before.keys()].filter((m) => m.revoked > revokedBefore.get(m)).length;
  return { ms, gap, revokers };
}

async function gapDuring(members, _ms, wait) {
  for (const m of members) m.gaps.clear();
  await wait();
  return Math.max(0, ...members.flatMap((m) => [...m.gaps.values()]));
}

// ---- 2. throughput ----

async function produceRecords(samsa, topic, count) {
  const producer = samsa.producer({ acks: 1 });
  const value = 'x'.repeat(100);
  const inFlight = new Set();
  for (let i = 0; i < count; i += 1000) {
    const p = producer.sendBatch({
      topic,
      messages: Array.from({ length: Math.min(1000, count - i) }, () => ({ value })),
    });
    inFlight.add(p);
    void p.finally(() => inFlight.delete(p)).catch(() => {});
    if (inFlight.size >= 64) await Promise.race(inFlight);
  }
  await Promise.all(inFlight);
  await producer.close();
}

/** Starts `n` worker processes consuming `topic`; resolves with records/s once they consumed `total`. */
async function consumeWith(bootstrap, topic, mode, n, total) {
  const group = `bench-tput-${mode}-${n}-${Date.now()}`;
  const workers = [];
  for (let i = 0; i < n; i++) {
    const child = killOnExit(
      spawn(
        process.execPath,
        [SELF, '--worker', mode, '--bootstrap', bootstrap.join(','), '--topic', topic, '--group', group],
        { stdio: ['ignore', 'pipe', 'inherit'] },
      ),
    );
    const state = { child, count: 0, firstMs: 0 };
    createInterface({ input: child.stdout }).on('line', (line) => {
      const [count, firstMs] = line.split(' ').map(Number);
      state.count = count;
      state.firstMs = firstMs;
    });
    workers.push(state);
  }
  await waitUntil(() => workers.reduce((s, w) => s + w.count, 0) >= total, `${total} records consumed`, 300_000);
  const endMs = Date.now();
  const startMs = Math.min(...workers.filter((w) => w.firstMs > 0).map((w) => w.firstMs));
  for (const w of workers) w.child.kill('SIGTERM');
  await Promise.all(
    workers.map(
      (w) => new Promise((resolve) => (w.child.exitCode !== null ? resolve() : w.child.once('exit', resolve))),
    ),
  );
  return Math.round(total / ((endMs - startMs) / 1000));
}

async function throughput(samsa, bootstrap, print) {
  const total = Number(values.records);
  const topic = `throughput-${Date.now()}`;
  await samsa.admin().createTopics([{ topic, numPartitions: 6, replicationFactor: 3 }]);
  await produceRecords(samsa, topic, total);
  // The report interval (100 ms) bounds the error of each figure. assign() and the 1-member group
  // alternate, --rounds times each, so the machine's drift (other work on it) falls on both alike;
  // the medians are compared.
  const assignRuns = [];
  const group1Runs = [];
  for (let round = 0; round < Number(values.rounds); round++) {
    assignRuns.push(await consumeWith(bootstrap, topic, 'assign', 1, total));
    group1Runs.push(await consumeWith(bootstrap, topic, 'group', 1, total));
  }
  const group2 = await consumeWith(bootstrap, topic, 'group', 2, total);
  const group3 = await consumeWith(bootstrap, topic, 'group', 3, total);
  const median = (runs) => [...runs].sort((a, b) => a - b)[Math.floor(runs.length / 2)];
  const assign = median(assignRuns);
  const group1 = median(group1Runs);
  print('');
  print(`(load average ${loadavg()[0].toFixed(1)})`);
  print(`consume throughput, ${total} records of 100 B, 6 partitions, one process per consumer (records/s)`);
  print(`  assign(), 1 consumer:   ${assign} (median; runs: ${assignRuns.join(', ')})`);
  print(
    `  group, 1 member:        ${group1} (median, ${((group1 / assign) * 100).toFixed(1)}% of assign; ` +
      `runs: ${group1Runs.join(', ')})`,
  );
  print(`  group, 2 members:       ${group2}`);
  print(`  group, 3 members:       ${group3}`);
}

// ---- 3. commit latency ----

async function commitLatency(samsa, print) {
  const count = Number(values.commits);
  const topic = `commits-${Date.now()}`;
  await samsa
    .admin()
    .createTopics([{ topic, numPartitions: 1, replicationFactor: 3, configs: { 'min.insync.replicas': '2' } }]);
  const consumer = samsa.consumer({ groupId: `bench-commit-${Date.now()}`, enableAutoCommit: false });
  consumer.subscribe([topic]);
  // Iterating starts nothing here (no records); the member joins and owns the partition.
  await waitUntil(async () => {
    try {
      await consumer.commit([{ topic, partition: 0, offset: 0 }]);
      return true;
    } catch {
      return false;
    }
  }, 'the member owns the partition');
  const commits = await timed(count, (i) => consumer.commit([{ topic, partition: 0, offset: i }]));
  await consumer.close();
  // The floor beside it: one-record produce requests, acks=all, to a partition of the same cluster.
  const producer = samsa.producer({ acks: 'all', lingerMs: 0 });
  const produces = await timed(count, () => producer.send({ topic, value: 'x' }));
  await producer.close();
  print('');
  print(`OffsetCommit latency, ${count} commits one at a time, acks=all to RF 3: ${commits}`);
  print(`  beside it, one-record produce requests with acks=all to RF 3:        ${produces}`);
}

/** Runs `op` count times one after another (a tenth more first, not counted: warm-up); its percentiles. */
async function timed(count, op) {
  const latencies = [];
  const warmup = Math.ceil(count / 10);
  for (let i = 1; i <= count + warmup; i++) {
    const start = process.hrtime.bigint();
    await op(i);
    if (i > warmup) latencies.push(Number(process.hrtime.bigint() - start) / 1e6);
  }
  latencies.sort((a, b) => a - b);
  const at = (q) => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))].toFixed(2);
  return `p50 ${at(0.5)} ms, p90 ${at(0.9)} ms, p99 ${at(0.99)} ms, max ${at(1)} ms`;
}

if (values.worker) await worker();
else await main();
