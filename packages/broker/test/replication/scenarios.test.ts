/**
 * Scripted schedules for races the random simulation found, kept as deterministic regressions. They
 * run the broker's replication driver on the simulated cluster (sim/cluster.ts).
 */
import { describe, expect, it } from 'vitest';
import { SimCluster } from './sim/cluster.js';

/**
 * Delivers `messages` replica fetches or answers to or from `broker`, oldest first; when none is in
 * flight (the follower is backing off after a fetch that timed out), lets 100 ms pass instead.
 */
async function pumpFetches(sim: SimCluster, broker: number, messages: number): Promise<void> {
  for (let i = 0; i < messages; i++) {
    const delivered = await sim.deliverWhere(
      (m) => (m.kind === 'fetch' || m.kind === 'fetchResponse') && (m.from === broker || m.to === broker),
    );
    if (!delivered) await sim.advance(100);
  }
}

/** Broker 2 is cut off until the ISR is [0, 1], comes back and catches up: the leader proposes adding it. */
async function expansionProposed(sim: SimCluster, options: { expireSession: boolean }): Promise<void> {
  const leader = sim.brokers[0]!;
  await sim.settle(2);
  sim.isolate(2);
  await sim.produce(0, 'all', 'a');
  await sim.settle(30);
  expect(sim.controller.state.isr).toEqual([0, 1]);
  // With an expired session, 2 comes back still unregistered (the controller refuses it in the ISR).
  if (options.expireSession) sim.expireSession(2);
  sim.heal(2);
  await sim.advance(600); // its fetches sent while cut off time out, and it fetches again
  for (let i = 0; i < 10 && !leader.leader!.pendingIsrProposal; i++) await pumpFetches(sim, 2, 2);
  expect(leader.leader!.pendingIsrProposal).toMatchObject({ kind: 'expand', isr: [0, 1, 2] });
}

describe('ISR proposal races', () => {
  it('a resent expansion applied after another copy was refused still holds the HW', async () => {
    const sim = await SimCluster.start(1, { minInsyncReplicas: 1, replicaLagTimeMaxMs: 1000, requestTimeoutMs: 500 });
    const leader = sim.brokers[0]!;
    await expansionProposed(sim, { expireSession: true });

    // No answer in time: the next ISR check sends the proposal again.
    for (let i = 0; i < 20 && sim.inFlightKinds().filter((k) => k === 'alterIsr').length < 2; i++)
      await sim.advance(50);
    expect(sim.inFlightKinds().filter((k) => k === 'alterIsr')).toHaveLength(2);
    // The second copy is refused (2 is not registered), and the leader hears it in time...
    await sim.deliver(sim.inFlightKinds().lastIndexOf('alterIsr'));
    await sim.deliverWhere((m) => m.kind === 'alterIsrResponse');
    expect(leader.leader!.pendingIsrProposal).toBeUndefined();
    // ...2 registers again, and the first copy, late, is applied.
    await sim.reregister(2);
    await sim.deliverWhere((m) => m.kind === 'alterIsr');
    expect(sim.controller.state.isr).toEqual([0, 1, 2]);
    // The leader has not heard of it yet, but 2 still holds its HW (the controller may elect 2).
    expect(leader.leader!.isr).toEqual([0, 1]);
    expect(leader.leader!.maximalIsr).toEqual([0, 1, 2]);
    sim.checkInvariants();

    await sim.produce(0, 'all', 'b');
    await pumpFetches(sim, 1, 4);
    expect(leader.highWatermark).toBe(1); // b is on 0 and 1 only
    sim.checkInvariants();

    await sim.deliverMetadata(0); // the committed ISR reaches the leader through metadata
    expect(leader.leader!.isr).toEqual([0, 1, 2]);
    expect(await sim.healAndSettle()).toBe(true);
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
  async function restartDuringExpansion(controllerNoticesRestart: boolean): Promise<SimCluster> {
    const sim = await SimCluster.start(1, { minInsyncReplicas: 1, replicaLagTimeMaxMs: 1000 });
    await expansionProposed(sim, { expireSession: false });

    sim.crash(0, { unnoticed: !controllerNoticesRestart });
    await sim.restart(0);
    await sim.deliverWhere((m) => m.kind === 'alterIsr'); // the proposal made before the restart is applied
    const leader = sim.controller.state.leader;
    await sim.produce(leader, 'all', 'x');
    // Only 1 fetches (0 has not read the new ISR yet): enough for 0's HW if it forgot about 2.
    await pumpFetches(sim, 1, 6);
    sim.crash(1);
    sim.crash(leader);
    for (const b of sim.brokers) await sim.deliverMetadata(b.id); // 2 takes over
    sim.checkInvariants();
    return sim;
  }

  it('loses an acknowledged write if it resumes the same epoch (a bounce must bump the epoch)', async () => {
    await expect(restartDuringExpansion(false)).rejects.toThrow(
      /no acknowledged write lost: .*lacks acknowledged record x@1/,
    );
  });

  it('is safe when the controller treats the restart as down + up (a new epoch)', async () => {
    const sim = await restartDuringExpansion(true);
    expect(sim.acked.map((e) => e.value)).toEqual(['a']); // x waits for 2, which never fetched it
    expect(await sim.healAndSettle()).toBe(true);
  });
});

describe('DeleteRecords and a follower crashing before its log start is saved', () => {
  /**
   * Broker 1's retention moves its log start to 4 in memory; the save (the segment files deleted)
   * has not happened when the leader, 0, deletes the records below 4 and 1 fetches. 0's low watermark
   * must not count 1's start before it is saved: 1 may crash, come back within its session (still
   * in the ISR) with its records from 0 again, and be elected when 0 dies.
   */
  async function retainedInMemoryOnly(): Promise<SimCluster> {
    const sim = await SimCluster.start(1, { deferStartSaves: true });
    await sim.settle(2);
    for (let i = 0; i < 6; i++) await sim.produce(0, 'all', `r${i}`);
    await sim.settle(10);
    expect(sim.brokers.map((b) => b.highWatermark)).toEqual([6, 6, 6]);
    await sim.retain(1, 4);
    await sim.deleteRecords(0, 4);
    await sim.drainLog(0); // the leader's own start is saved
    for (let i = 0; i < 3; i++) {
      await pumpFetches(sim, 2, 2);
      await sim.drainLog(2); // 2 adopts the leader's start and saves it
      await pumpFetches(sim, 1, 2);
    }
    const b1 = sim.brokers[1]!;
    expect([b1.logStart, b1.savedLogStart]).toEqual([4, 0]);
    expect(sim.brokers[2]!.savedLogStart).toBe(4);
    return sim;
  }

  it("waits for a follower's saved start: elected after a crash before its save, it holds the records", async () => {
    const sim = await retainedInMemoryOnly();
    const [b0, b1] = sim.brokers as [(typeof sim.brokers)[0], (typeof sim.brokers)[0]];
    const answeredBelow = b0.leader!.lowWatermark; // a DeleteRecords below it would be answered now
    // 1 crashes before its save and restarts within its session: the controller still counts it in sync.
    sim.crash(1, { unnoticed: true });
    await sim.restart(1);
    expect(b1.logStart).toBe(0);
    sim.crash(0);
    await sim.deliverMetadata(1);
    await sim.settle(1);
    expect(sim.controller.state.leader).toBe(1);
    expect(b1.leader).toBeDefined();
    // Its records below 4 are back, so none of them may have been acknowledged as deleted.
    expect(b1.log.entryAt(0)?.value).toBe('r0');
    for (let o = 0; o < answeredBelow; o++)
      expect(b1.log.entryAt(o), `offset ${o}, below the answered ${answeredBelow}`).toBeUndefined();
    expect(answeredBelow).toBe(0); // 1 stated 0, its saved start
    sim.checkInvariants();
  });

  it('is answered once that follower saved its start and says so', async () => {
    const sim = await retainedInMemoryOnly();
    await sim.drainLog(1);
    await pumpFetches(sim, 1, 4);
    expect(sim.brokers[1]!.savedLogStart).toBe(4);
    expect(sim.brokers[0]!.leader!.lowWatermark).toBe(4);
    sim.checkInvariants();
    expect(sim.deletedBelow).toBe(4);
    expect(await sim.healAndSettle()).toBe(true);
  });
});
