import {
  AFTER_SERIALIZE,
  Attribute,
  BatchField,
  CompressionCodec,
  ErrorCodes,
  forEachBatchAt,
  SamsaError,
  type FetchResponseWithHook,
} from '@samsa/protocol';
import { kafka } from '@samsa/protocol/kafka';
import type { BrokerContext } from '../server/context.js';
import { handleFetch } from '../server/handlers/fetch.js';
import type { PartitionFetch, SessionContext } from './fetch-sessions.js';
import { leaderIdAndEpoch, nodeEndpoints } from './leader-hints.js';
import { kafkaTopicId } from './metadata.js';
import { awaitLeadership, groupPartitions } from './partitions.js';
import type { KafkaListenerState, Reply } from './reply.js';

const READ_COMMITTED = 1;
/** Fetch v13+ names topics by id (KIP-516). */
const TOPIC_IDS_FROM_VERSION = 13;
/** Fetch v10+ may carry ZStandard batches (KIP-110). */
const ZSTD_FROM_VERSION = 10;
/** Fetch v16+ answers carry KIP-951's leader hints, as Kafka's broker fills them (from v16 only). */
const LEADER_HINTS_FROM_VERSION = 16;

/**
 * Fetch for consumers: the stored batches as they are from v4 on, converted down to magic 0 or 1
 * message sets before (headers and control batches dropped). read_committed (v4+) reads up to the last
 * stable offset and is told the aborted transactions among what it reads. Incremental fetch sessions
 * (KIP-227) from v7 on.
 */
export async function fetch(
  ctx: BrokerContext,
  version: number,
  request: kafka.FetchRequestData,
  signal: AbortSignal,
  state: KafkaListenerState,
): Promise<Reply> {
  if (request.replicaId >= 0 || (request.replicaState?.replicaId ?? -1) >= 0)
    throw new SamsaError(
      ErrorCodes.INVALID_REQUEST,
      'Kafka followers are not served: Samsa brokers replicate over gRPC',
    );
  // v13+: the metadata's topic ids, read once per request (to name the asked topics and the answer's).
  const ids = version >= TOPIC_IDS_FROM_VERSION ? topicIdsOf(ctx) : undefined;
  const { named, unknownIds } = topicsByName(ids, request);
  const session = openSession(version, named, state);
  if (session.kind === 'error')
    return { body: { errorCode: session.errorCode, sessionId: 0, responses: [] } satisfies kafka.FetchResponseData };
  const { live, gone } = recreatedApart(ids, session.partitions);
  await awaitLeadership(ctx, live, signal);
  const answer: FetchResponseWithHook = await handleFetch(
    ctx,
    {
      // Kafka answers once the bytes readable reach min_bytes: with 0 at once. The shared long poll waits
      // for a first byte whatever min_bytes says (a gRPC request's 0 is an unset field), so no wait here.
      // A topic id this broker does not know is an error to tell at once, as any partition's error is.
      maxWaitMs: request.minBytes <= 0 || unknownIds.length > 0 || gone.length > 0 ? 0 : request.maxWaitMs,
      minBytes: request.minBytes,
      maxBytes: version >= 3 ? request.maxBytes : 0,
      topics: groupPartitions(live),
      isolationLevel: version >= 4 ? request.isolationLevel : 0,
    },
    signal,
  );
  const release = answer[AFTER_SERIALIZE];
  const read = (answer.topics ?? []).flatMap((t) =>
    (t.partitions ?? []).map((p) => {
      const stored = (p.records as Buffer | undefined) ?? Buffer.alloc(0);
      // v4-v9 hand the stored batches over as they are, to consumers that predate ZStandard (KIP-110).
      const records = version >= 4 && version < ZSTD_FROM_VERSION ? beforeZstd(stored) : stored;
      if (records === undefined) return zstdRefused(t.name ?? '', p.partition ?? 0);
      return {
        topic: t.name ?? '',
        partition: p.partition ?? 0,
        errorCode: p.errorCode ?? 0,
        highWatermark: Number(p.highWatermark ?? -1),
        logStartOffset: Number(p.logStartOffset ?? -1),
        lastStableOffset: Number(p.lastStableOffset ?? p.highWatermark ?? -1),
        abortedTransactions: (p.abortedTransactions ?? []).map((a) => ({
          producerId: Number(a.producerId ?? -1),
          firstOffset: Number(a.firstOffset ?? -1),
        })),
        records,
        recordBytes: records.length,
        currentLeader: version >= LEADER_HINTS_FROM_VERSION && p.currentLeader ? p.currentLeader : undefined,
      };
    }),
  );
  const included = state.fetchSessions.answered(session, read) as typeof read;
  // Consumers before v4 predate v2 batches: stored batches go down to magic 0 (v0-v1) or 1 (v2-v3).
  const downTo = version < 2 ? 0 : version < 4 ? 1 : undefined;
  const body: kafka.FetchResponseData = {
    throttleTimeMs: 0,
    errorCode: 0,
    sessionId: session.sessionId,
    responses: [
      ...groupPartitions(included).map((t) => ({
        topic: t.name,
        topicId: ids?.byName.get(t.name) ?? kafka.ZERO_UUID,
        partitions: t.partitions.map((p) => ({
          partitionIndex: p.partition,
          errorCode: p.errorCode,
          highWatermark: p.highWatermark,
          lastStableOffset: p.lastStableOffset,
          logStartOffset: p.logStartOffset,
          abortedTransactions: request.isolationLevel === READ_COMMITTED ? p.abortedTransactions : null,
          preferredReadReplica: -1,
          ...(p.currentLeader ? { currentLeader: leaderIdAndEpoch(p.currentLeader) } : {}),
          records: downTo === undefined ? p.records : kafka.batchesToMessageSet(p.records, downTo),
        })),
      })),
      ...unknownIds,
      ...gone,
    ],
    nodeEndpoints: hintedEndpoints(included, answer.nodeEndpoints),
  };
  // Down-converted answers no longer hold the stored bytes; others hold them until written.
  if (downTo !== undefined) {
    release?.();
    return { body };
  }
  return { body, ...(release ? { release } : {}) };
}

/**
 * A consumer below Fetch v10 cannot read ZStandard (KIP-110). Kafka's broker answers a fetch of a zstd
 * topic below v10 UNSUPPORTED_COMPRESSION_TYPE; Samsa's topics have no compression.type of their own, so
 * the batches decide: the ones before the first zstd batch are handed over as they are (the stored bytes,
 * cut), and a partition whose next batch is zstd is refused (undefined). Fetch v0-v3 are converted down to
 * message sets, decompressed, and read zstd batches like any others.
 */
function beforeZstd(records: Buffer): Buffer | undefined {
  let zstdAt = -1;
  forEachBatchAt(records, BatchField.attributes + 2, (pos) => {
    if ((records.readInt16BE(pos + BatchField.attributes) & Attribute.compressionMask) !== CompressionCodec.zstd)
      return false;
    zstdAt = pos;
    return true;
  });
  if (zstdAt < 0) return records;
  return zstdAt === 0 ? undefined : records.subarray(0, zstdAt);
}

/** Kafka's answer for a partition refused as a whole (FetchResponse.partitionResponse): no offsets, no records. */
function zstdRefused(topic: string, partition: number) {
  return {
    topic,
    partition,
    errorCode: ErrorCodes.UNSUPPORTED_COMPRESSION_TYPE.code,
    highWatermark: -1,
    logStartOffset: -1,
    lastStableOffset: -1,
    abortedTransactions: [] as { producerId: number; firstOffset: number }[],
    records: Buffer.alloc(0),
    recordBytes: 0,
    currentLeader: undefined,
  };
}

/** The addresses of the leaders the included partitions name (an incremental answer may leave some out). */
function hintedEndpoints(
  included: readonly { currentLeader?: { leaderId?: number } | undefined }[],
  endpoints: FetchResponseWithHook['nodeEndpoints'],
): kafka.NodeEndpoint[] {
  const named = new Set(included.flatMap((p) => (p.currentLeader ? [p.currentLeader.leaderId] : [])));
  return named.size === 0 ? [] : nodeEndpoints(endpoints?.filter((b) => named.has(b.id)));
}

interface TopicIds {
  /** Metadata v10+'s topic id of each topic, by name. */
  readonly byName: ReadonlyMap<string, string>;
  /** The other way, without the zero id (topics that predate ids are fetched by name). */
  readonly byId: ReadonlyMap<string, string>;
}

/**
 * Each metadata image's topics map is new whenever a topic changes (metadata.ts builds images without
 * changing the old ones), so the ids are worked out once per map, not for every topic on every fetch.
 */
const topicIdsByMap = new WeakMap<object, TopicIds>();

/** This broker's topic ids (Metadata v10+'s), both ways. */
function topicIdsOf(ctx: BrokerContext): TopicIds {
  const topics = ctx.member.metadata.image.topics;
  let ids = topicIdsByMap.get(topics);
  if (ids === undefined) {
    const byName = new Map([...topics.values()].map((t) => [t.name, kafkaTopicId(t.id)]));
    const byId = new Map([...byName].map(([name, id]) => [id, name]));
    byId.delete(kafka.ZERO_UUID);
    ids = { byName, byId };
    topicIdsByMap.set(topics, ids);
  }
  return ids;
}

interface NamedFetch {
  readonly sessionId: number;
  readonly sessionEpoch: number;
  readonly topics: readonly {
    topic: string;
    topicId?: string;
    partitions: readonly kafka.FetchRequestPartition[];
  }[];
  readonly forgotten: readonly { topic: string; partitions: readonly number[] }[];
  /** v13+: forgotten under an id this broker no longer knows (the session holds the id). */
  readonly forgottenIds?: readonly { topicId: string; partitions: readonly number[] }[];
}

/**
 * A v13+ session's partitions whose topic no longer has the id the client named it by (deleted, and
 * created again under the same name) are not read: Kafka's sessions hold topic ids, and answer them
 * UNKNOWN_TOPIC_ID, so the client looks the topic up again (and replaces the partition, or forgets it)
 * instead of reading the new topic from the old one's offsets. A full fetch's ids were just looked up.
 */
function recreatedApart(
  ids: TopicIds | undefined,
  partitions: readonly PartitionFetch[],
): { live: readonly PartitionFetch[]; gone: kafka.FetchResponseData['responses'] } {
  if (ids === undefined || partitions.every((p) => p.topicId === undefined || ids.byName.get(p.topic) === p.topicId))
    return { live: partitions, gone: [] };
  const byId = new Map<string, kafka.FetchResponsePartition[]>();
  const live = partitions.filter((p) => {
    if (p.topicId === undefined || ids.byName.get(p.topic) === p.topicId) return true;
    const refused = byId.get(p.topicId) ?? [];
    refused.push({
      partitionIndex: p.partition,
      errorCode: ErrorCodes.UNKNOWN_TOPIC_ID.code,
      highWatermark: -1,
      records: null,
    });
    byId.set(p.topicId, refused);
    return false;
  });
  return { live, gone: [...byId].map(([topicId, refused]) => ({ topic: '', topicId, partitions: refused })) };
}

/**
 * The request's topics by name: v13+ names them by id, looked up in this broker's metadata. A partition
 * of an id it does not know (a topic deleted, or recreated under the same name) is answered
 * UNKNOWN_TOPIC_ID, as Kafka answers it, and is not read; a forgotten one is dropped.
 */
function topicsByName(
  ids: TopicIds | undefined,
  request: kafka.FetchRequestData,
): { named: NamedFetch; unknownIds: kafka.FetchResponseData['responses'] } {
  if (ids === undefined) return { named: { ...request, forgotten: request.forgottenTopicsData }, unknownIds: [] };
  const { byId } = ids;
  const unknownIds: kafka.FetchResponseData['responses'] = [];
  const topics = request.topics.flatMap((t) => {
    const topic = byId.get(t.topicId);
    if (topic !== undefined) return [{ topic, topicId: t.topicId, partitions: t.partitions }];
    unknownIds.push({
      topic: '',
      topicId: t.topicId,
      partitions: t.partitions.map((p) => ({
        partitionIndex: p.partition,
        errorCode: ErrorCodes.UNKNOWN_TOPIC_ID.code,
        highWatermark: -1,
        records: null,
      })),
    });
    return [];
  });
  const known = request.forgottenTopicsData.filter((t) => byId.has(t.topicId));
  const forgotten = known.map((t) => ({ topic: byId.get(t.topicId) as string, partitions: t.partitions }));
  const forgottenIds = request.forgottenTopicsData.filter((t) => !byId.has(t.topicId));
  const { sessionId, sessionEpoch } = request;
  return { named: { sessionId, sessionEpoch, topics, forgotten, forgottenIds }, unknownIds };
}

/** Which partitions to read and how to answer: sessions exist from v7 on; before, every fetch is full. */
function openSession(version: number, request: NamedFetch, state: KafkaListenerState): SessionContext {
  const asked: PartitionFetch[] = request.topics.flatMap((t) =>
    t.partitions.map((p) => ({
      topic: t.topic,
      partition: p.partition,
      fetchOffset: p.fetchOffset,
      partitionMaxBytes: p.partitionMaxBytes,
      currentLeaderEpoch: p.currentLeaderEpoch,
      ...(version >= TOPIC_IDS_FROM_VERSION && t.topicId !== undefined ? { topicId: t.topicId } : {}),
    })),
  );
  if (version < 7) return { kind: 'full', sessionId: 0, partitions: asked };
  return state.fetchSessions.open({
    sessionId: request.sessionId,
    sessionEpoch: request.sessionEpoch,
    partitions: asked,
    forgotten: request.forgotten.flatMap((t) => t.partitions.map((partition) => ({ topic: t.topic, partition }))),
    forgottenIds: (request.forgottenIds ?? []).flatMap((t) =>
      t.partitions.map((partition) => ({ topicId: t.topicId, partition })),
    ),
  });
}
