import type { v1 } from '@samsa/protocol';
import type { BrokerContext } from '../context.js';
import { type ErrorFields, NO_ERROR, toErrorFields } from '../errors.js';
import { awaitLeadership } from '../leadership.js';
import { checkLeaderEpoch } from './fetch.js';

/**
 * OffsetForLeaderEpoch for consumers (KIP-320): where the asked epoch's records end in this leader's log,
 * from its epoch cache (the lookup followers' truncation and the Kafka listener use). A consumer asks it
 * after a leader change with the epoch of the record before its position: a position past that end was
 * truncated away. The caller's current leader epoch is checked as Fetch checks it, and a partition whose
 * term is about to start here is waited for, as every leader API waits (awaitLeadership): until its term
 * starts, the cache may not have the new epoch yet.
 */
export async function handleOffsetForLeaderEpoch(
  ctx: BrokerContext,
  request: v1.OffsetForLeaderEpochRequest__Output,
  signal: AbortSignal,
): Promise<v1.OffsetForLeaderEpochResponse> {
  const named = request.topics.flatMap((t) => t.partitions.map((p) => ({ topic: t.name, partition: p.partition })));
  await awaitLeadership(ctx, named, signal);
  return {
    topics: request.topics.map((t) => ({
      name: t.name,
      partitions: t.partitions.map((p) => endOffsetOf(ctx, t.name, p)),
    })),
  };
}

function endOffsetOf(
  ctx: BrokerContext,
  topic: string,
  p: v1.OffsetForLeaderEpochPartition__Output,
): v1.OffsetForLeaderEpochPartitionResponse {
  return {
    partition: p.partition,
    ...epochEndOffset(ctx, topic, p.partition, p.currentLeaderEpoch ?? -1, p.leaderEpoch),
  };
}

/**
 * One partition's OffsetForLeaderEpoch answer, for both listeners: the end of `leaderEpoch` (the largest epoch
 * at or below it, and where the next one starts) in this leader's log, once the caller's current leader epoch
 * passed Fetch's check; an error's fields with -1 and -1 otherwise.
 */
export function epochEndOffset(
  ctx: BrokerContext,
  topic: string,
  partition: number,
  currentLeaderEpoch: number,
  leaderEpoch: number,
): ErrorFields & { leaderEpoch: number; endOffset: number } {
  try {
    const hosted = ctx.partitions.leaderOf(topic, partition, ctx.knowsPartition(topic, partition));
    checkLeaderEpoch(hosted, currentLeaderEpoch);
    const end = hosted.epochCache.endOffsetFor(leaderEpoch, hosted.log.logEndOffset);
    return { ...NO_ERROR, leaderEpoch: end.epoch, endOffset: end.endOffset };
  } catch (err) {
    return { ...toErrorFields(err, ctx.logger, { topic, partition }), leaderEpoch: -1, endOffset: -1 };
  }
}
