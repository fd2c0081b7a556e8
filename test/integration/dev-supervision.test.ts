/**
 * `samsa dev` as a supervisor (issue 16): its members never outlive it, however it dies; a start that
 * finds its ports or data directory taken says so in one line and fails; a member that dies is
 * restarted; one member can be stopped and started on purpose.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { basename, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runSamsa } from '../helpers/cli.js';
import { CLI_MAIN } from '../helpers/cluster.js';
import { freePort } from '../helpers/ports.js';
import { type SpawnedProcess, spawnProcess } from '../helpers/process.js';
import { createTempDir, type TempDir } from '../helpers/temp.js';
import { waitFor } from '../helpers/wait.js';

interface Dev {
  readonly process: SpawnedProcess;
  readonly dataDir: string;
  readonly coordinatorPort: number;
  readonly brokerPort: number;
  /** pid of each member as the start banner names them. */
  readonly pids: Map<string, number>;
}

/** A broker port whose Kafka listener (port + 10000) is free too. */
async function brokerPort(): Promise<number> {
  return waitFor(
    async () => {
      const port = await freePort();
      return port + 10_000 <= 65_535 && (await isFree(port + 10_000)) ? port : undefined;
    },
    { description: 'a free broker port pair' },
  );
}

async function isFree(port: number): Promise<boolean> {
  const { createServer } = await import('node:net');
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen({ host: '127.0.0.1', port, exclusive: true }, () => server.close(() => resolve(true)));
  });
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function devArgs(dataDir: string, coordinatorPort: number, port: number): string[] {
  return [
    CLI_MAIN,
    'dev',
    '--brokers',
    '1',
    '--base-port',
    String(port),
    '--coordinator-port',
    String(coordinatorPort),
    '--data-dir',
    dataDir,
  ];
}

async function startDev(temp: TempDir, name: string): Promise<Dev> {
  const dataDir = join(temp.path, name);
  const coordinatorPort = await freePort();
  const port = await brokerPort();
  const dev = spawnProcess({ name, command: process.execPath, args: devArgs(dataDir, coordinatorPort, port) });
  await dev.waitForOutput(/Samsa local cluster is up/, 60_000);
  return { process: dev, dataDir, coordinatorPort, brokerPort: port, pids: membersOf(dataDir) };
}

/** The processes started with a data directory under `dataDir`, by name (from /proc, not from what samsa dev says). */
function membersOf(dataDir: string): Map<string, number> {
  const members = new Map<string, number>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let args: string[];
    try {
      args = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0');
    } catch {
      continue;
    }
    const dir = args[args.indexOf('--data-dir') + 1] ?? '';
    if (dir.startsWith(`${dataDir}/`)) members.set(basename(dir), Number(entry));
  }
  return members;
}

/** Members a failed test left running are killed, so they do not keep ports for other tests. */
function killMembers(dev: Dev | undefined): void {
  for (const pid of dev?.pids.values() ?? []) if (alive(pid)) process.kill(pid, 'SIGKILL');
}

describe('samsa dev', () => {
  const temp = createTempDir('dev');
  let dev: Dev;

  beforeAll(async () => {
    dev = await startDev(temp, 'running');
  }, 90_000);

  afterAll(async () => {
    await dev?.process.stop(30_000);
    killMembers(dev);
    temp.remove();
  });

  it('members answer as themselves before the cluster is said to be up', () => {
    expect([...dev.pids.keys()]).toEqual(['coordinator', 'broker-1']);
    expect(dev.process.output()).toMatch(/^coordinator \(pid \d+\) answered as the coordinator of .*coordinator$/m);
    expect(dev.process.output()).toMatch(/^broker-1 \(pid \d+\) answered as broker 1 of cluster \S+$/m);
  });

  it('a second start against taken ports or a taken data directory fails with one line', async () => {
    const other = join(temp.path, 'other');
    const ports = await runSamsa(devArgs(other, dev.coordinatorPort, dev.brokerPort).slice(1));
    expect(ports.code).toBe(1);
    expect(ports.stdout).toBe('');
    expect(ports.stderr).toBe(
      `samsa: port ${dev.coordinatorPort} (coordinator) is in use: ` +
        'another samsa dev, or a member left running by one? ' +
        'Stop it, or choose other ports (--base-port, --coordinator-port)\n',
    );
    const sameDir = await runSamsa(devArgs(dev.dataDir, await freePort(), await brokerPort()).slice(1));
    expect(sameDir.code).toBe(1);
    expect(sameDir.stdout).toBe('');
    expect(sameDir.stderr).toMatch(
      new RegExp(
        `^samsa: data directory ${dev.dataDir} is in use by samsa dev \\(pid ${dev.process.pid}\\)[^\\n]*\\n$`,
      ),
    );
  });

  it('restarts a member that dies, and stops and starts one on request', async () => {
    const first = dev.pids.get('broker-1')!;
    process.kill(first, 'SIGKILL');
    await dev.process.waitForOutput(/\[broker-1\] restarting it in 1 s \(restart 1;/);
    const [, again] = (await dev.process.waitForOutput(
      /\[broker-1\] is back: broker-1 \(pid (\d+)\) answered as broker 1/,
      60_000,
    )) as unknown as [string, string];
    expect(Number(again)).not.toBe(first);
    dev.pids.set('broker-1', Number(again));

    const status = await runSamsa(['dev', 'status', '--data-dir', dev.dataDir]);
    expect(status.code).toBe(0);
    expect(status.stdout).toMatch(
      new RegExp(`^broker-1 +127\\.0\\.0\\.1:${dev.brokerPort} +running, pid ${again}, restarted 1 time$`, 'm'),
    );

    const stopped = await runSamsa(['dev', 'stop', 'broker-1', '--data-dir', dev.dataDir]);
    expect(stopped).toMatchObject({ code: 0, stderr: '' });
    expect(alive(Number(again))).toBe(false);
    expect((await runSamsa(['dev', 'status', '--data-dir', dev.dataDir])).stdout).toMatch(
      /^broker-1 .* stopped(, restarted 1 time)?$/m,
    );

    const started = await runSamsa(['dev', 'start', '1', '--data-dir', dev.dataDir]);
    expect(started.code).toBe(0);
    const [, pid] = /^started broker-1 \(pid (\d+)\) answered as broker 1 of cluster/.exec(started.stdout) ?? [];
    expect(pid).toBeDefined();
    dev.pids.set('broker-1', Number(pid));
  }, 120_000);
});

describe('samsa dev killed with SIGKILL', () => {
  const temp = createTempDir('dev-killed');
  let dev: Dev | undefined;

  afterAll(() => {
    killMembers(dev);
    temp.remove();
  });

  it('leaves no member behind, and its ports are free afterwards', async () => {
    dev = await startDev(temp, 'killed');
    expect(dev.pids.size).toBe(2);
    process.kill(dev.process.pid, 'SIGKILL');
    await dev.process.exited;
    const members = [...dev.pids.values()];
    await waitFor(() => members.every((pid) => !alive(pid)), {
      timeoutMs: 40_000,
      description: `members ${members.join(', ')} to exit after their supervisor was killed`,
    });
    for (const port of [dev.coordinatorPort, dev.brokerPort, dev.brokerPort + 10_000])
      expect(await isFree(port)).toBe(true);
  }, 120_000);
});
