/**
 * KIP-320 on real processes: a consumer that read records the next leader never had. Three brokers; the
 * topic's two replicas are the two brokers that are not the controller (L leads, F follows), with
 * unclean.leader.election.enable. F is paused (SIGSTOP) until L drops it from the ISR, L takes ten
 * acks=1 records alone (offsets 10-19) and two consumers read them; then L is killed and F resumed:
 * with L gone and no other in-sync replica, the controller elects F uncleanly, in a new epoch, with a
 * log that ends at 10. F takes five new records (10-14 again). The consumer with autoOffsetReset 'none'
 * throws LogTruncationError (position 20, divergent offset 10); the one with 'earliest' moves back to 10,
 * logs it and reads the five new records, none skipped and none of the old ones again. A third consumer
 * that only sought to the end (20) reads them too: its position has the epoch ListOffsets answered with.
 * Without the validation the consumers would fetch at 20 past F's log end: OffsetOutOfRange, reset to the
 * start ('earliest' reads 0-9 again), to the end ('latest' skips the five) or thrown as
 * OffsetOutOfRangeError ('none').
 */
import { LogTruncationError, Samsa, type ConsumedMessage, type Consumer } from '@samsa/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LocalCluster } from '../helpers/cluster.js';
import { waitFor } from '../helpers/wait.js';
import { range, take, values } from '../helpers/consumed.js';
import { createUncleanTopic, partitionOf, placeOn } from './unclean-topic.js';

/** Long enough that the paused follower keeps its session: F stays registered, electable once resumed. */
const SESSION_TIMEOUT_MS = 10_000;
const TOPIC = `truncation-${process.pid}`;
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
    },
  });
  control = new Samsa({ brokers: cluster.bootstrap, requestTimeoutMs: 4000, retry });
}, 60_000);

afterAll(async () => {
  for (const id of paused) cluster.resumeBroker(id);
  await control?.close();
  await cluster?.close();
});

interface LogLine {
  readonly context: Record<string, unknown>;
  readonly message: string;
}

function capturingLogger(lines: LogLine[]) {
  const log = (context: unknown, message?: string) =>
    lines.push({ context: (context ?? {}) as Record<string, unknown>, message: message ?? '' });
  return { debug: log, info: log, warn: log, error: log };
}

/** Partition 0 of the topic as the cluster describes it. */
const partition = () => partitionOf(control, TOPIC);

/** The topic on the two brokers that are not the controller, led by the first: [leader, follower]. */
async function topicAwayFromController(): Promise<[number, number]> {
  const { controllerId } = await control.admin().describeCluster();
  const [leader, follower] = [1, 2, 3].filter((id) => id !== controllerId) as [number, number];
  await createUncleanTopic(control, TOPIC);
  await placeOn(control, TOPIC, [leader, follower]);
  return [leader, follower];
}

async function consumedTwenty(consumer: Consumer): Promise<AsyncIterator<ConsumedMessage>> {
  await consumer.assign([{ topic: TOPIC, partition: 0 }]);
  consumer.seek({ topic: TOPIC, partition: 0, offset: 0 });
  const iterator = consumer.messages();
  expect(await take(iterator, 20)).toEqual([...range(0, 'a', 10), ...range(10, 'b', 10)]);
  return iterator;
}

describe('a consumer that read records an unclean election lost (KIP-320)', () => {
  it("throws LogTruncationError with 'none' and moves back to the divergent offset otherwise", async () => {
    const [leader, follower] = await topicAwayFromController();
    const producer = control.producer({ acks: 1 });
    const lines: LogLine[] = [];
    const reader = new Samsa({ brokers: cluster.bootstrap, requestTimeoutMs: 4000, retry });
    const logged = new Samsa({
      brokers: cluster.bootstrap,
      requestTimeoutMs: 4000,
      retry,
      logger: capturingLogger(lines),
    });
    try {
      await producer.sendBatch({ topic: TOPIC, messages: values('a', 10), acks: 'all' });
      const before = await partition();

      // F stops copying; L drops it from the ISR and then acknowledges alone (acks=1 and its high watermark).
      cluster.pauseBroker(follower);
      paused.add(follower);
      await waitFor(async () => (await partition()).isr.join() === String(leader), {
        timeoutMs: 20_000,
        description: `broker ${follower} out of the ISR`,
      });
      await producer.sendBatch({ topic: TOPIC, messages: values('b', 10) });
      const strict = reader.consumer({ autoOffsetReset: 'none', maxWaitMs: 200 });
      const lenient = logged.consumer({ autoOffsetReset: 'earliest', maxWaitMs: 200 });
      const strictRecords = await consumedTwenty(strict);
      const lenientRecords = await consumedTwenty(lenient);
      // A third consumer starts at the end (20, with the leader's epoch from ListOffsets) and long-polls there.
      const idle = reader.consumer({ autoOffsetReset: 'latest', maxWaitMs: 200 });
      await idle.assign([{ topic: TOPIC, partition: 0 }]);
      expect(await idle.seekToEnd()).toEqual([{ topic: TOPIC, partition: 0, offset: 20 }]);
      const idleRecords = idle.messages({ signal: AbortSignal.timeout(60_000) });
      const idleFirst = idleRecords.next();

      // L dies with offsets 10-19; F comes back without them and is elected uncleanly.
      await cluster.killBroker(leader);
      cluster.resumeBroker(follower);
      paused.delete(follower);
      const after = await waitFor(
        async () => {
          const p = await partition();
          return p.leader === follower ? p : undefined;
        },
        { timeoutMs: 60_000, description: `broker ${follower} elected uncleanly` },
      );
      expect(after.leaderEpoch).toBeGreaterThan(before.leaderEpoch);
      await producer.sendBatch({ topic: TOPIC, messages: values('c', 5) });

      expect(await take(lenientRecords, 5)).toEqual(range(10, 'c', 5));
      // Fetching from 20 would be out of range (F's log ends at 15) and 'latest' would skip the five.
      const first = await idleFirst;
      expect(`${first.value?.offset}:${first.value?.value}`).toBe('10:c0');
      expect(await take(idleRecords, 4)).toEqual(range(10, 'c', 5).slice(1));
      const warned = lines.filter((l) => l.message.startsWith('log truncation detected'));
      expect(warned.map((l) => l.context)).toEqual([
        expect.objectContaining({ topic: TOPIC, partition: 0, position: 20, divergentOffset: 10 }),
      ]);

      const err = await strictRecords.next().then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(LogTruncationError);
      expect(err).toMatchObject({ topic: TOPIC, partition: 0, offset: 20, divergentOffset: 10 });
      await lenientRecords.return?.();
      await idleRecords.return?.();
    } finally {
      await producer.close();
      await reader.close();
      await logged.close();
    }
  }, 180_000);
});
