import { field, message } from '../schema.js';

/**
 * EndTxn (key 26): commit or abort. v5 (Kafka's transaction version 2) answers the producer id and
 * epoch to go on with, the epoch having been bumped; clients below v5 keep theirs.
 */
export const EndTxnRequest = message(
  'EndTxnRequest',
  '3+',
  field('transactionalId', 'string', '0+'),
  field('producerId', 'int64', '0+'),
  field('producerEpoch', 'int16', '0+'),
  field('committed', 'bool', '0+'),
);

export const EndTxnResponse = message(
  'EndTxnResponse',
  '3+',
  field('throttleTimeMs', 'int32', '0+'),
  field('errorCode', 'int16', '0+'),
  field('producerId', 'int64', '5+', { default: -1 }),
  field('producerEpoch', 'int16', '5+', { default: -1 }),
);

export interface EndTxnRequestData {
  transactionalId: string;
  producerId: number;
  producerEpoch: number;
  committed: boolean;
}

export interface EndTxnResponseData {
  throttleTimeMs: number;
  errorCode: number;
  producerId?: number;
  producerEpoch?: number;
}
