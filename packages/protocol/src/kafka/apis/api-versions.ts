import { array, field, message, struct } from '../schema.js';

/** ApiVersions (key 18). Its response header is always v0, even in flexible versions, so any client can read it. */
export const ApiVersionsRequest = message(
  'ApiVersionsRequest',
  '3+',
  field('clientSoftwareName', 'string', '3+'),
  field('clientSoftwareVersion', 'string', '3+'),
);

export const ApiVersionsResponse = message(
  'ApiVersionsResponse',
  '3+',
  field('errorCode', 'int16', '0+'),
  field(
    'apiKeys',
    array(
      struct(field('apiKey', 'int16', '0+'), field('minVersion', 'int16', '0+'), field('maxVersion', 'int16', '0+')),
    ),
    '0+',
  ),
  field('throttleTimeMs', 'int32', '1+'),
  field(
    'supportedFeatures',
    array(
      struct(field('name', 'string', '3+'), field('minVersion', 'int16', '3+'), field('maxVersion', 'int16', '3+')),
    ),
    '3+',
    { tag: 0 },
  ),
  field('finalizedFeaturesEpoch', 'int64', '3+', { tag: 1, default: -1 }),
  field(
    'finalizedFeatures',
    array(
      struct(
        field('name', 'string', '3+'),
        field('maxVersionLevel', 'int16', '3+'),
        field('minVersionLevel', 'int16', '3+'),
      ),
    ),
    '3+',
    { tag: 2 },
  ),
  field('zkMigrationReady', 'bool', '3+', { tag: 3, default: false }),
);

export interface ApiVersionsRequestData {
  clientSoftwareName: string;
  clientSoftwareVersion: string;
}

export interface ApiVersionRange {
  apiKey: number;
  minVersion: number;
  maxVersion: number;
}

export interface ApiVersionsResponseData {
  errorCode: number;
  apiKeys: ApiVersionRange[];
  throttleTimeMs?: number;
}
