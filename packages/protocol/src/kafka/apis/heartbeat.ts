import { field, message } from '../schema.js';

/** Heartbeat (key 12): a classic member says it is alive; the error tells it to rejoin. */
export const HeartbeatRequest = message(
  'HeartbeatRequest',
  '4+',
  field('groupId', 'string', '0+'),
  field('generationId', 'int32', '0+'),
  field('memberId', 'string', '0+'),
  field('groupInstanceId', 'string', '3+', { nullable: '3+', default: null }),
);

export const HeartbeatResponse = message(
  'HeartbeatResponse',
  '4+',
  field('throttleTimeMs', 'int32', '1+'),
  field('errorCode', 'int16', '0+'),
);

export interface HeartbeatRequestData {
  groupId: string;
  generationId: number;
  memberId: string;
  groupInstanceId: string | null;
}

export interface HeartbeatResponseData {
  throttleTimeMs: number;
  errorCode: number;
}
