/**
 * The lag the consumer reports, batches()' `lag` and currentLag(), against the in-process test cluster:
 * from the high watermark for read_uncommitted, from the last stable offset for read_committed (Kafka's
 * records-lag and currentLag), where an open transaction's records are not readable yet.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type ConsumedBatch, type Consumer, type ConsumerOptions, Samsa } from '@samsa/client';
import { TestCluster } from './support/test-cluster.js';

const fastRetry = { retries: 5, initialRetryTimeMs: 10, maxRetryTimeMs: 50 };
const tp = { topic: 't', partition: 0 };

describe('consumer lag', () => {
  let cluster: TestCluster;
  let samsa: Samsa;

  beforeEach(async () => {
    cluster = await TestCluster.start();
    cluster.createTopic('t', 1);
    samsa = new Samsa({ brokers: cluster.bootstrap, retry: fastRetry });
    // Three records, then a transaction of two still open: high watermark 5, last stable offset 3.
    cluster.appendValues('t', 0, 'a', 3);
    cluster.openTransaction('t', 0);
    cluster.appendValues('t', 0, 'x', 2);
  });

  afterEach(async () => {
    await samsa.close();
    await cluster.stop();
  });

  async function consumer(options: Partial<ConsumerOptions>): Promise<Consumer> {
    // maxPartitionFetchBytes 1: one stored batch per fetch.
    const c = samsa.consumer({ maxWaitMs: 50, maxPartitionFetchBytes: 1, ...options });
    await c.assign([tp]);
    c.seek({ ...tp, offset: 0 });
    return c;
  }

  const values = (batch: ConsumedBatch) => batch.messages.map((m) => m.value?.toString());

  it('read_committed: from the last stable offset, so an open transaction is no lag yet', async () => {
    const c = await consumer({ isolationLevel: 'read_committed' });
    expect(c.currentLag(tp)).toBeUndefined();
    const batches = c.batches();
    const first = (await batches.next()).value as ConsumedBatch;
    expect(values(first)).toEqual(['a0', 'a1', 'a2']);
    expect(first).toMatchObject({ highWatermark: 5, lastStableOffset: 3, lag: 0 });
    expect(c.currentLag(tp)).toBe(0);
    cluster.endTransaction('t', 0);
    const second = (await batches.next()).value as ConsumedBatch;
    expect(values(second)).toEqual(['x0', 'x1']);
    expect(second).toMatchObject({ highWatermark: 5, lastStableOffset: 5, lag: 0 });
    expect(c.currentLag(tp)).toBe(0);
    await batches.return();
  });

  it('read_uncommitted: from the high watermark, open transaction included', async () => {
    const c = await consumer({});
    const batches = c.batches();
    const first = (await batches.next()).value as ConsumedBatch;
    expect(values(first)).toEqual(['a0', 'a1', 'a2']);
    expect(first).toMatchObject({ highWatermark: 5, lastStableOffset: 3, lag: 2 });
    expect(c.currentLag(tp)).toBe(2);
    const second = (await batches.next()).value as ConsumedBatch;
    expect(values(second)).toEqual(['x0', 'x1']);
    expect(second.lag).toBe(0);
    await batches.return();
  });

  it('currentLag() follows the position as messages() hands records out', async () => {
    const c = await consumer({ isolationLevel: 'read_committed', maxPartitionFetchBytes: 1 << 20 });
    const iterator = c.messages();
    expect((await iterator.next()).value?.offset).toBe(0);
    // Position 1, last stable offset 3: two committed records left to read, the open transaction's not counted.
    expect(c.currentLag(tp)).toBe(2);
    c.seek({ ...tp, offset: 3 });
    expect(c.currentLag(tp)).toBe(0);
    await iterator.return?.();
  });
});
