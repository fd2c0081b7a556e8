#!/usr/bin/env node
/**
 * The log cleaner's effect on a producer's latency, on real broker processes (issue 20's figure: p99
 * within 20% of the same producer with the cleaner idle). Starts a coordinator and --brokers brokers
 * (1: RF 1 and --acks 1; 3: RF 3 and acks=all), a compacted topic `dirty` whose records are not
 * cleanable while its min.compaction.lag.ms is a day, and a topic `bench`. Then, on the same brokers,
 * a calibration round (fill, clean, unmeasured) and --rounds rounds of:
 *   fill `dirty` with --mb MB of keyed records (--keys keys, 100-byte values);
 *   sync and wait until the machine's dirty + writeback pages are under --settle-mb (printed);
 *   idle before: `samsa bench produce --topic bench`, paced per record at --rate records/s;
 *   cleaning: the same `bench produce` again, and as its steady state begins (its start-up time in
 *     the idle phase) min.compaction.lag.ms set to 0: the brokers run with log.cleaner.backoff.ms=100,
 *     so their cleaners start within a tenth of a second;
 *   once every broker's cleaner logged `cleaned log`: lag back to a day, writeback settled again;
 *   idle after: the same `bench produce` again.
 * --steady-mb R[,R...] measures instead whether the cleaner keeps up: for each budget and each rate, a
 * fresh compacted topic (Kafka's default min.cleanable.dirty.ratio 0.5, segment.bytes 16 MiB, --keys
 * keys) written at R MB/s for --steady-seconds while its leader's cleaner runs; printed: the partition's
 * size on disk over time and the cleaner's passes (dirty MB cleaned, MB/s). A size that stops growing
 * is a cleaner that keeps up. --backoff-ms sets the brokers' log.cleaner.backoff.ms (100 by default,
 * so a cleaning starts at once; Kafka's and the broker's default is 15000).
 * --internal-seconds S measures instead how fast a busy group and transactional load write the internal
 * compacted topics: --internal-clients transactional producers committing one-record transactions, and as
 * many consumers of their own groups committing an offset, each in a loop for S seconds; printed: what
 * __transaction_state and __consumer_offsets grew by on disk (all partitions), per second.
 * Each `bench produce` sends --warmup-seconds of records first (left out: a fresh process compiling
 * its code and connecting), then records for 90% of the last cleaning's time (so the cleaning covers
 * them; how much of them it covered is printed), at least --min-phase-records.
 * --io-max-mb sets log.cleaner.io.max.bytes.per.second in MiB/s (0: unlimited; absent or `default`: the
 * broker's default, which rises while the cleaner falls behind; a number is set, so a hard cap: `30` is
 * the default's value held fixed; a throttle makes the cleaning longer too). The default budget's rises
 * and fall-backs (its log lines) are printed per round and per --steady-mb run. A list (`--io-max-mb
 * 0,80,30`) makes each round run every budget once, in a rotated order, the brokers restarted with the
 * next budget (and warmed up by an unmeasured `bench produce`) whenever it changes; the figures are
 * reported per budget.
 * Reports per phase p50 / p99 / p99.9 (bench produce's steady-state figures), the brokers' CPU and
 * disk traffic and the disk's busy share, and for the cleaning the leader cleaner's MB/s (dirty bytes,
 * bytes read and written, from its `cleaned log` line); then medians over rounds, the per-round p99
 * ratios, every round's records pooled (bench produce's latency histograms added), and the load
 * average of each round. Build first (npx tsc -b):
 *   node scripts/bench-cleaner-broker.mjs [--brokers 1] [--mb 300] [--rounds 4] [--rate 10000]
 *     [--keys 100000] [--warmup-seconds 1] [--min-phase-records 20000] [--io-max-mb default|0|MB[,MB...]]
 *     [--settle-mb 32] [--settle-timeout-seconds 10] [--dir DIR] [--steady-mb R[,R...] --steady-seconds 60]
 *     [--backoff-ms 100]
 *     [--internal-seconds S --internal-clients 8]
 */
import { spawn } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import hdr from 'hdr-histogram-js';
import { Samsa } from '@samsa/client';
import {
  diskCounters,
  diskOf,
  diskRates,
  formatDisk,
  formatSettle,
  processCpuMs,
  processIo,
  settleWriteback,
} from './bench-cleaner-io.mjs';
import { killOnExit, startCluster, tempDir } from './bench-processes.mjs';

const CLI = fileURLToPath(new URL('../packages/cli/dist/main.js', import.meta.url));
const { values: args } = parseArgs({
  options: {
    brokers: { type: 'string', default: '1' },
    acks: { type: 'string' },
    mb: { type: 'string', default: '300' },
    rounds: { type: 'string', default: '4' },
    rate: { type: 'string', default: '10000' },
    keys: { type: 'string', default: '100000' },
    'warmup-seconds': { type: 'string', default: '1' },
    'min-phase-records': { type: 'string', default: '20000' },
    'io-max-mb': { type: 'string', default: 'default' },
    'settle-mb': { type: 'string', default: '32' },
    'settle-timeout-seconds': { type: 'string', default: '10' },
    dir: { type: 'string' },
    'steady-mb': { type: 'string' },
    'steady-seconds': { type: 'string', default: '60' },
    'backoff-ms': { type: 'string', default: '100' },
    'internal-seconds': { type: 'string' },
    'internal-clients': { type: 'string', default: '8' },
  },
});
const MiB = 1024 * 1024;
const DAY_MS = '86400000';
const brokerCount = Number(args.brokers);
const acks = args.acks ?? (brokerCount >= 3 ? 'all' : '1');
const replicationFactor = Math.min(3, brokerCount);
const rate = Number(args.rate);
const warmupRecords = Math.round(Number(args['warmup-seconds']) * rate);
/** The budgets to compare, in MiB/s: 0 is unlimited, undefined the broker's default. */
const budgets = args['io-max-mb'].split(',').map((x) => (x === 'default' ? undefined : Number(x)));
const budgetName = (mb) => (mb === undefined ? 'default' : mb > 0 ? `${mb} MB/s (set)` : 'unlimited');
/** What the default budget did among `events` (budgetEvents) of broker `id`: rises, the highest, fall-backs. */
function budgetChanges(events, id) {
  const mine = events.filter((e) => e.brokerId === id);
  const rises = mine.filter((e) => e.entry.msg.includes('raised'));
  if (mine.length === 0) return 'the budget never changed';
  const values = rises.map((e) => e.entry.budgetBytesPerSecond);
  const highest = values.includes('unlimited') ? 'unlimited' : `${Math.max(...values) / MiB} MiB/s`;
  return (
    `the budget rose ${rises.length} times${rises.length > 0 ? ` (to ${highest} at most)` : ''} ` +
    `and fell back ${mine.length - rises.length} times`
  );
}
const settle = () =>
  settleWriteback(Number(args['settle-mb']) * MiB, Number(args['settle-timeout-seconds']) * 1000, diskOf(dir));

const dir = args.dir ?? tempDir('samsa-cleaner-broker-bench-');

/** The cleaners' log lines about `dirty`, as they come, with the time they arrived. */
const cleanerEvents = [];
/** The cleaners' passes over the --steady-mb topics, with the broker's id. */
const steadyPasses = [];
/** The default budget's rises and fall-backs (packages/broker/src/storage/cleaner-budget.ts), as they come. */
const budgetEvents = [];
const eventWaiters = new Set();

function watchLog(child, brokerId) {
  createInterface({ input: child.stdout }).on('line', (text) => {
    if (!text.includes('log-cleaner')) return;
    let entry;
    try {
      entry = JSON.parse(text);
    } catch {
      return;
    }
    if (entry.topic?.startsWith('steady-') && entry.msg === 'cleaned log') steadyPasses.push({ ...entry, brokerId });
    if (entry.msg?.includes('I/O budget')) budgetEvents.push({ atMs: performance.now(), brokerId, entry });
    if (entry.topic !== 'dirty') return;
    cleanerEvents.push({ atMs: performance.now(), brokerId, msg: entry.msg, entry });
    for (const waiter of eventWaiters) waiter();
  });
}

/** Resolves with the events since index `from` once `done(events)` says they are enough. */
function untilEvents(from, done, what, timeoutMs = 600_000) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      eventWaiters.delete(check);
      reject(new Error(`timed out waiting for ${what}`));
    }, timeoutMs);
    function check() {
      const events = cleanerEvents.slice(from);
      if (!done(events)) return;
      clearTimeout(timer);
      eventWaiters.delete(check);
      resolve(events);
    }
    eventWaiters.add(check);
    check();
  });
}

/** Starts the cluster (on `dir`, so a restart keeps the topics) with the cleaner budget `mb` (see budgets). */
function startWithBudget(mb) {
  // 0 is unlimited (Kafka's default): any budget from 2^53 up is.
  const bytesPerSecond = mb > 0 ? Math.round(mb * MiB) : Number.MAX_SAFE_INTEGER;
  return startCluster({
    brokers: brokerCount,
    dir,
    overrides: {
      'log.cleaner.backoff.ms': args['backoff-ms'],
      ...(mb !== undefined ? { 'log.cleaner.io.max.bytes.per.second': String(bytesPerSecond) } : {}),
    },
    brokerStdout: watchLog,
  });
}
let budgetRunning = budgets[0];
let cluster = await startWithBudget(budgetRunning);
let brokers = cluster.brokers;
let bootstrap = cluster.bootstrap;
let samsa = new Samsa({ brokers: cluster.addresses, retry: { retries: 100, maxRetryTimeMs: 500 } });
let admin = samsa.admin();
// A broker listens before the controller knows it is alive: until then RF 3 is refused.
for (let attempt = 0; ; attempt++) {
  try {
    await admin.createTopics([
      {
        topic: 'dirty',
        numPartitions: 1,
        replicationFactor,
        configs: {
          'cleanup.policy': 'compact',
          'segment.bytes': String(16 * MiB),
          'min.cleanable.dirty.ratio': '0.01',
          'min.compaction.lag.ms': DAY_MS,
        },
      },
      { topic: 'bench', numPartitions: 1, replicationFactor },
    ]);
    break;
  } catch (err) {
    if (err.errorName !== 'InvalidReplicationFactor' || attempt > 300) throw err;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
const leaderOf = async (topic) => {
  for (;;) {
    const [described] = await admin.describeTopics([topic]);
    const leader = described?.partitions[0]?.leader ?? -1;
    if (leader >= 0) return leader;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
};
let dirtyLeader = await leaderOf('dirty');
await leaderOf('bench');

const producerOptions = { acks: acks === 'all' ? 'all' : Number(acks), lingerMs: 5 };
let producer = samsa.producer(producerOptions);
let keyCounter = 0;
/** Writes about --mb MB of keyed records to `dirty`; returns the seconds it took. */
async function fill() {
  const started = performance.now();
  const value = Buffer.alloc(100, 0x61);
  const bytesPerRecord = 100 + 10;
  const records = Math.ceil((Number(args.mb) * MiB) / bytesPerRecord);
  const inFlight = new Set();
  for (let sent = 0; sent < records; sent += 1000) {
    const messages = Array.from({ length: 1000 }, () => ({
      key: Buffer.from(`key-${(keyCounter++ * 7919) % Number(args.keys)}`),
      value,
    }));
    const p = producer.sendBatch({ topic: 'dirty', messages }).finally(() => inFlight.delete(p));
    inFlight.add(p);
    if (inFlight.size >= 32) await Promise.race(inFlight);
  }
  await Promise.all(inFlight);
  return (performance.now() - started) / 1000;
}

async function setLag(ms) {
  await admin.incrementalAlterConfigs([{ topic: 'dirty', set: { 'min.compaction.lag.ms': ms } }]);
}

/** One `samsa bench produce` run of `records` steady-state records; its steady-state figures. */
function benchProduce(records) {
  return new Promise((resolve, reject) => {
    const cliArgs = ['bench', 'produce', '--topic', 'bench', '--acks', acks, '--record-size', '100'];
    cliArgs.push('--throughput', String(rate), '--num-records', String(records + warmupRecords));
    cliArgs.push('--warmup-records', String(warmupRecords), '--json', '--bootstrap-server', bootstrap);
    const startMs = performance.now();
    const child = killOnExit(spawn(process.execPath, [CLI, ...cliArgs], { stdio: ['ignore', 'pipe', 'ignore'] }));
    let out = '';
    child.stdout.on('data', (chunk) => {
      out += chunk;
    });
    child.on('error', reject);
    child.on('exit', (code) => {
      if (code !== 0) return reject(new Error(`bench produce exited with ${code}`));
      const endMs = performance.now();
      const figures = JSON.parse(out.trim().split('\n').at(-1)).steadyState;
      resolve({ ...figures, histogram: hdr.decodeFromCompressedBase64(figures.latencyHistogram), startMs, endMs });
    });
  });
}

/** Runs a phase and adds what the brokers and the disk did meanwhile. */
async function measured(phase) {
  const disk = diskOf(dir);
  const snapshot = () => ({
    ms: performance.now(),
    cpuMs: brokers.reduce((n, b) => n + processCpuMs(b.child.pid), 0),
    io: brokers.map((b) => processIo(b.child.pid)),
    device: diskCounters(disk),
  });
  const from = snapshot();
  const load = loadavg();
  const result = await phase();
  const to = snapshot();
  const ms = to.ms - from.ms;
  const sum = (field) => to.io.reduce((n, io, i) => n + io[field] - from.io[i][field], 0);
  return {
    ...result,
    load,
    brokerCores: (to.cpuMs - from.cpuMs) / ms,
    brokerReadMBps: sum('readBytes') / MiB / (ms / 1000),
    brokerWriteMBps: sum('writeBytes') / MiB / (ms / 1000),
    ...diskRates(from.device, to.device, ms),
  };
}

const ms = (x) => (x < 10 ? x.toFixed(2) : x.toFixed(1));
const phaseLine = (name, r) =>
  `${name}: ${r.records} records at ${Math.round(r.recordsPerSec)}/s, p50 ${ms(r.p50Ms)} ms, ` +
  `p99 ${ms(r.p99Ms)} ms, p99.9 ${ms(r.p999Ms)} ms, max ${ms(r.maxMs)} ms; brokers' CPU ` +
  `${r.brokerCores.toFixed(2)} cores, disk I/O ${r.brokerReadMBps.toFixed(1)} / ${r.brokerWriteMBps.toFixed(1)} MB/s ` +
  `read / written; ${formatDisk(r)}; load ${r.load.map((x) => x.toFixed(2)).join(' ')}`;

/**
 * Starts `during()`, and `leadMs` later sets the lag to 0 (so the cleaning starts as the producer's
 * steady state does); waits for during() and for every broker's cleaner to finish, sets the lag back
 * to a day, and returns during()'s result and the leader's cleaning (from its log lines).
 */
async function cleaning(during, leadMs) {
  const from = cleanerEvents.length;
  const result = during();
  await new Promise((resolve) => setTimeout(resolve, Math.max(0, leadMs)));
  await setLag('0');
  const events = await untilEvents(
    from,
    (events) => new Set(events.filter((e) => e.msg === 'cleaned log').map((e) => e.brokerId)).size === brokerCount,
    'every cleaner to finish',
  );
  await setLag(DAY_MS);
  const leader = (msg) => events.find((e) => e.brokerId === dirtyLeader && e.msg === msg);
  const [started, done] = [leader('cleaning log'), leader('cleaned log')];
  return { result: await result, startMs: started.atMs, endMs: done.atMs, entry: done.entry };
}

const MB = (bytes) => bytes / MiB;
const seconds = (ms) => `${(ms / 1000).toFixed(1)} s`;
console.log(
  `${brokerCount} broker(s), RF ${replicationFactor}, acks=${acks}; ${args.mb} MB of ${args.keys} keys to clean a ` +
    `round; bench produce at ${rate} records/s after ${warmupRecords} warm-up records; ` +
    `log.cleaner.io.max.bytes.per.second: ${budgets.map(budgetName).join(', ')}`,
);

/**
 * Restarts the cluster on the same data with the cleaner budget `mb` (new ports: new clients), then
 * warms the brokers up with an unmeasured bench produce.
 */
async function restartBrokers(mb) {
  if (mb === budgetRunning) return;
  await producer.close();
  await samsa.close();
  await cluster.stop();
  cluster = await startWithBudget(mb);
  budgetRunning = mb;
  brokers = cluster.brokers;
  bootstrap = cluster.bootstrap;
  samsa = new Samsa({ brokers: cluster.addresses, retry: { retries: 100, maxRetryTimeMs: 500 } });
  admin = samsa.admin();
  producer = samsa.producer(producerOptions);
  dirtyLeader = await leaderOf('dirty');
  await leaderOf('bench');
  // The producers reconnect (with retries) once the partitions have leaders again.
  await producer.sendBatch({ topic: 'bench', messages: [{ value: Buffer.from('restarted') }] });
  await benchProduce(2 * rate);
}

if (args['internal-seconds'] !== undefined) {
  await internalLoad(Number(args['internal-seconds']), Number(args['internal-clients']));
  await shutDown();
}
if (args['steady-mb'] !== undefined) {
  for (const mb of budgets) {
    await restartBrokers(mb);
    for (const rateMB of args['steady-mb'].split(',').map(Number)) await steady(mb, rateMB);
  }
  await shutDown();
}

/** The total size of the files of the partitions of broker `id` whose directory name `matches`. */
function partitionBytes(id, matches) {
  const test = typeof matches === 'string' ? (name) => name === `${matches}-0` : (name) => matches.test(name);
  const dirs = [];
  const find = (path, depth) => {
    for (const entry of readdirSync(path, { withFileTypes: true })) {
      if (!entry.isDirectory()) continue;
      const child = join(path, entry.name);
      if (test(entry.name)) dirs.push(child);
      else if (depth > 0) find(child, depth - 1);
    }
  };
  find(join(dir, `b${id}`), 3);
  let bytes = 0;
  for (const partitionDir of dirs)
    for (const name of readdirSync(partitionDir)) {
      try {
        bytes += statSync(join(partitionDir, name)).size;
      } catch {
        // deleted meanwhile (a swap)
      }
    }
  return bytes;
}

/** Transactions and offset commits in loops for `seconds`; what the internal topics grew by. */
async function internalLoad(seconds, clients) {
  const value = Buffer.alloc(100, 0x62);
  const counts = { transactions: 0, commits: 0 };
  const sizes = () => [/^__transaction_state-\d+$/, /^__consumer_offsets-\d+$/].map((re) => partitionBytes(1, re));
  const producers = Array.from({ length: clients }, (_, i) => samsa.producer({ transactionalId: `bench-txn-${i}` }));
  const consumers = Array.from({ length: clients }, (_, i) => samsa.consumer({ groupId: `bench-group-${i}` }));
  for (const c of consumers) c.assign([{ topic: 'bench', partition: 0 }]);
  // The first transaction and commit of each create the coordinators' state: not counted.
  await Promise.all(producers.map((p) => p.transaction((tx) => tx.send({ topic: 'bench', value }))));
  await Promise.all(consumers.map((c) => c.commit([{ topic: 'bench', partition: 0, offset: 0 }])));
  const before = sizes();
  const load = loadavg();
  const endMs = performance.now() + seconds * 1000;
  const loops = [
    ...producers.map(async (p) => {
      while (performance.now() < endMs) {
        await p.transaction((tx) => tx.send({ topic: 'bench', value }));
        counts.transactions++;
      }
    }),
    ...consumers.map(async (c) => {
      for (let offset = 1; performance.now() < endMs; offset++) {
        await c.commit([{ topic: 'bench', partition: 0, offset }]);
        counts.commits++;
      }
    }),
  ];
  await Promise.all(loops);
  const after = sizes();
  const perSecond = (n) => (n / seconds).toFixed(0);
  const mbps = (i) => ((after[i] - before[i]) / MiB / seconds).toFixed(3);
  console.log(
    `${clients} transactional producers and ${clients} committing consumers for ${seconds} s: ` +
      `${perSecond(counts.transactions)} transactions/s, __transaction_state grew ${mbps(0)} MB/s; ` +
      `${perSecond(counts.commits)} offset commits/s, __consumer_offsets grew ${mbps(1)} MB/s; load ` +
      `${load.map((x) => x.toFixed(2)).join(' ')} before, ${loadavg()
        .map((x) => x.toFixed(2))
        .join(' ')} after`,
  );
  await Promise.all([...producers.map((p) => p.close()), ...consumers.map((c) => c.close())]);
}

/** Writes a fresh compacted topic at `rateMB` MB/s for --steady-seconds and follows its size on disk. */
async function steady(mb, rateMB) {
  const topic = `steady-${steadyPasses.length}-${Date.now()}`;
  await admin.createTopics([
    {
      topic,
      numPartitions: 1,
      replicationFactor,
      configs: { 'cleanup.policy': 'compact', 'segment.bytes': String(16 * MiB) },
    },
  ]);
  const leader = await leaderOf(topic);
  const seconds = Number(args['steady-seconds']);
  const value = Buffer.alloc(100, 0x61);
  const batchRecords = 1000;
  const batchesPerSecond = (rateMB * MiB) / (110 * batchRecords);
  const passesFrom = steadyPasses.length;
  const budgetFrom = budgetEvents.length;
  const sizes = [];
  const started = performance.now();
  const load = loadavg();
  let sent = 0;
  let lastSampleS = 0;
  let late = 0;
  const inFlight = new Set();
  while (performance.now() - started < seconds * 1000) {
    const dueMs = started + (sent / batchesPerSecond) * 1000;
    const waitMs = dueMs - performance.now();
    if (waitMs > 0) await new Promise((resolve) => setTimeout(resolve, waitMs));
    else if (waitMs < -1000) late++;
    const messages = Array.from({ length: batchRecords }, () => ({
      key: Buffer.from(`key-${(keyCounter++ * 7919) % Number(args.keys)}`),
      value,
    }));
    // Up to 16 batches in flight, so the rate is the pacing's, not one round trip's.
    const p = producer.sendBatch({ topic, messages }).finally(() => inFlight.delete(p));
    inFlight.add(p);
    if (inFlight.size >= 16) await Promise.race(inFlight);
    sent++;
    const atS = Math.floor((performance.now() - started) / 1000);
    if (atS > lastSampleS) {
      lastSampleS = atS;
      sizes.push(partitionBytes(leader, topic));
    }
  }
  await Promise.all(inFlight);
  const writtenMB = (sent * batchRecords * 110) / MiB;
  // The leader's passes (with --brokers 3 every replica cleans its own copy).
  const passes = steadyPasses.slice(passesFrom).filter((e) => e.topic === topic && e.brokerId === leader);
  const cleanedMB = passes.reduce((n, e) => n + e.dirtyBytes, 0) / MiB;
  const cleaningS = passes.reduce((n, e) => n + e.elapsedMs, 0) / 1000;
  const at = (share) => (sizes[Math.min(sizes.length - 1, Math.floor(share * sizes.length))] ?? 0) / MiB;
  console.log(
    `${budgetName(mb)}, written at ${rateMB} MB/s (${(writtenMB / seconds).toFixed(1)} MB/s sent, ` +
      `${writtenMB.toFixed(0)} MB in ${seconds} s${late > 0 ? `, ${late} batches over a second late` : ''}): ` +
      `partition size at 1/4, 1/2, 3/4, end ${[0.25, 0.5, 0.75, 1].map((x) => at(x).toFixed(0)).join(', ')} MB ` +
      `(max ${(Math.max(...sizes) / MiB).toFixed(0)}); ${passes.length} passes cleaned ` +
      `${cleanedMB.toFixed(0)} MB dirty ` +
      `in ${cleaningS.toFixed(1)} s of cleaning (${(cleanedMB / Math.max(cleaningS, 0.001)).toFixed(1)} MB/s while ` +
      `cleaning, the cleaner busy ${((100 * cleaningS) / seconds).toFixed(0)}% of the time; ` +
      `${budgetChanges(budgetEvents.slice(budgetFrom), leader)}); load ` +
      `${load.map((x) => x.toFixed(2)).join(' ')} before, ${loadavg()
        .map((x) => x.toFixed(2))
        .join(' ')} after`,
  );
  await admin.deleteTopics([topic]);
}

// Calibration: the first cleaning of the topic (unmeasured) says how long a round's will last.
await fill();
await settle();
const calibration = await cleaning(async () => undefined, 0);
console.log(
  `calibration (${budgetName(budgetRunning)}): the leader cleaned ${MB(calibration.entry.dirtyBytes).toFixed(0)} MB ` +
    `in ${seconds(calibration.entry.elapsedMs)}`,
);
/**
 * Each budget's last cleaning, for its phases' length. One not yet run is estimated from its budget
 * (the default's is 30 MiB/s, packages/broker/src/config.ts), unlimited at 300 MiB/s (about what the
 * cleaner reads and writes unthrottled here).
 */
const lastCleaningMs = new Map([[budgetRunning, calibration.entry.elapsedMs]]);
const expectedCleaningMs = (mb) => {
  const bytes = calibration.entry.bytesRead + calibration.entry.bytesWritten;
  const mbPerSecond = mb === undefined ? 30 : mb > 0 ? mb : 300;
  return lastCleaningMs.get(mb) ?? (bytes / (mbPerSecond * MiB)) * 1000;
};
const results = [];
for (let round = 1; round <= Number(args.rounds); round++) {
  // Each round runs every budget once, in a rotated order so that none always goes first.
  for (let v = 0; v < budgets.length; v++) {
    const mb = budgets[(v + round - 1) % budgets.length];
    await restartBrokers(mb);
    const result = await measureRound(`round ${round}, ${budgetName(mb)}`, expectedCleaningMs(mb));
    lastCleaningMs.set(mb, result.cleaningMs);
    results.push({ ...result, budget: mb });
  }
}

/** Fill, settle, idle before, cleaning, settle, idle after; prints the round and returns its figures. */
async function measureRound(at, cleaningMs) {
  const fillSeconds = await fill();
  const settleBefore = await settle();
  const records = Math.max(Number(args['min-phase-records']), Math.round(0.9 * (cleaningMs / 1000) * rate));
  const marks = [cleanerEvents.length];
  const budgetFrom = budgetEvents.length;
  const before = await measured(() => benchProduce(records));
  marks.push(cleanerEvents.length);
  // From the spawn of bench produce to its steady state (its start-up and warm-up records).
  const leadMs = before.endMs - before.startMs - (records / rate) * 1000;
  const cleaned = await cleaning(() => measured(() => benchProduce(records)), leadMs - 100);
  const during = cleaned.result;
  const settleAfter = await settle();
  marks.push(cleanerEvents.length);
  const after = await measured(() => benchProduce(records));
  marks.push(cleanerEvents.length);
  // A cleaner that worked in an idle phase (a follower's second pass, say) makes it no idle phase.
  const passesIn = (from, to) => cleanerEvents.slice(from, to).filter((e) => e.msg === 'cleaning log').length;
  const stray = [passesIn(marks[0], marks[1]), passesIn(marks[2], marks[3])];
  // The producer's steady state: its last `records` records, ending when it exited.
  const steadyStartMs = during.endMs - (records / rate) * 1000;
  const covered =
    Math.max(0, Math.min(during.endMs, cleaned.endMs) - Math.max(steadyStartMs, cleaned.startMs)) /
    (during.endMs - steadyStartMs);
  const e = cleaned.entry;
  const io = {
    dirtyMBps: MB(e.dirtyBytes) / (e.elapsedMs / 1000),
    readMBps: MB(e.bytesRead ?? 0) / (e.elapsedMs / 1000),
    writtenMBps: MB(e.bytesWritten ?? 0) / (e.elapsedMs / 1000),
  };
  console.log(
    `${at}: filled ${args.mb} MB in ${fillSeconds.toFixed(1)} s; the machine's dirty + writeback pages: ` +
      `${formatSettle(settleBefore)}, after the cleaning ${formatSettle(settleAfter)}`,
  );
  console.log(`${at}: ${phaseLine('idle before', before)}`);
  console.log(
    `${at}: ${phaseLine('cleaning', during)}\n` +
      `${at}: the leader's cleaner: ${MB(e.dirtyBytes).toFixed(0)} MB dirty to ${MB(e.sizeAfter).toFixed(1)} MB in ` +
      `${seconds(e.elapsedMs)}: ${io.dirtyMBps.toFixed(1)} MB/s of dirty log, read ${io.readMBps.toFixed(1)} MB/s, ` +
      `wrote ${io.writtenMBps.toFixed(1)} MB/s; it covered ${(100 * covered).toFixed(0)}% ` +
      "of the producer's steady state",
  );
  console.log(`${at}: ${phaseLine('idle after', after)}`);
  console.log(`${at}: the leader's cleaner budget: ${budgetChanges(budgetEvents.slice(budgetFrom), dirtyLeader)}`);
  if (stray[0] + stray[1] > 0)
    console.log(`${at}: cleaner passes begun in the idle phases: ${stray[0]} before, ${stray[1]} after (not idle)`);
  return { before, during, after, covered, io, load: before.load, cleaningMs: e.elapsedMs };
}

const median = (xs) => {
  const sorted = [...xs].sort((a, b) => a - b);
  return (sorted[Math.floor((sorted.length - 1) / 2)] + sorted[Math.ceil((sorted.length - 1) / 2)]) / 2;
};
const pooled = (histograms) => {
  const all = hdr.build({
    lowestDiscernibleValue: 1,
    highestTrackableValue: 3_600_000_000,
    numberOfSignificantValueDigits: 3,
  });
  for (const h of histograms) all.add(h);
  const at = (p) => Math.min(all.getValueAtPercentile(p), all.maxValue) / 1000;
  return { records: all.totalCount, p50Ms: at(50), p99Ms: at(99), p999Ms: at(99.9) };
};
const phases = {
  'idle before': (r) => [r.before.histogram],
  cleaning: (r) => [r.during.histogram],
  'idle after': (r) => [r.after.histogram],
  'idle both': (r) => [r.before.histogram, r.after.histogram],
};
for (const mb of budgets)
  report(
    budgetName(mb),
    results.filter((r) => r.budget === mb),
  );

/** Medians over rounds, per-round p99 ratios and every round pooled, for one budget's rounds. */
function report(name, rounds) {
  const perRound = Object.fromEntries(
    Object.entries(phases).map(([phase, of]) => [phase, rounds.map((r) => pooled(of(r)))]),
  );
  const all = Object.fromEntries(Object.entries(phases).map(([phase, of]) => [phase, pooled(rounds.flatMap(of))]));
  console.log(`\n${name}: ${rounds.length} rounds, load ${rounds.map((r) => r.load[0].toFixed(2)).join(', ')}:`);
  for (const phase of Object.keys(phases)) {
    const of = (field) => ms(median(perRound[phase].map((r) => r[field])));
    console.log(
      `  ${phase}: medians over rounds p50 ${of('p50Ms')} / p99 ${of('p99Ms')} / p99.9 ${of('p999Ms')} ms; ` +
        `pooled (${all[phase].records} records) p50 ` +
        `${ms(all[phase].p50Ms)} / p99 ${ms(all[phase].p99Ms)} / p99.9 ${ms(all[phase].p999Ms)} ms`,
    );
  }
  for (const idle of ['idle before', 'idle after', 'idle both']) {
    const ratios = rounds.map((_, i) => perRound.cleaning[i].p99Ms / perRound[idle][i].p99Ms);
    const medianP99 = (phase) => median(perRound[phase].map((r) => r.p99Ms));
    console.log(
      `  p99 cleaning / ${idle}: per round ${ratios.map((x) => x.toFixed(2)).join(', ')} (median ` +
        `${median(ratios).toFixed(2)}); medians ${(medianP99('cleaning') / medianP99(idle)).toFixed(2)}x; ` +
        `pooled ${(all.cleaning.p99Ms / all[idle].p99Ms).toFixed(2)}x`,
    );
  }
  const medianOf = (get, digits = 1) => median(rounds.map(get)).toFixed(digits);
  console.log(
    `  the leader's cleaner: ${medianOf((r) => r.io.dirtyMBps)} MB/s of dirty log, ` +
      `read ${medianOf((r) => r.io.readMBps)} MB/s, wrote ${medianOf((r) => r.io.writtenMBps)} MB/s (medians); ` +
      `it covered ${rounds.map((r) => `${(100 * r.covered).toFixed(0)}%`).join(', ')} of the cleaning phases; ` +
      `brokers' CPU ${medianOf((r) => r.during.brokerCores, 2)} cores cleaning, ` +
      `${medianOf((r) => r.before.brokerCores, 2)} idle before; the disk ` +
      `${medianOf((r) => 100 * r.during.diskBusy, 0)}% busy cleaning, ` +
      `${medianOf((r) => 100 * r.before.diskBusy, 0)}% idle before`,
  );
}
await shutDown();

async function shutDown() {
  await producer.close();
  await samsa.close();
  await cluster.stop();
  process.exit(0);
}
