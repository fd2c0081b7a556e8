/**
 * Kafka's variable-length integers (the protobuf encoding): zigzag, then 7 bits per byte, least
 * significant group first, high bit set on every byte but the last. A "varint" is an int32 (at most
 * 5 bytes), a "varlong" an int64 (at most 10 bytes); varlongs are JavaScript numbers here, so only
 * the exact integer range (|n| < 2^53) is accepted.
 *
 * Writers take a position and return the position after the value, so encoders can fill one
 * preallocated buffer without intermediate objects. Reading lives in {@link ByteReader}.
 */

export const INT32_MIN = -0x8000_0000;
export const INT32_MAX = 0x7fff_ffff;
export const MAX_VARINT_BYTES = 5;
export const MAX_VARLONG_BYTES = 10;

function isInt32(value: number): boolean {
  return Number.isInteger(value) && value >= INT32_MIN && value <= INT32_MAX;
}

function checkInt32(value: number): void {
  if (!isInt32(value)) throw new RangeError(`varint value ${value} is not an int32`);
}

function checkSafeInteger(value: number): void {
  if (!Number.isSafeInteger(value)) throw new RangeError(`varlong value ${value} is not an exact integer`);
}

/** Zigzag maps small magnitudes of either sign to small unsigned values: 0,-1,1,-2 -> 0,1,2,3. */
function zigzag32(value: number): number {
  return ((value << 1) ^ (value >> 31)) >>> 0;
}

/** Beyond int32 the zigzag value needs 64 bits; BigInt keeps it exact (rare: deltas over 24 days). */
function zigzag64(value: number): bigint {
  const n = BigInt(value);
  return n >= 0n ? n << 1n : (-n << 1n) - 1n;
}

/** Bytes of an unsigned 32-bit value in base-128. */
function sizeOfUnsignedVarint(value: number): number {
  if (value < 0x80) return 1;
  if (value < 0x4000) return 2;
  if (value < 0x20_0000) return 3;
  if (value < 0x1000_0000) return 4;
  return 5;
}

export function sizeOfVarint(value: number): number {
  checkInt32(value);
  return sizeOfUnsignedVarint(zigzag32(value));
}

export function sizeOfVarlong(value: number): number {
  if (isInt32(value)) return sizeOfUnsignedVarint(zigzag32(value));
  checkSafeInteger(value);
  let zigzag = zigzag64(value);
  let bytes = 1;
  while (zigzag >= 0x80n) {
    zigzag >>= 7n;
    bytes++;
  }
  return bytes;
}

function writeUnsignedVarint(buf: Buffer, value: number, pos: number): number {
  let rest = value;
  while (rest >= 0x80) {
    buf[pos++] = (rest & 0x7f) | 0x80;
    rest >>>= 7;
  }
  buf[pos++] = rest;
  return pos;
}

/** Writes `value` (an int32) at `pos`; returns the position after it. The caller sized `buf`. */
export function writeVarint(buf: Buffer, value: number, pos: number): number {
  checkInt32(value);
  return writeUnsignedVarint(buf, zigzag32(value), pos);
}

/** Writes `value` (an exact integer) at `pos`; returns the position after it. */
export function writeVarlong(buf: Buffer, value: number, pos: number): number {
  // For int32 values the 64-bit zigzag equals the 32-bit one, so the common case stays in numbers.
  if (isInt32(value)) return writeUnsignedVarint(buf, zigzag32(value), pos);
  checkSafeInteger(value);
  let rest = zigzag64(value);
  while (rest >= 0x80n) {
    buf[pos++] = Number(rest & 0x7fn) | 0x80;
    rest >>= 7n;
  }
  buf[pos++] = Number(rest);
  return pos;
}

/** Undoes zigzag for an unsigned value below 2^53 held in a number. */
export function unzigzagNumber(zigzag: number): number {
  return zigzag % 2 === 0 ? zigzag / 2 : -(zigzag + 1) / 2;
}
