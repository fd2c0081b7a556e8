import type { v1 } from '@samsa/protocol';
import { EARLIEST_TIMESTAMP, LATEST_TIMESTAMP } from '../../storage/index.js';
import type { BrokerContext } from '../context.js';
import { NO_ERROR, toErrorFields } from '../errors.js';
import { checkLeaderEpoch } from './fetch.js';

/** ListOffsetsRequest.isolation_level, as FetchRequest's: 1 is read_committed, anything else (0, absent) not. */
const READ_COMMITTED = 1;

/**
 * ListOffsets for consumers: earliest is the log start offset, latest the high watermark (what a
 * consumer can read up to; for a read_committed request the last stable offset), otherwise the first
 * offset it can read whose timestamp is at or after the one asked for, or -1 when there is none. A
 * partition naming a leader epoch other than this leader's is refused as Fetch refuses it (KIP-320).
 */
export function handleListOffsets(
  ctx: BrokerContext,
  request: v1.ListOffsetsRequest__Output,
): Promise<v1.ListOffsetsResponse> {
  return listOffsetsAt(ctx, request, request.isolationLevel === READ_COMMITTED ? 'read_committed' : 'read_uncommitted');
}

/**
 * ListOffsets at an isolation level (the gRPC request's, or the Kafka listener's v2+): read_committed
 * reads up to the last stable offset instead of the high watermark, so a consumer reset to "latest" while
 * a transaction is open does not start past that transaction's records.
 */
export async function listOffsetsAt(
  ctx: BrokerContext,
  request: Pick<v1.ListOffsetsRequest__Output, 'topics'>,
  isolation: 'read_uncommitted' | 'read_committed',
): Promise<v1.ListOffsetsResponse> {
  const readCommitted = isolation === 'read_committed';
  const topics = await Promise.all(
    request.topics.map(async (topic) => ({
      name: topic.name,
      partitions: await Promise.all(
        topic.partitions.map(async (p) => {
          try {
            const hosted = ctx.partitions.leaderOf(
              topic.name,
              p.partition,
              ctx.knowsPartition(topic.name, p.partition),
            );
            // Kafka's ListOffsets v4+: a stale client is told so (an absent epoch, from older clients, is not checked).
            checkLeaderEpoch(hosted, p.currentLeaderEpoch ?? -1);
            const ok = { partition: p.partition, ...NO_ERROR, timestamp: -1 };
            const readable = () =>
              readCommitted ? hosted.log.lastStableOffset(hosted.highWatermark) : hosted.highWatermark;
            if (p.timestamp === EARLIEST_TIMESTAMP) return { ...ok, offset: hosted.log.logStartOffset };
            if (p.timestamp === LATEST_TIMESTAMP) return { ...ok, offset: readable(), leaderEpoch: hosted.leaderEpoch };
            const found = await hosted.log.offsetForTimestamp(p.timestamp);
            if (!found || found.offset >= readable()) return { ...ok, offset: -1 };
            return { ...ok, offset: found.offset, timestamp: found.timestamp };
          } catch (err) {
            return {
              partition: p.partition,
              offset: -1,
              timestamp: -1,
              ...toErrorFields(err, ctx.logger, { topic: topic.name, partition: p.partition }),
            };
          }
        }),
      ),
    })),
  );
  return { topics };
}
