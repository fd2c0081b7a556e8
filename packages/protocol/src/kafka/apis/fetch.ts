import { array, field, message, struct } from '../schema.js';
import { currentLeaderField, type LeaderIdAndEpoch, type NodeEndpoint, nodeEndpointsField } from './leader-hints.js';

/**
 * Fetch (key 1), v0-v16. v0-v1 answers carry magic 0 message sets, v2-v3 magic 1, v4+ RecordBatch v2.
 * v7+ has incremental fetch sessions (KIP-227), v13+ names topics by id (KIP-516), v15 moves a
 * follower's replica id into the tagged ReplicaState (KIP-903), v16's response adds NodeEndpoints (KIP-951).
 */
export const FetchRequest = message(
  'FetchRequest',
  '12+',
  field('clusterId', 'string', '12+', { nullable: '12+', tag: 0, default: null }),
  field('replicaId', 'int32', '0-14', { default: -1 }),
  field(
    'replicaState',
    struct(field('replicaId', 'int32', '15+', { default: -1 }), field('replicaEpoch', 'int64', '15+', { default: -1 })),
    '15+',
    { tag: 1 },
  ),
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
              currentLeaderField('12+', 1),
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
  nodeEndpointsField('16+', 0),
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
  /** v15+: a follower's replica id (consumers leave it at -1). */
  replicaState?: { replicaId: number; replicaEpoch: number };
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
  /** With NOT_LEADER_OR_FOLLOWER or FENCED_LEADER_EPOCH (KIP-951; filled from v16). */
  currentLeader?: LeaderIdAndEpoch;
  records: Buffer | null;
}

export interface FetchResponseData {
  throttleTimeMs?: number;
  errorCode?: number;
  sessionId?: number;
  /** Topics by name up to v12, by id (topicId) from v13. */
  responses: { topic: string; topicId?: string; partitions: FetchResponsePartition[] }[];
  /** v16+: the address of each leader a partition's currentLeader names. */
  nodeEndpoints?: NodeEndpoint[];
}
