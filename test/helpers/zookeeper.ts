/**
 * A real Apache ZooKeeper (3.8, Debian's package) started as a child process on a free port with a
 * throw-away configuration, data directory and log directory. It is the oracle the coordinator
 * conformance suite compares against.
 *
 * Where ZooKeeper lives: SAMSA_ZK_HOME (default /usr/share/zookeeper, with bin/zkServer.sh), and `java`
 * on PATH (or JAVA). When either is missing, `zookeeperAvailability()` says why, and suites skip their
 * ZooKeeper half visibly.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fourLetterWord } from './four-letter-words.js';
import { freePort } from './ports.js';
import { spawnProcess, tail, type SpawnedProcess } from './process.js';
import { createTempDir, type TempDir } from './temp.js';
import { describeError, StopWaiting, waitFor } from './wait.js';

export const ZOOKEEPER_HOME = process.env.SAMSA_ZK_HOME ?? '/usr/share/zookeeper';
const ZK_SERVER_SH = join(ZOOKEEPER_HOME, 'bin', 'zkServer.sh');
/** Adding a logging backend makes ZooKeeper's own log readable in the log dir; optional. */
const SLF4J_SIMPLE_JAR = '/usr/share/java/slf4j-simple.jar';
const ZOOKEEPER_JARS = ['/etc/zookeeper/conf', '/usr/share/java/zookeeper.jar'];

export type Availability = { available: true; reason?: undefined } | { available: false; reason: string };

let cachedAvailability: Availability | undefined;

/** Whether a real ZooKeeper can be started here, and if not, why. */
export function zookeeperAvailability(): Availability {
  cachedAvailability ??= probeAvailability();
  return cachedAvailability;
}

function probeAvailability(): Availability {
  if (!existsSync(ZK_SERVER_SH)) {
    return {
      available: false,
      reason: `${ZK_SERVER_SH} not found (install Debian's 'zookeeper' package or set SAMSA_ZK_HOME)`,
    };
  }
  const java = process.env.JAVA ?? 'java';
  const probe = spawnSync(java, ['-version'], { stdio: 'ignore', timeout: 15_000 });
  if (probe.error || probe.status !== 0) {
    return {
      available: false,
      reason:
        `'${java} -version' failed ` +
        `(${probe.error ? describeError(probe.error) : `exit ${probe.status}`}); ZooKeeper needs Java`,
    };
  }
  return { available: true };
}

export interface ZooKeeperOptions {
  host?: string;
  /** Client port; a free one when omitted. */
  port?: number;
  /** ZooKeeper's tick; session timeouts are bounded to [2, 20] ticks. Default 2000 like ZooKeeper. */
  tickTimeMs?: number;
  /** fsync the transaction log before acknowledging (ZooKeeper's default, and the honest setting). */
  forceSync?: boolean;
  /** Reuse this data directory (to restart on the same data); a temporary one when omitted. */
  dataDir?: string;
  /**
   * JVM flags. The default keeps the JVM small and quick to start, which suits tests; a benchmark wants
   * the full JIT: pass e.g. ['-Xmx512m'].
   */
  jvmFlags?: string[];
  startTimeoutMs?: number;
}

export interface ZooKeeperServer {
  readonly host: string;
  readonly port: number;
  /** host:port, for node-zookeeper-client. */
  readonly connectString: string;
  readonly dataDir: string;
  /** Where the configuration, stdout/stderr and ZooKeeper's log are. */
  readonly workDir: string;
  readonly process: SpawnedProcess;
  /**
   * SIGTERM (SIGKILL after a grace period), then remove the temporary directories. A data dir passed
   * in `options.dataDir` is the caller's and stays.
   */
  stop(): Promise<void>;
  /** SIGKILL (a crash), then remove the temporary directories; a caller's data dir stays. */
  kill(): Promise<void>;
}

export const TEST_JVM_FLAGS = ['-Xms32m', '-Xmx256m', '-XX:+UseSerialGC', '-XX:TieredStopAtLevel=1', '-Xss512k'];

export async function startZooKeeper(options: ZooKeeperOptions = {}): Promise<ZooKeeperServer> {
  const availability = zookeeperAvailability();
  if (!availability.available) throw new Error(`cannot start ZooKeeper: ${availability.reason}`);
  const host = options.host ?? '127.0.0.1';
  const port = options.port ?? (await freePort(host));
  const tickTimeMs = options.tickTimeMs ?? 2000;
  const work: TempDir = createTempDir('zookeeper');
  const dataDir = options.dataDir ?? join(work.path, 'data');
  const logDir = join(work.path, 'logs');
  const configFile = join(work.path, 'zoo.cfg');
  writeFileSync(configFile, zooCfg({ host, port, tickTimeMs, dataDir, forceSync: options.forceSync ?? true }));

  const jvmFlags = [...(options.jvmFlags ?? TEST_JVM_FLAGS), `-Dzookeeper.log.dir=${logDir}`, ...loggingFlags()];
  const spawned = spawnProcess({
    name: `zookeeper:${port}`,
    command: ZK_SERVER_SH,
    args: ['start-foreground', configFile],
    cwd: work.path,
    env: {
      ...process.env,
      JMXDISABLE: 'true',
      ZOO_LOG_DIR: logDir,
      JVMFLAGS: jvmFlags.join(' '),
      ZOOPIDFILE: join(work.path, 'zookeeper.pid'),
    },
    logFile: join(work.path, 'zookeeper.out'),
  });

  // The work dir holds the config, the logs and (unless the caller owns it) the data dir.
  const cleanup = () => work.remove();
  try {
    await waitUntilServing(spawned, host, port, options.startTimeoutMs ?? 45_000);
  } catch (error) {
    await spawned.kill();
    cleanup();
    throw error;
  }

  return {
    host,
    port,
    connectString: `${host}:${port}`,
    dataDir,
    workDir: work.path,
    process: spawned,
    async stop() {
      await spawned.stop(5_000);
      cleanup();
    },
    async kill() {
      await spawned.kill();
      cleanup();
    },
  };
}

function zooCfg(settings: {
  host: string;
  port: number;
  tickTimeMs: number;
  dataDir: string;
  forceSync: boolean;
}): string {
  return [
    `tickTime=${settings.tickTimeMs}`,
    `dataDir=${settings.dataDir}`,
    `clientPort=${settings.port}`,
    `clientPortAddress=${settings.host}`,
    'admin.enableServer=false',
    '4lw.commands.whitelist=*',
    `forceSync=${settings.forceSync ? 'yes' : 'no'}`,
    'maxClientCnxns=0',
    // No periodic purge, no snapshots mid-test beyond ZooKeeper's defaults.
    'autopurge.purgeInterval=0',
    '',
  ].join('\n');
}

/** slf4j-simple on the class path turns ZooKeeper's otherwise silent (NOP) logging into stderr lines. */
function loggingFlags(): string[] {
  if (!existsSync(SLF4J_SIMPLE_JAR)) return [];
  return ['-cp', [...ZOOKEEPER_JARS, SLF4J_SIMPLE_JAR].join(':'), '-Dorg.slf4j.simpleLogger.defaultLogLevel=warn'];
}

/** `ruok` answers `imok` once the server runs; `srvr` says `Mode:` once it serves requests. */
async function waitUntilServing(spawned: SpawnedProcess, host: string, port: number, timeoutMs: number): Promise<void> {
  await waitFor(
    async () => {
      if (spawned.hasExited()) throw new StopWaiting(`ZooKeeper exited while starting:\n${tail(spawned.output())}`);
      if ((await fourLetterWord(host, port, 'ruok', 1_000)) !== 'imok') return false;
      return (await fourLetterWord(host, port, 'srvr', 1_000)).includes('Mode:');
    },
    { timeoutMs, intervalMs: 100, description: `ZooKeeper on ${host}:${port} to answer ruok/srvr` },
  );
}
