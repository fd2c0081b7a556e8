import { AFTER_SERIALIZE, ErrorCodes, SamsaError, type FetchResponseWithHook } from '@samsa/protocol';
import { kafka } from '@samsa/protocol/kafka';
import type { BrokerContext } from '../server/context.js';
import { handleFetch } from '../server/handlers/fetch.js';
import type { PartitionFetch, SessionContext } from './fetch-sessions.js';
import { awaitLeadership, groupPartitions } from './partitions.js';
import type { KafkaListenerState, Reply } from './reply.js';

const READ_COMMITTED = 1;

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
  if (request.replicaId >= 0)
    throw new SamsaError(
      ErrorCodes.INVALID_REQUEST,
      'Kafka followers are not served: Samsa brokers replicate over gRPC',
    );
  const session = openSession(version, request, state);
  if (session.kind === 'error')
    return { body: { errorCode: session.errorCode, sessionId: 0, responses: [] } satisfies kafka.FetchResponseData };
  await awaitLeadership(ctx, session.partitions, signal);
  const answer: FetchResponseWithHook = await handleFetch(
    ctx,
    {
      // Kafka answers once the bytes readable reach min_bytes: with 0 at once. The shared long poll waits
      // for a first byte whatever min_bytes says (a gRPC request's 0 is an unset field), so no wait here.
      maxWaitMs: request.minBytes <= 0 ? 0 : request.maxWaitMs,
      minBytes: request.minBytes,
      maxBytes: version >= 3 ? request.maxBytes : 0,
      topics: groupPartitions(session.partitions),
      isolationLevel: version >= 4 ? request.isolationLevel : 0,
    },
    signal,
  );
  const release = answer[AFTER_SERIALIZE];
  const read = (answer.topics ?? []).flatMap((t) =>
    (t.partitions ?? []).map((p) => {
      const records = (p.records as Buffer | undefined) ?? Buffer.alloc(0);
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
    responses: groupPartitions(included).map((t) => ({
      topic: t.name,
      partitions: t.partitions.map((p) => ({
        partitionIndex: p.partition,
        errorCode: p.errorCode,
        highWatermark: p.highWatermark,
        lastStableOffset: p.lastStableOffset,
        logStartOffset: p.logStartOffset,
        abortedTransactions: request.isolationLevel === READ_COMMITTED ? p.abortedTransactions : null,
        preferredReadReplica: -1,
        records: downTo === undefined ? p.records : kafka.batchesToMessageSet(p.records, downTo),
      })),
    })),
  };
  // Down-converted answers no longer hold the stored bytes; others hold them until written.
  if (downTo !== undefined) {
    release?.();
    return { body };
  }
  return { body, ...(release ? { release } : {}) };
}

/** Which partitions to read and how to answer: sessions exist from v7 on; before, every fetch is full. */
function openSession(version: number, request: kafka.FetchRequestData, state: KafkaListenerState): SessionContext {
  const asked: PartitionFetch[] = request.topics.flatMap((t) =>
    t.partitions.map((p) => ({
      topic: t.topic,
      partition: p.partition,
      fetchOffset: p.fetchOffset,
      partitionMaxBytes: p.partitionMaxBytes,
      currentLeaderEpoch: p.currentLeaderEpoch,
    })),
  );
  if (version < 7) return { kind: 'full', sessionId: 0, partitions: asked };
  return state.fetchSessions.open({
    sessionId: request.sessionId,
    sessionEpoch: request.sessionEpoch,
    partitions: asked,
    forgotten: request.forgottenTopicsData.flatMap((t) =>
      t.partitions.map((partition) => ({ topic: t.topic, partition })),
    ),
  });
}
