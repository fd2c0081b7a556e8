#!/usr/bin/env node
// Generates the byte-compatibility fixtures of @samsa/protocol from KafkaJS, an independent Kafka
// client, so the tests can prove that Samsa reads and writes the same RecordBatch v2 bytes:
//   packages/protocol/test/fixtures/kafkajs/<name>.hex   one batch, encoded by KafkaJS's RecordBatch v0 encoder
//   packages/protocol/test/fixtures/kafkajs/batches.json  what each batch holds (header fields, records)
//   packages/protocol/test/fixtures/murmur2.json          KafkaJS's Java-compatible murmur2 and partitions
// Run: node scripts/gen-protocol-fixtures.mjs   (KafkaJS is a dev dependency; the tests read only the files)
//
// KafkaJS compresses gzip itself. It ships no snappy, lz4 or zstd codec but lets callers register
// one, so those batches use KafkaJS's framing around a payload made directly by the compression
// library (raw snappy block, LZ4 frame, zstd frame): Samsa's codec module plays no part in them.
import { mkdirSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as zlib from 'node:zlib';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(join(root, 'package.json'));
const { RecordBatch } = require('kafkajs/src/protocol/recordBatch/v0/index.js');
const Record = require('kafkajs/src/protocol/recordBatch/record/v0/index.js');
const { Types, Codecs } = require('kafkajs/src/protocol/message/compression/index.js');
const Long = require('kafkajs/src/utils/long.js');
const javaMurmur2 = require('kafkajs/src/producer/partitioners/default/murmur2.js');
const snappy = require('snappy');
const lz4 = require('lz4-napi');

const outDir = join(root, 'packages/protocol/test/fixtures');

Codecs[Types.Snappy] = () => ({ compress: async (encoder) => snappy.compressSync(encoder.buffer) });
Codecs[Types.LZ4] = () => ({ compress: async (encoder) => lz4.compressFrameSync(encoder.buffer) });
Codecs[Types.ZSTD] = () => ({ compress: async (encoder) => zlib.zstdCompressSync(encoder.buffer) });

const T0 = 1_700_000_000_000;
const utf8 = (text) => Buffer.from(text, 'utf8');

/**
 * Records as KafkaJS takes them: key and value Buffer or null, headers an object whose array values
 * become repeated headers (KafkaJS cannot encode a null header value).
 */
const batches = [
  {
    name: 'none-single',
    compression: 'none',
    records: [{ key: utf8('key-1'), value: utf8('hello, samsa'), headers: {}, timestamp: T0 }],
  },
  {
    name: 'none-nulls-and-headers',
    compression: 'none',
    records: [
      { key: null, value: utf8('no key'), headers: {}, timestamp: T0 },
      { key: utf8('no value'), value: null, headers: {}, timestamp: T0 + 1 },
      { key: null, value: null, headers: {}, timestamp: T0 + 2 },
      {
        key: Buffer.alloc(0),
        value: Buffer.alloc(0),
        headers: { 'content-type': utf8('text/plain'), empty: Buffer.alloc(0) },
        timestamp: T0 + 3,
      },
      {
        key: utf8('k'),
        value: Buffer.from([0, 1, 2, 255]),
        headers: { trace: [utf8('a'), utf8('b')], 'ключ ✓': utf8('unicode key') },
        timestamp: T0 + 4,
      },
    ],
  },
  {
    name: 'none-timestamps',
    compression: 'none',
    // Out of order (negative deltas), more than 2^31 ms apart (varlong beyond int32), and epoch 0.
    records: [
      { key: utf8('first'), value: utf8('base'), headers: {}, timestamp: T0 },
      { key: utf8('earlier'), value: utf8('negative delta'), headers: {}, timestamp: T0 - 5_000 },
      { key: utf8('later'), value: utf8('30 days on'), headers: {}, timestamp: T0 + 30 * 86_400_000 },
      { key: utf8('epoch'), value: utf8('timestamp 0'), headers: {}, timestamp: 0 },
    ],
  },
  {
    name: 'none-transactional-idempotent',
    compression: 'none',
    header: {
      baseOffset: 1_000,
      partitionLeaderEpoch: 7,
      producerId: 123_456_789_012,
      producerEpoch: 3,
      baseSequence: 42,
      transactional: true,
    },
    records: Array.from({ length: 20 }, (_, i) => ({
      key: utf8(`key-${i}`),
      value: Buffer.alloc(100 + i * 13, i),
      headers: i % 3 === 0 ? { seq: utf8(String(i)) } : {},
      timestamp: T0 + i * 7,
    })),
  },
  {
    name: 'none-large-values',
    compression: 'none',
    // Lengths whose varints take 2 and 3 bytes.
    records: [
      {
        key: Buffer.alloc(200, 0x61),
        value: Buffer.alloc(9_000, 0x62),
        headers: { big: Buffer.alloc(100, 0x63) },
        timestamp: T0,
      },
      { key: null, value: Buffer.alloc(64, 0x64), headers: {}, timestamp: T0 + 1 },
    ],
  },
  {
    name: 'gzip-mixed',
    compression: 'gzip',
    records: Array.from({ length: 12 }, (_, i) => ({
      key: i % 4 === 0 ? null : utf8(`user-${i % 5}`),
      value: i % 5 === 4 ? null : utf8(`{"event":"click","n":${i},"pad":"${'x'.repeat(i * 10)}"}`),
      headers: i % 2 === 0 ? { source: utf8('web'), n: utf8(String(i)) } : {},
      timestamp: T0 + i * 1_000,
    })),
  },
  {
    name: 'snappy-raw-block',
    compression: 'snappy',
    records: Array.from({ length: 8 }, (_, i) => ({
      key: utf8(`s-${i}`),
      value: utf8(`snappy value ${i} `.repeat(i + 1)),
      headers: {},
      timestamp: T0 + i,
    })),
  },
  {
    name: 'lz4-frame',
    compression: 'lz4',
    records: Array.from({ length: 8 }, (_, i) => ({
      key: utf8(`l-${i}`),
      value: utf8(`lz4 value ${i} `.repeat(i + 1)),
      headers: { h: utf8('v') },
      timestamp: T0 + i,
    })),
  },
  {
    name: 'zstd-frame',
    compression: 'zstd',
    records: Array.from({ length: 8 }, (_, i) => ({
      key: null,
      value: utf8(`zstd value ${i} `.repeat(i + 1)),
      headers: {},
      timestamp: T0 + i,
    })),
  },
];

const compressionTypes = { none: Types.None, gzip: Types.GZIP, snappy: Types.Snappy, lz4: Types.LZ4, zstd: Types.ZSTD };

/** Headers in the order KafkaJS writes them (its record encoder flattens the object the same way). */
function flatHeaders(headers) {
  return Object.keys(headers).flatMap((key) => [headers[key]].flat().map((value) => ({ key, value })));
}

const hexOrNull = (bytes) => (bytes === null ? null : bytes.toString('hex'));

async function encodeWithKafkaJS(batch) {
  const header = {
    baseOffset: 0,
    partitionLeaderEpoch: -1,
    producerId: -1,
    producerEpoch: -1,
    baseSequence: -1,
    transactional: false,
    ...batch.header,
  };
  const timestamps = batch.records.map((r) => r.timestamp);
  // Kafka's baseTimestamp is the first record's timestamp and maxTimestamp the largest.
  const baseTimestamp = timestamps[0];
  const maxTimestamp = Math.max(...timestamps);
  const records = batch.records.map((r, i) =>
    Record({
      offsetDelta: i,
      timestampDelta: r.timestamp - baseTimestamp,
      key: r.key,
      value: r.value,
      headers: r.headers,
    }),
  );
  const encoder = await RecordBatch({
    compression: compressionTypes[batch.compression],
    firstOffset: Long.fromValue(header.baseOffset),
    firstTimestamp: baseTimestamp,
    maxTimestamp,
    partitionLeaderEpoch: header.partitionLeaderEpoch,
    lastOffsetDelta: records.length - 1,
    transactional: header.transactional,
    producerId: Long.fromValue(header.producerId),
    producerEpoch: header.producerEpoch,
    firstSequence: header.baseSequence,
    records,
  });
  return {
    bytes: encoder.buffer,
    description: {
      name: batch.name,
      file: `${batch.name}.hex`,
      compression: batch.compression,
      header: {
        ...header,
        baseTimestamp,
        maxTimestamp,
        lastOffsetDelta: records.length - 1,
        recordCount: records.length,
      },
      records: batch.records.map((r, i) => ({
        offset: header.baseOffset + i,
        timestamp: r.timestamp,
        key: hexOrNull(r.key),
        value: hexOrNull(r.value),
        headers: flatHeaders(r.headers).map((h) => ({ key: h.key, value: hexOrNull(h.value) })),
      })),
    },
  };
}

/** A fixed pseudo-random byte source, so the fixture is the same on every run. */
function* lcgBytes(seed) {
  let state = seed >>> 0;
  for (;;) {
    state = (Math.imul(state, 1_664_525) + 1_013_904_223) >>> 0;
    yield state >>> 24;
  }
}

function murmur2Fixture() {
  const bytes = lcgBytes(20261121);
  const keys = ['', 'a', 'ab', 'abc', 'abcd', '21', 'foobar', 'kafka', 'user-42', 'order:2026-11-21:0001', 'ключ'].map(
    utf8,
  );
  for (let length = 0; length <= 40; length++) keys.push(Buffer.from(Array.from({ length }, () => bytes.next().value)));
  const partitionCounts = [1, 2, 3, 7, 10, 16, 100, 1000];
  return {
    source: 'KafkaJS default (Java-compatible) partitioner murmur2: toPositive(murmur2(key)) % n',
    partitionCounts,
    cases: keys.map((key) => {
      const hash = javaMurmur2(key);
      return {
        key: key.toString('hex'),
        murmur2: hash,
        partitions: partitionCounts.map((n) => (hash & 0x7fffffff) % n),
      };
    }),
  };
}

mkdirSync(join(outDir, 'kafkajs'), { recursive: true });
const descriptions = [];
for (const batch of batches) {
  const { bytes, description } = await encodeWithKafkaJS(batch);
  writeFileSync(join(outDir, 'kafkajs', description.file), `${bytes.toString('hex')}\n`);
  descriptions.push(description);
}
const generator = `scripts/gen-protocol-fixtures.mjs with kafkajs ${require('kafkajs/package.json').version}`;
writeFileSync(
  join(outDir, 'kafkajs', 'batches.json'),
  `${JSON.stringify({ generator, batches: descriptions }, null, 2)}\n`,
);
writeFileSync(join(outDir, 'murmur2.json'), `${JSON.stringify({ generator, ...murmur2Fixture() }, null, 2)}\n`);
console.log(`wrote ${descriptions.length} batches and the murmur2 cases to ${outDir}`);
