import { array, field, message, struct } from '../schema.js';

/**
 * DeleteRecords (key 21, KIP-107): for each partition, the offset below which its records go (-1:
 * the high watermark); v1 is v0 (throttling moved before the answer), v2 is flexible (KIP-482).
 */
export const DeleteRecordsRequest = message(
  'DeleteRecordsRequest',
  '2+',
  field(
    'topics',
    array(
      struct(
        field('name', 'string', '0+'),
        field(
          'partitions',
          array(struct(field('partitionIndex', 'int32', '0+'), field('offset', 'int64', '0+'))),
          '0+',
        ),
      ),
    ),
    '0+',
  ),
  field('timeoutMs', 'int32', '0+'),
);

export const DeleteRecordsResponse = message(
  'DeleteRecordsResponse',
  '2+',
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
              field('lowWatermark', 'int64', '0+'),
              field('errorCode', 'int16', '0+'),
            ),
          ),
          '0+',
        ),
      ),
    ),
    '0+',
  ),
);

export interface DeleteRecordsRequestData {
  topics: { name: string; partitions: { partitionIndex: number; offset: number }[] }[];
  timeoutMs: number;
}

export interface DeleteRecordsResponseData {
  throttleTimeMs: number;
  topics: { name: string; partitions: { partitionIndex: number; lowWatermark: number; errorCode: number }[] }[];
}
