import { ErrorCodes, SamsaError } from '@samsa/protocol';
import { describe, expect, it } from 'vitest';
import { rangeAssignor, uniformAssignor } from '../../src/group/assignors.js';
import {
  DEFAULT_GROUP_CORE_CONFIG,
  GroupCoordinatorCore,
  type HeartbeatInput,
  type TopicsView,
} from '../../src/group/core.js';
import { javaStringHashCode, offsetsPartitionFor } from '../../src/group/hash.js';
import type { TopicPartitions } from '../../src/group/partitions.js';
import { decodeRecord, encodeKey, encodeValue, type GroupRecord } from '../../src/group/records.js';

const topics: TopicsView = new Map([
  ['orders', 6],
  ['payments', 2],
  ['__consumer_offsets', 50],
]);

function codeOf(fn: () => unknown): number | undefined {
  try {
    fn();
  } catch (err) {
    if (err instanceof SamsaError) return err.code;
    throw err;
  }
  return undefined;
}

/** A core and helpers to drive one group's members by hand. */
function setup(config = DEFAULT_GROUP_CORE_CONFIG) {
  const core = new GroupCoordinatorCore(config);
  const log: GroupRecord[] = [];
  let now = 1_000;
  let ids = 0;
  const hb = (input: Partial<HeartbeatInput> & { memberId?: string; memberEpoch: number }) => {
    const { records, result } = core.heartbeat(
      {
        groupId: 'g',
        memberId: '',
        rebalanceTimeoutMs: -1,
        clientId: 'c',
        clientHost: '127.0.0.1',
        ...input,
      },
      { nowMs: now, topics, newMemberId: `m${++ids}` },
    );
    log.push(...records);
    return result;
  };
  const tick = (ms: number) => {
    now += ms;
    log.push(...core.tick({ nowMs: now, topics }));
  };
  return { core, log, hb, tick };
}

const owned = (tps: TopicPartitions | undefined) =>
  Object.entries(tps ?? {}).map(([topic, partitions]) => ({ topic, partitions: [...partitions] }));

describe('hash', () => {
  it("is Java's String.hashCode, and Integer.MIN_VALUE maps to partition 0", () => {
    expect(javaStringHashCode('')).toBe(0);
    expect(javaStringHashCode('hello')).toBe(99162322);
    expect(javaStringHashCode('polygenelubricants')).toBe(-2147483648);
    expect(offsetsPartitionFor('polygenelubricants', 50)).toBe(0);
    expect(offsetsPartitionFor('hello', 50)).toBe(99162322 % 50);
    expect(javaStringHashCode('Aa')).toBe(javaStringHashCode('BB'));
  });
});

describe('records', () => {
  it('round-trip, tombstones included, and equal keys are equal bytes', () => {
    const records: GroupRecord[] = [
      {
        type: 'offset',
        group: 'g',
        topic: 't',
        partition: 7,
        value: { offset: 42, leaderEpoch: 3, metadata: 'm', commitTimestampMs: 5 },
      },
      { type: 'offset', group: 'g', topic: 't', partition: 7, value: null },
      { type: 'group', group: 'grüppe', value: { epoch: 4, topics: { t: 3 } } },
      { type: 'target', group: 'g', memberId: 'm1', value: { partitions: { t: [0, 2] } } },
      { type: 'current', group: 'g', memberId: 'm1', value: null },
    ];
    for (const r of records) expect(decodeRecord(encodeKey(r), encodeValue(r))).toEqual(r);
    expect(encodeKey(records[0]!)).toEqual(encodeKey(records[1]!));
    expect(() => decodeRecord(Buffer.from([0, 9]), null)).toThrow(/unknown key type/);
    expect(() => decodeRecord(Buffer.from([0, 0, 0, 5, 65]), null)).toThrow(/truncated/);
  });

  it('an offset value without a leader epoch (or a negative one) reads as -1, unknown', () => {
    const record: GroupRecord = { type: 'offset', group: 'g', topic: 't', partition: 0, value: null };
    const jsonValue = (json: object) => Buffer.concat([Buffer.from([0, 0]), Buffer.from(JSON.stringify(json))]);
    const old = { offset: 42, metadata: 'm', commitTimestampMs: 5 };
    expect(decodeRecord(encodeKey(record), jsonValue(old)).value).toEqual({ ...old, leaderEpoch: -1 });
    expect(decodeRecord(encodeKey(record), jsonValue({ ...old, leaderEpoch: -7 })).value).toEqual({
      ...old,
      leaderEpoch: -1,
    });
  });
});

describe('assignors', () => {
  const members = (n: number, topicsOf = ['orders']) =>
    Array.from({ length: n }, (_, i) => ({ memberId: `m${i}`, topics: topicsOf }));
  const counts = new Map([['orders', 6]]);

  it('range gives contiguous ranges in member order', () => {
    const out = rangeAssignor({ members: members(4), partitionCounts: counts, previous: new Map() });
    expect([...out.values()]).toEqual([{ orders: [0, 1] }, { orders: [2, 3] }, { orders: [4] }, { orders: [5] }]);
  });

  it('uniform balances and moves only what it must when a member joins', () => {
    const first = uniformAssignor({ members: members(3), partitionCounts: counts, previous: new Map() });
    expect([...first.values()].map((t) => t.orders?.length)).toEqual([2, 2, 2]);
    const second = uniformAssignor({ members: members(6), partitionCounts: counts, previous: first });
    let moved = 0;
    for (const [id, tps] of first) moved += tps.orders!.filter((p) => !second.get(id)!.orders?.includes(p)).length;
    expect(moved).toBe(3);
    expect([...second.values()].map((t) => t.orders?.length)).toEqual([1, 1, 1, 1, 1, 1]);
    const seventh = uniformAssignor({ members: members(7), partitionCounts: counts, previous: second });
    expect([...seventh.values()].filter((t) => !t.orders).length).toBe(1);
  });

  it('uniform respects subscriptions', () => {
    const out = uniformAssignor({
      members: [
        { memberId: 'a', topics: ['orders', 'payments'] },
        { memberId: 'b', topics: ['payments'] },
      ],
      partitionCounts: new Map([
        ['orders', 6],
        ['payments', 2],
      ]),
      previous: new Map(),
    });
    expect(out.get('b')).toEqual({ payments: [0, 1] });
    expect(out.get('a')).toEqual({ orders: [0, 1, 2, 3, 4, 5] });
  });
});

describe('group core', () => {
  it('moves a partition only after its old owner acknowledged the revocation', () => {
    const { core, hb } = setup();
    const a = hb({ memberEpoch: 0, subscribedTopicNames: ['orders'], ownedTopicPartitions: [] });
    expect(a.memberEpoch).toBe(1);
    expect(a.assignment).toEqual({ orders: [0, 1, 2, 3, 4, 5] });
    const b = hb({ memberEpoch: 0, subscribedTopicNames: ['orders'], ownedTopicPartitions: [] });
    expect(b.memberEpoch).toBe(2);
    expect(b.assignment).toEqual({}); // everything is still a's
    // a is asked to give three partitions back, and keeps its epoch until it does.
    const a2 = hb({ memberId: a.memberId, memberEpoch: 1, ownedTopicPartitions: owned(a.assignment) });
    expect(a2.memberEpoch).toBe(1);
    expect(a2.assignment!.orders!.length).toBe(3);
    expect(core.describeGroup('g')!.members[0]!.current.state).toBe('UnrevokedPartitions');
    expect(hb({ memberId: b.memberId, memberEpoch: 2, ownedTopicPartitions: [] }).assignment).toEqual({});
    const a3 = hb({ memberId: a.memberId, memberEpoch: 1, ownedTopicPartitions: owned(a2.assignment) });
    expect(a3.memberEpoch).toBe(2);
    const b2 = hb({ memberId: b.memberId, memberEpoch: 2, ownedTopicPartitions: [] });
    expect(b2.assignment!.orders!.length).toBe(3);
    expect(core.groupState('g')).toBe('Stable');
  });

  it('fences epochs, commits and unknown members with typed errors', () => {
    const { core, hb } = setup();
    const a = hb({ memberEpoch: 0, subscribedTopicNames: ['orders'], ownedTopicPartitions: [] });
    expect(codeOf(() => hb({ memberId: a.memberId, memberEpoch: 5 }))).toBe(ErrorCodes.FENCED_MEMBER_EPOCH.code);
    expect(codeOf(() => hb({ memberId: 'nobody', memberEpoch: 3 }))).toBe(ErrorCodes.UNKNOWN_MEMBER_ID.code);
    expect(codeOf(() => hb({ memberEpoch: 0 }))).toBe(ErrorCodes.INVALID_REQUEST.code);
    expect(codeOf(() => hb({ memberEpoch: 0, subscribedTopicRegex: '(' }))).toBe(
      ErrorCodes.INVALID_REGULAR_EXPRESSION.code,
    );
    expect(codeOf(() => hb({ memberEpoch: 0, subscribedTopicNames: ['orders'], serverAssignor: 'x' }))).toBe(
      ErrorCodes.UNSUPPORTED_ASSIGNOR.code,
    );
    expect(codeOf(() => hb({ groupId: '', memberEpoch: 0 }))).toBe(ErrorCodes.INVALID_GROUP_ID.code);
    expect(codeOf(() => hb({ groupId: 'x'.repeat(256), memberEpoch: 0 }))).toBe(ErrorCodes.INVALID_GROUP_ID.code);
    const ctx = { nowMs: 2_000, topics };
    const commit = (memberId: string, memberEpoch: number, partition: number, offset: number, metadata = '') =>
      core.commitOffsets(
        {
          groupId: 'g',
          memberId,
          memberEpoch,
          topics: [{ name: 'orders', partitions: [{ partition, offset, leaderEpoch: -1, metadata }] }],
        },
        ctx,
      ).result[0]!.partitions[0]!.errorCode;
    expect(commit(a.memberId, 1, 0, 10)).toBe(0);
    expect(core.committedOffset('g', 'orders', 0)).toBe(10);
    expect(commit(a.memberId, 1, 0, -1)).toBe(ErrorCodes.INVALID_REQUEST.code);
    expect(commit(a.memberId, 1, 0, 1, 'x'.repeat(5000))).toBe(ErrorCodes.OFFSET_METADATA_TOO_LARGE.code);
    expect(codeOf(() => commit(a.memberId, 0, 0, 11))).toBe(ErrorCodes.STALE_MEMBER_EPOCH.code);
    expect(codeOf(() => commit('zombie', 1, 0, 11))).toBe(ErrorCodes.UNKNOWN_MEMBER_ID.code);
    expect(codeOf(() => commit('', -1, 0, 11))).toBe(ErrorCodes.UNKNOWN_MEMBER_ID.code); // group has members
    const b = hb({ memberEpoch: 0, subscribedTopicNames: ['orders'], ownedTopicPartitions: [] });
    expect(commit(b.memberId, b.memberEpoch, 0, 12)).toBe(ErrorCodes.STALE_MEMBER_EPOCH.code); // not b's
    expect(core.deleteGroups(['g']).result[0]!.error.errorCode).toBe(ErrorCodes.NON_EMPTY_GROUP.code);
    expect(core.deleteGroups(['nope']).result[0]!.error.errorCode).toBe(ErrorCodes.GROUP_ID_NOT_FOUND.code);
  });

  it("answers a leave from a member it does not know as Kafka's consumerGroupLeave does, writing nothing", () => {
    const { core, hb, log } = setup();
    expect(codeOf(() => hb({ memberId: 'm', memberEpoch: -1 }))).toBe(ErrorCodes.GROUP_ID_NOT_FOUND.code);
    const a = hb({ memberEpoch: 0, subscribedTopicNames: ['orders'], ownedTopicPartitions: [] });
    const s = hb({ memberEpoch: 0, instanceId: 'i', subscribedTopicNames: ['orders'], ownedTopicPartitions: [] });
    const written = log.length;
    expect(codeOf(() => hb({ memberId: 'nobody', memberEpoch: -1 }))).toBe(ErrorCodes.UNKNOWN_MEMBER_ID.code);
    expect(codeOf(() => hb({ memberId: 'nobody', memberEpoch: -2, instanceId: 'j' }))).toBe(
      ErrorCodes.UNKNOWN_MEMBER_ID.code,
    );
    // An earlier incarnation of a static member naming the instance another member id holds now.
    expect(codeOf(() => hb({ memberId: 'old', memberEpoch: -2, instanceId: 'i' }))).toBe(
      ErrorCodes.FENCED_INSTANCE_ID.code,
    );
    expect(log.length).toBe(written);
    // A real leave is answered once; the same leave again (its answer lost) finds no member.
    expect(hb({ memberId: a.memberId, memberEpoch: -1 })).toMatchObject({ memberId: a.memberId, memberEpoch: -1 });
    expect(codeOf(() => hb({ memberId: a.memberId, memberEpoch: -1 }))).toBe(ErrorCodes.UNKNOWN_MEMBER_ID.code);
    // A static member leaving with -2 is kept for its session: its leave sent again is answered again.
    expect(hb({ memberId: s.memberId, memberEpoch: -2, instanceId: 'i' }).memberEpoch).toBe(-2);
    expect(hb({ memberId: s.memberId, memberEpoch: -2, instanceId: 'i' }).memberEpoch).toBe(-2);
    expect(core.describeGroup('g')!.members.map((m) => m.memberId)).toEqual([s.memberId]);
  });

  it('expels a silent member after the session timeout and a slow revoker after its rebalance timeout', () => {
    const { core, hb, tick } = setup({ ...DEFAULT_GROUP_CORE_CONFIG, sessionTimeoutMs: 10_000 });
    const a = hb({
      memberEpoch: 0,
      subscribedTopicNames: ['orders'],
      ownedTopicPartitions: [],
      rebalanceTimeoutMs: 5_000,
    });
    const b = hb({ memberEpoch: 0, subscribedTopicNames: ['orders'], ownedTopicPartitions: [] });
    hb({ memberId: a.memberId, memberEpoch: 1, ownedTopicPartitions: owned(a.assignment) }); // a must revoke
    tick(4_000);
    hb({ memberId: b.memberId, memberEpoch: b.memberEpoch, ownedTopicPartitions: [] });
    tick(1_500); // a's revocation deadline passed
    expect(core.describeGroup('g')!.members.map((m) => m.memberId)).toEqual([b.memberId]);
    const b2 = hb({ memberId: b.memberId, memberEpoch: b.memberEpoch, ownedTopicPartitions: [] });
    expect(b2.assignment).toEqual({ orders: [0, 1, 2, 3, 4, 5] });
    tick(10_001);
    expect(core.groupState('g')).toBe('Empty');
  });

  it('a static member that comes back within its session keeps its partitions, under a new epoch', () => {
    const { core, hb, tick } = setup();
    const commit = (memberId: string, memberEpoch: number) =>
      codeOf(() =>
        core.commitOffsets(
          {
            groupId: 'g',
            memberId,
            memberEpoch,
            topics: [{ name: 'orders', partitions: [{ partition: 0, offset: 1, leaderEpoch: -1, metadata: '' }] }],
          },
          { nowMs: 2_000, topics },
        ),
      );
    const join = { memberEpoch: 0, instanceId: 'i-b', subscribedTopicNames: ['orders'], ownedTopicPartitions: [] };
    const a = hb({ memberEpoch: 0, instanceId: 'i-a', subscribedTopicNames: ['orders'], ownedTopicPartitions: [] });
    const b = hb(join);
    let a2 = hb({ memberId: a.memberId, memberEpoch: 1, ownedTopicPartitions: owned(a.assignment) });
    a2 = hb({ memberId: a.memberId, memberEpoch: 1, ownedTopicPartitions: owned(a2.assignment) });
    const b2 = hb({ memberId: b.memberId, memberEpoch: 2, ownedTopicPartitions: [] });
    // While b has not left, a new process with its instance id is refused (KIP-848's rule): b may be alive.
    expect(codeOf(() => hb(join))).toBe(ErrorCodes.UNRELEASED_INSTANCE_ID.code);
    expect(hb({ memberId: b.memberId, memberEpoch: b2.memberEpoch }).memberEpoch).toBe(b2.memberEpoch);
    const epochBefore = core.describeGroup('g')!.epoch;
    // b leaves to restart (-2) and the new process takes its place.
    hb({ memberId: b.memberId, memberEpoch: -2 });
    const b3 = hb(join);
    expect(b3.memberId).not.toBe(b.memberId);
    expect(b3.assignment).toEqual(b2.assignment);
    // An epoch no earlier incarnation of the instance had (the group epoch moves, no partition does).
    expect(b3.memberEpoch).toBeGreaterThan(b2.memberEpoch);
    expect(core.describeGroup('g')!.epoch).toBe(epochBefore + 1);
    const a3 = hb({ memberId: a.memberId, memberEpoch: a2.memberEpoch, ownedTopicPartitions: owned(a2.assignment) });
    expect(a3.assignment).toEqual(a2.assignment);
    expect(a3.memberEpoch).toBe(epochBefore + 1);
    expect(codeOf(() => hb({ memberId: b.memberId, memberEpoch: 2 }))).toBe(ErrorCodes.UNKNOWN_MEMBER_ID.code);
    expect(commit(b.memberId, b2.memberEpoch)).toBe(ErrorCodes.UNKNOWN_MEMBER_ID.code);
    // The old process naming the instance is fenced for good (FencedInstanceId, fatal), not told to rejoin.
    const zombie = { memberId: b.memberId, memberEpoch: 2, instanceId: 'i-b' };
    expect(codeOf(() => hb(zombie))).toBe(ErrorCodes.FENCED_INSTANCE_ID.code);
    // One that found its session over on its own side joins again under its old id with epoch 0: refused
    // while the newer process holds the instance, which goes on undisturbed (before, the old one took the
    // instance back and the healthy newer process was fenced).
    const back = { ...join, memberId: b.memberId };
    expect(codeOf(() => hb(back))).toBe(ErrorCodes.UNRELEASED_INSTANCE_ID.code);
    const b4 = hb({ memberId: b3.memberId, memberEpoch: b3.memberEpoch, instanceId: 'i-b' });
    expect(b4).toMatchObject({ memberId: b3.memberId, memberEpoch: b3.memberEpoch, assignment: b2.assignment });
    // The holder rejoining under its own id (fenced on its side) is itself, not a takeover: it goes on.
    expect(hb({ ...join, memberId: b3.memberId }).memberId).toBe(b3.memberId);
    // A holder that crashed: its instance is free once its session ends here.
    const keepA = () => {
      const m = core.describeGroup('g')!.members.find((x) => x.memberId === a.memberId)!;
      hb({ memberId: a.memberId, memberEpoch: m.current.memberEpoch, ownedTopicPartitions: owned(m.current.assigned) });
    };
    tick(DEFAULT_GROUP_CORE_CONFIG.sessionTimeoutMs / 2);
    keepA();
    expect(codeOf(() => hb(join))).toBe(ErrorCodes.UNRELEASED_INSTANCE_ID.code);
    tick(DEFAULT_GROUP_CORE_CONFIG.sessionTimeoutMs / 2 + 1);
    keepA();
    const b5 = hb(join);
    expect(b5.memberEpoch).toBeGreaterThan(b4.memberEpoch);
    expect(commit(b3.memberId, b4.memberEpoch)).toBe(ErrorCodes.UNKNOWN_MEMBER_ID.code);
  });

  it("a static takeover's epoch bump does not fail the other members' commits under their epoch before it", () => {
    const { core, hb } = setup();
    const ctx = { nowMs: 2_000, topics };
    const input = (memberId: string, memberEpoch: number, partition: number) => ({
      groupId: 'g',
      memberId,
      memberEpoch,
      topics: [{ name: 'orders', partitions: [{ partition, offset: 3, leaderEpoch: -1, metadata: '' }] }],
    });
    const commit = (memberId: string, memberEpoch: number, partition: number) =>
      codeOf(() => core.commitOffsets(input(memberId, memberEpoch, partition), ctx));
    const txnCommit = (memberId: string, memberEpoch: number, partition: number) =>
      codeOf(() => core.txnCommitRecords(input(memberId, memberEpoch, partition), ctx));
    const join = { memberEpoch: 0, instanceId: 'i-b', subscribedTopicNames: ['orders'], ownedTopicPartitions: [] };
    const a = hb({ memberEpoch: 0, subscribedTopicNames: ['orders'], ownedTopicPartitions: [] });
    const b = hb(join);
    let a2 = hb({ memberId: a.memberId, memberEpoch: 1, ownedTopicPartitions: owned(a.assignment) });
    a2 = hb({ memberId: a.memberId, memberEpoch: a2.memberEpoch, ownedTopicPartitions: owned(a2.assignment) });
    const b2 = hb({ memberId: b.memberId, memberEpoch: b.memberEpoch, ownedTopicPartitions: [] });
    const mine = a2.assignment!.orders![0]!;
    hb({ memberId: b.memberId, memberEpoch: -2 });
    const b3 = hb(join);
    expect(b3.memberEpoch).toBeGreaterThan(b2.memberEpoch);
    // a's next heartbeat moves it to the new epoch, its partitions as they were; a commit it sent before
    // it heard of that epoch arrives after: taken (before, StaleMemberEpoch, and in a transaction an abort).
    const a3 = hb({ memberId: a.memberId, memberEpoch: a2.memberEpoch, ownedTopicPartitions: owned(a2.assignment) });
    expect(a3.memberEpoch).toBeGreaterThan(a2.memberEpoch);
    expect(a3.assignment).toEqual(a2.assignment);
    expect(commit(a.memberId, a2.memberEpoch, mine)).toBeUndefined();
    expect(txnCommit(a.memberId, a2.memberEpoch, mine)).toBeUndefined();
    expect(commit(a.memberId, a3.memberEpoch, mine)).toBeUndefined();
    // Not an epoch the member never had, nor one of another incarnation.
    expect(commit(a.memberId, a3.memberEpoch + 1, mine)).toBe(ErrorCodes.STALE_MEMBER_EPOCH.code);
    expect(commit(b3.memberId, b2.memberEpoch, b3.assignment!.orders![0]!)).toBe(ErrorCodes.STALE_MEMBER_EPOCH.code);
    // Once a's partitions change (a third member takes some), its earlier epochs are refused again.
    hb({ memberEpoch: 0, subscribedTopicNames: ['orders'], ownedTopicPartitions: [] });
    let a4 = hb({ memberId: a.memberId, memberEpoch: a3.memberEpoch, ownedTopicPartitions: owned(a3.assignment) });
    a4 = hb({ memberId: a.memberId, memberEpoch: a4.memberEpoch, ownedTopicPartitions: owned(a4.assignment) });
    expect(a4.memberEpoch).toBeGreaterThan(a3.memberEpoch);
    const kept = a4.assignment!.orders![0]!;
    expect(commit(a.memberId, a3.memberEpoch, kept)).toBe(ErrorCodes.STALE_MEMBER_EPOCH.code);
    expect(txnCommit(a.memberId, a3.memberEpoch, kept)).toBe(ErrorCodes.ILLEGAL_GENERATION.code);
    expect(commit(a.memberId, a4.memberEpoch, kept)).toBeUndefined();
  });

  it('a member rejoining with epoch 0 gets an epoch no earlier incarnation had: their commits are refused', () => {
    const { core, hb, log } = setup();
    const ctx = { nowMs: 2_000, topics };
    const commit = (memberId: string, memberEpoch: number, offset: number) =>
      codeOf(() =>
        core.commitOffsets(
          {
            groupId: 'g',
            memberId,
            memberEpoch,
            topics: [{ name: 'orders', partitions: [{ partition: 0, offset, leaderEpoch: -1, metadata: '' }] }],
          },
          ctx,
        ),
      );
    const a = hb({ memberEpoch: 0, subscribedTopicNames: ['orders'], ownedTopicPartitions: [] });
    expect(a.memberEpoch).toBe(1);
    expect(commit(a.memberId, 1, 5)).toBeUndefined();
    // Fenced on its side (cut off for a session, say) while the coordinator kept it: it gave everything
    // up and joins again under its id. The group's epoch has not moved, yet the member's must.
    const again = hb({
      memberId: a.memberId,
      memberEpoch: 0,
      subscribedTopicNames: ['orders'],
      ownedTopicPartitions: [],
    });
    expect(again.memberId).toBe(a.memberId);
    expect(again.memberEpoch).toBe(2);
    expect(again.assignment).toEqual(a.assignment);
    expect(core.describeGroup('g')!.epoch).toBe(2);
    // The old incarnation's commit, still on its way, is refused; the new one's is taken.
    expect(commit(a.memberId, 1, 9)).toBe(ErrorCodes.STALE_MEMBER_EPOCH.code);
    expect(core.committedOffset('g', 'orders', 0)).toBe(5);
    expect(commit(a.memberId, 2, 6)).toBeUndefined();
    // A member fenced while it had partitions to give up starts over without them: the other gets them.
    const b = hb({ memberEpoch: 0, subscribedTopicNames: ['orders'], ownedTopicPartitions: [] });
    const revoking = hb({ memberId: a.memberId, memberEpoch: 2, ownedTopicPartitions: owned(again.assignment) });
    expect(core.describeGroup('g')!.members.find((m) => m.memberId === a.memberId)!.current.state).toBe(
      'UnrevokedPartitions',
    );
    const rejoined = hb({ memberId: a.memberId, memberEpoch: 0, ownedTopicPartitions: [] });
    expect(rejoined.memberEpoch).toBe(4);
    expect(rejoined.assignment).toEqual(revoking.assignment);
    const b2 = hb({ memberId: b.memberId, memberEpoch: b.memberEpoch, ownedTopicPartitions: [] });
    expect(b2.memberEpoch).toBe(4);
    expect(b2.assignment!.orders).toHaveLength(3);
    const replayed = new GroupCoordinatorCore();
    for (const r of log) replayed.apply(decodeRecord(encodeKey(r), encodeValue(r)));
    expect(replayed.describeGroup('g')).toEqual(core.describeGroup('g'));
  });

  it('refuses regexes that can backtrack exponentially', () => {
    const { hb } = setup();
    for (const regex of ['(a+)+', '(a|aa)*x', '((ab)*)+', '(x)\\1', 'a'.repeat(2000)])
      expect(codeOf(() => hb({ memberEpoch: 0, subscribedTopicRegex: regex }))).toBe(
        ErrorCodes.INVALID_REGULAR_EXPRESSION.code,
      );
    for (const regex of ['orders-.*', '(orders|payments)-[0-9]+', 'a(b+)?c', '[(+]*', 'orders\\-eu'])
      expect(hb({ memberEpoch: 0, subscribedTopicRegex: regex }).memberEpoch).toBeGreaterThan(0);
  });

  it('regex subscriptions pick up new topics; internal topics never match', () => {
    const { core, hb } = setup();
    const a = hb({ memberEpoch: 0, subscribedTopicRegex: '.*', ownedTopicPartitions: [] });
    expect(Object.keys(a.assignment!)).toEqual(['orders', 'payments']);
    const more = new Map([...topics, ['orders-eu', 1]]);
    const { result } = core.heartbeat(
      {
        groupId: 'g',
        memberId: a.memberId,
        memberEpoch: a.memberEpoch,
        rebalanceTimeoutMs: -1,
        clientId: 'c',
        clientHost: 'h',
        ownedTopicPartitions: owned(a.assignment),
      },
      { nowMs: 2_000, topics: more, newMemberId: 'x' },
    );
    expect(result.assignment!['orders-eu']).toEqual([0]);
  });

  it('replaying the records rebuilds the same state', () => {
    const { core, log, hb } = setup();
    const a = hb({ memberEpoch: 0, subscribedTopicNames: ['orders', 'payments'], ownedTopicPartitions: [] });
    hb({ memberEpoch: 0, subscribedTopicNames: ['orders'], ownedTopicPartitions: [], serverAssignor: 'range' });
    hb({ memberId: a.memberId, memberEpoch: a.memberEpoch, ownedTopicPartitions: owned(a.assignment) });
    log.push(
      ...core.commitOffsets(
        {
          groupId: 'g2',
          memberId: '',
          memberEpoch: -1,
          topics: [{ name: 'orders', partitions: [{ partition: 1, offset: 5, leaderEpoch: -1, metadata: 'x' }] }],
        },
        { nowMs: 3, topics },
      ).records,
    );
    const replayed = new GroupCoordinatorCore();
    for (const r of log) replayed.apply(decodeRecord(encodeKey(r), encodeValue(r)));
    expect(replayed.describeGroup('g')).toEqual(core.describeGroup('g'));
    expect(replayed.fetchOffsets({ groupId: 'g2', memberId: '', memberEpoch: -1, topics: [] })).toEqual(
      core.fetchOffsets({ groupId: 'g2', memberId: '', memberEpoch: -1, topics: [] }),
    );
  });

  it('does not write an unchanged commit again until an hour has passed', () => {
    const { core } = setup();
    const commit = (offset: number, nowMs: number) =>
      core.commitOffsets(
        {
          groupId: 'g',
          memberId: '',
          memberEpoch: -1,
          topics: [{ name: 'orders', partitions: [{ partition: 0, offset, leaderEpoch: -1, metadata: '' }] }],
        },
        { nowMs, topics },
      );
    expect(commit(5, 1_000).records).toHaveLength(2); // the group and the offset
    const repeat = commit(5, 6_000);
    expect(repeat.records).toHaveLength(0);
    expect(repeat.result[0]!.partitions[0]!.errorCode).toBe(0);
    expect(commit(6, 7_000).records).toHaveLength(1);
    expect(commit(6, 7_000 + 60 * 60 * 1000).records).toHaveLength(1);
  });

  it('stores the committed leader epoch with the offset (KIP-320) and answers it; a new epoch is a change', () => {
    const { core } = setup();
    const commit = (offset: number, leaderEpoch: number, nowMs: number) =>
      core.commitOffsets(
        {
          groupId: 'g',
          memberId: '',
          memberEpoch: -1,
          topics: [{ name: 'orders', partitions: [{ partition: 0, offset, leaderEpoch, metadata: '' }] }],
        },
        { nowMs, topics },
      );
    const fetched = (c: GroupCoordinatorCore) =>
      c.fetchOffsets({ groupId: 'g', memberId: '', memberEpoch: -1, topics: [{ name: 'orders', partitions: [0, 1] }] });
    const log = commit(5, 3, 1_000).records;
    expect(fetched(core)[0]!.partitions).toEqual([
      { partition: 0, offset: 5, leaderEpoch: 3, metadata: '' },
      { partition: 1, offset: -1, leaderEpoch: -1, metadata: '' },
    ]);
    // The same offset under a newer epoch (read again after an unclean election) is written.
    const moved = commit(5, 4, 2_000).records;
    expect(moved).toHaveLength(1);
    log.push(...moved);
    const replayed = new GroupCoordinatorCore();
    for (const r of log) replayed.apply(decodeRecord(encodeKey(r), encodeValue(r)));
    expect(fetched(replayed)[0]!.partitions[0]).toEqual({ partition: 0, offset: 5, leaderEpoch: 4, metadata: '' });
    commit(6, -5, 3_000);
    expect(fetched(core)[0]!.partitions[0]!.leaderEpoch).toBe(-1);
    const txn = core.txnCommitRecords(
      {
        groupId: 'g',
        memberId: '',
        memberEpoch: -1,
        topics: [{ name: 'orders', partitions: [{ partition: 0, offset: 9, leaderEpoch: 6, metadata: '' }] }],
      },
      { nowMs: 4_000, topics },
    );
    expect(txn.records).toMatchObject([{ type: 'offset', value: { offset: 9, leaderEpoch: 6 } }]);
  });

  it('expires offsets of empty groups after the retention, then the group', () => {
    const { core, tick } = setup({
      ...DEFAULT_GROUP_CORE_CONFIG,
      offsetsRetentionMs: 60_000,
      offsetsRetentionCheckIntervalMs: 60_000,
    });
    core.commitOffsets(
      {
        groupId: 'g',
        memberId: '',
        memberEpoch: -1,
        topics: [{ name: 'orders', partitions: [{ partition: 0, offset: 5, leaderEpoch: -1, metadata: '' }] }],
      },
      { nowMs: 1_000, topics },
    );
    tick(30_000);
    expect(core.committedOffset('g', 'orders', 0)).toBe(5);
    tick(61_000);
    expect(core.hasGroup('g')).toBe(false);
  });
});
