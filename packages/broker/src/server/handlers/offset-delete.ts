import type { v1 } from '@samsa/protocol';
import type { BrokerContext } from '../context.js';
import { NO_ERROR, toErrorFields } from '../errors.js';

/** OffsetDelete: removes committed offsets of topics no member of the group is subscribed to. */
export async function handleOffsetDelete(
  ctx: BrokerContext,
  request: v1.OffsetDeleteRequest__Output,
): Promise<v1.OffsetDeleteResponse> {
  try {
    const topics = await ctx.groups.deleteOffsets({
      groupId: request.groupId,
      topics: request.topics.map((t) => ({ name: t.name, partitions: t.partitions })),
    });
    return { ...NO_ERROR, topics };
  } catch (err) {
    const error = toErrorFields(err, ctx.logger, { groupId: request.groupId });
    return {
      ...error,
      topics: request.topics.map((t) => ({
        name: t.name,
        partitions: t.partitions.map((partition) => ({ partition, ...error })),
      })),
    };
  }
}
