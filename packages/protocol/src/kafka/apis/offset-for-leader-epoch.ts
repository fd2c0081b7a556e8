import { array, field, message, struct } from '../schema.js';

/** OffsetForLeaderEpoch (key 23): where a leader epoch ends, for a consumer validating its position (KIP-320). */
export const OffsetForLeaderEpochRequest = message(
  'OffsetForLeaderEpochRequest',
  '4+',
  field('replicaId', 'int32', '3+', { default: -2 }),
  field(
    'topics',
    array(
      struct(
        field('topic', 'string', '0+'),
        field(
          'partitions',
          array(
            struct(
              field('partition', 'int32', '0+'),
              field('currentLeaderEpoch', 'int32', '2+', { default: -1 }),
              field('leaderEpoch', 'int32', '0+'),
            ),
          ),
          '0+',
        ),
      ),
    ),
    '0+',
  ),
);

export const OffsetForLeaderEpochResponse = message(
  'OffsetForLeaderEpochResponse',
  '4+',
  field('throttleTimeMs', 'int32', '2+'),
  field(
    'topics',
    array(
      struct(
        field('topic', 'string', '0+'),
        field(
          'partitions',
          array(
            struct(
              field('errorCode', 'int16', '0+'),
              field('partition', 'int32', '0+'),
              field('leaderEpoch', 'int32', '1+', { default: -1 }),
              field('endOffset', 'int64', '0+', { default: -1 }),
            ),
          ),
          '0+',
        ),
      ),
    ),
    '0+',
  ),
);

export interface OffsetForLeaderEpochRequestData {
  replicaId: number;
  topics: { topic: string; partitions: { partition: number; currentLeaderEpoch: number; leaderEpoch: number }[] }[];
}

export interface OffsetForLeaderEpochResponseData {
  throttleTimeMs?: number;
  topics: {
    topic: string;
    partitions: { errorCode: number; partition: number; leaderEpoch: number; endOffset: number }[];
  }[];
}
