/**
 * Every API the Kafka listener serves, at every version it advertises, on a real broker process:
 * requests encoded and responses decoded with Samsa's codecs (the clients in kafka-clients.test.ts
 * cover the versions they use; this covers the rest, flexible versions included).
 */
import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Samsa } from '@samsa/client';
import { decodeBatches, encodeBatch } from '@samsa/protocol';
import { kafka } from '@samsa/protocol/kafka';
import { LocalCluster } from '../helpers/cluster.js';
import { KafkaTestClient } from '../helpers/kafka-client.js';
import { freePort } from '../helpers/ports.js';
import { waitFor } from '../helpers/wait.js';

const { ApiKey, KAFKA_APIS, encodeMessageSet, decodeMessageSet, ZERO_UUID } = kafka;
/** Kafka's AclOperation codes as a bit field (Utils.to32BitField): what a broker without an authorizer allows. */
const bits = (...operations: number[]) => operations.reduce((field, op) => field | (1 << op), 0);
// READ 3, WRITE 4, CREATE 5, DELETE 6, ALTER 7, DESCRIBE 8, CLUSTER_ACTION 9, DESCRIBE_CONFIGS 10,
// ALTER_CONFIGS 11, IDEMPOTENT_WRITE 12 (AclEntry.supportedOperations per resource type)
const TOPIC_OPERATIONS = bits(3, 4, 5, 6, 7, 8, 10, 11);
const CLUSTER_OPERATIONS = bits(5, 7, 8, 9, 10, 11, 12);
const AUTHORIZED_OPERATIONS_UNKNOWN = -2147483648;

let cluster: LocalCluster;
let kafkaPort: number;
let samsa: Samsa;
let client: KafkaTestClient;
const topic = `kafka-apis-${process.pid}`;

function versionsOf(apiKey: number): number[] {
  const api = KAFKA_APIS.get(apiKey)!;
  return Array.from({ length: api.maxVersion - api.minVersion + 1 }, (_, i) => api.minVersion + i);
}

beforeAll(async () => {
  kafkaPort = await freePort();
  cluster = await LocalCluster.start({
    brokers: 1,
    brokerSettingsFor: (b) => ({ listeners: `PLAINTEXT://${b.address},KAFKA://127.0.0.1:${kafkaPort}` }),
  });
  samsa = new Samsa({ brokers: cluster.bootstrap });
  await samsa
    .admin()
    .createTopics([{ topic, numPartitions: 1, replicationFactor: 1, configs: { 'retention.ms': '3600000' } }]);
  const producer = samsa.producer({ acks: 'all' });
  await producer.send({ topic, value: 'sdk' }); // offset 0, and the partition's leader is ready
  await producer.close();
  const socket = connect({ host: '127.0.0.1', port: kafkaPort });
  await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
  client = new KafkaTestClient(socket);
}, 90_000);

afterAll(async () => {
  await samsa?.close();
  await cluster?.close();
});

const produced: string[] = ['sdk'];

describe('the Kafka listener at every advertised version', () => {
  it('ApiVersions v0-v3 lists the served APIs', async () => {
    for (const v of versionsOf(ApiKey.ApiVersions)) {
      const body = await client.send<kafka.ApiVersionsResponseData>(ApiKey.ApiVersions, v, {
        clientSoftwareName: 'test',
        clientSoftwareVersion: '1',
      });
      expect(body.errorCode).toBe(0);
      expect(body.apiKeys).toContainEqual({ apiKey: ApiKey.Fetch, minVersion: 0, maxVersion: 16 });
      expect(body.apiKeys).toContainEqual({ apiKey: ApiKey.Produce, minVersion: 0, maxVersion: 10 });
      expect(body.apiKeys).toContainEqual({ apiKey: ApiKey.FindCoordinator, minVersion: 0, maxVersion: 4 });
      expect(body.apiKeys).toContainEqual({ apiKey: ApiKey.JoinGroup, minVersion: 0, maxVersion: 9 });
    }
  });

  it("Metadata v0-v12: this listener's address, topic ids, null/empty topic lists", async () => {
    for (const v of versionsOf(ApiKey.Metadata)) {
      const named = await client.send<kafka.MetadataResponseData>(ApiKey.Metadata, v, {
        topics: [{ name: topic, topicId: ZERO_UUID }],
        allowAutoTopicCreation: false,
      });
      expect(named.brokers, `v${v}`).toEqual([{ nodeId: 1, host: '127.0.0.1', port: kafkaPort, rack: null }]);
      const t = named.topics[0]!;
      expect(t).toMatchObject({ errorCode: 0, name: topic });
      expect(t.partitions[0]).toMatchObject({ partitionIndex: 0, leaderId: 1, replicaNodes: [1], isrNodes: [1] });
      if (v >= 10) expect(t.topicId).not.toBe(ZERO_UUID);
      if (v >= 12) {
        const byId = await client.send<kafka.MetadataResponseData>(ApiKey.Metadata, v, {
          topics: [{ name: null, topicId: t.topicId }],
        });
        expect(byId.topics[0]).toMatchObject({ errorCode: 0, name: topic, topicId: t.topicId });
      }
      const all = await client.send<kafka.MetadataResponseData>(ApiKey.Metadata, v, { topics: v === 0 ? [] : null });
      expect(all.topics.map((x) => x.name)).toContain(topic);
      if (v >= 1)
        expect((await client.send<kafka.MetadataResponseData>(ApiKey.Metadata, v, { topics: [] })).topics).toEqual([]);
    }
  });

  it('Produce v0-v10: message sets up to v2, batches from v3, appended in order', async () => {
    let expectedOffset = 1;
    for (const v of versionsOf(ApiKey.Produce)) {
      const value = `produce-v${v}`;
      const records =
        v < 3
          ? encodeMessageSet(
              [
                {
                  offset: 0,
                  magic: v < 2 ? 0 : 1,
                  timestamp: v < 2 ? null : Date.now(),
                  key: Buffer.from('k'),
                  value: Buffer.from(value),
                },
              ],
              v < 2 ? 0 : 1,
            )
          : encodeBatch([{ key: Buffer.from('k'), value: Buffer.from(value) }], { now: Date.now() });
      const body = await client.send<kafka.ProduceResponseData>(ApiKey.Produce, v, {
        transactionalId: null,
        acks: -1,
        timeoutMs: 5000,
        topicData: [{ name: topic, partitionData: [{ index: 0, records }] }],
      });
      expect(body.responses[0]!.partitionResponses[0], `v${v}`).toMatchObject({
        index: 0,
        errorCode: 0,
        baseOffset: expectedOffset++,
      });
      produced.push(value);
    }
  });

  it('Fetch v0-v16: magic 0 for v0-v1, magic 1 for v2-v3, stored batches from v4; LSO = high watermark', async () => {
    const meta = await client.send<kafka.MetadataResponseData>(ApiKey.Metadata, 12, { topics: [{ name: topic }] });
    const topicId = meta.topics[0]!.topicId; // v13+ names topics by id
    for (const v of versionsOf(ApiKey.Fetch)) {
      const body = await client.send<kafka.FetchResponseData>(ApiKey.Fetch, v, {
        maxWaitMs: 100,
        minBytes: 1,
        maxBytes: 1 << 20,
        isolationLevel: 1,
        topics: [{ topic, topicId, partitions: [{ partition: 0, fetchOffset: 0, partitionMaxBytes: 1 << 20 }] }],
      });
      expect(v >= 13 ? body.responses[0]!.topicId : body.responses[0]!.topic, `v${v}`).toBe(v >= 13 ? topicId : topic);
      const p = body.responses[0]!.partitions[0]!;
      expect(p, `v${v}`).toMatchObject({ partitionIndex: 0, errorCode: 0, highWatermark: produced.length });
      if (v >= 4) expect(p.lastStableOffset).toBe(produced.length);
      const values =
        v < 4
          ? decodeMessageSet(p.records!).map((m) => {
              expect(m.magic).toBe(v < 2 ? 0 : 1);
              return m.value!.toString();
            })
          : decodeBatches(p.records!).flatMap((b) => b.records.map((r) => r.value!.toString()));
      expect(values).toEqual(produced);
    }
  });

  it('Fetch sessions (KIP-227): a full fetch opens one, then only news; unknown ids, bad epochs refused', async () => {
    const fetch = (sessionId: number, sessionEpoch: number, fetchOffset?: number) =>
      client.send<kafka.FetchResponseData>(ApiKey.Fetch, 12, {
        maxWaitMs: 50,
        minBytes: 1,
        maxBytes: 1 << 20,
        sessionId,
        sessionEpoch,
        topics:
          fetchOffset === undefined
            ? []
            : [{ topic, partitions: [{ partition: 0, fetchOffset, partitionMaxBytes: 1 << 20 }] }],
      });
    const opened = await fetch(0, 0, 0);
    expect(opened.sessionId).toBeGreaterThan(0);
    expect(opened.responses[0]!.partitions[0]!.highWatermark).toBe(produced.length);
    const id = opened.sessionId!;
    // Caught up and nothing moved: the partition is left out.
    expect((await fetch(id, 1, produced.length)).responses).toEqual([]);
    await client.send(ApiKey.Produce, 9, {
      acks: -1,
      timeoutMs: 5000,
      topicData: [
        {
          name: topic,
          partitionData: [
            { index: 0, records: encodeBatch([{ value: Buffer.from('in-session') }], { now: Date.now() }) },
          ],
        },
      ],
    });
    produced.push('in-session');
    // The session remembers the fetch offset: a request naming no partition still reads it.
    const news = await fetch(id, 2);
    expect(news.sessionId).toBe(id);
    const p = news.responses[0]!.partitions[0]!;
    expect(p.highWatermark).toBe(produced.length);
    expect(decodeBatches(p.records!).flatMap((b) => b.records.map((r) => r.value!.toString()))).toEqual(['in-session']);
    expect(await fetch(id, 7)).toMatchObject({ errorCode: 71, responses: [] });
    expect(await fetch(424242, 1)).toMatchObject({ errorCode: 70, responses: [] });
    // Epoch -1 closes the session and is answered as a full fetch without one.
    expect(await fetch(id, -1, 0)).toMatchObject({ sessionId: 0, responses: [{ topic }] });
    expect(await fetch(id, 3)).toMatchObject({ errorCode: 70 });
  });

  it('ListOffsets v0-v7: earliest, latest, and (v7) MAX_TIMESTAMP (kafka-admin.test.ts checks which)', async () => {
    for (const v of versionsOf(ApiKey.ListOffsets)) {
      const ask = (timestamp: number) =>
        client.send<kafka.ListOffsetsResponseData>(ApiKey.ListOffsets, v, {
          replicaId: -1,
          topics: [{ name: topic, partitions: [{ partitionIndex: 0, timestamp, maxNumOffsets: 1 }] }],
        });
      const latest = (await ask(-1)).topics[0]!.partitions[0]!;
      const earliest = (await ask(-2)).topics[0]!.partitions[0]!;
      if (v === 0) {
        expect(latest.oldStyleOffsets).toEqual([produced.length]);
        expect(earliest.oldStyleOffsets).toEqual([0]);
      } else {
        expect([latest.offset, earliest.offset], `v${v}`).toEqual([produced.length, 0]);
      }
      if (v >= 7) {
        const max = (await ask(-3)).topics[0]!.partitions[0]!;
        expect(max.errorCode).toBe(0);
        expect(max.offset).toBeGreaterThanOrEqual(0);
        expect(max.offset).toBeLessThan(produced.length);
      }
    }
  });

  it('OffsetForLeaderEpoch v0-v4: the end of the current epoch is the log end', async () => {
    for (const v of versionsOf(ApiKey.OffsetForLeaderEpoch)) {
      const body = await client.send<kafka.OffsetForLeaderEpochResponseData>(ApiKey.OffsetForLeaderEpoch, v, {
        replicaId: -1,
        topics: [{ topic, partitions: [{ partition: 0, currentLeaderEpoch: -1, leaderEpoch: 0 }] }],
      });
      expect(body.topics[0]!.partitions[0], `v${v}`).toMatchObject({ errorCode: 0, endOffset: produced.length });
    }
  });

  it('DescribeConfigs v0-v4: a topic override and the broker defaults', async () => {
    for (const v of versionsOf(ApiKey.DescribeConfigs)) {
      const body = await client.send<kafka.DescribeConfigsResponseData>(ApiKey.DescribeConfigs, v, {
        resources: [
          {
            resourceType: kafka.RESOURCE_TYPE_TOPIC,
            resourceName: topic,
            configurationKeys: ['retention.ms', 'segment.bytes'],
          },
          { resourceType: kafka.RESOURCE_TYPE_BROKER, resourceName: '1', configurationKeys: null },
          { resourceType: kafka.RESOURCE_TYPE_TOPIC, resourceName: 'no-such-topic', configurationKeys: null },
        ],
      });
      const [topicResult, brokerResult, missing] = body.results;
      expect(topicResult!.configs.map((c) => [c.name, c.value])).toEqual([
        ['retention.ms', '3600000'],
        ['segment.bytes', String(1024 * 1024 * 1024)],
      ]);
      // v0 says whether a value is the default; v1+ says where it comes from.
      if (v === 0) expect(topicResult!.configs.map((c) => c.isDefault)).toEqual([false, true]);
      if (v >= 1)
        expect(topicResult!.configs.map((c) => c.configSource)).toEqual([
          kafka.CONFIG_SOURCE_TOPIC,
          kafka.CONFIG_SOURCE_DEFAULT,
        ]);
      // A topic's configs can be changed (AlterConfigs, IncrementalAlterConfigs); the broker's are static.
      expect(
        topicResult!.configs.map((c) => c.readOnly),
        `v${v}`,
      ).toEqual([false, false]);
      expect(brokerResult!.configs.find((c) => c.name === 'broker.id')).toMatchObject({ value: '1', readOnly: true });
      expect(missing!.errorCode).toBe(3);
    }
  });

  // Transactional ids: kafka-transactions.test.ts.
  it('InitProducerId v0-v4 for idempotent producers; a retried batch is answered with its first offset', async () => {
    const ids = new Set<number>();
    for (const v of versionsOf(ApiKey.InitProducerId)) {
      const fresh = await client.send<kafka.InitProducerIdResponseData>(ApiKey.InitProducerId, v, {
        transactionalId: null,
        transactionTimeoutMs: 60_000,
      });
      expect(fresh, `v${v}`).toMatchObject({ errorCode: 0, producerEpoch: 0 });
      ids.add(fresh.producerId);
      if (v >= 3) {
        const bumped = await client.send<kafka.InitProducerIdResponseData>(ApiKey.InitProducerId, v, {
          transactionalId: null,
          transactionTimeoutMs: 60_000,
          producerId: fresh.producerId,
          producerEpoch: 0,
        });
        expect(bumped).toMatchObject({ errorCode: 0, producerId: fresh.producerId, producerEpoch: 1 });
      }
    }
    expect(ids.size).toBe(versionsOf(ApiKey.InitProducerId).length);
    const [producerId] = ids;
    const batch = encodeBatch([{ value: Buffer.from('idempotent') }], {
      now: Date.now(),
      producerId: producerId!,
      producerEpoch: 0,
      baseSequence: 0,
    });
    const send = () =>
      client.send<kafka.ProduceResponseData>(ApiKey.Produce, 9, {
        acks: -1,
        timeoutMs: 5000,
        topicData: [{ name: topic, partitionData: [{ index: 0, records: batch }] }],
      });
    const first = (await send()).responses[0]!.partitionResponses[0]!;
    const retry = (await send()).responses[0]!.partitionResponses[0]!;
    expect(first).toMatchObject({ errorCode: 0, baseOffset: produced.length });
    expect(retry).toMatchObject({ errorCode: 0, baseOffset: produced.length });
    produced.push('idempotent');
  });

  it('DescribeCluster v0-v1', async () => {
    for (const v of versionsOf(ApiKey.DescribeCluster)) {
      const body = await client.send<kafka.DescribeClusterResponseData>(ApiKey.DescribeCluster, v, {});
      expect(body).toMatchObject({
        errorCode: 0,
        controllerId: 1,
        brokers: [{ brokerId: 1, host: '127.0.0.1', port: kafkaPort }],
        clusterAuthorizedOperations: AUTHORIZED_OPERATIONS_UNKNOWN,
      });
      expect(body.clusterId).not.toBe('');
      const asked = await client.send<kafka.DescribeClusterResponseData>(ApiKey.DescribeCluster, v, {
        includeClusterAuthorizedOperations: true,
      });
      expect(asked.clusterAuthorizedOperations).toBe(CLUSTER_OPERATIONS);
    }
  });

  it('Metadata v8+ asked for authorized operations: all of them, as a Kafka broker without an authorizer', async () => {
    for (const v of versionsOf(ApiKey.Metadata).filter((x) => x >= 8)) {
      const asked = await client.send<kafka.MetadataResponseData>(ApiKey.Metadata, v, {
        topics: [{ name: topic, topicId: ZERO_UUID }],
        allowAutoTopicCreation: false,
        includeClusterAuthorizedOperations: v <= 10,
        includeTopicAuthorizedOperations: true,
      });
      expect(asked.topics[0]!.topicAuthorizedOperations, `v${v}`).toBe(TOPIC_OPERATIONS);
      if (v <= 10) expect(asked.clusterAuthorizedOperations, `v${v}`).toBe(CLUSTER_OPERATIONS);
      const notAsked = await client.send<kafka.MetadataResponseData>(ApiKey.Metadata, v, {
        topics: [{ name: topic, topicId: ZERO_UUID }],
        allowAutoTopicCreation: false,
      });
      expect(notAsked.topics[0]!.topicAuthorizedOperations).toBe(AUTHORIZED_OPERATIONS_UNKNOWN);
    }
  });

  it('a partition this broker is about to lead is served once it leads, not refused in between', async () => {
    const name = `${topic}-fresh`;
    // timeoutMs 0: answered as soon as the controller has written the topic, before any leader serves it.
    const created = await client.send<kafka.CreateTopicsResponseData>(ApiKey.CreateTopics, 7, {
      topics: [{ name, numPartitions: 1, replicationFactor: 1 }],
      timeoutMs: 0,
    });
    expect(created.topics[0]!.errorCode).toBe(0);
    const offsets = await client.send<kafka.ListOffsetsResponseData>(ApiKey.ListOffsets, 7, {
      replicaId: -1,
      topics: [{ name, partitions: [{ partitionIndex: 0, timestamp: -1 }] }],
    });
    expect(offsets.topics[0]!.partitions[0]).toMatchObject({ errorCode: 0, offset: 0 });
    await client.send(ApiKey.DeleteTopics, 6, { topicNames: [], topics: [{ name }], timeoutMs: 10_000 });
  });

  it('CreateTopics v0-v7 and DeleteTopics v0-v6', async () => {
    for (const v of versionsOf(ApiKey.CreateTopics)) {
      const name = `${topic}-create-v${v}`;
      const created = await client.send<kafka.CreateTopicsResponseData>(ApiKey.CreateTopics, v, {
        topics: [
          {
            name,
            numPartitions: 2,
            replicationFactor: 1,
            assignments: [],
            configs: [{ name: 'retention.ms', value: '60000' }],
          },
        ],
        timeoutMs: 10_000,
      });
      expect(created.topics[0], `v${v}`).toMatchObject({ name, errorCode: 0 });
      if (v >= 5) {
        expect(created.topics[0]).toMatchObject({ numPartitions: 2, replicationFactor: 1 });
        // The topic's configs (KIP-525): Java's admin client reads them and fails the call when they are null.
        const configs = created.topics[0]!.configs!;
        expect(
          configs.find((c) => c.name === 'retention.ms'),
          `v${v}`,
        ).toEqual({
          name: 'retention.ms',
          value: '60000',
          readOnly: false,
          configSource: kafka.CONFIG_SOURCE_TOPIC,
          isSensitive: false,
        });
        expect(configs.find((c) => c.name === 'cleanup.policy')).toMatchObject({
          value: 'delete',
          configSource: kafka.CONFIG_SOURCE_DEFAULT,
        });
        const validated = await client.send<kafka.CreateTopicsResponseData>(ApiKey.CreateTopics, v, {
          topics: [{ name: `${name}-validated`, numPartitions: 3, replicationFactor: 1, configs: [] }],
          timeoutMs: 10_000,
          validateOnly: true,
        });
        expect(validated.topics[0]).toMatchObject({ errorCode: 0, numPartitions: 3, replicationFactor: 1 });
        expect(validated.topics[0]!.configs!.find((c) => c.name === 'retention.ms')).toMatchObject({
          configSource: kafka.CONFIG_SOURCE_DEFAULT,
        });
      }
      const again = await client.send<kafka.CreateTopicsResponseData>(ApiKey.CreateTopics, v, {
        topics: [{ name, numPartitions: 1, replicationFactor: 1 }],
        timeoutMs: 10_000,
      });
      expect(again.topics[0]!.errorCode).toBe(36);
    }
    const deleteVersions = versionsOf(ApiKey.DeleteTopics);
    for (const created of versionsOf(ApiKey.CreateTopics)) {
      const v = Math.min(created, deleteVersions.at(-1)!);
      const name = `${topic}-create-v${created}`;
      const body = await client.send<kafka.DeleteTopicsResponseData>(ApiKey.DeleteTopics, v, {
        topicNames: [name],
        topics: [{ name, topicId: ZERO_UUID }],
        timeoutMs: 10_000,
      });
      expect(body.responses[0], `v${v}`).toMatchObject({ name, errorCode: 0 });
    }
    await waitFor(async () => !(await samsa.admin().listTopics()).some((t) => t.includes('-create-v')), {
      description: 'the topics to be gone',
      timeoutMs: 30_000,
    });
  });

  it('DeleteTopics v6 by topic id: each result names its id (Java clients match them by id); unknown ids', async () => {
    const name = `${topic}-delete-by-id`;
    const created = await client.send<kafka.CreateTopicsResponseData>(ApiKey.CreateTopics, 7, {
      topics: [{ name, numPartitions: 1, replicationFactor: 1 }],
      timeoutMs: 10_000,
    });
    const { topicId } = created.topics[0]!;
    expect(topicId).not.toBe(ZERO_UUID);
    const unknownId = Buffer.alloc(16, 7).toString('base64url');
    const body = await client.send<kafka.DeleteTopicsResponseData>(ApiKey.DeleteTopics, 6, {
      topics: [
        { name: null, topicId },
        { name: null, topicId: unknownId },
      ],
      timeoutMs: 10_000,
    });
    expect(body.responses).toEqual([
      { name, topicId, errorCode: 0, errorMessage: null },
      { name: null, topicId: unknownId, errorCode: 100, errorMessage: expect.any(String) },
    ]);
  });
});
