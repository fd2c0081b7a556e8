/**
 * An SDK consumer across leader moves on real processes (three brokers). A controlled move: the
 * partition's replicas are reordered and a preferred election moves its leader while the consumer
 * long-polls the old one. The old leader's refusal names the new leader, its epoch and its address
 * (KIP-951); the consumer takes it and goes on reading from the new leader without learning of the move
 * from a metadata answer (its client logs where each leader change came from) and without its retry
 * backoff (10 s here: a consumer that refreshed and backed off would get the next record 8 s or more after
 * the election). A paused leader (SIGSTOP) answers nothing: the consumer's fetch there is stalled, the
 * consumer looks at the metadata and fetches from the leader elected once the paused one's session
 * expired, instead of waiting out the fetch's request timeout (30 s by default).
 */
import { Samsa, type ConsumedMessage } from '@samsa/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LocalCluster } from '../helpers/cluster.js';
import { waitFor } from '../helpers/wait.js';

const SESSION_TIMEOUT_MS = 3000;
/** The coordinator's tick rounds a session's expiry up by at most one tick (LocalCluster's default). */
const TICK_MS = 500;
let cluster: LocalCluster;
/** Creates the topic, moves replicas, elects, produces: quick retries. */
let control: Samsa;

beforeAll(async () => {
  cluster = await LocalCluster.start({
    brokers: 3,
    tickTimeMs: TICK_MS,
    brokerSettings: { 'zookeeper.session.timeout.ms': String(SESSION_TIMEOUT_MS), 'replica.lag.time.max.ms': '2000' },
  });
  control = new Samsa({
    brokers: cluster.bootstrap,
    requestTimeoutMs: 4000,
    retry: { retries: 100, initialRetryTimeMs: 50, maxRetryTimeMs: 300 },
  });
}, 60_000);

afterAll(async () => {
  await control?.close();
  await cluster?.close();
});

/** What the consumer's client logged, as `logger` options receive it. */
interface LogLine {
  readonly context: Record<string, unknown>;
  readonly message: string;
}

function capturingLogger(lines: LogLine[]) {
  const log = (context: unknown, message?: string) =>
    lines.push({ context: (context ?? {}) as Record<string, unknown>, message: message ?? '' });
  return { debug: log, info: log, warn: log, error: log };
}

/** Creates an RF 3 topic of one partition (refused until all three brokers registered); waits for a full ISR. */
async function createTopic(topic: string) {
  const admin = control.admin();
  await waitFor(
    async () => {
      await admin.createTopics([{ topic, numPartitions: 1, replicationFactor: 3 }]);
      return true;
    },
    { timeoutMs: 30_000, description: 'the topic created (all three brokers registered)' },
  );
  const partition = async () => (await admin.describeTopics([topic]))[0]!.partitions[0]!;
  await waitFor(async () => (await partition()).isr.length === 3, { timeoutMs: 30_000, description: 'a full ISR' });
  return partition;
}

describe('a consumer across a preferred leader election (KIP-951)', () => {
  it('follows the hint in the old leader refusal, not a metadata answer', async () => {
    const topic = 'consumer-hints';
    const admin = control.admin();
    const partition = await createTopic(topic);
    const producer = control.producer({ acks: 'all' });
    await producer.send({ topic, partition: 0, value: 'a0' });

    const lines: LogLine[] = [];
    const samsa = new Samsa({
      brokers: cluster.bootstrap,
      requestTimeoutMs: 4000,
      retry: { retries: 100, initialRetryTimeMs: 10_000, maxRetryTimeMs: 10_000 },
      logger: capturingLogger(lines),
    });
    try {
      const consumer = samsa.consumer({ maxWaitMs: 2000 });
      await consumer.assign([{ topic }]);
      consumer.seek({ topic, partition: 0, offset: 0 });
      const iterator: AsyncIterator<ConsumedMessage> = consumer.messages();
      expect((await iterator.next()).value?.value?.toString()).toBe('a0');
      const before = await partition();
      const [from, to, third] = before.replicas as [number, number, number];
      expect(before.leader).toBe(from);

      // The consumer long-polls the old leader for the next record meanwhile.
      const next = iterator.next();
      const [moved] = await admin.alterPartitionReassignments([{ topic, partition: 0, replicas: [to, from, third] }]);
      expect(moved!.error).toBeUndefined();
      await waitFor(async () => (await partition()).replicas[0] === to, {
        timeoutMs: 30_000,
        description: `replica ${to} preferred`,
      });
      await waitFor(
        async () => {
          await admin.electPreferredLeaders([{ topic, partitions: [0] }]);
          const p = await partition();
          return p.leader === to && p.isr.length === 3;
        },
        { timeoutMs: 30_000, description: `broker ${to} elected` },
      );
      const electedAt = Date.now();
      await producer.send({ topic, partition: 0, value: 'b0' });
      expect((await next).value?.value?.toString()).toBe('b0');
      console.log(`consumer-hints: the record after the election received ${Date.now() - electedAt} ms after it`);

      const changes = lines.filter((l) => l.message === 'partition leader changed' && l.context.topic === topic);
      // The one change the consumer's client saw came with the refusal, not with new metadata.
      expect(changes.map((l) => [l.context.from, l.context.leader, l.context.hinted])).toEqual([[from, to, true]]);
      await iterator.return?.();
    } finally {
      await producer.close();
      await samsa.close();
    }
  }, 120_000);
});

describe('a consumer across a paused leader', () => {
  it('fetches from the leader elected meanwhile instead of waiting out its request timeout', async () => {
    const topic = 'consumer-pause';
    const partition = await createTopic(topic);
    const producer = control.producer({ acks: 1 });
    await producer.send({ topic, partition: 0, value: 'a0' });
    // The client's default request timeout (30 s): a fetch held by the paused leader would wait it out.
    const samsa = new Samsa({ brokers: cluster.bootstrap });
    let paused = -1;
    try {
      const consumer = samsa.consumer();
      await consumer.assign([{ topic }]);
      consumer.seek({ topic, partition: 0, offset: 0 });
      const iterator: AsyncIterator<ConsumedMessage> = consumer.messages();
      expect((await iterator.next()).value?.value?.toString()).toBe('a0');
      const next = iterator.next();
      const leader = (await partition()).leader;
      const pausedAt = Date.now();
      paused = leader;
      cluster.pauseBroker(leader);
      await waitFor(async () => (await partition()).leader >= 0 && (await partition()).leader !== leader, {
        timeoutMs: 30_000,
        description: 'another leader elected',
      });
      await producer.send({ topic, partition: 0, value: 'b0' });
      expect((await next).value?.value?.toString()).toBe('b0');
      const pauseToRecordMs = Date.now() - pausedAt;
      console.log(`consumer-pause: leader ${leader} paused, the next record received ${pauseToRecordMs} ms later`);
      expect(pauseToRecordMs).toBeLessThan(SESSION_TIMEOUT_MS + TICK_MS + 5000);
      await iterator.return?.();
    } finally {
      if (paused >= 0) cluster.resumeBroker(paused);
      await producer.close();
      await samsa.close();
    }
  }, 120_000);
});
