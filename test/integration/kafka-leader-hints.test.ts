/**
 * KIP-951 on the Kafka listener, on real broker processes over a socket: a Produce v10 or Fetch v16 sent
 * to a follower (NOT_LEADER_OR_FOLLOWER), or with an old leader epoch (FENCED_LEADER_EPOCH), names the
 * partition's leader and epoch and that leader's address on the Kafka listener, so a client retries there
 * without asking for metadata first. Older versions carry no hint (the fields are not in them). And
 * Fetch v13+ by topic id: read by the id Metadata gives, an id no topic has is UNKNOWN_TOPIC_ID.
 * (Debian's librdkafka 2.0.2 predates KIP-951: these requests are encoded with Samsa's own codecs.)
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Samsa } from '@samsa/client';
import { decodeBatches, encodeBatch } from '@samsa/protocol';
import { kafka } from '@samsa/protocol/kafka';
import { LocalCluster } from '../helpers/cluster.js';
import { type KafkaTestClient, kafkaTestClient, waitForTopicOnEveryBroker } from '../helpers/kafka-client.js';
import { freePort } from '../helpers/ports.js';
import { waitFor } from '../helpers/wait.js';

const { ApiKey } = kafka;
const NOT_LEADER_OR_FOLLOWER = 6;
const FENCED_LEADER_EPOCH = 74;
const UNKNOWN_TOPIC_ID = 100;

const topic = `leader-hints-${process.pid}`;
const kafkaPorts = new Map<number, number>();
const clients = new Map<number, KafkaTestClient>();
let cluster: LocalCluster;
let leader: number;
let follower: number;
let leaderEpoch: number;
let topicId: string;

beforeAll(async () => {
  for (const id of [1, 2]) kafkaPorts.set(id, await freePort());
  cluster = await LocalCluster.start({
    brokers: 2,
    brokerSettingsFor: (b) => ({ listeners: `PLAINTEXT://${b.address},KAFKA://127.0.0.1:${kafkaPorts.get(b.id)}` }),
  });
  for (const [id, port] of kafkaPorts) clients.set(id, await kafkaTestClient(port));
  // The SDK retries while the cluster settles (no controller yet, a broker not yet registered).
  const samsa = new Samsa({ brokers: cluster.bootstrap });
  try {
    await samsa.admin().createTopics([{ topic, numPartitions: 1, replicationFactor: 2 }]);
  } finally {
    await samsa.close();
  }
  await waitForTopicOnEveryBroker(kafkaPorts.values(), topic, 1);
  const meta = await clients.get(1)!.send<kafka.MetadataResponseData>(ApiKey.Metadata, 12, {
    topics: [{ name: topic }],
    allowAutoTopicCreation: false,
  });
  const t = meta.topics[0]!;
  topicId = t.topicId;
  leader = t.partitions[0]!.leaderId;
  leaderEpoch = t.partitions[0]!.leaderEpoch;
  follower = leader === 1 ? 2 : 1;
  expect(topicId).not.toBe(kafka.ZERO_UUID);
  expect(leaderEpoch).toBeGreaterThanOrEqual(0);
}, 90_000);

afterAll(async () => {
  for (const client of clients.values()) client.close();
  await cluster?.close();
});

const produce = (broker: number, version: number, value: string) =>
  clients.get(broker)!.send<kafka.ProduceResponseData>(ApiKey.Produce, version, {
    transactionalId: null,
    acks: -1,
    timeoutMs: 10_000,
    topicData: [
      {
        name: topic,
        partitionData: [{ index: 0, records: encodeBatch([{ value: Buffer.from(value) }], { now: Date.now() }) }],
      },
    ],
  });

const fetchById = (broker: number, version: number, options: { id?: string; currentLeaderEpoch?: number } = {}) =>
  clients.get(broker)!.send<kafka.FetchResponseData>(ApiKey.Fetch, version, {
    maxWaitMs: 100,
    minBytes: 1,
    maxBytes: 1 << 20,
    topics: [
      {
        topic,
        topicId: options.id ?? topicId,
        partitions: [
          {
            partition: 0,
            fetchOffset: 0,
            partitionMaxBytes: 1 << 20,
            currentLeaderEpoch: options.currentLeaderEpoch ?? -1,
          },
        ],
      },
    ],
  });

describe('KIP-951 leader hints on the Kafka listener', () => {
  it('ApiVersions advertises Produce v0-v10 and Fetch v0-v16', async () => {
    const body = await clients.get(1)!.send<kafka.ApiVersionsResponseData>(ApiKey.ApiVersions, 3, {
      clientSoftwareName: 'test',
      clientSoftwareVersion: '1',
    });
    expect(body.apiKeys).toContainEqual({ apiKey: ApiKey.Produce, minVersion: 0, maxVersion: 10 });
    expect(body.apiKeys).toContainEqual({ apiKey: ApiKey.Fetch, minVersion: 0, maxVersion: 16 });
  });

  it('Produce v10 to a follower: NOT_LEADER_OR_FOLLOWER names the leader (CurrentLeader, NodeEndpoints)', async () => {
    const answer = await produce(follower, 10, 'to-the-follower');
    expect(answer.responses[0]!.partitionResponses[0]).toMatchObject({
      index: 0,
      errorCode: NOT_LEADER_OR_FOLLOWER,
      currentLeader: { leaderId: leader, leaderEpoch },
    });
    expect(answer.nodeEndpoints).toEqual([
      { nodeId: leader, host: '127.0.0.1', port: kafkaPorts.get(leader), rack: null },
    ]);
  });

  it('Produce v9 to the follower: the same refusal, without hints (v9 has no such fields)', async () => {
    const answer = await produce(follower, 9, 'to-the-follower-v9');
    const p = answer.responses[0]!.partitionResponses[0]!;
    expect(p.errorCode).toBe(NOT_LEADER_OR_FOLLOWER);
    expect(p.currentLeader).toEqual({ leaderId: -1, leaderEpoch: -1 });
    expect(answer.nodeEndpoints).toEqual([]);
  });

  it('Produce v10 to the leader: appended, no hints', async () => {
    const answer = await produce(leader, 10, 'hello');
    expect(answer.responses[0]!.partitionResponses[0]).toMatchObject({
      errorCode: 0,
      baseOffset: 0,
      currentLeader: { leaderId: -1, leaderEpoch: -1 },
    });
    expect(answer.nodeEndpoints).toEqual([]);
  });

  it('Fetch v13-v16 by topic id reads from the leader; the answer names the topic by id', async () => {
    for (const v of [13, 14, 15, 16]) {
      const answer = await fetchById(leader, v);
      expect(answer.responses[0], `v${v}`).toMatchObject({ topic: '', topicId });
      const p = answer.responses[0]!.partitions[0]!;
      expect(p).toMatchObject({ errorCode: 0, highWatermark: 1 });
      expect(decodeBatches(p.records!).flatMap((b) => b.records.map((r) => r.value!.toString()))).toEqual(['hello']);
    }
  });

  it('Fetch v16 to the follower: NOT_LEADER_OR_FOLLOWER names the leader; v15 does not', async () => {
    const answer = await fetchById(follower, 16);
    expect(answer.responses[0]!.partitions[0]).toMatchObject({
      errorCode: NOT_LEADER_OR_FOLLOWER,
      currentLeader: { leaderId: leader, leaderEpoch },
    });
    expect(answer.nodeEndpoints).toEqual([
      { nodeId: leader, host: '127.0.0.1', port: kafkaPorts.get(leader), rack: null },
    ]);
    // Kafka's broker fills CurrentLeader from v16 on only, though the field exists from v12.
    const v15 = await fetchById(follower, 15);
    expect(v15.responses[0]!.partitions[0]).toMatchObject({
      errorCode: NOT_LEADER_OR_FOLLOWER,
      currentLeader: { leaderId: -1, leaderEpoch: -1 },
    });
  });

  it('Fetch v16 sessions by topic id: a full fetch opens one, an incremental one forgets by id', async () => {
    const client = clients.get(leader)!;
    const session = (sessionId: number, sessionEpoch: number, topics: object[], forgotten: object[] = []) =>
      client.send<kafka.FetchResponseData>(ApiKey.Fetch, 16, {
        maxWaitMs: 50,
        minBytes: 1,
        maxBytes: 1 << 20,
        sessionId,
        sessionEpoch,
        topics,
        forgottenTopicsData: forgotten,
      });
    const at = (fetchOffset: number) => [
      { topicId, partitions: [{ partition: 0, fetchOffset, partitionMaxBytes: 1 << 20, currentLeaderEpoch: -1 }] },
    ];
    const opened = await session(0, 0, at(0));
    expect(opened.sessionId).toBeGreaterThan(0);
    expect(opened.responses).toMatchObject([{ topicId, partitions: [{ partitionIndex: 0, errorCode: 0 }] }]);
    // Caught up: nothing new, so the partition is left out; then forgotten by id, it is no longer read.
    expect((await session(opened.sessionId!, 1, at(1))).responses).toEqual([]);
    await produce(leader, 10, 'in-session');
    const forgot = await session(opened.sessionId!, 2, [], [{ topicId, partitions: [0] }]);
    expect(forgot).toMatchObject({ errorCode: 0, sessionId: opened.sessionId, responses: [] });
  });

  it('Fetch v13+ naming a topic id no topic has: UNKNOWN_TOPIC_ID, answered at once', async () => {
    const answer = await fetchById(leader, 16, { id: 'AQIDBAUGBwgJCgsMDQ4PEA' });
    expect(answer.responses).toEqual([
      expect.objectContaining({
        topicId: 'AQIDBAUGBwgJCgsMDQ4PEA',
        partitions: [expect.objectContaining({ partitionIndex: 0, errorCode: UNKNOWN_TOPIC_ID })],
      }),
    ]);
  });
  // Last: it stops the leader, so that the other broker leads in a newer epoch.
  it('Fetch v16 with an older leader epoch: FENCED_LEADER_EPOCH naming the new leader', async () => {
    await cluster.stopBroker(leader);
    const survivor = clients.get(follower)!;
    const newEpoch = await waitFor(
      async () => {
        const meta = await survivor.send<kafka.MetadataResponseData>(ApiKey.Metadata, 12, {
          topics: [{ name: topic }],
          allowAutoTopicCreation: false,
        });
        const p = meta.topics[0]?.partitions[0];
        return p?.leaderId === follower && p.leaderEpoch > leaderEpoch && p.leaderEpoch;
      },
      { description: `broker ${follower} to lead ${topic} in a newer epoch`, timeoutMs: 30_000 },
    );
    const answer = await fetchById(follower, 16, { currentLeaderEpoch: leaderEpoch });
    expect(answer.responses[0]!.partitions[0]).toMatchObject({
      errorCode: FENCED_LEADER_EPOCH,
      currentLeader: { leaderId: follower, leaderEpoch: newEpoch },
    });
    expect(answer.nodeEndpoints).toEqual([
      { nodeId: follower, host: '127.0.0.1', port: kafkaPorts.get(follower), rack: null },
    ]);
  });
});
