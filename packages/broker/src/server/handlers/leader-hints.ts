import { ErrorCodes, type v1 } from '@samsa/protocol';
import { endpointOn } from '../../listeners.js';
import type { BrokerContext } from '../context.js';

/** The refusals that say "not here": the answer names where, when this broker knows (KIP-951). */
const HINTED_ERRORS = new Set<number>([ErrorCodes.NOT_LEADER_OR_FOLLOWER.code, ErrorCodes.FENCED_LEADER_EPOCH.code]);

interface RefusablePartition {
  readonly partition?: number;
  readonly errorCode?: number;
  currentLeader?: v1.LeaderIdAndEpoch | null;
}

/**
 * KIP-951: each partition of a Produce or Fetch answer refused with NOT_LEADER_OR_FOLLOWER or
 * FENCED_LEADER_EPOCH gets the leader and epoch this broker's metadata has for it (when it has one the
 * client can reach on the request's listener), so the client retries there without a metadata request
 * first. Returns those leaders' addresses on that listener (the answer's node_endpoints), none when
 * nothing was refused.
 */
export function addLeaderHints(
  ctx: BrokerContext,
  topics: readonly { readonly name: string; readonly partitions: readonly RefusablePartition[] }[],
): v1.BrokerInfo[] {
  let endpoints: Map<number, v1.BrokerInfo> | undefined;
  for (const topic of topics) {
    for (const p of topic.partitions) {
      if (!HINTED_ERRORS.has(p.errorCode ?? 0)) continue;
      const image = ctx.member.metadata.image;
      const state = image.topics.get(topic.name)?.partitions[p.partition ?? -1];
      if (state === undefined || state.leader < 0 || state.leaderEpoch < 0) continue;
      const broker = image.brokers.get(state.leader);
      const endpoint = broker && endpointOn(broker, ctx.listenerName);
      if (broker === undefined || endpoint === undefined) continue;
      p.currentLeader = { leaderId: state.leader, leaderEpoch: state.leaderEpoch };
      endpoints ??= new Map();
      endpoints.set(broker.id, { id: broker.id, host: endpoint.host, port: endpoint.port, rack: broker.rack ?? '' });
    }
  }
  return endpoints === undefined ? [] : [...endpoints.values()];
}
