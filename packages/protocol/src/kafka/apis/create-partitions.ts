import { array, field, message, struct } from '../schema.js';

/** CreatePartitions (key 37): a topic's partition count raised to `count`. */
export const CreatePartitionsRequest = message(
  'CreatePartitionsRequest',
  '2+',
  field(
    'topics',
    array(
      struct(
        field('name', 'string', '0+'),
        field('count', 'int32', '0+'),
        field('assignments', array(struct(field('brokerIds', array('int32'), '0+'))), '0+', {
          nullable: '0+',
          default: null,
        }),
      ),
    ),
    '0+',
  ),
  field('timeoutMs', 'int32', '0+'),
  field('validateOnly', 'bool', '0+'),
);

export const CreatePartitionsResponse = message(
  'CreatePartitionsResponse',
  '2+',
  field('throttleTimeMs', 'int32', '0+'),
  field(
    'results',
    array(
      struct(
        field('name', 'string', '0+'),
        field('errorCode', 'int16', '0+'),
        field('errorMessage', 'string', '0+', { nullable: '0+', default: null }),
      ),
    ),
    '0+',
  ),
);

export interface CreatePartitionsRequestData {
  topics: { name: string; count: number; assignments: { brokerIds: number[] }[] | null }[];
  timeoutMs: number;
  validateOnly: boolean;
}

export interface CreatePartitionsResponseData {
  throttleTimeMs: number;
  results: { name: string; errorCode: number; errorMessage: string | null }[];
}
