import { ErrorCodes, SamsaError } from '@samsa/protocol';

/** A fetch or lookup outside [logStartOffset, logEndOffset]. */
export class OffsetOutOfRangeError extends SamsaError {
  constructor(
    readonly offset: number,
    readonly logStartOffset: number,
    readonly logEndOffset: number,
  ) {
    super(ErrorCodes.OFFSET_OUT_OF_RANGE, `offset ${offset} is outside [${logStartOffset}, ${logEndOffset}]`);
    this.name = 'OffsetOutOfRangeError';
  }
}

/** Kafka's RecordTooLargeException: one batch is larger than maxMessageBytes. */
export class RecordTooLargeError extends SamsaError {
  constructor(detail: string) {
    super(ErrorCodes.MESSAGE_TOO_LARGE, detail);
    this.name = 'RecordTooLargeError';
  }
}

/** Kafka's RecordBatchTooLargeException: one append is larger than a whole segment. */
export class RecordListTooLargeError extends SamsaError {
  constructor(detail: string) {
    super(ErrorCodes.RECORD_LIST_TOO_LARGE, detail);
    this.name = 'RecordListTooLargeError';
  }
}

/**
 * A follower append whose offsets do not continue the log (Kafka's UnexpectedAppendOffsetException).
 * It maps to OffsetOutOfRange on the wire: the fetcher's position no longer matches the log.
 */
export class UnexpectedAppendOffsetError extends SamsaError {
  constructor(
    detail: string,
    readonly expectedOffset: number,
    readonly actualOffset: number,
  ) {
    super(ErrorCodes.OFFSET_OUT_OF_RANGE, detail);
    this.name = 'UnexpectedAppendOffsetError';
  }
}

/**
 * The partition's files cannot be trusted or written (corruption in the middle of the log, an I/O
 * error). The partition goes offline and every operation throws this; the broker reopens a log
 * that failed on I/O (`ioErrorCode`) once the disk has room again, and leaves a corrupt one to an
 * operator.
 */
export class KafkaStorageError extends SamsaError {
  constructor(
    detail: string,
    readonly file?: string,
    readonly position?: number,
    options?: { cause?: unknown },
  ) {
    super(ErrorCodes.KAFKA_STORAGE_ERROR, detail, options);
    this.name = 'KafkaStorageError';
  }

  /** The errno code (ENOSPC, EIO, EDQUOT, ...) of the system call that failed; undefined for corruption. */
  get ioErrorCode(): string | undefined {
    return ioErrorCode(this.cause);
  }
}

/** The errno code of `error` or of an error in its cause chain, if any. */
export function ioErrorCode(error: unknown): string | undefined {
  for (let e = error, depth = 0; e instanceof Error && depth < 8; e = e.cause, depth++) {
    const code = (e as NodeJS.ErrnoException).code;
    if (typeof code === 'string' && code.startsWith('E')) return code;
  }
  return undefined;
}
