/**
 * The leader side of Kafka's replication throttle (pure; time is an input): a reassignment lists the
 * moving partitions' replicas in the topic configs `leader.replication.throttled.replicas` (the
 * original replicas, any of which may lead) and `follower.replication.throttled.replicas` (the ones
 * being added), as `partition:broker` pairs or `*`, and a leader sends the followers of those
 * partitions at most `leader.replication.throttled.rate` bytes/s per topic while they are out of the
 * ISR (as Kafka's leader, which never throttles an in-sync follower: it would slow acks=all). One
 * token bucket per topic, holding at most one second of the rate and emptied when left unused for
 * IDLE_RESET_MS; a fetch may take one batch past
 * what is left (so a batch larger than the bucket still moves), which the next fetches pay back.
 */

/** Whether a Kafka throttled-replicas list (`0:1,0:2,1:3` or `*`) names the partition's replica on `brokerId`. */
export function listsReplica(list: string | undefined, partition: number, brokerId: number): boolean {
  if (list === undefined || list.trim() === '') return false;
  if (list.trim() === '*') return true;
  const wanted = `${partition}:${brokerId}`;
  return list.split(',').some((entry) => entry.trim() === wanted);
}

/**
 * A bucket unused this long starts empty again: a move that starts after an earlier one of the topic
 * would otherwise begin with a second's burst (5 MiB/s showed as 5.3 MiB/s over a 12 s move). A
 * bucket holding less than a second wastes tokens whenever a loaded follower's fetch cycle is
 * longer than it holds (a tenth of a second halved the rate on a loaded machine).
 */
const IDLE_RESET_MS = 2000;

interface Bucket {
  tokens: number;
  atMs: number;
  rate: number;
}

export class ReplicationThrottle {
  private readonly buckets = new Map<string, Bucket>();

  /**
   * The bytes the fetch may take for this partition now: undefined when it is not throttled,
   * otherwise what is left in the topic's bucket (<= 0: nothing this time).
   */
  allowance(topic: string, rateBytesPerSecond: number, nowMs: number): number {
    const bucket = this.refill(topic, rateBytesPerSecond, nowMs);
    return bucket.tokens;
  }

  /** Bytes sent to a throttled follower of the topic (may take the bucket below zero: one batch). */
  consumed(topic: string, bytes: number): void {
    const bucket = this.buckets.get(topic);
    if (bucket) bucket.tokens -= bytes;
  }

  /** How long until the topic's bucket holds tokens again (0 when it does now). */
  refillMs(topic: string, nowMs: number): number {
    const bucket = this.buckets.get(topic);
    if (!bucket) return 0;
    const owed = -(bucket.tokens + (bucket.rate * Math.max(0, nowMs - bucket.atMs)) / 1000);
    return owed < 0 ? 0 : Math.ceil((owed * 1000) / bucket.rate) + 1;
  }

  private refill(topic: string, rate: number, nowMs: number): Bucket {
    let bucket = this.buckets.get(topic);
    if (!bucket) {
      bucket = { tokens: 0, atMs: nowMs, rate };
      this.buckets.set(topic, bucket);
    }
    bucket.rate = rate;
    const elapsedMs = Math.max(0, nowMs - bucket.atMs);
    bucket.tokens = elapsedMs > IDLE_RESET_MS ? 0 : Math.min(rate, bucket.tokens + (rate * elapsedMs) / 1000);
    bucket.atMs = nowMs;
    return bucket;
  }
}
