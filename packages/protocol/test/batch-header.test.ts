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
});
