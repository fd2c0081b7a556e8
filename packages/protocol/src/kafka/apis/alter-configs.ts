import { array, field, message, struct } from '../schema.js';

/**
 * IncrementalAlterConfigs (key 44): per resource (type 2 a topic, 4 a broker), config operations
 * 0 SET, 1 DELETE, 2 APPEND, 3 SUBTRACT (the last two on list configs).
 */
export const IncrementalAlterConfigsRequest = message(
  'IncrementalAlterConfigsRequest',
  '1+',
  field(
    'resources',
    array(
      struct(
        field('resourceType', 'int8', '0+'),
        field('resourceName', 'string', '0+'),
        field(
          'configs',
          array(
            struct(
              field('name', 'string', '0+'),
              field('configOperation', 'int8', '0+'),
              field('value', 'string', '0+', { nullable: '0+' }),
            ),
          ),
          '0+',
        ),
      ),
    ),
    '0+',
  ),
  field('validateOnly', 'bool', '0+'),
);

const alterConfigsResponse = (name: string, flexible: string) =>
  message(
    name,
    flexible,
    field('throttleTimeMs', 'int32', '0+'),
    field(
      'responses',
      array(
        struct(
          field('errorCode', 'int16', '0+'),
          field('errorMessage', 'string', '0+', { nullable: '0+', default: null }),
          field('resourceType', 'int8', '0+'),
          field('resourceName', 'string', '0+'),
        ),
      ),
      '0+',
    ),
  );

export const IncrementalAlterConfigsResponse = alterConfigsResponse('IncrementalAlterConfigsResponse', '1+');

/** AlterConfigs (key 33): each resource's configs replaced by the ones given (the older, non-incremental form). */
export const AlterConfigsRequest = message(
  'AlterConfigsRequest',
  '2+',
  field(
    'resources',
    array(
      struct(
        field('resourceType', 'int8', '0+'),
        field('resourceName', 'string', '0+'),
        field(
          'configs',
          array(struct(field('name', 'string', '0+'), field('value', 'string', '0+', { nullable: '0+' }))),
          '0+',
        ),
      ),
    ),
    '0+',
  ),
  field('validateOnly', 'bool', '0+'),
);

export const AlterConfigsResponse = alterConfigsResponse('AlterConfigsResponse', '2+');

export const CONFIG_OPERATION_SET = 0;
export const CONFIG_OPERATION_DELETE = 1;

export interface IncrementalAlterConfigsRequestData {
  resources: {
    resourceType: number;
    resourceName: string;
    configs: { name: string; configOperation: number; value: string | null }[];
  }[];
  validateOnly: boolean;
}

export interface AlterConfigsRequestData {
  resources: { resourceType: number; resourceName: string; configs: { name: string; value: string | null }[] }[];
  validateOnly: boolean;
}

/** The response of both AlterConfigs and IncrementalAlterConfigs. */
export interface AlterConfigsResponseData {
  throttleTimeMs: number;
  responses: { errorCode: number; errorMessage: string | null; resourceType: number; resourceName: string }[];
}
