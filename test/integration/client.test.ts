/**
 * The SDK against a real 3-broker cluster (coordinator and brokers as processes): every acks setting,
 * the partitioners, every way to position a consumer, topic administration, auto-creation, and a
 * broker restart that keeps every record.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Samsa, type ConsumedMessage } from '@samsa/client';
import { kafkaPartitionForKey } from '@samsa/protocol';
import { LocalCluster } from '../helpers/cluster.js';
import { waitFor } from '../helpers/wait.js';

let cluster: LocalCluster;
let samsa: Samsa;
let topicSeq = 0;
const uniqueTopic = (name: string) => `${name}-${process.pid}-${++topicSeq}`;

beforeAll(async () => {
  cluster = await LocalCluster.start({ brokers: 3 });
  samsa = new Samsa({ brokers: cluster.bootstrap });
  await samsa.connect();
}, 90_000);

afterAll(async () => {
  await samsa?.close();
  await cluster?.close();
});

async function createTopic(name: string, numPartitions: number, configs: Record<string, string> = {}): Promise<void> {
  await samsa.admin().createTopics([{ topic: name, numPartitions, replicationFactor: 1, configs }]);
}

/** Reads `count` messages from the beginning of every partition of `topic`. */
async function readAll(topic: string, count: number): Promise<ConsumedMessage[]> {
  const consumer = samsa.consumer({ autoOffsetReset: 'earliest', maxWaitMs: 100 });
  await consumer.assign([{ topic }]);
  const out: ConsumedMessage[] = [];
  const abort = AbortSignal.timeout(20_000);
  try {
    for await (const m of consumer.messages({ signal: abort })) {
      out.push(m);
      if (out.length >= count) break;
    }
  } finally {
    await consumer.close();
  }
  return out;
}

describe('produce and consume on a real cluster', () => {
  it.each([0, 1, 'all'] as const)('acks=%s delivers every record', async (acks) => {
    const topic = uniqueTopic(`acks-${acks}`);
    await createTopic(topic, 3);
    if (acks === 0) {
      // acks=0 never hears of a failure, so records sent before each leader has taken up its role are
      // lost (as in Kafka). Wait until every leader answers for its partition.
      await waitFor(() => samsa.admin().fetchTopicOffsets(topic), { description: `leaders of ${topic}` });
    }
    const producer = samsa.producer({ acks });
    const values = Array.from({ length: 300 }, (_, i) => `v${i}`);
    const results = await producer.sendBatch({ topic, messages: values.map((value) => ({ value })) });
    await producer.close();
    if (acks !== 0) expect(results.every((r) => r.offset >= 0)).toBe(true);
    const read = await readAll(topic, values.length);
    expect(read.map((m) => m.value?.toString()).sort()).toEqual([...values].sort());
  });

  it("a key always lands on the partition Kafka's murmur2 partitioner picks; keyless records spread", async () => {
    const topic = uniqueTopic('keys');
    await createTopic(topic, 6);
    const producer = samsa.producer({ acks: 1, batchSize: 1024, lingerMs: 0 });
    const keys = Array.from({ length: 40 }, (_, i) => `customer-${i}`);
    for (let round = 0; round < 2; round++) {
      const results = await Promise.all(keys.map((key) => producer.send({ topic, key, value: `${round}` })));
      for (const [i, r] of results.entries()) expect(r.partition).toBe(kafkaPartitionForKey(Buffer.from(keys[i]!), 6));
    }
    const keyless = await producer.sendBatch({
      topic,
      messages: Array.from({ length: 2000 }, (_, i) => ({ value: `x${i}`.padEnd(100, '.') })),
    });
    await producer.close();
    expect(new Set(keyless.map((r) => r.partition)).size).toBeGreaterThan(1);
  });

  it('consumes from the beginning, from an offset, from the end and by timestamp', async () => {
    const topic = uniqueTopic('positions');
    await createTopic(topic, 1);
    const producer = samsa.producer({ acks: 'all' });
    const first = await producer.sendBatch({
      topic,
      messages: Array.from({ length: 10 }, (_, i) => ({ value: `old-${i}`, timestamp: 1_000 + i })),
    });
    const later = await producer.sendBatch({
      topic,
      messages: Array.from({ length: 5 }, (_, i) => ({ value: `new-${i}`, timestamp: 2_000_000 + i })),
    });
    expect(first[0]!.offset).toBe(0);
    expect(later[0]!.offset).toBe(10);

    const tp = { topic, partition: 0 };
    const consumer = samsa.consumer({ autoOffsetReset: 'none', maxWaitMs: 100 });
    await consumer.assign([tp]);
    const take = async (n: number): Promise<string[]> => {
      const out: string[] = [];
      for await (const m of consumer.messages({ signal: AbortSignal.timeout(10_000) })) {
        out.push(m.value!.toString());
        if (out.length === n) break;
      }
      return out;
    };
    await consumer.seekToBeginning([tp]);
    expect(await take(2)).toEqual(['old-0', 'old-1']);
    consumer.seek({ ...tp, offset: 7 });
    expect(await take(3)).toEqual(['old-7', 'old-8', 'old-9']);
    expect(await consumer.seekToTimestamp(2_000_002, [tp])).toEqual([{ ...tp, offset: 12 }]);
    expect(await take(1)).toEqual(['new-2']);
    expect(await consumer.seekToEnd([tp])).toEqual([{ ...tp, offset: 15 }]);
    const pending = take(1);
    await producer.send({ topic, value: 'newest' });
    expect(await pending).toEqual(['newest']);
    await consumer.close();
    await producer.close();
  });

  it('creates, describes, lists and deletes topics; producing to a missing topic creates it', async () => {
    const admin = samsa.admin();
    const topic = uniqueTopic('admin');
    await admin.createTopics([
      { topic, numPartitions: 4, replicationFactor: 2, configs: { 'retention.ms': '3600000' } },
    ]);
    // Other brokers learn of the topic through the coordinator a moment later (as in Kafka).
    const [described] = await waitFor(
      async () => {
        const topics = await admin.describeTopics([topic]);
        return topics[0]!.partitions.every((p) => p.leader >= 0) ? topics : undefined;
      },
      { description: `every broker to know ${topic} and its leaders` },
    );
    expect(described!.partitions).toHaveLength(4);
    expect(described!.configs['retention.ms']).toBe('3600000');
    for (const p of described!.partitions) {
      expect(p.replicas).toHaveLength(2);
      expect(p.replicas).toContain(p.leader);
    }
    await expect(admin.createTopics([{ topic, numPartitions: 1, replicationFactor: 1 }])).rejects.toMatchObject({
      errorName: 'TopicAlreadyExists',
    });
    expect(await admin.listTopics()).toContain(topic);
    await admin.deleteTopics([topic]);
    await waitFor(async () => !(await admin.listTopics()).includes(topic), { description: 'the topic to be gone' });

    const auto = uniqueTopic('auto');
    const producer = samsa.producer({ acks: 1 });
    const result = await producer.send({ topic: auto, value: 'first' });
    await producer.close();
    expect(result.offset).toBe(0);
    const [created] = await waitFor(() => admin.describeTopics([auto]), {
      description: `every broker to know ${auto}`,
    });
    expect(created!.partitions).toHaveLength(1);
  });

  it('a restarted broker serves every record it had', async () => {
    const topic = uniqueTopic('restart');
    await createTopic(topic, 3);
    const producer = samsa.producer({ acks: 'all' });
    const values = Array.from({ length: 500 }, (_, i) => `r${i}`);
    await producer.sendBatch({ topic, messages: values.map((value) => ({ value })) });
    for (const broker of cluster.brokers) {
      await cluster.stopBroker(broker.id);
      await cluster.startBroker(broker.id);
    }
    const read = await readAll(topic, values.length);
    expect(read.map((m) => m.value?.toString()).sort()).toEqual([...values].sort());
    // And the cluster takes writes again.
    await producer.send({ topic, value: 'after restart' });
    await producer.close();
  }, 90_000); // three sequential restarts, each waiting for a clean stop: slow on a loaded machine
});
