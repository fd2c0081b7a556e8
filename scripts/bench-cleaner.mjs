#!/usr/bin/env node
/**
 * Log cleaner throughput on one partition log, no broker: writes a compacted log of repeated keys
 * (rolled into segments), then runs cleaning passes until none is needed and reports MB/s of dirty log
 * cleaned. Run after `npx tsc -b`:
 *   node scripts/bench-cleaner.mjs [--mb 200] [--keys 100000] [--value-bytes 100] [--batch 100]
 *     [--compression none|gzip|lz4|snappy|zstd] [--map-mb 128] [--dir /tmp/samsa-cleaner-bench]
 *
 * With --latency, the cleaner's effect on a producer in the same process (the broker's event loop
 * and thread pool): an open-loop producer appends --rate batches/s of --producer-records records
 * to another log, first with the cleaner idle, then while the broker's LogCleaner (worker thread,
 * throttle --io-max bytes/s) cleans a fresh dirty log of --mb MB, --rounds times, alternating; the
 * idle phase lasts as long as the cleaning phase before it did; the cleaner's worker thread runs at
 * the nice values of --nice in turn (19,0: lowered, then the broker's priority). Reports append latency p50 / p99
 * / max (from the scheduled time, so a stalled loop counts) and the event loop's delay p99:
 *   node scripts/bench-cleaner.mjs --latency [--mb 60] [--rounds 3] [--rate 2000] [--io-max 0] [--nice 19,0]
 */
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { LogCleaner, OffsetMap, openPartitionLog } from '@samsa/broker/internal';
import { encodeBatch } from '@samsa/protocol';

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
    'io-max': { type: 'string', default: '0' },
    nice: { type: 'string', default: '19,0' },
  },
});
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
const mb = (b) => (b / 1024 / 1024).toFixed(1);
console.log(
  `${n.toLocaleString()} records, ${keys.toLocaleString()} keys, ${args.compression}: ${mb(dirtyBytes)} MB dirty -> ` +
    `${mb(log.sizeInBytes)} MB in ${passes} pass(es), ${seconds.toFixed(2)} s: ` +
    `${(dirtyBytes / 1024 / 1024 / seconds).toFixed(1)} MB/s of dirty log ` +
    `(read ${mb(read)} MB, wrote ${mb(written)} MB)`,
);
await log.close();
await rm(args.dir, { recursive: true, force: true });

/** Fills a compacted log at `dir` with about `bytes` of repeated keys, rolled. */
async function dirtyLog(dir, bytes) {
  const config = {
    cleanupPolicy: 'compact',
    segmentBytes: 16 * 1024 * 1024,
    retentionMs: -1,
    minCleanableDirtyRatio: 0,
  };
  const log = await openPartitionLog({ dir, config });
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
async function produce(log, until) {
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
  while (!until()) {
    const now = performance.now();
    const due = Math.floor(((now - started) * rate) / 1000);
    for (; sent < due; sent++) {
      const scheduled = started + (sent * 1000) / rate;
      const p = log.append(batch()).then(() => {
        latencies.push(performance.now() - scheduled);
        inflight.delete(p);
      });
      inflight.add(p);
    }
    await new Promise((resolve) => setTimeout(resolve, 1));
  }
  await Promise.all(inflight);
  delay.disable();
  latencies.sort((a, b) => a - b);
  return {
    seconds: (performance.now() - started) / 1000,
    appends: latencies.length,
    p50: percentile(latencies, 0.5),
    p99: percentile(latencies, 0.99),
    max: latencies.at(-1),
    loopP99: delay.percentile(99) / 1e6,
  };
}

async function latencyBench() {
  const rounds = Number(args.rounds);
  const ioMax = Number(args['io-max']) > 0 ? Number(args['io-max']) : Number.POSITIVE_INFINITY;
  const dirty = [];
  for (let r = 0; r < rounds; r++) dirty.push(await dirtyLog(join(args.dir, `dirty-${r}`), totalBytes));
  const producerLog = await openPartitionLog({
    dir: join(args.dir, 'producer'),
    config: { segmentBytes: 64 * 1024 * 1024, retentionMs: -1 },
  });
  const quiet = { info() {}, warn() {}, error() {}, debug() {} };
  const fmt = (x) => x.toFixed(1);
  const line = (name, r) =>
    `${name}: ${r.appends} appends in ${r.seconds.toFixed(1)} s, p50 ${fmt(r.p50)} ms, p99 ${fmt(r.p99)} ms, ` +
    `max ${fmt(r.max)} ms, event loop delay p99 ${fmt(r.loopP99)} ms`;
  console.log(`${rounds} rounds, ${args.mb} MB dirty each, ${args.rate} appends/s, io max ${ioMax} B/s`);
  const nices = args.nice.split(',').map(Number);
  for (let r = 0; r < rounds; r++) {
    const log = dirty[r];
    const threadNice = nices[r % nices.length];
    const cleaner = new LogCleaner(
      {
        threads: 1,
        dedupeBufferBytes: Number(args['map-mb']) * 1024 * 1024,
        ioMaxBytesPerSecond: ioMax,
        backoffMs: 50,
        threadNice,
      },
      () => [{ log, stableOffset: () => log.logEndOffset, context: {} }],
      quiet,
    );
    let cleanedAt;
    cleaner.start();
    const cleaning = await produce(producerLog, () => {
      if (
        cleanedAt === undefined &&
        log.cleanableSection(log.logEndOffset).dirtyBytes === 0 &&
        cleaner.totals.passes > 0
      )
        cleanedAt = performance.now();
      return cleanedAt !== undefined;
    });
    await cleaner.close();
    const idleStart = performance.now();
    const idle = await produce(producerLog, () => performance.now() - idleStart > cleaning.seconds * 1000);
    console.log(`round ${r + 1}: ${line(`cleaning (worker nice ${threadNice})`, cleaning)}`);
    console.log(`round ${r + 1}: ${line('idle    ', idle)}`);
    await log.close();
  }
  await producerLog.close();
  await rm(args.dir, { recursive: true, force: true });
}
