/** Scripted schedules for races the random simulation found, kept as deterministic regressions. */
import { describe, expect, it } from 'vitest';
import { SimCluster } from './sim/cluster.js';

describe('ISR proposal races', () => {
  it('a resent expansion applied after its first copy was refused still holds the HW', () => {
    const sim = new SimCluster(1, { minInsyncReplicas: 1, replicaLagTimeMaxMs: 1000, requestTimeoutMs: 500 });
    const leader = sim.brokers[0]!;
    sim.settle(2);
    sim.isolate(2);
    sim.produce(0, 'all', 'a');
    sim.settle(30);
    expect(sim.controller.state.isr).toEqual([0, 1]);

    // 2's session expires while it is cut off; it comes back (still unregistered) and catches up.
    sim.expireSession(2);
    sim.heal(2);
    sim.advance(600); // its fetches sent while cut off time out
    for (let i = 0; i < 5 && !leader.leader!.pendingIsrProposal; i++) {
      sim.sendFetch(2);
      while (sim.deliverWhere((m) => m.kind === 'fetch' || m.kind === 'fetchResponse'));
    }
    const proposal = leader.leader!.pendingIsrProposal!;
    expect(proposal).toMatchObject({ kind: 'expand', isr: [0, 1, 2] });

    // No answer in time: the leader resends. The first copy is refused (2 is not registered)...
    sim.advance(600);
    expect(sim.inFlightKinds()).toEqual(['alterIsr', 'alterIsr']);
    sim.deliverWhere((m) => m.kind === 'alterIsr');
    sim.deliverWhere((m) => m.kind === 'alterIsrResponse');
    expect(leader.leader!.pendingIsrProposal).toBeUndefined();
    // ...2 registers again, and the second copy is applied.
    sim.reregister(2);
    sim.deliverWhere((m) => m.kind === 'alterIsr');
    expect(sim.controller.state.isr).toEqual([0, 1, 2]);
    // The leader has not heard of it yet, but 2 still holds its HW (the controller may elect 2).
    expect(leader.leader!.isr).toEqual([0, 1]);
    expect(leader.leader!.maximalIsr).toEqual([0, 1, 2]);
    sim.checkInvariants();

    sim.produce(0, 'all', 'b');
    sim.sendFetch(1);
    while (sim.deliverWhere((m) => m.kind === 'fetch' || m.kind === 'fetchResponse'));
    expect(leader.highWatermark).toBe(1); // b is on 0 and 1 only
    sim.checkInvariants();

    sim.deliverWhere((m) => m.kind === 'alterIsrResponse');
    expect(leader.leader!.isr).toEqual([0, 1, 2]);
    expect(sim.healAndSettle()).toBe(true);
    expect(sim.acked.map((e) => e.value)).toEqual(['a', 'b']);
  });
});

describe('a leader restarting within its session', () => {
  /**
   * The leader proposes adding 2 to the ISR, restarts before the answer, and resumes the same epoch
   * from the state it reads (without 2). The proposal is then applied: the controller counts 2 as in
   * sync, but the new LeaderState never knew of the proposal and commits without 2. If 1 and then 0
   * die, 2 is elected cleanly and lacks the acknowledged write.
   */
  function restartDuringExpansion(controllerNoticesRestart: boolean): SimCluster {
    const sim = new SimCluster(1, { minInsyncReplicas: 1, replicaLagTimeMaxMs: 1000 });
    const b0 = sim.brokers[0]!;
    sim.settle(2);
    sim.isolate(2);
    sim.produce(0, 'all', 'a');
    sim.settle(30);
    expect(sim.controller.state.isr).toEqual([0, 1]);
    sim.heal(2);
    sim.advance(600);
    for (let i = 0; i < 5 && !b0.leader!.pendingIsrProposal; i++) {
      sim.sendFetch(2);
      while (sim.deliverWhere((m) => m.kind === 'fetch' || m.kind === 'fetchResponse'));
    }
    expect(b0.leader!.pendingIsrProposal).toMatchObject({ isr: [0, 1, 2] });

    sim.crash(0, { unnoticed: !controllerNoticesRestart });
    sim.restart(0);
    sim.deliverWhere((m) => m.kind === 'alterIsr'); // the proposal made before the restart is applied
    const leader = sim.controller.state.leader;
    sim.produce(leader, 'all', 'x');
    // Only 1 fetches (0 has not read the new ISR yet): enough for 0's HW if it forgot about 2.
    for (let i = 0; i < 2; i++) {
      sim.sendFetch(1);
      while (sim.deliverWhere((m) => m.kind === 'fetch' || m.kind === 'fetchResponse'));
    }
    sim.crash(1);
    sim.crash(leader);
    for (const b of sim.brokers) sim.deliverMetadata(b.id); // 2 takes over
    sim.checkInvariants();
    return sim;
  }

  it('loses an acknowledged write if it resumes the same epoch (a bounce must bump the epoch)', () => {
    expect(() => restartDuringExpansion(false)).toThrow(/no acknowledged write lost: .*lacks acknowledged record x@1/);
  });

  it('is safe when the controller treats the restart as down + up (a new epoch)', () => {
    const sim = restartDuringExpansion(true);
    expect(sim.acked.map((e) => e.value)).toEqual(['a']); // x waits for 2, which never fetched it
    expect(sim.healAndSettle()).toBe(true);
  });
});
