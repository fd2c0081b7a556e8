/** The controller's reaction to a broker reporting logs offline (a full disk): ReplicasOffline. */
import { ErrorCodes } from '@samsa/protocol';
import { describe, expect, it } from 'vitest';
import { ControllerCore } from '../../src/controller/core.js';

function clusterWith(rf: number): ControllerCore {
  const core = new ControllerCore();
  core.step({
    type: 'ControllerElected',
    controllerEpoch: 1,
    snapshot: { liveBrokerIds: [1, 2, 3], topics: [], pendingDeletions: [] },
  });
  // Seed 0: partition 0's replicas start at broker 1.
  core.step({
    type: 'CreateTopic',
    topic: 't',
    numPartitions: 1,
    replicationFactor: rf,
    configs: {},
    seed: 0,
    topicId: 'id',
  });
  return core;
}

const state = (core: ControllerCore) => core.topic('t')!.partitions[0]!.state!;
const offline = (core: ControllerCore, brokerId: number, partitions: number[]) =>
  core.step({
    type: 'ReplicasOffline',
    brokerId,
    partitions: partitions.map((partition) => ({ topic: 't', partition })),
  });

describe('ControllerCore: replicas reported offline', () => {
  it('RF 3: the leader with an offline log is replaced by an in-sync replica and leaves the ISR', () => {
    const core = clusterWith(3);
    expect(state(core)).toMatchObject({ leader: 1, isr: [1, 2, 3], leaderEpoch: 0 });
    const out = offline(core, 1, [0]);
    expect(state(core)).toMatchObject({ leader: 2, isr: [2, 3], leaderEpoch: 1 });
    expect(out.announcements.map((a) => [a.brokerId, a.role])).toEqual([
      [1, 'follower'],
      [2, 'leader'],
      [3, 'follower'],
    ]);
    expect(core.offlineReplicasOf(1)).toEqual(['t-0']);
  });

  it('RF 3: back online it stays a follower, and the leader may take it into the ISR again', () => {
    const core = clusterWith(3);
    offline(core, 1, [0]);
    const before = state(core);
    // Refused while offline: its log cannot hold the records.
    const refused = core.step({
      type: 'AlterIsr',
      topic: 't',
      partition: 0,
      leaderId: 2,
      leaderEpoch: before.leaderEpoch,
      stateZkVersion: core.topic('t')!.partitions[0]!.stateZkVersion,
      newIsr: [2, 3, 1],
    });
    expect(refused.results[0]!.error).toBe(ErrorCodes.INELIGIBLE_REPLICA);
    const back = offline(core, 1, []);
    expect(back.writes).toEqual([]);
    expect(state(core)).toEqual(before);
    const accepted = core.step({
      type: 'AlterIsr',
      topic: 't',
      partition: 0,
      leaderId: 2,
      leaderEpoch: before.leaderEpoch,
      stateZkVersion: core.topic('t')!.partitions[0]!.stateZkVersion,
      newIsr: [2, 3, 1],
    });
    expect(accepted.results[0]!.error).toBe(ErrorCodes.NONE);
  });

  it('RF 1: the partition is left without a leader, its ISR kept; back online, the broker leads it again', () => {
    const core = clusterWith(1);
    expect(state(core)).toMatchObject({ leader: 1, isr: [1] });
    offline(core, 1, [0]);
    expect(state(core)).toMatchObject({ leader: -1, isr: [1], leaderEpoch: 1 });
    // A preferred election cannot hand it to the offline replica either.
    const elect = core.step({ type: 'ElectPreferredLeaders', partitions: [{ topic: 't', partition: 0 }] });
    expect(elect.results[0]!.error).toBe(ErrorCodes.PREFERRED_LEADER_NOT_AVAILABLE);
    offline(core, 1, []);
    expect(state(core)).toMatchObject({ leader: 1, isr: [1], leaderEpoch: 2 });
  });

  it('a broker failure elects no replica whose log is offline, and a failover reads the reports', () => {
    const core = clusterWith(3);
    offline(core, 2, [0]);
    expect(state(core)).toMatchObject({ leader: 1, isr: [1, 3] });
    core.step({ type: 'BrokerDown', brokerId: 1 });
    expect(state(core)).toMatchObject({ leader: 3, isr: [3] });
    // A new controller learns the offline logs from the registrations in its snapshot.
    const next = new ControllerCore();
    next.step({
      type: 'ControllerElected',
      controllerEpoch: 2,
      snapshot: {
        liveBrokerIds: [2, 3],
        topics: [
          {
            name: 't',
            partitions: [
              {
                replicas: [1, 2, 3],
                state: { leader: -1, leaderEpoch: 5, isr: [2], controllerEpoch: 1 },
                stateZkVersion: 5,
                hasPartitionZnode: true,
              },
            ],
            configs: {},
            hasConfigZnode: true,
            hasPartitionsZnode: true,
          },
        ],
        pendingDeletions: [],
        offlineReplicas: [{ brokerId: 2, partitions: [{ topic: 't', partition: 0 }] }],
      },
    });
    // Broker 2 holds the ISR but reports its log offline: no clean leader, the partition waits.
    expect(next.topic('t')!.partitions[0]!.state).toMatchObject({ leader: -1, isr: [2] });
  });

  it('a broker that goes down forgets its report; its next registration brings its own', () => {
    const core = clusterWith(3);
    offline(core, 1, [0]);
    core.step({ type: 'BrokerDown', brokerId: 1 });
    expect(core.offlineReplicasOf(1)).toEqual([]);
  });
});
