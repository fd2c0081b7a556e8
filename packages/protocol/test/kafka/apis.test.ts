import { describe, expect, it } from 'vitest';
import { kafka } from '@samsa/protocol/kafka';

/** KafkaJS's and the generic decoder's untyped results. */
// biome-ignore lint/suspicious/noExplicitAny: test-only view of untyped decoder output
type Loose = any;

const {
  KAFKA_APIS,
  ApiKey,
  KafkaReader,
  decodeMessage,
  encodeMessage,
  encodeRequest,
  decodeRequest,
  encodeResponse,
  decodeResponse,
} = kafka;

const records = Buffer.alloc(5000, 1);

/** A body with every field of every version set to a non-default value where it exists. */
const samples: Record<number, { request: object; response: object }> = {
  [ApiKey.Produce]: {
    request: {
      transactionalId: 'tx',
      acks: -1,
      timeoutMs: 1500,
      topicData: [
        {
          name: 't',
          partitionData: [
            { index: 2, records },
            { index: 3, records: null },
          ],
        },
      ],
    },
    response: {
      responses: [
        {
          name: 't',
          partitionResponses: [
            {
              index: 2,
              errorCode: 0,
              baseOffset: 42,
              logAppendTimeMs: 1_700_000_000_000,
              logStartOffset: 3,
              recordErrors: [{ batchIndex: 0, batchIndexErrorMessage: 'bad' }],
              errorMessage: 'msg',
              currentLeader: { leaderId: 3, leaderEpoch: 9 },
            },
          ],
        },
      ],
      throttleTimeMs: 7,
      nodeEndpoints: [{ nodeId: 3, host: 'b3', port: 19094, rack: 'r3' }],
    },
  },
  [ApiKey.Fetch]: {
    request: {
      clusterId: 'c',
      replicaId: -1,
      replicaState: { replicaId: -1, replicaEpoch: -1 },
      maxWaitMs: 500,
      minBytes: 1,
      maxBytes: 1 << 20,
      isolationLevel: 1,
      sessionId: 0,
      sessionEpoch: -1,
      // By id only: the name is not in the highest version (v13+), where the decoded body is compared.
      topics: [
        {
          topicId: 'AQIDBAUGBwgJCgsMDQ4PEA',
          partitions: [
            {
              partition: 0,
              currentLeaderEpoch: 3,
              fetchOffset: 10,
              lastFetchedEpoch: 2,
              logStartOffset: 0,
              partitionMaxBytes: 1024,
            },
          ],
        },
      ],
      forgottenTopicsData: [{ topicId: 'EA8ODQwLCgkIBwYFBAMCAQ', partitions: [1, 2] }],
      rackId: 'r1',
    },
    response: {
      throttleTimeMs: 1,
      errorCode: 0,
      sessionId: 0,
      responses: [
        {
          topicId: 'AQIDBAUGBwgJCgsMDQ4PEA',
          partitions: [
            {
              partitionIndex: 0,
              errorCode: 0,
              highWatermark: 100,
              lastStableOffset: 100,
              logStartOffset: 0,
              currentLeader: { leaderId: 1, leaderEpoch: 4 },
              abortedTransactions: [{ producerId: 9, firstOffset: 5 }],
              preferredReadReplica: -1,
              records,
            },
          ],
        },
      ],
      nodeEndpoints: [{ nodeId: 1, host: 'b1', port: 19092, rack: null }],
    },
  },
  [ApiKey.SaslHandshake]: {
    request: { mechanism: 'PLAIN' },
    response: { errorCode: 34, mechanisms: ['PLAIN'] },
  },
  [ApiKey.SaslAuthenticate]: {
    request: { authBytes: Buffer.from('\u0000user\u0000secret') },
    response: { errorCode: 34, errorMessage: 'no SASL here', authBytes: Buffer.alloc(0), sessionLifetimeMs: 0 },
  },
  [ApiKey.Metadata]: {
    request: {
      topics: [{ topicId: 'AAAAAAAAAAAAAAAAAAAAAA', name: 't' }],
      allowAutoTopicCreation: false,
      includeClusterAuthorizedOperations: false,
      includeTopicAuthorizedOperations: false,
    },
    response: {
      throttleTimeMs: 0,
      brokers: [{ nodeId: 1, host: '127.0.0.1', port: 9092, rack: 'r' }],
      clusterId: 'cluster',
      controllerId: 1,
      topics: [
        {
          errorCode: 0,
          name: 't',
          topicId: 'AAECAwQFBgcICQoLDA0ODw',
          isInternal: false,
          partitions: [
            {
              errorCode: 0,
              partitionIndex: 0,
              leaderId: 1,
              leaderEpoch: 2,
              replicaNodes: [1, 2],
              isrNodes: [1],
              offlineReplicas: [2],
            },
          ],
        },
      ],
    },
  },
};

function expectSubset(actual: unknown, expected: unknown, version: number): void {
  // Fields absent from a version come back as defaults; compare only what the version keeps.
  expect(actual).toMatchObject(expected as object);
  void version;
}

describe('API codecs', () => {
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
          // Re-encoding what was decoded gives the same bytes: nothing is lost or invented.
          expect(encodeMessage(schema, version, decoded).toBuffer()).toEqual(bytes);
          if (version === api.maxVersion) expectSubset(decoded, body, version);
        }
      });
    }
  }

  it('every API round-trips an empty body at every version', () => {
    for (const api of KAFKA_APIS.values()) {
      for (let version = api.minVersion; version <= api.maxVersion; version++) {
        for (const schema of [api.request, api.response]) {
          const bytes = encodeMessage(schema, version, {}).toBuffer();
          const decoded = decodeMessage<object>(schema, version, new KafkaReader(bytes));
          expect(encodeMessage(schema, version, decoded).toBuffer(), `${schema.name} v${version}`).toEqual(bytes);
        }
      }
    }
  });

  it('Metadata v0 request and response are the bytes of the protocol guide', () => {
    const api = KAFKA_APIS.get(ApiKey.Metadata)!;
    const frame = encodeRequest(api, { apiVersion: 0, correlationId: 7, clientId: 'k' }, { topics: [{ name: 'ab' }] });
    expect(frame.toString('hex')).toBe('00000013' + '0003' + '0000' + '00000007' + '00016b' + '00000001' + '00026162');
    const decoded = decodeRequest(frame.subarray(4), (k) => KAFKA_APIS.get(k));
    expect(decoded).toMatchObject({
      kind: 'request',
      header: { apiKey: 3, apiVersion: 0, correlationId: 7, clientId: 'k' },
    });
    const response = Buffer.concat(
      encodeResponse(api, 0, 7, {
        brokers: [{ nodeId: 1, host: 'h', port: 9 }],
        topics: [{ errorCode: 0, name: 'ab', partitions: [] }],
      }),
    );
    expect(response.toString('hex')).toBe(
      '00000021' +
        '00000007' +
        '00000001' +
        '00000001' +
        '000168' +
        '00000009' +
        '00000001' +
        '0000' +
        '00026162' +
        '00000000',
    );
  });

  it('SaslHandshake v1 and SaslAuthenticate v2 (flexible) answers are the bytes of the message definitions', () => {
    const handshake = KAFKA_APIS.get(ApiKey.SaslHandshake)!;
    expect(Buffer.concat(encodeResponse(handshake, 1, 3, { errorCode: 34, mechanisms: [] })).toString('hex')).toBe(
      '0000000a' + '00000003' + '0022' + '00000000',
    );
    const authenticate = KAFKA_APIS.get(ApiKey.SaslAuthenticate)!;
    const answer = encodeResponse(authenticate, 2, 3, { errorCode: 34, errorMessage: 'x', authBytes: Buffer.alloc(0) });
    // correlation id, header tags; error code, compact string 'x', compact empty bytes, session lifetime, tags
    expect(Buffer.concat(answer).toString('hex')).toBe(
      '00000013' + '00000003' + '00' + '0022' + '0278' + '01' + '0000000000000000' + '00',
    );
  });

  it('flexible headers: request header v2 skips tagged fields, response v1 has them, ApiVersions keeps v0', () => {
    const metadata = KAFKA_APIS.get(ApiKey.Metadata)!;
    const frame = encodeRequest(metadata, { apiVersion: 12, correlationId: 1, clientId: null }, { topics: null });
    const decoded = decodeRequest(frame.subarray(4), (k) => KAFKA_APIS.get(k));
    expect(decoded.kind === 'request' && decoded.body).toMatchObject({ topics: null, allowAutoTopicCreation: true });
    const flexible = Buffer.concat(encodeResponse(metadata, 12, 5, { brokers: [], topics: [] }));
    expect(flexible.subarray(4, 9).toString('hex')).toBe('0000000500');
    const versions = KAFKA_APIS.get(ApiKey.ApiVersions)!;
    const answer = Buffer.concat(encodeResponse(versions, 3, 5, { errorCode: 0, apiKeys: [] }));
    expect(answer.subarray(4, 10).toString('hex')).toBe('00000005' + '0000'); // no tag byte after the correlation id
    expect(decodeResponse(versions, 3, answer.subarray(4)).body).toMatchObject({ errorCode: 0, apiKeys: [] });
  });

  it('tagged fields: written when set, read back, and unknown tags skipped', () => {
    const fetch = KAFKA_APIS.get(ApiKey.Fetch)!;
    const body = {
      responses: [
        {
          topic: 't',
          partitions: [
            { partitionIndex: 0, highWatermark: 1, currentLeader: { leaderId: 2, leaderEpoch: 3 }, records: null },
          ],
        },
      ],
    };
    const bytes = encodeMessage(fetch.response, 12, body).toBuffer();
    const decoded = decodeMessage<Loose>(fetch.response, 12, new KafkaReader(bytes));
    expect(decoded.responses[0].partitions[0].currentLeader).toEqual({ leaderId: 2, leaderEpoch: 3 });
    expect(decoded.responses[0].partitions[0].divergingEpoch).toEqual({ epoch: -1, endOffset: -1 });
    // An ApiVersions v3 request with an unknown tag 7 carrying two bytes.
    const versions = KAFKA_APIS.get(ApiKey.ApiVersions)!;
    const raw = Buffer.from('026b' + '0276' + '01' + '07' + '02' + '0001', 'hex');
    expect(decodeMessage(versions.request, 3, new KafkaReader(raw))).toEqual({
      clientSoftwareName: 'k',
      clientSoftwareVersion: 'v',
    });
  });

  it('unknown APIs, unsupported versions, trailing bytes and short frames are typed errors', () => {
    const supported = (k: number) => KAFKA_APIS.get(k);
    const header = (key: number, version: number) =>
      Buffer.from([key >> 8, key & 255, 0, version, 0, 0, 0, 9, 0xff, 0xff]);
    expect(() => decodeRequest(header(999, 0), supported)).toThrow(
      expect.objectContaining({ kind: 'unknown-api', correlationId: 9 }),
    );
    expect(() => decodeRequest(header(ApiKey.Metadata, 99), supported)).toThrow(
      expect.objectContaining({ kind: 'unsupported-version' }),
    );
    expect(decodeRequest(header(ApiKey.ApiVersions, 99), supported)).toMatchObject({
      kind: 'api-versions-unsupported',
    });
    expect(() => decodeRequest(Buffer.concat([header(ApiKey.ApiVersions, 0), Buffer.from([1])]), supported)).toThrow(
      /unread bytes/,
    );
    expect(() => decodeRequest(Buffer.from([0, 3, 0]), supported)).toThrow(
      expect.objectContaining({ kind: 'malformed' }),
    );
  });
});
