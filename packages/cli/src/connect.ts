import type { Command } from 'commander';
import { Samsa, type Logger } from '@samsa/client';

export const DEFAULT_BOOTSTRAP = '127.0.0.1:9092';

/** Adds `--bootstrap-server` (Kafka's flag name) to a command. */
export function withBootstrap(command: Command): Command {
  return command.option('--bootstrap-server <host:port,...>', 'brokers to bootstrap from', DEFAULT_BOOTSTRAP);
}

/**
 * A connected client for a command, with short retries so that an unreachable cluster is reported
 * in seconds, as one line, rather than after the SDK's production-grade patience.
 */
export async function connect(bootstrap: string, clientId = 'samsa-cli', logger?: Logger): Promise<Samsa> {
  const brokers = bootstrap
    .split(',')
    .map((b) => b.trim())
    .filter((b) => b.length > 0);
  const samsa = new Samsa({
    brokers,
    clientId,
    requestTimeoutMs: 15_000,
    retry: { retries: 3, initialRetryTimeMs: 100, maxRetryTimeMs: 500 },
    ...(logger ? { logger } : {}),
  });
  try {
    await samsa.connect();
  } catch (err) {
    await samsa.close().catch(() => undefined);
    throw err;
  }
  return samsa;
}
