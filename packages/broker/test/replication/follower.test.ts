import { describe, expect, it } from 'vitest';
import { ErrorCodes } from '@samsa/protocol';
import {
  LeaderEpochCache,
  followerHighWatermark,
  followerTruncation,
  validateFollowerFetch,
  type EpochEndOffset,
} from '../../src/replication/index.js';

const cacheOf = (...pairs: Array<[number, number]>): LeaderEpochCache =>
  new LeaderEpochCache(pairs.map(([epoch, startOffset]) => ({ epoch, startOffset })));

describe('followerTruncation (KIP-279)', () => {
  const follower = (cache: LeaderEpochCache, logEndOffset: number, highWatermark = 0) => ({
    epochCache: cache,
    logEndOffset,
    highWatermark,
  });

  it('keeps what both hold of the shared epoch: min(leader end, own end)', () => {
    // Follower wrote more of epoch 2 than the leader kept.
    expect(followerTruncation({ epoch: 2, endOffset: 8 }, follower(cacheOf([0, 0], [2, 5]), 12))).toEqual({
      truncateTo: 8,
      complete: true,
    });
    // The leader has more of epoch 2 than the follower: nothing to cut.
    expect(followerTruncation({ epoch: 2, endOffset: 20 }, follower(cacheOf([0, 0], [2, 5]), 12))).toEqual({
      truncateTo: 12,
      complete: true,
    });
  });

  it('the follower ended epoch 2 earlier than the leader (it has epoch 3 after)', () => {
    // Follower: epoch 2 from 5, epoch 3 from 9. Leader answers for epoch 3: it never had it, its largest <= 3 is 2,
    // ending at 11.
    const cache = cacheOf([0, 0], [2, 5], [3, 9]);
    expect(followerTruncation({ epoch: 2, endOffset: 11 }, follower(cache, 14))).toEqual({
      truncateTo: 9,
      complete: true,
    });
  });

  it('re-queries when the leader answers with an epoch the follower does not have', () => {
    // Follower epochs 1 and 4; leader's largest epoch <= 4 is 3, which the follower never saw.
    const cache = cacheOf([1, 0], [4, 10]);
    const first = followerTruncation({ epoch: 3, endOffset: 15 }, follower(cache, 18));
    expect(first).toEqual({ truncateTo: 10, complete: false });
    cache.truncateFromEnd(first.truncateTo);
    expect(cache.latestEpoch).toBe(1);
    // Next fetch carries last_fetched_epoch 1; the leader says epoch 1 ended at 7 on its side.
    expect(followerTruncation({ epoch: 1, endOffset: 7 }, follower(cache, 10))).toEqual({
      truncateTo: 7,
      complete: true,
    });
  });

  it('makes progress through an empty epoch sitting at the log end', () => {
    // The follower was briefly leader of epoch 6 and wrote nothing.
    const cache = cacheOf([2, 0], [6, 10]);
    const d = followerTruncation({ epoch: 4, endOffset: 12 }, follower(cache, 10));
    expect(d).toEqual({ truncateTo: 10, complete: false });
    cache.truncateFromEnd(d.truncateTo);
    expect(cache.latestEpoch).toBe(2);
  });

  it('falls back to the HW when the leader cannot place the follower (UNDEFINED)', () => {
    expect(followerTruncation({ epoch: -1, endOffset: -1 }, follower(cacheOf([3, 0]), 12, 6))).toEqual({
      truncateTo: 6,
      complete: true,
    });
    expect(followerTruncation({ epoch: -1, endOffset: -1 }, follower(cacheOf([3, 0]), 4, 6))).toEqual({
      truncateTo: 4,
      complete: true,
    });
  });

  it('trusts the leader end offset when the follower has no epoch at or below the answer', () => {
    expect(followerTruncation({ epoch: 3, endOffset: 5 }, follower(new LeaderEpochCache(), 9))).toEqual({
      truncateTo: 5,
      complete: true,
    });
    expect(followerTruncation({ epoch: -1, endOffset: 5 }, follower(cacheOf([3, 0]), 9))).toEqual({
      truncateTo: 5,
      complete: true,
    });
  });

  it('never truncates past its own log end', () => {
    expect(followerTruncation({ epoch: 2, endOffset: 50 }, follower(cacheOf([2, 0]), 30))).toEqual({
      truncateTo: 30,
      complete: true,
    });
  });
});

describe('validateFollowerFetch', () => {
  // Leader history: epoch 1 from 0, epoch 3 from 10, epoch 5 (current) from 20; LEO 25.
  const leader = { leaderEpoch: 5, epochCache: cacheOf([1, 0], [3, 10], [5, 20]), logStartOffset: 0, logEndOffset: 25 };
  const fetch = (fetchOffset: number, lastFetchedEpoch: number, currentLeaderEpoch = 5) =>
    validateFollowerFetch({ fetchOffset, lastFetchedEpoch, currentLeaderEpoch }, leader);
  const diverging = (epoch: number, endOffset: number): { kind: 'diverging'; divergingEpoch: EpochEndOffset } => ({
    kind: 'diverging',
    divergingEpoch: { epoch, endOffset },
  });

  it('accepts a fetch consistent with the leader history', () => {
    expect(fetch(25, 5)).toEqual({ kind: 'ok' });
    expect(fetch(20, 3)).toEqual({ kind: 'ok' }); // epoch 3 ends at 20 here too
    expect(fetch(12, 3)).toEqual({ kind: 'ok' });
    expect(fetch(0, -1)).toEqual({ kind: 'ok' });
  });

  it('fences stale and future leader epochs (KIP-320)', () => {
    expect(fetch(25, 5, 4)).toMatchObject({ kind: 'error', error: ErrorCodes.FENCED_LEADER_EPOCH });
    expect(fetch(25, 5, 6)).toMatchObject({ kind: 'error', error: ErrorCodes.UNKNOWN_LEADER_EPOCH });
    expect(fetch(25, 5, -1)).toEqual({ kind: 'ok' });
  });

  it('diverges when the follower has more of an epoch than the leader', () => {
    expect(fetch(22, 3)).toEqual(diverging(3, 20));
    expect(fetch(26, 5)).toEqual(diverging(5, 25));
  });

  it('diverges when the leader never had the follower epoch', () => {
    expect(fetch(15, 4)).toEqual(diverging(3, 20));
    expect(fetch(8, 2)).toEqual(diverging(1, 10));
  });

  it('diverges to UNDEFINED for an epoch newer than the leader has', () => {
    expect(validateFollowerFetch({ fetchOffset: 25, lastFetchedEpoch: 6, currentLeaderEpoch: -1 }, leader)).toEqual(
      diverging(-1, -1),
    );
  });

  it('refuses offsets outside the log', () => {
    expect(fetch(26, -1)).toMatchObject({ kind: 'error', error: ErrorCodes.OFFSET_OUT_OF_RANGE });
    const trimmed = { ...leader, logStartOffset: 12, epochCache: cacheOf([3, 12], [5, 20]) };
    expect(
      validateFollowerFetch({ fetchOffset: 5, lastFetchedEpoch: -1, currentLeaderEpoch: 5 }, trimmed),
    ).toMatchObject({ kind: 'error', error: ErrorCodes.OFFSET_OUT_OF_RANGE });
    // A follower whose last epoch predates the leader's history truncates to where that history begins...
    expect(validateFollowerFetch({ fetchOffset: 15, lastFetchedEpoch: 1, currentLeaderEpoch: 5 }, trimmed)).toEqual(
      diverging(1, 12),
    );
    // ...and, there, nothing it holds can be checked: it restarts its log at the leader's log start.
    expect(
      validateFollowerFetch({ fetchOffset: 12, lastFetchedEpoch: 1, currentLeaderEpoch: 5 }, trimmed),
    ).toMatchObject({ kind: 'error', error: ErrorCodes.OFFSET_OUT_OF_RANGE });
    expect(validateFollowerFetch({ fetchOffset: 12, lastFetchedEpoch: 3, currentLeaderEpoch: 5 }, trimmed)).toEqual({
      kind: 'ok',
    });
    expect(validateFollowerFetch({ fetchOffset: 12, lastFetchedEpoch: -1, currentLeaderEpoch: 5 }, trimmed)).toEqual({
      kind: 'ok',
    });
  });

  it('a diverging answer fed to followerTruncation lands on the common prefix', () => {
    // Follower: epoch 1 from 0, epoch 4 from 10 (a term the leader never saw), LEO 16.
    const followerCache = cacheOf([1, 0], [4, 10]);
    const answer = fetch(16, followerCache.latestEpoch);
    expect(answer).toEqual(diverging(3, 20));
    const first = followerTruncation((answer as { divergingEpoch: EpochEndOffset }).divergingEpoch, {
      epochCache: followerCache,
      logEndOffset: 16,
      highWatermark: 8,
    });
    expect(first).toEqual({ truncateTo: 10, complete: false });
    followerCache.truncateFromEnd(10);
    const again = fetch(10, followerCache.latestEpoch);
    expect(again).toEqual({ kind: 'ok' }); // epoch 1 ends at 10 on the leader too
  });
});

describe('followerHighWatermark', () => {
  it('follows the leader, never past the own LEO, never backwards', () => {
    expect(followerHighWatermark(5, 9, 20)).toBe(9);
    expect(followerHighWatermark(5, 9, 7)).toBe(7);
    expect(followerHighWatermark(5, 3, 20)).toBe(5);
  });
});
