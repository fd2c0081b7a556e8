/**
 * A local Samsa cluster of real processes for integration and chaos tests: the embedded coordinator
 * (packages/coordinator/dist/main.js) and brokers started through the CLI (packages/cli/dist/main.js),
 * each on a free port with its own data directory. Brokers can be stopped, killed (SIGKILL), paused
 * (SIGSTOP) and restarted in place. Build first (`npx tsc -b`); `npm test` does.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { REPO_ROOT, startCoordinatorProcess, type CoordinatorProcess } from './coordinator.js';
import { freePort } from './ports.js';
import { spawnProcess, tail, type SpawnedProcess } from './process.js';
import { createTempDir, type TempDir } from './temp.js';

export const CLI_MAIN = fileURLToPath(new URL('../../packages/cli/dist/main.js', import.meta.url));

export interface BrokerProcess {
  readonly id: number;
  readonly port: number;
  readonly address: string;
  readonly dataDir: string;
  process: SpawnedProcess | undefined;
  isRunning(): boolean;
}

export interface LocalClusterOptions {
  brokers?: number;
  /** Extra broker settings by Kafka name, e.g. { 'zookeeper.session.timeout.ms': '4000' }. */
  brokerSettings?: Record<string, string>;
  /**
   * Settings for one broker, over brokerSettings, called at every (re)start: e.g. named listeners.
   * When it sets `listeners`, the broker does not get `--listen <address>`; `address` stays the
   * broker's allocated port on 127.0.0.1, which the settings should use for the clients' listener.
   * When it sets `zookeeper.connect`, the broker does not get `--coordinator` either.
   */
  brokerSettingsFor?: (broker: BrokerProcess, cluster: LocalCluster) => Record<string, string>;
  /** A broker's data directory by id, instead of one under the cluster's temp directory (e.g. a small tmpfs). */
  dataDirs?: Readonly<Record<number, string>>;
  /** The coordinator's tickTime; session timeouts are clamped to 2..20 ticks. */
  tickTimeMs?: number;
  startTimeoutMs?: number;
}

export class LocalCluster {
  readonly brokers: BrokerProcess[] = [];
  coordinator!: CoordinatorProcess;
  private readonly temp: TempDir;

  private constructor(private readonly options: LocalClusterOptions) {
    this.temp = createTempDir('cluster');
  }

  static async start(options: LocalClusterOptions = {}): Promise<LocalCluster> {
    if (!existsSync(CLI_MAIN)) throw new Error(`${CLI_MAIN} is missing: build first (npx tsc -b)`);
    const cluster = new LocalCluster(options);
    try {
      cluster.coordinator = await startCoordinatorProcess({
        dataDir: join(cluster.temp.path, 'coordinator'),
        tickTimeMs: options.tickTimeMs ?? 500,
      });
      for (let id = 1; id <= (options.brokers ?? 3); id++) {
        const port = await freePort();
        cluster.brokers.push({
          id,
          port,
          address: `127.0.0.1:${port}`,
          dataDir: options.dataDirs?.[id] ?? join(cluster.temp.path, `broker-${id}`),
          process: undefined,
          isRunning() {
            return this.process !== undefined && !this.process.hasExited();
          },
        });
      }
      await Promise.all(cluster.brokers.map((b) => cluster.startBroker(b.id)));
    } catch (error) {
      await cluster.close();
      throw error;
    }
    return cluster;
  }

  get bootstrap(): string[] {
    return this.brokers.map((b) => b.address);
  }

  broker(id: number): BrokerProcess {
    const broker = this.brokers.find((b) => b.id === id);
    if (!broker) throw new Error(`no broker ${id}`);
    return broker;
  }

  /** Starts (or restarts in place: same id, port and data) a broker and waits until it serves. */
  async startBroker(id: number): Promise<void> {
    const broker = this.broker(id);
    if (broker.isRunning()) throw new Error(`broker ${id} is already running`);
    const settings: Record<string, string> = {
      'zookeeper.session.timeout.ms': '3000',
      ...this.options.brokerSettings,
      ...this.options.brokerSettingsFor?.(broker, this),
    };
    const listen = settings.listeners === undefined ? ['--listen', broker.address] : [];
    // A broker given its own zookeeper.connect (e.g. through a proxy) gets no --coordinator, which would win.
    const coordinator =
      settings['zookeeper.connect'] === undefined ? ['--coordinator', this.coordinator.connectString] : [];
    const overrides = Object.entries(settings).flatMap(([k, v]) => ['--override', `${k}=${v}`]);
    broker.process = spawnProcess({
      name: `broker-${id}`,
      command: process.execPath,
      args: [
        CLI_MAIN,
        'broker',
        'start',
        '--id',
        String(id),
        ...listen,
        ...coordinator,
        '--data-dir',
        broker.dataDir,
        ...overrides,
      ],
      cwd: REPO_ROOT,
      logFile: join(this.temp.path, `broker-${id}.log`),
    });
    try {
      await broker.process.waitForOutput(/"msg":"broker started"/, this.options.startTimeoutMs ?? 30_000);
    } catch (error) {
      const output = broker.process.output();
      await broker.process.kill();
      throw new Error(
        `broker ${id} did not start: ${error instanceof Error ? error.message : String(error)}\n${tail(output)}`,
      );
    }
  }

  async stopBroker(id: number): Promise<void> {
    await this.broker(id).process?.stop(10_000);
  }

  async killBroker(id: number): Promise<void> {
    await this.broker(id).process?.kill();
  }

  pauseBroker(id: number): void {
    this.broker(id).process?.signal('SIGSTOP');
  }

  resumeBroker(id: number): void {
    this.broker(id).process?.signal('SIGCONT');
  }

  /** The captured output of a broker, for failure messages. */
  brokerOutput(id: number): string {
    return tail(this.broker(id).process?.output() ?? '', 60);
  }

  async close(): Promise<void> {
    await Promise.all(
      this.brokers.map(async (b) => {
        b.process?.signal('SIGCONT');
        await b.process?.stop(5_000);
      }),
    );
    await this.coordinator?.stop();
    this.temp.remove();
  }
}
