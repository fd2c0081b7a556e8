import type { Command } from 'commander';
import type { Logger } from 'pino';
import type { SettingSpec } from '@samsa/broker';
import { logLevelFrom, parseIntOption, parseLogLevel, type LogLevel } from '../options.js';

const LOG_LEVEL_HELP =
  'log level: trace, debug, info, warn, error, fatal or silent (default: SAMSA_LOG_LEVEL, else info)';

/** The JSON logger of a server process, at the level --log-level or SAMSA_LOG_LEVEL asks for. */
async function serverLogger(level: LogLevel | undefined): Promise<Logger> {
  // pino, the broker and the coordinator are imported by the commands that run them, not at start-up.
  const { pino } = await import('pino');
  return pino({ level: logLevelFrom(level), base: { pid: process.pid } });
}

/** How long a graceful stop may take before the process exits anyway. */
const STOP_WATCHDOG_MS = 30_000;

/**
 * Runs until SIGTERM/SIGINT, then calls `stop` once. A second signal, or a stop that hangs past the
 * watchdog, exits at once: a stuck shutdown must never leave a process holding its port and files.
 */
function untilSignalled(stop: () => Promise<void>, logger: Logger): Promise<void> {
  return new Promise((resolve) => {
    let stopping = false;
    const onSignal = (signal: string) => {
      if (stopping) {
        logger.warn({ signal }, 'second signal: exiting without finishing the shutdown');
        process.exit(1);
      }
      stopping = true;
      logger.info({ signal }, 'stopping');
      setTimeout(() => {
        logger.error(`shutdown did not finish within ${STOP_WATCHDOG_MS / 1000} s; exiting`);
        process.exit(1);
      }, STOP_WATCHDOG_MS).unref();
      stop().then(resolve, (err: unknown) => {
        logger.error({ err }, 'shutdown failed');
        resolve();
      });
    };
    process.on('SIGTERM', () => onSignal('SIGTERM'));
    process.on('SIGINT', () => onSignal('SIGINT'));
  });
}

/**
 * A member of `samsa dev` has an IPC channel to it. The channel closes when samsa dev exits, however
 * it exits (SIGKILL included: the kernel closes its end), and the member then stops as on SIGTERM,
 * so that no member outlives its supervisor and keeps its ports and data directory.
 */
function stopWithSupervisor(): void {
  if (!process.channel) return;
  // The channel alone must not keep a process alive whose start failed.
  process.channel.unref();
  process.once('disconnect', () => process.kill(process.pid, 'SIGTERM'));
}

export function registerServers(program: Command): void {
  const broker = program.command('broker').description('run a broker');
  broker
    .command('start')
    .description(
      'start a broker; settings come from --config, SAMSA_* environment variables and these flags (highest precedence)',
    )
    .addHelpText(
      'after',
      `
Listeners (Kafka's syntax and rules):
  --listen 127.0.0.1:9092                 one listener, named PLAINTEXT
  --listen INTERNAL://0.0.0.0:19092,EXTERNAL://0.0.0.0:9092 \\
  --advertised INTERNAL://broker-1:19092,EXTERNAL://127.0.0.1:9092 \\
  --override inter.broker.listener.name=INTERNAL
One gRPC server runs per listener. Clients are told the addresses of the listener they connected to;
brokers replicate and reach the controller on inter.broker.listener.name (default: the first listener).
Advertised hosts 0.0.0.0/:: become 127.0.0.1 and port 0 the bound port.
A listener mapped to PLAINTEXT in listener.security.protocol.map (default KAFKA:PLAINTEXT) speaks Kafka's
protocol instead of gRPC: --listen PLAINTEXT://127.0.0.1:9092,KAFKA://127.0.0.1:19092 serves kcat on 19092.`,
    )
    .option('--id <n>', 'broker.id')
    .option(
      '--listen <listeners>',
      'listeners: host:port, or NAME://host:port,... one gRPC server each (default 127.0.0.1:9092)',
    )
    .option(
      '--advertised <listeners>',
      'advertised.listeners: the addresses published to clients and brokers, same syntax (default: --listen)',
    )
    .option(
      '--coordinator <host:port,...>',
      'zookeeper.connect: the coordinator or ZooKeeper ensemble (default 127.0.0.1:2181)',
    )
    .option('--data-dir <dir>', 'log.dirs: where partitions are stored (default ./data)')
    .option('--config <file>', 'a server.properties file with Kafka setting names')
    .option('--override <key=value...>', 'any broker setting by its Kafka name, e.g. --override num.partitions=3')
    .option('--log-level <level>', LOG_LEVEL_HELP, parseLogLevel)
    .action(
      async (options: {
        id?: string;
        listen?: string;
        advertised?: string;
        coordinator?: string;
        dataDir?: string;
        config?: string;
        override?: string[];
        logLevel?: LogLevel;
      }) => {
        stopWithSupervisor();
        const flags: Record<string, string> = {};
        for (const pair of options.override ?? []) {
          const eq = pair.indexOf('=');
          if (eq <= 0) throw new Error(`--override expects key=value, not '${pair}'`);
          flags[pair.slice(0, eq)] = pair.slice(eq + 1);
        }
        const named: Record<string, string | undefined> = {
          'broker.id': options.id,
          listeners: options.listen,
          'advertised.listeners': options.advertised,
          'zookeeper.connect': options.coordinator,
          'log.dirs': options.dataDir,
        };
        for (const [key, value] of Object.entries(named)) if (value !== undefined) flags[key] = value;
        const { loadBrokerSettings, startBroker } = await import('@samsa/broker');
        const settings = await loadBrokerSettings({
          ...(options.config ? { configFile: options.config } : {}),
          env: process.env,
          flags,
        });
        const logger = await serverLogger(options.logLevel);
        const running = await startBroker(settings, logger);
        await untilSignalled(() => running.close(), logger);
      },
    );

  broker
    .command('settings')
    .description('every broker and topic setting with its default, as the code defines them')
    .action(async () => {
      const { BROKER_SETTINGS, TOPIC_SETTINGS } = await import('@samsa/broker');
      const rows = (table: Record<string, SettingSpec>) =>
        Object.entries(table).map(
          ([key, spec]) => `  ${key.padEnd(34)} ${String(spec.default ?? '(none)').padEnd(18)} ${spec.doc}`,
        );
      process.stdout.write(
        [
          'Broker settings (server.properties, SAMSA_<KEY> environment variables, --override key=value):',
          ...rows(BROKER_SETTINGS),
          '',
          'Topic settings (topics create --config key=value):',
          ...rows(TOPIC_SETTINGS),
          '',
        ].join('\n'),
      );
    });

  const coordinator = program.command('coordinator').description('run the embedded ZooKeeper-compatible coordinator');
  coordinator
    .command('start')
    .description('start a single-node coordinator (ZooKeeper wire protocol; Apache ZooKeeper clients work against it)')
    .option('--host <host>', 'address to listen on', '127.0.0.1')
    .option('--port <port>', 'client port', parseIntOption('--port', 0, 65535), 2181)
    .requiredOption('--data-dir <dir>', 'transaction log and snapshots')
    .option(
      '--tick-time-ms <ms>',
      'ZooKeeper tickTime; session timeouts are clamped to 2..20 ticks',
      parseIntOption('--tick-time-ms', 1, 60_000),
      2000,
    )
    .option('--log-level <level>', LOG_LEVEL_HELP, parseLogLevel)
    .action(
      async (options: { host: string; port: number; dataDir: string; tickTimeMs: number; logLevel?: LogLevel }) => {
        stopWithSupervisor();
        const logger = await serverLogger(options.logLevel);
        const { runCoordinator } = await import('@samsa/coordinator');
        const { stopped } = await runCoordinator({
          host: options.host,
          port: options.port,
          dataDir: options.dataDir,
          tickTimeMs: options.tickTimeMs,
          logger,
        });
        await stopped;
      },
    );
}
