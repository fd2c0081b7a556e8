import { ErrorCodes, type v1 } from '@samsa/protocol';
import type { Cluster } from './cluster.js';
import { SamsaClientError, errorFromCode, needsMetadataRefresh } from './errors.js';
import { withRetries } from './retry.js';

export interface TopicPartition {
  topic: string;
  partition: number;
}

/** A partition's offset, naming the partition (what the seekTo* calls resolve with). */
export interface PartitionOffset extends TopicPartition {
  offset: number;
}

/** ListOffsets special timestamps. */
export const EARLIEST_TIMESTAMP = -2;
export const LATEST_TIMESTAMP = -1;

export interface OffsetQuery extends TopicPartition {
  /** EARLIEST_TIMESTAMP (-2), LATEST_TIMESTAMP (-1) or a time in ms. */
  timestamp: number;
}

export interface OffsetAnswer extends TopicPartition {
  /** -1 when no record has a timestamp at or after the requested one. */
  offset: number;
  timestamp: number;
  /**
   * For latest: the leader's epoch, no older than the epoch of the record before the offset (the consumer
   * validates a position reset there after a leader change); -1 otherwise and from older brokers.
   */
  leaderEpoch: number;
}

/**
 * Kafka's isolation.level. For ListOffsets: read_committed's latest is the last stable offset (not the
 * high watermark) and a timestamp finds no record at or past it, as the consumer reads.
 */
export type IsolationLevel = 'read_uncommitted' | 'read_committed';

const key = (topic: string, partition: number) => `${topic}\0${partition}`;

/**
 * ListOffsets, sent to each partition's leader with the leader epoch the metadata has (the leader refuses
 * a stale one, as Kafka's ListOffsets v4+); partitions whose leader moved are asked again after a
 * metadata refresh, until the client's defaultApiTimeoutMs. A read_committed consumer must ask at its
 * own level: reset to the high watermark while a transaction is open, it would start past that
 * transaction's records and never see them once committed.
 */
export async function listOffsets(
  cluster: Cluster,
  queries: readonly OffsetQuery[],
  signal?: AbortSignal,
  isolationLevel: IsolationLevel = 'read_uncommitted',
): Promise<OffsetAnswer[]> {
  const isolation = isolationLevel === 'read_committed' ? 1 : 0;
  const answers = new Map<string, OffsetAnswer>();
  let pending = [...queries];
  const deadline = Date.now() + cluster.options.defaultApiTimeoutMs;
  for (const topic of new Set(queries.map((q) => q.topic))) await cluster.topic(topic, deadline, signal);
  await withRetries(
    async () => {
      const failures: SamsaClientError[] = [];
      const byLeader = new Map<number, OffsetQuery[]>();
      for (const q of pending) {
        const leader = cluster.leaderOf(q.topic, q.partition);
        if (leader < 0) {
          failures.push(errorFromCode(ErrorCodes.LEADER_NOT_AVAILABLE.code, undefined, q));
          continue;
        }
        let list = byLeader.get(leader);
        if (!list) {
          list = [];
          byLeader.set(leader, list);
        }
        list.push(q);
      }
      const retry: OffsetQuery[] = pending.filter((q) => cluster.leaderOf(q.topic, q.partition) < 0);
      await Promise.all(
        [...byLeader].map(async ([leader, list]) => {
          const connection = cluster.connection(leader);
          if (!connection) {
            retry.push(...list);
            failures.push(
              errorFromCode(ErrorCodes.LEADER_NOT_AVAILABLE.code, `broker ${leader} is not in the metadata`),
            );
            return;
          }
          const topics = new Map<string, v1.ListOffsetsPartition[]>();
          for (const q of list) {
            let parts = topics.get(q.topic);
            if (!parts) {
              parts = [];
              topics.set(q.topic, parts);
            }
            // KIP-320: the leader refuses a stale epoch (FencedLeaderEpoch: refresh and ask again).
            const currentLeaderEpoch = cluster.topics.get(q.topic)?.partitions[q.partition]?.leaderEpoch ?? -1;
            parts.push({ partition: q.partition, timestamp: q.timestamp, currentLeaderEpoch });
          }
          let response: v1.ListOffsetsResponse__Output;
          try {
            response = await connection.call(
              'ListOffsets',
              { topics: [...topics].map(([name, partitions]) => ({ name, partitions })), isolationLevel: isolation },
              { timeoutMs: cluster.options.requestTimeoutMs, signal },
            );
          } catch (err) {
            if (!(err instanceof SamsaClientError) || !err.retriable) throw err;
            retry.push(...list);
            failures.push(err);
            return;
          }
          const byKey = new Map<string, OffsetQuery>(list.map((q) => [key(q.topic, q.partition), q]));
          for (const t of response.topics) {
            for (const p of t.partitions) {
              const q = byKey.get(key(t.name, p.partition));
              if (!q) continue;
              byKey.delete(key(t.name, p.partition));
              if (p.errorCode === 0) {
                answers.set(key(q.topic, q.partition), {
                  topic: q.topic,
                  partition: q.partition,
                  offset: p.offset,
                  timestamp: p.timestamp,
                  leaderEpoch: p.leaderEpoch ?? -1,
                });
                continue;
              }
              const err = errorFromCode(p.errorCode, p.errorMessage || undefined, q);
              if (!err.retriable) throw err;
              retry.push(q);
              failures.push(err);
            }
          }
          for (const q of byKey.values()) {
            retry.push(q);
            failures.push(errorFromCode(ErrorCodes.UNKNOWN_SERVER_ERROR.code, 'no answer for this partition', q));
          }
        }),
      );
      pending = retry;
      if (failures.length > 0) throw failures[0];
    },
    {
      retry: { ...cluster.options.retry, retries: Number.MAX_SAFE_INTEGER },
      deadline,
      signal,
      onRetriable: async (err) => {
        if (err instanceof SamsaClientError && needsMetadataRefresh(err.code)) await cluster.refresh().catch(() => {});
      },
    },
  );
  return queries.map((q) => answers.get(key(q.topic, q.partition)) as OffsetAnswer);
}
