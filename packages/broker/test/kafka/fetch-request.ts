import type { kafka } from '@samsa/protocol/kafka';

/** A consumer's fetch of partition 0 at `fetchOffset`: no leader epoch, no log start, 1 MiB. */
export function fetchPartition(fetchOffset: number): kafka.FetchRequestPartition {
  return {
    partition: 0,
    currentLeaderEpoch: -1,
    fetchOffset,
    lastFetchedEpoch: -1,
    logStartOffset: -1,
    partitionMaxBytes: 1 << 20,
  };
}

/**
 * A consumer's full Fetch (no session) of topic t's partition 0 at `fetchOffset`, answered at once (max wait
 * and min bytes 0); `overrides` changes any field (a session, other topics, a long poll).
 */
export function fetchRequest(
  fetchOffset: number,
  overrides: Partial<kafka.FetchRequestData> = {},
): kafka.FetchRequestData {
  return {
    clusterId: null,
    replicaId: -1,
    maxWaitMs: 0,
    minBytes: 0,
    maxBytes: 1 << 20,
    isolationLevel: 0,
    sessionId: 0,
    sessionEpoch: -1,
    topics: [{ topic: 't', topicId: '', partitions: [fetchPartition(fetchOffset)] }],
    forgottenTopicsData: [],
    rackId: '',
    ...overrides,
  };
}
