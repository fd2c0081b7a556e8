/**
 * DeleteRecords end to end on real processes (3 brokers, replication factor 3): through the SDK's
 * admin, the `samsa delete-records` command, and Kafka clients on the Kafka listener (KafkaJS
 * admin.deleteTopicRecords; kafka-python's wire layer, since neither installed Python client has a
 * delete_records). The answer waits for the in-sync followers to delete too, so the records stay
 * deleted when the leader is SIGKILLed and another replica is elected. A follower down meanwhile,
 * behind the new start, restarts its log there and copies the batch holding it from its base.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dumpSegment } from '@samsa/broker';
import { ErrorCodes, Samsa } from '@samsa/client';
import { runSamsa } from '../helpers/cli.js';
import { LocalCluster } from '../helpers/cluster.js';
import { freePort } from '../helpers/ports.js';
import { createTempDir } from '../helpers/temp.js';
import { waitFor } from '../helpers/wait.js';
import { KAFKA_PYTHON_DELETE_RECORDS, available, kafkaPythonAvailable, run, SYSTEM_PYTHON } from '../kafka/tools.js';

const require = createRequire(import.meta.url);
const { Kafka, logLevel } = require('kafkajs') as typeof import('kafkajs');

const kafkaPorts = new Map<number, number>();
let cluster: LocalCluster;
let samsa: Samsa;
let grpcBootstrap: string;
const unique = (name: string) => `${name}-${process.pid}-${Math.floor(Math.random() * 1e6)}`;

beforeAll(async () => {
  for (const id of [1, 2, 3]) kafkaPorts.set(id, await freePort());
  cluster = await LocalCluster.start({
    brokers: 3,
    brokerSettings: { 'zookeeper.session.timeout.ms': '4000', 'log.retention.check.interval.ms': '300' },
    brokerSettingsFor: (b) => ({ listeners: `PLAINTEXT://${b.address},KAFKA://127.0.0.1:${kafkaPorts.get(b.id)}` }),
  });
  grpcBootstrap = cluster.bootstrap.join(',');
  samsa = new Samsa({
    brokers: cluster.bootstrap,
    requestTimeoutMs: 5000,
    retry: { retries: 100, initialRetryTimeMs: 50, maxRetryTimeMs: 300 },
  });
}, 90_000);

afterAll(async () => {
  await samsa?.close();
  await cluster?.close();
});

/** A topic of `partitions` with replication factor 3 and a full ISR, holding `count` records per partition. */
async function topicWithRecords(prefix: string, count: number, configs: Record<string, string> = {}, partitions = 1) {
  const topic = unique(prefix);
  await samsa
    .admin()
    .createTopics([
      { topic, numPartitions: partitions, replicationFactor: 3, configs: { 'min.insync.replicas': '2', ...configs } },
    ]);
  await waitFor(
    async () => (await samsa.admin().describeTopics([topic]))[0]!.partitions.every((p) => p.isr.length === 3),
    {
      description: 'a full ISR',
    },
  );
  const producer = samsa.producer({ acks: 'all', lingerMs: 0 });
  // Ten batches per partition: a deletion offset can fall inside a batch.
  for (let partition = 0; partition < partitions; partition++)
    for (let b = 0; b < 10; b++)
      await producer.sendBatch({
        topic,
        messages: Array.from({ length: count / 10 }, (_, i) => ({ partition, value: `v${b * (count / 10) + i}` })),
      });
  await producer.close();
  return topic;
}

async function offsets(topic: string) {
  return samsa.admin().fetchTopicOffsets(topic);
}

describe('DeleteRecords (gRPC, the SDK admin)', () => {
  it('answers with the low watermark once the in-sync replicas deleted; -1 means the high watermark', async () => {
    const topic = await topicWithRecords('del', 100);
    const [first] = await samsa.admin().deleteRecords([{ topic, partition: 0, offset: 45 }]);
    expect(first).toEqual({ topic, partition: 0, lowWatermark: 45 });
    expect(await offsets(topic)).toEqual([{ partition: 0, low: 45, high: 100 }]);
    // Below the current start: nothing more to delete, answered with the low watermark.
    expect((await samsa.admin().deleteRecords([{ topic, partition: 0, offset: 10 }]))[0]!.lowWatermark).toBe(45);
    expect((await samsa.admin().deleteRecords([{ topic, partition: 0, offset: -1 }]))[0]!.lowWatermark).toBe(100);
    expect(await offsets(topic)).toEqual([{ partition: 0, low: 100, high: 100 }]);
  });

  it('refuses past the high watermark, unknown partitions and compacted topics, one error per partition', async () => {
    const topic = await topicWithRecords('del-refused', 20);
    const compacted = await topicWithRecords('del-compact', 20, { 'cleanup.policy': 'compact' });
    const results = await samsa.admin().deleteRecords([
      { topic, partition: 0, offset: 21 },
      { topic, partition: 7, offset: 1 },
      { topic: unique('missing'), partition: 0, offset: 1 },
      { topic: compacted, partition: 0, offset: 5 },
    ]);
    expect(results.map((r) => [r.lowWatermark, r.error?.code])).toEqual([
      [-1, ErrorCodes.OFFSET_OUT_OF_RANGE.code],
      [-1, ErrorCodes.UNKNOWN_TOPIC_OR_PARTITION.code],
      [-1, ErrorCodes.UNKNOWN_TOPIC_OR_PARTITION.code],
      [-1, ErrorCodes.POLICY_VIOLATION.code],
    ]);
    expect(results[0]!.error!.message).toMatch(/the high watermark is 20/);
    expect(await offsets(topic)).toEqual([{ partition: 0, low: 0, high: 20 }]);
  });

  it('waits for an in-sync follower that has not deleted yet: RequestTimedOut while it is paused', async () => {
    const topic = await topicWithRecords('del-wait', 40);
    const { leader, replicas } = (await samsa.admin().describeTopics([topic]))[0]!.partitions[0]!;
    const follower = replicas.find((r) => r !== leader)!;
    // Paused for less than replica.lag.time.max.ms (30 s): it stays in the ISR, and cannot adopt the start.
    cluster.pauseBroker(follower);
    try {
      const [late] = await samsa.admin().deleteRecords([{ topic, partition: 0, offset: 30 }], { timeoutMs: 1000 });
      expect(late!.error?.code).toBe(ErrorCodes.REQUEST_TIMED_OUT.code);
    } finally {
      cluster.resumeBroker(follower);
    }
    await waitFor(async () => (await samsa.admin().describeTopics([topic]))[0]!.partitions[0]!.isr.length === 3, {
      description: `broker ${follower} back in the ISR`,
    });
    // The leader moved its start already; once the follower fetches again the low watermark catches up.
    expect((await samsa.admin().deleteRecords([{ topic, partition: 0, offset: 30 }]))[0]!.lowWatermark).toBe(30);
  });
});

describe('samsa delete-records', () => {
  // Each samsa run is a Node process that spends about 0.4 s of CPU loading its modules before it does
  // anything (0.37 s for one refused at its arguments). Seven runs and a topic in one test took 3.5 s of
  // CPU: at load 13-17 on two cores that outlived the 30 s test timeout, as it does with this file's
  // processes held to 0.14 of a core. Split in two, each test needs half of that.
  it("takes Kafka's --offset-json-file and a --topic/--partition/--offset form", async () => {
    const topic = await topicWithRecords('del-cli', 50, {}, 2);
    const dir = createTempDir('delete-records');
    const file = join(dir.path, 'offsets.json');
    const plan = {
      partitions: [
        { topic, partition: 0, offset: 20 },
        { topic, partition: 1, offset: -1 },
      ],
      version: 1,
    };
    await writeFile(file, JSON.stringify(plan));
    const fromFile = await runSamsa([
      'delete-records',
      '--bootstrap-server',
      grpcBootstrap,
      '--offset-json-file',
      file,
    ]);
    expect(fromFile.stderr).toBe('');
    expect(fromFile.stdout).toBe(
      'Executing records delete operation\nRecords delete operation completed:\n' +
        `partition: ${topic}-0\tlow_watermark: 20\npartition: ${topic}-1\tlow_watermark: 50\n`,
    );
    expect(fromFile.code).toBe(0);
    const simple = await runSamsa([
      'delete-records',
      '--bootstrap-server',
      grpcBootstrap,
      '--topic',
      topic,
      '--partition',
      '0',
      '--offset',
      '30',
    ]);
    expect(simple.stdout).toContain(`partition: ${topic}-0\tlow_watermark: 30`);
    expect(simple.code).toBe(0);
    expect(await offsets(topic)).toEqual([
      { partition: 0, low: 30, high: 50 },
      { partition: 1, low: 50, high: 50 },
    ]);
    dir.remove();
  });

  // A file listing a partition twice is refused as Kafka's tool refuses it: packages/cli/test.
  it('errors are one line: exit 1 for a partition refused or unknown, 2 for a usage error', async () => {
    const topic = await topicWithRecords('del-cli-errors', 10);
    const tooFar = await runSamsa([
      'delete-records',
      '--bootstrap-server',
      grpcBootstrap,
      '--topic',
      topic,
      '--partition',
      '0',
      '--offset',
      '99',
    ]);
    expect(tooFar.stdout).toContain(`partition: ${topic}-0\terror: OffsetOutOfRange: cannot delete`);
    expect(tooFar.stderr.trim().split('\n')).toEqual([
      expect.stringMatching(/deleting records failed for 1 partition$/),
    ]);
    expect(tooFar.code).toBe(1);
    const missing = await runSamsa(['delete-records', '--bootstrap-server', grpcBootstrap, '--topic', unique('no')]);
    expect(missing.stderr.trim()).toMatch(/^samsa: name the records: /);
    expect(missing.code).toBe(2);
    const unknown = await runSamsa([
      'delete-records',
      '--bootstrap-server',
      grpcBootstrap,
      '--topic',
      unique('no'),
      '--offset',
      '1',
    ]);
    expect(unknown.stderr.trim().split('\n')).toEqual([expect.stringMatching(/UnknownTopicOrPartition/)]);
    expect(unknown.code).toBe(1);
    expect(await offsets(topic)).toEqual([{ partition: 0, low: 0, high: 10 }]);
  });
});

describe('DeleteRecords on the Kafka listener', () => {
  const kafkaBootstrap = () => [...kafkaPorts.values()].map((p) => `127.0.0.1:${p}`);

  it('KafkaJS admin.deleteTopicRecords deletes below the offsets (and -1: everything)', async () => {
    const topic = await topicWithRecords('del-kafkajs', 30, {}, 2);
    const admin = new Kafka({
      clientId: 'delete-records',
      brokers: kafkaBootstrap(),
      logLevel: logLevel.NOTHING,
    }).admin();
    await admin.connect();
    try {
      // KafkaJS finds the leaders in the metadata it holds, without loading it for this call.
      await admin.fetchTopicMetadata({ topics: [topic] });
      await admin.deleteTopicRecords({
        topic,
        partitions: [
          { partition: 0, offset: '12' },
          { partition: 1, offset: '-1' },
        ],
      });
      const byPartition = (await admin.fetchTopicOffsets(topic)).sort((a, b) => a.partition - b.partition);
      expect(byPartition.map((p) => [p.partition, p.low, p.high])).toEqual([
        [0, '12', '30'],
        [1, '30', '30'],
      ]);
    } finally {
      await admin.disconnect();
    }
  });

  it.runIf(available('kafka-python (python3-kafka)', kafkaPythonAvailable()))(
    "kafka-python's wire layer: DeleteRecords v0 and v1 answer the low watermark, past the HW OFFSET_OUT_OF_RANGE",
    async () => {
      const topic = await topicWithRecords('del-python', 20);
      const bootstrap = kafkaBootstrap()[0]!;
      for (const [version, offset, expected] of [
        [0, '5', 'low_watermark 5'],
        [1, '8', 'low_watermark 8'],
        // Every broker is asked: the leader refuses the offset, the others are not the leader.
        [1, '21', 'error NotLeaderForPartitionError OffsetOutOfRangeError'],
      ] as const) {
        const r = await run(SYSTEM_PYTHON, [
          KAFKA_PYTHON_DELETE_RECORDS,
          bootstrap,
          topic,
          '0',
          offset,
          String(version),
        ]);
        expect(r.stdout.trim(), r.stderr).toBe(expected);
      }
    },
  );
});

describe('retention', () => {
  it("moves each replica's leader-epoch cache start with its log start (truncateFromStart)", async () => {
    const topic = unique('del-retention');
    await samsa.admin().createTopics([
      {
        topic,
        numPartitions: 1,
        replicationFactor: 3,
        configs: { 'segment.bytes': '1024', 'retention.bytes': '2048' },
      },
    ]);
    const producer = samsa.producer({ acks: 'all', lingerMs: 0 });
    for (let i = 0; i < 60; i++) await producer.send({ topic, value: `v${i}`.padEnd(100, '.') });
    await producer.close();
    await waitFor(async () => (await offsets(topic))[0]!.low > 20, { timeoutMs: 20_000, description: 'retention' });
    // Epoch 0 covers the whole log: its entry must start where the log now starts, not at 0.
    const firstStart = async (id: number): Promise<number> => {
      const file = join(cluster.broker(id).dataDir, `${topic}-0`, 'leader-epoch-checkpoint');
      const [, , first] = (await readFile(file, 'utf8')).trim().split('\n');
      return Number(first?.split(' ')[1]);
    };
    await waitFor(async () => (await Promise.all([1, 2, 3].map(firstStart))).every((start) => start > 20), {
      timeoutMs: 20_000,
      description: 'every replica epoch cache starting past the deleted segments',
    });
  });
});

describe('deleted records stay deleted across a leader failure', () => {
  it('the new leader starts at or past the deleted offset; a consumer from the start sees none of them', async () => {
    const topic = await topicWithRecords('del-failover', 100);
    const [deleted] = await samsa.admin().deleteRecords([{ topic, partition: 0, offset: 65 }]);
    expect(deleted!.lowWatermark).toBe(65);
    const before = (await samsa.admin().describeTopics([topic]))[0]!.partitions[0]!;
    await cluster.killBroker(before.leader);
    try {
      await waitFor(
        async () => {
          const p = (await samsa.admin().describeTopics([topic]))[0]!.partitions[0]!;
          return p.leader > 0 && p.leader !== before.leader;
        },
        { timeoutMs: 30_000, description: 'a new leader' },
      );
      expect((await offsets(topic))[0]!.low).toBeGreaterThanOrEqual(65);
      const consumer = samsa.consumer({ autoOffsetReset: 'earliest', maxWaitMs: 100 });
      await consumer.assign([{ topic, partition: 0 }]);
      const seen: Array<[number, string]> = [];
      for await (const m of consumer.messages({ signal: AbortSignal.timeout(20_000) })) {
        seen.push([m.offset, m.value!.toString()]);
        if (m.offset >= 99) break;
      }
      await consumer.close();
      expect(seen).toEqual(Array.from({ length: 35 }, (_, i) => [65 + i, `v${65 + i}`]));
    } finally {
      await cluster.startBroker(before.leader);
    }
  });
});

describe('a follower reset to a log start inside a batch', () => {
  /** The batches of a replica's log on disk that hold offsets at or past `from`. */
  async function batchesOnDisk(id: number, topic: string, from: number) {
    const out: Array<[number, number, number, number]> = [];
    for await (const entry of dumpSegment(join(cluster.broker(id).dataDir, `${topic}-0`))) {
      if (entry.kind === 'error') throw new Error(`${entry.file}: ${entry.reason}`);
      if (entry.lastOffset >= from)
        out.push([entry.baseOffset, entry.lastOffset, entry.crc, entry.partitionLeaderEpoch]);
    }
    return out;
  }

  it('copies the batch holding the start, rejoins the ISR, holds what the leader holds from the start', async () => {
    const topic = await topicWithRecords('del-reset', 100); // ten batches of ten records
    const { leader, replicas } = (await samsa.admin().describeTopics([topic]))[0]!.partitions[0]!;
    const follower = replicas.find((r) => r !== leader)!;
    await cluster.killBroker(follower);
    try {
      await waitFor(async () => (await samsa.admin().describeTopics([topic]))[0]!.partitions[0]!.isr.length === 2, {
        timeoutMs: 30_000,
        description: `broker ${follower} out of the ISR`,
      });
      const producer = samsa.producer({ acks: 'all', lingerMs: 0 });
      for (let b = 10; b < 20; b++)
        await producer.sendBatch({
          topic,
          messages: Array.from({ length: 10 }, (_, i) => ({ partition: 0, value: `v${b * 10 + i}` })),
        });
      await producer.close();
      // Past the stopped follower's log end (100), in the middle of the batch 150-159.
      expect((await samsa.admin().deleteRecords([{ topic, partition: 0, offset: 155 }]))[0]!.lowWatermark).toBe(155);
    } finally {
      await cluster.startBroker(follower);
    }
    // It fetches at 100, is told to restart at 155, and is answered from the batch's base, 150.
    await waitFor(async () => (await samsa.admin().describeTopics([topic]))[0]!.partitions[0]!.isr.length === 3, {
      timeoutMs: 30_000,
      description: `broker ${follower} back in the ISR (its output: ${cluster.brokerOutput(follower)})`,
    });
    const leaderNow = (await samsa.admin().describeTopics([topic]))[0]!.partitions[0]!.leader;
    const expected = await batchesOnDisk(leaderNow, topic, 155);
    expect(expected.map(([base]) => base)).toEqual([150, 160, 170, 180, 190]);
    await waitFor(async () => (await batchesOnDisk(follower, topic, 0)).length === expected.length, {
      description: 'the follower holding every batch',
    });
    // Nothing below the batch holding the start, and the start kept where the leader has it.
    expect(await batchesOnDisk(follower, topic, 0)).toEqual(expected);
    expect(
      (await readFile(join(cluster.broker(follower).dataDir, `${topic}-0`, 'log-start-offset'), 'utf8')).trim(),
    ).toBe('155');
    expect((await offsets(topic))[0]).toEqual({ partition: 0, low: 155, high: 200 });
  }, 90_000);
});
