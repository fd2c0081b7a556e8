import { describe, expect, it } from 'vitest';
import {
  EMPTY_IMAGE,
  type MetadataImage,
  currentRoles,
  diffRoles,
  offlineReplicas,
  withBrokers,
  withController,
  withPartitionState,
  withTopicAssignment,
  withTopicConfigs,
} from '../../src/cluster/metadata.js';

const state = (leader: number, leaderEpoch: number, isr: number[]) => ({
  leader,
  leaderEpoch,
  isr,
  controllerEpoch: 1,
});

function cluster(): MetadataImage {
  let i = withBrokers(EMPTY_IMAGE, [
    { id: 2, host: 'b', port: 2 },
    { id: 1, host: 'a', port: 1 },
  ]);
  i = withController(i, 1, 5);
  i = withTopicAssignment(i, 't', [[1, 2], [2, 1], [2]]);
  i = withPartitionState(i, 't', 0, state(1, 0, [1, 2]), 0);
  i = withPartitionState(i, 't', 1, state(2, 0, [2, 1]), 0);
  return withPartitionState(i, 't', 2, state(2, 0, [2]), 0);
}

describe('metadata image', () => {
  it('builds up from znode reads without mutating earlier images', () => {
    const before = withTopicAssignment(EMPTY_IMAGE, 't', [[1]]);
    const after = withPartitionState(before, 't', 0, state(1, 3, [1]), 7);
    expect(before.topics.get('t')!.partitions[0]).toMatchObject({
      leader: -1,
      leaderEpoch: -1,
      isr: [],
      stateZkVersion: -1,
    });
    expect(after.topics.get('t')!.partitions[0]).toMatchObject({
      leader: 1,
      leaderEpoch: 3,
      isr: [1],
      stateZkVersion: 7,
    });
    expect([...cluster().brokers.keys()]).toEqual([1, 2]);
    expect(cluster()).toMatchObject({ controllerId: 1, controllerEpoch: 5 });
  });

  it('a topic created again under the same name (a new id) is the old one deleted, then a new one', () => {
    let before = withTopicAssignment(EMPTY_IMAGE, 't', [[1, 2]], '00000000000000a1');
    before = withTopicConfigs(withPartitionState(before, 't', 0, state(2, 0, [2, 1]), 0), 't', { 'retention.ms': '5' });
    // Same leader and epoch as before: only the id tells the two creations apart.
    const reborn = withTopicAssignment(before, 't', [[1, 2]], '00000000000000b2');
    expect(reborn.topics.get('t')).toMatchObject({ id: '00000000000000b2', configs: {} });
    expect(reborn.topics.get('t')!.partitions[0]).toMatchObject({ leader: -1, leaderEpoch: -1 });
    const after = withPartitionState(reborn, 't', 0, state(2, 0, [2, 1]), 0);
    expect(diffRoles(1, before, after)).toEqual([
      { kind: 'deleted', topic: 't', partition: 0 },
      expect.objectContaining({
        kind: 'follower',
        topic: 't',
        partition: 0,
        leader: 2,
        leaderEpoch: 0,
        topicId: '00000000000000b2',
      }),
    ]);
    // The same creation read again changes nothing.
    expect(diffRoles(1, before, withTopicAssignment(before, 't', [[1, 2]], '00000000000000a1'))).toEqual([]);
  });

  it('keeps states and configs when partitions are added, and ignores unknown topics', () => {
    let i = withTopicConfigs(cluster(), 't', { 'retention.ms': '5' });
    i = withTopicAssignment(i, 't', [[1, 2], [2, 1], [2], [1]]);
    expect(i.topics.get('t')!.configs).toEqual({ 'retention.ms': '5' });
    expect(i.topics.get('t')!.partitions[0]!.leader).toBe(1);
    expect(i.topics.get('t')!.partitions[3]!.leader).toBe(-1);
    expect(withPartitionState(i, 'nope', 0, state(1, 1, [1]), 1)).toBe(i);
    expect(withTopicConfigs(i, 'nope', {})).toBe(i);
  });

  it('lists offline replicas', () => {
    const i = withBrokers(cluster(), [{ id: 2, host: 'b', port: 2 }]);
    expect(offlineReplicas(i, i.topics.get('t')!.partitions[0]!)).toEqual([1]);
  });

  it('lists a registered replica whose broker reports that log offline (a full disk), only for that partition', () => {
    const brokers = [
      { id: 1, host: 'a', port: 1 },
      { id: 2, host: 'b', port: 2 },
    ];
    const i = withBrokers(cluster(), brokers, new Map([[2, [{ topic: 't', partition: 0 }]]]));
    const [p0, p1] = i.topics.get('t')!.partitions;
    expect(offlineReplicas(i, p0!)).toEqual([2]);
    expect(offlineReplicas(i, p1!)).toEqual([]);
    // The next read of the registrations without the report: back online.
    expect(offlineReplicas(withBrokers(i, brokers), p0!)).toEqual([]);
  });
});

describe('diffRoles', () => {
  it('announces every hosted partition from nothing, and nothing when unchanged', () => {
    const roles = currentRoles(1, cluster());
    expect(roles.map((r) => [r.kind, r.partition])).toEqual([
      ['leader', 0],
      ['follower', 1],
    ]);
    expect(roles[1]).toMatchObject({ leader: 2, leaderEpoch: 0, isr: [2, 1], replicas: [2, 1] });
    expect(diffRoles(1, cluster(), cluster())).toEqual([]);
  });

  it('re-announces on a new leader epoch, even with the same leader', () => {
    const next = withPartitionState(cluster(), 't', 0, state(1, 1, [1]), 1);
    expect(diffRoles(1, cluster(), next)).toEqual([
      expect.objectContaining({ kind: 'leader', partition: 0, leaderEpoch: 1 }),
    ]);
    expect(diffRoles(2, cluster(), next)).toEqual([
      expect.objectContaining({ kind: 'follower', partition: 0, leader: 1, leaderEpoch: 1 }),
    ]);
    // An ISR-only change (leader's AlterIsr keeps the epoch) is not a role change.
    const isrOnly = withPartitionState(cluster(), 't', 0, state(1, 0, [1]), 1);
    expect(diffRoles(1, cluster(), isrOnly)).toEqual([]);
  });

  it('re-announces a changed replica set within a term, and shows a move in progress', () => {
    // A reassignment's state (new epoch) may be read before its topic znode (new replicas).
    const moving = withTopicAssignment(
      cluster(),
      't',
      [[1, 2, 3], [2, 1], [2]],
      '',
      new Map([[0, { adding: [3], removing: [] }]]),
    );
    expect(diffRoles(1, cluster(), moving)).toEqual([
      expect.objectContaining({ kind: 'leader', partition: 0, leaderEpoch: 0, replicas: [1, 2, 3] }),
    ]);
    expect(moving.topics.get('t')!.partitions[0]).toMatchObject({ addingReplicas: [3], removingReplicas: [] });
    expect(diffRoles(3, cluster(), moving)).toEqual([
      expect.objectContaining({ kind: 'follower', partition: 0, leader: 1 }),
    ]);
  });

  it('becomes leader after failover and follower of no one when leaderless', () => {
    const failover = withPartitionState(cluster(), 't', 1, state(1, 1, [1]), 1);
    expect(diffRoles(1, cluster(), failover)).toEqual([expect.objectContaining({ kind: 'leader', partition: 1 })]);
    const leaderless = withPartitionState(cluster(), 't', 2, state(-1, 1, [2]), 1);
    expect(diffRoles(2, cluster(), leaderless)).toEqual([
      expect.objectContaining({ kind: 'follower', partition: 2, leader: -1 }),
    ]);
  });

  it('announces deletion of every hosted partition when the topic goes', () => {
    const gone = withTopicAssignment(cluster(), 't', undefined);
    expect(diffRoles(2, cluster(), gone)).toEqual([
      { kind: 'deleted', topic: 't', partition: 0 },
      { kind: 'deleted', topic: 't', partition: 1 },
      { kind: 'deleted', topic: 't', partition: 2 },
    ]);
    expect(diffRoles(3, cluster(), gone)).toEqual([]);
  });

  it('does not announce partitions whose state znode does not exist yet', () => {
    const pending = withTopicAssignment(EMPTY_IMAGE, 'auto', [[1]]);
    expect(diffRoles(1, EMPTY_IMAGE, pending)).toEqual([]);
  });
});
