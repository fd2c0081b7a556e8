/**
 * Sets of topic-partitions as the group core keeps them: topic name -> sorted partition numbers,
 * with no empty topics, so equal sets are equal JSON.
 */
export type TopicPartitions = Readonly<Record<string, readonly number[]>>;

export const EMPTY: TopicPartitions = Object.freeze({});

/** A flat key for one partition (topic names cannot hold a NUL). */
export function tpKey(topic: string, partition: number): string {
  return `${topic}\u0000${partition}`;
}

export function fromKey(key: string): { topic: string; partition: number } {
  const at = key.lastIndexOf('\u0000');
  return { topic: key.slice(0, at), partition: Number(key.slice(at + 1)) };
}

export function toKeys(tps: TopicPartitions): string[] {
  const keys: string[] = [];
  for (const [topic, partitions] of Object.entries(tps)) for (const p of partitions) keys.push(tpKey(topic, p));
  return keys;
}

export function fromKeys(keys: Iterable<string>): TopicPartitions {
  const byTopic = new Map<string, number[]>();
  for (const key of keys) {
    const { topic, partition } = fromKey(key);
    const list = byTopic.get(topic) ?? [];
    byTopic.set(topic, list);
    list.push(partition);
  }
  const out: Record<string, number[]> = {};
  for (const topic of [...byTopic.keys()].sort()) out[topic] = [...new Set(byTopic.get(topic)!)].sort((a, b) => a - b);
  return out;
}

export function count(tps: TopicPartitions): number {
  let n = 0;
  for (const partitions of Object.values(tps)) n += partitions.length;
  return n;
}

/** Both sides are canonical (made by fromKeys, or decoded from records that were), so equal sets are equal JSON. */
export function equal(a: TopicPartitions, b: TopicPartitions): boolean {
  return a === b || JSON.stringify(a) === JSON.stringify(b);
}

export function minus(a: TopicPartitions, b: TopicPartitions): TopicPartitions {
  const remove = new Set(toKeys(b));
  return fromKeys(toKeys(a).filter((k) => !remove.has(k)));
}

export function intersect(a: TopicPartitions, b: TopicPartitions): TopicPartitions {
  const keep = new Set(toKeys(b));
  return fromKeys(toKeys(a).filter((k) => keep.has(k)));
}

export function union(a: TopicPartitions, b: TopicPartitions): TopicPartitions {
  return fromKeys([...toKeys(a), ...toKeys(b)]);
}

export function contains(tps: TopicPartitions, topic: string, partition: number): boolean {
  return tps[topic]?.includes(partition) ?? false;
}

export function isEmpty(tps: TopicPartitions): boolean {
  return count(tps) === 0;
}
