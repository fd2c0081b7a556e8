/**
 * Transactions through the Kafka listener, on real broker processes: KafkaJS's transactional producer
 * committing and aborting across partitions with read_committed and read_uncommitted KafkaJS consumers,
 * confluent-kafka-python (librdkafka) doing the same, and the errors Kafka's clients are told on bad input
 * (raw requests with Samsa's codecs). The coordinator is the one the gRPC API uses (TRANSACTIONS.md).
 * At the end, on the same cluster, partition reassignments (they need several brokers).
 */
import { createRequire } from 'node:module';
import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeBatches, ErrorCodes, encodeBatch } from '@samsa/protocol';
import { kafka } from '@samsa/protocol/kafka';
import { LocalCluster } from '../helpers/cluster.js';
import { KafkaTestClient, waitForTopicOnEveryBroker } from '../helpers/kafka-client.js';
import { freePort } from '../helpers/ports.js';
import { waitFor } from '../helpers/wait.js';
import { RawTxn } from './txn-grpc.js';
import {
  available,
  CONFLUENT_KAFKA_CTP,
  CONFLUENT_KAFKA_TXN,
  confluentKafkaAvailable,
  run,
  SYSTEM_PYTHON,
} from '../kafka/tools.js';

const require = createRequire(import.meta.url);
const { Kafka, logLevel } = require('kafkajs') as typeof import('kafkajs');
const { ApiKey } = kafka;

const BROKERS = 3;
const kafkaPorts = new Map<number, number>();
let cluster: LocalCluster;
let bootstrap: string;
const unique = (name: string) => `${name}-${process.pid}-${Math.floor(Math.random() * 1e6)}`;
const client = () =>
  new Kafka({
    clientId: 'kafka-txn-test',
    brokers: [bootstrap],
    logLevel: process.env.KJS_LOG ? logLevel.ERROR : logLevel.NOTHING,
  });

beforeAll(async () => {
  for (let id = 1; id <= BROKERS; id++) kafkaPorts.set(id, await freePort());
  cluster = await LocalCluster.start({
    brokers: BROKERS,
    brokerSettingsFor: (b) => ({
      listeners: `PLAINTEXT://${b.address},KAFKA://127.0.0.1:${kafkaPorts.get(b.id)}`,
      'default.replication.factor': '3',
      'min.insync.replicas': '2',
      'offsets.topic.num.partitions': '3',
      'transaction.state.log.num.partitions': '3',
      'group.initial.rebalance.delay.ms': '0',
    }),
  });
  bootstrap = `127.0.0.1:${kafkaPorts.get(1)}`;
}, 90_000);

afterAll(async () => {
  await cluster?.close();
});

/**
 * Creates `topic` and waits until every broker's metadata names its leaders: KafkaJS waits for them in
 * the controller's only. The raw requests below go to other brokers: a transaction coordinator that does
 * not know the topic yet answers AddPartitionsToTxn UNKNOWN_TOPIC_OR_PARTITION (as Kafka's does; Kafka
 * clients retry it), and a broker's Metadata names no leader to write to.
 */
async function createTopic(topic: string, partitions: number, replicationFactor = 3): Promise<void> {
  const admin = client().admin();
  await admin.connect();
  try {
    await admin.createTopics({
      topics: [{ topic, numPartitions: partitions, replicationFactor }],
      waitForLeaders: true,
    });
  } finally {
    await admin.disconnect();
  }
  await waitForTopicOnEveryBroker(kafkaPorts.values(), topic, partitions);
}

/** Reads `topic` from the beginning in a KafkaJS group until `count` records arrived; their values. */
async function readWithKafkaJs(topic: string, count: number, readUncommitted: boolean): Promise<string[]> {
  const consumer = client().consumer({ groupId: unique('txn-reader'), readUncommitted, maxWaitTimeInMs: 200 });
  const values: string[] = [];
  await consumer.connect();
  try {
    await consumer.subscribe({ topic, fromBeginning: true });
    await consumer.run({
      eachMessage: async ({ message }) => {
        values.push(message.value!.toString());
      },
    });
    await waitFor(() => values.length >= count, {
      timeoutMs: 60_000,
      description: `${count} records of ${topic} (${readUncommitted ? 'read_uncommitted' : 'read_committed'})`,
    });
  } finally {
    await consumer.disconnect();
  }
  return values;
}

const sorted = (values: string[]) => [...values].sort();
const batchOf = (name: string, n: number) =>
  Array.from({ length: n }, (_, i) => ({ partition: i % 3, value: `${name}-${i}` }));

describe('KafkaJS transactional producer', () => {
  it('commits and aborts across partitions; read_committed sees only the committed records', async () => {
    const topic = unique('kjs-txn');
    await createTopic(topic, 3);
    const producer = client().producer({ transactionalId: unique('kjs-tx'), maxInFlightRequests: 1, idempotent: true });
    await producer.connect();
    try {
      // Several transactions of one producer: its epoch stays the same from one to the next.
      for (const [name, commit] of [
        ['c1', true],
        ['a1', false],
        ['c2', true],
        ['a2', false],
        ['c3', true],
      ] as const) {
        const txn = await producer.transaction();
        await txn.send({ topic, messages: batchOf(name, 6) });
        if (commit) await txn.commit();
        else await txn.abort();
      }
    } finally {
      await producer.disconnect();
    }
    const committed = ['c1', 'c2', 'c3'].flatMap((name) => batchOf(name, 6).map((m) => m.value));
    // c3 is last on every partition: once its records arrived, an aborted one would have come before.
    expect(sorted(await readWithKafkaJs(topic, committed.length, false))).toEqual(sorted(committed));
    const everything = await readWithKafkaJs(topic, 30, true);
    expect(everything.filter((v) => v.startsWith('a'))).toHaveLength(12);
  }, 180_000);
});

describe('KafkaJS read_committed consumer starting at the end while a transaction is open', () => {
  it("starts at the last stable offset and reads that transaction's records once it commits", async () => {
    const topic = unique('kjs-lso-start');
    await createTopic(topic, 1);
    const producer = client().producer({
      transactionalId: unique('kjs-lso'),
      maxInFlightRequests: 1,
      idempotent: true,
    });
    await producer.connect();
    const consumer = client().consumer({ groupId: unique('kjs-lso-g'), maxWaitTimeInMs: 200 });
    try {
      const txn = await producer.transaction();
      await txn.send({ topic, messages: [{ value: 'open-0' }, { value: 'open-1' }] });
      // No committed offset, fromBeginning false: the group starts at ListOffsets' latest for read_committed.
      let fetched = false;
      consumer.on(consumer.events.FETCH, () => {
        fetched = true;
      });
      const values: string[] = [];
      await consumer.connect();
      await consumer.subscribe({ topic, fromBeginning: false });
      await consumer.run({
        eachMessage: async ({ message }) => {
          values.push(message.value!.toString());
        },
      });
      await waitFor(() => fetched, { timeoutMs: 60_000, description: 'the consumer to have its position and fetch' });
      await txn.commit();
      await waitFor(() => values.length >= 2, {
        timeoutMs: 30_000,
        description: "the open transaction's records once committed (the high watermark would start past them)",
      });
      expect(values).toEqual(['open-0', 'open-1']);
    } finally {
      await consumer.disconnect();
      await producer.disconnect();
    }
  }, 120_000);
});

describe('KafkaJS zombie fencing', () => {
  it('a new producer with the same transactional id fences the old one and aborts what it left open', async () => {
    const topic = unique('kjs-zombie');
    const txid = unique('kjs-zombie-tx');
    await createTopic(topic, 2);
    const zombie = client().producer({ transactionalId: txid, maxInFlightRequests: 1, idempotent: true });
    await zombie.connect();
    const open = await zombie.transaction();
    await open.send({ topic, messages: [0, 1].map((partition) => ({ partition, value: `zombie-${partition}` })) });
    // The new incarnation's InitProducerId bumps the epoch and aborts the zombie's open transaction.
    const successor = client().producer({ transactionalId: txid, maxInFlightRequests: 1, idempotent: true });
    await successor.connect();
    const txn = await successor.transaction();
    await txn.send({ topic, messages: [0, 1].map((partition) => ({ partition, value: `successor-${partition}` })) });
    await txn.commit();
    await successor.disconnect();
    // KafkaJS asks EndTxn v1: PRODUCER_FENCED reaches it as INVALID_PRODUCER_EPOCH (KIP-588).
    await expect(open.commit()).rejects.toThrow(/epoch|fenced/i);
    await zombie.disconnect();
    const read = await readWithKafkaJs(topic, 2, false);
    expect(sorted(read)).toEqual(['successor-0', 'successor-1']);
    const everything = await readWithKafkaJs(topic, 4, true);
    expect(sorted(everything)).toEqual(['successor-0', 'successor-1', 'zombie-0', 'zombie-1']);
  }, 120_000);
});

describe('KafkaJS consume-transform-produce with sendOffsets', () => {
  it('each input record is in the output once, and the group has committed offsets past every one', async () => {
    const input = unique('ctp-in');
    const output = unique('ctp-out');
    const group = unique('ctp-g');
    await createTopic(input, 3);
    await createTopic(output, 3);
    const records = 30;
    const plain = client().producer();
    await plain.connect();
    await plain.send({
      topic: input,
      acks: -1,
      messages: Array.from({ length: records }, (_, i) => ({ partition: i % 3, value: `in-${i}` })),
    });
    await plain.disconnect();

    const producer = client().producer({ transactionalId: unique('ctp-tx'), maxInFlightRequests: 1, idempotent: true });
    const consumer = client().consumer({ groupId: group, maxWaitTimeInMs: 200 });
    await producer.connect();
    await consumer.connect();
    let processed = 0;
    try {
      await consumer.subscribe({ topic: input, fromBeginning: true });
      await consumer.run({
        autoCommit: false,
        eachBatch: async ({ batch }) => {
          if (batch.messages.length === 0) return;
          const txn = await producer.transaction();
          try {
            await txn.send({
              topic: output,
              messages: batch.messages.map((m) => ({ partition: batch.partition, value: `out-${m.value}` })),
            });
            const next = Number(batch.lastOffset()) + 1;
            await txn.sendOffsets({
              consumerGroupId: group,
              topics: [{ topic: input, partitions: [{ partition: batch.partition, offset: String(next) }] }],
            });
            await txn.commit();
          } catch (err) {
            await txn.abort();
            throw err;
          }
          processed += batch.messages.length;
        },
      });
      await waitFor(() => processed >= records, { timeoutMs: 60_000, description: `${records} records processed` });
    } finally {
      await consumer.disconnect();
    }

    const admin = client().admin();
    await admin.connect();
    try {
      const offsets = async () =>
        (await admin.fetchOffsets({ groupId: group, topics: [input] }))[0]!.partitions
          .sort((a, b) => a.partition - b.partition)
          .map((p) => Number(p.offset));
      // Committed offsets become the group's when the commit's marker reaches its partition, just after EndTxn.
      await waitFor(async () => (await offsets()).join() === '10,10,10', {
        description: 'the transactional offsets committed',
      });
      // A transaction that rewinds the group's offsets and writes more output, aborted: neither is seen.
      const rewind = await producer.transaction();
      await rewind.send({ topic: output, messages: [0, 1, 2].map((partition) => ({ partition, value: 'aborted' })) });
      await rewind.sendOffsets({
        consumerGroupId: group,
        topics: [{ topic: input, partitions: [0, 1, 2].map((partition) => ({ partition, offset: '0' })) }],
      });
      await rewind.abort();
      // The next one's marker follows the aborted one's on the group's partition: once its offset shows,
      // the abort was applied too.
      const next = await producer.transaction();
      await next.sendOffsets({
        consumerGroupId: group,
        topics: [{ topic: input, partitions: [{ partition: 0, offset: '9' }] }],
      });
      await next.commit();
      await waitFor(async () => (await offsets())[0] === 9, { description: "the next transaction's offset" });
      expect(await offsets()).toEqual([9, 10, 10]);
    } finally {
      await admin.disconnect();
      await producer.disconnect();
    }
    const expected = Array.from({ length: records }, (_, i) => `out-in-${i}`);
    expect(sorted(await readWithKafkaJs(output, records, false))).toEqual(sorted(expected));
  }, 180_000);
});

describe.runIf(available('confluent-kafka-python (python3-confluent-kafka)', confluentKafkaAvailable()))(
  'confluent-kafka-python transactions (librdkafka)',
  () => {
    it('init_transactions, commit, abort, commit; an isolation.level=read_committed consumer', async () => {
      const topic = unique('ck-txn');
      await createTopic(topic, 3);
      const result = await run(SYSTEM_PYTHON, [CONFLUENT_KAFKA_TXN, bootstrap, topic, unique('ck-tx'), '6'], {
        timeoutMs: 150_000,
      });
      expect(result.code, result.stderr + result.stdout).toBe(0);
      const read = result.stdout
        .split('\n')
        .filter((l) => l.startsWith('read '))
        .map((l) => l.slice(5));
      const committed = ['ck-c1', 'ck-c2'].flatMap((name) => batchOf(name, 6).map((m) => m.value));
      expect(sorted(read)).toEqual(sorted(committed));
    }, 180_000);

    it('consume-transform-produce with send_offsets_to_transaction (member id and generation, KIP-447)', async () => {
      const input = unique('ck-ctp-in');
      const output = unique('ck-ctp-out');
      await createTopic(input, 3);
      await createTopic(output, 3);
      const records = 30;
      const plain = client().producer();
      await plain.connect();
      await plain.send({
        topic: input,
        acks: -1,
        messages: Array.from({ length: records }, (_, i) => ({ partition: i % 3, value: `in-${i}` })),
      });
      await plain.disconnect();
      const args = [CONFLUENT_KAFKA_CTP, bootstrap, input, output, unique('ck-ctp-g'), unique('ck-ctp-tx')];
      const result = await run(SYSTEM_PYTHON, [...args, String(records)], { timeoutMs: 150_000 });
      expect(result.code, result.stderr + result.stdout).toBe(0);
      expect(result.stdout).toContain(`done ${records}`);
      expect(result.stdout).toContain('committed 0:10 1:10 2:10');
      const expected = Array.from({ length: records }, (_, i) => `out-in-${i}`);
      expect(sorted(await readWithKafkaJs(output, records, false))).toEqual(sorted(expected));
    }, 180_000);
  },
);

/** A raw connection to a broker's Kafka listener. */
async function rawClient(brokerId: number): Promise<KafkaTestClient> {
  const socket = connect({ host: '127.0.0.1', port: kafkaPorts.get(brokerId)! });
  await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
  return new KafkaTestClient(socket);
}

/** A raw connection to the transaction coordinator of `txid` (FindCoordinator key type 1), and `init` there. */
async function coordinatorOf(txid: string) {
  const any = await rawClient(1);
  let coordinator = -1;
  await waitFor(
    async () => {
      const r = await any.send<kafka.FindCoordinatorResponseData>(ApiKey.FindCoordinator, 3, { key: txid, keyType: 1 });
      coordinator = r.nodeId ?? -1;
      return r.errorCode === 0;
    },
    { timeoutMs: 30_000, description: 'a transaction coordinator' },
  );
  const c = await rawClient(coordinator);
  /**
   * InitProducerId, asked again while the answer is retriable: FindCoordinator names the leader of the
   * id's partition, which may still be loading it (NOT_COORDINATOR, COORDINATOR_LOAD_IN_PROGRESS), and
   * a new incarnation waits for the abort of the open transaction (CONCURRENT_TRANSACTIONS), as clients do.
   */
  const init = async (version = 1) => {
    let answered: kafka.InitProducerIdResponseData | undefined;
    await waitFor(
      async () => {
        answered = await c.send<kafka.InitProducerIdResponseData>(ApiKey.InitProducerId, version, {
          transactionalId: txid,
          transactionTimeoutMs: 60_000,
        });
        return answered.errorCode === 0;
      },
      { timeoutMs: 30_000, description: `InitProducerId v${version} at the coordinator` },
    );
    return answered!;
  };
  return { any, c, init };
}

describe('transaction APIs at every served version', () => {
  it('InitProducerId v0-4, AddPartitionsToTxn v0-3, AddOffsetsToTxn, TxnOffsetCommit and EndTxn v0-4', async () => {
    const topic = unique('txn-versions');
    await createTopic(topic, 1);
    const txid = unique('versions-tx');
    const groupId = unique('versions-g');
    const { any, c, init } = await coordinatorOf(txid);
    let groupCoordinator = -1;
    await waitFor(
      async () => {
        const r = await any.send<kafka.FindCoordinatorResponseData>(ApiKey.FindCoordinator, 3, {
          key: groupId,
          keyType: 0,
        });
        groupCoordinator = r.nodeId ?? -1;
        return r.errorCode === 0;
      },
      { timeoutMs: 30_000, description: 'a group coordinator' },
    );
    const g = await rawClient(groupCoordinator);
    let epoch = -1;
    for (let v = 0; v <= 4; v++) {
      const r = await init(v);
      expect(r.producerEpoch, `InitProducerId v${v}`).toBeGreaterThan(epoch);
      epoch = r.producerEpoch;
    }
    const { producerId } = await init(4);
    for (let v = 0; v <= 4; v++) {
      const id = { transactionalId: txid, producerId, producerEpoch: epoch + 1 };
      const added = await c.send<kafka.AddPartitionsToTxnResponseData>(ApiKey.AddPartitionsToTxn, Math.min(v, 3), {
        ...id,
        topics: [{ name: topic, partitions: [0] }],
      });
      expect(added.results, `AddPartitionsToTxn v${Math.min(v, 3)}`).toEqual([
        { name: topic, results: [{ partitionIndex: 0, partitionErrorCode: 0 }] },
      ]);
      const addedOffsets = await c.send<kafka.AddOffsetsToTxnResponseData>(ApiKey.AddOffsetsToTxn, v, {
        ...id,
        groupId,
      });
      expect(addedOffsets.errorCode, `AddOffsetsToTxn v${v}`).toBe(0);
      // No member (v3+ may name one; -1 and "" are a commit from outside the group, as below v3).
      const offsetCommit = await g.send<kafka.TxnOffsetCommitResponseData>(ApiKey.TxnOffsetCommit, v, {
        ...id,
        groupId,
        topics: [
          { name: topic, partitions: [{ partitionIndex: 0, committedOffset: 100 + v, committedMetadata: 'm' }] },
        ],
      });
      expect(offsetCommit.topics, `TxnOffsetCommit v${v}`).toEqual([
        { name: topic, partitions: [{ partitionIndex: 0, errorCode: 0 }] },
      ]);
      const ended = await c.send<kafka.EndTxnResponseData>(ApiKey.EndTxn, v, { ...id, committed: v % 2 === 0 });
      expect(ended.errorCode, `EndTxn v${v}`).toBe(0);
    }
    // The last transaction (v4) committed its offset: the group's once its marker is applied.
    await waitFor(
      async () => {
        const r = await g.send<kafka.OffsetFetchResponseData>(ApiKey.OffsetFetch, 1, {
          groupId,
          topics: [{ name: topic, partitionIndexes: [0] }],
        });
        return r.topics[0]?.partitions[0]?.committedOffset === 104;
      },
      { description: 'the offset committed by the last transaction' },
    );
  }, 120_000);
});

describe('transaction APIs on bad input (Kafka error codes)', () => {
  it('unknown ids, partitions not added, unknown partitions, fenced epochs', async () => {
    const topic = unique('txn-bad');
    await createTopic(topic, 2);
    const txid = unique('raw-tx');
    const { any, c, init } = await coordinatorOf(txid);
    const first = await init();
    const { producerId } = first;
    const txn = (epoch: number) => ({ transactionalId: txid, producerId, producerEpoch: epoch });

    // Asked at its own coordinator (elsewhere it is NOT_COORDINATOR).
    const nobody = unique('nobody');
    const endUnknown = await (await coordinatorOf(nobody)).c.send<kafka.EndTxnResponseData>(ApiKey.EndTxn, 1, {
      ...txn(first.producerEpoch),
      transactionalId: nobody,
      committed: true,
    });
    expect(endUnknown.errorCode).toBe(ErrorCodes.INVALID_PRODUCER_ID_MAPPING.code);
    const endIdle = await c.send<kafka.EndTxnResponseData>(ApiKey.EndTxn, 3, {
      ...txn(first.producerEpoch),
      committed: true,
    });
    expect(endIdle.errorCode).toBe(ErrorCodes.INVALID_TXN_STATE.code);

    const withUnknown = await c.send<kafka.AddPartitionsToTxnResponseData>(ApiKey.AddPartitionsToTxn, 1, {
      ...txn(first.producerEpoch),
      topics: [{ name: topic, partitions: [0, 7] }],
    });
    expect(withUnknown.results[0]!.results).toEqual([
      { partitionIndex: 0, partitionErrorCode: ErrorCodes.OPERATION_NOT_ATTEMPTED.code },
      { partitionIndex: 7, partitionErrorCode: ErrorCodes.UNKNOWN_TOPIC_OR_PARTITION.code },
    ]);
    const added = await c.send<kafka.AddPartitionsToTxnResponseData>(ApiKey.AddPartitionsToTxn, 3, {
      ...txn(first.producerEpoch),
      topics: [{ name: topic, partitions: [0] }],
    });
    expect(added.results[0]!.results).toEqual([{ partitionIndex: 0, partitionErrorCode: 0 }]);

    // A transactional write to partition 1, not added: refused at its leader, nothing appended (KIP-890).
    const produceTo = async (partition: number, epoch: number) => {
      const meta = await any.send<kafka.MetadataResponseData>(ApiKey.Metadata, 9, { topics: [{ name: topic }] });
      const leader = meta.topics[0]!.partitions.find((p) => p.partitionIndex === partition)!.leaderId;
      const records = encodeBatch([{ value: Buffer.from('x'), timestamp: Date.now() }], {
        producerId,
        producerEpoch: epoch,
        baseSequence: 0,
        transactional: true,
      });
      const r = await (await rawClient(leader)).send<kafka.ProduceResponseData>(ApiKey.Produce, 7, {
        transactionalId: txid,
        acks: -1,
        timeoutMs: 10_000,
        topicData: [{ name: topic, partitionData: [{ index: partition, records }] }],
      });
      return r.responses[0]!.partitionResponses[0]!;
    };
    expect((await produceTo(1, first.producerEpoch)).errorCode).toBe(ErrorCodes.INVALID_TXN_STATE.code);
    expect((await produceTo(0, first.producerEpoch)).errorCode).toBe(0);

    // A new incarnation aborts the open transaction and fences this one.
    const second = await init();
    expect(second.producerEpoch).toBeGreaterThan(first.producerEpoch);
    const fencedAdd = (version: number) =>
      c.send<kafka.AddPartitionsToTxnResponseData>(ApiKey.AddPartitionsToTxn, version, {
        ...txn(first.producerEpoch),
        topics: [{ name: topic, partitions: [1] }],
      });
    // KIP-588: clients below AddPartitionsToTxn v2 know only INVALID_PRODUCER_EPOCH.
    expect((await fencedAdd(1)).results[0]!.results[0]!.partitionErrorCode).toBe(
      ErrorCodes.INVALID_PRODUCER_EPOCH.code,
    );
    expect((await fencedAdd(2)).results[0]!.results[0]!.partitionErrorCode).toBe(ErrorCodes.PRODUCER_FENCED.code);
    const fencedEnd = await c.send<kafka.EndTxnResponseData>(ApiKey.EndTxn, 2, {
      ...txn(first.producerEpoch),
      committed: true,
    });
    expect(fencedEnd.errorCode).toBe(ErrorCodes.PRODUCER_FENCED.code);
    expect((await produceTo(0, first.producerEpoch)).errorCode).toBe(ErrorCodes.INVALID_PRODUCER_EPOCH.code);
  }, 120_000);

  it("refuses a leader's add (add_partitions_to_txn) for a Kafka client's producer: it keeps its epoch", async () => {
    const topic = unique('txn-keeps-epoch');
    await createTopic(topic, 2);
    const txid = unique('keeps-epoch-tx');
    const { c, init } = await coordinatorOf(txid);
    const { producerId, producerEpoch } = await init(4);
    const txn = { transactionalId: txid, producerId, producerEpoch };
    const grpcLeader = async (partition: number) => {
      const meta = await (await rawClient(1)).send<kafka.MetadataResponseData>(ApiKey.Metadata, 9, {
        topics: [{ name: topic }],
      });
      const leader = meta.topics[0]!.partitions.find((p) => p.partitionIndex === partition)!.leaderId;
      return new RawTxn(cluster.brokers.find((b) => b.id === leader)!.address);
    };
    const write = async (partition: number, sequence: number, value: string, addPartitionsToTxn: boolean) => {
      const records = encodeBatch([{ value: Buffer.from(value), timestamp: Date.now() }], {
        producerId,
        producerEpoch,
        baseSequence: sequence,
        transactional: true,
      });
      const leader = await grpcLeader(partition);
      try {
        return await leader.produce(topic, partition, records, txid, addPartitionsToTxn);
      } finally {
        leader.close();
      }
    };
    const valuesOf = async (partition: number) => {
      const leader = await grpcLeader(partition);
      try {
        const r = await leader.fetch(topic, partition, 0);
        return decodeBatches(r.records).flatMap((b) =>
          b.control ? [] : b.records.map((x) => Buffer.from(x.value!).toString()),
        );
      } finally {
        leader.close();
      }
    };

    // One transaction as a Kafka client runs it: AddPartitionsToTxn, the write, EndTxn v4 (no bump).
    const added = await c.send<kafka.AddPartitionsToTxnResponseData>(ApiKey.AddPartitionsToTxn, 3, {
      ...txn,
      topics: [{ name: topic, partitions: [0] }],
    });
    expect(added.results[0]!.results[0]!.partitionErrorCode).toBe(0);
    expect((await write(0, 0, 'committed', false)).errorCode).toBe(0);
    const ended = await c.send<kafka.EndTxnResponseData>(ApiKey.EndTxn, 4, { ...txn, committed: true });
    expect(ended.errorCode).toBe(0);
    await waitFor(
      async () =>
        (
          await c.send<kafka.DescribeTransactionsResponseData>(ApiKey.DescribeTransactions, 0, {
            transactionalIds: [txid],
          })
        ).transactionStates[0]?.transactionState === 'CompleteCommit',
      { description: 'the commit completing' },
    );

    // A late write of that transaction, at the same epoch, asking the leader to add its partition (any
    // gRPC client can ask): refused on a partition it wrote and on one it did not, nothing appended.
    // Added, it would open the next transaction at that epoch with an ended transaction's record.
    for (const [partition, sequence] of [
      [0, 1],
      [1, 0],
    ] as const) {
      const late = await write(partition, sequence, 'late', true);
      expect(late.errorCode, `partition ${partition}`).toBe(ErrorCodes.INVALID_TXN_STATE.code);
      expect(late.errorMessage).toMatch(/without an epoch bump/);
    }
    expect(await valuesOf(0)).toEqual(['committed']);
    expect(await valuesOf(1)).toEqual([]);
    const described = await c.send<kafka.DescribeTransactionsResponseData>(ApiKey.DescribeTransactions, 0, {
      transactionalIds: [txid],
    });
    expect(described.transactionStates[0]?.transactionState).toBe('CompleteCommit');
  }, 120_000);
});

/**
 * Not transactions, but this file's cluster has the brokers a move needs: AlterPartitionReassignments and
 * ListPartitionReassignments on the Kafka listener (the controller answers; clients look it up in Metadata).
 */
describe('partition reassignments (KIP-455) on the Kafka listener', () => {
  it('moves a partition to another broker; refuses an empty replica set; a cancel with nothing moving', async () => {
    const topic = unique('move');
    await createTopic(topic, 1, 1);
    const any = await rawClient(1);
    const cluster = await any.send<kafka.MetadataResponseData>(ApiKey.Metadata, 9, { topics: [] });
    const c = await rawClient(cluster.controllerId);
    // Asked at the controller, whose metadata ListPartitionReassignments answers from: another broker's
    // may show the move done while the controller's does not yet.
    const replicasOf = async () => {
      const r = await c.send<kafka.MetadataResponseData>(ApiKey.Metadata, 9, { topics: [{ name: topic }] });
      return r.topics[0]!.partitions[0]!.replicaNodes;
    };
    const [from] = await replicasOf();
    const to = from === 1 ? 2 : 1;
    const move = (replicas: number[] | null) =>
      c.send<kafka.AlterPartitionReassignmentsResponseData>(ApiKey.AlterPartitionReassignments, 0, {
        timeoutMs: 10_000,
        topics: [{ name: topic, partitions: [{ partitionIndex: 0, replicas }] }],
      });
    const started = await move([to!]);
    expect(started.errorCode).toBe(0);
    expect(started.responses[0]!.partitions[0]!.errorCode).toBe(0);
    // While it moves ListPartitionReassignments names it; once done, Metadata shows the new replica.
    const listed = await c.send<kafka.ListPartitionReassignmentsResponseData>(ApiKey.ListPartitionReassignments, 0, {
      timeoutMs: 10_000,
      topics: [{ name: topic, partitionIndexes: [0] }],
    });
    expect(listed.errorCode).toBe(0);
    for (const p of listed.topics.flatMap((t) => t.partitions)) expect(p.addingReplicas).toEqual([to]);
    await waitFor(async () => (await replicasOf()).join() === String(to), {
      timeoutMs: 60_000,
      description: `${topic} moved to broker ${to}`,
    });
    const done = await c.send<kafka.ListPartitionReassignmentsResponseData>(ApiKey.ListPartitionReassignments, 0, {
      timeoutMs: 10_000,
      topics: null,
    });
    expect(done.topics.filter((t) => t.name === topic)).toEqual([]);
    expect((await move([])).responses[0]!.partitions[0]!.errorCode).toBe(ErrorCodes.INVALID_REPLICA_ASSIGNMENT.code);
    expect((await move(null)).responses[0]!.partitions[0]!.errorCode).toBe(ErrorCodes.NO_REASSIGNMENT_IN_PROGRESS.code);
  }, 120_000);
});
