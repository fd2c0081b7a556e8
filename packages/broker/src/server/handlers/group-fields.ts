import type { v1 } from '@samsa/protocol';
import type { TopicPartitions } from '../../group/partitions.js';

/** The core's topic -> partitions as the wire's list of GroupTopicPartitions. */
export function toTopicPartitions(tps: TopicPartitions): v1.GroupTopicPartitions[] {
  return Object.entries(tps).map(([topic, partitions]) => ({ topic, partitions: [...partitions] }));
}

export function toTopicPartitionsList(tps: TopicPartitions): v1.TopicPartitionsList {
  return { topicPartitions: toTopicPartitions(tps) };
}
