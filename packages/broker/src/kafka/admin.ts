import { ErrorCodes } from '@samsa/protocol';
import { kafka } from '@samsa/protocol/kafka';
import type { BrokerContext } from '../server/context.js';
import { toErrorFields } from '../server/errors.js';
import { handleCreateTopics, handleDeleteTopics, handleDescribeCluster } from '../server/handlers/admin.js';
import { handleInitProducerId } from '../server/handlers/init-producer-id.js';
import { authorizedOperations } from './authorized-operations.js';
import { describeTopicConfigs } from './describe-configs.js';
import { kafkaTopicId } from './metadata.js';
import type { Reply } from './reply.js';
import { initTransactionalProducerId } from './transactions.js';

export async function createTopics(
  ctx: BrokerContext,
  _version: number,
  request: kafka.CreateTopicsRequestData,
): Promise<Reply> {
  const manual = request.topics.filter((t) => t.assignments.length > 0);
  const answer = await handleCreateTopics(ctx, {
    topics: request.topics
      .filter((t) => t.assignments.length === 0)
      .map((t) => ({
        name: t.name,
        numPartitions: t.numPartitions,
        replicationFactor: t.replicationFactor,
        configs: Object.fromEntries(t.configs.filter((c) => c.value !== null).map((c) => [c.name, c.value!])),
      })),
    timeoutMs: request.timeoutMs,
    validateOnly: request.validateOnly,
  });
  const image = ctx.member.metadata.image;
  const asked = new Map(request.topics.map((t) => [t.name, t]));
  const body: kafka.CreateTopicsResponseData = {
    throttleTimeMs: 0,
    topics: [
      ...(answer.topics ?? []).map((r) => {
        const name = r.name ?? '';
        const topic = image.topics.get(name);
        const errorCode = r.errorCode ?? 0;
        return {
          name,
          topicId: kafkaTopicId(topic?.id ?? ''),
          errorCode,
          errorMessage: r.errorMessage ? r.errorMessage : null,
          ...(errorCode === 0
            ? createdShape(ctx, topic, asked.get(name)!)
            : { numPartitions: -1, replicationFactor: -1, configs: null }),
        };
      }),
      ...manual.map((t) => ({
        name: t.name,
        errorCode: ErrorCodes.INVALID_REQUEST.code,
        errorMessage: 'manual replica assignment is not supported',
      })),
    ],
  };
  return { body };
}

/**
 * DeleteTopics; v6 may name a topic by id. Every result carries its topic's id (v6): Java's admin client
 * matches the results of a delete by id to its topics by id alone. An id no topic has is
 * UNKNOWN_TOPIC_ID with a null name, as Kafka answers.
 */
/**
 * What CreateTopics v5+ tells of a created (or, validateOnly, validated) topic (KIP-525): its partition
 * count, replication factor and effective configs. Java's admin client reads the configs of every
 * successful topic and fails the call on a null list, so they are always there; a validated topic does
 * not exist, and its answer is what the request asked for over the broker's defaults.
 */
function createdShape(
  ctx: BrokerContext,
  topic:
    | { partitions: readonly { replicas: readonly number[] }[]; configs: Readonly<Record<string, string>> }
    | undefined,
  asked: kafka.CreateTopicsRequestData['topics'][number],
): { numPartitions: number; replicationFactor: number; configs: kafka.CreatableTopicConfig[] } {
  const overrides =
    topic?.configs ?? Object.fromEntries(asked.configs.flatMap((c) => (c.value === null ? [] : [[c.name, c.value]])));
  const defaultOr = (n: number, setting: 'num.partitions' | 'default.replication.factor') =>
    n === -1 ? (ctx.settings[setting] as number) : n;
  return {
    numPartitions: topic?.partitions.length ?? defaultOr(asked.numPartitions, 'num.partitions'),
    replicationFactor:
      topic?.partitions[0]?.replicas.length ?? defaultOr(asked.replicationFactor, 'default.replication.factor'),
    configs: describeTopicConfigs(ctx, overrides).map((c) => ({
      name: c.name,
      value: c.value,
      readOnly: c.readOnly,
      configSource: c.configSource,
      isSensitive: c.isSensitive,
    })),
  };
}

export async function deleteTopics(
  ctx: BrokerContext,
  _version: number,
  request: kafka.DeleteTopicsRequestData,
): Promise<Reply> {
  const topics = [...ctx.member.metadata.image.topics.values()];
  const byId = new Map(topics.map((t) => [kafkaTopicId(t.id), t.name]));
  const idOf = new Map(topics.map((t) => [t.name, kafkaTopicId(t.id)]));
  const unknownIds = request.topics.filter((t) => t.name === null && !byId.has(t.topicId)).map((t) => t.topicId);
  const names = [
    ...request.topicNames,
    ...request.topics.flatMap((t) => t.name ?? (byId.has(t.topicId) ? [byId.get(t.topicId)!] : [])),
  ];
  const answer =
    names.length > 0 ? await handleDeleteTopics(ctx, { topics: names, timeoutMs: request.timeoutMs }) : { topics: [] };
  const body: kafka.DeleteTopicsResponseData = {
    throttleTimeMs: 0,
    responses: [
      ...(answer.topics ?? []).map((r) => ({
        name: r.name ?? '',
        topicId: idOf.get(r.name ?? '') ?? kafka.ZERO_UUID,
        errorCode: r.errorCode ?? 0,
        errorMessage: r.errorMessage ? r.errorMessage : null,
      })),
      ...unknownIds.map((topicId) => ({
        name: null,
        topicId,
        errorCode: ErrorCodes.UNKNOWN_TOPIC_ID.code,
        errorMessage: `no topic has id ${topicId}`,
      })),
    ],
  };
  return { body };
}

export function describeCluster(
  ctx: BrokerContext,
  _version: number,
  request: kafka.DescribeClusterRequestData,
): Reply {
  try {
    const answer = handleDescribeCluster(ctx);
    return {
      body: {
        throttleTimeMs: 0,
        clusterAuthorizedOperations: authorizedOperations(request.includeClusterAuthorizedOperations, 'cluster'),
        errorCode: 0,
        errorMessage: null,
        clusterId: answer.clusterId ?? '',
        controllerId: answer.controllerId ?? -1,
        brokers: (answer.brokers ?? []).map((b) => ({
          brokerId: b.id ?? 0,
          host: b.host ?? '',
          port: b.port ?? 0,
          rack: b.rack ? b.rack : null,
        })),
      } satisfies kafka.DescribeClusterResponseData,
    };
  } catch (err) {
    const { errorCode, errorMessage } = toErrorFields(err, ctx.logger, {});
    return { body: { errorCode, errorMessage, clusterId: '', controllerId: -1, brokers: [] } };
  }
}

/**
 * InitProducerId: for idempotent producers a new id at epoch 0, or the next epoch of the id a producer
 * names (KIP-360), the log checking their sequences; with a transactional id, the transaction
 * coordinator of that id answers (transactions.ts).
 */
export async function initProducerId(
  ctx: BrokerContext,
  version: number,
  request: kafka.InitProducerIdRequestData,
): Promise<Reply> {
  if ((request.transactionalId ?? '') !== '') return initTransactionalProducerId(ctx, version, request);
  const answer = await handleInitProducerId(ctx, {
    transactionalId: '',
    transactionTimeoutMs: request.transactionTimeoutMs,
    producerId: request.producerId,
    producerEpoch: request.producerEpoch,
  });
  const body: kafka.InitProducerIdResponseData = {
    throttleTimeMs: 0,
    errorCode: answer.errorCode ?? 0,
    producerId: Number(answer.producerId ?? -1),
    producerEpoch: answer.producerEpoch ?? -1,
  };
  return { body };
}
