import type { v1 } from '@samsa/protocol';
import { kafka } from '@samsa/protocol/kafka';
import type { BrokerContext } from '../server/context.js';
import { toErrorFields } from '../server/errors.js';
import { checkLeaderEpoch } from '../server/handlers/fetch.js';
import { listOffsetsAt } from '../server/handlers/list-offsets.js';
import { epochEndOffset } from '../server/handlers/offset-for-leader-epoch.js';
import { awaitLeadership, partitionsNamed } from './partitions.js';
import type { Reply } from './reply.js';

/** ListOffsetsRequest.isolation_level (v2+): read_committed consumers list up to the last stable offset. */
const READ_COMMITTED = 1;

export async function listOffsets(
  ctx: BrokerContext,
  version: number,
  request: kafka.ListOffsetsRequestData,
  signal: AbortSignal,
): Promise<Reply> {
  await awaitLeadership(ctx, partitionsNamed(request.topics), signal);
  const isMax = (t: number) => t === kafka.LIST_OFFSETS_MAX_TIMESTAMP;
  const isolation = version >= 2 && request.isolationLevel === READ_COMMITTED ? 'read_committed' : 'read_uncommitted';
  const key = (topic: string, p: Asked) => `${topic}/${p.partitionIndex}`;
  const fenced = new Map<string, v1.ListOffsetsPartitionResponse>();
  for (const t of request.topics)
    for (const p of t.partitions) {
      const refused = epochRefusal(ctx, t.name, p);
      if (refused) fenced.set(key(t.name, p), refused);
    }
  const answer = await listOffsetsAt(
    ctx,
    {
      topics: request.topics.map((t) => ({
        name: t.name,
        partitions: t.partitions
          .filter((p) => !isMax(p.timestamp) && !fenced.has(key(t.name, p)))
          .map((p) => ({ partition: p.partitionIndex, timestamp: p.timestamp })),
      })),
    },
    isolation,
  );
  const found = new Map<string, v1.ListOffsetsPartitionResponse>(fenced);
  for (const t of answer.topics ?? []) for (const p of t.partitions ?? []) found.set(`${t.name}/${p.partition}`, p);
  for (const t of request.topics)
    for (const p of t.partitions)
      if (isMax(p.timestamp) && !fenced.has(key(t.name, p)))
        found.set(key(t.name, p), await maxTimestampOf(ctx, t.name, p, isolation));
  const body: kafka.ListOffsetsResponseData = {
    throttleTimeMs: 0,
    topics: request.topics.map((t) => ({
      name: t.name,
      partitions: t.partitions.map((p): kafka.ListOffsetsPartitionResult => {
        const r = found.get(key(t.name, p))!;
        const offset = Number(r.offset ?? -1);
        return {
          partitionIndex: p.partitionIndex,
          errorCode: r.errorCode ?? 0,
          oldStyleOffsets: offset >= 0 ? [offset] : [],
          timestamp: Number(r.timestamp ?? -1),
          offset,
          leaderEpoch: (r.errorCode ?? 0) === 0 ? epochOfAnswer(ctx, t.name, p, offset) : -1,
        };
      }),
    })),
  };
  return { body };
}

type Asked = kafka.ListOffsetsRequestData['topics'][number]['partitions'][number];

/**
 * The leader epoch of a ListOffsets answer (v4+), as Kafka's broker gives it: for "latest" the leader's
 * epoch; otherwise the epoch of the leader that wrote the offset found (the batch's, from the epoch
 * cache: the last epoch starting at or before it), for "earliest" the log start offset's; -1 when
 * nothing was found.
 */
function epochOfAnswer(ctx: BrokerContext, topic: string, p: Asked, offset: number): number {
  const hosted = ctx.partitions.get(topic, p.partitionIndex);
  if (hosted === undefined) return -1;
  if (p.timestamp === kafka.LIST_OFFSETS_LATEST) return hosted.leaderEpoch;
  if (offset < 0) return -1;
  let epoch = -1;
  for (const entry of hosted.epochCache.epochEntries) {
    if (entry.startOffset > offset) break;
    epoch = entry.epoch;
  }
  return epoch;
}

/**
 * ListOffsets v4+ names the leader epoch the client knows, and the leader checks it as Fetch does: an
 * older one is FENCED_LEADER_EPOCH (the client's metadata is stale), a newer one UNKNOWN_LEADER_EPOCH
 * (this broker is behind). Undefined when it passes, or when this broker does not lead the partition
 * (the lookup answers that).
 */
function epochRefusal(ctx: BrokerContext, topic: string, p: Asked): v1.ListOffsetsPartitionResponse | undefined {
  const hosted = ctx.partitions.get(topic, p.partitionIndex);
  if (p.currentLeaderEpoch < 0 || hosted?.role !== 'leader') return undefined;
  try {
    checkLeaderEpoch(hosted, p.currentLeaderEpoch);
    return undefined;
  } catch (err) {
    const { errorCode } = toErrorFields(err, ctx.logger, { topic, partition: p.partitionIndex });
    return { partition: p.partitionIndex, errorCode, offset: -1, timestamp: -1 };
  }
}

/** OffsetForLeaderEpoch, at the leader; like the other leader APIs it waits for a role about to be taken. */
export async function offsetForLeaderEpoch(
  ctx: BrokerContext,
  _version: number,
  request: kafka.OffsetForLeaderEpochRequestData,
  signal: AbortSignal,
): Promise<Reply> {
  await awaitLeadership(
    ctx,
    request.topics.flatMap((t) => t.partitions.map((p) => ({ topic: t.topic, partition: p.partition }))),
    signal,
  );
  const body: kafka.OffsetForLeaderEpochResponseData = {
    throttleTimeMs: 0,
    topics: request.topics.map((t) => ({
      topic: t.topic,
      partitions: t.partitions.map((p) => {
        const end = epochEndOffset(ctx, t.topic, p.partition, p.currentLeaderEpoch, p.leaderEpoch);
        return {
          errorCode: end.errorCode,
          partition: p.partition,
          leaderEpoch: end.leaderEpoch,
          endOffset: end.endOffset,
        };
      }),
    })),
  };
  return { body };
}

/**
 * ListOffsets MAX_TIMESTAMP (-3, KIP-734, v7+): the first record with the partition's largest
 * timestamp, at the leader; offset and timestamp -1 for a partition with no record, and (as Kafka filters
 * every lookup by timestamp) when that record is past what the isolation level reads: the high watermark,
 * or for read_committed the last stable offset.
 */
async function maxTimestampOf(
  ctx: BrokerContext,
  topic: string,
  p: kafka.ListOffsetsRequestData['topics'][number]['partitions'][number],
  isolation: 'read_uncommitted' | 'read_committed',
): Promise<v1.ListOffsetsPartitionResponse> {
  try {
    const hosted = ctx.partitions.leaderOf(topic, p.partitionIndex, ctx.knowsPartition(topic, p.partitionIndex));
    const found = await hosted.log.offsetForMaxTimestamp();
    const readable =
      isolation === 'read_committed' ? hosted.log.lastStableOffset(hosted.highWatermark) : hosted.highWatermark;
    const visible = found !== undefined && found.offset < readable;
    return {
      partition: p.partitionIndex,
      errorCode: 0,
      offset: visible ? found.offset : -1,
      timestamp: visible ? found.timestamp : -1,
    };
  } catch (err) {
    const { errorCode } = toErrorFields(err, ctx.logger, { topic, partition: p.partitionIndex });
    return { partition: p.partitionIndex, errorCode, offset: -1, timestamp: -1 };
  }
}
