import { array, field, message, struct } from '../schema.js';

/** DescribeCluster (key 60), flexible from v0. */
export const DescribeClusterRequest = message(
  'DescribeClusterRequest',
  '0+',
  field('includeClusterAuthorizedOperations', 'bool', '0+'),
  field('endpointType', 'int8', '1+', { default: 1 }),
);

export const DescribeClusterResponse = message(
  'DescribeClusterResponse',
  '0+',
  field('throttleTimeMs', 'int32', '0+'),
  field('errorCode', 'int16', '0+'),
  field('errorMessage', 'string', '0+', { nullable: '0+', default: null }),
  field('endpointType', 'int8', '1+', { default: 1 }),
  field('clusterId', 'string', '0+'),
  field('controllerId', 'int32', '0+', { default: -1 }),
  field(
    'brokers',
    array(
      struct(
        field('brokerId', 'int32', '0+'),
        field('host', 'string', '0+'),
        field('port', 'int32', '0+'),
        field('rack', 'string', '0+', { nullable: '0+', default: null }),
      ),
    ),
    '0+',
  ),
  field('clusterAuthorizedOperations', 'int32', '0+', { default: -2147483648 }),
);

export interface DescribeClusterRequestData {
  includeClusterAuthorizedOperations: boolean;
  endpointType: number;
}

export interface DescribeClusterResponseData {
  throttleTimeMs?: number;
  errorCode: number;
  errorMessage: string | null;
  clusterId: string;
  controllerId: number;
  brokers: { brokerId: number; host: string; port: number; rack: string | null }[];
  clusterAuthorizedOperations?: number;
}
