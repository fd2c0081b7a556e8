/**
 * Keeping the epoch cache in step with the log: every appended batch carries its leader epoch in
 * the header (partitionLeaderEpoch, outside the CRC). Pure; the driver calls it after each append.
 */
import { splitBatches } from '@samsa/protocol';
import type { LeaderEpochCache } from './epoch-cache.js';

/**
 * Records the epoch of every batch in `stampedBatches` (as appended: base offsets and epochs
 * stamped) that starts a new epoch. Ordering rule: call it after the append succeeded and after any
 * truncation was applied to the cache too; save the cache (saveEpochCache) when it returns true.
 * Batches without an epoch (-1, pre-KIP-101 format) are skipped.
 */
export function assignEpochsFromBatches(cache: LeaderEpochCache, stampedBatches: Buffer): boolean {
  let changed = false;
  for (const { header } of splitBatches(stampedBatches, { verifyCrc: false })) {
    if (header.partitionLeaderEpoch < 0) continue;
    if (cache.assign(header.partitionLeaderEpoch, header.baseOffset)) changed = true;
  }
  return changed;
}
