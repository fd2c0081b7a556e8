import { describe, expect, it } from 'vitest';
import { loadBrokerProto } from '../src/index.js';

/**
 * The leader epoch a consumer names (KIP-320) is optional on the wire: a caller that leaves it out says
 * nothing, and must not be read as naming epoch 0 (which every partition led since an election is past,
 * so its fetches would all be refused FENCED_LEADER_EPOCH).
 */
describe('broker proto: current_leader_epoch', () => {
  const service = loadBrokerProto().Broker.service;
  const fetchPartition = (codec: 'Fetch' | 'FetchStream', partition: Record<string, unknown>) => {
    const request = {
      maxWaitMs: 0,
      topics: [{ name: 't', partitions: [{ partition: 0, fetchOffset: 5, ...partition }] }],
    };
    if (codec === 'Fetch') {
      const m = service.Fetch;
      return m.requestDeserialize(m.requestSerialize(request)).topics[0]!.partitions[0]!;
    }
    const m = service.FetchStream;
    return m.requestDeserialize(m.requestSerialize({ correlationId: 1, request })).request!.topics[0]!.partitions[0]!;
  };

  it.each(['Fetch', 'FetchStream'] as const)('%s: absent stays absent; 0 and -1 are kept', (codec) => {
    expect(fetchPartition(codec, {}).currentLeaderEpoch).toBeUndefined();
    expect(fetchPartition(codec, { currentLeaderEpoch: 0 }).currentLeaderEpoch).toBe(0);
    expect(fetchPartition(codec, { currentLeaderEpoch: -1 }).currentLeaderEpoch).toBe(-1);
    expect(fetchPartition(codec, { currentLeaderEpoch: 7 }).currentLeaderEpoch).toBe(7);
  });

  it('OffsetForLeaderEpoch: absent stays absent', () => {
    const m = service.OffsetForLeaderEpoch;
    const partitionOf = (partition: Record<string, unknown>) =>
      m.requestDeserialize(
        m.requestSerialize({ topics: [{ name: 't', partitions: [{ partition: 0, ...partition }] }] }),
      ).topics[0]!.partitions[0]!;
    expect(partitionOf({ leaderEpoch: 2 }).currentLeaderEpoch).toBeUndefined();
    expect(partitionOf({ leaderEpoch: 2, currentLeaderEpoch: 0 }).currentLeaderEpoch).toBe(0);
  });
});
