import type { v1 } from '@samsa/protocol';
import { OFFSETS_TOPIC } from '../../group/offsets-topic.js';
import type { BrokerContext } from '../context.js';
import { NO_ERROR, toErrorFields } from '../errors.js';

/**
 * TxnOffsetCommit (KIP-98, KIP-447): on the group's coordinator, checked with the transaction
 * coordinator (the group's __consumer_offsets partition must be in the producer's open transaction:
 * AddOffsetsToTxn), fenced by producer epoch and by member id and epoch (or generation), written as a
 * transactional batch of the producer; answered once replicated. A group-level failure is the
 * top-level error and repeated on every partition; nothing is written then.
 */
export async function handleTxnOffsetCommit(
  ctx: BrokerContext,
  request: v1.TxnOffsetCommitRequest__Output,
): Promise<v1.TxnOffsetCommitResponse> {
  try {
    const txn = {
      transactionalId: request.transactionalId,
      producerId: Number(request.producerId),
      producerEpoch: request.producerEpoch,
    };
    const topics = await ctx.groups.txnCommitOffsets(
      {
        groupId: request.groupId,
        memberId: request.memberId,
        memberEpoch: request.generationIdOrMemberEpoch,
        producerId: txn.producerId,
        producerEpoch: txn.producerEpoch,
        topics: request.topics.map((t) => ({
          name: t.name,
          partitions: t.partitions.map((p) => ({
            partition: p.partition,
            offset: Number(p.committedOffset),
            leaderEpoch: p.committedLeaderEpoch ?? -1,
            metadata: p.committedMetadata,
          })),
        })),
      },
      (partition) => ctx.verifyTxnPartition(txn, OFFSETS_TOPIC, partition),
    );
    return { ...NO_ERROR, topics };
  } catch (err) {
    const error = toErrorFields(err, ctx.logger, {
      api: 'TxnOffsetCommit',
      groupId: request.groupId,
      transactionalId: request.transactionalId,
    });
    return {
      ...error,
      topics: request.topics.map((t) => ({
        name: t.name,
        partitions: t.partitions.map((p) => ({ partition: p.partition, ...error })),
      })),
    };
  }
}
