import type { v1 } from '@samsa/protocol';
import type { BrokerContext } from '../context.js';
import { NO_ERROR } from '../errors.js';

/** ListGroups: the groups this broker coordinates now (a client asks every broker and merges). */
export function handleListGroups(ctx: BrokerContext, request: v1.ListGroupsRequest__Output): v1.ListGroupsResponse {
  const states = new Set(request.statesFilter.map((s) => s.toLowerCase()));
  const groups = ctx.groups
    .listGroups()
    .filter((g) => states.size === 0 || states.has(g.state.toLowerCase()))
    .map((g) => ({ groupId: g.groupId, groupState: g.state, groupType: 'consumer' }));
  return { ...NO_ERROR, groups };
}
