import { ApiVersionsRequest, ApiVersionsResponse } from './apis/api-versions.js';
import { CreateTopicsRequest, CreateTopicsResponse } from './apis/create-topics.js';
import { DeleteTopicsRequest, DeleteTopicsResponse } from './apis/delete-topics.js';
import { DescribeClusterRequest, DescribeClusterResponse } from './apis/describe-cluster.js';
import { DescribeConfigsRequest, DescribeConfigsResponse } from './apis/describe-configs.js';
import { FetchRequest, FetchResponse } from './apis/fetch.js';
import { FindCoordinatorRequest, FindCoordinatorResponse } from './apis/find-coordinator.js';
import { InitProducerIdRequest, InitProducerIdResponse } from './apis/init-producer-id.js';
import { ListOffsetsRequest, ListOffsetsResponse } from './apis/list-offsets.js';
import { MetadataRequest, MetadataResponse } from './apis/metadata.js';
import { OffsetForLeaderEpochRequest, OffsetForLeaderEpochResponse } from './apis/offset-for-leader-epoch.js';
import { ProduceRequest, ProduceResponse } from './apis/produce.js';
import type { MessageSchema } from './schema.js';

export const ApiKey = Object.freeze({
  Produce: 0,
  Fetch: 1,
  ListOffsets: 2,
  Metadata: 3,
  FindCoordinator: 10,
  ApiVersions: 18,
  CreateTopics: 19,
  DeleteTopics: 20,
  InitProducerId: 22,
  OffsetForLeaderEpoch: 23,
  DescribeConfigs: 32,
  DescribeCluster: 60,
});

export type ApiName = keyof typeof ApiKey;

/** One API's codecs and the versions they implement. */
export interface ApiCodec {
  readonly key: number;
  readonly name: ApiName;
  readonly minVersion: number;
  readonly maxVersion: number;
  readonly request: MessageSchema;
  readonly response: MessageSchema;
}

function api(
  name: ApiName,
  minVersion: number,
  maxVersion: number,
  request: MessageSchema,
  response: MessageSchema,
): ApiCodec {
  return { key: ApiKey[name], name, minVersion, maxVersion, request, response };
}

/** Every API this package can encode and decode, with the versions it implements. */
export const KAFKA_APIS: ReadonlyMap<number, ApiCodec> = new Map(
  [
    api('Produce', 0, 9, ProduceRequest, ProduceResponse),
    api('Fetch', 0, 12, FetchRequest, FetchResponse),
    api('ListOffsets', 0, 7, ListOffsetsRequest, ListOffsetsResponse),
    api('Metadata', 0, 12, MetadataRequest, MetadataResponse),
    api('FindCoordinator', 0, 4, FindCoordinatorRequest, FindCoordinatorResponse),
    api('ApiVersions', 0, 3, ApiVersionsRequest, ApiVersionsResponse),
    api('CreateTopics', 0, 7, CreateTopicsRequest, CreateTopicsResponse),
    api('DeleteTopics', 0, 6, DeleteTopicsRequest, DeleteTopicsResponse),
    api('InitProducerId', 0, 4, InitProducerIdRequest, InitProducerIdResponse),
    api('OffsetForLeaderEpoch', 0, 4, OffsetForLeaderEpochRequest, OffsetForLeaderEpochResponse),
    api('DescribeConfigs', 0, 4, DescribeConfigsRequest, DescribeConfigsResponse),
    api('DescribeCluster', 0, 1, DescribeClusterRequest, DescribeClusterResponse),
  ].map((a) => [a.key, a]),
);
