/**
 * Where a follower's log diverges from its leader's, decided from leader epochs (KIP-101, KIP-279),
 * and the leader-side check of a follower's fetch (KIP-320 fencing, KIP-595-style diverging epoch).
 * Pure functions: the fetch handler and the fetcher loop call them and do the I/O.
 *
 * The exchange, with the diverging-epoch fetch:
 *  1. The follower fetches with fetch_offset = its LEO, last_fetched_epoch = its epoch cache's latest
 *     epoch and current_leader_epoch = the epoch it follows.
 *  2. The leader runs validateFollowerFetch. If the follower's last epoch ends earlier on the leader
 *     (or the leader never had it), the answer is diverging_epoch {epoch, endOffset} and no records;
 *     the leader does not count such a fetch as an acknowledgement.
 *  3. The follower runs followerTruncation on that answer, truncates its log and epoch cache, and
 *     fetches again. When the answer was for an epoch the follower does not have (complete: false),
 *     the next fetch carries its new latest epoch, which is the re-query.
 */
import { ErrorCodes, type ErrorSpec } from '@samsa/protocol';
import { UNDEFINED_EPOCH, UNDEFINED_EPOCH_OFFSET, type EpochEndOffset, type EpochLookup } from './epoch-cache.js';

export interface TruncationDecision {
  /** Truncate the log and the epoch cache (truncateFromEnd) to this offset, even when it is the LEO. */
  readonly truncateTo: number;
  /**
   * false: the leader answered for an epoch this follower does not have; after truncating, ask again
   * with the follower's new latest epoch (the next fetch's last_fetched_epoch does that).
   */
  readonly complete: boolean;
}

export interface FollowerLogView {
  readonly epochCache: EpochLookup;
  readonly logEndOffset: number;
  readonly highWatermark: number;
}

/**
 * Kafka's follower truncation (AbstractFetcherThread.getOffsetTruncationState) for the leader's
 * `{epoch, endOffset}` answer about the follower's latest epoch:
 *  - UNDEFINED end offset: the leader cannot place the follower's history; fall back to the HW,
 *    below which the follower's records are committed and so also on the leader;
 *  - the follower has the leader's epoch: keep what both hold of it, min(leader's end, own end);
 *  - the follower lacks the leader's epoch: cut back to the end of the follower's largest epoch
 *    below it and ask again (not complete);
 *  - the follower has no epoch at or below it: trust the leader's end offset.
 * Never past the follower's own LEO.
 */
export function followerTruncation(leaderAnswer: EpochEndOffset, follower: FollowerLogView): TruncationDecision {
  const leo = follower.logEndOffset;
  if (leaderAnswer.endOffset === UNDEFINED_EPOCH_OFFSET) {
    return { truncateTo: Math.min(follower.highWatermark, leo), complete: true };
  }
  if (leaderAnswer.epoch === UNDEFINED_EPOCH) {
    return { truncateTo: Math.min(leaderAnswer.endOffset, leo), complete: true };
  }
  const own = follower.epochCache.endOffsetFor(leaderAnswer.epoch, leo);
  if (own.endOffset === UNDEFINED_EPOCH_OFFSET) {
    return { truncateTo: Math.min(leaderAnswer.endOffset, leo), complete: true };
  }
  if (own.epoch !== leaderAnswer.epoch) {
    return { truncateTo: Math.min(own.endOffset, leo), complete: false };
  }
  return { truncateTo: Math.min(own.endOffset, leaderAnswer.endOffset, leo), complete: true };
}

/** A follower's fetch as the leader receives it. -1 means "not given" for both epochs. */
export interface FollowerFetch {
  readonly fetchOffset: number;
  /** The leader epoch the follower believes current (KIP-320); -1 skips the check. */
  readonly currentLeaderEpoch: number;
  /** The follower's latest epoch (its epoch cache's); -1 (empty log) skips the divergence check. */
  readonly lastFetchedEpoch: number;
}

export interface LeaderLogView {
  readonly leaderEpoch: number;
  readonly epochCache: EpochLookup;
  readonly logStartOffset: number;
  readonly logEndOffset: number;
}

export type FetchValidation =
  /** Read from fetchOffset, then call LeaderState.onFollowerFetch(replicaId, fetchOffset, nowMs). */
  | { readonly kind: 'ok' }
  /** Answer with diverging_epoch and no records; do not count the fetch as an acknowledgement. */
  | { readonly kind: 'diverging'; readonly divergingEpoch: EpochEndOffset }
  | { readonly kind: 'error'; readonly error: ErrorSpec; readonly message: string };

/**
 * The leader's checks on a follower's fetch, in Kafka's order:
 *  1. fencing: current_leader_epoch older than ours is FencedLeaderEpoch (the follower must refresh
 *     metadata), newer is UnknownLeaderEpoch (we have not heard of the new epoch yet);
 *  2. divergence: look up where the follower's last epoch ends here; if that is before its fetch
 *     offset, or our answer is an older epoch (we never had its epoch), it diverged;
 *  3. range: an offset outside [logStartOffset, logEndOffset] is OffsetOutOfRange;
 *  4. history: a follower whose last epoch is older than every epoch we still have (retention
 *     deleted them) passed step 2 only by fetching exactly at our log start, and nothing it holds can
 *     be checked against our history. Kafka accepts it ("may be inaccurate"), and it could then join
 *     the ISR holding records that differ from the deleted committed ones. Here it is
 *     OffsetOutOfRange too: the follower restarts its log empty at our log start.
 *
 * The follower's rule for OffsetOutOfRange: when its fetch offset is at or below the leader's
 * log_start_offset, truncate fully and start at log_start_offset (Kafka's truncateFullyAndStartAt),
 * clearing the epoch cache.
 */
export function validateFollowerFetch(fetch: FollowerFetch, leader: LeaderLogView): FetchValidation {
  if (fetch.currentLeaderEpoch !== -1 && fetch.currentLeaderEpoch < leader.leaderEpoch) {
    return {
      kind: 'error',
      error: ErrorCodes.FENCED_LEADER_EPOCH,
      message: `leader epoch ${fetch.currentLeaderEpoch} is older than ${leader.leaderEpoch}`,
    };
  }
  if (fetch.currentLeaderEpoch > leader.leaderEpoch) {
    return {
      kind: 'error',
      error: ErrorCodes.UNKNOWN_LEADER_EPOCH,
      message: `leader epoch ${fetch.currentLeaderEpoch} is newer than ${leader.leaderEpoch}`,
    };
  }
  if (fetch.lastFetchedEpoch !== UNDEFINED_EPOCH) {
    const end = leader.epochCache.endOffsetFor(fetch.lastFetchedEpoch, leader.logEndOffset);
    if (end.endOffset < fetch.fetchOffset || end.epoch < fetch.lastFetchedEpoch) {
      return { kind: 'diverging', divergingEpoch: { epoch: end.epoch, endOffset: end.endOffset } };
    }
  }
  if (fetch.fetchOffset < leader.logStartOffset || fetch.fetchOffset > leader.logEndOffset) {
    return {
      kind: 'error',
      error: ErrorCodes.OFFSET_OUT_OF_RANGE,
      message: `fetch offset ${fetch.fetchOffset} is outside [${leader.logStartOffset}, ${leader.logEndOffset}]`,
    };
  }
  if (fetch.lastFetchedEpoch !== UNDEFINED_EPOCH && fetch.lastFetchedEpoch < leader.epochCache.earliestEpoch) {
    return {
      kind: 'error',
      error: ErrorCodes.OFFSET_OUT_OF_RANGE,
      message:
        `epoch ${fetch.lastFetchedEpoch} predates this log's history (epochs from ` +
        `${leader.epochCache.earliestEpoch}, log start ${leader.logStartOffset})`,
    };
  }
  return { kind: 'ok' };
}

/**
 * The follower's HW after a fetch response: the leader's HW, but never past its own LEO (it may not
 * have those records yet) and never backwards (a new leader may still report an older HW).
 */
export function followerHighWatermark(
  currentHighWatermark: number,
  leaderHighWatermark: number,
  logEndOffset: number,
): number {
  return Math.min(Math.max(currentHighWatermark, leaderHighWatermark), logEndOffset);
}
