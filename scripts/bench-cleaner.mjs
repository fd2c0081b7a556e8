#!/usr/bin/env node
/**
 * Log cleaner throughput on one partition log, no broker: writes a compacted log of repeated keys
 * (rolled into segments), then runs cleaning passes until none is needed and reports MB/s of dirty log
 * cleaned. Run after `npx tsc -b`:
 *   node scripts/bench-cleaner.mjs [--mb 200] [--keys 100000] [--value-bytes 100] [--batch 100]
 *     [--compression none|gzip|lz4|snappy|zstd] [--map-mb 128] [--dir /tmp/samsa-cleaner-bench]
 */
import { rm } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { OffsetMap, openPartitionLog } from '@samsa/broker/internal';
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
  },
});
const totalBytes = Number(args.mb) * 1024 * 1024;
const keys = Number(args.keys);
const valueBytes = Number(args['value-bytes']);
const batchRecords = Number(args.batch);
await rm(args.dir, { recursive: true, force: true });
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
