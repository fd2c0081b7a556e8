import { setTimeout as sleep } from 'node:timers/promises';
import type { BrokerContext } from '../server/context.js';

/** How long a request waits for a partition this broker is about to lead. */
const ROLE_GRACE_MS = 5000;
const ROLE_POLL_MS = 10;

/**
 * Metadata names a new leader (a created topic, an election) a moment before that broker has taken up
 * the role: each broker learns its roles from the coordinator on its own. Kafka clients that do not
 * retry NOT_LEADER_OR_FOLLOWER on every call (sarama's ListOffsets when it starts a partition
 * consumer, KafkaJS's admin offsets) would fail in that window, so a request for partitions this
 * broker's metadata says it leads, does not know yet, or knows without a first leader yet (a replica
 * here, its state not written: leader and epoch -1), waits up to ROLE_GRACE_MS for the roles (the
 * window is milliseconds on an idle machine; 1 s was too short on a loaded one). A partition known to
 * be led elsewhere is answered at once (the client's metadata is stale). Every API answered by a
 * partition's leader waits so: Produce, Fetch, ListOffsets, OffsetForLeaderEpoch, DeleteRecords,
 * DescribeProducers.
 */
export async function awaitLeadership(
  ctx: BrokerContext,
  partitions: readonly { topic: string; partition: number }[],
  signal: AbortSignal,
): Promise<void> {
  const becoming = () =>
    partitions.some(({ topic, partition }) => {
      // In effect once its term has started (leaderState), not when the role is set: in between the
      // broker saves the new epoch to its cache (an fsync), and acks=all writes were refused then.
      const hosted = ctx.partitions.get(topic, partition);
      if (hosted?.role === 'leader' && hosted.leaderState !== undefined) return false;
      const known = ctx.member.metadata.image.topics.get(topic)?.partitions[partition];
      if (known === undefined || known.leader === ctx.brokerId) return true;
      // A created topic's partition before its first election (no state yet: epoch -1) that this broker
      // may lead; a partition with a state and no leader (offline) is answered at once.
      return known.leaderEpoch < 0 && known.replicas.includes(ctx.brokerId);
    });
  const deadline = Date.now() + ROLE_GRACE_MS;
  while (becoming() && Date.now() < deadline && !signal.aborted) await sleep(ROLE_POLL_MS);
}

/** The partitions a request names in Kafka's usual shape (topics[].partitions[].partitionIndex). */
export function partitionsNamed(
  topics: readonly { readonly name: string; readonly partitions: readonly { readonly partitionIndex: number }[] }[],
): { topic: string; partition: number }[] {
  return topics.flatMap((t) => t.partitions.map((p) => ({ topic: t.name, partition: p.partitionIndex })));
}

/** Partitions grouped by topic, topics in order of first appearance. */
export function groupPartitions<P extends { topic: string }>(
  partitions: readonly P[],
): { name: string; partitions: P[] }[] {
  const byTopic = new Map<string, P[]>();
  for (const p of partitions) {
    const list = byTopic.get(p.topic);
    if (list) list.push(p);
    else byTopic.set(p.topic, [p]);
  }
  return [...byTopic].map(([name, list]) => ({ name, partitions: list }));
}
