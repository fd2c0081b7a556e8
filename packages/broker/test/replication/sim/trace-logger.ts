/**
 * A logger for the simulated brokers' drivers that keeps their last lines in the simulation's trace
 * (printed with a failing seed). It has the part of pino's Logger the drivers use, and formats a line
 * only when it is printed: thousands of seeds log far more than they ever show.
 */
import type { Logger } from 'pino';

export interface TraceLine {
  toString(): string;
}

type Sink = (line: TraceLine) => void;

function lineOf(level: string, bindings: object, fields: unknown, msg: string | undefined): TraceLine {
  return {
    toString: () => {
      const [context, text] = typeof fields === 'string' ? [{}, fields] : [fields, msg ?? ''];
      return `${level} ${text} ${JSON.stringify({ ...bindings, ...(context as object) })}`;
    },
  };
}

export function traceLogger(sink: Sink, bindings: object = {}): Logger {
  const at =
    (level: string) =>
    (fields: unknown, msg?: string): void =>
      sink(lineOf(level, bindings, fields, msg));
  const logger = {
    level: 'debug',
    debug: () => {}, // the drivers' debug lines (each backoff, each refused fetch) are noise here
    info: at('info'),
    warn: at('warn'),
    error: at('error'),
    fatal: at('fatal'),
    trace: () => {},
    child: (more: object) => traceLogger(sink, { ...bindings, ...more }),
  };
  return logger as unknown as Logger;
}
