import type { v1 } from '@samsa/protocol';
import type { BrokerContext } from '../context.js';
import { coordinatorNotAvailable } from './group-unavailable.js';

/** FindCoordinator: the broker leading the __consumer_offsets partition of each group id. */
export function handleFindCoordinator(
  _ctx: BrokerContext,
  request: v1.FindCoordinatorRequest__Output,
): v1.FindCoordinatorResponse {
  return {
    coordinators: request.keys.map((key) => ({ key, nodeId: -1, host: '', port: -1, ...coordinatorNotAvailable() })),
  };
}
