import {
  BatchField,
  CorruptRecordError,
  batchSize,
  computeBatchCrc,
  lastOffsetOf,
  splitBatches,
  verifyBatchCrc,
  type BatchSpan,
} from '@samsa/protocol';
import type { LogConfig } from './config.js';
import { RecordListTooLargeError, RecordTooLargeError, UnexpectedAppendOffsetError } from './errors.js';

/**
 * The checks an append passes before it joins the queue: framing and sizes, and for a follower
 * offsets that increase. The CRC is checked here only when LogAppendTime is about to rewrite it;
 * otherwise the append chain checks it while the write runs (crcsValid).
 */
export function validateAppend(
  batches: Buffer,
  follower: boolean,
  config: LogConfig,
): { spans: BatchSpan[]; crcChecked: boolean } {
  const crcChecked = !follower && config.messageTimestampType === 'LogAppendTime';
  const spans = splitBatches(batches, { verifyCrc: crcChecked });
  if (spans.length === 0) throw new CorruptRecordError('no record batches in the append', 0);
  if (batches.length > config.segmentBytes) {
    throw new RecordListTooLargeError(
      `append of ${batches.length} bytes is larger than segmentBytes ${config.segmentBytes}`,
    );
  }
  let previousLast = -1;
  for (const { header, position } of spans) {
    if (follower) {
      if (header.baseOffset <= previousLast) {
        throw new UnexpectedAppendOffsetError(
          `follower batch at byte ${position} starts at ${header.baseOffset}, not after ${previousLast}`,
          previousLast + 1,
          header.baseOffset,
        );
      }
      previousLast = lastOffsetOf(header);
      continue;
    }
    if (batchSize(header) > config.maxMessageBytes) {
      throw new RecordTooLargeError(
        `batch of ${batchSize(header)} bytes at byte ${position} exceeds maxMessageBytes ${config.maxMessageBytes}`,
      );
    }
    if (header.recordCount === 0 || header.lastOffsetDelta !== header.recordCount - 1) {
      throw new CorruptRecordError(
        `batch has ${header.recordCount} records but last offset delta ${header.lastOffsetDelta}`,
        position + BatchField.lastOffsetDelta,
      );
    }
  }
  return { spans, crcChecked };
}

interface CheckedBytes {
  readonly bytes: Buffer;
  readonly spans: readonly BatchSpan[];
}

export function crcsValid(append: CheckedBytes): boolean {
  for (const { header, position } of append.spans) if (!verifyBatchCrc(append.bytes, position, header)) return false;
  return true;
}

/** The error for the first batch of `append` whose CRC does not match. */
export function corruptionOf(append: CheckedBytes): CorruptRecordError {
  const span = append.spans.find(({ header, position }) => !verifyBatchCrc(append.bytes, position, header))!;
  const computed = computeBatchCrc(append.bytes, span.position, span.header);
  return new CorruptRecordError(
    `CRC mismatch: stored ${span.header.crc.toString(16)}, computed ${computed.toString(16)}`,
    span.position + BatchField.crc,
  );
}
