import { array, field, message, struct } from '../schema.js';

/** TxnOffsetCommit (key 28): offsets committed by a transaction, visible when it commits. v3+ fence by member. */
export const TxnOffsetCommitRequest = message(
  'TxnOffsetCommitRequest',
  '3+',
  field('transactionalId', 'string', '0+'),
  field('groupId', 'string', '0+'),
  field('producerId', 'int64', '0+'),
  field('producerEpoch', 'int16', '0+'),
  field('generationId', 'int32', '3+', { default: -1 }),
  field('memberId', 'string', '3+', { default: '' }),
  field('groupInstanceId', 'string', '3+', { nullable: '3+', default: null }),
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
              field('committedOffset', 'int64', '0+'),
              field('committedLeaderEpoch', 'int32', '2+', { default: -1 }),
              field('committedMetadata', 'string', '0+', { nullable: '0+' }),
            ),
          ),
          '0+',
        ),
      ),
    ),
    '0+',
  ),
);

export const TxnOffsetCommitResponse = message(
  'TxnOffsetCommitResponse',
  '3+',
  field('throttleTimeMs', 'int32', '0+'),
  field(
    'topics',
    array(
      struct(
        field('name', 'string', '0+'),
        field(
          'partitions',
          array(struct(field('partitionIndex', 'int32', '0+'), field('errorCode', 'int16', '0+'))),
          '0+',
        ),
      ),
    ),
    '0+',
  ),
);

export interface TxnOffsetCommitPartition {
  partitionIndex: number;
  committedOffset: number;
  committedLeaderEpoch: number;
  committedMetadata: string | null;
}

export interface TxnOffsetCommitRequestData {
  transactionalId: string;
  groupId: string;
  producerId: number;
  producerEpoch: number;
  generationId: number;
  memberId: string;
  groupInstanceId: string | null;
  topics: { name: string; partitions: TxnOffsetCommitPartition[] }[];
}

export interface TxnOffsetCommitResponseData {
  throttleTimeMs: number;
  topics: { name: string; partitions: { partitionIndex: number; errorCode: number }[] }[];
}
