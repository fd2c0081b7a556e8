/**
 * Offsets committed in transactions on real processes (3 brokers): a consume-transform-produce loop
 * with the SDK's tx.sendOffsets(consumer); offsets pending while the transaction is open (OffsetFetch
 * with require_stable answers UnstableOffsetCommit, without it the old offset), dropped by an abort,
 * made committed by a commit, also across a SIGKILL of the group coordinator's broker (the new
 * coordinator replays the transactional batch and its marker); stale members refused.
 */
import { connect } from 'node:net';
import * as grpc from '@grpc/grpc-js';
import { ErrorCodes, loadGroupProto, type v1 } from '@samsa/protocol';
import { kafka } from '@samsa/protocol/kafka';
import { type ConsumedMessage, type Consumer, Samsa, type TransactionalProducer } from '@samsa/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LocalCluster } from '../helpers/cluster.js';
import { KafkaTestClient } from '../helpers/kafka-client.js';
import { freePort } from '../helpers/ports.js';
import { waitFor } from '../helpers/wait.js';

const IN = 'txo-in';
const OUT = 'txo-out';
const RETRIABLE = new Set([
  ErrorCodes.NOT_COORDINATOR.code,
  ErrorCodes.COORDINATOR_NOT_AVAILABLE.code,
  ErrorCodes.COORDINATOR_LOAD_IN_PROGRESS.code,
]);

let cluster: LocalCluster;
/** Each broker's Kafka listener port (kept across restarts). */
const kafkaPorts = new Map<number, number>();
let samsa: Samsa;
type Unary = (
  request: unknown,
  options: grpc.CallOptions,
  callback: (err: grpc.ServiceError | null, response: unknown) => void,
) => grpc.ClientUnaryCall;
const groupClients = new Map<string, grpc.Client & Record<string, Unary>>();

function groupsAt(address: string) {
  let client = groupClients.get(address);
  if (!client) {
    client = new (loadGroupProto().GroupCoordinator)(address, grpc.credentials.createInsecure()) as never;
    groupClients.set(address, client!);
  }
  return client!;
}

function unary<T>(address: string, method: string, request: unknown): Promise<T> {
  return new Promise((resolve, reject) =>
    groupsAt(address)[method]!(request, { deadline: Date.now() + 10_000 }, (err, res) =>
      err ? reject(err) : resolve(res as T),
    ),
  );
}

/** The group's coordinator, asked of a live broker; then `call` there until it answers for real. */
async function atGroupCoordinator<T extends { errorCode: number }>(
  groupId: string,
  call: (address: string) => Promise<T>,
): Promise<T> {
  return waitFor(
    async () => {
      for (const broker of cluster.brokers.filter((b) => b.isRunning())) {
        try {
          const found = await unary<v1.FindCoordinatorResponse__Output>(broker.address, 'FindCoordinator', {
            keyType: 0,
            keys: [groupId],
          });
          const c = found.coordinators[0];
          if (c?.errorCode !== 0) continue;
          const answer = await call(`${c.host}:${c.port}`);
          if (!RETRIABLE.has(answer.errorCode)) return answer;
        } catch {
          // a broker that is down or restarting: ask another
        }
      }
      return undefined;
    },
    { timeoutMs: 30_000, description: `an answer from the coordinator of ${groupId}` },
  );
}

async function committed(groupId: string, requireStable: boolean): Promise<{ offset: number; errorCode: number }[]> {
  const answer = await atGroupCoordinator(groupId, (address) =>
    unary<v1.OffsetFetchResponse__Output>(address, 'OffsetFetch', {
      groupId,
      memberId: '',
      memberEpoch: -1,
      topics: [{ name: IN, partitions: [0, 1] }],
      requireStable,
    }),
  );
  return answer.topics[0]!.partitions.map((p) => ({ offset: Number(p.committedOffset), errorCode: p.errorCode }));
}

async function coordinatorBrokerOf(groupId: string): Promise<number> {
  return waitFor(
    async () => {
      for (const broker of cluster.brokers.filter((b) => b.isRunning())) {
        const found = await unary<v1.FindCoordinatorResponse__Output>(broker.address, 'FindCoordinator', {
          keyType: 0,
          keys: [groupId],
        }).catch(() => undefined);
        const c = found?.coordinators[0];
        if (c?.errorCode === 0) return c.nodeId;
      }
      return undefined;
    },
    { timeoutMs: 30_000, description: `the coordinator of ${groupId}` },
  );
}

/** OffsetFetch v7 on the Kafka listener of the group's coordinator: each partition's error code. */
async function kafkaFetchCodes(groupId: string, requireStable: boolean): Promise<number[]> {
  const port = kafkaPorts.get(await coordinatorBrokerOf(groupId))!;
  const socket = connect({ host: '127.0.0.1', port });
  await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
  try {
    const answer = await new KafkaTestClient(socket).send<kafka.OffsetFetchResponseData>(kafka.ApiKey.OffsetFetch, 7, {
      groupId,
      topics: [{ name: IN, partitionIndexes: [0, 1] }],
      requireStable,
    });
    return answer.topics[0]!.partitions.map((p) => p.errorCode);
  } finally {
    socket.destroy();
  }
}

function member(groupId: string): Consumer {
  const consumer = samsa.consumer({
    groupId,
    autoOffsetReset: 'earliest',
    enableAutoCommit: false,
    isolationLevel: 'read_committed',
    maxWaitMs: 100,
  });
  consumer.subscribe([IN]);
  return consumer;
}

/** The next `n` messages of the iterator. */
async function take(iterator: AsyncIterator<ConsumedMessage>, n: number): Promise<ConsumedMessage[]> {
  const out: ConsumedMessage[] = [];
  while (out.length < n) {
    const next = await iterator.next();
    if (next.done) throw new Error('iteration ended');
    out.push(next.value);
  }
  return out;
}

/** Every value of `topic` a read_committed reader sees. */
async function readCommitted(topic: string, expected: number): Promise<string[]> {
  const reader = samsa.consumer({ isolationLevel: 'read_committed', autoOffsetReset: 'earliest', maxWaitMs: 100 });
  await reader.assign([{ topic }]);
  const values: string[] = [];
  const iterator = reader.messages();
  const deadline = Date.now() + 30_000;
  while (values.length < expected && Date.now() < deadline) {
    const next = await iterator.next();
    if (next.done) break;
    values.push(next.value.value!.toString());
  }
  await reader.close();
  return values;
}

beforeAll(async () => {
  for (const id of [1, 2, 3]) kafkaPorts.set(id, await freePort());
  cluster = await LocalCluster.start({
    brokers: 3,
    brokerSettingsFor: (b) => ({ listeners: `PLAINTEXT://${b.address},KAFKA://127.0.0.1:${kafkaPorts.get(b.id)}` }),
    brokerSettings: {
      'transaction.state.log.num.partitions': '4',
      'offsets.topic.num.partitions': '4',
      'zookeeper.session.timeout.ms': '4000',
    },
  });
  samsa = new Samsa({
    brokers: cluster.bootstrap,
    retry: { retries: 50, initialRetryTimeMs: 50, maxRetryTimeMs: 300 },
  });
  await samsa.admin().createTopics([
    { topic: IN, numPartitions: 2, replicationFactor: 3 },
    { topic: OUT, numPartitions: 2, replicationFactor: 3 },
  ]);
  const producer = samsa.producer();
  for (let i = 0; i < 40; i++) await producer.send({ topic: IN, partition: i % 2, value: `in-${i}` });
  await producer.close();
}, 90_000);

afterAll(async () => {
  for (const c of groupClients.values()) c.close();
  await samsa?.close();
  await cluster?.close();
});

describe('offsets in transactions (sendOffsets)', () => {
  it('pending while open, dropped by an abort, committed with the output; a stale member is refused', async () => {
    const groupId = 'txo-loop';
    const consumer = member(groupId);
    const producer: TransactionalProducer = samsa.producer({ transactionalId: 'txo-loop' });
    const iterator = consumer.messages();

    // An aborted transaction: its output never shows, its offsets never become the group's.
    const first = await take(iterator, 4);
    await producer.begin();
    for (const m of first) await producer.send({ topic: OUT, partition: m.partition, value: `out-${m.value}` });
    await producer.sendOffsets(consumer);
    expect((await committed(groupId, true)).map((p) => p.errorCode)).toContain(ErrorCodes.UNSTABLE_OFFSET_COMMIT.code);
    expect((await committed(groupId, false)).map((p) => p.offset)).toEqual([-1, -1]);
    // Kafka clients see the same (OffsetFetch v7+, KIP-447).
    expect(await kafkaFetchCodes(groupId, true)).toContain(ErrorCodes.UNSTABLE_OFFSET_COMMIT.code);
    expect(await kafkaFetchCodes(groupId, false)).toEqual([0, 0]);
    await producer.abort();
    await waitFor(async () => ((await committed(groupId, true)).every((p) => p.errorCode === 0) ? true : undefined), {
      timeoutMs: 20_000,
      description: 'the aborted offsets to be dropped',
    });
    expect((await committed(groupId, true)).map((p) => p.offset)).toEqual([-1, -1]);

    // The same records again (the application rewinds after an abort), now committed with their offsets.
    for (const p of [0, 1]) consumer.seek({ topic: IN, partition: p, offset: 0 });
    const again = await take(iterator, 40);
    await producer.transaction(async (tx) => {
      await Promise.all(again.map((m) => tx.send({ topic: OUT, partition: m.partition, value: `out-${m.value}` })));
      await tx.sendOffsets({
        consumer,
        offsets: [0, 1].map((partition) => ({ topic: IN, partition, offset: 20 })),
      });
    });
    expect(await committed(groupId, true)).toEqual([
      { offset: 20, errorCode: 0 },
      { offset: 20, errorCode: 0 },
    ]);
    const out = await readCommitted(OUT, 40);
    expect(out.sort()).toEqual(Array.from({ length: 40 }, (_, i) => `out-in-${i}`).sort());

    // A member epoch that is not the member's: IllegalGeneration, nothing pending afterwards.
    const { memberId, memberEpoch } = consumer.groupMetadata();
    await producer.begin();
    await expect(
      producer.sendOffsets({
        consumer: {
          offsetsForTransaction: () => ({
            group: { groupId, memberId, memberEpoch: memberEpoch + 5, groupInstanceId: undefined, state: 'stable' },
            offsets: [],
          }),
        },
        offsets: [{ topic: IN, partition: 0, offset: 30 }],
      }),
    ).rejects.toMatchObject({ code: ErrorCodes.ILLEGAL_GENERATION.code });
    await producer.abort();
    expect(await committed(groupId, true)).toEqual([
      { offset: 20, errorCode: 0 },
      { offset: 20, errorCode: 0 },
    ]);
    await iterator.return?.();
    await consumer.close();
    await producer.close();
  }, 120_000);

  it('pending offsets survive a SIGKILL of the group coordinator and are committed with the transaction', async () => {
    const groupId = 'txo-failover';
    const producer = samsa.producer({ transactionalId: 'txo-failover' });
    // Offsets of a group without members (the consumer here only supplies them): a memberless commit.
    const source = {
      offsetsForTransaction: () => ({
        group: { groupId, memberId: '', memberEpoch: -1, groupInstanceId: undefined, state: 'unsubscribed' },
        offsets: [],
      }),
    };
    await producer.transaction(async (tx) => {
      await tx.send({ topic: OUT, partition: 0, value: 'failover-1' });
      await tx.sendOffsets({ consumer: source, offsets: [{ topic: IN, partition: 0, offset: 5 }] });
    });
    await producer.begin();
    await producer.send({ topic: OUT, partition: 0, value: 'failover-2' });
    await producer.sendOffsets({ consumer: source, offsets: [{ topic: IN, partition: 0, offset: 9 }] });
    expect((await committed(groupId, true))[0]!.errorCode).toBe(ErrorCodes.UNSTABLE_OFFSET_COMMIT.code);

    const victim = await coordinatorBrokerOf(groupId);
    await cluster.killBroker(victim);
    // The new coordinator replayed the committed transaction (batch + marker) and the open one (pending).
    const during = await committed(groupId, false);
    expect(during[0]!.offset).toBe(5);
    expect((await committed(groupId, true))[0]!.errorCode).toBe(ErrorCodes.UNSTABLE_OFFSET_COMMIT.code);
    await cluster.startBroker(victim);
    await producer.commit();
    await waitFor(
      async () => {
        const [p0] = await committed(groupId, true);
        return p0!.errorCode === 0 && p0!.offset === 9 ? true : undefined;
      },
      { timeoutMs: 30_000, description: 'the offsets of the committed transaction' },
    );
    await producer.close();
  }, 120_000);
});
