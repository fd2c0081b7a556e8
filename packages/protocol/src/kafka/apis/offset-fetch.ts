import { array, field, message, struct } from '../schema.js';

/** OffsetFetch (key 9). Null topics (v2+) ask for every committed partition; v8+ asks for several groups. */
const topicsRequested = array(struct(field('name', 'string', '0+'), field('partitionIndexes', array('int32'), '0+')));

const fetchedPartition = struct(
  field('partitionIndex', 'int32', '0+'),
  field('committedOffset', 'int64', '0+'),
  field('committedLeaderEpoch', 'int32', '5+', { default: -1 }),
  field('metadata', 'string', '0+', { nullable: '0+' }),
  field('errorCode', 'int16', '0+'),
);

export const OffsetFetchRequest = message(
  'OffsetFetchRequest',
  '6+',
  field('groupId', 'string', '0-7'),
  field('topics', topicsRequested, '0-7', { nullable: '2-7' }),
  field(
    'groups',
    array(
      struct(
        field('groupId', 'string', '8+'),
        field('memberId', 'string', '9+', { nullable: '9+', default: null }),
        field('memberEpoch', 'int32', '9+', { default: -1 }),
        field(
          'topics',
          array(struct(field('name', 'string', '8+'), field('partitionIndexes', array('int32'), '8+'))),
          '8+',
          { nullable: '8+' },
        ),
      ),
    ),
    '8+',
  ),
  field('requireStable', 'bool', '7+'),
);

export const OffsetFetchResponse = message(
  'OffsetFetchResponse',
  '6+',
  field('throttleTimeMs', 'int32', '3+'),
  field(
    'topics',
    array(struct(field('name', 'string', '0+'), field('partitions', array(fetchedPartition), '0+'))),
    '0-7',
  ),
  field('errorCode', 'int16', '2-7'),
  field(
    'groups',
    array(
      struct(
        field('groupId', 'string', '8+'),
        field(
          'topics',
          array(struct(field('name', 'string', '8+'), field('partitions', array(fetchedPartition), '8+'))),
          '8+',
        ),
        field('errorCode', 'int16', '8+'),
      ),
    ),
    '8+',
  ),
);

export interface OffsetFetchTopicRequest {
  name: string;
  partitionIndexes: number[];
}

export interface OffsetFetchRequestData {
  groupId: string;
  topics: OffsetFetchTopicRequest[] | null;
  groups: {
    groupId: string;
    memberId: string | null;
    memberEpoch: number;
    topics: OffsetFetchTopicRequest[] | null;
  }[];
  requireStable: boolean;
}

export interface OffsetFetchPartitionData {
  partitionIndex: number;
  committedOffset: number;
  committedLeaderEpoch: number;
  metadata: string | null;
  errorCode: number;
}

export interface OffsetFetchTopicData {
  name: string;
  partitions: OffsetFetchPartitionData[];
}

export interface OffsetFetchResponseData {
  throttleTimeMs: number;
  topics: OffsetFetchTopicData[];
  errorCode: number;
  groups: { groupId: string; topics: OffsetFetchTopicData[]; errorCode: number }[];
}
