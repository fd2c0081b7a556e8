import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import * as grpc from '@grpc/grpc-js';
import { Samsa } from '@samsa/client';
import { TestCluster, waitFor } from './support/test-cluster.js';

/**
 * A producer whose leader dies or moves: it learns the new leader from fresh metadata and retries there
 * at once, not after the backoff it took against the old one (KIP-951's producer side), and while the
 * old leader cannot be reached it looks at the metadata every retry backoff, not only at its own
 * (growing) retry times.
 */
describe('producer across a leader change', () => {
  let cluster: TestCluster;
  let samsa: Samsa | undefined;

  beforeEach(async () => {
    cluster = await TestCluster.start({ brokers: 2 });
  });

  afterEach(async () => {
    await samsa?.close();
    await cluster.stop();
  });

  const producesTo = (broker: number) => cluster.requestsOf('Produce').filter((r) => r.broker === broker).length;

  it('retries at a new leader without waiting out the backoff it took at the old one', async () => {
    // A 10 s backoff (8-12 s with jitter): a retry that waited it out would take at least 8 s.
    samsa = new Samsa({
      brokers: cluster.bootstrap,
      retry: { retries: 5, initialRetryTimeMs: 10_000, maxRetryTimeMs: 10_000 },
    });
    cluster.createTopic('t', 1, { leaders: [0] });
    const producer = samsa.producer();
    await producer.send({ topic: 't', value: 'before' });
    // The leader goes away (its connection drops) and broker 1 takes over; the client's metadata still names 0.
    cluster.moveLeader('t', 0, 1);
    cluster.inject({ method: 'Produce', broker: 0, grpcStatus: grpc.status.UNAVAILABLE });
    const startedAt = Date.now();
    const sent = await producer.send({ topic: 't', value: 'after' });
    expect(sent.offset).toBe(1);
    expect(Date.now() - startedAt).toBeLessThan(6_000);
    expect(producesTo(1)).toBe(1);
  }, 30_000);

  it('takes the new leader a refusal names (KIP-951) and retries there without a metadata request', async () => {
    samsa = new Samsa({
      brokers: cluster.bootstrap,
      retry: { retries: 5, initialRetryTimeMs: 10_000, maxRetryTimeMs: 10_000 },
    });
    cluster.leaderHints = true;
    cluster.createTopic('t', 1, { leaders: [0] });
    const producer = samsa.producer();
    await producer.send({ topic: 't', value: 'before' });
    // A controlled move: broker 0 is alive and refuses, naming broker 1 and the new epoch.
    cluster.moveLeader('t', 0, 1);
    const since = cluster.requests.length;
    const startedAt = Date.now();
    expect((await producer.send({ topic: 't', value: 'after' })).offset).toBe(1);
    expect(Date.now() - startedAt).toBeLessThan(6_000);
    const after = cluster.requests.slice(since).map((r) => `${r.method}@${r.broker}`);
    expect(after).toEqual(['Produce@0', 'Produce@1']);
  }, 30_000);

  it('gives up on a request stalled at a deposed leader and retries at the new one', async () => {
    // A 20 s request timeout: a producer that waited it out would be far past the test's bound.
    samsa = new Samsa({
      brokers: cluster.bootstrap,
      requestTimeoutMs: 20_000,
      retry: { retries: 5, initialRetryTimeMs: 50, maxRetryTimeMs: 1000 },
    });
    cluster.createTopic('t', 1, { leaders: [0] });
    const producer = samsa.producer();
    await producer.send({ topic: 't', value: 'before' });
    // Broker 0 stops answering (paused, cut off); a moment later the controller elects broker 1. The
    // producer's metadata requests go to broker 1 (the first known broker, 0, holds a stalled request).
    const releaseProduce = cluster.hold('Produce', 0);
    const releaseMetadata = cluster.hold('Metadata', 0);
    const release = () => {
      releaseProduce();
      releaseMetadata();
    };
    const startedAt = Date.now();
    const sending = producer.send({ topic: 't', value: 'after' });
    await waitFor(() => producesTo(0) === 2, 5000, 'the send to reach broker 0');
    cluster.moveLeader('t', 0, 1);
    expect((await sending).offset).toBe(1);
    expect(Date.now() - startedAt).toBeLessThan(12_000);
    // Broker 0 answers at last (NOT_LEADER_OR_FOLLOWER now): dropped, nothing written twice or lost.
    release();
    expect((await producer.send({ topic: 't', value: 'later' })).offset).toBe(2);
    expect(cluster.partition('t', 0).records.map((r) => r.value?.toString())).toEqual(['before', 'after', 'later']);
  }, 30_000);

  it('looks at the metadata less and less often while a leader that stays leader is slow to answer', async () => {
    samsa = new Samsa({
      brokers: cluster.bootstrap,
      requestTimeoutMs: 20_000,
      retry: { retries: 5, initialRetryTimeMs: 100, maxRetryTimeMs: 1000 },
    });
    cluster.createTopic('t', 1, { leaders: [0] });
    const producer = samsa.producer();
    await producer.send({ topic: 't', value: 'before' });
    // Broker 0 is slow (acks=all under load, a long GC) but stays the leader: no election to look for.
    const release = cluster.hold('Produce', 0);
    let releaseAgain = () => {};
    try {
      const since = cluster.requestsOf('Metadata').length;
      const sending = producer.send({ topic: 't', value: 'slow' });
      await waitFor(() => cluster.requestsOf('Metadata').length - since >= 6, 15_000, 'six metadata polls');
      // Polls 100, 200, 400, 800 ms apart (then 1 s), not every 100 ms: at a fixed 100 ms the six took ~0.5 s.
      const at = cluster
        .requestsOf('Metadata')
        .slice(since, since + 6)
        .map((r) => r.at);
      const gaps = at.slice(1).map((t, i) => t - (at[i] as number));
      expect(gaps[3]).toBeGreaterThanOrEqual(700);
      expect((at[5] as number) - (at[0] as number)).toBeGreaterThanOrEqual(2000);
      release();
      expect((await sending).offset).toBe(1);
      // The stall ended: the next one is looked at every 100 ms again at first (not every 1 s).
      releaseAgain = cluster.hold('Produce', 0);
      const again = cluster.requestsOf('Metadata').length;
      const stalled = producer.send({ topic: 't', value: 'slow again' });
      await waitFor(() => cluster.requestsOf('Metadata').length - again >= 3, 15_000, 'three metadata polls');
      const [first, , third] = cluster
        .requestsOf('Metadata')
        .slice(again, again + 3)
        .map((r) => r.at);
      expect((third as number) - (first as number)).toBeLessThan(1500);
      releaseAgain();
      expect((await stalled).offset).toBe(2);
    } finally {
      release();
      releaseAgain();
    }
  }, 30_000);

  it('asks another broker for metadata when the first one asked does not answer', async () => {
    // A 20 s request timeout: waiting it out at the silent broker would be far past the test's bound.
    samsa = new Samsa({ brokers: cluster.bootstrap, requestTimeoutMs: 20_000 });
    cluster.createTopic('t', 1, { leaders: [1] });
    const release = cluster.hold('Metadata', 0);
    try {
      const startedAt = Date.now();
      expect((await samsa.producer().send({ topic: 't', value: 'v' })).offset).toBe(0);
      expect(Date.now() - startedAt).toBeLessThan(12_000);
      const askedFirst = cluster.requestsOf('Metadata').slice(0, 2);
      expect(askedFirst.map((r) => r.broker)).toEqual([0, 1]);
    } finally {
      release();
    }
  }, 30_000);

  it('asks a broker that stayed silent on its metadata request last for a producer id too', async () => {
    // Broker 0 answers nothing (paused): the metadata request goes on to broker 1 after 1 s and broker 0's
    // call is cancelled. InitProducerId, asked of one broker at a time, must not then start at broker 0
    // and wait out the 20 s request timeout there.
    samsa = new Samsa({ brokers: cluster.bootstrap, requestTimeoutMs: 20_000 });
    cluster.createTopic('t', 1, { leaders: [1] });
    const releaseMetadata = cluster.hold('Metadata', 0);
    const releaseIds = cluster.hold('InitProducerId', 0);
    try {
      const startedAt = Date.now();
      expect((await samsa.producer().send({ topic: 't', value: 'v' })).offset).toBe(0);
      expect(Date.now() - startedAt).toBeLessThan(12_000);
      expect(cluster.requestsOf('InitProducerId').map((r) => r.broker)).toEqual([1]);
    } finally {
      releaseMetadata();
      releaseIds();
    }
  }, 30_000);

  it('closed while its metadata request waits at a silent broker: the request fails, nothing is thrown', async () => {
    samsa = new Samsa({ brokers: cluster.bootstrap, requestTimeoutMs: 20_000 });
    const release = cluster.hold('Metadata');
    // What escapes (a throw in a timer or a promise handler) would end a user's process.
    const escaped: unknown[] = [];
    const onEscape = (err: unknown) => escaped.push(err);
    process.on('uncaughtException', onEscape);
    process.on('unhandledRejection', onEscape);
    try {
      const connecting = samsa.connect().then(
        () => 'answered',
        (err: unknown) => err,
      );
      await waitFor(() => cluster.requestsOf('Metadata').length >= 1, 5000, 'a metadata request');
      await samsa.close();
      // The next broker is asked 1 s after the first when it stays silent: by then the client is closed.
      expect(await connecting).toMatchObject({ errorName: 'InvalidRequest', detail: 'client is closed' });
      expect(escaped).toEqual([]);
    } finally {
      release();
      process.off('uncaughtException', onEscape);
      process.off('unhandledRejection', onEscape);
    }
  }, 30_000);

  it('while its leader cannot be reached, picks up the new leader from metadata between its retries', async () => {
    // Retries against the dead leader back off 50, 100, 200 ... ms, up to 20 s: the metadata is looked at
    // every 50 ms meanwhile, so the election is seen before the next retry would have gone out.
    samsa = new Samsa({
      brokers: cluster.bootstrap,
      retry: { retries: 20, initialRetryTimeMs: 50, maxRetryTimeMs: 20_000 },
    });
    cluster.createTopic('t', 1, { leaders: [0] });
    const producer = samsa.producer();
    await producer.send({ topic: 't', value: 'before' });
    const baseline = producesTo(0);
    cluster.inject({ method: 'Produce', broker: 0, grpcStatus: grpc.status.UNAVAILABLE, times: 1000 });
    const sending = producer.send({ topic: 't', value: 'after' });
    // After its seventh failure the next retry waits 50 * 2^6 = 3.2 s (at least 2.56 s with jitter).
    await waitFor(() => producesTo(0) - baseline >= 7, 10_000, 'seven refused attempts');
    // Counted, not timed: a request logged in the millisecond of the move came before it.
    const beforeMove = producesTo(0);
    cluster.moveLeader('t', 0, 1);
    expect((await sending).offset).toBe(1);
    // No attempt at the dead leader after the election: the metadata named the new one first.
    expect(producesTo(0)).toBe(beforeMove);
  }, 30_000);
});
