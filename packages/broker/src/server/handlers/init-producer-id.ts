import { ErrorCodes, SamsaError, type v1 } from '@samsa/protocol';
import { MAX_PRODUCER_EPOCH } from '../../cluster/producer-ids.js';
import type { BrokerContext } from '../context.js';
import { NO_ERROR, toErrorFields } from '../errors.js';

/**
 * InitProducerId for an idempotent producer: a new id at epoch 0, or, for a producer that names its
 * id and epoch (KIP-360: it lost track of its sequences), the same id at the next epoch, which starts
 * its sequences again at 0 on every partition. At the last epoch it gets a new id instead. With a
 * transactional id, the transaction coordinator of that id answers (TxnCoordinator.initProducerId).
 */
export async function handleInitProducerId(
  ctx: BrokerContext,
  request: v1.InitProducerIdRequest__Output,
): Promise<v1.InitProducerIdResponse> {
  try {
    const { producerId, producerEpoch } = request;
    if (request.transactionalId !== '') {
      const identity = await ctx.txns.initProducerId({
        transactionalId: request.transactionalId,
        timeoutMs: request.transactionTimeoutMs,
        producerId,
        producerEpoch,
        // Every EndTxn of this API bumps the epoch: leaders may add the producer's partitions.
        clientTransactionVersion: 2,
      });
      return { ...NO_ERROR, ...identity };
    }
    if (producerId < 0 !== producerEpoch < 0) {
      throw new SamsaError(ErrorCodes.INVALID_REQUEST, 'producer id and epoch must both be set or both be -1');
    }
    if (producerId >= 0 && producerEpoch < MAX_PRODUCER_EPOCH) {
      return { ...NO_ERROR, producerId, producerEpoch: producerEpoch + 1 };
    }
    return { ...NO_ERROR, producerId: await ctx.producerIds.nextId(), producerEpoch: 0 };
  } catch (err) {
    return { ...toErrorFields(err, ctx.logger, { api: 'InitProducerId' }), producerId: -1, producerEpoch: -1 };
  }
}
