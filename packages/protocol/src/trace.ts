import { BatchField, forEachBatchAt } from './batch-header.js';

/**
 * The request timeline's trace points (docs/performance-log.md, the thirteenth look): the SDK producer,
 * the leader's Produce and ReplicaFetch handlers, its replication driver and the follower's fetch stream
 * call `trace?.(event, partition, ...)` at each step of a produce request's path. The hook is whatever a
 * preloaded script put at `globalThis[Symbol.for('samsa.trace')]` before this module was loaded
 * (scripts/bench-probe.cjs with SAMSA_BENCH_TRACE=1: it stamps each event with CLOCK_MONOTONIC, which
 * every process on the machine shares, and the thread's CPU and run-queue wait; at most
 * SAMSA_BENCH_TRACE_MAX_EVENTS events a period, the rest dropped and counted). Without one it is
 * undefined, and `trace?.(...)` costs a property load: an optional call evaluates no arguments.
 *
 * Events (partition, then numbers; one topic is assumed, as in the benchmarks):
 *   c.send  (p, records, queueMs)         the producer wrote a request with this partition's batches
 *   c.ack   (p, baseOffset)               the producer has its answer
 *   l.pin   (p, id)                       the leader's Produce handler took the partition's data
 *   l.app   (p, baseOffset, lastOffset)   the leader's append is written
 *   l.hw    (p, highWatermark)            the leader's high watermark moved
 *   l.pout  (p, id, baseOffset)           the Produce handler has its answer (acks=all: the ISR has it)
 *   l.fin   (p, replicaId, fetchOffset)   the leader's ReplicaFetch handler took a follower's fetch
 *   l.fout  (p, replicaId, endOffset)     ... and answers it with records up to endOffset (exclusive)
 *   f.send  (p, fetchOffset)              a follower sent a fetch
 *   f.recv  (p, endOffset)                a follower has the leader's answer
 */
export type TraceHook = (event: string, partition: number, a?: number, b?: number, c?: number) => void;

export const trace: TraceHook | undefined = (globalThis as Record<symbol, unknown>)[Symbol.for('samsa.trace')] as
  | TraceHook
  | undefined;

/** The offset after the last batch of `records` (stamped batches back to back), or `otherwise` if none. */
export function recordsEndOffset(records: Uint8Array, otherwise: number): number {
  const buf = Buffer.from(records.buffer, records.byteOffset, records.byteLength);
  let end = otherwise;
  forEachBatchAt(buf, BatchField.lastOffsetDelta + 4, (pos) => {
    end =
      Number(buf.readBigInt64BE(pos + BatchField.baseOffset)) + buf.readInt32BE(pos + BatchField.lastOffsetDelta) + 1;
    return undefined;
  });
  return end;
}
