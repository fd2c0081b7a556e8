import { ErrorCodes } from '@samsa/protocol';
import { describe, expect, it } from 'vitest';
import { kafkaTxnErrorCode } from '../../src/kafka/transactions.js';

describe("the Kafka listener's transaction error codes", () => {
  it('answers a timed-out epoch (TransactionAbortable) as fenced, by the version the client knows', () => {
    const abortable = ErrorCodes.TRANSACTION_ABORTABLE.code;
    // EndTxn (26): ProducerFenced from v2, InvalidProducerEpoch below.
    expect(kafkaTxnErrorCode(26, 4, abortable)).toBe(ErrorCodes.PRODUCER_FENCED.code);
    expect(kafkaTxnErrorCode(26, 1, abortable)).toBe(ErrorCodes.INVALID_PRODUCER_EPOCH.code);
    // AddPartitionsToTxn (24) and TxnOffsetCommit (28).
    expect(kafkaTxnErrorCode(24, 3, abortable)).toBe(ErrorCodes.PRODUCER_FENCED.code);
    expect(kafkaTxnErrorCode(28, 2, abortable)).toBe(ErrorCodes.INVALID_PRODUCER_EPOCH.code);
    expect(kafkaTxnErrorCode(26, 4, ErrorCodes.INVALID_TXN_STATE.code)).toBe(ErrorCodes.INVALID_TXN_STATE.code);
  });
});
