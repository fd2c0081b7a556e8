import { array, field, message, struct } from '../schema.js';

/** DeleteTopics (key 20), answered by the controller; v6 may name topics by id. */
export const DeleteTopicsRequest = message(
  'DeleteTopicsRequest',
  '4+',
  field(
    'topics',
    array(struct(field('name', 'string', '6+', { nullable: '6+', default: null }), field('topicId', 'uuid', '6+'))),
    '6+',
  ),
  field('topicNames', array('string'), '0-5'),
  field('timeoutMs', 'int32', '0+'),
);

export const DeleteTopicsResponse = message(
  'DeleteTopicsResponse',
  '4+',
  field('throttleTimeMs', 'int32', '1+'),
  field(
    'responses',
    array(
      struct(
        field('name', 'string', '0+', { nullable: '6+' }),
        field('topicId', 'uuid', '6+'),
        field('errorCode', 'int16', '0+'),
        field('errorMessage', 'string', '5+', { nullable: '5+', default: null }),
      ),
    ),
    '0+',
  ),
);

export interface DeleteTopicsRequestData {
  topics: { name: string | null; topicId: string }[];
  topicNames: string[];
  timeoutMs: number;
}

export interface DeleteTopicsResponseData {
  throttleTimeMs?: number;
  responses: { name: string | null; topicId?: string; errorCode: number; errorMessage: string | null }[];
}
