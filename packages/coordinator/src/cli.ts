/** What a command line needs: flag parsing and a run-until-signalled entry point. */
import { parseArgs } from 'node:util';
import type { Logger } from 'pino';
import { startCoordinator, type CoordinatorOptions, type RunningCoordinator } from './server.js';

export interface CoordinatorArgs {
  host: string;
  port: number;
  dataDir: string;
  tickTimeMs: number;
  snapshotEveryTxns: number;
}

function positiveInt(name: string, value: string | undefined, fallback: number, allowZero = false): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < (allowZero ? 0 : 1))
    throw new Error(
      `--${name} must be a ${allowZero ? 'non-negative' : 'positive'} integer, got ${JSON.stringify(value)}`,
    );
  return n;
}

/**
 * Parses `--port P --data-dir D [--host H] [--tick-time-ms N] [--snapshot-every-txns N]`; throws an
 * Error with a one-line message.
 */
export function parseCoordinatorArgs(argv: string[]): CoordinatorArgs {
  const { values } = parseArgs({
    args: argv,
    options: {
      host: { type: 'string' },
      port: { type: 'string' },
      'data-dir': { type: 'string' },
      'tick-time-ms': { type: 'string' },
      'snapshot-every-txns': { type: 'string' },
    },
    strict: true,
    allowPositionals: false,
  });
  const dataDir = values['data-dir'];
  if (!dataDir) throw new Error('--data-dir is required');
  const port = positiveInt('port', values.port, 2181, true);
  if (port > 65535) throw new Error(`--port must be at most 65535, got ${port}`);
  return {
    host: values.host ?? '127.0.0.1',
    port,
    dataDir,
    tickTimeMs: positiveInt('tick-time-ms', values['tick-time-ms'], 2000),
    snapshotEveryTxns: positiveInt('snapshot-every-txns', values['snapshot-every-txns'], 100_000),
  };
}

/**
 * Starts a coordinator and keeps it running until SIGTERM or SIGINT, then closes it cleanly.
 * Resolves with the running coordinator once it listens; `stopped` resolves after the shutdown.
 */
export async function runCoordinator(
  options: CoordinatorOptions & { logger: Logger },
): Promise<{ coordinator: RunningCoordinator; stopped: Promise<void> }> {
  const coordinator = await startCoordinator(options);
  const { logger } = options;
  const stopped = new Promise<void>((resolve) => {
    let stopping = false;
    const stop = (signal: string) => {
      if (stopping) return;
      stopping = true;
      logger.info({ signal }, 'shutting down');
      coordinator.close().then(resolve, (err: unknown) => {
        logger.error({ err }, 'shutdown failed');
        resolve();
      });
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
  });
  return { coordinator, stopped };
}
