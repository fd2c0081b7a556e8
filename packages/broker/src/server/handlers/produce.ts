import {
  Attribute,
  BatchField,
  ErrorCodes,
  forEachBatchAt,
  SamsaError,
  splitBatches,
  trace,
  type v1,
} from '@samsa/protocol';
import type { HostedPartition } from '../partitions.js';
import type { BrokerContext } from '../context.js';
import { NO_ERROR, errorFields, toErrorFields } from '../errors.js';
import { awaitLeadership, ledHere } from '../leadership.js';
import { addLeaderHints } from './leader-hints.js';

const VALID_ACKS = new Set([0, 1, -1]);
/** Joins a partition's l.pin to its l.pout in the request timeline (@samsa/protocol's trace). */
let traceId = 0;

/**
 * The gRPC Produce (unary and stream). Right after an election the new leader is named in metadata,
 * and producers write to it, before its term has started: the broker learns its role from the
 * coordinator, then saves the new epoch to the partition's epoch cache (an fsync) before it can answer
 * acks=all. A request for a partition whose term is about to start here waits for it (awaitLeadership,
 * the Kafka listener's wait) within its own timeout, which the wait uses up, and the client's abort,
 * instead of costing an idempotent producer a retry and its backoff just when failover time counts (a
 * producer that is not idempotent would risk a duplicate). A partition led elsewhere is answered at once.
 */
export function handleGrpcProduce(
  ctx: BrokerContext,
  request: v1.ProduceRequest__Output,
  signal: AbortSignal,
): Promise<v1.ProduceResponse> {
  if (termsStarted(ctx, request)) return handleProduce(ctx, request, signal);
  return produceOnceLed(ctx, request, signal);
}

async function produceOnceLed(
  ctx: BrokerContext,
  request: v1.ProduceRequest__Output,
  signal: AbortSignal,
): Promise<v1.ProduceResponse> {
  const startMs = Date.now();
  const waitMs = Math.min(ctx.settings['leadership.wait.ms'] as number, Math.max(0, request.timeoutMs));
  const named = request.topics.flatMap((t) => t.partitions.map((p) => ({ topic: t.name, partition: p.partition })));
  await awaitLeadership(ctx, named, signal, waitMs);
  const timeoutMs = Math.max(0, request.timeoutMs - (Date.now() - startMs));
  return handleProduce(ctx, { ...request, timeoutMs }, signal);
}

/** Whether every partition the request names is led here in a started term (the usual case: no wait). */
function termsStarted(ctx: BrokerContext, request: v1.ProduceRequest__Output): boolean {
  for (const topic of request.topics)
    for (const data of topic.partitions) if (!ledHere(ctx, topic.name, data.partition)) return false;
  return true;
}

/**
 * Produce: validate and append each partition's batches on the leader. Records are never decoded:
 * the log checks framing, CRC and size and stamps offsets in place. acks=0 and acks=1 answer after
 * the leader's append; acks=all waits until every in-sync replica has the batch.
 */
export async function handleProduce(
  ctx: BrokerContext,
  request: v1.ProduceRequest__Output,
  signal: AbortSignal,
): Promise<v1.ProduceResponse> {
  const only = request.topics.length === 1 ? request.topics[0] : undefined;
  // One partition (the SDK's request to a leader of one partition of the topic, one record at a time
  // always): awaited as it is, without two Promise.all and their closures per request.
  const topics =
    only?.partitions.length === 1
      ? [
          {
            name: only.name,
            partitions: [await producePartition(ctx, request, only.name, only.partitions[0]!, signal)],
          },
        ]
      : await Promise.all(
          request.topics.map(async (topic) => ({
            name: topic.name,
            partitions: await Promise.all(
              topic.partitions.map((data) => producePartition(ctx, request, topic.name, data, signal)),
            ),
          })),
        );
  const nodeEndpoints = addLeaderHints(ctx, topics);
  return nodeEndpoints.length > 0 ? { topics, nodeEndpoints } : { topics };
}

/** One partition's part of a Produce: its append (and for acks=all the followers' copies), or its error. */
async function producePartition(
  ctx: BrokerContext,
  request: v1.ProduceRequest__Output,
  topic: string,
  data: v1.ProducePartitionData__Output,
  signal: AbortSignal,
): Promise<v1.ProducePartitionResponse> {
  const acks = request.acks;
  const base = { partition: data.partition, baseOffset: -1, logAppendTimeMs: -1, logStartOffset: -1 };
  if (!VALID_ACKS.has(acks))
    return { ...base, ...errorFields(ErrorCodes.INVALID_REQUIRED_ACKS, `acks must be 0, 1 or -1 (all), not ${acks}`) };
  try {
    const hosted = ctx.partitions.leaderOf(topic, data.partition, ctx.knowsPartition(topic, data.partition));
    if (data.records.length === 0) throw new SamsaError(ErrorCodes.CORRUPT_MESSAGE, 'no record batch in the request');
    const id = trace && ++traceId;
    trace?.('l.pin', data.partition, id);
    const attributes = batchAttributes(data.records);
    // Transaction markers are the coordinator's (WriteTxnMarkers): a client's would end a transaction.
    if ((attributes & Attribute.control) !== 0)
      throw new SamsaError(ErrorCodes.INVALID_RECORD, 'clients may not write control batches (transaction markers)');
    // Most requests carry no transactional batch: no async step of its own before the append.
    if ((attributes & Attribute.transactional) !== 0) await verifyTransactional(ctx, request, hosted, data.records);
    const appended = await ctx.replication.leaders.append(hosted, data.records, acks, request.timeoutMs, signal);
    trace?.('l.pout', data.partition, id, appended.baseOffset);
    return {
      ...base,
      ...NO_ERROR,
      baseOffset: appended.baseOffset,
      logAppendTimeMs: appended.logAppendTimeMs ?? -1,
      logStartOffset: hosted.log.logStartOffset,
    };
  } catch (err) {
    return { ...base, ...toErrorFields(err, ctx.logger, { topic, partition: data.partition }) };
  }
}

/**
 * KIP-890 part 1: a transactional batch is appended only to a partition its producer added to its open
 * transaction. When this partition already holds that transaction (an open transaction of the producer at
 * the same epoch), it was verified before; otherwise the coordinator is asked, or (part 2, when the
 * request says so) asked to add it, which it refuses for a producer that keeps its epoch across
 * transactions (a Kafka client's: its late write would join the next transaction). A verification that
 * races with the transaction's end is harmless: the marker bumps the epoch, and the log refuses the late
 * batch.
 */
/** Only for records with a transactional batch (anyTransactional): most requests parse no header twice. */
async function verifyTransactional(
  ctx: BrokerContext,
  request: v1.ProduceRequest__Output,
  hosted: HostedPartition,
  records: Buffer,
): Promise<void> {
  let spans: ReturnType<typeof splitBatches>;
  try {
    spans = splitBatches(records, { verifyCrc: false });
  } catch {
    return; // malformed: the log refuses it with the precise error
  }
  const { transactionalId, addPartitionsToTxn } = request;
  const checked = new Set<string>();
  for (const { header } of spans) {
    if ((header.attributes & Attribute.transactional) === 0) continue;
    if (transactionalId === '') {
      throw new SamsaError(
        ErrorCodes.INVALID_TXN_STATE,
        'a transactional batch needs the transactional id in the request',
      );
    }
    const key = `${header.producerId}/${header.producerEpoch}`;
    if (checked.has(key)) continue;
    checked.add(key);
    const entry = hosted.log.producerState(header.producerId);
    if (entry !== undefined && entry.currentTxnFirstOffset >= 0 && entry.epoch === header.producerEpoch) continue;
    const txnStartMs = await ctx.verifyTxnPartition(
      { transactionalId, producerId: header.producerId, producerEpoch: header.producerEpoch },
      hosted.topic,
      hosted.partition,
      addPartitionsToTxn,
    );
    hosted.log.noteTxnVerified(header.producerId, txnStartMs);
  }
}

/**
 * The attributes of every batch in `records` or'ed together (transactional, control), from the batch
 * framing alone. Stops where the framing stops making sense (not magic 2): the log refuses such bytes.
 */
function batchAttributes(records: Buffer): number {
  let all = 0;
  forEachBatchAt(records, BatchField.attributes + 2, (pos) => {
    if (records.readInt8(pos + BatchField.magic) !== 2) return true;
    all |= records.readInt16BE(pos + BatchField.attributes);
    return false;
  });
  return all;
}
