/**
 * Mixed groups: classic (JoinGroup/SyncGroup) members in a KIP-848 group, the upgrade of a classic group
 * when a KIP-848 member joins it and the downgrade when the last one leaves, through the driver and core.
 */
import { ErrorCodes } from '@samsa/protocol';
import fc from 'fast-check';
import type { Logger } from 'pino';
import { describe, expect, it } from 'vitest';
import { DEFAULT_CLASSIC_CONFIG, type JoinInput, type MigrationPolicy } from '../../src/group/classic.js';
import {
  decodeAssignment,
  decodeSubscription,
  encodeAssignment,
  encodeSubscription,
} from '../../src/group/consumer-protocol.js';
import { DEFAULT_GROUP_CORE_CONFIG, type HeartbeatResult } from '../../src/group/core.js';
import { type CoordinatorLog, GroupCoordinator } from '../../src/group/driver.js';
import { toKeys, type TopicPartitions } from '../../src/group/partitions.js';
import { decodeRecord, encodeKey, encodeValue, type GroupRecord } from '../../src/group/records.js';

class MemLog implements CoordinatorLog {
  readonly batches: (readonly GroupRecord[])[] = [];
  append(records: readonly GroupRecord[]): Promise<number> {
    this.batches.push(records.map((r) => decodeRecord(encodeKey(r), encodeValue(r))));
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

const SESSION_MS = 10_000;

class Setup {
  now = 1_000;
  ids = 0;
  readonly log = new MemLog();
  coordinator: GroupCoordinator;

  constructor(
    readonly policy: MigrationPolicy = 'bidirectional',
    readonly logger?: Logger,
  ) {
    this.coordinator = this.make();
  }

  make(): GroupCoordinator {
    return new GroupCoordinator({
      logger: this.logger,
      config: { ...DEFAULT_GROUP_CORE_CONFIG, sessionTimeoutMs: 30_000, heartbeatIntervalMs: 1_000 },
      numPartitions: 1,
      nowMs: () => this.now,
      topics: () => new Map([['t', 4]]),
      newMemberId: () => `id${++this.ids}`,
      classic: { ...DEFAULT_CLASSIC_CONFIG, initialRebalanceDelayMs: 0, migrationPolicy: this.policy },
    });
  }

  async start(): Promise<this> {
    await this.coordinator.becomeLeader(0, this.log);
    return this;
  }

  /** A KIP-848 (SDK) member's heartbeat. */
  sdk(memberId: string, memberEpoch: number, owned: TopicPartitions = {}): Promise<HeartbeatResult> {
    return this.coordinator.heartbeat({
      groupId: 'g',
      memberId,
      memberEpoch,
      rebalanceTimeoutMs: 30_000,
      subscribedTopicNames: memberEpoch === 0 ? ['t'] : undefined,
      ownedTopicPartitions: Object.entries(owned).map(([topic, partitions]) => ({ topic, partitions })),
      clientId: 'sdk',
      clientHost: 'h',
    });
  }

  join(memberId: string, owned: TopicPartitions = {}, extra: Partial<JoinInput> = {}) {
    return this.coordinator.joinGroup({
      groupId: 'g',
      memberId,
      groupInstanceId: null,
      protocolType: 'consumer',
      protocols: [{ name: 'range', metadata: encodeSubscription(['t'], owned) }],
      sessionTimeoutMs: SESSION_MS,
      rebalanceTimeoutMs: 20_000,
      clientId: 'kafkajs',
      clientHost: 'h',
      requireKnownMemberId: false,
      ...extra,
    });
  }

  async sync(memberId: string, generationId: number, assignments: { memberId: string; assignment: Buffer }[] = []) {
    const answer = await this.coordinator.syncGroup({ groupId: 'g', memberId, generationId, assignments });
    return { ...answer, partitions: answer.errorCode === 0 ? decodeAssignment(answer.assignment) : undefined };
  }

  beat(memberId: string, generationId: number, groupInstanceId: string | null = null): number {
    return this.coordinator.classicHeartbeat({ groupId: 'g', memberId, generationId, groupInstanceId });
  }

  /** partition -> owners, from the core's view: never two. */
  owners(): Map<string, string[]> {
    const out = new Map<string, string[]>();
    for (const m of this.coordinator.coreOf(0)!.describeGroup('g')?.members ?? [])
      for (const k of [...toKeys(m.current.assigned), ...toKeys(m.current.pendingRevocation)])
        out.set(k, [...(out.get(k) ?? []), m.memberId]);
    return out;
  }
}

const count = (tps: TopicPartitions | undefined) => toKeys(tps ?? {}).length;
const partitionOf = (tps: TopicPartitions) => Number(toKeys(tps)[0]!.split('\u0000')[1]);

describe('mixed groups: classic members in a KIP-848 group', () => {
  it("a classic member joins, gets the server assignor's partitions once the SDK member gave them up", async () => {
    const s = await new Setup().start();
    const a = await s.sdk('', 0);
    expect(count(a.assignment)).toBe(4);
    // JoinGroup v4+: a member id first, then the join; no leader, no member list, generation = member epoch.
    const required = await s.join('', {}, { requireKnownMemberId: true });
    expect(required.errorCode).toBe(ErrorCodes.MEMBER_ID_REQUIRED.code);
    const joined = await s.join(required.memberId);
    expect(joined).toMatchObject({ errorCode: 0, leader: '', members: [], protocolType: 'consumer' });
    expect(joined.protocolName).toBe('range');
    const b = joined.memberId;
    // The SDK member still holds everything: the classic member gets nothing yet.
    const first = await s.sync(b, joined.generationId);
    expect(first.errorCode).toBe(0);
    expect(count(first.partitions)).toBe(0);
    expect(s.beat(b, joined.generationId)).toBe(0);
    // The SDK member is asked to give two up, and does.
    const told = await s.sdk(a.memberId, a.memberEpoch, a.assignment);
    expect(count(told.assignment)).toBe(2);
    for (const owners of s.owners().values()) expect(owners).toHaveLength(1);
    const acked = await s.sdk(a.memberId, told.memberEpoch, told.assignment);
    expect(acked.memberEpoch).toBeGreaterThan(a.memberEpoch);
    // Partitions the classic member waits for are free: its heartbeat tells it to join again.
    expect(s.beat(b, joined.generationId)).toBe(ErrorCodes.REBALANCE_IN_PROGRESS.code);
    const again = await s.join(b);
    const second = await s.sync(b, again.generationId);
    expect(count(second.partitions)).toBe(2);
    expect(toKeys(second.partitions!).some((k) => toKeys(acked.assignment!).includes(k))).toBe(false);
    expect(s.beat(b, again.generationId)).toBe(0);
    // Its commits are fenced by generation (= member epoch) and by ownership.
    const commit = (generationId: number, partition: number) =>
      s.coordinator.commitKafkaOffsets({
        groupId: 'g',
        memberId: b,
        memberEpoch: generationId,
        generationId,
        topics: [{ name: 't', partitions: [{ partition, offset: 7, leaderEpoch: -1, metadata: '' }] }],
      });
    const mine = Number(toKeys(second.partitions!)[0]!.split('\u0000')[1]);
    const theirs = Number(toKeys(acked.assignment!)[0]!.split('\u0000')[1]);
    expect((await commit(again.generationId, mine))[0]!.partitions[0]!.errorCode).toBe(0);
    expect((await commit(again.generationId, theirs))[0]!.partitions[0]!.errorCode).toBe(
      ErrorCodes.ILLEGAL_GENERATION.code,
    );
    await expect(commit(again.generationId - 1, mine)).rejects.toMatchObject({
      code: ErrorCodes.ILLEGAL_GENERATION.code,
    });
    // A KIP-848 heartbeat cannot speak for a classic member, nor the other way round.
    await expect(s.sdk(b, again.generationId)).rejects.toMatchObject({ code: ErrorCodes.UNKNOWN_MEMBER_ID.code });
    expect(s.beat(a.memberId, acked.memberEpoch)).toBe(ErrorCodes.UNKNOWN_MEMBER_ID.code);
  });

  it("a KIP-848 leave naming a classic member removes it, as Kafka's (no protocol check on a leave)", async () => {
    // Kafka's GroupMetadataManager.consumerGroupLeave fences whichever member the id names, classic or not
    // (the protocol is checked on a heartbeat that is not a leave, and LeaveGroup takes both kinds since
    // KAFKA-18188): a member id is the member's own secret, so its holder may remove it either way.
    const s = await new Setup().start();
    const a = await s.sdk('', 0);
    const joined = await s.join('');
    const b = joined.memberId;
    expect(s.coordinator.coreOf(0)!.describeGroup('g')!.members).toHaveLength(2);
    await expect(s.sdk(b, joined.generationId)).rejects.toMatchObject({ code: ErrorCodes.UNKNOWN_MEMBER_ID.code });
    const left = await s.sdk(b, -1);
    expect(left).toMatchObject({ memberId: b, memberEpoch: -1 });
    expect(
      s.coordinator
        .coreOf(0)!
        .describeGroup('g')!
        .members.map((m) => m.memberId),
    ).toEqual([a.memberId]);
    expect(s.beat(b, joined.generationId)).toBe(ErrorCodes.UNKNOWN_MEMBER_ID.code);
    const after = await s.sdk(a.memberId, a.memberEpoch, a.assignment);
    expect(count(after.assignment)).toBe(4);
  });

  it('LeaveGroup removes a KIP-848 member by its id or instance id, as Kafka since KAFKA-18188', async () => {
    // Kafka's classicGroupLeaveToConsumerGroup fences any member the request names (an admin's
    // removeMembersFromConsumerGroup, or a Kafka client's tool, sends LeaveGroup whatever the protocol).
    const s = await new Setup().start();
    const a = await s.sdk('', 0);
    const staticJoin = await s.coordinator.heartbeat({
      groupId: 'g',
      memberId: '',
      memberEpoch: 0,
      instanceId: 'i1',
      rebalanceTimeoutMs: 30_000,
      subscribedTopicNames: ['t'],
      ownedTopicPartitions: [],
      clientId: 'sdk',
      clientHost: 'h',
    });
    const b = (await s.join('')).memberId;
    const ids = () =>
      s.coordinator
        .coreOf(0)!
        .describeGroup('g')!
        .members.map((m) => m.memberId)
        .sort();
    expect(ids()).toEqual([a.memberId, b, staticJoin.memberId].sort());
    expect(
      await s.coordinator.leaveGroup('g', [
        { memberId: a.memberId, instanceId: null },
        { memberId: 'nobody', instanceId: null },
        { memberId: '', instanceId: 'no-such-instance' },
      ]),
    ).toEqual([0, ErrorCodes.UNKNOWN_MEMBER_ID.code, ErrorCodes.UNKNOWN_MEMBER_ID.code]);
    expect(ids()).toEqual([b, staticJoin.memberId].sort());
    // The removed member hears of it at its next heartbeat and joins again (the SDK does, under its id).
    await expect(s.sdk(a.memberId, a.memberEpoch, a.assignment)).rejects.toMatchObject({
      code: ErrorCodes.UNKNOWN_MEMBER_ID.code,
    });
    // A static KIP-848 member named by its instance id alone; another member id for it is fenced.
    expect(await s.coordinator.leaveGroup('g', [{ memberId: 'old', instanceId: 'i1' }])).toEqual([
      ErrorCodes.FENCED_INSTANCE_ID.code,
    ]);
    expect(await s.coordinator.leaveGroup('g', [{ memberId: '', instanceId: 'i1' }])).toEqual([0]);
    // No KIP-848 member is left: the group is classic again, its classic member rejoins.
    expect(s.coordinator.coreOf(0)!.describeGroup('g')!.members).toHaveLength(0);
    expect(s.coordinator.describeClassic('g')).toMatchObject({ state: 'PreparingRebalance' });
  });

  it('a KIP-848 rejoin that moves no partition does not make classic members rejoin', async () => {
    const s = await new Setup().start();
    const a = await s.sdk('', 0);
    const joined = await s.join('');
    const b = joined.memberId;
    const told = await s.sdk(a.memberId, a.memberEpoch, a.assignment);
    const acked = await s.sdk(a.memberId, told.memberEpoch, told.assignment);
    expect(s.beat(b, joined.generationId)).toBe(ErrorCodes.REBALANCE_IN_PROGRESS.code); // partitions released
    const settled = await s.join(b);
    const mine = (await s.sync(b, settled.generationId)).partitions!;
    expect(count(mine)).toBe(2);
    expect(s.beat(b, settled.generationId)).toBe(0);
    const core = () => s.coordinator.coreOf(0)!;
    const epochBefore = core().describeGroup('g')!.epoch;
    // The SDK member was fenced on its side and joins again under its id: the group epoch moves (its new
    // incarnation's epoch must be new), the target does not.
    const rejoined = await s.sdk(a.memberId, 0);
    expect(rejoined.memberEpoch).toBeGreaterThan(acked.memberEpoch);
    expect(rejoined.assignment).toEqual(acked.assignment);
    expect(core().describeGroup('g')!.epoch).toBeGreaterThan(epochBefore);
    // An eager client told to rebalance would stop everything it consumes for nothing: it is left at its
    // generation, which its commits and heartbeats keep using.
    expect(s.beat(b, settled.generationId)).toBe(0);
    expect((await s.sync(b, settled.generationId)).partitions).toEqual(mine);
    const commit = await s.coordinator.commitKafkaOffsets({
      groupId: 'g',
      memberId: b,
      memberEpoch: settled.generationId,
      generationId: settled.generationId,
      topics: [{ name: 't', partitions: [{ partition: partitionOf(mine), offset: 1, leaderEpoch: -1, metadata: '' }] }],
    });
    expect(commit[0]!.partitions[0]!.errorCode).toBe(0);
    expect(core().groupState('g')).toBe('Stable');
    // Two more members: its share shrinks, so it must rejoin now.
    const c = await s.sdk('', 0);
    await s.sdk('', 0);
    expect(c.memberEpoch).toBeGreaterThan(rejoined.memberEpoch);
    expect(s.beat(b, settled.generationId)).toBe(ErrorCodes.REBALANCE_IN_PROGRESS.code);
  });

  it('a classic member told to rejoin whose partitions then stay as they are is not expelled for it', async () => {
    // Its target changed (told REBALANCE_IN_PROGRESS, its JoinGroup due within its rebalance timeout), then
    // changed back before it joined: answered 0 since, it must not be expelled when that timeout ends (as
    // when the REBALANCE_IN_PROGRESS answer was lost and the client heartbeats on at its generation).
    const s = await new Setup().start();
    // The range assignor (contiguous ranges in member-id order) makes the change and its undoing exact.
    const sdk = (memberId: string, memberEpoch: number, owned: TopicPartitions = {}) =>
      s.coordinator.heartbeat({
        groupId: 'g',
        memberId,
        memberEpoch,
        rebalanceTimeoutMs: 30_000,
        subscribedTopicNames: memberEpoch === 0 ? ['t'] : undefined,
        serverAssignor: 'range',
        ownedTopicPartitions: Object.entries(owned).map(([topic, partitions]) => ({ topic, partitions })),
        clientId: 'sdk',
        clientHost: 'h',
      });
    const a = await sdk('', 0);
    const joined = await s.join('');
    const b = joined.memberId;
    const told = await sdk(a.memberId, a.memberEpoch, a.assignment);
    let acked = await sdk(a.memberId, told.memberEpoch, told.assignment);
    expect(s.beat(b, joined.generationId)).toBe(ErrorCodes.REBALANCE_IN_PROGRESS.code);
    const settled = await s.join(b);
    const mine = (await s.sync(b, settled.generationId)).partitions!;
    expect(count(mine)).toBe(2);
    // A third member (its id sorts between the two) takes one of b's: b is told to rejoin. The third
    // leaves before b has joined again: b's target is what it holds again.
    const c = await sdk('', 0);
    expect(s.beat(b, settled.generationId)).toBe(ErrorCodes.REBALANCE_IN_PROGRESS.code);
    await sdk(c.memberId, -1);
    for (let i = 0; i < 40; i++) {
      s.now += 1_000;
      acked = await sdk(a.memberId, acked.memberEpoch, acked.assignment);
      expect(s.beat(b, settled.generationId), `after ${i + 1} s`).toBe(0);
      s.coordinator.tick();
    }
    expect(
      s.coordinator
        .coreOf(0)!
        .describeGroup('g')!
        .members.map((m) => m.memberId),
    ).toContain(b);
    expect((await s.sync(b, settled.generationId)).partitions).toEqual(mine);
  });

  it('a cooperative classic member keeps what it owns until its JoinGroup no longer names it', async () => {
    const s = await new Setup().start();
    const joined = await s.join('');
    // Alone (and the first member) it is a classic group; the SDK member's join upgrades it.
    expect(joined.leader).toBe(joined.memberId);
    const all = encodeAssignment({ t: [0, 1, 2, 3] });
    await s.sync(joined.memberId, joined.generationId, [{ memberId: joined.memberId, assignment: all }]);
    const a = await s.sdk('', 0);
    expect(count(a.assignment)).toBe(0);
    const b = joined.memberId;
    expect(s.beat(b, joined.generationId)).toBe(ErrorCodes.REBALANCE_IN_PROGRESS.code);
    // It rejoins still owning all four: two are pending revocation, the SyncGroup gives the two it keeps.
    const again = await s.join(b, { t: [0, 1, 2, 3] });
    expect(again.generationId).toBe(joined.generationId);
    const kept = await s.sync(b, again.generationId);
    expect(count(kept.partitions)).toBe(2);
    expect(count((await s.sdk(a.memberId, a.memberEpoch)).assignment)).toBe(0);
    // Its client revokes the other two and joins again saying so: they move.
    const third = await s.join(b, kept.partitions);
    expect(third.generationId).toBeGreaterThan(joined.generationId);
    const moved = await s.sdk(a.memberId, a.memberEpoch);
    expect(count(moved.assignment)).toBe(2);
    for (const owners of s.owners().values()) expect(owners).toHaveLength(1);
  });

  it('a silent classic member is expelled after its own session timeout and its partitions move', async () => {
    const s = await new Setup().start();
    const a = await s.sdk('', 0);
    const joined = await s.join('');
    const told = await s.sdk(a.memberId, a.memberEpoch, a.assignment);
    s.now += SESSION_MS - 1;
    const alive = await s.sdk(a.memberId, told.memberEpoch, told.assignment);
    s.coordinator.tick();
    expect(s.coordinator.coreOf(0)!.describeGroup('g')!.members).toHaveLength(2);
    s.now += 2;
    s.coordinator.tick();
    expect(s.coordinator.coreOf(0)!.describeGroup('g')!.members).toHaveLength(1);
    expect(s.beat(joined.memberId, joined.generationId)).toBe(ErrorCodes.UNKNOWN_MEMBER_ID.code);
    const after = await s.sdk(a.memberId, alive.memberEpoch, alive.assignment);
    expect(count(after.assignment)).toBe(4);
  });

  it('logs each member the timers expel and each classic generation, for the operator', async () => {
    const lines: { obj: Record<string, unknown>; msg: string }[] = [];
    const info = (obj: Record<string, unknown>, msg: string) => lines.push({ obj, msg });
    const logger = { info, debug: () => {}, warn: () => {}, error: () => {} } as unknown as Logger;
    const logged = (prefix: string) => lines.filter((l) => l.msg.startsWith(prefix)).map((l) => l.obj);
    // A classic member: its generation is logged once, and its expulsion when it goes silent.
    const classic = await new Setup('bidirectional', logger).start();
    const joined = await classic.join('');
    classic.coordinator.tick();
    expect(logged('classic group rebalanced')).toEqual([
      { groupId: 'g', generationId: joined.generationId, members: 1, leader: joined.memberId, groupType: 'classic' },
    ]);
    classic.now += SESSION_MS + 1;
    classic.coordinator.tick();
    expect(logged('group member expelled')).toEqual([
      { groupId: 'g', memberId: joined.memberId, groupType: 'classic' },
    ]);
    // A KIP-848 member that goes silent past its session.
    lines.length = 0;
    const consumer = await new Setup('bidirectional', logger).start();
    const member = await consumer.sdk('', 0);
    consumer.now += 30_001;
    consumer.coordinator.tick();
    expect(logged('group member expelled')).toEqual([
      { groupId: 'g', memberId: member.memberId, groupType: 'consumer' },
    ]);
  });

  it('a KIP-848 member upgrades a classic group; the log replays to the same group', async () => {
    const s = await new Setup().start();
    const one = await s.join('');
    const joining = s.join('');
    // The second join starts a rebalance: both join generation 2; one leads and assigns 2 + 2.
    expect(s.beat(one.memberId, one.generationId)).toBe(ErrorCodes.REBALANCE_IN_PROGRESS.code);
    const oneAgain = await Promise.all([s.join(one.memberId), joining]);
    const two = oneAgain[1]!;
    expect(oneAgain.map((j) => j.errorCode)).toEqual([0, 0]);
    const assignments = [
      { memberId: one.memberId, assignment: encodeAssignment({ t: [0, 1] }) },
      { memberId: two.memberId, assignment: encodeAssignment({ t: [2, 3] }) },
    ];
    const generation = oneAgain[0]!.generationId;
    const leader = oneAgain[0]!.leader;
    const follower = leader === one.memberId ? two.memberId : one.memberId;
    const [synced] = await Promise.all([s.sync(follower, generation), s.sync(leader, generation, assignments)]);
    expect(count(synced.partitions)).toBe(2);
    // The SDK member joins: the classic members keep their partitions, at their generation.
    const a = await s.sdk('', 0);
    expect(count(a.assignment)).toBe(0);
    const group = s.coordinator.coreOf(0)!.describeGroup('g')!;
    expect(group.members).toHaveLength(3);
    expect(s.coordinator.describeClassic('g')).toBeUndefined();
    expect(group.members.filter((m) => m.member.classic).map((m) => m.current.memberEpoch)).toEqual([
      generation,
      generation,
    ]);
    // The one whose share shrinks is told to join again; as an eager member it gives everything up first.
    // The other holds exactly its target: it is left at its generation, consuming.
    const after = s.coordinator.coreOf(0)!.describeGroup('g')!.members;
    const moves = (id: string) => {
      const m = after.find((x) => x.memberId === id)!;
      return toKeys(m.target).join() !== toKeys(m.current.assigned).join();
    };
    expect([one.memberId, two.memberId].filter(moves)).toHaveLength(1);
    for (const id of [one.memberId, two.memberId]) {
      if (!moves(id)) {
        expect(s.beat(id, generation)).toBe(0);
        continue;
      }
      expect(s.beat(id, generation)).toBe(ErrorCodes.REBALANCE_IN_PROGRESS.code);
      const j = await s.join(id);
      // It owns nothing (eager): what it gives up needs no revocation round, it is at the new epoch at once.
      expect(j.generationId).toBeGreaterThan(generation);
      const got = await s.sync(id, j.generationId);
      expect(count(got.partitions)).toBeGreaterThan(0);
    }
    const given = await s.sdk(a.memberId, a.memberEpoch);
    expect(count(given.assignment)).toBeGreaterThan(0);
    for (const owners of s.owners().values()) expect(owners).toHaveLength(1);
    // A new coordinator loading the log has the same group.
    const live = JSON.stringify(s.coordinator.coreOf(0)!.describeGroup('g'));
    s.coordinator.resign(0);
    const replayed = s.make();
    await replayed.becomeLeader(0, s.log);
    expect(JSON.stringify(replayed.coreOf(0)!.describeGroup('g'))).toBe(live);
    expect(replayed.describeClassic('g')).toBeUndefined();
  });

  it('the last KIP-848 member leaving makes it a classic group again, which rebalances', async () => {
    const s = await new Setup().start();
    const a = await s.sdk('', 0);
    const b = await s.join('');
    const c = await s.join('');
    const told = await s.sdk(a.memberId, a.memberEpoch, a.assignment);
    await s.sdk(a.memberId, told.memberEpoch, told.assignment);
    await s.sdk(a.memberId, -1);
    expect(s.coordinator.coreOf(0)!.describeGroup('g')!.members).toHaveLength(0);
    expect(s.coordinator.describeClassic('g')).toMatchObject({ state: 'PreparingRebalance', protocolType: 'consumer' });
    // Each member's generation is stale: they join again, and the group is classic (a leader assigns).
    expect(s.beat(b.memberId, b.generationId)).toBe(ErrorCodes.ILLEGAL_GENERATION.code);
    const [jb, jc] = await Promise.all([s.join(b.memberId), s.join(c.memberId)]);
    expect(jb.generationId).toBe(jc.generationId);
    const leader = [jb, jc].find((j) => j.leader === j.memberId)!;
    expect(leader.members.map((m) => decodeSubscription(m.metadata).topics)).toEqual([['t'], ['t']]);
    // A log replay gives the classic group back, not the KIP-848 one.
    s.coordinator.resign(0);
    const replayed = s.make();
    await replayed.becomeLeader(0, s.log);
    expect(replayed.describeClassic('g')?.members).toHaveLength(2);
    expect(replayed.coreOf(0)!.describeGroup('g')?.members ?? []).toHaveLength(0);
  });

  it('a static classic member restarting takes its place and partitions back; the old id is fenced', async () => {
    const s = await new Setup().start();
    const a = await s.sdk('', 0);
    const first = await s.join('', {}, { groupInstanceId: 'kafkajs-0' });
    expect(first.errorCode).toBe(0);
    const told = await s.sdk(a.memberId, a.memberEpoch, a.assignment);
    await s.sdk(a.memberId, told.memberEpoch, told.assignment);
    const again = await s.join(first.memberId, {}, { groupInstanceId: 'kafkajs-0' });
    const held = await s.sync(first.memberId, again.generationId);
    expect(count(held.partitions)).toBe(2);
    // The process restarts: a join with the instance id and no member id.
    const restarted = await s.join('', {}, { groupInstanceId: 'kafkajs-0' });
    expect(restarted.errorCode).toBe(0);
    expect(restarted.memberId).not.toBe(first.memberId);
    // A generation none of its earlier incarnations had: the old process's commits are refused by it too.
    expect(restarted.generationId).toBeGreaterThan(again.generationId);
    expect((await s.sync(restarted.memberId, restarted.generationId)).partitions).toEqual(held.partitions);
    expect(s.beat(first.memberId, again.generationId)).toBe(ErrorCodes.UNKNOWN_MEMBER_ID.code);
    // The old process naming its instance is fenced for good (fatal in its client): told UNKNOWN_MEMBER_ID,
    // it would join again with the instance id and no member id, take the instance back, and the two
    // processes would take the partitions from each other for ever.
    expect(s.beat(first.memberId, again.generationId, 'kafkajs-0')).toBe(ErrorCodes.FENCED_INSTANCE_ID.code);
    const staleSync = await s.coordinator.syncGroup({
      groupId: 'g',
      memberId: first.memberId,
      generationId: again.generationId,
      groupInstanceId: 'kafkajs-0',
      assignments: [],
    });
    expect(staleSync.errorCode).toBe(ErrorCodes.FENCED_INSTANCE_ID.code);
    const staleJoin = await s.join(first.memberId, {}, { groupInstanceId: 'kafkajs-0' });
    expect(staleJoin.errorCode).toBe(ErrorCodes.FENCED_INSTANCE_ID.code);
    expect(s.beat(restarted.memberId, restarted.generationId, 'kafkajs-0')).toBe(0);
    expect(s.coordinator.coreOf(0)!.describeGroup('g')!.members).toHaveLength(2);
    // The SDK member was not disturbed.
    const undisturbed = await s.sdk(a.memberId, told.memberEpoch, told.assignment);
    expect(undisturbed.assignment).toEqual(told.assignment);
  });

  it('bad classic joins into a KIP-848 group get typed errors and change nothing', async () => {
    const s = await new Setup().start();
    const a = await s.sdk('', 0);
    const before = JSON.stringify(s.coordinator.coreOf(0)!.describeGroup('g'));
    const garbage = { name: 'range', metadata: Buffer.from('00010000ffff', 'hex') };
    const cases: [Partial<JoinInput>, number][] = [
      [{ protocols: [garbage] }, ErrorCodes.INCONSISTENT_GROUP_PROTOCOL.code],
      [{ protocolType: 'connect' }, ErrorCodes.INCONSISTENT_GROUP_PROTOCOL.code],
      [{ protocols: [] }, ErrorCodes.INCONSISTENT_GROUP_PROTOCOL.code],
      [{ sessionTimeoutMs: 10 }, ErrorCodes.INVALID_SESSION_TIMEOUT.code],
      // A member id the group neither knows nor handed out (an expelled member's): start again.
      [{ memberId: 'kafkajs-gone' }, ErrorCodes.UNKNOWN_MEMBER_ID.code],
      // The SDK member's id through JoinGroup.
      [{ memberId: a.memberId }, ErrorCodes.UNKNOWN_MEMBER_ID.code],
    ];
    for (const [extra, code] of cases) {
      const answer = await s.join(extra.memberId ?? '', {}, extra);
      expect(answer.errorCode, JSON.stringify(extra)).toBe(code);
    }
    expect(JSON.stringify(s.coordinator.coreOf(0)!.describeGroup('g'))).toBe(before);
  });

  it('consumer-protocol bytes: any mutation decodes or is refused with a RangeError', () => {
    const valid = encodeSubscription(['topic-a', 'b'], { 'topic-a': [0, 3] });
    const assignment = encodeAssignment({ t: [1, 2] });
    fc.assert(
      fc.property(fc.nat(), fc.integer({ min: 0, max: 255 }), fc.nat(), (at, value, cut) => {
        for (const [bytes, decode] of [
          [valid, decodeSubscription],
          [assignment, decodeAssignment],
        ] as const) {
          const mutated = Buffer.from(bytes);
          mutated[at % mutated.length] = value;
          for (const input of [mutated, bytes.subarray(0, cut % bytes.length)]) {
            try {
              decode(input);
            } catch (err) {
              expect(err).toBeInstanceOf(RangeError);
            }
          }
        }
      }),
      { numRuns: 2000 },
    );
  });

  it('group.consumer.migration.policy=disabled keeps the types apart', async () => {
    const s = await new Setup('disabled').start();
    const joined = await s.join('');
    expect(joined.errorCode).toBe(0);
    await expect(s.sdk('', 0)).rejects.toMatchObject({ code: ErrorCodes.INCONSISTENT_GROUP_PROTOCOL.code });
  });
});
