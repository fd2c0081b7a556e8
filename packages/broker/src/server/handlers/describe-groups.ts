import { ErrorCodes, type v1 } from '@samsa/protocol';
import type { BrokerContext } from '../context.js';
import { errorFields, NO_ERROR, toErrorFields } from '../errors.js';
import { toTopicPartitions } from './group-fields.js';

/** DescribeGroups: state, epochs and members of groups this broker coordinates. */
export async function handleDescribeGroups(
  ctx: BrokerContext,
  request: v1.DescribeGroupsRequest__Output,
): Promise<v1.DescribeGroupsResponse> {
  const groups = await Promise.all(
    request.groupIds.map(async (groupId): Promise<v1.DescribedGroup> => {
      try {
        const group = await ctx.groups.describeGroup(groupId);
        if (!group)
          return { groupId, ...errorFields(ErrorCodes.GROUP_ID_NOT_FOUND, `group ${groupId} does not exist`) };
        return {
          groupId,
          ...NO_ERROR,
          groupState: group.state,
          groupEpoch: group.epoch,
          assignmentEpoch: group.epoch,
          assignorName: group.assignor,
          members: group.members.map((m) => ({
            memberId: m.memberId,
            instanceId: m.member.instanceId ?? '',
            rackId: m.member.rackId ?? '',
            memberEpoch: m.current.memberEpoch,
            clientId: m.member.clientId,
            clientHost: m.member.clientHost,
            subscribedTopicNames: [...m.member.subscribedTopicNames],
            subscribedTopicRegex: m.member.subscribedTopicRegex ?? '',
            assignment: toTopicPartitions(m.current.assigned),
            pendingRevocation: toTopicPartitions(m.current.pendingRevocation),
            targetAssignment: toTopicPartitions(m.target),
            memberState: m.current.state,
          })),
        };
      } catch (err) {
        return { groupId, ...toErrorFields(err, ctx.logger, { groupId }) };
      }
    }),
  );
  return { groups };
}
