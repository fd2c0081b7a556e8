import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  ByteReader,
  CorruptRecordError,
  INT32_MAX,
  INT32_MIN,
  sizeOfVarint,
  sizeOfVarlong,
  writeVarint,
  writeVarlong,
} from '@samsa/protocol';

function varint(value: number): string {
  const buf = Buffer.alloc(sizeOfVarint(value));
  expect(writeVarint(buf, value, 0)).toBe(buf.length);
  return buf.toString('hex');
}

function varlong(value: number): string {
  const buf = Buffer.alloc(sizeOfVarlong(value));
  expect(writeVarlong(buf, value, 0)).toBe(buf.length);
  return buf.toString('hex');
}

const reader = (hex: string) => new ByteReader(Buffer.from(hex, 'hex'));

describe('varints', () => {
  it('match the zigzag encodings Kafka writes', () => {
    // Values from the protobuf zigzag table and Kafka's ByteUtilsTest boundaries.
    expect(varint(0)).toBe('00');
    expect(varint(-1)).toBe('01');
    expect(varint(1)).toBe('02');
    expect(varint(63)).toBe('7e');
    expect(varint(-64)).toBe('7f');
    expect(varint(64)).toBe('8001');
    expect(varint(300)).toBe('d804');
    expect(varint(INT32_MAX)).toBe('feffffff0f');
    expect(varint(INT32_MIN)).toBe('ffffffff0f');
    expect(varlong(INT32_MAX + 1)).toBe('8080808010');
    expect(varlong(Number.MAX_SAFE_INTEGER)).toBe('feffffffffffff1f');
    expect(varlong(Number.MIN_SAFE_INTEGER)).toBe('fdffffffffffff1f');
  });

  it('round-trip every int32 and every exact integer', () => {
    fc.assert(
      fc.property(fc.integer({ min: INT32_MIN, max: INT32_MAX }), (value) => {
        expect(reader(varint(value)).readVarint()).toBe(value);
        expect(reader(varlong(value)).readVarlong()).toBe(value);
      }),
      { numRuns: 500 },
    );
    fc.assert(
      fc.property(fc.maxSafeInteger(), (value) => {
        const r = reader(varlong(value));
        expect(r.readVarlong()).toBe(value);
        expect(r.remaining).toBe(0);
      }),
      { numRuns: 500 },
    );
  });

  it('refuse to write values outside their range', () => {
    const buf = Buffer.alloc(16);
    expect(() => writeVarint(buf, INT32_MAX + 1, 0)).toThrow(RangeError);
    expect(() => writeVarint(buf, 1.5, 0)).toThrow(RangeError);
    expect(() => writeVarlong(buf, 2 ** 53, 0)).toThrow(RangeError);
  });

  it('reject truncated, overlong and overflowing encodings with CorruptRecordError', () => {
    expect(() => reader('80').readVarint()).toThrow(CorruptRecordError);
    expect(() => reader('').readVarint()).toThrow(CorruptRecordError);
    expect(() => reader('8080808080').readVarint()).toThrow(/longer than 5 bytes|32 bits/);
    expect(() => reader('ffffffff1f').readVarint()).toThrow(/32 bits/);
    expect(() => reader('ffffffffffffffffff02').readVarlong()).toThrow(/64 bits/);
    expect(() => reader('80808080808080808080').readVarlong()).toThrow(CorruptRecordError);
    // 2^53 is a valid int64 but not an exact number: corrupt rather than rounded.
    expect(() => reader('8080808080808020').readVarlong()).toThrow(/exact integer range/);
    expect(() => reader('ffffffffffffffff').readVarlong()).toThrow(/runs past the end/);
  });

  it('accept non-minimal encodings, as Kafka does', () => {
    expect(reader('8200').readVarint()).toBe(1);
    expect(reader('828080808000').readVarlong()).toBe(1);
  });
});
