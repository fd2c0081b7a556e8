import { array, field, message, struct } from '../schema.js';

/** OffsetCommit (key 8). The generation (classic) or member epoch (v9+, KIP-848) fences the committer. */
export const OffsetCommitRequest = message(
  'OffsetCommitRequest',
  '8+',
  field('groupId', 'string', '0+'),
  field('generationIdOrMemberEpoch', 'int32', '1+', { default: -1 }),
  field('memberId', 'string', '1+'),
  field('groupInstanceId', 'string', '7+', { nullable: '7+', default: null }),
  field('retentionTimeMs', 'int64', '2-4', { default: -1 }),
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
              field('committedLeaderEpoch', 'int32', '6+', { default: -1 }),
              field('commitTimestamp', 'int64', '1', { default: -1 }),
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

export const OffsetCommitResponse = message(
  'OffsetCommitResponse',
  '8+',
  field('throttleTimeMs', 'int32', '3+'),
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

export interface OffsetCommitRequestData {
  groupId: string;
  generationIdOrMemberEpoch: number;
  memberId: string;
  groupInstanceId: string | null;
  retentionTimeMs: number;
  topics: {
    name: string;
    partitions: {
      partitionIndex: number;
      committedOffset: number;
      committedLeaderEpoch: number;
      commitTimestamp: number;
      committedMetadata: string | null;
    }[];
  }[];
}

export interface OffsetCommitResponseData {
  throttleTimeMs: number;
  topics: { name: string; partitions: { partitionIndex: number; errorCode: number }[] }[];
}
