#!/usr/bin/env node
// A/B latency of two builds in one run, for a machine whose load moves more between runs than a change
// moves the figures: twin 3-broker clusters, one started from each build, and short `samsa bench`
// runs alternating between them (A B, B A, A B, ...), so both see the same load. Each run prints its
// steady-state percentiles, the CPU its cluster's brokers used per record (from /proc, user + system)
// and the load average (bench produce also its requests' queue time and latency p50; bench end-to-end
// its records' acknowledgement latency and how long after it the consumer received them), and the bench
// client's own CPU per record (process.cpuUsage over the steady state) when its build reports it; the
// summary gives the medians of each side. `--mode max` runs `bench produce` unpaced (--records, default
// 3000 x 200) for the maximum rate. With --probe every cluster process preloads
// scripts/bench-probe.cjs, and each run also reports the brokers' event-loop delay p99 (the worst
// broker's) and GC time, and the coordinator's loop delay p99: it idles through the run, so it
// witnesses how the machine itself scheduled everything meanwhile. Twin clusters can differ on their
// own: with the builds exchanged between them, the same cluster slot stayed a tenth to a fifth faster
// at p50 in two runs (one at a time, load 11-25, 2026-12-07). --swap runs the rounds again on two
// fresh clusters started in the other order; the summary pools both halves and shows the start
// order's effect. `--mode end-to-end-one-at-a-time`: `bench end-to-end --one-at-a-time` (--records).
// --trace (implies --probe) also collects the request timeline in the brokers and the bench client
// (bench-probe.cjs with SAMSA_BENCH_TRACE=1) and joins it after each run (bench-timeline.mjs): per run,
// the record-weighted p99 of the requests' oldest records and which step held the slow requests' time;
// per side at the end, each step's p50 / p99 over all requests and, over the requests at or above each
// run's p99, its share of their time and what its holder did meanwhile (GC, CPU, run-queue wait).
// --trace-keep DIR keeps each run's trace files in DIR/<side><half>-<round>/. Tracing adds a few µs of
// CPU per event (about ten events per request across the processes).
// --warmup-seconds N (default 20; 0 for none) first runs N s of `bench produce --throughput 10000` (acks
// as --acks) against each new cluster, both clusters at once, before the measured rounds: a fresh
// broker's V8 compiles its hot code for about 20 s of load at that rate (performance-log.md, the
// fifteenth look), so short runs on fresh clusters measured warm-up and steady state mixed.
//   node scripts/bench-ab.mjs --b DIR [--a DIR] [--mode paced|one-at-a-time|end-to-end|max|...] [--rate 10000]
//        [--seconds 4] [--records 3000] [--rounds 4] [--acks all] [--replication-factor 3]
//        [--partitions 3] [--client a|b] [--broker-env-b NAME=VALUE] [--probe] [--swap] [--trace]
//        [--trace-keep DIR] [--warmup-seconds 20]
// A and B are built checkouts (`npx tsc -b`; A defaults to this one): a copy of one made before a
// change (`cp -a` of the worktree after building) against the worktree after it. Each side's bench
// client is its own build unless --client names one, so a client-only change can be run against one
// broker build by starting both clusters from it. --broker-env-b sets a variable in B's brokers only.
// Run it at `nice -n -10` on a busy machine, as bench-cluster's latency figures are.
import { execFile } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { cpuMs, startCluster, tempDir } from './bench-processes.mjs';
import { analyse, droppedLines, gcLine, readTraces, STEPS, summarise } from './bench-timeline.mjs';

const { values } = parseArgs({
  options: {
    a: { type: 'string', default: fileURLToPath(new URL('..', import.meta.url)) },
    b: { type: 'string' },
    mode: { type: 'string', default: 'paced' },
    rate: { type: 'string', default: '10000' },
    seconds: { type: 'string', default: '4' },
    records: { type: 'string', default: '3000' },
    rounds: { type: 'string', default: '4' },
    acks: { type: 'string', default: 'all' },
    'replication-factor': { type: 'string', default: '3' },
    partitions: { type: 'string', default: '3' },
    client: { type: 'string' },
    'broker-env-b': { type: 'string' },
    probe: { type: 'boolean', default: false },
    swap: { type: 'boolean', default: false },
    trace: { type: 'boolean', default: false },
    'trace-keep': { type: 'string' },
    'warmup-seconds': { type: 'string', default: '20' },
  },
});
if (values.b === undefined) {
  console.error('bench-ab: --b DIR (a built checkout) is required');
  process.exit(2);
}
const MODES = ['paced', 'one-at-a-time', 'end-to-end', 'end-to-end-one-at-a-time', 'max'];
if (!MODES.includes(values.mode)) {
  console.error(`bench-ab: --mode is ${MODES.join(', ')}, not ${values.mode}`);
  process.exit(2);
}
const builds = { A: resolve(values.a), B: resolve(values.b) };
const rf = values['replication-factor'];
const dir = tempDir('samsa-bench-ab-');

const cliOf = (build) => join(build, 'packages/cli/dist/main.js');

const probeDir = join(dir, 'probe');
const probeEnv = {};
if (values.trace) {
  values.probe = true;
  probeEnv.SAMSA_BENCH_TRACE = '1';
}
if (values.probe) {
  mkdirSync(probeDir);
  const preload = `--require ${fileURLToPath(new URL('bench-probe.cjs', import.meta.url))}`;
  probeEnv.NODE_OPTIONS = [process.env.NODE_OPTIONS, preload].filter(Boolean).join(' ');
  probeEnv.SAMSA_BENCH_PROBE_DIR = probeDir;
}

/** Runs the CLI; `onPid` is told its process id (the bench client's, whose trace file bears it). */
function samsa(build, args, env, onPid) {
  return new Promise((done, fail) => {
    const options = { maxBuffer: 16 * 1024 * 1024, ...(env && { env: { ...process.env, ...env } }) };
    const child = execFile(process.execPath, [cliOf(build), ...args], options, (err, stdout, stderr) => {
      if (err) fail(new Error(`samsa ${args.join(' ')} failed: ${stderr.trim() || err.message}`));
      else done(stdout);
    });
    onPid?.(child.pid);
  });
}

async function cluster(side, half) {
  const build = builds[side];
  const env = {};
  if (side === 'B' && values['broker-env-b']) {
    const [name, ...rest] = values['broker-env-b'].split('=');
    env[name] = rest.join('=');
  }
  const started = await startCluster({
    brokers: 3,
    build,
    name: `ab-${side}${half}`,
    env: probeEnv,
    brokerEnv: env,
  });
  const brokers = started.brokers.map((b) => b.child);
  const coordinator = started.coordinator.child;
  const addresses = started.addresses;
  const bootstrap = `--bootstrap-server=${addresses.join(',')}`;
  const create = ['topics', 'create', '--topic', 'ab', '--partitions', values.partitions, '--replication-factor', rf];
  if (rf !== '1') create.push('--config', `min.insync.replicas=${Math.min(2, Number(rf))}`);
  await samsa(build, [...create, bootstrap]);
  return { bootstrap, brokers, coordinator, stop: started.stop };
}

const probeLines = (child) => {
  const file = join(probeDir, `${child.pid}.jsonl`);
  return existsSync(file) ? readFileSync(file, 'utf8').trim().split('\n') : [];
};

/** Ends the probes' current period in `processes` (bench-probe.cjs); resolves with each one's figures. */
async function probePeriod(processes) {
  const seen = processes.map((child) => probeLines(child).length);
  for (const child of processes) child.kill('SIGUSR2');
  for (let i = 0; i < 100 && processes.some((child, k) => probeLines(child).length <= seen[k]); i++)
    await new Promise((r) => setTimeout(r, 20));
  return processes.map((child) => JSON.parse(probeLines(child).at(-1) ?? '{}'));
}

/** A run's figures from the probes of its cluster: the worst broker's loop delay, their GC, the witness's. */
async function probeFigures(c) {
  const [witness, ...brokers] = await probePeriod([c.coordinator, ...c.brokers]);
  return {
    brokerLoopDelayP99Ms: Math.max(...brokers.map((b) => b.loopDelayP99Ms)),
    brokerLoopDelayMaxMs: Math.max(...brokers.map((b) => b.loopDelayMaxMs)),
    brokerGcCount: brokers.reduce((n, b) => n + b.gcCount, 0),
    brokerGcMs: brokers.reduce((n, b) => n + b.gcTotalMs, 0),
    brokerGcMaxMs: Math.max(...brokers.map((b) => b.gcMaxMs)),
    witnessLoopDelayP99Ms: witness.loopDelayP99Ms,
  };
}

function benchArgs() {
  if (values.mode === 'one-at-a-time' || values.mode === 'end-to-end-one-at-a-time') {
    const n = Number(values.records);
    const kind = values.mode === 'one-at-a-time' ? 'produce' : 'end-to-end';
    return [kind, '--one-at-a-time', '--num-records', String(n), '--warmup-records', String(Math.floor(n / 5))];
  }
  if (values.mode === 'max') {
    const n = Number(values.records) * 200;
    return ['produce', '--num-records', String(n), '--warmup-records', String(Math.floor(n / 5))];
  }
  const total = Math.round(Number(values.rate) * Number(values.seconds));
  const paced = ['--num-records', String(total), '--throughput', values.rate];
  return [
    values.mode === 'end-to-end' ? 'end-to-end' : 'produce',
    ...paced,
    '--warmup-records',
    String(Math.floor(total / 6)),
  ];
}

const [kind, ...rest] = benchArgs();
const results = { A: [], B: [] };
const timelines = { A: { requests: [], slow: [], gc: [] }, B: { requests: [], slow: [], gc: [] } };
const fixed = (x, digits = 2) => (x === undefined ? '-' : x.toFixed(digits));
const halves = values.swap
  ? [
      ['A', 'B'],
      ['B', 'A'],
    ]
  : [['A', 'B']];
for (const [half, order] of halves.entries()) {
  const clusters = {};
  for (const side of order) clusters[side] = await cluster(side, half);
  if (half > 0) console.log(`clusters started again, ${order.join(' then ')}`);
  await warmUp(clusters);
  await runRounds(clusters, order, half);
  await stop(clusters);
}

/** Runs --warmup-seconds of load at 10k records/s against each cluster, all at once, from its own build. */
async function warmUp(clusters) {
  const seconds = Number(values['warmup-seconds']);
  if (!(seconds > 0)) return;
  const load = loadavg()[0];
  const started = Date.now();
  const args = ['bench', 'produce', '--topic', 'ab', '--record-size', '100', '--acks', values.acks, '--json'];
  const paced = ['--throughput', '10000', '--num-records', String(Math.round(seconds * 10_000))];
  await Promise.all(Object.entries(clusters).map(([side, c]) => samsa(builds[side], [...args, ...paced, c.bootstrap])));
  const tookS = ((Date.now() - started) / 1000).toFixed(1);
  console.log(`warmed up: ${seconds} s of 10k records/s per cluster took ${tookS} s, load ${fixed(load, 1)}`);
}

function stop(clusters) {
  return Promise.all(Object.values(clusters).map((c) => c.stop()));
}

async function runRounds(clusters, order, half) {
  for (let round = 0; round < Number(values.rounds); round++) {
    for (const side of round % 2 === 0 ? order : [...order].reverse()) {
      const c = clusters[side];
      const client = values.client ? builds[values.client.toUpperCase()] : builds[side];
      if (values.probe) await probePeriod([c.coordinator, ...c.brokers]); // the run's period starts
      const before = cpuMs(c.brokers);
      const args = ['bench', kind, '--topic', 'ab', '--record-size', '100', '--acks', values.acks, '--json'];
      let clientPid;
      const clientEnv = values.trace ? { ...probeEnv, SAMSA_BENCH_ROLE: 'client' } : undefined;
      const out = await samsa(client, [...args, ...rest, c.bootstrap], clientEnv, (pid) => {
        clientPid = pid;
      });
      const used = cpuMs(c.brokers) - before;
      const all = JSON.parse(out.trim().split('\n').at(-1));
      const probed = values.probe ? await probeFigures(c) : {};
      if (values.trace) timeline(side, `${side}${half}-${round}`, c, clientPid);
      const cpu = { brokerCpuUsPerRecord: (used * 1000) / all.records, load: loadavg()[0] };
      const f = { ...(all.steadyState ?? all), ...cpu, ...probed, startedFirst: side === order[0] };
      results[side].push(f);
      console.log(
        `${side} round ${round}: p50 ${fixed(f.p50Ms)} p99 ${fixed(f.p99Ms)} p99.9 ${fixed(f.p999Ms)} ms, ` +
          `${Math.round(f.recordsPerSec)} records/s, brokers ${fixed(f.brokerCpuUsPerRecord, 0)} µs CPU/record, ` +
          `client ${fixed(f.clientCpuUsPerRecord, 1)} µs, ` +
          `load ${fixed(f.load, 1)}` +
          (f.acknowledgedP50Ms !== undefined
            ? `; acknowledged p50 ${fixed(f.acknowledgedP50Ms)} p99 ${fixed(f.acknowledgedP99Ms)} ms, ` +
              `received after it p50 ${fixed(f.afterAckP50Ms)} p99 ${fixed(f.afterAckP99Ms)} ms`
            : '') +
          (f.requests
            ? `; requests: queue p50 ${fixed(f.queueTimeP50Ms)}, latency p50 ${fixed(f.requestLatencyP50Ms)} ms`
            : '') +
          (values.probe
            ? `; brokers' loop delay p99 ${fixed(f.brokerLoopDelayP99Ms)} max ${fixed(f.brokerLoopDelayMaxMs)} ms, ` +
              `GC ${f.brokerGcCount} pauses, ${fixed(f.brokerGcMs, 1)} ms (longest ${fixed(f.brokerGcMaxMs, 1)}); ` +
              `witness loop delay p99 ${fixed(f.witnessLoopDelayP99Ms)} ms`
            : ''),
      );
    }
  }
}
/** Joins a run's trace files (bench-timeline.mjs), prints its slow requests' steps, and pools them per side. */
function timeline(side, name, c, clientPid) {
  const files = [clientPid, ...c.brokers.map((b) => b.pid)].map((pid) => `${pid}.trace.json`);
  if (values['trace-keep']) {
    const keep = join(values['trace-keep'], name);
    mkdirSync(keep, { recursive: true });
    for (const f of files) cpSync(join(probeDir, f), join(keep, f));
    // SAMSA_BENCH_HEAP_PROFILE=1 in the environment: each process's sampling heap profile of the run too.
    for (const f of files.map((name) => name.replace('.trace.json', '.heapprofile')))
      if (existsSync(join(probeDir, f))) cpSync(join(probeDir, f), join(keep, f));
  }
  let analysed;
  try {
    const traces = readTraces(probeDir, files);
    for (const line of droppedLines(traces)) console.log(`  timeline: ${line}`);
    analysed = analyse(traces);
  } catch (err) {
    console.log(`  timeline: ${err.message}`);
    return;
  }
  const { requests, slow, p99Ms, gc } = analysed;
  timelines[side].requests.push(...requests);
  timelines[side].slow.push(...slow);
  timelines[side].gc.push(...gc);
  const longest = STEPS.map((step) => [step, slow.filter((r) => r.longest === step).length]).filter(([, n]) => n > 0);
  console.log(
    `  timeline: ${requests.length} requests, oldest record's p99 ${fixed(p99Ms)} ms; ` +
      `${slow.length} at or above it, longest step: ${longest.map(([step, n]) => `${step} ${n}`).join(', ')}`,
  );
  console.log(`  brokers' ${gcLine(gc.filter((p) => p.role !== 'client'))}`);
  console.log(`  client's ${gcLine(gc.filter((p) => p.role === 'client'))}`);
}

function median(xs) {
  if (xs.some((x) => x === undefined)) return undefined; // a build whose bench does not report it
  const sorted = [...xs].sort((x, y) => x - y);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}
const rows = ['A', 'B'].map((side) => {
  const of = (key) => median(results[side].map((f) => f[key]));
  const loads = results[side].map((f) => f.load);
  return {
    side,
    build: builds[side],
    'p50 ms': fixed(of('p50Ms')),
    'p99 ms': fixed(of('p99Ms')),
    'p99.9 ms': fixed(of('p999Ms')),
    'records/s': fixed(of('recordsPerSec'), 0),
    'broker CPU µs/record': fixed(of('brokerCpuUsPerRecord'), 0),
    'client CPU µs/record': fixed(of('clientCpuUsPerRecord'), 1),
    'request queue p50 ms': fixed(of('queueTimeP50Ms')),
    'request latency p50 ms': fixed(of('requestLatencyP50Ms')),
    ...(values.mode.startsWith('end-to-end')
      ? {
          'acknowledged p50/p99 ms': `${fixed(of('acknowledgedP50Ms'))} / ${fixed(of('acknowledgedP99Ms'))}`,
          'received after ack p50/p99 ms': `${fixed(of('afterAckP50Ms'))} / ${fixed(of('afterAckP99Ms'))}`,
        }
      : {}),
    ...(values.probe
      ? {
          "brokers' loop delay p99 ms": fixed(of('brokerLoopDelayP99Ms')),
          'broker GC ms': fixed(of('brokerGcMs'), 1),
          'witness loop delay p99 ms': fixed(of('witnessLoopDelayP99Ms')),
        }
      : {}),
    'load average': `${fixed(Math.min(...loads), 1)}–${fixed(Math.max(...loads), 1)}`,
  };
});
const runs = Number(values.rounds) * halves.length;
console.log(`medians of ${runs} runs each, ${values.mode}, acks=${values.acks}, RF ${rf}:`);
console.table(rows);
if (values.trace) {
  for (const side of ['A', 'B']) {
    const { requests, slow, gc } = timelines[side];
    console.log(
      `${side}: the request timeline, ${requests.length} requests, ${slow.length} at or above their run's p99:`,
    );
    console.table(summarise(requests, slow));
    console.log(`${side}: brokers' ${gcLine(gc.filter((p) => p.role !== 'client'))}`);
    console.log(`${side}: client's ${gcLine(gc.filter((p) => p.role === 'client'))}`);
  }
}
if (values.swap) {
  const all = [...results.A, ...results.B];
  const p50 = (first) => fixed(median(all.filter((f) => f.startedFirst === first).map((f) => f.p50Ms)));
  console.log(`start order, both builds pooled: p50 ${p50(true)} ms started first, ${p50(false)} ms second`);
}
process.exit(0);
