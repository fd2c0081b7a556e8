#!/usr/bin/env node
/**
 * Log cleaner throughput on one partition log, no broker: writes a compacted log of repeated keys
 * (rolled into segments), then runs cleaning passes until none is needed and reports MB/s of dirty log
 * cleaned. Run after `npx tsc -b`:
 *   node scripts/bench-cleaner.mjs [--mb 200] [--keys 100000] [--value-bytes 100] [--batch 100]
 *     [--compression none|gzip|lz4|snappy|zstd] [--map-mb 128] [--dir /tmp/samsa-cleaner-bench]
 *
 * With --latency, the cleaner's effect on a producer in the same process (the broker's event loop and
 * thread pool): an open-loop producer appends --rate batches/s of --producer-records records to
 * another log for --idle-seconds with the cleaner idle, then while a LogCleaner cleans a fresh dirty
 * log of --mb MB, then --idle-seconds idle again. Before each idle phase the machine's dirty and
 * writeback pages are synced and waited out (to --settle-mb, for at most --settle-timeout-seconds,
 * both printed), so neither idle phase carries the writeback of the dirty log just written or of the
 * cleaning's swaps. Each of --variants (priority/MB per second [/sync
 * MB[/pool|worker[/thread|process]]]: the cleaner's priority, 'idle' for SCHED_IDLE or a nice value,
 * log.cleaner.io.max.bytes.per.second in MB, 0 for unlimited (a throttle also makes the cleaning phase
 * longer), and optionally the cleaned file's sync slice in MB, 0 for one fdatasync at the end, the
 * thread that runs it, and where the record work runs: a worker thread or a child process in its own
 * session, the default where it can lower its autogroup, or process-writes: a child that also writes
 * the cleaned file itself, e.g. idle/0/4/pool/process,idle/0/4/pool/thread; or `deletes`: no cleaner,
 * the dirty log's segment files deleted one every --delete-interval-ms as a cleaning's swaps delete
 * the old ones) has its own LogCleaner for the whole run, started before the first round as a broker's
 * is; every round runs each variant once, in a rotated order. Reports per phase (idle before,
 * cleaning, idle after, and both idle phases together) append latency p50 / p99 / p99.9 / max (from
 * the scheduled time, so a stall counts), the event loop's delay p99, the process's CPU and disk
 * traffic and how busy the disk was (/proc/diskstats, all processes), and for the cleaning what the
 * cleaner read and wrote per second; then per variant the medians over the rounds, the per-round p99
 * ratios against each idle phase, every round's appends pooled, and the load average of each round.
 * --trace MS prints each cleaning's steps, the stalls of MS or more among them and the moments the
 * event loop itself ran MS or more late (a stall without one waited for I/O, or for a thread of the
 * pool to run). With --duty MS the cleaner pauses every other MS window instead (at its next chunk)
 * and the appends of the windows it worked in are compared with those of the windows it paused in,
 * within the same seconds, which a machine whose load swings from second to second needs: --baseline
 * DIR adds a variant: the cleaner of the broker package built in DIR (a checkout of an older commit,
 * `npx tsc -b packages/broker` there), on logs that build opened:
 *   node scripts/bench-cleaner.mjs --latency [--mb 150] [--rounds 3] [--rate 2000]
 *     [--variants idle/0,19/0] [--idle-seconds 2] [--trace 0] [--duty 0] [--baseline DIR]
 *     [--settle-mb 32] [--settle-timeout-seconds 10] [--delete-interval-ms 100]
 */
import { readdirSync, readFileSync } from 'node:fs';
import { rm, unlink } from 'node:fs/promises';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { LogCleaner, OffsetMap, openPartitionLog } from '@samsa/broker/internal';
import { encodeBatch } from '@samsa/protocol';
import {
  diskCounters,
  diskOf,
  diskRates,
  formatDisk,
  formatSettle,
  processIo,
  settleWriteback,
} from './bench-cleaner-io.mjs';

const { values: args } = parseArgs({
  options: {
    mb: { type: 'string', default: '200' },
    keys: { type: 'string', default: '100000' },
    'value-bytes': { type: 'string', default: '100' },
    batch: { type: 'string', default: '100' },
    compression: { type: 'string', default: 'none' },
    'map-mb': { type: 'string', default: '128' },
    dir: { type: 'string', default: '/tmp/samsa-cleaner-bench' },
    latency: { type: 'boolean', default: false },
    rounds: { type: 'string', default: '3' },
    rate: { type: 'string', default: '2000' },
    'producer-records': { type: 'string', default: '10' },
    variants: { type: 'string', default: 'idle/0,19/0' },
    trace: { type: 'string', default: '0' },
    'idle-seconds': { type: 'string', default: '2' },
    duty: { type: 'string', default: '0' },
    baseline: { type: 'string' },
    'settle-mb': { type: 'string', default: '32' },
    'settle-timeout-seconds': { type: 'string', default: '10' },
    'delete-interval-ms': { type: 'string', default: '100' },
  },
});
const MiB = 1024 * 1024;
const elapsedOver = (ms) => {
  const start = performance.now();
  return () => performance.now() - start > ms;
};
const fmt = (x) => x.toFixed(1);
const line = (name, r) =>
  `${name}: ${r.appends} appends in ${r.seconds.toFixed(1)} s, p50 ${fmt(r.p50)} ms, p99 ${fmt(r.p99)} ms, ` +
  `p99.9 ${fmt(r.p999)} ms, max ${fmt(r.max)} ms, event loop delay p99 ${fmt(r.loopP99)} ms`;
const totalBytes = Number(args.mb) * 1024 * 1024;
const keys = Number(args.keys);
const valueBytes = Number(args['value-bytes']);
const batchRecords = Number(args.batch);
await rm(args.dir, { recursive: true, force: true });
if (args.latency) {
  await latencyBench();
  process.exit(0);
}
const config = { cleanupPolicy: 'compact', segmentBytes: 64 * 1024 * 1024, retentionMs: -1, minCleanableDirtyRatio: 0 };
const log = await openPartitionLog({ dir: args.dir, config });
const value = Buffer.alloc(valueBytes, 0x61);
let n = 0;
while (log.sizeInBytes < totalBytes) {
  const records = Array.from({ length: batchRecords }, () => ({
    key: Buffer.from(`key-${(n++ * 7919) % keys}`),
    value,
    timestamp: Date.now(),
  }));
  await log.append(encodeBatch(records, { compression: args.compression }));
}
await log.roll();
await log.flush();
const dirtyBytes = log.sizeInBytes;
const map = new OffsetMap(Number(args['map-mb']) * 1024 * 1024);
const started = performance.now();
const cpuStarted = process.cpuUsage();
let passes = 0;
let read = 0;
let written = 0;
for (;;) {
  const stats = await log.clean({ stableOffset: log.logEndOffset, map });
  if (!stats) break;
  passes++;
  read += stats.bytesRead;
  written += stats.bytesWritten;
}
const seconds = (performance.now() - started) / 1000;
const cpu = process.cpuUsage(cpuStarted);
const cpuSeconds = (cpu.user + cpu.system) / 1e6;
const mb = (b) => (b / 1024 / 1024).toFixed(1);
console.log(
  `${n.toLocaleString()} records, ${keys.toLocaleString()} keys, ${args.compression}: ${mb(dirtyBytes)} MB dirty -> ` +
    `${mb(log.sizeInBytes)} MB in ${passes} pass(es), ${seconds.toFixed(2)} s: ` +
    `${(dirtyBytes / 1024 / 1024 / seconds).toFixed(1)} MB/s of dirty log ` +
    `(read ${mb(read)} MB, wrote ${mb(written)} MB); CPU ${cpuSeconds.toFixed(2)} s, ` +
    `${(dirtyBytes / 1024 / 1024 / cpuSeconds).toFixed(1)} MB of dirty log per CPU second`,
);
await log.close();
await rm(args.dir, { recursive: true, force: true });

/** Fills a compacted log at `dir` with about `bytes` of repeated keys, rolled. */
async function dirtyLog(dir, bytes, openLog = openPartitionLog) {
  const config = {
    cleanupPolicy: 'compact',
    segmentBytes: 16 * 1024 * 1024,
    retentionMs: -1,
    minCleanableDirtyRatio: 0,
  };
  const log = await openLog({ dir, config });
  const value = Buffer.alloc(valueBytes, 0x61);
  let n = 0;
  while (log.sizeInBytes < bytes) {
    const records = Array.from({ length: batchRecords }, () => ({
      key: Buffer.from(`key-${(n++ * 7919) % keys}`),
      value,
      timestamp: Date.now(),
    }));
    await log.append(encodeBatch(records, { compression: args.compression }));
  }
  await log.roll();
  await log.flush();
  return log;
}

function percentile(sorted, p) {
  return sorted.length === 0 ? Number.NaN : sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))];
}

/** Appends at `rate` batches/s until `until()` is true; latencies from each append's scheduled time. */
async function produce(log, until, samples) {
  const rate = Number(args.rate);
  const batch = () =>
    encodeBatch(
      Array.from({ length: Number(args['producer-records']) }, (_, i) => ({
        key: Buffer.from(`p-${i}`),
        value: Buffer.alloc(100, 0x62),
        timestamp: Date.now(),
      })),
    );
  const latencies = [];
  const delay = monitorEventLoopDelay({ resolution: 1 });
  delay.enable();
  const started = performance.now();
  let sent = 0;
  const inflight = new Set();
  const gaps = [];
  while (!until()) {
    const now = performance.now();
    const due = Math.floor(((now - started) * rate) / 1000);
    for (; sent < due; sent++) {
      const scheduled = started + (sent * 1000) / rate;
      const p = log.append(batch()).then(() => {
        latencies.push(performance.now() - scheduled);
        samples.push([scheduled, performance.now() - scheduled]);
        inflight.delete(p);
      });
      inflight.add(p);
    }
    await new Promise((resolve) => setTimeout(resolve, 1));
    // The event loop's own stalls (a 1 ms timer fired late), to tell them from waits for I/O.
    if (performance.now() - now > 6) gaps.push([now, performance.now() - now]);
  }
  await Promise.all(inflight);
  delay.disable();
  return {
    ...summarize(latencies, (performance.now() - started) / 1000, delay.percentile(99) / 1e6),
    samples: latencies,
    gaps,
  };
}

function summarize(latencies, seconds, loopP99) {
  const sorted = [...latencies].sort((a, b) => a - b);
  return {
    seconds,
    appends: sorted.length,
    p50: percentile(sorted, 0.5),
    p99: percentile(sorted, 0.99),
    p999: percentile(sorted, 0.999),
    max: sorted.at(-1),
    loopP99,
  };
}

/** Syncs and waits out the dirty and writeback pages and the discards (--settle-mb, --settle-timeout-seconds). */
function settle() {
  const timeoutMs = Number(args['settle-timeout-seconds']) * 1000;
  return settleWriteback(Number(args['settle-mb']) * MiB, timeoutMs, diskOf(args.dir));
}

/** This process's CPU and disk traffic, and its disk's (sectors read and written, ms busy), now. */
function resourceSnapshot(disk) {
  return { ms: performance.now(), cpu: process.cpuUsage(), io: processIo(), device: diskCounters(disk) };
}

/** Runs a phase and adds what the process and its disk did meanwhile. */
async function measured(phase) {
  const disk = diskOf(args.dir);
  const from = resourceSnapshot(disk);
  const result = await phase();
  const to = resourceSnapshot(disk);
  const seconds = (to.ms - from.ms) / 1000;
  const rate = (bytes) => bytes / MiB / seconds;
  return {
    ...result,
    cores: (to.cpu.user + to.cpu.system - from.cpu.user - from.cpu.system) / 1e6 / seconds,
    processReadMBps: rate(to.io.readBytes - from.io.readBytes),
    processWriteMBps: rate(to.io.writeBytes - from.io.writeBytes),
    ...diskRates(from.device, to.device, to.ms - from.ms),
  };
}

function resources(r) {
  return (
    `process CPU ${r.cores.toFixed(2)} cores, disk I/O ${r.processReadMBps.toFixed(1)} MB/s read / ` +
    `${r.processWriteMBps.toFixed(1)} MB/s written; ${formatDisk(r)}`
  );
}

function median(xs) {
  const sorted = xs.filter((x) => !Number.isNaN(x)).sort((a, b) => a - b);
  if (sorted.length === 0) return Number.NaN;
  return (sorted[Math.floor((sorted.length - 1) / 2)] + sorted[Math.ceil((sorted.length - 1) / 2)]) / 2;
}

/**
 * A variant's figures over the rounds: medians of the per-round p99s (cleaning, idle before, after,
 * both), the per-round ratios, every round's appends pooled (a p99 over many thousand samples, less
 * at one stall's mercy), the cleaner's I/O and the settling.
 */
function variantSummary({ name, results }) {
  const phases = ['cleaning', 'before', 'after', 'idle'].filter((phase) => results.every((x) => x[phase]));
  const label = { cleaning: 'cleaning', before: 'idle before', after: 'idle after', idle: 'idle both' };
  const of = (phase, field) => median(results.map((x) => x[phase][field]));
  const pooled = (phase) =>
    summarize(
      results.flatMap((x) => x[phase].samples),
      0,
      0,
    );
  const ratios = (phase) => results.map((x) => x.cleaning.p99 / x[phase].p99);
  const ratioText = (phase) => {
    const xs = ratios(phase);
    return `${xs.map((x) => x.toFixed(2)).join(', ')} (median ${median(xs).toFixed(2)})`;
  };
  const idlePhases = phases.filter((p) => p !== 'cleaning');
  const idleOf = (field) => (phases.includes('before') ? of('before', field) : Number.NaN);
  const all = Object.fromEntries(phases.map((p) => [p, pooled(p)]));
  const rows = [
    `${name}, ${results.length} rounds, load ${results.map((x) => x.load.toFixed(1)).join(', ')}:`,
    `  medians over rounds: p99 ${phases.map((p) => `${label[p]} ${fmt(of(p, 'p99'))}`).join(', ')} ms ` +
      `(cleaning / idle both ${(of('cleaning', 'p99') / of('idle', 'p99')).toFixed(2)}x); ` +
      `p50 ${phases.map((p) => fmt(of(p, 'p50'))).join(' / ')} ms`,
    ...idlePhases.map((p) => `  per round p99 ratio cleaning / ${label[p]}: ${ratioText(p)}`),
    `  all rounds' appends pooled: ${phases
      .map((p) => `${label[p]} p99 ${fmt(all[p].p99)} / p99.9 ${fmt(all[p].p999)} ms (${all[p].appends})`)
      .join(', ')} ` + `(cleaning / idle both p99 ${(all.cleaning.p99 / all.idle.p99).toFixed(2)}x)`,
    `  cleaning: ${fmt(of('cleaning', 'seconds'))} s, ${of('cleaning', 'appends')} appends (medians); the cleaner ` +
      `read ${fmt(median(results.map((x) => x.io.readMBps)))} MB/s, ` +
      `wrote ${fmt(median(results.map((x) => x.io.writtenMBps)))} MB/s; ` +
      `process CPU ${of('cleaning', 'cores').toFixed(2)} cores (${idleOf('cores').toFixed(2)} idle before); ` +
      `the disk ${(100 * of('cleaning', 'diskBusy')).toFixed(0)}% busy ` +
      `(${(100 * idleOf('diskBusy')).toFixed(0)}% idle before)`,
    `  writeback settled in ${results.map((x) => (x.settleBefore.ms / 1000).toFixed(1)).join(', ')} s ` +
      "before the rounds' first idle phase" +
      (results[0].settleAfter
        ? `, ${results.map((x) => (x.settleAfter.ms / 1000).toFixed(1)).join(', ')} s before the idle after`
        : ''),
  ];
  return rows.join('\n');
}

async function latencyBench() {
  const rounds = Number(args.rounds);
  const producerLog = await openPartitionLog({
    dir: join(args.dir, 'producer'),
    config: { segmentBytes: 64 * 1024 * 1024, retentionMs: -1 },
  });
  const quiet = { info() {}, warn() {}, error() {}, debug() {} };
  const idleMs = Number(args['idle-seconds']) * 1000;
  console.log(
    `${rounds} rounds, ${args.mb} MB dirty each, ${args.rate} appends/s, ` +
      `idle ${idleMs / 1000} s before and after each cleaning`,
  );
  // One cleaner per variant for the whole run, as a broker keeps its own: its worker thread starts once.
  const variants = args.variants.split(',').map((spec) => {
    if (spec === 'deletes') {
      const armed = { log: undefined, dir: undefined };
      const intervalMs = Number(args['delete-interval-ms']);
      const name = `no cleaner: the dirty log's segments deleted one every ${intervalMs} ms`;
      return {
        name,
        armed,
        cleaner: deletingCleaner(armed, intervalMs),
        deletes: true,
        results: [],
        openLog: openPartitionLog,
      };
    }
    const [priority, ioMb = '0', syncMb, syncThread = 'pool', computeIn] = spec.split('/');
    const ioMax = Number(ioMb) > 0 ? Number(ioMb) * 1024 * 1024 : Number.POSITIVE_INFINITY;
    const armed = { log: undefined };
    const cleaner = new LogCleaner(
      {
        threads: 1,
        dedupeBufferBytes: Number(args['map-mb']) * 1024 * 1024,
        ioMaxBytesPerSecond: ioMax,
        backoffMs: 50,
        threadPriority: priority === 'idle' ? 'idle' : Number(priority),
        syncOnWorker: syncThread === 'worker',
        computeIn: computeIn === 'thread' ? 'thread' : computeIn?.startsWith('process') ? 'process' : undefined,
        writeOnProcess: computeIn === 'process-writes',
      },
      () => (armed.log ? [{ log: armed.log, stableOffset: () => armed.log.logEndOffset, context: {} }] : []),
      quiet,
    );
    cleaner.start();
    const throttle = Number(ioMb) > 0 ? `${ioMb} MB/s` : 'unthrottled';
    const slices =
      syncMb === undefined
        ? ''
        : `, sync ${Number(syncMb) > 0 ? `every ${syncMb} MB` : 'at the end'} on the ${syncThread}`;
    const where = computeIn === undefined ? '' : `, in a ${computeIn}`;
    const name = `${priority === 'idle' ? 'SCHED_IDLE' : `nice ${priority}`}, ${throttle}${slices}${where}`;
    const syncEveryBytes = Number(syncMb) > 0 ? Number(syncMb) * 1024 * 1024 : Number.POSITIVE_INFINITY;
    return {
      name,
      armed,
      cleaner,
      results: [],
      syncEveryBytes: syncMb === undefined ? undefined : syncEveryBytes,
      openLog: openPartitionLog,
    };
  });
  if (args.baseline) {
    // Another build of the broker package (a checkout of an older commit, built): its cleaner cleans
    // logs it opened itself, in this process, beside the producer of this build.
    const base = await import(pathToFileURL(join(args.baseline, 'packages/broker/dist/internal.js')).href);
    const armed = { log: undefined };
    const cleaner = new base.LogCleaner(
      {
        threads: 1,
        dedupeBufferBytes: Number(args['map-mb']) * 1024 * 1024,
        ioMaxBytesPerSecond: Number.POSITIVE_INFINITY,
        backoffMs: 50,
      },
      () => (armed.log ? [{ log: armed.log, stableOffset: () => armed.log.logEndOffset, context: {} }] : []),
      quiet,
    );
    cleaner.start();
    variants.push({ name: `baseline ${args.baseline}`, armed, cleaner, results: [], openLog: base.openPartitionLog });
  }
  await new Promise((resolve) => setTimeout(resolve, 1000)); // the workers start
  const traceMs = Number(args.trace);
  const dutyMs = Number(args.duty);
  for (let r = 0; r < rounds; r++) {
    // Each round runs every variant, in a rotated order so that none always goes first.
    for (let v = 0; v < variants.length; v++) {
      const variant = variants[(r + v) % variants.length];
      const log = await dirtyLog(join(args.dir, `dirty-${r}-${v}`), totalBytes, variant.openLog);
      // The kernel would write the dirty log out some seconds later, in whichever phase runs then.
      const settleBefore = await settle();
      const load = loadavg()[0];
      const cpuIdle = traceMs > 0 ? threadCpuMs() : undefined;
      const beforeMs = dutyMs > 0 ? 0 : idleMs;
      const before = await measured(() => produce(producerLog, elapsedOver(beforeMs), []));
      const events = traceMs > 0 ? traceSteps(log) : undefined;
      if (variant.syncEveryBytes !== undefined) {
        const clean = log.clean.bind(log);
        log.clean = (options) => clean({ ...options, syncEveryBytes: variant.syncEveryBytes });
      }
      const totalsBefore = { ...variant.cleaner.totals };
      // Looks at the log once a pass ends (the producer's loop asks every millisecond).
      let seenPasses = totalsBefore.passes;
      let finished = false;
      const done = () => {
        if (finished || variant.cleaner.totals.passes === seenPasses) return finished;
        seenPasses = variant.cleaner.totals.passes;
        finished = variant.deletes || log.cleanableSection(log.logEndOffset).dirtyBytes === 0;
        return finished;
      };
      const startMs = performance.now();
      if (dutyMs > 0) dutyCycle(log, startMs, dutyMs);
      const cpuBefore = traceMs > 0 ? threadCpuMs() : undefined;
      const cpuDelta = (from, to) => [...to].map(([name, ms]) => `${name} ${(ms - (from.get(name) ?? 0)).toFixed(0)}`);
      const idleCpu = cpuIdle && cpuDelta(cpuIdle, cpuBefore).join(', ');
      if (cpuIdle) console.log(`CPU and run-queue wait ms by thread in the ${beforeMs / 1000} s idle: ${idleCpu}`);
      variant.armed.log = log;
      variant.armed.dir = join(args.dir, `dirty-${r}-${v}`);
      variant.cleaner.poke();
      const cleaningSamples = [];
      let cleaning = await measured(() => produce(producerLog, done, cleaningSamples));
      const loopGaps = cleaning.gaps;
      const cpuAfter = traceMs > 0 ? threadCpuMs() : undefined;
      variant.armed.log = undefined;
      // What the cleaner itself read and wrote (its files, whether from the page cache or the disk).
      const io = {
        readMBps: (variant.cleaner.totals.bytesRead - totalsBefore.bytesRead) / MiB / cleaning.seconds,
        writtenMBps: (variant.cleaner.totals.bytesWritten - totalsBefore.bytesWritten) / MiB / cleaning.seconds,
      };
      let idle;
      let after;
      let settleAfter;
      if (dutyMs > 0) {
        // Appends scheduled in the first 20 ms of a window are left out: a stall can straddle the switch.
        const counted = cleaningSamples.filter(([t]) => (t - startMs) % dutyMs >= 20);
        const of = (on) => counted.filter(([t]) => (t - startMs) % (2 * dutyMs) < dutyMs === on).map(([, ms]) => ms);
        idle = { ...summarize(of(false), cleaning.seconds / 2, Number.NaN), samples: of(false) };
        cleaning = { ...cleaning, ...summarize(of(true), cleaning.seconds / 2, Number.NaN), samples: of(true) };
      } else {
        // The swaps' deletions and the cleaned files' last pages are the cleaner's: out of the idle phase too.
        settleAfter = await settle();
        after = await measured(() => produce(producerLog, elapsedOver(idleMs), []));
        const samples = [...before.samples, ...after.samples];
        const loopP99 = Math.max(before.loopP99, after.loopP99);
        idle = { ...summarize(samples, before.seconds + after.seconds, loopP99), samples };
      }
      variant.results.push({ cleaning, idle, before: after && before, after, load, io, settleBefore, settleAfter });
      const at = `round ${r + 1}, load ${load.toFixed(1)}`;
      console.log(
        `${at}: dirty log of ${args.mb} MB written; the machine's dirty + writeback pages: ` +
          formatSettle(settleBefore) +
          (settleAfter ? `, after the cleaning ${formatSettle(settleAfter)}` : ''),
      );
      if (after) console.log(`${at}: ${line('idle before', before)}; ${resources(before)}`);
      console.log(
        `${at}: ${line(`cleaning (${variant.name})`, cleaning)}; ${resources(cleaning)}; ` +
          `the cleaner read ${io.readMBps.toFixed(1)} MB/s and wrote ${io.writtenMBps.toFixed(1)} MB/s`,
      );
      if (after) console.log(`${at}: ${line('idle after', after)}; ${resources(after)}`);
      console.log(`${at}: ${line(dutyMs > 0 ? 'paused between' : 'idle before and after', idle)}`);
      if (events) printTrace(events, cleaningSamples, loopGaps, traceMs);
      if (cpuBefore)
        console.log(`CPU and run-queue wait ms by thread while cleaning: ${cpuDelta(cpuBefore, cpuAfter).join(', ')}`);
      if (!variant.deletes) await log.close();
      await rm(join(args.dir, `dirty-${r}-${v}`), { recursive: true, force: true });
    }
  }
  for (const variant of variants) {
    await variant.cleaner.close();
    console.log(variantSummary(variant));
  }
  await producerLog.close();
  await rm(args.dir, { recursive: true, force: true });
}

/**
 * Not a cleaner: once poked, closes the armed log and deletes its segment files one every
 * `intervalMs`, as a cleaning's swaps delete the old segments, so that a run can tell what the
 * deletions alone cost the producer (on ext4 mounted with `discard`, each commit after them
 * discards the freed blocks).
 */
function deletingCleaner(armed, intervalMs) {
  const totals = { passes: 0, bytesRead: 0, bytesWritten: 0 };
  return {
    totals,
    poke() {
      const { log, dir } = armed;
      (async () => {
        await log.close();
        for (const file of readdirSync(dir)
          .filter((f) => f.endsWith('.log'))
          .sort()) {
          await unlink(join(dir, file));
          await new Promise((resolve) => setTimeout(resolve, intervalMs));
        }
        totals.passes++;
      })();
    },
    async close() {},
  };
}

/**
 * CPU time of this process's threads so far and their time runnable but waiting for a CPU (the
 * scheduler's run queue), in ms, summed by thread name (Linux, /proc/self/task/<tid>/schedstat).
 */
function threadCpuMs() {
  const byName = new Map();
  try {
    for (const tid of readdirSync('/proc/self/task')) {
      const name = readFileSync(`/proc/self/task/${tid}/comm`, 'utf8').trim();
      // Time on a CPU and time runnable but waiting for one, in ns.
      const [runNs, waitNs] = readFileSync(`/proc/self/task/${tid}/schedstat`, 'utf8').split(' ').map(Number);
      byName.set(name, (byName.get(name) ?? 0) + runNs / 1e6);
      byName.set(`${name} waited`, (byName.get(`${name} waited`) ?? 0) + waitNs / 1e6);
    }
  } catch {
    // not Linux
  }
  return byName;
}

/**
 * Pauses the log's cleaning every other `dutyMs` window from `startMs` (at its next chunk), so that
 * the producer's appends with the cleaner working and paused interleave within the same seconds.
 */
function dutyCycle(log, startMs, dutyMs) {
  const clean = log.clean.bind(log);
  const paused = () => (performance.now() - startMs) % (2 * dutyMs) >= dutyMs;
  const resumeIn = () => 2 * dutyMs - ((performance.now() - startMs) % (2 * dutyMs));
  log.clean = (options) =>
    clean({
      ...options,
      throttle: async (bytes) => {
        while (paused()) await new Promise((resolve) => setTimeout(resolve, resumeIn()));
        await options.throttle?.(bytes);
      },
    });
}

/** Records when each step of the log's cleaning passes happened (the crash tests' step hook). */
function traceSteps(log) {
  const events = [[performance.now(), 'start']];
  const clean = log.clean.bind(log);
  log.clean = (options) => {
    events.push([performance.now(), 'pass']);
    return clean({ ...options, crashAt: (step) => events.push([performance.now(), step]) });
  };
  return events;
}

/**
 * The cleaning phase, in ms from its start: the cleaner's steps, the stalls (appends scheduled
 * within 5 ms of each other that took `thresholdMs` or more, with the slowest) and the moments the
 * event loop itself ran late: a stall without one waited for I/O or the thread pool.
 */
function printTrace(events, samples, gaps, thresholdMs) {
  const start = events[0][0];
  const stalls = [];
  for (const [t, ms] of samples.filter(([, ms]) => ms >= thresholdMs).sort((a, b) => a[0] - b[0])) {
    const last = stalls.at(-1);
    if (last && t - last.end < 5) {
      last.end = t;
      last.max = Math.max(last.max, ms);
      last.n++;
    } else stalls.push({ t, end: t, max: ms, n: 1 });
  }
  const rows = [
    ...events.map(([t, step]) => [t, step]),
    ...stalls.map((x) => [x.t, `STALL ${x.max.toFixed(1)} ms (${x.n})`]),
    ...gaps.filter(([, ms]) => ms >= thresholdMs).map(([t, ms]) => [t, `event loop late ${ms.toFixed(0)} ms`]),
  ].sort((a, b) => a[0] - b[0]);
  console.log(rows.map(([t, what]) => `${(t - start).toFixed(0)} ${what}`).join('; '));
}
