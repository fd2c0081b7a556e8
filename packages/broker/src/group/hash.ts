/**
 * Java's String.hashCode over UTF-16 code units (what Kafka uses to place a group on a partition of
 * __consumer_offsets), as a signed 32-bit integer.
 */
export function javaStringHashCode(s: string): number {
  let hash = 0;
  for (let i = 0; i < s.length; i++) hash = (Math.imul(hash, 31) + s.charCodeAt(i)) | 0;
  return hash;
}

/**
 * The __consumer_offsets partition that holds group `groupId`: Kafka's
 * `Utils.abs(groupId.hashCode) % offsets.topic.num.partitions`, where abs maps Integer.MIN_VALUE to 0.
 */
export function offsetsPartitionFor(groupId: string, numPartitions: number): number {
  const hash = javaStringHashCode(groupId);
  const abs = hash === -2147483648 ? 0 : Math.abs(hash);
  return abs % numPartitions;
}
