import {
  Attribute,
  BATCH_HEADER_SIZE,
  BatchField,
  CompressionCodec,
  LOG_OVERHEAD,
  MAGIC_V2,
  MAX_BATCH_SIZE_CEILING,
  TimestampType,
  batchSize,
  compressionOf,
  computeBatchCrc,
  readBatchHeader,
  writeBatchCrc,
  type BatchHeader,
  type CompressionName,
} from './batch-header.js';
import { ByteReader } from './byte-reader.js';
import { compress, decompress } from './compression.js';
import { CorruptRecordError, ErrorCodes, SamsaError } from './errors.js';
import {
  MIN_RECORD_BYTES,
  readRecord,
  recordBodySize,
  writeRecord,
  type KafkaRecord,
  type KafkaRecordInput,
  type RecordContext,
  type RecordFactory,
} from './record.js';
import { INT32_MAX, sizeOfVarint } from './varint.js';

export type TimestampTypeName = keyof typeof TimestampType;

export interface EncodeBatchOptions {
  /**
   * Milliseconds since the epoch for records without a timestamp (and the log append time). Time is an input: nothing
   * here reads the clock.
   */
  now?: number;
  /** Default 0: producers send 0 and the broker stamps the real offset. */
  baseOffset?: number;
  /** Default -1, as Kafka clients send; the broker stamps its own. */
  partitionLeaderEpoch?: number;
  /** Default 'none'. */
  compression?: CompressionName;
  /** Default 'createTime'. */
  timestampType?: TimestampTypeName;
  /** For 'logAppendTime' batches: the append time written as maxTimestamp. Defaults to `now`. */
  logAppendTime?: number;
  /** Default -1 (no idempotence), like producerEpoch and baseSequence. */
  producerId?: number;
  producerEpoch?: number;
  baseSequence?: number;
  transactional?: boolean;
  control?: boolean;
}

/** A decoded batch: its header, the attribute bits spelled out, and the records. */
export interface RecordBatch {
  readonly header: BatchHeader;
  readonly compression: CompressionName;
  readonly timestampType: TimestampTypeName;
  readonly transactional: boolean;
  readonly control: boolean;
  readonly records: KafkaRecord[];
  /** Bytes the batch takes in the input: the next batch starts this far after it. */
  readonly sizeBytes: number;
}

export interface DecodeBatchOptions {
  /** Default true, like Kafka's check.crcs. */
  verifyCrc?: boolean;
  /** Largest batch accepted, in bytes (default and ceiling: MAX_BATCH_SIZE_CEILING). */
  maxBatchSize?: number;
  /** Cap on a compressed batch's decompressed records (default DEFAULT_MAX_UNCOMPRESSED_BYTES). */
  maxUncompressedBytes?: number;
  /** Makes each record's object (see RecordFactory); default plain KafkaRecord objects. */
  recordFactory?: RecordFactory;
}

function invalid(detail: string): SamsaError {
  return new SamsaError(ErrorCodes.INVALID_REQUEST, detail);
}

function checkInteger(name: string, value: number, min: number, max: number): number {
  if (!Number.isSafeInteger(value) || value < min || value > max)
    throw invalid(`${name} ${value} is not an integer in [${min}, ${max}]`);
  return value;
}

function checkTimestamp(name: string, value: number | undefined): number {
  if (value === undefined)
    throw new SamsaError(ErrorCodes.INVALID_TIMESTAMP, `${name} is missing: pass a timestamp or the \`now\` option`);
  if (!Number.isSafeInteger(value) || value < 0)
    throw new SamsaError(
      ErrorCodes.INVALID_TIMESTAMP,
      `${name} ${value} is not a non-negative integer of milliseconds`,
    );
  return value;
}

interface ResolvedHeader {
  baseOffset: number;
  partitionLeaderEpoch: number;
  attributes: number;
  lastOffsetDelta: number;
  baseTimestamp: number;
  maxTimestamp: number;
  producerId: number;
  producerEpoch: number;
  baseSequence: number;
  recordCount: number;
}

function attributesOf(options: EncodeBatchOptions): number {
  const compression = options.compression ?? 'none';
  if (!Object.hasOwn(CompressionCodec, compression)) throw invalid(`unknown compression ${String(compression)}`);
  const timestampType = options.timestampType ?? 'createTime';
  if (!Object.hasOwn(TimestampType, timestampType)) throw invalid(`unknown timestamp type ${String(timestampType)}`);
  return (
    CompressionCodec[compression] |
    (timestampType === 'logAppendTime' ? Attribute.timestampTypeLogAppend : 0) |
    (options.transactional ? Attribute.transactional : 0) |
    (options.control ? Attribute.control : 0)
  );
}

/** Header fields from the options and the records' timestamps, validated up front so writing cannot fail halfway. */
function resolveHeader(timestamps: Float64Array, options: EncodeBatchOptions): ResolvedHeader {
  const recordCount = timestamps.length;
  const baseOffset = checkInteger('baseOffset', options.baseOffset ?? 0, 0, Number.MAX_SAFE_INTEGER - recordCount);
  const attributes = attributesOf(options);
  let maxTimestamp = timestamps[0]!;
  for (const timestamp of timestamps) if (timestamp > maxTimestamp) maxTimestamp = timestamp;
  if (attributes & Attribute.timestampTypeLogAppend)
    maxTimestamp = checkTimestamp('logAppendTime', options.logAppendTime ?? options.now);
  return {
    baseOffset,
    partitionLeaderEpoch: checkInteger('partitionLeaderEpoch', options.partitionLeaderEpoch ?? -1, -1, INT32_MAX),
    attributes,
    lastOffsetDelta: recordCount - 1,
    // Kafka's baseTimestamp is the first record's, not the smallest: later deltas may be negative.
    baseTimestamp: timestamps[0]!,
    maxTimestamp,
    producerId: checkInteger('producerId', options.producerId ?? -1, -1, Number.MAX_SAFE_INTEGER),
    producerEpoch: checkInteger('producerEpoch', options.producerEpoch ?? -1, -1, 0x7fff),
    baseSequence: checkInteger('baseSequence', options.baseSequence ?? -1, -1, INT32_MAX),
    recordCount,
  };
}

function writeHeader(buf: Buffer, header: ResolvedHeader): void {
  buf.writeBigInt64BE(BigInt(header.baseOffset), BatchField.baseOffset);
  buf.writeInt32BE(buf.length - LOG_OVERHEAD, BatchField.batchLength);
  buf.writeInt32BE(header.partitionLeaderEpoch, BatchField.partitionLeaderEpoch);
  buf.writeInt8(MAGIC_V2, BatchField.magic);
  buf.writeInt16BE(header.attributes, BatchField.attributes);
  buf.writeInt32BE(header.lastOffsetDelta, BatchField.lastOffsetDelta);
  buf.writeBigInt64BE(BigInt(header.baseTimestamp), BatchField.baseTimestamp);
  buf.writeBigInt64BE(BigInt(header.maxTimestamp), BatchField.maxTimestamp);
  buf.writeBigInt64BE(BigInt(header.producerId), BatchField.producerId);
  buf.writeInt16BE(header.producerEpoch, BatchField.producerEpoch);
  buf.writeInt32BE(header.baseSequence, BatchField.baseSequence);
  buf.writeInt32BE(header.recordCount, BatchField.recordCount);
  writeBatchCrc(buf, 0, { batchLength: buf.length - LOG_OVERHEAD });
}

function checkBatchFits(bytes: number): void {
  if (bytes > MAX_BATCH_SIZE_CEILING)
    throw new SamsaError(
      ErrorCodes.MESSAGE_TOO_LARGE,
      `batch of ${bytes} bytes exceeds the ceiling of ${MAX_BATCH_SIZE_CEILING}`,
    );
}

/**
 * Encodes one complete RecordBatch v2 with a valid CRC. Sizes are computed first so the records
 * are written once into a single buffer (or, when compressing, one buffer for the compressor).
 * Throws SamsaError (INVALID_REQUEST, INVALID_TIMESTAMP, MESSAGE_TOO_LARGE) for bad input.
 */
export function encodeBatch(records: readonly KafkaRecordInput[], options: EncodeBatchOptions = {}): Buffer {
  if (records.length === 0) throw invalid('a batch needs at least one record');
  checkInteger('record count', records.length, 1, INT32_MAX);
  const timestamps = new Float64Array(records.length);
  for (let i = 0; i < records.length; i++)
    timestamps[i] = checkTimestamp(`record ${i} timestamp`, records[i]!.timestamp ?? options.now);
  const header = resolveHeader(timestamps, options);
  const bodySizes = new Int32Array(records.length);
  let recordsBytes = 0;
  for (let i = 0; i < records.length; i++) {
    const bodySize = recordBodySize(records[i]!, timestamps[i]! - header.baseTimestamp, i);
    bodySizes[i] = bodySize;
    recordsBytes += sizeOfVarint(bodySize) + bodySize;
    checkBatchFits(recordsBytes);
  }
  const compression = options.compression ?? 'none';
  if (compression === 'none') {
    checkBatchFits(BATCH_HEADER_SIZE + recordsBytes);
    const buf = Buffer.allocUnsafe(BATCH_HEADER_SIZE + recordsBytes);
    writeRecords(buf, BATCH_HEADER_SIZE, records, timestamps, bodySizes, header.baseTimestamp);
    writeHeader(buf, header);
    return buf;
  }
  const plain = Buffer.allocUnsafe(recordsBytes);
  writeRecords(plain, 0, records, timestamps, bodySizes, header.baseTimestamp);
  const payload = compress(compression, plain);
  checkBatchFits(BATCH_HEADER_SIZE + payload.length);
  const buf = Buffer.allocUnsafe(BATCH_HEADER_SIZE + payload.length);
  payload.copy(buf, BATCH_HEADER_SIZE);
  writeHeader(buf, header);
  return buf;
}

function writeRecords(
  buf: Buffer,
  pos: number,
  records: readonly KafkaRecordInput[],
  timestamps: Float64Array,
  bodySizes: Int32Array,
  baseTimestamp: number,
): void {
  for (let i = 0; i < records.length; i++) {
    pos = writeRecord(buf, pos, records[i]!, bodySizes[i]!, timestamps[i]! - baseTimestamp, i);
  }
  // allocUnsafe memory must never leak into a batch: a size mismatch is an encoder bug.
  if (pos !== buf.length) throw new Error(`record encoder wrote ${pos} bytes into a buffer of ${buf.length}`);
}

/**
 * Decodes the batch at `pos`: framing, CRC (unless disabled), decompression under a size cap,
 * then every record. Total: any malformed input throws CorruptRecordError (a zstd batch on a Node
 * without zstd throws SamsaError UNSUPPORTED_COMPRESSION_TYPE). Uncompressed records' buffers are
 * views into `buf`.
 */
export function decodeBatch(buf: Buffer, pos = 0, options: DecodeBatchOptions = {}): RecordBatch {
  const header = readBatchHeader(buf, pos, options.maxBatchSize);
  const sizeBytes = batchSize(header);
  if (pos + sizeBytes > buf.length)
    throw new CorruptRecordError(`batch of ${sizeBytes} bytes is truncated to ${buf.length - pos}`, pos);
  if ((options.verifyCrc ?? true) && computeBatchCrc(buf, pos, header) !== header.crc) {
    throw new CorruptRecordError(
      `CRC mismatch: stored ${header.crc.toString(16)}, computed ${computeBatchCrc(buf, pos, header).toString(16)}`,
      pos + BatchField.crc,
    );
  }
  const compression = compressionOf(header.attributes);
  const recordsStart = pos + BATCH_HEADER_SIZE;
  const recordsEnd = pos + sizeBytes;
  const reader =
    compression === 'none'
      ? new ByteReader(buf, recordsStart, recordsEnd)
      : decompressedReader(compression, buf.subarray(recordsStart, recordsEnd), recordsStart, options);
  const timestampType: TimestampTypeName =
    header.attributes & Attribute.timestampTypeLogAppend ? 'logAppendTime' : 'createTime';
  return {
    header,
    compression,
    timestampType,
    transactional: (header.attributes & Attribute.transactional) !== 0,
    control: (header.attributes & Attribute.control) !== 0,
    records: readRecords(reader, header, timestampType, options.recordFactory),
    sizeBytes,
  };
}

function decompressedReader(
  compression: CompressionName,
  payload: Buffer,
  recordsStart: number,
  options: DecodeBatchOptions,
): ByteReader {
  const plain = decompress(compression, payload, {
    maxOutputBytes: options.maxUncompressedBytes,
    errorPosition: recordsStart,
  });
  return new ByteReader(plain, 0, plain.length, recordsStart);
}

function readRecords(
  reader: ByteReader,
  header: BatchHeader,
  timestampType: TimestampTypeName,
  recordFactory: RecordFactory | undefined,
): KafkaRecord[] {
  // Checked before the loop so a hostile count fails at once instead of after a long partial read.
  if (header.recordCount > reader.remaining / MIN_RECORD_BYTES) {
    throw reader.corrupt(`record count ${header.recordCount} cannot fit in ${reader.remaining} bytes`, reader.pos);
  }
  const context: RecordContext = {
    baseOffset: header.baseOffset,
    baseTimestamp: header.baseTimestamp,
    logAppendTime: timestampType === 'logAppendTime' ? header.maxTimestamp : null,
    recordFactory,
  };
  const records: KafkaRecord[] = [];
  for (let i = 0; i < header.recordCount; i++) records.push(readRecord(reader, context));
  if (reader.remaining !== 0)
    throw reader.corrupt(`${reader.remaining} bytes follow the last of ${header.recordCount} records`);
  return records;
}

export interface DecodeBatchesOptions extends DecodeBatchOptions {
  /**
   * Stop quietly at an incomplete last batch, as Kafka consumers do with a fetch response cut at
   * its byte limit. Default false: producers and logs hold whole batches only.
   */
  allowPartialTrailingBatch?: boolean;
}

/** Decodes concatenated batches (a produce request's or a fetch response's records). */
export function decodeBatches(buf: Buffer, options: DecodeBatchesOptions = {}): RecordBatch[] {
  const batches: RecordBatch[] = [];
  let pos = 0;
  while (pos < buf.length) {
    if (options.allowPartialTrailingBatch && isPartialBatch(buf, pos, options.maxBatchSize)) break;
    const batch = decodeBatch(buf, pos, options);
    batches.push(batch);
    pos += batch.sizeBytes;
  }
  return batches;
}

/**
 * Whether the bytes at `pos` are the start of a plausible batch cut short; an implausible length is left for the
 * decoder to reject.
 */
function isPartialBatch(buf: Buffer, pos: number, maxBatchSize = MAX_BATCH_SIZE_CEILING): boolean {
  const remaining = buf.length - pos;
  if (remaining < LOG_OVERHEAD) return true;
  const batchLength = buf.readInt32BE(pos + BatchField.batchLength);
  const plausible =
    batchLength >= BATCH_HEADER_SIZE - LOG_OVERHEAD &&
    LOG_OVERHEAD + batchLength <= Math.min(maxBatchSize, MAX_BATCH_SIZE_CEILING);
  return plausible && LOG_OVERHEAD + batchLength > remaining;
}
