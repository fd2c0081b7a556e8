import type { v1 } from '@samsa/protocol';
import type { BrokerContext } from '../context.js';
import { coordinatorNotAvailable } from './group-unavailable.js';

/** OffsetCommit: fenced by member epoch, answered once replicated. */
export function handleOffsetCommit(
  _ctx: BrokerContext,
  request: v1.OffsetCommitRequest__Output,
): v1.OffsetCommitResponse {
  const error = coordinatorNotAvailable();
  return {
    ...error,
    topics: request.topics.map((t) => ({
      name: t.name,
      partitions: t.partitions.map((p) => ({ partition: p.partition, ...error })),
    })),
  };
}
