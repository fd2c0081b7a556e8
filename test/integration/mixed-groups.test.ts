/**
 * One consumer group shared by Kafka clients (KafkaJS, the classic protocol, on the Kafka listener) and a
 * Samsa SDK consumer (KIP-848 over gRPC), on a real broker: the KafkaJS group is upgraded when the SDK
 * member joins, the partitions are split between them and move when either leaves (the last SDK member
 * leaving turns the group classic again). Records are produced only once a split has settled and the
 * previous owners committed, so each must be consumed exactly once: a partition handed to a second owner
 * before the first gave it up shows up as a record consumed twice, and the owners are sampled throughout.
 */
import { createRequire } from 'node:module';
import { connect } from 'node:net';
import { type Consumer as SdkConsumer, Samsa, type TopicPartition } from '@samsa/client';
import { ErrorCodes } from '@samsa/protocol';
import { kafka } from '@samsa/protocol/kafka';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runSamsa } from '../helpers/cli.js';
import { LocalCluster } from '../helpers/cluster.js';
import { KafkaTestClient } from '../helpers/kafka-client.js';
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
  // KafkaJS heartbeats between fetches: a short fetch wait lets it hear of a rebalance sooner (default 5 s).
  const consumer = kafka.consumer({
    groupId: group,
    sessionTimeout: 10_000,
    heartbeatInterval: 500,
    maxWaitTimeInMs: 500,
  });
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
    /** How long each change of membership took until the partitions were split again (printed). */
    const splitMs: Record<string, number> = {};
    /** Waits until the members named own all partitions between them, each at least `least`. */
    const split = async (members: Owner[], least: number) => {
      const startedMs = Date.now();
      await waitFor(
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
      splitMs[members.map((o) => o.name).join('+')] ??= Date.now() - startedMs;
    };
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
    console.log(`mixed group: ms from a membership change to the new split ${JSON.stringify(splitMs)}`);
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

describe('ConsumerGroupHeartbeat (68) and ConsumerGroupDescribe (69) on the Kafka listener', () => {
  const { ApiKey } = kafka;
  const retriable = new Set([ErrorCodes.NOT_COORDINATOR.code, ErrorCodes.COORDINATOR_LOAD_IN_PROGRESS.code]);

  it('a raw KIP-848 client and a KafkaJS member share a group: assignments by topic id, member types', async () => {
    const topic = unique('kip848');
    const group = unique('kip848-g');
    const [host, port] = bootstrap.split(':');
    const socket = connect({ host: host!, port: Number(port) });
    await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
    const client = new KafkaTestClient(socket);
    await client.send(ApiKey.CreateTopics, 4, {
      topics: [{ name: topic, numPartitions: 2, replicationFactor: 1 }],
      timeoutMs: 10_000,
    });
    const meta = await client.send<kafka.MetadataResponseData>(ApiKey.Metadata, 12, {
      topics: [{ topicId: kafka.ZERO_UUID, name: topic }],
    });
    const topicId = meta.topics[0]!.topicId;
    expect(topicId).not.toBe(kafka.ZERO_UUID);
    // As clients do: find the coordinator first (its first use creates __consumer_offsets).
    await waitFor(
      async () =>
        (
          await client.send<kafka.FindCoordinatorResponseData>(ApiKey.FindCoordinator, 4, {
            keyType: 0,
            coordinatorKeys: [group],
          })
        ).coordinators?.[0]?.errorCode === 0,
      { timeoutMs: 30_000, description: 'FindCoordinator' },
    );

    /** A heartbeat, sent again while the coordinator is still taking up its partition (as clients do). */
    let answer: kafka.ConsumerGroupHeartbeatResponseData | undefined;
    const heartbeat = async (body: Partial<kafka.ConsumerGroupHeartbeatRequestData>, version = 1) => {
      await waitFor(
        async () => {
          answer = await client.send<kafka.ConsumerGroupHeartbeatResponseData>(ApiKey.ConsumerGroupHeartbeat, version, {
            groupId: group,
            memberId,
            ...body,
          });
          return !retriable.has(answer.errorCode);
        },
        { timeoutMs: 30_000, description: 'a coordinator' },
      );
      return answer!;
    };
    const describeGroup = async () =>
      (
        await client.send<kafka.ConsumerGroupDescribeResponseData>(ApiKey.ConsumerGroupDescribe, 1, {
          groupIds: [group],
          includeAuthorizedOperations: false,
        })
      ).groups[0]!;
    const memberId = `kip848-${process.pid}`;

    // v1 requires the client's own member id.
    expect((await heartbeat({ memberId: '', memberEpoch: 0, subscribedTopicNames: [topic] })).errorCode).toBe(
      ErrorCodes.INVALID_REQUEST.code,
    );
    const joined = await heartbeat({
      memberEpoch: 0,
      rebalanceTimeoutMs: 30_000,
      subscribedTopicNames: [topic],
      topicPartitions: [],
    });
    expect(joined).toMatchObject({ errorCode: 0, memberId });
    expect(joined.assignment?.topicPartitions).toEqual([{ topicId, partitions: [0, 1] }]);
    const alone = await describeGroup();
    expect(alone).toMatchObject({ errorCode: 0, groupState: 'stable', assignorName: 'uniform' });
    expect(alone.members).toMatchObject([{ memberId, memberType: 1, subscribedTopicNames: [topic] }]);
    expect(alone.members[0]!.assignment.topicPartitions).toEqual([{ topicId, topicName: topic, partitions: [0, 1] }]);

    // A KafkaJS (classic) member joins: the KIP-848 member is asked to give one partition up.
    const k = startKafkaJs('kafkajs-kip848', topic, group);
    try {
      let epoch = joined.memberEpoch;
      let owned = joined.assignment!.topicPartitions;
      await waitFor(
        async () => {
          const r = await heartbeat({ memberEpoch: epoch, topicPartitions: owned });
          expect(r.errorCode).toBe(0);
          epoch = r.memberEpoch;
          if (r.assignment) owned = r.assignment.topicPartitions;
          return owned[0]?.partitions.length === 1 && k.owned.size === 1;
        },
        { timeoutMs: 60_000, description: `one partition each (KafkaJS: ${[...k.owned]})` },
      );
      expect([...k.owned]).not.toContain(owned[0]!.partitions[0]);
      const both = await describeGroup();
      expect(both.members.map((m) => m.memberType).sort()).toEqual([0, 1]);
      const classic = both.members.find((m) => m.memberType === 0)!;
      expect(classic.clientId).toBe('kafkajs-kip848');
      expect(classic.assignment.topicPartitions[0]!.partitions).toEqual([...k.owned]);
      // DescribeGroups (the classic API) shows the same members in the consumer protocol.
      const classicView = await client.send<kafka.DescribeGroupsResponseData>(ApiKey.DescribeGroups, 5, {
        groups: [group],
        includeAuthorizedOperations: false,
      });
      expect(classicView.groups[0]!.members.map((m) => m.memberId).sort()).toEqual(
        both.members.map((m) => m.memberId).sort(),
      );

      // The KIP-848 member is removed by a LeaveGroup naming its id (the classic API, as Kafka's admin
      // removeMembersFromConsumerGroup sends it; Kafka takes KIP-848 members there since KAFKA-18188): the
      // group is classic again and KafkaJS takes both partitions; the removed member's leave finds nobody.
      const removed = await client.send<kafka.LeaveGroupResponseData>(ApiKey.LeaveGroup, 5, {
        groupId: group,
        members: [{ memberId, groupInstanceId: null, reason: 'removed by an admin' }],
      });
      expect(removed.errorCode).toBe(0);
      expect(removed.members.map((m) => [m.memberId, m.errorCode])).toEqual([[memberId, 0]]);
      expect((await heartbeat({ memberEpoch: -1 })).errorCode).not.toBe(0);
      await waitFor(() => k.owned.size === 2, { timeoutMs: 60_000, description: 'KafkaJS owns both' });
      expect((await describeGroup()).errorCode).toBe(ErrorCodes.GROUP_ID_NOT_FOUND.code);

      // v0: the coordinator gives a joining member its id.
      const v0 = await heartbeat(
        { memberId: '', memberEpoch: 0, rebalanceTimeoutMs: 30_000, subscribedTopicNames: [topic] },
        0,
      );
      expect(v0.errorCode).toBe(0);
      expect(v0.memberId).toMatch(/.+/);
    } finally {
      await k.close();
      socket.destroy();
    }
  }, 180_000);
});
