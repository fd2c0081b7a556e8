import { mkdir, readdir, rm, rmdir } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { KafkaStorageError, OffsetOutOfRangeError, openPartitionLog } from '@samsa/broker/internal';
import { makeBatch, ManualClock, tempDir } from './helpers.js';

describe('segment roll and retention', () => {
  let dir: { path: string; remove: () => Promise<void> };
  beforeEach(async () => {
    dir = await tempDir();
  });
  afterEach(async () => {
    await dir.remove();
  });

  it('rolls by size before a segment would exceed segmentBytes, naming files by base offset', async () => {
    const batch = makeBatch({ count: 2, valueSize: 100 });
    const log = await openPartitionLog({ dir: dir.path, config: { segmentBytes: batch.length * 3 } });
    for (let i = 0; i < 7; i++) await log.append(makeBatch({ count: 2, valueSize: 100 }));
    expect(log.segmentBaseOffsets()).toEqual([0, 6, 12]);
    await log.close();
    const logs = (await readdir(dir.path)).filter((n) => n.endsWith('.log')).sort();
    expect(logs).toEqual(['00000000000000000000.log', '00000000000000000006.log', '00000000000000000012.log']);
    const indexes = (await readdir(dir.path)).filter((n) => n.endsWith('.index') || n.endsWith('.timeindex'));
    expect(indexes).toHaveLength(6);
  });

  it('rolls by age (segmentMs) on the injected clock, never an empty segment', async () => {
    const clock = new ManualClock();
    const log = await openPartitionLog({ dir: dir.path, clock: clock.now, config: { segmentMs: 60_000 } });
    await log.append(makeBatch());
    clock.advance(59_999);
    await log.append(makeBatch());
    expect(log.segmentCount).toBe(1);
    clock.advance(1);
    await log.append(makeBatch());
    expect(log.segmentBaseOffsets()).toEqual([0, 2]);
    clock.advance(120_000);
    await log.append(makeBatch());
    expect(log.segmentBaseOffsets()).toEqual([0, 2, 3]);
    await log.close();
  });

  it('deletes whole segments older than retentionMs by their largest timestamp, never the active one', async () => {
    const clock = new ManualClock(1_000_000);
    const log = await openPartitionLog({
      dir: dir.path,
      clock: clock.now,
      config: { retentionMs: 10_000, segmentBytes: 250 },
    });
    // Segment timestamps: old, old, recent, then the active one (also old).
    for (const ts of [100, 200, 300, 400]) await log.append(makeBatch({ count: 1, valueSize: 150, baseTimestamp: ts }));
    await log.append(makeBatch({ count: 1, valueSize: 150, baseTimestamp: 995_000 }));
    await log.append(makeBatch({ count: 1, valueSize: 150, baseTimestamp: 500 }));
    expect(log.segmentCount).toBe(6);
    expect(await log.deleteOldSegments()).toBe(4);
    expect(log.logStartOffset).toBe(4);
    expect(log.segmentBaseOffsets()).toEqual([4, 5]);
    await expect(log.read(0, 100)).rejects.toBeInstanceOf(OffsetOutOfRangeError);
    expect((await log.read(4, 1000)).firstOffset).toBe(4);
    clock.advance(1_000_000);
    // Everything is expired now, but the active segment stays.
    expect(await log.deleteOldSegments()).toBe(1);
    expect(log.segmentBaseOffsets()).toEqual([5]);
    expect(log.logStartOffset).toBe(5);
    await log.close();
    const reopened = await openPartitionLog({ dir: dir.path, clock: clock.now });
    expect(reopened.logStartOffset).toBe(5);
    expect(reopened.logEndOffset).toBe(6);
    await reopened.close();
  });

  it('deletes the oldest segments while the log is larger than retentionBytes', async () => {
    const size = makeBatch({ count: 1, valueSize: 200 }).length;
    const log = await openPartitionLog({
      dir: dir.path,
      config: { retentionBytes: size * 3, segmentBytes: size * 2, retentionMs: -1 },
    });
    for (let i = 0; i < 9; i++) await log.append(makeBatch({ count: 1, valueSize: 200 }));
    // Segments of two batches: [0,1] [2,3] [4,5] [6,7] [8]; 9 batches, 3 allowed.
    expect(log.segmentBaseOffsets()).toEqual([0, 2, 4, 6, 8]);
    expect(await log.deleteOldSegments()).toBe(3);
    expect(log.segmentBaseOffsets()).toEqual([6, 8]);
    expect(log.sizeInBytes).toBeLessThanOrEqual(size * 3);
    expect(log.logStartOffset).toBe(6);
    expect(await log.deleteOldSegments()).toBe(0);
    await log.close();
  });

  it('deletes only segments wholly below maxOffset (the broker passes the high watermark, as Kafka)', async () => {
    const size = makeBatch({ count: 1, valueSize: 200 }).length;
    const log = await openPartitionLog({
      dir: dir.path,
      config: { retentionBytes: size, segmentBytes: size * 2, retentionMs: -1 },
    });
    for (let i = 0; i < 9; i++) await log.append(makeBatch({ count: 1, valueSize: 200 }));
    expect(log.segmentBaseOffsets()).toEqual([0, 2, 4, 6, 8]);
    // Offsets 3 and up are not committed: [2,3] and everything after it stay.
    expect(await log.deleteOldSegments(3)).toBe(1);
    expect(log.segmentBaseOffsets()).toEqual([2, 4, 6, 8]);
    expect(await log.deleteOldSegments(6)).toBe(2);
    expect(log.logStartOffset).toBe(6);
    expect(await log.deleteOldSegments()).toBe(1);
    expect(log.segmentBaseOffsets()).toEqual([8]);
    await log.close();
  });

  it('deleteRecordsBefore advances the log start offset durably and deletes whole segments below it', async () => {
    const size = makeBatch({ count: 2, valueSize: 100 }).length;
    let log = await openPartitionLog({ dir: dir.path, config: { segmentBytes: size * 2 } });
    for (let i = 0; i < 6; i++) await log.append(makeBatch({ count: 2, valueSize: 100, baseTimestamp: 100 + i }));
    expect(log.segmentBaseOffsets()).toEqual([0, 4, 8]);
    expect(await log.deleteRecordsBefore(5)).toBe(5);
    expect(log.logStartOffset).toBe(5);
    expect(log.segmentBaseOffsets()).toEqual([4, 8]);
    await expect(log.read(4, 100)).rejects.toBeInstanceOf(OffsetOutOfRangeError);
    // The batch holding 5 (4..5) comes back whole, as in Kafka.
    expect((await log.read(5, 1)).firstOffset).toBe(4);
    expect((await log.offsetForTimestamp(0))?.offset).toBe(5);
    expect(await log.deleteRecordsBefore(3)).toBe(5);
    await expect(log.deleteRecordsBefore(13)).rejects.toBeInstanceOf(OffsetOutOfRangeError);
    await log.close();
    log = await openPartitionLog({ dir: dir.path, config: { segmentBytes: size * 2 } });
    expect(log.logStartOffset).toBe(5);
    // Truncating below the start empties the log and restarts it there.
    await log.truncateTo(5);
    expect([log.logStartOffset, log.logEndOffset, log.segmentBaseOffsets()]).toEqual([5, 5, [5]]);
    await log.close();
    log = await openPartitionLog({ dir: dir.path });
    expect([log.logStartOffset, log.logEndOffset]).toEqual([5, 5]);
    await log.close();
  });

  it('a log-start save that fails takes the log offline: no later step states a start a crash would undo', async () => {
    // Before: the start stayed moved in memory, its segments out of the set but their files on disk,
    // and retention, deleting the next segment, marked the start past it saved: a follower stated it
    // (DeleteRecords counted it) while a restart found the first segment file and its records again.
    const size = makeBatch({ count: 2, valueSize: 100 }).length;
    const config = { segmentBytes: size * 2, retentionBytes: size * 2, retentionMs: -1 };
    let log = await openPartitionLog({ dir: dir.path, config });
    for (let i = 0; i < 6; i++) await log.append(makeBatch({ count: 2, valueSize: 100 }));
    expect(log.segmentBaseOffsets()).toEqual([0, 4, 8]);
    // The atomic write's temporary file cannot be made (as ENOSPC or EIO would).
    await mkdir(join(dir.path, 'log-start-offset.tmp'));
    await expect(log.deleteRecordsBefore(5)).rejects.toBeInstanceOf(KafkaStorageError);
    expect(log.state).toBe('offline');
    await rmdir(join(dir.path, 'log-start-offset.tmp'));
    await log.deleteOldSegments().catch(() => 0);
    await log.deleteRecordsBefore(5).catch(() => 0);
    const stated = log.savedLogStartOffset;
    await log.abandon();
    log = await openPartitionLog({ dir: dir.path, config });
    // What the log stated as saved holds after the crash: nothing below it is readable.
    expect(log.logStartOffset).toBeGreaterThanOrEqual(stated);
    await log.close();
  });

  it("retention's failed deletion takes the log offline: a later one counts no start past a file left", async () => {
    // Before: the log stayed online with the start moved past files still on disk, and the next
    // retention, deleting one more segment, took the start past it as saved (the first file left).
    const size = makeBatch({ count: 2, valueSize: 100 }).length;
    const config = { segmentBytes: size * 2, retentionBytes: size * 4, retentionMs: -1 };
    let log = await openPartitionLog({ dir: dir.path, config });
    for (let i = 0; i < 8; i++) await log.append(makeBatch({ count: 2, valueSize: 100 }));
    expect(log.segmentBaseOffsets()).toEqual([0, 4, 8, 12]);
    await log.close(); // its rolled segments' indexes written: none is written again
    log = await openPartitionLog({ dir: dir.path, config });
    // Segment 0's time index cannot be unlinked (a directory in its place): 4's files stay on disk.
    const timeIndex = join(dir.path, '00000000000000000000.timeindex');
    await rm(timeIndex);
    await mkdir(join(timeIndex, 'x'), { recursive: true });
    await log.append(makeBatch({ count: 2, valueSize: 100 }));
    await log.append(makeBatch({ count: 2, valueSize: 100 }));
    expect(log.segmentBaseOffsets()).toEqual([0, 4, 8, 12, 16]);
    await expect(log.deleteOldSegments()).rejects.toBeInstanceOf(KafkaStorageError);
    expect(log.state).toBe('offline');
    await rm(timeIndex, { recursive: true });
    for (let i = 0; i < 4; i++) await log.append(makeBatch({ count: 2, valueSize: 100 })).catch(() => undefined);
    await log.deleteOldSegments().catch(() => 0);
    const stated = log.savedLogStartOffset;
    await log.abandon();
    log = await openPartitionLog({ dir: dir.path, config });
    expect(log.logStartOffset).toBeGreaterThanOrEqual(stated);
    await log.close();
  });

  it('rolls when the offset index is full (segmentIndexBytes)', async () => {
    const log = await openPartitionLog({ dir: dir.path, config: { segmentIndexBytes: 16, indexIntervalBytes: 0 } });
    for (let i = 0; i < 8; i++) await log.append(makeBatch());
    expect(log.segmentCount).toBeGreaterThan(1);
    for (let offset = 0; offset < 8; offset++) expect((await log.read(offset, 1)).firstOffset).toBe(offset);
    await log.close();
  });
});
