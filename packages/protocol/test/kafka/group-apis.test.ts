import { describe, expect, it } from 'vitest';
import { kafka } from '@samsa/protocol/kafka';

const { KAFKA_APIS, ApiKey, KafkaReader, decodeMessage, encodeMessage } = kafka;

const meta = Buffer.from('0001000000010001740000000000', 'hex');
const partitions = (offset: number) => ({
  partitionIndex: 3,
  committedOffset: offset,
  committedLeaderEpoch: 4,
  metadata: 'm',
  errorCode: 0,
});

/** The classic group and offset APIs, with every field set to a non-default value where it exists. */
const samples: Record<number, { request: object; response: object }> = {
  [ApiKey.JoinGroup]: {
    request: {
      groupId: 'g',
      sessionTimeoutMs: 10_000,
      rebalanceTimeoutMs: 30_000,
      memberId: 'm-1',
      groupInstanceId: 'i-1',
      protocolType: 'consumer',
      protocols: [
        { name: 'range', metadata: meta },
        { name: 'roundrobin', metadata: meta },
      ],
      reason: 'why',
    },
    response: {
      throttleTimeMs: 1,
      errorCode: 0,
      generationId: 5,
      protocolType: 'consumer',
      protocolName: 'range',
      leader: 'm-1',
      skipAssignment: true,
      memberId: 'm-1',
      members: [{ memberId: 'm-1', groupInstanceId: 'i-1', metadata: meta }],
    },
  },
  [ApiKey.SyncGroup]: {
    request: {
      groupId: 'g',
      generationId: 5,
      memberId: 'm-1',
      groupInstanceId: 'i-1',
      protocolType: 'consumer',
      protocolName: 'range',
      assignments: [{ memberId: 'm-1', assignment: meta }],
    },
    response: { throttleTimeMs: 2, errorCode: 0, protocolType: 'consumer', protocolName: 'range', assignment: meta },
  },
  [ApiKey.Heartbeat]: {
    request: { groupId: 'g', generationId: 5, memberId: 'm-1', groupInstanceId: 'i-1' },
    response: { throttleTimeMs: 3, errorCode: 27 },
  },
  [ApiKey.LeaveGroup]: {
    request: { groupId: 'g', memberId: 'm-1', members: [{ memberId: 'm-1', groupInstanceId: 'i', reason: 'bye' }] },
    response: { throttleTimeMs: 0, errorCode: 0, members: [{ memberId: 'm-1', groupInstanceId: 'i', errorCode: 25 }] },
  },
  [ApiKey.OffsetCommit]: {
    request: {
      groupId: 'g',
      generationIdOrMemberEpoch: 5,
      memberId: 'm-1',
      groupInstanceId: 'i',
      retentionTimeMs: 1000,
      topics: [
        {
          name: 't',
          partitions: [
            {
              partitionIndex: 3,
              committedOffset: 42,
              committedLeaderEpoch: 2,
              commitTimestamp: -1,
              committedMetadata: 'meta',
            },
          ],
        },
      ],
    },
    response: { throttleTimeMs: 4, topics: [{ name: 't', partitions: [{ partitionIndex: 3, errorCode: 22 }] }] },
  },
  [ApiKey.OffsetFetch]: {
    request: {
      groupId: 'g',
      topics: [{ name: 't', partitionIndexes: [0, 3] }],
      groups: [{ groupId: 'g', memberId: 'm', memberEpoch: 3, topics: [{ name: 't', partitionIndexes: [1] }] }],
      requireStable: true,
    },
    response: {
      throttleTimeMs: 5,
      topics: [{ name: 't', partitions: [partitions(7)] }],
      errorCode: 0,
      groups: [{ groupId: 'g', topics: [{ name: 't', partitions: [partitions(8)] }], errorCode: 0 }],
    },
  },
  [ApiKey.ListGroups]: {
    request: { statesFilter: ['Stable'], typesFilter: ['classic'] },
    response: {
      throttleTimeMs: 0,
      errorCode: 0,
      groups: [{ groupId: 'g', protocolType: 'consumer', groupState: 'Stable', groupType: 'classic' }],
    },
  },
  [ApiKey.DescribeGroups]: {
    request: { groups: ['g', 'h'], includeAuthorizedOperations: true },
    response: {
      throttleTimeMs: 0,
      groups: [
        {
          errorCode: 0,
          groupId: 'g',
          groupState: 'Stable',
          protocolType: 'consumer',
          protocolData: 'range',
          members: [
            {
              memberId: 'm-1',
              groupInstanceId: 'i',
              clientId: 'c',
              clientHost: '/127.0.0.1',
              memberMetadata: meta,
              memberAssignment: meta,
            },
          ],
          authorizedOperations: 12,
        },
      ],
    },
  },
  [ApiKey.OffsetDelete]: {
    request: { groupId: 'g', topics: [{ name: 't', partitions: [{ partitionIndex: 2 }] }] },
    response: {
      errorCode: 0,
      throttleTimeMs: 1,
      topics: [{ name: 't', partitions: [{ partitionIndex: 2, errorCode: 86 }] }],
    },
  },
  [ApiKey.DeleteGroups]: {
    request: { groupsNames: ['g', 'h'] },
    response: { throttleTimeMs: 0, results: [{ groupId: 'g', errorCode: 68 }] },
  },
};

/** The top-level fields of `body` that exist in `version` (the others decode as defaults). */
function presentIn(schema: kafka.MessageSchema, version: number, body: object): object {
  const kept = schema.fields.filter((f) => version >= f.versions[0] && version <= f.versions[1]).map((f) => f.name);
  return Object.fromEntries(Object.entries(body).filter(([k]) => kept.includes(k)));
}

describe('group API codecs', () => {
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
          if (version === api.maxVersion) expect(decoded).toMatchObject(presentIn(schema, version, body));
        }
      });
    }
  }

  it('Heartbeat v0 and v4 have the bytes of the protocol guide', () => {
    const api = KAFKA_APIS.get(ApiKey.Heartbeat)!;
    const body = { groupId: 'g', generationId: 1, memberId: 'm', groupInstanceId: null };
    // v0: string g, int32 1, string m.
    expect(encodeMessage(api.request, 0, body).toBuffer().toString('hex')).toBe('00016700000001' + '00016d');
    // v4 (flexible): compact strings, a null compact string (0), an empty tag section.
    expect(encodeMessage(api.request, 4, body).toBuffer().toString('hex')).toBe(
      '0267' + '00000001' + '026d' + '00' + '00',
    );
  });

  it('OffsetFetch v2+ null topics (every committed partition) survive the round trip', () => {
    const api = KAFKA_APIS.get(ApiKey.OffsetFetch)!;
    for (const version of [2, 7]) {
      const bytes = encodeMessage(api.request, version, { groupId: 'g', topics: null }).toBuffer();
      const decoded = decodeMessage<kafka.OffsetFetchRequestData>(api.request, version, new KafkaReader(bytes));
      expect(decoded.topics).toBeNull();
    }
  });
});
