import { ErrorCodes, SamsaError, type ErrorSpec } from '@samsa/protocol';
import type { Logger } from 'pino';

/** The per-partition (or per-topic) error fields of a response. */
export interface ErrorFields {
  errorCode: number;
  errorMessage: string;
}

export const NO_ERROR: ErrorFields = Object.freeze({ errorCode: 0, errorMessage: '' });

export function errorFields(spec: ErrorSpec, message = spec.message): ErrorFields {
  return { errorCode: spec.code, errorMessage: message };
}

/**
 * Expected failures are SamsaErrors and travel as their code. Anything else is a bug: it is logged
 * with its stack and answered as UnknownServerError, and the broker stays up.
 */
export function toErrorFields(err: unknown, logger: Logger, context: Record<string, unknown>): ErrorFields {
  if (err instanceof SamsaError) return { errorCode: err.code, errorMessage: err.detail };
  logger.error({ err, ...context }, 'unexpected error while handling a request');
  return errorFields(ErrorCodes.UNKNOWN_SERVER_ERROR, err instanceof Error ? err.message : String(err));
}
