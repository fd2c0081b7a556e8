/**
 * Child processes for tests: output captured (bounded) and optionally written to a log file, readiness by
 * waiting for an output line, stop = SIGTERM then SIGKILL, and every process still running when the test
 * process exits is SIGKILLed so that a failing or interrupted test leaves nothing behind.
 *
 * Children run in their own process group (detached) and signals go to the whole group, so that a
 * wrapper script and the program it starts are stopped together.
 *
 * A test process killed outright (SIGKILL, a CI timeout) runs no exit hook: a watchdog shell, started
 * with the first child, polls the test process and SIGKILLs the groups listed in its file once it is
 * gone, so brokers and jobs of an interrupted run do not live on.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, writeFileSync, type WriteStream } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { withTimeout } from './wait.js';

export interface SpawnOptions {
  /** A short name for messages, e.g. 'zookeeper'. */
  name: string;
  command: string;
  args?: string[];
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  /** Also append stdout and stderr to this file. */
  logFile?: string;
  /** How much of the latest output to keep in memory for `output()` and failure messages. */
  maxOutputBytes?: number;
}

export interface ExitStatus {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface SpawnedProcess {
  readonly name: string;
  readonly pid: number;
  readonly child: ChildProcess;
  /** Settles when the process has exited (never rejects). */
  readonly exited: Promise<ExitStatus>;
  /** Whether the process has exited. */
  hasExited(): boolean;
  /** The latest captured stdout+stderr. */
  output(): string;
  /** Resolves when the output matches `pattern`; rejects if the process exits first or on timeout. */
  waitForOutput(pattern: RegExp, timeoutMs?: number): Promise<RegExpMatchArray>;
  /** Sends `signal` to the process group. */
  signal(signal: NodeJS.Signals): void;
  /** SIGTERM, then SIGKILL after `graceMs`; resolves once exited. */
  stop(graceMs?: number): Promise<ExitStatus>;
  /** SIGKILL; resolves once exited. */
  kill(): Promise<ExitStatus>;
}

const running = new Set<SpawnedProcess>();
let exitHookInstalled = false;

export function spawnProcess(options: SpawnOptions): SpawnedProcess {
  const { name, command, args = [], cwd, env, logFile, maxOutputBytes = 256 * 1024 } = options;
  const child = spawn(command, args, { cwd, env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  if (child.pid === undefined) throw new Error(`${name}: could not spawn ${command}`);
  const pid = child.pid;
  const log: WriteStream | undefined = logFile ? createWriteStream(logFile, { flags: 'a' }) : undefined;
  let captured = '';
  let exitStatus: ExitStatus | undefined;
  const outputListeners = new Set<() => void>();

  const onChunk = (chunk: Buffer) => {
    log?.write(chunk);
    captured += chunk.toString('utf8');
    if (captured.length > maxOutputBytes) captured = captured.slice(captured.length - maxOutputBytes);
    for (const listener of outputListeners) listener();
  };
  child.stdout?.on('data', onChunk);
  child.stderr?.on('data', onChunk);

  const exited = new Promise<ExitStatus>((resolve) => {
    child.once('exit', (code, signal) => {
      exitStatus = { code, signal };
      running.delete(handle);
      listGroupsForWatchdog();
      for (const listener of outputListeners) listener();
      resolve(exitStatus);
    });
    child.once('error', () => {
      exitStatus ??= { code: null, signal: null };
      running.delete(handle);
      listGroupsForWatchdog();
      resolve(exitStatus);
    });
  });
  void exited.then(() => log?.end());

  const sendSignal = (signal: NodeJS.Signals) => {
    if (exitStatus) return;
    try {
      process.kill(-pid, signal);
    } catch {
      try {
        child.kill(signal);
      } catch {
        // Already gone.
      }
    }
  };

  const handle: SpawnedProcess = {
    name,
    pid,
    child,
    exited,
    hasExited: () => exitStatus !== undefined,
    output: () => captured,
    waitForOutput(pattern, timeoutMs = 30_000) {
      const found = new Promise<RegExpMatchArray>((resolve, reject) => {
        const check = () => {
          const match = captured.match(pattern);
          if (match) {
            outputListeners.delete(check);
            resolve(match);
          } else if (exitStatus) {
            outputListeners.delete(check);
            reject(
              new Error(`${name} exited (${formatExit(exitStatus)}) before printing ${pattern}\n${tail(captured)}`),
            );
          }
        };
        outputListeners.add(check);
        check();
      });
      return withTimeout(found, timeoutMs, `${name} to print ${pattern}`);
    },
    signal: sendSignal,
    async stop(graceMs = 10_000) {
      if (exitStatus) return exitStatus;
      sendSignal('SIGTERM');
      const timer = setTimeout(() => sendSignal('SIGKILL'), graceMs);
      try {
        return await exited;
      } finally {
        clearTimeout(timer);
      }
    },
    async kill() {
      sendSignal('SIGKILL');
      return exited;
    },
  };
  running.add(handle);
  installExitHook();
  listGroupsForWatchdog();
  return handle;
}

export function formatExit(status: ExitStatus): string {
  return status.signal ? `signal ${status.signal}` : `code ${status.code}`;
}

/** The last lines of a process's output, for error messages. */
export function tail(text: string, lines = 40): string {
  return text.split('\n').slice(-lines).join('\n');
}

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const spawned of running) spawned.signal('SIGKILL');
  });
  startWatchdog();
}

/** The file the watchdog reads: the process groups of the children still running, one per line. */
const watchdogFile = join(tmpdir(), `samsa-test-children-${process.pid}`);

function listGroupsForWatchdog(): void {
  try {
    writeFileSync(watchdogFile, [...running].map((p) => `${p.pid}\n`).join(''));
  } catch {
    // Without the list the exit hook still covers an orderly exit.
  }
}

function startWatchdog(): void {
  const script =
    'while kill -0 "$0" 2>/dev/null; do sleep 1; done; ' +
    'if [ -f "$1" ]; then for g in $(cat "$1"); do kill -9 -"$g" 2>/dev/null; done; rm -f "$1"; fi';
  try {
    spawn('sh', ['-c', script, String(process.pid), watchdogFile], { detached: true, stdio: 'ignore' }).unref();
  } catch {
    // No shell: the exit hook alone.
  }
}
