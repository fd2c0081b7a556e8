import { array, field, message, struct } from '../schema.js';

/** AlterPartitionReassignments (key 45, KIP-455): target replicas per partition; null cancels a move. */
export const AlterPartitionReassignmentsRequest = message(
  'AlterPartitionReassignmentsRequest',
  '0+',
  field('timeoutMs', 'int32', '0+', { default: 60_000 }),
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
              field('replicas', array('int32'), '0+', { nullable: '0+', default: null }),
            ),
          ),
          '0+',
        ),
      ),
    ),
    '0+',
  ),
);

export const AlterPartitionReassignmentsResponse = message(
  'AlterPartitionReassignmentsResponse',
  '0+',
  field('throttleTimeMs', 'int32', '0+'),
  field('errorCode', 'int16', '0+'),
  field('errorMessage', 'string', '0+', { nullable: '0+', default: null }),
  field(
    'responses',
    array(
      struct(
        field('name', 'string', '0+'),
        field(
          'partitions',
          array(
            struct(
              field('partitionIndex', 'int32', '0+'),
              field('errorCode', 'int16', '0+'),
              field('errorMessage', 'string', '0+', { nullable: '0+', default: null }),
            ),
          ),
          '0+',
        ),
      ),
    ),
    '0+',
  ),
);

/** ListPartitionReassignments (key 46): the moves in progress; null topics: every one. */
export const ListPartitionReassignmentsRequest = message(
  'ListPartitionReassignmentsRequest',
  '0+',
  field('timeoutMs', 'int32', '0+', { default: 60_000 }),
  field('topics', array(struct(field('name', 'string', '0+'), field('partitionIndexes', array('int32'), '0+'))), '0+', {
    nullable: '0+',
    default: null,
  }),
);

export const ListPartitionReassignmentsResponse = message(
  'ListPartitionReassignmentsResponse',
  '0+',
  field('throttleTimeMs', 'int32', '0+'),
  field('errorCode', 'int16', '0+'),
  field('errorMessage', 'string', '0+', { nullable: '0+', default: null }),
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
              field('replicas', array('int32'), '0+'),
              field('addingReplicas', array('int32'), '0+'),
              field('removingReplicas', array('int32'), '0+'),
            ),
          ),
          '0+',
        ),
      ),
    ),
    '0+',
  ),
);

export interface AlterPartitionReassignmentsRequestData {
  timeoutMs: number;
  topics: { name: string; partitions: { partitionIndex: number; replicas: number[] | null }[] }[];
}

export interface AlterPartitionReassignmentsResponseData {
  throttleTimeMs: number;
  errorCode: number;
  errorMessage: string | null;
  responses: {
    name: string;
    partitions: { partitionIndex: number; errorCode: number; errorMessage: string | null }[];
  }[];
}

export interface ListPartitionReassignmentsRequestData {
  timeoutMs: number;
  topics: { name: string; partitionIndexes: number[] }[] | null;
}

export interface OngoingReassignment {
  partitionIndex: number;
  replicas: number[];
  addingReplicas: number[];
  removingReplicas: number[];
}

export interface ListPartitionReassignmentsResponseData {
  throttleTimeMs: number;
  errorCode: number;
  errorMessage: string | null;
  topics: { name: string; partitions: OngoingReassignment[] }[];
}
