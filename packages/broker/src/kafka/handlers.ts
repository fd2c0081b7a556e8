import { AFTER_SERIALIZE, ErrorCodes, SamsaError, kafka, type FetchResponseWithHook, type v1 } from '@samsa/protocol';
import type { BrokerContext } from '../server/context.js';
import { toErrorFields } from '../server/errors.js';
import { handleCreateTopics, handleDeleteTopics, handleDescribeCluster } from '../server/handlers/admin.js';
import { checkLeaderEpoch, handleFetch } from '../server/handlers/fetch.js';
import { handleListOffsets } from '../server/handlers/list-offsets.js';
import { handleMetadata } from '../server/handlers/metadata.js';
import { handleInitProducerId } from '../server/handlers/init-producer-id.js';
import { handleProduce } from '../server/handlers/produce.js';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Served } from './connection.js';
import { describeConfigs } from './describe-configs.js';
import type { FetchSessions, PartitionFetch } from './fetch-sessions.js';

/**
 * Kafka requests served by the handlers the gRPC server uses: each function maps a decoded request
 * onto the internal one and the internal answer back onto Kafka's response for the request's version.
 * Records are never decoded for v2-batch versions: produce appends the client's bytes, fetch hands out
 * the stored ones.
 */

type Handler = (
  ctx: BrokerContext,
  version: number,
  body: never,
  signal: AbortSignal,
  state: KafkaListenerState,
) => Promise<Reply> | Reply;

/** What a Kafka listener keeps across requests and connections. */
export interface KafkaListenerState {
  readonly fetchSessions: FetchSessions;
}

/** A response body, or none (acks=0 Produce), and what to do once it is written. */
interface Reply {
  readonly body: object | null;
  readonly release?: () => void;
}

const { ApiKey } = kafka;

const HANDLERS = new Map<number, Handler>([
  [ApiKey.ApiVersions, apiVersions as Handler],
  [ApiKey.Metadata, metadata as Handler],
  [ApiKey.Produce, produce as Handler],
  [ApiKey.Fetch, fetch as Handler],
  [ApiKey.ListOffsets, listOffsets as Handler],
  [ApiKey.OffsetForLeaderEpoch, offsetForLeaderEpoch as Handler],
  [ApiKey.CreateTopics, createTopics as Handler],
  [ApiKey.DeleteTopics, deleteTopics as Handler],
  [ApiKey.DescribeCluster, describeCluster as Handler],
  [ApiKey.InitProducerId, initProducerId as Handler],
  [
    ApiKey.DescribeConfigs,
    ((ctx, _v, request: kafka.DescribeConfigsRequestData) => ({
      body: describeConfigs(ctx, request),
    })) as Handler,
  ],
]);

/** The APIs this broker serves on a Kafka listener, with the versions ApiVersions advertises. */
export const SERVED_APIS: ReadonlyMap<number, kafka.ApiCodec> = new Map(
  [...kafka.KAFKA_APIS].filter(([key]) => HANDLERS.has(key)),
);

export function supportedApi(apiKey: number): kafka.ApiCodec | undefined {
  return SERVED_APIS.get(apiKey);
}

/** Serves one decoded request and encodes its response. */
export async function serveKafkaRequest(
  ctx: BrokerContext,
  state: KafkaListenerState,
  request: kafka.DecodedRequest,
  signal: AbortSignal,
): Promise<Served> {
  const { header } = request;
  if (request.kind === 'api-versions-unsupported') {
    // Kafka's answer to an ApiVersions version it does not know: v0, UNSUPPORTED_VERSION, and the
    // versions it does know, so the client can retry with one of them.
    const api = SERVED_APIS.get(ApiKey.ApiVersions)!;
    const body = { errorCode: ErrorCodes.UNSUPPORTED_VERSION.code, apiKeys: apiVersionRanges() };
    return { chunks: kafka.encodeResponse(api, 0, header.correlationId, body) };
  }
  const handler = HANDLERS.get(header.apiKey)!;
  const reply = await handler(ctx, header.apiVersion, request.body as never, signal, state);
  if (reply.body === null) return { chunks: null, ...(reply.release ? { release: reply.release } : {}) };
  try {
    const chunks = kafka.encodeResponse(request.api, header.apiVersion, header.correlationId, reply.body);
    return { chunks, ...(reply.release ? { release: reply.release } : {}) };
  } catch (err) {
    reply.release?.();
    throw err;
  }
}

function apiVersionRanges(): kafka.ApiVersionRange[] {
  return [...SERVED_APIS.values()].map((a) => ({ apiKey: a.key, minVersion: a.minVersion, maxVersion: a.maxVersion }));
}

function apiVersions(): Reply {
  return {
    body: { errorCode: 0, apiKeys: apiVersionRanges(), throttleTimeMs: 0 } satisfies kafka.ApiVersionsResponseData,
  };
}

/** Samsa's topic ids are Kafka's 16 bytes in URL-safe base64; an id of another form (an old czxid) is unknown. */
function kafkaTopicId(id: string): string {
  return id.length === 22 && Buffer.from(id, 'base64url').length === 16 ? id : kafka.ZERO_UUID;
}

async function metadata(ctx: BrokerContext, version: number, request: kafka.MetadataRequestData): Promise<Reply> {
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
  const topics: kafka.MetadataTopic[] = (answer.topics ?? []).map((t) => ({
    errorCode: t.errorCode ?? 0,
    name: t.name ?? '',
    topicId: kafkaTopicId(image.topics.get(t.name ?? '')?.id ?? ''),
    isInternal: false,
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
  };
  return { body };
}

/** How long a request waits for a partition this broker is about to lead. */
const ROLE_GRACE_MS = 1000;
const ROLE_POLL_MS = 10;

/**
 * Metadata names a new leader (a created topic, an election) a moment before that broker has taken up
 * the role: each broker learns its roles from the coordinator on its own. Kafka clients that do not
 * retry NOT_LEADER_OR_FOLLOWER on every call (sarama's ListOffsets when it starts a partition
 * consumer, KafkaJS's admin offsets) would fail in that window, so a request for partitions this
 * broker's metadata says it leads, or does not know yet, waits up to ROLE_GRACE_MS for the roles. A
 * partition known to be led elsewhere is answered at once (the client's metadata is stale).
 */
async function awaitLeadership(
  ctx: BrokerContext,
  partitions: readonly { topic: string; partition: number }[],
  signal: AbortSignal,
): Promise<void> {
  const becoming = () =>
    partitions.some(({ topic, partition }) => {
      if (ctx.partitions.get(topic, partition)?.role === 'leader') return false;
      const known = ctx.member.metadata.image.topics.get(topic)?.partitions[partition];
      return known === undefined || known.leader === ctx.brokerId;
    });
  const deadline = Date.now() + ROLE_GRACE_MS;
  while (becoming() && Date.now() < deadline && !signal.aborted) await sleep(ROLE_POLL_MS);
}

/** Produce v0-v2 carry magic 0/1 message sets: converted once here to the v2 batch the log stores. */
function recordsForLog(version: number, records: Buffer | null): Buffer {
  if (records === null || records.length === 0) return Buffer.alloc(0);
  return version < 3 ? kafka.messageSetToBatch(records, Date.now()) : records;
}

async function produce(
  ctx: BrokerContext,
  version: number,
  request: kafka.ProduceRequestData,
  signal: AbortSignal,
): Promise<Reply> {
  if (request.transactionalId !== null) {
    if (request.acks === 0) return { body: null };
    const responses = request.topicData.map((t) => ({
      name: t.name,
      partitionResponses: t.partitionData.map((p) => transactionsUnsupported(p.index)),
    }));
    return { body: { responses, throttleTimeMs: 0 } satisfies kafka.ProduceResponseData };
  }
  const failed = new Map<string, kafka.ProducePartitionResult>();
  const topics: v1.ProduceTopicData[] = request.topicData.map((t) => ({
    name: t.name,
    partitions: t.partitionData.flatMap((p) => {
      try {
        return [{ partition: p.index, records: recordsForLog(version, p.records) }];
      } catch (err) {
        const { errorCode, errorMessage } = toErrorFields(err, ctx.logger, { topic: t.name, partition: p.index });
        failed.set(`${t.name}/${p.index}`, { index: p.index, errorCode, baseOffset: -1, errorMessage });
        return [];
      }
    }),
  }));
  await awaitLeadership(
    ctx,
    request.topicData.flatMap((t) => t.partitionData.map((p) => ({ topic: t.name, partition: p.index }))),
    signal,
  );
  const answer = await handleProduce(
    ctx,
    { acks: request.acks, timeoutMs: request.timeoutMs, topics } as v1.ProduceRequest__Output,
    signal,
  );
  if (request.acks === 0) return { body: null };
  const results = new Map<string, kafka.ProducePartitionResult>(failed);
  for (const t of answer.topics ?? []) {
    for (const p of t.partitions ?? []) {
      results.set(`${t.name}/${p.partition}`, {
        index: p.partition ?? 0,
        errorCode: p.errorCode ?? 0,
        baseOffset: Number(p.baseOffset ?? -1),
        logAppendTimeMs: Number(p.logAppendTimeMs ?? -1),
        logStartOffset: Number(p.logStartOffset ?? -1),
        errorMessage: p.errorMessage ? p.errorMessage : null,
      });
    }
  }
  const body: kafka.ProduceResponseData = {
    responses: request.topicData.map((t) => ({
      name: t.name,
      partitionResponses: t.partitionData.map((p) => results.get(`${t.name}/${p.index}`)!),
    })),
    throttleTimeMs: 0,
  };
  return { body };
}

function transactionsUnsupported(index: number): kafka.ProducePartitionResult {
  return {
    index,
    errorCode: ErrorCodes.INVALID_REQUEST.code,
    baseOffset: -1,
    errorMessage: 'transactional produce is not supported yet',
  };
}

const READ_COMMITTED = 1;

async function fetch(
  ctx: BrokerContext,
  version: number,
  request: kafka.FetchRequestData,
  signal: AbortSignal,
  state: KafkaListenerState,
): Promise<Reply> {
  if (request.replicaId >= 0)
    throw new SamsaError(
      ErrorCodes.INVALID_REQUEST,
      'Kafka followers are not served: Samsa brokers replicate over gRPC',
    );
  const asked: PartitionFetch[] = request.topics.flatMap((t) =>
    t.partitions.map((p) => ({
      topic: t.topic,
      partition: p.partition,
      fetchOffset: p.fetchOffset,
      partitionMaxBytes: p.partitionMaxBytes,
      currentLeaderEpoch: p.currentLeaderEpoch,
    })),
  );
  // Sessions exist from v7 on; older requests carry no session fields and are full fetches.
  const session =
    version >= 7
      ? state.fetchSessions.open({
          sessionId: request.sessionId,
          sessionEpoch: request.sessionEpoch,
          partitions: asked,
          forgotten: request.forgottenTopicsData.flatMap((t) =>
            t.partitions.map((partition) => ({ topic: t.topic, partition })),
          ),
        })
      : ({ kind: 'full', sessionId: 0, partitions: asked } as const);
  if (session.kind === 'error')
    return { body: { errorCode: session.errorCode, sessionId: 0, responses: [] } satisfies kafka.FetchResponseData };
  await awaitLeadership(ctx, session.partitions, signal);
  const answer: FetchResponseWithHook = await handleFetch(
    ctx,
    {
      maxWaitMs: request.maxWaitMs,
      minBytes: request.minBytes,
      maxBytes: version >= 3 ? request.maxBytes : 0,
      topics: groupPartitions(session.partitions),
    },
    signal,
  );
  const release = answer[AFTER_SERIALIZE];
  const partitions = (answer.topics ?? []).flatMap((t) =>
    (t.partitions ?? []).map((p) => {
      const records = (p.records as Buffer | undefined) ?? Buffer.alloc(0);
      return {
        topic: t.name ?? '',
        partition: p.partition ?? 0,
        errorCode: p.errorCode ?? 0,
        highWatermark: Number(p.highWatermark ?? -1),
        logStartOffset: Number(p.logStartOffset ?? -1),
        records,
        recordBytes: records.length,
      };
    }),
  );
  const included = state.fetchSessions.answered(session, partitions) as typeof partitions;
  // Consumers before v4 predate v2 batches: stored batches go down to magic 0 (v0-v1) or 1 (v2-v3).
  const downTo = version < 2 ? 0 : version < 4 ? 1 : undefined;
  const body: kafka.FetchResponseData = {
    throttleTimeMs: 0,
    errorCode: 0,
    sessionId: session.sessionId,
    responses: groupPartitions(included).map((t) => ({
      topic: t.name,
      partitions: t.partitions.map((p) => ({
        partitionIndex: p.partition,
        errorCode: p.errorCode,
        highWatermark: p.highWatermark,
        // No transactions yet: every committed offset is stable (LSO = high watermark).
        lastStableOffset: p.highWatermark,
        logStartOffset: p.logStartOffset,
        abortedTransactions: request.isolationLevel === READ_COMMITTED ? [] : null,
        preferredReadReplica: -1,
        records: downTo === undefined ? p.records : kafka.batchesToMessageSet(p.records, downTo),
      })),
    })),
  };
  if (downTo !== undefined) {
    release?.();
    return { body };
  }
  return { body, ...(release ? { release } : {}) };
}

/** Partitions grouped by topic, topics in order of first appearance. */
function groupPartitions<P extends { topic: string }>(partitions: readonly P[]): { name: string; partitions: P[] }[] {
  const byTopic = new Map<string, P[]>();
  for (const p of partitions) {
    const list = byTopic.get(p.topic);
    if (list) list.push(p);
    else byTopic.set(p.topic, [p]);
  }
  return [...byTopic].map(([name, list]) => ({ name, partitions: list }));
}

async function listOffsets(
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

function offsetForLeaderEpoch(
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

async function createTopics(
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
  const body: kafka.CreateTopicsResponseData = {
    throttleTimeMs: 0,
    topics: [
      ...(answer.topics ?? []).map((r) => {
        const topic = image.topics.get(r.name ?? '');
        return {
          name: r.name ?? '',
          topicId: kafkaTopicId(topic?.id ?? ''),
          errorCode: r.errorCode ?? 0,
          errorMessage: r.errorMessage ? r.errorMessage : null,
          numPartitions: topic?.partitions.length ?? -1,
          replicationFactor: topic?.partitions[0]?.replicas.length ?? -1,
          configs: null,
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

async function deleteTopics(
  ctx: BrokerContext,
  _version: number,
  request: kafka.DeleteTopicsRequestData,
): Promise<Reply> {
  const byId = new Map([...ctx.member.metadata.image.topics.values()].map((t) => [kafkaTopicId(t.id), t.name]));
  const names = [
    ...request.topicNames,
    ...request.topics.map((t) => t.name ?? byId.get(t.topicId) ?? `unknown topic id ${t.topicId}`),
  ];
  const answer = await handleDeleteTopics(ctx, { topics: names, timeoutMs: request.timeoutMs });
  const body: kafka.DeleteTopicsResponseData = {
    throttleTimeMs: 0,
    responses: (answer.topics ?? []).map((r) => ({
      name: r.name ?? '',
      errorCode: r.errorCode ?? 0,
      errorMessage: r.errorMessage ? r.errorMessage : null,
    })),
  };
  return { body };
}

function describeCluster(ctx: BrokerContext): Reply {
  try {
    const answer = handleDescribeCluster(ctx);
    return {
      body: {
        throttleTimeMs: 0,
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
 * InitProducerId for idempotent producers (a new id at epoch 0, or the next epoch of the id a
 * producer names, KIP-360); the log checks their sequences. A transactional id is refused until the
 * transaction coordinator lands.
 */
async function initProducerId(
  ctx: BrokerContext,
  _version: number,
  request: kafka.InitProducerIdRequestData,
): Promise<Reply> {
  const answer = await handleInitProducerId(ctx, {
    transactionalId: request.transactionalId ?? '',
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
