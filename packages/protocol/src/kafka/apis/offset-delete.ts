import { array, field, message, struct } from '../schema.js';

/** OffsetDelete (key 47): removes a group's committed offsets of partitions no member is subscribed to. */
export const OffsetDeleteRequest = message(
  'OffsetDeleteRequest',
  'none',
  field('groupId', 'string', '0+'),
  field(
    'topics',
    array(
      struct(
        field('name', 'string', '0+'),
        field('partitions', array(struct(field('partitionIndex', 'int32', '0+'))), '0+'),
      ),
    ),
    '0+',
  ),
);

export const OffsetDeleteResponse = message(
  'OffsetDeleteResponse',
  'none',
  field('errorCode', 'int16', '0+'),
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

export interface OffsetDeleteRequestData {
  groupId: string;
  topics: { name: string; partitions: { partitionIndex: number }[] }[];
}

export interface OffsetDeleteResponseData {
  errorCode: number;
  throttleTimeMs: number;
  topics: { name: string; partitions: { partitionIndex: number; errorCode: number }[] }[];
}
