import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  BATCH_HEADER_SIZE,
  BatchField,
  COMPRESSION_NAMES,
  CorruptRecordError,
  LOG_OVERHEAD,
  decodeBatch,
  compress,
  decodeBatches,
  encodeBatch,
  writeBatchCrc,
  type EncodeBatchOptions,
  type KafkaRecordInput,
} from '@samsa/protocol';

/**
 * Property tests. numRuns are kept small enough for the whole protocol suite to stay well under
 * 20 s on a shared 2-core machine; SAMSA_FUZZ_SCALE=50 runs fifty times as many cases for a deeper
 * search. A failure prints its seed, and fc.assert({ seed, path }) replays it.
 */
const scale = Number(process.env.SAMSA_FUZZ_SCALE ?? 1);
const runs = (count: number) => ({ numRuns: Math.max(1, Math.round(count * scale)) });

const bytes = (maxLength: number) => fc.uint8Array({ maxLength }).map((a) => Buffer.from(a));
const nullableBytes = (maxLength: number) => fc.option(bytes(maxLength), { nil: null });

const recordArb: fc.Arbitrary<KafkaRecordInput> = fc.record(
  {
    key: nullableBytes(40),
    value: nullableBytes(300),
    headers: fc.array(fc.record({ key: fc.string({ unit: 'binary', maxLength: 12 }), value: nullableBytes(20) }), {
      maxLength: 3,
    }),
    timestamp: fc.nat({ max: Number.MAX_SAFE_INTEGER }),
  },
  { requiredKeys: ['value', 'headers'] },
);

const optionsArb: fc.Arbitrary<EncodeBatchOptions> = fc.record({
  compression: fc.constantFrom(...COMPRESSION_NAMES),
  baseOffset: fc.nat({ max: 2 ** 40 }),
  partitionLeaderEpoch: fc.integer({ min: -1, max: 0x7fffffff }),
  producerId: fc.integer({ min: -1, max: 2 ** 45 }),
  producerEpoch: fc.integer({ min: -1, max: 0x7fff }),
  baseSequence: fc.integer({ min: -1, max: 0x7fffffff }),
  transactional: fc.boolean(),
  now: fc.nat({ max: 2 ** 42 }),
});

const batchArb = fc.tuple(fc.array(recordArb, { minLength: 1, maxLength: 12 }), optionsArb);

/** Decoding either succeeds or throws CorruptRecordError; anything else fails the property. */
function decodeOnlyCorrupt(buf: Buffer, verifyCrc: boolean): void {
  try {
    decodeBatches(buf, { verifyCrc });
  } catch (error) {
    if (!(error instanceof CorruptRecordError)) throw error;
  }
}

/** Rewrites the CRC (when the framing still allows it) so mutations reach the record parser. */
function withValidCrc(buf: Buffer): Buffer {
  if (buf.length >= BATCH_HEADER_SIZE) {
    const batchLength = buf.readInt32BE(BatchField.batchLength);
    if (batchLength >= BATCH_HEADER_SIZE - LOG_OVERHEAD && LOG_OVERHEAD + batchLength <= buf.length)
      writeBatchCrc(buf, 0, { batchLength });
  }
  return buf;
}

type Mutation =
  | { kind: 'flip'; at: number; mask: number }
  | { kind: 'truncate'; at: number }
  | { kind: 'overwrite'; at: number; with: Buffer }
  | { kind: 'int32'; field: 'batchLength' | 'recordCount' | 'lastOffsetDelta' | 'attributes'; value: number };

const hostileValues = fc.constantFrom(0, -1, -2, 1, 0x7fffffff, -0x80000000, 0x10000, 61, 49);
const mutationArb: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), mask: fc.integer({ min: 1, max: 255 }) }),
  fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }),
  fc.record({
    kind: fc.constant('overwrite' as const),
    at: fc.nat(),
    // Huge and negative varints: 2^31-1, -2^31, -2, and a run of continuation bytes.
    with: fc
      .constantFrom('feffffff0f', 'ffffffff0f', '03', '8080808080808080808001', 'ff')
      .map((h) => Buffer.from(h, 'hex')),
  }),
  fc.record({
    kind: fc.constant('int32' as const),
    field: fc.constantFrom('batchLength', 'recordCount', 'lastOffsetDelta', 'attributes'),
    value: hostileValues,
  }),
);

function mutate(original: Buffer, mutation: Mutation): Buffer {
  const buf = Buffer.from(original);
  if (buf.length < BATCH_HEADER_SIZE) return buf; // an earlier truncation already broke the framing
  switch (mutation.kind) {
    case 'flip':
      buf[mutation.at % buf.length]! ^= mutation.mask;
      return buf;
    case 'truncate':
      return buf.subarray(0, mutation.at % buf.length);
    case 'overwrite':
      mutation.with.copy(buf, mutation.at % buf.length);
      return buf;
    case 'int32':
      if (mutation.field === 'attributes') buf.writeInt16BE(mutation.value & 0x7fff, BatchField.attributes);
      else buf.writeInt32BE(mutation.value, BatchField[mutation.field]);
      return buf;
  }
}

describe('properties', () => {
  it('encode then decode returns the records under every codec', () => {
    fc.assert(
      fc.property(batchArb, ([records, options]) => {
        const batch = decodeBatch(encodeBatch(records, options));
        expect(batch.compression).toBe(options.compression);
        expect(batch.transactional).toBe(options.transactional);
        expect(batch.records).toEqual(
          records.map((r, i) => ({
            key: r.key ?? null,
            value: r.value,
            headers: r.headers,
            timestamp: r.timestamp ?? options.now,
            offset: options.baseOffset! + i,
          })),
        );
      }),
      runs(250),
    );
  });

  it('random bytes only ever yield CorruptRecordError', () => {
    fc.assert(
      fc.property(bytes(400), fc.boolean(), (buf, verifyCrc) => decodeOnlyCorrupt(buf, verifyCrc)),
      runs(400),
    );
  });

  it('a valid header over random (validly compressed) record bytes only ever yields CorruptRecordError', () => {
    const header = encodeBatch([{ value: null, timestamp: 0 }]).subarray(0, BATCH_HEADER_SIZE);
    fc.assert(
      fc.property(
        bytes(300),
        fc.nat({ max: 7 }),
        fc.constantFrom(0, 0x08, 0x10, 0x20),
        fc.nat({ max: 40 }),
        (plain, codec, flags, recordCount) => {
          const name = COMPRESSION_NAMES[codec];
          // Codes 5-7 are unknown codecs: random bytes then; known codecs get a valid stream so the record parser is
          // reached.
          const body = name === undefined ? plain : compress(name, plain);
          const buf = Buffer.concat([header, body]);
          buf.writeInt32BE(buf.length - LOG_OVERHEAD, BatchField.batchLength);
          buf.writeInt16BE(codec | flags, BatchField.attributes);
          buf.writeInt32BE(recordCount, BatchField.recordCount);
          decodeOnlyCorrupt(withValidCrc(buf), true);
        },
      ),
      runs(400),
    );
  });

  it('mutated valid batches (flips, truncation, huge/negative lengths) only yield CorruptRecordError, quickly', () => {
    fc.assert(
      fc.property(
        batchArb,
        fc.array(mutationArb, { minLength: 1, maxLength: 3 }),
        fc.boolean(),
        ([records, options], mutations, fixCrc) => {
          let buf = encodeBatch(records, options);
          for (const mutation of mutations) buf = mutate(buf, mutation);
          const startedMs = performance.now();
          decodeOnlyCorrupt(fixCrc ? withValidCrc(buf) : buf, true);
          decodeOnlyCorrupt(buf, false);
          expect(performance.now() - startedMs).toBeLessThan(2_000);
        },
      ),
      runs(400),
    );
  });
});
