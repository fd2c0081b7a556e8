import { ErrorCodes, SamsaError } from '../errors.js';

/**
 * Kafka's primitive types (https://kafka.apache.org/protocol#protocol_types), read and written
 * without trusting any length on the wire: every read checks the bytes it needs against the
 * window first, so a decoder built on KafkaReader is total and never allocates more than the
 * frame it was handed can back.
 */

export type KafkaProtocolErrorKind =
  | 'malformed' // bytes that do not parse: truncated fields, bad lengths, trailing garbage
  | 'oversized' // a frame past socket.request.max.bytes
  | 'unknown-api' // an API key this broker does not implement
  | 'unsupported-version'; // a known API at a version this broker does not implement

/**
 * A request that cannot be answered. The connection it came on is closed (Kafka does the same),
 * except ApiVersions at an unknown version, which is answered (see api-versions.ts).
 */
export class KafkaProtocolError extends SamsaError {
  constructor(
    readonly kind: KafkaProtocolErrorKind,
    detail: string,
  ) {
    super(kind === 'unsupported-version' ? ErrorCodes.UNSUPPORTED_VERSION : ErrorCodes.INVALID_REQUEST, detail);
    this.name = 'KafkaProtocolError';
  }
}

function malformed(detail: string): KafkaProtocolError {
  return new KafkaProtocolError('malformed', detail);
}

const INT64_SAFE_MAX = BigInt(Number.MAX_SAFE_INTEGER);
const INT64_SAFE_MIN = BigInt(Number.MIN_SAFE_INTEGER);

export class KafkaReader {
  pos: number;

  constructor(
    readonly buf: Buffer,
    pos = 0,
    readonly end = buf.length,
  ) {
    this.pos = pos;
  }

  get remaining(): number {
    return this.end - this.pos;
  }

  private need(bytes: number, what: string): void {
    if (!(bytes >= 0 && bytes <= this.end - this.pos))
      throw malformed(`${what} needs ${bytes} bytes at byte ${this.pos}, ${this.end - this.pos} left`);
  }

  int8(what = 'int8'): number {
    this.need(1, what);
    return this.buf.readInt8(this.pos++);
  }

  bool(what = 'bool'): boolean {
    return this.int8(what) !== 0;
  }

  int16(what = 'int16'): number {
    this.need(2, what);
    const v = this.buf.readInt16BE(this.pos);
    this.pos += 2;
    return v;
  }

  uint16(what = 'uint16'): number {
    this.need(2, what);
    const v = this.buf.readUInt16BE(this.pos);
    this.pos += 2;
    return v;
  }

  int32(what = 'int32'): number {
    this.need(4, what);
    const v = this.buf.readInt32BE(this.pos);
    this.pos += 4;
    return v;
  }

  uint32(what = 'uint32'): number {
    this.need(4, what);
    const v = this.buf.readUInt32BE(this.pos);
    this.pos += 4;
    return v;
  }

  /** An int64 as a number: Samsa keeps offsets and timestamps exact below 2^53 and treats wider values as corrupt. */
  int64(what = 'int64'): number {
    this.need(8, what);
    const high = this.buf.readInt32BE(this.pos);
    const low = this.buf.readUInt32BE(this.pos + 4);
    // Fast path: the high word fits the 21 bits a safe integer leaves it.
    if (high >= -0x200000 && high < 0x200000) {
      this.pos += 8;
      return high * 0x1_0000_0000 + low;
    }
    const big = this.buf.readBigInt64BE(this.pos);
    if (big > INT64_SAFE_MAX || big < INT64_SAFE_MIN)
      throw malformed(`${what} ${big} is outside the exact integer range`);
    this.pos += 8;
    return Number(big);
  }

  float64(what = 'float64'): number {
    this.need(8, what);
    const v = this.buf.readDoubleBE(this.pos);
    this.pos += 8;
    return v;
  }

  /** Unsigned LEB128 of at most 5 bytes (32 bits), Kafka's UNSIGNED_VARINT. */
  uvarint(what = 'unsigned varint'): number {
    let value = 0;
    for (let i = 0; i < 5; i++) {
      this.need(1, what);
      const byte = this.buf[this.pos++]!;
      if (i === 4 && byte > 0x0f) throw malformed(`${what} does not fit 32 bits`);
      value += (byte & 0x7f) * 2 ** (7 * i);
      if (byte < 0x80) return value;
    }
    throw malformed(`${what} is longer than 5 bytes`);
  }

  varint(what = 'varint'): number {
    const u = this.uvarint(what);
    return u % 2 === 0 ? u / 2 : -(u + 1) / 2;
  }

  varlong(what = 'varlong'): number {
    let zigzag = 0n;
    for (let i = 0; i < 10; i++) {
      this.need(1, what);
      const byte = this.buf[this.pos++]!;
      zigzag |= BigInt(byte & 0x7f) << BigInt(7 * i);
      if (byte < 0x80) {
        const value = (zigzag >> 1n) ^ -(zigzag & 1n);
        if (value > INT64_SAFE_MAX || value < INT64_SAFE_MIN) throw malformed(`${what} is outside the exact range`);
        return Number(value);
      }
    }
    throw malformed(`${what} is longer than 10 bytes`);
  }

  uuid(what = 'uuid'): string {
    this.need(16, what);
    const s = this.buf.toString('base64url', this.pos, this.pos + 16);
    this.pos += 16;
    return s;
  }

  private utf8(length: number, what: string): string {
    this.need(length, what);
    const s = this.buf.toString('utf8', this.pos, this.pos + length);
    this.pos += length;
    return s;
  }

  private slice(length: number, what: string): Buffer {
    this.need(length, what);
    const b = this.buf.subarray(this.pos, this.pos + length);
    this.pos += length;
    return b;
  }

  /** STRING / NULLABLE_STRING (int16 length, -1 = null). */
  string(nullable: boolean, what = 'string'): string | null {
    const length = this.int16(`${what} length`);
    if (length === -1 && nullable) return null;
    if (length < 0) throw malformed(`${what} has length ${length}`);
    return this.utf8(length, what);
  }

  /** COMPACT_STRING / COMPACT_NULLABLE_STRING (unsigned varint length + 1, 0 = null). */
  compactString(nullable: boolean, what = 'compact string'): string | null {
    const n = this.uvarint(`${what} length`);
    if (n === 0) {
      if (nullable) return null;
      throw malformed(`${what} is null`);
    }
    return this.utf8(n - 1, what);
  }

  /** BYTES / NULLABLE_BYTES / RECORDS (int32 length, -1 = null). The result is a view into the frame. */
  bytes(nullable: boolean, what = 'bytes'): Buffer | null {
    const length = this.int32(`${what} length`);
    if (length === -1 && nullable) return null;
    if (length < 0) throw malformed(`${what} has length ${length}`);
    return this.slice(length, what);
  }

  compactBytes(nullable: boolean, what = 'compact bytes'): Buffer | null {
    const n = this.uvarint(`${what} length`);
    if (n === 0) {
      if (nullable) return null;
      throw malformed(`${what} is null`);
    }
    return this.slice(n - 1, what);
  }

  /**
   * An array's element count: -1 is null. A count larger than the bytes left cannot be real (every
   * element takes at least one byte), so it fails here instead of after a long loop.
   */
  arrayLength(compact: boolean, nullable: boolean, what = 'array'): number | null {
    const n = compact ? this.uvarint(`${what} length`) - 1 : this.int32(`${what} length`);
    if (n === -1 && nullable) return null;
    if (n < 0) throw malformed(`${what} has length ${n}`);
    if (n > this.remaining) throw malformed(`${what} claims ${n} elements with ${this.remaining} bytes left`);
    return n;
  }

  /** Skips a tagged field's value (or reads it as a window for a known tag). */
  window(length: number, what: string): KafkaReader {
    this.need(length, what);
    const r = new KafkaReader(this.buf, this.pos, this.pos + length);
    this.pos += length;
    return r;
  }
}

const CHUNK_BYTES = 16 * 1024;
/** Byte strings at least this long are passed through as their own chunk instead of being copied. */
const ZERO_COPY_MIN_BYTES = 4 * 1024;

/**
 * Writes a message into a list of chunks: small fields into a growing scratch buffer, long byte
 * strings (record sets) as the caller's own buffers, so a fetch response goes to the socket with
 * writev and the stored bytes are never copied.
 */
export class KafkaWriter {
  private readonly chunks: Buffer[] = [];
  private buf: Buffer;
  private pos = 0;
  private start = 0;
  private total = 0;

  constructor(initialBytes = 256) {
    this.buf = Buffer.allocUnsafe(initialBytes);
  }

  private ensure(bytes: number): void {
    if (this.pos + bytes <= this.buf.length) return;
    this.flushScratch();
    this.buf = Buffer.allocUnsafe(Math.max(CHUNK_BYTES, bytes));
    this.pos = 0;
    this.start = 0;
  }

  private flushScratch(): void {
    if (this.pos > this.start) this.chunks.push(this.buf.subarray(this.start, this.pos));
    this.start = this.pos;
  }

  get length(): number {
    return this.total;
  }

  int8(v: number): this {
    this.ensure(1);
    this.buf.writeInt8(v, this.pos);
    this.pos += 1;
    this.total += 1;
    return this;
  }

  bool(v: boolean): this {
    return this.int8(v ? 1 : 0);
  }

  int16(v: number): this {
    this.ensure(2);
    this.buf.writeInt16BE(v, this.pos);
    this.pos += 2;
    this.total += 2;
    return this;
  }

  uint16(v: number): this {
    this.ensure(2);
    this.buf.writeUInt16BE(v, this.pos);
    this.pos += 2;
    this.total += 2;
    return this;
  }

  int32(v: number): this {
    this.ensure(4);
    this.buf.writeInt32BE(v, this.pos);
    this.pos += 4;
    this.total += 4;
    return this;
  }

  uint32(v: number): this {
    this.ensure(4);
    this.buf.writeUInt32BE(v, this.pos);
    this.pos += 4;
    this.total += 4;
    return this;
  }

  int64(v: number): this {
    this.ensure(8);
    if (!Number.isSafeInteger(v)) throw new RangeError(`int64 ${v} is not an exact integer`);
    this.buf.writeBigInt64BE(BigInt(v), this.pos);
    this.pos += 8;
    this.total += 8;
    return this;
  }

  float64(v: number): this {
    this.ensure(8);
    this.buf.writeDoubleBE(v, this.pos);
    this.pos += 8;
    this.total += 8;
    return this;
  }

  uvarint(v: number): this {
    if (!(Number.isInteger(v) && v >= 0 && v <= 0xffff_ffff)) throw new RangeError(`unsigned varint ${v} out of range`);
    this.ensure(5);
    let rest = v;
    while (rest >= 0x80) {
      this.buf[this.pos++] = (rest % 0x80) | 0x80;
      this.total++;
      rest = Math.floor(rest / 0x80);
    }
    this.buf[this.pos++] = rest;
    this.total++;
    return this;
  }

  varint(v: number): this {
    return this.uvarint(v >= 0 ? v * 2 : -v * 2 - 1);
  }

  varlong(v: number): this {
    if (!Number.isSafeInteger(v)) throw new RangeError(`varlong ${v} is not an exact integer`);
    let rest = v >= 0 ? BigInt(v) << 1n : (-BigInt(v) << 1n) - 1n;
    this.ensure(10);
    while (rest >= 0x80n) {
      this.buf[this.pos++] = Number(rest & 0x7fn) | 0x80;
      this.total++;
      rest >>= 7n;
    }
    this.buf[this.pos++] = Number(rest);
    this.total++;
    return this;
  }

  uuid(v: string): this {
    const raw = Buffer.from(v, 'base64url');
    if (raw.length !== 16) throw new RangeError(`uuid '${v}' is not 16 bytes of URL-safe base64`);
    return this.raw(raw);
  }

  /** Copies `bytes`, or hands a long buffer through as its own chunk (the caller must not change it). */
  raw(bytes: Uint8Array): this {
    if (bytes.length >= ZERO_COPY_MIN_BYTES) {
      this.flushScratch();
      this.chunks.push(Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length));
    } else {
      this.ensure(bytes.length);
      this.buf.set(bytes, this.pos);
      this.pos += bytes.length;
    }
    this.total += bytes.length;
    return this;
  }

  string(v: string | null): this {
    if (v === null) return this.int16(-1);
    const length = Buffer.byteLength(v);
    if (length > 0x7fff) throw new RangeError(`string of ${length} bytes does not fit an int16 length`);
    this.int16(length);
    return this.utf8(v, length);
  }

  compactString(v: string | null): this {
    if (v === null) return this.uvarint(0);
    const length = Buffer.byteLength(v);
    this.uvarint(length + 1);
    return this.utf8(v, length);
  }

  private utf8(v: string, length: number): this {
    this.ensure(length);
    this.buf.write(v, this.pos, 'utf8');
    this.pos += length;
    this.total += length;
    return this;
  }

  bytes(v: Uint8Array | null): this {
    if (v === null) return this.int32(-1);
    this.int32(v.length);
    return this.raw(v);
  }

  compactBytes(v: Uint8Array | null): this {
    if (v === null) return this.uvarint(0);
    this.uvarint(v.length + 1);
    return this.raw(v);
  }

  arrayLength(compact: boolean, n: number | null): this {
    if (compact) return this.uvarint(n === null ? 0 : n + 1);
    return this.int32(n === null ? -1 : n);
  }

  /** The message as chunks, in order (views: valid until the writer is written to again). */
  toChunks(): Buffer[] {
    this.flushScratch();
    return this.chunks.slice();
  }

  /** The message as one buffer (copies when there is more than one chunk). */
  toBuffer(): Buffer {
    const chunks = this.toChunks();
    return chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, this.total);
  }
}
