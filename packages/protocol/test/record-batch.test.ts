import { describe, expect, it } from 'vitest';
import {
  BATCH_HEADER_SIZE,
  BatchField,
  CorruptRecordError,
  ErrorCodes,
  SamsaError,
  decodeBatch,
  decodeBatches,
  encodeBatch,
  readBatchHeader,
  stampBatch,
  writeBatchCrc,
  type KafkaRecordInput,
} from '@samsa/protocol';

const NOW = 1_763_700_000_000;
const text = (s: string) => Buffer.from(s);

function records(count: number): KafkaRecordInput[] {
  return Array.from({ length: count }, (_, i) => ({ key: text(`k${i}`), value: text(`v${i}`), timestamp: NOW + i }));
}

/** Rewrites the CRC after a test edits covered bytes, so the decoder reaches the structural checks. */
function recrc(buf: Buffer): Buffer {
  writeBatchCrc(buf, 0, readBatchHeader(buf));
  return buf;
}

describe('encodeBatch', () => {
  it('writes the defaults Kafka clients send', () => {
    const header = readBatchHeader(encodeBatch(records(3)));
    expect(header).toMatchObject({
      baseOffset: 0,
      partitionLeaderEpoch: -1,
      magic: 2,
      attributes: 0,
      lastOffsetDelta: 2,
      baseTimestamp: NOW,
      maxTimestamp: NOW + 2,
      producerId: -1,
      producerEpoch: -1,
      baseSequence: -1,
      recordCount: 3,
    });
  });

  it('takes baseTimestamp from the first record and maxTimestamp from the largest', () => {
    const batch = decodeBatch(
      encodeBatch([
        { value: null, timestamp: 50 },
        { value: null, timestamp: 90 },
        { value: null, timestamp: 10 },
      ]),
    );
    expect(batch.header.baseTimestamp).toBe(50);
    expect(batch.header.maxTimestamp).toBe(90);
    expect(batch.records.map((r) => r.timestamp)).toEqual([50, 90, 10]);
  });

  it('uses `now` for records without a timestamp and never reads the clock itself', () => {
    const batch = decodeBatch(encodeBatch([{ value: text('a') }, { value: text('b'), timestamp: 7 }], { now: 1234 }));
    expect(batch.records.map((r) => r.timestamp)).toEqual([1234, 7]);
    expect(() => encodeBatch([{ value: text('a') }])).toThrow(
      expect.objectContaining({ code: ErrorCodes.INVALID_TIMESTAMP.code }),
    );
    expect(() => encodeBatch([{ value: text('a'), timestamp: -5 }])).toThrow(SamsaError);
  });

  it('carries producer, epoch, sequence, offset and the transactional and control bits', () => {
    const options = {
      baseOffset: 77,
      partitionLeaderEpoch: 4,
      producerId: 9_007_199_254_740_000,
      producerEpoch: 12,
      baseSequence: 1000,
      transactional: true,
      control: true,
    };
    const batch = decodeBatch(encodeBatch(records(2), options));
    expect(batch.header).toMatchObject({
      baseOffset: 77,
      partitionLeaderEpoch: 4,
      producerId: 9_007_199_254_740_000,
      producerEpoch: 12,
      baseSequence: 1000,
    });
    expect(batch.transactional).toBe(true);
    expect(batch.control).toBe(true);
    expect(batch.records.map((r) => r.offset)).toEqual([77, 78]);
  });

  it('writes LOG_APPEND_TIME batches whose records all read as the append time', () => {
    const buf = encodeBatch(records(3), { timestampType: 'logAppendTime', now: NOW + 500 });
    const batch = decodeBatch(buf);
    expect(batch.timestampType).toBe('logAppendTime');
    expect(batch.header.maxTimestamp).toBe(NOW + 500);
    expect(batch.records.map((r) => r.timestamp)).toEqual([NOW + 500, NOW + 500, NOW + 500]);
    expect(
      decodeBatch(encodeBatch(records(1), { timestampType: 'logAppendTime', logAppendTime: 42 })).records[0]!.timestamp,
    ).toBe(42);
  });

  it('round-trips null keys, null values, empty buffers and headers with null values', () => {
    const input: KafkaRecordInput[] = [
      { key: null, value: null, timestamp: NOW },
      {
        key: Buffer.alloc(0),
        value: Buffer.alloc(0),
        headers: [
          { key: '', value: null },
          { key: 'é', value: Buffer.alloc(0) },
        ],
        timestamp: NOW,
      },
      {
        value: new Uint8Array([1, 2, 3]),
        headers: [
          { key: 'dup', value: text('1') },
          { key: 'dup', value: text('2') },
        ],
        timestamp: NOW,
      },
    ];
    const decoded = decodeBatch(encodeBatch(input)).records;
    expect(decoded[0]).toMatchObject({ key: null, value: null, headers: [] });
    expect(decoded[1]).toMatchObject({
      key: Buffer.alloc(0),
      value: Buffer.alloc(0),
      headers: [
        { key: '', value: null },
        { key: 'é', value: Buffer.alloc(0) },
      ],
    });
    expect(decoded[2]).toMatchObject({
      key: null,
      value: Buffer.from([1, 2, 3]),
      headers: [
        { key: 'dup', value: text('1') },
        { key: 'dup', value: text('2') },
      ],
    });
  });

  it('rejects an empty batch and out-of-range header fields with typed errors', () => {
    expect(() => encodeBatch([])).toThrow(SamsaError);
    expect(() => encodeBatch(records(1), { producerEpoch: 40_000 })).toThrow(SamsaError);
    expect(() => encodeBatch(records(1), { baseSequence: -2 })).toThrow(SamsaError);
    expect(() => encodeBatch(records(1), { baseOffset: -1 })).toThrow(SamsaError);
    // Names from untyped callers, including ones every object has through its prototype.
    expect(() => encodeBatch(records(1), { compression: 'toString' as never })).toThrow(/unknown compression/);
    expect(() => encodeBatch(records(1), { timestampType: 'brotli' as never })).toThrow(/unknown timestamp type/);
  });

  it('stays valid when the broker stamps offset and leader epoch', () => {
    const buf = encodeBatch(records(2));
    stampBatch(buf, 0, 5_000, 3);
    const batch = decodeBatch(buf);
    expect(batch.records.map((r) => r.offset)).toEqual([5_000, 5_001]);
    expect(batch.header.partitionLeaderEpoch).toBe(3);
  });

  it('encodes 1,000 records of 100 bytes into one exact buffer', () => {
    const input = Array.from({ length: 1_000 }, (_, i) => ({
      key: text(`key-${i}`),
      value: Buffer.alloc(100, i),
      timestamp: NOW + i,
    }));
    const buf = encodeBatch(input);
    const batch = decodeBatch(buf);
    expect(batch.sizeBytes).toBe(buf.length);
    expect(batch.records).toHaveLength(1_000);
    expect(batch.records[999]!.value).toEqual(Buffer.alloc(100, 999));
  });
});

describe('decodeBatch and decodeBatches', () => {
  it('decode concatenated batches at their positions', () => {
    const first = encodeBatch(records(2));
    const second = encodeBatch(records(3), { baseOffset: 2, compression: 'gzip' });
    const batches = decodeBatches(Buffer.concat([first, second]));
    expect(batches.map((b) => b.records.map((r) => r.offset))).toEqual([
      [0, 1],
      [2, 3, 4],
    ]);
    expect(decodeBatch(Buffer.concat([first, second]), first.length).records).toHaveLength(3);
  });

  it('reject a partial trailing batch unless asked to stop at it, as a consumer does', () => {
    const buf = Buffer.concat([encodeBatch(records(2)), encodeBatch(records(2)).subarray(0, 40)]);
    expect(() => decodeBatches(buf)).toThrow(CorruptRecordError);
    expect(decodeBatches(buf, { allowPartialTrailingBatch: true })).toHaveLength(1);
    expect(decodeBatches(buf.subarray(0, buf.length - 35), { allowPartialTrailingBatch: true })).toHaveLength(1);
  });

  it('check the CRC unless told not to', () => {
    const buf = encodeBatch(records(2));
    buf[buf.length - 3]! ^= 0x01;
    expect(() => decodeBatch(buf)).toThrow(/CRC mismatch/);
    expect(decodeBatch(buf, 0, { verifyCrc: false }).records).toHaveLength(2);
  });

  it('reject a record count that disagrees with the records', () => {
    const buf = encodeBatch(records(3));
    buf.writeInt32BE(2, BatchField.recordCount);
    expect(() => decodeBatch(recrc(buf))).toThrow(/bytes follow the last of 2 records/);
    buf.writeInt32BE(4, BatchField.recordCount);
    expect(() => decodeBatch(recrc(buf))).toThrow(CorruptRecordError);
    buf.writeInt32BE(0x7fffffff, BatchField.recordCount);
    expect(() => decodeBatch(recrc(buf))).toThrow(/cannot fit/);
  });

  it('reject a record whose length disagrees with its fields', () => {
    const buf = encodeBatch([{ key: null, value: text('abc'), timestamp: NOW }]);
    // record length is the first byte after the header: 9 bytes of body (zigzag 18).
    expect(buf[BATCH_HEADER_SIZE]).toBe(18);
    buf[BATCH_HEADER_SIZE] = 16;
    expect(() => decodeBatch(recrc(buf))).toThrow(CorruptRecordError);
  });

  it('reject negative lengths below -1 and negative header counts', () => {
    const buf = encodeBatch([{ key: null, value: null, timestamp: NOW }]);
    const keyAt = BATCH_HEADER_SIZE + 4; // length, attributes, timestamp delta, offset delta
    expect(buf[keyAt]).toBe(0x01); // -1: null key
    buf[keyAt] = 0x03; // -2
    expect(() => decodeBatch(recrc(buf))).toThrow(/negative/);
    buf[keyAt] = 0x01;
    buf[keyAt + 2] = 0x01; // header count -1
    expect(() => decodeBatch(recrc(buf))).toThrow(/header count -1/);
  });

  it('report the batch position of a problem inside compressed records', () => {
    const good = encodeBatch(records(1));
    const bad = encodeBatch(records(2), { compression: 'gzip' });
    bad.writeInt32BE(5, BatchField.recordCount);
    const error = (() => {
      try {
        decodeBatches(Buffer.concat([good, recrc(bad)]));
      } catch (e) {
        return e;
      }
    })();
    expect(error).toBeInstanceOf(CorruptRecordError);
    expect((error as CorruptRecordError).position).toBe(good.length + BATCH_HEADER_SIZE);
  });
});
