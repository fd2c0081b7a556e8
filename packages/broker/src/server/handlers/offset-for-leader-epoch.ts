import type { v1 } from '@samsa/protocol';
import type { BrokerContext } from '../context.js';
import { NO_ERROR, toErrorFields } from '../errors.js';
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
  try {
    const hosted = ctx.partitions.leaderOf(topic, p.partition, ctx.knowsPartition(topic, p.partition));
    checkLeaderEpoch(hosted, p.currentLeaderEpoch ?? -1);
    const end = hosted.epochCache.endOffsetFor(p.leaderEpoch, hosted.log.logEndOffset);
    return { partition: p.partition, ...NO_ERROR, leaderEpoch: end.epoch, endOffset: end.endOffset };
  } catch (err) {
    const fields = toErrorFields(err, ctx.logger, { topic, partition: p.partition });
    return { partition: p.partition, ...fields, leaderEpoch: -1, endOffset: -1 };
  }
}
