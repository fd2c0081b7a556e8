/**
 * Altering topic configs on real processes (IncrementalAlterConfigs through the gRPC API, the SDK and
 * `samsa configs`): brokers apply the change to their open logs without reopening them. A lower
 * retention.bytes deletes old segments at the next retention check; min.insync.replicas decides at
 * once whether an acks=all write is refused. Bad input is refused with Kafka's codes.
 */
import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Samsa } from '@samsa/client';
import { ErrorCodes } from '@samsa/protocol';
import { kafka } from '@samsa/protocol/kafka';
import { KafkaTestClient } from '../helpers/kafka-client.js';
import { freePort } from '../helpers/ports.js';
import { runSamsa } from '../helpers/cli.js';
import { LocalCluster } from '../helpers/cluster.js';
import { waitFor } from '../helpers/wait.js';

let cluster: LocalCluster;
let samsa: Samsa;
let bootstrap: string[];
const kafkaPorts = new Map<number, number>();

beforeAll(async () => {
  for (const id of [1, 2, 3]) kafkaPorts.set(id, await freePort());
  cluster = await LocalCluster.start({
    brokerSettingsFor: (b) => ({ listeners: `PLAINTEXT://${b.address},KAFKA://127.0.0.1:${kafkaPorts.get(b.id)}` }),
    brokers: 3,
    brokerSettings: {
      'log.retention.check.interval.ms': '300',
      'replica.lag.time.max.ms': '1500',
    },
  });
  samsa = new Samsa({
    brokers: cluster.bootstrap,
    metadataMaxAgeMs: 300,
    // A request to the paused broker fails fast and goes elsewhere.
    requestTimeoutMs: 3000,
    retry: { retries: 50, initialRetryTimeMs: 50, maxRetryTimeMs: 300 },
  });
  bootstrap = ['--bootstrap-server', cluster.bootstrap.join(',')];
}, 60_000);

afterAll(async () => {
  await samsa?.close();
  await cluster?.close();
});

async function partition0(topic: string) {
  const [described] = await samsa.admin().describeTopics([topic]);
  return described!.partitions[0]!;
}

describe('altering topic configs', () => {
  it('a lower retention.bytes set with `samsa configs --alter` deletes old segments of the open log', async () => {
    const topic = `retain-${process.pid}`;
    await samsa
      .admin()
      .createTopics([{ topic, numPartitions: 1, replicationFactor: 2, configs: { 'segment.bytes': '1024' } }]);
    await waitFor(async () => (await partition0(topic)).isr.length === 2, { description: 'a full ISR' });
    const producer = samsa.producer({ acks: 'all', lingerMs: 0 });
    for (let i = 0; i < 60; i++) await producer.send({ topic, value: `v${i}`.padEnd(100, '.') });
    await producer.close();
    const low = async (): Promise<number> => (await samsa.admin().fetchTopicOffsets(topic))[0]!.low;
    expect(await low()).toBe(0);

    const altered = await runSamsa([
      'configs',
      ...bootstrap,
      '--alter',
      '--entity-type',
      'topics',
      '--entity-name',
      topic,
      '--add-config',
      'retention.bytes=2048,cleanup.policy=[delete]',
    ]);
    expect(altered.code, altered.stderr).toBe(0);
    expect(altered.stdout).toContain(`Completed updating config for topic ${topic}.`);
    await waitFor(async () => (await low()) > 20, { timeoutMs: 20_000, description: 'old segments deleted' });
    expect((await samsa.admin().fetchTopicOffsets(topic))[0]!.high).toBe(60);

    const described = await runSamsa(['configs', ...bootstrap, '--describe', '--entity-name', topic]);
    expect(described.code, described.stderr).toBe(0);
    expect(described.stdout).toContain(`Dynamic configs for topic ${topic} are:`);
    expect(described.stdout).toContain('  retention.bytes=2048');
    expect(described.stdout).toContain('  segment.bytes=1024');

    const removed = await runSamsa([
      'configs',
      ...bootstrap,
      '--alter',
      '--entity-name',
      topic,
      '--delete-config',
      'retention.bytes,cleanup.policy',
    ]);
    expect(removed.code, removed.stderr).toBe(0);
    await waitFor(async () => !('retention.bytes' in (await samsa.admin().describeTopics([topic]))[0]!.configs), {
      description: 'retention.bytes back to the default',
    });
    expect((await samsa.admin().describeTopics([topic]))[0]!.configs).toEqual({ 'segment.bytes': '1024' });
  });

  it('min.insync.replicas changed at run time refuses or accepts acks=all writes at once', async () => {
    const topic = `minisr-${process.pid}`;
    const admin = samsa.admin();
    await admin.createTopics([{ topic, numPartitions: 1, replicationFactor: 3 }]);
    await waitFor(async () => (await partition0(topic)).isr.length === 3, { description: 'a full ISR' });
    await admin.incrementalAlterConfigs([{ topic, set: { 'min.insync.replicas': '3' } }]);
    const producer = samsa.producer({ acks: 'all', requestTimeoutMs: 3000 });
    await producer.send({ topic, value: 'full isr' });

    // Pause a follower that is not the controller (the ISR shrink goes through the controller).
    const { controllerId } = await admin.describeCluster();
    const { leader, replicas } = await partition0(topic);
    const follower = replicas.find((r) => r !== leader && r !== controllerId)!;
    cluster.pauseBroker(follower);
    try {
      await waitFor(async () => (await partition0(topic)).isr.length === 2, {
        timeoutMs: 15_000,
        description: `broker ${follower} to leave the ISR`,
      });
      // Other errors (a stale leader in the producer's metadata) are tried again; an accepted write fails.
      const outcome = await waitFor(
        async () => {
          const once = samsa.producer({ acks: 'all', retries: 0, requestTimeoutMs: 3000 });
          try {
            await once.send({ topic, value: 'refused' });
            return 'accepted';
          } catch (err) {
            if (/NotEnoughReplicas/.test(String(err))) return String(err);
            throw err;
          } finally {
            await once.close();
          }
        },
        { timeoutMs: 30_000, description: 'an acks=all write refused' },
      );
      expect(outcome).toMatch(/NotEnoughReplicas/);
      await admin.incrementalAlterConfigs([{ topic, delete: ['min.insync.replicas'] }]);
      // A producer whose batch failed for good may not go on with its sequence: a new one.
      const after = samsa.producer({ acks: 'all', retries: 0, requestTimeoutMs: 3000 });
      try {
        await waitFor(async () => (await after.send({ topic, value: 'accepted' })).offset >= 0, {
          timeoutMs: 30_000,
          description: 'an acks=all write accepted with min.insync.replicas back at 1',
        });
      } finally {
        await after.close();
      }
    } finally {
      cluster.resumeBroker(follower);
    }
    await producer.close();
  }, 120_000);

  it('refuses unknown names, bad values, unknown topics and a min.insync.replicas above the replicas', async () => {
    const topic = `bad-${process.pid}`;
    const admin = samsa.admin();
    await admin.createTopics([{ topic, numPartitions: 1, replicationFactor: 2, configs: { 'retention.ms': '5000' } }]);
    await expect(admin.incrementalAlterConfigs([{ topic, set: { 'retention.msec': '1' } }])).rejects.toThrow(
      /InvalidConfig.*unknown topic setting 'retention.msec'/,
    );
    await expect(admin.incrementalAlterConfigs([{ topic, set: { 'retention.ms': 'soon' } }])).rejects.toThrow(
      /InvalidConfig.*retention.ms must be an integer/,
    );
    await expect(admin.incrementalAlterConfigs([{ topic, set: { 'min.insync.replicas': '3' } }])).rejects.toThrow(
      /InvalidConfig.*larger than the replication factor 2/,
    );
    await expect(
      admin.incrementalAlterConfigs([{ topic: `${topic}-none`, set: { 'retention.ms': '1' } }]),
    ).rejects.toThrow(/UnknownTopicOrPartition/);
    // validateOnly checks without writing.
    await admin.incrementalAlterConfigs([{ topic, set: { 'retention.ms': '7000' } }], { validateOnly: true });
    const cli = await runSamsa(['configs', ...bootstrap, '--alter', '--entity-name', topic, '--add-config', 'x=1']);
    expect(cli.code).not.toBe(0);
    expect(cli.stderr.trim().split('\n')).toHaveLength(1);
    expect(cli.stderr).toMatch(/InvalidConfig/);
    expect((await admin.describeTopics([topic]))[0]!.configs).toEqual({ 'retention.ms': '5000' });
  });

  it('Kafka IncrementalAlterConfigs and AlterConfigs sent to another broker reach the controller', async () => {
    const topic = `forward-${process.pid}`;
    const admin = samsa.admin();
    await admin.createTopics([{ topic, numPartitions: 1, replicationFactor: 1, configs: { 'segment.bytes': '4096' } }]);
    const { controllerId } = await admin.describeCluster();
    const other = [1, 2, 3].find((id) => id !== controllerId)!;
    const socket = connect({ host: '127.0.0.1', port: kafkaPorts.get(other)! });
    await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
    const raw = new KafkaTestClient(socket);
    try {
      const incremental = await raw.send<kafka.AlterConfigsResponseData>(kafka.ApiKey.IncrementalAlterConfigs, 1, {
        resources: [
          {
            resourceType: 2,
            resourceName: topic,
            configs: [{ name: 'retention.ms', configOperation: 0, value: '60000' }],
          },
          {
            resourceType: 2,
            resourceName: topic,
            configs: [{ name: 'retention.ms', configOperation: 0, value: '-2' }],
          },
        ],
        validateOnly: false,
      });
      expect(incremental.responses.map((r) => r.errorCode)).toEqual([0, ErrorCodes.INVALID_CONFIG.code]);
      await waitFor(async () => (await admin.describeTopics([topic]))[0]!.configs['retention.ms'] === '60000', {
        description: 'retention.ms set through a non-controller',
      });
      expect((await admin.describeTopics([topic]))[0]!.configs['segment.bytes']).toBe('4096');
      const replaced = await raw.send<kafka.AlterConfigsResponseData>(kafka.ApiKey.AlterConfigs, 1, {
        resources: [{ resourceType: 2, resourceName: topic, configs: [{ name: 'retention.bytes', value: '9999' }] }],
        validateOnly: false,
      });
      expect(replaced.responses[0]!.errorCode).toBe(0);
      await waitFor(
        async () => JSON.stringify((await admin.describeTopics([topic]))[0]!.configs) === '{"retention.bytes":"9999"}',
        { description: 'configs replaced through a non-controller' },
      );
    } finally {
      socket.destroy();
    }
  });
});
