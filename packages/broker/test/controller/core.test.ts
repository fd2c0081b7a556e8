import { ErrorCodes } from '@samsa/protocol';
import { describe, expect, it } from 'vitest';
import { type ControllerInput, ControllerCore, type StepOutput } from '../../src/controller/core.js';
import type { ClusterSnapshot } from '../../src/controller/types.js';
import { decodePartitionState, partitionStatePath } from '../../src/controller/znodes.js';

const empty = (liveBrokerIds: number[]): ClusterSnapshot => ({ liveBrokerIds, topics: [], pendingDeletions: [] });

function elected(live: number[], epoch = 1): ControllerCore {
  const core = new ControllerCore();
  core.step({ type: 'ControllerElected', controllerEpoch: epoch, snapshot: empty(live) });
  return core;
}

function create(
  core: ControllerCore,
  topic: string,
  numPartitions: number,
  replicationFactor: number,
  configs = {},
  seed = 0,
): StepOutput {
  return core.step({
    type: 'CreateTopic',
    topic,
    numPartitions,
    replicationFactor,
    configs,
    seed,
    topicId: `id-${topic}`,
  });
}

const state = (core: ControllerCore, topic: string, p: number) => core.topic(topic)!.partitions[p]!.state!;

describe('ControllerCore: topic creation', () => {
  it('writes config, assignment and partition states in one batch and answers None', () => {
    const core = elected([1, 2, 3], 4);
    const out = create(core, 'orders', 2, 3, { 'retention.ms': '1000' });
    expect(out.results).toEqual([{ topic: 'orders', error: ErrorCodes.NONE, message: '' }]);
    expect(out.writes).toHaveLength(1);
    const ops = out.writes[0]!.ops;
    expect(ops.map((o) => `${o.op} ${o.path}`)).toEqual([
      'create /config/topics/orders',
      'create /brokers/topics/orders',
      'create /brokers/topics/orders/partitions',
      'create /brokers/topics/orders/partitions/0',
      'create /brokers/topics/orders/partitions/0/state',
      'create /brokers/topics/orders/partitions/1',
      'create /brokers/topics/orders/partitions/1/state',
    ]);
    expect(JSON.parse((ops[0] as { data: string }).data)).toEqual({ version: 1, config: { 'retention.ms': '1000' } });
    expect(JSON.parse((ops[1] as { data: string }).data)).toEqual({
      version: 3,
      partitions: { '0': [1, 2, 3], '1': [2, 3, 1] },
      topic_id: 'id-orders',
    });
    const s0 = decodePartitionState('orders', 0, (ops[4] as { data: string }).data);
    expect(s0).toEqual({ leader: 1, leaderEpoch: 0, isr: [1, 2, 3], controllerEpoch: 4 });
    // Every live replica hears its role.
    expect(out.announcements.filter((a) => a.partition === 1).map((a) => [a.brokerId, a.role])).toEqual([
      [2, 'leader'],
      [3, 'follower'],
      [1, 'follower'],
    ]);
  });

  it('rejects invalid requests with typed errors and writes nothing', () => {
    const core = elected([1, 2]);
    const cases: Array<[string, number, number, unknown]> = [
      ['bad name!', 1, 1, ErrorCodes.INVALID_TOPIC_EXCEPTION],
      ['..', 1, 1, ErrorCodes.INVALID_TOPIC_EXCEPTION],
      ['t', 0, 1, ErrorCodes.INVALID_PARTITIONS],
      ['t', 1, 3, ErrorCodes.INVALID_REPLICATION_FACTOR],
      ['t', 1, 0, ErrorCodes.INVALID_REPLICATION_FACTOR],
    ];
    for (const [name, parts, rf, error] of cases) {
      const out = create(core, name, parts, rf);
      expect(out.results[0]!.error).toBe(error);
      expect(out.writes).toEqual([]);
    }
    create(core, 't', 1, 1);
    const again = create(core, 't', 1, 1);
    expect(again.results[0]!.error).toBe(ErrorCodes.TOPIC_ALREADY_EXISTS);
    expect(again.writes).toEqual([]);
  });

  it('validateOnly answers without writing or remembering', () => {
    const core = elected([1]);
    const out = core.step({
      type: 'CreateTopic',
      topic: 'v',
      numPartitions: 1,
      replicationFactor: 1,
      configs: {},
      seed: 0,
      topicId: 'id-v',
      validateOnly: true,
    });
    expect(out.results[0]!.error).toBe(ErrorCodes.NONE);
    expect(out.writes).toEqual([]);
    expect(core.topic('v')).toBeUndefined();
  });

  it('refuses inputs before it is elected', () => {
    expect(() => new ControllerCore().step({ type: 'BrokerUp', brokerId: 1 })).toThrow(/before ControllerElected/);
  });
});

describe('ControllerCore: leader election on broker failure', () => {
  it('elects the first live ISR replica in assignment order, bumps the epoch and shrinks ISRs', () => {
    const core = elected([1, 2, 3], 2);
    create(core, 't', 3, 3); // [1,2,3] [2,3,1] [3,1,2]
    const out = core.step({ type: 'BrokerDown', brokerId: 1 });
    expect(state(core, 't', 0)).toEqual({ leader: 2, leaderEpoch: 1, isr: [2, 3], controllerEpoch: 2 });
    // Followers: the dead broker leaves the ISR (Kafka's controller bumps the epoch for that too).
    expect(state(core, 't', 1)).toEqual({ leader: 2, leaderEpoch: 1, isr: [2, 3], controllerEpoch: 2 });
    expect(state(core, 't', 2)).toEqual({ leader: 3, leaderEpoch: 1, isr: [3, 2], controllerEpoch: 2 });
    // Version-checked sets against the created znodes (version 0).
    const sets = out.writes.flatMap((w) => w.ops);
    expect(sets.map((o) => (o.op === 'set' ? `${o.path}@${o.expectedVersion}` : o.op))).toEqual([
      `${partitionStatePath('t', 0)}@0`,
      `${partitionStatePath('t', 1)}@0`,
      `${partitionStatePath('t', 2)}@0`,
    ]);
    expect(core.topic('t')!.partitions[0]!.stateZkVersion).toBe(1);
    expect(out.announcements.some((a) => a.brokerId === 1)).toBe(false);
  });

  it('never elects outside the ISR unless unclean election is enabled', () => {
    const core = elected([1, 2, 3]);
    create(core, 'clean', 1, 3);
    create(core, 'dirty', 1, 3, { 'unclean.leader.election.enable': 'true' });
    core.step({ type: 'BrokerDown', brokerId: 2 });
    core.step({ type: 'BrokerDown', brokerId: 3 });
    expect(state(core, 'clean', 0)).toMatchObject({ leader: 1, isr: [1] });
    core.step({ type: 'BrokerDown', brokerId: 1 });
    // Last ISR member died: no leader, the ISR keeps it, epoch bumped.
    expect(state(core, 'clean', 0)).toMatchObject({ leader: -1, isr: [1], leaderEpoch: 3 });
    expect(state(core, 'dirty', 0)).toMatchObject({ leader: -1, isr: [1], leaderEpoch: 3 });

    // Broker 3 (out of sync) returns: only the unclean topic moves on, with ISR [3].
    const out = core.step({ type: 'BrokerUp', brokerId: 3 });
    expect(state(core, 'clean', 0)).toMatchObject({ leader: -1, isr: [1], leaderEpoch: 3 });
    expect(state(core, 'dirty', 0)).toMatchObject({ leader: 3, isr: [3], leaderEpoch: 4 });
    expect(out.changes).toEqual([expect.objectContaining({ topic: 'dirty', unclean: true })]);

    // The last ISR member returns: clean election.
    core.step({ type: 'BrokerUp', brokerId: 1 });
    expect(state(core, 'clean', 0)).toMatchObject({ leader: 1, isr: [1], leaderEpoch: 4 });
    expect(state(core, 'dirty', 0)).toMatchObject({ leader: 3, isr: [3], leaderEpoch: 4 });
  });

  it('a returning broker that is not leaderless-eligible changes nothing', () => {
    const core = elected([1, 2]);
    create(core, 't', 1, 2);
    core.step({ type: 'BrokerDown', brokerId: 2 });
    const out = core.step({ type: 'BrokerUp', brokerId: 2 });
    expect(out.writes).toEqual([]);
    expect(state(core, 't', 0)).toMatchObject({ leader: 1, isr: [1], leaderEpoch: 1 });
  });

  it('BrokersChanged diffs the live set', () => {
    const core = elected([1, 2, 3]);
    create(core, 't', 1, 2, {}, 0); // [1,2]
    core.step({ type: 'BrokersChanged', liveBrokerIds: [2, 3, 4] });
    expect(core.liveBrokerIds).toEqual([2, 3, 4]);
    expect(state(core, 't', 0)).toMatchObject({ leader: 2, isr: [2] });
  });

  it('on failover, elects leaders for partitions whose leader died while there was no controller', () => {
    const core = new ControllerCore();
    const out = core.step({
      type: 'ControllerElected',
      controllerEpoch: 7,
      snapshot: {
        liveBrokerIds: [2, 3],
        pendingDeletions: [],
        topics: [
          {
            name: 't',
            configs: {},
            hasConfigZnode: true,
            hasPartitionsZnode: true,
            partitions: [
              {
                replicas: [1, 2, 3],
                hasPartitionZnode: true,
                stateZkVersion: 5,
                state: { leader: 1, leaderEpoch: 9, isr: [1, 3], controllerEpoch: 6 },
              },
              {
                replicas: [2, 3, 1],
                hasPartitionZnode: true,
                stateZkVersion: 0,
                state: { leader: 2, leaderEpoch: 0, isr: [2, 3, 1], controllerEpoch: 6 },
              },
              { replicas: [1], hasPartitionZnode: false },
            ],
          },
        ],
      },
    });
    expect(state(core, 't', 0)).toEqual({ leader: 3, leaderEpoch: 10, isr: [3], controllerEpoch: 7 });
    expect(state(core, 't', 1)).toEqual({ leader: 2, leaderEpoch: 1, isr: [2, 3], controllerEpoch: 7 });
    expect(core.topic('t')!.partitions[2]!.state).toBeUndefined();
    const ops = out.writes.flatMap((w) => w.ops);
    expect(ops).toContainEqual(
      expect.objectContaining({ op: 'set', path: partitionStatePath('t', 0), expectedVersion: 5 }),
    );
    // The uninitialised partition is created once its only replica comes up.
    const up = core.step({ type: 'BrokerUp', brokerId: 1 });
    expect(up.writes.flatMap((w) => w.ops).map((o) => `${o.op} ${o.path}`)).toEqual([
      'create /brokers/topics/t/partitions/2',
      'create /brokers/topics/t/partitions/2/state',
    ]);
    expect(state(core, 't', 2)).toEqual({ leader: 1, leaderEpoch: 0, isr: [1], controllerEpoch: 7 });
  });
});

describe('ControllerCore: topics written by others, deletion, AlterIsr', () => {
  it('initialises partition state for a topic another broker wrote (auto-creation)', () => {
    const core = elected([1, 2]);
    const out = core.step({
      type: 'TopicZnodesChanged',
      current: ['auto'],
      loaded: [
        {
          name: 'auto',
          configs: {},
          hasConfigZnode: true,
          hasPartitionsZnode: false,
          partitions: [{ replicas: [2, 1], hasPartitionZnode: false }],
        },
      ],
    });
    expect(out.writes.flatMap((w) => w.ops).map((o) => `${o.op} ${o.path}`)).toEqual([
      'create /brokers/topics/auto/partitions',
      'create /brokers/topics/auto/partitions/0',
      'create /brokers/topics/auto/partitions/0/state',
    ]);
    expect(state(core, 'auto', 0)).toMatchObject({ leader: 2, isr: [2, 1], leaderEpoch: 0 });
  });

  it('deletes children before parents, drops the request znode and announces deletion', () => {
    const core = elected([1, 2]);
    create(core, 'gone', 2, 2);
    const out = core.step({ type: 'DeleteTopic', topic: 'gone', adminRequest: true });
    expect(out.results[0]!.error).toBe(ErrorCodes.NONE);
    expect(out.writes[0]!.ops.map((o) => `${o.op} ${o.path}`)).toEqual([
      'delete /brokers/topics/gone/partitions/0/state',
      'delete /brokers/topics/gone/partitions/0',
      'delete /brokers/topics/gone/partitions/1/state',
      'delete /brokers/topics/gone/partitions/1',
      'delete /brokers/topics/gone/partitions',
      'delete /brokers/topics/gone',
      'delete /config/topics/gone',
      'delete /admin/delete_topics/gone',
    ]);
    expect(out.announcements.filter((a) => a.role === 'deleted')).toHaveLength(4);
    expect(core.topic('gone')).toBeUndefined();
    const unknown = core.step({ type: 'DeleteTopic', topic: 'gone', adminRequest: false });
    expect(unknown.results[0]!.error).toBe(ErrorCodes.UNKNOWN_TOPIC_OR_PARTITION);
    expect(unknown.writes).toEqual([]);
    const unknownAdmin = core.step({ type: 'DeleteTopic', topic: 'gone', adminRequest: true });
    expect(unknownAdmin.writes[0]!.ops).toEqual([
      { op: 'delete', path: '/admin/delete_topics/gone', expectedVersion: -1 },
    ]);
  });

  it('forgets topics whose znode disappeared', () => {
    const core = elected([1]);
    create(core, 'a', 1, 1);
    const out = core.step({ type: 'TopicZnodesChanged', current: [], loaded: [] });
    expect(core.topic('a')).toBeUndefined();
    expect(out.announcements).toEqual([{ role: 'deleted', brokerId: 1, topic: 'a', partition: 0 }]);
  });

  it('AlterIsr is fenced by leader, leader epoch and znode version; keeps the leader epoch', () => {
    const core = elected([1, 2, 3]);
    create(core, 't', 1, 3); // leader 1, isr [1,2,3], version 0
    const alter = (over: Partial<Extract<ControllerInput, { type: 'AlterIsr' }>>) =>
      core.step({
        type: 'AlterIsr',
        topic: 't',
        partition: 0,
        leaderId: 1,
        leaderEpoch: 0,
        stateZkVersion: 0,
        newIsr: [1, 2],
        ...over,
      });
    expect(alter({ leaderId: 2 }).results[0]!.error).toBe(ErrorCodes.NOT_LEADER_OR_FOLLOWER);
    expect(alter({ leaderEpoch: 1 }).results[0]!.error).toBe(ErrorCodes.UNKNOWN_LEADER_EPOCH);
    expect(alter({ stateZkVersion: 3 }).results[0]!.error).toBe(ErrorCodes.INVALID_UPDATE_VERSION);
    expect(alter({ newIsr: [2, 3] }).results[0]!.error).toBe(ErrorCodes.INVALID_REQUEST);
    expect(alter({ newIsr: [1, 4] }).results[0]!.error).toBe(ErrorCodes.INVALID_REQUEST);
    const good = alter({});
    expect(good.results[0]!.error).toBe(ErrorCodes.NONE);
    expect(good.writes[0]!.ops).toEqual([expect.objectContaining({ op: 'set', expectedVersion: 0 })]);
    expect(state(core, 't', 0)).toMatchObject({ leader: 1, leaderEpoch: 0, isr: [1, 2] });
    // The old version is now stale: a deposed proposal cannot overwrite.
    expect(alter({ newIsr: [1, 2, 3] }).results[0]!.error).toBe(ErrorCodes.INVALID_UPDATE_VERSION);
    core.step({ type: 'BrokerDown', brokerId: 1 });
    expect(alter({ stateZkVersion: 1, newIsr: [1, 2] }).results[0]!.error).toBe(ErrorCodes.NOT_LEADER_OR_FOLLOWER);
    expect(alter({ leaderId: 2, leaderEpoch: 0, stateZkVersion: 2, newIsr: [2] }).results[0]!.error).toBe(
      ErrorCodes.FENCED_LEADER_EPOCH,
    );
    expect(alter({ leaderId: 2, leaderEpoch: 1, stateZkVersion: 2, newIsr: [2, 1] }).results[0]!.error).toBe(
      ErrorCodes.INVALID_REQUEST,
    ); // 1 is dead
    expect(alter({ leaderId: 2, leaderEpoch: 1, stateZkVersion: 2, newIsr: [2, 3] }).results[0]!.error).toBe(
      ErrorCodes.NONE,
    ); // expand
  });
});

/** The leader of `topic`-`p` takes `broker` back into its ISR (as replication would once it caught up). */
function rejoin(core: ControllerCore, topic: string, p: number, broker: number): void {
  const view = core.topic(topic)!.partitions[p]!;
  const s = view.state!;
  const out = core.step({
    type: 'AlterIsr',
    topic,
    partition: p,
    leaderId: s.leader,
    leaderEpoch: s.leaderEpoch,
    stateZkVersion: view.stateZkVersion,
    newIsr: [...s.isr, broker],
  });
  expect(out.results[0]!.error).toBe(ErrorCodes.NONE);
}

const elect = (core: ControllerCore, partitions: Array<{ topic: string; partition: number }>) =>
  core.step({ type: 'ElectPreferredLeaders', partitions });

describe('ControllerCore: preferred leader election', () => {
  it('moves leadership back to the first replica once alive and in the ISR (epoch bumped, ISR kept)', () => {
    const core = elected([1, 2, 3], 7);
    create(core, 't', 3, 3); // [1,2,3] [2,3,1] [3,1,2]
    core.step({ type: 'BrokerDown', brokerId: 1 });
    core.step({ type: 'BrokerUp', brokerId: 1 });
    expect(state(core, 't', 0)).toMatchObject({ leader: 2, leaderEpoch: 1, isr: [2, 3] });

    // Back but not caught up: it may not lead.
    const early = elect(core, [{ topic: 't', partition: 0 }]);
    expect(early.results).toEqual([
      {
        topic: 't',
        partition: 0,
        error: ErrorCodes.PREFERRED_LEADER_NOT_AVAILABLE,
        message: 'preferred leader 1 of t-0 is not in the ISR',
      },
    ]);
    expect(early.writes).toEqual([]);

    rejoin(core, 't', 0, 1);
    const out = elect(core, [
      { topic: 't', partition: 0 },
      { topic: 't', partition: 1 },
    ]);
    expect(out.results.map((r) => [r.partition, r.error])).toEqual([
      [0, ErrorCodes.NONE],
      [1, ErrorCodes.ELECTION_NOT_NEEDED],
    ]);
    expect(state(core, 't', 0)).toEqual({ leader: 1, leaderEpoch: 2, isr: [2, 3, 1], controllerEpoch: 7 });
    // One version-checked write; every replica hears its new role.
    expect(out.writes.flatMap((w) => w.ops)).toEqual([
      expect.objectContaining({ op: 'set', path: partitionStatePath('t', 0), expectedVersion: 2 }),
    ]);
    expect(out.announcements.map((a) => [a.brokerId, a.role])).toEqual([
      [1, 'leader'],
      [2, 'follower'],
      [3, 'follower'],
    ]);
    expect(out.changes).toEqual([expect.objectContaining({ topic: 't', partition: 0, unclean: false })]);
  });

  it('answers unknown partitions and dead preferred replicas with typed errors; [] means all', () => {
    const core = elected([1, 2]);
    create(core, 'a', 2, 2); // [1,2] [2,1]
    core.step({ type: 'BrokerDown', brokerId: 1 });
    const out = elect(core, [
      { topic: 'a', partition: 0 },
      { topic: 'a', partition: 5 },
      { topic: 'nope', partition: 0 },
    ]);
    expect(out.results.map((r) => [r.topic, r.partition, r.error.name, r.message])).toEqual([
      ['a', 0, 'PreferredLeaderNotAvailable', 'preferred leader 1 of a-0 is not alive'],
      ['a', 5, 'UnknownTopicOrPartition', 'a-5 does not exist'],
      ['nope', 0, 'UnknownTopicOrPartition', 'nope-0 does not exist'],
    ]);
    expect(out.writes).toEqual([]);
    expect(elect(core, []).results.map((r) => [r.partition, r.error.name])).toEqual([
      [0, 'PreferredLeaderNotAvailable'],
      [1, 'ElectionNotNeeded'],
    ]);
  });

  it('the periodic check moves back only the partitions of brokers above the imbalance percentage', () => {
    const core = elected([1, 2, 3]);
    create(core, 'big', 30, 2); // each broker is preferred for 10 partitions
    const preferredBy = (b: number) =>
      core
        .topic('big')!
        .partitions.filter((p) => p.replicas[0] === b)
        .map((p) => p.partition);
    core.step({ type: 'BrokerDown', brokerId: 1 });
    core.step({ type: 'BrokerUp', brokerId: 1 });
    const ones = preferredBy(1);
    expect(ones.every((p) => state(core, 'big', p).leader !== 1)).toBe(true);
    // Nine of broker 1's ten caught up; one did not.
    for (const p of ones.slice(0, 9)) rejoin(core, 'big', p, 1);
    // Broker 1 leads none of its ten: 100% > 10%. The one out of the ISR stays where it is.
    const out = core.step({ type: 'ElectPreferredLeaders', partitions: 'imbalanced', imbalancePercentage: 10 });
    expect(out.results).toEqual([]);
    expect(ones.map((p) => state(core, 'big', p).leader)).toEqual([
      ...Array(9).fill(1),
      state(core, 'big', ones[9]!).leader,
    ]);
    expect(state(core, 'big', ones[9]!).leader).not.toBe(1);
    // 1 of 10 not led is 10%: not above the threshold, nothing moves, not even once it is eligible.
    rejoin(core, 'big', ones[9]!, 1);
    expect(
      core.step({ type: 'ElectPreferredLeaders', partitions: 'imbalanced', imbalancePercentage: 10 }).writes,
    ).toEqual([]);
    // A lower threshold moves it.
    core.step({ type: 'ElectPreferredLeaders', partitions: 'imbalanced', imbalancePercentage: 5 });
    expect(ones.every((p) => state(core, 'big', p).leader === 1)).toBe(true);
    // Balanced: a check writes nothing.
    expect(
      core.step({ type: 'ElectPreferredLeaders', partitions: 'imbalanced', imbalancePercentage: 0 }).writes,
    ).toEqual([]);
  });
});

describe('ControllerCore: adding partitions', () => {
  const grow = (core: ControllerCore, topic: string, count: number, version = 0): StepOutput =>
    core.step({ type: 'CreatePartitions', topic, count, topicZnode: { topicId: `id-${topic}`, version }, seed: 1 });

  it('writes the grown assignment over the version read and the new partitions, and announces their roles', () => {
    const core = elected([1, 2, 3]);
    create(core, 'orders', 2, 2);
    const out = grow(core, 'orders', 4, 7);
    expect(out.results).toEqual([{ topic: 'orders', error: ErrorCodes.NONE, message: '' }]);
    const ops = out.writes.flatMap((w) => w.ops);
    expect(ops.map((o) => `${o.op} ${o.path}`)).toEqual([
      'set /brokers/topics/orders',
      'create /brokers/topics/orders/partitions/2',
      'create /brokers/topics/orders/partitions/2/state',
      'create /brokers/topics/orders/partitions/3',
      'create /brokers/topics/orders/partitions/3/state',
    ]);
    const assignment = JSON.parse((ops[0] as { data: string }).data);
    expect(Object.keys(assignment.partitions)).toEqual(['0', '1', '2', '3']);
    expect(assignment.topic_id).toBe('id-orders');
    expect((ops[0] as { expectedVersion: number }).expectedVersion).toBe(7);
    expect(assignment.partitions['2']).toHaveLength(2);
    expect(core.topic('orders')!.partitions).toHaveLength(4);
    expect(state(core, 'orders', 3).leader).toBeGreaterThan(0);
    expect(out.announcements.filter((a) => a.role !== 'deleted' && a.partition >= 2)).toHaveLength(4);
  });

  it('refuses to shrink or keep the count, and unknown topics', () => {
    const core = elected([1, 2, 3]);
    create(core, 'orders', 3, 1);
    for (const count of [2, 3]) {
      const out = grow(core, 'orders', count);
      expect(out.results[0]!.error).toBe(ErrorCodes.INVALID_PARTITIONS);
      expect(out.writes).toEqual([]);
    }
    expect(grow(core, 'nope', 5).results[0]!.error).toBe(ErrorCodes.UNKNOWN_TOPIC_OR_PARTITION);
    expect(core.topic('orders')!.partitions).toHaveLength(3);
  });
});

describe('ControllerCore: altering topic configs', () => {
  const alter = (
    core: ControllerCore,
    topic: string,
    change: { set?: Record<string, string>; remove?: string[]; replace?: boolean; validateOnly?: boolean },
  ): StepOutput =>
    core.step({ type: 'AlterTopicConfigs', topic, set: change.set ?? {}, remove: change.remove ?? [], ...change });
  const written = (out: StepOutput) => out.writes.flatMap((w) => w.ops);

  it('sets over and removes from the current configs, writing /config/topics/<topic>', () => {
    const core = elected([1, 2, 3]);
    create(core, 'orders', 1, 2, { 'retention.ms': '1000', 'segment.bytes': '4096' });
    const out = alter(core, 'orders', { set: { 'retention.bytes': '10' }, remove: ['retention.ms'] });
    expect(out.results).toEqual([{ topic: 'orders', error: ErrorCodes.NONE, message: '' }]);
    const ops = written(out);
    expect(ops.map((o) => `${o.op} ${o.path}`)).toEqual(['set /config/topics/orders']);
    expect(JSON.parse((ops[0] as { data: string }).data).config).toEqual({
      'segment.bytes': '4096',
      'retention.bytes': '10',
    });
    expect(core.topic('orders')!.configs).toEqual({ 'segment.bytes': '4096', 'retention.bytes': '10' });
    // The same configs again, or validate_only: answered, nothing written.
    expect(written(alter(core, 'orders', { set: { 'retention.bytes': '10' } }))).toEqual([]);
    const checked = alter(core, 'orders', { set: { 'retention.bytes': '99' }, validateOnly: true });
    expect(checked.results[0]!.error).toBe(ErrorCodes.NONE);
    expect(written(checked)).toEqual([]);
    // AlterConfigs' full replacement.
    alter(core, 'orders', { set: { 'retention.ms': '5' }, replace: true });
    expect(core.topic('orders')!.configs).toEqual({ 'retention.ms': '5' });
  });

  it('refuses an unknown topic and a min.insync.replicas above the replication factor', () => {
    const core = elected([1, 2, 3]);
    create(core, 'orders', 2, 2);
    const unknown = alter(core, 'nope', { set: { 'retention.ms': '1' } });
    expect(unknown.results[0]!.error).toBe(ErrorCodes.UNKNOWN_TOPIC_OR_PARTITION);
    const tooMany = alter(core, 'orders', { set: { 'min.insync.replicas': '3' } });
    expect(tooMany.results[0]!.error).toBe(ErrorCodes.INVALID_CONFIG);
    expect(written(tooMany)).toEqual([]);
    expect(alter(core, 'orders', { set: { 'min.insync.replicas': '2' } }).results[0]!.error).toBe(ErrorCodes.NONE);
  });
});
