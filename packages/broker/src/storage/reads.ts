import { ErrorCodes, SamsaError } from '@samsa/protocol';
import { OffsetOutOfRangeError } from './errors.js';
import type { LogContext } from './log-context.js';
import type { ReadBufferPool } from './read-buffers.js';
import { SegmentReplacedError } from './segment.js';
import type { SegmentSet } from './segment-set.js';
import type { LogTail } from './tail.js';

export interface ReadResult {
  /** Whole batches, exactly as stored: send them as they are. Empty at the end of the log. */
  readonly bytes: Buffer;
  /** Base offset of the first batch returned, -1 when empty. */
  readonly firstOffset: number;
  /** Last offset of the last batch returned, -1 when empty. */
  readonly lastOffset: number;
  readonly logStartOffset: number;
  readonly logEndOffset: number;
}

/**
 * The bytes of every empty read: one shared buffer, as nothing can be written into a zero-length one
 * (a leader answers every parked follower fetch's first pass with it, one at a time a few per record).
 */
export const EMPTY_BYTES: Buffer = Buffer.alloc(0);

/** Kafka's ListOffsets sentinels. */
export const LATEST_TIMESTAMP = -1;
export const EARLIEST_TIMESTAMP = -2;

/**
 * The read path: never on the append chain, and never sees a byte whose write has not completed
 * (see append-chain.ts). Bytes come from the tail when it holds them, else from the segment files.
 */
export interface ReadParts {
  readonly ctx: LogContext;
  readonly segments: SegmentSet;
  readonly tail: LogTail;
}

/**
 * Whole batches from the one holding `fromOffset`: at most `maxBytes`, except that the first batch
 * is always returned whole so a consumer makes progress. `maxOffset` (exclusive, e.g. the high
 * watermark) stops before any batch reaching it. Throws OffsetOutOfRangeError outside
 * [logStartOffset, logEndOffset]. With `buffers`, the bytes are read into a buffer from that pool
 * (the caller releases it once done with the bytes, see ReadBufferPool). `fromFiles` skips the tail
 * (tests compare the two).
 */
export async function readLog(
  parts: ReadParts,
  fromOffset: number,
  maxBytes: number,
  options: { maxOffset?: number; buffers?: ReadBufferPool; fromFiles?: boolean },
): Promise<ReadResult> {
  return readLogNow(parts, fromOffset, maxBytes, options) ?? readFiles(parts, fromOffset, maxBytes, options);
}

/**
 * readLog's answer when memory holds it (an empty read at the end, or the tail's bytes): undefined
 * when the bytes must be read from the segment files. Throws as readLog does.
 */
export function readLogNow(
  { ctx, segments, tail }: ReadParts,
  fromOffset: number,
  maxBytes: number,
  options: { maxOffset?: number; buffers?: ReadBufferPool; fromFiles?: boolean },
): ReadResult | undefined {
  ctx.ensureOnline();
  if (!Number.isSafeInteger(maxBytes) || maxBytes < 0)
    throw new SamsaError(ErrorCodes.INVALID_FETCH_SIZE, `maxBytes ${maxBytes}`);
  const logStartOffset = segments.startOffset;
  const logEndOffset = segments.endOffset;
  if (!Number.isSafeInteger(fromOffset) || fromOffset < logStartOffset || fromOffset > logEndOffset) {
    throw new OffsetOutOfRangeError(fromOffset, logStartOffset, logEndOffset);
  }
  const upperBound = Math.min(options.maxOffset ?? logEndOffset, logEndOffset);
  if (fromOffset >= upperBound)
    return { bytes: EMPTY_BYTES, firstOffset: -1, lastOffset: -1, logStartOffset, logEndOffset };
  const fromTail = options.fromFiles
    ? undefined
    : tail.read(fromOffset, maxBytes, upperBound, segments.active.baseOffset);
  if (fromTail) {
    const pool = options.buffers;
    if (pool === undefined) return { ...fromTail, logStartOffset, logEndOffset };
    // A pooled read's buffer goes back to the pool, so it cannot share the tail's bytes: a copy, which
    // at the log end (a consumer keeping up) is far cheaper than a pread through the thread pool.
    const length = fromTail.bytes.length;
    const bytes = pool.acquire(length).subarray(0, length);
    fromTail.bytes.copy(bytes);
    return { ...fromTail, bytes, logStartOffset, logEndOffset };
  }
  return undefined;
}

/** The rest of readLog: the bytes from the segment files (readLogNow has checked the range). */
async function readFiles(
  { ctx, segments }: ReadParts,
  fromOffset: number,
  maxBytes: number,
  options: { maxOffset?: number; buffers?: ReadBufferPool },
): Promise<ReadResult> {
  const logStartOffset = segments.startOffset;
  const logEndOffset = segments.endOffset;
  const upperBound = Math.min(options.maxOffset ?? logEndOffset, logEndOffset);
  const found = await retryIfReplaced(async () => {
    const all = segments.all;
    const indexIntervalBytes = ctx.config.indexIntervalBytes;
    for (let i = segments.indexFor(fromOffset); i < all.length; i++) {
      const segment = all[i]!;
      const read = await segments.withSegment(segment, () =>
        segment.read(fromOffset, maxBytes, upperBound, indexIntervalBytes, options.buffers),
      );
      if (read) return read;
    }
    return undefined;
  });
  if (found) return { ...found, logStartOffset, logEndOffset };
  return { bytes: EMPTY_BYTES, firstOffset: -1, lastOffset: -1, logStartOffset, logEndOffset };
}

/**
 * Runs a lookup over the segment set again when the cleaner swapped a segment out under it (the
 * swap replaces the set, so the next look finds the cleaned segment). A swap is rare and quick; a
 * lookup losing many races in a row is a bug, not bad luck.
 */
async function retryIfReplaced<T>(lookup: () => Promise<T>): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await lookup();
    } catch (err) {
      if (!(err instanceof SegmentReplacedError) || attempt >= 100) throw err;
    }
  }
}

/**
 * KIP-734 (ListOffsets MAX_TIMESTAMP): the first record holding the largest timestamp in the log, and
 * that timestamp; undefined for a log with no timestamped record. Segments are tried by their largest
 * timestamp, highest first (the earlier on a tie); one whose largest record is below the log start
 * (DeleteRecords inside it) is passed over for the next.
 */
export async function offsetForMaxTimestamp({
  ctx,
  segments,
}: ReadParts): Promise<{ offset: number; timestamp: number } | undefined> {
  ctx.ensureOnline();
  return retryIfReplaced(async () => {
    const candidates = segments.all
      .filter((segment) => segment.maxTimestamp >= 0)
      .sort((a, b) => b.maxTimestamp - a.maxTimestamp || a.baseOffset - b.baseOffset);
    for (const segment of candidates) {
      const found = await segments.withSegment(segment, () =>
        segment.findByTimestamp(segment.maxTimestamp, segments.startOffset),
      );
      if (found) return found;
    }
    return undefined;
  });
}

/**
 * Kafka's ListOffsets by timestamp: the first offset whose record timestamp is >= `timestamp`
 * (exact for uncompressed batches, the batch's base offset otherwise), or undefined if none.
 * LATEST_TIMESTAMP and EARLIEST_TIMESTAMP return the log end and start offsets.
 */
export async function offsetForTimestamp(
  { ctx, segments }: ReadParts,
  timestamp: number,
): Promise<{ offset: number; timestamp: number } | undefined> {
  ctx.ensureOnline();
  if (timestamp === LATEST_TIMESTAMP) return { offset: segments.endOffset, timestamp: -1 };
  if (timestamp === EARLIEST_TIMESTAMP) return { offset: segments.startOffset, timestamp: -1 };
  return retryIfReplaced(async () => {
    for (const segment of [...segments.all]) {
      if (segment.maxTimestamp < timestamp) continue;
      const found = await segments.withSegment(segment, () => segment.findByTimestamp(timestamp, segments.startOffset));
      if (found) return found;
    }
    return undefined;
  });
}
