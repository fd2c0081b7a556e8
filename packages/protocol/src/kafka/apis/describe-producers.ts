import { array, field, message, struct } from '../schema.js';

/** DescribeProducers (key 61): the producers a partition leader keeps state for (kafka-transactions.sh). */
export const DescribeProducersRequest = message(
  'DescribeProducersRequest',
  '0+',
  field('topics', array(struct(field('name', 'string', '0+'), field('partitionIndexes', array('int32'), '0+'))), '0+'),
);

export const DescribeProducersResponse = message(
  'DescribeProducersResponse',
  '0+',
  field('throttleTimeMs', 'int32', '0+'),
  field(
    'topics',
    array(
      struct(
        field('name', 'string', '0+'),
        field(
          'partitions',
          array(
            struct(
              field('partitionIndex', 'int32', '0+'),
              field('errorCode', 'int16', '0+'),
              field('errorMessage', 'string', '0+', { nullable: '0+', default: null }),
              field(
                'activeProducers',
                array(
                  struct(
                    field('producerId', 'int64', '0+'),
                    field('producerEpoch', 'int32', '0+'),
                    field('lastSequence', 'int32', '0+', { default: -1 }),
                    field('lastTimestamp', 'int64', '0+', { default: -1 }),
                    field('coordinatorEpoch', 'int32', '0+'),
                    field('currentTxnStartOffset', 'int64', '0+', { default: -1 }),
                  ),
                ),
                '0+',
              ),
            ),
          ),
          '0+',
        ),
      ),
    ),
    '0+',
  ),
);

export interface ActiveProducer {
  producerId: number;
  producerEpoch: number;
  lastSequence: number;
  lastTimestamp: number;
  coordinatorEpoch: number;
  currentTxnStartOffset: number;
}

export interface DescribeProducersRequestData {
  topics: { name: string; partitionIndexes: number[] }[];
}

export interface DescribeProducersResponseData {
  throttleTimeMs: number;
  topics: {
    name: string;
    partitions: {
      partitionIndex: number;
      errorCode: number;
      errorMessage: string | null;
      activeProducers: ActiveProducer[];
    }[];
  }[];
}
