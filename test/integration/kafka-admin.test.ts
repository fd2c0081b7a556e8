/**
 * Admin APIs of the Kafka listener on a real broker: CreatePartitions through KafkaJS's admin and
 * confluent-kafka-python's AdminClient (librdkafka), ElectLeaders, and DescribeTransactions and
 * ListTransactions of a KafkaJS transaction left open and DescribeProducers of its partitions (with Samsa's
 * codecs: neither client has them), ListOffsets MAX_TIMESTAMP.
 */
import { createRequire } from 'node:module';
import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ErrorCodes, encodeBatch } from '@samsa/protocol';
import { kafka } from '@samsa/protocol/kafka';
import { LocalCluster } from '../helpers/cluster.js';
import { KafkaTestClient } from '../helpers/kafka-client.js';
import { freePort } from '../helpers/ports.js';
import { waitFor } from '../helpers/wait.js';
import {
  available,
  CONFLUENT_KAFKA_ADMIN,
  confluentKafkaAvailable,
  KAFKA_PYTHON_ADMIN,
  kafkaPythonAvailable,
  run,
  SYSTEM_PYTHON,
} from '../kafka/tools.js';

const require = createRequire(import.meta.url);
const { Kafka, logLevel } = require('kafkajs') as typeof import('kafkajs');
const { ApiKey } = kafka;

let cluster: LocalCluster;
let bootstrap: string;
let raw: KafkaTestClient;
const unique = (name: string) => `${name}-${process.pid}-${Math.floor(Math.random() * 1e6)}`;
const client = () => new Kafka({ clientId: 'kafka-admin-test', brokers: [bootstrap], logLevel: logLevel.NOTHING });

beforeAll(async () => {
  const kafkaPort = await freePort();
  cluster = await LocalCluster.start({
    brokers: 1,
    brokerSettingsFor: (b) => ({
      listeners: `PLAINTEXT://${b.address},KAFKA://127.0.0.1:${kafkaPort}`,
      'transaction.state.log.num.partitions': '1',
    }),
  });
  bootstrap = `127.0.0.1:${kafkaPort}`;
  const socket = connect({ host: '127.0.0.1', port: kafkaPort });
  await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
  raw = new KafkaTestClient(socket);
}, 90_000);

afterAll(async () => {
  await cluster?.close();
});

async function partitionCount(topic: string): Promise<number> {
  const r = await raw.send<kafka.MetadataResponseData>(ApiKey.Metadata, 9, { topics: [{ name: topic }] });
  return r.topics[0]!.partitions.length;
}

describe('CreatePartitions', () => {
  it('KafkaJS admin.createPartitions grows a topic; a count that does not grow is INVALID_PARTITIONS', async () => {
    const topic = unique('grow');
    const admin = client().admin();
    await admin.connect();
    try {
      await admin.createTopics({ topics: [{ topic, numPartitions: 2 }], waitForLeaders: true });
      await admin.createPartitions({ topicPartitions: [{ topic, count: 5 }], timeout: 10_000 });
      expect(await partitionCount(topic)).toBe(5);
      await expect(admin.createPartitions({ topicPartitions: [{ topic, count: 3 }] })).rejects.toThrow();
    } finally {
      await admin.disconnect();
    }
    for (let v = 0; v <= 3; v++) {
      const r = await raw.send<kafka.CreatePartitionsResponseData>(ApiKey.CreatePartitions, v, {
        topics: [
          { name: topic, count: 6 + v, assignments: null },
          { name: unique('missing'), count: 2, assignments: null },
          { name: topic, count: 9, assignments: [{ brokerIds: [1] }] },
        ],
        timeoutMs: 10_000,
        validateOnly: false,
      });
      expect(
        r.results.map((x) => x.errorCode),
        `v${v}`,
      ).toEqual([0, ErrorCodes.UNKNOWN_TOPIC_OR_PARTITION.code, ErrorCodes.INVALID_REQUEST.code]);
    }
    expect(await partitionCount(topic)).toBe(9);
    const refused = await raw.send<kafka.CreatePartitionsResponseData>(ApiKey.CreatePartitions, 3, {
      topics: [{ name: topic, count: 9, assignments: null }],
      timeoutMs: 0,
      validateOnly: true,
    });
    expect(refused.results[0]!.errorCode).toBe(ErrorCodes.INVALID_PARTITIONS.code);
  }, 60_000);

  it.runIf(available('confluent-kafka-python (python3-confluent-kafka)', confluentKafkaAvailable()))(
    'confluent-kafka-python AdminClient.create_partitions (librdkafka)',
    async () => {
      const topic = unique('ck-grow');
      await raw.send(ApiKey.CreateTopics, 4, {
        topics: [{ name: topic, numPartitions: 1, replicationFactor: 1 }],
        timeoutMs: 10_000,
      });
      const r = await run(SYSTEM_PYTHON, [CONFLUENT_KAFKA_ADMIN, bootstrap, topic, '4'], { timeoutMs: 60_000 });
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toContain('grown');
      expect(r.stdout).toContain('refused INVALID_PARTITIONS');
      expect(r.stdout).toContain('partitions 4');
    },
    60_000,
  );
});

describe.runIf(available('kafka-python (python3-kafka)', kafkaPythonAvailable()))('kafka-python admin', () => {
  it('KafkaAdminClient.create_partitions grows a topic and is refused a count that does not grow it', async () => {
    const topic = unique('kp-grow');
    await raw.send(ApiKey.CreateTopics, 4, {
      topics: [{ name: topic, numPartitions: 1, replicationFactor: 1 }],
      timeoutMs: 10_000,
    });
    const r = await run(SYSTEM_PYTHON, [KAFKA_PYTHON_ADMIN, bootstrap, topic, '3'], { timeoutMs: 60_000 });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('grown');
    expect(r.stdout).toContain('refused InvalidPartitionsError');
    expect(await partitionCount(topic)).toBe(3);
  }, 60_000);
});

describe('AlterConfigs and IncrementalAlterConfigs', () => {
  const topicConfigs = async (topic: string): Promise<Record<string, string>> => {
    const r = await raw.send<kafka.DescribeConfigsResponseData>(ApiKey.DescribeConfigs, 4, {
      resources: [{ resourceType: 2, resourceName: topic, configurationKeys: null }],
    });
    const own = r.results[0]!.configs.filter((c) => c.configSource === kafka.CONFIG_SOURCE_TOPIC);
    return Object.fromEntries(own.map((c) => [c.name, c.value ?? '']));
  };

  it("KafkaJS admin.alterConfigs (AlterConfigs) replaces a topic's configs; DescribeConfigs shows them", async () => {
    const topic = unique('alter');
    const admin = client().admin();
    await admin.connect();
    try {
      await admin.createTopics({
        topics: [{ topic, numPartitions: 1, configEntries: [{ name: 'segment.bytes', value: '100000' }] }],
        waitForLeaders: true,
      });
      await admin.alterConfigs({
        validateOnly: false,
        resources: [{ type: 2, name: topic, configEntries: [{ name: 'retention.ms', value: '3600000' }] }],
      });
      await waitFor(async () => (await topicConfigs(topic))['retention.ms'] === '3600000', {
        description: 'retention.ms in DescribeConfigs',
      });
      // Full replacement: segment.bytes, not named, is back to the default.
      expect(await topicConfigs(topic)).toEqual({ 'retention.ms': '3600000' });
      await expect(
        admin.alterConfigs({
          validateOnly: false,
          resources: [{ type: 2, name: topic, configEntries: [{ name: 'retention.ms', value: 'soon' }] }],
        }),
      ).rejects.toMatchObject({ type: 'INVALID_CONFIG' });
    } finally {
      await admin.disconnect();
    }
  }, 60_000);

  it('IncrementalAlterConfigs v0-1: SET and DELETE; bad names, values, ops, resources, topics refused', async () => {
    const topic = unique('incr');
    await raw.send(ApiKey.CreateTopics, 4, {
      topics: [{ name: topic, numPartitions: 1, replicationFactor: 1 }],
      timeoutMs: 10_000,
    });
    for (let v = 0; v <= 1; v++) {
      const r = await raw.send<kafka.AlterConfigsResponseData>(ApiKey.IncrementalAlterConfigs, v, {
        resources: [
          {
            resourceType: 2,
            resourceName: topic,
            configs: [
              { name: 'retention.bytes', configOperation: 0, value: String(1000 + v) },
              { name: 'retention.ms', configOperation: 1, value: null },
            ],
          },
          {
            resourceType: 2,
            resourceName: topic,
            configs: [{ name: 'retention.msec', configOperation: 0, value: '1' }],
          },
          { resourceType: 2, resourceName: topic, configs: [{ name: 'retention.ms', configOperation: 0, value: 'x' }] },
          {
            resourceType: 2,
            resourceName: topic,
            configs: [{ name: 'cleanup.policy', configOperation: 2, value: 'x' }],
          },
          {
            resourceType: 2,
            resourceName: unique('none'),
            configs: [{ name: 'retention.ms', configOperation: 0, value: '1' }],
          },
          {
            resourceType: 4,
            resourceName: '1',
            configs: [{ name: 'log.retention.ms', configOperation: 0, value: '1' }],
          },
        ],
        validateOnly: false,
      });
      expect(
        r.responses.map((x) => x.errorCode),
        `v${v}`,
      ).toEqual([
        0,
        ErrorCodes.INVALID_CONFIG.code,
        ErrorCodes.INVALID_CONFIG.code,
        ErrorCodes.INVALID_REQUEST.code,
        ErrorCodes.UNKNOWN_TOPIC_OR_PARTITION.code,
        ErrorCodes.INVALID_REQUEST.code,
      ]);
      expect(r.responses[1]!.errorMessage).toMatch(/unknown topic setting 'retention.msec'/);
      await waitFor(async () => (await topicConfigs(topic))['retention.bytes'] === String(1000 + v), {
        description: `retention.bytes ${1000 + v}`,
      });
    }
    const checked = await raw.send<kafka.AlterConfigsResponseData>(ApiKey.IncrementalAlterConfigs, 1, {
      resources: [
        {
          resourceType: 2,
          resourceName: topic,
          configs: [{ name: 'retention.bytes', configOperation: 1, value: null }],
        },
      ],
      validateOnly: true,
    });
    expect(checked.responses[0]!.errorCode).toBe(0);
    expect(await topicConfigs(topic)).toEqual({ 'retention.bytes': '1001' });
  }, 60_000);
});

describe('ElectLeaders', () => {
  it('a preferred leader already leading is ELECTION_NOT_NEEDED, an unknown topic UNKNOWN_TOPIC', async () => {
    const topic = unique('elect');
    await raw.send(ApiKey.CreateTopics, 4, {
      topics: [{ name: topic, numPartitions: 2, replicationFactor: 1 }],
      timeoutMs: 10_000,
    });
    for (let v = 0; v <= 2; v++) {
      const r = await raw.send<kafka.ElectLeadersResponseData>(ApiKey.ElectLeaders, v, {
        electionType: 0,
        topicPartitions: [
          { topic, partitions: [0, 1] },
          { topic: unique('missing'), partitions: [] },
        ],
        timeoutMs: 1000,
      });
      expect(r.errorCode ?? 0, `v${v}`).toBe(0);
      const codes = r.replicaElectionResults.flatMap((t) => t.partitionResult.map((p) => p.errorCode));
      expect(codes.sort(), `v${v}`).toEqual(
        [ErrorCodes.ELECTION_NOT_NEEDED.code, ErrorCodes.ELECTION_NOT_NEEDED.code, 3].sort(),
      );
    }
    const unclean = await raw.send<kafka.ElectLeadersResponseData>(ApiKey.ElectLeaders, 2, {
      electionType: 1,
      topicPartitions: [{ topic, partitions: [0] }],
      timeoutMs: 1000,
    });
    expect(unclean.replicaElectionResults[0]!.partitionResult[0]!.errorCode).toBe(ErrorCodes.INVALID_REQUEST.code);
  }, 60_000);
});

describe('DescribeTransactions, ListTransactions and DescribeProducers', () => {
  it('show a KafkaJS transaction left open, with its partitions, then aborted', async () => {
    const topic = unique('txn-admin');
    const txid = unique('admin-tx');
    const admin = client().admin();
    await admin.connect();
    await admin.createTopics({ topics: [{ topic, numPartitions: 2 }], waitForLeaders: true });
    await admin.disconnect();
    const producer = client().producer({ transactionalId: txid, maxInFlightRequests: 1, idempotent: true });
    await producer.connect();
    const txn = await producer.transaction();
    try {
      await txn.send({ topic, messages: [{ partition: 1, value: 'open' }] });
      const listed = await raw.send<kafka.ListTransactionsResponseData>(ApiKey.ListTransactions, 1, {
        stateFilters: ['Ongoing', 'Sleeping'],
        producerIdFilters: [],
        durationFilter: -1,
      });
      expect(listed.unknownStateFilters).toEqual(['Sleeping']);
      const mine = listed.transactionStates.find((t) => t.transactionalId === txid);
      expect(mine).toMatchObject({ transactionState: 'Ongoing' });
      const byProducer = await raw.send<kafka.ListTransactionsResponseData>(ApiKey.ListTransactions, 0, {
        stateFilters: [],
        producerIdFilters: [mine!.producerId + 1],
      });
      expect(byProducer.transactionStates.some((t) => t.transactionalId === txid)).toBe(false);
      const described = await raw.send<kafka.DescribeTransactionsResponseData>(ApiKey.DescribeTransactions, 0, {
        transactionalIds: [txid, unique('nobody')],
      });
      expect(described.transactionStates[0]).toMatchObject({
        errorCode: 0,
        transactionalId: txid,
        transactionState: 'Ongoing',
        producerId: mine!.producerId,
        transactionTimeoutMs: 60_000,
        topics: [{ topic, partitions: [1] }],
      });
      expect(described.transactionStates[0]!.transactionStartTimeMs).toBeGreaterThan(0);
      expect(described.transactionStates[1]!.errorCode).toBe(ErrorCodes.TRANSACTIONAL_ID_NOT_FOUND.code);
      // The partition leader's producer state: the open transaction's first offset and last sequence.
      const producers = await raw.send<kafka.DescribeProducersResponseData>(ApiKey.DescribeProducers, 0, {
        topics: [{ name: topic, partitionIndexes: [0, 1, 7] }],
      });
      const [p0, p1, p7] = producers.topics[0]!.partitions;
      expect(p0).toMatchObject({ errorCode: 0, activeProducers: [] });
      expect(p1).toMatchObject({
        errorCode: 0,
        activeProducers: [{ producerId: mine!.producerId, lastSequence: 0, currentTxnStartOffset: 0 }],
      });
      expect(p1!.activeProducers[0]!.lastTimestamp).toBeGreaterThan(0);
      expect(p7!.errorCode).toBe(ErrorCodes.UNKNOWN_TOPIC_OR_PARTITION.code);
    } finally {
      await txn.abort();
      await producer.disconnect();
    }
    await waitFor(
      async () => {
        const r = await raw.send<kafka.DescribeTransactionsResponseData>(ApiKey.DescribeTransactions, 0, {
          transactionalIds: [txid],
        });
        return r.transactionStates[0]!.transactionState === 'CompleteAbort';
      },
      { description: 'the transaction aborted' },
    );
  }, 60_000);
});

describe('ListOffsets MAX_TIMESTAMP (KIP-734)', () => {
  it('answers the first record with the largest timestamp, across batches; -1 for an empty partition', async () => {
    const topic = unique('max-ts');
    await raw.send(ApiKey.CreateTopics, 4, {
      topics: [{ name: topic, numPartitions: 2, replicationFactor: 1 }],
      timeoutMs: 10_000,
    });
    const batch = (timestamps: number[]) =>
      encodeBatch(timestamps.map((timestamp, i) => ({ value: Buffer.from(`r${i}`), timestamp })));
    for (const timestamps of [[1_000, 5_000, 3_000], [2_000, 5_000], [4_000]]) {
      // Sent again while the new topic's leader takes up its role (NOT_LEADER_OR_FOLLOWER), as clients do.
      await waitFor(
        async () => {
          const r = await raw.send<kafka.ProduceResponseData>(ApiKey.Produce, 7, {
            transactionalId: null,
            acks: -1,
            timeoutMs: 10_000,
            topicData: [{ name: topic, partitionData: [{ index: 0, records: batch(timestamps) }] }],
          });
          return r.responses[0]!.partitionResponses[0]!.errorCode === 0;
        },
        { description: 'a produce to the new topic' },
      );
    }
    const r = await raw.send<kafka.ListOffsetsResponseData>(ApiKey.ListOffsets, 7, {
      replicaId: -1,
      topics: [
        {
          name: topic,
          partitions: [0, 1].map((partitionIndex) => ({ partitionIndex, timestamp: -3, maxNumOffsets: 1 })),
        },
      ],
    });
    const [full, empty] = r.topics[0]!.partitions;
    // Offsets 0-2 (1000, 5000, 3000), 3-4 (2000, 5000), 5 (4000): the first 5000 is offset 1.
    expect(full).toMatchObject({ errorCode: 0, offset: 1, timestamp: 5_000 });
    expect(empty).toMatchObject({ errorCode: 0, offset: -1, timestamp: -1 });
  }, 60_000);
});
