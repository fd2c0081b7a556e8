/**
 * scripts/bench-processes.mjs, the start-up of every benchmark script's cluster: the options reach the
 * processes, stop() ends them and removes the temp dir, and no process outlives the script however it
 * ends (an uncaught error, a signal, SIGKILL). Each case runs start-cluster.mjs, a script in miniature.
 */
import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { type SpawnedProcess, spawnProcess } from '../helpers/process.js';
import { createTempDir } from '../helpers/temp.js';
import { waitFor } from '../helpers/wait.js';

const SCRIPT = fileURLToPath(new URL('./start-cluster.mjs', import.meta.url));

interface Started {
  dir: string;
  pids: number[];
  bootstrap: string;
  /** The ids of the brokers whose stdout was handed to the script. */
  piped: number[];
}

const scripts: SpawnedProcess[] = [];
/** Every cluster process and temp dir a script reported: no case leaves them behind, passed or failed. */
const reported: number[] = [];
const reportedDirs: string[] = [];
afterEach(async () => {
  await Promise.all(scripts.splice(0).map((p) => p.kill()));
  for (const pid of reported.splice(0)) if (alive(pid)) process.kill(pid, 'SIGKILL');
  for (const dir of reportedDirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function run(...args: string[]): SpawnedProcess {
  // The script's environment has NODE_OPTIONS too: the `env` option's replaces it.
  const env = { ...process.env, NODE_OPTIONS: '--no-deprecation' };
  const p = spawnProcess({ name: 'start-cluster.mjs', command: process.execPath, args: [SCRIPT, ...args], env });
  scripts.push(p);
  return p;
}

/** The script's JSON lines so far, once there are `count` of them. */
async function lines<T extends unknown[]>(p: SpawnedProcess, count: number): Promise<T> {
  const found = await waitFor(
    () => {
      const found = p
        .output()
        .split('\n')
        .filter((l) => l.startsWith('{'));
      if (found.length >= count) return found.map((l) => JSON.parse(l) as unknown);
      if (p.hasExited()) throw new Error(`the script exited:\n${p.output()}`);
      return undefined;
    },
    { timeoutMs: 30_000, description: `${count} line(s) from the script` },
  );
  for (const line of found as { pids?: number[]; dir?: string }[]) {
    reported.push(...(line.pids ?? []));
    if (line.dir !== undefined) reportedDirs.push(line.dir);
  }
  return found as T;
}

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

const allGone = (pids: number[], what: string) =>
  waitFor(() => pids.every((pid) => !alive(pid)), { timeoutMs: 20_000, description: what });

describe('startCluster', () => {
  it('starts a coordinator and the brokers with the options given; stop() ends them and removes the dir', async () => {
    const p = run('stop', '2');
    const [started, stopped] = await lines<[Started, { dirLeft: boolean }]>(p, 2);
    expect(started.pids).toHaveLength(3);
    expect(started.bootstrap.split(',')).toHaveLength(2);
    expect(started.piped).toEqual([1, 2]);
    expect(stopped.dirLeft).toBe(false);
    expect((await p.exited).code).toBe(0);
    expect(started.pids.every((pid) => !alive(pid))).toBe(true);
  });

  it('passes overrides, log level, environment and NODE_OPTIONS to the processes', async () => {
    const p = run('wait', '1');
    const [started] = await lines<[Started]>(p, 1);
    const [coordinatorPid, brokerPid] = started.pids as [number, number];
    const processOf = (pid: number) => ({
      args: readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0'),
      env: readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0'),
    });
    const [coordinator, broker] = [processOf(coordinatorPid), processOf(brokerPid)];
    expect(broker.args).toEqual(expect.arrayContaining(['--override', 'log.cleaner.backoff.ms=100', '--log-level']));
    expect(broker.env).toEqual(expect.arrayContaining(['SAMSA_TEST_ALL=all', 'SAMSA_TEST_BROKERS=brokers']));
    expect(broker.env).toContain('NODE_OPTIONS=--no-warnings --max-old-space-size=300');
    expect(coordinator.env).toContain('NODE_OPTIONS=--no-warnings --max-old-space-size=300');
    expect(coordinator.env).toContain('SAMSA_TEST_ALL=all');
    expect(coordinator.env).not.toContain('SAMSA_TEST_BROKERS=brokers');
    expect(coordinator.args).not.toContain('--override');
  });

  it('leaves no process and no temp dir behind when the script throws', async () => {
    const p = run('throw', '1');
    const [started] = await lines<[Started]>(p, 1);
    expect((await p.exited).code).not.toBe(0);
    await allGone(started.pids, 'the cluster to be gone after the uncaught error');
    expect(existsSync(started.dir)).toBe(false);
  });

  it('leaves no process and no temp dir behind when the script gets SIGTERM', async () => {
    const p = run('wait', '1');
    const [started] = await lines<[Started]>(p, 1);
    process.kill(p.pid, 'SIGTERM'); // the script alone, not its process group
    expect((await p.exited).code).toBe(143);
    await allGone(started.pids, 'the cluster to be gone after SIGTERM');
    expect(existsSync(started.dir)).toBe(false);
  });

  it('leaves no process behind when the script is SIGKILLed (the IPC channel closes)', async () => {
    const p = run('wait', '1');
    const [started] = await lines<[Started]>(p, 1);
    process.kill(p.pid, 'SIGKILL');
    await p.exited;
    // Nothing can remove the temp dir in a SIGKILLed script: afterEach does.
    await allGone(started.pids, 'the cluster to stop after its script was SIGKILLed');
  });

  it('stops what it started when a broker fails to start, naming it', async () => {
    const dir = createTempDir('bench-processes');
    try {
      const p = run('bad', '2', dir.path);
      const [failed] = await lines<[{ error: string }]>(p, 1);
      expect(failed.error).toMatch(/broker-1 exited/);
      // The script still runs: stop() ended the coordinator, not the script's exit.
      expect(p.hasExited()).toBe(false);
      await waitFor(() => processesNaming(dir.path).every((pid) => pid === p.pid), {
        description: 'no process of the cluster left',
      });
      // A given dir is kept.
      expect(existsSync(dir.path)).toBe(true);
    } finally {
      dir.remove();
    }
  });
});

/** The pids of the processes whose command line names `text` (from /proc; those that exit meanwhile are skipped). */
function processesNaming(text: string): number[] {
  return readdirSync('/proc')
    .filter((name) => /^\d+$/.test(name))
    .map(Number)
    .filter((pid) => {
      try {
        return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(text);
      } catch {
        return false;
      }
    });
}
