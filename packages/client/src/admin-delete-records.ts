import { ErrorCodes, errorSpecForCode, type v1 } from '@samsa/protocol';
import type { Cluster } from './cluster.js';
import { SamsaClientError, errorFromCode, needsMetadataRefresh } from './errors.js';
import { backoffMs, sleep } from './retry.js';

/** Kafka's DeleteRecords offset meaning "everything committed": the partition's high watermark. */
export const DELETE_UP_TO_HIGH_WATERMARK = -1;

export interface RecordsToDelete {
  readonly topic: string;
  readonly partition: number;
  /** Records below it are deleted; -1 (DELETE_UP_TO_HIGH_WATERMARK) means the high watermark. */
  readonly offset: number;
}

/** One partition's answer: its low watermark, or why its records were not deleted. */
export interface DeletedRecords {
  readonly topic: string;
  readonly partition: number;
  /** The smallest log start offset of the partition's in-sync replicas; -1 with an error. */
  readonly lowWatermark: number;
  readonly error?: SamsaClientError;
}

export interface DeleteRecordsOptions {
  /** How long the leaders wait for their in-sync replicas to delete too (the client's requestTimeoutMs). */
  readonly timeoutMs?: number;
  readonly signal?: AbortSignal;
}

const key = (topic: string, partition: number): string => `${topic}\0${partition}`;

/**
 * Kafka's Admin.deleteRecords: each partition's request goes to its leader; leaders that moved, or
 * that were not known yet, are asked again after a metadata refresh, within the client's
 * defaultApiTimeoutMs (at least `timeoutMs`). A topic or partition that does not exist is answered
 * at once (UnknownTopicOrPartition), as is an offset past the high watermark (OffsetOutOfRange).
 * RequestTimedOut (the replicas did not delete in time) is not retried: the leader has moved its
 * log start, and asking again waits again.
 */
export async function deleteRecords(
  cluster: Cluster,
  targets: readonly RecordsToDelete[],
  options: DeleteRecordsOptions = {},
): Promise<DeletedRecords[]> {
  const timeoutMs = options.timeoutMs ?? cluster.options.requestTimeoutMs;
  const deadline = Date.now() + Math.max(timeoutMs, cluster.options.defaultApiTimeoutMs);
  const results = new Map<string, DeletedRecords>();
  const done = (t: RecordsToDelete, lowWatermark: number, error?: SamsaClientError): void => {
    results.set(key(t.topic, t.partition), {
      topic: t.topic,
      partition: t.partition,
      lowWatermark,
      ...(error && { error }),
    });
  };
  let pending = [...new Map(targets.map((t) => [key(t.topic, t.partition), t])).values()];
  // Only topics not known yet cost a metadata round trip; a leader that moved answers NotLeaderOrFollower.
  const unknown = [...new Set(pending.map((t) => t.topic))].filter((topic) => !cluster.topics.has(topic));
  if (unknown.length > 0) await cluster.refresh(unknown);
  for (let attempt = 0; pending.length > 0; attempt++) {
    const retry: Array<{ target: RecordsToDelete; error: SamsaClientError }> = [];
    const byLeader = new Map<number, RecordsToDelete[]>();
    for (const t of pending) {
      if (!cluster.topics.get(t.topic)?.partitions.some((p) => p.partition === t.partition)) {
        done(t, -1, errorFromCode(ErrorCodes.UNKNOWN_TOPIC_OR_PARTITION.code, 'no such topic or partition', t));
        continue;
      }
      const leader = cluster.leaderOf(t.topic, t.partition);
      if (leader < 0 || !cluster.connection(leader)) {
        retry.push({ target: t, error: errorFromCode(ErrorCodes.LEADER_NOT_AVAILABLE.code, undefined, t) });
        continue;
      }
      byLeader.set(leader, [...(byLeader.get(leader) ?? []), t]);
    }
    await Promise.all(
      [...byLeader].map(async ([leader, list]) => {
        const failures = await askLeader(cluster, leader, list, timeoutMs, options.signal, done);
        retry.push(...failures);
      }),
    );
    pending = retry.map((r) => r.target);
    if (pending.length === 0) break;
    const wait = backoffMs(attempt, cluster.options.retry);
    if (Date.now() + wait >= deadline || options.signal?.aborted) {
      for (const r of retry) done(r.target, -1, r.error);
      break;
    }
    await sleep(wait, options.signal);
    if (retry.some((r) => needsMetadataRefresh(r.error.code))) await cluster.refresh(pending.map((t) => t.topic));
  }
  return targets.map((t) => results.get(key(t.topic, t.partition)) as DeletedRecords);
}

/** One DeleteRecords request to one leader; returns the partitions to ask again, with their errors. */
async function askLeader(
  cluster: Cluster,
  leader: number,
  list: readonly RecordsToDelete[],
  timeoutMs: number,
  signal: AbortSignal | undefined,
  done: (t: RecordsToDelete, lowWatermark: number, error?: SamsaClientError) => void,
): Promise<Array<{ target: RecordsToDelete; error: SamsaClientError }>> {
  const topics = new Map<string, v1.DeleteRecordsPartition[]>();
  for (const t of list)
    topics.set(t.topic, [...(topics.get(t.topic) ?? []), { partition: t.partition, offset: t.offset }]);
  const request: v1.DeleteRecordsRequest = {
    topics: [...topics].map(([name, partitions]) => ({ name, partitions })),
    timeoutMs,
  };
  let response: v1.DeleteRecordsResponse__Output;
  try {
    const connection = cluster.connection(leader);
    if (!connection)
      throw errorFromCode(ErrorCodes.LEADER_NOT_AVAILABLE.code, `broker ${leader} is not in the metadata`);
    response = await connection.call('DeleteRecords', request, {
      timeoutMs: timeoutMs + cluster.options.requestTimeoutMs,
      signal,
    });
  } catch (err) {
    if (!(err instanceof SamsaClientError) || !err.retriable) throw err;
    return list.map((target) => ({ target, error: err }));
  }
  const retry: Array<{ target: RecordsToDelete; error: SamsaClientError }> = [];
  const byKey = new Map(list.map((t) => [key(t.topic, t.partition), t]));
  for (const topic of response.topics) {
    for (const p of topic.partitions) {
      const target = byKey.get(key(topic.name, p.partition));
      if (!target) continue;
      byKey.delete(key(topic.name, p.partition));
      if (p.errorCode === 0) {
        done(target, p.lowWatermark);
        continue;
      }
      // The broker's messages name the partition already.
      const error = new SamsaClientError(errorSpecForCode(p.errorCode), p.errorMessage || undefined, target);
      if (error.retriable && p.errorCode !== ErrorCodes.REQUEST_TIMED_OUT.code) retry.push({ target, error });
      else done(target, -1, error);
    }
  }
  for (const target of byKey.values())
    retry.push({ target, error: errorFromCode(ErrorCodes.UNKNOWN_SERVER_ERROR.code, 'no answer for it', target) });
  return retry;
}
