import { array, field, message, struct } from '../schema.js';

/** FindCoordinator (key 10). v4+ looks up several keys at once. */
export const FindCoordinatorRequest = message(
  'FindCoordinatorRequest',
  '3+',
  field('key', 'string', '0-3'),
  field('keyType', 'int8', '1+', { default: 0 }),
  field('coordinatorKeys', array('string'), '4+'),
);

export const FindCoordinatorResponse = message(
  'FindCoordinatorResponse',
  '3+',
  field('throttleTimeMs', 'int32', '1+'),
  field('errorCode', 'int16', '0-3'),
  field('errorMessage', 'string', '1-3', { nullable: '1-3', default: null }),
  field('nodeId', 'int32', '0-3'),
  field('host', 'string', '0-3'),
  field('port', 'int32', '0-3'),
  field(
    'coordinators',
    array(
      struct(
        field('key', 'string', '4+'),
        field('nodeId', 'int32', '4+'),
        field('host', 'string', '4+'),
        field('port', 'int32', '4+'),
        field('errorCode', 'int16', '4+'),
        field('errorMessage', 'string', '4+', { nullable: '4+', default: null }),
      ),
    ),
    '4+',
  ),
);

export interface FindCoordinatorRequestData {
  key: string;
  keyType: number;
  coordinatorKeys: string[];
}

export interface CoordinatorResult {
  key: string;
  nodeId: number;
  host: string;
  port: number;
  errorCode: number;
  errorMessage: string | null;
}

export interface FindCoordinatorResponseData {
  throttleTimeMs?: number;
  errorCode?: number;
  errorMessage?: string | null;
  nodeId?: number;
  host?: string;
  port?: number;
  coordinators?: CoordinatorResult[];
}
