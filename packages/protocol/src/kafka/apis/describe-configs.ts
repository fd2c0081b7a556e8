import { array, field, message, struct } from '../schema.js';

/** DescribeConfigs (key 32): resource type 2 is a topic, 4 a broker. */
export const DescribeConfigsRequest = message(
  'DescribeConfigsRequest',
  '4+',
  field(
    'resources',
    array(
      struct(
        field('resourceType', 'int8', '0+'),
        field('resourceName', 'string', '0+'),
        field('configurationKeys', array('string'), '0+', { nullable: '0+' }),
      ),
    ),
    '0+',
  ),
  field('includeSynonyms', 'bool', '1+', { default: false }),
  field('includeDocumentation', 'bool', '3+', { default: false }),
);

export const DescribeConfigsResponse = message(
  'DescribeConfigsResponse',
  '4+',
  field('throttleTimeMs', 'int32', '0+'),
  field(
    'results',
    array(
      struct(
        field('errorCode', 'int16', '0+'),
        field('errorMessage', 'string', '0+', { nullable: '0+', default: null }),
        field('resourceType', 'int8', '0+'),
        field('resourceName', 'string', '0+'),
        field(
          'configs',
          array(
            struct(
              field('name', 'string', '0+'),
              field('value', 'string', '0+', { nullable: '0+' }),
              field('readOnly', 'bool', '0+'),
              field('isDefault', 'bool', '0'),
              field('configSource', 'int8', '1+', { default: -1 }),
              field('isSensitive', 'bool', '0+'),
              field(
                'synonyms',
                array(
                  struct(
                    field('name', 'string', '1+'),
                    field('value', 'string', '1+', { nullable: '0+' }),
                    field('source', 'int8', '1+'),
                  ),
                ),
                '1+',
              ),
              field('configType', 'int8', '3+', { default: 0 }),
              field('documentation', 'string', '3+', { nullable: '0+', default: null }),
            ),
          ),
          '0+',
        ),
      ),
    ),
    '0+',
  ),
);

export const RESOURCE_TYPE_TOPIC = 2;
export const RESOURCE_TYPE_BROKER = 4;
/** ConfigSource values: a topic's own setting, the broker's static default, Kafka's built-in default. */
export const CONFIG_SOURCE_TOPIC = 1;
export const CONFIG_SOURCE_STATIC_BROKER = 4;
export const CONFIG_SOURCE_DEFAULT = 5;

export interface DescribeConfigsRequestData {
  resources: { resourceType: number; resourceName: string; configurationKeys: string[] | null }[];
  includeSynonyms: boolean;
  includeDocumentation: boolean;
}

export interface DescribedConfig {
  name: string;
  value: string | null;
  readOnly: boolean;
  isDefault: boolean;
  configSource: number;
  isSensitive: boolean;
  synonyms: { name: string; value: string | null; source: number }[];
  configType?: number;
  documentation?: string | null;
}

export interface DescribeConfigsResponseData {
  throttleTimeMs: number;
  results: {
    errorCode: number;
    errorMessage: string | null;
    resourceType: number;
    resourceName: string;
    configs: DescribedConfig[];
  }[];
}
