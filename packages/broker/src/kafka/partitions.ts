// The wait is the broker's, shared with the gRPC Produce (server/handlers/produce.ts).
export { awaitLeadership } from '../server/leadership.js';

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
