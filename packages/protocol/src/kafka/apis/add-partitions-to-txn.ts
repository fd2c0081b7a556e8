import { array, field, message, struct } from '../schema.js';

/**
 * AddPartitionsToTxn (key 24), the client's versions 0-3: one transaction's partitions join it before
 * the producer writes to them. v4+ batch several transactions and are broker to broker (KIP-890), not served.
 */
export const AddPartitionsToTxnRequest = message(
  'AddPartitionsToTxnRequest',
  '3+',
  field('transactionalId', 'string', '0-3'),
  field('producerId', 'int64', '0-3'),
  field('producerEpoch', 'int16', '0-3'),
  field('topics', array(struct(field('name', 'string', '0-3'), field('partitions', array('int32'), '0-3'))), '0-3'),
);

export const AddPartitionsToTxnResponse = message(
  'AddPartitionsToTxnResponse',
  '3+',
  field('throttleTimeMs', 'int32', '0+'),
  field(
    'results',
    array(
      struct(
        field('name', 'string', '0-3'),
        field(
          'results',
          array(struct(field('partitionIndex', 'int32', '0-3'), field('partitionErrorCode', 'int16', '0-3'))),
          '0-3',
        ),
      ),
    ),
    '0-3',
  ),
);

export interface AddPartitionsToTxnTopic {
  name: string;
  partitions: number[];
}

export interface AddPartitionsToTxnRequestData {
  transactionalId: string;
  producerId: number;
  producerEpoch: number;
  topics: AddPartitionsToTxnTopic[];
}

export interface AddPartitionsToTxnTopicResult {
  name: string;
  results: { partitionIndex: number; partitionErrorCode: number }[];
}

export interface AddPartitionsToTxnResponseData {
  throttleTimeMs: number;
  results: AddPartitionsToTxnTopicResult[];
}
