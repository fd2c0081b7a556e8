import { array, field, message, struct } from '../schema.js';

/**
 * ConsumerGroupDescribe (key 69, KIP-848): a consumer group's epochs, assignor and members with their
 * current and target assignments. v1 adds each member's type (KIP-1099: 0 classic, 1 consumer), which
 * tells the Kafka clients in a mixed group from the KIP-848 members.
 */
const assignment = struct(
  field(
    'topicPartitions',
    array(
      struct(
        field('topicId', 'uuid', '0+'),
        field('topicName', 'string', '0+'),
        field('partitions', array('int32'), '0+'),
      ),
    ),
    '0+',
  ),
);

export const ConsumerGroupDescribeRequest = message(
  'ConsumerGroupDescribeRequest',
  '0+',
  field('groupIds', array('string'), '0+'),
  field('includeAuthorizedOperations', 'bool', '0+'),
);

export const ConsumerGroupDescribeResponse = message(
  'ConsumerGroupDescribeResponse',
  '0+',
  field('throttleTimeMs', 'int32', '0+'),
  field(
    'groups',
    array(
      struct(
        field('errorCode', 'int16', '0+'),
        field('errorMessage', 'string', '0+', { nullable: '0+', default: null }),
        field('groupId', 'string', '0+'),
        field('groupState', 'string', '0+'),
        field('groupEpoch', 'int32', '0+'),
        field('assignmentEpoch', 'int32', '0+'),
        field('assignorName', 'string', '0+'),
        field(
          'members',
          array(
            struct(
              field('memberId', 'string', '0+'),
              field('instanceId', 'string', '0+', { nullable: '0+', default: null }),
              field('rackId', 'string', '0+', { nullable: '0+', default: null }),
              field('memberEpoch', 'int32', '0+'),
              field('clientId', 'string', '0+'),
              field('clientHost', 'string', '0+'),
              field('subscribedTopicNames', array('string'), '0+'),
              field('subscribedTopicRegex', 'string', '0+', { nullable: '0+', default: null }),
              field('assignment', assignment, '0+'),
              field('targetAssignment', assignment, '0+'),
              field('memberType', 'int8', '1+', { default: -1 }),
            ),
          ),
          '0+',
        ),
        field('authorizedOperations', 'int32', '0+', { default: -2147483648 }),
      ),
    ),
    '0+',
  ),
);

export interface ConsumerGroupDescribeRequestData {
  groupIds: string[];
  includeAuthorizedOperations: boolean;
}

export interface DescribedAssignment {
  topicPartitions: { topicId: string; topicName: string; partitions: number[] }[];
}

export interface DescribedConsumerGroupMember {
  memberId: string;
  instanceId: string | null;
  rackId: string | null;
  memberEpoch: number;
  clientId: string;
  clientHost: string;
  subscribedTopicNames: string[];
  subscribedTopicRegex: string | null;
  assignment: DescribedAssignment;
  targetAssignment: DescribedAssignment;
  /** -1 unknown, 0 classic (JoinGroup), 1 consumer (ConsumerGroupHeartbeat). */
  memberType: number;
}

export interface DescribedConsumerGroup {
  errorCode: number;
  errorMessage: string | null;
  groupId: string;
  groupState: string;
  groupEpoch: number;
  assignmentEpoch: number;
  assignorName: string;
  members: DescribedConsumerGroupMember[];
  authorizedOperations: number;
}

export interface ConsumerGroupDescribeResponseData {
  throttleTimeMs: number;
  groups: DescribedConsumerGroup[];
}
