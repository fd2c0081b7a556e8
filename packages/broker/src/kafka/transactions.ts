import { ErrorCodes } from '@samsa/protocol';
import type { kafka } from '@samsa/protocol/kafka';
import type { BrokerContext } from '../server/context.js';
import { toErrorFields } from '../server/errors.js';
import { OFFSETS_TOPIC } from '../group/offsets-topic.js';
import { handleAddOffsetsToTxn, handleAddPartitionsToTxn } from '../server/handlers/txn-requests.js';
import { txnRequestOf } from '../server/txn-runtime.js';
import type { Reply } from './reply.js';

/**
 * Kafka's transaction APIs on the transaction coordinator the gRPC API uses (TRANSACTIONS.md): the
 * same state machine, records, markers and KIP-890 checks. What differs is the epoch after EndTxn:
 * Kafka clients below EndTxn v5 (KafkaJS, librdkafka, Java before transaction version 2) keep their
 * epoch from one transaction to the next, so their transactions end without the bump (the markers
 * carry the data's epoch, Kafka's transaction version 1); fencing by InitProducerId and timeouts bump.
 */

/**
 * KIP-588: clients older than these versions do not know PRODUCER_FENCED (90) and are sent
 * INVALID_PRODUCER_EPOCH (47), which they treat as fatal the same way.
 */
const PRODUCER_FENCED_FROM = new Map<number, number>([
  [22, 4], // InitProducerId
  [24, 2], // AddPartitionsToTxn
  [25, 2], // AddOffsetsToTxn
  [26, 2], // EndTxn
  [28, 3], // TxnOffsetCommit
]);

/**
 * TransactionAbortable (120, KIP-890) is the coordinator's answer to the epoch before its timeout bump.
 * Kafka clients learn it at versions this listener does not all serve (AddPartitionsToTxn v5,
 * InitProducerId v5), and Kafka before transaction version 2 answers a timed-out producer's coordinator
 * requests as fenced: so does this listener, at every version. What a Kafka client can do after a
 * timeout is what KIP-360 gives it: InitProducerId naming its producer id and epoch, which the
 * coordinator accepts after a timeout and refuses after a newer incarnation's bump.
 */
export function kafkaTxnErrorCode(apiKey: number, version: number, errorCode: number): number {
  const code = errorCode === ErrorCodes.TRANSACTION_ABORTABLE.code ? ErrorCodes.PRODUCER_FENCED.code : errorCode;
  if (code !== ErrorCodes.PRODUCER_FENCED.code) return code;
  return version >= (PRODUCER_FENCED_FROM.get(apiKey) ?? 0) ? code : ErrorCodes.INVALID_PRODUCER_EPOCH.code;
}

function errorCodeOf(ctx: BrokerContext, apiKey: number, version: number, err: unknown, id: string): number {
  const { errorCode } = toErrorFields(err, ctx.logger, { api: apiKey, transactionalId: id });
  return kafkaTxnErrorCode(apiKey, version, errorCode);
}

/** InitProducerId with a transactional id: the coordinator of that id bumps its epoch (fencing older ones). */
export async function initTransactionalProducerId(
  ctx: BrokerContext,
  version: number,
  request: kafka.InitProducerIdRequestData,
): Promise<Reply> {
  const transactionalId = request.transactionalId ?? '';
  try {
    const identity = await ctx.txns.initProducerId({
      transactionalId,
      timeoutMs: request.transactionTimeoutMs,
      producerId: request.producerId,
      producerEpoch: request.producerEpoch,
      // EndTxn below v5 keeps the epoch: no partition leader may add this producer's partitions.
      clientTransactionVersion: 1,
    });
    return { body: { throttleTimeMs: 0, errorCode: 0, ...identity } satisfies kafka.InitProducerIdResponseData };
  } catch (err) {
    const errorCode = errorCodeOf(ctx, 22, version, err, transactionalId);
    return { body: { throttleTimeMs: 0, errorCode, producerId: -1, producerEpoch: -1 } };
  }
}

/**
 * AddPartitionsToTxn v0-3. A partition the metadata does not know is UNKNOWN_TOPIC_OR_PARTITION and
 * the others OPERATION_NOT_ATTEMPTED, as Kafka answers; otherwise the coordinator's one answer is every
 * partition's.
 */
export async function addPartitionsToTxn(
  ctx: BrokerContext,
  version: number,
  request: kafka.AddPartitionsToTxnRequestData,
): Promise<Reply> {
  const image = ctx.member.metadata.image;
  const known = (topic: string, p: number) => p >= 0 && p < (image.topics.get(topic)?.partitions.length ?? 0);
  const unknown = request.topics.some((t) => t.partitions.some((p) => !known(t.name, p)));
  let codeOf: (topic: string, partition: number) => number;
  if (unknown) {
    codeOf = (topic, p) =>
      known(topic, p) ? ErrorCodes.OPERATION_NOT_ATTEMPTED.code : ErrorCodes.UNKNOWN_TOPIC_OR_PARTITION.code;
  } else {
    const answer = await handleAddPartitionsToTxn(ctx, {
      ...txnRequestOf(request),
      topics: request.topics.map((t) => ({ name: t.name, partitions: t.partitions })),
      verifyOnly: false,
      forProduce: false,
    });
    const code = kafkaTxnErrorCode(24, version, answer.errorCode ?? 0);
    codeOf = () => code;
  }
  const results = request.topics.map((t) => ({
    name: t.name,
    results: t.partitions.map((p) => ({ partitionIndex: p, partitionErrorCode: codeOf(t.name, p) })),
  }));
  return { body: { throttleTimeMs: 0, results } satisfies kafka.AddPartitionsToTxnResponseData };
}

/** EndTxn: below v5 the producer keeps its epoch (no bump, see above). */
export async function endTxn(ctx: BrokerContext, version: number, request: kafka.EndTxnRequestData): Promise<Reply> {
  try {
    const next = await ctx.txns.endTxn(txnRequestOf(request), request.committed, version >= 5);
    return { body: { throttleTimeMs: 0, errorCode: 0, ...next } satisfies kafka.EndTxnResponseData };
  } catch (err) {
    const errorCode = errorCodeOf(ctx, 26, version, err, request.transactionalId);
    return { body: { throttleTimeMs: 0, errorCode } satisfies kafka.EndTxnResponseData };
  }
}

/** AddOffsetsToTxn: the group's __consumer_offsets partition joins the transaction (sendOffsets). */
export async function addOffsetsToTxn(
  ctx: BrokerContext,
  version: number,
  request: kafka.AddOffsetsToTxnRequestData,
): Promise<Reply> {
  const answer = await handleAddOffsetsToTxn(ctx, { ...txnRequestOf(request), groupId: request.groupId });
  const errorCode = kafkaTxnErrorCode(25, version, answer.errorCode ?? 0);
  return { body: { throttleTimeMs: 0, errorCode } satisfies kafka.AddOffsetsToTxnResponseData };
}

/**
 * Whether a TxnOffsetCommit is fenced by member: v3+ naming a member id, a generation or an instance id (a
 * static member's commit with neither id nor generation is checked against the instance's holder, as
 * Kafka's classic group validates it); below v3 the fields do not exist.
 */
export function namesMember(
  version: number,
  request: Pick<kafka.TxnOffsetCommitRequestData, 'memberId' | 'generationId' | 'groupInstanceId'>,
): boolean {
  return (
    version >= 3 && (request.memberId !== '' || request.generationId >= 0 || (request.groupInstanceId ?? null) !== null)
  );
}

/**
 * TxnOffsetCommit on the group coordinator, as the gRPC API's (pending until the transaction's marker
 * reaches the group's partition). v3+ carry the consumer's member id and generation (KIP-447) and are
 * fenced by them; below v3 there are none, and the commit is not fenced by member, as Kafka accepts
 * it from clients predating KIP-447 (KafkaJS's sendOffsets).
 */
export async function txnOffsetCommit(
  ctx: BrokerContext,
  version: number,
  request: kafka.TxnOffsetCommitRequestData,
): Promise<Reply> {
  const txn = txnRequestOf(request);
  const kip447 = namesMember(version, request);
  let topics: kafka.TxnOffsetCommitResponseData['topics'];
  try {
    const results = await ctx.groups.txnCommitOffsets(
      {
        groupId: request.groupId,
        memberId: kip447 ? request.memberId : '',
        memberEpoch: kip447 ? request.generationId : -1,
        memberless: !kip447,
        groupInstanceId: kip447 ? request.groupInstanceId : null,
        producerId: txn.producerId,
        producerEpoch: txn.producerEpoch,
        topics: request.topics.map((t) => ({
          name: t.name,
          partitions: t.partitions.map((p) => ({
            partition: p.partitionIndex,
            offset: p.committedOffset,
            leaderEpoch: p.committedLeaderEpoch,
            metadata: p.committedMetadata ?? '',
          })),
        })),
      },
      (partition) => ctx.verifyTxnPartition(txn, OFFSETS_TOPIC, partition),
    );
    topics = results.map((t) => ({
      name: t.name,
      partitions: t.partitions.map((p) => ({
        partitionIndex: p.partition,
        errorCode: kafkaTxnErrorCode(28, version, p.errorCode),
      })),
    }));
  } catch (err) {
    // A group-level refusal (fenced producer or member, partition not added, not the coordinator): every
    // partition carries it, nothing was written.
    const errorCode = errorCodeOf(ctx, 28, version, err, request.transactionalId);
    topics = request.topics.map((t) => ({
      name: t.name,
      partitions: t.partitions.map((p) => ({ partitionIndex: p.partitionIndex, errorCode })),
    }));
  }
  return { body: { throttleTimeMs: 0, topics } satisfies kafka.TxnOffsetCommitResponseData };
}
