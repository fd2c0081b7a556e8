import type { v1 } from '@samsa/protocol';
import type { BrokerContext } from '../context.js';
import { toErrorFields } from '../errors.js';

/** DeleteGroups: removes empty groups and their committed offsets (NonEmptyGroup while members remain). */
export async function handleDeleteGroups(
  ctx: BrokerContext,
  request: v1.DeleteGroupsRequest__Output,
): Promise<v1.DeleteGroupsResponse> {
  const results = await Promise.all(
    request.groupIds.map(async (groupId) => {
      try {
        return { groupId, ...(await ctx.groups.deleteGroup(groupId)) };
      } catch (err) {
        return { groupId, ...toErrorFields(err, ctx.logger, { groupId }) };
      }
    }),
  );
  return { results };
}
