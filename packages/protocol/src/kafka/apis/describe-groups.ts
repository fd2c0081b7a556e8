import { array, field, message, struct } from '../schema.js';

/** DescribeGroups (key 15): a group as the classic protocol sees it. */
export const DescribeGroupsRequest = message(
  'DescribeGroupsRequest',
  '5+',
  field('groups', array('string'), '0+'),
  field('includeAuthorizedOperations', 'bool', '3+'),
);

export const DescribeGroupsResponse = message(
  'DescribeGroupsResponse',
  '5+',
  field('throttleTimeMs', 'int32', '1+'),
  field(
    'groups',
    array(
      struct(
        field('errorCode', 'int16', '0+'),
        field('groupId', 'string', '0+'),
        field('groupState', 'string', '0+'),
        field('protocolType', 'string', '0+'),
        field('protocolData', 'string', '0+'),
        field(
          'members',
          array(
            struct(
              field('memberId', 'string', '0+'),
              field('groupInstanceId', 'string', '4+', { nullable: '4+', default: null }),
              field('clientId', 'string', '0+'),
              field('clientHost', 'string', '0+'),
              field('memberMetadata', 'bytes', '0+'),
              field('memberAssignment', 'bytes', '0+'),
            ),
          ),
          '0+',
        ),
        field('authorizedOperations', 'int32', '3+', { default: -2147483648 }),
      ),
    ),
    '0+',
  ),
);

export interface DescribeGroupsRequestData {
  groups: string[];
  includeAuthorizedOperations: boolean;
}

export interface DescribedGroupMember {
  memberId: string;
  groupInstanceId: string | null;
  clientId: string;
  clientHost: string;
  memberMetadata: Buffer;
  memberAssignment: Buffer;
}

export interface DescribedGroup {
  errorCode: number;
  groupId: string;
  groupState: string;
  protocolType: string;
  protocolData: string;
  members: DescribedGroupMember[];
  authorizedOperations?: number;
}

export interface DescribeGroupsResponseData {
  throttleTimeMs: number;
  groups: DescribedGroup[];
}
