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

  const producesTo = (broker: number, since = 0) =>
    cluster.requestsOf('Produce').filter((r) => r.broker === broker && r.at >= since).length;

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
    const movedAt = Date.now();
    cluster.moveLeader('t', 0, 1);
    expect((await sending).offset).toBe(1);
    // No attempt at the dead leader after the election: the metadata named the new one first.
    expect(producesTo(0, movedAt)).toBe(0);
  }, 30_000);
});
