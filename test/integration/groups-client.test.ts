/**
 * Consumer groups through the SDK on real processes (3 brokers, replication factor 3): members split a
 * topic and rebalance incrementally as they join; a SIGKILLed member's partitions move within its
 * session; commit-after-processing loses nothing and duplicates only the uncommitted; the
 * coordinator's broker SIGKILLed mid-stream; a static member restarted within its session; a member
 * fenced on its side (its coordinator's broker SIGSTOPped past the member's session) while it holds a
 * batch hears of the loss once done with the batch, rejoins under a new epoch, and its stale commits are
 * refused by the broker and by the SDK; a member whose application hangs past maxPollIntervalMs leaves,
 * the other member consumes its partition, the hung one's commit is refused when it returns.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ErrorCodes } from '@samsa/protocol';
import { CommitFailedError, type ConsumedMessage, type Consumer, Samsa, type TopicPartition } from '@samsa/client';
import { LocalCluster } from '../helpers/cluster.js';
import { GroupMemberProcess } from '../helpers/group-member.js';
import { createTempDir, type TempDir } from '../helpers/temp.js';
import { waitFor } from '../helpers/wait.js';
import { RawGroups } from './group-grpc.js';

const SESSION_TIMEOUT_MS = 6_000;

let cluster: LocalCluster;
let samsa: Samsa;
let logs: TempDir;
let seq = 0;
const unique = (name: string) => `${name}-${process.pid}-${++seq}`;

beforeAll(async () => {
  logs = createTempDir('groups-client');
  cluster = await LocalCluster.start({
    brokers: 3,
    brokerSettings: {
      'group.consumer.session.timeout.ms': String(SESSION_TIMEOUT_MS),
      'group.consumer.heartbeat.interval.ms': '500',
      'offsets.topic.num.partitions': '5',
      'offsets.topic.replication.factor': '3',
      'default.replication.factor': '3',
    },
  });
  samsa = new Samsa({
    brokers: cluster.bootstrap,
    retry: { retries: 10, initialRetryTimeMs: 50, maxRetryTimeMs: 500 },
  });
  await samsa.connect();
}, 90_000);

afterAll(async () => {
  await samsa?.close();
  await cluster?.close();
  logs?.remove();
});

async function createTopic(topic: string, partitions: number): Promise<void> {
  await samsa
    .admin()
    .createTopics([
      { topic, numPartitions: partitions, replicationFactor: 3, configs: { 'min.insync.replicas': '2' } },
    ]);
}

/** Produces `count` records spread over every partition (keyed), values `${prefix}-${i}`. */
async function produce(topic: string, count: number, prefix: string): Promise<void> {
  const producer = samsa.producer({ acks: 'all' });
  await producer.sendBatch({
    topic,
    messages: Array.from({ length: count }, (_, i) => ({ key: `k${i}`, value: `${prefix}-${i}` })),
  });
  await producer.close();
}

interface Member {
  name: string;
  consumer: Consumer;
  owned: Set<number>;
  revocations: number;
  records: ConsumedMessage[];
  errors: unknown[];
  close(): Promise<void>;
}

/** A member in this process, consuming in the background and recording what it owns. */
function startMember(topic: string, group: string, name: string, options: { instanceId?: string } = {}): Member {
  const consumer = samsa.consumer({
    groupId: group,
    autoOffsetReset: 'earliest',
    maxWaitMs: 100,
    sessionTimeoutMs: SESSION_TIMEOUT_MS,
    ...(options.instanceId !== undefined ? { groupInstanceId: options.instanceId } : {}),
  });
  const member: Member = {
    name,
    consumer,
    owned: new Set(),
    revocations: 0,
    records: [],
    errors: [],
    close: async () => {
      await consumer.close();
      await loop;
    },
  };
  const numbers = (tps: TopicPartition[]) => tps.map((tp) => tp.partition);
  consumer.subscribe([topic], {
    onPartitionsAssigned: (tps) => {
      for (const p of numbers(tps)) member.owned.add(p);
    },
    onPartitionsRevoked: (tps) => {
      member.revocations++;
      for (const p of numbers(tps)) member.owned.delete(p);
    },
    onPartitionsLost: (tps) => {
      for (const p of numbers(tps)) member.owned.delete(p);
    },
  });
  const loop = (async () => {
    try {
      for await (const m of consumer) member.records.push(m);
    } catch (err) {
      member.errors.push(err);
    }
  })();
  return member;
}

const counts = (members: readonly Member[]) => members.map((m) => m.owned.size).sort((a, b) => a - b);

/** Every partition owned by exactly one member. */
function ownedOnce(members: readonly Member[], partitions: number): boolean {
  const all = members.flatMap((m) => [...m.owned]).sort((a, b) => a - b);
  return all.length === partitions && all.every((p, i) => p === i);
}

describe('consumer groups on a 3-broker cluster (RF 3)', () => {
  it('three members split six partitions 2/2/2; three more take one each; a seventh idles', async () => {
    const topic = unique('split');
    const group = unique('g-split');
    await createTopic(topic, 6);
    const members = [0, 1, 2].map((i) => startMember(topic, group, `m${i}`));
    try {
      await waitFor(() => ownedOnce(members, 6) && counts(members).join() === '2,2,2', {
        timeoutMs: 30_000,
        description: '2/2/2',
      });
      for (let i = 3; i < 6; i++) members.push(startMember(topic, group, `m${i}`));
      await waitFor(() => ownedOnce(members, 6) && counts(members).join() === '1,1,1,1,1,1', {
        timeoutMs: 30_000,
        description: '1 partition each',
      });
      const seventh = startMember(topic, group, 'm6');
      members.push(seventh);
      await waitFor(
        async () => {
          const [description] = await samsa.admin().describeGroups([group]);
          return description?.members.length === 7 && description.state === 'Stable';
        },
        { timeoutMs: 30_000, description: 'seven members, stable' },
      );
      expect(seventh.owned.size).toBe(0);
      expect(ownedOnce(members, 6)).toBe(true);
      for (const m of members) {
        const metadata = m.consumer.groupMetadata();
        expect(metadata.groupId).toBe(group);
        expect(metadata.memberId).not.toBe('');
        expect(metadata.memberEpoch).toBeGreaterThan(0);
      }
      // Every record reaches exactly one member.
      await produce(topic, 600, 'split');
      await waitFor(() => members.reduce((n, m) => n + m.records.length, 0) >= 600, {
        timeoutMs: 30_000,
        description: 'every record consumed',
      });
      const seen = members.flatMap((m) => m.records.map((r) => `${r.partition}:${r.offset}`));
      expect(new Set(seen).size).toBe(600);
      expect(seen.length).toBe(600);
      expect(members.flatMap((m) => m.errors)).toEqual([]);
    } finally {
      await Promise.all(members.map((m) => m.close()));
    }
  });

  it('a pattern takes matching topics, later ones too; assign() with a group commits', async () => {
    const prefix = unique('pattern');
    await createTopic(`${prefix}-a`, 2);
    await createTopic(`${prefix}-b`, 1);
    await createTopic(`other-${prefix}`, 1);
    const group = unique('g-pattern');
    const consumer = samsa.consumer({ groupId: group, autoOffsetReset: 'earliest', maxWaitMs: 100 });
    const owned = new Set<string>();
    const revokeCommits: unknown[] = [];
    consumer.subscribe(new RegExp(`${prefix}-.*`), {
      onPartitionsAssigned: (tps) => {
        for (const tp of tps) owned.add(`${tp.topic}:${tp.partition}`);
      },
      // Committing in the listener works during close() too (Kafka's commitSync in onPartitionsRevoked).
      onPartitionsRevoked: async () => {
        revokeCommits.push(
          await consumer.commit().then(
            () => 'ok',
            (err: unknown) => err,
          ),
        );
      },
    });
    try {
      await waitFor(() => owned.size === 3, { timeoutMs: 30_000, description: 'the three matching partitions' });
      expect([...owned].sort()).toEqual([`${prefix}-a:0`, `${prefix}-a:1`, `${prefix}-b:0`]);
      await createTopic(`${prefix}-c`, 1);
      await waitFor(() => owned.has(`${prefix}-c:0`), { timeoutMs: 30_000, description: 'the new topic' });
      expect([...owned].some((k) => k.startsWith('other-'))).toBe(false);
    } finally {
      await consumer.close();
    }
    expect(revokeCommits).toEqual(['ok']);
    // assign() in a group without subscribed members: positions from its committed offsets, commit() works.
    const topic = `${prefix}-a`;
    await produce(topic, 20, 'assign');
    const manualGroup = unique('g-assign');
    const first = samsa.consumer({ groupId: manualGroup, autoOffsetReset: 'earliest', maxWaitMs: 100 });
    await first.assign([{ topic, partition: 0 }]);
    const read: number[] = [];
    for await (const m of first) {
      read.push(m.offset);
      if (read.length === 3) break;
    }
    await first.commit();
    await first.close();
    const second = samsa.consumer({ groupId: manualGroup, autoOffsetReset: 'earliest', maxWaitMs: 100 });
    await second.assign([{ topic, partition: 0 }]);
    try {
      const next = await second[Symbol.asyncIterator]().next();
      expect(next.value?.offset).toBe(3);
      expect(await second.committed()).toEqual([{ topic, partition: 0, offset: 3, leaderEpoch: 0, metadata: '' }]);
    } finally {
      await second.close();
    }
  });

  it('a SIGKILLed member: partitions move within session + 2 s; none lost, uncommitted again', async () => {
    const topic = unique('kill');
    const group = unique('g-kill');
    await createTopic(topic, 4);
    await produce(topic, 400, 'a');
    const options = {
      bootstrap: cluster.bootstrap,
      topic,
      group,
      logDir: logs.path,
      sessionTimeoutMs: SESSION_TIMEOUT_MS,
    };
    const victim = await GroupMemberProcess.start({ ...options, name: 'victim' });
    const survivor = await GroupMemberProcess.start({ ...options, name: 'survivor' });
    try {
      await waitFor(() => victim.owned().length === 2 && survivor.owned().length === 2, {
        timeoutMs: 30_000,
        description: '2/2',
      });
      // Its own two partitions committed. Not `committed().size === 2`: a victim that joined first may
      // have read and committed all four partitions before the survivor's join split them.
      await victim.waitUntil((v) => v.owned().every((p) => v.committed().has(p)), 'commits on both partitions');
      await victim.kill();
      const killedAtMs = Date.now();
      await survivor.waitUntil((s) => s.owned().length === 4, 'all four partitions', SESSION_TIMEOUT_MS + 10_000);
      const movedMs = Date.now() - killedAtMs;
      expect(movedMs).toBeLessThan(SESSION_TIMEOUT_MS + 2_000);
      await produce(topic, 400, 'b');
      const wanted = await samsa.admin().fetchTopicOffsets(topic);
      await survivor.waitUntil(
        (s) =>
          wanted.every((w) => {
            const offsets = new Set(
              [...victim.records(), ...s.records()].filter((r) => r.partition === w.partition).map((r) => r.offset),
            );
            return offsets.size === w.high;
          }),
        'every record processed by someone',
      );
      // Records processed twice: only those the victim processed after its last acknowledged commit.
      const victimCommitted = victim.committed();
      const byVictim = new Set(victim.records().map((r) => `${r.partition}:${r.offset}`));
      const twice = survivor.records().filter((r) => byVictim.has(`${r.partition}:${r.offset}`));
      for (const r of twice) expect(r.offset).toBeGreaterThanOrEqual(victimCommitted.get(r.partition) ?? 0);
      process.stdout.write(
        `[groups] SIGKILLed member's partitions moved after ${movedMs} ms; ${twice.length} records processed twice\n`,
      );
    } finally {
      await victim.kill();
      await survivor.stop();
    }
  }, 90_000); // its own waits allow 30 s for the first split and session + 10 s for the move

  it("SIGKILL the coordinator's broker mid-stream: the group goes on and its committed offsets are there", async () => {
    const topic = unique('failover');
    const group = unique('g-failover');
    await createTopic(topic, 4);
    const members = [startMember(topic, group, 'a'), startMember(topic, group, 'b')];
    const producer = samsa.producer({ acks: 'all' });
    let produced = 0;
    let producing = true;
    const writer = (async () => {
      while (producing) {
        await producer.sendBatch({
          topic,
          messages: Array.from({ length: 20 }, (_, i) => ({ key: `k${produced + i}`, value: `v${produced + i}` })),
        });
        produced += 20;
      }
    })();
    let killed: number | undefined;
    try {
      await waitFor(() => ownedOnce(members, 4) && counts(members).join() === '2,2', {
        timeoutMs: 30_000,
        description: '2/2',
      });
      await waitFor(() => members.every((m) => m.records.length > 50), { timeoutMs: 30_000, description: 'progress' });
      for (const m of members) await m.consumer.commit();
      const before = await samsa.admin().fetchGroupOffsets(group);
      expect(before.length).toBe(4);
      const coordinator = await samsa.admin().findGroupCoordinator(group);
      killed = coordinator.nodeId;
      await cluster.killBroker(coordinator.nodeId);
      const consumedAtKill = members.map((m) => m.records.length);
      // The group goes on: both members consume more, commit again on the new coordinator.
      await waitFor(() => members.every((m, i) => m.records.length > (consumedAtKill[i] as number) + 100), {
        timeoutMs: 60_000,
        description: 'consumption after the failover',
      });
      await waitFor(
        async () => {
          for (const m of members) await m.consumer.commit();
          return true;
        },
        { timeoutMs: 60_000, description: 'a commit on the new coordinator' },
      );
      const after = await samsa.admin().fetchGroupOffsets(group);
      const beforeBy = new Map(before.map((o) => [o.partition, o.offset]));
      for (const o of after) expect(o.offset).toBeGreaterThanOrEqual(beforeBy.get(o.partition) as number);
      expect(ownedOnce(members, 4)).toBe(true);
      expect(members.flatMap((m) => m.errors)).toEqual([]);
    } finally {
      producing = false;
      await writer.catch(() => {});
      await producer.close();
      await Promise.all(members.map((m) => m.close()));
      if (killed !== undefined) await cluster.startBroker(killed);
    }
  });

  it('a static member restarted within its session keeps its partitions, and nobody else pauses', async () => {
    // Restarted after close() (it leaves with -2): the new process takes the instance at once. SIGKILLed
    // (no leave), the new process waits (UnreleasedInstanceId, retried) until the old one's session ends,
    // as KIP-848's coordinator makes it: the holder might be alive.
    const topic = unique('static');
    const group = unique('g-static');
    await createTopic(topic, 6);
    const options = {
      bootstrap: cluster.bootstrap,
      topic,
      group,
      logDir: logs.path,
      sessionTimeoutMs: SESSION_TIMEOUT_MS,
    };
    let staticMember = await GroupMemberProcess.start({ ...options, name: 'static-1', instanceId: 'static-a' });
    const others = [startMember(topic, group, 'b'), startMember(topic, group, 'c')];
    try {
      await waitFor(() => staticMember.owned().length === 2 && counts(others).join() === '2,2', {
        timeoutMs: 30_000,
        description: '2/2/2',
      });
      const kept = staticMember.owned();
      const revocationsBefore = others.map((m) => m.revocations);
      const ownedBefore = others.map((m) => [...m.owned].sort());
      await staticMember.stop();
      staticMember = await GroupMemberProcess.start({ ...options, name: 'static-2', instanceId: 'static-a' });
      await staticMember.waitUntil((s) => s.owned().length === 2, 'its partitions back', SESSION_TIMEOUT_MS);
      expect(staticMember.owned()).toEqual(kept);
      // The others were never asked to give anything up, and consume on.
      await produce(topic, 300, 'static');
      await waitFor(() => others.every((m) => m.records.length >= 50), {
        timeoutMs: 30_000,
        description: 'others consume',
      });
      expect(others.map((m) => m.revocations)).toEqual(revocationsBefore);
      expect(others.map((m) => [...m.owned].sort())).toEqual(ownedBefore);
      await staticMember.kill();
      staticMember = await GroupMemberProcess.start({ ...options, name: 'static-3', instanceId: 'static-a' });
      await staticMember.waitUntil((s) => s.owned().length === 2, 'partitions after the session', 40_000);
      await waitFor(() => counts(others).join() === '2,2', { timeoutMs: 30_000, description: '2/2/2 again' });
    } finally {
      await staticMember.stop();
      await Promise.all(others.map((m) => m.close()));
    }
  });

  it('fenced while holding a batch: rejoins under a new epoch, its stale commits refused, nothing lost', async () => {
    const topic = unique('fenced');
    const group = unique('g-fenced');
    await createTopic(topic, 1);
    await produce(topic, 20, 'fenced');
    const events: string[] = [];
    // Cut off from its coordinator for 2 s, the member counts its partitions as lost (the brokers would
    // expel it only after 6 s) and joins again under its member id.
    const consumer = samsa.consumer({
      groupId: group,
      autoOffsetReset: 'earliest',
      enableAutoCommit: false,
      maxWaitMs: 100,
      sessionTimeoutMs: 2_000,
    });
    consumer.subscribe([topic], {
      onPartitionsAssigned: () => void events.push('assigned'),
      onPartitionsLost: () => void events.push('lost'),
    });
    const batches = consumer.batches();
    let coordinator: { nodeId: number; address: string } | undefined;
    const raws: RawGroups[] = [];
    let paused = false;
    try {
      const first = (await batches.next()).value!;
      expect(first.messages[0]?.offset).toBe(0);
      coordinator = await samsa.admin().findGroupCoordinator(group);
      const old = consumer.groupMetadata();
      cluster.pauseBroker(coordinator.nodeId);
      paused = true;
      await waitFor(() => consumer.groupMetadata().state === 'fenced', {
        timeoutMs: 15_000,
        description: 'the partition lost',
      });
      // The SDK refuses the batch in hand from the moment it knows; the application hears of the loss only
      // once it is done with the batch, and the member rejoins after that.
      const lastOffset = first.messages[first.messages.length - 1]!.offset;
      await expect(consumer.commit([{ topic, partition: 0, offset: lastOffset + 1 }])).rejects.toBeInstanceOf(
        CommitFailedError,
      );
      expect(events).toEqual(['assigned']);
      cluster.resumeBroker(coordinator.nodeId);
      paused = false;
      const next = batches.next();
      await waitFor(() => events.at(-1) === 'assigned' && consumer.groupMetadata().state === 'stable', {
        timeoutMs: 30_000,
        description: 'assigned again',
      });
      expect(events).toEqual(['assigned', 'lost', 'assigned']);
      const now = consumer.groupMetadata();
      expect(now.memberId).toBe(old.memberId);
      // The group's epoch had not moved; the rejoin moved it, so the old incarnation's epoch is refused.
      expect(now.memberEpoch).toBeGreaterThan(old.memberEpoch);
      // Sent to the coordinator as it is now (it may have moved if the pause cost its broker its session).
      const stale = await waitFor(
        async () => {
          const raw = new RawGroups((await samsa.admin().findGroupCoordinator(group)).address);
          raws.push(raw);
          const answer = await raw.commit({
            groupId: group,
            memberId: old.memberId,
            memberEpoch: old.memberEpoch,
            topics: [{ name: topic, partitions: [{ partition: 0, committedOffset: 20, committedLeaderEpoch: -1 }] }],
          });
          const retriable = [ErrorCodes.NOT_COORDINATOR.code, ErrorCodes.COORDINATOR_LOAD_IN_PROGRESS.code];
          return retriable.includes(answer.errorCode) ? undefined : answer;
        },
        { timeoutMs: 30_000, description: 'an answer from the coordinator' },
      );
      const codes = [stale.errorCode, ...stale.topics.flatMap((t) => t.partitions.map((p) => p.errorCode))];
      expect(codes).toContain(ErrorCodes.STALE_MEMBER_EPOCH.code);
      expect((await consumer.committed([{ topic, partition: 0 }]))[0]?.offset).toBe(-1);
      // The new assignment reads from the committed offset (none: the start): nothing skipped, and its
      // commit is taken.
      const seen: number[] = [];
      for (let batch = (await next).value!; ; batch = (await batches.next()).value!) {
        seen.push(...batch.messages.map((m) => m.offset));
        await consumer.commit([{ topic, partition: 0, offset: seen[seen.length - 1]! + 1 }]);
        if (seen.length >= 20) break;
      }
      expect(seen).toEqual(Array.from({ length: 20 }, (_, i) => i));
      expect((await consumer.committed([{ topic, partition: 0 }]))[0]?.offset).toBe(20);
    } finally {
      if (paused && coordinator) cluster.resumeBroker(coordinator.nodeId);
      for (const raw of raws) raw.close();
      await batches.return();
      await consumer.close();
    }
  });

  it('an application hung past maxPollIntervalMs: its partition moves, its late commit is refused', async () => {
    const topic = unique('hung');
    const group = unique('g-hung');
    await createTopic(topic, 2);
    const consumerOf = (maxPollIntervalMs: number) =>
      samsa.consumer({
        groupId: group,
        autoOffsetReset: 'earliest',
        enableAutoCommit: false,
        maxWaitMs: 100,
        sessionTimeoutMs: SESSION_TIMEOUT_MS,
        maxPollIntervalMs,
      });
    const hung = consumerOf(2_000);
    const healthy = consumerOf(60_000);
    const owned = new Map<Consumer, Set<number>>();
    for (const c of [hung, healthy]) {
      const mine = new Set<number>();
      owned.set(c, mine);
      c.subscribe([topic], {
        onPartitionsAssigned: (tps) => {
          for (const tp of tps) mine.add(tp.partition);
        },
        onPartitionsRevoked: (tps) => {
          for (const tp of tps) mine.delete(tp.partition);
        },
        onPartitionsLost: (tps) => {
          for (const tp of tps) mine.delete(tp.partition);
        },
      });
    }
    /** What each processed and committed, as partition:offset -> value. */
    const processed = new Map<string, string>();
    let back = () => {};
    const gate = new Promise<void>((resolve) => {
      back = resolve;
    });
    let held: ConsumedMessage | undefined;
    let lateCommit: unknown;
    const loop = async (c: Consumer, hang: boolean) => {
      for await (const m of c) {
        if (hang && held === undefined) {
          held = m;
          await gate; // the application hangs on its first record
          lateCommit = await c.commit([{ topic, partition: m.partition, offset: m.offset + 1 }]).then(
            () => 'committed',
            (err: unknown) => err,
          );
          return;
        }
        await c.commit([{ topic, partition: m.partition, offset: m.offset + 1 }]);
        processed.set(`${m.partition}:${m.offset}`, String(m.value));
      }
    };
    const loops: Promise<void>[] = [];
    try {
      await waitFor(() => [...owned.values()].every((o) => o.size === 1), {
        timeoutMs: 30_000,
        description: 'one partition each',
      });
      loops.push(loop(hung, true), loop(healthy, false));
      await produce(topic, 200, 'hung');
      // The healthy member consumes everything, the hung member's partition too (from its committed offset:
      // the start), while the hung application is still away and its session is kept by its heartbeats.
      await waitFor(() => processed.size === 200, { timeoutMs: 45_000, description: 'all 200 processed' });
      expect(hung.groupMetadata().state).toBe('stale');
      expect(owned.get(healthy)!.size).toBe(2);
      const values = new Set(processed.values());
      expect(values.size).toBe(200);
      expect(held).toBeDefined();
      expect(values.has(String(held!.value))).toBe(true);
      // The hung application comes back: its commit of the record it held is refused, nothing is lost.
      back();
      await waitFor(() => lateCommit !== undefined, { timeoutMs: 10_000, description: 'the late commit' });
      expect(lateCommit).toBeInstanceOf(CommitFailedError);
      const committed = await healthy.committed([
        { topic, partition: 0 },
        { topic, partition: 1 },
      ]);
      const ends = new Map<number, number>();
      for (const k of processed.keys()) {
        const [p, o] = k.split(':').map(Number) as [number, number];
        ends.set(p, Math.max(ends.get(p) ?? 0, o + 1));
      }
      expect(committed.map((c) => c.offset)).toEqual([ends.get(0), ends.get(1)]);
      // It joins the group again.
      await waitFor(() => hung.groupMetadata().state === 'stable', { timeoutMs: 30_000, description: 'rejoined' });
    } finally {
      back();
      await hung.close();
      await healthy.close();
      await Promise.allSettled(loops);
    }
  }, 90_000);
});
