import type { Command } from 'commander';
import type { Logger, Samsa } from '@samsa/client';

/**
 * The SDK, imported when a command first needs it rather than when the CLI starts: `samsa --help` and
 * every command's parsing run without it (see the README's CLI section on start-up time).
 */
export function loadClient(): Promise<typeof import('@samsa/client')> {
  return import('@samsa/client');
}

/** Kafka's topic name rules (the SDK's), checked before connecting; throws InvalidTopic. */
export async function checkTopicName(name: string): Promise<void> {
  const client: typeof import('@samsa/client') = await loadClient();
  client.checkTopicName(name);
}

export const DEFAULT_BOOTSTRAP = '127.0.0.1:9092';

/** The `host:port` entries of a `--bootstrap-server` list. */
export function bootstrapBrokers(bootstrap: string): string[] {
  return bootstrap
    .split(',')
    .map((b) => b.trim())
    .filter((b) => b.length > 0);
}

/** Adds `--bootstrap-server` (Kafka's flag name) to a command. */
export function withBootstrap(command: Command): Command {
  return command.option('--bootstrap-server <host:port,...>', 'brokers to bootstrap from', DEFAULT_BOOTSTRAP);
}

/**
 * A connected client for a command, with short retries so that an unreachable cluster is reported
 * in seconds, as one line, rather than after the SDK's production-grade patience.
 */
export async function connect(bootstrap: string, clientId = 'samsa-cli', logger?: Logger): Promise<Samsa> {
  const brokers = bootstrapBrokers(bootstrap);
  const { Samsa } = await loadClient();
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
