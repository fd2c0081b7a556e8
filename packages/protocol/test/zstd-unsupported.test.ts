import { describe, expect, it, vi } from 'vitest';
import { BatchField, CorruptRecordError, ErrorCodes, SamsaError, decodeBatch, encodeBatch } from '@samsa/protocol';

// A Node.js older than 22.15: node:zlib without zstd.
vi.mock('node:zlib', async (importOriginal) => ({
  ...(await importOriginal<object>()),
  zstdCompressSync: undefined,
  zstdDecompressSync: undefined,
}));

describe('zstd on a runtime without it', () => {
  it('is a typed UNSUPPORTED_COMPRESSION_TYPE error, not corruption and not a TypeError', () => {
    const expected = expect.objectContaining({ code: ErrorCodes.UNSUPPORTED_COMPRESSION_TYPE.code });
    expect(() => encodeBatch([{ value: null, timestamp: 0 }], { compression: 'zstd' })).toThrow(expected);
    // A zstd batch (the attribute is all that matters before the codec is looked up).
    const batch = encodeBatch([{ value: null, timestamp: 0 }], { compression: 'gzip' });
    batch.writeInt16BE(4, BatchField.attributes);
    let error: unknown;
    try {
      decodeBatch(batch, 0, { verifyCrc: false });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(SamsaError);
    expect(error).not.toBeInstanceOf(CorruptRecordError);
    expect(error).toEqual(expected);
  });
});
