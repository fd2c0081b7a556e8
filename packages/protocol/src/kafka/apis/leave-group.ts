import { array, field, message, struct } from '../schema.js';

/** LeaveGroup (key 13). v3+ removes several members (by id or instance id) at once. */
export const LeaveGroupRequest = message(
  'LeaveGroupRequest',
  '4+',
  field('groupId', 'string', '0+'),
  field('memberId', 'string', '0-2'),
  field(
    'members',
    array(
      struct(
        field('memberId', 'string', '3+'),
        field('groupInstanceId', 'string', '3+', { nullable: '3+', default: null }),
        field('reason', 'string', '5+', { nullable: '5+', default: null }),
      ),
    ),
    '3+',
  ),
);

export const LeaveGroupResponse = message(
  'LeaveGroupResponse',
  '4+',
  field('throttleTimeMs', 'int32', '1+'),
  field('errorCode', 'int16', '0+'),
  field(
    'members',
    array(
      struct(
        field('memberId', 'string', '3+'),
        field('groupInstanceId', 'string', '3+', { nullable: '3+', default: null }),
        field('errorCode', 'int16', '3+'),
      ),
    ),
    '3+',
  ),
);

export interface LeaveGroupMemberData {
  memberId: string;
  groupInstanceId: string | null;
  reason?: string | null;
}

export interface LeaveGroupRequestData {
  groupId: string;
  memberId: string;
  members: LeaveGroupMemberData[];
}

export interface LeaveGroupResponseData {
  throttleTimeMs: number;
  errorCode: number;
  members: { memberId: string; groupInstanceId: string | null; errorCode: number }[];
}
