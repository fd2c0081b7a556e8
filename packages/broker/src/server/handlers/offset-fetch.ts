import type { v1 } from '@samsa/protocol';
import type { BrokerContext } from '../context.js';
import { NO_ERROR, toErrorFields } from '../errors.js';

/**
 * OffsetFetch: a group's committed offsets (-1 where none); a member's own fetch is fenced like its
 * commits. With require_stable, a partition with transactional offsets pending is UnstableOffsetCommit.
 */
export async function handleOffsetFetch(
  ctx: BrokerContext,
  request: v1.OffsetFetchRequest__Output,
): Promise<v1.OffsetFetchResponse> {
  try {
    const topics = await ctx.groups.fetchOffsets({
      groupId: request.groupId,
      memberId: request.memberId,
      memberEpoch: request.memberEpoch,
      topics: request.topics.map((t) => ({ name: t.name, partitions: t.partitions })),
      requireStable: request.requireStable,
    });
    return {
      ...NO_ERROR,
      topics: topics.map((t) => ({
        name: t.name,
        partitions: t.partitions.map((p) => ({
          partition: p.partition,
          committedOffset: p.offset,
          committedLeaderEpoch: p.leaderEpoch,
          metadata: p.metadata,
          errorCode: p.errorCode,
          errorMessage: p.errorMessage,
        })),
      })),
    };
  } catch (err) {
    return { ...toErrorFields(err, ctx.logger, { groupId: request.groupId }), topics: [] };
  }
}
