import { array, field, message, struct } from '../schema.js';

/** DescribeTransactions (key 65): the state of transactional ids, at their coordinator. */
export const DescribeTransactionsRequest = message(
  'DescribeTransactionsRequest',
  '0+',
  field('transactionalIds', array('string'), '0+'),
);

export const DescribeTransactionsResponse = message(
  'DescribeTransactionsResponse',
  '0+',
  field('throttleTimeMs', 'int32', '0+'),
  field(
    'transactionStates',
    array(
      struct(
        field('errorCode', 'int16', '0+'),
        field('transactionalId', 'string', '0+'),
        field('transactionState', 'string', '0+'),
        field('transactionTimeoutMs', 'int32', '0+'),
        field('transactionStartTimeMs', 'int64', '0+'),
        field('producerId', 'int64', '0+'),
        field('producerEpoch', 'int16', '0+'),
        field('topics', array(struct(field('topic', 'string', '0+'), field('partitions', array('int32'), '0+'))), '0+'),
      ),
    ),
    '0+',
  ),
);

/** ListTransactions (key 66): the transactions a broker coordinates, filtered by state, producer id, age (v1). */
export const ListTransactionsRequest = message(
  'ListTransactionsRequest',
  '0+',
  field('stateFilters', array('string'), '0+'),
  field('producerIdFilters', array('int64'), '0+'),
  field('durationFilter', 'int64', '1+', { default: -1 }),
);

export const ListTransactionsResponse = message(
  'ListTransactionsResponse',
  '0+',
  field('throttleTimeMs', 'int32', '0+'),
  field('errorCode', 'int16', '0+'),
  field('unknownStateFilters', array('string'), '0+'),
  field(
    'transactionStates',
    array(
      struct(
        field('transactionalId', 'string', '0+'),
        field('producerId', 'int64', '0+'),
        field('transactionState', 'string', '0+'),
      ),
    ),
    '0+',
  ),
);

export interface DescribedTransaction {
  errorCode: number;
  transactionalId: string;
  transactionState: string;
  transactionTimeoutMs: number;
  transactionStartTimeMs: number;
  producerId: number;
  producerEpoch: number;
  topics: { topic: string; partitions: number[] }[];
}

export interface DescribeTransactionsRequestData {
  transactionalIds: string[];
}

export interface DescribeTransactionsResponseData {
  throttleTimeMs: number;
  transactionStates: DescribedTransaction[];
}

export interface ListTransactionsRequestData {
  stateFilters: string[];
  producerIdFilters: number[];
  durationFilter: number;
}

export interface ListTransactionsResponseData {
  throttleTimeMs: number;
  errorCode: number;
  unknownStateFilters: string[];
  transactionStates: { transactionalId: string; producerId: number; transactionState: string }[];
}
