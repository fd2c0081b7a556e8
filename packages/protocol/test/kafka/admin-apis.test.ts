import { describe, expect, it } from 'vitest';
import { kafka } from '@samsa/protocol/kafka';

const { KAFKA_APIS, ApiKey, KafkaReader, decodeMessage, encodeMessage } = kafka;

/** CreatePartitions, ElectLeaders, DescribeTransactions and ListTransactions, every field set where it exists. */
const samples: Record<number, { request: object; response: object }> = {
  [ApiKey.IncrementalAlterConfigs]: {
    request: {
      resources: [
        {
          resourceType: 2,
          resourceName: 't',
          configs: [
            { name: 'retention.ms', configOperation: 0, value: '1000' },
            { name: 'segment.bytes', configOperation: 1, value: null },
          ],
        },
      ],
      validateOnly: true,
    },
    response: {
      throttleTimeMs: 3,
      responses: [
        { errorCode: 0, errorMessage: null, resourceType: 2, resourceName: 't' },
        { errorCode: 40, errorMessage: 'bad', resourceType: 4, resourceName: '1' },
      ],
    },
  },
  [ApiKey.DeleteRecords]: {
    request: { topics: [{ name: 't', partitions: [{ partitionIndex: 2, offset: 2 ** 40 }] }], timeoutMs: 30_000 },
    response: {
      throttleTimeMs: 0,
      topics: [
        {
          name: 't',
          partitions: [
            { partitionIndex: 2, lowWatermark: 2 ** 40, errorCode: 0 },
            { partitionIndex: 3, lowWatermark: -1, errorCode: 1 },
          ],
        },
      ],
    },
  },
  [ApiKey.AlterConfigs]: {
    request: {
      resources: [{ resourceType: 2, resourceName: 't', configs: [{ name: 'retention.ms', value: '5' }] }],
      validateOnly: false,
    },
    response: {
      throttleTimeMs: 0,
      responses: [{ errorCode: 3, errorMessage: 'no such topic', resourceType: 2, resourceName: 't' }],
    },
  },
  [ApiKey.CreatePartitions]: {
    request: {
      topics: [
        { name: 't', count: 6, assignments: null },
        { name: 'u', count: 2, assignments: [{ brokerIds: [1, 2] }] },
      ],
      timeoutMs: 5000,
      validateOnly: true,
    },
    response: {
      throttleTimeMs: 1,
      results: [
        { name: 't', errorCode: 0, errorMessage: null },
        { name: 'u', errorCode: 37, errorMessage: 'no' },
      ],
    },
  },
  [ApiKey.ElectLeaders]: {
    request: { electionType: 0, topicPartitions: [{ topic: 't', partitions: [0, 1] }], timeoutMs: 100 },
    response: {
      throttleTimeMs: 2,
      errorCode: 0,
      replicaElectionResults: [
        {
          topic: 't',
          partitionResult: [
            { partitionId: 0, errorCode: 84, errorMessage: 'not needed' },
            { partitionId: 1, errorCode: 0, errorMessage: null },
          ],
        },
      ],
    },
  },
  [ApiKey.DescribeTransactions]: {
    request: { transactionalIds: ['a', 'b'] },
    response: {
      throttleTimeMs: 3,
      transactionStates: [
        {
          errorCode: 0,
          transactionalId: 'a',
          transactionState: 'Ongoing',
          transactionTimeoutMs: 60_000,
          transactionStartTimeMs: 1_700_000_000_000,
          producerId: 4242,
          producerEpoch: 3,
          topics: [{ topic: 't', partitions: [0, 2] }],
        },
      ],
    },
  },
  [ApiKey.DescribeProducers]: {
    request: { topics: [{ name: 't', partitionIndexes: [0, 3] }] },
    response: {
      throttleTimeMs: 5,
      topics: [
        {
          name: 't',
          partitions: [
            {
              partitionIndex: 0,
              errorCode: 0,
              errorMessage: null,
              activeProducers: [
                {
                  producerId: 2 ** 40,
                  producerEpoch: 2,
                  lastSequence: 99,
                  lastTimestamp: 1_700_000_000_000,
                  coordinatorEpoch: 4,
                  currentTxnStartOffset: 12,
                },
              ],
            },
            { partitionIndex: 3, errorCode: 6, errorMessage: 'not the leader', activeProducers: [] },
          ],
        },
      ],
    },
  },
  [ApiKey.AlterPartitionReassignments]: {
    request: {
      timeoutMs: 5000,
      topics: [
        {
          name: 't',
          partitions: [
            { partitionIndex: 0, replicas: [2, 3] },
            { partitionIndex: 1, replicas: null },
          ],
        },
      ],
    },
    response: {
      throttleTimeMs: 0,
      errorCode: 0,
      errorMessage: null,
      responses: [
        {
          name: 't',
          partitions: [
            { partitionIndex: 0, errorCode: 0, errorMessage: null },
            { partitionIndex: 1, errorCode: 85, errorMessage: 'none' },
          ],
        },
      ],
    },
  },
  [ApiKey.ListPartitionReassignments]: {
    request: { timeoutMs: 5000, topics: [{ name: 't', partitionIndexes: [0] }] },
    response: {
      throttleTimeMs: 0,
      errorCode: 0,
      errorMessage: null,
      topics: [
        {
          name: 't',
          partitions: [{ partitionIndex: 0, replicas: [1, 2], addingReplicas: [2], removingReplicas: [1] }],
        },
      ],
    },
  },
  [ApiKey.ListTransactions]: {
    request: { stateFilters: ['Ongoing'], producerIdFilters: [4242, 2 ** 40], durationFilter: 1000 },
    response: {
      throttleTimeMs: 4,
      errorCode: 0,
      unknownStateFilters: ['Sleeping'],
      transactionStates: [{ transactionalId: 'a', producerId: 4242, transactionState: 'Ongoing' }],
    },
  },
};

describe('admin API codecs', () => {
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
          if (version === api.maxVersion) expect(decoded).toEqual(body);
        }
      });
    }
  }

  it('DeleteRecords has the bytes of its schema: v0 and v1 plain, v2 flexible (compact arrays, tagged fields)', () => {
    const api = KAFKA_APIS.get(ApiKey.DeleteRecords)!;
    const body = { topics: [{ name: 't', partitions: [{ partitionIndex: 0, offset: 5 }] }], timeoutMs: 1000 };
    // [string t, [int32 0, int64 5]], int32 1000.
    const plain = '00000001' + '000174' + '00000001' + '00000000' + '0000000000000005' + '000003e8';
    expect(encodeMessage(api.request, 0, body).toBuffer().toString('hex')).toBe(plain);
    expect(encodeMessage(api.request, 1, body).toBuffer().toString('hex')).toBe(plain);
    // Compact lengths are n + 1; each struct and the message end with an empty tagged-field section.
    expect(encodeMessage(api.request, 2, body).toBuffer().toString('hex')).toBe(
      '02' + '0274' + '02' + '00000000' + '0000000000000005' + '00' + '00' + '000003e8' + '00',
    );
    const answer = {
      throttleTimeMs: 0,
      topics: [{ name: 't', partitions: [{ partitionIndex: 0, lowWatermark: 5, errorCode: 0 }] }],
    };
    expect(encodeMessage(api.response, 0, answer).toBuffer().toString('hex')).toBe(
      '00000000' + '00000001' + '000174' + '00000001' + '00000000' + '0000000000000005' + '0000',
    );
  });

  it('CreatePartitions v0 has the bytes of the protocol guide; ElectLeaders v0 has no election type', () => {
    const create = KAFKA_APIS.get(ApiKey.CreatePartitions)!;
    const body = { topics: [{ name: 't', count: 3, assignments: null }], timeoutMs: 1, validateOnly: false };
    // [string t, int32 3, null array -1], int32 1, bool false.
    expect(encodeMessage(create.request, 0, body).toBuffer().toString('hex')).toBe(
      '00000001' + '000174' + '00000003' + 'ffffffff' + '00000001' + '00',
    );
    // IncrementalAlterConfigs v0: [int8 2, string t, [string a, int8 1, null string -1]], bool true.
    const alter = KAFKA_APIS.get(ApiKey.IncrementalAlterConfigs)!;
    const resources = [
      { resourceType: 2, resourceName: 't', configs: [{ name: 'a', configOperation: 1, value: null }] },
    ];
    expect(encodeMessage(alter.request, 0, { resources, validateOnly: true }).toBuffer().toString('hex')).toBe(
      '00000001' + '02' + '000174' + '00000001' + '000161' + '01' + 'ffff' + '01',
    );
    const elect = KAFKA_APIS.get(ApiKey.ElectLeaders)!;
    const bytes = encodeMessage(elect.request, 0, { electionType: 1, topicPartitions: null, timeoutMs: 5 }).toBuffer();
    expect(bytes.toString('hex')).toBe('ffffffff' + '00000005');
    expect(decodeMessage(elect.request, 0, new KafkaReader(bytes))).toMatchObject({ electionType: 0 });
  });
});
