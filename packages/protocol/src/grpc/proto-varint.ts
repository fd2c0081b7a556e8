/**
 * Protobuf varints as the hand-written encoders write them (the fetch response's and the generated message
 * codec's): int32 and int64 fields alike, a negative value as 64-bit two's complement in 10 bytes.
 */

const TWO_32 = 2 ** 32;

/** Bytes of a varint holding `n` as a 64-bit two's complement value (int32 and int64 fields alike). */
export function varintSize(n: number): number {
  if (n < 0) return 10;
  let size = 1;
  while (n >= 128) {
    n = Math.floor(n / 128);
    size++;
  }
  return size;
}

export function writeVarint(buf: Buffer, pos: number, n: number): number {
  if (n >= 0) {
    while (n >= 128) {
      buf[pos++] = (n % 128) | 128;
      n = Math.floor(n / 128);
    }
    buf[pos++] = n;
    return pos;
  }
  // Negative: 64-bit two's complement, 10 bytes, as protobuf encodes negative int32 and int64.
  let hi = Math.floor(n / TWO_32);
  let lo = n - hi * TWO_32;
  hi >>>= 0;
  for (let i = 0; i < 4; i++) {
    buf[pos++] = (lo & 0x7f) | 0x80;
    lo = Math.floor(lo / 128);
  }
  // Byte 5 takes lo's top 4 bits and hi's low 3 bits.
  buf[pos++] = (lo & 0x0f) | ((hi & 0x07) << 4) | 0x80;
  hi >>>= 3;
  for (let i = 0; i < 4; i++) {
    buf[pos++] = (hi & 0x7f) | 0x80;
    hi >>>= 7;
  }
  buf[pos++] = hi & 0x01;
  return pos;
}
