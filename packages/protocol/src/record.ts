import type { ByteReader } from './byte-reader.js';
import { sizeOfVarint, sizeOfVarlong, writeVarint, writeVarlong } from './varint.js';

/**
 * One record inside a v2 batch:
 *
 *   length varint            bytes after this field
 *   attributes int8          unused, always 0
 *   timestampDelta varlong   against the batch's baseTimestamp
 *   offsetDelta varint       against the batch's baseOffset
 *   key varint-length bytes  (-1 = null)
 *   value varint-length bytes (-1 = null)
 *   headers varint count, then per header: key varint-length UTF-8, value varint-length bytes (-1 = null)
 */

export interface RecordHeader {
  readonly key: string;
  readonly value: Buffer | null;
}

/** A decoded record, with absolute offset and timestamp. Buffers are views into the batch bytes. */
export interface KafkaRecord {
  readonly key: Buffer | null;
  readonly value: Buffer | null;
  readonly headers: RecordHeader[];
  /** Milliseconds since the epoch. */
  readonly timestamp: number;
  readonly offset: number;
}

export interface RecordHeaderInput {
  readonly key: string;
  readonly value: Uint8Array | null;
}

/** A record to encode; offsets come from its place in the batch. */
export interface KafkaRecordInput {
  readonly key?: Uint8Array | null;
  readonly value: Uint8Array | null;
  readonly headers?: readonly RecordHeaderInput[];
  /** Milliseconds since the epoch; defaults to the encoder's `now`. */
  readonly timestamp?: number;
}

/** Smallest possible record: 1-byte length, attributes, both deltas, null key, null value, 0 headers. */
export const MIN_RECORD_BYTES = 7;
/** Smallest possible header: empty key (1 byte) and null value (1 byte). */
const MIN_HEADER_BYTES = 2;

function sizeOfNullableBytes(bytes: Uint8Array | null | undefined): number {
  return bytes == null ? 1 : sizeOfVarint(bytes.length) + bytes.length;
}

/** Bytes after the record's length field. */
export function recordBodySize(record: KafkaRecordInput, timestampDelta: number, offsetDelta: number): number {
  let size =
    1 +
    sizeOfVarlong(timestampDelta) +
    sizeOfVarint(offsetDelta) +
    sizeOfNullableBytes(record.key) +
    sizeOfNullableBytes(record.value);
  const headers = record.headers ?? [];
  size += sizeOfVarint(headers.length);
  for (const header of headers) {
    const keyBytes = Buffer.byteLength(header.key, 'utf8');
    size += sizeOfVarint(keyBytes) + keyBytes + sizeOfNullableBytes(header.value);
  }
  return size;
}

function writeNullableBytes(buf: Buffer, bytes: Uint8Array | null | undefined, pos: number): number {
  if (bytes == null) return writeVarint(buf, -1, pos);
  pos = writeVarint(buf, bytes.length, pos);
  buf.set(bytes, pos);
  return pos + bytes.length;
}

/** Writes a record whose body size was computed by {@link recordBodySize}; returns the position after it. */
export function writeRecord(
  buf: Buffer,
  pos: number,
  record: KafkaRecordInput,
  bodySize: number,
  timestampDelta: number,
  offsetDelta: number,
): number {
  pos = writeVarint(buf, bodySize, pos);
  buf[pos++] = 0;
  pos = writeVarlong(buf, timestampDelta, pos);
  pos = writeVarint(buf, offsetDelta, pos);
  pos = writeNullableBytes(buf, record.key, pos);
  pos = writeNullableBytes(buf, record.value, pos);
  const headers = record.headers ?? [];
  pos = writeVarint(buf, headers.length, pos);
  for (const header of headers) {
    const keyBytes = Buffer.byteLength(header.key, 'utf8');
    pos = writeVarint(buf, keyBytes, pos);
    pos += buf.write(header.key, pos, keyBytes, 'utf8');
    pos = writeNullableBytes(buf, header.value, pos);
  }
  return pos;
}

/**
 * Builds the object a decoded record becomes, so that a caller wanting its own shape (a consumer's
 * message with topic and partition) makes one object per record instead of a record plus a copy.
 */
export type RecordFactory = (
  key: Buffer | null,
  value: Buffer | null,
  headers: RecordHeader[],
  timestamp: number,
  offset: number,
) => KafkaRecord;

/** What a record needs from its batch to become absolute. */
export interface RecordContext {
  readonly baseOffset: number;
  readonly baseTimestamp: number;
  /** For LOG_APPEND_TIME batches every record carries the batch's maxTimestamp, as in Kafka. */
  readonly logAppendTime: number | null;
  /** Default: plain `{ key, value, headers, timestamp, offset }` objects. */
  readonly recordFactory?: RecordFactory | undefined;
}

/** Labels are passed whole (not built per call) to keep the per-record path free of string work. */
function readNullableBytes(reader: ByteReader, lengthLabel: string, label: string): Buffer | null {
  const at = reader.pos;
  const length = reader.readVarint(lengthLabel);
  if (length === -1) return null;
  if (length < -1) throw reader.corrupt(`${lengthLabel} ${length} is negative`, at);
  return reader.readBytes(length, label);
}

function readHeaders(reader: ByteReader): RecordHeader[] {
  const at = reader.pos;
  const count = reader.readVarint('header count');
  if (count < 0 || count * MIN_HEADER_BYTES > reader.remaining) {
    throw reader.corrupt(`header count ${count} does not fit the ${reader.remaining} bytes left`, at);
  }
  const headers: RecordHeader[] = [];
  if (count === 0) return headers;
  for (let i = 0; i < count; i++) {
    const keyAt = reader.pos;
    const keyBytes = reader.readVarint('header key length');
    if (keyBytes < 0) throw reader.corrupt(`header key length ${keyBytes} is negative`, keyAt);
    const key = reader.readUtf8(keyBytes, 'header key');
    headers.push({ key, value: readNullableBytes(reader, 'header value length', 'header value') });
  }
  return headers;
}

/**
 * Reads one record at the reader's position. The record must end exactly where its length field
 * says; the reader's window is narrowed to it so fields cannot borrow bytes from the next record.
 */
export function readRecord(reader: ByteReader, context: RecordContext): KafkaRecord {
  const start = reader.pos;
  const bodySize = reader.readVarint('record length');
  if (bodySize < MIN_RECORD_BYTES - 1 || bodySize > reader.remaining) {
    throw reader.corrupt(`record length ${bodySize} does not fit the ${reader.remaining} bytes left`, start);
  }
  const bodyStart = reader.pos;
  const end = bodyStart + bodySize;
  const outerEnd = reader.end;
  reader.end = end;
  reader.readInt8('record attributes');
  const timestampDelta = reader.readVarlong('timestamp delta');
  const offsetDelta = reader.readVarint('offset delta');
  const key = readNullableBytes(reader, 'key length', 'key');
  const value = readNullableBytes(reader, 'value length', 'value');
  const headers = readHeaders(reader);
  if (reader.pos !== end)
    throw reader.corrupt(`record declares ${bodySize} bytes but its fields leave ${end - reader.pos} unread`, start);
  reader.end = outerEnd;
  const offset = context.baseOffset + offsetDelta;
  const timestamp = context.logAppendTime ?? context.baseTimestamp + timestampDelta;
  if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(timestamp)) {
    throw reader.corrupt(`record offset ${offset} or timestamp ${timestamp} is outside the exact integer range`, start);
  }
  const factory = context.recordFactory;
  return factory === undefined
    ? { key, value, headers, timestamp, offset }
    : factory(key, value, headers, timestamp, offset);
}
