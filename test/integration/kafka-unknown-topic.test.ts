/**
 * A request naming a topic or partition that does not exist, on a real broker's Kafka listener: answered
 * at once with UNKNOWN_TOPIC_OR_PARTITION (3), as Kafka's broker does, not after the wait meant for a
 * partition this broker is about to lead. The broker waits up to 10 minutes for such a role here
 * (`leadership.wait.ms`), so an answer that waited would fail by the client's 15 s timeout; nothing is
 * asserted about speed. A topic created a moment ago is still waited for and answered. And the console
 * commands (the SDK over gRPC), with auto.create.topics.enable=false, fail naming the topic instead of
 * waiting for it (the consumer waited for ever, the producer 60 s).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { kafka } from '@samsa/protocol/kafka';
import { runSamsa } from '../helpers/cli.js';
import { LocalCluster } from '../helpers/cluster.js';
import { type KafkaTestClient, kafkaTestClient } from '../helpers/kafka-client.js';
import { freePort } from '../helpers/ports.js';

const { ApiKey } = kafka;
const UNKNOWN_TOPIC_OR_PARTITION = 3;

let cluster: LocalCluster;
let client: KafkaTestClient;
const topic = `unknown-fast-${process.pid}`;
const typo = `${topic}-typo`;

beforeAll(async () => {
  const kafkaPort = await freePort();
  cluster = await LocalCluster.start({
    brokers: 1,
    brokerSettings: { 'auto.create.topics.enable': 'false', 'leadership.wait.ms': '600000' },
    brokerSettingsFor: (b) => ({ listeners: `PLAINTEXT://${b.address},KAFKA://127.0.0.1:${kafkaPort}` }),
  });
  client = await kafkaTestClient(kafkaPort);
  await createTopic(topic);
}, 90_000);

afterAll(async () => {
  client?.close();
  await cluster?.close();
});

async function createTopic(name: string): Promise<void> {
  const created = await client.send<kafka.CreateTopicsResponseData>(ApiKey.CreateTopics, 5, {
    topics: [{ name, numPartitions: 1, replicationFactor: 1, assignments: [], configs: [] }],
    timeoutMs: 30_000,
    validateOnly: false,
  });
  expect(created.topics[0]).toMatchObject({ name, errorCode: 0 });
}

const listOffsets = (name: string, partitionIndex: number) =>
  client.send<kafka.ListOffsetsResponseData>(ApiKey.ListOffsets, 5, {
    replicaId: -1,
    isolationLevel: 0,
    topics: [{ name, partitions: [{ partitionIndex, timestamp: -1, currentLeaderEpoch: -1 }] }],
  });

describe('the Kafka listener, for a topic or partition that does not exist', () => {
  it('ListOffsets answers UNKNOWN_TOPIC_OR_PARTITION at once for an unknown topic', async () => {
    const answer = await listOffsets(typo, 0);
    expect(answer.topics[0]!.partitions[0]).toMatchObject({ errorCode: UNKNOWN_TOPIC_OR_PARTITION });
  });

  it('ListOffsets answers INVALID_TOPIC_EXCEPTION at once for a name no topic can have', async () => {
    const answer = await listOffsets('no/such', 0);
    expect(answer.topics[0]!.partitions[0]).toMatchObject({ errorCode: 17 });
  });

  it('ListOffsets answers at once for a partition past the topic’s count', async () => {
    const answer = await listOffsets(topic, 3);
    expect(answer.topics[0]!.partitions[0]).toMatchObject({ errorCode: UNKNOWN_TOPIC_OR_PARTITION });
  });

  it('Fetch and Produce answer at once for an unknown topic', async () => {
    const fetched = await client.send<kafka.FetchResponseData>(ApiKey.Fetch, 11, {
      replicaId: -1,
      maxWaitMs: 100,
      minBytes: 1,
      maxBytes: 1 << 20,
      isolationLevel: 0,
      topics: [{ topic: typo, partitions: [{ partition: 0, fetchOffset: 0, partitionMaxBytes: 1 << 20 }] }],
    });
    expect(fetched.responses[0]!.partitions[0]).toMatchObject({ errorCode: UNKNOWN_TOPIC_OR_PARTITION });
    const produced = await client.send<kafka.ProduceResponseData>(ApiKey.Produce, 8, {
      transactionalId: null,
      acks: 1,
      timeoutMs: 5000,
      topicData: [{ name: typo, partitionData: [{ index: 0, records: null }] }],
    });
    expect(produced.responses[0]!.partitionResponses[0]).toMatchObject({ errorCode: UNKNOWN_TOPIC_OR_PARTITION });
  });

  it('a topic created a moment ago is waited for and answered', async () => {
    const fresh = `${topic}-fresh`;
    await createTopic(fresh);
    const answer = await listOffsets(fresh, 0);
    expect(answer.topics[0]!.partitions[0]).toMatchObject({ errorCode: 0, offset: 0 });
  });
});

describe('the console commands, for a topic that does not exist (auto.create.topics.enable=false)', () => {
  const unknownLine = new RegExp(
    `^samsa: UnknownTopicOrPartition: unknown topic ${typo}: it does not exist, ` +
      'and the brokers do not create topics on use \\(auto.create.topics.enable=false\\)\\n$',
  );

  it('samsa consume fails with one line naming the topic', async () => {
    for (const args of [[], ['--partition', '0', '--offset', '0'], ['--group', `${topic}-g`]]) {
      const run = await runSamsa([
        'consume',
        '--topic',
        typo,
        ...args,
        '--bootstrap-server',
        cluster.bootstrap.join(','),
      ]);
      expect(run.code, args.join(' ')).toBe(1);
      expect(run.stderr, args.join(' ')).toMatch(unknownLine);
    }
  }, 60_000);

  it('samsa produce fails with one line naming the topic, before reading its input', async () => {
    const run = await runSamsa(['produce', '--topic', typo, '--bootstrap-server', cluster.bootstrap.join(',')], 'x\n');
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(unknownLine);
  }, 60_000);
});
