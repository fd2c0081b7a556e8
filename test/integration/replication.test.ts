/**
 * Replication on real processes: followers copy the leader, a consumer's long poll wakes when the high
 * watermark moves, the ISR shrinks and grows back, a leader
 * restarted faster than its session timeout does not resume its old term, and a broker restarted
 * alone resumes its saved high watermarks.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dumpSegment } from '@samsa/broker';
import { Samsa } from '@samsa/client';
import { decodeBatches, encodeBatch, ErrorCodes } from '@samsa/protocol';
import { LocalCluster } from '../helpers/cluster.js';
import { waitFor } from '../helpers/wait.js';
import { RawBroker } from './grpc.js';

const SESSION_TIMEOUT_MS = 6000;
let cluster: LocalCluster;
let samsa: Samsa;

beforeAll(async () => {
  cluster = await LocalCluster.start({
    brokers: 3,
    brokerSettings: {
      'zookeeper.session.timeout.ms': String(SESSION_TIMEOUT_MS),
      'replica.lag.time.max.ms': '1500',
      'replica.high.watermark.checkpoint.interval.ms': '300',
    },
  });
  samsa = new Samsa({
    brokers: cluster.bootstrap,
    requestTimeoutMs: 4000,
    retry: { retries: 50, initialRetryTimeMs: 50, maxRetryTimeMs: 300 },
  });
}, 60_000);

afterAll(async () => {
  await samsa?.close();
  await cluster?.close();
});

/** Creates a one-partition topic with replication factor 3 and min.insync.replicas 2. */
function createReplicated(topic: string): Promise<void> {
  return samsa
    .admin()
    .createTopics([{ topic, numPartitions: 1, replicationFactor: 3, configs: { 'min.insync.replicas': '2' } }]);
}

/** A new such topic, once its ISR is full. */
async function replicatedTopic(prefix: string): Promise<string> {
  const topic = `${prefix}-${process.pid}`;
  await createReplicated(topic);
  await waitFor(async () => (await partition0(topic)).isr.length === 3, { description: 'a full ISR' });
  return topic;
}

/** The record values in a broker's copy of partition 0 (its log files, read while it runs). */
async function replicaValues(brokerId: number, topic: string): Promise<string[]> {
  const values: string[] = [];
  for await (const entry of dumpSegment(join(cluster.broker(brokerId).dataDir, `${topic}-0`), { printRecords: true })) {
    if (entry.kind === 'error') throw new Error(`broker ${brokerId}: ${entry.reason} at ${entry.position}`);
    for (const r of entry.records ?? []) values.push(Buffer.from(r.value!).toString());
  }
  return values;
}

async function partition0(topic: string) {
  const [described] = await samsa.admin().describeTopics([topic]);
  return described!.partitions[0]!;
}

describe('replication', () => {
  it("a consumer's long poll wakes when the high watermark moves, with no new bytes appended", async () => {
    const topic = await replicatedTopic('hw-wake');
    const { leader, replicas } = await partition0(topic);
    const followers = replicas.filter((r) => r !== leader);
    const raw = new RawBroker(cluster.broker(leader).address);
    try {
      // With its followers stopped, an acks=1 record is in the leader's log but above its high watermark.
      for (const f of followers) cluster.pauseBroker(f);
      // The metadata that named the leader may be ahead of the leader taking up its role: it answers
      // UnknownTopicOrPartition before it knows the partition, NotLeaderOrFollower before it leads it.
      const notYet = [ErrorCodes.UNKNOWN_TOPIC_OR_PARTITION.code, ErrorCodes.NOT_LEADER_OR_FOLLOWER.code];
      let code = -1;
      await waitFor(
        async () => {
          const batch = encodeBatch([{ key: null, value: Buffer.from('w') }], { now: Date.now() });
          code = (await raw.produce(topic, 0, batch)).errorCode;
          return !notYet.includes(code);
        },
        { timeoutMs: 20_000, description: 'the leader to take up its role' },
      );
      expect(code).toBe(0);
      const maxWaitMs = 10_000; // within RawBroker's 15 s call deadline
      const startedMs = Date.now();
      const parked = raw.fetch(topic, 0, 0, { maxWaitMs });
      // Answered after the long poll above was read (one connection, requests served in order): nothing committed.
      const probe = await raw.fetch(topic, 0, 0);
      expect({ hw: probe.highWatermark, bytes: probe.records.length }).toEqual({ hw: 0, bytes: 0 });
      // The followers catch up (or the ISR shrinks): either moves the high watermark, and nothing else happens.
      for (const f of followers) cluster.resumeBroker(f);
      const answer = await parked;
      expect(decodeBatches(answer.records).flatMap((b) => b.records.map((r) => r.value?.toString()))).toEqual(['w']);
      // Woken by the move, not answered at the long poll's deadline.
      expect(Date.now() - startedMs).toBeLessThan(maxWaitMs);
    } finally {
      for (const f of followers) cluster.resumeBroker(f);
      raw.close();
    }
  });

  it('a follower that stops fetching is dropped from the ISR by its leader, and rejoins once caught up', async () => {
    const topic = await replicatedTopic('isr');
    const { leader, replicas } = await partition0(topic);
    const follower = replicas.find((r) => r !== leader)!;
    // Patient requests: the writes wait for the shrink rather than time out and be retried (duplicated).
    const producer = samsa.producer({ acks: 'all', requestTimeoutMs: 30_000 });
    // Paused longer than replica.lag.time.max.ms but shorter than its session: only the leader can
    // notice, through the follower's silence, and shrink the ISR through the controller.
    cluster.pauseBroker(follower);
    const pending = producer.sendBatch({
      topic,
      messages: Array.from({ length: 200 }, (_, i) => ({ value: `v${i}` })),
    });
    await waitFor(async () => !(await partition0(topic)).isr.includes(follower), {
      timeoutMs: 15_000,
      intervalMs: 100,
      description: `broker ${follower} to leave the ISR`,
    });
    // Two of three in sync still meet min.insync.replicas = 2: the writes complete without the follower.
    const written = await pending;
    expect(written).toHaveLength(200);
    expect(written.every((r, i) => i === 0 || r.offset > written[i - 1]!.offset)).toBe(true);
    cluster.resumeBroker(follower);
    expect(cluster.broker(leader).process!.output()).toMatch(
      new RegExp(`"kind":"shrink","isr":\\[[0-9,]+\\],"changed":\\[${follower}\\]`),
    );
    await waitFor(async () => (await partition0(topic)).isr.includes(follower), {
      timeoutMs: 15_000,
      description: `broker ${follower} to rejoin the ISR`,
    });
    await producer.close();
  });

  it('a leader restarted within its session timeout does not resume its term; no acknowledged loss', async () => {
    const topic = await replicatedTopic('bounce');
    const producer = samsa.producer({ acks: 'all' });
    const first = await producer.sendBatch({
      topic,
      messages: Array.from({ length: 100 }, (_, i) => ({ value: `a${i}` })),
    });
    const before = await partition0(topic);

    await cluster.killBroker(before.leader);
    await cluster.startBroker(before.leader); // well within the 6 s session timeout
    const after = await waitFor(
      async () => {
        const p = await partition0(topic);
        return p.leaderEpoch > before.leaderEpoch && p.leader >= 0 ? p : undefined;
      },
      { timeoutMs: 20_000, description: 'a new leader epoch after the bounce' },
    );
    expect(after.leaderEpoch).toBeGreaterThan(before.leaderEpoch);

    const second = await producer.sendBatch({
      topic,
      messages: Array.from({ length: 100 }, (_, i) => ({ value: `b${i}` })),
    });
    await producer.close();
    const consumer = samsa.consumer({ autoOffsetReset: 'earliest', maxWaitMs: 100 });
    await consumer.assign([{ topic, partition: 0 }]);
    const values = new Map<number, string>();
    for await (const m of consumer.messages({ signal: AbortSignal.timeout(20_000) })) {
      values.set(m.offset, m.value!.toString());
      if (m.offset >= second.at(-1)!.offset) break;
    }
    await consumer.close();
    for (const [i, r] of [...first, ...second].entries())
      expect(values.get(r.offset)).toBe(i < 100 ? `a${i}` : `b${i - 100}`);
  });

  it('a replica paused while its topic is deleted and re-created keeps no record of the old incarnation', async () => {
    const topic = await replicatedTopic('reborn');
    const producer = samsa.producer({ acks: 'all', requestTimeoutMs: 30_000 });
    // Several batches, so that a truncation at the new log's end (offset 20) would fall between two of them.
    for (let b = 0; b < 5; b++)
      await producer.sendBatch({
        topic,
        messages: Array.from({ length: 10 }, (_, i) => ({ value: `old-${b * 10 + i}` })),
      });
    const { leader, replicas } = await partition0(topic);
    // Not the controller either: the deletion and the creation must go ahead while it is paused.
    const { controllerId } = await samsa.admin().describeCluster();
    const follower = replicas.find((r) => r !== leader && r !== controllerId)!;

    // Paused for less than its session: it stays registered, is a replica of the new topic too, and
    // sees the new topic (same name, same leader epoch 0) without ever seeing it deleted.
    cluster.pauseBroker(follower);
    const pausedAt = Date.now();
    for (;;) {
      await samsa.admin().deleteTopics([topic]);
      await waitFor(
        () =>
          createReplicated(topic).then(
            () => true,
            () => false,
          ),
        { intervalMs: 50, description: 'the topic to be created again' },
      );
      const reborn = await waitFor(
        async () => {
          const p = await partition0(topic);
          return p.leader >= 0 ? p : undefined;
        },
        { intervalMs: 50, description: 'a leader of the new topic' },
      );
      // The paused broker, still registered, may have been made the leader: try another assignment.
      if (reborn.leader !== follower) break;
    }
    expect(Date.now() - pausedAt).toBeLessThan(SESSION_TIMEOUT_MS);
    const fresh = await producer.sendBatch({
      topic,
      messages: Array.from({ length: 20 }, (_, i) => ({ value: `new-${i}` })),
    });
    await producer.close();
    cluster.resumeBroker(follower);
    const now = await partition0(topic);
    await waitFor(async () => (await partition0(topic)).isr.includes(follower), {
      timeoutMs: 20_000,
      description: `broker ${follower} in the new topic's ISR`,
    });
    const leaderCopy = await replicaValues(now.leader, topic);
    // A retry may have written the batch twice (no idempotence yet); nothing of the old topic may be there.
    expect(new Set(leaderCopy)).toEqual(new Set(fresh.map((_, i) => `new-${i}`)));
    // The new topic's ISR names the follower from its creation (a live replica), so the wait above does not
    // say it has copied anything: wait for its copy (it drops the old log once it sees the new topic id).
    const followerCopy = await waitFor(
      async () => {
        const copy = await replicaValues(follower, topic).catch(() => undefined);
        return copy !== undefined && copy.join('\n') === leaderCopy.join('\n') ? copy : undefined;
      },
      { timeoutMs: 20_000, description: `broker ${follower}'s copy of the new topic, nothing of the old` },
    );
    expect(followerCopy).toEqual(leaderCopy);
  });

  // Last: it stops the whole cluster.
  it('a broker restarted alone after a crash resumes its saved high watermark (committed stays readable)', async () => {
    const topic = await replicatedTopic('hw');
    const producer = samsa.producer({ acks: 'all' });
    const written = await producer.sendBatch({
      topic,
      messages: Array.from({ length: 100 }, (_, i) => ({ value: `c${i}` })),
    });
    await producer.close();
    const committedEnd = written.at(-1)!.offset + 1;
    const before = await partition0(topic);
    expect((await samsa.admin().fetchTopicOffsets(topic))[0]!.high).toBe(committedEnd);

    // The leader saves its high watermarks every 300 ms. Then every broker crashes and only the leader
    // comes back. Its ISR can only shrink to itself, below min.insync.replicas = 2, so no new high
    // watermark can be computed: without the saved one it would restart at 0 and the committed
    // records would be unreadable.
    const checkpoint = join(cluster.broker(before.leader).dataDir, 'replication-offset-checkpoint');
    await waitFor(
      async () => (await readFile(checkpoint, 'utf8').catch(() => '')).includes(`\n${topic} 0 ${committedEnd}\n`),
      { description: 'the saved high watermark' },
    );
    await Promise.all(cluster.brokers.map((b) => cluster.killBroker(b.id)));
    await cluster.startBroker(before.leader);
    await waitFor(
      async () => {
        const p = await partition0(topic);
        return p.leader === before.leader && p.leaderEpoch > before.leaderEpoch;
      },
      { timeoutMs: 30_000, description: `broker ${before.leader} to lead again` },
    );
    expect((await samsa.admin().fetchTopicOffsets(topic))[0]!.high).toBe(committedEnd);
    const consumer = samsa.consumer({ autoOffsetReset: 'earliest', maxWaitMs: 100 });
    await consumer.assign([{ topic, partition: 0 }]);
    const values: string[] = [];
    for await (const m of consumer.messages({ signal: AbortSignal.timeout(20_000) })) {
      values.push(m.value!.toString());
      if (m.offset >= committedEnd - 1) break;
    }
    await consumer.close();
    expect(values).toEqual(written.map((_, i) => `c${i}`));
  });
});
