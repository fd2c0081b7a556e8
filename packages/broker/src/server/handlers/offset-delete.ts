import type { v1 } from '@samsa/protocol';
import type { BrokerContext } from '../context.js';
import { coordinatorNotAvailable } from './group-unavailable.js';

/** OffsetDelete: removes committed offsets of partitions the group no longer reads. */
export function handleOffsetDelete(
  _ctx: BrokerContext,
  request: v1.OffsetDeleteRequest__Output,
): v1.OffsetDeleteResponse {
  const error = coordinatorNotAvailable();
  return {
    ...error,
    topics: request.topics.map((t) => ({
      name: t.name,
      partitions: t.partitions.map((partition) => ({ partition, ...error })),
    })),
  };
}
