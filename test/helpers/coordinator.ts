/**
 * Samsa's embedded coordinator for tests, in the same two shapes as the real ZooKeeper harness:
 * in-process through `startCoordinator()`, or as a child process running the built
 * `packages/coordinator/dist/main.js` (for crash tests: SIGKILL and restart on the same data dir).
 *
 * Both probe first whether the coordinator exists yet (`startCoordinator` exported, main.js built), so
 * that suites can skip visibly instead of failing while it is being written.
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { connect } from 'node:net';
import { freePort } from './ports.js';
import { spawnProcess, tail, type SpawnedProcess } from './process.js';
import { createTempDir } from './temp.js';
import { describeError, StopWaiting, waitFor } from './wait.js';
import type { Availability } from './zookeeper.js';

/** The coordinator's public face as this harness uses it (see packages/coordinator/src/index.ts). */
export interface CoordinatorOptions {
  host?: string;
  port?: number;
  dataDir: string;
  tickTimeMs?: number;
  minSessionTimeoutMs?: number;
  maxSessionTimeoutMs?: number;
  logger?: unknown;
}

export interface CoordinatorHandle {
  host: string;
  port: number;
  connectString: string;
  close(): Promise<void>;
}

interface CoordinatorModule {
  startCoordinator(options: CoordinatorOptions): Promise<CoordinatorHandle>;
}

export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const COORDINATOR_MAIN = fileURLToPath(new URL('../../packages/coordinator/dist/main.js', import.meta.url));

let cachedModule: Promise<{ availability: Availability; module?: CoordinatorModule }> | undefined;

function loadCoordinatorModule(): Promise<{ availability: Availability; module?: CoordinatorModule }> {
  cachedModule ??= (async () => {
    try {
      const loaded = (await import('@samsa/coordinator')) as unknown as Partial<CoordinatorModule>;
      if (typeof loaded.startCoordinator !== 'function') {
        return {
          availability: { available: false, reason: '@samsa/coordinator does not export startCoordinator yet' },
        };
      }
      return { availability: { available: true }, module: loaded as CoordinatorModule };
    } catch (error) {
      return {
        availability: { available: false, reason: `@samsa/coordinator failed to load: ${describeError(error)}` },
      };
    }
  })();
  return cachedModule;
}

/** Whether `startCoordinator` can be called in this process, and if not, why. */
export async function embeddedCoordinatorAvailability(): Promise<Availability> {
  return (await loadCoordinatorModule()).availability;
}

/** Whether the built coordinator entry point exists (run `npx tsc -b` to build it). */
export function coordinatorMainAvailability(): Availability {
  if (existsSync(COORDINATOR_MAIN)) return { available: true };
  return {
    available: false,
    reason: `${COORDINATOR_MAIN} does not exist (coordinator not written or not built: npx tsc -b)`,
  };
}

export interface EmbeddedCoordinator {
  readonly host: string;
  readonly port: number;
  readonly connectString: string;
  readonly dataDir: string;
  stop(): Promise<void>;
}

export interface EmbeddedCoordinatorOptions {
  host?: string;
  port?: number;
  tickTimeMs?: number;
  minSessionTimeoutMs?: number;
  maxSessionTimeoutMs?: number;
  /** Reuse this data directory; a temporary one (removed on stop) when omitted. */
  dataDir?: string;
  logger?: unknown;
}

/** Starts the coordinator in this process. */
export async function startEmbeddedCoordinator(options: EmbeddedCoordinatorOptions = {}): Promise<EmbeddedCoordinator> {
  const { availability, module } = await loadCoordinatorModule();
  if (!module) throw new Error(`cannot start the embedded coordinator: ${availability.reason}`);
  const temp = options.dataDir === undefined ? createTempDir('coordinator') : undefined;
  const dataDir = options.dataDir ?? temp!.path;
  const coordinatorOptions: CoordinatorOptions = {
    host: options.host ?? '127.0.0.1',
    port: options.port ?? 0,
    dataDir,
  };
  if (options.tickTimeMs !== undefined) coordinatorOptions.tickTimeMs = options.tickTimeMs;
  if (options.minSessionTimeoutMs !== undefined) coordinatorOptions.minSessionTimeoutMs = options.minSessionTimeoutMs;
  if (options.maxSessionTimeoutMs !== undefined) coordinatorOptions.maxSessionTimeoutMs = options.maxSessionTimeoutMs;
  if (options.logger !== undefined) coordinatorOptions.logger = options.logger;
  let handle: CoordinatorHandle;
  try {
    handle = await module.startCoordinator(coordinatorOptions);
  } catch (error) {
    temp?.remove();
    throw error;
  }
  return {
    host: handle.host,
    port: handle.port,
    connectString: handle.connectString,
    dataDir,
    async stop() {
      await handle.close();
      temp?.remove();
    },
  };
}

export interface CoordinatorProcessOptions {
  host?: string;
  /** A free port when omitted; pass the previous one to restart in place. */
  port?: number;
  dataDir: string;
  tickTimeMs?: number;
  /** Extra arguments for main.js. */
  args?: string[];
  logFile?: string;
  startTimeoutMs?: number;
}

export interface CoordinatorProcess {
  readonly host: string;
  readonly port: number;
  readonly connectString: string;
  readonly process: SpawnedProcess;
  /** SIGTERM, SIGKILL after a grace period. */
  stop(): Promise<void>;
  /** SIGKILL: a crash. */
  kill(): Promise<void>;
}

/** Runs `node packages/coordinator/dist/main.js` and waits for its 'listening' line and a TCP answer. */
export async function startCoordinatorProcess(options: CoordinatorProcessOptions): Promise<CoordinatorProcess> {
  const main = coordinatorMainAvailability();
  if (!main.available) throw new Error(main.reason);
  const host = options.host ?? '127.0.0.1';
  const port = options.port ?? (await freePort(host));
  const args = [COORDINATOR_MAIN, '--port', String(port), '--data-dir', options.dataDir, '--host', host];
  if (options.tickTimeMs !== undefined) args.push('--tick-time-ms', String(options.tickTimeMs));
  args.push(...(options.args ?? []));
  const spawnOptions: Parameters<typeof spawnProcess>[0] = {
    name: `coordinator:${port}`,
    command: process.execPath,
    args,
    cwd: REPO_ROOT,
  };
  if (options.logFile !== undefined) spawnOptions.logFile = options.logFile;
  const spawned = spawnProcess(spawnOptions);
  try {
    await spawned.waitForOutput(/listening/i, options.startTimeoutMs ?? 20_000);
    await waitFor(
      async () => {
        if (spawned.hasExited()) throw new StopWaiting(`coordinator exited while starting:\n${tail(spawned.output())}`);
        return acceptsConnections(host, port);
      },
      {
        timeoutMs: options.startTimeoutMs ?? 20_000,
        description: `the coordinator on ${host}:${port} to accept connections`,
      },
    );
  } catch (error) {
    await spawned.kill();
    throw error;
  }
  return {
    host,
    port,
    connectString: `${host}:${port}`,
    process: spawned,
    async stop() {
      await spawned.stop(5_000);
    },
    async kill() {
      await spawned.kill();
    },
  };
}

function acceptsConnections(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host, port }, () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}
