import type { v1 } from '@samsa/protocol';
import type { kafka } from '@samsa/protocol/kafka';

/**
 * KIP-951 on the Kafka listener: the leader hints are made once, by the handlers the gRPC API shares
 * (server/handlers/leader-hints.ts, with this listener's addresses); these only change their shape.
 */

export function leaderIdAndEpoch(leader: v1.LeaderIdAndEpoch): kafka.LeaderIdAndEpoch {
  return { leaderId: leader.leaderId ?? -1, leaderEpoch: leader.leaderEpoch ?? -1 };
}

export function nodeEndpoints(brokers: readonly v1.BrokerInfo[] | undefined): kafka.NodeEndpoint[] {
  return (brokers ?? []).map((b) => ({
    nodeId: b.id ?? -1,
    host: b.host ?? '',
    port: b.port ?? 0,
    rack: b.rack ? b.rack : null,
  }));
}
