import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openPartitionLog, type PartitionLog } from '@samsa/broker/internal';
import { makeBatch, tempDir } from './helpers.js';

/** ListOffsets MAX_TIMESTAMP (KIP-734) at the log: the first record with the largest timestamp. */
describe('Log.offsetForMaxTimestamp', () => {
  let dir: Awaited<ReturnType<typeof tempDir>>;
  let log: PartitionLog;

  beforeEach(async () => {
    dir = await tempDir();
    // Small segments: the largest timestamp is in a middle segment, and later ones are smaller.
    log = await openPartitionLog({ dir: dir.path, config: { segmentBytes: 400, indexIntervalBytes: 50 } });
  });

  afterEach(async () => {
    await log.close();
    await dir.remove();
  });

  it('is undefined for an empty log', async () => {
    expect(await log.offsetForMaxTimestamp()).toBeUndefined();
  });

  it('finds the first record of the largest timestamp across segments, inside its batch', async () => {
    const timestamps = [
      [1_000, 1_100],
      [1_200, 1_300],
      [2_000, 9_000, 9_000],
      [3_000],
      [9_000],
      [4_000, 5_000],
      [6_000],
    ];
    for (const ts of timestamps) await log.append(makeBatch({ count: ts.length, timestamps: ts, valueSize: 60 }));
    expect(log.segmentCount).toBeGreaterThan(2);
    // Offsets: 0-1, 2-3, 4-6 (9000 first at 5), 7, 8 (9000 again), 9-10, 11.
    expect(await log.offsetForMaxTimestamp()).toEqual({ offset: 5, timestamp: 9_000 });
    // Records before the log start do not count.
    await log.deleteRecordsBefore(7);
    expect(await log.offsetForMaxTimestamp()).toEqual({ offset: 8, timestamp: 9_000 });
  });
});
