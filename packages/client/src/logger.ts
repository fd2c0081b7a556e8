/** The subset of pino's API the client uses; pass a pino logger (or a child of one) as it is. */
export interface Logger {
  debug(context: object, message?: string): void;
  info(context: object, message?: string): void;
  warn(context: object, message?: string): void;
  error(context: object, message?: string): void;
}

const noop = () => {};

/** Libraries do not print: without a logger, nothing is logged. */
export const silentLogger: Logger = Object.freeze({ debug: noop, info: noop, warn: noop, error: noop });
