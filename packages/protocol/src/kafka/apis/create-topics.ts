import { array, field, message, struct } from '../schema.js';

/** CreateTopics (key 19), answered by the controller. */
export const CreateTopicsRequest = message(
  'CreateTopicsRequest',
  '5+',
  field(
    'topics',
    array(
      struct(
        field('name', 'string', '0+'),
        field('numPartitions', 'int32', '0+'),
        field('replicationFactor', 'int16', '0+'),
        field(
          'assignments',
          array(struct(field('partitionIndex', 'int32', '0+'), field('brokerIds', array('int32'), '0+'))),
          '0+',
        ),
        field(
          'configs',
          array(struct(field('name', 'string', '0+'), field('value', 'string', '0+', { nullable: '0+' }))),
          '0+',
        ),
      ),
    ),
    '0+',
  ),
  field('timeoutMs', 'int32', '0+', { default: 60000 }),
  field('validateOnly', 'bool', '1+', { default: false }),
);

export const CreateTopicsResponse = message(
  'CreateTopicsResponse',
  '5+',
  field('throttleTimeMs', 'int32', '2+'),
  field(
    'topics',
    array(
      struct(
        field('name', 'string', '0+'),
        field('topicId', 'uuid', '7+'),
        field('errorCode', 'int16', '0+'),
        field('errorMessage', 'string', '1+', { nullable: '0+', default: null }),
        field('topicConfigErrorCode', 'int16', '5+', { tag: 0 }),
        field('numPartitions', 'int32', '5+', { default: -1 }),
        field('replicationFactor', 'int16', '5+', { default: -1 }),
        field(
          'configs',
          array(
            struct(
              field('name', 'string', '5+'),
              field('value', 'string', '5+', { nullable: '5+' }),
              field('readOnly', 'bool', '5+'),
              field('configSource', 'int8', '5+', { default: -1 }),
              field('isSensitive', 'bool', '5+'),
            ),
          ),
          '5+',
          { nullable: '5+' },
        ),
      ),
    ),
    '0+',
  ),
);

export interface CreateTopicsRequestData {
  topics: {
    name: string;
    numPartitions: number;
    replicationFactor: number;
    assignments: { partitionIndex: number; brokerIds: number[] }[];
    configs: { name: string; value: string | null }[];
  }[];
  timeoutMs: number;
  validateOnly: boolean;
}

export interface CreateTopicsResponseData {
  throttleTimeMs?: number;
  topics: {
    name: string;
    topicId?: string;
    errorCode: number;
    errorMessage: string | null;
    numPartitions?: number;
    replicationFactor?: number;
    configs?: CreatableTopicConfig[] | null;
  }[];
}

/** A created topic's config in the CreateTopics answer (v5+, KIP-525). */
export interface CreatableTopicConfig {
  name: string;
  value: string | null;
  readOnly: boolean;
  configSource: number;
  isSensitive: boolean;
}
