/**
 * Producer state snapshots (`<20-digit offset>.snapshot` in the partition directory, as Kafka's):
 * the producer table as it stood once every batch below `offset` was applied. Recovery and truncation
 * start from the newest snapshot at or below where they need to be and replay the batches after it,
 * instead of rescanning the whole log.
 *
 * Binary, big-endian, pure:
 *   int16 version (1) | uint32 crc32c of everything after it | int64 offset | int32 entries
 *   entry: int64 producerId | int16 epoch | int32 coordinatorEpoch | int64 lastTimestampMs
 *          | int64 currentTxnFirstOffset | int16 batches | batches × (int32 firstSeq | int32 lastSeq
 *          | int64 firstOffset | int64 lastOffset | int64 maxTimestampMs)
 * Unlike Kafka's, which keep each producer's last batch only, all its retained batches are kept, so a
 * retry that arrives after a restart is still recognised.
 */
import { crc32c, ErrorCodes, SamsaError } from '@samsa/protocol';
import { PRODUCER_BATCHES_RETAINED, type ProducerBatch, type ProducerEntry } from './producer-state.js';

const VERSION = 1;
const HEADER_BYTES = 2 + 4 + 8 + 4;
const ENTRY_BYTES = 8 + 2 + 4 + 8 + 8 + 2;
const BATCH_BYTES = 4 + 4 + 8 + 8 + 8;
export const SNAPSHOT_SUFFIX = '.snapshot';

export interface ProducerSnapshot {
  /** Every batch below this offset is reflected in `entries`. */
  readonly offset: number;
  readonly entries: readonly ProducerEntry[];
}

export class CorruptSnapshotError extends SamsaError {
  constructor(detail: string) {
    super(ErrorCodes.KAFKA_STORAGE_ERROR, `producer state snapshot: ${detail}`);
    this.name = 'CorruptSnapshotError';
  }
}

export function snapshotFileName(offset: number): string {
  return `${String(offset).padStart(20, '0')}${SNAPSHOT_SUFFIX}`;
}

/** The offset a snapshot file name stands for, or undefined when the name is not a snapshot's. */
export function snapshotOffsetOf(fileName: string): number | undefined {
  const match = /^(\d{20})\.snapshot$/.exec(fileName);
  return match ? Number(match[1]) : undefined;
}

export function encodeSnapshot(snapshot: ProducerSnapshot): Buffer {
  let size = HEADER_BYTES;
  for (const entry of snapshot.entries) size += ENTRY_BYTES + entry.batches.length * BATCH_BYTES;
  const buf = Buffer.alloc(size);
  let at = 0;
  at = buf.writeInt16BE(VERSION, at);
  at += 4; // crc, written last
  at = buf.writeBigInt64BE(BigInt(snapshot.offset), at);
  at = buf.writeInt32BE(snapshot.entries.length, at);
  for (const entry of snapshot.entries) {
    at = buf.writeBigInt64BE(BigInt(entry.producerId), at);
    at = buf.writeInt16BE(entry.epoch, at);
    at = buf.writeInt32BE(entry.coordinatorEpoch, at);
    at = buf.writeBigInt64BE(BigInt(entry.lastTimestampMs), at);
    at = buf.writeBigInt64BE(BigInt(entry.currentTxnFirstOffset), at);
    at = buf.writeInt16BE(entry.batches.length, at);
    for (const batch of entry.batches) {
      at = buf.writeInt32BE(batch.firstSeq, at);
      at = buf.writeInt32BE(batch.lastSeq, at);
      at = buf.writeBigInt64BE(BigInt(batch.firstOffset), at);
      at = buf.writeBigInt64BE(BigInt(batch.lastOffset), at);
      at = buf.writeBigInt64BE(BigInt(batch.maxTimestampMs), at);
    }
  }
  buf.writeUInt32BE(crc32c(buf.subarray(6)) >>> 0, 2);
  return buf;
}

function readLong(buf: Buffer, at: number, what: string): number {
  const value = buf.readBigInt64BE(at);
  if (value > BigInt(Number.MAX_SAFE_INTEGER) || value < BigInt(Number.MIN_SAFE_INTEGER)) {
    throw new CorruptSnapshotError(`${what} ${value} is out of range`);
  }
  return Number(value);
}

/** Total: any malformed input is a CorruptSnapshotError (the caller then rebuilds from the log). */
export function decodeSnapshot(buf: Buffer): ProducerSnapshot {
  if (buf.length < HEADER_BYTES) throw new CorruptSnapshotError(`${buf.length} bytes is shorter than the header`);
  const version = buf.readInt16BE(0);
  if (version !== VERSION) throw new CorruptSnapshotError(`unknown version ${version}`);
  const crc = buf.readUInt32BE(2);
  if (crc32c(buf.subarray(6)) >>> 0 !== crc) throw new CorruptSnapshotError('checksum mismatch');
  const offset = readLong(buf, 6, 'offset');
  const count = buf.readInt32BE(14);
  if (count < 0 || count > (buf.length - HEADER_BYTES) / ENTRY_BYTES) {
    throw new CorruptSnapshotError(`entry count ${count} does not fit in ${buf.length} bytes`);
  }
  let at = HEADER_BYTES;
  const entries: ProducerEntry[] = [];
  for (let i = 0; i < count; i++) {
    if (at + ENTRY_BYTES > buf.length) throw new CorruptSnapshotError(`entry ${i} is truncated`);
    const producerId = readLong(buf, at, 'producer id');
    const epoch = buf.readInt16BE(at + 8);
    const coordinatorEpoch = buf.readInt32BE(at + 10);
    const lastTimestampMs = readLong(buf, at + 14, 'timestamp');
    const currentTxnFirstOffset = readLong(buf, at + 22, 'transaction offset');
    const batchCount = buf.readInt16BE(at + 30);
    at += ENTRY_BYTES;
    if (batchCount < 0 || batchCount > PRODUCER_BATCHES_RETAINED || at + batchCount * BATCH_BYTES > buf.length) {
      throw new CorruptSnapshotError(`entry ${i} has a bad batch count ${batchCount}`);
    }
    const batches: ProducerBatch[] = [];
    for (let b = 0; b < batchCount; b++, at += BATCH_BYTES) {
      batches.push({
        firstSeq: buf.readInt32BE(at),
        lastSeq: buf.readInt32BE(at + 4),
        firstOffset: readLong(buf, at + 8, 'batch offset'),
        lastOffset: readLong(buf, at + 16, 'batch offset'),
        maxTimestampMs: readLong(buf, at + 24, 'batch timestamp'),
      });
    }
    entries.push({ producerId, epoch, coordinatorEpoch, lastTimestampMs, currentTxnFirstOffset, batches });
  }
  if (at !== buf.length) throw new CorruptSnapshotError(`${buf.length - at} bytes after the last entry`);
  return { offset, entries };
}
