import { describe, expect, it } from 'vitest';
import { ErrorCodes } from '@samsa/protocol';
import {
  type ApplicationProbe,
  Membership,
  type GroupPartition,
  type MembershipAction,
  type MembershipConfig,
} from '../src/group/membership.js';

const config: MembershipConfig = {
  rebalanceTimeoutMs: 300_000,
  sessionTimeoutMs: 10_000,
  serverAssignor: 'uniform',
  retryBackoffMs: 100,
  retryBackoffMaxMs: 1_000,
};

const tps = (topic: string, ...partitions: number[]): GroupPartition[] =>
  partitions.map((partition) => ({ topic, partition }));

const sorted = (list: readonly GroupPartition[]) => list.map((tp) => `${tp.topic}-${tp.partition}`).sort();

function only<T extends MembershipAction['type']>(
  actions: MembershipAction[],
  type: T,
): Extract<MembershipAction, { type: T }> {
  const matching = actions.filter((a) => a.type === type);
  expect(matching, `one ${type} action in ${JSON.stringify(actions)}`).toHaveLength(1);
  return matching[0] as Extract<MembershipAction, { type: T }>;
}

/** A member that joined at t=0 and got member id m1, epoch 1, interval 1000 ms and `assignment`. */
function joined(assignment: GroupPartition[], options: Partial<MembershipConfig> = {}) {
  const m = new Membership({ ...config, ...options });
  m.subscribe({ kind: 'topics', topics: ['t'] }, 0);
  const join = only(m.poll(0), 'heartbeat');
  m.heartbeatSucceeded(join.seq, { memberId: 'm1', memberEpoch: 1, heartbeatIntervalMs: 1_000, assignment }, 10);
  return m;
}

describe('Membership (the consumer side of KIP-848)', () => {
  it('joins with epoch 0 and the full subscription, then heartbeats on the interval', () => {
    const m = new Membership({ ...config, instanceId: 'i-1' });
    expect(m.state).toBe('unsubscribed');
    expect(m.poll(0)).toEqual([]);
    m.subscribe({ kind: 'topics', topics: ['a', 'b'] }, 0);
    const join = only(m.poll(0), 'heartbeat');
    expect(join.request).toMatchObject({
      memberId: '',
      memberEpoch: 0,
      instanceId: 'i-1',
      rebalanceTimeoutMs: 300_000,
      subscribedTopicNames: ['a', 'b'],
      subscribedTopicRegex: undefined,
      serverAssignor: 'uniform',
      ownedPartitions: [],
    });
    // One heartbeat in flight at a time.
    expect(m.poll(5)).toEqual([]);
    m.heartbeatSucceeded(join.seq, { memberId: 'm1', memberEpoch: 3, heartbeatIntervalMs: 1_000, assignment: [] }, 10);
    expect(m.state).toBe('stable');
    expect(m.memberId).toBe('m1');
    expect(m.memberEpoch).toBe(3);
    expect(m.poll(500)).toEqual([]);
    expect(m.nextWakeMs()).toBe(1_010);
    const beat = only(m.poll(1_010), 'heartbeat');
    expect(beat.request).toMatchObject({ memberId: 'm1', memberEpoch: 3 });
  });

  it('subscribes by regular expression', () => {
    const m = new Membership(config);
    m.subscribe({ kind: 'regex', source: 'orders-.*' }, 0);
    const join = only(m.poll(0), 'heartbeat');
    expect(join.request.subscribedTopicRegex).toBe('orders-.*');
    expect(join.request.subscribedTopicNames).toBeUndefined();
  });

  it('assigns new partitions, owns them only once reconciled, then acknowledges at once', () => {
    const m = joined(tps('t', 0, 1));
    const actions = m.poll(10);
    const reconcile = only(actions, 'reconcile');
    expect(sorted(reconcile.assign)).toEqual(['t-0', 't-1']);
    expect(reconcile.revoke).toEqual([]);
    expect(actions.some((a) => a.type === 'heartbeat')).toBe(false);
    expect(m.state).toBe('reconciling');
    expect(m.owned()).toEqual([]);
    // A heartbeat that comes due meanwhile still reports what is owned now: nothing.
    const keepAlive = only(m.poll(1_010), 'heartbeat');
    expect(keepAlive.request.ownedPartitions).toEqual([]);
    m.heartbeatSucceeded(
      keepAlive.seq,
      { memberId: 'm1', memberEpoch: 1, heartbeatIntervalMs: 1_000, assignment: tps('t', 0, 1) },
      1_020,
    );
    m.reconciled(reconcile.id);
    expect(m.state).toBe('acknowledging');
    const ack = only(m.poll(1_030), 'heartbeat');
    expect(sorted(ack.request.ownedPartitions)).toEqual(['t-0', 't-1']);
    m.heartbeatSucceeded(
      ack.seq,
      { memberId: 'm1', memberEpoch: 2, heartbeatIntervalMs: 1_000, assignment: tps('t', 0, 1) },
      1_040,
    );
    expect(m.state).toBe('stable');
  });

  it('revokes what left the assignment before acknowledging, and keeps the rest without a pause', () => {
    const m = joined(tps('t', 0, 1, 2));
    m.reconciled(only(m.poll(10), 'reconcile').id);
    const ack = only(m.poll(20), 'heartbeat');
    // A new member joined: the coordinator takes partition 2 away.
    m.heartbeatSucceeded(
      ack.seq,
      { memberId: 'm1', memberEpoch: 1, heartbeatIntervalMs: 1_000, assignment: tps('t', 0, 1) },
      30,
    );
    const reconcile = only(m.poll(30), 'reconcile');
    expect(sorted(reconcile.revoke)).toEqual(['t-2']);
    expect(reconcile.assign).toEqual([]);
    // Until the driver says it stopped partition 2 (and committed it), it is still owned and reported.
    expect(sorted(m.owned())).toEqual(['t-0', 't-1', 't-2']);
    m.reconciled(reconcile.id);
    const acknowledge = only(m.poll(40), 'heartbeat');
    expect(sorted(acknowledge.request.ownedPartitions)).toEqual(['t-0', 't-1']);
  });

  it('reconciles again when the assignment changed while reconciling', () => {
    const m = joined(tps('t', 0));
    const first = only(m.poll(10), 'reconcile');
    const beat = only(m.poll(1_010), 'heartbeat');
    m.heartbeatSucceeded(
      beat.seq,
      { memberId: 'm1', memberEpoch: 2, heartbeatIntervalMs: 1_000, assignment: tps('t', 1) },
      1_020,
    );
    // The first reconciliation is still running: no second one yet.
    expect(m.poll(1_020).filter((a) => a.type === 'reconcile')).toEqual([]);
    m.reconciled(first.id);
    const actions = m.poll(1_030);
    const second = only(actions, 'reconcile');
    expect(sorted(second.revoke)).toEqual(['t-0']);
    expect(sorted(second.assign)).toEqual(['t-1']);
    // It acknowledges what it owns now (t-0) while the second runs.
    expect(sorted(only(actions, 'heartbeat').request.ownedPartitions)).toEqual(['t-0']);
  });

  it('retries refused and undelivered heartbeats with a growing backoff', () => {
    const m = joined([]);
    let beat = only(m.poll(1_010), 'heartbeat');
    m.heartbeatFailed(beat.seq, ErrorCodes.NOT_COORDINATOR.code, 'moved', 1_020);
    expect(m.nextWakeMs()).toBe(1_120);
    expect(m.poll(1_100)).toEqual([]);
    beat = only(m.poll(1_120), 'heartbeat');
    m.heartbeatFailed(beat.seq, ErrorCodes.COORDINATOR_LOAD_IN_PROGRESS.code, 'loading', 1_130);
    expect(m.nextWakeMs()).toBe(1_330);
    beat = only(m.poll(1_330), 'heartbeat');
    m.heartbeatFailed(beat.seq, ErrorCodes.NETWORK_EXCEPTION.code, 'gone', 1_340);
    expect(m.nextWakeMs()).toBe(1_740);
    beat = only(m.poll(1_740), 'heartbeat');
    expect(beat.request).toMatchObject({ memberId: 'm1', memberEpoch: 1 });
    m.heartbeatSucceeded(
      beat.seq,
      { memberId: 'm1', memberEpoch: 1, heartbeatIntervalMs: 1_000, assignment: [] },
      1_750,
    );
    expect(m.nextWakeMs()).toBe(2_750);
    expect(m.state).toBe('stable');
  });

  it('ignores an answer to a heartbeat it no longer waits for', () => {
    const m = joined([]);
    const beat = only(m.poll(1_010), 'heartbeat');
    m.heartbeatSucceeded(
      beat.seq + 7,
      { memberId: 'x', memberEpoch: 99, heartbeatIntervalMs: 1, assignment: tps('t', 5) },
      1_020,
    );
    expect(m.memberEpoch).toBe(1);
    expect(m.poll(1_020)).toEqual([]);
  });

  it('fenced: loses every partition without a revoke, then rejoins with epoch 0 and the same member id', () => {
    const m = joined(tps('t', 0, 1));
    m.reconciled(only(m.poll(10), 'reconcile').id);
    const ack = only(m.poll(20), 'heartbeat');
    m.heartbeatFailed(ack.seq, ErrorCodes.FENCED_MEMBER_EPOCH.code, 'fenced', 30);
    const lose = only(m.poll(30), 'lose');
    expect(m.state).toBe('fenced');
    expect(m.isMember).toBe(false);
    // Nothing is sent until the driver has stopped the lost partitions.
    expect(m.poll(5_000)).toEqual([]);
    m.lost(lose.id, 5_000);
    expect(m.owned()).toEqual([]);
    const rejoin = only(m.poll(5_100), 'heartbeat');
    expect(rejoin.request).toMatchObject({ memberId: 'm1', memberEpoch: 0, ownedPartitions: [] });
  });

  it('an unknown member id is forgotten before rejoining', () => {
    const m = joined([]);
    const beat = only(m.poll(1_010), 'heartbeat');
    m.heartbeatFailed(beat.seq, ErrorCodes.UNKNOWN_MEMBER_ID.code, 'who?', 1_020);
    m.lost(only(m.poll(1_020), 'lose').id, 1_020);
    const rejoin = only(m.poll(2_000), 'heartbeat');
    expect(rejoin.request).toMatchObject({ memberId: '', memberEpoch: 0 });
  });

  it('a fence during a reconciliation abandons it: its late completion changes nothing', () => {
    const m = joined(tps('t', 0));
    const reconcile = only(m.poll(10), 'reconcile');
    const beat = only(m.poll(1_010), 'heartbeat');
    m.heartbeatFailed(beat.seq, ErrorCodes.FENCED_MEMBER_EPOCH.code, 'fenced', 1_020);
    const lose = only(m.poll(1_020), 'lose');
    m.reconciled(reconcile.id);
    expect(m.owned()).toEqual([]);
    m.lost(lose.id, 1_030);
    expect(only(m.poll(2_000), 'heartbeat').request.memberEpoch).toBe(0);
  });

  it('treats its partitions as lost when no heartbeat was answered for a session timeout', () => {
    const m = joined(tps('t', 0));
    m.reconciled(only(m.poll(10), 'reconcile').id);
    let beat = only(m.poll(20), 'heartbeat');
    m.heartbeatSucceeded(
      beat.seq,
      { memberId: 'm1', memberEpoch: 1, heartbeatIntervalMs: 1_000, assignment: tps('t', 0) },
      30,
    );
    let t = 1_030;
    for (;;) {
      const actions = m.poll(t);
      const lose = actions.find((a) => a.type === 'lose');
      if (lose) {
        // Counted from when the last answered heartbeat was sent (20), not when its answer came (30):
        // the coordinator may have heard it as early as that.
        expect(t).toBe(10_020);
        break;
      }
      beat = actions.find((a) => a.type === 'heartbeat') as typeof beat;
      if (beat) m.heartbeatFailed(beat.seq, ErrorCodes.REQUEST_TIMED_OUT.code, 'slow', t);
      t = m.nextWakeMs();
      expect(t).toBeLessThan(11_000);
    }
  });

  it('fails fatally on errors a retry cannot fix, giving up its partitions first', () => {
    const m = joined(tps('t', 0));
    m.reconciled(only(m.poll(10), 'reconcile').id);
    const beat = only(m.poll(20), 'heartbeat');
    m.heartbeatFailed(beat.seq, ErrorCodes.FENCED_INSTANCE_ID.code, 'replaced', 30);
    const actions = m.poll(30);
    expect(actions.map((a) => a.type)).toEqual(['lose', 'fatal']);
    expect(only(actions, 'fatal').errorCode).toBe(ErrorCodes.FENCED_INSTANCE_ID.code);
    expect(m.poll(100_000)).toEqual([]);
  });

  it('an unreleased instance id is waited out, not fatal', () => {
    const m = new Membership({ ...config, instanceId: 'i-1' });
    m.subscribe({ kind: 'topics', topics: ['t'] }, 0);
    const join = only(m.poll(0), 'heartbeat');
    m.heartbeatFailed(join.seq, ErrorCodes.UNRELEASED_INSTANCE_ID.code, 'in use', 10);
    expect(m.state).toBe('joining');
    expect(only(m.poll(110), 'heartbeat').request.memberEpoch).toBe(0);
  });

  it('unreleased instance id refused for a session and one heartbeat interval more: fatal', () => {
    // sessionTimeoutMs 10 000, heartbeat interval 5 000 (the default until a coordinator says): 15 s of refusals.
    const m = new Membership({ ...config, instanceId: 'i-1' });
    m.subscribe({ kind: 'topics', topics: ['t'] }, 0);
    let t = 0;
    let fatal: Extract<MembershipAction, { type: 'fatal' }> | undefined;
    while (fatal === undefined && t < 60_000) {
      for (const a of m.poll(t)) {
        if (a.type === 'heartbeat') m.heartbeatFailed(a.seq, ErrorCodes.UNRELEASED_INSTANCE_ID.code, 'in use', t + 10);
        if (a.type === 'fatal') fatal = a;
      }
      const wake = m.nextWakeMs();
      if (wake === Infinity) break;
      t = Math.max(t + 10, wake);
    }
    fatal ??= m.poll(t).find((a) => a.type === 'fatal') as typeof fatal;
    expect(fatal?.errorCode).toBe(ErrorCodes.UNRELEASED_INSTANCE_ID.code);
    expect(fatal?.message).toContain('alive');
    // Not before the holder's session could have ended, nor much later (the retry backoff is at most 1 s).
    expect(t).toBeGreaterThanOrEqual(15_000);
    expect(t).toBeLessThan(17_000);
    expect(m.state).toBe('fatal');
  });

  it('refusals of the instance id are counted per run: an answered join in between starts the count again', () => {
    const m = new Membership({ ...config, instanceId: 'i-1' });
    m.subscribe({ kind: 'topics', topics: ['t'] }, 0);
    const first = only(m.poll(0), 'heartbeat');
    m.heartbeatFailed(first.seq, ErrorCodes.UNRELEASED_INSTANCE_ID.code, 'in use', 10);
    // The holder's session ends: the join gets in at 12 s, then the member is fenced and rejoins.
    const join = only(m.poll(12_000), 'heartbeat');
    m.heartbeatSucceeded(
      join.seq,
      { memberId: 'm1', memberEpoch: 3, heartbeatIntervalMs: 5_000, assignment: [] },
      12_000,
    );
    const beat = only(m.poll(17_000), 'heartbeat');
    m.heartbeatFailed(beat.seq, ErrorCodes.UNKNOWN_MEMBER_ID.code, 'expelled', 17_000);
    m.lost(only(m.poll(17_000), 'lose').id, 17_000);
    const rejoin = only(m.poll(m.nextWakeMs()), 'heartbeat');
    m.heartbeatFailed(rejoin.seq, ErrorCodes.UNRELEASED_INSTANCE_ID.code, 'taken over', 17_500);
    // 17.5 s after the first refusal, but the first of this run: retried, not fatal.
    expect(m.state).toBe('joining');
    expect(only(m.poll(m.nextWakeMs()), 'heartbeat').request.memberEpoch).toBe(0);
  });

  it.each([
    ['NotCoordinator', ErrorCodes.NOT_COORDINATOR.code],
    ['CoordinatorNotAvailable', ErrorCodes.COORDINATOR_NOT_AVAILABLE.code],
    ['NetworkException', ErrorCodes.NETWORK_EXCEPTION.code],
  ])('refusals of the instance id start counting again after %s (a new coordinator restarts sessions)', (_, code) => {
    // The holder crashed; its restart is refused. At 12 s the coordinator moves: the new one loads the
    // group and starts every member's session then, the dead holder's too, which ends 10 s later (22 s).
    const m = new Membership({ ...config, instanceId: 'i-1' });
    m.subscribe({ kind: 'topics', topics: ['t'] }, 0);
    const refuse = (t: number, errorCode = ErrorCodes.UNRELEASED_INSTANCE_ID.code) =>
      m.heartbeatFailed(only(m.poll(t), 'heartbeat').seq, errorCode, 'refused', t);
    let t = 0;
    const refuseUntil = (endMs: number) => {
      while (t < endMs) {
        refuse(t);
        expect(m.state, `at ${t} ms`).toBe('joining');
        t = Math.max(t + 10, m.nextWakeMs());
      }
    };
    refuseUntil(12_000);
    refuse(t, code);
    t = Math.max(t + 10, m.nextWakeMs());
    refuseUntil(22_000);
    // 22 s after the first refusal (past 15 s) the holder's session is over at the new coordinator: in.
    const join = only(m.poll(t), 'heartbeat');
    m.heartbeatSucceeded(join.seq, { memberId: 'm1', memberEpoch: 3, heartbeatIntervalMs: 5_000, assignment: [] }, t);
    expect(m.state).toBe('stable');
  });

  it('leaves: revokes everything, then sends epoch -1 at once, then is left', () => {
    const m = joined(tps('t', 0, 1));
    m.reconciled(only(m.poll(10), 'reconcile').id);
    const ack = only(m.poll(20), 'heartbeat');
    m.leave(25);
    // The heartbeat in flight is answered; its assignment no longer matters.
    m.heartbeatSucceeded(
      ack.seq,
      { memberId: 'm1', memberEpoch: 2, heartbeatIntervalMs: 1_000, assignment: tps('t', 0, 1, 2) },
      30,
    );
    const reconcile = only(m.poll(30), 'reconcile');
    expect(sorted(reconcile.revoke)).toEqual(['t-0', 't-1']);
    expect(reconcile.assign).toEqual([]);
    expect(m.isMember).toBe(true); // it can still commit what it revokes
    m.reconciled(reconcile.id);
    const leave = only(m.poll(40), 'heartbeat');
    expect(leave.request).toMatchObject({ memberId: 'm1', memberEpoch: -1, ownedPartitions: [] });
    m.heartbeatSucceeded(
      leave.seq,
      { memberId: 'm1', memberEpoch: -1, heartbeatIntervalMs: 0, assignment: undefined },
      50,
    );
    expect(only(m.poll(50), 'left')).toEqual({ type: 'left' });
    expect(m.state).toBe('left');
  });

  it('leaving: heartbeats go on while the partitions are given back, then the leave goes at once', () => {
    // close() whose revocation (commit, onPartitionsRevoked) outlasts the session: without heartbeats the
    // coordinator expels the member and gives its partitions away while it still works on them, and its
    // last commit is refused. Kafka's consumer heartbeats while it prepares to leave.
    const m = joined(tps('t', 0, 1));
    m.reconciled(only(m.poll(10), 'reconcile').id);
    const ack = only(m.poll(20), 'heartbeat');
    m.heartbeatSucceeded(
      ack.seq,
      { memberId: 'm1', memberEpoch: 2, heartbeatIntervalMs: 1_000, assignment: tps('t', 0, 1) },
      30,
    );
    m.leave(40);
    const revoke = only(m.poll(40), 'reconcile');
    expect(sorted(revoke.revoke)).toEqual(['t-0', 't-1']);
    for (let t = 1_030; t < 30_000; t += 1_000) {
      expect(m.nextWakeMs()).toBeLessThanOrEqual(t);
      const beat = only(m.poll(t), 'heartbeat');
      expect(beat.request).toMatchObject({ memberId: 'm1', memberEpoch: 2 });
      expect(sorted(beat.request.ownedPartitions)).toEqual(['t-0', 't-1']);
      // Its answer's assignment does not matter any more: nothing new to reconcile.
      m.heartbeatSucceeded(
        beat.seq,
        { memberId: 'm1', memberEpoch: 2, heartbeatIntervalMs: 1_000, assignment: tps('t', 0, 1, 2) },
        t,
      );
      expect(m.poll(t)).toEqual([]);
    }
    m.reconciled(revoke.id);
    const leave = only(m.poll(30_000), 'heartbeat');
    expect(leave.request).toMatchObject({ memberId: 'm1', memberEpoch: -1, ownedPartitions: [] });
  });

  it('leaving: cut off for a session while giving partitions back, they are lost; fenced, the same', () => {
    for (const cutOff of [true, false]) {
      const m = joined(tps('t', 0));
      m.reconciled(only(m.poll(10), 'reconcile').id);
      m.leave(20);
      only(m.poll(20), 'reconcile');
      let lose: Extract<MembershipAction, { type: 'lose' }> | undefined;
      for (let t = 1_010; lose === undefined && t < 60_000; t = Math.max(t + 1, m.nextWakeMs())) {
        for (const a of m.poll(t)) {
          if (a.type === 'lose') lose = a;
          if (a.type === 'heartbeat') {
            expect(a.request.memberEpoch).toBe(1);
            if (cutOff) m.heartbeatFailed(a.seq, ErrorCodes.REQUEST_TIMED_OUT.code, 'slow', t);
            else m.heartbeatFailed(a.seq, ErrorCodes.FENCED_MEMBER_EPOCH.code, 'fenced', t);
          }
        }
      }
      expect(lose).toBeDefined();
      m.lost(lose!.id, 70_000);
      expect(only(m.poll(70_000), 'heartbeat').request).toMatchObject({ memberId: 'm1', memberEpoch: -1 });
    }
  });

  it('a static member leaving to restart sends epoch -2', () => {
    const m = joined([], { instanceId: 'i-1' });
    m.leave(20, { temporary: true });
    const leave = only(m.poll(20), 'heartbeat');
    expect(leave.request).toMatchObject({ memberEpoch: -2, instanceId: 'i-1' });
  });

  it('leaving before the coordinator ever answered is immediate', () => {
    const m = new Membership(config);
    m.leave(0);
    expect(m.poll(0)).toEqual([{ type: 'left' }]);
    const n = new Membership(config);
    n.subscribe({ kind: 'topics', topics: ['t'] }, 0);
    const join = only(n.poll(0), 'heartbeat');
    n.leave(1);
    // The join may have created the member: wait for its answer, then leave properly.
    expect(n.poll(1)).toEqual([]);
    n.heartbeatSucceeded(join.seq, { memberId: 'm9', memberEpoch: 1, heartbeatIntervalMs: 1_000, assignment: [] }, 5);
    expect(only(n.poll(5), 'heartbeat').request).toMatchObject({ memberId: 'm9', memberEpoch: -1 });
  });

  it('joins under its own member id: a join whose answer was lost is sent again under that id', () => {
    const m = new Membership({ ...config, memberId: 'own-1' });
    m.subscribe({ kind: 'topics', topics: ['t'] }, 0);
    const join = only(m.poll(0), 'heartbeat');
    expect(join.request).toMatchObject({ memberId: 'own-1', memberEpoch: 0 });
    expect(m.memberId).toBe(''); // not known by it until the coordinator says so
    m.heartbeatFailed(join.seq, ErrorCodes.REQUEST_TIMED_OUT.code, 'lost', 10);
    const again = only(m.poll(1_000), 'heartbeat');
    expect(again.request).toMatchObject({ memberId: 'own-1', memberEpoch: 0 });
    m.heartbeatSucceeded(
      again.seq,
      { memberId: 'own-1', memberEpoch: 2, heartbeatIntervalMs: 1_000, assignment: [] },
      1_010,
    );
    expect(m.memberId).toBe('own-1');
    // Fenced as unknown (expelled): it joins again under the same id.
    const beat = only(m.poll(2_010), 'heartbeat');
    m.heartbeatFailed(beat.seq, ErrorCodes.UNKNOWN_MEMBER_ID.code, 'expelled', 2_020);
    for (const a of m.poll(2_020)) if (a.type === 'lose') m.lost(a.id, 2_020);
    expect(only(m.poll(5_000), 'heartbeat').request).toMatchObject({ memberId: 'own-1', memberEpoch: 0 });
  });

  it('a leave the coordinator no longer needs (fenced, unknown member or group) still completes', () => {
    // The coordinator answers a leave from a member it does not know as Kafka's consumerGroupLeave does:
    // UnknownMemberId, GroupIdNotFound, or FencedInstanceId for an earlier incarnation of a static member.
    for (const spec of [ErrorCodes.UNKNOWN_MEMBER_ID, ErrorCodes.GROUP_ID_NOT_FOUND, ErrorCodes.FENCED_INSTANCE_ID]) {
      const m = joined([]);
      m.leave(20);
      const leave = only(m.poll(20), 'heartbeat');
      m.heartbeatFailed(leave.seq, spec.code, 'gone', 30);
      expect(m.poll(30), spec.name).toEqual([{ type: 'left' }]);
    }
  });

  it('close() while fenced: the leave is sent once the partitions are stopped, under the member id', () => {
    // The coordinator still counts the member (at another epoch) and its partitions as its own: without
    // the leave they move only when its session ends there.
    for (const temporary of [false, true]) {
      const m = joined(tps('t', 0, 1), { instanceId: 'i-1' });
      m.reconciled(only(m.poll(10), 'reconcile').id);
      const ack = only(m.poll(20), 'heartbeat');
      m.heartbeatFailed(ack.seq, ErrorCodes.FENCED_MEMBER_EPOCH.code, 'fenced', 30);
      const lose = only(m.poll(30), 'lose');
      m.leave(40, { temporary });
      expect(m.poll(40)).toEqual([]); // not before the lost partitions are stopped
      m.lost(lose.id, 50);
      const leave = only(m.poll(50), 'heartbeat');
      expect(leave.request).toMatchObject({ memberId: 'm1', memberEpoch: temporary ? -2 : -1, ownedPartitions: [] });
      m.heartbeatSucceeded(leave.seq, { memberId: 'm1', memberEpoch: -1, heartbeatIntervalMs: 0, assignment: [] }, 60);
      expect(m.poll(60)).toEqual([{ type: 'left' }]);
    }
  });

  it('close() while cut off for a session: the leave goes under the member id once it is stopped', () => {
    const m = joined(tps('t', 0));
    m.reconciled(only(m.poll(10), 'reconcile').id);
    const beat = only(m.poll(20), 'heartbeat');
    m.heartbeatFailed(beat.seq, ErrorCodes.REQUEST_TIMED_OUT.code, 'slow', 5_000);
    let lose: Extract<MembershipAction, { type: 'lose' }> | undefined;
    for (let t = 5_000; lose === undefined; t = m.nextWakeMs()) {
      for (const a of m.poll(t)) {
        if (a.type === 'lose') lose = a;
        if (a.type === 'heartbeat') m.heartbeatFailed(a.seq, ErrorCodes.REQUEST_TIMED_OUT.code, 'slow', t);
      }
    }
    m.leave(10_030);
    m.lost(lose.id, 10_030);
    expect(only(m.poll(12_000), 'heartbeat').request).toMatchObject({ memberId: 'm1', memberEpoch: -1 });
  });

  it('close() after a fence as an unknown member: nothing to leave', () => {
    const m = joined(tps('t', 0));
    m.reconciled(only(m.poll(10), 'reconcile').id);
    const beat = only(m.poll(20), 'heartbeat');
    m.heartbeatFailed(beat.seq, ErrorCodes.UNKNOWN_MEMBER_ID.code, 'expelled', 30);
    const lose = only(m.poll(30), 'lose');
    m.leave(40);
    m.lost(lose.id, 50);
    expect(m.poll(50)).toEqual([{ type: 'left' }]);
  });

  it('a new subscription is sent at once', () => {
    const m = joined([]);
    expect(m.poll(100)).toEqual([]);
    m.subscribe({ kind: 'topics', topics: ['t', 'u'] }, 100);
    expect(only(m.poll(100), 'heartbeat').request.subscribedTopicNames).toEqual(['t', 'u']);
  });
});

describe('Membership: the poll timer (max.poll.interval.ms)', () => {
  const maxPoll = { maxPollIntervalMs: 8_000 };
  /** A member owning t-0 and t-1 at t=20 whose application holds hand-out 1 from t=100. */
  function holding(options: Partial<MembershipConfig> = {}) {
    const m = joined(tps('t', 0, 1), { ...maxPoll, ...options });
    m.observeApplication(10, { holding: false, handOuts: 0 });
    m.reconciled(only(m.poll(10), 'reconcile').id);
    const ack = only(m.poll(20), 'heartbeat');
    m.heartbeatSucceeded(
      ack.seq,
      { memberId: 'm1', memberEpoch: 1, heartbeatIntervalMs: 1_000, assignment: undefined },
      20,
    );
    m.observeApplication(100, { holding: true, handOuts: 1 });
    return m;
  }

  /** Heartbeats answered and the application looked at on every wake until `endMs`; the actions seen. */
  function run(m: Membership, endMs: number, probe: (t: number) => ApplicationProbe) {
    const seen: MembershipAction[] = [];
    for (let t = m.nextWakeMs(); t <= endMs; t = m.nextWakeMs()) {
      m.observeApplication(t, probe(t));
      for (const a of m.poll(t)) {
        seen.push(a);
        if (a.type === 'heartbeat' && a.request.memberEpoch >= 0)
          m.heartbeatSucceeded(
            a.seq,
            { memberId: 'm1', memberEpoch: 1, heartbeatIntervalMs: 1_000, assignment: undefined },
            t,
          );
      }
      if (seen.some((a) => a.type === 'poll-expired')) break;
    }
    return seen;
  }

  const leaveIn = (seen: MembershipAction[]) => {
    const leaves = seen.filter((a) => a.type === 'heartbeat' && a.request.memberEpoch < 0);
    expect(leaves).toHaveLength(1);
    return leaves[0] as Extract<MembershipAction, { type: 'heartbeat' }>;
  };

  it('an application asking for more records in time keeps the member; holding nothing stops the timer', () => {
    const m = holding();
    // A new hand-out every 5 s (under 8 s), then nothing held for a minute: never expires.
    const seen = run(m, 100_000, (t) =>
      t < 40_000 ? { holding: true, handOuts: 1 + Math.floor(t / 5_000) } : { holding: false, handOuts: 9 },
    );
    expect(seen.filter((a) => a.type === 'poll-expired' || a.type === 'lose')).toEqual([]);
    expect(m.state).toBe('stable');
  });

  it('held past it: leaves with epoch -1 at once, loses its partitions, rejoins when the application is back', () => {
    const m = holding();
    const seen = run(m, 100_000, () => ({ holding: true, handOuts: 1 }));
    const expired = only(seen, 'poll-expired');
    // Never before 8 s from the hand-out (seen at 100), at most an eighth of it late.
    expect(expired.heldMs).toBeGreaterThanOrEqual(8_000);
    expect(expired.heldMs).toBeLessThanOrEqual(9_000);
    const t = 100 + expired.heldMs;
    expect(m.state).toBe('stale');
    expect(m.isMember).toBe(false);
    const lose = only(seen, 'lose');
    expect(lose.reason).toContain('maxPollIntervalMs');
    // In the same poll: the leave goes at once.
    const leave = leaveIn(seen);
    expect(leave.request).toMatchObject({ memberId: 'm1', memberEpoch: -1 });
    m.heartbeatSucceeded(leave.seq, { memberId: 'm1', memberEpoch: -1, heartbeatIntervalMs: 0, assignment: [] }, t + 5);
    // Nothing more until the application is back (the driver reports the loss once it let go).
    expect(m.poll(t + 60_000)).toEqual([]);
    expect(m.nextWakeMs()).toBe(Infinity);
    m.lost(lose.id, t + 60_000);
    const rejoin = only(m.poll(t + 60_000), 'heartbeat');
    expect(rejoin.request).toMatchObject({ memberId: 'm1', memberEpoch: 0, ownedPartitions: [] });
    expect(m.state).toBe('joining');
  });

  it('a static member leaves with epoch -2 (keeping its instance); the rejoin waits for the leave answer', () => {
    const m = holding({ instanceId: 'i-1' });
    const seen = run(m, 100_000, () => ({ holding: true, handOuts: 1 }));
    const lose = only(seen, 'lose');
    const leave = leaveIn(seen);
    expect(leave.request).toMatchObject({ memberEpoch: -2, instanceId: 'i-1' });
    m.lost(lose.id, 20_000);
    // The leave is still unanswered: a join now could reach the coordinator before it.
    expect(m.poll(20_000)).toEqual([]);
    m.heartbeatFailed(leave.seq, ErrorCodes.COORDINATOR_LOAD_IN_PROGRESS.code, 'loading', 20_010);
    const again = only(m.poll(m.nextWakeMs()), 'heartbeat');
    expect(again.request.memberEpoch).toBe(-2);
    m.heartbeatFailed(again.seq, ErrorCodes.UNKNOWN_MEMBER_ID.code, 'gone already', 21_000);
    expect(only(m.poll(21_000), 'heartbeat').request).toMatchObject({ memberEpoch: 0, instanceId: 'i-1' });
  });

  it('a reconciliation waiting on the stuck application is abandoned; close() meanwhile ends it', () => {
    const m = holding();
    const beat = only(m.poll(1_020), 'heartbeat');
    m.heartbeatSucceeded(
      beat.seq,
      { memberId: 'm1', memberEpoch: 2, heartbeatIntervalMs: 1_000, assignment: tps('t', 0) },
      1_030,
    );
    const revoke = only(m.poll(1_030), 'reconcile');
    expect(revoke.revoke).toEqual(tps('t', 1));
    const seen = run(m, 100_000, () => ({ holding: true, handOuts: 1 }));
    const lose = only(seen, 'lose');
    m.reconciled(revoke.id);
    expect(m.owned()).toHaveLength(2); // the late completion changes nothing
    const leave = leaveIn(seen);
    m.leave(12_000);
    m.heartbeatSucceeded(
      leave.seq,
      { memberId: 'm1', memberEpoch: -1, heartbeatIntervalMs: 0, assignment: [] },
      12_000,
    );
    m.lost(lose.id, 13_000);
    expect(m.poll(13_000)).toEqual([{ type: 'left' }]);
  });

  it('a driver that never shows the application schedules no wake for it', () => {
    const m = joined(tps('t', 0), maxPoll);
    m.reconciled(only(m.poll(10), 'reconcile').id);
    // Only the heartbeat interval and the session bound: no wake in the past from an unset observation.
    let t = 20;
    for (let i = 0; i < 100 && t < 30_000; i++) {
      for (const a of m.poll(t))
        if (a.type === 'heartbeat') {
          const answer = { memberId: 'm1', memberEpoch: 1, heartbeatIntervalMs: 1_000, assignment: undefined };
          m.heartbeatSucceeded(a.seq, answer, t);
        }
      const wake = m.nextWakeMs();
      expect(wake).toBeGreaterThan(t);
      t = wake;
    }
    expect(t).toBeGreaterThanOrEqual(30_000);
  });

  it('a rebalance callback running past it counts as a late poll: the member leaves', () => {
    const m = holding();
    // The application asks for more in time, but a callback (number 3) has run since t=2000 and never returns.
    const seen = run(m, 100_000, (t) => ({
      holding: true,
      handOuts: 1 + Math.floor(t / 1_000),
      ...(t >= 2_000 ? { callback: 3 } : {}),
    }));
    const expired = only(seen, 'poll-expired');
    expect(expired.cause).toBe('callback');
    expect(expired.heldMs).toBeGreaterThanOrEqual(8_000);
    expect(expired.heldMs).toBeLessThanOrEqual(9_000);
    expect(only(seen, 'lose').reason).toContain('rebalance callback');
    expect(leaveIn(seen).request).toMatchObject({ memberId: 'm1', memberEpoch: -1 });
    expect(m.state).toBe('stale');
  });

  it('callbacks that each return in time keep the member, however many run', () => {
    const m = holding();
    // A new callback every 5 s (each under 8 s), the application asking for more in time.
    const seen = run(m, 100_000, (t) => ({
      holding: true,
      handOuts: 1 + Math.floor(t / 1_000),
      callback: 1 + Math.floor(t / 5_000),
    }));
    expect(seen.filter((a) => a.type === 'poll-expired' || a.type === 'lose')).toEqual([]);
  });

  it('without maxPollIntervalMs nothing is watched', () => {
    const m = holding({ maxPollIntervalMs: undefined });
    const seen = run(m, 1_000_000, () => ({ holding: true, handOuts: 1 }));
    expect(seen.filter((a) => a.type !== 'heartbeat')).toEqual([]);
  });
});
