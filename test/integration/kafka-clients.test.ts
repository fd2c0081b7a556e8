/**
 * Kafka's own clients against Samsa's Kafka listener, on real broker processes: kcat (librdkafka),
 * KafkaJS, sarama (the seeds' library, default and V1_0_0_0 protocol versions) and kafka-python.
 * Records cross between them and the Samsa SDK byte for byte.
 */
import { createRequire } from 'node:module';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Samsa, type ConsumedMessage } from '@samsa/client';
import { LocalCluster } from '../helpers/cluster.js';
import { freePort } from '../helpers/ports.js';
import { createTempDir, type TempDir } from '../helpers/temp.js';
import { waitForTopicOnEveryBroker } from '../helpers/kafka-client.js';
import {
  CONFLUENT_KAFKA_CHECK,
  KAFKA_PYTHON_CHECK,
  confluentKafkaAvailable,
  SYSTEM_PYTHON,
  available,
  buildSarama,
  kafkaPythonAvailable,
  run,
  saramaAvailable,
  toolPath,
} from '../kafka/tools.js';

const require = createRequire(import.meta.url);
const { Kafka, CompressionTypes, ConfigResourceTypes, logLevel } = require('kafkajs') as typeof import('kafkajs');

const BROKERS = 3;
const kafkaPorts = new Map<number, number>();
let cluster: LocalCluster;
let samsa: Samsa;
let temp: TempDir;
let bootstrap: string;
const kcat = toolPath('kcat');
const unique = (name: string) => `${name}-${process.pid}-${Math.floor(Math.random() * 1e6)}`;

beforeAll(async () => {
  for (let id = 1; id <= BROKERS; id++) kafkaPorts.set(id, await freePort());
  cluster = await LocalCluster.start({
    brokers: BROKERS,
    brokerSettingsFor: (b) => ({
      listeners: `PLAINTEXT://${b.address},KAFKA://127.0.0.1:${kafkaPorts.get(b.id)}`,
      'default.replication.factor': '3',
      'min.insync.replicas': '2',
    }),
  });
  bootstrap = `127.0.0.1:${kafkaPorts.get(1)}`;
  samsa = new Samsa({ brokers: cluster.bootstrap });
  await samsa.connect();
  temp = createTempDir('kafka-clients');
}, 90_000);

afterAll(async () => {
  await samsa?.close();
  await cluster?.close();
  temp?.remove();
});

/**
 * Creates a topic; clients use it once every broker's metadata lists it. CreateTopics answers when the
 * controller has written it, as Kafka's does; the other brokers learn it a moment later, and a client
 * asking one of them in between (kcat -L at broker 1 did, on a loaded machine) would be told no such
 * topic. Metadata names a new topic's leaders a moment before they have taken up the role, and some
 * clients (sarama's ListOffsets, KafkaJS's admin) do not retry the NotLeaderOrFollower they would get
 * in between: the Kafka listener waits briefly for the role instead (not waited for here).
 */
async function createTopic(topic: string, partitions = 1): Promise<void> {
  await samsa.admin().createTopics([{ topic, numPartitions: partitions, replicationFactor: 3 }]);
  await waitForTopicOnEveryBroker(kafkaPorts.values(), topic, partitions);
}

async function readWithSdk(topic: string, count: number): Promise<ConsumedMessage[]> {
  const consumer = samsa.consumer({ autoOffsetReset: 'earliest', maxWaitMs: 100 });
  await consumer.assign([{ topic }]);
  const out: ConsumedMessage[] = [];
  try {
    for await (const m of consumer.messages({ signal: AbortSignal.timeout(20_000) })) {
      out.push(m);
      if (out.length >= count) break;
    }
  } finally {
    await consumer.close();
  }
  return out;
}

describe.runIf(available('kcat', kcat !== undefined))('kcat (librdkafka)', () => {
  it('-L lists every broker at its Kafka listener', async () => {
    const topic = unique('kcat-l');
    await createTopic(topic, 2);
    const result = await run(kcat!, ['-b', bootstrap, '-L', '-t', topic, '-J']);
    expect(result.code, result.stderr).toBe(0);
    const metadata = JSON.parse(result.stdout) as {
      brokers: { id: number; name: string }[];
      topics: { topic: string; partitions: { partition: number; leader: number; replicas: unknown[] }[] }[];
    };
    expect(metadata.brokers.map((b) => b.name).sort()).toEqual(
      [...kafkaPorts.values()].map((p) => `127.0.0.1:${p}`).sort(),
    );
    expect(metadata.topics[0]!.topic).toBe(topic);
    expect(metadata.topics[0]!.partitions).toHaveLength(2);
    expect(metadata.topics[0]!.partitions[0]!.replicas).toHaveLength(3);
  });

  it('-P with keys and headers at acks=all; -C -e reads them back, and so does the SDK, byte for byte', async () => {
    const topic = unique('kcat-p');
    await createTopic(topic);
    const lines = ['alpha:one', 'beta:two ünïcode', 'gamma:three'];
    const produced = await run(
      kcat!,
      ['-b', bootstrap, '-P', '-t', topic, '-p', '0', '-K', ':', '-H', 'trace=abc', '-H', 'n=1', '-X', 'acks=all'],
      { input: `${lines.join('\n')}\n` },
    );
    expect(produced.code, produced.stderr).toBe(0);
    const consumed = await run(kcat!, [
      '-b',
      bootstrap,
      '-C',
      '-t',
      topic,
      '-e',
      '-o',
      'beginning',
      '-f',
      '%o|%k|%s|%h\n',
    ]);
    expect(consumed.code, consumed.stderr).toBe(0);
    expect(consumed.stdout.trim().split('\n')).toEqual(
      lines.map((l, i) => `${i}|${l.split(':')[0]}|${l.split(':')[1]}|trace=abc,n=1`),
    );
    const sdk = await readWithSdk(topic, lines.length);
    expect(sdk.map((m) => [m.offset, m.key?.toString(), m.value?.toString()])).toEqual(
      lines.map((l, i) => [i, l.split(':')[0], l.split(':')[1]]),
    );
    expect(sdk[0]!.headers.map((h) => [h.key, h.value?.toString()])).toEqual([
      ['trace', 'abc'],
      ['n', '1'],
    ]);
  });

  it('-P with enable.idempotence=true: producer id, sequences checked by the log, every record once', async () => {
    const topic = unique('kcat-idempotent');
    await createTopic(topic);
    const values = Array.from({ length: 1000 }, (_, i) => `idempotent-${i}`);
    const produced = await run(
      kcat!,
      [
        '-b',
        bootstrap,
        '-P',
        '-t',
        topic,
        '-p',
        '0',
        '-X',
        'enable.idempotence=true',
        '-X',
        'acks=all',
        '-X',
        'linger.ms=0',
      ],
      { input: `${values.join('\n')}\n` },
    );
    expect(produced.code, produced.stderr).toBe(0);
    const consumed = await run(kcat!, ['-b', bootstrap, '-C', '-t', topic, '-e', '-o', 'beginning', '-f', '%s\n']);
    expect(consumed.stdout.trim().split('\n')).toEqual(values);
  });

  it("reads the SDK's records byte for byte", async () => {
    const topic = unique('sdk-to-kcat');
    await createTopic(topic);
    const producer = samsa.producer({ acks: 'all', compression: 'lz4' });
    const values = Array.from({ length: 50 }, (_, i) => `value ${i} ${'x'.repeat(i)}`);
    await producer.sendBatch({
      topic,
      messages: values.map((value, i) => ({ key: `k${i}`, value, headers: { i: `${i}` } })),
    });
    await producer.close();
    const consumed = await run(kcat!, ['-b', bootstrap, '-C', '-t', topic, '-e', '-o', 'beginning', '-J']);
    expect(consumed.code, consumed.stderr).toBe(0);
    const records = consumed.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { offset: number; key: string; payload: string; headers: string[] });
    expect(records.map((r) => [r.offset, r.key, r.payload, r.headers])).toEqual(
      values.map((v, i) => [i, `k${i}`, v, ['i', `${i}`]]),
    );
  });
});

describe('KafkaJS', () => {
  function client(): InstanceType<typeof Kafka> {
    return new Kafka({ clientId: 'kafka-clients-test', brokers: [bootstrap], logLevel: logLevel.NOTHING });
  }
  it('admin creates a topic, lists topics, metadata and configs', async () => {
    const admin = client().admin();
    await admin.connect();
    try {
      const topic = unique('kafkajs-admin');
      expect(
        await admin.createTopics({ topics: [{ topic, numPartitions: 3, replicationFactor: 3 }], waitForLeaders: true }),
      ).toBe(true);
      expect(await admin.listTopics()).toContain(topic);
      const metadata = await admin.fetchTopicMetadata({ topics: [topic] });
      expect(metadata.topics[0]!.partitions.map((p) => p.replicas.length)).toEqual([3, 3, 3]);
      const cluster = await admin.describeCluster();
      expect(cluster.brokers.map((b) => b.port).sort()).toEqual([...kafkaPorts.values()].sort());
      const configs = await admin.describeConfigs({
        resources: [{ type: ConfigResourceTypes.TOPIC, name: topic, configNames: ['retention.ms'] }],
        includeSynonyms: false,
      });
      expect(configs.resources[0]!.configEntries.map((c) => [c.configName, c.configValue])).toEqual([
        ['retention.ms', String(7 * 24 * 3600 * 1000)],
      ]);
      const offsets = await admin.fetchTopicOffsets(topic);
      expect(offsets.map((o) => o.high)).toEqual(['0', '0', '0']);
    } finally {
      await admin.disconnect();
    }
  });

  it('producer with acks -1 and gzip; read back by a read_committed fetch and by the SDK', async () => {
    const topic = unique('kafkajs-produce');
    await createTopic(topic);
    const kafkajs = client();
    const producer = kafkajs.producer();
    await producer.connect();
    const messages = Array.from({ length: 20 }, (_, i) => ({ key: `k${i}`, value: `v${i}`, headers: { h: `${i}` } }));
    const result = await producer.send({ topic, acks: -1, compression: CompressionTypes.GZIP, messages });
    await producer.disconnect();
    expect(result[0]!.errorCode).toBe(0);
    // KafkaJS's consumer needs a group (FindCoordinator, JoinGroup: not served yet); its own cluster
    // and broker objects fetch without one, through the same Fetch request and decoder.
    const createCluster = Object.getOwnPropertySymbols(kafkajs).find(
      (s) => s.description === 'private:Kafka:createCluster',
    )!;
    const kcluster = (kafkajs as unknown as Record<symbol, (o: object) => KafkajsCluster>)[createCluster]!({
      isolationLevel: 1,
    });
    await kcluster.connect();
    try {
      await kcluster.addTargetTopic(topic);
      await kcluster.refreshMetadata();
      const leader = kcluster.findTopicPartitionMetadata(topic)[0]!.leader;
      const broker = await kcluster.findBroker({ nodeId: String(leader) });
      const fetched = await broker.fetch({
        replicaId: -1,
        isolationLevel: 1, // read_committed: KafkaJS consumers' default
        maxWaitTime: 100,
        topics: [{ topic, partitions: [{ partition: 0, fetchOffset: '0', maxBytes: 1 << 20 }] }],
      });
      const partition = fetched.responses[0]!.partitions[0]!;
      expect(partition.lastStableOffset).toBe('20');
      expect(
        partition.messages.map((m) => [m.offset, m.key!.toString(), m.value!.toString(), m.headers!.h!.toString()]),
      ).toEqual(messages.map((m, i) => [`${i}`, m.key, m.value, `${i}`]));
    } finally {
      await kcluster.disconnect();
    }
    const sdk = await readWithSdk(topic, messages.length);
    expect(sdk.map((m) => m.value?.toString())).toEqual(messages.map((m) => m.value));
  });
});

describe('KafkaJS idempotent producer', () => {
  it('gets a producer id and writes every record once', async () => {
    const topic = unique('kafkajs-idempotent');
    await createTopic(topic);
    const kafkajs = new Kafka({ clientId: 'kafka-clients-test', brokers: [bootstrap], logLevel: logLevel.NOTHING });
    const producer = kafkajs.producer({ idempotent: true, maxInFlightRequests: 1 });
    await producer.connect();
    for (let i = 0; i < 5; i++)
      await producer.send({
        topic,
        acks: -1,
        messages: Array.from({ length: 10 }, (_, j) => ({ value: `${i}-${j}` })),
      });
    await producer.disconnect();
    const sdk = await readWithSdk(topic, 50);
    expect(sdk.map((m) => m.value?.toString())).toEqual(
      Array.from({ length: 50 }, (_, k) => `${Math.floor(k / 10)}-${k % 10}`),
    );
  });
});

interface KafkajsCluster {
  connect(): Promise<void>;
  disconnect(): Promise<void>;
  addTargetTopic(topic: string): Promise<void>;
  refreshMetadata(): Promise<void>;
  findTopicPartitionMetadata(topic: string): { leader: number }[];
  findBroker(o: { nodeId: string }): Promise<{
    fetch(request: object): Promise<{
      responses: {
        partitions: {
          lastStableOffset: string;
          messages: { offset: string; key: Buffer | null; value: Buffer | null; headers?: Record<string, Buffer> }[];
        }[];
      }[];
    }>;
  }>;
}

describe.runIf(available('sarama (golang-go, golang-github-shopify-sarama-dev)', saramaAvailable()))('sarama', () => {
  let binary: string;
  beforeAll(async () => {
    binary = await buildSarama(temp.path);
  }, 300_000);

  it.each([
    ['default', 'oldest'],
    ['v1', 'oldest'],
    ['default', 'newest'],
    ['v1', 'newest'],
  ])(
    'SyncProducer with WaitForAll and a partition consumer (%s protocol version, from %s)',
    async (version, from) => {
      const topic = unique(`sarama-${version}-${from}`);
      await createTopic(topic);
      const result = await run(binary, [bootstrap, topic, version, from], { timeoutMs: 90_000 });
      expect(result.code, result.stderr).toBe(0);
      const lines = result.stdout.trim().split('\n');
      expect(lines.filter((l) => l.startsWith('sent'))).toEqual([0, 1, 2, 3, 4].map((i) => `sent 0 ${i}`));
      expect(lines.filter((l) => l.startsWith('got'))).toEqual(
        [0, 1, 2, 3, 4].map((i) => `got ${i} key-${i} value-${i}`),
      );
      const sdk = await readWithSdk(topic, 5);
      expect(sdk.map((m) => [m.key?.toString(), m.value?.toString()])).toEqual(
        [0, 1, 2, 3, 4].map((i) => [`key-${i}`, `value-${i}`]),
      );
    },
    120_000,
  );
});

describe.runIf(available('kafka-python (python3-kafka)', kafkaPythonAvailable()))('kafka-python', () => {
  it('produces with acks=all and gzip, and consumes from the beginning', async () => {
    const topic = unique('kafka-python');
    await createTopic(topic);
    const result = await run(SYSTEM_PYTHON, [KAFKA_PYTHON_CHECK, bootstrap, topic], { timeoutMs: 90_000 });
    expect(result.code, result.stderr).toBe(0);
    expect(
      result.stdout
        .trim()
        .split('\n')
        .filter((l) => l.startsWith('got')),
    ).toEqual([0, 1, 2, 3, 4].map((i) => `got ${i} key-${i} value-${i}`));
  }, 120_000);
});

describe.runIf(available('confluent-kafka-python (python3-confluent-kafka)', confluentKafkaAvailable()))(
  'confluent-kafka-python (librdkafka)',
  () => {
    it('produces with acks=all and lz4, and consumes an assigned partition from the beginning', async () => {
      const topic = unique('confluent-kafka');
      await createTopic(topic);
      const result = await run(SYSTEM_PYTHON, [CONFLUENT_KAFKA_CHECK, bootstrap, topic], { timeoutMs: 90_000 });
      expect(result.code, result.stderr).toBe(0);
      expect(result.stdout.trim().split('\n')).toEqual([0, 1, 2, 3, 4].map((i) => `got ${i} key-${i} value-${i}`));
      const sdk = await readWithSdk(topic, 5);
      expect(sdk.map((m) => m.value?.toString())).toEqual([0, 1, 2, 3, 4].map((i) => `value-${i}`));
    }, 120_000);
  },
);
