import { crc32c } from '@node-rs/crc32';
import { CorruptRecordError } from './errors.js';

/**
 * Kafka RecordBatch v2 (magic 2) header: the fixed 61 bytes in front of the records.
 *
 *   0 baseOffset int64        | outside the CRC: the broker stamps these two
 *  12 partitionLeaderEpoch int32 |
 *   8 batchLength int32       (bytes after this field)
 *  16 magic int8
 *  17 crc uint32              CRC-32C of bytes 21..end
 *  21 attributes int16 ... 57 recordCount int32
 *
 * Offsets and timestamps are JavaScript numbers: exact up to 2^53, which no real log reaches. A wire
 * value beyond that is treated as corrupt rather than silently rounded.
 */
export const BatchField = Object.freeze({
  baseOffset: 0,
  batchLength: 8,
  partitionLeaderEpoch: 12,
  magic: 16,
  crc: 17,
  attributes: 21,
  lastOffsetDelta: 23,
  baseTimestamp: 27,
  maxTimestamp: 35,
  producerId: 43,
  producerEpoch: 51,
  baseSequence: 53,
  recordCount: 57,
});

/** Bytes of the header, up to the first record. */
export const BATCH_HEADER_SIZE = 61;
/** baseOffset + batchLength: the part of the header that batchLength does not count. */
export const LOG_OVERHEAD = 12;
/** Where the CRC-covered region starts. */
export const CRC_START = BatchField.attributes;
export const MAGIC_V2 = 2;
/** Hard ceiling on one batch, whatever the configuration says; guards allocations from a hostile length. */
export const MAX_BATCH_SIZE_CEILING = 1 << 30;

export const CompressionCodec = Object.freeze({ none: 0, gzip: 1, snappy: 2, lz4: 3, zstd: 4 });
export type CompressionName = keyof typeof CompressionCodec;
export const COMPRESSION_NAMES: readonly CompressionName[] = ['none', 'gzip', 'snappy', 'lz4', 'zstd'];

export const Attribute = Object.freeze({
  compressionMask: 0x07,
  timestampTypeLogAppend: 0x08,
  transactional: 0x10,
  control: 0x20,
  deleteHorizon: 0x40,
});

export const TimestampType = Object.freeze({ createTime: 0, logAppendTime: 1 });

export interface BatchHeader {
  readonly baseOffset: number;
  /** Bytes after the batchLength field; the whole batch is LOG_OVERHEAD + batchLength. */
  readonly batchLength: number;
  readonly partitionLeaderEpoch: number;
  readonly magic: number;
  readonly crc: number;
  readonly attributes: number;
  readonly lastOffsetDelta: number;
  readonly baseTimestamp: number;
  readonly maxTimestamp: number;
  readonly producerId: number;
  readonly producerEpoch: number;
  readonly baseSequence: number;
  readonly recordCount: number;
}

/** Total size in bytes of the batch a header describes. */
export function batchSize(header: Pick<BatchHeader, 'batchLength'>): number {
  return LOG_OVERHEAD + header.batchLength;
}

export function lastOffsetOf(header: Pick<BatchHeader, 'baseOffset' | 'lastOffsetDelta'>): number {
  return header.baseOffset + header.lastOffsetDelta;
}

export function compressionOf(attributes: number): CompressionName {
  const name = COMPRESSION_NAMES[attributes & Attribute.compressionMask];
  if (name === undefined)
    throw new CorruptRecordError(`unknown compression codec ${attributes & Attribute.compressionMask}`, CRC_START);
  return name;
}

/**
 * Calls `visit` with the position of each batch of `records` (batches back to back) whose first
 * `fieldEnd` bytes are there, walking the framing (batchLength) only: no header is parsed or checked.
 * For paths that read a field or two of batches the log has checked, or will refuse. Stops where the
 * framing stops making sense (a length that is not positive, a batch cut short) or when `visit`
 * returns true.
 */
export function forEachBatchAt(records: Buffer, fieldEnd: number, visit: (pos: number) => boolean | undefined): void {
  let pos = 0;
  while (pos + fieldEnd <= records.length) {
    if (visit(pos) === true) return;
    const batchLength = records.readInt32BE(pos + BatchField.batchLength);
    if (batchLength <= 0) return;
    pos += LOG_OVERHEAD + batchLength;
  }
}

/** A 64-bit field (an offset, a timestamp, a producer id) as a number; CorruptRecordError past 2^53. */
export function readInt64AsNumber(buf: Buffer, at: number, field: string): number {
  // Two 32-bit halves rather than a BigInt: four of these per batch header, on every append.
  const high = buf.readInt32BE(at);
  const low = buf.readUInt32BE(at + 4);
  // Exact (|value| <= 2^53 - 1) exactly when the high half is within [-2^21, 2^21), -2^53 itself excluded.
  if (high >= 0x200000 || high < -0x200000 || (high === -0x200000 && low === 0)) {
    throw new CorruptRecordError(`${field} ${buf.readBigInt64BE(at)} is outside the exact integer range`, at);
  }
  return high * 2 ** 32 + low;
}

/**
 * Reads and sanity-checks the header of the batch at `pos`. Checks framing only (sizes, magic,
 * counts); the CRC is checked separately by {@link verifyBatchCrc} because readers of our own
 * fsynced segments may skip it. Throws CorruptRecordError; never reads outside `buf`.
 *
 * @param maxBatchSize the largest batch accepted; a larger batchLength is corrupt (or hostile).
 */
export function readBatchHeader(buf: Buffer, pos = 0, maxBatchSize = MAX_BATCH_SIZE_CEILING): BatchHeader {
  if (pos < 0 || buf.length - pos < BATCH_HEADER_SIZE) {
    throw new CorruptRecordError(
      `need ${BATCH_HEADER_SIZE} bytes for a batch header, have ${Math.max(0, buf.length - pos)}`,
      pos,
    );
  }
  const batchLength = buf.readInt32BE(pos + BatchField.batchLength);
  if (batchLength < BATCH_HEADER_SIZE - LOG_OVERHEAD) {
    throw new CorruptRecordError(
      `batch length ${batchLength} is smaller than the header`,
      pos + BatchField.batchLength,
    );
  }
  if (LOG_OVERHEAD + batchLength > Math.min(maxBatchSize, MAX_BATCH_SIZE_CEILING)) {
    throw new CorruptRecordError(
      `batch length ${batchLength} exceeds the limit of ${maxBatchSize} bytes`,
      pos + BatchField.batchLength,
    );
  }
  const magic = buf.readInt8(pos + BatchField.magic);
  if (magic !== MAGIC_V2) {
    throw new CorruptRecordError(
      `unsupported magic ${magic}, only record batch v2 is supported`,
      pos + BatchField.magic,
    );
  }
  const lastOffsetDelta = buf.readInt32BE(pos + BatchField.lastOffsetDelta);
  const recordCount = buf.readInt32BE(pos + BatchField.recordCount);
  if (lastOffsetDelta < 0)
    throw new CorruptRecordError(`negative last offset delta ${lastOffsetDelta}`, pos + BatchField.lastOffsetDelta);
  if (recordCount < 0)
    throw new CorruptRecordError(`negative record count ${recordCount}`, pos + BatchField.recordCount);
  return {
    baseOffset: readInt64AsNumber(buf, pos + BatchField.baseOffset, 'base offset'),
    batchLength,
    partitionLeaderEpoch: buf.readInt32BE(pos + BatchField.partitionLeaderEpoch),
    magic,
    crc: buf.readUInt32BE(pos + BatchField.crc),
    attributes: buf.readInt16BE(pos + BatchField.attributes),
    lastOffsetDelta,
    baseTimestamp: readInt64AsNumber(buf, pos + BatchField.baseTimestamp, 'base timestamp'),
    maxTimestamp: readInt64AsNumber(buf, pos + BatchField.maxTimestamp, 'max timestamp'),
    producerId: readInt64AsNumber(buf, pos + BatchField.producerId, 'producer id'),
    producerEpoch: buf.readInt16BE(pos + BatchField.producerEpoch),
    baseSequence: buf.readInt32BE(pos + BatchField.baseSequence),
    recordCount,
  };
}

/** CRC-32C over attributes..end of the batch at `pos`, as Kafka computes it. */
export function computeBatchCrc(buf: Buffer, pos: number, header: Pick<BatchHeader, 'batchLength'>): number {
  const end = pos + batchSize(header);
  if (end > buf.length)
    throw new CorruptRecordError(`batch of ${batchSize(header)} bytes is truncated to ${buf.length - pos}`, pos);
  return crc32c(buf.subarray(pos + CRC_START, end)) >>> 0;
}

export function verifyBatchCrc(buf: Buffer, pos: number, header: Pick<BatchHeader, 'batchLength' | 'crc'>): boolean {
  return computeBatchCrc(buf, pos, header) === header.crc;
}

/** Writes the CRC field of a batch whose other bytes are final. */
export function writeBatchCrc(buf: Buffer, pos: number, header: Pick<BatchHeader, 'batchLength'>): void {
  buf.writeUInt32BE(computeBatchCrc(buf, pos, header), pos + BatchField.crc);
}

/**
 * Stamps the broker-owned fields in place. Both lie outside the CRC, so records are never touched
 * and the batch stays valid.
 */
export function stampBatch(buf: Buffer, pos: number, baseOffset: number, partitionLeaderEpoch: number): void {
  buf.writeBigInt64BE(BigInt(baseOffset), pos + BatchField.baseOffset);
  buf.writeInt32BE(partitionLeaderEpoch, pos + BatchField.partitionLeaderEpoch);
}

/**
 * Writes a producer's id, epoch and base sequence into the batch at `pos` and its CRC again (the
 * fields lie inside the CRC). The producer does this when it must give an encoded batch new
 * sequences (a new producer id after the broker forgot the old one); records are not re-encoded.
 */
export function stampProducer(
  buf: Buffer,
  pos: number,
  producerId: number,
  producerEpoch: number,
  baseSequence: number,
): void {
  buf.writeBigInt64BE(BigInt(producerId), pos + BatchField.producerId);
  buf.writeInt16BE(producerEpoch, pos + BatchField.producerEpoch);
  buf.writeInt32BE(baseSequence, pos + BatchField.baseSequence);
  writeBatchCrc(buf, pos, { batchLength: buf.readInt32BE(pos + BatchField.batchLength) });
}

export interface BatchSpan {
  readonly position: number;
  readonly header: BatchHeader;
}

/**
 * Splits a buffer of concatenated batches, checking framing and (unless told not to) each CRC.
 * Throws CorruptRecordError on the first bad batch; a partial trailing batch is an error too,
 * because producers send whole batches. Positions are relative to `buf`.
 */
export function splitBatches(buf: Buffer, options: { verifyCrc?: boolean; maxBatchSize?: number } = {}): BatchSpan[] {
  const verifyCrc = options.verifyCrc ?? true;
  const spans: BatchSpan[] = [];
  let pos = 0;
  while (pos < buf.length) {
    const header = readBatchHeader(buf, pos, options.maxBatchSize);
    const size = batchSize(header);
    if (pos + size > buf.length) {
      throw new CorruptRecordError(`batch of ${size} bytes is truncated to ${buf.length - pos}`, pos);
    }
    if (verifyCrc && !verifyBatchCrc(buf, pos, header)) {
      throw new CorruptRecordError(
        `CRC mismatch: stored ${header.crc.toString(16)}, computed ${computeBatchCrc(buf, pos, header).toString(16)}`,
        pos + BatchField.crc,
      );
    }
    spans.push({ position: pos, header });
    pos += size;
  }
  return spans;
}
