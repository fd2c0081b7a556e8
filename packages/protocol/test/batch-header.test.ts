import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  BATCH_HEADER_SIZE,
  BatchField,
  CorruptRecordError,
  readBatchHeader,
  splitBatches,
  stampBatch,
  verifyBatchCrc,
  writeBatchCrc,
} from '@samsa/protocol';

/** A header-only batch (zero records) with a valid CRC, enough to exercise framing. */
function emptyBatch(): Buffer {
  const buf = Buffer.alloc(BATCH_HEADER_SIZE);
  buf.writeInt32BE(BATCH_HEADER_SIZE - 12, BatchField.batchLength);
  buf.writeInt8(2, BatchField.magic);
  buf.writeBigInt64BE(-1n, BatchField.producerId);
  buf.writeInt16BE(-1, BatchField.producerEpoch);
  buf.writeInt32BE(-1, BatchField.baseSequence);
  writeBatchCrc(buf, 0, { batchLength: BATCH_HEADER_SIZE - 12 });
  return buf;
}

describe('batch header', () => {
  it('stamping base offset and leader epoch keeps the CRC valid', () => {
    const buf = emptyBatch();
    stampBatch(buf, 0, 123456789, 7);
    const header = readBatchHeader(buf);
    expect(header.baseOffset).toBe(123456789);
    expect(header.partitionLeaderEpoch).toBe(7);
    expect(verifyBatchCrc(buf, 0, header)).toBe(true);
  });

  it('a flipped byte in the CRC-covered region is detected', () => {
    const buf = emptyBatch();
    buf[BatchField.maxTimestamp + 3]! ^= 0x10;
    expect(() => splitBatches(buf)).toThrow(CorruptRecordError);
  });

  it('rejects truncated and oversized framing with a typed error', () => {
    const buf = emptyBatch();
    expect(() => readBatchHeader(buf.subarray(0, 30))).toThrow(CorruptRecordError);
    buf.writeInt32BE(0x7fffffff, BatchField.batchLength);
    expect(() => readBatchHeader(buf)).toThrow(CorruptRecordError);
    expect(() => splitBatches(Buffer.concat([emptyBatch(), emptyBatch().subarray(0, 40)]))).toThrow(CorruptRecordError);
  });

  it('reads 64-bit fields exactly within ±(2^53 - 1) and refuses the rest', () => {
    const limit = BigInt(Number.MAX_SAFE_INTEGER);
    const edges = [
      0n,
      -1n,
      1n,
      limit,
      -limit,
      limit + 1n,
      -limit - 1n,
      2n ** 32n,
      -(2n ** 32n),
      2n ** 63n - 1n,
      -(2n ** 63n),
    ];
    const values = fc.oneof(
      fc.constantFrom(...edges),
      fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }),
      fc.bigInt({ min: -limit - 3n, max: limit + 3n }),
    );
    fc.assert(
      fc.property(values, (value) => {
        const buf = emptyBatch();
        buf.writeBigInt64BE(value, BatchField.maxTimestamp);
        if (value > limit || value < -limit)
          expect(() => readBatchHeader(buf)).toThrow(/outside the exact integer range/);
        else expect(readBatchHeader(buf).maxTimestamp).toBe(Number(value));
      }),
      { numRuns: 2000 },
    );
  });
});
