import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import * as grpc from '@grpc/grpc-js';
import { ErrorCodes, decodeBatches, type v1 } from '@samsa/protocol';
import {
  BufferExhaustedError,
  ClosedError,
  type ProduceRequestTiming,
  Samsa,
  SamsaClientError,
  TimeoutError,
} from '@samsa/client';
import { TestCluster, waitFor } from './support/test-cluster.js';

const fastRetry = { retries: 5, initialRetryTimeMs: 10, maxRetryTimeMs: 50 };
type Produce = v1.ProduceRequest__Output;

const values = (cluster: TestCluster, topic: string, partition: number) =>
  cluster.partition(topic, partition).records.map((r) => r.value?.toString());

describe('producer', () => {
  let cluster: TestCluster;
  let samsa: Samsa;

  beforeEach(async () => {
    cluster = await TestCluster.start({ brokers: 2 });
    samsa = new Samsa({ brokers: cluster.bootstrap, retry: fastRetry });
  });

  afterEach(async () => {
    await samsa.close();
    await cluster.stop();
  });

  it('sends one record and reports its partition and offset', async () => {
    cluster.createTopic('t', 1);
    const producer = samsa.producer();
    const sent = await producer.send({
      topic: 't',
      key: 'k',
      value: 'hello',
      headers: { trace: 'abc', none: null },
      timestamp: 1_700_000_000_000,
    });
    expect(sent).toEqual({ topic: 't', partition: 0, offset: 0 });
    expect(await producer.send({ topic: 't', value: Buffer.from('again') })).toEqual({
      topic: 't',
      partition: 0,
      offset: 1,
    });
    const [first] = cluster.partition('t', 0).records;
    expect(first?.key?.toString()).toBe('k');
    expect(first?.value?.toString()).toBe('hello');
    expect(first?.timestamp).toBe(1_700_000_000_000);
    expect(first?.headers.map((h) => [h.key, h.value?.toString() ?? null])).toEqual([
      ['trace', 'abc'],
      ['none', null],
    ]);
  });

  it('sendBatch resolves one result per message: batch base offset + index, in message order', async () => {
    cluster.createTopic('t', 4);
    const producer = samsa.producer({ lingerMs: 20 });
    const messages = Array.from({ length: 40 }, (_, i) => ({ key: `key-${i % 8}`, value: `v${i}` }));
    const results = await producer.sendBatch({ topic: 't', messages });
    expect(results).toHaveLength(40);
    for (let i = 0; i < 40; i++) {
      const r = results[i]!;
      const stored = cluster.partition('t', r.partition).records.find((x) => x.offset === r.offset);
      expect(stored?.value?.toString()).toBe(`v${i}`);
    }
    // One Produce request per broker carried every partition that broker leads.
    const produces = cluster.requestsOf<Produce>('Produce');
    expect(produces).toHaveLength(2);
    for (const p of produces) expect(p.request.topics[0]?.partitions).toHaveLength(2);
  });

  it('matches each partition to its answer whatever order the broker answers in', async () => {
    cluster.createTopic('t', 4);
    cluster.createTopic('u', 4);
    cluster.reverseProduceAnswers = true;
    // A linger longer than the test: flush() sends what both calls queued, in one request per broker.
    const producer = samsa.producer({ lingerMs: 60_000 });
    const messages = Array.from({ length: 24 }, (_, i) => ({ key: `key-${i % 8}`, value: `v${i}` }));
    const check = (topic: string, results: readonly { partition: number; offset: number }[]) => {
      for (let i = 0; i < 24; i++) {
        const r = results[i]!;
        const stored = cluster.partition(topic, r.partition).records.find((x) => x.offset === r.offset);
        expect(stored?.value?.toString()).toBe(`v${i}`);
      }
    };
    // Learn both topics' metadata first, so the next two calls append at once.
    const firsts = Promise.all(['t', 'u'].map((topic) => producer.send({ topic, value: 'first', partition: 0 })));
    await producer.flush();
    await firsts;
    // One topic: two of its partitions in each request.
    const alone = producer.sendBatch({ topic: 't', messages });
    await producer.flush();
    check('t', await alone);
    const before = cluster.requestsOf<Produce>('Produce').length;
    expect(
      cluster
        .requestsOf<Produce>('Produce')
        .slice(before - 2)
        .map((p) => p.request.topics[0]?.partitions.length),
    ).toEqual([2, 2]);
    // Two topics.
    const calls = Promise.all([
      producer.sendBatch({ topic: 't', messages }),
      producer.sendBatch({ topic: 'u', messages }),
    ]);
    await producer.flush();
    const [t, u] = await calls;
    check('t', t);
    check('u', u);
    // Each request carried both topics, two partitions of each; the answers listed both the other way round.
    const requests = cluster.requestsOf<Produce>('Produce').slice(before);
    expect(requests.map((p) => p.request.topics.map((x) => x.partitions.length))).toEqual([
      [2, 2],
      [2, 2],
    ]);
  });

  it('sendBatch reports each run of acknowledged records to onAcknowledged before it resolves', async () => {
    cluster.createTopic('t', 2);
    const producer = samsa.producer({ lingerMs: 5 });
    const partitions = [0, 0, 1, 1, 0, 1];
    const runs: [number, number][] = [];
    let resolved = false;
    const sent = producer
      .sendBatch({
        topic: 't',
        messages: partitions.map((partition, i) => ({ value: `v${i}`, partition })),
        onAcknowledged: (first, count) => {
          expect(resolved).toBe(false);
          runs.push([first, count]);
        },
      })
      .then((results) => {
        resolved = true;
        return results;
      });
    await sent;
    // One run per stretch of consecutive messages in the same batch: 0-1 and 4 in partition 0, 2-3 and 5 in 1.
    expect(runs.sort((a, b) => a[0] - b[0])).toEqual([
      [0, 2],
      [2, 2],
      [4, 1],
      [5, 1],
    ]);
    // acks=0: reported once handed to the transport.
    const zero: [number, number][] = [];
    await producer.sendBatch({
      topic: 't',
      acks: 0,
      messages: [{ value: 'x', partition: 1 }],
      onAcknowledged: (f, c) => zero.push([f, c]),
    });
    expect(zero).toEqual([[0, 1]]);
  });

  it('onRequestTimed gives each request the time its oldest batch waited and the time it took', async () => {
    cluster.createTopic('t', 1);
    const timings: ProduceRequestTiming[] = [];
    const producer = samsa.producer({ lingerMs: 20, onRequestTimed: (timing) => timings.push(timing) });
    const release = cluster.hold('Produce');
    const sent = producer.sendBatch({ topic: 't', messages: [{ value: 'a' }, { value: 'b' }] });
    await waitFor(() => cluster.requestsOf<Produce>('Produce').length === 1);
    const heldAt = performance.now();
    await waitFor(() => performance.now() - heldAt >= 30);
    expect(timings).toEqual([]);
    release();
    await sent;
    expect(timings).toHaveLength(1);
    expect(timings[0]).toMatchObject({ batches: 1, records: 2, answered: true });
    // The linger is timed in whole milliseconds of Date.now(), the queue time on performance.now().
    expect(timings[0]?.queueTimeMs).toBeGreaterThanOrEqual(19);
    expect(timings[0]?.requestLatencyMs).toBeGreaterThanOrEqual(30);
  });

  it("records queued while their partition's request is out wake no sender until its answer", async () => {
    cluster.createTopic('t', 1);
    const producer = samsa.producer({ lingerMs: 0, batchSize: 200 });
    const drains = { count: 0 };
    const drain = (producer as unknown as { drain: () => void }).drain.bind(producer);
    (producer as unknown as { drain: () => void }).drain = () => {
      drains.count++;
      drain();
    };
    const release = cluster.hold('Produce');
    const first = producer.send({ topic: 't', value: 'first' });
    await waitFor(() => cluster.requestsOf<Produce>('Produce').length === 1);
    drains.count = 0;
    // Full batches and new ones while the request is out, over several turns of the event loop.
    const later: Promise<unknown>[] = [];
    for (let i = 0; i < 20; i++) {
      later.push(producer.send({ topic: 't', value: Buffer.alloc(50, i) }));
      await new Promise((resolve) => setImmediate(resolve));
    }
    expect(drains.count).toBe(0);
    release();
    await Promise.all([first, ...later]);
    expect(drains.count).toBeGreaterThan(0);
    expect(values(cluster, 't', 0)).toHaveLength(21);
  });

  it('closes a batch at batchSize bytes', async () => {
    cluster.createTopic('t', 1);
    const producer = samsa.producer({ batchSize: 1024, lingerMs: 1000 });
    const value = Buffer.alloc(100, 1);
    const started = Date.now();
    await producer.sendBatch({ topic: 't', messages: Array.from({ length: 50 }, () => ({ value })) });
    // Full batches do not wait for lingerMs (only the last, partly filled one does).
    expect(cluster.requestsOf('Produce')[0]!.at - started).toBeLessThan(900);
    const batches = cluster.partition('t', 0).batches;
    expect(batches.length).toBeGreaterThanOrEqual(5);
    for (const b of batches) expect(b.bytes.length).toBeLessThanOrEqual(1024);
    expect(cluster.partition('t', 0).records).toHaveLength(50);
  });

  it('waits lingerMs for more records, then sends them in one batch', async () => {
    cluster.createTopic('t', 1);
    const producer = samsa.producer({ lingerMs: 150 });
    const started = Date.now();
    const a = producer.send({ topic: 't', value: 'a' });
    const b = producer.send({ topic: 't', value: 'b' });
    expect(await Promise.all([a, b])).toEqual([
      { topic: 't', partition: 0, offset: 0 },
      { topic: 't', partition: 0, offset: 1 },
    ]);
    expect(Date.now() - started).toBeGreaterThanOrEqual(140);
    expect(cluster.requestsOf('Produce')).toHaveLength(1);
    expect(cluster.partition('t', 0).batches).toHaveLength(1);
  });

  it('puts acks in the request; acks=0 resolves with offset -1', async () => {
    cluster.createTopic('t', 1);
    const producer = samsa.producer({ acks: 1, lingerMs: 0 });
    await producer.send({ topic: 't', value: 'one' });
    await producer.send({ topic: 't', value: 'all' }, { acks: 'all' });
    await producer.send({ topic: 't', value: 'minus' }, { acks: -1 });
    expect(await producer.send({ topic: 't', value: 'zero' }, { acks: 0 })).toEqual({
      topic: 't',
      partition: 0,
      offset: -1,
    });
    await waitFor(() => cluster.requestsOf('Produce').length === 4, 5000, 'the acks=0 request');
    expect(cluster.requestsOf<Produce>('Produce').map((r) => r.request.acks)).toEqual([1, -1, -1, 0]);
    expect(samsa.producer({ acks: 'all' })).toBeDefined();
    expect(() => samsa.producer({ acks: 2 as 1 })).toThrow(/acks/);
  });

  it('acks=0 resolves once handed to the transport, before the broker answers', async () => {
    cluster.createTopic('t', 1);
    const producer = samsa.producer({ acks: 0, lingerMs: 0 });
    await samsa.connect();
    const release = cluster.hold('Produce');
    expect(await producer.send({ topic: 't', value: 'x' })).toMatchObject({ offset: -1 });
    await waitFor(() => cluster.requestsOf('Produce').length === 1, 5000, 'the request');
    expect(cluster.partition('t', 0).records).toHaveLength(0);
    release();
    await waitFor(() => cluster.partition('t', 0).records.length === 1, 5000, 'the append');
  });

  it('retries on NotLeaderOrFollower after the leader moves, refreshing metadata', async () => {
    cluster.createTopic('t', 1, { leaders: [0] });
    const producer = samsa.producer({ lingerMs: 0 });
    await producer.send({ topic: 't', value: 'before' });
    cluster.moveLeader('t', 0, 1);
    expect(await producer.send({ topic: 't', value: 'after' })).toEqual({ topic: 't', partition: 0, offset: 1 });
    // The old leader refuses until the refreshed metadata names the new one (how many times depends on
    // how soon the refresh comes back, against the 10 ms backoff).
    const brokers = cluster.requestsOf('Produce').map((r) => r.broker);
    expect(brokers.slice(0, 2)).toEqual([0, 0]);
    expect(brokers.slice(2, -1).every((b) => b === 0)).toBe(true);
    expect(brokers.at(-1)).toBe(1);
    expect(values(cluster, 't', 0)).toEqual(['before', 'after']);
  });

  it("waits for a new leader while the metadata names none (its broker's session expired)", async () => {
    cluster.createTopic('t', 1, { leaders: [0] });
    cluster.leaderHints = true; // the refusal names leader -1: not a leader to go to (KIP-951)
    const producer = samsa.producer({ lingerMs: 0 });
    await producer.send({ topic: 't', value: 'before' });
    cluster.dropLeader('t', 0);
    const metadataAnswers = () => cluster.requestsOf('Metadata').length;
    const asked = metadataAnswers();
    const during = producer.send({ topic: 't', value: 'during' });
    await waitFor(() => metadataAnswers() >= asked + 3, 5000, 'metadata refreshes while there is no leader');
    const refused = cluster.requestsOf('Produce').length;
    expect(cluster.requestsOf('Produce').every((r) => r.broker === 0)).toBe(true);
    // The producer backs off and asks the metadata again, not the old leader.
    await waitFor(() => metadataAnswers() >= asked + 6, 5000, 'more metadata refreshes');
    expect(cluster.requestsOf('Produce').length).toBe(refused);
    cluster.moveLeader('t', 0, 1);
    expect(await during).toEqual({ topic: 't', partition: 0, offset: 1 });
    expect(cluster.requestsOf('Produce').at(-1)?.broker).toBe(1);
    expect(values(cluster, 't', 0)).toEqual(['before', 'during']);
  });

  it('retries retriable errors with backoff and keeps the order of a partition', async () => {
    cluster.createTopic('t', 1);
    const producer = samsa.producer({ lingerMs: 0, batchSize: 200 });
    cluster.inject({ method: 'Produce', errorCode: ErrorCodes.NOT_ENOUGH_REPLICAS.code, times: 3 });
    const sends = Array.from({ length: 30 }, (_, i) => producer.send({ topic: 't', value: `m${i}` }));
    const results = await Promise.all(sends);
    expect(results.map((r) => r.offset)).toEqual(Array.from({ length: 30 }, (_, i) => i));
    expect(values(cluster, 't', 0)).toEqual(Array.from({ length: 30 }, (_, i) => `m${i}`));
    // A gRPC-level failure (connection trouble) is retried too.
    cluster.inject({ method: 'Produce', grpcStatus: grpc.status.UNAVAILABLE });
    expect(await producer.send({ topic: 't', value: 'z' })).toMatchObject({ offset: 30 });
  });

  it('fails at once on a non-retriable error, with a typed error', async () => {
    cluster.createTopic('t', 1);
    const producer = samsa.producer({ lingerMs: 0 });
    cluster.inject({ method: 'Produce', errorCode: ErrorCodes.MESSAGE_TOO_LARGE.code });
    const err = await producer.send({ topic: 't', value: 'x' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SamsaClientError);
    expect(err).toMatchObject({ errorName: 'MessageTooLarge', retriable: false, topic: 't', partition: 0 });
    expect(cluster.requestsOf('Produce')).toHaveLength(1);
    await expect(producer.send({ topic: 't', value: 'x', partition: 5 })).rejects.toThrow(/partition 5 does not exist/);
    await expect(producer.send({ topic: 't', messages: [{ value: 'x' }] } as never)).rejects.toThrow(/use sendBatch/);
    await expect(producer.send({ topic: 't' } as never)).rejects.toThrow(/needs a value/);
  });

  describe('a batch refused as too large (max.message.bytes) is split, as Kafka does', () => {
    const memoryUsed = (producer: object) => (producer as { memory: { used: number } }).memory.used;
    const smallValues = Array.from({ length: 30 }, (_, i) => `small-${String(i).padStart(2, '0')}`);
    const big = 'x'.repeat(2000);
    const withBig = [...smallValues.slice(0, 15), big, ...smallValues.slice(15)];

    it('only the record too large on its own fails; the others are delivered in send order', async () => {
      cluster.createTopic('t', 1, { configs: { 'max.message.bytes': '500' } });
      const producer = samsa.producer({ lingerMs: 50 });
      const sends = withBig.map((value) =>
        producer.send({ topic: 't', value }).then(
          (meta) => ({ ok: true as const, meta }),
          (err: unknown) => ({ ok: false as const, err }),
        ),
      );
      const results = await Promise.all(sends);
      // The records went out together (one batch) and were refused before being split.
      expect(cluster.requestsOf<Produce>('Produce').length).toBeGreaterThan(2);
      const failed = results.flatMap((r, i) => (r.ok ? [] : [[i, r.err] as const]));
      expect(failed).toHaveLength(1);
      expect(failed[0]?.[0]).toBe(15);
      expect(failed[0]?.[1]).toBeInstanceOf(SamsaClientError);
      expect(failed[0]?.[1]).toMatchObject({ errorName: 'MessageTooLarge', topic: 't', partition: 0 });
      const offsets = results.flatMap((r) => (r.ok ? [r.meta.offset] : []));
      expect(offsets).toEqual(smallValues.map((_, i) => i));
      expect(values(cluster, 't', 0)).toEqual(smallValues);
      expect(memoryUsed(producer)).toBe(0);

      // sendBatch of the same: rejects at its first failure; every other record still lands, in order.
      const err = await producer
        .sendBatch({ topic: 't', messages: withBig.map((value) => ({ value })) })
        .catch((e: unknown) => e);
      expect(err).toMatchObject({ errorName: 'MessageTooLarge' });
      await producer.flush();
      expect(values(cluster, 't', 0)).toEqual([...smallValues, ...smallValues]);
      expect(memoryUsed(producer)).toBe(0);
    });

    it('delivers everything when each record fits but the batch does not, keeping offsets per call', async () => {
      cluster.createTopic('t', 1, { configs: { 'max.message.bytes': '300' } });
      const producer = samsa.producer({ lingerMs: 50, retries: 0 });
      const firstHalf = producer.sendBatch({
        topic: 't',
        messages: smallValues.slice(0, 20).map((value) => ({ value })),
      });
      const single = producer.send({ topic: 't', value: 'single' });
      const secondHalf = producer.sendBatch({
        topic: 't',
        messages: smallValues.slice(20).map((value) => ({ value })),
      });
      expect((await firstHalf).map((r) => r.offset)).toEqual(Array.from({ length: 20 }, (_, i) => i));
      expect(await single).toEqual({ topic: 't', partition: 0, offset: 20 });
      expect((await secondHalf).map((r) => r.offset)).toEqual(Array.from({ length: 10 }, (_, i) => 21 + i));
      expect(values(cluster, 't', 0)).toEqual([...smallValues.slice(0, 20), 'single', ...smallValues.slice(20)]);
      const refused = cluster
        .requestsOf<Produce>('Produce')
        .filter((r) => (r.request.topics[0]?.partitions[0]?.records.length ?? 0) > 300);
      expect(refused.length).toBeGreaterThan(0);
      for (const stored of cluster.partition('t', 0).batches) expect(stored.bytes.length).toBeLessThanOrEqual(300);
      expect(memoryUsed(producer)).toBe(0);
    });
  });

  it('gives up after deliveryTimeoutMs with the last error as the cause', async () => {
    cluster.createTopic('t', 1);
    const producer = samsa.producer({ lingerMs: 0, deliveryTimeoutMs: 300 });
    cluster.inject({ method: 'Produce', errorCode: ErrorCodes.LEADER_NOT_AVAILABLE.code, times: 1000 });
    const err = await producer.send({ topic: 't', value: 'x' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TimeoutError);
    expect((err as Error).message).toMatch(/deliveryTimeoutMs 300/);
    expect((err as Error).cause).toMatchObject({ errorName: 'LeaderNotAvailable' });
    expect(cluster.requestsOf('Produce').length).toBeGreaterThan(1);
  });

  it('fails a request it could not send (no connection to the leader) like any other, without hanging', async () => {
    cluster.createTopic('t', 1);
    const producer = samsa.producer({ lingerMs: 0, deliveryTimeoutMs: 300 });
    await producer.send({ topic: 't', value: 'warm-up' });
    // The leader known, but no connection to be had for the request (the client's pool closed under it).
    (samsa as unknown as { pool: { close(): void } }).pool.close();
    const err = await producer.send({ topic: 't', value: 'x' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TimeoutError);
    expect((err as Error).cause).toMatchObject({ errorName: 'LeaderNotAvailable' });
  });

  it('a request that times out past deliveryTimeoutMs fails with the delivery TimeoutError', async () => {
    cluster.createTopic('t', 1);
    const producer = samsa.producer({ lingerMs: 0, deliveryTimeoutMs: 150, requestTimeoutMs: 200 });
    await samsa.connect();
    const release = cluster.hold('Produce');
    const err = await producer.send({ topic: 't', value: 'x' }).catch((e: unknown) => e);
    release();
    expect(err).toBeInstanceOf(TimeoutError);
    expect((err as Error).message).toMatch(/deliveryTimeoutMs 150/);
    expect((err as Error).cause).toMatchObject({ errorName: 'RequestTimedOut' });
  });

  it('gives up after `retries` retries', async () => {
    cluster.createTopic('t', 1);
    const producer = samsa.producer({ lingerMs: 0, retries: 2 });
    cluster.inject({ method: 'Produce', errorCode: ErrorCodes.NOT_ENOUGH_REPLICAS.code, times: 10 });
    await expect(producer.send({ topic: 't', value: 'x' })).rejects.toMatchObject({ errorName: 'NotEnoughReplicas' });
    expect(cluster.requestsOf('Produce')).toHaveLength(3);
  });

  it('blocks send() while bufferMemory is full and proceeds when delivery frees it', async () => {
    cluster.createTopic('t', 1);
    const producer = samsa.producer({ lingerMs: 0, bufferMemory: 2000, batchSize: 600 });
    const release = cluster.hold('Produce');
    const value = Buffer.alloc(450, 7);
    const sending = producer.sendBatch({ topic: 't', messages: Array.from({ length: 12 }, () => ({ value })) });
    await waitFor(() => cluster.requestsOf('Produce').length >= 1, 5000, 'a produce request');
    // Only what fits in 2000 bytes was taken; the rest waits for memory.
    const held = cluster
      .requestsOf<Produce>('Produce')
      .flatMap((r) => r.request.topics.flatMap((t) => t.partitions.map((p) => decodeBatches(p.records))));
    const taken = held.flat().reduce((n, b) => n + b.records.length, 0);
    expect(taken).toBeLessThanOrEqual(4);
    release();
    const results = await sending;
    expect(results.map((r) => r.offset)).toEqual(Array.from({ length: 12 }, (_, i) => i));
  });

  it('fails send() with BufferExhaustedError after maxBlockMs', async () => {
    cluster.createTopic('t', 1);
    const producer = samsa.producer({ lingerMs: 0, bufferMemory: 1000, maxBlockMs: 100 });
    const release = cluster.hold('Produce');
    const first = producer.send({ topic: 't', value: Buffer.alloc(900) });
    const err = await producer.send({ topic: 't', value: Buffer.alloc(900) }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BufferExhaustedError);
    expect(err).toMatchObject({ retriable: false });
    release();
    await first;
  });

  it.each(['none', 'gzip', 'snappy', 'lz4', 'zstd'] as const)('compresses batches with %s', async (compression) => {
    cluster.createTopic('t', 1);
    const producer = samsa.producer({ compression, lingerMs: 5 });
    const messages = Array.from({ length: 100 }, (_, i) => ({ key: `k${i}`, value: `value ${i} `.repeat(10) }));
    await producer.sendBatch({ topic: 't', messages });
    expect(values(cluster, 't', 0)).toEqual(messages.map((m) => m.value));
    const stored = cluster.partition('t', 0).batches[0]!.bytes;
    expect(decodeBatches(stored)[0]?.compression).toBe(compression);
  });

  it('spreads keyless records over partitions (sticky) and keeps keyed ones together', async () => {
    cluster.createTopic('t', 4);
    const producer = samsa.producer({ batchSize: 1000, lingerMs: 0 });
    const results = await producer.sendBatch({
      topic: 't',
      messages: Array.from({ length: 400 }, (_, i) => ({ value: `keyless-${i}`.padEnd(80) })),
    });
    expect(new Set(results.map((r) => r.partition)).size).toBeGreaterThan(1);
    const keyed = await producer.sendBatch({
      topic: 't',
      messages: Array.from({ length: 20 }, () => ({ key: 'same', value: 'v' })),
    });
    expect(new Set(keyed.map((r) => r.partition)).size).toBe(1);
    const explicit = await producer.send({ topic: 't', value: 'p3', partition: 3 });
    expect(explicit.partition).toBe(3);
  });

  it('close() flushes what is buffered, then refuses new sends', async () => {
    cluster.createTopic('t', 1);
    const producer = samsa.producer({ lingerMs: 60_000 });
    const pending = producer.send({ topic: 't', value: 'late' });
    await producer.close();
    expect(await pending).toMatchObject({ offset: 0 });
    await expect(producer.send({ topic: 't', value: 'x' })).rejects.toBeInstanceOf(ClosedError);
  });

  it('close({ timeoutMs }) fails what could not be delivered in time', async () => {
    cluster.createTopic('t', 1);
    const producer = samsa.producer({ lingerMs: 0 });
    cluster.inject({ method: 'Produce', errorCode: ErrorCodes.LEADER_NOT_AVAILABLE.code, times: 1000 });
    const pending = producer.send({ topic: 't', value: 'stuck' });
    await waitFor(() => cluster.requestsOf('Produce').length > 0, 5000, 'a produce attempt');
    await producer.close({ timeoutMs: 50 });
    await expect(pending).rejects.toBeInstanceOf(ClosedError);
  });

  it('flush() sends without waiting for lingerMs', async () => {
    cluster.createTopic('t', 1);
    const producer = samsa.producer({ lingerMs: 60_000 });
    const pending = producer.sendBatch({ topic: 't', messages: [{ value: 'a' }, { value: 'b' }] });
    await producer.flush();
    expect(cluster.partition('t', 0).records).toHaveLength(2);
    await pending;
  });

  it('waits for metadata of an unknown topic up to maxBlockMs', async () => {
    const producer = samsa.producer({ maxBlockMs: 200 });
    await expect(producer.send({ topic: 'missing', value: 'x' })).rejects.toMatchObject({
      errorName: 'UnknownTopicOrPartition',
    });
    setTimeout(() => cluster.createTopic('soon', 1), 50);
    expect(await samsa.producer({ maxBlockMs: 5000 }).send({ topic: 'soon', value: 'x' })).toMatchObject({ offset: 0 });
  });
});
