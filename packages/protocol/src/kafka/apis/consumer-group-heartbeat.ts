import { array, field, message, struct } from '../schema.js';

/**
 * ConsumerGroupHeartbeat (key 68, KIP-848): a member of a consumer group joins (epoch 0), heartbeats
 * with its epoch and owned partitions, or leaves (-1, -2 for a static member); the answer carries its
 * epoch and, when it changed, its assignment. Partitions are named by topic id. v1 adds the regex and
 * has the client generate its member id (KIP-1082).
 */
const topicPartitions = struct(field('topicId', 'uuid', '0+'), field('partitions', array('int32'), '0+'));

export const ConsumerGroupHeartbeatRequest = message(
  'ConsumerGroupHeartbeatRequest',
  '0+',
  field('groupId', 'string', '0+'),
  field('memberId', 'string', '0+'),
  field('memberEpoch', 'int32', '0+'),
  field('instanceId', 'string', '0+', { nullable: '0+', default: null }),
  field('rackId', 'string', '0+', { nullable: '0+', default: null }),
  field('rebalanceTimeoutMs', 'int32', '0+', { default: -1 }),
  field('subscribedTopicNames', array('string'), '0+', { nullable: '0+', default: null }),
  field('subscribedTopicRegex', 'string', '1+', { nullable: '1+', default: null }),
  field('serverAssignor', 'string', '0+', { nullable: '0+', default: null }),
  field('topicPartitions', array(topicPartitions), '0+', { nullable: '0+', default: null }),
);

export const ConsumerGroupHeartbeatResponse = message(
  'ConsumerGroupHeartbeatResponse',
  '0+',
  field('throttleTimeMs', 'int32', '0+'),
  field('errorCode', 'int16', '0+'),
  field('errorMessage', 'string', '0+', { nullable: '0+', default: null }),
  field('memberId', 'string', '0+', { nullable: '0+', default: null }),
  field('memberEpoch', 'int32', '0+'),
  field('heartbeatIntervalMs', 'int32', '0+'),
  field('assignment', struct(field('topicPartitions', array(topicPartitions), '0+')), '0+', {
    nullable: '0+',
    default: null,
  }),
);

export interface ConsumerGroupTopicPartitions {
  topicId: string;
  partitions: number[];
}

export interface ConsumerGroupHeartbeatRequestData {
  groupId: string;
  memberId: string;
  memberEpoch: number;
  instanceId: string | null;
  rackId: string | null;
  rebalanceTimeoutMs: number;
  subscribedTopicNames: string[] | null;
  subscribedTopicRegex: string | null;
  serverAssignor: string | null;
  topicPartitions: ConsumerGroupTopicPartitions[] | null;
}

export interface ConsumerGroupHeartbeatResponseData {
  throttleTimeMs: number;
  errorCode: number;
  errorMessage: string | null;
  memberId: string | null;
  memberEpoch: number;
  heartbeatIntervalMs: number;
  assignment: { topicPartitions: ConsumerGroupTopicPartitions[] } | null;
}
