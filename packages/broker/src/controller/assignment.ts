/**
 * Topic validation and replica assignment (pure). The assignment follows Kafka's rack-unaware
 * algorithm (AdminUtils.assignReplicasToBrokers): partition p's first replica is broker
 * (startIndex + p) mod n, and its followers sit at a shift from it that grows by one every n
 * partitions, so leaders and followers spread evenly and no broker is paired with the same
 * neighbour for every partition.
 */
import { ErrorCodes, type ErrorSpec, MAX_PARTITIONS_PER_TOPIC, topicNameProblem } from '@samsa/protocol';

export { MAX_PARTITIONS_PER_TOPIC, MAX_TOPIC_NAME_LENGTH } from '@samsa/protocol';

export interface Rejection {
  readonly error: ErrorSpec;
  readonly message: string;
}

/** Kafka's topic name rules (the protocol's); returns undefined when the name is valid. */
export function validateTopicName(name: string): Rejection | undefined {
  const problem = topicNameProblem(name);
  return problem === undefined ? undefined : { error: ErrorCodes.INVALID_TOPIC_EXCEPTION, message: problem };
}

/**
 * Checks a creation request against the live brokers. `replicationFactor` counts the leader; it must
 * not exceed the live brokers, because two replicas of a partition on one broker protect nothing.
 */
export function validateNewTopic(
  name: string,
  numPartitions: number,
  replicationFactor: number,
  liveBrokerCount: number,
): Rejection | undefined {
  const nameRejection = validateTopicName(name);
  if (nameRejection) return nameRejection;
  if (!Number.isInteger(numPartitions) || numPartitions < 1) {
    return {
      error: ErrorCodes.INVALID_PARTITIONS,
      message: `Number of partitions must be at least 1 (got ${numPartitions})`,
    };
  }
  if (numPartitions > MAX_PARTITIONS_PER_TOPIC) {
    return {
      error: ErrorCodes.INVALID_PARTITIONS,
      message: `Number of partitions must be at most ${MAX_PARTITIONS_PER_TOPIC} (got ${numPartitions})`,
    };
  }
  if (!Number.isInteger(replicationFactor) || replicationFactor < 1) {
    return {
      error: ErrorCodes.INVALID_REPLICATION_FACTOR,
      message: `Replication factor must be at least 1 (got ${replicationFactor})`,
    };
  }
  if (replicationFactor > liveBrokerCount) {
    return {
      error: ErrorCodes.INVALID_REPLICATION_FACTOR,
      message: `Replication factor ${replicationFactor} is larger than the number of live brokers (${liveBrokerCount})`,
    };
  }
  return undefined;
}

/**
 * Splits a non-negative integer seed into Kafka's two random choices: the broker index of partition
 * 0's leader and the initial follower shift. The driver passes a random seed; tests pass fixed ones.
 */
export function seedToOffsets(seed: number, brokerCount: number): { startIndex: number; replicaShift: number } {
  const s = Math.abs(Math.trunc(seed));
  return { startIndex: s % brokerCount, replicaShift: Math.floor(s / brokerCount) % brokerCount };
}

/**
 * Assigns replicas for partitions 0..numPartitions-1 over `brokerIds` (sorted ascending first, so the
 * result depends only on the set). Returns replicas per partition, preferred leader first.
 * The caller validates (replicationFactor <= brokerIds.length).
 */
export function assignReplicas(
  brokerIds: readonly number[],
  numPartitions: number,
  replicationFactor: number,
  seed: number,
): number[][] {
  const brokers = [...brokerIds].sort((a, b) => a - b);
  const n = brokers.length;
  if (replicationFactor > n || replicationFactor < 1) {
    throw new Error(`assignReplicas: replication factor ${replicationFactor} with ${n} brokers (validate first)`);
  }
  const { startIndex, replicaShift } = seedToOffsets(seed, n);
  const result: number[][] = [];
  let shift = replicaShift;
  for (let p = 0; p < numPartitions; p++) {
    if (p > 0 && p % n === 0) shift += 1;
    const first = (p + startIndex) % n;
    const replicas = [brokers[first]!];
    for (let j = 0; j < replicationFactor - 1; j++) {
      // Followers are 1..n-1 positions after the first replica, never the first replica itself.
      const offset = 1 + ((shift + j) % (n - 1));
      replicas.push(brokers[(first + offset) % n]!);
    }
    result.push(replicas);
  }
  return result;
}
