import type { v1 } from '@samsa/protocol';
import type { BrokerContext } from '../context.js';
import { coordinatorNotAvailable } from './group-unavailable.js';

/** ListGroups: the groups this broker coordinates. */
export function handleListGroups(_ctx: BrokerContext, _request: v1.ListGroupsRequest__Output): v1.ListGroupsResponse {
  return { ...coordinatorNotAvailable(), groups: [] };
}
