import { expect } from 'vitest';
import type { Samsa } from '@samsa/client';
import { waitFor } from './wait.js';

/** The only partition of `topic` as the cluster describes it now. */
export async function describePartition(samsa: Samsa, topic: string) {
  return (await samsa.admin().describeTopics([topic]))[0]!.partitions[0]!;
}

/**
 * Creates an RF 3 topic of one partition and makes sure it sits on brokers 1,2,3 (moved there if creation
 * put it elsewhere), in sync, with no move in progress: where the reassignment tests start from.
 */
export async function createTopicOnFirstThree(samsa: Samsa, topic: string): Promise<void> {
  await samsa.admin().createTopics([{ topic, numPartitions: 1, replicationFactor: 3 }]);
  await waitFor(async () => (await describePartition(samsa, topic)).leader >= 0, { description: 'a leader' });
  if ([...(await describePartition(samsa, topic)).replicas].sort().join() !== '1,2,3') {
    const [outcome] = await samsa.admin().alterPartitionReassignments([{ topic, partition: 0, replicas: [1, 2, 3] }]);
    expect(outcome!.error).toBeUndefined();
  }
  await waitFor(
    async () => {
      const p = await describePartition(samsa, topic);
      return p.removingReplicas.length === 0 && p.isr.length === 3 && p.leader >= 0;
    },
    { timeoutMs: 30_000, description: 'the topic on brokers 1,2,3, in sync' },
  );
}
