import {
  AlterConfigsRequest,
  AlterConfigsResponse,
  IncrementalAlterConfigsRequest,
  IncrementalAlterConfigsResponse,
} from './apis/alter-configs.js';
import { ApiVersionsRequest, ApiVersionsResponse } from './apis/api-versions.js';
import { ConsumerGroupDescribeRequest, ConsumerGroupDescribeResponse } from './apis/consumer-group-describe.js';
import { ConsumerGroupHeartbeatRequest, ConsumerGroupHeartbeatResponse } from './apis/consumer-group-heartbeat.js';
import { CreateTopicsRequest, CreateTopicsResponse } from './apis/create-topics.js';
import { DeleteGroupsRequest, DeleteGroupsResponse } from './apis/delete-groups.js';
import { DeleteRecordsRequest, DeleteRecordsResponse } from './apis/delete-records.js';
import { DeleteTopicsRequest, DeleteTopicsResponse } from './apis/delete-topics.js';
import { DescribeClusterRequest, DescribeClusterResponse } from './apis/describe-cluster.js';
import { DescribeConfigsRequest, DescribeConfigsResponse } from './apis/describe-configs.js';
import { DescribeGroupsRequest, DescribeGroupsResponse } from './apis/describe-groups.js';
import { FetchRequest, FetchResponse } from './apis/fetch.js';
import { FindCoordinatorRequest, FindCoordinatorResponse } from './apis/find-coordinator.js';
import { HeartbeatRequest, HeartbeatResponse } from './apis/heartbeat.js';
import { InitProducerIdRequest, InitProducerIdResponse } from './apis/init-producer-id.js';
import { JoinGroupRequest, JoinGroupResponse } from './apis/join-group.js';
import { LeaveGroupRequest, LeaveGroupResponse } from './apis/leave-group.js';
import { ListGroupsRequest, ListGroupsResponse } from './apis/list-groups.js';
import { ListOffsetsRequest, ListOffsetsResponse } from './apis/list-offsets.js';
import { MetadataRequest, MetadataResponse } from './apis/metadata.js';
import { OffsetCommitRequest, OffsetCommitResponse } from './apis/offset-commit.js';
import { OffsetDeleteRequest, OffsetDeleteResponse } from './apis/offset-delete.js';
import { OffsetFetchRequest, OffsetFetchResponse } from './apis/offset-fetch.js';
import { OffsetForLeaderEpochRequest, OffsetForLeaderEpochResponse } from './apis/offset-for-leader-epoch.js';
import { ProduceRequest, ProduceResponse } from './apis/produce.js';
import { SyncGroupRequest, SyncGroupResponse } from './apis/sync-group.js';
import { AddOffsetsToTxnRequest, AddOffsetsToTxnResponse } from './apis/add-offsets-to-txn.js';
import { AddPartitionsToTxnRequest, AddPartitionsToTxnResponse } from './apis/add-partitions-to-txn.js';
import { EndTxnRequest, EndTxnResponse } from './apis/end-txn.js';
import { TxnOffsetCommitRequest, TxnOffsetCommitResponse } from './apis/txn-offset-commit.js';
import { CreatePartitionsRequest, CreatePartitionsResponse } from './apis/create-partitions.js';
import { DescribeProducersRequest, DescribeProducersResponse } from './apis/describe-producers.js';
import { ElectLeadersRequest, ElectLeadersResponse } from './apis/elect-leaders.js';
import {
  DescribeTransactionsRequest,
  DescribeTransactionsResponse,
  ListTransactionsRequest,
  ListTransactionsResponse,
} from './apis/transactions-admin.js';
import {
  AlterPartitionReassignmentsRequest,
  AlterPartitionReassignmentsResponse,
  ListPartitionReassignmentsRequest,
  ListPartitionReassignmentsResponse,
} from './apis/partition-reassignments.js';
import {
  SaslAuthenticateRequest,
  SaslAuthenticateResponse,
  SaslHandshakeRequest,
  SaslHandshakeResponse,
} from './apis/sasl.js';
import type { MessageSchema } from './schema.js';

export const ApiKey = Object.freeze({
  Produce: 0,
  Fetch: 1,
  ListOffsets: 2,
  Metadata: 3,
  OffsetCommit: 8,
  OffsetFetch: 9,
  FindCoordinator: 10,
  JoinGroup: 11,
  Heartbeat: 12,
  LeaveGroup: 13,
  SyncGroup: 14,
  DescribeGroups: 15,
  ListGroups: 16,
  SaslHandshake: 17,
  ApiVersions: 18,
  CreateTopics: 19,
  DeleteTopics: 20,
  DeleteRecords: 21,
  InitProducerId: 22,
  OffsetForLeaderEpoch: 23,
  AddPartitionsToTxn: 24,
  AddOffsetsToTxn: 25,
  EndTxn: 26,
  TxnOffsetCommit: 28,
  DescribeConfigs: 32,
  AlterConfigs: 33,
  SaslAuthenticate: 36,
  CreatePartitions: 37,
  DeleteGroups: 42,
  ElectLeaders: 43,
  IncrementalAlterConfigs: 44,
  AlterPartitionReassignments: 45,
  ListPartitionReassignments: 46,
  OffsetDelete: 47,
  DescribeCluster: 60,
  DescribeProducers: 61,
  DescribeTransactions: 65,
  ListTransactions: 66,
  ConsumerGroupHeartbeat: 68,
  ConsumerGroupDescribe: 69,
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
    api('Produce', 0, 10, ProduceRequest, ProduceResponse),
    api('Fetch', 0, 16, FetchRequest, FetchResponse),
    api('ListOffsets', 0, 7, ListOffsetsRequest, ListOffsetsResponse),
    api('Metadata', 0, 12, MetadataRequest, MetadataResponse),
    api('OffsetCommit', 0, 9, OffsetCommitRequest, OffsetCommitResponse),
    api('OffsetFetch', 0, 9, OffsetFetchRequest, OffsetFetchResponse),
    api('FindCoordinator', 0, 4, FindCoordinatorRequest, FindCoordinatorResponse),
    api('JoinGroup', 0, 9, JoinGroupRequest, JoinGroupResponse),
    api('Heartbeat', 0, 4, HeartbeatRequest, HeartbeatResponse),
    api('LeaveGroup', 0, 5, LeaveGroupRequest, LeaveGroupResponse),
    api('SyncGroup', 0, 5, SyncGroupRequest, SyncGroupResponse),
    api('DescribeGroups', 0, 5, DescribeGroupsRequest, DescribeGroupsResponse),
    api('ListGroups', 0, 5, ListGroupsRequest, ListGroupsResponse),
    api('SaslHandshake', 0, 1, SaslHandshakeRequest, SaslHandshakeResponse),
    api('ApiVersions', 0, 3, ApiVersionsRequest, ApiVersionsResponse),
    api('CreateTopics', 0, 7, CreateTopicsRequest, CreateTopicsResponse),
    api('DeleteTopics', 0, 6, DeleteTopicsRequest, DeleteTopicsResponse),
    api('DeleteRecords', 0, 2, DeleteRecordsRequest, DeleteRecordsResponse),
    api('InitProducerId', 0, 4, InitProducerIdRequest, InitProducerIdResponse),
    api('OffsetForLeaderEpoch', 0, 4, OffsetForLeaderEpochRequest, OffsetForLeaderEpochResponse),
    api('AddPartitionsToTxn', 0, 3, AddPartitionsToTxnRequest, AddPartitionsToTxnResponse),
    api('AddOffsetsToTxn', 0, 4, AddOffsetsToTxnRequest, AddOffsetsToTxnResponse),
    api('EndTxn', 0, 4, EndTxnRequest, EndTxnResponse),
    api('TxnOffsetCommit', 0, 4, TxnOffsetCommitRequest, TxnOffsetCommitResponse),
    api('DescribeConfigs', 0, 4, DescribeConfigsRequest, DescribeConfigsResponse),
    api('AlterConfigs', 0, 2, AlterConfigsRequest, AlterConfigsResponse),
    api('IncrementalAlterConfigs', 0, 1, IncrementalAlterConfigsRequest, IncrementalAlterConfigsResponse),
    api('DeleteGroups', 0, 2, DeleteGroupsRequest, DeleteGroupsResponse),
    api('OffsetDelete', 0, 0, OffsetDeleteRequest, OffsetDeleteResponse),
    api('DescribeCluster', 0, 1, DescribeClusterRequest, DescribeClusterResponse),
    api('SaslAuthenticate', 0, 2, SaslAuthenticateRequest, SaslAuthenticateResponse),
    api('CreatePartitions', 0, 3, CreatePartitionsRequest, CreatePartitionsResponse),
    api('ElectLeaders', 0, 2, ElectLeadersRequest, ElectLeadersResponse),
    api('AlterPartitionReassignments', 0, 0, AlterPartitionReassignmentsRequest, AlterPartitionReassignmentsResponse),
    api('ListPartitionReassignments', 0, 0, ListPartitionReassignmentsRequest, ListPartitionReassignmentsResponse),
    api('DescribeProducers', 0, 0, DescribeProducersRequest, DescribeProducersResponse),
    api('DescribeTransactions', 0, 0, DescribeTransactionsRequest, DescribeTransactionsResponse),
    api('ListTransactions', 0, 1, ListTransactionsRequest, ListTransactionsResponse),
    api('ConsumerGroupHeartbeat', 0, 1, ConsumerGroupHeartbeatRequest, ConsumerGroupHeartbeatResponse),
    api('ConsumerGroupDescribe', 0, 1, ConsumerGroupDescribeRequest, ConsumerGroupDescribeResponse),
  ].map((a) => [a.key, a]),
);
