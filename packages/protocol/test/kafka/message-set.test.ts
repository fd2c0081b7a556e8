import { describe, expect, it } from 'vitest';
import { decodeBatch, encodeBatch } from '@samsa/protocol';
import { kafka } from '@samsa/protocol/kafka';

const { encodeMessageSet, decodeMessageSet, compressMessageSet, messageSetToBatch, batchesToMessageSet } = kafka;

const NOW = 1_700_000_000_000;
const b = (s: string) => Buffer.from(s);

describe('magic 0/1 message sets', () => {
  it('a magic 0 message is the bytes of the protocol guide', () => {
    const set = encodeMessageSet([{ offset: 5, magic: 0, timestamp: null, key: null, value: b('a') }], 0);
    // offset, size 15, crc, magic 0, attributes 0, key -1, value length 1, 'a'
    expect(set.subarray(0, 12).toString('hex')).toBe('0000000000000005' + '0000000f');
    expect(set.subarray(16).toString('hex')).toBe('00' + '00' + 'ffffffff' + '00000001' + '61');
    expect(decodeMessageSet(set)).toEqual([{ offset: 5, magic: 0, timestamp: null, key: null, value: b('a') }]);
  });

  it('up-converts an old producer set, plain or compressed, to one v2 batch', () => {
    for (const magic of [0, 1] as const) {
      const inner = encodeMessageSet(
        [
          { offset: 0, magic, timestamp: magic === 1 ? NOW - 5 : null, key: b('k1'), value: b('v1') },
          { offset: 1, magic, timestamp: magic === 1 ? NOW - 4 : null, key: null, value: null },
        ],
        magic,
      );
      for (const set of [
        inner,
        compressMessageSet(inner, magic, 'gzip', 1),
        compressMessageSet(inner, magic, 'snappy', 1),
      ]) {
        const batch = decodeBatch(messageSetToBatch(set, NOW));
        expect(
          batch.records.map((r) => [r.offset, r.key?.toString() ?? null, r.value?.toString() ?? null, r.timestamp]),
        ).toEqual([
          [0, 'k1', 'v1', magic === 1 ? NOW - 5 : NOW],
          [1, null, null, magic === 1 ? NOW - 4 : NOW],
        ]);
      }
    }
  });

  it('down-converts stored batches for old consumers, with absolute offsets and no control batches', () => {
    const first = encodeBatch(
      [
        { key: b('a'), value: b('1') },
        { value: b('2'), headers: [{ key: 'h', value: null }] },
      ],
      {
        now: NOW,
        baseOffset: 10,
        compression: 'lz4',
      },
    );
    const control = encodeBatch([{ key: Buffer.from([0, 0, 0, 0]), value: Buffer.from([0, 0, 0, 0, 0, 0]) }], {
      now: NOW,
      baseOffset: 12,
      control: true,
      transactional: true,
    });
    const third = encodeBatch([{ value: b('3') }], { now: NOW + 1, baseOffset: 13 });
    for (const magic of [0, 1] as const) {
      const set = batchesToMessageSet(Buffer.concat([first, control, third]), magic);
      expect(
        decodeMessageSet(set).map((m) => [
          m.offset,
          m.magic,
          m.key?.toString() ?? null,
          m.value?.toString(),
          m.timestamp,
        ]),
      ).toEqual([
        [10, magic, 'a', '1', magic === 1 ? NOW : null],
        [11, magic, null, '2', magic === 1 ? NOW : null],
        [13, magic, null, '3', magic === 1 ? NOW + 1 : null],
      ]);
    }
  });

  it('refuses bad CRCs, truncated messages, unknown codecs and magic 2', () => {
    const set = encodeMessageSet([{ offset: 0, magic: 1, timestamp: NOW, key: null, value: b('x') }], 1);
    const badCrc = Buffer.from(set);
    badCrc[set.length - 1] = badCrc[set.length - 1]! ^ 1;
    expect(() => decodeMessageSet(badCrc)).toThrow(/CRC/);
    expect(() => decodeMessageSet(set.subarray(0, set.length - 1))).toThrow(/size/);
    expect(() => messageSetToBatch(Buffer.alloc(0), NOW)).toThrow(/no message/);
    expect(() => decodeMessageSet(encodeBatch([{ value: b('x') }], { now: NOW }))).toThrow();
  });
});
