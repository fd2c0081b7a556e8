import { ErrorCodes } from '@samsa/protocol';
import { kafka } from '@samsa/protocol/kafka';
import type { BrokerContext } from '../server/context.js';
import { handleMetadata } from '../server/handlers/metadata.js';
import { OFFSETS_TOPIC } from '../group/offsets-topic.js';
import { authorizedOperations } from './authorized-operations.js';
import type { Reply } from './reply.js';

/** Topics Kafka's clients leave out of pattern subscriptions and list apart (`__transaction_state` to come). */
const INTERNAL_TOPICS: ReadonlySet<string> = new Set([OFFSETS_TOPIC, '__transaction_state']);

/** Samsa's topic ids are Kafka's 16 bytes in URL-safe base64; an id of another form (an old czxid) is unknown. */
export function kafkaTopicId(id: string): string {
  return id.length === 22 && Buffer.from(id, 'base64url').length === 16 ? id : kafka.ZERO_UUID;
}

export async function metadata(
  ctx: BrokerContext,
  version: number,
  request: kafka.MetadataRequestData,
): Promise<Reply> {
  const image = ctx.member.metadata.image;
  // v0: an empty list means every topic; v1+: null means every topic and an empty list none.
  const all = request.topics === null || (version === 0 && request.topics.length === 0);
  const byId = new Map([...image.topics.values()].map((t) => [kafkaTopicId(t.id), t.name]));
  const unknownIds: kafka.MetadataTopic[] = [];
  const names: string[] = [];
  for (const t of all ? [] : request.topics!) {
    if (t.name !== null) names.push(t.name);
    else if (byId.has(t.topicId) && t.topicId !== kafka.ZERO_UUID) names.push(byId.get(t.topicId)!);
    else
      unknownIds.push({
        errorCode: ErrorCodes.UNKNOWN_TOPIC_ID.code,
        name: null,
        topicId: t.topicId,
        isInternal: false,
        partitions: [],
      });
  }
  const answer =
    all || names.length > 0
      ? await handleMetadata(ctx, {
          topics: names,
          allowAutoTopicCreation: version < 4 || request.allowAutoTopicCreation,
        })
      : await handleMetadata(ctx, { topics: [], allowAutoTopicCreation: false }).then((r) => ({ ...r, topics: [] }));
  const topicOperations = authorizedOperations(version >= 8 && request.includeTopicAuthorizedOperations, 'topic');
  const topics: kafka.MetadataTopic[] = (answer.topics ?? []).map((t) => ({
    errorCode: t.errorCode ?? 0,
    name: t.name ?? '',
    topicId: kafkaTopicId(image.topics.get(t.name ?? '')?.id ?? ''),
    isInternal: INTERNAL_TOPICS.has(t.name ?? ''),
    topicAuthorizedOperations: topicOperations,
    partitions: (t.partitions ?? []).map((p) => ({
      errorCode: p.errorCode ?? 0,
      partitionIndex: p.partition ?? 0,
      leaderId: p.leader ?? -1,
      leaderEpoch: p.leaderEpoch ?? -1,
      replicaNodes: [...(p.replicas ?? [])],
      isrNodes: [...(p.isr ?? [])],
      offlineReplicas: [...(p.offlineReplicas ?? [])],
    })),
  }));
  const body: kafka.MetadataResponseData = {
    throttleTimeMs: 0,
    brokers: (answer.brokers ?? []).map((b) => ({
      nodeId: b.id ?? 0,
      host: b.host ?? '',
      port: b.port ?? 0,
      rack: b.rack ? b.rack : null,
    })),
    clusterId: answer.clusterId ? answer.clusterId : null,
    controllerId: answer.controllerId ?? -1,
    topics: [...topics, ...unknownIds],
    clusterAuthorizedOperations: authorizedOperations(
      version >= 8 && version <= 10 && request.includeClusterAuthorizedOperations,
      'cluster',
    ),
  };
  return { body };
}
