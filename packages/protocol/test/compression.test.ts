import * as zlib from 'node:zlib';
import { compressFrameSync } from 'lz4-napi';
import { compressSync as snappyBlock } from 'snappy';
import { describe, expect, it } from 'vitest';
import {
  COMPRESSION_NAMES,
  CorruptRecordError,
  compress,
  decodeBatch,
  decompress,
  encodeBatch,
  type CompressionName,
} from '@samsa/protocol';

const CODECS = COMPRESSION_NAMES.filter((c): c is Exclude<CompressionName, 'none'> => c !== 'none');
const text = Buffer.from('the quick brown fox jumps over the lazy dog '.repeat(2_000));

describe('compression codecs', () => {
  for (const codec of CODECS) {
    it(`${codec} round-trips, including empty input`, () => {
      expect(decompress(codec, compress(codec, text))).toEqual(text);
      expect(decompress(codec, compress(codec, Buffer.alloc(0)))).toEqual(Buffer.alloc(0));
    });

    it(`${codec} output over the cap is a CorruptRecordError, not an allocation`, () => {
      const bomb = compress(codec, Buffer.alloc(8 * 1024 * 1024));
      expect(bomb.length).toBeLessThan(600 * 1024);
      expect(() => decompress(codec, bomb, { maxOutputBytes: 1024 * 1024 })).toThrow(CorruptRecordError);
      expect(decompress(codec, bomb, { maxOutputBytes: 8 * 1024 * 1024 }).length).toBe(8 * 1024 * 1024);
    });

    it(`${codec} garbage is a CorruptRecordError carrying the given position`, () => {
      for (const garbage of [
        Buffer.from('not compressed at all'),
        Buffer.alloc(0),
        compress(codec, text).subarray(0, 20),
      ]) {
        expect(() => decompress(codec, garbage, { errorPosition: 99 })).toThrow(
          expect.objectContaining({ name: 'CorruptRecordError', position: 99 }),
        );
      }
    });
  }

  it('snappy writes the xerial framing of the Java client, in 32 KiB blocks', () => {
    const framed = compress('snappy', text);
    expect(framed.subarray(0, 16).toString('hex')).toBe('82534e41505059000000000100000001');
    // 88,000 bytes of input make three blocks of at most 32 KiB each.
    let pos = 16;
    let blocks = 0;
    while (pos < framed.length) {
      pos += 4 + framed.readInt32BE(pos);
      blocks++;
    }
    expect(pos).toBe(framed.length);
    expect(blocks).toBe(3);
  });

  it('snappy reads a xerial stream with another block size, and raw snappy blocks', () => {
    // Laid out by hand from the snappy-java stream format (magic, version 1, compatible version 1,
    // then [int32 length][raw snappy block] chunks), in 4 KiB chunks rather than our 32 KiB.
    const header = Buffer.from('82534e41505059000000000100000001', 'hex');
    const chunks: Buffer[] = [header];
    for (let at = 0; at < text.length; at += 4096) {
      const block = snappyBlock(text.subarray(at, at + 4096));
      const length = Buffer.alloc(4);
      length.writeInt32BE(block.length);
      chunks.push(length, block);
    }
    expect(decompress('snappy', Buffer.concat(chunks))).toEqual(text);
    expect(decompress('snappy', snappyBlock(text))).toEqual(text);
  });

  it('snappy refuses a block whose declared length exceeds the cap before decompressing it', () => {
    // A raw block that claims 2^32-1 bytes of output.
    expect(() => decompress('snappy', Buffer.from('ffffffff0f00', 'hex'))).toThrow(/declares 4294967295 bytes/);
  });

  it('lz4 writes a frame with independent blocks, which the Java client reads', () => {
    const frame = compress('lz4', text);
    expect(frame.readUInt32LE(0)).toBe(0x184d2204);
    expect(frame[4]! & 0xc0).toBe(0x40); // version 01
    expect(frame[4]! & 0x20).toBe(0x20); // block independence
    expect(decompress('lz4', compressFrameSync(text))).toEqual(text);
  });

  it('lz4 refuses a frame that declares a content size over the cap', () => {
    // magic, FLG (version 01, independent blocks, content size present), BD 64 KiB, size 2^40.
    const header = Buffer.from('04224d18684000000000000100000000', 'hex');
    expect(() => decompress('lz4', header, { maxOutputBytes: 1024 })).toThrow(/content size/);
  });

  it('lz4 accepts one frame only, as Kafka writes, rather than silently dropping what follows', () => {
    const frame = compress('lz4', text);
    expect(() => decompress('lz4', Buffer.concat([frame, frame]))).toThrow(/frame ends at byte/);
    expect(() => decompress('lz4', Buffer.concat([frame, Buffer.from([1, 2, 3])]))).toThrow(CorruptRecordError);
  });

  it('zstd decodes a standard frame written by node:zlib directly', () => {
    expect(decompress('zstd', zlib.zstdCompressSync(text))).toEqual(text);
  });

  it('a batch whose records inflate beyond maxUncompressedBytes is corrupt', () => {
    const batch = encodeBatch([{ value: Buffer.alloc(2 * 1024 * 1024), timestamp: 0 }], { compression: 'zstd' });
    expect(batch.length).toBeLessThan(1024);
    expect(() => decodeBatch(batch, 0, { maxUncompressedBytes: 1024 * 1024 })).toThrow(CorruptRecordError);
    expect(decodeBatch(batch).records[0]!.value!.length).toBe(2 * 1024 * 1024);
  });
});
