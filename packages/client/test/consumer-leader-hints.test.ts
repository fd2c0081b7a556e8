/**
 * KIP-951 on the consumer's side, against the in-process test cluster: a Fetch refused because the broker
 * no longer leads the partition names the leader it knows of (its id, epoch and address), and the consumer
 * fetches from there at once instead of asking for metadata and waiting out its retry backoff. Only a
 * newer epoch is taken, and a broker the client does not know only with its address.
 */
import * as grpc from '@grpc/grpc-js';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ErrorCodes, type v1 } from '@samsa/protocol';
import { type ConsumedMessage, type ConsumerOptions, Samsa } from '@samsa/client';
import { TestCluster, waitFor } from './support/test-cluster.js';

type Fetch = v1.FetchRequest__Output;

/** A backoff no test waits out: 10 s (8-12 s with jitter) per retry. */
const slowRetry = { retries: 100, initialRetryTimeMs: 10_000, maxRetryTimeMs: 10_000 };
const fastRetry = { retries: 100, initialRetryTimeMs: 10, maxRetryTimeMs: 50 };

async function take(iterator: AsyncIterator<ConsumedMessage>, n: number): Promise<string[]> {
  const out: string[] = [];
  while (out.length < n) {
    const next = await iterator.next();
    if (next.done) break;
    out.push(next.value.value?.toString() ?? '');
  }
  return out;
}

describe('consumer and KIP-951 leader hints', () => {
  let cluster: TestCluster;
  let samsa: Samsa | undefined;

  beforeEach(async () => {
    cluster = await TestCluster.start({ brokers: 2 });
    cluster.createTopic('t', 1, { leaders: [0] });
    cluster.leaderHints = true;
  });

  afterEach(async () => {
    await samsa?.close();
    samsa = undefined;
    await cluster.stop();
  });

  /** A consumer of t-0 from offset 0 that has received the first two records from broker 0. */
  async function consuming(retry: typeof slowRetry, options: Partial<ConsumerOptions> = {}) {
    samsa = new Samsa({ brokers: cluster.bootstrap, retry });
    const consumer = samsa.consumer({ maxWaitMs: 100, ...options });
    cluster.appendValues('t', 0, 'a', 2);
    // The whole topic: assign() looks up its metadata, so the first fetch does not wait for it.
    await consumer.assign([{ topic: 't' }]);
    consumer.seek({ topic: 't', partition: 0, offset: 0 });
    const iterator = consumer.messages();
    expect(await take(iterator, 2)).toEqual(['a0', 'a1']);
    return iterator;
  }

  const since = (from: number) => cluster.requests.slice(from).map((r) => `${r.method}@${r.broker}`);

  it('fetches from the leader a refusal names at once: no metadata request, no backoff', async () => {
    const iterator = await consuming(slowRetry, { isolationLevel: 'read_committed' });
    const from = cluster.requests.length;
    // A controlled move: broker 0 is alive and refuses, naming broker 1 and epoch 1.
    cluster.moveLeader('t', 0, 1);
    cluster.appendValues('t', 0, 'b', 1);
    const startedAt = Date.now();
    expect(await take(iterator, 1)).toEqual(['b0']);
    // Refused once, the next fetch goes to broker 1 (a backoff would take 8 s or more).
    expect(Date.now() - startedAt).toBeLessThan(6_000);
    const after = since(from);
    expect(after).not.toContain('Metadata@0');
    expect(after).not.toContain('Metadata@1');
    expect(after.filter((r) => r === 'Fetch@1').length).toBeGreaterThan(0);
    // From the same position, at the same isolation level, under the hinted epoch.
    const first = cluster.requestsOf<Fetch>('Fetch').find((r) => r.broker === 1)!.request;
    expect(first.isolationLevel).toBe(1);
    expect(first.topics[0]!.partitions[0]).toMatchObject({ fetchOffset: 2, currentLeaderEpoch: 1 });
    await iterator.return?.();
  }, 30_000);

  it('takes a leader the metadata does not list when the refusal gives its address', async () => {
    cluster.unlistedBrokers.add(1);
    const iterator = await consuming(slowRetry);
    const from = cluster.requests.length;
    cluster.moveLeader('t', 0, 1);
    cluster.appendValues('t', 0, 'b', 1);
    expect(await take(iterator, 1)).toEqual(['b0']);
    expect(since(from).filter((r) => r.startsWith('Metadata'))).toEqual([]);
    await iterator.return?.();
  }, 30_000);

  it('ignores a hint naming a broker it does not know without its address: metadata, then that leader', async () => {
    cluster.unlistedBrokers.add(1);
    cluster.leaderHintEndpoints = false;
    const iterator = await consuming(fastRetry);
    const from = cluster.requests.length;
    cluster.moveLeader('t', 0, 1);
    cluster.appendValues('t', 0, 'b', 1);
    const next = take(iterator, 1);
    const metadataSince = () => since(from).filter((r) => r.startsWith('Metadata')).length;
    await waitFor(() => metadataSince() >= 3, 5000, 'metadata requests');
    // Nowhere to go: broker 1's address is unknown until the metadata lists it.
    expect(since(from)).not.toContain('Fetch@1');
    cluster.unlistedBrokers.delete(1);
    expect(await next).toEqual(['b0']);
    await iterator.return?.();
  }, 30_000);

  it('ignores a hint that is not newer than its metadata: refreshes and backs off', async () => {
    const iterator = await consuming(fastRetry);
    const from = cluster.requests.length;
    // Broker 0 refuses while it still leads at epoch 0: its hint (broker 0, epoch 0) moves nothing.
    cluster.inject({ method: 'Fetch', broker: 0, errorCode: ErrorCodes.NOT_LEADER_OR_FOLLOWER.code });
    cluster.appendValues('t', 0, 'b', 1);
    expect(await take(iterator, 1)).toEqual(['b0']);
    expect(since(from).filter((r) => r.startsWith('Metadata')).length).toBeGreaterThan(0);
    await iterator.return?.();
  }, 30_000);
});

describe('consumer and a leader that moves without a hint', () => {
  let cluster: TestCluster;
  let samsa: Samsa | undefined;

  beforeEach(async () => {
    cluster = await TestCluster.start({ brokers: 2 });
    cluster.createTopic('t', 1, { leaders: [0] });
  });

  afterEach(async () => {
    await samsa?.close();
    samsa = undefined;
    await cluster.stop();
  });

  it('fetches from the new leader as soon as the metadata names it, not after its backoff', async () => {
    samsa = new Samsa({ brokers: cluster.bootstrap, retry: slowRetry });
    const consumer = samsa.consumer({ maxWaitMs: 100 });
    cluster.appendValues('t', 0, 'a', 2);
    await consumer.assign([{ topic: 't' }]);
    consumer.seek({ topic: 't', partition: 0, offset: 0 });
    const iterator = consumer.messages();
    expect(await take(iterator, 2)).toEqual(['a0', 'a1']);
    const from = cluster.requests.length;
    // Refused without a hint: the consumer asks for metadata and backs off 8 s or more.
    cluster.moveLeader('t', 0, 1);
    cluster.appendValues('t', 0, 'b', 1);
    const startedAt = Date.now();
    expect(await take(iterator, 1)).toEqual(['b0']);
    expect(Date.now() - startedAt).toBeLessThan(6_000);
    const after = cluster.requests.slice(from).map((r) => `${r.method}@${r.broker}`);
    expect(after.some((r) => r.startsWith('Metadata'))).toBe(true);
    expect(after).toContain('Fetch@1');
    await iterator.return?.();
  }, 30_000);

  it('gives up a fetch a silent leader holds once the metadata names a new one', async () => {
    // A 20 s request timeout: a consumer that waited for the held fetch would be far past the bound.
    samsa = new Samsa({ brokers: cluster.bootstrap, requestTimeoutMs: 20_000, retry: slowRetry });
    const consumer = samsa.consumer({ maxWaitMs: 100 });
    cluster.appendValues('t', 0, 'a', 2);
    await consumer.assign([{ topic: 't' }]);
    consumer.seek({ topic: 't', partition: 0, offset: 0 });
    const iterator = consumer.messages();
    expect(await take(iterator, 2)).toEqual(['a0', 'a1']);
    // Broker 0 stops answering fetches (paused, cut off) and broker 1 is elected meanwhile.
    const release = cluster.hold('Fetch', 0);
    try {
      const heldBefore = cluster.requestsOf('Fetch').filter((r) => r.broker === 0).length;
      await waitFor(
        () => cluster.requestsOf('Fetch').filter((r) => r.broker === 0).length > heldBefore,
        5000,
        'a fetch held by broker 0',
      );
      cluster.moveLeader('t', 0, 1);
      cluster.appendValues('t', 0, 'b', 1);
      const startedAt = Date.now();
      // Unanswered past maxWaitMs + 1 s: the consumer asks for metadata, finds broker 1, fetches there.
      expect(await take(iterator, 1)).toEqual(['b0']);
      expect(Date.now() - startedAt).toBeLessThan(6_000);
    } finally {
      release();
    }
    // The held fetch's late answer changes nothing: the next record is the next one.
    cluster.appendValues('t', 0, 'c', 1);
    expect(await take(iterator, 1)).toEqual(['c0']);
    await iterator.return?.();
  }, 30_000);

  it('looks at the metadata less and less often while a leader that stays leader is slow to answer', async () => {
    samsa = new Samsa({
      brokers: cluster.bootstrap,
      requestTimeoutMs: 20_000,
      retry: { retries: 100, initialRetryTimeMs: 100, maxRetryTimeMs: 1000 },
    });
    const consumer = samsa.consumer({ maxWaitMs: 100 });
    cluster.appendValues('t', 0, 'a', 1);
    await consumer.assign([{ topic: 't' }]);
    consumer.seek({ topic: 't', partition: 0, offset: 0 });
    const iterator = consumer.messages();
    expect(await take(iterator, 1)).toEqual(['a0']);
    const release = cluster.hold('Fetch', 0);
    const since = cluster.requestsOf('Metadata').length;
    const heldAt = Date.now();
    const next = take(iterator, 1);
    try {
      // Stalled from ~1.1 s on: polls at gaps of 100, 200, 400, 800, 1000 ms..., about 6 by 4 s, not 30.
      await waitFor(() => cluster.requestsOf('Metadata').length - since >= 4, 10_000, 'metadata polls');
      await waitFor(() => Date.now() - heldAt >= 4000, 10_000, '4 s');
      expect(cluster.requestsOf('Metadata').length - since).toBeLessThanOrEqual(10);
    } finally {
      release();
    }
    // Still the leader: its answer is taken when it comes.
    cluster.appendValues('t', 0, 'b', 1);
    expect(await next).toEqual(['b0']);
    expect(cluster.requestsOf('Fetch').every((r) => r.broker === 0)).toBe(true);
    await iterator.return?.();
  }, 30_000);

  it('asks the metadata every initialRetryTimeMs while waiting for a leader, not at its growing backoff', async () => {
    // Backoffs of 50 ms doubling up to 20 s: by 3 s a partition retries ~6 times; the metadata is polled ~60.
    samsa = new Samsa({
      brokers: cluster.bootstrap,
      retry: { retries: 100, initialRetryTimeMs: 50, maxRetryTimeMs: 20_000 },
    });
    const consumer = samsa.consumer({ maxWaitMs: 100 });
    cluster.appendValues('t', 0, 'a', 1);
    await consumer.assign([{ topic: 't' }]);
    consumer.seek({ topic: 't', partition: 0, offset: 0 });
    const iterator = consumer.messages();
    expect(await take(iterator, 1)).toEqual(['a0']);
    // The leader's broker is gone (its session expired), no other elected yet; its fetches fail.
    cluster.dropLeader('t', 0);
    cluster.inject({ method: 'Fetch', broker: 0, grpcStatus: grpc.status.UNAVAILABLE, times: 1000 });
    const since = cluster.requestsOf('Metadata').length;
    const droppedAt = Date.now();
    const next = take(iterator, 1);
    await waitFor(() => Date.now() - droppedAt >= 3000, 10_000, '3 s without a leader');
    const polls = cluster.requestsOf('Metadata').length - since;
    expect(polls).toBeGreaterThanOrEqual(20);
    expect(polls).toBeLessThanOrEqual(80);
    cluster.moveLeader('t', 0, 1);
    cluster.appendValues('t', 0, 'b', 1);
    const electedAt = Date.now();
    expect(await next).toEqual(['b0']);
    // The next poll names broker 1 and ends the backoff (which by now is 3 s or more).
    expect(Date.now() - electedAt).toBeLessThan(2_000);
    await iterator.return?.();
  }, 30_000);

  it('starts fetching as soon as the first metadata names the leader', async () => {
    samsa = new Samsa({ brokers: cluster.bootstrap, retry: slowRetry });
    const consumer = samsa.consumer({ maxWaitMs: 100 });
    cluster.appendValues('t', 0, 'a', 1);
    // A partition named directly: no metadata yet when the first fetch is due.
    await consumer.assign([{ topic: 't', partition: 0 }]);
    consumer.seek({ topic: 't', partition: 0, offset: 0 });
    const startedAt = Date.now();
    expect(await take(consumer.messages(), 1)).toEqual(['a0']);
    expect(Date.now() - startedAt).toBeLessThan(6_000);
  }, 30_000);
});
