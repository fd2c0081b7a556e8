import { array, field, message, struct } from '../schema.js';

/**
 * Metadata (key 3). In v0 an empty topic list means every topic; from v1 on that is a null list, and
 * an empty one means none. v10 adds topic ids, v12 allows a topic named by id only.
 */
export const MetadataRequest = message(
  'MetadataRequest',
  '9+',
  field(
    'topics',
    array(struct(field('topicId', 'uuid', '10+'), field('name', 'string', '0+', { nullable: '10+' }))),
    '0+',
    { nullable: '1+' },
  ),
  field('allowAutoTopicCreation', 'bool', '4+', { default: true }),
  field('includeClusterAuthorizedOperations', 'bool', '8-10'),
  field('includeTopicAuthorizedOperations', 'bool', '8+'),
);

const AUTHORIZED_OPERATIONS_UNKNOWN = -2147483648;

export const MetadataResponse = message(
  'MetadataResponse',
  '9+',
  field('throttleTimeMs', 'int32', '3+'),
  field(
    'brokers',
    array(
      struct(
        field('nodeId', 'int32', '0+'),
        field('host', 'string', '0+'),
        field('port', 'int32', '0+'),
        field('rack', 'string', '1+', { nullable: '1+', default: null }),
      ),
    ),
    '0+',
  ),
  field('clusterId', 'string', '2+', { nullable: '2+', default: null }),
  field('controllerId', 'int32', '1+', { default: -1 }),
  field(
    'topics',
    array(
      struct(
        field('errorCode', 'int16', '0+'),
        field('name', 'string', '0+', { nullable: '12+' }),
        field('topicId', 'uuid', '10+'),
        field('isInternal', 'bool', '1+', { default: false }),
        field(
          'partitions',
          array(
            struct(
              field('errorCode', 'int16', '0+'),
              field('partitionIndex', 'int32', '0+'),
              field('leaderId', 'int32', '0+'),
              field('leaderEpoch', 'int32', '7+', { default: -1 }),
              field('replicaNodes', array('int32'), '0+'),
              field('isrNodes', array('int32'), '0+'),
              field('offlineReplicas', array('int32'), '5+'),
            ),
          ),
          '0+',
        ),
        field('topicAuthorizedOperations', 'int32', '8+', { default: AUTHORIZED_OPERATIONS_UNKNOWN }),
      ),
    ),
    '0+',
  ),
  field('clusterAuthorizedOperations', 'int32', '8-10', { default: AUTHORIZED_OPERATIONS_UNKNOWN }),
);

export interface MetadataRequestData {
  topics: { topicId: string; name: string | null }[] | null;
  allowAutoTopicCreation: boolean;
  includeClusterAuthorizedOperations: boolean;
  includeTopicAuthorizedOperations: boolean;
}

export interface MetadataBroker {
  nodeId: number;
  host: string;
  port: number;
  rack: string | null;
}

export interface MetadataPartition {
  errorCode: number;
  partitionIndex: number;
  leaderId: number;
  leaderEpoch: number;
  replicaNodes: number[];
  isrNodes: number[];
  offlineReplicas: number[];
}

export interface MetadataTopic {
  errorCode: number;
  name: string | null;
  topicId: string;
  isInternal: boolean;
  partitions: MetadataPartition[];
  /** v8+: KIP-430's bit field of operations, Integer.MIN_VALUE when the request did not ask. */
  topicAuthorizedOperations?: number;
}

export interface MetadataResponseData {
  throttleTimeMs?: number;
  brokers: MetadataBroker[];
  clusterId: string | null;
  controllerId: number;
  topics: MetadataTopic[];
  /** v8-v10. */
  clusterAuthorizedOperations?: number;
}
