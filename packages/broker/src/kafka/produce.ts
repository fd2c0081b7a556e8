import {
  Attribute,
  BATCH_HEADER_SIZE,
  BatchField,
  CompressionCodec,
  ErrorCodes,
  LOG_OVERHEAD,
  readBatchHeader,
  SamsaError,
  verifyBatchCrc,
  type v1,
} from '@samsa/protocol';
import { kafka } from '@samsa/protocol/kafka';
import type { BrokerContext } from '../server/context.js';
import { errorFields, toErrorFields } from '../server/errors.js';
import { handleProduce } from '../server/handlers/produce.js';
import { nodeEndpoints, leaderIdAndEpoch } from './leader-hints.js';
import { awaitLeadership } from './partitions.js';
import type { Reply } from './reply.js';

/** ZStandard (KIP-110) is for Produce v7+: older clients' requests may not carry it. */
const ZSTD_FROM_VERSION = 7;

/**
 * Produce v0-v2 carry magic 0/1 message sets: converted once here to the v2 batch the log stores. From v3
 * the records must be exactly one RecordBatch v2, INVALID_RECORD otherwise, and ZStandard needs v7, as
 * Kafka's broker checks them (ProduceRequest.validateRecords): not CORRUPT_MESSAGE, which is retriable.
 * The batch's header must hold together as a client's batch (LogValidator.validateBatch): a record count
 * that is positive and matches its last offset delta, and no control batch (markers are the transaction
 * coordinator's), INVALID_RECORD too. Framing that does not (a truncated batch) is left to the log:
 * CORRUPT_MESSAGE, as Kafka answers it.
 */
function recordsForLog(version: number, records: Buffer | null): Buffer {
  if (version < 3) {
    if (records === null || records.length === 0) return Buffer.alloc(0);
    return kafka.messageSetToBatch(records, Date.now());
  }
  // Magic is at the same byte in message sets and batches.
  if (records === null || records.length <= BatchField.magic)
    throw new SamsaError(ErrorCodes.INVALID_RECORD, `Produce v${version} needs a record batch per partition`);
  if (records[BatchField.magic] !== 2)
    throw new SamsaError(ErrorCodes.INVALID_RECORD, `Produce v${version} carries record batches of magic 2 only`);
  const zstd =
    records.length >= BatchField.attributes + 2 &&
    (records.readInt16BE(BatchField.attributes) & Attribute.compressionMask) === CompressionCodec.zstd;
  if (zstd && version < ZSTD_FROM_VERSION)
    throw new SamsaError(ErrorCodes.UNSUPPORTED_COMPRESSION_TYPE, `Produce v${version} may not use ZStandard`);
  if (records.length >= BATCH_HEADER_SIZE) checkClientBatch(version, records);
  return records;
}

function checkClientBatch(version: number, records: Buffer): void {
  const size = LOG_OVERHEAD + records.readInt32BE(BatchField.batchLength);
  if (size < records.length)
    throw new SamsaError(
      ErrorCodes.INVALID_RECORD,
      `Produce v${version} carries exactly one record batch per partition`,
    );
  const count = records.readInt32BE(BatchField.recordCount);
  const lastOffsetDelta = records.readInt32BE(BatchField.lastOffsetDelta);
  const control = (records.readInt16BE(BatchField.attributes) & Attribute.control) !== 0;
  if (count > 0 && lastOffsetDelta === count - 1 && !control) return;
  // Kafka checks framing and CRC first: a batch damaged on the way is CORRUPT_MESSAGE (retriable), not the
  // client's fault, and the log answers that. Only on this rare path: a batch that passes is checked once.
  if (size > records.length || !verifyBatchCrc(records, 0, readBatchHeader(records, 0))) return;
  if (control) throw new SamsaError(ErrorCodes.INVALID_RECORD, 'clients may not write control batches');
  throw new SamsaError(
    ErrorCodes.INVALID_RECORD,
    `the batch's record count ${count} does not match its last offset delta ${lastOffsetDelta}`,
  );
}

/**
 * Whether a v3+ request carries a transactional batch without a transactional id: Kafka's broker answers
 * such a request TRANSACTIONAL_ID_AUTHORIZATION_FAILED on every partition before it looks at any
 * (KafkaApis.handleProduceRequest: no id, so no transactional id it could authorize).
 */
function transactionalWithoutId(version: number, request: kafka.ProduceRequestData): boolean {
  if (version < 3 || (request.transactionalId ?? '') !== '') return false;
  return request.topicData.some((t) =>
    t.partitionData.some(
      ({ records }) =>
        records !== null &&
        records.length >= BatchField.attributes + 2 &&
        records[BatchField.magic] === 2 &&
        (records.readInt16BE(BatchField.attributes) & Attribute.transactional) !== 0,
    ),
  );
}

function refusedEverywhere(request: kafka.ProduceRequestData, spec: { code: number; name: string }): Reply {
  // acks=0 has no answer: the connection is closed, as Kafka's broker closes it (no response to send).
  if (request.acks === 0) return { body: null, closeConnection: true };
  const body: kafka.ProduceResponseData = {
    responses: request.topicData.map((t) => ({
      name: t.name,
      partitionResponses: t.partitionData.map((p) => ({ index: p.index, errorCode: spec.code, baseOffset: -1 })),
    })),
    throttleTimeMs: 0,
  };
  return { body };
}

export async function produce(
  ctx: BrokerContext,
  version: number,
  request: kafka.ProduceRequestData,
  signal: AbortSignal,
): Promise<Reply> {
  if (transactionalWithoutId(version, request))
    return refusedEverywhere(request, ErrorCodes.TRANSACTIONAL_ID_AUTHORIZATION_FAILED);
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
  // Kafka looks for the partition before it checks its records: one it does not have is
  // UNKNOWN_TOPIC_OR_PARTITION, whatever the records (a topic being created was waited for just now).
  for (const [key, result] of failed) {
    const topic = key.slice(0, key.lastIndexOf('/'));
    const hosted = ctx.partitions.get(topic, result.index) !== undefined;
    if (!hosted && ctx.member.metadata.image.topics.get(topic)?.partitions[result.index] === undefined)
      failed.set(key, { ...result, ...errorFields(ErrorCodes.UNKNOWN_TOPIC_OR_PARTITION, `unknown topic ${topic}`) });
  }
  const answer = await handleProduce(
    ctx,
    {
      acks: request.acks,
      timeoutMs: request.timeoutMs,
      topics,
      transactionalId: request.transactionalId ?? '',
    } as v1.ProduceRequest__Output,
    signal,
  );
  // acks=0 has no answer; a failure closes the connection, as Kafka's broker does, so the client notices
  // (a partition led elsewhere now) and refreshes its metadata instead of writing into the void.
  if (request.acks === 0) {
    const failedHere = (answer.topics ?? []).some((t) => (t.partitions ?? []).some((p) => (p.errorCode ?? 0) !== 0));
    return { body: null, closeConnection: failed.size > 0 || failedHere };
  }
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
        ...(p.currentLeader ? { currentLeader: leaderIdAndEpoch(p.currentLeader) } : {}),
      });
    }
  }
  const body: kafka.ProduceResponseData = {
    responses: request.topicData.map((t) => ({
      name: t.name,
      partitionResponses: t.partitionData.map((p) => results.get(`${t.name}/${p.index}`)!),
    })),
    throttleTimeMs: 0,
    // KIP-951 (v10+; the codec leaves both out of older versions): the hints the shared handler made.
    nodeEndpoints: nodeEndpoints(answer.nodeEndpoints),
  };
  return { body };
}
