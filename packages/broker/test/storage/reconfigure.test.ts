import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openPartitionLog } from '@samsa/broker/internal';
import { makeBatch, ManualClock, tempDir } from './helpers.js';

/** IncrementalAlterConfigs reaches an open log through reconfigure(), without reopening it. */
describe('PartitionLog.reconfigure', () => {
  let dir: { path: string; remove: () => Promise<void> };
  beforeEach(async () => {
    dir = await tempDir();
  });
  afterEach(async () => {
    await dir.remove();
  });

  it('a lower retention.bytes or retention.ms deletes old segments at the next retention check', async () => {
    const clock = new ManualClock(1_000_000);
    const log = await openPartitionLog({ dir: dir.path, clock: clock.now, config: { segmentBytes: 250 } });
    for (const ts of [100, 200, 300, 400, 999_000])
      await log.append(makeBatch({ count: 1, valueSize: 150, baseTimestamp: ts }));
    expect(log.segmentCount).toBe(5);
    expect(await log.deleteOldSegments()).toBe(0);
    log.reconfigure({ retentionBytes: 600 });
    expect(log.config.retentionBytes).toBe(600);
    expect(await log.deleteOldSegments()).toBe(2);
    expect(log.segmentBaseOffsets()).toEqual([2, 3, 4]);
    log.reconfigure({ retentionMs: 10_000 });
    expect(log.config.retentionBytes).toBe(600); // the earlier change stays
    expect(await log.deleteOldSegments()).toBe(2);
    expect(log.segmentBaseOffsets()).toEqual([4]);
    await log.close();
  });

  it('segment.bytes applies from the next roll; max.message.bytes at the next append', async () => {
    const batch = makeBatch({ count: 2, valueSize: 100 });
    const log = await openPartitionLog({ dir: dir.path, config: { segmentBytes: batch.length * 10 } });
    for (let i = 0; i < 3; i++) await log.append(makeBatch({ count: 2, valueSize: 100 }));
    expect(log.segmentCount).toBe(1);
    log.reconfigure({ segmentBytes: batch.length * 4 });
    await log.append(makeBatch({ count: 2, valueSize: 100 }));
    await log.append(makeBatch({ count: 2, valueSize: 100 }));
    expect(log.segmentBaseOffsets()).toEqual([0, 8]);
    log.reconfigure({ maxMessageBytes: 100 });
    await expect(log.append(makeBatch({ count: 2, valueSize: 100 }))).rejects.toThrow(/maxMessageBytes 100/);
    log.reconfigure({ maxMessageBytes: 1_000_000 });
    await log.append(makeBatch({ count: 2, valueSize: 100 }));
    expect(log.logEndOffset).toBe(12);
    await log.close();
  });

  it('cleanup.policy compact makes the log one the cleaner works on', async () => {
    const log = await openPartitionLog({ dir: dir.path });
    expect(log.compacted).toBe(false);
    log.reconfigure({ cleanupPolicy: 'compact', minCleanableDirtyRatio: 0.1, deleteRetentionMs: 5 });
    expect(log.compacted).toBe(true);
    expect(log.compactionConfig).toMatchObject({ minCleanableDirtyRatio: 0.1, deleteRetentionMs: 5 });
    await log.close();
  });

  it('refuses a bad value and keeps the settings it had', async () => {
    const log = await openPartitionLog({ dir: dir.path, config: { retentionMs: 5000 } });
    expect(() => log.reconfigure({ retentionMs: -7 })).toThrow(RangeError);
    expect(log.config.retentionMs).toBe(5000);
    await log.close();
  });
});
