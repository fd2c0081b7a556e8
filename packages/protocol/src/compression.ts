import * as zlib from 'node:zlib';
import { compressFrameSync, decompressFrameSync } from 'lz4-napi';
import { compressSync as snappyCompressSync, uncompressSync as snappyUncompressSync } from 'snappy';
import type { CompressionName } from './batch-header.js';
import { CorruptRecordError, ErrorCodes, SamsaError } from './errors.js';

/**
 * The record-batch compression codecs, in the wire formats Kafka's Java client writes:
 *   gzip    RFC 1952 (node:zlib)
 *   snappy  xerial snappy-java framing (what the Java client writes); raw snappy is accepted too
 *   lz4     the LZ4 frame format (lz4-napi)
 *   zstd    a standard zstd frame (node:zlib, Node >= 22.15)
 *
 * Decompression is bounded: output beyond `maxOutputBytes` is a CorruptRecordError, and the
 * snappy and lz4 paths check the sizes a payload declares before the native code allocates.
 */

/** Default cap on one batch's decompressed records; Kafka's default max.message.bytes is ~1 MiB. */
export const DEFAULT_MAX_UNCOMPRESSED_BYTES = 64 * 1024 * 1024;

export interface DecompressOptions {
  /** Largest decompressed size accepted. */
  maxOutputBytes?: number;
  /** Position reported by errors, e.g. where the payload starts in the caller's buffer. */
  errorPosition?: number;
}

export function compress(codec: CompressionName, data: Buffer): Buffer {
  switch (codec) {
    case 'none':
      return data;
    case 'gzip':
      return zlib.gzipSync(data);
    case 'snappy':
      return xerialSnappyCompress(data);
    case 'lz4':
      return compressFrameSync(data);
    case 'zstd':
      return zstdCodec().compress(data);
  }
}

export function decompress(codec: CompressionName, data: Buffer, options: DecompressOptions = {}): Buffer {
  const maxOutputBytes = options.maxOutputBytes ?? DEFAULT_MAX_UNCOMPRESSED_BYTES;
  const errorPosition = options.errorPosition ?? 0;
  if (!(maxOutputBytes >= 1 && maxOutputBytes <= MAX_OUTPUT_BYTES_CEILING)) {
    throw new RangeError(`maxOutputBytes ${maxOutputBytes} must lie in [1, ${MAX_OUTPUT_BYTES_CEILING}]`);
  }
  if (codec === 'none') return data;
  if (codec === 'zstd') zstdCodec(); // an unsupported runtime is not corrupt input: let that error through
  let output: Buffer;
  try {
    output = decompressUnchecked(codec, data, maxOutputBytes, errorPosition);
  } catch (error) {
    if (error instanceof CorruptRecordError) throw error;
    throw new CorruptRecordError(`${codec} payload does not decompress: ${(error as Error).message}`, errorPosition, {
      cause: error,
    });
  }
  if (output.length > maxOutputBytes) {
    throw new CorruptRecordError(
      `${codec} payload decompresses beyond the limit of ${maxOutputBytes} bytes`,
      errorPosition,
    );
  }
  return output;
}

/** Node's own ceiling for one buffer; above it the cap would mean nothing. */
const MAX_OUTPUT_BYTES_CEILING = 2 ** 31 - 1;

function decompressUnchecked(
  codec: Exclude<CompressionName, 'none'>,
  data: Buffer,
  maxOutputBytes: number,
  errorPosition: number,
): Buffer {
  switch (codec) {
    case 'gzip':
      return zlib.gunzipSync(data, { maxOutputLength: maxOutputBytes });
    case 'snappy':
      return snappyDecompress(data, maxOutputBytes, errorPosition);
    case 'lz4':
      checkLz4FrameBound(data, maxOutputBytes, errorPosition);
      return decompressFrameSync(data);
    case 'zstd':
      return zstdCodec().decompress(data, maxOutputBytes);
  }
}

// ---- zstd ---------------------------------------------------------------------------------------

interface ZstdCodec {
  compress(data: Buffer): Buffer;
  decompress(data: Buffer, maxOutputBytes: number): Buffer;
}

/**
 * node:zlib gained zstd in Node 22.15/23.8; on an older runtime zstd batches get a typed error
 * instead of a TypeError. The decoder keeps zstd's default window limit (2^27, what Java consumers
 * accept too, so producers at high levels still decode); the window is reserved lazily, so what a
 * hostile frame costs in memory is bounded by the output cap, not by its declared window.
 */
function zstdCodec(): ZstdCodec {
  const { zstdCompressSync, zstdDecompressSync } = zlib;
  if (typeof zstdCompressSync !== 'function' || typeof zstdDecompressSync !== 'function') {
    throw new SamsaError(
      ErrorCodes.UNSUPPORTED_COMPRESSION_TYPE,
      `zstd needs node:zlib zstd support (Node.js >= 22.15); this is ${process.version}`,
    );
  }
  return {
    compress: (data) => zstdCompressSync(data),
    decompress: (data, maxOutputBytes) => zstdDecompressSync(data, { maxOutputLength: maxOutputBytes }),
  };
}

// ---- snappy -------------------------------------------------------------------------------------

/** snappy-java's stream header: magic, then version and minimum compatible version (both 1). */
const XERIAL_MAGIC = Buffer.from([0x82, 0x53, 0x4e, 0x41, 0x50, 0x50, 0x59, 0x00]);
const XERIAL_HEADER_BYTES = 16;
/** snappy-java's default block size, which the Kafka Java client uses. */
const XERIAL_BLOCK_BYTES = 32 * 1024;

function xerialSnappyCompress(data: Buffer): Buffer {
  const header = Buffer.alloc(XERIAL_HEADER_BYTES);
  XERIAL_MAGIC.copy(header, 0);
  header.writeInt32BE(1, 8);
  header.writeInt32BE(1, 12);
  const parts: Buffer[] = [header];
  for (let start = 0; start < data.length; start += XERIAL_BLOCK_BYTES) {
    const block = snappyCompressSync(data.subarray(start, start + XERIAL_BLOCK_BYTES));
    const length = Buffer.alloc(4);
    length.writeInt32BE(block.length, 0);
    parts.push(length, block);
  }
  return Buffer.concat(parts);
}

function isXerialFramed(data: Buffer): boolean {
  return data.length >= XERIAL_HEADER_BYTES && data.subarray(0, XERIAL_MAGIC.length).equals(XERIAL_MAGIC);
}

function snappyDecompress(data: Buffer, maxOutputBytes: number, errorPosition: number): Buffer {
  if (!isXerialFramed(data)) return snappyBlockDecompress(data, maxOutputBytes, errorPosition);
  const blocks: Buffer[] = [];
  let outputBytes = 0;
  let pos = XERIAL_HEADER_BYTES;
  while (pos < data.length) {
    if (data.length - pos < 4) throw new CorruptRecordError('xerial snappy block length is truncated', errorPosition);
    const blockBytes = data.readInt32BE(pos);
    pos += 4;
    if (blockBytes < 0 || blockBytes > data.length - pos) {
      throw new CorruptRecordError(
        `xerial snappy block of ${blockBytes} bytes does not fit the ${data.length - pos} left`,
        errorPosition,
      );
    }
    const block = snappyBlockDecompress(
      data.subarray(pos, pos + blockBytes),
      maxOutputBytes - outputBytes,
      errorPosition,
    );
    outputBytes += block.length;
    blocks.push(block);
    pos += blockBytes;
  }
  return Buffer.concat(blocks, outputBytes);
}

/** A raw snappy block starts with its uncompressed length (unsigned base-128); check it before allocating. */
function snappyBlockDecompress(block: Buffer, maxOutputBytes: number, errorPosition: number): Buffer {
  let declaredBytes = 0;
  for (let i = 0; ; i++) {
    const byte = block[i];
    if (byte === undefined || i === 5)
      throw new CorruptRecordError('snappy block has no valid length preamble', errorPosition);
    declaredBytes += (byte & 0x7f) * 2 ** (7 * i);
    if (byte < 0x80) break;
  }
  if (declaredBytes > maxOutputBytes) {
    throw new CorruptRecordError(
      `snappy block declares ${declaredBytes} bytes, beyond the limit of ${maxOutputBytes}`,
      errorPosition,
    );
  }
  return snappyUncompressSync(block, { asBuffer: true }) as Buffer;
}

// ---- lz4 ----------------------------------------------------------------------------------------

const LZ4_FRAME_MAGIC = 0x184d2204;
const LZ4_BLOCK_MAX_BYTES: Readonly<Record<number, number>> = {
  4: 64 * 1024,
  5: 256 * 1024,
  6: 1024 * 1024,
  7: 4 * 1024 * 1024,
};
/** LZ4 cannot expand a block by more than ~255x (a match length grows by 255 per extension byte). */
const LZ4_MAX_EXPANSION = 256;

/**
 * lz4-napi decodes a frame in one call without an output limit, so walk the frame's block headers
 * first and bound what it can produce: each block yields at most min(block maximum, 256 x its
 * compressed size). Conservative by at most one block's maximum (4 MiB). One frame only, as Kafka
 * writes: lz4-napi would silently ignore anything after the first.
 */
function checkLz4FrameBound(data: Buffer, maxOutputBytes: number, errorPosition: number): void {
  const corrupt = (detail: string) => new CorruptRecordError(`lz4 frame: ${detail}`, errorPosition);
  const frame = readLz4FrameHeader(data, maxOutputBytes, corrupt);
  let pos = frame.headerBytes;
  let boundBytes = 0;
  for (;;) {
    if (data.length - pos < 4) throw corrupt('truncated block size');
    const word = data.readUInt32LE(pos);
    pos += 4;
    if (word === 0) break;
    const blockBytes = word & 0x7fff_ffff;
    const stored = word !== blockBytes; // high bit: the block is stored uncompressed
    if (blockBytes > frame.blockMaxBytes || blockBytes > data.length - pos)
      throw corrupt(`block of ${blockBytes} bytes does not fit`);
    boundBytes += stored ? blockBytes : Math.min(frame.blockMaxBytes, blockBytes * LZ4_MAX_EXPANSION);
    if (boundBytes > maxOutputBytes) throw corrupt(`may decompress beyond the limit of ${maxOutputBytes} bytes`);
    pos += blockBytes + frame.blockChecksumBytes;
  }
  if (pos + frame.contentChecksumBytes !== data.length)
    throw corrupt(`frame ends at byte ${pos + frame.contentChecksumBytes} of ${data.length}`);
}

interface Lz4FrameHeader {
  headerBytes: number;
  blockMaxBytes: number;
  blockChecksumBytes: number;
  contentChecksumBytes: number;
}

function readLz4FrameHeader(
  data: Buffer,
  maxOutputBytes: number,
  corrupt: (detail: string) => CorruptRecordError,
): Lz4FrameHeader {
  if (data.length < 7 || data.readUInt32LE(0) !== LZ4_FRAME_MAGIC) throw corrupt('missing frame magic');
  const flags = data[4]!;
  const blockMaxBytes = LZ4_BLOCK_MAX_BYTES[(data[5]! >> 4) & 0x07];
  if (flags >> 6 !== 1 || blockMaxBytes === undefined) throw corrupt('unsupported version or block size');
  let headerBytes = 6;
  if (flags & 0x08) {
    if (data.length < headerBytes + 8) throw corrupt('truncated content size');
    if (data.readBigUInt64LE(headerBytes) > BigInt(maxOutputBytes))
      throw corrupt(`declared content size exceeds the limit of ${maxOutputBytes} bytes`);
    headerBytes += 8;
  }
  if (flags & 0x01) headerBytes += 4; // dictionary id
  headerBytes += 1; // header checksum, which lz4-napi verifies
  return {
    headerBytes,
    blockMaxBytes,
    blockChecksumBytes: flags & 0x10 ? 4 : 0,
    contentChecksumBytes: flags & 0x04 ? 4 : 0,
  };
}
