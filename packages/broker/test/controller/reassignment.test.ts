import { ErrorCodes } from '@samsa/protocol';
import { describe, expect, it } from 'vitest';
import { ControllerCore, type StepOutput } from '../../src/controller/core.js';
import { decodeTopic, encodeTopicAssignment, topicPath } from '../../src/controller/znodes.js';

function clusterWithTopic(live: number[], replicas: number[]): ControllerCore {
  const core = new ControllerCore();
  core.step({
    type: 'ControllerElected',
    controllerEpoch: 1,
    snapshot: { liveBrokerIds: live, topics: [], pendingDeletions: [] },
  });
  core.step({
    type: 'CreateTopic',
    topic: 't',
    numPartitions: 1,
    replicationFactor: replicas.length,
    configs: {},
    seed: 0,
    topicId: 'id-t',
  });
  // Put the wanted assignment in place: a move from the created one, completed at once.
  const created = core.topic('t')!.partitions[0]!.replicas;
  if (created.join() !== replicas.join()) throw new Error(`seed 0 gave [${created}], the test wants [${replicas}]`);
  return core;
}

const view = (core: ControllerCore) => core.topic('t')!.partitions[0]!;

const move = (core: ControllerCore, replicas: number[] | null): StepOutput =>
  core.step({ type: 'ReassignPartitions', reassignments: [{ topic: 't', partition: 0, replicas }] });

/** The leader takes replicas into its ISR, as it does once they have caught up. */
const expandIsr = (core: ControllerCore, isr: number[]): StepOutput => {
  const p = view(core);
  return core.step({
    type: 'AlterIsr',
    topic: 't',
    partition: 0,
    leaderId: p.state!.leader,
    leaderEpoch: p.state!.leaderEpoch,
    stateZkVersion: p.stateZkVersion,
    newIsr: isr,
  });
};

const topicZnode = (out: StepOutput) => {
  const op = out.writes.flatMap((w) => w.ops).findLast((o) => o.path === topicPath('t'));
  return op && op.op === 'set' ? decodeTopic('t', op.data) : undefined;
};

describe('ControllerCore: replica reassignment (KIP-455)', () => {
  it('adds the target replicas first, and removes the old ones only once the whole target is in the ISR', () => {
    const core = clusterWithTopic([1, 2, 3, 4], [1, 2, 3]);
    const started = move(core, [2, 3, 4]);
    expect(started.results).toEqual([{ topic: 't', partition: 0, error: ErrorCodes.NONE, message: '' }]);
    // Replicas: target, then the ones being removed; the topic znode records the move as Kafka does.
    expect(view(core)).toMatchObject({ replicas: [2, 3, 4, 1], adding: [4], removing: [1] });
    expect(topicZnode(started)?.moves.get(0)).toEqual({ adding: [4], removing: [1] });
    // Same leader, ISR and epoch: a new epoch with the same leader would race its in-flight appends.
    expect(view(core).state).toMatchObject({ leader: 1, leaderEpoch: 0, isr: [1, 2, 3] });
    expect(started.writes.flatMap((w) => w.ops).map((o) => o.path)).toEqual([topicPath('t')]);
    expect(started.announcements.map((a) => [a.brokerId, a.role])).toContainEqual([4, 'follower']);

    // Not yet in sync: nothing is removed, whatever else happens.
    core.step({ type: 'BrokersChanged', liveBrokerIds: [1, 2, 3, 4] });
    expect(view(core).replicas).toEqual([2, 3, 4, 1]);

    // Broker 4 caught up: leadership leaves broker 1 (being removed) for the first target replica in
    // the ISR, and replicas and ISR shrink to the target, all in one write with a new epoch.
    const done = expandIsr(core, [1, 2, 3, 4]);
    expect(view(core)).toMatchObject({ replicas: [2, 3, 4], adding: [], removing: [] });
    expect(view(core).state).toMatchObject({ leader: 2, leaderEpoch: 1, isr: [2, 3, 4] });
    expect(topicZnode(done)).toEqual({ replicas: [[2, 3, 4]], topicId: 'id-t', moves: new Map() });
    expect(done.announcements).toContainEqual({ role: 'deleted', brokerId: 1, topic: 't', partition: 0 });
  });

  it('cancel goes back to the original replicas and drops the ones being added from the ISR', () => {
    const core = clusterWithTopic([1, 2, 3, 4, 5], [1, 2, 3]);
    move(core, [3, 4, 5]);
    expandIsr(core, [1, 2, 3, 4]); // 4 in sync, 5 not yet: the move waits
    expect(view(core)).toMatchObject({ replicas: [3, 4, 5, 1, 2], adding: [4, 5], removing: [1, 2] });
    const cancelled = move(core, null);
    expect(cancelled.results[0]!.error).toBe(ErrorCodes.NONE);
    // As in Kafka, the original replicas are the current ones less those being added (in that order).
    expect(view(core)).toMatchObject({ replicas: [3, 1, 2], adding: [], removing: [] });
    expect(view(core).state).toMatchObject({ leader: 1, leaderEpoch: 0, isr: [1, 2, 3] });
    expect(cancelled.announcements).toContainEqual({ role: 'deleted', brokerId: 4, topic: 't', partition: 0 });
    expect(move(core, null).results[0]!.error).toBe(ErrorCodes.NO_REASSIGNMENT_IN_PROGRESS);
  });

  it('refuses dead brokers and duplicates, and accepts the same target again', () => {
    const core = clusterWithTopic([1, 2, 3, 4], [1, 2, 3]);
    expect(move(core, [1, 2, 9]).results[0]!.error).toBe(ErrorCodes.INVALID_REPLICA_ASSIGNMENT);
    expect(move(core, [1, 1, 2]).results[0]!.error).toBe(ErrorCodes.INVALID_REPLICA_ASSIGNMENT);
    expect(move(core, []).results[0]!.error).toBe(ErrorCodes.INVALID_REPLICA_ASSIGNMENT);
    expect(move(core, [2, 3, 4]).results[0]!.error).toBe(ErrorCodes.NONE);
    const again = move(core, [2, 3, 4]);
    expect(again.results[0]!.error).toBe(ErrorCodes.NONE);
    expect(again.writes).toEqual([]);
  });

  it('a new target replaces a move in progress: added replicas it does not name leave at once', () => {
    const core = clusterWithTopic([1, 2, 3, 4, 5], [1, 2, 3]);
    move(core, [2, 3, 4]);
    expandIsr(core, [1, 2, 3]);
    const replaced = move(core, [2, 3, 5]);
    expect(replaced.results[0]!.error).toBe(ErrorCodes.NONE);
    // Original replicas 1,2,3; now adding 5 (4 dropped), removing 1.
    expect(view(core)).toMatchObject({ replicas: [2, 3, 5, 1], adding: [5], removing: [1] });
    expect(replaced.announcements).toContainEqual({ role: 'deleted', brokerId: 4, topic: 't', partition: 0 });
    expandIsr(core, [1, 2, 3, 5]);
    expect(view(core)).toMatchObject({ replicas: [2, 3, 5], adding: [], removing: [] });
  });

  it('a dropped replica that is the only one in sync keeps the move: cancel is refused', () => {
    const core = clusterWithTopic([1, 2, 3, 4, 5], [1, 2, 3]);
    move(core, [4, 5, 3]);
    expandIsr(core, [1, 2, 3, 4]); // 5 not yet: the move waits
    // Brokers 1, 2 and 3 fail: 4 is the last ISR member and leads.
    core.step({ type: 'BrokersChanged', liveBrokerIds: [4, 5] });
    expect(view(core).state).toMatchObject({ leader: 4, isr: [4] });
    expect(move(core, null).results[0]!.error).toBe(ErrorCodes.REASSIGNMENT_IN_PROGRESS);
  });

  it('a new controller finishes a move its predecessor started', () => {
    const core = new ControllerCore();
    const data = encodeTopicAssignment([[2, 3, 4, 1]], 'id-t', new Map([[0, { adding: [4], removing: [1] }]]));
    const { replicas, moves } = decodeTopic('t', data);
    const out = core.step({
      type: 'ControllerElected',
      controllerEpoch: 2,
      snapshot: {
        liveBrokerIds: [1, 2, 3, 4],
        pendingDeletions: [],
        topics: [
          {
            name: 't',
            topicId: 'id-t',
            configs: {},
            hasConfigZnode: true,
            hasPartitionsZnode: true,
            partitions: [
              {
                replicas: replicas[0]!,
                ...moves.get(0),
                hasPartitionZnode: true,
                state: { leader: 1, leaderEpoch: 5, isr: [1, 2, 3, 4], controllerEpoch: 1 },
                stateZkVersion: 7,
              },
            ],
          },
        ],
      },
    });
    expect(view(core)).toMatchObject({ replicas: [2, 3, 4], adding: [], removing: [] });
    expect(view(core).state).toMatchObject({ leader: 2, leaderEpoch: 6, isr: [2, 3, 4], controllerEpoch: 2 });
    expect(topicZnode(out)?.moves.size).toBe(0);
  });
});

describe('topic znode: adding_replicas / removing_replicas', () => {
  it("round-trips Kafka's fields and leaves them out when nothing moves", () => {
    const moves = new Map([[1, { adding: [4], removing: [1] }]]);
    const data = encodeTopicAssignment(
      [
        [1, 2],
        [2, 3, 4, 1],
      ],
      'id',
      moves,
    );
    expect(JSON.parse(data)).toEqual({
      version: 3,
      partitions: { '0': [1, 2], '1': [2, 3, 4, 1] },
      adding_replicas: { '1': [4] },
      removing_replicas: { '1': [1] },
      topic_id: 'id',
    });
    expect(decodeTopic('t', data).moves).toEqual(moves);
    expect(
      JSON.parse(encodeTopicAssignment([[1]], undefined, new Map([[0, { adding: [], removing: [] }]]))).version,
    ).toBe(1);
    expect(() => decodeTopic('t', '{"version":2,"partitions":{"0":[1]},"adding_replicas":{"3":[2]}}')).toThrow(
      /names partition 3/,
    );
  });
});
