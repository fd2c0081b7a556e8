// The processes a benchmark script starts, in one place, so that every script starts, stops and cleans
// up after its Samsa cluster the same way:
//   startCluster({ brokers: 3, overrides: { 'log.cleaner.backoff.ms': '100' } }) starts a coordinator
//     and brokers 1..N (each `samsa broker start` on a free 127.0.0.1 port, one after the other, each
//     waited for until it listens), with their data in a new temp dir; `await cluster.stop()` stops the
//     brokers (SIGTERM, in order, then the coordinator; SIGKILL for one that has not exited 10 s later)
//     and removes the temp dir. Options: `build` (a built checkout whose packages/cli/dist/main.js runs
//     every process; default this one), `dir` (put the data there and keep it), `name` (in the temp
//     dir's name), `overrides` (broker settings by Kafka name, `--override k=v`), `logLevel` (the
//     brokers' --log-level), `env` (added to every process's environment), `brokerEnv` (the brokers'
//     only; its NODE_OPTIONS is appended to theirs), `nodeOptions` (appended to every process's
//     NODE_OPTIONS), `brokerStdout(child, id)` (the
//     broker's stdout becomes a pipe handed to it at spawn: it must read it, a full pipe stalls the
//     broker; otherwise every process's output is ignored). Each process has SAMSA_BENCH_ROLE set to
//     `coordinator` or `broker-<id>` (bench-probe.cjs names its trace files by it).
//   killOnExit(child) for any other process the script starts (a `samsa bench` run, a worker), and
//   tempDir(prefix) for a temp dir of its own: both are cleaned up when the script exits.
// No process outlives the script: on its exit (normal, process.exit, an uncaught error, or SIGINT,
// SIGTERM, SIGHUP, which now exit with 128 + the signal's number) every process started here that is
// still running is SIGKILLed and the temp dirs are removed; and each coordinator and broker gets an IPC
// channel, which `samsa broker|coordinator start` treat as a supervisor (packages/cli's servers.ts): when
// the channel closes, even because the script was SIGKILLed, the process stops as on SIGTERM.
// freePort and waitForPort are the pieces underneath, for scripts that start other servers; cpuMs
// reads how much CPU started processes used.
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { constants, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const THIS_BUILD = fileURLToPath(new URL('..', import.meta.url));
/** How long a stopping process may take after SIGTERM before it is SIGKILLed. */
const STOP_TIMEOUT_MS = 10_000;

/** Ports freePort has handed out in this process. */
const handedOut = new Set();

/** A port free on 127.0.0.1 now (the OS picks it; a process started next binds it), never one handed out before. */
export async function freePort() {
  // The OS gives a just-released port to a later bind on port 0 now and then: never hand one out twice.
  for (;;) {
    const port = await new Promise((resolve) => {
      const server = createServer().listen(0, '127.0.0.1', () => {
        const { port } = server.address();
        server.close(() => resolve(port));
      });
    });
    if (handedOut.has(port)) continue;
    handedOut.add(port);
    return port;
  }
}

/** Resolves once 127.0.0.1:`port` accepts a connection; throws if `child` exits or after 30 s. */
export async function waitForPort(port, child, name = child.spawnargs.join(' ')) {
  for (let i = 0; i < 300; i++) {
    if (exited(child)) throw new Error(`${name} exited with ${child.exitCode ?? child.signalCode}`);
    const ok = await new Promise((resolve) => {
      const socket = connect(port, '127.0.0.1', () => {
        socket.destroy();
        resolve(true);
      });
      socket.on('error', () => resolve(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${name} did not listen on ${port}`);
}

/** CPU time (user + system, ms) the processes used so far, from /proc/PID/stat (clock ticks of 10 ms). */
export function cpuMs(processes) {
  let ticks = 0;
  for (const child of processes) {
    // A process that exited mid-run makes the run's figures meaningless: say which, not ENOENT.
    if (exited(child))
      throw new Error(`process ${child.pid} exited during the run (${child.signalCode ?? child.exitCode})`);
    const fields = readFileSync(`/proc/${child.pid}/stat`, 'utf8').split(') ')[1].split(' ');
    ticks += Number(fields[11]) + Number(fields[12]);
  }
  return ticks * 10;
}

const exited = (child) => child.exitCode !== null || child.signalCode !== null;

// What the exit handler cleans up: the processes still running, the temp dirs not yet removed.
const live = new Set();
const dirs = new Set();
let exitHandlerInstalled = false;

function installExitHandler() {
  if (exitHandlerInstalled) return;
  exitHandlerInstalled = true;
  process.on('exit', () => {
    for (const child of live) if (!exited(child)) child.kill('SIGKILL');
    for (const dir of dirs) removeDir(dir);
  });
  // Without a handler these signals end the process without the 'exit' event, leaving the rest behind.
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'])
    process.on(signal, () => process.exit(128 + constants.signals[signal]));
}

/** Kills `child` (SIGKILL) if it still runs when this process exits; returns it. */
export function killOnExit(child) {
  installExitHandler();
  live.add(child);
  child.once('exit', () => live.delete(child));
  return child;
}

/** A new temp dir, removed when this process exits (or by removeTempDir). */
export function tempDir(prefix) {
  installExitHandler();
  const dir = mkdtempSync(join(tmpdir(), prefix));
  dirs.add(dir);
  return dir;
}

function removeTempDir(dir) {
  if (dirs.delete(dir)) removeDir(dir);
}

/** Removes `dir`, retrying while a process just killed may still add to it; never throws (an exit handler calls it). */
function removeDir(dir) {
  try {
    rmSync(dir, { recursive: true, force: true, maxRetries: 5, retryDelay: 100 });
  } catch (err) {
    console.error(`bench: could not remove ${dir}: ${err.message}`);
  }
}

/** SIGTERM, and SIGKILL if `child` has not exited `timeoutMs` later; resolves once it has exited. */
export async function stopProcess(child, timeoutMs = STOP_TIMEOUT_MS) {
  if (exited(child)) return;
  const done = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  await done;
  clearTimeout(timer);
}

/**
 * Starts a coordinator and `brokers` brokers (see the header for the options). Resolves with
 * { coordinator, brokers, addresses, bootstrap, dir, stop }: coordinator and each broker are
 * { child, port, address, dataDir } (brokers also `id`), addresses the brokers' host:port in id order,
 * bootstrap those joined by commas. If a process fails to start, those started are stopped and the
 * error is thrown.
 */
export async function startCluster(options = {}) {
  const { brokers: count = 3, build = THIS_BUILD, name = 'cluster', overrides = {}, logLevel } = options;
  const cli = join(build, 'packages/cli/dist/main.js');
  const dir = options.dir ?? tempDir(`samsa-bench-${name}-`);
  mkdirSync(dir, { recursive: true });
  const baseEnv = { ...process.env, ...options.env };
  if (options.nodeOptions) baseEnv.NODE_OPTIONS = [baseEnv.NODE_OPTIONS, options.nodeOptions].filter(Boolean).join(' ');
  const started = [];
  const start = async (role, args, port, env, stdout) => {
    // The IPC channel: the process stops when it closes, so none outlives this one however it dies.
    const child = spawn(process.execPath, [cli, ...args], {
      stdio: ['ignore', stdout ? 'pipe' : 'ignore', 'ignore', 'ipc'],
      env: { ...env, SAMSA_BENCH_ROLE: role },
    });
    killOnExit(child);
    // The channel alone must not keep this process alive.
    child.channel?.unref();
    started.push(child);
    stdout?.(child);
    await waitForPort(port, child, `${name}: ${role}`);
    return { child, port, address: `127.0.0.1:${port}` };
  };
  const stop = async () => {
    for (const child of started.slice(1)) await stopProcess(child);
    if (started.length > 0) await stopProcess(started[0]);
    if (options.dir === undefined) removeTempDir(dir);
  };
  try {
    const coordinatorPort = await freePort();
    const coordinatorDir = join(dir, 'c');
    const coordinatorArgs = ['coordinator', 'start', '--port', String(coordinatorPort), '--data-dir', coordinatorDir];
    const coordinator = {
      ...(await start('coordinator', coordinatorArgs, coordinatorPort, baseEnv)),
      dataDir: coordinatorDir,
    };
    const brokerEnv = { ...baseEnv, ...options.brokerEnv };
    // NODE_OPTIONS of the brokers' own add to everyone's (a probe's preload, say) instead of replacing
    // them: a broker that lost bench-probe.cjs's SIGUSR2 handler was killed by the first period signal.
    if (options.brokerEnv?.NODE_OPTIONS && baseEnv.NODE_OPTIONS)
      brokerEnv.NODE_OPTIONS = `${baseEnv.NODE_OPTIONS} ${options.brokerEnv.NODE_OPTIONS}`;
    const settings = Object.entries(overrides).flatMap(([key, value]) => ['--override', `${key}=${value}`]);
    const brokers = [];
    for (let id = 1; id <= count; id++) {
      const port = await freePort();
      const dataDir = join(dir, `b${id}`);
      const args = ['broker', 'start', '--id', String(id), '--listen', `127.0.0.1:${port}`];
      args.push('--coordinator', coordinator.address, '--data-dir', dataDir, ...settings);
      if (logLevel !== undefined) args.push('--log-level', logLevel);
      const stdout = options.brokerStdout && ((child) => options.brokerStdout(child, id));
      brokers.push({ id, dataDir, ...(await start(`broker-${id}`, args, port, brokerEnv, stdout)) });
    }
    const addresses = brokers.map((b) => b.address);
    return { coordinator, brokers, addresses, bootstrap: addresses.join(','), dir, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}
