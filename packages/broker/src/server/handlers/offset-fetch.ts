import type { v1 } from '@samsa/protocol';
import type { BrokerContext } from '../context.js';
import { coordinatorNotAvailable } from './group-unavailable.js';

/** OffsetFetch: a group's committed offsets. */
export function handleOffsetFetch(
  _ctx: BrokerContext,
  _request: v1.OffsetFetchRequest__Output,
): v1.OffsetFetchResponse {
  return { ...coordinatorNotAvailable(), topics: [] };
}
