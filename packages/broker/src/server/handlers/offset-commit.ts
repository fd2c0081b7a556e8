import type { v1 } from '@samsa/protocol';
import type { BrokerContext } from '../context.js';
import { NO_ERROR, toErrorFields } from '../errors.js';

/**
 * OffsetCommit: fenced by member id and epoch, only for partitions the member owns (admin commits,
 * epoch -1, only while the group is empty); answered once the commit is replicated. A group-level
 * failure is the top-level error and repeated on every partition.
 */
export async function handleOffsetCommit(
  ctx: BrokerContext,
  request: v1.OffsetCommitRequest__Output,
): Promise<v1.OffsetCommitResponse> {
  try {
    const topics = await ctx.groups.commitOffsets({
      groupId: request.groupId,
      memberId: request.memberId,
      memberEpoch: request.memberEpoch,
      topics: request.topics.map((t) => ({
        name: t.name,
        partitions: t.partitions.map((p) => ({
          partition: p.partition,
          offset: p.committedOffset,
          leaderEpoch: p.committedLeaderEpoch ?? -1,
          metadata: p.committedMetadata,
        })),
      })),
    });
    return { ...NO_ERROR, topics };
  } catch (err) {
    const error = toErrorFields(err, ctx.logger, { groupId: request.groupId, memberId: request.memberId });
    return {
      ...error,
      topics: request.topics.map((t) => ({
        name: t.name,
        partitions: t.partitions.map((p) => ({ partition: p.partition, ...error })),
      })),
    };
  }
}
