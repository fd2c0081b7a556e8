/**
 * A read_committed SDK consumer reset to "latest" while a transaction is open (real processes: one
 * broker, the gRPC ListOffsets with its isolation_level): it starts at the last stable offset, the open
 * transaction's first record, so it receives that transaction's records once it commits. Reset to the
 * high watermark it would start past them and never see them (the Kafka listener's twin of this defect
 * is test/integration/kafka-transactions.test.ts's group starting at the end). The lag such a consumer
 * reports counts from the last stable offset too.
 */
import type { ConsumedBatch, ConsumedMessage } from '@samsa/client';
import { describe, expect, it } from 'vitest';
import { oneBrokerWithTopic } from '../helpers/one-broker.js';
import { waitFor } from '../helpers/wait.js';

const TOPIC = 'rc-latest';
const env = oneBrokerWithTopic(TOPIC);

describe('read_committed consumer starting at latest during an open transaction', () => {
  it('starts at the last stable offset and receives the transaction once it commits', async () => {
    const before = env.samsa.producer();
    await before.send({ topic: TOPIC, partition: 0, value: 'before' }); // offset 0: committed, not transactional
    await before.close();

    const producer = env.samsa.producer({ transactionalId: 'rc-latest-tx' });
    await producer.begin();
    for (const v of ['t0', 't1', 't2']) await producer.send({ topic: TOPIC, partition: 0, value: v });
    const admin = env.samsa.admin();
    expect((await admin.fetchTopicOffsets(TOPIC))[0]).toMatchObject({ low: 0, high: 4 });
    expect((await admin.fetchTopicOffsets(TOPIC, { isolationLevel: 'read_committed' }))[0]).toMatchObject({
      low: 0,
      high: 1,
    });

    const consumer = env.samsa.consumer({
      groupId: 'rc-latest-group',
      autoOffsetReset: 'latest',
      isolationLevel: 'read_committed',
      maxWaitMs: 100,
    });
    consumer.subscribe([TOPIC]);
    const received: ConsumedMessage[] = [];
    const signal = AbortSignal.timeout(20_000);
    const loop = (async () => {
      try {
        for await (const m of consumer.messages({ signal })) {
          received.push(m);
          if (received.length >= 3) break;
        }
      } catch (err) {
        if (!signal.aborted) throw err;
      }
    })();
    const tp = { topic: TOPIC, partition: 0 };
    const position = await waitFor(() => consumer.position(tp), {
      timeoutMs: 30_000,
      description: 'the consumer reset to latest',
    });
    expect(position).toBe(1); // the open transaction's first offset, not the high watermark (4)

    await producer.commit();
    await loop;
    await consumer.close();
    await producer.close();
    expect(received.map((m) => [m.offset, m.value?.toString()])).toEqual([
      [1, 't0'],
      [2, 't1'],
      [3, 't2'],
    ]);
  }, 60_000);
});

describe('the lag a read_committed consumer reports during an open transaction', () => {
  it("counts from the Fetch answer's last stable offset: the open transaction is no lag until it commits", async () => {
    const topic = 'rc-lag';
    await env.samsa.admin().createTopics([{ topic, numPartitions: 1, replicationFactor: 1 }]);
    const before = env.samsa.producer();
    await before.send({ topic, partition: 0, value: 'before' }); // offset 0
    await before.close();
    const producer = env.samsa.producer({ transactionalId: 'rc-lag-tx' });
    await producer.begin();
    for (const v of ['t0', 't1', 't2']) await producer.send({ topic, partition: 0, value: v }); // offsets 1-3

    const tp = { topic, partition: 0 };
    const consumer = env.samsa.consumer({ isolationLevel: 'read_committed', maxWaitMs: 100 });
    await consumer.assign([tp]);
    consumer.seek({ ...tp, offset: 0 });
    const batches = consumer.batches({ signal: AbortSignal.timeout(30_000) });
    try {
      const first = (await batches.next()).value as ConsumedBatch;
      expect(first.messages.map((m) => m.value?.toString())).toEqual(['before']);
      // Reading up to the high watermark would leave 3 to read; up to the last stable offset, none yet.
      expect(first).toMatchObject({ highWatermark: 4, lastStableOffset: 1, lag: 0 });
      expect(consumer.currentLag(tp)).toBe(0);

      await producer.commit(); // the marker at offset 4
      const second = (await batches.next()).value as ConsumedBatch;
      expect(second.messages.map((m) => m.value?.toString())).toEqual(['t0', 't1', 't2']);
      expect(second).toMatchObject({ highWatermark: 5, lastStableOffset: 5, lag: 0 });
      expect(consumer.position(tp)).toBe(5);
      expect(consumer.currentLag(tp)).toBe(0);
    } finally {
      await batches.return();
      await consumer.close();
      await producer.close();
    }
  }, 60_000);
});
