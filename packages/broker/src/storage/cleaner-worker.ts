/**
 * The worker thread of WorkerCompute (cleaner-compute.ts): one offset map, and the record work of
 * one cleaner loop, answered message by message. It lowers its own CPU priority before it loads
 * anything else (the protocol package takes a few hundred ms of CPU to load).
 */
import { execFileSync } from 'node:child_process';
import { readlinkSync } from 'node:fs';
import { setPriority } from 'node:os';
import { parentPort, workerData } from 'node:worker_threads';
import type { WorkerRequest } from './cleaner-compute.js';

const { capacityBytes, priority } = workerData as { capacityBytes: number; priority: number | 'idle' };

/**
 * The cleaner is background work: this thread runs at a lower CPU priority than the broker's event
 * loop and its I/O threads, so that when they want the same core they win, as RocksDB lowers its
 * compaction threads' priority. On Linux the priority is per thread (/proc/thread-self names this
 * one). 'idle' is nice 19 and then SCHED_IDLE (set with util-linux's chrt, as Node has no call for
 * it): a nice-19 thread that holds a core keeps it for the rest of its time slice when a broker
 * thread wakes up (a millisecond or more on a 2-core machine), a SCHED_IDLE one gives it up at once.
 * Elsewhere, or where chrt is missing, the thread keeps what it could get.
 */
function lowerPriority(): void {
  if (priority === 0) return;
  let threadId: number;
  try {
    threadId = Number(readlinkSync('/proc/thread-self').split('/').pop());
    if (!Number.isSafeInteger(threadId) || threadId <= 0) return;
    setPriority(threadId, priority === 'idle' ? 19 : priority);
  } catch {
    return; // Not Linux, or not allowed: the cleaner still runs, at the process's priority.
  }
  if (priority !== 'idle') return;
  try {
    execFileSync('chrt', ['--idle', '--pid', '0', String(threadId)], { stdio: 'ignore', timeout: 5000 });
  } catch {
    // No chrt: nice 19 it is.
  }
}
lowerPriority();

const { InlineCompute, answerRequest } = await import('./cleaner-compute.js');
const { OffsetMap } = await import('./cleaner-plan.js');
const compute = new InlineCompute(new OffsetMap(capacityBytes));

// The worker shares the broker's descriptors.
parentPort!.on('message', (request: WorkerRequest) =>
  parentPort!.postMessage(answerRequest(compute, request, (fd) => fd)),
);
