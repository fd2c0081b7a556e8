import type { kafka } from '@samsa/protocol/kafka';
import type { BrokerContext } from '../server/context.js';
import { deletePartitionRecords } from '../server/handlers/delete-records.js';
import { awaitLeadership, partitionsNamed } from './partitions.js';
import type { Reply } from './reply.js';

/**
 * DeleteRecords (key 21, v0-2) on the Kafka listener: the gRPC handler's per-partition work (move the
 * leader's log start, wait for the in-sync replicas' low watermark), answered in Kafka's shape.
 * Kafka's tools send it to each partition's leader (kafka-delete-records.sh, KafkaJS
 * admin.deleteTopicRecords, AdminClient.deleteRecords); elsewhere a partition gets
 * NOT_LEADER_OR_FOLLOWER and the client asks the leader metadata names.
 */
export async function deleteRecords(
  ctx: BrokerContext,
  _version: number,
  request: kafka.DeleteRecordsRequestData,
  signal: AbortSignal,
): Promise<Reply> {
  await awaitLeadership(ctx, partitionsNamed(request.topics), signal);
  const topics = await Promise.all(
    request.topics.map(async (t) => ({
      name: t.name,
      partitions: await Promise.all(
        t.partitions.map(async (p) => {
          const r = await deletePartitionRecords(
            ctx,
            t.name,
            p.partitionIndex,
            Number(p.offset),
            request.timeoutMs,
            signal,
          );
          return {
            partitionIndex: p.partitionIndex,
            lowWatermark: Number(r.lowWatermark),
            errorCode: r.errorCode ?? 0,
          };
        }),
      ),
    })),
  );
  const body: kafka.DeleteRecordsResponseData = { throttleTimeMs: 0, topics };
  return { body };
}
