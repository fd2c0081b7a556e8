import { readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { dumpSegment, formatDumpedBatch, openPartitionLog, type DumpedBatch } from '@samsa/broker/internal';
import { tempDir } from './helpers.js';

/** Batches produced by KafkaJS (another implementation), captured by the protocol package's fixtures. */
interface FixtureBatch {
  name: string;
  file: string;
  compression: string;
  header: {
    baseOffset: number;
    recordCount: number;
    transactional: boolean;
    maxTimestamp: number;
    lastOffsetDelta: number;
  };
  records: Array<{ offset: number; timestamp: number }>;
}
const fixtures = new URL('../../../protocol/test/fixtures/kafkajs/', import.meta.url);
const manifest = JSON.parse(readFileSync(new URL('batches.json', fixtures), 'utf8')) as { batches: FixtureBatch[] };
const batches = manifest.batches.map((description) => ({
  description,
  bytes: Buffer.from(readFileSync(new URL(description.file, fixtures), 'utf8').trim(), 'hex'),
}));

describe('interop with batches written by KafkaJS', () => {
  it('dumpSegment reads a .log file of foreign batches, every codec and flag', async () => {
    const dir = await tempDir();
    try {
      const file = join(dir.path, 'kafkajs.log');
      await writeFile(file, Buffer.concat(batches.map((b) => b.bytes)));
      const entries: DumpedBatch[] = [];
      for await (const entry of dumpSegment(file)) {
        expect(entry.kind).toBe('batch');
        if (entry.kind === 'batch') entries.push(entry);
      }
      expect(entries).toHaveLength(batches.length);
      entries.forEach((entry, i) => {
        const { header, compression } = batches[i]!.description;
        expect(entry).toMatchObject({
          crcValid: true,
          compression,
          baseOffset: header.baseOffset,
          lastOffset: header.baseOffset + header.lastOffsetDelta,
          count: header.recordCount,
          maxTimestamp: header.maxTimestamp,
          isTransactional: header.transactional,
          size: batches[i]!.bytes.length,
        });
      });
    } finally {
      await dir.remove();
    }
  });

  it('printRecords decodes the records of every codec through the protocol decoder', async () => {
    const dir = await tempDir();
    try {
      const file = join(dir.path, 'kafkajs.log');
      await writeFile(file, Buffer.concat(batches.map((b) => b.bytes)));
      let i = 0;
      for await (const entry of dumpSegment(file, { printRecords: true })) {
        if (entry.kind !== 'batch') throw new Error(entry.reason);
        const { description, bytes } = batches[i++]!;
        expect(entry.bytes!.equals(bytes)).toBe(true);
        expect(entry.recordsError).toBeUndefined();
        expect(entry.records!.map((r) => [r.offset, r.timestamp])).toEqual(
          description.records.map((r) => [r.offset, r.timestamp]),
        );
        const text = formatDumpedBatch(entry).split('\n');
        expect(text).toHaveLength(1 + description.records.length);
        expect(text[1]).toMatch(/^\| offset: \d+ CreateTime: \d+ keySize: -?\d+ valueSize: -?\d+/);
      }
      expect(i).toBe(batches.length);
    } finally {
      await dir.remove();
    }
  });

  it('appends foreign batches and finds records by timestamp inside them', async () => {
    const dir = await tempDir();
    const log = await openPartitionLog({ dir: dir.path });
    try {
      const uncompressed = batches.filter(
        (b) => b.description.compression === 'none' && !b.description.header.transactional,
      );
      const timeline: Array<{ offset: number; timestamp: number }> = [];
      for (const { bytes, description } of uncompressed) {
        const { baseOffset } = await log.append(Buffer.from(bytes));
        for (const record of description.records)
          timeline.push({
            offset: baseOffset + record.offset - description.header.baseOffset,
            timestamp: record.timestamp,
          });
      }
      for (const { timestamp } of timeline) {
        const expected = timeline.find((r) => r.timestamp >= timestamp)!;
        expect(await log.offsetForTimestamp(timestamp)).toEqual(expected);
      }
    } finally {
      await log.close();
      await dir.remove();
    }
  });
});
