/**
 * The group coordinator on real processes (3 brokers, __consumer_offsets with RF 3), driven with raw
 * GroupCoordinator calls: finding the coordinator, joining and leaving, incremental revocation,
 * commits fenced by member epoch and ownership, a silent member expelled after its session, commits
 * and membership surviving a SIGKILL of the coordinator's broker, and bad input answered with typed
 * errors while the brokers stay up.
 */
import { ErrorCodes } from '@samsa/protocol';
import { Samsa } from '@samsa/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LocalCluster } from '../helpers/cluster.js';
import { waitFor } from '../helpers/wait.js';
import { flatten, RawGroups } from './group-grpc.js';

const SESSION_MS = 4000;
const OFFSETS_PARTITIONS = 6;
const RETRIABLE = new Set([
  ErrorCodes.NOT_COORDINATOR.code,
  ErrorCodes.COORDINATOR_NOT_AVAILABLE.code,
  ErrorCodes.COORDINATOR_LOAD_IN_PROGRESS.code,
]);

let cluster: LocalCluster;
let samsa: Samsa;
const clients = new Map<string, RawGroups>();

function groupsAt(address: string): RawGroups {
  let c = clients.get(address);
  if (!c) {
    c = new RawGroups(address);
    clients.set(address, c);
  }
  return c;
}

/** Asks a live broker for the coordinator of `groupId` until one is named. */
async function coordinatorOf(groupId: string): Promise<{ nodeId: number; groups: RawGroups }> {
  return waitFor(
    async () => {
      for (const b of cluster.brokers.filter((x) => x.isRunning())) {
        const [c] = (await groupsAt(b.address).findCoordinator([groupId])).coordinators;
        if (c?.errorCode === 0) return { nodeId: c.nodeId, groups: groupsAt(`${c.host}:${c.port}`) };
      }
      return undefined;
    },
    { timeoutMs: 30_000, description: `a coordinator for ${groupId}` },
  );
}

/** Sends `call` to the group's coordinator, finding it again while the answer is retriable. */
async function withCoordinator<T extends { errorCode: number }>(
  groupId: string,
  call: (groups: RawGroups) => Promise<T>,
): Promise<T> {
  return waitFor(
    async () => {
      const { groups } = await coordinatorOf(groupId);
      const response = await call(groups);
      return RETRIABLE.has(response.errorCode) ? undefined : response;
    },
    { timeoutMs: 30_000, description: `an answer from the coordinator of ${groupId}` },
  );
}

/** A well-behaved member: gives up revoked partitions at once and reports what it owns. */
class Member {
  memberId = '';
  epoch = 0;
  owned: { topic: string; partitions: number[] }[] = [];

  constructor(
    readonly groupId: string,
    readonly topics: string[],
    readonly instanceId?: string,
  ) {}

  async beat(): Promise<string[]> {
    const response = await withCoordinator(this.groupId, (g) =>
      g.heartbeat({
        groupId: this.groupId,
        memberId: this.memberId,
        memberEpoch: this.epoch,
        ...(this.instanceId !== undefined && { instanceId: this.instanceId }),
        ...(this.epoch === 0 && { subscribedTopicNames: { names: this.topics } }),
        ownedTopicPartitions: { topicPartitions: this.owned },
      }),
    );
    expect(response.errorCode, response.errorMessage).toBe(0);
    this.memberId = response.memberId;
    expect(response.memberEpoch).toBeGreaterThanOrEqual(this.epoch);
    this.epoch = response.memberEpoch;
    this.owned = (response.assignment?.topicPartitions ?? []).map((t) => ({
      topic: t.topic,
      partitions: [...t.partitions],
    }));
    return flatten(this.owned);
  }

  /** Leaves (-1), or with -2 a static member leaving to restart (it keeps its partitions for its session). */
  async leave(memberEpoch = -1): Promise<void> {
    const response = await withCoordinator(this.groupId, (g) =>
      g.heartbeat({
        groupId: this.groupId,
        memberId: this.memberId,
        memberEpoch,
        ...(this.instanceId !== undefined && { instanceId: this.instanceId }),
      }),
    );
    expect(response.errorCode).toBe(0);
  }

  commit(topic: string, partition: number, offset: number, epoch = this.epoch) {
    return withCoordinator(this.groupId, (g) =>
      g.commit({
        groupId: this.groupId,
        memberId: this.memberId,
        memberEpoch: epoch,
        topics: [{ name: topic, partitions: [{ partition, committedOffset: offset, committedLeaderEpoch: -1 }] }],
      }),
    );
  }
}

/** Heartbeats every member until `done` holds for the assignments. */
async function settle(members: Member[], done: (assignments: string[][]) => boolean): Promise<string[][]> {
  return waitFor(
    async () => {
      const assignments: string[][] = [];
      for (const m of members) assignments.push(await m.beat());
      return done(assignments) ? assignments : undefined;
    },
    { timeoutMs: 30_000, intervalMs: 100, description: 'the group to settle' },
  );
}

/** Heartbeats the members one after another until stopped (their sessions outlive slow steps). */
function keepAlive(members: Member[]): { stop(): Promise<void> } {
  let stopped = false;
  const running = (async () => {
    while (!stopped) {
      for (const m of members) await m.beat();
      await new Promise((resolve) => setTimeout(resolve, 300));
    }
  })();
  return {
    async stop() {
      stopped = true;
      await running;
    },
  };
}

/** The __consumer_offsets partition of a group, as the coordinator computes it. */
function javaPartition(groupId: string): number {
  let hash = 0;
  for (let i = 0; i < groupId.length; i++) hash = (Math.imul(hash, 31) + groupId.charCodeAt(i)) | 0;
  return (hash === -2147483648 ? 0 : Math.abs(hash)) % OFFSETS_PARTITIONS;
}

async function committed(groupId: string, topic: string): Promise<Map<number, number>> {
  const response = await withCoordinator(groupId, (g) =>
    g.fetchOffsets({ groupId, memberId: '', memberEpoch: -1, topics: [] }),
  );
  expect(response.errorCode).toBe(0);
  const out = new Map<number, number>();
  for (const t of response.topics)
    if (t.name === topic) for (const p of t.partitions) out.set(p.partition, p.committedOffset);
  return out;
}

beforeAll(async () => {
  cluster = await LocalCluster.start({
    brokers: 3,
    brokerSettings: {
      'offsets.topic.num.partitions': String(OFFSETS_PARTITIONS),
      'group.consumer.session.timeout.ms': String(SESSION_MS),
      'group.consumer.heartbeat.interval.ms': '500',
      'replica.lag.time.max.ms': '2000',
    },
  });
  samsa = new Samsa({
    brokers: cluster.bootstrap,
    retry: { retries: 50, initialRetryTimeMs: 50, maxRetryTimeMs: 300 },
  });
  await samsa.admin().createTopics([{ topic: 'orders', numPartitions: 6, replicationFactor: 3 }]);
}, 60_000);

afterAll(async () => {
  for (const c of clients.values()) c.close();
  await samsa?.close();
  await cluster?.close();
});

describe('group coordinator', () => {
  it('creates __consumer_offsets on first use and names the leader of the group’s partition', async () => {
    const { nodeId } = await coordinatorOf('g-find');
    const topic = await waitFor(
      async () => {
        const [t] = await samsa.admin().describeTopics(['__consumer_offsets']);
        return t?.partitions[3]?.leader === nodeId ? t : undefined;
      },
      { description: 'every broker to know __consumer_offsets' },
    );
    expect(topic!.partitions).toHaveLength(OFFSETS_PARTITIONS);
    expect(topic!.partitions.every((p) => p.replicas.length === 3)).toBe(true);
    expect(topic!.configs?.['cleanup.policy']).toBe('compact');
    expect(topic!.configs?.['min.insync.replicas']).toBe('2');
    // Java's "g-find".hashCode() is -1301463201; abs % 6 = 3.
    expect(nodeId).toBe(topic!.partitions[3]!.leader);
  });

  it('splits incrementally, fences commits, keeps commits and members across a coordinator SIGKILL', async () => {
    const group = 'g-orders';
    const a = new Member(group, ['orders']);
    expect(await a.beat()).toHaveLength(6);
    const b = new Member(group, ['orders']);
    expect(await b.beat()).toEqual([]); // every partition is still a's
    const [ownedA, ownedB] = await settle([a, b], ([x, y]) => x!.length === 3 && y!.length === 3);
    expect(new Set([...ownedA!, ...ownedB!]).size).toBe(6);

    // a commits what it owns; a partition it does not own, a stale epoch, a negative offset are refused.
    const aPartition = a.owned[0]!.partitions[0]!;
    const bPartition = b.owned[0]!.partitions[0]!;
    expect((await a.commit('orders', aPartition, 42)).topics[0]!.partitions[0]!.errorCode).toBe(0);
    expect((await a.commit('orders', bPartition, 7)).topics[0]!.partitions[0]!.errorCode).toBe(
      ErrorCodes.STALE_MEMBER_EPOCH.code,
    );
    expect((await a.commit('orders', aPartition, 43, a.epoch - 1)).errorCode).toBe(ErrorCodes.STALE_MEMBER_EPOCH.code);
    expect((await a.commit('orders', aPartition, -5)).topics[0]!.partitions[0]!.errorCode).toBe(
      ErrorCodes.INVALID_REQUEST.code,
    );
    expect((await b.commit('orders', bPartition, 100)).topics[0]!.partitions[0]!.errorCode).toBe(0);

    const described = await withCoordinator(group, async (g) => (await g.describe([group])).groups[0]!);
    expect(described.groupState).toBe('Stable');
    expect(described.members.map((m) => m.memberId).sort()).toEqual([a.memberId, b.memberId].sort());

    // Kill the coordinator's broker: a new leader of the partition loads the group and its offsets.
    const before = await coordinatorOf(group);
    await cluster.killBroker(before.nodeId);
    const after = await waitFor(
      async () => {
        const c = await coordinatorOf(group);
        return c.nodeId !== before.nodeId ? c : undefined;
      },
      { timeoutMs: 30_000, description: 'a new coordinator' },
    );
    expect(after.nodeId).not.toBe(before.nodeId);
    const offsets = await committed(group, 'orders');
    expect(offsets.get(aPartition)).toBe(42);
    expect(offsets.get(bPartition)).toBe(100);
    // The members go on with the new coordinator: same ids, same partitions.
    expect(await a.beat()).toEqual(ownedA);
    expect(await b.beat()).toEqual(ownedB);

    // The broker comes back; a preferred leader election moves the partition (and the group) to the
    // first replica: the leader it replaces drops the group, the new one loads what it replicated.
    const alive = keepAlive([a, b]);
    await cluster.startBroker(before.nodeId);
    const partition = javaPartition(group);
    const preferred = await waitFor(
      async () => {
        const [t] = await samsa.admin().describeTopics(['__consumer_offsets']);
        const p = t?.partitions[partition];
        return p && p.isr.length === 3 ? p.replicas[0] : undefined;
      },
      { timeoutMs: 30_000, description: 'the restarted broker back in the ISR' },
    );
    await samsa.admin().electPreferredLeaders([{ topic: '__consumer_offsets', partitions: [partition] }]);
    await waitFor(async () => (await coordinatorOf(group)).nodeId === preferred, {
      timeoutMs: 30_000,
      description: 'the group on the preferred replica',
    });
    await alive.stop();
    expect(await a.beat()).toEqual(ownedA);
    expect(await b.beat()).toEqual(ownedB);
    expect((await committed(group, 'orders')).get(bPartition)).toBe(100);
  }, 120_000);

  it('splits 6 partitions 2/2/2, then one each over six members, and a seventh idles', async () => {
    const group = 'g-split';
    const members = Array.from({ length: 7 }, () => new Member(group, ['orders']));
    const three = await settle(members.slice(0, 3), (a) => a.every((x) => x.length === 2));
    expect(new Set(three.flat()).size).toBe(6);
    const six = await settle(members.slice(0, 6), (a) => a.every((x) => x.length === 1));
    expect(new Set(six.flat()).size).toBe(6);
    // The first three kept one of their two partitions each (sticky).
    for (let i = 0; i < 3; i++) expect(three[i]).toContain(six[i]![0]);
    const seven = await settle(members, (a) => a.filter((x) => x.length === 1).length === 6);
    expect(seven[6]).toEqual([]);
    for (const m of members) await m.leave();
  }, 60_000);

  it('a static member restarted within its session gets its partitions back with no rebalance', async () => {
    const group = 'g-static';
    const a = new Member(group, ['orders'], 'instance-a');
    const b = new Member(group, ['orders'], 'instance-b');
    const [ownedA, ownedB] = await settle([a, b], ([x, y]) => x!.length === 3 && y!.length === 3);
    const epochBefore = (await withCoordinator(group, async (g) => (await g.describe([group])).groups[0]!)).groupEpoch;
    // A new process with b's instance id while b has not left: refused (KIP-848), b may be alive.
    const early = await withCoordinator(group, (g) =>
      g.heartbeat({
        groupId: group,
        memberId: '',
        memberEpoch: 0,
        instanceId: 'instance-b',
        subscribedTopicNames: { names: ['orders'] },
      }),
    );
    expect(early.errorCode).toBe(ErrorCodes.UNRELEASED_INSTANCE_ID.code);
    // b leaves to restart (-2) and the new process with the same instance id joins within the session.
    await b.leave(-2);
    const b2 = new Member(group, ['orders'], 'instance-b');
    expect(await b2.beat()).toEqual(ownedB);
    expect(b2.memberId).not.toBe(b.memberId);
    expect(await a.beat()).toEqual(ownedA);
    // No partition moved; the group epoch did, so the new incarnation's epoch is one the old never had.
    expect(b2.epoch).toBeGreaterThan(b.epoch);
    const after = await withCoordinator(group, async (g) => (await g.describe([group])).groups[0]!);
    expect(after.groupEpoch).toBe(epochBefore + 1);
    expect(after.members.map((m) => m.memberId).sort()).toEqual([a.memberId, b2.memberId].sort());
    // The old incarnation is fenced.
    expect((await b.commit('orders', b.owned[0]!.partitions[0]!, 5)).errorCode).toBe(ErrorCodes.UNKNOWN_MEMBER_ID.code);
    await a.leave();
    await b2.leave();
  }, 60_000);

  it('expels a silent member after its session and gives its partitions to the others', async () => {
    const group = 'g-expel';
    const a = new Member(group, ['orders']);
    const b = new Member(group, ['orders']);
    await settle([a, b], ([x, y]) => x!.length === 3 && y!.length === 3);
    const silentSince = Date.now();
    // b goes silent; a keeps heartbeating and gets everything once b's session has expired.
    await settle([a], ([x]) => x!.length === 6);
    expect(Date.now() - silentSince).toBeGreaterThanOrEqual(SESSION_MS - 500);
    // b's commits are refused: it is no longer a member.
    const refused = await b.commit('orders', 0, 1);
    expect(refused.errorCode).toBe(ErrorCodes.UNKNOWN_MEMBER_ID.code);
    const stale = await withCoordinator(group, (g) =>
      g.heartbeat({
        groupId: group,
        memberId: b.memberId,
        memberEpoch: b.epoch,
        ownedTopicPartitions: { topicPartitions: [] },
      }),
    );
    expect(stale.errorCode).toBe(ErrorCodes.UNKNOWN_MEMBER_ID.code);
    await a.leave();
    const deleted = await withCoordinator(group, async (g) => (await g.deleteGroups([group])).results[0]!);
    expect(deleted.errorCode).toBe(0);
  }, 60_000);

  it('answers bad input with typed errors and stays up', async () => {
    const anyBroker = groupsAt(cluster.brokers[0]!.address);
    // Group id "" has a coordinator, as in Kafka (old clients commit offsets under it); joining it does not.
    // (Answered CoordinatorNotAvailable while __consumer_offsets is being created, when this test runs alone.)
    const [empty, long] = await waitFor(
      async () => {
        const found = (await anyBroker.findCoordinator(['', 'x'.repeat(300)])).coordinators;
        return found[0]!.errorCode === ErrorCodes.COORDINATOR_NOT_AVAILABLE.code ? undefined : found;
      },
      { timeoutMs: 30_000, description: 'FindCoordinator for group ""' },
    );
    expect(empty!.errorCode).toBe(0);
    expect(long!.errorCode).toBe(ErrorCodes.INVALID_GROUP_ID.code);
    const hb = await anyBroker.heartbeat({ groupId: '', memberEpoch: 0, subscribedTopicNames: { names: ['orders'] } });
    expect(hb.errorCode).toBe(ErrorCodes.INVALID_GROUP_ID.code);

    const group = 'g-bad';
    const unknownMember = await withCoordinator(group, (g) =>
      g.heartbeat({ groupId: group, memberId: 'nobody', memberEpoch: 4 }),
    );
    expect(unknownMember.errorCode).toBe(ErrorCodes.UNKNOWN_MEMBER_ID.code);
    const noSubscription = await withCoordinator(group, (g) => g.heartbeat({ groupId: group, memberEpoch: 0 }));
    expect(noSubscription.errorCode).toBe(ErrorCodes.INVALID_REQUEST.code);
    const badRegex = await withCoordinator(group, (g) =>
      g.heartbeat({ groupId: group, memberEpoch: 0, subscribedTopicRegex: '([' }),
    );
    expect(badRegex.errorCode).toBe(ErrorCodes.INVALID_REGULAR_EXPRESSION.code);
    const described = await withCoordinator(group, async (g) => (await g.describe([group])).groups[0]!);
    expect(described.errorCode).toBe(ErrorCodes.GROUP_ID_NOT_FOUND.code);
    const missing = await withCoordinator(group, async (g) => (await g.deleteGroups([group])).results[0]!);
    expect(missing.errorCode).toBe(ErrorCodes.GROUP_ID_NOT_FOUND.code);

    const a = new Member(group, ['orders']);
    await a.beat();
    const nonEmpty = await withCoordinator(group, async (g) => (await g.deleteGroups([group])).results[0]!);
    expect(nonEmpty.errorCode).toBe(ErrorCodes.NON_EMPTY_GROUP.code);
    const admin = await withCoordinator(group, (g) =>
      g.commit({
        groupId: group,
        memberId: '',
        memberEpoch: -1,
        topics: [{ name: 'orders', partitions: [{ partition: 0, committedOffset: 1 }] }],
      }),
    );
    expect(admin.errorCode).toBe(ErrorCodes.UNKNOWN_MEMBER_ID.code);
    const metadata = await withCoordinator(group, (g) =>
      g.commit({
        groupId: group,
        memberId: a.memberId,
        memberEpoch: a.epoch,
        topics: [
          {
            name: 'orders',
            partitions: [
              { partition: a.owned[0]!.partitions[0]!, committedOffset: 1, committedMetadata: 'm'.repeat(5000) },
            ],
          },
        ],
      }),
    );
    expect(metadata.topics[0]!.partitions[0]!.errorCode).toBe(ErrorCodes.OFFSET_METADATA_TOO_LARGE.code);
    const subscribed = await withCoordinator(group, (g) =>
      g.deleteOffsets({ groupId: group, topics: [{ name: 'orders', partitions: [0] }] }),
    );
    expect(subscribed.topics[0]!.partitions[0]!.errorCode).toBe(ErrorCodes.GROUP_SUBSCRIBED_TO_TOPIC.code);
    await a.leave();

    // Every broker still answers.
    for (const b of cluster.brokers) expect((await groupsAt(b.address).listGroups()).errorCode).toBe(0);
  }, 60_000);
});
