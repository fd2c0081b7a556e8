/**
 * A group member's consumer against the in-process test cluster with a scripted coordinator: where
 * partitions start, what a revocation waits for and commits, what close() and a fence do.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ErrorCodes, encodeBatch, type v1 } from '@samsa/protocol';
import {
  CommitFailedError,
  type ConsumedMessage,
  type Consumer,
  type ConsumerOptions,
  Samsa,
  SamsaClientError,
  type TopicPartition,
} from '@samsa/client';
import { TestCluster, waitFor } from './support/test-cluster.js';

const fastRetry = { retries: 5, initialRetryTimeMs: 10, maxRetryTimeMs: 50 };
const key = (topic: string, partition: number) => `${topic}:${partition}`;

/** One member's coordinator: the test says what the member should own; commits are kept. */
class ScriptedCoordinator {
  assignment: TopicPartition[] = [];
  fenceNext = false;
  /** As the broker does: a commit under an epoch other than the member's is refused (StaleMemberEpoch). */
  checkCommitEpoch = false;
  readonly heartbeats: v1.ConsumerGroupHeartbeatRequest__Output[] = [];
  readonly commits = new Map<string, number>();
  readonly commitLog: Array<{ memberEpoch: number; offsets: Record<string, number> }> = [];
  private epoch = 0;
  private given = '';

  constructor(cluster: TestCluster) {
    const port = cluster.brokers[0]!.port;
    cluster.groups = {
      FindCoordinator: (r: v1.FindCoordinatorRequest__Output) => ({
        coordinators: r.keys.map((k) => ({ key: k, nodeId: 0, host: '127.0.0.1', port, errorCode: 0 })),
      }),
      ConsumerGroupHeartbeat: (r: v1.ConsumerGroupHeartbeatRequest__Output) => this.heartbeat(r),
      OffsetCommit: (r: v1.OffsetCommitRequest__Output) => {
        if (this.checkCommitEpoch && r.memberEpoch !== this.epoch)
          return { errorCode: ErrorCodes.STALE_MEMBER_EPOCH.code, errorMessage: 'stale', topics: [] };
        const offsets: Record<string, number> = {};
        for (const t of r.topics) for (const p of t.partitions) offsets[key(t.name, p.partition)] = p.committedOffset;
        this.commitLog.push({ memberEpoch: r.memberEpoch, offsets });
        for (const [k, o] of Object.entries(offsets)) this.commits.set(k, o);
        return {
          errorCode: 0,
          topics: r.topics.map((t) => ({
            name: t.name,
            partitions: t.partitions.map((p) => ({ partition: p.partition, errorCode: 0 })),
          })),
        };
      },
      OffsetFetch: (r: v1.OffsetFetchRequest__Output) => ({
        errorCode: 0,
        topics: r.topics.map((t) => ({
          name: t.name,
          partitions: t.partitions.map((partition) => ({
            partition,
            committedOffset: this.commits.get(key(t.name, partition)) ?? -1,
            errorCode: 0,
          })),
        })),
      }),
    };
  }

  /** How a join (epoch 0) is answered; a test may lose an answer. */
  answerJoin: (r: v1.ConsumerGroupHeartbeatRequest__Output) => object = (r) => this.answer(r);

  private heartbeat(r: v1.ConsumerGroupHeartbeatRequest__Output) {
    this.heartbeats.push(r);
    if (r.memberEpoch === -1) return { errorCode: 0, memberId: r.memberId, memberEpoch: -1 };
    if (this.fenceNext && r.memberEpoch > 0) {
      this.fenceNext = false;
      return { errorCode: ErrorCodes.FENCED_MEMBER_EPOCH.code, errorMessage: 'fenced' };
    }
    return r.memberEpoch === 0 ? this.answerJoin(r) : this.answer(r);
  }

  private answer(r: v1.ConsumerGroupHeartbeatRequest__Output) {
    const given = JSON.stringify(this.assignment);
    if (r.memberEpoch === 0 || given !== this.given) this.epoch++;
    this.given = given;
    const byTopic = new Map<string, number[]>();
    for (const tp of this.assignment) byTopic.set(tp.topic, [...(byTopic.get(tp.topic) ?? []), tp.partition]);
    return {
      errorCode: 0,
      memberId: 'member-1',
      memberEpoch: this.epoch,
      heartbeatIntervalMs: 30,
      assignment: { topicPartitions: [...byTopic].map(([topic, partitions]) => ({ topic, partitions })) },
    };
  }

  /** What the member's latest heartbeat said it owns. */
  lastOwned(): string[] {
    const last = this.heartbeats[this.heartbeats.length - 1];
    return (last?.ownedTopicPartitions?.topicPartitions ?? [])
      .flatMap((t) => t.partitions.map((p) => key(t.topic, p)))
      .sort();
  }
}

describe('a group member consumer (scripted coordinator)', () => {
  let cluster: TestCluster;
  let samsa: Samsa;
  let coordinator: ScriptedCoordinator;
  let consumer: Consumer;
  const events: string[] = [];

  beforeEach(async () => {
    cluster = await TestCluster.start();
    cluster.createTopic('t', 2);
    for (const p of [0, 1])
      cluster.append(
        't',
        p,
        encodeBatch(
          Array.from({ length: 10 }, (_, i) => ({ key: null, value: Buffer.from(`${p}-${i}`), timestamp: 1_000 + i })),
        ),
      );
    coordinator = new ScriptedCoordinator(cluster);
    samsa = new Samsa({ brokers: cluster.bootstrap, retry: fastRetry });
    consumer = samsa.consumer({
      groupId: 'g',
      autoOffsetReset: 'earliest',
      maxWaitMs: 20,
      autoCommitIntervalMs: 600_000,
    });
    events.length = 0;
    const names = (tps: TopicPartition[]) => tps.map((tp) => key(tp.topic, tp.partition)).join(',');
    consumer.subscribe(['t'], {
      onPartitionsAssigned: (tps) => void events.push(`assigned ${names(tps)}`),
      onPartitionsRevoked: (tps) => void events.push(`revoked ${names(tps)}`),
      onPartitionsLost: (tps) => void events.push(`lost ${names(tps)}`),
    });
  });

  afterEach(async () => {
    await samsa.close();
    await cluster.stop();
  });

  /** Takes messages until one from `partition` is in hand; returns it and what came before. */
  async function until(iterator: AsyncIterator<ConsumedMessage>, partition: number): Promise<ConsumedMessage> {
    for (;;) {
      const next = await iterator.next();
      if (next.done) throw new Error('iteration ended');
      if (next.value.partition === partition) return next.value;
    }
  }

  it('starts at committed offsets; a revocation waits for the message in hand, then commits it', async () => {
    coordinator.commits.set('t:0', 3);
    coordinator.assignment = [
      { topic: 't', partition: 0 },
      { topic: 't', partition: 1 },
    ];
    const iterator = consumer.messages();
    const held = await until(iterator, 0);
    expect(held.offset).toBe(3); // the committed offset
    coordinator.assignment = [{ topic: 't', partition: 1 }];
    const heartbeatsAtChange = coordinator.heartbeats.length;
    // The member learns of it, then waits for the application: t-0 is still owned and not committed.
    await waitFor(() => coordinator.heartbeats.length >= heartbeatsAtChange + 4, 5_000, 'heartbeats');
    expect(coordinator.lastOwned()).toEqual(['t:0', 't:1']);
    expect(coordinator.commits.get('t:0')).toBe(3);
    expect(events).toEqual(['assigned t:0,t:1']);
    // The application asks for the next message: offset 3 is done, so 4 is committed; t-0 is given up.
    const next = await iterator.next();
    expect(next.value?.partition).toBe(1);
    await waitFor(() => coordinator.lastOwned().join() === 't:1', 5_000, 'the acknowledgement');
    expect(coordinator.commits.get('t:0')).toBe(4);
    expect(events).toEqual(['assigned t:0,t:1', 'revoked t:0']);
    // No message of t-0 after it was revoked.
    for (let i = 0; i < 5; i++) expect((await iterator.next()).value?.partition).toBe(1);
    await iterator.return?.();
  });

  it('close() commits what was finished with, tells the listener and leaves at once', async () => {
    coordinator.assignment = [{ topic: 't', partition: 1 }];
    const iterator = consumer.messages();
    await until(iterator, 1);
    await iterator.next(); // offset 0 done, 1 in hand
    await consumer.close();
    expect(coordinator.commits.get('t:1')).toBe(1);
    expect(events).toEqual(['assigned t:1', 'revoked t:1']);
    const last = coordinator.heartbeats[coordinator.heartbeats.length - 1];
    expect(last).toMatchObject({ memberId: 'member-1', memberEpoch: -1 });
  });

  it('a join whose answer is lost is sent again under the same member id (no second member)', async () => {
    // The coordinator applied the join and then failed to answer it (CoordinatorNotAvailable: its records
    // were not replicated in time, as the real one answers); a join retried under '' would be a new member
    // beside the first, holding partitions nobody consumes until its session ends.
    await consumer.close();
    const answer = coordinator.answerJoin;
    let joins = 0;
    coordinator.answerJoin = (r) =>
      ++joins === 1 ? { errorCode: ErrorCodes.COORDINATOR_NOT_AVAILABLE.code } : answer(r);
    consumer = samsa.consumer({ groupId: 'g', autoOffsetReset: 'earliest', maxWaitMs: 20 });
    consumer.subscribe(['t']);
    await waitFor(() => consumer.groupMetadata().state === 'stable', 5_000, 'joined');
    const attempts = coordinator.heartbeats.filter((h) => h.memberEpoch === 0).slice(-2);
    expect(attempts).toHaveLength(2);
    expect(attempts[0]!.memberId).not.toBe('');
    expect(attempts[1]!.memberId).toBe(attempts[0]!.memberId);
  });

  it('fenced: the partitions are lost (no revoke, no commit) and the member rejoins with epoch 0', async () => {
    coordinator.assignment = [{ topic: 't', partition: 0 }];
    const iterator = consumer.messages();
    await until(iterator, 0);
    const held = await iterator.next(); // offset 1 in hand
    const commitsBefore = coordinator.commitLog.length;
    const heartbeatsBefore = coordinator.heartbeats.length;
    coordinator.fenceNext = true;
    await waitFor(() => consumer.groupMetadata().state === 'fenced', 5_000, 'fenced');
    // Its offsets are refused now, not sent under an epoch the member lost.
    await expect(consumer.commit()).rejects.toBeInstanceOf(CommitFailedError);
    // The application still works on its record: the listener hears of the loss only once it is done
    // (Kafka's consumer runs onPartitionsLost in poll()), and the member does not rejoin before that.
    expect(consumer.groupMetadata().state).toBe('fenced');
    expect(events).toEqual(['assigned t:0']);
    expect(coordinator.heartbeats.slice(heartbeatsBefore).filter((h) => h.memberEpoch === 0)).toEqual([]);
    const nextMessage = iterator.next(); // done with offset 1
    await waitFor(() => events.includes('lost t:0'), 5_000, 'lost');
    await waitFor(() => events.filter((e) => e === 'assigned t:0').length === 2, 5_000, 'assigned again');
    expect(events).toEqual(['assigned t:0', 'lost t:0', 'assigned t:0']);
    expect(coordinator.commitLog.length).toBe(commitsBefore);
    const rejoin = coordinator.heartbeats.find((h, i) => i > 0 && h.memberEpoch === 0);
    expect(rejoin?.ownedTopicPartitions?.topicPartitions ?? []).toEqual([]);
    // Nothing committed: the partition starts again from the beginning (at-least-once).
    expect(held.value?.offset).toBe(1);
    expect((await nextMessage).value).toMatchObject({ partition: 0, offset: 0 });
    await iterator.return?.();
  });

  it('maxPollIntervalMs: a message held past it: the member leaves, rejoins when the application is back', async () => {
    await consumer.close();
    events.length = 0;
    consumer = samsa.consumer({ groupId: 'g', autoOffsetReset: 'earliest', maxWaitMs: 20, maxPollIntervalMs: 400 });
    consumer.subscribe(['t'], {
      onPartitionsAssigned: (tps) => void events.push(`assigned ${tps.map((tp) => key(tp.topic, tp.partition))}`),
      onPartitionsLost: (tps) => void events.push(`lost ${tps.map((tp) => key(tp.topic, tp.partition))}`),
    });
    const heartbeatsBefore = coordinator.heartbeats.length;
    coordinator.assignment = [{ topic: 't', partition: 0 }];
    const iterator = consumer.messages();
    await until(iterator, 0);
    // Messages asked for in time (each within 400 ms) keep the member.
    for (let i = 0; i < 3; i++) {
      await new Promise((resolve) => setTimeout(resolve, 150));
      await iterator.next();
    }
    expect(consumer.groupMetadata().state).not.toBe('stale');
    const held = await iterator.next(); // offset 4, then the application hangs
    const sent = () => coordinator.heartbeats.slice(heartbeatsBefore);
    expect(sent()[0]).toMatchObject({ memberEpoch: 0, rebalanceTimeoutMs: 400 });
    await waitFor(() => sent().some((h) => h.memberEpoch === -1), 5_000, 'the leave');
    expect(consumer.groupMetadata().state).toBe('stale');
    // Its partitions are another member's now: its commit is refused, nothing more is handed out to it.
    await expect(consumer.commit()).rejects.toBeInstanceOf(CommitFailedError);
    const afterLeave = sent().length;
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(
      sent()
        .slice(afterLeave - 1)
        .filter((h) => h.memberEpoch === 0),
    ).toEqual([]);
    expect(events).toEqual(['assigned t:0']);
    // The application is back: the loss is told, the member joins again and starts at the committed offset.
    const next = iterator.next();
    await waitFor(() => events.length === 3, 5_000, 'lost and assigned again');
    expect(events).toEqual(['assigned t:0', 'lost t:0', 'assigned t:0']);
    expect(held.value?.offset).toBe(4);
    expect((await next).value).toMatchObject({ partition: 0, offset: 0 });
    await iterator.return?.();
  });

  it('maxPollIntervalMs: a rebalance callback that hangs: the member leaves, is told when it returns', async () => {
    await consumer.close();
    events.length = 0;
    consumer = samsa.consumer({ groupId: 'g', autoOffsetReset: 'earliest', maxWaitMs: 20, maxPollIntervalMs: 400 });
    let release: () => void = () => {};
    const hung = new Promise<void>((resolve) => {
      release = resolve;
    });
    consumer.subscribe(['t'], {
      onPartitionsAssigned: async (tps) => {
        events.push(`assigned ${tps.map((tp) => key(tp.topic, tp.partition))}`);
        if (events.length === 1) await hung;
      },
      onPartitionsLost: (tps) => void events.push(`lost ${tps.map((tp) => key(tp.topic, tp.partition))}`),
    });
    const heartbeatsBefore = coordinator.heartbeats.length;
    coordinator.assignment = [{ topic: 't', partition: 0 }];
    const sent = () => coordinator.heartbeats.slice(heartbeatsBefore);
    // The application holds nothing (it never asked for a record): only the callback's time counts.
    await waitFor(() => sent().some((h) => h.memberEpoch === -1), 5_000, 'the leave');
    expect(consumer.groupMetadata().state).toBe('stale');
    expect(events).toEqual(['assigned t:0']);
    // The callback returns: the loss is told, then the member joins again (the callback runs again, in time).
    release();
    await waitFor(() => events.length === 3, 5_000, 'lost and assigned again');
    expect(events).toEqual(['assigned t:0', 'lost t:0', 'assigned t:0']);
    await waitFor(() => consumer.groupMetadata().state === 'stable', 5_000, 'joined again');
  });

  it('maxPollIntervalMs with batches(): from a batch yielded to the next asked for', async () => {
    await consumer.close();
    consumer = samsa.consumer({ groupId: 'g', autoOffsetReset: 'earliest', maxWaitMs: 20, maxPollIntervalMs: 300 });
    consumer.subscribe(['t']);
    coordinator.assignment = [{ topic: 't', partition: 1 }];
    const heartbeatsBefore = coordinator.heartbeats.length;
    for await (const batch of consumer.batches()) {
      expect(batch.partition).toBe(1);
      await waitFor(() => consumer.groupMetadata().state === 'stale', 5_000, 'left on the poll timer');
      await expect(consumer.commit()).rejects.toBeInstanceOf(CommitFailedError);
      break;
    }
    const left = () => coordinator.heartbeats.slice(heartbeatsBefore).some((h) => h.memberEpoch === -1);
    await waitFor(left, 5_000, 'the leave');
    // Left the loop: the member joins again.
    await waitFor(() => consumer.groupMetadata().state === 'stable', 5_000, 'joined again');
  });

  it('close() while fenced still leaves, under the member id the coordinator knows', async () => {
    coordinator.assignment = [{ topic: 't', partition: 0 }];
    const iterator = consumer.messages();
    await until(iterator, 0); // in hand when fenced; close() does not wait for it
    coordinator.fenceNext = true;
    await waitFor(() => consumer.groupMetadata().state === 'fenced', 5_000, 'fenced');
    await consumer.close();
    expect(events).toEqual(['assigned t:0', 'lost t:0']);
    const last = coordinator.heartbeats[coordinator.heartbeats.length - 1];
    expect(last).toMatchObject({ memberId: 'member-1', memberEpoch: -1 });
  });

  it('a loss behind a revocation that waits for the application: nothing more of any lost partition', async () => {
    coordinator.assignment = [
      { topic: 't', partition: 0 },
      { topic: 't', partition: 1 },
    ];
    const iterator = consumer.messages();
    await until(iterator, 0); // a record of t-0 in hand, t-1's records fetched too
    await waitFor(() => events.length === 1, 5_000, 'assigned');
    // t-0 is revoked: the revocation waits for the record in hand. Then the member is fenced.
    coordinator.assignment = [{ topic: 't', partition: 1 }];
    const heartbeats = coordinator.heartbeats.length;
    await waitFor(() => coordinator.heartbeats.length >= heartbeats + 2, 5_000, 'the revocation known');
    coordinator.fenceNext = true;
    await waitFor(() => consumer.groupMetadata().state === 'fenced', 5_000, 'fenced');
    // The loss is known: the next record handed out is one of the rejoined member, after the loss is told.
    const next = await iterator.next();
    events.push(`message t:${next.value?.partition}`);
    expect(events.slice(0, 2)).toEqual(['assigned t:0,t:1', 'lost t:0,t:1']);
    expect(events).not.toContain('revoked t:0');
    expect(events.indexOf(`message t:${next.value?.partition}`)).toBeGreaterThan(events.indexOf('assigned t:1'));
    await iterator.return?.();
  });
});

describe('finding the coordinator', () => {
  it('NotCoordinator: found again elsewhere; CoordinatorLoadInProgress: the same one again, with backoff', async () => {
    const cluster = await TestCluster.start({ brokers: 2 });
    cluster.createTopic('t', 1);
    let coordinatorNode = 0;
    let loading = 2;
    cluster.groups = {
      FindCoordinator: (r: v1.FindCoordinatorRequest__Output) => ({
        coordinators: r.keys.map((k) => ({
          key: k,
          nodeId: coordinatorNode,
          host: '127.0.0.1',
          port: cluster.brokers[coordinatorNode]!.port,
          errorCode: 0,
        })),
      }),
      OffsetCommit: (r: v1.OffsetCommitRequest__Output, broker: number) => {
        const errorCode =
          broker !== coordinatorNode
            ? ErrorCodes.NOT_COORDINATOR.code
            : loading-- > 0
              ? ErrorCodes.COORDINATOR_LOAD_IN_PROGRESS.code
              : 0;
        return {
          errorCode,
          topics: r.topics.map((t) => ({
            name: t.name,
            partitions: t.partitions.map((p) => ({ partition: p.partition, errorCode })),
          })),
        };
      },
    };
    const samsa = new Samsa({ brokers: cluster.bootstrap, retry: fastRetry });
    try {
      const consumer = samsa.consumer({ groupId: 'g' });
      await consumer.assign([{ topic: 't', partition: 0 }]);
      loading = 0;
      await consumer.commit([{ topic: 't', partition: 0, offset: 1 }]);
      coordinatorNode = 1;
      loading = 2;
      cluster.requests.length = 0;
      await consumer.commit([{ topic: 't', partition: 0, offset: 2 }]);
      const calls = cluster.requests
        .filter((r) => r.method === 'OffsetCommit' || r.method === 'FindCoordinator')
        .map((r) => `${r.method}@${r.broker}`);
      // Broker 0 says it is not the coordinator; broker 1 (found again) is loading twice, then commits.
      expect(calls.filter((c) => c.startsWith('OffsetCommit'))).toEqual([
        'OffsetCommit@0',
        'OffsetCommit@1',
        'OffsetCommit@1',
        'OffsetCommit@1',
      ]);
      expect(calls.filter((c) => c.startsWith('FindCoordinator'))).toHaveLength(1);
    } finally {
      await samsa.close();
      await cluster.stop();
    }
  });
});

/** Topic t with two partitions of ten records each, and a scripted coordinator with t-0 committed at 3. */
async function fencingCluster(): Promise<{ cluster: TestCluster; coordinator: ScriptedCoordinator }> {
  const cluster = await TestCluster.start();
  cluster.createTopic('t', 2);
  for (const p of [0, 1])
    cluster.append(
      't',
      p,
      encodeBatch(Array.from({ length: 10 }, (_, i) => ({ key: null, value: Buffer.from(`${i}`), timestamp: i }))),
    );
  return { cluster, coordinator: new ScriptedCoordinator(cluster) };
}

/**
 * Fences the consumer's member and resolves once it knows: its partitions are dropped, and the loss waits
 * for the application to finish with what it holds. The returned function waits until the member owns
 * its partitions again under a new epoch (`events` collects its listener's `assigned ...` lines).
 */
async function fenceMember(
  consumer: Consumer,
  coordinator: ScriptedCoordinator,
  events: readonly string[],
): Promise<() => Promise<void>> {
  const before = consumer.groupMetadata().memberEpoch;
  const assigned = events.filter((e) => e.startsWith('assigned')).length;
  coordinator.fenceNext = true;
  await waitFor(() => consumer.groupMetadata().state === 'fenced', 5_000, 'fenced');
  return async () => {
    await waitFor(() => events.filter((e) => e.startsWith('assigned')).length > assigned, 5_000, 'assigned again');
    await waitFor(() => consumer.groupMetadata().state === 'stable', 5_000, 'stable again');
    expect(consumer.groupMetadata().memberEpoch).toBeGreaterThan(before);
  };
}

/**
 * Exactly-once: the offsets a transaction commits must belong to the records the application was handed.
 * A member fenced while it holds a batch loses the partition and rejoins with a new epoch; the partition
 * is assigned again and read again from the committed offset. The batch in hand was handed out under the
 * old epoch: committing its offsets under the new one would commit its output twice (chaos run 217).
 */
describe('a fenced member holding records: their offsets cannot go into a transaction', () => {
  let cluster: TestCluster;
  let samsa: Samsa;
  let coordinator: ScriptedCoordinator;
  let consumer: Consumer;
  const events: string[] = [];

  beforeEach(async () => {
    ({ cluster, coordinator } = await fencingCluster());
    coordinator.commits.set('t:0', 3);
    samsa = new Samsa({ brokers: cluster.bootstrap, retry: fastRetry });
    consumer = samsa.consumer({
      groupId: 'g',
      autoOffsetReset: 'earliest',
      maxWaitMs: 20,
      enableAutoCommit: false,
      isolationLevel: 'read_committed',
    });
    events.length = 0;
    consumer.subscribe(['t'], {
      onPartitionsAssigned: (tps) => void events.push(`assigned ${tps.map((tp) => tp.partition).join()}`),
      onPartitionsLost: (tps) => void events.push(`lost ${tps.map((tp) => tp.partition).join()}`),
    });
  });

  afterEach(async () => {
    await samsa.close();
    await cluster.stop();
  });

  const fence = () => fenceMember(consumer, coordinator, events);

  const refusal = (fn: () => unknown): SamsaClientError => {
    try {
      fn();
    } catch (err) {
      expect(err).toBeInstanceOf(SamsaClientError);
      return err as SamsaClientError;
    }
    throw new Error('not refused');
  };

  it('batches(): the batch in hand is refused, explicit offsets or positions; the new batch commits', async () => {
    coordinator.assignment = [{ topic: 't', partition: 0 }];
    const batches = consumer.batches();
    const first = (await batches.next()).value!;
    expect(first.messages.map((m) => m.offset)).toEqual([3, 4, 5, 6, 7, 8, 9]);
    const before = consumer.offsetsForTransaction([{ topic: 't', partition: 0, offset: 5 }]);
    expect(before.offsets).toEqual([{ topic: 't', partition: 0, offset: 5 }]);
    expect(before.stillCurrent()).toBe(true);
    const rejoined = await fence();
    // Offsets checked before the fence and still on their way when it came: sendOffsets fails them.
    expect(before.stillCurrent()).toBe(false);
    // What the lost assignment handed out cannot be committed, from the moment the loss is known...
    const stale = refusal(() => consumer.offsetsForTransaction([{ topic: 't', partition: 0, offset: 10 }]));
    expect(stale.code).toBe(ErrorCodes.STALE_MEMBER_EPOCH.code);
    expect(stale.partition).toBe(0);
    expect(refusal(() => consumer.offsetsForTransaction()).code).toBe(ErrorCodes.STALE_MEMBER_EPOCH.code);
    // ...because, once the application is done with the batch, the member rejoins and the new assignment
    // hands the same records out again, from the committed offset.
    const next = batches.next();
    await rejoined();
    expect(events).toEqual(['assigned 0', 'lost 0', 'assigned 0']);
    const again = (await next).value!;
    expect(again.messages[0]?.offset).toBe(3);
    expect(consumer.offsetsForTransaction([{ topic: 't', partition: 0, offset: 10 }])).toMatchObject({
      group: { memberId: 'member-1', memberEpoch: consumer.groupMetadata().memberEpoch },
      offsets: [{ topic: 't', partition: 0, offset: 10 }],
    });
    await batches.return();
  });

  it('messages(): a partition lost after its messages were handed out is refused until handed out again', async () => {
    coordinator.assignment = [
      { topic: 't', partition: 0 },
      { topic: 't', partition: 1 },
    ];
    const iterator = consumer.messages();
    const seen = new Set<number>();
    while (seen.size < 2) seen.add((await iterator.next()).value!.partition);
    coordinator.assignment = [{ topic: 't', partition: 1 }];
    const rejoined = await fence();
    // Lost: their records handed out before cannot be committed by this member.
    const refused = refusal(() => consumer.offsetsForTransaction([{ topic: 't', partition: 0, offset: 5 }]));
    expect(refused.code).toBe(ErrorCodes.STALE_MEMBER_EPOCH.code);
    expect(refusal(() => consumer.offsetsForTransaction([{ topic: 't', partition: 1, offset: 1 }])).partition).toBe(1);
    const pending = iterator.next();
    await rejoined();
    expect(consumer.assignment()).toEqual([{ topic: 't', partition: 1 }]);
    // t-0 is another member's now: still refused; t-1 once its records are handed out again.
    expect(refusal(() => consumer.offsetsForTransaction([{ topic: 't', partition: 0, offset: 5 }])).partition).toBe(0);
    const next = await pending;
    expect(next.value?.partition).toBe(1);
    expect(consumer.offsetsForTransaction([{ topic: 't', partition: 1, offset: 1 }]).offsets).toHaveLength(1);
    await iterator.return?.();
  });
  it('a partition revoked and assigned back: what was handed out before is refused', async () => {
    coordinator.assignment = [
      { topic: 't', partition: 0 },
      { topic: 't', partition: 1 },
    ];
    const iterator = consumer.messages();
    let next = await iterator.next();
    while (next.value?.partition !== 0) next = await iterator.next();
    // Done with it (the next message is asked for), not committed yet: an application batching its commits.
    while (next.value?.partition !== 1) next = await iterator.next();
    const handedOut = next.value.offset + 1;
    coordinator.assignment = [{ topic: 't', partition: 1 }];
    await waitFor(() => consumer.assignment().length === 1, 5_000, 't-0 revoked');
    coordinator.assignment = [
      { topic: 't', partition: 0 },
      { topic: 't', partition: 1 },
    ];
    await waitFor(() => consumer.assignment().length === 2, 5_000, 't-0 assigned back');
    const refused = refusal(() => consumer.offsetsForTransaction([{ topic: 't', partition: 0, offset: 4 }]));
    expect(refused).toMatchObject({ code: ErrorCodes.STALE_MEMBER_EPOCH.code, partition: 0 });
    // t-1 stayed this member's all along.
    expect(consumer.offsetsForTransaction([{ topic: 't', partition: 1, offset: handedOut }]).offsets).toHaveLength(1);
    await iterator.return?.();
  });

  it('a partition given back with nothing new to hand out: refused once (that aborts), then not', async () => {
    coordinator.assignment = [
      { topic: 't', partition: 0 },
      { topic: 't', partition: 1 },
    ];
    const iterator = consumer.messages();
    let next = await iterator.next();
    while (next.value?.partition !== 1 || next.value.offset !== 9) next = await iterator.next();
    coordinator.commits.set('t:1', 10); // a transaction committed all of t-1
    const rejoined = await fence();
    const pending = iterator.next();
    await rejoined();
    next = await pending;
    expect(next.value).toMatchObject({ partition: 0, offset: 3 });
    // t-1's old records may be in the open transaction, and its position would not cover them: abort.
    expect(refusal(() => consumer.offsetsForTransaction())).toMatchObject({
      code: ErrorCodes.STALE_MEMBER_EPOCH.code,
      partition: 1,
    });
    // That transaction aborted with whatever it held; t-1 stays idle, and the next ones are not refused.
    // With their leader epochs (KIP-320): t-0's of record 3; t-1's committed offset came without one.
    expect(consumer.offsetsForTransaction().offsets).toEqual([
      { topic: 't', partition: 0, offset: 4, leaderEpoch: 0 },
      { topic: 't', partition: 1, offset: 10, leaderEpoch: -1 },
    ]);
    const positions = consumer.assignment().map((tp) => ({ ...tp, offset: consumer.position(tp)! }));
    expect(consumer.offsetsForTransaction(positions).offsets).toHaveLength(2);
    // An offset from t-1's old records is still refused.
    expect(refusal(() => consumer.offsetsForTransaction([{ topic: 't', partition: 1, offset: 7 }])).partition).toBe(1);
    await iterator.return?.();
  });
});

/**
 * At least once: a plain commit (explicit offsets, positions, auto-commit) of records handed out under an
 * assignment the member no longer has is refused, before it is sent and when the StaleMemberEpoch answer
 * to one on its way would have it sent again under the member's new epoch (Kafka's CommitFailedException).
 * The coordinator here checks the epoch as the broker does, and gives a rejoining member a new one.
 */
describe('a fenced member holding records: plain commits', () => {
  let cluster: TestCluster;
  let samsa: Samsa;
  let coordinator: ScriptedCoordinator;
  let consumer: Consumer;
  const events: string[] = [];
  const warnings: string[] = [];

  beforeEach(async () => {
    ({ cluster, coordinator } = await fencingCluster());
    coordinator.checkCommitEpoch = true;
    coordinator.commits.set('t:0', 3);
    const noop = () => {};
    const logger = {
      debug: noop,
      info: noop,
      error: noop,
      warn: (_: object, m?: string) => void warnings.push(m ?? ''),
    };
    samsa = new Samsa({ brokers: cluster.bootstrap, retry: fastRetry, logger });
    events.length = 0;
    warnings.length = 0;
  });

  afterEach(async () => {
    await samsa.close();
    await cluster.stop();
  });

  function start(options: Partial<ConsumerOptions> = {}, onRevoked?: () => Promise<void>): void {
    consumer = samsa.consumer({
      groupId: 'g',
      autoOffsetReset: 'earliest',
      maxWaitMs: 20,
      enableAutoCommit: false,
      ...options,
    });
    consumer.subscribe(['t'], {
      onPartitionsAssigned: (tps) => void events.push(`assigned ${tps.map((tp) => tp.partition).join()}`),
      onPartitionsLost: (tps) => void events.push(`lost ${tps.map((tp) => tp.partition).join()}`),
      onPartitionsRevoked: async (tps) => {
        events.push(`revoked ${tps.map((tp) => tp.partition).join()}`);
        await onRevoked?.();
      },
    });
  }

  const fence = () => fenceMember(consumer, coordinator, events);

  const accepted = () => coordinator.commitLog.map((c) => c.offsets);

  it('refuses offsets of the batch in hand after a fence and rejoin, explicit or positions', async () => {
    start();
    coordinator.assignment = [{ topic: 't', partition: 0 }];
    const batches = consumer.batches();
    const first = (await batches.next()).value!;
    expect(first.messages[0]?.offset).toBe(3);
    const rejoined = await fence();
    const explicit = consumer.commit([{ topic: 't', partition: 0, offset: 10 }]);
    await expect(explicit).rejects.toBeInstanceOf(CommitFailedError);
    await expect(explicit).rejects.toMatchObject({ code: ErrorCodes.STALE_MEMBER_EPOCH.code, partition: 0 });
    await expect(consumer.commit()).rejects.toMatchObject({ code: ErrorCodes.STALE_MEMBER_EPOCH.code });
    expect(accepted()).toEqual([]);
    // The new assignment hands the records out again from the committed offset; their commit is taken.
    const next = batches.next();
    await rejoined();
    const again = (await next).value!;
    expect(again.messages[0]?.offset).toBe(3);
    await consumer.commit([{ topic: 't', partition: 0, offset: 10 }]);
    expect(coordinator.commits.get('t:0')).toBe(10);
    await batches.return();
  });

  it('a commit on its way when the member is fenced and rejoins is refused, not sent again', async () => {
    start();
    coordinator.assignment = [{ topic: 't', partition: 0 }];
    const batches = consumer.batches();
    await batches.next();
    const release = cluster.hold('OffsetCommit');
    const commit = consumer.commit([{ topic: 't', partition: 0, offset: 10 }]);
    commit.catch(() => {});
    await waitFor(() => cluster.requestsOf('OffsetCommit').length === 1, 5_000, 'the commit sent');
    const rejoined = await fence();
    const next = batches.next();
    await rejoined();
    release(); // it arrives under the old epoch: StaleMemberEpoch
    await expect(commit).rejects.toBeInstanceOf(CommitFailedError);
    expect(cluster.requestsOf('OffsetCommit')).toHaveLength(1);
    expect(accepted()).toEqual([]);
    expect(coordinator.commits.get('t:0')).toBe(3);
    expect((await next).value?.messages[0]?.offset).toBe(3);
    await batches.return();
  });

  it('the epoch moved for another partition: the StaleMemberEpoch commit is sent again and taken', async () => {
    start();
    coordinator.assignment = [{ topic: 't', partition: 0 }];
    const batches = consumer.batches();
    await batches.next();
    const epoch = consumer.groupMetadata().memberEpoch;
    const release = cluster.hold('OffsetCommit');
    const commit = consumer.commit([{ topic: 't', partition: 0, offset: 10 }]);
    await waitFor(() => cluster.requestsOf('OffsetCommit').length === 1, 5_000, 'the commit sent');
    coordinator.assignment = [
      { topic: 't', partition: 0 },
      { topic: 't', partition: 1 },
    ];
    await waitFor(() => consumer.assignment().length === 2, 5_000, 't-1 assigned');
    expect(consumer.groupMetadata().memberEpoch).toBeGreaterThan(epoch);
    release();
    await commit;
    expect(cluster.requestsOf('OffsetCommit')).toHaveLength(2);
    expect(coordinator.commits.get('t:0')).toBe(10);
    expect(events).toEqual(['assigned 0', 'assigned 1']);
    await batches.return();
  });

  it('auto-commit on its way at a fence is not sent again under the new epoch', async () => {
    start({ enableAutoCommit: true, autoCommitIntervalMs: 20 });
    coordinator.assignment = [{ topic: 't', partition: 0 }];
    const release = cluster.hold('OffsetCommit');
    const iterator = consumer.messages();
    expect((await iterator.next()).value?.offset).toBe(3);
    expect((await iterator.next()).value?.offset).toBe(4); // 3 finished with: auto-commit sends 4
    await waitFor(() => cluster.requestsOf('OffsetCommit').length === 1, 5_000, 'the auto-commit sent');
    const rejoined = await fence();
    const pending = iterator.next();
    await rejoined();
    release();
    await waitFor(() => warnings.includes('auto-commit failed'), 5_000, 'the auto-commit refused');
    expect(accepted()).toEqual([]);
    // The new assignment starts at the committed offset and commits what it finishes with.
    expect((await pending).value?.offset).toBe(3);
    expect((await iterator.next()).value?.offset).toBe(4);
    await waitFor(() => coordinator.commits.get('t:0') === 4, 5_000, 'the new assignment auto-commits');
    await iterator.return?.();
  });

  it('a partition given back with nothing new to hand out: its position still commits', async () => {
    start();
    coordinator.assignment = [
      { topic: 't', partition: 0 },
      { topic: 't', partition: 1 },
    ];
    const iterator = consumer.messages();
    let next = await iterator.next();
    while (next.value?.partition !== 1 || next.value.offset !== 9) next = await iterator.next();
    await consumer.commit([{ topic: 't', partition: 1, offset: 10 }]); // all of t-1 processed
    const rejoined = await fence();
    const pending = iterator.next();
    await rejoined();
    // t-1 starts at 10 again and stays idle (its records were all handed out before the fence); t-0 at 3.
    next = await pending;
    expect(next.value).toMatchObject({ partition: 0, offset: 3 });
    // Positions are the new assignment's own: committing them is not committing the old records.
    await consumer.commit();
    expect(coordinator.commits.get('t:0')).toBe(4);
    expect(coordinator.commits.get('t:1')).toBe(10);
    // As are explicit offsets at the positions (Kafka's commitSync(positions of the assignment)).
    const positions = consumer.assignment().map((tp) => ({ ...tp, offset: consumer.position(tp)! }));
    await consumer.commit(positions);
    // An explicit offset of t-1 from the old assignment's records is still refused.
    await expect(consumer.commit([{ topic: 't', partition: 1, offset: 7 }])).rejects.toBeInstanceOf(CommitFailedError);
    expect(coordinator.commits.get('t:1')).toBe(10);
    await iterator.return?.();
  });

  it('commits in onPartitionsRevoked and on close() still go through', async () => {
    start({}, () => consumer.commit());
    coordinator.assignment = [
      { topic: 't', partition: 0 },
      { topic: 't', partition: 1 },
    ];
    const iterator = consumer.messages();
    let next = await iterator.next();
    while (next.value?.partition !== 0) next = await iterator.next();
    const offset = next.value.offset;
    coordinator.assignment = [{ topic: 't', partition: 1 }];
    await waitFor(() => consumer.groupMetadata().state === 'reconciling', 5_000, 'the revocation');
    const pending = iterator.next(); // the message of t-0 is finished with: the revocation goes on
    await waitFor(() => events.includes('revoked 0'), 5_000, 'revoked');
    await waitFor(() => consumer.assignment().length === 1, 5_000, 't-0 given up');
    expect(coordinator.commits.get('t:0')).toBe(offset + 1);
    const commits = coordinator.commitLog.length;
    await consumer.close();
    await pending;
    expect(events.at(-1)).toBe('revoked 1');
    expect(coordinator.commitLog.length).toBe(commits + 1);
  });
});
