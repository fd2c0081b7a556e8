import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { connect } from 'node:net';
import { resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { Command } from 'commander';
import { prettyFactory } from 'pino-pretty';
import { CliError } from '../errors.js';
import { parseIntOption } from '../options.js';

const CLI_MAIN = fileURLToPath(new URL('../main.js', import.meta.url));
const READY_TIMEOUT_MS = 30_000;
/** A member still running this long after SIGTERM is killed. */
const STOP_GRACE_MS = 20_000;

interface DevOptions {
  brokers: number;
  basePort: number;
  coordinatorPort: number;
  dataDir: string;
  zookeeper?: string;
}

interface Member {
  readonly name: string;
  readonly child: ChildProcess;
  readonly port: number;
}

export function registerDev(program: Command): void {
  program
    .command('dev')
    .description('run a local cluster: the embedded coordinator plus brokers on 127.0.0.1, data under --data-dir')
    .option('--brokers <n>', 'number of brokers', parseIntOption('--brokers', 1, 9), 3)
    .option(
      '--base-port <port>',
      'port of the first broker; the others follow',
      parseIntOption('--base-port', 1, 65535),
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
    .action(async (options: DevOptions) => runDevCluster(options));
}

async function runDevCluster(options: DevOptions): Promise<void> {
  const dataDir = resolve(options.dataDir);
  const members: Member[] = [];
  const stopAll = stopper(members);
  process.once('SIGINT', stopAll);
  process.once('SIGTERM', stopAll);
  try {
    let connectString = options.zookeeper;
    if (!connectString) {
      const coordinatorDir = resolve(dataDir, 'coordinator');
      members.push(
        startMember('coordinator', options.coordinatorPort, [
          'coordinator',
          'start',
          '--port',
          String(options.coordinatorPort),
          '--data-dir',
          coordinatorDir,
        ]),
      );
      connectString = `127.0.0.1:${options.coordinatorPort}`;
    }
    await waitForPorts(members);
    for (let id = 1; id <= options.brokers; id++) {
      const port = options.basePort + id - 1;
      const brokerDir = resolve(dataDir, `broker-${id}`);
      mkdirSync(brokerDir, { recursive: true });
      members.push(
        startMember(`broker-${id}`, port, [
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
        ]),
      );
    }
    await waitForPorts(members);
  } catch (err) {
    await stopAll();
    throw err;
  }
  printNextSteps(members, options);
  await Promise.all(members.map((m) => exited(m.child)));
}

function startMember(name: string, port: number, args: string[]): Member {
  // Its own process group: a Ctrl-C on the terminal reaches only this supervisor, which stops the
  // members in order (brokers first) instead of every process receiving the signal at once.
  const child = spawn(process.execPath, [CLI_MAIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  process.once('exit', () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  const pretty = prettyFactory({
    colorize: process.stdout.isTTY,
    singleLine: true,
    translateTime: 'HH:MM:ss.l',
    ignore: 'pid,hostname',
    messageFormat: `[${name}] {msg}`,
  });
  for (const stream of [child.stdout, child.stderr]) {
    createInterface({ input: stream! }).on('line', (line) => {
      // Members log pino JSON; anything else (a crash report) is passed through as it is.
      process.stdout.write(line.startsWith('{') ? pretty(line) : `[${name}] ${line}\n`);
    });
  }
  child.on('exit', (code, signal) => process.stdout.write(`[${name}] exited (${signal ?? `code ${code}`})\n`));
  return { name, child, port };
}

function stopper(members: Member[]): () => Promise<void> {
  let stopping: Promise<void> | undefined;
  return () => {
    stopping ??= (async () => {
      process.stdout.write('stopping the local cluster...\n');
      // Brokers first, so they can deregister while the coordinator is still up.
      for (const group of [
        members.filter((m) => m.name !== 'coordinator'),
        members.filter((m) => m.name === 'coordinator'),
      ]) {
        await Promise.all(
          group.map(async (m) => {
            if (m.child.exitCode !== null || m.child.signalCode !== null) return;
            m.child.kill('SIGTERM');
            const killer = setTimeout(() => m.child.kill('SIGKILL'), STOP_GRACE_MS);
            await exited(m.child);
            clearTimeout(killer);
          }),
        );
      }
    })();
    return stopping;
  };
}

function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((done) => child.once('exit', () => done()));
}

async function waitForPorts(members: Member[]): Promise<void> {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  for (const member of members) {
    while (!(await portAccepts(member.port))) {
      if (member.child.exitCode !== null || member.child.signalCode !== null) {
        throw new CliError(`${member.name} exited before it was ready (see its log above)`);
      }
      if (Date.now() > deadline)
        throw new CliError(`${member.name} did not listen on port ${member.port} within ${READY_TIMEOUT_MS / 1000} s`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

function portAccepts(port: number): Promise<boolean> {
  return new Promise((done) => {
    const socket = connect({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      done(true);
    });
    socket.once('error', () => done(false));
  });
}

/** Each broker's Kafka-protocol listener: its gRPC port + 10000 (9092 -> 19092). */
const kafkaPort = (grpcPort: number): number => grpcPort + 10000;

function printNextSteps(members: Member[], options: DevOptions): void {
  const brokers = members.filter((m) => m.name.startsWith('broker-')).map((m) => `127.0.0.1:${m.port}`);
  const kafkaBootstrap = members
    .filter((m) => m.name.startsWith('broker-'))
    .map((m) => `127.0.0.1:${kafkaPort(m.port)}`)
    .join(',');
  const rf = Math.min(3, brokers.length);
  // As in the README: with three replicas, acks=all writes survive one broker's loss and need two copies.
  const minIsr = rf >= 3 ? ' --config min.insync.replicas=2' : '';
  process.stdout.write(`
Samsa local cluster is up: ${brokers.length} broker(s) at ${brokers.join(', ')}; data under ${resolve(options.dataDir)}.
Try, in another terminal:
  npx samsa topics create --topic demo --partitions 3 --replication-factor ${rf}${minIsr}
  npx samsa topics describe --topic demo
  printf 'hello\\nworld\\n' | npx samsa produce --topic demo --acks all
  npx samsa consume --topic demo --from-beginning --max-messages 2
Kafka clients bootstrap from ${kafkaBootstrap} (Kafka's protocol), e.g.:
  kcat -b ${kafkaBootstrap} -L
Press Ctrl-C to stop the cluster.
`);
}
