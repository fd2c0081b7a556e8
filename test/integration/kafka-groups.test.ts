/**
 * Kafka consumer groups with Kafka's own clients on real broker processes: KafkaJS members sharing a
 * topic and rebalancing through JoinGroup/SyncGroup, confluent-kafka-python (librdkafka) committing
 * offsets that a restarted consumer goes on from, and `samsa consumer-groups` describing the group.
 */
import { createRequire } from 'node:module';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runSamsa } from '../helpers/cli.js';
import { LocalCluster } from '../helpers/cluster.js';
import { freePort } from '../helpers/ports.js';
import { waitFor } from '../helpers/wait.js';
import {
  available,
  CONFLUENT_KAFKA_COOPERATIVE,
  CONFLUENT_KAFKA_GROUP,
  CONFLUENT_KAFKA_STATIC,
  confluentKafkaAvailable,
  KAFKA_PYTHON_EMPTY_GROUP,
  KAFKA_PYTHON_GROUP,
  kafkaPythonAvailable,
  run,
  SYSTEM_PYTHON,
  toolPath,
} from '../kafka/tools.js';

const require = createRequire(import.meta.url);
const { Kafka, logLevel } = require('kafkajs') as typeof import('kafkajs');
type Consumer = import('kafkajs').Consumer;

const BROKERS = 3;
let cluster: LocalCluster;
let bootstrap: string;
/** Every broker's Kafka listener, for a client that must find the cluster while any one broker is down. */
let kafkaBrokers: string[];
const unique = (name: string) => `${name}-${process.pid}-${Math.floor(Math.random() * 1e6)}`;

beforeAll(async () => {
  const ports = new Map<number, number>();
  for (let id = 1; id <= BROKERS; id++) ports.set(id, await freePort());
  cluster = await LocalCluster.start({
    brokers: BROKERS,
    brokerSettingsFor: (b) => ({
      listeners: `PLAINTEXT://${b.address},KAFKA://127.0.0.1:${ports.get(b.id)}`,
      'default.replication.factor': '3',
      'min.insync.replicas': '2',
      'offsets.topic.num.partitions': '5',
      'group.initial.rebalance.delay.ms': '500',
    }),
  });
  bootstrap = `127.0.0.1:${ports.get(1)}`;
  kafkaBrokers = [...ports.values()].map((port) => `127.0.0.1:${port}`);
}, 90_000);

afterAll(async () => {
  await cluster?.close();
});

const samsa = (args: string[]) => runSamsa([...args, '--bootstrap-server', cluster.bootstrap.join(',')]);
const kcat = toolPath('kcat');

/** A one-partition topic holding r0..r(count-1), written by KafkaJS. */
async function topicWithRecords(prefix: string, count: number): Promise<string> {
  const kafka = new Kafka({ clientId: 'producer', brokers: [bootstrap], logLevel: logLevel.NOTHING });
  const topic = unique(prefix);
  const admin = kafka.admin();
  await admin.connect();
  await admin.createTopics({ topics: [{ topic, numPartitions: 1, replicationFactor: 3 }], waitForLeaders: true });
  await admin.disconnect();
  const producer = kafka.producer();
  await producer.connect();
  await producer.send({ topic, acks: -1, messages: Array.from({ length: count }, (_, i) => ({ value: `r${i}` })) });
  await producer.disconnect();
  return topic;
}

/** Runs a group consumer script twice (4 records, then 6): the second goes on from the first's commit. */
async function commitAndRestart(script: string, topic: string, group: string): Promise<void> {
  const first = await run(SYSTEM_PYTHON, [script, bootstrap, topic, group, '4'], { timeoutMs: 90_000 });
  expect(first.code, first.stderr).toBe(0);
  expect(first.stdout.trim().split('\n')).toEqual([...[0, 1, 2, 3].map((i) => `got 0 ${i} r${i}`), 'committed 0:4']);
  const second = await run(SYSTEM_PYTHON, [script, bootstrap, topic, group, '6'], { timeoutMs: 90_000 });
  expect(second.code, second.stderr).toBe(0);
  expect(second.stdout.trim().split('\n')).toEqual([
    ...[4, 5, 6, 7, 8, 9].map((i) => `got 0 ${i} r${i}`),
    'committed 0:10',
  ]);
}

describe('KafkaJS consumer group (classic protocol)', () => {
  it('three members share a 6-partition topic 2/2/2 and take over the partitions of one that leaves', async () => {
    const kafka = new Kafka({ clientId: 'kafkajs-group', brokers: [bootstrap], logLevel: logLevel.NOTHING });
    const topic = unique('kjs-group');
    const group = unique('kjs-g');
    const admin = kafka.admin();
    await admin.connect();
    await admin.createTopics({ topics: [{ topic, numPartitions: 6, replicationFactor: 3 }], waitForLeaders: true });
    await admin.disconnect();
    const producer = kafka.producer();
    await producer.connect();
    const values = Array.from({ length: 60 }, (_, i) => `v${i}`);
    await producer.send({ topic, acks: -1, messages: values.map((value, i) => ({ key: `k${i}`, value })) });
    await producer.disconnect();

    const assignments = new Map<number, number[]>();
    const received = new Set<string>();
    const consumers: Consumer[] = [];
    for (let i = 0; i < 3; i++) {
      const consumer = kafka.consumer({ groupId: group, sessionTimeout: 10_000, heartbeatInterval: 500 });
      consumer.on(consumer.events.GROUP_JOIN, (e) => {
        assignments.set(i, (e.payload.memberAssignment[topic] ?? []).slice().sort());
      });
      await consumer.connect();
      await consumer.subscribe({ topic, fromBeginning: true });
      await consumer.run({
        eachMessage: async ({ message }) => {
          received.add(message.value!.toString());
        },
      });
      consumers.push(consumer);
    }
    const owned = () => [...assignments.values()].flat().sort((a, b) => a - b);
    try {
      await waitFor(
        () => assignments.size === 3 && [...assignments.values()].every((a) => a.length === 2) && owned().length === 6,
        { timeoutMs: 60_000, description: `a 2/2/2 split (${JSON.stringify([...assignments])})` },
      );
      expect(owned()).toEqual([0, 1, 2, 3, 4, 5]);
      await waitFor(() => received.size === values.length, { timeoutMs: 30_000, description: 'every record consumed' });

      const described = await samsa(['consumer-groups', '--describe', '--group', group, '--members']);
      expect(described.code, described.stderr).toBe(0);
      // One row per member: its id, host, client id and partition count.
      expect(
        described.stdout.match(/^\S+\s+kafkajs-group-\S+\s+-\s+\/127\.0\.0\.1\s+kafkajs-group\s+2$/gm),
        described.stdout,
      ).toHaveLength(3);

      await consumers.pop()!.disconnect();
      assignments.delete(2);
      await waitFor(() => [...assignments.values()].every((a) => a.length === 3) && owned().length === 6, {
        timeoutMs: 60_000,
        description: `a 3/3 split after one left (${JSON.stringify([...assignments])})`,
      });
      expect(owned()).toEqual([0, 1, 2, 3, 4, 5]);
    } finally {
      await Promise.all(consumers.map((c) => c.disconnect()));
    }
  }, 150_000);
});

describe.runIf(available('confluent-kafka-python (python3-confluent-kafka)', confluentKafkaAvailable()))(
  'confluent-kafka-python consumer group (librdkafka)',
  () => {
    it('a consumer that commits and closes is followed by one that goes on from the committed offset', async () => {
      const topic = await topicWithRecords('ck-group', 10);
      const group = unique('ck-g');
      await commitAndRestart(CONFLUENT_KAFKA_GROUP, topic, group);
      const described = await samsa(['consumer-groups', '--describe', '--group', group]);
      expect(described.code, described.stderr).toBe(0);
      expect(described.stdout).toContain(topic);
    }, 200_000);
  },
);

describe.runIf(available('kafka-python (python3-kafka)', kafkaPythonAvailable()))('kafka-python consumer group', () => {
  it('commits, closes, and a restarted consumer goes on from the committed offset', async () => {
    await commitAndRestart(KAFKA_PYTHON_GROUP, await topicWithRecords('kp-group', 10), unique('kp-g'));
  }, 200_000);

  it('group id "": commits without joining (generation -1, no member id) and reads the offset back', async () => {
    // Kafka accepts the empty group id in FindCoordinator, OffsetCommit and OffsetFetch for old clients;
    // kafka-python with group_id='' and assign() sends exactly those.
    const topic = await topicWithRecords('kp-empty', 10);
    const first = await run(SYSTEM_PYTHON, [KAFKA_PYTHON_EMPTY_GROUP, bootstrap, topic, '7'], { timeoutMs: 90_000 });
    expect(first.code, first.stderr).toBe(0);
    expect(first.stdout.trim().split('\n')).toEqual(['committed 0:7', 'got 0 7 r7']);
    // Another process of the same (empty) group goes on from there.
    const second = await run(SYSTEM_PYTHON, [KAFKA_PYTHON_EMPTY_GROUP, bootstrap, topic], { timeoutMs: 90_000 });
    expect(second.code, second.stderr).toBe(0);
    expect(second.stdout.trim().split('\n')).toEqual(['committed 0:7', 'got 0 7 r7']);
  }, 200_000);
});

describe.runIf(available('kcat', kcat !== undefined))('kcat -G (librdkafka balanced consumer)', () => {
  it('reads in a group, auto-commits on exit, and a second run goes on from there', async () => {
    const topic = await topicWithRecords('kcat-group', 10);
    const group = unique('kcat-g');
    const consume = (count: number) =>
      run(
        kcat!,
        ['-b', bootstrap, '-G', group, '-X', 'auto.offset.reset=earliest', '-c', String(count), '-f', '%o %s\n', topic],
        {
          timeoutMs: 60_000,
        },
      );
    const first = await consume(4);
    expect(first.code, first.stderr).toBe(0);
    expect(first.stdout.trim().split('\n')).toEqual([0, 1, 2, 3].map((i) => `${i} r${i}`));
    const second = await consume(6);
    expect(second.code, second.stderr).toBe(0);
    expect(second.stdout.trim().split('\n')).toEqual([4, 5, 6, 7, 8, 9].map((i) => `${i} r${i}`));
  }, 150_000);
});

describe.runIf(available('confluent-kafka-python (python3-confluent-kafka)', confluentKafkaAvailable()))(
  'cooperative-sticky (librdkafka)',
  () => {
    it('a member that keeps two of its four partitions gives up only the two that move', async () => {
      const kafka = new Kafka({ clientId: 'admin', brokers: [bootstrap], logLevel: logLevel.NOTHING });
      const topic = unique('coop');
      const admin = kafka.admin();
      await admin.connect();
      await admin.createTopics({ topics: [{ topic, numPartitions: 4, replicationFactor: 3 }], waitForLeaders: true });
      await admin.disconnect();
      const result = await run(SYSTEM_PYTHON, [CONFLUENT_KAFKA_COOPERATIVE, bootstrap, topic, unique('coop-g')], {
        timeoutMs: 120_000,
      });
      expect(result.code, result.stderr).toBe(0);
      const all = result.stdout.trim().split('\n');
      // Up to the 2/2 split (closing the members revokes the rest).
      const lines = all.slice(0, all.findIndex((l) => l.startsWith('final')) + 1);
      expect(lines[0]).toBe('a assign [0, 1, 2, 3]');
      const revoked = lines.filter((l) => l.startsWith('a revoke'));
      // Incremental: one revocation of exactly the two partitions that moved, never all four.
      expect(revoked, result.stdout).toHaveLength(1);
      const moved = JSON.parse(revoked[0]!.slice('a revoke '.length)) as number[];
      expect(moved).toHaveLength(2);
      expect(lines.filter((l) => l.startsWith('b assign')).map((l) => l.slice(2))).toContain(
        `assign ${JSON.stringify(moved).replace(',', ', ')}`,
      );
      expect(lines.at(-1)).toMatch(/^final a \[\d, \d\] b \[\d, \d\]$/);
    }, 150_000);
  },
);

describe.runIf(available('confluent-kafka-python (python3-confluent-kafka)', confluentKafkaAvailable()))(
  'static membership (librdkafka)',
  () => {
    it('a second process of the same group.instance.id takes over; the first is fenced for good', async () => {
      // Told UNKNOWN_MEMBER_ID instead of FENCED_INSTANCE_ID, the first process joined again with the
      // instance id and took it back, and the two took the partitions from each other for ever.
      const kafka = new Kafka({ clientId: 'admin', brokers: [bootstrap], logLevel: logLevel.NOTHING });
      const topic = unique('static');
      const admin = kafka.admin();
      await admin.connect();
      await admin.createTopics({ topics: [{ topic, numPartitions: 2, replicationFactor: 3 }], waitForLeaders: true });
      await admin.disconnect();
      const result = await run(SYSTEM_PYTHON, [CONFLUENT_KAFKA_STATIC, bootstrap, topic, unique('static-g')], {
        timeoutMs: 120_000,
      });
      expect(result.code, result.stdout + result.stderr).toBe(0);
      const lines = result.stdout.trim().split('\n');
      expect(
        lines.some((l) => l.startsWith('a fatal') && /fenced|FENCED_INSTANCE_ID/i.test(l)),
        result.stdout,
      ).toBe(true);
      expect(lines.at(-1)).toMatch(/^final assigns a 1 b 1 b owns \[0, 1\]$/);
    }, 150_000);
  },
);

/** Kafka's coordinator rule: abs(Java String.hashCode(group)) mod the partitions of __consumer_offsets. */
function offsetsPartitionOf(group: string, partitions: number): number {
  let hash = 0;
  for (let i = 0; i < group.length; i++) hash = (Math.imul(hash, 31) + group.charCodeAt(i)) | 0;
  return (hash === -2147483648 ? 0 : Math.abs(hash)) % partitions;
}

describe('KafkaJS group through a coordinator failover', () => {
  it("SIGKILL of the coordinator's broker: the members are loaded, consume on and commit", async () => {
    const kafka = new Kafka({
      clientId: 'kafkajs-failover',
      // Not broker 1 alone: it is the coordinator in a third of the runs, and a KafkaJS consumer that
      // restarts after the kill (below) finds the cluster only through this list.
      brokers: kafkaBrokers,
      logLevel: logLevel.NOTHING,
    });
    const topic = unique('kjs-failover');
    const group = unique('kjs-fo');
    const admin = kafka.admin();
    await admin.connect();
    await admin.createTopics({ topics: [{ topic, numPartitions: 4, replicationFactor: 3 }], waitForLeaders: true });
    const producer = kafka.producer();
    await producer.connect();
    const send = (from: number, to: number) =>
      producer.send({
        topic,
        acks: -1,
        messages: Array.from({ length: to - from }, (_, i) => ({ key: `k${from + i}`, value: `v${from + i}` })),
      });
    await send(0, 40);
    const received = new Set<string>();
    /** Per consumer, the assignment of each GROUP_JOIN it went through. */
    const joins: string[][] = [[], []];
    const memberIds: string[] = ['', ''];
    const consumers: Consumer[] = [];
    for (let i = 0; i < 2; i++) {
      // What KafkaJS does after the kill: a fetch from the dead leader fails with a connection error, which
      // its fetch loop retries (5 times, each after the long polls at the live brokers end: maxWaitTime)
      // without new metadata, then the consumer crashes and restarts under a new member id. The new id's
      // JoinGroup waits until the abandoned ids' sessions lapse (their timers start at the new coordinator's
      // load), so the records after the kill come about load + sessionTimeout later at best: both are
      // kept short. A 30 s session with the 5 s default long poll took 33 s of the wait below at a 0.2 CPU
      // share; with broker 1 as coordinator and only it in `brokers` the restarted consumers never came back.
      const consumer = kafka.consumer({
        groupId: group,
        sessionTimeout: 10_000,
        heartbeatInterval: 500,
        maxWaitTimeInMs: 1_000,
      });
      consumer.on(consumer.events.GROUP_JOIN, (e) => {
        joins[i]!.push(JSON.stringify(e.payload.memberAssignment));
        memberIds[i] = e.payload.memberId;
      });
      await consumer.connect();
      await consumer.subscribe({ topic, fromBeginning: true });
      await consumer.run({
        autoCommitInterval: 200,
        eachMessage: async ({ message }) => {
          received.add(message.value!.toString());
        },
      });
      consumers.push(consumer);
    }
    try {
      await waitFor(() => received.size === 40, { timeoutMs: 60_000, description: 'the first 40 records' });
      const metadata = await admin.fetchTopicMetadata({ topics: ['__consumer_offsets'] });
      const partitions = metadata.topics[0]!.partitions;
      const coordinator = partitions.find(
        (p) => p.partitionId === offsetsPartitionOf(group, partitions.length),
      )!.leader;
      await waitFor(() => joins.every((j) => j.length > 0 && j.at(-1) !== '{}'), { description: 'both assigned' });
      const before = joins.map((j) => j.length);
      const ids = memberIds.slice();
      await cluster.killBroker(coordinator);
      // The new coordinator loads the group from __consumer_offsets: the same members, ids and all. Asked
      // in process (a `samsa` run costs seconds at load), within the session the old ids have left.
      await waitFor(
        async () => {
          const [described] = (await admin.describeGroups([group])).groups;
          const members = new Set(described?.members.map((m) => m.memberId));
          return ids.every((id) => members.has(id));
        },
        { timeoutMs: 30_000, intervalMs: 200, description: 'the members at the new coordinator' },
      );
      await send(40, 80);
      await waitFor(() => received.size === 80, { timeoutMs: 60_000, description: 'the 40 records after the kill' });
      // KafkaJS may join again after its coordinator connection broke (a rejoining leader rebalances the
      // group, as on Kafka); whatever it did, both members are in the group afterwards.
      await waitFor(() => joins.every((j, i) => j.length >= before[i]! && j.at(-1) !== '{}'), {
        description: 'both members assigned after the failover',
      });
      // Committed up to each partition's end. Not a count of 80: KafkaJS's producer here is not
      // idempotent, and a Produce it retried across the kill (acks=-1 waits until the dead follower
      // leaves the ISR) may have stored some of the second 40 twice (95 records in one run).
      const ends = new Map((await admin.fetchTopicOffsets(topic)).map((p) => [p.partition, p.high]));
      await waitFor(
        async () => {
          const [offsets] = await admin.fetchOffsets({ groupId: group, topics: [topic] });
          return offsets!.partitions.every((p) => p.offset === ends.get(p.partition));
        },
        { timeoutMs: 30_000, description: 'every record committed' },
      );
      const described = await samsa(['consumer-groups', '--describe', '--group', group]);
      expect(described.code, described.stderr).toBe(0);
      expect(described.stdout).toContain(topic);
      await cluster.startBroker(coordinator);
    } finally {
      await Promise.all(consumers.map((c) => c.disconnect()));
      await producer.disconnect();
      await admin.disconnect();
    }
  }, 200_000);
});
