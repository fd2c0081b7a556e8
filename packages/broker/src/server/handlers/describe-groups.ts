import type { v1 } from '@samsa/protocol';
import type { BrokerContext } from '../context.js';
import { coordinatorNotAvailable } from './group-unavailable.js';

/** DescribeGroups: state, epochs and members of groups this broker coordinates. */
export function handleDescribeGroups(
  _ctx: BrokerContext,
  request: v1.DescribeGroupsRequest__Output,
): v1.DescribeGroupsResponse {
  return { groups: request.groupIds.map((groupId) => ({ groupId, ...coordinatorNotAvailable() })) };
}
