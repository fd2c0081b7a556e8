import type { Samsa } from '@samsa/client';
import { expect } from 'vitest';
import { waitFor } from '../helpers/wait.js';

/** Partition 0 of `topic` as the cluster describes it. */
export async function partitionOf(control: Samsa, topic: string) {
  return (await control.admin().describeTopics([topic]))[0]!.partitions[0]!;
}

/**
 * A one-partition topic of two replicas whose followers may be elected uncleanly (acks=1 writes only the
 * leader had can then be lost: what KIP-320's checks are for); retried until all three brokers registered.
 */
export async function createUncleanTopic(control: Samsa, topic: string): Promise<void> {
  await waitFor(
    async () => {
      await control.admin().createTopics([
        {
          topic,
          numPartitions: 1,
          replicationFactor: 2,
          configs: { 'unclean.leader.election.enable': 'true', 'min.insync.replicas': '1' },
        },
      ]);
      return true;
    },
    { timeoutMs: 30_000, description: 'the topic created (all three brokers registered)' },
  );
}

/** Moves partition 0 of `topic` onto `replicas`, led by the first, and waits until all are in sync. */
export async function placeOn(control: Samsa, topic: string, replicas: readonly number[]): Promise<void> {
  const admin = control.admin();
  const [moved] = await admin.alterPartitionReassignments([{ topic, partition: 0, replicas: [...replicas] }]);
  expect(moved!.error).toBeUndefined();
  await waitFor(
    async () => {
      const p = await partitionOf(control, topic);
      if (p.leader !== replicas[0]) await admin.electPreferredLeaders([{ topic, partitions: [0] }]);
      return p.leader === replicas[0] && p.replicas.join() === replicas.join() && p.isr.length === replicas.length;
    },
    { timeoutMs: 60_000, description: `${topic}-0 on ${replicas.join(',')}, led by ${replicas[0]}` },
  );
}
