import { unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { splitBatches } from '@samsa/protocol';
import { EARLIEST_TIMESTAMP, LATEST_TIMESTAMP, openPartitionLog, type PartitionLog } from '@samsa/broker/internal';
import { makeBatch, tempDir } from './helpers.js';

describe('time lookup', () => {
  let dir: { path: string; remove: () => Promise<void> };
  let log: PartitionLog;
  const config = { segmentBytes: 600, indexIntervalBytes: 64 };
  beforeEach(async () => {
    dir = await tempDir();
    log = await openPartitionLog({ dir: dir.path, config });
    // Batches of 4 records, timestamps 1000, 1010, ... increasing by record.
    for (let b = 0; b < 20; b++) {
      await log.append(makeBatch({ count: 4, timestamps: [0, 1, 2, 3].map((r) => 1000 + (b * 4 + r) * 10) }));
    }
  });
  afterEach(async () => {
    await log.close();
    await dir.remove();
  });

  const check = async (): Promise<void> => {
    expect(log.segmentCount).toBeGreaterThan(2);
    expect(await log.offsetForTimestamp(0)).toEqual({ offset: 0, timestamp: 1000 });
    expect(await log.offsetForTimestamp(1000)).toEqual({ offset: 0, timestamp: 1000 });
    // Exact record, also in the middle of a batch and of a later segment.
    for (const offset of [1, 5, 37, 50, 79]) {
      expect(await log.offsetForTimestamp(1000 + offset * 10)).toEqual({ offset, timestamp: 1000 + offset * 10 });
      expect(await log.offsetForTimestamp(1000 + offset * 10 - 5)).toEqual({ offset, timestamp: 1000 + offset * 10 });
    }
    expect(await log.offsetForTimestamp(1000 + 80 * 10)).toBeUndefined();
    expect(await log.offsetForTimestamp(LATEST_TIMESTAMP)).toEqual({ offset: 80, timestamp: -1 });
    expect(await log.offsetForTimestamp(EARLIEST_TIMESTAMP)).toEqual({ offset: 0, timestamp: -1 });
  };

  it('finds the first offset at or after a timestamp via the time index', check);

  it('finds the same offsets after a clean reopen and after the time indexes are deleted', async () => {
    await log.close();
    log = await openPartitionLog({ dir: dir.path, config });
    await check();
    await log.close();
    for (const base of log.segmentBaseOffsets())
      await unlink(join(dir.path, `${String(base).padStart(20, '0')}.timeindex`));
    log = await openPartitionLog({ dir: dir.path, config });
    await check();
  });
});

describe('truncateTo', () => {
  let dir: { path: string; remove: () => Promise<void> };
  let log: PartitionLog;
  const config = { segmentBytes: 500, indexIntervalBytes: 50 };
  beforeEach(async () => {
    dir = await tempDir();
    log = await openPartitionLog({ dir: dir.path, config });
    for (let i = 0; i < 30; i++) await log.append(makeBatch({ count: 2, valueSize: 30, baseTimestamp: 100 + i }));
  });
  afterEach(async () => {
    await log.close();
    await dir.remove();
  });

  const offsetsInLog = async (): Promise<number[]> => {
    const out: number[] = [];
    let offset = log.logStartOffset;
    while (offset < log.logEndOffset) {
      const result = await log.read(offset, 1 << 20);
      out.push(...splitBatches(result.bytes).map((s) => s.header.baseOffset));
      offset = result.lastOffset + 1;
    }
    return out;
  };

  it('removes everything at and after the offset across segments, and appends continue there', async () => {
    expect(log.segmentCount).toBeGreaterThan(3);
    await log.truncateTo(21);
    // 21 is inside the batch 20..21: that whole batch goes.
    expect(log.logEndOffset).toBe(20);
    expect(await offsetsInLog()).toEqual(Array.from({ length: 10 }, (_, i) => i * 2));
    expect(log.segmentBaseOffsets().every((b) => b <= 20)).toBe(true);
    expect(await log.offsetForTimestamp(110)).toBeUndefined();
    expect((await log.offsetForTimestamp(109))?.offset).toBe(18);
    expect((await log.append(makeBatch({ count: 3 }))).baseOffset).toBe(20);
    await log.close();
    log = await openPartitionLog({ dir: dir.path, config });
    expect(log.logEndOffset).toBe(23);
    expect((await offsetsInLog()).slice(-2)).toEqual([18, 20]);
  });

  it('truncating at a segment base keeps an empty active segment there', async () => {
    const base = log.segmentBaseOffsets()[2]!;
    await log.truncateTo(base);
    expect(log.logEndOffset).toBe(base);
    expect(log.segmentBaseOffsets().at(-1)).toBe(base);
    expect((await log.append(makeBatch())).baseOffset).toBe(base);
  });

  it('truncating at or past the end is a no-op; below the start empties the log', async () => {
    await log.truncateTo(60);
    expect(log.logEndOffset).toBe(60);
    await log.truncateTo(0);
    expect(log.logEndOffset).toBe(0);
    expect(log.segmentBaseOffsets()).toEqual([0]);
    expect(await offsetsInLog()).toEqual([]);
    expect((await log.append(makeBatch())).baseOffset).toBe(0);
  });

  it('concurrent reads during truncation see either the old or the new log, never an error', async () => {
    let stop = false;
    const outcomes: string[] = [];
    const reader = (async () => {
      while (!stop) {
        const from = Math.floor(Math.random() * 60);
        try {
          const result = await log.read(from, 1 << 20);
          for (const span of splitBatches(result.bytes))
            expect(span.header.baseOffset + span.header.lastOffsetDelta).toBeGreaterThanOrEqual(from);
          outcomes.push('ok');
        } catch (err) {
          outcomes.push((err as Error).name);
        }
      }
    })();
    await log.truncateTo(25);
    await log.truncateTo(7);
    stop = true;
    await reader;
    expect(log.state).toBe('online');
    expect(new Set(outcomes.filter((o) => o !== 'ok'))).toEqual(
      new Set(outcomes.some((o) => o !== 'ok') ? ['OffsetOutOfRangeError'] : []),
    );
    expect(log.logEndOffset).toBe(6);
  });

  it('survives an unclean reopen right after truncation', async () => {
    await log.truncateTo(33);
    await log.append(makeBatch({ count: 5 }));
    await log.close();
    await unlink(join(dir.path, '.clean-shutdown'));
    log = await openPartitionLog({ dir: dir.path, config });
    expect(log.logEndOffset).toBe(37);
    expect((await offsetsInLog()).slice(-2)).toEqual([30, 32]);
  });
});
