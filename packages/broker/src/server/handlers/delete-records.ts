import { ErrorCodes, SamsaError, type v1 } from '@samsa/protocol';
import { moveLogStart, partitionKey, saveEpochCache } from '../../replication/index.js';
import type { BrokerContext } from '../context.js';
import { NO_ERROR, toErrorFields } from '../errors.js';
import type { HostedPartition } from '../partitions.js';

/** Kafka's DeleteRecords offset meaning "up to the high watermark". */
export const DELETE_UP_TO_HIGH_WATERMARK = -1;

/**
 * DeleteRecords (Kafka's, KIP-107), for both listeners: per partition, on its leader, move the log
 * start to the offset and answer once the partition's low watermark (the smallest log start among
 * the leader and its in-sync followers, which adopt the leader's at their next fetch) reaches it, as
 * Kafka's DelayedDeleteRecords does; after `timeoutMs`, RequestTimedOut. The records are then gone
 * from every replica that can be elected, so a new leader cannot bring them back.
 */
export async function handleDeleteRecords(
  ctx: BrokerContext,
  request: v1.DeleteRecordsRequest__Output,
  signal: AbortSignal,
): Promise<v1.DeleteRecordsResponse> {
  const topics = await Promise.all(
    request.topics.map(async (topic) => ({
      name: topic.name,
      partitions: await Promise.all(
        topic.partitions.map((p) =>
          deletePartitionRecords(ctx, topic.name, p.partition, p.offset, request.timeoutMs, signal),
        ),
      ),
    })),
  );
  return { topics };
}

export async function deletePartitionRecords(
  ctx: BrokerContext,
  topic: string,
  partition: number,
  offset: number,
  timeoutMs: number,
  signal: AbortSignal,
): Promise<v1.DeleteRecordsPartitionResponse> {
  try {
    const hosted = ctx.partitions.leaderOf(topic, partition, ctx.knowsPartition(topic, partition));
    const target = await moveStart(ctx, hosted, offset);
    const lowWatermark = await waitForLowWatermark(ctx, hosted, target, timeoutMs, signal);
    return { partition, ...NO_ERROR, lowWatermark };
  } catch (err) {
    return { partition, lowWatermark: -1, ...toErrorFields(err, ctx.logger, { topic, partition }) };
  }
}

/** Checks the request against the leader's log and moves its start; returns the offset asked for. */
async function moveStart(ctx: BrokerContext, hosted: HostedPartition, offset: number): Promise<number> {
  const name = `${hosted.topic}-${hosted.partition}`;
  // As Kafka: records of a compacted topic are removed by the cleaner, not cut off by offset.
  const policy = String(hosted.settings['cleanup.policy']);
  if (!policy.split(',').includes('delete'))
    throw new SamsaError(
      ErrorCodes.POLICY_VIOLATION,
      `records of ${name} cannot be deleted: its cleanup.policy is ${policy}`,
    );
  if (!hosted.leaderState)
    throw new SamsaError(ErrorCodes.NOT_LEADER_OR_FOLLOWER, `broker ${ctx.brokerId} does not lead ${name} yet`);
  const highWatermark = hosted.highWatermark;
  const target = offset === DELETE_UP_TO_HIGH_WATERMARK ? highWatermark : offset;
  // Only committed records may go: above the high watermark a record may still be truncated away.
  if (!Number.isSafeInteger(target) || target < 0 || target > highWatermark)
    throw new SamsaError(
      ErrorCodes.OFFSET_OUT_OF_RANGE,
      `cannot delete the records of ${name} below ${offset}: the high watermark is ${highWatermark}`,
    );
  // Also when the start is there already (a retried request): it may not be saved yet (an earlier
  // request's log-start file still being written, or retention's files still being deleted), and the
  // term counts the leader's own start only once saved (afterLogStartMoved tells it).
  const save = (h: HostedPartition): Promise<void> => saveEpochCache(h.log.dir, h.epochCache);
  await moveLogStart(hosted, target, save);
  // Followers parked in a long poll are answered now with the new start (replica-fetch.ts).
  ctx.waiters.notify(partitionKey(hosted.topic, hosted.partition));
  ctx.logger.info(
    { topic: hosted.topic, partition: hosted.partition, logStartOffset: hosted.log.logStartOffset },
    'deleted records (DeleteRecords)',
  );
  return target;
}

/**
 * Resolves with the low watermark once it reaches `offset` (the followers' fetches move it);
 * rejects with NotLeaderOrFollower when the leadership ends meanwhile, RequestTimedOut after
 * `timeoutMs`, NetworkException when the caller went away.
 */
function waitForLowWatermark(
  ctx: BrokerContext,
  hosted: HostedPartition,
  offset: number,
  timeoutMs: number,
  signal: AbortSignal,
): Promise<number> {
  const name = `${hosted.topic}-${hosted.partition}`;
  return new Promise((resolve, reject) => {
    ctx.waiters.park(
      {
        tryComplete: () => {
          const state = hosted.leaderState;
          if (!state || hosted.role !== 'leader') {
            const detail = `leadership of ${name} moved while waiting for the replicas to delete records`;
            reject(new SamsaError(ErrorCodes.NOT_LEADER_OR_FOLLOWER, detail));
            return true;
          }
          if (state.lowWatermark < offset) return false;
          resolve(state.lowWatermark);
          return true;
        },
        onExpire: () =>
          reject(
            new SamsaError(
              ErrorCodes.REQUEST_TIMED_OUT,
              `the in-sync replicas of ${name} did not delete the records below ${offset} within ${timeoutMs} ms`,
            ),
          ),
        onAbort: () => reject(new SamsaError(ErrorCodes.NETWORK_EXCEPTION, 'the client disconnected')),
      },
      [partitionKey(hosted.topic, hosted.partition)],
      Math.max(0, timeoutMs),
      signal,
    );
  });
}
