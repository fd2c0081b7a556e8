import type { FileHandle } from 'node:fs/promises';
import {
  BATCH_HEADER_SIZE,
  BatchField,
  batchSize,
  readBatchHeader,
  verifyBatchCrc,
  type BatchHeader,
} from '@samsa/protocol';
import { readFully } from './files.js';

/** Read size of the sequential scanners: large enough for throughput, small enough to stay bounded. */
export const SCAN_CHUNK_BYTES = 1024 * 1024;

export interface ScannedBatch {
  readonly kind: 'batch';
  /** Byte position of the batch in the file. */
  readonly position: number;
  readonly header: BatchHeader;
  /** The whole batch. A view into the scanner's buffer: valid only until the next iteration. */
  readonly bytes: Buffer;
  /** undefined when the scan was asked not to check CRCs. */
  readonly crcValid: boolean | undefined;
}

export interface ScanFailure {
  readonly kind: 'error';
  /** Where the bad or incomplete batch starts. */
  readonly position: number;
  readonly reason: string;
}

/**
 * Walks the Kafka v2 batches of `fh` between `start` and `end`, reading in bounded chunks (a batch
 * larger than a chunk gets a buffer of its own). Stops at the first batch whose framing is bad or
 * that runs past `end`, yielding a ScanFailure for it. A CRC mismatch does not stop the walk: the
 * caller decides what it means.
 */
export async function* scanBatches(
  fh: FileHandle,
  start: number,
  end: number,
  options: { verifyCrc: boolean; chunkBytes?: number },
): AsyncGenerator<ScannedBatch | ScanFailure> {
  const chunkBytes = options.chunkBytes ?? SCAN_CHUNK_BYTES;
  let buf = Buffer.allocUnsafe(Math.min(chunkBytes, Math.max(end - start, BATCH_HEADER_SIZE)));
  let bufStart = start;
  let bufLen = 0;
  const fill = async (at: number, need: number): Promise<void> => {
    if (need > buf.length) buf = Buffer.allocUnsafe(need);
    bufStart = at;
    bufLen = await readFully(fh, buf, 0, Math.min(buf.length, end - at), at);
  };
  let pos = start;
  while (pos < end) {
    if (bufStart + bufLen - pos < BATCH_HEADER_SIZE || pos < bufStart) await fill(pos, BATCH_HEADER_SIZE);
    const available = bufStart + bufLen - pos;
    if (available < BATCH_HEADER_SIZE) {
      yield {
        kind: 'error',
        position: pos,
        reason: `incomplete batch header: ${available} of ${BATCH_HEADER_SIZE} bytes`,
      };
      return;
    }
    let header: BatchHeader;
    try {
      header = readBatchHeader(buf.subarray(0, bufLen), pos - bufStart);
    } catch (err) {
      yield { kind: 'error', position: pos, reason: (err as Error).message };
      return;
    }
    const size = batchSize(header);
    if (pos + size > end) {
      yield {
        kind: 'error',
        position: pos,
        reason: `batch of ${size} bytes runs past the end of the data (${end - pos} bytes left)`,
      };
      return;
    }
    if (bufStart + bufLen < pos + size) await fill(pos, size);
    const at = pos - bufStart;
    const bytes = buf.subarray(at, at + size);
    const crcValid = options.verifyCrc ? verifyBatchCrc(bytes, 0, header) : undefined;
    yield { kind: 'batch', position: pos, header, bytes, crcValid };
    pos += size;
  }
}

/**
 * After a bad batch at `from`, is there a complete batch with a valid CRC and an offset above
 * `minBaseOffset` further on? If so the damage is in the middle of the log (not a torn tail) and
 * truncating would throw acknowledged data away. Probes every byte position whose magic byte reads
 * 2; only plausible candidates pay for a CRC.
 */
export async function findValidBatchAfter(
  fh: FileHandle,
  from: number,
  end: number,
  minBaseOffset: number,
): Promise<number | undefined> {
  const chunk = Buffer.allocUnsafe(SCAN_CHUNK_BYTES);
  for (
    let chunkStart = from + 1;
    chunkStart + BATCH_HEADER_SIZE <= end;
    chunkStart += SCAN_CHUNK_BYTES - BATCH_HEADER_SIZE
  ) {
    const len = await readFully(fh, chunk, 0, Math.min(SCAN_CHUNK_BYTES, end - chunkStart), chunkStart);
    for (let i = 0; i + BATCH_HEADER_SIZE <= len; i++) {
      if (chunk[i + BatchField.magic] !== 2) continue;
      let header: BatchHeader;
      try {
        header = readBatchHeader(chunk.subarray(0, len), i);
      } catch {
        continue;
      }
      const at = chunkStart + i;
      const size = batchSize(header);
      if (at + size > end || header.baseOffset < minBaseOffset) continue;
      const candidate = Buffer.allocUnsafe(size);
      if ((await readFully(fh, candidate, 0, size, at)) !== size) continue;
      if (verifyBatchCrc(candidate, 0, header)) return at;
    }
    if (len < SCAN_CHUNK_BYTES) break;
  }
  return undefined;
}
