import { array, field, message, struct } from '../schema.js';
import { currentLeaderField, type LeaderIdAndEpoch, type NodeEndpoint, nodeEndpointsField } from './leader-hints.js';

/**
 * Produce (key 0). v0-v1 carry magic 0 message sets, v2 magic 1, v3+ RecordBatch v2. v10's request is
 * v9's; its response adds KIP-951's leader hints (CurrentLeader per partition, NodeEndpoints).
 */
export const ProduceRequest = message(
  'ProduceRequest',
  '9+',
  field('transactionalId', 'string', '3+', { nullable: '3+', default: null }),
  field('acks', 'int16', '0+'),
  field('timeoutMs', 'int32', '0+'),
  field(
    'topicData',
    array(
      struct(
        field('name', 'string', '0+'),
        field(
          'partitionData',
          array(struct(field('index', 'int32', '0+'), field('records', 'records', '0+', { nullable: '0+' }))),
          '0+',
        ),
      ),
    ),
    '0+',
  ),
);

export const ProduceResponse = message(
  'ProduceResponse',
  '9+',
  field(
    'responses',
    array(
      struct(
        field('name', 'string', '0+'),
        field(
          'partitionResponses',
          array(
            struct(
              field('index', 'int32', '0+'),
              field('errorCode', 'int16', '0+'),
              field('baseOffset', 'int64', '0+'),
              field('logAppendTimeMs', 'int64', '2+', { default: -1 }),
              field('logStartOffset', 'int64', '5+', { default: -1 }),
              field(
                'recordErrors',
                array(
                  struct(
                    field('batchIndex', 'int32', '8+'),
                    field('batchIndexErrorMessage', 'string', '8+', { nullable: '8+', default: null }),
                  ),
                ),
                '8+',
              ),
              field('errorMessage', 'string', '8+', { nullable: '8+', default: null }),
              currentLeaderField('10+', 0),
            ),
          ),
          '0+',
        ),
      ),
    ),
    '0+',
  ),
  field('throttleTimeMs', 'int32', '1+', { default: 0 }),
  nodeEndpointsField('10+', 0),
);

export interface ProduceRequestData {
  transactionalId: string | null;
  acks: number;
  timeoutMs: number;
  topicData: { name: string; partitionData: { index: number; records: Buffer | null }[] }[];
}

export interface ProducePartitionResult {
  index: number;
  errorCode: number;
  baseOffset: number;
  logAppendTimeMs?: number;
  logStartOffset?: number;
  errorMessage?: string | null;
  /** v10+, with NOT_LEADER_OR_FOLLOWER or FENCED_LEADER_EPOCH (KIP-951). */
  currentLeader?: LeaderIdAndEpoch;
}

export interface ProduceResponseData {
  responses: { name: string; partitionResponses: ProducePartitionResult[] }[];
  throttleTimeMs?: number;
  /** v10+: the address of each leader a partition's currentLeader names. */
  nodeEndpoints?: NodeEndpoint[];
}
