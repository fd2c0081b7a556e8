import { ErrorCodes, kafka, type v1 } from '@samsa/protocol';
import type { BrokerContext } from '../server/context.js';
import { toErrorFields } from '../server/errors.js';
import { checkLeaderEpoch } from '../server/handlers/fetch.js';
import { handleListOffsets } from '../server/handlers/list-offsets.js';
import { awaitLeadership } from './partitions.js';
import type { Reply } from './reply.js';

export async function listOffsets(
  ctx: BrokerContext,
  _version: number,
  request: kafka.ListOffsetsRequestData,
  signal: AbortSignal,
): Promise<Reply> {
  await awaitLeadership(
    ctx,
    request.topics.flatMap((t) => t.partitions.map((p) => ({ topic: t.name, partition: p.partitionIndex }))),
    signal,
  );
  const unsupported = (t: number) => t === kafka.LIST_OFFSETS_MAX_TIMESTAMP;
  const answer = await handleListOffsets(ctx, {
    topics: request.topics.map((t) => ({
      name: t.name,
      partitions: t.partitions
        .filter((p) => !unsupported(p.timestamp))
        .map((p) => ({ partition: p.partitionIndex, timestamp: p.timestamp })),
    })),
  });
  const found = new Map<string, v1.ListOffsetsPartitionResponse>();
  for (const t of answer.topics ?? []) for (const p of t.partitions ?? []) found.set(`${t.name}/${p.partition}`, p);
  const body: kafka.ListOffsetsResponseData = {
    throttleTimeMs: 0,
    topics: request.topics.map((t) => ({
      name: t.name,
      partitions: t.partitions.map((p): kafka.ListOffsetsPartitionResult => {
        if (unsupported(p.timestamp))
          return {
            partitionIndex: p.partitionIndex,
            errorCode: ErrorCodes.UNSUPPORTED_VERSION.code,
            oldStyleOffsets: [],
          };
        const r = found.get(`${t.name}/${p.partitionIndex}`)!;
        const offset = Number(r.offset ?? -1);
        return {
          partitionIndex: p.partitionIndex,
          errorCode: r.errorCode ?? 0,
          oldStyleOffsets: offset >= 0 ? [offset] : [],
          timestamp: Number(r.timestamp ?? -1),
          offset,
          leaderEpoch: -1,
        };
      }),
    })),
  };
  return { body };
}

export function offsetForLeaderEpoch(
  ctx: BrokerContext,
  _version: number,
  request: kafka.OffsetForLeaderEpochRequestData,
): Reply {
  const body: kafka.OffsetForLeaderEpochResponseData = {
    throttleTimeMs: 0,
    topics: request.topics.map((t) => ({
      topic: t.topic,
      partitions: t.partitions.map((p) => {
        try {
          const hosted = ctx.partitions.leaderOf(t.topic, p.partition, ctx.knowsPartition(t.topic, p.partition));
          checkLeaderEpoch(hosted, p.currentLeaderEpoch);
          const end = hosted.epochCache.endOffsetFor(p.leaderEpoch, hosted.log.logEndOffset);
          return { errorCode: 0, partition: p.partition, leaderEpoch: end.epoch, endOffset: end.endOffset };
        } catch (err) {
          const { errorCode } = toErrorFields(err, ctx.logger, { topic: t.topic, partition: p.partition });
          return { errorCode, partition: p.partition, leaderEpoch: -1, endOffset: -1 };
        }
      }),
    })),
  };
  return { body };
}
