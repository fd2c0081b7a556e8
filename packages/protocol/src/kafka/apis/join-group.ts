import { array, field, message, struct } from '../schema.js';

/** JoinGroup (key 11): a classic member asks to join; answered once the group's rebalance settles. */
export const JoinGroupRequest = message(
  'JoinGroupRequest',
  '6+',
  field('groupId', 'string', '0+'),
  field('sessionTimeoutMs', 'int32', '0+'),
  field('rebalanceTimeoutMs', 'int32', '1+', { default: -1 }),
  field('memberId', 'string', '0+'),
  field('groupInstanceId', 'string', '5+', { nullable: '5+', default: null }),
  field('protocolType', 'string', '0+'),
  field('protocols', array(struct(field('name', 'string', '0+'), field('metadata', 'bytes', '0+'))), '0+'),
  field('reason', 'string', '8+', { nullable: '8+', default: null }),
);

export const JoinGroupResponse = message(
  'JoinGroupResponse',
  '6+',
  field('throttleTimeMs', 'int32', '2+'),
  field('errorCode', 'int16', '0+'),
  field('generationId', 'int32', '0+', { default: -1 }),
  field('protocolType', 'string', '7+', { nullable: '7+', default: null }),
  field('protocolName', 'string', '0+', { nullable: '7+' }),
  field('leader', 'string', '0+'),
  field('skipAssignment', 'bool', '9+'),
  field('memberId', 'string', '0+'),
  field(
    'members',
    array(
      struct(
        field('memberId', 'string', '0+'),
        field('groupInstanceId', 'string', '5+', { nullable: '5+', default: null }),
        field('metadata', 'bytes', '0+'),
      ),
    ),
    '0+',
  ),
);

export interface JoinGroupProtocol {
  name: string;
  metadata: Buffer;
}

export interface JoinGroupRequestData {
  groupId: string;
  sessionTimeoutMs: number;
  rebalanceTimeoutMs: number;
  memberId: string;
  groupInstanceId: string | null;
  protocolType: string;
  protocols: JoinGroupProtocol[];
  reason: string | null;
}

export interface JoinGroupMember {
  memberId: string;
  groupInstanceId: string | null;
  metadata: Buffer;
}

export interface JoinGroupResponseData {
  throttleTimeMs: number;
  errorCode: number;
  generationId: number;
  protocolType: string | null;
  protocolName: string | null;
  leader: string;
  skipAssignment: boolean;
  memberId: string;
  members: JoinGroupMember[];
}
