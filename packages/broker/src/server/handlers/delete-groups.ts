import type { v1 } from '@samsa/protocol';
import type { BrokerContext } from '../context.js';
import { coordinatorNotAvailable } from './group-unavailable.js';

/** DeleteGroups: removes empty groups and their offsets. */
export function handleDeleteGroups(
  _ctx: BrokerContext,
  request: v1.DeleteGroupsRequest__Output,
): v1.DeleteGroupsResponse {
  return { results: request.groupIds.map((groupId) => ({ groupId, ...coordinatorNotAvailable() })) };
}
