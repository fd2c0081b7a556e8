import { CorruptRecordError } from './errors.js';
import { MAX_VARINT_BYTES, MAX_VARLONG_BYTES, unzigzagNumber } from './varint.js';

/**
 * A bounds-checked cursor over `buf[pos, end)`. Every read checks the bytes it needs first and
 * throws CorruptRecordError otherwise, so decoders built on it are total: no RangeError from
 * Buffer, and no allocation sized by a length the input cannot back.
 */
export class ByteReader {
  pos: number;
  /** Mutable so a record can be read inside its own length without a second reader. */
  end: number;

  /**
   * @param errorPosition when set, errors report this position instead of the cursor's; used for
   *   decompressed payloads, whose positions mean nothing in the buffer the caller handed over.
   */
  constructor(
    readonly buf: Buffer,
    pos = 0,
    end = buf.length,
    readonly errorPosition?: number,
  ) {
    if (pos < 0 || end > buf.length || pos > end)
      throw new RangeError(`reader window [${pos}, ${end}) lies outside a buffer of ${buf.length} bytes`);
    this.pos = pos;
    this.end = end;
  }

  get remaining(): number {
    return this.end - this.pos;
  }

  corrupt(detail: string, at = this.pos): CorruptRecordError {
    return new CorruptRecordError(detail, this.errorPosition ?? at);
  }

  private need(bytes: number, what: string): void {
    if (!(bytes >= 0 && bytes <= this.end - this.pos))
      throw this.corrupt(`${what} needs ${bytes} bytes, ${this.end - this.pos} left`);
  }

  readInt8(what = 'int8'): number {
    this.need(1, what);
    return (this.buf[this.pos++]! << 24) >> 24;
  }

  /** Reads `length` bytes as a view into the buffer (no copy). */
  readBytes(length: number, what = 'bytes'): Buffer {
    this.need(length, what);
    const start = this.pos;
    this.pos += length;
    return this.buf.subarray(start, this.pos);
  }

  readUtf8(length: number, what = 'string'): string {
    this.need(length, what);
    const start = this.pos;
    this.pos += length;
    return this.buf.toString('utf8', start, this.pos);
  }

  /**
   * A zigzag int32: at most 5 bytes, and the fifth may only carry the top 4 bits. One- and two-byte
   * values (record lengths, deltas, key and value sizes below 8 KiB) take a short path: this runs
   * several times per record.
   */
  readVarint(what = 'varint'): number {
    const pos = this.pos;
    const buf = this.buf;
    if (pos + 1 < this.end) {
      const b0 = buf[pos]!;
      if (b0 < 0x80) {
        this.pos = pos + 1;
        return (b0 >>> 1) ^ -(b0 & 1);
      }
      const b1 = buf[pos + 1]!;
      if (b1 < 0x80) {
        const unsigned = (b0 & 0x7f) | (b1 << 7);
        this.pos = pos + 2;
        return (unsigned >>> 1) ^ -(unsigned & 1);
      }
    }
    return this.readLongVarint(what);
  }

  private readLongVarint(what: string): number {
    const start = this.pos;
    let unsigned = 0;
    for (let i = 0; i < MAX_VARINT_BYTES; i++) {
      if (this.pos >= this.end) throw this.corrupt(`${what} runs past the end`, start);
      const byte = this.buf[this.pos++]!;
      if (i === MAX_VARINT_BYTES - 1 && byte > 0x0f) throw this.corrupt(`${what} does not fit 32 bits`, start);
      unsigned |= (byte & 0x7f) << (7 * i);
      if (byte < 0x80) return (unsigned >>> 1) ^ -(unsigned & 1);
    }
    throw this.corrupt(`${what} is longer than ${MAX_VARINT_BYTES} bytes`, start);
  }

  /**
   * A zigzag int64 as a number. Up to 7 bytes (49 bits) stays in number arithmetic; longer
   * encodings take an exact BigInt path and must land in the safe-integer range.
   */
  readVarlong(what = 'varlong'): number {
    const start = this.pos;
    // One byte: timestamp deltas of records created within 64 ms of their batch's first.
    if (start < this.end && this.buf[start]! < 0x80) {
      const b0 = this.buf[start]!;
      this.pos = start + 1;
      return (b0 >>> 1) ^ -(b0 & 1);
    }
    let zigzag = 0;
    let scale = 1;
    for (let i = 0; i < 7; i++) {
      if (this.pos >= this.end) throw this.corrupt(`${what} runs past the end`, start);
      const byte = this.buf[this.pos++]!;
      zigzag += (byte & 0x7f) * scale;
      if (byte < 0x80) return unzigzagNumber(zigzag);
      scale *= 128;
    }
    this.pos = start;
    return this.readWideVarlong(what);
  }

  private readWideVarlong(what: string): number {
    const start = this.pos;
    let zigzag = 0n;
    for (let i = 0; i < MAX_VARLONG_BYTES; i++) {
      if (this.pos >= this.end) throw this.corrupt(`${what} runs past the end`, start);
      const byte = this.buf[this.pos++]!;
      if (i === MAX_VARLONG_BYTES - 1 && byte > 0x01) throw this.corrupt(`${what} does not fit 64 bits`, start);
      zigzag |= BigInt(byte & 0x7f) << BigInt(7 * i);
      if (byte < 0x80) {
        const value = (zigzag >> 1n) ^ -(zigzag & 1n);
        if (value > BigInt(Number.MAX_SAFE_INTEGER) || value < BigInt(Number.MIN_SAFE_INTEGER)) {
          throw this.corrupt(`${what} ${value} is outside the exact integer range`, start);
        }
        return Number(value);
      }
    }
    throw this.corrupt(`${what} is longer than ${MAX_VARLONG_BYTES} bytes`, start);
  }
}
