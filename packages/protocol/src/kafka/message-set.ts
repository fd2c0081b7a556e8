import { crc32 } from 'node:zlib';
import type { CompressionName } from '../batch-header.js';
import { compress, decompress } from '../compression.js';
import { CorruptRecordError } from '../errors.js';
import type { KafkaRecordInput } from '../record.js';
import { decodeBatches, encodeBatch } from '../record-batch.js';

/**
 * The message sets of log format v0 and v1 (magic 0 and 1), spoken by Produce v0-v2 and Fetch v0-v3:
 *
 *   offset int64, message_size int32, then the message:
 *   crc int32 (CRC-32 of what follows), magic int8, attributes int8 (bits 0-2 codec, bit 3 log
 *   append time in magic 1), timestamp int64 (magic 1 only), key bytes, value bytes
 *
 * A compressed message's value is a whole inner message set (one level deep). Samsa stores only
 * RecordBatch v2: old producers' sets are converted once on the way in, and stored batches are
 * converted down for old consumers on the way out, as Kafka does. Headers do not exist before v2
 * and are dropped going down.
 */

const CODECS: readonly (CompressionName | undefined)[] = ['none', 'gzip', 'snappy', 'lz4'];
const LOG_APPEND_TIME_BIT = 0x08;
const MESSAGE_HEADER_V0 = 8 + 4 + 4 + 1 + 1; // offset, size, crc, magic, attributes
/** crc, magic, attributes and the two lengths of a magic 0 message with null key and value. */
const MIN_MESSAGE_BYTES = 4 + 1 + 1 + 4 + 4;
/** Caps a compressed wrapper's inner set, as the batch decoder caps a batch. */
const MAX_INNER_BYTES = 64 * 1024 * 1024;

export interface LegacyMessage {
  readonly offset: number;
  readonly magic: 0 | 1;
  readonly timestamp: number | null;
  readonly key: Buffer | null;
  readonly value: Buffer | null;
}

function corrupt(detail: string, at: number): CorruptRecordError {
  return new CorruptRecordError(`message set: ${detail}`, at);
}

function readNullableBytes(buf: Buffer, pos: number, end: number, what: string): [Buffer | null, number] {
  if (pos + 4 > end) throw corrupt(`${what} length runs past the message`, pos);
  const length = buf.readInt32BE(pos);
  pos += 4;
  if (length === -1) return [null, pos];
  if (length < 0 || pos + length > end) throw corrupt(`${what} of ${length} bytes does not fit the message`, pos);
  return [buf.subarray(pos, pos + length), pos + length];
}

/**
 * Decodes a message set into its messages, unwrapping compressed wrappers (their inner offsets are
 * relative in magic 1). Total: malformed input is a CorruptRecordError. A partial message at the end
 * is an error, since producers send whole messages.
 */
export function decodeMessageSet(buf: Buffer, depth = 0): LegacyMessage[] {
  const out: LegacyMessage[] = [];
  let pos = 0;
  while (pos < buf.length) {
    if (pos + 12 > buf.length) throw corrupt('truncated message header', pos);
    const offset = Number(buf.readBigInt64BE(pos));
    const size = buf.readInt32BE(pos + 8);
    const start = pos + 12;
    const end = start + size;
    if (size < MIN_MESSAGE_BYTES || end > buf.length) throw corrupt(`message size ${size} is invalid`, pos + 8);
    if (crc32(buf.subarray(start + 4, end)) !== buf.readUInt32BE(start)) throw corrupt('CRC mismatch', start);
    const magic = buf.readInt8(start + 4);
    if (magic !== 0 && magic !== 1) throw corrupt(`magic ${magic} in a v0/v1 message set`, start + 4);
    const attributes = buf.readInt8(start + 5);
    let p = start + 6;
    let timestamp: number | null = null;
    if (magic === 1) {
      if (p + 8 > end) throw corrupt('truncated timestamp', p);
      timestamp = Number(buf.readBigInt64BE(p));
      p += 8;
    }
    const [key, afterKey] = readNullableBytes(buf, p, end, 'key');
    const [value, afterValue] = readNullableBytes(buf, afterKey, end, 'value');
    if (afterValue !== end) throw corrupt(`${end - afterValue} bytes follow the value`, afterValue);
    const codec = CODECS[attributes & 0x07];
    if (codec === undefined) throw corrupt(`unknown compression codec ${attributes & 0x07}`, start + 5);
    if (codec === 'none') {
      out.push({ offset, magic, timestamp, key, value });
    } else {
      if (depth > 0) throw corrupt('nested compressed message', start);
      if (value === null) throw corrupt('compressed message without a value', start);
      const inner = decodeMessageSet(
        decompress(codec, value, { maxOutputBytes: MAX_INNER_BYTES, errorPosition: start }),
        1,
      );
      // Magic 1 inner offsets are relative: the wrapper carries the last one's absolute offset.
      const base = magic === 1 && inner.length > 0 ? offset - inner[inner.length - 1]!.offset : 0;
      for (const m of inner)
        out.push({
          ...m,
          offset: m.offset + base,
          timestamp: magic === 1 && attributes & LOG_APPEND_TIME_BIT ? timestamp : m.timestamp,
        });
    }
    pos = end;
  }
  return out;
}

/** The codec of the first wrapper in a set ('none' when uncompressed): the up-converted batch keeps it. */
function setCompression(buf: Buffer): CompressionName {
  if (buf.length < MESSAGE_HEADER_V0) return 'none';
  return CODECS[buf.readInt8(17) & 0x07] ?? 'none';
}

/**
 * An old producer's message set as one RecordBatch v2 (offsets from 0; the log stamps the real ones).
 * Magic 0 messages have no timestamp: they get `now`, the broker's time when it converted them.
 */
export function messageSetToBatch(buf: Buffer, now: number): Buffer {
  const messages = decodeMessageSet(buf);
  if (messages.length === 0) throw corrupt('no message in the set', 0);
  const records: KafkaRecordInput[] = messages.map((m) => ({
    key: m.key,
    value: m.value,
    timestamp: m.timestamp !== null && m.timestamp >= 0 ? m.timestamp : now,
  }));
  return encodeBatch(records, { now, compression: setCompression(buf) });
}

function encodeMessage(
  offset: number,
  magic: 0 | 1,
  timestamp: number,
  key: Buffer | null,
  value: Buffer | null,
): Buffer {
  const bodyBytes = 1 + 1 + (magic === 1 ? 8 : 0) + 4 + (key?.length ?? 0) + 4 + (value?.length ?? 0);
  const out = Buffer.allocUnsafe(12 + 4 + bodyBytes);
  out.writeBigInt64BE(BigInt(offset), 0);
  out.writeInt32BE(4 + bodyBytes, 8);
  let p = 16;
  out.writeInt8(magic, p++);
  out.writeInt8(0, p++);
  if (magic === 1) {
    out.writeBigInt64BE(BigInt(timestamp), p);
    p += 8;
  }
  for (const bytes of [key, value]) {
    out.writeInt32BE(bytes === null ? -1 : bytes.length, p);
    p += 4;
    if (bytes) p += bytes.copy(out, p);
  }
  out.writeUInt32BE(crc32(out.subarray(16)), 12);
  return out;
}

/** Encodes messages as an uncompressed set (tests and tools; stored data goes through batchesToMessageSet). */
export function encodeMessageSet(messages: readonly LegacyMessage[], magic: 0 | 1): Buffer {
  return Buffer.concat(messages.map((m) => encodeMessage(m.offset, magic, m.timestamp ?? -1, m.key, m.value)));
}

/** Wraps an uncompressed set in one compressed message (what old producers with compression send). */
export function compressMessageSet(
  inner: Buffer,
  magic: 0 | 1,
  codec: CompressionName,
  lastOffset: number,
  timestamp = -1,
): Buffer {
  const wrapper = encodeMessage(lastOffset, magic, timestamp, null, compress(codec, inner));
  wrapper.writeInt8(CODECS.indexOf(codec), 17);
  wrapper.writeUInt32BE(crc32(wrapper.subarray(16)), 12);
  return wrapper;
}

/**
 * Stored v2 batches as a magic 0 or 1 message set for a consumer that predates v2: one uncompressed
 * message per record, absolute offsets, control batches left out (old consumers know no markers).
 */
export function batchesToMessageSet(stored: Buffer, magic: 0 | 1): Buffer {
  const parts: Buffer[] = [];
  for (const batch of decodeBatches(stored, { allowPartialTrailingBatch: true, verifyCrc: false })) {
    if (batch.control) continue;
    for (const r of batch.records) parts.push(encodeMessage(r.offset, magic, r.timestamp, r.key, r.value));
  }
  return Buffer.concat(parts);
}
