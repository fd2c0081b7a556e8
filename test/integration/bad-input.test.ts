/**
 * Bad input against real broker processes, sent raw over gRPC: each gets a clear, typed error, the
 * broker stays up, and nothing already acknowledged is lost.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as grpc from '@grpc/grpc-js';
import {
  Attribute,
  BatchField,
  ErrorCodes,
  decodeBatches,
  encodeBatch,
  loadBrokerProto,
  writeBatchCrc,
  loadReplicationProto,
  type v1,
} from '@samsa/protocol';
import { LocalCluster } from '../helpers/cluster.js';
import { waitFor } from '../helpers/wait.js';
import { RawBroker } from './grpc.js';

let cluster: LocalCluster;
const raws: RawBroker[] = [];
let leader: RawBroker;
const TOPIC = `bad-input-${process.pid}`;

function batch(values: string[]): Buffer {
  return encodeBatch(
    values.map((v) => ({ key: null, value: Buffer.from(v) })),
    { now: Date.now() },
  );
}

beforeAll(async () => {
  cluster = await LocalCluster.start({ brokers: 1 });
  leader = new RawBroker(cluster.bootstrap[0]!);
  raws.push(leader);
  const created = await leader.call<v1.CreateTopicsResponse__Output>('CreateTopics', {
    topics: [{ name: TOPIC, numPartitions: 1, replicationFactor: 1, configs: { 'max.message.bytes': '2000' } }],
    timeoutMs: 10_000,
  });
  expect(created.topics[0]!.errorCode).toBe(0);
  // Metadata may name the leader a moment before the broker has opened the log: retry as clients do.
  await waitFor(async () => (await leader.produce(TOPIC, 0, batch(['kept-1', 'kept-2']))).errorCode === 0, {
    description: 'the first produce',
  });
}, 60_000);

afterAll(async () => {
  for (const raw of raws) raw.close();
  await cluster?.close();
});

describe('bad input gets a typed error and loses nothing', () => {
  it('invalid topic names', async () => {
    for (const name of ['bad name', 'a/b', '..', 'x'.repeat(250)]) {
      const md = await leader.metadata({ topics: [name], allowAutoTopicCreation: true });
      expect(md.topics[0]!.errorCode, name).toBe(ErrorCodes.INVALID_TOPIC_EXCEPTION.code);
      const created = await leader.call<v1.CreateTopicsResponse__Output>('CreateTopics', {
        topics: [{ name, numPartitions: 1, replicationFactor: 1 }],
      });
      expect(created.topics[0]!.errorCode, name).toBe(ErrorCodes.INVALID_TOPIC_EXCEPTION.code);
    }
  });

  it('unknown topic settings and impossible replication factors', async () => {
    const created = await leader.call<v1.CreateTopicsResponse__Output>('CreateTopics', {
      topics: [
        { name: `${TOPIC}-cfg`, numPartitions: 1, replicationFactor: 1, configs: { 'retention.mss': '1' } },
        { name: `${TOPIC}-rf`, numPartitions: 1, replicationFactor: 3 },
        { name: `${TOPIC}-p`, numPartitions: 0, replicationFactor: 1 },
      ],
    });
    expect(created.topics.map((t) => t.errorCode)).toEqual([
      ErrorCodes.INVALID_CONFIG.code,
      ErrorCodes.INVALID_REPLICATION_FACTOR.code,
      ErrorCodes.INVALID_PARTITIONS.code,
    ]);
  });

  it('a batch over max.message.bytes', async () => {
    const response = await leader.produce(TOPIC, 0, batch(['x'.repeat(5000)]));
    expect(response.errorCode).toBe(ErrorCodes.MESSAGE_TOO_LARGE.code);
  });

  it('a wrong CRC, truncated bytes, garbage, an empty record set', async () => {
    const flipped = batch(['flip me']);
    flipped[flipped.length - 2]! ^= 0xff;
    const truncated = batch(['cut short']).subarray(0, 40);
    const lying = batch(['length lies']);
    lying.writeInt32BE(0x7fff_ffff, BatchField.batchLength);
    for (const records of [
      flipped,
      truncated,
      lying,
      Buffer.from('not a batch at all, not even close to one........................'),
    ]) {
      expect((await leader.produce(TOPIC, 0, records)).errorCode).toBe(ErrorCodes.CORRUPT_MESSAGE.code);
    }
    expect((await leader.produce(TOPIC, 0, Buffer.alloc(0))).errorCode).toBe(ErrorCodes.CORRUPT_MESSAGE.code);
  });

  it('a control batch (a forged transaction marker), with a producer id or without', async () => {
    const plain = batch(['not a marker']);
    const withId = encodeBatch([{ key: null, value: Buffer.from('nor this') }], {
      now: Date.now(),
      producerId: 4242,
      producerEpoch: 0,
      baseSequence: 0,
    });
    for (const records of [plain, withId]) {
      records.writeInt16BE(records.readInt16BE(BatchField.attributes) | Attribute.control, BatchField.attributes);
      writeBatchCrc(records, 0, { batchLength: records.readInt32BE(BatchField.batchLength) });
      const response = await leader.produce(TOPIC, 0, records);
      expect(response.errorCode).toBe(ErrorCodes.INVALID_RECORD.code);
      expect(response.errorMessage).toMatch(/control batches/);
    }
  });

  it('unknown topics and partitions, invalid acks', async () => {
    expect((await leader.produce(`${TOPIC}-missing`, 0, batch(['x']))).errorCode).toBe(
      ErrorCodes.UNKNOWN_TOPIC_OR_PARTITION.code,
    );
    expect((await leader.produce(TOPIC, 7, batch(['x']))).errorCode).toBe(ErrorCodes.UNKNOWN_TOPIC_OR_PARTITION.code);
    expect((await leader.fetch(TOPIC, 7, 0)).errorCode).toBe(ErrorCodes.UNKNOWN_TOPIC_OR_PARTITION.code);
    expect((await leader.produce(TOPIC, 0, batch(['x']), 2)).errorCode).toBe(ErrorCodes.INVALID_REQUIRED_ACKS.code);
  });

  it('negative and past-the-end offsets', async () => {
    expect((await leader.fetch(TOPIC, 0, -1)).errorCode).toBe(ErrorCodes.OFFSET_OUT_OF_RANGE.code);
    expect((await leader.fetch(TOPIC, 0, 1_000_000)).errorCode).toBe(ErrorCodes.OFFSET_OUT_OF_RANGE.code);
  });

  it('a client that vanishes in the middle of a long poll', async () => {
    const abort = new AbortController();
    const pending = leader.fetch(TOPIC, 0, 2, { maxWaitMs: 10_000, signal: abort.signal });
    setTimeout(() => abort.abort(), 100);
    await expect(pending).rejects.toThrow(/cancel/i);
  });

  it('ReplicaFetch streams answer in order, refuse non-replicas; a peer leaving mid-poll harms nothing', async () => {
    const Replication = loadReplicationProto().Replication;
    const client = new Replication(
      cluster.bootstrap[0]!,
      grpc.credentials.createInsecure(),
    ) as unknown as grpc.Client & {
      ReplicaFetch(): grpc.ClientDuplexStream<v1.ReplicaFetchRequest, v1.ReplicaFetchResponse__Output>;
    };
    try {
      const stream = client.ReplicaFetch();
      const answers: v1.ReplicaFetchResponse__Output[] = [];
      stream.on('data', (r: v1.ReplicaFetchResponse__Output) => answers.push(r));
      stream.on('error', () => undefined);
      const ask = (replicaId: number, name: string, maxWaitMs: number) => ({
        replicaId,
        maxWaitMs,
        minBytes: 1,
        maxBytes: 1 << 20,
        topics: [
          {
            name,
            partitions: [
              {
                partition: 0,
                fetchOffset: 0,
                currentLeaderEpoch: -1,
                lastFetchedEpoch: -1,
                partitionMaxBytes: 1 << 20,
              },
            ],
          },
        ],
      });
      // Broker 7 is no replica of the topic, and the second topic does not exist: typed errors, in order.
      stream.write(ask(7, TOPIC, 0));
      stream.write(ask(7, `${TOPIC}-missing-${Date.now()}`, 0));
      await waitFor(() => answers.length === 2, { description: 'two answers on the stream' });
      expect(answers[0]!.topics[0]!.name).toBe(TOPIC);
      expect(answers[0]!.topics[0]!.partitions[0]!.errorCode).toBe(ErrorCodes.NOT_LEADER_OR_FOLLOWER.code);
      expect(answers[1]!.topics[0]!.partitions[0]!.errorCode).toBe(ErrorCodes.UNKNOWN_TOPIC_OR_PARTITION.code);
      // A long poll left behind by a peer that vanishes: the broker stays up and keeps its data.
      stream.write(ask(7, `${TOPIC}-missing-${Date.now()}`, 30_000));
      stream.cancel();
    } finally {
      client.close();
    }
    // The next test checks that the broker is up with every acknowledged record.
  });

  it('ProduceStream answers by correlation id, refuses bad requests singly; a leaving client harms none', async () => {
    const Broker = loadBrokerProto().Broker;
    const client = new Broker(cluster.bootstrap[0]!, grpc.credentials.createInsecure()) as unknown as grpc.Client & {
      ProduceStream(): grpc.ClientDuplexStream<v1.ProduceStreamRequest, v1.ProduceStreamResponse__Output>;
    };
    try {
      const stream = client.ProduceStream();
      const answers = new Map<number, v1.ProduceStreamResponse__Output>();
      stream.on('data', (r: v1.ProduceStreamResponse__Output) => answers.set(r.correlationId, r));
      stream.on('error', () => undefined);
      const corrupt = batch(['never stored']);
      corrupt[BatchField.crc] = corrupt[BatchField.crc]! ^ 0xff;
      const produce = (name: string, records: Buffer, acks = 1) => ({
        acks,
        timeoutMs: 10_000,
        topics: [{ name, partitions: [{ partition: 0, records }] }],
      });
      stream.write({ correlationId: 11, request: produce(TOPIC, corrupt) });
      stream.write({ correlationId: 12, request: produce(`${TOPIC}-missing-${Date.now()}`, batch(['x'])) });
      stream.write({ correlationId: 13 }); // no request at all
      stream.write({ correlationId: 14, request: produce(TOPIC, batch(['x']), 5) });
      await waitFor(() => answers.size === 4, { description: 'four answers on the stream' });
      expect(answers.get(11)!.response!.topics[0]!.partitions[0]!.errorCode).toBe(ErrorCodes.CORRUPT_MESSAGE.code);
      expect(answers.get(12)!.response!.topics[0]!.partitions[0]!.errorCode).toBe(
        ErrorCodes.UNKNOWN_TOPIC_OR_PARTITION.code,
      );
      expect(answers.get(13)).toMatchObject({ statusCode: grpc.status.INVALID_ARGUMENT, response: null });
      expect(answers.get(14)!.response!.topics[0]!.partitions[0]!.errorCode).toBe(
        ErrorCodes.INVALID_REQUIRED_ACKS.code,
      );
      // Gone while a request is in flight: the broker stays up and keeps its data.
      stream.write({ correlationId: 15, request: produce(`${TOPIC}-missing-${Date.now()}`, batch(['y'])) });
      stream.cancel();
    } finally {
      client.close();
    }
    // The next test checks that the broker is up with every acknowledged record.
  });

  it('FetchStream answers each fetch by correlation id as it completes, refuses bad requests singly', async () => {
    const Broker = loadBrokerProto().Broker;
    const client = new Broker(cluster.bootstrap[0]!, grpc.credentials.createInsecure()) as unknown as grpc.Client & {
      FetchStream(): grpc.ClientDuplexStream<v1.FetchStreamRequest, v1.FetchStreamResponse__Output>;
    };
    try {
      const stream = client.FetchStream();
      const answers: v1.FetchStreamResponse__Output[] = [];
      stream.on('data', (r: v1.FetchStreamResponse__Output) => answers.push(r));
      stream.on('error', () => undefined);
      const fetch = (name: string, fetchOffset: number, maxWaitMs: number) => ({
        maxWaitMs,
        minBytes: 1,
        maxBytes: 1 << 20,
        topics: [
          { name, partitions: [{ partition: 0, fetchOffset, partitionMaxBytes: 1 << 20, currentLeaderEpoch: -1 }] },
        ],
      });
      // A long poll at the log end, parked, then a fetch with records that overtakes it.
      stream.write({ correlationId: 21, request: fetch(TOPIC, 2, 400) });
      stream.write({ correlationId: 22, request: fetch(TOPIC, 0, 400) });
      stream.write({ correlationId: 23 }); // no request at all
      stream.write({ correlationId: 24, request: fetch(`${TOPIC}-missing-${Date.now()}`, 0, 0) });
      await waitFor(() => answers.length === 4, { description: 'four answers on the stream' });
      const byId = new Map(answers.map((a) => [a.correlationId, a]));
      expect(answers.at(-1)!.correlationId).toBe(21);
      const records = byId.get(22)!.response!.topics[0]!.partitions[0]!.records;
      expect(decodeBatches(records).flatMap((b) => b.records.map((r) => r.value?.toString()))).toEqual([
        'kept-1',
        'kept-2',
      ]);
      expect(byId.get(21)!.response!.topics[0]!.partitions[0]).toMatchObject({ errorCode: 0, highWatermark: 2 });
      expect(byId.get(21)!.response!.topics[0]!.partitions[0]!.records.length).toBe(0);
      expect(byId.get(23)).toMatchObject({ statusCode: grpc.status.INVALID_ARGUMENT, response: null });
      expect(byId.get(24)!.response!.topics[0]!.partitions[0]!.errorCode).toBe(
        ErrorCodes.UNKNOWN_TOPIC_OR_PARTITION.code,
      );
      // Gone while a long poll is parked: the broker stays up.
      stream.write({ correlationId: 25, request: fetch(TOPIC, 2, 10_000) });
      stream.cancel();
    } finally {
      client.close();
    }
  });

  it('after all of it the broker is up and every acknowledged record is there', async () => {
    const response = await leader.fetch(TOPIC, 0, 0);
    expect(response.errorCode).toBe(0);
    const values = decodeBatches(response.records).flatMap((b) => b.records.map((r) => r.value?.toString()));
    expect(values).toEqual(['kept-1', 'kept-2']);
    expect(response.highWatermark).toBe(2);
  });
});
