import { open, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { encodeBatch } from '@samsa/protocol';
import {
  dumpSegment,
  formatDumpedBatch,
  openPartitionLog,
  runStorageBenchmark,
  type DumpedBatch,
  type DumpError,
} from '@samsa/broker/internal';
import { makeBatch, tempDir } from './helpers.js';

async function collect(iterable: AsyncIterable<DumpedBatch | DumpError>): Promise<Array<DumpedBatch | DumpError>> {
  const out: Array<DumpedBatch | DumpError> = [];
  for await (const entry of iterable) out.push(entry);
  return out;
}

describe('dumpSegment', () => {
  let dir: { path: string; remove: () => Promise<void> };
  beforeEach(async () => {
    dir = await tempDir();
    const log = await openPartitionLog({ dir: dir.path, config: { segmentBytes: 1000 } });
    for (let i = 0; i < 6; i++)
      await log.append(makeBatch({ count: 3, valueSize: 40, baseTimestamp: 500 + i }), { leaderEpoch: 2 });
    await log.append(
      encodeBatch(
        [
          { value: Buffer.alloc(300, 1), timestamp: 900 },
          { value: null, timestamp: 901 },
        ],
        { compression: 'gzip' },
      ),
    );
    await log.close();
  });
  afterEach(async () => {
    await dir.remove();
  });

  it('walks every segment of a partition directory in offset order', async () => {
    expect((await readdir(dir.path)).filter((n) => n.endsWith('.log')).length).toBeGreaterThan(1);
    const entries = await collect(dumpSegment(dir.path));
    const batches = entries.filter((e): e is DumpedBatch => e.kind === 'batch');
    expect(batches).toHaveLength(7);
    expect(batches.map((b) => b.baseOffset)).toEqual([0, 3, 6, 9, 12, 15, 18]);
    expect(batches[0]).toMatchObject({
      position: 0,
      lastOffset: 2,
      count: 3,
      baseTimestamp: 500,
      maxTimestamp: 500,
      compression: 'none',
      crcValid: true,
      isTransactional: false,
      isControl: false,
      partitionLeaderEpoch: 2,
    });
    expect(batches[6]).toMatchObject({ compression: 'gzip', count: 2, maxTimestamp: 901 });
    expect(batches.every((b) => b.bytes === undefined)).toBe(true);
    expect(formatDumpedBatch(batches[0]!)).toContain('baseOffset: 0 lastOffset: 2 count: 3');
  });

  it('reads one .log file, reports CRC mismatches, attaches bytes on request, stops at a torn batch', async () => {
    const file = join(dir.path, '00000000000000000000.log');
    const fh = await open(file, 'r+');
    const size = (await fh.stat()).size;
    const byte = Buffer.from([0xff]);
    await fh.write(byte, 0, 1, 100);
    await fh.close();
    const withTail = join(dir.path, 'copy.log');
    const original = await readFile(file);
    await writeFile(withTail, Buffer.concat([original, original.subarray(0, 70)]));
    const entries = await collect(dumpSegment(withTail, { printRecords: true }));
    const batches = entries.filter((e): e is DumpedBatch => e.kind === 'batch');
    expect(batches.length).toBeGreaterThan(0);
    expect(batches[0]!.crcValid).toBe(false);
    expect(batches[1]!.crcValid).toBe(true);
    expect(
      batches[1]!.bytes!.equals(original.subarray(batches[1]!.position, batches[1]!.position + batches[1]!.size)),
    ).toBe(true);
    const last = entries.at(-1)!;
    expect(last).toMatchObject({ kind: 'error', position: size });
    const unchecked = await collect(dumpSegment(file, { verifyCrc: false }));
    expect(unchecked.every((e) => e.kind === 'batch' && e.crcValid === undefined)).toBe(true);
  });
});

describe('runStorageBenchmark', () => {
  it('runs end to end on a tiny workload and reports consistent figures', async () => {
    const dir = await tempDir();
    try {
      const result = await runStorageBenchmark({
        dir: dir.path,
        records: 5000,
        recordSize: 20,
        batchSize: 500,
        rounds: 1,
      });
      expect(result.batches).toBe(10);
      expect(result.read.bytes).toBe(result.totalBytes);
      expect(result.append.records).toBe(5000);
      expect(result.appendToRawRatio).toBeGreaterThan(0);
    } finally {
      await dir.remove();
    }
  });
});
