import { field, message } from '../schema.js';

/** InitProducerId (key 22). */
export const InitProducerIdRequest = message(
  'InitProducerIdRequest',
  '2+',
  field('transactionalId', 'string', '0+', { nullable: '0+' }),
  field('transactionTimeoutMs', 'int32', '0+'),
  field('producerId', 'int64', '3+', { default: -1 }),
  field('producerEpoch', 'int16', '3+', { default: -1 }),
);

export const InitProducerIdResponse = message(
  'InitProducerIdResponse',
  '2+',
  field('throttleTimeMs', 'int32', '0+'),
  field('errorCode', 'int16', '0+'),
  field('producerId', 'int64', '0+', { default: -1 }),
  field('producerEpoch', 'int16', '0+'),
);

export interface InitProducerIdRequestData {
  transactionalId: string | null;
  transactionTimeoutMs: number;
  producerId: number;
  producerEpoch: number;
}

export interface InitProducerIdResponseData {
  throttleTimeMs: number;
  errorCode: number;
  producerId: number;
  producerEpoch: number;
}
