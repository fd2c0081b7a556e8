import { ErrorCodes, SamsaError, type v1 } from '@samsa/protocol';
import * as tp from '../../group/partitions.js';
import { TRANSACTION_STATE_TOPIC } from '../../txn/driver.js';
import type { BrokerContext } from '../context.js';
import { NO_ERROR, toErrorFields } from '../errors.js';
import { fromTxnTopics, txnRequestOf, txnTopics } from '../txn-runtime.js';

/**
 * The TransactionCoordinator service's client-facing RPCs (txn.proto): each runs on the coordinator
 * of its transactional id and answers once the coordinator's records are replicated (acks=all).
 */

/**
 * AddPartitionsToTxn; with verify_only, the partition leader's check before a transactional write
 * (KIP-890 part 1). A partition leader also sends it without verify_only and with for_produce, adding the
 * partition of a write that asks for it (ProduceRequest.add_partitions_to_txn, KIP-890 part 2): only for
 * producers whose every commit or abort bumps the epoch.
 */
export async function handleAddPartitionsToTxn(
  ctx: BrokerContext,
  request: v1.AddPartitionsToTxnRequest__Output,
): Promise<v1.AddPartitionsToTxnResponse> {
  try {
    const partitions = fromTxnTopics(request.topics);
    if (tp.isEmpty(partitions)) throw new SamsaError(ErrorCodes.INVALID_REQUEST, 'no partition to add');
    for (const topic of Object.keys(partitions)) {
      if (topic === TRANSACTION_STATE_TOPIC) {
        throw new SamsaError(
          ErrorCodes.INVALID_REQUEST,
          `${TRANSACTION_STATE_TOPIC} cannot be written in a transaction`,
        );
      }
      const partitionsOfTopic = ctx.member.metadata.image.topics.get(topic)?.partitions.length ?? 0;
      for (const p of partitions[topic]!) {
        if (p < 0 || p >= partitionsOfTopic) {
          throw new SamsaError(ErrorCodes.UNKNOWN_TOPIC_OR_PARTITION, `unknown topic or partition ${topic}-${p}`);
        }
      }
    }
    const txn = txnRequestOf(request);
    if (request.verifyOnly) {
      let txnStartMs = -1;
      for (const key of tp.toKeys(partitions)) {
        const { topic, partition } = tp.fromKey(key);
        txnStartMs = await ctx.txns.verifyPartition(txn, topic, partition);
      }
      return { ...NO_ERROR, txnStartMs };
    }
    return { ...NO_ERROR, txnStartMs: await ctx.txns.addPartitions(txn, partitions, request.forProduce) };
  } catch (err) {
    return toErrorFields(err, ctx.logger, { api: 'AddPartitionsToTxn', transactionalId: request.transactionalId });
  }
}

export async function handleAddOffsetsToTxn(
  ctx: BrokerContext,
  request: v1.AddOffsetsToTxnRequest__Output,
): Promise<v1.AddOffsetsToTxnResponse> {
  try {
    if (request.groupId === '') throw new SamsaError(ErrorCodes.INVALID_GROUP_ID, 'empty group id');
    await ctx.txns.addOffsets(txnRequestOf(request), request.groupId);
    return { ...NO_ERROR };
  } catch (err) {
    return toErrorFields(err, ctx.logger, { api: 'AddOffsetsToTxn', transactionalId: request.transactionalId });
  }
}

export async function handleEndTxn(ctx: BrokerContext, request: v1.EndTxnRequest__Output): Promise<v1.EndTxnResponse> {
  try {
    const next = await ctx.txns.endTxn(txnRequestOf(request), request.committed);
    return { ...NO_ERROR, producerId: next.producerId, producerEpoch: next.producerEpoch };
  } catch (err) {
    return {
      ...toErrorFields(err, ctx.logger, { api: 'EndTxn', transactionalId: request.transactionalId }),
      producerId: -1,
      producerEpoch: -1,
    };
  }
}

export async function handleListTransactions(
  ctx: BrokerContext,
  request: v1.ListTransactionsRequest__Output,
): Promise<v1.ListTransactionsResponse> {
  const filter = new Set(request.stateFilters);
  const transactions = ctx.txns
    .list()
    .filter((t) => filter.size === 0 || filter.has(t.state))
    .map((t) => ({ transactionalId: t.transactionalId, producerId: t.producerId, state: t.state }));
  return { ...NO_ERROR, transactions };
}

export async function handleDescribeTransactions(
  ctx: BrokerContext,
  request: v1.DescribeTransactionsRequest__Output,
): Promise<v1.DescribeTransactionsResponse> {
  const transactions = await Promise.all(
    request.transactionalIds.map(async (transactionalId) => {
      const none = { transactionalId, state: '', producerId: -1, producerEpoch: -1, transactionTimeoutMs: 0 };
      try {
        const d = await ctx.txns.describe(transactionalId);
        if (d === undefined) {
          throw new SamsaError(ErrorCodes.TRANSACTIONAL_ID_NOT_FOUND, `no transactional id ${transactionalId}`);
        }
        return {
          ...NO_ERROR,
          transactionalId,
          state: d.state,
          producerId: d.producerId,
          producerEpoch: d.producerEpoch,
          transactionTimeoutMs: d.timeoutMs,
          transactionStartTimeMs: d.txnStartTimestampMs,
          topics: txnTopics(d.partitions),
        };
      } catch (err) {
        return { ...none, ...toErrorFields(err, ctx.logger, { api: 'DescribeTransactions', transactionalId }) };
      }
    }),
  );
  return { transactions };
}

/** WriteTxnMarkers (broker to broker): the coordinator's markers, written on the partitions this broker leads. */
/** DescribeProducers: the producer state of a partition this broker leads. */
export async function handleDescribeProducers(
  ctx: BrokerContext,
  request: v1.DescribeProducersRequest__Output,
): Promise<v1.DescribeProducersResponse> {
  try {
    const { topic, partition } = request;
    const hosted = ctx.partitions.leaderOf(topic, partition, ctx.knowsPartition(topic, partition));
    const producers = hosted.log.activeProducers().map((p) => ({
      producerId: p.producerId,
      producerEpoch: p.epoch,
      lastSequence: p.batches.at(-1)?.lastSeq ?? -1,
      lastTimestampMs: p.lastTimestampMs,
      coordinatorEpoch: p.coordinatorEpoch,
      currentTxnStartOffset: p.currentTxnFirstOffset,
    }));
    return { ...NO_ERROR, producers };
  } catch (err) {
    return { ...toErrorFields(err, ctx.logger, { api: 'DescribeProducers', topic: request.topic }), producers: [] };
  }
}

export async function handleWriteTxnMarkers(
  ctx: BrokerContext,
  request: v1.WriteTxnMarkersRequest__Output,
): Promise<v1.WriteTxnMarkersResponse> {
  const markers = await Promise.all(
    request.markers.map(async (marker) => ({
      producerId: marker.producerId,
      partitions: await ctx.writeTxnMarker(marker),
    })),
  );
  return { markers };
}
