import { open, readdir, stat } from 'node:fs/promises';
import { basename, join } from 'node:path';
import {
  Attribute,
  COMPRESSION_NAMES,
  decodeBatch,
  lastOffsetOf,
  type CompressionName,
  type KafkaRecord,
} from '@samsa/protocol';
import { parseSegmentFileName } from './files.js';
import { scanBatches } from './scan.js';

export interface DumpOptions {
  /** Check each batch's CRC-32C (default true). */
  readonly verifyCrc?: boolean;
  /**
   * Decode each batch's records (`records`, via the protocol decoder, decompressing if needed) and
   * attach a copy of its bytes (`bytes`). Off by default to keep memory flat on big segments.
   */
  readonly printRecords?: boolean;
}

export interface DumpedBatch {
  readonly kind: 'batch';
  readonly file: string;
  /** Byte position of the batch in its file. */
  readonly position: number;
  readonly baseOffset: number;
  readonly lastOffset: number;
  readonly count: number;
  readonly baseTimestamp: number;
  readonly maxTimestamp: number;
  readonly timestampType: 'CreateTime' | 'LogAppendTime';
  readonly compression: CompressionName | `unknown(${number})`;
  /** undefined when verifyCrc is false. */
  readonly crcValid: boolean | undefined;
  readonly crc: number;
  readonly isTransactional: boolean;
  readonly isControl: boolean;
  readonly partitionLeaderEpoch: number;
  readonly producerId: number;
  readonly producerEpoch: number;
  readonly baseSequence: number;
  /** Total bytes of the batch, log overhead included. */
  readonly size: number;
  /** Offsets between the previous batch of the walk and this one (0 unless compaction removed batches). */
  readonly gapBefore: number;
  /** The batch's bytes (a copy), only with printRecords. */
  readonly bytes?: Buffer;
  /** The decoded records, only with printRecords; absent with recordsError when decoding failed. */
  readonly records?: KafkaRecord[];
  readonly recordsError?: string;
}

/** The walk stopped: the bytes at `position` are not a whole, well-framed batch. */
export interface DumpError {
  readonly kind: 'error';
  readonly file: string;
  readonly position: number;
  readonly reason: string;
}

/**
 * Walks a `.log` file of Kafka v2 record batches (ours or Kafka's), or every segment of a partition
 * directory in offset order, yielding one entry per batch. Never needs the index files. A framing
 * error ends that file's walk with a DumpError; a CRC mismatch is reported per batch.
 */
export async function* dumpSegment(
  pathOrDir: string,
  options: DumpOptions = {},
): AsyncGenerator<DumpedBatch | DumpError> {
  const info = await stat(pathOrDir);
  const files = info.isDirectory() ? await segmentFilesOf(pathOrDir) : [pathOrDir];
  const previous = { lastOffset: undefined as number | undefined };
  for (const file of files) yield* dumpFile(file, options, previous);
}

async function segmentFilesOf(dir: string): Promise<string[]> {
  const names = await readdir(dir);
  return names
    .map((name) => ({ name, base: parseSegmentFileName(name) }))
    .filter((entry): entry is { name: string; base: number } => entry.base !== undefined)
    .sort((a, b) => a.base - b.base)
    .map((entry) => join(dir, entry.name));
}

async function* dumpFile(
  file: string,
  options: DumpOptions,
  previous: { lastOffset: number | undefined },
): AsyncGenerator<DumpedBatch | DumpError> {
  const fh = await open(file, 'r');
  try {
    const { size } = await fh.stat();
    for await (const item of scanBatches(fh, 0, size, { verifyCrc: options.verifyCrc ?? true })) {
      if (item.kind === 'error') {
        yield { kind: 'error', file, position: item.position, reason: item.reason };
        return;
      }
      const { header } = item;
      const codec = header.attributes & Attribute.compressionMask;
      const gapBefore =
        previous.lastOffset === undefined ? 0 : Math.max(0, header.baseOffset - previous.lastOffset - 1);
      previous.lastOffset = lastOffsetOf(header);
      yield {
        kind: 'batch',
        file,
        position: item.position,
        baseOffset: header.baseOffset,
        lastOffset: lastOffsetOf(header),
        count: header.recordCount,
        baseTimestamp: header.baseTimestamp,
        maxTimestamp: header.maxTimestamp,
        timestampType: (header.attributes & Attribute.timestampTypeLogAppend) !== 0 ? 'LogAppendTime' : 'CreateTime',
        compression: COMPRESSION_NAMES[codec] ?? `unknown(${codec})`,
        crcValid: item.crcValid,
        crc: header.crc,
        isTransactional: (header.attributes & Attribute.transactional) !== 0,
        isControl: (header.attributes & Attribute.control) !== 0,
        partitionLeaderEpoch: header.partitionLeaderEpoch,
        producerId: header.producerId,
        producerEpoch: header.producerEpoch,
        baseSequence: header.baseSequence,
        size: item.bytes.length,
        gapBefore,
        ...(options.printRecords ? withRecords(Buffer.from(item.bytes)) : {}),
      };
    }
  } finally {
    await fh.close();
  }
}

function withRecords(bytes: Buffer): { bytes: Buffer; records?: KafkaRecord[]; recordsError?: string } {
  try {
    // The CRC was already reported per batch; decode even a damaged batch as far as it goes.
    return { bytes, records: decodeBatch(bytes, 0, { verifyCrc: false }).records };
  } catch (err) {
    return { bytes, recordsError: (err as Error).message };
  }
}

/**
 * The style of kafka-dump-log.sh: one line per batch, then (with printRecords) one `| offset: ...`
 * line per record. Handy for the CLI.
 */
export function formatDumpedBatch(entry: DumpedBatch | DumpError): string {
  if (entry.kind === 'error') return `${basename(entry.file)} position: ${entry.position} ERROR: ${entry.reason}`;
  const batchLine = [
    `baseOffset: ${entry.baseOffset}`,
    `lastOffset: ${entry.lastOffset}`,
    `count: ${entry.count}`,
    `baseTimestamp: ${entry.baseTimestamp}`,
    `maxTimestamp: ${entry.maxTimestamp}`,
    `timestampType: ${entry.timestampType}`,
    `position: ${entry.position}`,
    `size: ${entry.size}`,
    `compression: ${entry.compression}`,
    `crc: ${entry.crc}`,
    `crcValid: ${entry.crcValid ?? 'unchecked'}`,
    `isTransactional: ${entry.isTransactional}`,
    `isControl: ${entry.isControl}`,
    `partitionLeaderEpoch: ${entry.partitionLeaderEpoch}`,
    `producerId: ${entry.producerId}`,
    `producerEpoch: ${entry.producerEpoch}`,
    `baseSequence: ${entry.baseSequence}`,
  ].join(' ');
  const lines = [batchLine];
  // What compaction removed: whole batches before this one, and records inside it.
  const removedInside = entry.lastOffset - entry.baseOffset + 1 - entry.count;
  if (entry.gapBefore > 0) lines[0] += ` gapBefore: ${entry.gapBefore}`;
  if (removedInside > 0) lines[0] += ` removedRecords: ${removedInside}`;
  if (entry.recordsError !== undefined) lines.push(`| records could not be decoded: ${entry.recordsError}`);
  for (const record of entry.records ?? []) {
    const marker = entry.isControl ? markerOf(record.key, record.value) : undefined;
    if (marker !== undefined) {
      // As Kafka's DumpLogSegments prints a transaction marker.
      lines.push(
        `| offset: ${record.offset} endTxnMarker: ${marker.type} coordinatorEpoch: ${marker.coordinatorEpoch}`,
      );
      continue;
    }
    // Quoted and escaped, so binary payloads cannot break the one-line-per-record layout.
    const text = (bytes: Buffer | null): string => (bytes === null ? 'null' : JSON.stringify(bytes.toString('utf8')));
    const key = text(record.key);
    const value = text(record.value);
    const headers = record.headers.map((h) => `${JSON.stringify(h.key)}:${text(h.value)}`).join(',');
    lines.push(
      `| offset: ${record.offset} ${entry.timestampType}: ${record.timestamp} keySize: ${record.key?.length ?? -1} ` +
        `valueSize: ${record.value?.length ?? -1} headerKeys: [${headers}] key: ${key} payload: ${value}`,
    );
  }
  return lines.join('\n');
}

/** A control record's commit/abort marker (key: version, type; value: version, coordinator epoch). */
function markerOf(key: Buffer | null, value: Buffer | null): { type: string; coordinatorEpoch: number } | undefined {
  if (key === null || key.length < 4) return undefined;
  const code = key.readInt16BE(2);
  const type = code === 0 ? 'ABORT' : code === 1 ? 'COMMIT' : `UNKNOWN(${code})`;
  return { type, coordinatorEpoch: value !== null && value.length >= 6 ? value.readInt32BE(2) : -1 };
}
