/**
 * Names checked at the edge (issue 16): a topic name no topic can have is InvalidTopic (Kafka's
 * error 17, not retriable) at once, from the CLI, the SDK and the broker; a consume of a topic that
 * does not exist says what happened and honours --timeout-ms; min.insync.replicas above the
 * replication factor is refused when the topic is created.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Samsa, SamsaClientError } from '@samsa/client';
import { encodeBatch } from '@samsa/protocol';
import { runSamsa } from '../helpers/cli.js';
import { LocalCluster } from '../helpers/cluster.js';
import { RawBroker } from './grpc.js';

const INVALID_TOPIC = 17;

describe('with auto.create.topics.enable=true (the default)', () => {
  let cluster: LocalCluster;
  let bootstrap: string;

  beforeAll(async () => {
    cluster = await LocalCluster.start({ brokers: 1 });
    bootstrap = cluster.bootstrap[0]!;
  }, 60_000);

  afterAll(async () => {
    await cluster?.close();
  });

  it('produce --topic a/b fails at once with InvalidTopic', async () => {
    const run = await runSamsa(['produce', '--topic', 'a/b', '--bootstrap-server', bootstrap], 'x\n');
    expect(run.code).toBe(1);
    expect(run.stderr).toBe(
      `samsa: InvalidTopic: Topic name "a/b" has characters other than ASCII letters, digits, '.', '_' and '-'\n`,
    );
  });

  it('consume --topic a/b fails at once with InvalidTopic, and so do the topics commands', async () => {
    const consumed = await runSamsa([
      'consume',
      '--topic',
      'a/b',
      '--timeout-ms',
      '3000',
      '--bootstrap-server',
      bootstrap,
    ]);
    expect(consumed.code).toBe(1);
    expect(consumed.stderr).toMatch(/^samsa: InvalidTopic: Topic name "a\/b" has characters[^\n]*\n$/);
    for (const args of [
      ['topics', 'describe', '--topic', '..'],
      ['topics', 'delete', '--topic', 'x'.repeat(250)],
    ]) {
      const run = await runSamsa([...args, '--bootstrap-server', bootstrap]);
      expect(run.code).toBe(1);
      expect(run.stderr).toMatch(/^samsa: InvalidTopic: Topic name (cannot be "\.\."|is 250 characters long)/);
    }
  }, 60_000); // three CLI processes one after another, each a Node start (10 s in a full run at load 15)

  it('consume of a missing topic says in one line that it was created, and ends at --timeout-ms', async () => {
    const topic = `mistyped-${process.pid}`;
    const run = await runSamsa(['consume', '--topic', topic, '--timeout-ms', '3000', '--bootstrap-server', bootstrap]);
    expect(run.code).toBe(0);
    expect(run.stdout).toBe('');
    expect(run.stderr).toBe(
      `samsa: topic '${topic}' did not exist; the brokers created it with 1 partition (auto.create.topics.enable)\n`,
    );
    const listed = await runSamsa(['topics', 'list', '--bootstrap-server', bootstrap]);
    expect(listed.stdout.split('\n')).toContain(topic);
  });

  it('the SDK refuses an invalid name at once with a non-retriable InvalidTopic', async () => {
    await using samsa = new Samsa({ brokers: [bootstrap] });
    const producer = samsa.producer();
    const sent = await producer.send({ topic: 'a/b', value: 'x' }).catch((err: unknown) => err);
    expect(sent).toBeInstanceOf(SamsaClientError);
    expect(sent).toMatchObject({ code: INVALID_TOPIC, errorName: 'InvalidTopic', retriable: false, topic: 'a/b' });
    const assigned = await samsa
      .consumer()
      .assign([{ topic: '' }])
      .catch((err: unknown) => err);
    expect(assigned).toMatchObject({ code: INVALID_TOPIC, retriable: false });
    const created = await samsa
      .admin()
      .createTopics([{ topic: 'no spaces' }])
      .catch((err: unknown) => err);
    expect(created).toMatchObject({ code: INVALID_TOPIC, retriable: false });
  });

  it('the broker answers InvalidTopic to produce, fetch, list offsets and metadata for an invalid name', async () => {
    const raw = new RawBroker(bootstrap);
    try {
      const batch = encodeBatch([{ key: null, value: Buffer.from('x'), headers: [] }], { now: Date.now() });
      expect((await raw.produce('a/b', 0, batch)).errorCode).toBe(INVALID_TOPIC);
      expect((await raw.fetch('a/b', 0, 0)).errorCode).toBe(INVALID_TOPIC);
      const listed = await raw.call<{ topics: { partitions: { errorCode: number }[] }[] }>('ListOffsets', {
        topics: [{ name: 'a/b', partitions: [{ partition: 0, timestamp: -2 }] }],
      });
      expect(listed.topics[0]!.partitions[0]!.errorCode).toBe(INVALID_TOPIC);
      const metadata = await raw.metadata({ topics: ['a/b'], allowAutoTopicCreation: true });
      expect(metadata.topics[0]!.errorCode).toBe(INVALID_TOPIC);
    } finally {
      raw.close();
    }
  });

  it('min.insync.replicas above the replication factor is refused at creation with InvalidConfig', async () => {
    const topic = `min-isr-${process.pid}`;
    const run = await runSamsa([
      'topics',
      'create',
      '--topic',
      topic,
      '--replication-factor',
      '1',
      '--config',
      'min.insync.replicas=2',
      '--bootstrap-server',
      bootstrap,
    ]);
    expect(run.code).toBe(1);
    expect(run.stderr).toBe(
      'samsa: InvalidConfig: min.insync.replicas 2 is larger than the replication factor 1: ' +
        `no acks=all write could be acknowledged (topic ${topic})\n`,
    );
    const listed = await runSamsa(['topics', 'list', '--bootstrap-server', bootstrap]);
    expect(listed.stdout.split('\n')).not.toContain(topic);
  });

  it('broker log lines name the broker once (the topics created above changed partition roles)', () => {
    const lines = cluster.brokerOutput(1).split('\n');
    expect(lines.some((l) => l.includes('"msg":"partition role changed"'))).toBe(true);
    expect(lines.filter((l) => (l.match(/"brokerId":/g) ?? []).length > 1)).toEqual([]);
  });

  it("the CLI's limits are the broker's", async () => {
    const run = await runSamsa(['topics', 'create', '--topic', 'many', '--partitions', '5001']);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/--partitions must be an integer from 1 to 5000/);
  });
});

describe('with auto.create.topics.enable=false', () => {
  let cluster: LocalCluster;
  let bootstrap: string;

  beforeAll(async () => {
    cluster = await LocalCluster.start({ brokers: 1, brokerSettings: { 'auto.create.topics.enable': 'false' } });
    bootstrap = cluster.bootstrap[0]!;
  }, 60_000);

  afterAll(async () => {
    await cluster?.close();
  });

  it('consume --timeout-ms 3000 of a topic that does not exist fails, saying so', async () => {
    const topic = `missing-${process.pid}`;
    const run = await runSamsa(['consume', '--topic', topic, '--timeout-ms', '3000', '--bootstrap-server', bootstrap]);
    expect(run.code).toBe(1);
    expect(run.stderr).toBe(
      `samsa: UnknownTopicOrPartition: unknown topic ${topic}: it does not exist, and the brokers do not create ` +
        'topics on use (auto.create.topics.enable=false)\n',
    );
  });
});
