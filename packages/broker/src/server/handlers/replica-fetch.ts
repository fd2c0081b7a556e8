import type { v1 } from '@samsa/protocol';
import type { BrokerContext } from '../context.js';
import { toErrorFields } from '../errors.js';
import type { HostedPartition } from '../partitions.js';
import {
  groupByTopic,
  longPollDeadline,
  partitionLimit,
  readPartitions,
  recordBytes,
  waitForPartitions,
} from './long-poll.js';

interface ReplicaRead {
  readonly topic: string;
  readonly partition: number;
  readonly hosted: HostedPartition | undefined;
  readonly fetchOffset: number;
  readonly response: v1.ReplicaFetchPartitionResponse;
}

/**
 * ReplicaFetch, on the leader: checks the follower's epochs (fencing and divergence), counts its
 * position as its acknowledgement (which may advance the high watermark and grow the ISR), and
 * returns stored batches from that position up to the log end, exactly as stored. Long polls while
 * there is nothing new.
 */
export async function handleReplicaFetch(
  ctx: BrokerContext,
  request: v1.ReplicaFetchRequest__Output,
  signal: AbortSignal,
): Promise<v1.ReplicaFetchResponse> {
  const deadline = longPollDeadline(request.maxWaitMs);
  const maxBytes = request.maxBytes > 0 ? request.maxBytes : 10 * 1024 * 1024;
  for (;;) {
    const reads = await readPartitions(request.topics, maxBytes, (topic, p, budget, first) =>
      readOne(ctx, request.replicaId, topic, p, budget, first),
    );
    const bytes = recordBytes(reads);
    const answered = reads.some((r) => r.response.errorCode !== 0 || r.response.divergingEpoch);
    const remainingMs = deadline - Date.now();
    if (bytes >= Math.max(request.minBytes, 1) || answered || remainingMs <= 0 || signal.aborted)
      return { topics: groupByTopic(reads) };
    await waitForData(ctx, reads, remainingMs, signal);
  }
}

async function readOne(
  ctx: BrokerContext,
  replicaId: number,
  topic: string,
  p: v1.ReplicaFetchPartition__Output,
  budget: number,
  first: boolean,
): Promise<ReplicaRead> {
  const base = { partition: p.partition, highWatermark: -1, logStartOffset: -1, records: Buffer.alloc(0) };
  const read = (hosted: HostedPartition | undefined, response: v1.ReplicaFetchPartitionResponse): ReplicaRead => ({
    topic,
    partition: p.partition,
    hosted,
    fetchOffset: p.fetchOffset,
    response,
  });
  let hosted: HostedPartition | undefined;
  try {
    hosted = ctx.partitions.leaderOf(topic, p.partition, ctx.knowsPartition(topic, p.partition));
    const limit = partitionLimit(p.partitionMaxBytes, budget);
    return read(hosted, await ctx.replication.leaders.answerFetch(hosted, replicaId, p, limit, first));
  } catch (err) {
    return read(hosted, {
      ...base,
      ...(hosted ? { logStartOffset: hosted.log.logStartOffset } : {}),
      ...toErrorFields(err, ctx.logger, { topic, partition: p.partition, replicaId }),
    });
  }
}

/** Parks until a partition's log grows past the follower's position or changes hands. */
function waitForData(
  ctx: BrokerContext,
  reads: readonly ReplicaRead[],
  timeoutMs: number,
  signal: AbortSignal,
): Promise<void> {
  const changed = (): boolean =>
    reads.some((r) => {
      const now = ctx.partitions.get(r.topic, r.partition);
      return (
        now !== r.hosted || now === undefined || now.leaderState === undefined || now.log.logEndOffset > r.fetchOffset
      );
    });
  return waitForPartitions(ctx, reads, changed, timeoutMs, signal);
}

/** AlterPartition, on the controller: a leader's ISR proposal, fenced by leader epoch and state version. */
export async function handleAlterPartition(
  ctx: BrokerContext,
  request: v1.AlterPartitionRequest__Output,
): Promise<v1.AlterPartitionResponse> {
  const result = await ctx.member.alterIsr({
    topic: request.topic,
    partition: request.partition,
    leaderId: request.brokerId,
    leaderEpoch: request.leaderEpoch,
    stateZkVersion: request.partitionZkVersion,
    newIsr: request.newIsr,
  });
  return { errorCode: result.errorCode, errorMessage: result.errorMessage };
}
