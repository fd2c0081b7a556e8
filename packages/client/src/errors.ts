import { ErrorCodes, SamsaError, errorSpecForCode, topicNameProblem, type ErrorSpec } from '@samsa/protocol';
import * as grpc from '@grpc/grpc-js';

/**
 * The client's error type: a SamsaError (code, errorName, retriable from the one error table) that also
 * carries `cause` and, where it applies, the topic and partition it is about.
 */
export class SamsaClientError extends SamsaError {
  readonly topic: string | undefined;
  readonly partition: number | undefined;

  constructor(
    errorSpec: ErrorSpec,
    detail?: string,
    options: { cause?: unknown; topic?: string; partition?: number; retriable?: boolean } = {},
  ) {
    // `retriable` overrides the table where the client knows better (a timeout it will not retry itself).
    const spec = options.retriable === undefined ? errorSpec : { ...errorSpec, retriable: options.retriable };
    super(spec, detail, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'SamsaClientError';
    this.topic = options.topic;
    this.partition = options.partition;
  }
}

/**
 * No broker could be reached (bootstrap or every known broker), after the client's retries: final, so
 * callers fail fast instead of retrying again. Message is one line, made for people.
 */
export class ConnectionError extends SamsaClientError {
  constructor(message: string, options: { cause?: unknown; retriable?: boolean } = {}) {
    super(ErrorCodes.NETWORK_EXCEPTION, message, { retriable: false, ...options });
    this.name = 'ConnectionError';
    this.message = message;
  }
}

/** A request or an operation ran out of time (requestTimeoutMs, deliveryTimeoutMs, defaultApiTimeoutMs). */
export class TimeoutError extends SamsaClientError {
  constructor(
    detail: string,
    options: { cause?: unknown; topic?: string; partition?: number; retriable?: boolean } = {},
  ) {
    super(ErrorCodes.REQUEST_TIMED_OUT, detail, options);
    this.name = 'TimeoutError';
  }
}

/** send() waited maxBlockMs for buffer memory (or metadata) and gave up; like Kafka's BufferExhaustedException. */
export class BufferExhaustedError extends SamsaClientError {
  constructor(detail: string) {
    super(ErrorCodes.REQUEST_TIMED_OUT, detail, { retriable: false });
    this.name = 'BufferExhaustedError';
  }
}

/** The consumer's position is outside the log and autoOffsetReset is 'none'. */
export class OffsetOutOfRangeError extends SamsaClientError {
  readonly offset: number;
  constructor(topic: string, partition: number, offset: number) {
    super(ErrorCodes.OFFSET_OUT_OF_RANGE, `offset ${offset} is out of range for ${topic}-${partition}`, {
      topic,
      partition,
    });
    this.name = 'OffsetOutOfRangeError';
    this.offset = offset;
  }
}

/**
 * Kafka's LogTruncationException (KIP-320): after a leader change, the new leader's log ends the epoch of
 * the consumer's last records before the consumer's position, so records the consumer has handed out
 * (written with acks=1, or lost in an unclean election) are not in the log any more. Thrown with
 * autoOffsetReset 'none'; `offset` is the position, `divergentOffset` the first offset past the common
 * log (where to seek to read the new leader's records after it). An OffsetOutOfRangeError, as Kafka's.
 */
export class LogTruncationError extends OffsetOutOfRangeError {
  readonly divergentOffset: number;
  constructor(topic: string, partition: number, offset: number, divergentOffset: number) {
    super(topic, partition, offset);
    this.name = 'LogTruncationError';
    this.message =
      `${topic}-${partition}: log truncation detected; position ${offset} is past the leader's log, ` +
      `which diverges at offset ${divergentOffset}`;
    this.divergentOffset = divergentOffset;
  }
}

/** A consumer call that needs a consumer group (subscribe, commit, committed) on a consumer without a groupId. */
export class GroupRequiredError extends SamsaClientError {
  constructor(operation: string) {
    super(
      ErrorCodes.INVALID_GROUP_ID,
      `${operation} needs a consumer group: create the consumer with samsa.consumer({ groupId: '...' })`,
      { retriable: false },
    );
    this.name = 'GroupRequiredError';
  }
}

/**
 * A commit refused because the records it covers were handed out under an assignment the member no
 * longer has (fenced and rejoined, or the partition revoked or lost since): Kafka's CommitFailedException,
 * with Kafka's StaleMemberEpoch code. Nothing was committed; the records are delivered again, from the
 * committed offset, to the partition's owner (maybe this member again). Not retriable.
 */
export class CommitFailedError extends SamsaClientError {
  constructor(topic: string, partition: number, why: string) {
    super(ErrorCodes.STALE_MEMBER_EPOCH, `cannot commit ${topic}-${partition}: ${why}`, {
      topic,
      partition,
      retriable: false,
    });
    this.name = 'CommitFailedError';
  }
}

/** The producer, consumer, admin or client was closed while the operation was pending or before it began. */
export class ClosedError extends SamsaClientError {
  constructor(what: string) {
    super(ErrorCodes.INVALID_REQUEST, `${what} is closed`, { retriable: false });
    this.name = 'ClosedError';
    this.message = `${what} is closed`;
  }
}

/** Thrown when an AbortSignal fires; `cause` is the signal's reason. Same name and code as Node's own. */
export class AbortError extends Error {
  readonly code = 'ABORT_ERR';
  constructor(signal?: AbortSignal) {
    super('The operation was aborted', signal?.reason === undefined ? undefined : { cause: signal.reason });
    this.name = 'AbortError';
  }
}

/** A per-partition or per-topic error code from a response, as a typed error. */
export function errorFromCode(
  code: number,
  detail?: string,
  where: { topic?: string; partition?: number } = {},
): SamsaClientError {
  const spec = errorSpecForCode(code);
  const place =
    where.topic === undefined
      ? ''
      : where.partition === undefined
        ? ` (topic ${where.topic})`
        : ` (${where.topic}-${where.partition})`;
  const text = detail ? `${detail}${place}` : `${spec.message}${place}`;
  return new SamsaClientError(spec, text, where);
}

/**
 * InvalidTopic (not retriable) for a name no topic can have, so that a mistyped name fails at once
 * rather than after the metadata retries; undefined for a legal name.
 */
export function topicNameError(topic: unknown): SamsaClientError | undefined {
  const problem = topicNameProblem(topic);
  if (problem === undefined) return undefined;
  return new SamsaClientError(ErrorCodes.INVALID_TOPIC_EXCEPTION, problem, typeof topic === 'string' ? { topic } : {});
}

/** Errors after which the client's view of leaders is probably stale. */
const METADATA_ERRORS = new Set<number>([
  ErrorCodes.NOT_LEADER_OR_FOLLOWER.code,
  ErrorCodes.UNKNOWN_TOPIC_OR_PARTITION.code,
  ErrorCodes.LEADER_NOT_AVAILABLE.code,
  ErrorCodes.FENCED_LEADER_EPOCH.code,
  ErrorCodes.UNKNOWN_LEADER_EPOCH.code,
  ErrorCodes.NOT_CONTROLLER.code,
  ErrorCodes.REPLICA_NOT_AVAILABLE.code,
  ErrorCodes.UNKNOWN_TOPIC_ID.code,
  ErrorCodes.NETWORK_EXCEPTION.code,
  // The partition's log is offline on that broker (a full disk): the controller moves its leadership.
  ErrorCodes.KAFKA_STORAGE_ERROR.code,
  // A request that timed out may have gone to a paused or cut-off leader (Kafka refreshes too).
  ErrorCodes.REQUEST_TIMED_OUT.code,
]);

export function needsMetadataRefresh(code: number): boolean {
  return METADATA_ERRORS.has(code);
}

/** The broker could not be reached, or did not answer in time (as opposed to answering with an error). */
export function isConnectionFailure(err: unknown): boolean {
  return (
    err instanceof SamsaClientError &&
    (err.code === ErrorCodes.NETWORK_EXCEPTION.code || err.code === ErrorCodes.REQUEST_TIMED_OUT.code) &&
    err.retriable
  );
}

export function isRetriable(err: unknown): boolean {
  return err instanceof SamsaError && err.retriable;
}

/** Short text for the low-level reason of a failed connection, e.g. "connect ECONNREFUSED". */
export function connectionReason(err: unknown): string {
  if (err instanceof SamsaClientError && err.cause instanceof Error) return connectionReason(err.cause);
  const text = err instanceof Error ? err.message : String(err);
  const syscall = /\b(connect|getaddrinfo|read|write) (E[A-Z_]+)/.exec(text);
  if (syscall) return `${syscall[1]} ${syscall[2]}`;
  const bare = /\b(E[A-Z]{3,}[A-Z_]*)\b/.exec(text);
  if (bare) return bare[1] as string;
  return text.split('\n')[0]?.replace(/^\d+ [A-Z_]+: /, '') ?? text;
}

/**
 * Maps a failed gRPC call to a typed error. UNAVAILABLE (no connection, connection dropped) is
 * NetworkException and retriable; DEADLINE_EXCEEDED is RequestTimedOut; anything else means the request
 * as a whole was refused and is not retried.
 */
export function errorFromGrpc(err: grpc.ServiceError | Error, address: string, method: string): SamsaClientError {
  const status = (err as grpc.ServiceError).code;
  const details = (err as grpc.ServiceError).details ?? err.message;
  switch (status) {
    case grpc.status.UNAVAILABLE:
      return new SamsaClientError(
        ErrorCodes.NETWORK_EXCEPTION,
        `broker ${address} unavailable for ${method} (${connectionReason(err)})`,
        { cause: err },
      );
    case grpc.status.DEADLINE_EXCEEDED:
      return new TimeoutError(`${method} to ${address} timed out`, { cause: err, retriable: true });
    case grpc.status.RESOURCE_EXHAUSTED:
      return new SamsaClientError(ErrorCodes.MESSAGE_TOO_LARGE, `${method} to ${address}: ${details}`, { cause: err });
    case grpc.status.INVALID_ARGUMENT:
      return new SamsaClientError(ErrorCodes.INVALID_REQUEST, `${method} to ${address}: ${details}`, { cause: err });
    case grpc.status.UNIMPLEMENTED:
      return new SamsaClientError(ErrorCodes.INVALID_REQUEST, `broker ${address} does not implement ${method}`, {
        cause: err,
      });
    case grpc.status.CANCELLED:
      return new SamsaClientError(ErrorCodes.NETWORK_EXCEPTION, `${method} to ${address} was cancelled`, {
        cause: err,
        retriable: false,
      });
    default:
      return new SamsaClientError(ErrorCodes.UNKNOWN_SERVER_ERROR, `${method} to ${address} failed: ${details}`, {
        cause: err,
      });
  }
}
