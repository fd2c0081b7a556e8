/**
 * KIP-320's group half on real processes: a committed offset carries the leader epoch of the last record
 * consumed before it, and a new member starting from it validates it against the leader's log. Three
 * brokers; __consumer_offsets has one partition, led by the controller C, so the group's coordinator
 * stays up throughout. The topic's two replicas are the other brokers (L leads, F follows), with
 * unclean.leader.election.enable. F is paused (SIGSTOP) until L drops it from the ISR; L takes ten acks=1
 * records alone (offsets 10-19); a member of the group reads all twenty and commits 20 with L's epoch.
 * L is killed and F resumed and elected uncleanly, its log ending at 10; it takes five new records
 * (10-14 again). A new member with autoOffsetReset 'none' starting from the committed offset throws
 * LogTruncationError (position 20, divergent offset 10); one with 'earliest' reads the five new records
 * from 10, none skipped. Without the epoch the new members would fetch at 20, past F's log end:
 * OffsetOutOfRangeError, or a reset to the start that reads 0-9 again.
 */
import { LogTruncationError, Samsa, type Consumer } from '@samsa/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LocalCluster } from '../helpers/cluster.js';
import { waitFor } from '../helpers/wait.js';
import { RawGroups } from './group-grpc.js';
import { createUncleanTopic, partitionOf, placeOn } from './unclean-topic.js';
import { range, take, values } from '../helpers/consumed.js';

/** Long enough that the paused follower keeps its session: F stays registered, electable once resumed. */
const SESSION_TIMEOUT_MS = 10_000;
const TOPIC = `committed-epoch-${process.pid}`;
const GROUP = `committed-epoch-${process.pid}`;
const OFFSETS_TOPIC = '__consumer_offsets';
const retry = { retries: 1000, initialRetryTimeMs: 50, maxRetryTimeMs: 300 };

let cluster: LocalCluster;
let control: Samsa;
const paused = new Set<number>();

beforeAll(async () => {
  cluster = await LocalCluster.start({
    brokers: 3,
    brokerSettings: {
      'zookeeper.session.timeout.ms': String(SESSION_TIMEOUT_MS),
      'replica.lag.time.max.ms': '1000',
      'auto.leader.rebalance.enable': 'false',
      'offsets.topic.num.partitions': '1',
      'offsets.topic.replication.factor': '3',
    },
  });
  control = new Samsa({ brokers: cluster.bootstrap, requestTimeoutMs: 4000, retry });
}, 60_000);

afterAll(async () => {
  for (const id of paused) cluster.resumeBroker(id);
  await control?.close();
  await cluster?.close();
});

/** __consumer_offsets led by the controller, the topic on the two other brokers: [leader, follower]. */
async function setUp(): Promise<{ controllerId: number; leader: number; follower: number }> {
  const admin = control.admin();
  const { controllerId } = await admin.describeCluster();
  const [leader, follower] = [1, 2, 3].filter((id) => id !== controllerId) as [number, number];
  // The first group call creates __consumer_offsets.
  await admin.fetchGroupOffsets(GROUP);
  await placeOn(control, OFFSETS_TOPIC, [controllerId, leader, follower]);
  await createUncleanTopic(control, TOPIC);
  await placeOn(control, TOPIC, [leader, follower]);
  return { controllerId, leader, follower };
}

/** A new member of the group: its partition starts at the group's committed offset. */
function newMember(samsa: Samsa, autoOffsetReset: 'none' | 'earliest'): Consumer {
  const consumer = samsa.consumer({ groupId: GROUP, autoOffsetReset, enableAutoCommit: false, maxWaitMs: 200 });
  consumer.subscribe([TOPIC]);
  return consumer;
}

describe('a committed offset past an unclean election (KIP-320, the group half)', () => {
  it('a new member starting from the committed offset detects the truncation', async () => {
    const { leader, follower } = await setUp();
    const producer = control.producer({ acks: 1 });
    const samsa = new Samsa({ brokers: cluster.bootstrap, requestTimeoutMs: 4000, retry });
    try {
      await producer.sendBatch({ topic: TOPIC, messages: values('a', 10), acks: 'all' });

      // F stops copying; L drops it from the ISR and then acknowledges alone.
      cluster.pauseBroker(follower);
      paused.add(follower);
      await waitFor(async () => (await partitionOf(control, TOPIC)).isr.join() === String(leader), {
        timeoutMs: 20_000,
        description: `broker ${follower} out of the ISR`,
      });
      await producer.sendBatch({ topic: TOPIC, messages: values('b', 10) });
      const before = await partitionOf(control, TOPIC);

      // A member of the group reads all twenty and commits after them, with L's epoch.
      const first = newMember(samsa, 'earliest');
      const records = first.messages();
      expect(await take(records, 20)).toEqual([...range(0, 'a', 10), ...range(10, 'b', 10)]);
      await first.commit();
      await records.return?.();
      await first.close();
      const [committed] = await control.admin().fetchGroupOffsets(GROUP, [{ topic: TOPIC, partition: 0 }]);
      expect(committed).toMatchObject({ offset: 20, leaderEpoch: before.leaderEpoch });

      // L dies with offsets 10-19; F comes back without them and is elected uncleanly.
      await cluster.killBroker(leader);
      cluster.resumeBroker(follower);
      paused.delete(follower);
      await waitFor(async () => (await partitionOf(control, TOPIC)).leader === follower, {
        timeoutMs: 60_000,
        description: `broker ${follower} elected uncleanly`,
      });
      await producer.sendBatch({ topic: TOPIC, messages: values('c', 5) });

      const strict = newMember(samsa, 'none');
      const err = await strict
        .messages()
        .next()
        .then(
          () => undefined,
          (e: unknown) => e,
        );
      expect(err).toBeInstanceOf(LogTruncationError);
      expect(err).toMatchObject({ topic: TOPIC, partition: 0, offset: 20, divergentOffset: 10 });
      await strict.close();

      const lenient = newMember(samsa, 'earliest');
      const lenientRecords = lenient.messages();
      expect(await take(lenientRecords, 5)).toEqual(range(10, 'c', 5));
      await lenientRecords.return?.();
      await lenient.close();
    } finally {
      await producer.close();
      await samsa.close();
    }
  }, 180_000);

  // After the test above: the topic exists (an empty group's commit must name an existing partition).
  it('gRPC OffsetCommit without committed_leader_epoch stores -1, not epoch 0', async () => {
    const { controllerId } = await control.admin().describeCluster();
    const groupId = `${GROUP}-raw`;
    // __consumer_offsets is led by the controller (the test above put it there): ask it for the coordinator.
    const found = await waitFor(
      async () => {
        const [c] = (await new RawGroups(cluster.broker(controllerId).address).findCoordinator([groupId])).coordinators;
        return c?.errorCode === 0 ? new RawGroups(`${c.host}:${c.port}`) : undefined;
      },
      { timeoutMs: 30_000, description: `a coordinator for ${groupId}` },
    );
    // No committed_leader_epoch: as a caller written before it, or one that does not know it, sends.
    await waitFor(
      async () => {
        const committed = await found.commit({
          groupId,
          memberId: '',
          memberEpoch: -1,
          topics: [{ name: TOPIC, partitions: [{ partition: 0, committedOffset: 3 }] }],
        });
        return committed.errorCode === 0 && committed.topics[0]!.partitions[0]!.errorCode === 0;
      },
      { timeoutMs: 30_000, description: 'the commit taken' },
    );
    const fetched = await found.fetchOffsets({ groupId, memberId: '', memberEpoch: -1, topics: [] });
    expect(fetched.topics[0]!.partitions[0]).toMatchObject({ committedOffset: 3, committedLeaderEpoch: -1 });
  }, 60_000);
});
