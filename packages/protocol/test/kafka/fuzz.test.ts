import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { kafka } from '@samsa/protocol/kafka';

const { KAFKA_APIS, ApiKey, KafkaProtocolError, decodeRequest, encodeRequest, decodeMessageSet, encodeMessageSet } =
  kafka;
const supported = (k: number) => KAFKA_APIS.get(k);

/** The only acceptable outcomes of decoding hostile bytes: a decoded request or a typed error. */
function decodeOrTypedError(frame: Buffer): void {
  try {
    decodeRequest(frame, supported);
  } catch (err) {
    expect(err).toBeInstanceOf(KafkaProtocolError);
  }
}

const valid: Buffer[] = [
  encodeRequest(
    KAFKA_APIS.get(ApiKey.Metadata)!,
    { apiVersion: 12, correlationId: 1, clientId: 'c' },
    { topics: [{ name: 't' }] },
  ),
  encodeRequest(
    KAFKA_APIS.get(ApiKey.Produce)!,
    { apiVersion: 9, correlationId: 2, clientId: 'c' },
    {
      acks: -1,
      timeoutMs: 100,
      topicData: [{ name: 't', partitionData: [{ index: 0, records: Buffer.alloc(70, 3) }] }],
    },
  ),
  encodeRequest(
    KAFKA_APIS.get(ApiKey.Fetch)!,
    { apiVersion: 12, correlationId: 3, clientId: null },
    {
      maxWaitMs: 1,
      minBytes: 1,
      topics: [{ topic: 't', partitions: [{ partition: 0, fetchOffset: 5, partitionMaxBytes: 100 }] }],
    },
  ),
  encodeRequest(
    KAFKA_APIS.get(ApiKey.ApiVersions)!,
    { apiVersion: 3, correlationId: 4, clientId: 'c' },
    {
      clientSoftwareName: 'x',
      clientSoftwareVersion: '1',
    },
  ),
].map((f) => f.subarray(4));

/** The transaction and admin APIs, flexible and not. */
const txn = { transactionalId: 'tx', producerId: 5, producerEpoch: 1 };
const txnRequests: [number, number, object][] = [
  [ApiKey.AddPartitionsToTxn, 1, { ...txn, topics: [{ name: 't', partitions: [0, 1] }] }],
  [ApiKey.AddPartitionsToTxn, 3, { ...txn, topics: [{ name: 't', partitions: [0, 1] }] }],
  [ApiKey.AddOffsetsToTxn, 3, { ...txn, groupId: 'g' }],
  [ApiKey.EndTxn, 1, { ...txn, committed: true }],
  [ApiKey.EndTxn, 4, { ...txn, committed: false }],
  [
    ApiKey.TxnOffsetCommit,
    3,
    {
      ...txn,
      groupId: 'g',
      memberId: 'm',
      topics: [{ name: 't', partitions: [{ partitionIndex: 0, committedOffset: 3, committedMetadata: null }] }],
    },
  ],
];
txnRequests.push(
  [
    ApiKey.IncrementalAlterConfigs,
    1,
    { resources: [{ resourceType: 2, resourceName: 't', configs: [{ name: 'a', configOperation: 0, value: 'b' }] }] },
  ],
  [
    ApiKey.AlterConfigs,
    0,
    { resources: [{ resourceType: 2, resourceName: 't', configs: [{ name: 'a', value: null }] }] },
  ],
  [ApiKey.CreatePartitions, 0, { topics: [{ name: 't', count: 3, assignments: null }], timeoutMs: 1 }],
  [ApiKey.CreatePartitions, 3, { topics: [{ name: 't', count: 3, assignments: [{ brokerIds: [1] }] }] }],
  [ApiKey.ElectLeaders, 2, { electionType: 0, topicPartitions: [{ topic: 't', partitions: [0] }] }],
  [ApiKey.ElectLeaders, 0, { topicPartitions: null }],
  [ApiKey.DeleteRecords, 0, { topics: [{ name: 't', partitions: [{ partitionIndex: 0, offset: -1 }] }], timeoutMs: 1 }],
  [ApiKey.DeleteRecords, 2, { topics: [{ name: 't', partitions: [{ partitionIndex: 1, offset: 9 }] }], timeoutMs: 1 }],
  [ApiKey.DescribeTransactions, 0, { transactionalIds: ['a', 'b'] }],
  [
    ApiKey.AlterPartitionReassignments,
    0,
    { topics: [{ name: 't', partitions: [{ partitionIndex: 0, replicas: [1] }] }] },
  ],
  [ApiKey.ListPartitionReassignments, 0, { topics: null }],
  [ApiKey.DescribeProducers, 0, { topics: [{ name: 't', partitionIndexes: [0, 1] }] }],
  [ApiKey.ListTransactions, 1, { stateFilters: ['Ongoing'], producerIdFilters: [7], durationFilter: 10 }],
);
for (const [key, apiVersion, body] of txnRequests) {
  valid.push(encodeRequest(KAFKA_APIS.get(key)!, { apiVersion, correlationId: 9, clientId: 'c' }, body).subarray(4));
}

/** Group API requests captured from real clients (JoinGroup, SyncGroup, OffsetCommit, ...) are fuzzed too. */
const GROUP_APIS = new Set([8, 9, 10, 11, 12, 13, 14, 15, 16, 42]);
const captured = JSON.parse(readFileSync(new URL('./fixtures/client-requests.json', import.meta.url), 'utf8')) as {
  apiKey: number;
  hex: string;
}[];
valid.push(...captured.filter((f) => GROUP_APIS.has(f.apiKey)).map((f) => Buffer.from(f.hex, 'hex')));
/** And the transaction requests captured from KafkaJS and librdkafka. */
const capturedTxn = JSON.parse(
  readFileSync(new URL('./fixtures/client-txn-requests.json', import.meta.url), 'utf8'),
) as { hex: string }[];
valid.push(...capturedTxn.map((f) => Buffer.from(f.hex, 'hex')));

describe('fuzzed request decoding', () => {
  it('random bytes decode or fail with a typed error', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (bytes) => decodeOrTypedError(Buffer.from(bytes))),
      { numRuns: 3000 },
    );
  });

  it('valid requests with bytes flipped, cut or appended decode or fail with a typed error', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...valid),
        fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 6 }),
        fc.nat(),
        fc.uint8Array({ maxLength: 8 }),
        (frame, flips, cut, tail) => {
          const mutated = Buffer.from(frame);
          for (const [at, value] of flips) mutated[at % mutated.length] = value;
          decodeOrTypedError(mutated);
          decodeOrTypedError(mutated.subarray(0, cut % (mutated.length + 1)));
          decodeOrTypedError(Buffer.concat([frame, Buffer.from(tail)]));
        },
      ),
      { numRuns: 3000 },
    );
  });

  it('message sets: random mutations decode or fail with CorruptMessage', () => {
    const set = encodeMessageSet(
      [
        { offset: 0, magic: 1, timestamp: 1, key: Buffer.from('k'), value: Buffer.from('v') },
        { offset: 1, magic: 1, timestamp: 2, key: null, value: Buffer.from('w') },
      ],
      1,
    );
    fc.assert(
      fc.property(fc.nat(), fc.integer({ min: 0, max: 255 }), fc.nat(), (at, value, cut) => {
        const mutated = Buffer.from(set);
        mutated[at % mutated.length] = value;
        for (const input of [mutated, set.subarray(0, cut % set.length)]) {
          try {
            decodeMessageSet(input);
          } catch (err) {
            expect((err as { code?: number }).code).toBe(2);
          }
        }
      }),
      { numRuns: 3000 },
    );
  });
});
