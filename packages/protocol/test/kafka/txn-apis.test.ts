import { describe, expect, it } from 'vitest';
import { kafka } from '@samsa/protocol';

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
