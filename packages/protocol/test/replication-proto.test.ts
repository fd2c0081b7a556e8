import { describe, expect, it } from 'vitest';
import { loadReplicationProto } from '../src/index.js';

/** The ReplicaFetch stream's request codec, as the broker's gRPC server and the follower use it. */
function replicaFetchCodec() {
  return loadReplicationProto().Replication.service.ReplicaFetch;
}

describe('replication proto', () => {
  it("tells a follower's log start of 0 from one a follower too old to send it left out", () => {
    const codec = replicaFetchCodec();
    const partitionOf = (partition: Record<string, unknown>) =>
      codec.requestDeserialize(
        codec.requestSerialize({ replicaId: 2, topics: [{ name: 't', partitions: [{ partition: 0, ...partition }] }] }),
      ).topics[0]!.partitions[0]!;
    // A rolling upgrade: read as 0, an old follower's fetch would look behind every moved start forever.
    expect(partitionOf({ fetchOffset: 3 }).logStartOffset).toBeUndefined();
    expect(partitionOf({ fetchOffset: 3, logStartOffset: 0 }).logStartOffset).toBe(0);
    expect(partitionOf({ fetchOffset: 3, logStartOffset: 7 }).logStartOffset).toBe(7);
  });
});
