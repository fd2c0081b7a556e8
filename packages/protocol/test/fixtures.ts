import { readFileSync } from 'node:fs';
import type { CompressionName, KafkaRecord, KafkaRecordInput } from '@samsa/protocol';

/** A record as the fixture files describe it: bytes as hex, null kept. */
export interface RecordDescription {
  offset: number;
  timestamp: number;
  key: string | null;
  value: string | null;
  headers: { key: string; value: string | null }[];
}

export interface BatchDescription {
  name: string;
  file: string;
  compression: CompressionName;
  header: {
    baseOffset: number;
    partitionLeaderEpoch: number;
    producerId: number;
    producerEpoch: number;
    baseSequence: number;
    transactional: boolean;
    baseTimestamp: number;
    maxTimestamp: number;
    lastOffsetDelta: number;
    recordCount: number;
  };
  records: RecordDescription[];
}

const fixturesDir = new URL('./fixtures/', import.meta.url);

export function readFixture(path: string): Buffer {
  return readFileSync(new URL(path, fixturesDir));
}

export function kafkajsBatches(): { description: BatchDescription; bytes: Buffer }[] {
  const manifest = JSON.parse(readFixture('kafkajs/batches.json').toString('utf8')) as { batches: BatchDescription[] };
  return manifest.batches.map((description) => ({
    description,
    bytes: Buffer.from(readFixture(`kafkajs/${description.file}`).toString('utf8').trim(), 'hex'),
  }));
}

const hex = (bytes: Buffer | null) => (bytes === null ? null : bytes.toString('hex'));
const fromHex = (text: string | null) => (text === null ? null : Buffer.from(text, 'hex'));

export function describeRecord(record: KafkaRecord): RecordDescription {
  return {
    offset: record.offset,
    timestamp: record.timestamp,
    key: hex(record.key),
    value: hex(record.value),
    headers: record.headers.map((h) => ({ key: h.key, value: hex(h.value) })),
  };
}

export function recordInput(description: RecordDescription): KafkaRecordInput {
  return {
    key: fromHex(description.key),
    value: fromHex(description.value),
    headers: description.headers.map((h) => ({ key: h.key, value: fromHex(h.value) })),
    timestamp: description.timestamp,
  };
}
