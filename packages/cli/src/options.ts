import { InvalidArgumentError } from 'commander';

/**
 * The protocol's MAX_PARTITIONS_PER_TOPIC, here so that registering the commands' options does not load
 * the SDK; test/lazy-loading.test.ts checks that the two agree.
 */
export const MAX_PARTITIONS_PER_TOPIC = 5_000;

/** A commander argument parser for an integer option within [min, max]. */
export function parseIntOption(flag: string, min: number, max: number): (value: string) => number {
  return (value: string) => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < min || n > max) {
      throw new InvalidArgumentError(`${flag} must be an integer from ${min} to ${max}`);
    }
    return n;
  };
}

/** Log levels of the servers' JSON logs (pino's), most to least verbose, and 'silent'. */
export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/** A commander argument parser for --log-level. */
export function parseLogLevel(value: string): LogLevel {
  if (!(LOG_LEVELS as readonly string[]).includes(value))
    throw new InvalidArgumentError(`--log-level must be one of ${LOG_LEVELS.join(', ')}`);
  return value as LogLevel;
}

/** --log-level, else SAMSA_LOG_LEVEL, else info; a bad SAMSA_LOG_LEVEL is an error like a bad flag. */
export function logLevelFrom(flag: LogLevel | undefined, env: NodeJS.ProcessEnv = process.env): LogLevel {
  if (flag !== undefined) return flag;
  const fromEnv = env.SAMSA_LOG_LEVEL;
  if (fromEnv === undefined || fromEnv === '') return 'info';
  if (!(LOG_LEVELS as readonly string[]).includes(fromEnv))
    throw new Error(`SAMSA_LOG_LEVEL must be one of ${LOG_LEVELS.join(', ')}, not '${fromEnv}'`);
  return fromEnv as LogLevel;
}
