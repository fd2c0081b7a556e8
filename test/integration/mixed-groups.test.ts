/**
 * One consumer group shared by Kafka clients (KafkaJS, the classic protocol, on the Kafka listener) and a
 * Samsa SDK consumer (KIP-848 over gRPC), on a real broker: the KafkaJS group is upgraded when the SDK
 * member joins, the partitions are split between them and move when either leaves (the last SDK member
 * leaving turns the group classic again). Records are produced only once a split has settled and the
 * previous owners committed, so each must be consumed exactly once: a partition handed to a second owner
 * before the first gave it up shows up as a record consumed twice, and the owners are sampled throughout.
 */
import { createRequire } from 'node:module';
import { type Consumer as SdkConsumer, Samsa, type TopicPartition } from '@samsa/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runSamsa } from '../helpers/cli.js';
import { LocalCluster } from '../helpers/cluster.js';
import { freePort } from '../helpers/ports.js';
import { waitFor } from '../helpers/wait.js';
import { available, CONFLUENT_KAFKA_GROUP, confluentKafkaAvailable, run, SYSTEM_PYTHON } from '../kafka/tools.js';

const require = createRequire(import.meta.url);
const { Kafka, logLevel } = require('kafkajs') as typeof import('kafkajs');
type KafkaJsConsumer = import('kafkajs').Consumer;

const PARTITIONS = 6;
let cluster: LocalCluster;
let bootstrap: string;
let samsa: Samsa;
const unique = (name: string) => `${name}-${process.pid}-${Math.floor(Math.random() * 1e6)}`;

beforeAll(async () => {
  const port = await freePort();
  cluster = await LocalCluster.start({
    brokers: 1,
    brokerSettingsFor: (b) => ({
      listeners: `PLAINTEXT://${b.address},KAFKA://127.0.0.1:${port}`,
      'offsets.topic.num.partitions': '3',
      'offsets.topic.replication.factor': '1',
      'group.initial.rebalance.delay.ms': '300',
      'group.consumer.heartbeat.interval.ms': '500',
    }),
  });
  bootstrap = `127.0.0.1:${port}`;
  samsa = new Samsa({
    brokers: cluster.bootstrap,
    retry: { retries: 10, initialRetryTimeMs: 50, maxRetryTimeMs: 500 },
  });
  await samsa.connect();
}, 90_000);

afterAll(async () => {
  await samsa?.close();
  await cluster?.close();
});

interface Owner {
  readonly name: string;
  readonly owned: Set<number>;
  close(): Promise<void>;
}

/** Every record's value -> how many times any member consumed it. */
const consumed = new Map<string, number>();
const seen = (value: string) => consumed.set(value, (consumed.get(value) ?? 0) + 1);

function startKafkaJs(name: string, topic: string, group: string): Owner & { consumer: KafkaJsConsumer } {
  const kafka = new Kafka({ clientId: name, brokers: [bootstrap], logLevel: logLevel.NOTHING });
  const consumer = kafka.consumer({ groupId: group, sessionTimeout: 10_000, heartbeatInterval: 500 });
  const owned = new Set<number>();
  // KafkaJS (eager) stops consuming before it joins again: what it owns is its last assignment until then.
  consumer.on(consumer.events.REBALANCING, () => owned.clear());
  consumer.on(consumer.events.GROUP_JOIN, (e) => {
    owned.clear();
    for (const p of e.payload.memberAssignment[topic] ?? []) owned.add(p);
  });
  const started = (async () => {
    await consumer.connect();
    await consumer.subscribe({ topic, fromBeginning: true });
    await consumer.run({ eachMessage: async ({ message }) => void seen(message.value!.toString()) });
  })();
  return {
    name,
    owned,
    consumer,
    close: async () => {
      await started;
      await consumer.disconnect();
      owned.clear();
    },
  };
}

function startSdk(name: string, topic: string, group: string): Owner & { consumer: SdkConsumer } {
  const consumer = samsa.consumer({
    groupId: group,
    autoOffsetReset: 'earliest',
    maxWaitMs: 100,
    autoCommitIntervalMs: 300,
  });
  const owned = new Set<number>();
  const add = (tps: TopicPartition[]) => {
    for (const tp of tps) owned.add(tp.partition);
  };
  const remove = (tps: TopicPartition[]) => {
    for (const tp of tps) owned.delete(tp.partition);
  };
  consumer.subscribe([topic], { onPartitionsAssigned: add, onPartitionsRevoked: remove, onPartitionsLost: remove });
  const loop = (async () => {
    for await (const m of consumer) seen(m.value!.toString());
  })();
  return {
    name,
    owned,
    consumer,
    close: async () => {
      await consumer.close();
      await loop;
      owned.clear();
    },
  };
}

describe('a group shared by KafkaJS (classic protocol) and the Samsa SDK (KIP-848)', () => {
  it('splits a topic between them, moves partitions when either leaves, and consumes every record once', async () => {
    const topic = unique('mixed');
    const group = unique('mixed-g');
    const kafka = new Kafka({ clientId: 'mixed-admin', brokers: [bootstrap], logLevel: logLevel.NOTHING });
    const admin = kafka.admin();
    await admin.connect();
    await admin.createTopics({ topics: [{ topic, numPartitions: PARTITIONS }], waitForLeaders: true });
    const producer = kafka.producer();
    await producer.connect();
    let batches = 0;
    const values: string[] = [];
    /** Produces a batch over every partition and waits until each record is consumed and committed. */
    const produceAndConsume = async () => {
      const batch = Array.from({ length: 60 }, (_, i) => `b${batches}-${i}`);
      batches++;
      values.push(...batch);
      await producer.send({
        topic,
        acks: -1,
        messages: batch.map((value, i) => ({ value, partition: i % PARTITIONS })),
      });
      await waitFor(() => values.every((v) => consumed.has(v)), {
        timeoutMs: 30_000,
        description: `batch ${batches - 1} consumed`,
      });
      await waitFor(
        async () => {
          const [committed] = await admin.fetchOffsets({ groupId: group, topics: [topic] });
          const ends = await admin.fetchTopicOffsets(topic);
          return ends.every((e) => committed!.partitions.find((p) => p.partition === e.partition)?.offset === e.offset);
        },
        { timeoutMs: 30_000, description: `batch ${batches - 1} committed` },
      );
    };

    const owners: Owner[] = [];
    let overlap: string | undefined;
    const sampler = setInterval(() => {
      const all = owners.flatMap((o) => [...o.owned]);
      if (new Set(all).size !== all.length)
        overlap ??= owners.map((o) => `${o.name}: ${[...o.owned].sort()}`).join('; ');
    }, 10);
    /** Waits until the members named own all partitions between them, each at least `least`. */
    const split = (members: Owner[], least: number) =>
      waitFor(
        () => {
          const all = members.flatMap((o) => [...o.owned]);
          return (
            all.length === PARTITIONS && new Set(all).size === PARTITIONS && members.every((o) => o.owned.size >= least)
          );
        },
        {
          timeoutMs: 60_000,
          description: `a split over ${members.map((o) => o.name)} (${members.map((o) => [...o.owned])})`,
        },
      );
    try {
      // A classic group first: KafkaJS alone.
      const k1 = startKafkaJs('kafkajs-1', topic, group);
      owners.push(k1);
      await split([k1], PARTITIONS);
      await produceAndConsume();

      // The SDK consumer joins: the group becomes a KIP-848 group with KafkaJS in it; 3 and 3.
      const s = startSdk('sdk', topic, group);
      owners.push(s);
      await split([k1, s], 3);
      await produceAndConsume();
      const described = await runSamsa([
        'consumer-groups',
        '--describe',
        '--group',
        group,
        '--members',
        '--bootstrap-server',
        cluster.bootstrap.join(','),
      ]);
      expect(described.code, described.stderr).toBe(0);
      expect(described.stdout).toMatch(/kafkajs-1/);

      // KafkaJS leaves (LeaveGroup): the SDK member takes everything.
      await k1.close();
      await split([s], PARTITIONS);
      await produceAndConsume();

      // Another KafkaJS member joins the KIP-848 group; then the SDK member leaves, and the group is
      // classic again with KafkaJS alone.
      const k2 = startKafkaJs('kafkajs-2', topic, group);
      owners.push(k2);
      await split([k2, s], 3);
      await produceAndConsume();
      await s.close();
      await split([k2], PARTITIONS);
      await produceAndConsume();
      await k2.close();
    } finally {
      clearInterval(sampler);
      await producer.disconnect();
      await admin.disconnect();
      await Promise.all(owners.map((o) => o.close().catch(() => undefined)));
    }
    expect(overlap, 'a partition owned by two members at once').toBeUndefined();
    const twice = values.filter((v) => consumed.get(v) !== 1);
    expect(twice, 'records consumed other than once').toEqual([]);
  }, 240_000);
});

describe.runIf(available('confluent-kafka-python (python3-confluent-kafka)', confluentKafkaAvailable()))(
  'a group shared by librdkafka (confluent-kafka-python, classic) and the Samsa SDK',
  () => {
    it('the librdkafka member gets the partition the SDK member gives up, and only that one', async () => {
      const topic = unique('mixed-rdkafka');
      const group = unique('mixed-rdkafka-g');
      const kafka = new Kafka({ clientId: 'mixed-admin', brokers: [bootstrap], logLevel: logLevel.NOTHING });
      const admin = kafka.admin();
      await admin.connect();
      await admin.createTopics({ topics: [{ topic, numPartitions: 2 }], waitForLeaders: true });
      await admin.disconnect();
      const sdk = startSdk('sdk', topic, group);
      const before = consumed.size;
      try {
        await waitFor(() => sdk.owned.size === 2, { timeoutMs: 30_000, description: 'the SDK member owns both' });
        const python = run(SYSTEM_PYTHON, [CONFLUENT_KAFKA_GROUP, bootstrap, topic, group, '5'], { timeoutMs: 90_000 });
        await waitFor(() => sdk.owned.size === 1, {
          timeoutMs: 60_000,
          description: 'the SDK member gave one partition to the librdkafka member',
        });
        const mine = [...sdk.owned][0]!;
        const producer = kafka.producer();
        await producer.connect();
        await producer.send({
          topic,
          acks: -1,
          messages: Array.from({ length: 10 }, (_, i) => ({ value: `p${i % 2}-${i}`, partition: i % 2 })),
        });
        await producer.disconnect();
        const result = await python;
        expect(result.code, result.stderr).toBe(0);
        const theirs = 1 - mine;
        const lines = result.stdout.trim().split('\n');
        expect(
          lines.slice(0, 5).every((l) => l.startsWith(`got ${theirs} `)),
          result.stdout,
        ).toBe(true);
        expect(lines[5]).toBe(`committed ${theirs}:5`);
        await waitFor(() => consumed.size - before === 5, { timeoutMs: 30_000, description: 'the SDK read its five' });
        expect([...consumed.keys()].filter((v) => v.startsWith(`p${theirs}-`))).toEqual([]);
        // The librdkafka member left: the SDK member takes its partition back, from its committed offset.
        await waitFor(() => sdk.owned.size === 2, { timeoutMs: 30_000, description: 'the SDK member owns both again' });
      } finally {
        await sdk.close();
      }
    }, 180_000);
  },
);
