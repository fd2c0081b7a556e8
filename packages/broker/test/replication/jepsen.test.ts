/**
 * Jepsen's 2013 Kafka finding (https://aphyr.com/posts/293-jepsen-kafka), replayed on the
 * simulated cluster, which runs the broker's replication driver: the ISR shrinks to the leader
 * alone, the leader keeps acknowledging writes, then it dies and another replica is elected
 * (uncleanly: it was not in the ISR). Every write the lone leader acknowledged is lost.
 *
 * Samsa's defences, each shown below:
 *  - min.insync.replicas=2: the HW does not advance with the leader alone in the ISR, and acks=all
 *    is refused (NotEnoughReplicas), so nothing is acknowledged that the election can throw away;
 *  - unclean.leader.election.enable=false (the default): the partition waits for the last ISR
 *    member instead of electing a replica that lacks committed records.
 */
import { describe, expect, it } from 'vitest';
import { SimCluster, type ControllerFactory } from './sim/cluster.js';
import { coreController } from './sim/core-controller.js';

/** Runs the scenario; returns the cluster and what the lone leader's writes got. */
async function jepsen(
  controller: ControllerFactory | undefined,
  options: { minInsyncReplicas: number; uncleanLeaderElection: boolean },
) {
  const sim = await SimCluster.start(2013, { ...options, replicaLagTimeMaxMs: 1000, controller });
  // Healthy: a first write reaches every replica and is acknowledged.
  expect(await sim.produce(0, 'all', 'a')).toMatchObject({ offset: 0 });
  await sim.settle(3);
  expect(sim.acked.map((e) => e.value)).toEqual(['a']);

  // The followers are cut off from the leader (not from the coordinator, so their sessions live).
  sim.isolate(1);
  sim.isolate(2);
  // The leader keeps taking writes; the followers fall behind and, after replica.lag.time.max.ms,
  // the leader shrinks the ISR to itself.
  const b = await sim.produce(0, 'all', 'b');
  await sim.settle(30);
  expect(sim.controller.state).toMatchObject({ leader: 0, isr: [0] });
  const c = await sim.produce(0, 'all', 'c');
  const d = await sim.produce(0, 1, 'd');
  await sim.settle(1);

  // The leader dies; the followers come back.
  sim.crash(0);
  sim.heal(1);
  sim.heal(2);
  return { sim, b, c, d };
}

describe.each([
  ['model controller', undefined],
  ['ControllerCore', coreController],
] as const)('the Jepsen 2013 Kafka scenario (%s)', (_name, controller) => {
  it('min.insync.replicas=1 with unclean election loses acknowledged writes (the checker catches it)', async () => {
    const { sim, b, c } = await jepsen(controller, { minInsyncReplicas: 1, uncleanLeaderElection: true });
    expect(b).toMatchObject({ value: 'b' });
    expect(c).toMatchObject({ value: 'c' });
    expect(sim.acked.map((e) => e.value)).toEqual(['a', 'b', 'c']); // acknowledged by the lone leader
    expect(sim.controller.state).toMatchObject({ leader: 1, isr: [1] }); // unclean: 1 was not in the ISR
    // Broker 1 takes over without b and c.
    await expect(sim.settle(1)).rejects.toThrow(
      /no acknowledged write lost: new leader b1 of epoch \d+ lacks acknowledged record b@1/,
    );
  });

  it('min.insync.replicas=2 refuses acks with the leader alone: the same election loses nothing', async () => {
    const { sim, b, c, d } = await jepsen(controller, { minInsyncReplicas: 2, uncleanLeaderElection: true });
    expect(b).toMatchObject({ value: 'b', offset: 1 }); // taken while the ISR was still full...
    expect(sim.failedAcks.map((e) => e.value)).toEqual(['b']); // ...then NotEnoughReplicasAfterAppend
    expect(c).toBe('notEnoughReplicas'); // refused up front with the leader alone
    expect(d).toMatchObject({ value: 'd', offset: 2 }); // acks=1 is still taken, and may be lost
    expect(sim.acked.map((e) => e.value)).toEqual(['a']);
    expect(sim.controller.state).toMatchObject({ leader: 1, isr: [1] });
    await sim.settle(5); // invariants hold: 1 leads with everything acknowledged
    expect(sim.brokers[1]!.leader?.highWatermark).toBe(1);

    // The old leader returns as a follower and truncates its unacknowledged write.
    await sim.restart(0);
    expect(await sim.healAndSettle()).toBe(true);
    expect(sim.brokers.map((x) => x.values())).toEqual([['a'], ['a'], ['a']]);
    expect(sim.stats.truncations).toBeGreaterThan(0);
  });

  it('min.insync.replicas=2: acks=all waiting as the ISR shrinks gets NotEnoughReplicasAfterAppend', async () => {
    const sim = await SimCluster.start(2013, { minInsyncReplicas: 2, replicaLagTimeMaxMs: 1000, controller });
    await sim.settle(2);
    sim.isolate(1);
    sim.isolate(2);
    expect(await sim.produce(0, 'all', 'x')).toMatchObject({ offset: 0 }); // ISR still [0,1,2]: accepted, waits
    await sim.settle(30);
    expect(sim.controller.state.isr).toEqual([0]);
    expect(sim.acked).toEqual([]);
    expect(sim.failedAcks.map((e) => e.value)).toEqual(['x']);
  });

  it('unclean election disabled: the partition waits for its last ISR member, which keeps every write', async () => {
    const { sim } = await jepsen(controller, { minInsyncReplicas: 1, uncleanLeaderElection: false });
    expect(sim.acked.map((e) => e.value)).toEqual(['a', 'b', 'c']);
    expect(sim.controller.state).toMatchObject({ leader: -1, isr: [0] }); // no eligible leader: unavailable, not lossy
    await sim.settle(5);
    expect(await sim.produce(1, 'all', 'e')).toBe('notLeader');
    await sim.restart(0);
    expect(sim.controller.state).toMatchObject({ leader: 0 });
    expect(await sim.healAndSettle()).toBe(true);
    for (const broker of sim.brokers) expect(broker.values()).toEqual(['a', 'b', 'c', 'd']);
  });
});
