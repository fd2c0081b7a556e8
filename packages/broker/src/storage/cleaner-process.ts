/**
 * The child process of WorkerCompute's 'process' mode (cleaner-compute.ts): the same requests as the
 * worker thread (cleaner-worker.ts), answered over the IPC channel, in a session of its own. With
 * sched autogroup on, the kernel shares the CPU between sessions' groups first and between the
 * threads of a group after; a worker thread's CPU is charged to the broker's group whatever its own
 * priority. A process that called setsid (forked detached) is its own group, and this one lowers its
 * group to nice 19 (sched(7), "autogroup") and its threads to SCHED_IDLE before it loads anything.
 *
 * The file descriptors in the requests are the broker's: this process reopens each through
 * /proc/<broker>/fd for the one request (the broker keeps it open until the answer). It exits when
 * its channel closes, so a broker that exits, even by SIGKILL, does not leave it running.
 */
import { execFileSync } from 'node:child_process';
import { closeSync, openSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { setPriority } from 'node:os';
import type { CleanerProcessHello, CleanerProcessOptions, WorkerReply, WorkerRequest } from './cleaner-compute.js';

const options = JSON.parse(process.argv[2] ?? '{}') as CleanerProcessOptions;
process.on('disconnect', () => process.exit(0));

/** This process's session id (field 6 of /proc/self/stat, after the command name in parentheses). */
function sessionId(): number {
  const stat = readFileSync('/proc/self/stat', 'latin1');
  return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[3]);
}

/** Lowers this session's autogroup; only when this process leads its session, never the broker's group. */
function lowerAutogroup(): CleanerProcessHello {
  const nice = options.priority === 'idle' ? 19 : options.priority;
  try {
    if (sessionId() !== process.pid) return { hello: true, error: 'the cleaner process leads no session of its own' };
    writeFileSync(options.autogroupPath, String(nice));
    return { hello: true, autogroupNice: nice };
  } catch (err) {
    return { hello: true, error: `${options.autogroupPath}: ${err instanceof Error ? err.message : String(err)}` };
  }
}

/** Every thread (V8's and libuv's included: the ones created later inherit it) to the priority asked. */
function lowerThreads(): void {
  const nice = options.priority === 'idle' ? 19 : options.priority;
  try {
    for (const tid of readdirSync('/proc/self/task')) setPriority(Number(tid), nice);
  } catch {
    // A thread that ended meanwhile, or not allowed: SCHED_IDLE below still applies.
  }
  if (options.priority !== 'idle') return;
  try {
    execFileSync('chrt', ['--all-tasks', '--idle', '--pid', '0', String(process.pid)], {
      stdio: 'ignore',
      timeout: 5000,
    });
  } catch {
    // No chrt: nice 19 in a nice-19 group it is.
  }
}

const hello = lowerAutogroup();
if (hello.error !== undefined) {
  process.send!(hello);
} else {
  lowerThreads();
  const { InlineCompute, answerRequest } = await import('./cleaner-compute.js');
  const { OffsetMap } = await import('./cleaner-plan.js');
  const compute = new InlineCompute(new OffsetMap(options.capacityBytes));
  const opened: number[] = [];
  /** The broker's descriptor `fd`, reopened here until the request is answered. */
  const reopen = (fd: number, flags: 'r' | 'r+'): number => {
    const own = openSync(`/proc/${options.brokerPid}/fd/${fd}`, flags);
    opened.push(own);
    return own;
  };

  process.on('message', (request: WorkerRequest) => {
    let reply: WorkerReply;
    try {
      reply = answerRequest(compute, request, reopen);
    } finally {
      for (const fd of opened.splice(0)) closeSync(fd);
    }
    process.send!(reply);
  });
  process.send!(hello);
}
