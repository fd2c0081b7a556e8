import { describe, expect, it } from 'vitest';
import { kafka } from '@samsa/protocol/kafka';

const { KafkaReader, KafkaWriter, KafkaProtocolError } = kafka;

describe('Kafka primitive types', () => {
  it('writes the bytes the protocol guide gives', () => {
    const w = new KafkaWriter();
    w.int8(-1)
      .int16(0x0102)
      .int32(-2)
      .int64(2 ** 40 + 5)
      .uvarint(300)
      .varint(-3)
      .compactString('ab')
      .string(null);
    w.compactBytes(null).arrayLength(true, 2).arrayLength(false, null).uuid('AAAAAAAAAAAAAAAAAAAAAQ');
    expect(w.toBuffer().toString('hex')).toBe(
      [
        'ff',
        '0102',
        'fffffffe',
        '0000010000000005',
        'ac02', // 300 as an unsigned varint
        '05', // -3 zigzagged
        '036162', // compact string: length + 1, then UTF-8
        'ffff', // null string
        '00', // null compact bytes
        '03', // compact array of 2
        'ffffffff', // null array
        '00000000000000000000000000000001',
      ].join(''),
    );
  });

  it('reads back what it writes', () => {
    const w = new KafkaWriter(4);
    const big = Buffer.alloc(10_000, 7); // passed through as its own chunk
    w.varlong(-(2 ** 50))
      .bytes(big)
      .compactString('héllo')
      .string('x')
      .float64(1.5)
      .bool(true);
    const chunks = w.toChunks();
    expect(chunks).toContain(big);
    const r = new KafkaReader(Buffer.concat(chunks));
    expect(r.varlong()).toBe(-(2 ** 50));
    expect(r.bytes(false)).toEqual(big);
    expect(r.compactString(false)).toBe('héllo');
    expect(r.string(false)).toBe('x');
    expect(r.float64()).toBe(1.5);
    expect(r.bool()).toBe(true);
    expect(r.remaining).toBe(0);
  });

  it('refuses lengths the bytes cannot back, and int64 values past 2^53', () => {
    const cases: Buffer[] = [
      Buffer.from('7fff', 'hex'), // string of 32767 bytes in 0
      Buffer.from('ffff', 'hex'), // null where not nullable
      Buffer.from('0fffffff', 'hex'), // array length past the frame
    ];
    expect(() => new KafkaReader(cases[0]!).string(false)).toThrow(KafkaProtocolError);
    expect(() => new KafkaReader(cases[1]!).string(false)).toThrow(KafkaProtocolError);
    expect(() => new KafkaReader(cases[2]!).arrayLength(false, true)).toThrow(/claims/);
    expect(() => new KafkaReader(Buffer.from('7fffffffffffffff', 'hex')).int64()).toThrow(/exact integer/);
    expect(() => new KafkaReader(Buffer.from('ffffffffff0f', 'hex')).uvarint()).toThrow(/32 bits/);
    expect(new KafkaReader(Buffer.from('ffffffffffffffff', 'hex')).int64()).toBe(-1);
  });
});
