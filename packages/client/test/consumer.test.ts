import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import * as grpc from '@grpc/grpc-js';
import { ErrorCodes, encodeBatch, type v1 } from '@samsa/protocol';
import {
  AbortError,
  GroupRequiredError,
  OffsetOutOfRangeError,
  Samsa,
  type ConsumedMessage,
  type Consumer,
} from '@samsa/client';
import { TestCluster, waitFor } from './support/test-cluster.js';

const fastRetry = { retries: 5, initialRetryTimeMs: 10, maxRetryTimeMs: 50 };
type Fetch = v1.FetchRequest__Output;

/** Appends one batch of `count` records valued `${prefix}${i}` with timestamps base + i. */
function appendBatch(
  cluster: TestCluster,
  topic: string,
  partition: number,
  prefix: string,
  count: number,
  baseTimestamp = 1_000,
): number {
  const records = Array.from({ length: count }, (_, i) => ({
    key: Buffer.from(`k${i}`),
    value: Buffer.from(`${prefix}${i}`),
    timestamp: baseTimestamp + i,
    headers: [{ key: 'h', value: Buffer.from('x') }],
  }));
  return cluster.append(topic, partition, encodeBatch(records));
}

/** Takes `n` messages from the consumer's iterator, leaving the iterator open. */
async function take(iterator: AsyncIterator<ConsumedMessage>, n: number): Promise<ConsumedMessage[]> {
  const out: ConsumedMessage[] = [];
  while (out.length < n) {
    const next = await iterator.next();
    if (next.done) break;
    out.push(next.value);
  }
  return out;
}

describe('consumer', () => {
  let cluster: TestCluster;
  let samsa: Samsa;
  let consumer: Consumer;

  beforeEach(async () => {
    cluster = await TestCluster.start({ brokers: 2 });
    cluster.createTopic('t', 2, { leaders: [0, 1] });
    samsa = new Samsa({ brokers: cluster.bootstrap, retry: fastRetry });
    consumer = samsa.consumer({ maxWaitMs: 100 });
  });

  afterEach(async () => {
    await samsa.close();
    await cluster.stop();
  });

  it('delivers from a seeked offset with every field, skipping earlier records of the first batch', async () => {
    appendBatch(cluster, 't', 0, 'a', 10, 5_000);
    appendBatch(cluster, 't', 0, 'b', 5);
    await consumer.assign([{ topic: 't', partition: 0 }]);
    consumer.seek({ topic: 't', partition: 0, offset: 7 });
    expect(consumer.position({ topic: 't', partition: 0 })).toBe(7);
    const iterator = consumer[Symbol.asyncIterator]();
    const messages = await take(iterator, 8);
    expect(messages.map((m) => m.offset)).toEqual([7, 8, 9, 10, 11, 12, 13, 14]);
    expect(messages.map((m) => m.value?.toString())).toEqual(['a7', 'a8', 'a9', 'b0', 'b1', 'b2', 'b3', 'b4']);
    expect(messages[0]).toMatchObject({ topic: 't', partition: 0, offset: 7, timestamp: 5_007 });
    expect(messages[0]?.key?.toString()).toBe('k7');
    expect(messages[0]?.headers.map((h) => [h.key, h.value?.toString()])).toEqual([['h', 'x']]);
    expect(consumer.position({ topic: 't', partition: 0 })).toBe(15);
    await iterator.return?.();
  });

  it('fetches as messages on one FetchStream per broker, which close() ends', async () => {
    appendBatch(cluster, 't', 0, 'a', 3);
    appendBatch(cluster, 't', 1, 'b', 3);
    await consumer.assign([{ topic: 't' }]);
    await consumer.seekToBeginning();
    const iterator = consumer.messages();
    await take(iterator, 6);
    appendBatch(cluster, 't', 0, 'c', 2);
    await take(iterator, 2);
    const fetches = cluster.requests.filter((r) => r.method === 'Fetch');
    expect(fetches.length).toBeGreaterThanOrEqual(3);
    expect(fetches.filter((r) => r.stream === undefined)).toEqual([]);
    // One stream per broker for all of them.
    for (const broker of [0, 1])
      expect(new Set(fetches.filter((r) => r.broker === broker).map((r) => r.stream)).size).toBe(1);
    expect(cluster.openStreams).toBe(2);
    await iterator.return?.();
    await consumer.close();
    await waitFor(() => cluster.openStreams === 0);
  });

  it('fetches with a unary call per fetch from a broker without FetchStream', async () => {
    const old = await TestCluster.start({ brokers: 1, fetchStream: false });
    old.createTopic('t', 1, { leaders: [0] });
    const client = new Samsa({ brokers: old.bootstrap, retry: fastRetry });
    try {
      appendBatch(old, 't', 0, 'a', 3);
      const c = client.consumer({ maxWaitMs: 100 });
      await c.assign([{ topic: 't', partition: 0 }]);
      c.seek({ topic: 't', partition: 0, offset: 0 });
      const iterator = c.messages();
      expect((await take(iterator, 3)).map((m) => m.value?.toString())).toEqual(['a0', 'a1', 'a2']);
      appendBatch(old, 't', 0, 'b', 1);
      expect((await take(iterator, 1)).map((m) => m.value?.toString())).toEqual(['b0']);
      expect(old.requests.filter((r) => r.method === 'Fetch' && r.stream === undefined).length).toBeGreaterThan(1);
      await iterator.return?.();
    } finally {
      await client.close();
      await old.stop();
    }
  });

  it('position follows delivery, and seek while iterating wins', async () => {
    appendBatch(cluster, 't', 0, 'a', 10);
    await consumer.assign([{ topic: 't', partition: 0 }]);
    consumer.seek({ topic: 't', partition: 0, offset: 0 });
    const iterator = consumer.messages();
    const [first] = await take(iterator, 1);
    expect(first?.offset).toBe(0);
    expect(consumer.position({ topic: 't', partition: 0 })).toBe(1);
    consumer.seek({ topic: 't', partition: 0, offset: 8 });
    expect((await take(iterator, 2)).map((m) => m.offset)).toEqual([8, 9]);
    await iterator.return?.();
  });

  it('resumes right after the last message received when a loop is left early', async () => {
    appendBatch(cluster, 't', 0, 'a', 10);
    appendBatch(cluster, 't', 0, 'b', 10);
    await consumer.assign([{ topic: 't', partition: 0 }]);
    consumer.seek({ topic: 't', partition: 0, offset: 0 });
    for await (const m of consumer) if (m.offset === 2) break;
    expect(consumer.position({ topic: 't', partition: 0 })).toBe(3);
    const again: number[] = [];
    for await (const m of consumer) {
      again.push(m.offset);
      if (m.offset === 12) break;
    }
    expect(again).toEqual([3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
  });

  it('reads whole topics from the beginning, in order per partition', async () => {
    appendBatch(cluster, 't', 0, 'p0-', 3);
    appendBatch(cluster, 't', 1, 'p1-', 4);
    await consumer.assign([{ topic: 't' }]);
    expect(consumer.assignment()).toEqual([
      { topic: 't', partition: 0 },
      { topic: 't', partition: 1 },
    ]);
    expect(await consumer.seekToBeginning()).toEqual([
      { topic: 't', partition: 0, offset: 0 },
      { topic: 't', partition: 1, offset: 0 },
    ]);
    const messages = await take(consumer.messages(), 7);
    expect(messages.filter((m) => m.partition === 0).map((m) => m.value?.toString())).toEqual(['p0-0', 'p0-1', 'p0-2']);
    expect(messages.filter((m) => m.partition === 1).map((m) => m.value?.toString())).toEqual([
      'p1-0',
      'p1-1',
      'p1-2',
      'p1-3',
    ]);
  });

  it("starts at the end by default (autoOffsetReset 'latest'), at the start with 'earliest'", async () => {
    appendBatch(cluster, 't', 0, 'old', 3);
    await consumer.assign([{ topic: 't', partition: 0 }]);
    const iterator = consumer.messages();
    const next = iterator.next();
    await waitFor(() => consumer.position({ topic: 't', partition: 0 }) === 3, 5000, 'the reset to latest');
    appendBatch(cluster, 't', 0, 'new', 1);
    expect((await next).value?.value?.toString()).toBe('new0');
    await iterator.return?.();

    const earliest = samsa.consumer({ autoOffsetReset: 'earliest', maxWaitMs: 100 });
    await earliest.assign([{ topic: 't', partition: 0 }]);
    expect((await take(earliest.messages(), 1))[0]?.value?.toString()).toBe('old0');
  });

  it("out of range: typed error with autoOffsetReset 'none', reset with 'earliest'", async () => {
    appendBatch(cluster, 't', 0, 'a', 3);
    const strict = samsa.consumer({ autoOffsetReset: 'none', maxWaitMs: 100 });
    await strict.assign([{ topic: 't', partition: 0 }]);
    strict.seek({ topic: 't', partition: 0, offset: 50 });
    const err = await take(strict.messages(), 1).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OffsetOutOfRangeError);
    expect(err).toMatchObject({ code: ErrorCodes.OFFSET_OUT_OF_RANGE.code, topic: 't', partition: 0, offset: 50 });

    const lenient = samsa.consumer({ autoOffsetReset: 'earliest', maxWaitMs: 100 });
    await lenient.assign([{ topic: 't', partition: 0 }]);
    lenient.seek({ topic: 't', partition: 0, offset: 50 });
    expect((await take(lenient.messages(), 1))[0]?.offset).toBe(0);
  });

  it('seeks to a timestamp and to the end (ListOffsets)', async () => {
    appendBatch(cluster, 't', 0, 'a', 10, 1_000);
    await consumer.assign([{ topic: 't', partition: 0 }]);
    expect(await consumer.seekToTimestamp(1_004)).toEqual([{ topic: 't', partition: 0, offset: 4 }]);
    const iterator = consumer.messages();
    expect((await take(iterator, 1))[0]?.offset).toBe(4);
    expect(await consumer.seekToTimestamp(99_999)).toEqual([{ topic: 't', partition: 0, offset: 10 }]);
    expect(await consumer.seekToEnd()).toEqual([{ topic: 't', partition: 0, offset: 10 }]);
    expect(consumer.position({ topic: 't', partition: 0 })).toBe(10);
    await iterator.return?.();
    expect(cluster.requestsOf('ListOffsets').length).toBeGreaterThanOrEqual(3);
  });

  it("asks ListOffsets at the consumer's isolation level: reset, seekToEnd, seekToTimestamp", async () => {
    // A read_committed consumer reset to the high watermark while a transaction is open would start past
    // that transaction's records; the broker answers the last stable offset when asked at read_committed.
    type Listed = v1.ListOffsetsRequest__Output;
    appendBatch(cluster, 't', 0, 'a', 10, 1_000);
    const levels = () => cluster.requestsOf<Listed>('ListOffsets').map((r) => r.request.isolationLevel);
    const committed = samsa.consumer({ maxWaitMs: 100, isolationLevel: 'read_committed' });
    await committed.assign([{ topic: 't', partition: 0 }]);
    const iterator = committed.messages();
    const next = iterator.next();
    await waitFor(() => levels().length > 0, 5000, 'reset to latest');
    appendBatch(cluster, 't', 0, 'b', 1, 2_000);
    expect((await next).value?.offset).toBe(10);
    await committed.seekToEnd();
    await committed.seekToTimestamp(99_999); // finds nothing: the end, asked at read_committed too
    await iterator.return?.();
    expect(levels().length).toBeGreaterThanOrEqual(4);
    expect(levels().every((level) => level === 1)).toBe(true);
    const before = levels().length;
    await consumer.assign([{ topic: 't', partition: 0 }]);
    await consumer.seekToEnd();
    expect(levels().slice(before)).toEqual([0]);
  });

  it('pipelines: the next Fetch is in flight while the application handles the current batch', async () => {
    appendBatch(cluster, 't', 0, 'a', 5);
    appendBatch(cluster, 't', 0, 'b', 5);
    const small = samsa.consumer({ maxWaitMs: 100, maxPartitionFetchBytes: 1 }); // one batch per fetch
    await small.assign([{ topic: 't', partition: 0 }]);
    small.seek({ topic: 't', partition: 0, offset: 0 });
    const iterator = small.messages();
    const [first] = await take(iterator, 1);
    expect(first?.offset).toBe(0);
    // Still handling offset 0: the fetch of the next batch (offset 5) is already under way.
    await waitFor(
      () => cluster.requestsOf<Fetch>('Fetch').some((r) => r.request.topics[0]?.partitions[0]?.fetchOffset === 5),
      5000,
      'prefetch',
    );
    const offsets = cluster.requestsOf<Fetch>('Fetch').map((r) => r.request.topics[0]?.partitions[0]?.fetchOffset);
    expect(offsets.slice(0, 2)).toEqual([0, 5]);
    expect((await take(iterator, 9)).map((m) => m.offset)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9]);
    await iterator.return?.();
  });

  it('a long poll on an idle partition does not hold up a busy one on the same broker', async () => {
    cluster.createTopic('two', 2, { leaders: [0, 0] });
    for (let i = 0; i < 4; i++) appendBatch(cluster, 'two', 0, `b${i}-`, 2);
    const patient = samsa.consumer({ maxWaitMs: 10_000, maxPartitionFetchBytes: 1 });
    await patient.assign([{ topic: 'two' }]);
    await patient.seekToBeginning();
    const started = Date.now();
    const messages = await take(patient.messages(), 8);
    expect(messages.map((m) => m.offset)).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    expect(Date.now() - started).toBeLessThan(5_000);
    await patient.close();
  });

  it('bounds prefetch: no further Fetch for a partition until its chunk is handed out', async () => {
    for (let i = 0; i < 5; i++) appendBatch(cluster, 't', 0, `b${i}-`, 2);
    const small = samsa.consumer({ maxWaitMs: 100, maxPartitionFetchBytes: 1 });
    await small.assign([{ topic: 't', partition: 0 }]);
    small.seek({ topic: 't', partition: 0, offset: 0 });
    const iterator = small.messages();
    await take(iterator, 1);
    await waitFor(() => cluster.requestsOf('Fetch').length >= 2, 5000, 'prefetch');
    const fetchedBefore = cluster.requestsOf('Fetch').length;
    // The iterator sits on the first chunk; one chunk is buffered; nothing more is asked for.
    await new Promise<void>((resolve) => setImmediate(resolve));
    expect(cluster.requestsOf('Fetch').length).toBe(fetchedBefore);
    expect(fetchedBefore).toBe(2);
    await iterator.return?.();
  });

  it("waits for a new leader while the metadata names none (its broker's session expired)", async () => {
    appendBatch(cluster, 't', 0, 'a', 2);
    await consumer.assign([{ topic: 't', partition: 0 }]);
    consumer.seek({ topic: 't', partition: 0, offset: 0 });
    const iterator = consumer.messages();
    expect((await take(iterator, 2)).map((m) => m.offset)).toEqual([0, 1]);
    cluster.dropLeader('t', 0);
    const next = take(iterator, 1);
    const metadataAnswers = () => cluster.requestsOf('Metadata').length;
    const asked = metadataAnswers();
    await waitFor(() => metadataAnswers() >= asked + 2, 5000, 'metadata refreshes while there is no leader');
    const fetches = cluster.requestsOf('Fetch').length;
    await waitFor(() => metadataAnswers() >= asked + 4, 5000, 'more metadata refreshes');
    // Backing off and asking the metadata again, not fetching from the broker that was the leader.
    expect(cluster.requestsOf('Fetch').length).toBe(fetches);
    cluster.moveLeader('t', 0, 1);
    appendBatch(cluster, 't', 0, 'b', 1);
    expect((await next)[0]?.value?.toString()).toBe('b0');
    expect(cluster.requestsOf('Fetch').at(-1)?.broker).toBe(1);
    await iterator.return?.();
  });

  it('follows the leader when it moves (NotLeaderOrFollower, refresh, retry)', async () => {
    appendBatch(cluster, 't', 0, 'a', 2);
    await consumer.assign([{ topic: 't', partition: 0 }]);
    consumer.seek({ topic: 't', partition: 0, offset: 0 });
    const iterator = consumer.messages();
    expect((await take(iterator, 2)).map((m) => m.offset)).toEqual([0, 1]);
    cluster.moveLeader('t', 0, 1);
    appendBatch(cluster, 't', 0, 'b', 1);
    expect((await take(iterator, 1))[0]?.value?.toString()).toBe('b0');
    const brokers = cluster.requestsOf('Fetch').map((r) => r.broker);
    expect(brokers).toContain(1);
    expect(
      cluster.requestsOf<Fetch>('Fetch').filter((r) => r.broker === 1)[0]?.request.topics[0]?.partitions[0]
        ?.currentLeaderEpoch,
    ).toBe(1);
    await iterator.return?.();
  });

  it('retries retriable partition errors', async () => {
    appendBatch(cluster, 't', 0, 'a', 1);
    cluster.inject({ method: 'Fetch', errorCode: ErrorCodes.UNKNOWN_LEADER_EPOCH.code, times: 2 });
    await consumer.assign([{ topic: 't', partition: 0 }]);
    consumer.seek({ topic: 't', partition: 0, offset: 0 });
    expect((await take(consumer.messages(), 1))[0]?.offset).toBe(0);
  });

  it('stops waiting when the AbortSignal fires', async () => {
    await consumer.assign([{ topic: 't', partition: 0 }]);
    consumer.seek({ topic: 't', partition: 0, offset: 0 });
    const controller = new AbortController();
    const reading = (async () => {
      for await (const _ of consumer.messages({ signal: controller.signal })) void _;
    })();
    await waitFor(() => cluster.requestsOf('Fetch').length > 0, 5000, 'a fetch');
    controller.abort();
    await expect(reading).rejects.toBeInstanceOf(AbortError);
    // The consumer is still usable afterwards.
    appendBatch(cluster, 't', 0, 'a', 1);
    expect((await take(consumer.messages(), 1))[0]?.offset).toBe(0);
  });

  it('allows one iterator at a time', async () => {
    appendBatch(cluster, 't', 0, 'a', 2);
    await consumer.assign([{ topic: 't', partition: 0 }]);
    consumer.seek({ topic: 't', partition: 0, offset: 0 });
    const first = consumer.messages();
    expect((await first.next()).value?.offset).toBe(0);
    await expect(consumer.messages().next()).rejects.toThrow(/already being iterated/);
    await first.return?.();
    expect((await consumer.messages().next()).value?.offset).toBe(1);
  });

  it('close() ends the iteration', async () => {
    await consumer.assign([{ topic: 't', partition: 0 }]);
    consumer.seek({ topic: 't', partition: 0, offset: 0 });
    const received: ConsumedMessage[] = [];
    const reading = (async () => {
      for await (const message of consumer) received.push(message);
    })();
    await waitFor(() => cluster.requestsOf('Fetch').length > 0, 5000, 'a fetch');
    await consumer.close();
    await reading;
    expect(received).toEqual([]);
  });

  it('batches() yields one partition chunk at a time with the high watermark', async () => {
    appendBatch(cluster, 't', 1, 'a', 4);
    await consumer.assign([{ topic: 't', partition: 1 }]);
    consumer.seek({ topic: 't', partition: 1, offset: 1 });
    for await (const batch of consumer.batches()) {
      expect(batch).toMatchObject({ topic: 't', partition: 1, highWatermark: 4 });
      expect(batch.messages.map((m) => m.offset)).toEqual([1, 2, 3]);
      break;
    }
    expect(consumer.position({ topic: 't', partition: 1 })).toBe(4);
  });
});

describe('consumer under faults', () => {
  it('receives every record once, in order, while leaders move and fetches fail', async () => {
    const cluster = await TestCluster.start({ brokers: 3 });
    const samsa = new Samsa({
      brokers: cluster.bootstrap,
      retry: { retries: 5, initialRetryTimeMs: 5, maxRetryTimeMs: 20 },
    });
    try {
      cluster.createTopic('f', 2);
      const consumer = samsa.consumer({ maxWaitMs: 50, maxPartitionFetchBytes: 200 });
      await consumer.assign([{ topic: 'f' }]);
      await consumer.seekToBeginning();
      const perPartition = 60;
      const received = new Map<number, number[]>([
        [0, []],
        [1, []],
      ]);
      const iterator = consumer.messages();
      let step = 0;
      for (let produced = 0; produced < perPartition; produced += 3) {
        for (const p of [0, 1]) appendBatch(cluster, 'f', p, `p${p}-`, 3);
        step++;
        if (step % 4 === 0) cluster.moveLeader('f', step % 2, (step / 4) % 3);
        if (step % 5 === 0)
          cluster.inject({ method: 'Fetch', errorCode: ErrorCodes.NOT_LEADER_OR_FOLLOWER.code, times: 2 });
        if (step % 7 === 0) cluster.inject({ method: 'Fetch', grpcStatus: grpc.status.UNAVAILABLE });
        const [m] = await take(iterator, 1);
        if (m) received.get(m.partition)?.push(m.offset);
      }
      const total = () => (received.get(0)?.length ?? 0) + (received.get(1)?.length ?? 0);
      while (total() < 2 * perPartition) {
        const [m] = await take(iterator, 1);
        if (m) received.get(m.partition)?.push(m.offset);
      }
      for (const p of [0, 1]) expect(received.get(p)).toEqual(Array.from({ length: perPartition }, (_, i) => i));
      await iterator.return?.();
    } finally {
      await samsa.close();
      await cluster.stop();
    }
  });
});

describe('consumer without a group', () => {
  it('subscribe, commit and committed need a groupId; subscribe and assign exclude each other', async () => {
    const cluster = await TestCluster.start();
    cluster.createTopic('t', 1);
    const samsa = new Samsa({ brokers: cluster.bootstrap, retry: fastRetry });
    try {
      const consumer = samsa.consumer();
      expect(() => consumer.subscribe(['t'])).toThrow(GroupRequiredError);
      await expect(consumer.commit()).rejects.toThrow(GroupRequiredError);
      await expect(consumer.committed()).rejects.toMatchObject({
        name: 'GroupRequiredError',
        code: ErrorCodes.INVALID_GROUP_ID.code,
        retriable: false,
      });
      await consumer.assign([{ topic: 't' }]);
      const grouped = samsa.consumer({ groupId: 'g' });
      await grouped.assign([{ topic: 't' }]);
      expect(() => grouped.subscribe(['t'])).toThrow(/subscribe\(\) after assign\(\)/);
      expect(() => samsa.consumer({ groupId: '' })).toThrow(/groupId/);
    } finally {
      await samsa.close();
      await cluster.stop();
    }
  });
});
