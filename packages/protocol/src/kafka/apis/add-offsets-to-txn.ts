import { field, message } from '../schema.js';

/** AddOffsetsToTxn (key 25): the group's __consumer_offsets partition joins the transaction (sendOffsets). */
export const AddOffsetsToTxnRequest = message(
  'AddOffsetsToTxnRequest',
  '3+',
  field('transactionalId', 'string', '0+'),
  field('producerId', 'int64', '0+'),
  field('producerEpoch', 'int16', '0+'),
  field('groupId', 'string', '0+'),
);

export const AddOffsetsToTxnResponse = message(
  'AddOffsetsToTxnResponse',
  '3+',
  field('throttleTimeMs', 'int32', '0+'),
  field('errorCode', 'int16', '0+'),
);

export interface AddOffsetsToTxnRequestData {
  transactionalId: string;
  producerId: number;
  producerEpoch: number;
  groupId: string;
}

export interface AddOffsetsToTxnResponseData {
  throttleTimeMs: number;
  errorCode: number;
}
