import { ErrorCodes } from '@samsa/protocol';
import { describe, expect, it } from 'vitest';
import {
  ClassicGroups,
  type Completed,
  DEFAULT_CLASSIC_CONFIG,
  decodeConsumerAssignment,
  type JoinInput,
} from '../../src/group/classic.js';
import { DEFAULT_GROUP_CORE_CONFIG } from '../../src/group/core.js';
import { type CoordinatorLog, GroupCoordinator } from '../../src/group/driver.js';
import { decodeRecord, encodeKey, encodeValue, type GroupRecord } from '../../src/group/records.js';
import { namesMember } from '../../src/kafka/transactions.js';

const config = { ...DEFAULT_CLASSIC_CONFIG, initialRebalanceDelayMs: 100 };
const meta = (s: string) => Buffer.from(s);

function joinInput(memberId: string, protocols = [{ name: 'range', metadata: meta(memberId) }]): JoinInput {
  return {
    groupId: 'g',
    memberId,
    groupInstanceId: null,
    protocolType: 'consumer',
    protocols,
    sessionTimeoutMs: 10_000,
    rebalanceTimeoutMs: 30_000,
    clientId: 'c',
    clientHost: '/127.0.0.1',
    requireKnownMemberId: false,
  };
}

const joins = (completed: readonly Completed[]) =>
  completed.filter((c) => c.kind === 'join').map((c) => [c.memberId, c.answer] as const);

/** Joins members a and b into generation 1 (the initial delay run out), a the leader. */
function twoMembers(): { groups: ClassicGroups; completed: Completed[] } {
  const groups = new ClassicGroups(config);
  expect(groups.join(joinInput(''), 0, 'a').result).toBeUndefined();
  expect(groups.join(joinInput(''), 10, 'b').result).toBeUndefined();
  const { completed } = groups.tick(100);
  return { groups, completed };
}

describe('classic groups', () => {
  it('the first join phase waits out the initial delay; all hear the generation, the leader the members', () => {
    const { completed } = twoMembers();
    const answers = new Map(joins(completed));
    expect([...answers.keys()].sort()).toEqual(['a', 'b']);
    expect(answers.get('a')).toMatchObject({ errorCode: 0, generationId: 1, leader: 'a', protocolName: 'range' });
    expect(answers.get('a')!.members.map((m) => m.memberId)).toEqual(['a', 'b']);
    expect(answers.get('b')!.members).toEqual([]);
  });

  it('SyncGroup: followers wait for the leader; the assignment is a record and comes back after a replay', () => {
    const { groups } = twoMembers();
    const follower = groups.sync({ groupId: 'g', memberId: 'b', generationId: 1, assignments: [] }, 200);
    expect(follower.result).toBeUndefined();
    const leader = groups.sync(
      {
        groupId: 'g',
        memberId: 'a',
        generationId: 1,
        assignments: [
          { memberId: 'a', assignment: meta('A') },
          { memberId: 'b', assignment: meta('B') },
        ],
      },
      210,
    );
    expect(
      leader.completed.map((c) => [c.memberId, (c.answer as { assignment: Buffer }).assignment.toString()]),
    ).toEqual([
      ['a', 'A'],
      ['b', 'B'],
    ]);
    expect(leader.records).toHaveLength(1);
    const record = leader.records[0]!;
    const replayed = new ClassicGroups(config);
    replayed.apply(decodeRecord(encodeKey(record), encodeValue(record)) as never);
    replayed.finishLoad(1000);
    expect(replayed.describe('g')).toEqual(groups.describe('g'));
    expect(replayed.heartbeat({ groupId: 'g', memberId: 'b', generationId: 1 }, 1000)).toBe(0);
  });

  it('a member leaving starts a rebalance: RebalanceInProgress, then the rejoin completes the next generation', () => {
    const { groups } = twoMembers();
    groups.sync({ groupId: 'g', memberId: 'a', generationId: 1, assignments: [] }, 200);
    const left = groups.leave('g', [{ memberId: 'a', instanceId: null }], 300);
    expect(left.result).toEqual([0]);
    expect(groups.heartbeat({ groupId: 'g', memberId: 'b', generationId: 1 }, 310)).toBe(
      ErrorCodes.REBALANCE_IN_PROGRESS.code,
    );
    expect(groups.heartbeat({ groupId: 'g', memberId: 'a', generationId: 1 }, 310)).toBe(
      ErrorCodes.UNKNOWN_MEMBER_ID.code,
    );
    const rejoin = groups.join(joinInput('b'), 320, 'unused');
    expect(joins(rejoin.completed)).toEqual([['b', expect.objectContaining({ generationId: 2, leader: 'b' })]]);
    expect(groups.checkCommit('g', 'b', 1)).toBe(ErrorCodes.ILLEGAL_GENERATION.code);
    expect(groups.checkCommit('g', 'b', 2)).toBe(0);
    expect(groups.checkCommit('g', '', -1)).toBe(ErrorCodes.UNKNOWN_MEMBER_ID.code);
  });

  it('a silent member is expelled after its session; one that does not rejoin in time leaves the generation', () => {
    const { groups } = twoMembers();
    groups.sync({ groupId: 'g', memberId: 'a', generationId: 1, assignments: [] }, 200);
    groups.heartbeat({ groupId: 'g', memberId: 'a', generationId: 1 }, 9_000);
    const expired = groups.tick(10_300);
    expect(expired.completed).toEqual([]);
    expect(groups.describe('g')!.members.map((m) => m.memberId)).toEqual(['a']);
    // a must rejoin; it does not, so the rebalance timeout (30 s) ends the generation without it.
    const timedOut = groups.tick(10_300 + 30_000);
    expect(groups.describe('g')).toMatchObject({ state: 'Empty', members: [] });
    expect(timedOut.records).toHaveLength(1);
    expect(groups.checkCommit('g', '', -1)).toBe(0);
  });

  it('JoinGroup v4+: MEMBER_ID_REQUIRED hands out the id; unknown ids and foreign protocols are refused', () => {
    const groups = new ClassicGroups(config);
    const first = groups.join({ ...joinInput(''), requireKnownMemberId: true }, 0, 'm1');
    expect(first.result).toMatchObject({ errorCode: ErrorCodes.MEMBER_ID_REQUIRED.code, memberId: 'm1' });
    expect(groups.join(joinInput('m1'), 1, 'x').result).toBeUndefined();
    expect(groups.join(joinInput('nobody'), 2, 'x').result).toMatchObject({
      errorCode: ErrorCodes.UNKNOWN_MEMBER_ID.code,
    });
    const foreign = groups.join(joinInput('', [{ name: 'roundrobin', metadata: meta('r') }]), 3, 'm2');
    expect(foreign.result).toMatchObject({ errorCode: ErrorCodes.INCONSISTENT_GROUP_PROTOCOL.code });
    expect(groups.join({ ...joinInput(''), sessionTimeoutMs: 10 }, 4, 'm3').result).toMatchObject({
      errorCode: ErrorCodes.INVALID_SESSION_TIMEOUT.code,
    });
  });

  it('a static member restarting takes its place and assignment back without a rebalance; the old id is fenced', () => {
    const groups = new ClassicGroups(config);
    const staticJoin = (memberId: string) => ({ ...joinInput(memberId), groupInstanceId: 'i-b' });
    groups.join(joinInput(''), 0, 'a');
    groups.join(staticJoin(''), 0, 'b');
    groups.tick(100);
    groups.sync({ groupId: 'g', memberId: 'b', generationId: 1, assignments: [] }, 110);
    const assignments = [
      { memberId: 'a', assignment: meta('A') },
      { memberId: 'b', assignment: meta('B') },
    ];
    groups.sync({ groupId: 'g', memberId: 'a', generationId: 1, assignments }, 120);
    const restarted = groups.join(staticJoin(''), 5_000, 'b2');
    expect(restarted.result).toMatchObject({ errorCode: 0, generationId: 1, memberId: 'b2', leader: 'a' });
    expect(restarted.records).toHaveLength(1);
    expect(groups.heartbeat({ groupId: 'g', memberId: 'a', generationId: 1 }, 5_010)).toBe(0);
    const synced = groups.sync({ groupId: 'g', memberId: 'b2', generationId: 1, assignments: [] }, 5_020);
    expect(synced.result!.assignment.toString()).toBe('B');
    expect(groups.heartbeat({ groupId: 'g', memberId: 'b', generationId: 1 }, 5_030)).toBe(
      ErrorCodes.UNKNOWN_MEMBER_ID.code,
    );
    expect(groups.join(staticJoin('b'), 5_040, 'x').result).toMatchObject({
      errorCode: ErrorCodes.FENCED_INSTANCE_ID.code,
    });
    expect(groups.describe('g')!.members.map((m) => m.memberId)).toEqual(['a', 'b2']);
    // Removed by its instance id alone (KIP-345's admin removal); a stale member id with it is fenced.
    const fenced = groups.leave('g', [{ memberId: 'b', instanceId: 'i-b' }], 5_050);
    expect(fenced.result).toEqual([ErrorCodes.FENCED_INSTANCE_ID.code]);
    // An instance id nobody holds names no member, even with a member id the group knows (Kafka's
    // ClassicGroup.validateMember): the dynamic member 'a' stays.
    expect(groups.leave('g', [{ memberId: 'a', instanceId: 'i-nobody' }], 5_055).result).toEqual([
      ErrorCodes.UNKNOWN_MEMBER_ID.code,
    ]);
    expect(groups.leave('g', [{ memberId: '', instanceId: 'i-b' }], 5_060).result).toEqual([0]);
    expect(groups.describe('g')!.members.map((m) => m.memberId)).toEqual(['a']);
  });

  it("a static member's old incarnation naming its instance id is fenced for good, not told to rejoin", () => {
    // Told UNKNOWN_MEMBER_ID, a Kafka client forgets its member id and joins again with the instance id,
    // which takes the instance back from the new process, which then does the same: the two would take
    // the partitions from each other for ever. FENCED_INSTANCE_ID is fatal in the client (as Kafka's
    // ClassicGroup.validateMember answers a Heartbeat, SyncGroup or OffsetCommit naming the instance).
    const groups = new ClassicGroups(config);
    const staticJoin = (memberId: string) => ({ ...joinInput(memberId), groupInstanceId: 'i-b' });
    groups.join(joinInput(''), 0, 'a');
    groups.join(staticJoin(''), 0, 'b');
    groups.tick(100);
    groups.sync({ groupId: 'g', memberId: 'b', generationId: 1, assignments: [] }, 110);
    groups.sync({ groupId: 'g', memberId: 'a', generationId: 1, assignments: [] }, 120);
    expect(groups.join(staticJoin(''), 5_000, 'b2').result).toMatchObject({ errorCode: 0, memberId: 'b2' });
    const old = { groupId: 'g', memberId: 'b', generationId: 1, groupInstanceId: 'i-b' };
    expect(groups.heartbeat(old, 5_010)).toBe(ErrorCodes.FENCED_INSTANCE_ID.code);
    expect(groups.sync({ ...old, assignments: [] }, 5_020).result).toMatchObject({
      errorCode: ErrorCodes.FENCED_INSTANCE_ID.code,
    });
    expect(groups.checkCommit('g', 'b', 1, 'i-b')).toBe(ErrorCodes.FENCED_INSTANCE_ID.code);
    // The new incarnation naming its instance is fine; without an instance id the old id is just unknown.
    const current = { ...old, memberId: 'b2' };
    expect(groups.heartbeat(current, 5_030)).toBe(0);
    expect(groups.checkCommit('g', 'b2', 1, 'i-b')).toBe(0);
    expect(groups.heartbeat({ ...old, groupInstanceId: null }, 5_040)).toBe(ErrorCodes.UNKNOWN_MEMBER_ID.code);
    expect(groups.describe('g')!.members.map((m) => m.memberId)).toEqual(['a', 'b2']);
  });

  it('SyncGroup v5 naming another protocol type or name than the generation is INCONSISTENT_GROUP_PROTOCOL', () => {
    const { groups } = twoMembers();
    const sync = (fields: object) =>
      groups.sync({ groupId: 'g', memberId: 'b', generationId: 1, assignments: [], ...fields }, 200).result;
    const inconsistent = { errorCode: ErrorCodes.INCONSISTENT_GROUP_PROTOCOL.code };
    expect(sync({ protocolType: 'connect' })).toMatchObject(inconsistent);
    expect(sync({ protocolType: 'consumer', protocolName: 'roundrobin' })).toMatchObject(inconsistent);
    // The right ones (or none, before v5) wait for the leader's assignment as before.
    expect(sync({ protocolType: 'consumer', protocolName: 'range' })).toBeUndefined();
  });

  it('the protocol is the one every member supports that most list first', () => {
    const groups = new ClassicGroups(config);
    const both = (first: string, second: string) => [
      { name: first, metadata: meta(first) },
      { name: second, metadata: meta(second) },
    ];
    groups.join(joinInput('', both('range', 'cooperative-sticky')), 0, 'a');
    groups.join(joinInput('', both('cooperative-sticky', 'range')), 0, 'b');
    groups.join(joinInput('', both('cooperative-sticky', 'range')), 0, 'c');
    const answers = joins(groups.tick(100).completed);
    expect(answers.every(([, a]) => a.protocolName === 'cooperative-sticky')).toBe(true);
  });

  it("reads Kafka's consumer protocol assignment", () => {
    // version 1, one topic "t" with partitions 0 and 2, null user data.
    const bytes = Buffer.from(
      '0001' + '00000001' + '000174' + '00000002' + '00000000' + '00000002' + 'ffffffff',
      'hex',
    );
    expect(decodeConsumerAssignment(bytes)).toEqual({ t: [0, 2] });
    expect(decodeConsumerAssignment(Buffer.alloc(0))).toEqual({});
  });
});

class MemLog implements CoordinatorLog {
  readonly batches: (readonly GroupRecord[])[] = [];
  append(records: readonly GroupRecord[]): Promise<number> {
    this.batches.push(records);
    return Promise.resolve(this.batches.length);
  }
  waitCommitted(): Promise<void> {
    return Promise.resolve();
  }
  endOffset(): number {
    return this.batches.length;
  }
  async *read(): AsyncIterable<readonly GroupRecord[]> {
    for (const b of this.batches) yield b;
  }
}

describe('classic groups in the coordinator driver', () => {
  it('a failover keeps generation, members and assignments; unparsable consumer bytes are not upgraded', async () => {
    let now = 0;
    let ids = 0;
    const make = () =>
      new GroupCoordinator({
        config: DEFAULT_GROUP_CORE_CONFIG,
        numPartitions: 1,
        nowMs: () => now,
        topics: () => new Map([['t', 2]]),
        newMemberId: () => `id${++ids}`,
        classic: { ...config, initialRebalanceDelayMs: 0 },
      });
    const log = new MemLog();
    const first = make();
    await first.becomeLeader(0, log);
    const joined = await first.joinGroup(joinInput(''));
    expect(joined).toMatchObject({ errorCode: 0, generationId: 1 });
    const synced = await first.syncGroup({
      groupId: 'g',
      memberId: joined.memberId,
      generationId: 1,
      assignments: [{ memberId: joined.memberId, assignment: meta('A') }],
    });
    expect(synced.assignment.toString()).toBe('A');
    // The leader joins again: generation 2, written as a second record that must replace the first.
    const again = await first.joinGroup({
      ...joinInput(joined.memberId),
      protocols: [{ name: 'range', metadata: meta('x') }],
    });
    expect(again).toMatchObject({ errorCode: 0, generationId: 2 });
    await first.syncGroup({
      groupId: 'g',
      memberId: joined.memberId,
      generationId: 2,
      assignments: [{ memberId: joined.memberId, assignment: meta('A2') }],
    });
    const commit = (generationId: number) =>
      first.commitKafkaOffsets({
        groupId: 'g',
        memberId: joined.memberId,
        memberEpoch: generationId,
        generationId,
        topics: [{ name: 't', partitions: [{ partition: 0, offset: 5, leaderEpoch: -1, metadata: '' }] }],
      });
    expect((await commit(1))[0]!.partitions[0]!.errorCode).toBe(ErrorCodes.ILLEGAL_GENERATION.code);
    expect((await commit(2))[0]!.partitions[0]!.errorCode).toBe(0);
    // Its metadata is not Kafka's consumer protocol: a KIP-848 member cannot turn it into its kind of group.
    await expect(
      first.heartbeat({
        groupId: 'g',
        memberId: '',
        memberEpoch: 0,
        rebalanceTimeoutMs: 1000,
        subscribedTopicNames: ['t'],
        clientId: 'c',
        clientHost: 'h',
      }),
    ).rejects.toMatchObject({ code: ErrorCodes.INCONSISTENT_GROUP_PROTOCOL.code });
    first.resign(0);

    now = 5_000;
    const second = make();
    await second.becomeLeader(0, log);
    expect(second.describeClassic('g')).toMatchObject({ state: 'Stable', generationId: 2 });
    expect(second.describeClassic('g')!.members[0]!.assignment.toString()).toBe('A2');
    expect(second.classicHeartbeat({ groupId: 'g', memberId: joined.memberId, generationId: 2 })).toBe(0);
    const offsets = await second.fetchOffsets({ groupId: 'g', memberId: '', memberEpoch: -1, topics: [] });
    expect(offsets).toEqual([{ name: 't', partitions: [expect.objectContaining({ partition: 0, offset: 5 })] }]);
  });

  it("a replaced static member's transactional commit naming its instance is FENCED_INSTANCE_ID", async () => {
    // TxnOffsetCommit v3+ carries the instance id: Kafka's classic group fences a commit whose instance is
    // held by another member id, and one naming only the instance (no member id, no generation) is
    // checked against its holder, not taken as a memberless commit.
    let ids = 0;
    const coordinator = new GroupCoordinator({
      config: DEFAULT_GROUP_CORE_CONFIG,
      numPartitions: 1,
      nowMs: () => 0,
      topics: () => new Map([['t', 2]]),
      newMemberId: () => `id${++ids}`,
      classic: { ...config, initialRebalanceDelayMs: 0 },
    });
    await coordinator.becomeLeader(0, new MemLog());
    const staticJoin = { ...joinInput(''), groupInstanceId: 'i-a' };
    const first = await coordinator.joinGroup(staticJoin);
    await coordinator.syncGroup({ groupId: 'g', memberId: first.memberId, generationId: 1, assignments: [] });
    const restarted = await coordinator.joinGroup(staticJoin);
    expect(restarted.errorCode).toBe(0);
    expect(restarted.memberId).not.toBe(first.memberId);
    const generation = restarted.generationId;
    await coordinator.syncGroup({
      groupId: 'g',
      memberId: restarted.memberId,
      generationId: generation,
      assignments: [],
    });
    const txnCommit = (memberId: string, generationId: number) =>
      coordinator
        .txnCommitOffsets(
          {
            groupId: 'g',
            memberId,
            memberEpoch: generationId,
            generationId,
            groupInstanceId: 'i-a',
            producerId: 7,
            producerEpoch: 0,
            topics: [{ name: 't', partitions: [{ partition: 0, offset: 5, leaderEpoch: -1, metadata: '' }] }],
          },
          () => Promise.resolve(),
        )
        .then(
          () => 0,
          (err: { code: number }) => err.code,
        );
    expect(await txnCommit(first.memberId, generation)).toBe(ErrorCodes.FENCED_INSTANCE_ID.code);
    expect(await txnCommit('', -1)).toBe(ErrorCodes.FENCED_INSTANCE_ID.code);
    expect(await txnCommit(restarted.memberId, generation)).toBe(0);
  });
});

describe('TxnOffsetCommit on the Kafka listener: which requests are fenced by member', () => {
  it('v3+ naming a member id, a generation or an instance id; never below v3', () => {
    const none = { memberId: '', generationId: -1, groupInstanceId: null };
    expect(namesMember(3, none)).toBe(false);
    expect(namesMember(3, { ...none, groupInstanceId: 'i-a' })).toBe(true);
    expect(namesMember(3, { ...none, memberId: 'm' })).toBe(true);
    expect(namesMember(3, { ...none, generationId: 0 })).toBe(true);
    expect(namesMember(2, { memberId: 'm', generationId: 1, groupInstanceId: 'i-a' })).toBe(false);
  });
});
