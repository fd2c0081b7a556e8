import { describe, expect, it } from 'vitest';
import { LeaderState } from '../../src/replication/leader.js';

const LAG = 10_000;

function leader(): LeaderState {
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
  });
}

describe('LeaderState: a reassignment changes the replica set within the term', () => {
  it('takes added replicas as followers that join the ISR once caught up', () => {
    const l = leader();
    l.setReplicas([2, 3, 4, 1]);
    expect(l.replicas).toEqual([1, 2, 3, 4]);
    expect(l.isReplica(4)).toBe(true);
    const out = l.onFollowerFetch(4, 10, 1001);
    expect(out.isrProposal).toMatchObject({ kind: 'expand', isr: [1, 2, 3, 4] });
  });

  it('forgets a removed replica once it is out of the committed ISR, and never proposes it back', () => {
    const l = leader();
    // The topic znode (replicas 1,2) may be read before the state that drops 3 from the ISR.
    l.setReplicas([1, 2]);
    expect(l.isReplica(3)).toBe(true);
    l.onIsrCommitted([1, 2], 8);
    expect(l.isReplica(3)).toBe(false);
    // Still fetching until its broker hears it is no longer a replica: ignored, not proposed.
    expect(l.onFollowerFetch(3, 10, 1002)).toEqual({});
    expect(l.maximalIsr).toEqual([1, 2]);
  });

  it('drops a proposal naming a removed replica, which would hold the high watermark', () => {
    const l = leader();
    l.onIsrCommitted([1, 2], 8); // 3 out of the ISR
    const out = l.onFollowerFetch(3, 10, 1001); // caught up: the leader proposes it back
    expect(out.isrProposal).toMatchObject({ kind: 'expand', isr: [1, 2, 3] });
    expect(l.maximalIsr).toEqual([1, 2, 3]);
    l.setReplicas([1, 2]); // a reassignment removed 3 meanwhile: the controller refuses the proposal
    expect(l.maximalIsr).toEqual([1, 2]);
    expect(l.pendingIsrProposal).toBeUndefined();
    l.onLocalAppend(12, 1003);
    expect(l.onFollowerFetch(2, 12, 1004).highWatermark).toBe(12);
  });
});
