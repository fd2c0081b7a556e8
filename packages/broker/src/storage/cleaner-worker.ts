/**
 * The worker thread of WorkerCompute (cleaner-compute.ts): one offset map, and the record work of
 * one cleaner loop, answered message by message.
 */
import { fdatasyncSync, readlinkSync } from 'node:fs';
import { setPriority } from 'node:os';
import { parentPort, workerData } from 'node:worker_threads';
import { InlineCompute, type WorkerReply, type WorkerRequest } from './cleaner-compute.js';
import { OffsetMap } from './cleaner-plan.js';

const { capacityBytes, nice } = workerData as { capacityBytes: number; nice: number };
const compute = new InlineCompute(new OffsetMap(capacityBytes));

/**
 * The cleaner is background work: this thread runs at a lower CPU priority (a higher nice value) than
 * the broker's event loop, so that when they want the same core the appends and fetches win, as
 * RocksDB lowers its compaction threads' priority. On Linux the nice value is per thread
 * (/proc/thread-self names this one); elsewhere the thread keeps the process's priority.
 */
function lowerPriority(): void {
  if (nice <= 0) return;
  try {
    const threadId = Number(readlinkSync('/proc/thread-self').split('/').pop());
    if (Number.isSafeInteger(threadId) && threadId > 0) setPriority(threadId, nice);
  } catch {
    // Not Linux, or not allowed: the cleaner still runs, at the process's priority.
  }
}
lowerPriority();

function handle(request: WorkerRequest): unknown {
  switch (request.op) {
    case 'reset':
      compute.resetSync(request.offset, request.aborted);
      return undefined;
    case 'advance':
      return compute.advanceSync(request.offset);
    case 'size':
      return compute.sizeSync();
    case 'mapRange':
      return compute.mapRangeSync(
        request.fd,
        request.position,
        request.end,
        request.firstDirtyOffset,
        request.maxBytes,
      );
    case 'rewriteRange':
      return compute.rewriteRangeSync(request.fd, request.range, request.rules, request.out);
    case 'syncFile':
      fdatasyncSync(request.fd);
      return undefined;
  }
}

parentPort!.on('message', (request: WorkerRequest) => {
  let reply: WorkerReply;
  try {
    reply = { id: request.id, result: handle(request) };
  } catch (err) {
    reply = { id: request.id, error: err instanceof Error ? err.message : String(err) };
  }
  parentPort!.postMessage(reply);
});
