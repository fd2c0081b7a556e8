import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { BatchField, readBatchHeader, splitBatches } from '@samsa/protocol';
import {
  OffsetOutOfRangeError,
  openPartitionLog,
  UnexpectedAppendOffsetError,
  type PartitionLog,
} from '@samsa/broker/internal';
import { makeBatch, ManualClock, tempDir } from './helpers.js';

describe('partition log: append and read', () => {
  let dir: { path: string; remove: () => Promise<void> };
  let log: PartitionLog;
  beforeEach(async () => {
    dir = await tempDir();
    log = await openPartitionLog({ dir: dir.path });
  });
  afterEach(async () => {
    await log.close();
    await dir.remove();
  });

  it('assigns offsets, stamps the leader epoch and reads the same bytes back', async () => {
    const a = makeBatch({ count: 3 });
    const b = makeBatch({ count: 2, fill: 0x7a });
    expect(await log.append(a, { leaderEpoch: 5 })).toMatchObject({ baseOffset: 0, lastOffset: 2, recordCount: 3 });
    expect(await log.append(b, { leaderEpoch: 6 })).toMatchObject({ baseOffset: 3, lastOffset: 4 });
    expect(log.logEndOffset).toBe(5);
    const result = await log.read(0, 1 << 20);
    expect(result.bytes.equals(Buffer.concat([a, b]))).toBe(true);
    expect(result).toMatchObject({ firstOffset: 0, lastOffset: 4, logStartOffset: 0, logEndOffset: 5 });
    const spans = splitBatches(result.bytes);
    expect(spans.map((s) => [s.header.baseOffset, s.header.partitionLeaderEpoch])).toEqual([
      [0, 5],
      [3, 6],
    ]);
  });

  it('accepts several concatenated batches in one append', async () => {
    const bytes = Buffer.concat([makeBatch({ count: 2 }), makeBatch({ count: 4 }), makeBatch({ count: 1 })]);
    expect(await log.append(bytes)).toMatchObject({ baseOffset: 0, lastOffset: 6, recordCount: 7 });
    expect(splitBatches((await log.read(0, 1 << 20)).bytes).map((s) => s.header.baseOffset)).toEqual([0, 2, 6]);
  });

  it('a read inside a batch returns the whole batch; the first batch even if larger than maxBytes', async () => {
    const big = makeBatch({ count: 10, valueSize: 100 });
    await log.append(big);
    await log.append(makeBatch({ count: 1 }));
    const inside = await log.read(4, 10);
    expect(inside.bytes.length).toBe(big.length);
    expect(inside).toMatchObject({ firstOffset: 0, lastOffset: 9 });
    const both = await log.read(4, 1 << 20);
    expect(splitBatches(both.bytes)).toHaveLength(2);
  });

  it('maxBytes limits the reply to whole batches', async () => {
    for (let i = 0; i < 10; i++) await log.append(makeBatch({ count: 1, valueSize: 50 }));
    const one = makeBatch({ count: 1, valueSize: 50 }).length;
    const result = await log.read(0, one * 3 + one / 2);
    expect(splitBatches(result.bytes)).toHaveLength(3);
    expect(result.lastOffset).toBe(2);
  });

  it('maxOffset (the high watermark) is an exclusive upper bound', async () => {
    for (let i = 0; i < 5; i++) await log.append(makeBatch({ count: 2 }));
    const result = await log.read(0, 1 << 20, { maxOffset: 6 });
    expect(result.lastOffset).toBe(5);
    expect((await log.read(6, 1 << 20, { maxOffset: 6 })).bytes.length).toBe(0);
  });

  it('reading at the log end is empty; outside the range is OffsetOutOfRange', async () => {
    await log.append(makeBatch({ count: 2 }));
    const atEnd = await log.read(2, 100);
    expect(atEnd.bytes.length).toBe(0);
    expect(atEnd.firstOffset).toBe(-1);
    await expect(log.read(3, 100)).rejects.toBeInstanceOf(OffsetOutOfRangeError);
    await expect(log.read(-1, 100)).rejects.toMatchObject({ code: 1, errorName: 'OffsetOutOfRange' });
  });

  it('concurrent appends are serialized in call order', async () => {
    const results = await Promise.all(
      Array.from({ length: 50 }, (_, i) => log.append(makeBatch({ count: 1 + (i % 3) }))),
    );
    let next = 0;
    for (const r of results) {
      expect(r.baseOffset).toBe(next);
      next = r.lastOffset + 1;
    }
    expect(log.logEndOffset).toBe(next);
    const spans = splitBatches((await log.read(0, 1 << 24)).bytes);
    expect(spans.map((s) => s.header.baseOffset)).toEqual(results.map((r) => r.baseOffset));
  });

  it('follower appends keep the leader offsets and must not go back (a gap is a compacted leader)', async () => {
    await log.appendAsFollower(
      Buffer.concat([
        makeBatch({ count: 2, baseOffset: 0, leaderEpoch: 3 }),
        makeBatch({ count: 3, baseOffset: 2, leaderEpoch: 4 }),
      ]),
    );
    expect(log.logEndOffset).toBe(5);
    await expect(log.appendAsFollower(makeBatch({ count: 1, baseOffset: 4 }))).rejects.toBeInstanceOf(
      UnexpectedAppendOffsetError,
    );
    await expect(
      log.appendAsFollower(Buffer.concat([makeBatch({ baseOffset: 5 }), makeBatch({ baseOffset: 5 })])),
    ).rejects.toBeInstanceOf(UnexpectedAppendOffsetError);
    await log.appendAsFollower(makeBatch({ count: 1, baseOffset: 5, leaderEpoch: 4 }));
    await log.appendAsFollower(makeBatch({ count: 1, baseOffset: 9, leaderEpoch: 4 }));
    expect(log.logEndOffset).toBe(10);
    const headers = splitBatches((await log.read(0, 1 << 20)).bytes).map((s) => [
      s.header.baseOffset,
      s.header.partitionLeaderEpoch,
    ]);
    expect(headers).toEqual([
      [0, 3],
      [2, 4],
      [5, 4],
      [9, 4],
    ]);
  });
});

describe('partition log: segments and reopening', () => {
  it('keeps offsets across many segments and across a clean reopen', async () => {
    const dir = await tempDir();
    try {
      const config = { segmentBytes: 1000, indexIntervalBytes: 100 };
      let log = await openPartitionLog({ dir: dir.path, config });
      const appended: Buffer[] = [];
      for (let i = 0; i < 60; i++) {
        const batch = makeBatch({ count: 1 + (i % 4), valueSize: 20 + i, fill: i });
        await log.append(batch);
        appended.push(batch);
      }
      expect(log.segmentCount).toBeGreaterThan(5);
      const end = log.logEndOffset;
      await log.close();
      log = await openPartitionLog({ dir: dir.path, config });
      expect(log.logEndOffset).toBe(end);
      // Every batch is readable from each of its offsets.
      let offset = 0;
      for (const batch of appended) {
        const header = readBatchHeader(batch);
        const last = offset + header.lastOffsetDelta;
        for (const from of [offset, last]) {
          const result = await log.read(from, 1);
          expect(result.firstOffset).toBe(offset);
          expect(result.bytes.equals(batch)).toBe(true);
        }
        offset = last + 1;
      }
      expect((await log.append(makeBatch())).baseOffset).toBe(end);
      await log.close();
    } finally {
      await dir.remove();
    }
  });

  it('reads every segment while keeping only maxOpenInactiveSegments of them open', async () => {
    const dir = await tempDir();
    const config = { segmentBytes: 300, maxOpenInactiveSegments: 1 };
    const log = await openPartitionLog({ dir: dir.path, config });
    try {
      for (let i = 0; i < 30; i++) await log.append(makeBatch({ count: 1, valueSize: 100, fill: i }));
      expect(log.segmentCount).toBeGreaterThan(10);
      // Concurrent reads across all segments, twice, so evicted segments are reopened.
      for (let pass = 0; pass < 2; pass++) {
        const reads = await Promise.all(Array.from({ length: 30 }, (_, offset) => log.read(offset, 1)));
        reads.forEach((r, offset) => {
          expect(r.firstOffset).toBe(offset);
          expect(r.bytes.equals(makeBatch({ count: 1, valueSize: 100, fill: offset, baseOffset: offset }))).toBe(true);
        });
      }
    } finally {
      await log.close();
      await dir.remove();
    }
  });

  it('LogAppendTime stamps the broker clock and keeps the CRC valid', async () => {
    const dir = await tempDir();
    const clock = new ManualClock(5_000_000);
    const log = await openPartitionLog({
      dir: dir.path,
      clock: clock.now,
      config: { messageTimestampType: 'LogAppendTime' },
    });
    try {
      const result = await log.append(makeBatch({ count: 2, baseTimestamp: 10 }));
      expect(result.logAppendTimeMs).toBe(5_000_000);
      const bytes = (await log.read(0, 1000)).bytes;
      const [span] = splitBatches(bytes);
      expect(span!.header.maxTimestamp).toBe(5_000_000);
      expect(bytes.readInt16BE(BatchField.attributes) & 0x08).toBe(0x08);
    } finally {
      await log.close();
      await dir.remove();
    }
  });
});
