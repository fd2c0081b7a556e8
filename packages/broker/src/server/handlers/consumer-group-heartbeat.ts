import type { v1 } from '@samsa/protocol';
import type { BrokerContext } from '../context.js';
import { coordinatorNotAvailable } from './group-unavailable.js';

/** ConsumerGroupHeartbeat: join, stay, leave; answers the member's epoch and assignment. */
export function handleConsumerGroupHeartbeat(
  _ctx: BrokerContext,
  request: v1.ConsumerGroupHeartbeatRequest__Output,
): v1.ConsumerGroupHeartbeatResponse {
  return {
    ...coordinatorNotAvailable(),
    memberId: request.memberId,
    memberEpoch: request.memberEpoch,
    heartbeatIntervalMs: 0,
  };
}
