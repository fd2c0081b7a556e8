/**
 * Keeping the epoch cache in step with the log: every appended batch carries its leader epoch in
 * the header (partitionLeaderEpoch, outside the CRC). Pure; the driver calls it after each append.
 */
import { BatchField, forEachBatchAt, readInt64AsNumber } from '@samsa/protocol';
import type { LeaderEpochCache } from './epoch-cache.js';

/**
 * Records the epoch of every batch in `stampedBatches` (as appended: base offsets and epochs
 * stamped) that starts a new epoch. Ordering rule: call it after the append succeeded and after any
 * truncation was applied to the cache too; save the cache (saveEpochCache) when it returns true.
 * Batches without an epoch (-1, pre-KIP-101 format) are skipped.
 */
export function assignEpochsFromBatches(cache: LeaderEpochCache, stampedBatches: Buffer): boolean {
  // A walk of the framing reading two fields, not a parse of every header: the log checked these
  // batches as it appended them, and a follower calls this for every fetch answer it copies. Only a
  // batch newer than the latest epoch changes the cache (assign ignores the others), so only its
  // base offset is read.
  let changed = false;
  forEachBatchAt(stampedBatches, BatchField.partitionLeaderEpoch + 4, (pos) => {
    const epoch = stampedBatches.readInt32BE(pos + BatchField.partitionLeaderEpoch);
    if (epoch >= 0 && epoch > cache.latestEpoch) {
      const baseOffset = readInt64AsNumber(stampedBatches, pos + BatchField.baseOffset, 'baseOffset');
      if (cache.assign(epoch, baseOffset)) changed = true;
    }
    return undefined;
  });
  return changed;
}
