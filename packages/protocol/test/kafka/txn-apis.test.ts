import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { decodeBatches } from '@samsa/protocol';
import { kafka } from '@samsa/protocol/kafka';

const { KAFKA_APIS, ApiKey, KafkaReader, decodeMessage, encodeMessage } = kafka;

const txn = { transactionalId: 'tx', producerId: 4242, producerEpoch: 7 };

/** The transaction APIs, every field set to a non-default value in the versions that have it. */
const samples: Record<number, { request: object; response: object }> = {
  [ApiKey.AddPartitionsToTxn]: {
    request: { ...txn, topics: [{ name: 't', partitions: [0, 2] }] },
    response: {
      throttleTimeMs: 1,
      results: [
        {
          name: 't',
          results: [
            { partitionIndex: 0, partitionErrorCode: 55 },
            { partitionIndex: 2, partitionErrorCode: 3 },
          ],
        },
      ],
    },
  },
  [ApiKey.AddOffsetsToTxn]: {
    request: { ...txn, groupId: 'g' },
    response: { throttleTimeMs: 2, errorCode: 51 },
  },
  [ApiKey.EndTxn]: {
    request: { ...txn, committed: true },
    response: { throttleTimeMs: 3, errorCode: 48 },
  },
  [ApiKey.TxnOffsetCommit]: {
    request: {
      ...txn,
      groupId: 'g',
      generationId: 5,
      memberId: 'm-1',
      groupInstanceId: 'i-1',
      topics: [
        {
          name: 't',
          partitions: [{ partitionIndex: 1, committedOffset: 99, committedLeaderEpoch: 3, committedMetadata: 'md' }],
        },
      ],
    },
    response: { throttleTimeMs: 4, topics: [{ name: 't', partitions: [{ partitionIndex: 1, errorCode: 0 }] }] },
  },
};

describe('transaction API codecs', () => {
  for (const [key, sample] of Object.entries(samples)) {
    const api = KAFKA_APIS.get(Number(key))!;
    for (let version = api.minVersion; version <= api.maxVersion; version++) {
      it(`${api.name} v${version} round-trips`, () => {
        for (const [schema, body] of [
          [api.request, sample.request],
          [api.response, sample.response],
        ] as const) {
          const bytes = encodeMessage(schema, version, body).toBuffer();
          const decoded = decodeMessage<Record<string, unknown>>(schema, version, new KafkaReader(bytes));
          expect(encodeMessage(schema, version, decoded).toBuffer()).toEqual(bytes);
          // Every sample field exists at the highest version served (absent ones decode as defaults).
          if (version === api.maxVersion) expect(decoded).toMatchObject(body);
        }
      });
    }
  }

  it('AddPartitionsToTxn v0 and v3 have the bytes of the protocol guide', () => {
    const api = KAFKA_APIS.get(ApiKey.AddPartitionsToTxn)!;
    const body = { transactionalId: 'x', producerId: 1, producerEpoch: 2, topics: [{ name: 't', partitions: [5] }] };
    // v0: string x, int64 1, int16 2, [string t, [int32 5]].
    expect(encodeMessage(api.request, 0, body).toBuffer().toString('hex')).toBe(
      '000178' + '0000000000000001' + '0002' + '00000001' + '000174' + '00000001' + '00000005',
    );
    // v3 (flexible): compact strings and arrays (length + 1), a tag section after every struct.
    expect(encodeMessage(api.request, 3, body).toBuffer().toString('hex')).toBe(
      '0278' + '0000000000000001' + '0002' + '02' + '0274' + '02' + '00000005' + '00' + '00',
    );
  });

  it('EndTxn v5 answers the producer id and epoch to go on with (transaction version 2)', () => {
    const api = KAFKA_APIS.get(ApiKey.EndTxn)!;
    const body = { throttleTimeMs: 0, errorCode: 0, producerId: 9, producerEpoch: 3 };
    const bytes = encodeMessage(api.response, 5, body).toBuffer();
    expect(decodeMessage(api.response, 5, new KafkaReader(bytes))).toEqual(body);
    // Below v5 the fields do not exist: a v4 answer is throttle time, error code and an empty tag section.
    expect(encodeMessage(api.response, 4, body).toBuffer().toString('hex')).toBe('00000000' + '0000' + '00');
  });
});

/**
 * Transaction requests captured from real clients (scripts/capture-kafka-fixtures.mjs, the broker
 * advertising the proxy's address): KafkaJS 2's transactional producer committing and aborting and its
 * sendOffsets, confluent-kafka-python 1.7 / librdkafka 2.0.2 (test/kafka/confluent-kafka-txn.py, -ctp.py)
 * with its read_committed consumer and send_offsets_to_transaction, and both growing a topic
 * (CreatePartitions). Each decodes, and encoding what was decoded gives back the client's bytes.
 */
interface Fixture {
  readonly client: string;
  readonly apiKey: number;
  readonly apiVersion: number;
  readonly hex: string;
}
const fixtures = JSON.parse(
  readFileSync(new URL('./fixtures/client-txn-requests.json', import.meta.url), 'utf8'),
) as Fixture[];

function decoded(f: Fixture) {
  const r = kafka.decodeRequest(Buffer.from(f.hex, 'hex'), (k) => KAFKA_APIS.get(k));
  if (r.kind !== 'request') throw new Error('not a request');
  return r;
}

describe('transaction requests captured from real clients', () => {
  it.each(fixtures.map((f) => [`${f.client} ${KAFKA_APIS.get(f.apiKey)?.name} v${f.apiVersion}`, f] as const))(
    '%s decodes and re-encodes to the same bytes',
    (_name, f) => {
      const { header, api, body } = decoded(f);
      expect(header).toMatchObject({ apiKey: f.apiKey, apiVersion: f.apiVersion });
      expect(
        kafka
          .encodeRequest(api, header, body as object)
          .subarray(4)
          .toString('hex'),
      ).toBe(f.hex);
    },
  );

  it('carry what a transaction is made of', () => {
    for (const client of ['kafkajs-txn', 'confluent-kafka-txn']) {
      const of = (key: number) => fixtures.filter((f) => f.client === client && f.apiKey === key).map(decoded);
      expect((of(ApiKey.FindCoordinator)[0]!.body as kafka.FindCoordinatorRequestData).keyType, client).toBe(1);
      const init = of(ApiKey.InitProducerId)[0]!.body as kafka.InitProducerIdRequestData;
      expect(init.transactionalId, client).toMatch(/tx/);
      const add = of(ApiKey.AddPartitionsToTxn)[0]!.body as kafka.AddPartitionsToTxnRequestData;
      expect(add.transactionalId).toBe(init.transactionalId);
      expect(add.topics[0]!.partitions.length, client).toBeGreaterThan(0);
      const produce = of(ApiKey.Produce)[0]!.body as kafka.ProduceRequestData;
      expect(produce.transactionalId).toBe(init.transactionalId);
      const batch = decodeBatches(produce.topicData[0]!.partitionData[0]!.records!)[0]!;
      expect(batch.transactional, client).toBe(true);
      expect(batch.header.producerId).toBe(add.producerId);
      const end = of(ApiKey.EndTxn)[0]!.body as kafka.EndTxnRequestData;
      expect(end).toMatchObject({ transactionalId: init.transactionalId, producerId: add.producerId, committed: true });
    }
    const fetch = decoded(fixtures.find((f) => f.client === 'confluent-kafka-txn' && f.apiKey === ApiKey.Fetch)!);
    expect((fetch.body as kafka.FetchRequestData).isolationLevel).toBe(1);
  });

  it('sendOffsets: AddOffsetsToTxn, then TxnOffsetCommit with (librdkafka, v3) or without (KafkaJS) the member', () => {
    const find = (client: string, key: number) =>
      decoded(fixtures.find((f) => f.client === client && f.apiKey === key)!).body;
    for (const client of ['kafkajs-txn', 'confluent-kafka-txn']) {
      const add = find(client, ApiKey.AddOffsetsToTxn) as kafka.AddOffsetsToTxnRequestData;
      const commit = find(client, ApiKey.TxnOffsetCommit) as kafka.TxnOffsetCommitRequestData;
      expect(commit).toMatchObject({ groupId: add.groupId, producerId: add.producerId });
      expect(commit.topics[0]!.partitions.length, client).toBeGreaterThan(0);
    }
    const librdkafka = find('confluent-kafka-txn', ApiKey.TxnOffsetCommit) as kafka.TxnOffsetCommitRequestData;
    expect(librdkafka.memberId).not.toBe('');
    expect(librdkafka.generationId).toBeGreaterThan(0);
    const kafkajs = find('kafkajs-txn', ApiKey.TxnOffsetCommit) as kafka.TxnOffsetCommitRequestData;
    expect(kafkajs).toMatchObject({ memberId: '', generationId: -1 });
    for (const client of ['kafkajs-txn', 'confluent-kafka-txn']) {
      const grow = find(client, ApiKey.CreatePartitions) as kafka.CreatePartitionsRequestData;
      expect(grow.topics[0]!.count, client).toBe(2);
    }
  });
});
