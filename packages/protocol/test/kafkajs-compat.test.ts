import { describe, expect, it } from 'vitest';
import { decodeBatch, encodeBatch, type RecordBatch } from '@samsa/protocol';
import { describeRecord, kafkajsBatches, recordInput, type BatchDescription } from './fixtures.js';

/**
 * Bytes written by KafkaJS (scripts/gen-protocol-fixtures.mjs), an independent Kafka client: Samsa
 * must read them as described and, for uncompressed batches, write the very same bytes.
 */
const fixtures = kafkajsBatches();

function expectMatches(batch: RecordBatch, description: BatchDescription): void {
  const { header } = batch;
  const { transactional, ...expectedFields } = description.header;
  expect(batch.compression).toBe(description.compression);
  expect(batch.transactional).toBe(transactional);
  expect(batch.control).toBe(false);
  expect(batch.timestampType).toBe('createTime');
  expect({
    baseOffset: header.baseOffset,
    partitionLeaderEpoch: header.partitionLeaderEpoch,
    producerId: header.producerId,
    producerEpoch: header.producerEpoch,
    baseSequence: header.baseSequence,
    baseTimestamp: header.baseTimestamp,
    maxTimestamp: header.maxTimestamp,
    lastOffsetDelta: header.lastOffsetDelta,
    recordCount: header.recordCount,
  }).toEqual(expectedFields);
  expect(batch.records.map(describeRecord)).toEqual(description.records);
}

function encodeLike(description: BatchDescription): Buffer {
  const { header } = description;
  return encodeBatch(description.records.map(recordInput), {
    compression: description.compression,
    baseOffset: header.baseOffset,
    partitionLeaderEpoch: header.partitionLeaderEpoch,
    producerId: header.producerId,
    producerEpoch: header.producerEpoch,
    baseSequence: header.baseSequence,
    transactional: header.transactional,
  });
}

describe('KafkaJS fixtures', () => {
  it('cover every codec, null keys and values, headers and explicit timestamps', () => {
    expect(new Set(fixtures.map((f) => f.description.compression))).toEqual(
      new Set(['none', 'gzip', 'snappy', 'lz4', 'zstd']),
    );
  });

  for (const { description, bytes } of fixtures) {
    it(`decodes ${description.name} to exactly the described records`, () => {
      const batch = decodeBatch(bytes);
      expect(batch.sizeBytes).toBe(bytes.length);
      expectMatches(batch, description);
    });

    if (description.compression === 'none') {
      it(`encodes ${description.name} byte for byte as KafkaJS does`, () => {
        expect(encodeLike(description).toString('hex')).toBe(bytes.toString('hex'));
      });
    } else {
      // Compressed bytes depend on the library and its version, so compare what they decode to.
      it(`encodes ${description.name} to a batch that decodes to the same records`, () => {
        expectMatches(decodeBatch(encodeLike(description)), description);
      });
    }
  }
});

describe('a hand-annotated batch, field by field from the Kafka protocol documentation', () => {
  // The none-single fixture, split along https://kafka.apache.org/documentation/#recordbatch
  const fields: [string, string][] = [
    ['baseOffset int64 = 0', '0000000000000000'],
    ['batchLength int32 = 73 (85 - 12)', '00000049'],
    ['partitionLeaderEpoch int32 = -1', 'ffffffff'],
    ['magic int8 = 2', '02'],
    ['crc uint32 (CRC-32C of attributes..end)', 'fa759db4'],
    ['attributes int16 = 0 (no compression, CreateTime)', '0000'],
    ['lastOffsetDelta int32 = 0', '00000000'],
    ['baseTimestamp int64 = 1700000000000', '0000018bcfe56800'],
    ['maxTimestamp int64 = 1700000000000', '0000018bcfe56800'],
    ['producerId int64 = -1', 'ffffffffffffffff'],
    ['producerEpoch int16 = -1', 'ffff'],
    ['baseSequence int32 = -1', 'ffffffff'],
    ['records count int32 = 1', '00000001'],
    ['record length varint = 23 (zigzag 46)', '2e'],
    ['record attributes int8 = 0', '00'],
    ['timestampDelta varlong = 0', '00'],
    ['offsetDelta varint = 0', '00'],
    ['keyLength varint = 5 (zigzag 10), key "key-1"', '0a6b65792d31'],
    ['valueLength varint = 12 (zigzag 24), value "hello, samsa"', '1868656c6c6f2c2073616d7361'],
    ['headers count varint = 0', '00'],
  ];
  const bytes = Buffer.from(fields.map(([, hex]) => hex).join(''), 'hex');

  it('decodes to the one record it spells out', () => {
    const batch = decodeBatch(bytes);
    expect(batch.records).toEqual([
      {
        key: Buffer.from('key-1'),
        value: Buffer.from('hello, samsa'),
        headers: [],
        timestamp: 1_700_000_000_000,
        offset: 0,
      },
    ]);
  });

  it('is what encodeBatch writes with the default header fields', () => {
    const encoded = encodeBatch([
      { key: Buffer.from('key-1'), value: Buffer.from('hello, samsa'), timestamp: 1_700_000_000_000 },
    ]);
    expect(encoded.toString('hex')).toBe(bytes.toString('hex'));
  });
});
