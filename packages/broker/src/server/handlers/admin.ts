import { ErrorCodes, SamsaError, type v1 } from '@samsa/protocol';
import { checkMinInsyncReplicas, topicConfigChanges, validateTopicConfigs } from '../../config.js';
import type { TopicPartitionRef } from '../../controller/core.js';
import type { NewTopic } from '../../controller/driver.js';
import type { BrokerContext } from '../context.js';
import { NO_ERROR, errorFields } from '../errors.js';
import { brokersOn } from './metadata.js';

/** How long CreateTopics/DeleteTopics wait for the result to show in metadata when asked for no limit. */
const DEFAULT_ADMIN_TIMEOUT_MS = 30_000;

/**
 * CreateTopics, answered by the controller (others say NotController and the client retries there).
 * -1 partitions or replication factor means the broker default. When the request has a timeout, the
 * answer waits until every new partition has a leader, so a producer can use the topic at once.
 */
export async function handleCreateTopics(
  ctx: BrokerContext,
  request: v1.CreateTopicsRequest__Output,
): Promise<v1.CreateTopicsResponse> {
  const rejected: v1.TopicResult[] = [];
  const accepted: NewTopic[] = [];
  for (const t of request.topics) {
    try {
      const replicationFactor =
        t.replicationFactor === -1 ? (ctx.settings['default.replication.factor'] as number) : t.replicationFactor;
      const configs = validateTopicConfigs(t.configs);
      checkMinInsyncReplicas(configs, replicationFactor);
      accepted.push({
        name: t.name,
        numPartitions: t.numPartitions === -1 ? (ctx.settings['num.partitions'] as number) : t.numPartitions,
        replicationFactor,
        configs,
      });
    } catch (err) {
      // The detail only: the client puts the error's name in front of it.
      const message = err instanceof SamsaError ? err.detail : err instanceof Error ? err.message : String(err);
      rejected.push({ name: t.name, ...errorFields(ErrorCodes.INVALID_CONFIG, message) });
    }
  }
  const results =
    accepted.length > 0 ? await ctx.member.createTopics(accepted, { validateOnly: request.validateOnly }) : [];
  const created = results.filter((r) => r.errorCode === 0).map((r) => r.name);
  if (!request.validateOnly && created.length > 0 && request.timeoutMs !== 0) {
    await ctx.member.metadata
      .waitFor(
        (image) =>
          created.every((name) => {
            const topic = image.topics.get(name);
            return topic !== undefined && topic.partitions.length > 0 && topic.partitions.every((p) => p.leader >= 0);
          }),
        timeoutOf(request.timeoutMs),
      )
      .catch(() => undefined); // the topic exists; leaders may still be on their way
  }
  return { topics: [...rejected, ...results.map((r) => ({ ...r }))] };
}

/**
 * CreatePartitions, answered by the controller. With a timeout the answer waits until every new
 * partition has a leader in this broker's metadata, so producers can use them at once.
 */
export async function handleCreatePartitions(
  ctx: BrokerContext,
  request: v1.CreatePartitionsRequest__Output,
): Promise<v1.CreatePartitionsResponse> {
  const results = await ctx.member.createPartitions(
    request.topics.map((t) => ({ name: t.name, count: t.count })),
    { validateOnly: request.validateOnly },
  );
  const grown = request.topics.filter((t) => results.some((r) => r.name === t.name && r.errorCode === 0));
  if (!request.validateOnly && grown.length > 0 && request.timeoutMs !== 0) {
    await ctx.member.metadata
      .waitFor(
        (image) =>
          grown.every((t) => {
            const partitions = image.topics.get(t.name)?.partitions ?? [];
            return partitions.length >= t.count && partitions.every((p) => p.leader >= 0);
          }),
        timeoutOf(request.timeoutMs),
      )
      .catch(() => undefined); // written; the brokers may still be taking their roles
  }
  return { topics: results.map((r) => ({ ...r })) };
}

/**
 * AlterConfigs (Kafka's IncrementalAlterConfigs on topics), answered by the controller: each
 * resource's operations are checked here, then the controller applies them to the topic's configs.
 */
export async function handleAlterConfigs(
  ctx: BrokerContext,
  request: v1.AlterConfigsRequest__Output,
): Promise<v1.AlterConfigsResponse> {
  const topics = await Promise.all(
    request.resources.map(async (r): Promise<v1.TopicResult> => {
      let changes: ReturnType<typeof topicConfigChanges>;
      try {
        changes = topicConfigChanges(r.ops);
      } catch (err) {
        if (!(err instanceof SamsaError)) throw err;
        return { name: r.topic, errorCode: err.code, errorMessage: err.detail };
      }
      return ctx.member.alterTopicConfigs({
        topic: r.topic,
        ...changes,
        replace: request.replace,
        validateOnly: request.validateOnly,
      });
    }),
  );
  return { topics };
}

export async function handleDeleteTopics(
  ctx: BrokerContext,
  request: v1.DeleteTopicsRequest__Output,
): Promise<v1.DeleteTopicsResponse> {
  if (!ctx.settings['delete.topic.enable']) {
    return {
      topics: request.topics.map((name) => ({
        name,
        ...errorFields(ErrorCodes.INVALID_REQUEST, 'topic deletion is disabled (delete.topic.enable=false)'),
      })),
    };
  }
  const results = await ctx.member.deleteTopics(request.topics);
  const deleted = results.filter((r) => r.errorCode === 0).map((r) => r.name);
  if (deleted.length > 0 && request.timeoutMs !== 0) {
    await ctx.member.metadata
      .waitFor((image) => deleted.every((name) => !image.topics.has(name)), timeoutOf(request.timeoutMs))
      .catch(() => undefined);
  }
  return { topics: results.map((r) => ({ ...r })) };
}

/**
 * ElectLeaders (preferred), answered by the controller; elsewhere the whole request fails with
 * NotController and the client retries there. A topic named without partitions means all of its
 * partitions, no topic at all every partition in the cluster. When the request has a timeout the
 * answer waits until the new leaders show in this broker's metadata.
 */
export async function handleElectLeaders(
  ctx: BrokerContext,
  request: v1.ElectLeadersRequest__Output,
): Promise<v1.ElectLeadersResponse> {
  const image = ctx.member.metadata.image;
  const refs: TopicPartitionRef[] = [];
  const unknown: v1.ElectionResult[] = [];
  for (const t of request.topics) {
    const partitions =
      t.partitions.length > 0 ? t.partitions : (image.topics.get(t.topic)?.partitions.map((p) => p.partition) ?? []);
    if (partitions.length === 0)
      unknown.push({
        topic: t.topic,
        partition: -1,
        ...errorFields(ErrorCodes.UNKNOWN_TOPIC_OR_PARTITION, `Topic '${t.topic}' does not exist`),
      });
    for (const partition of partitions) refs.push({ topic: t.topic, partition });
  }
  if (request.topics.length > 0 && refs.length === 0) return { ...NO_ERROR, results: unknown };
  let results: Awaited<ReturnType<typeof ctx.member.electPreferredLeaders>>;
  try {
    results = await ctx.member.electPreferredLeaders(refs);
  } catch (err) {
    if (err instanceof SamsaError) return { errorCode: err.code, errorMessage: err.detail, results: [] };
    throw err;
  }
  const elected = results.filter((r) => r.errorCode === 0);
  if (elected.length > 0 && request.timeoutMs !== 0) {
    await ctx.member.metadata
      .waitFor(
        (now) =>
          elected.every((r) => {
            const p = now.topics.get(r.topic)?.partitions[r.partition];
            return p !== undefined && p.leader === p.replicas[0];
          }),
        timeoutOf(request.timeoutMs),
      )
      .catch(() => undefined); // decided and written; the brokers may still be taking their roles
  }
  return { ...NO_ERROR, results: [...unknown, ...results] };
}

/**
 * AlterPartitionReassignments (KIP-455), answered by the controller; elsewhere the whole request
 * fails with NotController and the client retries there. An empty replica list cancels that
 * partition's move. The answer comes once the moves are started (written), not when they complete:
 * Metadata shows adding/removing replicas until then.
 */
export async function handleAlterPartitionReassignments(
  ctx: BrokerContext,
  request: v1.AlterPartitionReassignmentsRequest__Output,
): Promise<v1.AlterPartitionReassignmentsResponse> {
  const reassignments = request.partitions.map((p) => ({
    topic: p.topic,
    partition: p.partition,
    replicas: p.replicas.length > 0 ? p.replicas : null,
  }));
  try {
    const { results, throttlesCleared } = await ctx.member.reassignPartitions(
      reassignments,
      Number(request.throttleBytesPerSec),
      request.clearThrottleTopics,
    );
    return { ...NO_ERROR, results, throttlesCleared };
  } catch (err) {
    if (err instanceof SamsaError)
      return { errorCode: err.code, errorMessage: err.detail, results: [], throttlesCleared: [] };
    throw err;
  }
}

export function handleDescribeCluster(ctx: BrokerContext): v1.DescribeClusterResponse {
  const image = ctx.member.metadata.image;
  if (!image.clusterId) throw new SamsaError(ErrorCodes.BROKER_NOT_AVAILABLE, 'metadata is not loaded yet');
  return {
    clusterId: image.clusterId,
    controllerId: image.controllerId,
    controllerEpoch: image.controllerEpoch,
    brokers: brokersOn(image.brokers, ctx.listenerName),
  };
}

function timeoutOf(requestTimeoutMs: number): number {
  return requestTimeoutMs > 0 ? requestTimeoutMs : DEFAULT_ADMIN_TIMEOUT_MS;
}
