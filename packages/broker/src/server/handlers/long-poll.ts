import type { BrokerContext } from '../context.js';
import { partitionKey } from '../../replication/index.js';

/** The shape Fetch and ReplicaFetch share: per-partition reads, a byte budget, a long poll. */
export interface PartitionReadResult<R extends { records?: unknown }> {
  readonly topic: string;
  readonly partition: number;
  readonly response: R;
}

/** A long poll never parks longer than this, whatever max_wait_ms asks for. */
const MAX_WAIT_CEILING_MS = 30_000;

export function longPollDeadline(maxWaitMs: number): number {
  return Date.now() + Math.min(Math.max(maxWaitMs, 0), MAX_WAIT_CEILING_MS);
}

export function recordBytes(reads: readonly PartitionReadResult<{ records?: unknown }>[]): number {
  return reads.reduce((sum, r) => sum + (r.response.records as Buffer).length, 0);
}

/** The bytes one partition may return: its own limit (when given) within what is left of the request's. */
export function partitionLimit(partitionMaxBytes: number, budget: number): number {
  return Math.max(0, Math.min(partitionMaxBytes > 0 ? partitionMaxBytes : budget, budget));
}

/**
 * Reads the request's partitions in order within `maxBytes`. `first` tells a partition that nothing
 * was read before it: the first non-empty partition may exceed the budget, so a reader always progresses.
 */
export async function readPartitions<P, T extends PartitionReadResult<{ records?: unknown }>>(
  topics: readonly { name: string; partitions: readonly P[] }[],
  maxBytes: number,
  readOne: (topic: string, p: P, budget: number, first: boolean) => Promise<T>,
): Promise<T[]> {
  const reads: T[] = [];
  let budget = maxBytes;
  for (const topic of topics) {
    for (const p of topic.partitions) {
      const read = await readOne(topic.name, p, budget, budget === maxBytes);
      budget -= (read.response.records as Buffer).length;
      reads.push(read);
    }
  }
  return reads;
}

/** Parks until `changed` says so after a change on one of the partitions, the time is up, or the caller leaves. */
export function waitForPartitions(
  ctx: BrokerContext,
  reads: readonly PartitionReadResult<object>[],
  changed: () => boolean,
  timeoutMs: number,
  signal: AbortSignal,
): Promise<void> {
  return new Promise((resolve) => {
    const keys = reads.map((r) => partitionKey(r.topic, r.partition));
    ctx.waiters.park(
      {
        tryComplete: () => {
          if (!changed()) return false;
          resolve();
          return true;
        },
        onExpire: resolve,
        onAbort: resolve,
      },
      keys,
      timeoutMs,
      signal,
    );
  });
}

/** Per-partition responses grouped by topic, in request order. */
export function groupByTopic<R>(
  reads: readonly PartitionReadResult<R & { records?: unknown }>[],
): { name: string; partitions: R[] }[] {
  // A follower's fetch names one partition of one topic (a leader of several partitions of a topic,
  // still one topic): no Map for that.
  const first = reads[0];
  if (first !== undefined && reads.every((r) => r.topic === first.topic))
    return [{ name: first.topic, partitions: reads.map((r) => r.response) }];
  const topics = new Map<string, R[]>();
  for (const read of reads) {
    const list = topics.get(read.topic);
    if (list) list.push(read.response);
    else topics.set(read.topic, [read.response]);
  }
  return [...topics].map(([name, partitions]) => ({ name, partitions }));
}
