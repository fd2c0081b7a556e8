import { describe, expect, it } from 'vitest';
import { ErrorCodes } from '@samsa/protocol';
import { LeaderState, isrRejectionFor, type LeaderStateOptions } from '../../src/replication/index.js';

const LAG = 10_000;

function leader(overrides: Partial<LeaderStateOptions> = {}): LeaderState {
  return new LeaderState({
    localBrokerId: 1,
    leaderEpoch: 5,
    replicas: [1, 2, 3],
    isr: [1, 2, 3],
    isrZkVersion: 7,
    minInsyncReplicas: 2,
    replicaLagTimeMaxMs: LAG,
    logEndOffset: 10,
    highWatermark: 10,
    epochStartOffset: 10,
    nowMs: 1000,
    ...overrides,
  });
}

describe('LeaderState: high watermark', () => {
  it('is the smallest LEO of the ISR members, the leader included', () => {
    const l = leader();
    expect(l.onLocalAppend(15, 1001)).toEqual({});
    expect(l.onFollowerFetch(2, 13, 1002)).toEqual({}); // 3 has not fetched in this term: unknown LEO
    expect(l.onFollowerFetch(3, 12, 1003)).toEqual({ highWatermark: 12 });
    expect(l.onFollowerFetch(3, 15, 1004)).toEqual({ highWatermark: 13 });
    expect(l.onFollowerFetch(2, 15, 1005)).toEqual({ highWatermark: 15 });
    expect(l.highWatermark).toBe(15);
    expect(l.acksAllStatus(15)).toBe('committed');
    expect(l.acksAllStatus(16)).toBe('waiting');
  });

  it("waits for the leader's own write when followers already hold more (records exposed before it)", () => {
    const l = leader();
    // Both followers copied offsets 10-14 while the leader's write of them was still under way.
    expect(l.onFollowerFetch(2, 15, 1001)).toEqual({});
    expect(l.onFollowerFetch(3, 15, 1002)).toEqual({});
    expect(l.highWatermark).toBe(10);
    expect(l.logEndOffset).toBe(10);
    expect(l.acksAllStatus(15)).toBe('waiting');
    expect(l.onLocalAppend(13, 1003)).toEqual({ highWatermark: 13 });
    expect(l.onLocalAppend(15, 1004)).toEqual({ highWatermark: 15 });
    // Both were caught up at their fetches: nothing to shrink.
    expect(l.onTick(1002 + LAG - 1).isrProposal).toBeUndefined();
  });

  it('never decreases, even when a follower reports a smaller LEO', () => {
    const l = leader();
    l.onLocalAppend(20, 1001);
    l.onFollowerFetch(2, 20, 1002);
    l.onFollowerFetch(3, 18, 1003);
    expect(l.highWatermark).toBe(18);
    expect(l.onFollowerFetch(3, 12, 1004)).toEqual({});
    expect(l.highWatermark).toBe(18);
  });

  it('ignores followers outside the ISR', () => {
    const l = leader({ isr: [1, 2] });
    l.onLocalAppend(20, 1001);
    expect(l.onFollowerFetch(2, 20, 1002)).toEqual({ highWatermark: 20 });
  });

  it('does not advance while the ISR is smaller than min.insync.replicas', () => {
    const l = leader({ isr: [1], minInsyncReplicas: 2 });
    expect(l.canAcceptAcksAll()).toBe(false);
    expect(l.onLocalAppend(30, 1001)).toEqual({});
    expect(l.highWatermark).toBe(10);
    expect(l.acksAllStatus(30)).toBe('notEnoughReplicas');
    expect(l.notEnoughReplicasError(true).code).toBe(ErrorCodes.NOT_ENOUGH_REPLICAS_AFTER_APPEND.code);
    expect(l.notEnoughReplicasError(false).code).toBe(ErrorCodes.NOT_ENOUGH_REPLICAS.code);
  });

  it('follows the leader alone when min.insync.replicas is 1', () => {
    const l = leader({ isr: [1], minInsyncReplicas: 1, highWatermark: 4 });
    expect(l.highWatermark).toBe(10); // the whole log is committed at once
    expect(l.onLocalAppend(12, 1001)).toEqual({ highWatermark: 12 });
  });

  it('waits for the proposed members too while an expansion is in flight (maximal ISR)', () => {
    const l = leader({ isr: [1, 2], logEndOffset: 20, highWatermark: 10, epochStartOffset: 10 });
    l.onFollowerFetch(2, 20, 1001);
    expect(l.highWatermark).toBe(20);
    const out = l.onFollowerFetch(3, 20, 1002);
    expect(out.isrProposal).toMatchObject({
      kind: 'expand',
      isr: [1, 2, 3],
      zkVersion: 7,
      changed: [3],
      leaderEpoch: 5,
    });
    l.onLocalAppend(25, 1003);
    l.onFollowerFetch(2, 25, 1004);
    // 3 is proposed (the controller may already count it): the HW waits for it.
    expect(l.highWatermark).toBe(20);
    expect(l.maximalIsr).toEqual([1, 2, 3]);
    expect(l.onFollowerFetch(3, 24, 1005)).toEqual({ highWatermark: 24 });
  });

  it('keeps waiting for a member being removed until the shrink is committed', () => {
    const l = leader({ logEndOffset: 10 });
    l.onFollowerFetch(2, 10, 1001);
    l.onFollowerFetch(3, 10, 1001);
    l.onLocalAppend(15, 2000);
    l.onFollowerFetch(2, 15, 2000);
    const shrink = l.onTick(2000 + LAG + 1).isrProposal;
    expect(shrink).toMatchObject({ kind: 'shrink', isr: [1, 2], changed: [3] });
    expect(l.highWatermark).toBe(10);
    l.onFollowerFetch(2, 15, 2000 + LAG + 2);
    expect(l.highWatermark).toBe(10); // 3 is still in the committed ISR
    expect(l.onIsrCommitted([1, 2], 8)).toEqual({ highWatermark: 15, isr: [1, 2] });
    expect(l.isrZkVersion).toBe(8);
  });
});

describe('LeaderState: ISR shrink', () => {
  it('removes a follower that has not caught up within replica.lag.time.max.ms', () => {
    const l = leader();
    l.onFollowerFetch(2, 10, 1000);
    l.onFollowerFetch(3, 10, 1000);
    l.onLocalAppend(12, 1500);
    l.onFollowerFetch(2, 12, 1600);
    l.onFollowerFetch(3, 11, 1600); // behind, last caught up at 1000
    expect(l.onTick(1000 + LAG).isrProposal).toBeUndefined();
    expect(l.onTick(1000 + LAG + 1).isrProposal).toMatchObject({ isr: [1, 2], changed: [3] });
  });

  it('counts a fetch that reached the previous fetch-time leader LEO as caught up at that time', () => {
    const l = leader();
    l.onFollowerFetch(2, 10, 1000);
    l.onFollowerFetch(3, 10, 1000);
    l.onLocalAppend(11, 2000);
    l.onFollowerFetch(3, 10, 3000); // leader LEO was 11 at this fetch
    l.onLocalAppend(12, 3500);
    l.onFollowerFetch(3, 11, 4000); // reached 11: caught up as of 3000
    expect(l.follower(3)?.lastCaughtUpTimeMs).toBe(3000);
    l.onFollowerFetch(2, 12, 4000);
    expect(l.onTick(3000 + LAG).isrProposal).toBeUndefined();
    expect(l.onTick(3000 + LAG + 1).isrProposal).toMatchObject({ isr: [1, 2] });
  });

  it('gives ISR members a full lag period at the start of a term and never removes the leader', () => {
    const l = leader({ nowMs: 50_000 });
    expect(l.onTick(50_000 + LAG).isrProposal).toBeUndefined();
    expect(l.onTick(50_000 + LAG + 1).isrProposal).toMatchObject({ kind: 'shrink', isr: [1], changed: [2, 3] });
  });

  it('keeps a follower at the leader LEO in sync however long ago it fetched', () => {
    const l = leader();
    l.onFollowerFetch(2, 10, 1000);
    l.onFollowerFetch(3, 10, 1000);
    expect(l.onTick(1000 + 5 * LAG).isrProposal).toBeUndefined();
  });

  it('after a shrink below min.insync.replicas, waiting acks=all producers get NotEnoughReplicasAfterAppend', () => {
    const l = leader({ isr: [1, 2] });
    l.onFollowerFetch(2, 10, 1000);
    l.onLocalAppend(11, 1000);
    expect(l.acksAllStatus(11)).toBe('waiting');
    const p = l.onTick(1000 + LAG + 1).isrProposal!;
    expect(p.isr).toEqual([1]);
    expect(l.acksAllStatus(11)).toBe('waiting'); // not committed yet: 2 still counts
    expect(l.onIsrCommitted(p.isr, p.zkVersion + 1)).toEqual({ isr: [1], lowWatermark: 0 });
    expect(l.acksAllStatus(11)).toBe('notEnoughReplicas');
    expect(l.canAcceptAcksAll()).toBe(false);
  });
});

describe('LeaderState: ISR expand', () => {
  it('adds a follower once its LEO reaches both the HW and the epoch start', () => {
    const l = leader({ isr: [1, 2], logEndOffset: 30, highWatermark: 20, epochStartOffset: 25 });
    expect(l.onFollowerFetch(3, 19, 1001).isrProposal).toBeUndefined(); // below the HW
    expect(l.onFollowerFetch(3, 22, 1002).isrProposal).toBeUndefined(); // above the HW, not in this epoch yet
    expect(l.onFollowerFetch(3, 25, 1003).isrProposal).toMatchObject({ kind: 'expand', isr: [1, 2, 3], changed: [3] });
  });

  it('ignores fetches from non-replicas and rejects a fetch from itself', () => {
    const l = leader({ isr: [1, 2] });
    expect(l.onFollowerFetch(9, 10, 1001)).toEqual({});
    expect(() => l.onFollowerFetch(1, 10, 1001)).toThrow(/cannot fetch from itself/);
  });
});

describe('LeaderState: one proposal at a time', () => {
  it('proposes nothing while one is outstanding', () => {
    const l = leader({ isr: [1, 2], replicas: [1, 2, 3, 4] });
    expect(l.onFollowerFetch(3, 10, 1001).isrProposal).toBeDefined();
    expect(l.onFollowerFetch(4, 10, 1002).isrProposal).toBeUndefined();
    expect(l.onTick(1000 + LAG + 1).isrProposal).toBeUndefined();
    expect(l.onIsrCommitted([1, 2, 3], 8)).toEqual({ isr: [1, 2, 3] });
    expect(l.onFollowerFetch(4, 10, 1003).isrProposal).toMatchObject({ isr: [1, 2, 3, 4], zkVersion: 8 });
  });

  it('after a version conflict keeps the proposal in the maximal ISR and waits for a newer state', () => {
    const l = leader({ isr: [1, 2] });
    l.onFollowerFetch(2, 10, 1001);
    l.onFollowerFetch(3, 10, 1001);
    const p = l.pendingIsrProposal!;
    expect(p).toBeDefined();
    expect(l.onIsrRejected(p)).toEqual({});
    expect(l.pendingIsrProposal).toBeUndefined();
    expect(l.maximalIsr).toEqual([1, 2, 3]);
    expect(l.onFollowerFetch(3, 10, 1002).isrProposal).toBeUndefined();
    expect(l.onTick(1000 + 3 * LAG).isrProposal).toBeUndefined();
    // A re-read of the same version is not newer: still waiting.
    expect(l.onIsrCommitted([1, 2], 7)).toEqual({});
    expect(l.maximalIsr).toEqual([1, 2, 3]);
    expect(l.onIsrCommitted([1, 2, 3], 8)).toEqual({ isr: [1, 2, 3] });
    expect(l.maximalIsr).toEqual([1, 2, 3]);
    expect(l.pendingIsrProposal).toBeUndefined();
  });

  it('after a refusal retries after the backoff, keeping the refused member in the maximal ISR', () => {
    const l = leader({ isr: [1, 2], isrRetryBackoffMs: 500 });
    const p = l.onFollowerFetch(3, 10, 1000).isrProposal!;
    expect(l.onIsrRejected(p, 'invalid', 1000)).toEqual({});
    expect(l.pendingIsrProposal).toBeUndefined();
    // A resent copy of the refused proposal may still be applied: 3 still holds the HW.
    expect(l.maximalIsr).toEqual([1, 2, 3]);
    expect(l.onFollowerFetch(3, 10, 1499).isrProposal).toBeUndefined();
    expect(l.onFollowerFetch(3, 10, 1500).isrProposal).toMatchObject({ isr: [1, 2, 3] });
  });

  it('retires a refused expansion of a replica that stopped fetching by re-proposing the committed ISR', () => {
    const l = leader({ isr: [1, 2], logEndOffset: 10, isrRetryBackoffMs: 500 });
    l.onIsrRejected(l.onFollowerFetch(3, 10, 1000).isrProposal!, 'invalid', 1000);
    l.onLocalAppend(14, 1001);
    l.onFollowerFetch(2, 14, 1002);
    expect(l.highWatermark).toBe(10); // 3 may yet be in the ISR
    l.onFollowerFetch(2, 14, 1000 + LAG);
    expect(l.onTick(1000 + LAG).isrProposal).toBeUndefined(); // 3 caught up at 1000: not lagging yet
    const fence = l.onTick(1001 + LAG).isrProposal!;
    expect(fence).toMatchObject({ kind: 'shrink', isr: [1, 2], changed: [3], zkVersion: 7 });
    expect(l.onIsrCommitted([1, 2], 8)).toEqual({ highWatermark: 14 });
    expect(l.maximalIsr).toEqual([1, 2]);
  });

  it('ignores the refusal of an older proposal or of another ISR', () => {
    const l = leader({ isr: [1, 2], replicas: [1, 2, 3, 4] });
    const p = l.onFollowerFetch(3, 10, 1000).isrProposal!;
    expect(l.onIsrRejected({ isr: p.isr, zkVersion: 6 })).toEqual({});
    expect(l.onIsrRejected({ isr: [1, 2, 4], zkVersion: 7 }, 'invalid')).toEqual({});
    expect(l.pendingIsrProposal).toBe(p);
    l.onIsrRejected(p, 'stale');
    expect(l.pendingIsrProposal).toBeUndefined();
  });

  it('re-proposing a refused ISR makes it the one awaiting an answer again', () => {
    const l = leader({ isr: [1, 2], isrRetryBackoffMs: 0 });
    const expand = l.onFollowerFetch(3, 10, 1000).isrProposal!;
    l.onIsrRejected(expand, 'invalid', 1000);
    l.onLocalAppend(12, 1001);
    l.onFollowerFetch(2, 12, 1000 + LAG);
    const fence = l.onTick(1001 + LAG).isrProposal!; // 3 stopped fetching: retire the refused expansion
    expect(fence).toMatchObject({ isr: [1, 2], changed: [3] });
    l.onIsrRejected(fence, 'invalid', 1001 + LAG);
    const again = l.onFollowerFetch(3, 12, 1002 + LAG).isrProposal!;
    expect(again).toMatchObject({ kind: 'expand', isr: [1, 2, 3] });
    expect(l.pendingIsrProposal).toBe(again);
    expect(l.maximalIsr).toEqual([1, 2, 3]);
  });

  it('a newer committed version retires every earlier proposal', () => {
    const l = leader({ isr: [1, 2], replicas: [1, 2, 3, 4], isrRetryBackoffMs: 0 });
    l.onIsrRejected(l.onFollowerFetch(3, 10, 1000).isrProposal!, 'invalid', 1000);
    l.onFollowerFetch(4, 10, 1001);
    expect(l.maximalIsr).toEqual([1, 2, 3, 4]);
    l.onIsrCommitted([1, 2, 4], 8);
    expect(l.maximalIsr).toEqual([1, 2, 4]);
  });
});

describe('LeaderState: construction and impossible states', () => {
  it('rejects a leader outside the ISR, a HW past the log end, a bad minimum', () => {
    expect(() => leader({ isr: [2, 3] })).toThrow(/not in the ISR/);
    expect(() => leader({ highWatermark: 11 })).toThrow(/high watermark/);
    expect(() => leader({ minInsyncReplicas: 0 })).toThrow(/min.insync.replicas/);
    expect(() => leader({ epochStartOffset: 11 })).toThrow(/epoch start/);
  });

  it('crashes on a log that moves back or a committed ISR without the leader', () => {
    const l = leader();
    expect(() => l.onLocalAppend(9, 1001)).toThrow(/moved back/);
    expect(() => l.onIsrCommitted([2, 3], 8)).toThrow(/lacks leader/);
  });

  it('treats a clock that steps back as standing still', () => {
    const l = leader({ isr: [1, 2] });
    l.onFollowerFetch(2, 9, 5000);
    expect(l.onTick(100).isrProposal).toBeUndefined();
    expect(l.follower(2)?.lastFetchTimeMs).toBe(5000);
  });
});

describe('isrRejectionFor', () => {
  it('maps AlterPartition errors to stale or invalid', () => {
    expect(isrRejectionFor(ErrorCodes.FENCED_LEADER_EPOCH.code)).toBe('stale');
    expect(isrRejectionFor(ErrorCodes.UNKNOWN_LEADER_EPOCH.code)).toBe('stale');
    expect(isrRejectionFor(ErrorCodes.NOT_LEADER_OR_FOLLOWER.code)).toBe('stale');
    expect(isrRejectionFor(95)).toBe('stale'); // InvalidUpdateVersion
    expect(isrRejectionFor(ErrorCodes.INVALID_REQUEST.code)).toBe('invalid');
    expect(isrRejectionFor(ErrorCodes.UNKNOWN_SERVER_ERROR.code)).toBe('invalid');
  });
});

describe('LeaderState: low watermark (DeleteRecords)', () => {
  it('is the smallest log start among the leader and the ISR, unknown until each ISR member fetched', () => {
    const l = leader({ isr: [1, 2], logStartOffset: 4 });
    expect(l.lowWatermark).toBe(-1); // 2 has not fetched in this term
    expect(l.onFollowerFetch(2, 10, 1001, 3)).toEqual({ lowWatermark: 3 });
    expect(l.onFollowerFetch(3, 5, 1002, 0)).toEqual({}); // outside the ISR (and behind the HW)
    expect(l.lowWatermark).toBe(3);
    expect(l.onLocalLogStart(8)).toEqual({});
    expect(l.onFollowerFetch(2, 10, 1003, 8)).toEqual({ lowWatermark: 8 });
    expect(l.onLocalLogStart(6)).toEqual({}); // a start never moves back
    expect(l.lowWatermark).toBe(8);
  });

  it('lets a follower rejoin the ISR only once it has deleted what the leader deleted', () => {
    const l = leader({ isr: [1, 2], logStartOffset: 6 });
    l.onFollowerFetch(2, 10, 1001, 6);
    // 3 is caught up but still holds records below the leader's start: it could bring them back.
    expect(l.onFollowerFetch(3, 10, 1002, 0)).toEqual({});
    expect(l.onFollowerFetch(3, 10, 1003, 6).isrProposal?.isr).toEqual([1, 2, 3]);
  });

  it('holds when a member joins (it has deleted already), and stops waiting for one that left', () => {
    const l = leader({ isr: [1, 2], logStartOffset: 5 });
    l.onFollowerFetch(2, 10, 1001, 5);
    expect(l.lowWatermark).toBe(5);
    // 3 catches up, past the leader's start: proposed, it counts (the controller may already elect it).
    const out = l.onFollowerFetch(3, 10, 1002, 7);
    expect(out.isrProposal?.isr).toEqual([1, 2, 3]);
    expect(out.lowWatermark).toBeUndefined();
    // 2 is shrunk out, then committed without it: its start no longer counts.
    l.onIsrCommitted([1, 2, 3], 8);
    l.onFollowerFetch(2, 10, 1004, 1);
    expect(l.lowWatermark).toBe(1);
    expect(l.onIsrCommitted([1, 3], 9)).toEqual({ isr: [1, 3], lowWatermark: 5 });
  });
});
