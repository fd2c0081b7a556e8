import { array, field, message, struct } from '../schema.js';

/**
 * Fetch (key 1), v0-v12 (v13 names topics by id). v0-v1 answers carry magic 0 message sets, v2-v3
 * magic 1, v4+ RecordBatch v2. v7+ has incremental fetch sessions (KIP-227).
 */
export const FetchRequest = message(
  'FetchRequest',
  '12+',
  field('clusterId', 'string', '12+', { nullable: '12+', tag: 0, default: null }),
  field('replicaId', 'int32', '0-14', { default: -1 }),
  field('maxWaitMs', 'int32', '0+'),
  field('minBytes', 'int32', '0+'),
  field('maxBytes', 'int32', '3+', { default: 0x7fffffff }),
  field('isolationLevel', 'int8', '4+', { default: 0 }),
  field('sessionId', 'int32', '7+', { default: 0 }),
  field('sessionEpoch', 'int32', '7+', { default: -1 }),
  field(
    'topics',
    array(
      struct(
        field('topic', 'string', '0-12'),
        field('topicId', 'uuid', '13+'),
        field(
          'partitions',
          array(
            struct(
              field('partition', 'int32', '0+'),
              field('currentLeaderEpoch', 'int32', '9+', { default: -1 }),
              field('fetchOffset', 'int64', '0+'),
              field('lastFetchedEpoch', 'int32', '12+', { default: -1 }),
              field('logStartOffset', 'int64', '5+', { default: -1 }),
              field('partitionMaxBytes', 'int32', '0+'),
            ),
          ),
          '0+',
        ),
      ),
    ),
    '0+',
  ),
  field(
    'forgottenTopicsData',
    array(
      struct(
        field('topic', 'string', '7-12'),
        field('topicId', 'uuid', '13+'),
        field('partitions', array('int32'), '7+'),
      ),
    ),
    '7+',
  ),
  field('rackId', 'string', '11+', { default: '' }),
);

export const FetchResponse = message(
  'FetchResponse',
  '12+',
  field('throttleTimeMs', 'int32', '1+'),
  field('errorCode', 'int16', '7+'),
  field('sessionId', 'int32', '7+', { default: 0 }),
  field(
    'responses',
    array(
      struct(
        field('topic', 'string', '0-12'),
        field('topicId', 'uuid', '13+'),
        field(
          'partitions',
          array(
            struct(
              field('partitionIndex', 'int32', '0+'),
              field('errorCode', 'int16', '0+'),
              field('highWatermark', 'int64', '0+'),
              field('lastStableOffset', 'int64', '4+', { default: -1 }),
              field('logStartOffset', 'int64', '5+', { default: -1 }),
              field(
                'divergingEpoch',
                struct(
                  field('epoch', 'int32', '12+', { default: -1 }),
                  field('endOffset', 'int64', '12+', { default: -1 }),
                ),
                '12+',
                { tag: 0 },
              ),
              field(
                'currentLeader',
                struct(
                  field('leaderId', 'int32', '12+', { default: -1 }),
                  field('leaderEpoch', 'int32', '12+', { default: -1 }),
                ),
                '12+',
                { tag: 1 },
              ),
              field(
                'snapshotId',
                struct(
                  field('endOffset', 'int64', '0+', { default: -1 }),
                  field('epoch', 'int32', '0+', { default: -1 }),
                ),
                '12+',
                { tag: 2 },
              ),
              field(
                'abortedTransactions',
                array(struct(field('producerId', 'int64', '4+'), field('firstOffset', 'int64', '4+'))),
                '4+',
                { nullable: '4+' },
              ),
              field('preferredReadReplica', 'int32', '11+', { default: -1 }),
              field('records', 'records', '0+', { nullable: '0+' }),
            ),
          ),
          '0+',
        ),
      ),
    ),
    '0+',
  ),
);

export interface FetchRequestPartition {
  partition: number;
  currentLeaderEpoch: number;
  fetchOffset: number;
  lastFetchedEpoch: number;
  logStartOffset: number;
  partitionMaxBytes: number;
}

export interface FetchRequestData {
  clusterId: string | null;
  replicaId: number;
  maxWaitMs: number;
  minBytes: number;
  maxBytes: number;
  isolationLevel: number;
  sessionId: number;
  sessionEpoch: number;
  topics: { topic: string; topicId: string; partitions: FetchRequestPartition[] }[];
  forgottenTopicsData: { topic: string; topicId: string; partitions: number[] }[];
  rackId: string;
}

export interface FetchResponsePartition {
  partitionIndex: number;
  errorCode: number;
  highWatermark: number;
  lastStableOffset?: number;
  logStartOffset?: number;
  abortedTransactions?: { producerId: number; firstOffset: number }[] | null;
  preferredReadReplica?: number;
  records: Buffer | null;
}

export interface FetchResponseData {
  throttleTimeMs?: number;
  errorCode?: number;
  sessionId?: number;
  responses: { topic: string; partitions: FetchResponsePartition[] }[];
}
