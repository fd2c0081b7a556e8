import { array, field, message, struct } from '../schema.js';

/** ListOffsets (key 2). v0 answers with a list of offsets (old_style_offsets), v1+ with one offset and timestamp. */
export const ListOffsetsRequest = message(
  'ListOffsetsRequest',
  '6+',
  field('replicaId', 'int32', '0+'),
  field('isolationLevel', 'int8', '2+'),
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
              field('currentLeaderEpoch', 'int32', '4+', { default: -1 }),
              field('timestamp', 'int64', '0+'),
              field('maxNumOffsets', 'int32', '0', { default: 1 }),
            ),
          ),
          '0+',
        ),
      ),
    ),
    '0+',
  ),
  field('timeoutMs', 'int32', '10+'),
);

export const ListOffsetsResponse = message(
  'ListOffsetsResponse',
  '6+',
  field('throttleTimeMs', 'int32', '2+'),
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
              field('oldStyleOffsets', array('int64'), '0'),
              field('timestamp', 'int64', '1+', { default: -1 }),
              field('offset', 'int64', '1+', { default: -1 }),
              field('leaderEpoch', 'int32', '4+', { default: -1 }),
            ),
          ),
          '0+',
        ),
      ),
    ),
    '0+',
  ),
);

/** Special timestamps: the earliest offset, the latest (high watermark), the largest timestamp's record (v7+). */
export const LIST_OFFSETS_EARLIEST = -2;
export const LIST_OFFSETS_LATEST = -1;
export const LIST_OFFSETS_MAX_TIMESTAMP = -3;

export interface ListOffsetsRequestData {
  replicaId: number;
  isolationLevel: number;
  topics: {
    name: string;
    partitions: { partitionIndex: number; currentLeaderEpoch: number; timestamp: number; maxNumOffsets: number }[];
  }[];
}

export interface ListOffsetsPartitionResult {
  partitionIndex: number;
  errorCode: number;
  oldStyleOffsets?: number[];
  timestamp?: number;
  offset?: number;
  leaderEpoch?: number;
}

export interface ListOffsetsResponseData {
  throttleTimeMs?: number;
  topics: { name: string; partitions: ListOffsetsPartitionResult[] }[];
}
