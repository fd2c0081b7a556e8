import { join } from 'node:path';
import protobuf from 'protobufjs';
import { describe, expect, it } from 'vitest';
import {
  AFTER_SERIALIZE,
  loadBrokerProto,
  PROTO_DIR,
  loadReplicationProto,
  type FetchResponseWithHook,
  type FetchStreamResponseWithHook,
  type v1,
} from '@samsa/protocol';
import {
  encodeFetchResponse,
  encodeFetchStreamResponse,
  encodeReplicaFetchResponse,
} from '../src/grpc/fetch-response.js';

const service = loadBrokerProto().Broker.service.Fetch;
const decode = (bytes: Buffer) => service.responseDeserialize(bytes) as v1.FetchResponse__Output;

function partition(overrides: Partial<v1.FetchPartitionResponse> = {}): v1.FetchPartitionResponse {
  return {
    partition: 3,
    errorCode: 0,
    errorMessage: '',
    highWatermark: 1234,
    logStartOffset: 0,
    records: Buffer.from([1, 2, 3]),
    ...overrides,
  };
}

describe('FetchResponse encoder', () => {
  const cases: Record<string, v1.FetchResponse> = {
    empty: { topics: [] },
    'one partition': { topics: [{ name: 'orders', partitions: [partition()] }] },
    'errors and negatives': {
      topics: [
        {
          name: 'tøpic-ünïcode',
          partitions: [
            partition({
              errorCode: 6,
              errorMessage: 'not leader — ñ',
              highWatermark: -1,
              logStartOffset: -1,
              records: Buffer.alloc(0),
            }),
            partition({ partition: 0, errorCode: -1, highWatermark: Number.MAX_SAFE_INTEGER, logStartOffset: 2 ** 40 }),
            partition({
              partition: 2 ** 31 - 1,
              highWatermark: -(2 ** 33) - 7,
              logStartOffset: Number.MIN_SAFE_INTEGER,
            }),
          ],
        },
        { name: 'b', partitions: [partition({ records: Buffer.alloc(70_000, 7) })] },
        { name: '', partitions: [] },
      ],
    },
  };

  for (const [name, response] of Object.entries(cases)) {
    it(`${name}: decodes to what protobufjs decodes from its own encoding`, () => {
      const fast = Buffer.from(encodeFetchResponse(response)!);
      expect(decode(fast)).toEqual(decode(protobufjsEncode(response)));
    });
  }

  it('is what the Broker service serializes Fetch responses with', () => {
    const response = cases['errors and negatives']!;
    expect(Buffer.from(service.responseSerialize(response))).toEqual(Buffer.from(encodeFetchResponse(response)!));
  });

  it('runs the AFTER_SERIALIZE hook once the records are copied into the message', () => {
    const records = Buffer.from('batch bytes');
    const response: FetchResponseWithHook = { topics: [{ name: 't', partitions: [partition({ records })] }] };
    let calls = 0;
    response[AFTER_SERIALIZE] = () => {
      calls++;
      records.fill(0); // the broker reuses the read buffer from here on
    };
    const bytes = Buffer.from(service.responseSerialize(response));
    expect(calls).toBe(1);
    expect(decode(bytes).topics[0]!.partitions[0]!.records.toString()).toBe('batch bytes');
  });

  it('grows past its scratch buffer and still encodes exactly', () => {
    const records = Buffer.alloc(3 * 1024 * 1024);
    for (let i = 0; i < records.length; i++) records[i] = i & 0xff;
    const response = {
      topics: [
        {
          name: 't',
          partitions: [partition({ records }), partition({ partition: 4, records: records.subarray(5, 9_000_000) })],
        },
      ],
    };
    const decoded = decode(Buffer.from(encodeFetchResponse(response)!));
    expect(decoded.topics[0]!.partitions[0]!.records.equals(records)).toBe(true);
    expect(decoded.topics[0]!.partitions[1]!.records.equals(records.subarray(5))).toBe(true);
  });

  it('leaves inputs it does not cover to protobufjs', () => {
    expect(
      encodeFetchResponse({ topics: [{ name: 't', partitions: [partition({ records: 'AQID' })] }] }),
    ).toBeUndefined();
    expect(
      encodeFetchResponse({ topics: [{ name: 't', partitions: [partition({ highWatermark: '12' })] }] }),
    ).toBeUndefined();
    const viaService = decode(
      Buffer.from(
        service.responseSerialize({
          topics: [{ name: 't', partitions: [partition({ records: 'AQID', highWatermark: '12' })] }],
        }),
      ),
    );
    expect(viaService.topics[0]!.partitions[0]).toMatchObject({ highWatermark: 12, records: Buffer.from([1, 2, 3]) });
  });
});

describe('FetchStreamResponse encoder', () => {
  const stream = loadBrokerProto().Broker.service.FetchStream;
  const decodeStream = (bytes: Buffer) => stream.responseDeserialize(bytes) as v1.FetchStreamResponse__Output;
  const response: v1.FetchResponse = {
    topics: [
      { name: 'orders', partitions: [partition(), partition({ partition: 0, records: Buffer.alloc(70_000, 9) })] },
    ],
  };

  for (const correlationId of [0, 1, 2 ** 40 + 3]) {
    it(`wraps a response with correlation id ${correlationId} as protobufjs would`, () => {
      const fast = decodeStream(Buffer.from(encodeFetchStreamResponse({ correlationId, response })!));
      // Base64 records make the service fall back to protobufjs for the whole message.
      const slow = decodeStream(Buffer.from(stream.responseSerialize({ correlationId, response: base64(response) })));
      expect(fast).toEqual(slow);
      expect(fast.response).toEqual(decode(protobufjsEncode(response)));
    });
  }

  it('leaves failures to protobufjs, which the service then uses', () => {
    const failure = { correlationId: 7, statusCode: 14, statusMessage: 'broker is starting' };
    expect(encodeFetchStreamResponse(failure)).toBeUndefined();
    expect(decodeStream(Buffer.from(stream.responseSerialize(failure)))).toEqual({ ...failure, response: null });
  });

  it("runs the response's AFTER_SERIALIZE hook once the records are copied into the message", () => {
    const records = Buffer.from('batch bytes');
    const inner: FetchResponseWithHook = { topics: [{ name: 't', partitions: [partition({ records })] }] };
    let calls = 0;
    inner[AFTER_SERIALIZE] = () => {
      calls++;
      records.fill(0);
    };
    const message: FetchStreamResponseWithHook = { correlationId: 5, response: inner };
    const bytes = Buffer.from(stream.responseSerialize(message));
    expect(calls).toBe(1);
    const decoded = decodeStream(bytes);
    expect(decoded.correlationId).toBe(5);
    expect(decoded.response!.topics[0]!.partitions[0]!.records.toString()).toBe('batch bytes');
  });
});

describe('ReplicaFetchResponse encoder', () => {
  const replicaFetch = loadReplicationProto().Replication.service.ReplicaFetch;
  const decodeReplica = (bytes: Buffer) => replicaFetch.responseDeserialize(bytes) as v1.ReplicaFetchResponse__Output;
  const replicaPartition = (
    overrides: Partial<v1.ReplicaFetchPartitionResponse> = {},
  ): v1.ReplicaFetchPartitionResponse => ({
    partition: 1,
    errorCode: 0,
    errorMessage: '',
    highWatermark: 77,
    logStartOffset: 5,
    records: Buffer.from('stored batch bytes'),
    ...overrides,
  });
  const response: v1.ReplicaFetchResponse = {
    topics: [
      {
        name: 'rf3',
        partitions: [
          replicaPartition(),
          replicaPartition({
            partition: 0,
            errorCode: 74,
            errorMessage: 'fenced',
            highWatermark: -1,
            records: Buffer.alloc(0),
          }),
        ],
      },
      {
        name: 'other',
        partitions: [replicaPartition({ partition: 9, records: Buffer.alloc(200_000, 3), logStartOffset: 2 ** 41 })],
      },
    ],
  };

  it('decodes to what protobufjs decodes from its own encoding (records are field 7 here)', () => {
    const fast = Buffer.from(encodeReplicaFetchResponse(response)!);
    const slow = {
      topics: response.topics!.map((t) => ({
        ...t,
        partitions: t.partitions!.map((p) => ({
          ...p,
          records: Buffer.from(p.records as Uint8Array).toString('base64'),
        })),
      })),
    };
    expect(decodeReplica(fast)).toEqual(decodeReplica(Buffer.from(replicaFetch.responseSerialize(slow))));
    expect(decodeReplica(fast).topics[1]!.partitions[0]!.records.equals(Buffer.alloc(200_000, 3))).toBe(true);
  });

  it('is what the Replication service serializes ReplicaFetch responses with', () => {
    expect(Buffer.from(replicaFetch.responseSerialize(response))).toEqual(
      Buffer.from(encodeReplicaFetchResponse(response)!),
    );
  });

  it('leaves a diverging epoch to protobufjs, which the service then uses', () => {
    const diverging: v1.ReplicaFetchResponse = {
      topics: [
        {
          name: 't',
          partitions: [replicaPartition({ divergingEpoch: { epoch: 3, endOffset: 120 }, records: Buffer.alloc(0) })],
        },
      ],
    };
    expect(encodeReplicaFetchResponse(diverging)).toBeUndefined();
    expect(
      decodeReplica(Buffer.from(replicaFetch.responseSerialize(diverging))).topics[0]!.partitions[0]!.divergingEpoch,
    ).toEqual({ epoch: 3, endOffset: 120 });
  });
});

/**
 * protobufjs's own encoding: the service's serializer falls back to protobufjs for string (base64)
 * records, so encode a copy with its records as base64.
 */
function protobufjsEncode(response: v1.FetchResponse): Buffer {
  return Buffer.from(service.responseSerialize(base64(response)));
}

/** The response with its records as base64 strings, which only protobufjs encodes. */
function base64(response: v1.FetchResponse): v1.FetchResponse {
  return {
    topics: (response.topics ?? []).map((t) => ({
      ...t,
      partitions: (t.partitions ?? []).map((p) => ({
        ...p,
        records: Buffer.from(p.records as Uint8Array).toString('base64'),
      })),
    })),
  };
}

describe('records response encoders on random inputs', () => {
  const root = protobuf.loadSync([
    join(PROTO_DIR, 'samsa/v1/broker.proto'),
    join(PROTO_DIR, 'samsa/v1/replication.proto'),
  ]);
  /** protobufjs's own encoder, as the services fall back to (fromObject, then encode). */
  const encoderOf =
    (name: string) =>
    (message: object): Buffer => {
      const type = root.lookupType(name);
      return Buffer.from(type.encode(type.fromObject(message)).finish());
    };
  const slowFetch = encoderOf('samsa.v1.FetchResponse');
  const slowStream = encoderOf('samsa.v1.FetchStreamResponse');
  const slowReplica = encoderOf('samsa.v1.ReplicaFetchResponse');

  /** A small seeded generator (mulberry32): a failing seed reproduces. */
  function rng(seed: number): () => number {
    let a = seed >>> 0;
    return () => {
      a = (a + 0x6d2b79f5) >>> 0;
      let t = a;
      t = Math.imul(t ^ (t >>> 15), t | 1);
      t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
      return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    };
  }

  function randomResponse(next: () => number, lastStableOffsets: boolean): v1.FetchResponse {
    const pick = <T>(values: readonly T[]): T => values[Math.floor(next() * values.length)] as T;
    const int32 = (): number => pick([0, 1, -1, 127, 128, 300, 2 ** 31 - 1, -(2 ** 31), Math.floor(next() * 1e6)]);
    const int64 = (): number =>
      pick([0, 1, -1, 2 ** 40 + 3, Number.MAX_SAFE_INTEGER, Number.MIN_SAFE_INTEGER, Math.floor(next() * 1e12)]);
    const text = (): string => pick(['', 'a', 'orders', 'tøpic-ünïcode — ñ', 'x'.repeat(200), '😀 emoji']);
    const records = (): Buffer => {
      const length = pick([0, 1, 61, 127, 128, 16_383, 16_384, 70_000]);
      const bytes = Buffer.alloc(length);
      for (let i = 0; i < length; i += 97) bytes[i] = Math.floor(next() * 256);
      return bytes;
    };
    const topics: v1.FetchTopicResponse[] = [];
    const topicCount = pick([0, 1, 1, 2, 3, 5]);
    for (let t = 0; t < topicCount; t++) {
      const partitions: v1.FetchPartitionResponse[] = [];
      const partitionCount = pick([0, 1, 1, 2, 4, 9]);
      for (let p = 0; p < partitionCount; p++) {
        partitions.push({
          partition: int32(),
          errorCode: int32(),
          errorMessage: text(),
          highWatermark: int64(),
          logStartOffset: int64(),
          records: records(),
          ...(lastStableOffsets ? { lastStableOffset: int64() } : {}),
        });
      }
      topics.push({ name: text(), partitions });
    }
    return { topics };
  }

  /**
   * protobufjs writes every field it is given, a default value too, where proto3 (and the fast path)
   * leave defaults out: given the response without them, its encoding must be the fast path's byte for byte.
   */
  function withoutDefaults(response: v1.FetchResponse): object {
    const topics = (response.topics ?? []).map((t) => {
      const partitions = (t.partitions ?? []).map((p) => {
        const out: Record<string, unknown> = {};
        for (const [key, value] of Object.entries(p)) {
          if (value === 0 || value === '' || (Buffer.isBuffer(value) && value.length === 0)) continue;
          out[key] = value;
        }
        return out;
      });
      return t.name ? { name: t.name, partitions } : { partitions };
    });
    return { topics };
  }

  it('writes exactly what protobufjs writes, call after call (Fetch, FetchStream, ReplicaFetch)', () => {
    for (let seed = 1; seed <= 300; seed++) {
      const next = rng(seed);
      const fetch = randomResponse(next, true);
      const fast = Buffer.from(encodeFetchResponse(fetch)!);
      expect(fast.equals(slowFetch(withoutDefaults(fetch))), `Fetch, seed ${seed}`).toBe(true);

      const correlationId = seed % 3 === 0 ? 0 : seed * 7919;
      const streamed = Buffer.from(encodeFetchStreamResponse({ correlationId, response: fetch })!);
      const slow = slowStream({ ...(correlationId ? { correlationId } : {}), response: withoutDefaults(fetch) });
      expect(streamed.equals(slow), `FetchStream, seed ${seed}`).toBe(true);

      const replica = randomResponse(next, false) as v1.ReplicaFetchResponse;
      const fastReplica = Buffer.from(encodeReplicaFetchResponse(replica)!);
      expect(fastReplica.equals(slowReplica(withoutDefaults(replica))), `ReplicaFetch, seed ${seed}`).toBe(true);
    }
  });
});
