/**
 * Moving a replica's log start offset forward: DeleteRecords on the leader, a follower adopting its
 * leader's start from a fetch answer (Kafka's maybeIncrementLogStartOffset, KIP-107), and retention.
 * Each moves the log and then the epoch cache (truncateFromStart), so the cache's first entry does
 * not point below the saved log start: a leader answering a follower's epoch query from a cache that
 * still names deleted offsets would send it to records that are gone.
 *
 * A start counts for DeleteRecords only once it is saved (ReplicaLog.savedLogStartOffset): the log
 * moves it in memory first and saves it beside its append chain (retention, by deleting the segment
 * files below it), and a crash in between brings the records back. So a follower states its saved
 * start, compares the leader's with it, and a leader's term counts its own saved start.
 */
import type { Replica } from './replica.js';

/**
 * The log start a follower takes from its leader's fetch answer, or undefined to keep its own: the
 * leader's, but never past the follower's high watermark (Kafka refuses a start above it), so only
 * committed records are deleted and the log keeps what the next fetch needs. `own` is the saved
 * start, or a start already being saved for the leader: one moved in memory only (retention) is
 * then saved too (the follower driver does not wait for the save; its fetches state the saved start
 * and the unsaved one, which keeps the leader from answering them at once, in a loop).
 */
export function adoptedLogStart(own: number, leaderLogStart: number, highWatermark: number): number | undefined {
  const target = Math.min(leaderLogStart, highWatermark);
  return target > own ? target : undefined;
}

/**
 * After the log's start moved (by this module, or retention's deleteOldSegments): the epoch cache
 * forgets what lies below it (saved when it changed), and a leader's term counts the new start in
 * its low watermark. Returns whether that low watermark changed (wake DeleteRecords waiters).
 *
 * The cache is clamped to the saved start, not the one in memory, which a later move may have put
 * past it (a follower adopts without waiting for the save): a cache saved clamped past the saved
 * start leaves, after a crash, the records between the two with no epoch, and this replica, as
 * leader, would tell a stale follower that an older epoch ends at the clamped offset instead of
 * where it ended, so the follower keeps records that diverge. That later move clamps it in turn.
 */
export async function afterLogStartMoved<R extends Replica>(
  replica: R,
  saveEpochCache: (replica: R) => Promise<void>,
): Promise<boolean> {
  const start = replica.log.savedLogStartOffset;
  if (replica.epochCache.truncateFromStart(start)) await saveEpochCache(replica);
  return replica.leaderState?.onLocalLogStart(replica.log.savedLogStartOffset).lowWatermark !== undefined;
}

/**
 * Moves the log start up to `offset` (durably: also a start already there in memory is saved first),
 * then the epoch cache; returns afterLogStartMoved's answer.
 */
export async function moveLogStart<R extends Replica>(
  replica: R,
  offset: number,
  saveEpochCache: (replica: R) => Promise<void>,
): Promise<boolean> {
  await replica.log.deleteRecordsBefore(offset);
  return afterLogStartMoved(replica, saveEpochCache);
}
