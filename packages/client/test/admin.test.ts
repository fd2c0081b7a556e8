import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import * as grpc from '@grpc/grpc-js';
import { ErrorCodes } from '@samsa/protocol';
import { ConnectionError, Samsa, SamsaClientError } from '@samsa/client';
import { TestCluster } from './support/test-cluster.js';

const fastRetry = { retries: 5, initialRetryTimeMs: 10, maxRetryTimeMs: 50 };

describe('admin', () => {
  let cluster: TestCluster;
  let samsa: Samsa;

  beforeEach(async () => {
    cluster = await TestCluster.start({ brokers: 3 });
    cluster.controllerId = 2;
    samsa = new Samsa({ brokers: [cluster.bootstrap[0] as string], retry: fastRetry });
  });

  afterEach(async () => {
    await samsa.close();
    await cluster.stop();
  });

  it('creates topics on the controller named by the metadata', async () => {
    const admin = samsa.admin();
    await admin.createTopics([
      { topic: 'orders', numPartitions: 3, replicationFactor: 2, configs: { 'retention.ms': '1000' } },
    ]);
    const creates = cluster.requestsOf<{
      topics: { name: string; numPartitions: number; replicationFactor: number; configs: Record<string, string> }[];
    }>('CreateTopics');
    expect(creates.map((r) => r.broker)).toEqual([2]);
    expect(creates[0]?.request.topics[0]).toMatchObject({
      name: 'orders',
      numPartitions: 3,
      replicationFactor: 2,
      configs: { 'retention.ms': '1000' },
    });
    expect(cluster.topics.get('orders')?.partitions).toHaveLength(3);
  });

  it('follows the controller when it moves (NotController, refresh, retry)', async () => {
    const admin = samsa.admin();
    await samsa.connect(); // the cached metadata now names broker 2 as the controller
    cluster.controllerId = 1;
    await admin.createTopics([{ topic: 'moved', numPartitions: 1 }]);
    expect(cluster.requestsOf('CreateTopics').map((r) => r.broker)).toEqual([2, 1]);
    expect(cluster.topics.has('moved')).toBe(true);
  });

  it('reports per-topic errors as typed errors and deletes topics', async () => {
    const admin = samsa.admin();
    cluster.createTopic('exists', 1);
    const err = await admin.createTopics([{ topic: 'exists', numPartitions: 1 }]).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SamsaClientError);
    expect(err).toMatchObject({
      code: ErrorCodes.TOPIC_ALREADY_EXISTS.code,
      errorName: 'TopicAlreadyExists',
      retriable: false,
      topic: 'exists',
    });
    await admin.deleteTopics(['exists']);
    expect(cluster.topics.has('exists')).toBe(false);
    await expect(admin.deleteTopics(['exists'])).rejects.toMatchObject({
      code: ErrorCodes.UNKNOWN_TOPIC_OR_PARTITION.code,
    });
  });

  it('elects preferred leaders on the controller, following it as it moves; one outcome per partition', async () => {
    cluster.createTopic('e', 3, { replicationFactor: 2 });
    cluster.moveLeader('e', 0, 1); // partition 0 prefers broker 0
    const admin = samsa.admin();
    await samsa.connect(); // the cached metadata names broker 2 as the controller
    cluster.controllerId = 1;
    const outcomes = await admin.electPreferredLeaders([
      { topic: 'e' },
      { topic: 'e', partitions: [7] },
      { topic: 'gone' },
    ]);
    // NotController for the whole request at broker 2, then the answer from broker 1.
    expect(cluster.requestsOf('ElectLeaders').map((r) => r.broker)).toEqual([2, 1]);
    expect(outcomes.map((o) => [o.topic, o.partition, o.error?.errorName])).toEqual([
      ['e', 0, undefined],
      ['e', 1, 'ElectionNotNeeded'],
      ['e', 2, 'ElectionNotNeeded'],
      ['e', 7, 'UnknownTopicOrPartition'],
      ['gone', -1, 'UnknownTopicOrPartition'],
    ]);
    expect(outcomes[3]!.error).toMatchObject({
      topic: 'e',
      partition: 7,
      message: 'UnknownTopicOrPartition: e-7 does not exist',
    });
    expect(cluster.partition('e', 0).leader).toBe(0);
    // No targets: every partition in the cluster.
    expect((await admin.electPreferredLeaders()).map((o) => o.error?.errorName)).toEqual([
      'ElectionNotNeeded',
      'ElectionNotNeeded',
      'ElectionNotNeeded',
    ]);
  });

  it('lists and describes topics and the cluster', async () => {
    cluster.createTopic('b', 2, { replicationFactor: 2, configs: { 'cleanup.policy': 'delete' } });
    cluster.createTopic('a', 1);
    cluster.moveLeader('b', 1, 2);
    const admin = samsa.admin();
    expect(await admin.listTopics()).toEqual(['a', 'b']);
    const [b] = await admin.describeTopics(['b']);
    const noMove = { offlineReplicas: [], addingReplicas: [], removingReplicas: [] };
    expect(b).toEqual({
      name: 'b',
      configs: { 'cleanup.policy': 'delete' },
      partitions: [
        { partition: 0, leader: 0, leaderEpoch: 0, replicas: [0, 1], isr: [0, 1], ...noMove, errorCode: 0 },
        { partition: 1, leader: 2, leaderEpoch: 1, replicas: [1, 2], isr: [1, 2], ...noMove, errorCode: 0 },
      ],
    });
    await expect(admin.describeTopics(['nope'])).rejects.toMatchObject({ errorName: 'UnknownTopicOrPartition' });
    const description = await admin.describeCluster();
    expect(description).toMatchObject({ clusterId: 'test-cluster', controllerId: 2, controllerEpoch: 1 });
    expect(description.brokers.map((x) => x.id)).toEqual([0, 1, 2]);
  });

  it('maps gRPC statuses to typed errors and retries the retriable ones', async () => {
    const admin = samsa.admin();
    cluster.inject({ method: 'Metadata', grpcStatus: grpc.status.UNAVAILABLE, times: 2 });
    expect(await admin.listTopics()).toEqual([]);
    cluster.inject({ method: 'DescribeCluster', grpcStatus: grpc.status.INVALID_ARGUMENT });
    await expect(admin.describeCluster()).rejects.toMatchObject({
      code: ErrorCodes.INVALID_REQUEST.code,
      retriable: false,
    });
    cluster.inject({ method: 'DescribeCluster', grpcStatus: grpc.status.INTERNAL });
    await expect(admin.describeCluster()).rejects.toMatchObject({ code: ErrorCodes.UNKNOWN_SERVER_ERROR.code });
  });

  it('fetches the low and high offsets of each partition', async () => {
    cluster.createTopic('t', 2);
    cluster.partition('t', 1).nextOffset = 42;
    cluster.partition('t', 1).logStartOffset = 7;
    expect(await samsa.admin().fetchTopicOffsets('t')).toEqual([
      { partition: 0, low: 0, high: 0 },
      { partition: 1, low: 7, high: 42 },
    ]);
  });

  it("asks ListOffsets at the isolation level given (Kafka's ListOffsetsOptions), by default uncommitted", async () => {
    cluster.createTopic('t', 1);
    const levels = () =>
      cluster.requestsOf<{ isolationLevel: number }>('ListOffsets').map((r) => r.request.isolationLevel);
    const admin = samsa.admin();
    await admin.fetchTopicOffsets('t');
    await admin.fetchTopicOffsetsByTimestamp('t', 0);
    expect(levels()).toEqual([0, 0, 0]);
    await admin.fetchTopicOffsets('t', { isolationLevel: 'read_committed' });
    await admin.fetchTopicOffsetsByTimestamp('t', 0, { isolationLevel: 'read_committed' });
    expect(levels().slice(3)).toEqual([1, 1, 1]);
  });

  it("never asks the brokers to create the topic it looks up offsets of (as Kafka's admin)", async () => {
    const quick = new Samsa({ brokers: [cluster.bootstrap[0] as string], retry: fastRetry, defaultApiTimeoutMs: 300 });
    try {
      const admin = quick.admin();
      await expect(admin.fetchTopicOffsets('typo')).rejects.toMatchObject({
        code: ErrorCodes.UNKNOWN_TOPIC_OR_PARTITION.code,
      });
      await expect(admin.fetchTopicOffsetsByTimestamp('typo', 0)).rejects.toMatchObject({
        code: ErrorCodes.UNKNOWN_TOPIC_OR_PARTITION.code,
      });
      const asked = cluster
        .requestsOf<{ topics: string[]; allowAutoTopicCreation: boolean }>('Metadata')
        .filter((r) => r.request.topics.includes('typo'));
      expect(asked.length).toBeGreaterThan(0);
      expect(asked.every((r) => !r.request.allowAutoTopicCreation)).toBe(true);
    } finally {
      await quick.close();
    }
  });
});

describe('bootstrap', () => {
  it('fails with one clear line when no broker is reachable', async () => {
    const samsa = new Samsa({
      brokers: ['127.0.0.1:1'],
      retry: { retries: 1, initialRetryTimeMs: 10, maxRetryTimeMs: 10 },
    });
    const err = await samsa
      .admin()
      .listTopics()
      .catch((e: unknown) => e);
    await samsa.close();
    expect(err).toBeInstanceOf(ConnectionError);
    expect((err as Error).message).toBe('cannot reach any broker at 127.0.0.1:1 (connect ECONNREFUSED)');
    expect(err).toMatchObject({ retriable: false, code: ErrorCodes.NETWORK_EXCEPTION.code });
    expect((err as Error).cause).toBeInstanceOf(SamsaClientError);
  });

  it('fails fast for producers and admin operations too', async () => {
    const samsa = new Samsa({
      brokers: ['127.0.0.1:1'],
      retry: { retries: 1, initialRetryTimeMs: 10, maxRetryTimeMs: 10 },
    });
    const started = Date.now();
    await expect(samsa.producer().send({ topic: 't', value: 'x' })).rejects.toBeInstanceOf(ConnectionError);
    await expect(samsa.admin().createTopics([{ topic: 't' }])).rejects.toBeInstanceOf(ConnectionError);
    expect(Date.now() - started).toBeLessThan(5000);
    await samsa.close();
  });

  it('tries the bootstrap brokers in turn', async () => {
    const cluster = await TestCluster.start();
    const samsa = new Samsa({ brokers: ['127.0.0.1:1', cluster.bootstrap[0] as string], retry: fastRetry });
    try {
      expect((await samsa.admin().describeCluster()).brokers).toHaveLength(1);
    } finally {
      await samsa.close();
      await cluster.stop();
    }
  });

  it('rejects malformed broker lists at once', () => {
    expect(() => new Samsa({ brokers: [] })).toThrow(/at least one/);
    expect(() => new Samsa({ brokers: ['localhost'] })).toThrow(/host:port/);
  });
});
