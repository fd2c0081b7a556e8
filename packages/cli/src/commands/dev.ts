import { mkdirSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Command } from 'commander';
import { askControl, claimDataDir, serveControl } from '../dev/control.js';
import type { MemberSpec } from '../dev/member.js';
import type { Supervisor } from '../dev/supervisor.js';
import { CliError } from '../errors.js';
import { parseIntOption } from '../options.js';

/**
 * Kafka's default (18 s) is made for production; on one machine a killed broker would be shown as
 * leader, with a full ISR, for that long. 6 s (Kafka's default before 2.5) keeps failover visible
 * and quick while leaving room for a busy laptop's pauses.
 */
const DEV_SESSION_TIMEOUT_MS = 6_000;

interface DevOptions {
  brokers: number;
  basePort: number;
  coordinatorPort: number;
  dataDir: string;
  zookeeper?: string;
  override?: string[];
}

const DEV_HELP = `
Members: the coordinator (unless --zookeeper) and broker-1..N, each its own process, its log lines
here. A member that dies is restarted, after 1 s, then 2, 4, ... up to 30 s, with a line saying so.
From another terminal (with the same --data-dir):
  samsa dev status                 each member, its pid and state
  samsa dev stop broker-2          stops it (SIGTERM: it leaves the cluster); it stays down
  samsa dev start broker-2         starts it again
  samsa dev restart broker-2       both
  kill -9 <pid>                    a crash: samsa dev restarts the member
Ctrl-C stops the cluster, brokers first. Members watch samsa dev: if it dies, even by kill -9, they
stop too. A start that finds a port or the data directory taken says so and exits 1.
Brokers run with zookeeper.session.timeout.ms=${DEV_SESSION_TIMEOUT_MS} (Kafka's default is 18000): a broker
that dies loses leadership and leaves the ISR about ${DEV_SESSION_TIMEOUT_MS / 1000} s later.
--override key=value sets any broker setting.`;

export function registerDev(program: Command): void {
  program
    .command('dev')
    .description('run a local cluster: the embedded coordinator plus brokers on 127.0.0.1, data under --data-dir')
    .argument('[command]', 'to control a running samsa dev: status, stop, start or restart')
    .argument('[member]', 'coordinator or broker-N (or N)')
    .option('--brokers <n>', 'number of brokers', parseIntOption('--brokers', 1, 9), 3)
    .option(
      '--base-port <port>',
      'port of the first broker; the others follow',
      parseIntOption('--base-port', 1, 55535),
      9092,
    )
    .option(
      '--coordinator-port <port>',
      'port of the embedded coordinator',
      parseIntOption('--coordinator-port', 1, 65535),
      2181,
    )
    .option('--data-dir <dir>', 'where every member keeps its data', './data')
    .option('--zookeeper <host:port>', 'use this ZooKeeper ensemble instead of starting the embedded coordinator')
    .option('--override <key=value...>', 'a broker setting by its Kafka name, for every broker')
    .addHelpText('after', DEV_HELP)
    .action(async (command: string | undefined, member: string | undefined, options: DevOptions) => {
      if (command === undefined) return runDevCluster(options);
      process.stdout.write(`${await askControl(resolve(options.dataDir), command, member)}\n`);
    });
}

async function runDevCluster(options: DevOptions): Promise<void> {
  const dataDir = resolve(options.dataDir);
  mkdirSync(dataDir, { recursive: true });
  const release = claimDataDir(dataDir);
  try {
    const { specs, groups } = memberSpecs(options, dataDir);
    await checkPortsFree(specs);
    // The supervisor (pino-pretty) and the probes (the SDK) load when a cluster starts, not with the CLI.
    const { Supervisor } = await import('../dev/supervisor.js');
    const supervisor = new Supervisor(specs, (line) => process.stdout.write(`${line}\n`));
    const stopped = new Promise<void>((done) => {
      const stop = () => {
        process.stdout.write('stopping the local cluster...\n');
        void supervisor.stopAll().then(done);
      };
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
    });
    process.once('exit', () => supervisor.killAll());
    const control = await serveControl(dataDir, (command, member) => supervisor.control(command, member));
    try {
      const answers = await supervisor.startAll(groups);
      printNextSteps(supervisor, specs, answers, options);
      await stopped;
    } finally {
      control.close();
    }
  } finally {
    release();
  }
}

function memberSpecs(options: DevOptions, dataDir: string): { specs: MemberSpec[]; groups: string[][] } {
  const specs: MemberSpec[] = [];
  const groups: string[][] = [];
  let connectString = options.zookeeper;
  if (!connectString) {
    const coordinatorDir = resolve(dataDir, 'coordinator');
    const port = options.coordinatorPort;
    specs.push({
      name: 'coordinator',
      port,
      args: ['coordinator', 'start', '--port', String(port), '--data-dir', coordinatorDir],
      probe: async () => {
        const { coordinatorMismatch } = await import('../dev/probes.js');
        const why = await coordinatorMismatch(port, coordinatorDir);
        return why === undefined ? { ready: true, as: `the coordinator of ${coordinatorDir}` } : { ready: false, why };
      },
    });
    groups.push(['coordinator']);
    connectString = `127.0.0.1:${port}`;
  }
  const overrides = [`zookeeper.session.timeout.ms=${DEV_SESSION_TIMEOUT_MS}`, ...(options.override ?? [])];
  const cluster: { id?: string } = {};
  const brokers: string[] = [];
  for (let id = 1; id <= options.brokers; id++) {
    const port = options.basePort + id - 1;
    const brokerDir = resolve(dataDir, `broker-${id}`);
    mkdirSync(brokerDir, { recursive: true });
    specs.push({
      name: `broker-${id}`,
      port,
      args: [
        'broker',
        'start',
        '--id',
        String(id),
        '--listen',
        // gRPC for Samsa's clients and replication; Kafka's protocol for Kafka's clients (kcat, KafkaJS, ...).
        `PLAINTEXT://127.0.0.1:${port},KAFKA://127.0.0.1:${kafkaPort(port)}`,
        '--coordinator',
        connectString,
        '--data-dir',
        brokerDir,
        ...overrides.flatMap((o) => ['--override', o]),
      ],
      probe: async () => {
        const { brokerIdentity } = await import('../dev/probes.js');
        const identity = await brokerIdentity(id, port, cluster.id);
        if (!identity) return { ready: false, why: `not serving as broker ${id} of cluster ${cluster.id ?? '?'} yet` };
        cluster.id ??= identity.clusterId;
        return { ready: true, as: `broker ${id} of cluster ${identity.clusterId}` };
      },
    });
    brokers.push(`broker-${id}`);
  }
  groups.push(brokers);
  return { specs, groups };
}

/** A port someone else holds would make a member fail, or worse, let a stranger answer in its place. */
async function checkPortsFree(specs: readonly MemberSpec[]): Promise<void> {
  const { portIsFree } = await import('../dev/probes.js');
  for (const spec of specs) {
    const ports = spec.name === 'coordinator' ? [spec.port] : [spec.port, kafkaPort(spec.port)];
    for (const port of ports) {
      if (!(await portIsFree(port)))
        throw new CliError(
          `port ${port} (${spec.name}) is in use: another samsa dev, or a member left running by one? ` +
            'Stop it, or choose other ports (--base-port, --coordinator-port)',
        );
    }
  }
}

/** Each broker's Kafka-protocol listener: its gRPC port + 10000 (9092 -> 19092). */
const kafkaPort = (grpcPort: number): number => grpcPort + 10000;

function printNextSteps(
  supervisor: Supervisor,
  specs: readonly MemberSpec[],
  answers: readonly string[],
  options: DevOptions,
): void {
  const brokers = specs.filter((m) => m.name.startsWith('broker-'));
  const addresses = brokers.map((m) => `127.0.0.1:${m.port}`);
  const kafkaBootstrap = brokers.map((m) => `127.0.0.1:${kafkaPort(m.port)}`).join(',');
  const rf = Math.min(3, brokers.length);
  // As in the README: with three replicas, acks=all writes survive one broker's loss and need two copies.
  const minIsr = rf >= 3 ? ' --config min.insync.replicas=2' : '';
  const last = brokers[brokers.length - 1]!.name;
  const pid = supervisor.pidOf(last);
  const dataDir = resolve(options.dataDir);
  process.stdout.write(`
${answers.join('\n')}
Samsa local cluster is up: ${brokers.length} broker(s) at ${addresses.join(', ')}; data under ${dataDir}.
Try, in another terminal:
  npx samsa topics create --topic demo --partitions 3 --replication-factor ${rf}${minIsr}
  npx samsa topics describe --topic demo
  printf 'hello\\nworld\\n' | npx samsa produce --topic demo --acks all
  npx samsa consume --topic demo --from-beginning --max-messages 2
Kafka clients bootstrap from ${kafkaBootstrap} (Kafka's protocol), e.g.:
  kcat -b ${kafkaBootstrap} -L
Members: 'npx samsa dev status', 'npx samsa dev stop|start|restart ${last}'; a member that dies
(try kill -9 ${pid}) is restarted.
Press Ctrl-C to stop the cluster.
`);
}
