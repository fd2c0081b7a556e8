/**
 * The worker thread of WorkerCompute (cleaner-compute.ts): one offset map, and the record work of
 * one cleaner loop, answered message by message.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { InlineCompute, type WorkerReply, type WorkerRequest } from './cleaner-compute.js';
import { OffsetMap } from './cleaner-plan.js';

const compute = new InlineCompute(new OffsetMap((workerData as { capacityBytes: number }).capacityBytes));
const asBuffer = (bytes: Uint8Array): Buffer => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);

function handle(request: WorkerRequest): unknown {
  switch (request.op) {
    case 'reset':
      compute.resetSync(request.offset, request.aborted);
      return undefined;
    case 'map':
      return compute.mapSync(asBuffer(request.batches), request.firstDirtyOffset);
    case 'advance':
      return compute.advanceSync(request.offset);
    case 'rewrite':
      return compute.rewriteSync(asBuffer(request.batches), request.rules);
    case 'size':
      return compute.sizeSync();
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
