import { describe, expect, it } from 'vitest';
import { COMPRESSION_NAMES, decodeBatches, encodeBatch, type CompressionName } from '@samsa/protocol';
import {
  CLEANER_STEPS,
  OffsetMap,
  dumpSegment,
  formatDumpedBatch,
  openPartitionLog,
  type CleanerStep,
  type LogConfig,
  type PartitionLog,
} from '@samsa/broker/internal';
import { ManualClock, tempDir } from './helpers.js';

/** A tiny seeded generator so a failing seed reproduces. */
function rng(seed: number): (n: number) => number {
  let state = seed >>> 0 || 1;
  return (n) => {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    return (state >>> 0) % n;
  };
}

interface Written {
  readonly key: string;
  readonly value: string | null;
}

class Crash extends Error {}

/** Everything readable in the log, from its start: offset → record, in order. */
async function readAll(
  log: PartitionLog,
): Promise<Array<{ offset: number; key: string | null; value: string | null }>> {
  const out: Array<{ offset: number; key: string | null; value: string | null }> = [];
  let next = log.logStartOffset;
  while (next < log.logEndOffset) {
    const { bytes } = await log.read(next, 64 * 1024);
    if (bytes.length === 0) break;
    for (const batch of decodeBatches(bytes)) {
      for (const r of batch.records) {
        if (r.offset < next) continue;
        out.push({ offset: r.offset, key: r.key?.toString() ?? null, value: r.value?.toString() ?? null });
      }
      next = Math.max(next, batch.header.baseOffset + batch.header.lastOffsetDelta + 1);
    }
  }
  return out;
}

/**
 * The model is the list of every record appended (offset → key, value). After every cleaning,
 * crash and reopen: each record read is the one written at its offset; for every key, the newest
 * record read is the newest written (no older value comes back), and a key whose newest record is a
 * value still has it.
 */
async function checkAgainstModel(log: PartitionLog, written: Map<number, Written>, where: string): Promise<void> {
  const read = await readAll(log);
  const newestWritten = new Map<string, number>();
  for (const [offset, w] of written) newestWritten.set(w.key, offset);
  const newestRead = new Map<string, number>();
  let previous = -1;
  for (const r of read) {
    expect(r.offset, `${where}: offsets increase`).toBeGreaterThan(previous);
    previous = r.offset;
    const w = written.get(r.offset);
    expect(w, `${where}: offset ${r.offset} was written`).toBeDefined();
    expect({ key: r.key, value: r.value }, `${where}: offset ${r.offset}`).toEqual(w);
    newestRead.set(r.key!, r.offset);
  }
  for (const [key, offset] of newestWritten) {
    const last = written.get(offset)!;
    const seen = newestRead.get(key);
    if (last.value !== null) expect(seen, `${where}: key ${key} keeps its last value at ${offset}`).toBe(offset);
    else if (seen !== undefined) expect(seen, `${where}: deleted key ${key} shows only its tombstone`).toBe(offset);
  }
}

/**
 * Random appends (keys from a small set, values, tombstones, every codec, some with a producer id),
 * rolls, cleaning passes with a small map (so a dirty section takes several passes), crashes at
 * every step of a pass, and clean reopens, checked against the model after each.
 */
async function runSeed(seed: number, steps: number): Promise<{ passes: number; crashes: number }> {
  const random = rng(seed);
  const dir = await tempDir('samsa-cleaner-');
  const clock = new ManualClock();
  const config: Partial<LogConfig> = {
    segmentBytes: 1500 + random(2500),
    indexIntervalBytes: random(400),
    cleanupPolicy: 'compact',
    retentionMs: -1,
    minCleanableDirtyRatio: 0,
    deleteRetentionMs: 5_000,
  };
  const keys = 4 + random(40);
  const open = (): Promise<PartitionLog> => openPartitionLog({ dir: dir.path, config, clock: clock.now });
  let log = await open();
  const written = new Map<number, Written>();
  const producerId = 1000 + seed;
  let sequence = 0;
  let passes = 0;
  let crashes = 0;
  try {
    for (let step = 0; step < steps; step++) {
      const op = random(100);
      const where = `seed ${seed} step ${step} op ${op}`;
      clock.advance(random(300));
      if (op < 55) {
        const count = 1 + random(6);
        const records = Array.from({ length: count }, () => {
          const key = `k${random(keys)}`;
          const value = random(6) === 0 ? null : `v${step}-${random(1e6)}`.repeat(1 + random(4));
          return { key, value };
        });
        const idempotent = random(3) === 0;
        const batch = encodeBatch(
          records.map((r) => ({
            key: Buffer.from(r.key),
            value: r.value === null ? null : Buffer.from(r.value),
            timestamp: clock.now(),
          })),
          {
            compression: COMPRESSION_NAMES[random(COMPRESSION_NAMES.length)] as CompressionName,
            ...(idempotent ? { producerId, producerEpoch: 0, baseSequence: sequence } : {}),
          },
        );
        if (idempotent) sequence += count;
        const result = await log.append(batch);
        for (const [i, r] of records.entries()) written.set(result.baseOffset + i, r);
      } else if (op < 62) {
        await log.roll();
      } else if (op < 85) {
        const crashStep = random(3) === 0 ? CLEANER_STEPS[random(CLEANER_STEPS.length)] : undefined;
        const crashAt = (s: CleanerStep): void => {
          if (s === crashStep) throw new Crash(s);
        };
        const map = new OffsetMap(200 + random(3000));
        let endBefore = log.logEndOffset;
        // Half the passes without crashes run beside reads and an append, yielding to them.
        const concurrent = crashStep === undefined && random(2) === 0;
        const pause = concurrent ? undefined : async (): Promise<void> => {};
        const cleaning = log.clean({ stableOffset: log.logEndOffset, map, crashAt, ...(pause ? { pause } : {}) });
        if (concurrent) {
          await checkAgainstModel(log, written, `${where} (while cleaning)`);
          const record = { key: `k${random(keys)}`, value: `beside-${step}` };
          const batch = encodeBatch([{ key: Buffer.from(record.key), value: Buffer.from(record.value), timestamp: 1 }]);
          written.set((await log.append(batch)).baseOffset, record);
          endBefore++;
          // Reads go on until the pass ends, so some meet a segment the swap replaced under them.
          let done = false;
          void cleaning.then(
            () => (done = true),
            () => (done = true),
          );
          for (let i = 0; i < 200 && !done; i++) {
            await checkAgainstModel(log, written, `${where} (while cleaning, after an append)`);
          }
        }
        try {
          await cleaning;
          passes++;
        } catch (err) {
          if (!(err instanceof Crash) && !(err as Error).message.includes('offline')) throw err;
          crashes++;
          await log.abandon();
          log = await open();
        }
        expect(log.logEndOffset, `${where}: cleaning keeps the log end`).toBe(endBefore);
        await checkAgainstModel(log, written, where);
      } else if (op < 90) {
        await log.close();
        log = await open();
        await checkAgainstModel(log, written, where);
      } else {
        const before = log.producerState(producerId);
        await log.abandon();
        log = await open();
        expect(log.producerState(producerId)?.batches.at(-1)?.lastSeq, `${where}: producer state`).toBe(
          before?.batches.at(-1)?.lastSeq,
        );
        await checkAgainstModel(log, written, where);
      }
    }
    await checkAgainstModel(log, written, `seed ${seed} end`);
    return { passes, crashes };
  } finally {
    await log.close().catch(() => undefined);
    await dir.remove();
  }
}

function seedRange(): number[] {
  const spec = process.env.SAMSA_CLEANER_SEEDS;
  if (!spec) return [1, 2, 3, 4];
  const [from, to] = spec.split('-').map(Number);
  return Array.from({ length: to! - from! + 1 }, (_, i) => from! + i);
}

describe('log cleaner against a model of the last value per key', () => {
  for (const seed of seedRange()) {
    it(`seed ${seed}`, async () => {
      const { passes, crashes } = await runSeed(seed, 200);
      expect(passes + crashes).toBeGreaterThan(0);
    }, 60_000);
  }
});

describe('tombstones, passes and the size of a compacted log', () => {
  it('keeps every last value, drops tombstones after delete.retention.ms, stays bounded', async () => {
    const dir = await tempDir('samsa-cleaner-');
    const clock = new ManualClock();
    const config: Partial<LogConfig> = {
      segmentBytes: 4096,
      cleanupPolicy: 'compact',
      retentionMs: -1,
      minCleanableDirtyRatio: 0,
      deleteRetentionMs: 60_000,
    };
    const log = await openPartitionLog({ dir: dir.path, config, clock: clock.now });
    const last = new Map<string, string | null>();
    const write = async (key: string, value: string | null): Promise<void> => {
      const record = {
        key: Buffer.from(key),
        value: value === null ? null : Buffer.from(value),
        timestamp: clock.now(),
      };
      await log.append(encodeBatch([record], { compression: 'gzip' }));
      last.set(key, value);
    };
    const cleanFully = async (): Promise<number> => {
      let passes = 0;
      // A map of about 30 keys: 100 keys take several passes.
      while (await log.clean({ stableOffset: log.logEndOffset, map: new OffsetMap(30 * 75) })) passes++;
      return passes;
    };
    try {
      for (let round = 0; round < 5; round++) {
        for (let k = 0; k < 100; k++) await write(`key-${k}`, `value-${round}-${k}`);
        clock.advance(1_000);
      }
      for (let k = 0; k < 10; k++) await write(`key-${k}`, null);
      await log.roll();
      const sizeBefore = log.sizeInBytes;
      expect(await cleanFully()).toBeGreaterThan(1);
      const afterFirst = await readAll(log);
      expect(afterFirst.length).toBe(100); // 90 values and 10 tombstones, still readable
      expect(afterFirst.filter((r) => r.value === null).map((r) => r.key)).toHaveLength(10);
      expect(log.sizeInBytes).toBeLessThan(sizeBefore / 4);
      // Time passes and writing goes on: the clean section moves past the tombstones' horizon.
      for (let round = 0; round < 3; round++) {
        clock.advance(30_000);
        for (let k = 10; k < 100; k++) await write(`key-${k}`, `late-${round}-${k}`);
        await log.roll();
        await cleanFully();
      }
      const final = await readAll(log);
      expect(final.map((r) => r.key).sort()).toEqual([...last.keys()].filter((k) => last.get(k) !== null).sort());
      for (const r of final) expect(r.value).toBe(last.get(r.key!));
      expect(log.sizeInBytes).toBeLessThan(sizeBefore / 4);
    } finally {
      await log.close();
      await dir.remove();
    }
  });

  it('keeps the last batch of a producer as an empty batch, so producer state survives a reopen', async () => {
    const dir = await tempDir('samsa-cleaner-');
    const clock = new ManualClock();
    const config: Partial<LogConfig> = { cleanupPolicy: 'compact', minCleanableDirtyRatio: 0 };
    let log = await openPartitionLog({ dir: dir.path, config, clock: clock.now });
    try {
      const producerId = 77;
      const record = (value: string) => ({ key: Buffer.from('k'), value: Buffer.from(value), timestamp: clock.now() });
      await log.append(encodeBatch([record('a'), record('b')], { producerId, producerEpoch: 3, baseSequence: 0 }));
      // The same key from another writer supersedes the producer's records.
      await log.append(encodeBatch([record('c')]));
      await log.roll();
      await log.clean({ stableOffset: log.logEndOffset, map: new OffsetMap(1 << 20) });
      const { bytes } = await log.read(0, 1 << 20);
      const batches = decodeBatches(bytes);
      expect(batches.map((b) => [b.header.baseOffset, b.header.lastOffsetDelta, b.records.length])).toEqual([
        [0, 1, 0],
        [2, 0, 1],
      ]);
      expect(batches[0]!.header.producerId).toBe(producerId);
      const dumped: string[] = [];
      for await (const entry of dumpSegment(dir.path)) dumped.push(formatDumpedBatch(entry));
      expect(dumped[0]).toMatch(/baseOffset: 0 lastOffset: 1 count: 0 .* removedRecords: 2$/);
      await log.abandon();
      log = await openPartitionLog({ dir: dir.path, config, clock: clock.now });
      expect(log.producerState(producerId)?.batches.at(-1)).toMatchObject({ firstSeq: 0, lastSeq: 1, lastOffset: 1 });
      // A retry of the producer's batch is still recognised as a duplicate.
      const retry = await log.append(
        encodeBatch([record('a'), record('b')], { producerId, producerEpoch: 3, baseSequence: 0 }),
      );
      expect(retry.baseOffset).toBe(0);
    } finally {
      await log.close();
      await dir.remove();
    }
  });
});
