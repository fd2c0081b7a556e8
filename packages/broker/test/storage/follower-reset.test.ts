import { readdir, rm, truncate } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { splitBatches } from '@samsa/protocol';
import { openPartitionLog, type PartitionLog, UnexpectedAppendOffsetError } from '@samsa/broker/internal';
import { makeBatch, tempDir } from './helpers.js';

/**
 * A follower reset to its leader's log start, when that start lies inside a batch (DeleteRecords to
 * any offset, retention, compaction): the leader answers from the batch's base, and the follower's
 * empty log must take it (REPLICATION.md, the follower's reset), or it never copies again.
 */
describe('follower append at a log start inside the first batch', () => {
  let dir: { path: string; remove: () => Promise<void> };
  let log: PartitionLog;
  const config = { segmentBytes: 4_000, indexIntervalBytes: 64 };
  beforeEach(async () => {
    dir = await tempDir();
    log = await openPartitionLog({ dir: dir.path, config });
  });
  afterEach(async () => {
    await log.close();
    await dir.remove();
  });

  const baseOffsets = async (from: number): Promise<number[]> =>
    splitBatches((await log.read(from, 1 << 20)).bytes).map((s) => s.header.baseOffset);

  it('restarts the empty log at the batch base, keeps the start, and goes on copying', async () => {
    for (let i = 0; i < 3; i++) await log.append(makeBatch({ count: 10, fill: 0x20 + i }));
    await log.resetTo(105); // the leader's start, in the middle of its batch 100-109
    await log.appendAsFollower(makeBatch({ count: 10, baseOffset: 100, leaderEpoch: 3, fill: 0x30 }));
    expect({ start: log.logStartOffset, saved: log.savedLogStartOffset, end: log.logEndOffset }).toEqual({
      start: 105,
      saved: 105,
      end: 110,
    });
    // As on the leader: the batch is read whole from the start; the records below it are not readable.
    expect(await baseOffsets(105)).toEqual([100]);
    await expect(log.read(104, 1 << 20)).rejects.toMatchObject({ errorName: 'OffsetOutOfRange' });
    await log.appendAsFollower(makeBatch({ count: 10, baseOffset: 110, leaderEpoch: 3, fill: 0x31 }));
    expect(await baseOffsets(105)).toEqual([100, 110]);

    await log.close();
    log = await openPartitionLog({ dir: dir.path, config });
    expect({ start: log.logStartOffset, end: log.logEndOffset }).toEqual({ start: 105, end: 120 });
    expect(await baseOffsets(105)).toEqual([100, 110]);
  });

  it('refuses a batch below the end of a log not empty, or one that does not hold the start', async () => {
    await log.resetTo(105);
    // Wholly below the start: not the batch that holds it.
    await expect(log.appendAsFollower(makeBatch({ count: 5, baseOffset: 100 }))).rejects.toBeInstanceOf(
      UnexpectedAppendOffsetError,
    );
    expect({ start: log.logStartOffset, end: log.logEndOffset }).toEqual({ start: 105, end: 105 });
    await log.appendAsFollower(makeBatch({ count: 10, baseOffset: 100 }));
    // Not empty any more: a batch below the end is refused as ever.
    await expect(log.appendAsFollower(makeBatch({ count: 10, baseOffset: 100 }))).rejects.toBeInstanceOf(
      UnexpectedAppendOffsetError,
    );
    expect({ start: log.logStartOffset, end: log.logEndOffset }).toEqual({ start: 105, end: 110 });
  });

  it('reopens, after a crash between the restart and the write, as the empty log at the start', async () => {
    await log.resetTo(105);
    await log.appendAsFollower(makeBatch({ count: 10, baseOffset: 100 }));
    await log.close();
    // What the restart leaves before the batch is written: the segment at 100, empty, the start file at 105.
    const names = await readdir(dir.path);
    await truncate(join(dir.path, names.find((n) => n.endsWith('.log'))!), 0);
    for (const name of names)
      if (name.endsWith('.index') || name.endsWith('.timeindex')) await rm(join(dir.path, name));
    await rm(join(dir.path, '.clean-shutdown'), { force: true });
    log = await openPartitionLog({ dir: dir.path, config });
    expect({ start: log.logStartOffset, end: log.logEndOffset }).toEqual({ start: 105, end: 105 });
    await log.appendAsFollower(makeBatch({ count: 10, baseOffset: 100 }));
    expect({ start: log.logStartOffset, end: log.logEndOffset }).toEqual({ start: 105, end: 110 });
  });

  it('a truncation cutting the batch that holds the start keeps the start: the empty log at it', async () => {
    for (let i = 0; i < 3; i++) await log.append(makeBatch({ count: 10, fill: 0x20 + i }));
    await log.deleteRecordsBefore(15); // inside batch 10-19
    // Divergence at 17: the cut goes before the batch (to 10), below the start. Without keeping the start it
    // followed the end back to 10, saved, and a follower stated 10 where it had stated 15.
    await log.truncateTo(17);
    const state = () => ({ start: log.logStartOffset, saved: log.savedLogStartOffset, end: log.logEndOffset });
    expect(state()).toEqual({ start: 15, saved: 15, end: 15 });
    await expect(log.read(12, 1 << 20)).rejects.toMatchObject({ errorName: 'OffsetOutOfRange' });
    // The leader sends the batch holding the start from its base: the empty log restarts below its start.
    await log.appendAsFollower(makeBatch({ count: 10, baseOffset: 10, leaderEpoch: 2, fill: 0x40 }));
    expect(state()).toEqual({ start: 15, saved: 15, end: 20 });
    await log.close();
    log = await openPartitionLog({ dir: dir.path, config });
    expect(state()).toEqual({ start: 15, saved: 15, end: 20 });
    expect(await baseOffsets(15)).toEqual([10]);
  });
});
