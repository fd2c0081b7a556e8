import { array, field, message, struct } from '../schema.js';

/** SyncGroup (key 14): the leader hands in the assignment, every member gets its own share. */
export const SyncGroupRequest = message(
  'SyncGroupRequest',
  '4+',
  field('groupId', 'string', '0+'),
  field('generationId', 'int32', '0+'),
  field('memberId', 'string', '0+'),
  field('groupInstanceId', 'string', '3+', { nullable: '3+', default: null }),
  field('protocolType', 'string', '5+', { nullable: '5+', default: null }),
  field('protocolName', 'string', '5+', { nullable: '5+', default: null }),
  field('assignments', array(struct(field('memberId', 'string', '0+'), field('assignment', 'bytes', '0+'))), '0+'),
);

export const SyncGroupResponse = message(
  'SyncGroupResponse',
  '4+',
  field('throttleTimeMs', 'int32', '1+'),
  field('errorCode', 'int16', '0+'),
  field('protocolType', 'string', '5+', { nullable: '5+', default: null }),
  field('protocolName', 'string', '5+', { nullable: '5+', default: null }),
  field('assignment', 'bytes', '0+'),
);

export interface SyncGroupRequestData {
  groupId: string;
  generationId: number;
  memberId: string;
  groupInstanceId: string | null;
  protocolType: string | null;
  protocolName: string | null;
  assignments: { memberId: string; assignment: Buffer }[];
}

export interface SyncGroupResponseData {
  throttleTimeMs: number;
  errorCode: number;
  protocolType: string | null;
  protocolName: string | null;
  assignment: Buffer;
}
