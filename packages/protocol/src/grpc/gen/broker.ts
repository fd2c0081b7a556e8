import type * as grpc from '@grpc/grpc-js';
import type { MessageTypeDefinition } from '@grpc/proto-loader';

import type { AlterConfigOp as _samsa_v1_AlterConfigOp, AlterConfigOp__Output as _samsa_v1_AlterConfigOp__Output } from './samsa/v1/AlterConfigOp.js';
import type { AlterConfigsRequest as _samsa_v1_AlterConfigsRequest, AlterConfigsRequest__Output as _samsa_v1_AlterConfigsRequest__Output } from './samsa/v1/AlterConfigsRequest.js';
import type { AlterConfigsResource as _samsa_v1_AlterConfigsResource, AlterConfigsResource__Output as _samsa_v1_AlterConfigsResource__Output } from './samsa/v1/AlterConfigsResource.js';
import type { AlterConfigsResponse as _samsa_v1_AlterConfigsResponse, AlterConfigsResponse__Output as _samsa_v1_AlterConfigsResponse__Output } from './samsa/v1/AlterConfigsResponse.js';
import type { AlterPartitionReassignmentsRequest as _samsa_v1_AlterPartitionReassignmentsRequest, AlterPartitionReassignmentsRequest__Output as _samsa_v1_AlterPartitionReassignmentsRequest__Output } from './samsa/v1/AlterPartitionReassignmentsRequest.js';
import type { AlterPartitionReassignmentsResponse as _samsa_v1_AlterPartitionReassignmentsResponse, AlterPartitionReassignmentsResponse__Output as _samsa_v1_AlterPartitionReassignmentsResponse__Output } from './samsa/v1/AlterPartitionReassignmentsResponse.js';
import type { BrokerClient as _samsa_v1_BrokerClient, BrokerDefinition as _samsa_v1_BrokerDefinition } from './samsa/v1/Broker.js';
import type { BrokerInfo as _samsa_v1_BrokerInfo, BrokerInfo__Output as _samsa_v1_BrokerInfo__Output } from './samsa/v1/BrokerInfo.js';
import type { CreatableTopic as _samsa_v1_CreatableTopic, CreatableTopic__Output as _samsa_v1_CreatableTopic__Output } from './samsa/v1/CreatableTopic.js';
import type { CreatePartitionsRequest as _samsa_v1_CreatePartitionsRequest, CreatePartitionsRequest__Output as _samsa_v1_CreatePartitionsRequest__Output } from './samsa/v1/CreatePartitionsRequest.js';
import type { CreatePartitionsResponse as _samsa_v1_CreatePartitionsResponse, CreatePartitionsResponse__Output as _samsa_v1_CreatePartitionsResponse__Output } from './samsa/v1/CreatePartitionsResponse.js';
import type { CreatePartitionsTopic as _samsa_v1_CreatePartitionsTopic, CreatePartitionsTopic__Output as _samsa_v1_CreatePartitionsTopic__Output } from './samsa/v1/CreatePartitionsTopic.js';
import type { CreateTopicsRequest as _samsa_v1_CreateTopicsRequest, CreateTopicsRequest__Output as _samsa_v1_CreateTopicsRequest__Output } from './samsa/v1/CreateTopicsRequest.js';
import type { CreateTopicsResponse as _samsa_v1_CreateTopicsResponse, CreateTopicsResponse__Output as _samsa_v1_CreateTopicsResponse__Output } from './samsa/v1/CreateTopicsResponse.js';
import type { DeleteRecordsPartition as _samsa_v1_DeleteRecordsPartition, DeleteRecordsPartition__Output as _samsa_v1_DeleteRecordsPartition__Output } from './samsa/v1/DeleteRecordsPartition.js';
import type { DeleteRecordsPartitionResponse as _samsa_v1_DeleteRecordsPartitionResponse, DeleteRecordsPartitionResponse__Output as _samsa_v1_DeleteRecordsPartitionResponse__Output } from './samsa/v1/DeleteRecordsPartitionResponse.js';
import type { DeleteRecordsRequest as _samsa_v1_DeleteRecordsRequest, DeleteRecordsRequest__Output as _samsa_v1_DeleteRecordsRequest__Output } from './samsa/v1/DeleteRecordsRequest.js';
import type { DeleteRecordsResponse as _samsa_v1_DeleteRecordsResponse, DeleteRecordsResponse__Output as _samsa_v1_DeleteRecordsResponse__Output } from './samsa/v1/DeleteRecordsResponse.js';
import type { DeleteRecordsTopic as _samsa_v1_DeleteRecordsTopic, DeleteRecordsTopic__Output as _samsa_v1_DeleteRecordsTopic__Output } from './samsa/v1/DeleteRecordsTopic.js';
import type { DeleteRecordsTopicResponse as _samsa_v1_DeleteRecordsTopicResponse, DeleteRecordsTopicResponse__Output as _samsa_v1_DeleteRecordsTopicResponse__Output } from './samsa/v1/DeleteRecordsTopicResponse.js';
import type { DeleteTopicsRequest as _samsa_v1_DeleteTopicsRequest, DeleteTopicsRequest__Output as _samsa_v1_DeleteTopicsRequest__Output } from './samsa/v1/DeleteTopicsRequest.js';
import type { DeleteTopicsResponse as _samsa_v1_DeleteTopicsResponse, DeleteTopicsResponse__Output as _samsa_v1_DeleteTopicsResponse__Output } from './samsa/v1/DeleteTopicsResponse.js';
import type { DescribeClusterRequest as _samsa_v1_DescribeClusterRequest, DescribeClusterRequest__Output as _samsa_v1_DescribeClusterRequest__Output } from './samsa/v1/DescribeClusterRequest.js';
import type { DescribeClusterResponse as _samsa_v1_DescribeClusterResponse, DescribeClusterResponse__Output as _samsa_v1_DescribeClusterResponse__Output } from './samsa/v1/DescribeClusterResponse.js';
import type { ElectLeadersRequest as _samsa_v1_ElectLeadersRequest, ElectLeadersRequest__Output as _samsa_v1_ElectLeadersRequest__Output } from './samsa/v1/ElectLeadersRequest.js';
import type { ElectLeadersResponse as _samsa_v1_ElectLeadersResponse, ElectLeadersResponse__Output as _samsa_v1_ElectLeadersResponse__Output } from './samsa/v1/ElectLeadersResponse.js';
import type { ElectLeadersTopic as _samsa_v1_ElectLeadersTopic, ElectLeadersTopic__Output as _samsa_v1_ElectLeadersTopic__Output } from './samsa/v1/ElectLeadersTopic.js';
import type { ElectionResult as _samsa_v1_ElectionResult, ElectionResult__Output as _samsa_v1_ElectionResult__Output } from './samsa/v1/ElectionResult.js';
import type { FetchAbortedTransaction as _samsa_v1_FetchAbortedTransaction, FetchAbortedTransaction__Output as _samsa_v1_FetchAbortedTransaction__Output } from './samsa/v1/FetchAbortedTransaction.js';
import type { FetchPartition as _samsa_v1_FetchPartition, FetchPartition__Output as _samsa_v1_FetchPartition__Output } from './samsa/v1/FetchPartition.js';
import type { FetchPartitionResponse as _samsa_v1_FetchPartitionResponse, FetchPartitionResponse__Output as _samsa_v1_FetchPartitionResponse__Output } from './samsa/v1/FetchPartitionResponse.js';
import type { FetchRequest as _samsa_v1_FetchRequest, FetchRequest__Output as _samsa_v1_FetchRequest__Output } from './samsa/v1/FetchRequest.js';
import type { FetchResponse as _samsa_v1_FetchResponse, FetchResponse__Output as _samsa_v1_FetchResponse__Output } from './samsa/v1/FetchResponse.js';
import type { FetchStreamRequest as _samsa_v1_FetchStreamRequest, FetchStreamRequest__Output as _samsa_v1_FetchStreamRequest__Output } from './samsa/v1/FetchStreamRequest.js';
import type { FetchStreamResponse as _samsa_v1_FetchStreamResponse, FetchStreamResponse__Output as _samsa_v1_FetchStreamResponse__Output } from './samsa/v1/FetchStreamResponse.js';
import type { FetchTopic as _samsa_v1_FetchTopic, FetchTopic__Output as _samsa_v1_FetchTopic__Output } from './samsa/v1/FetchTopic.js';
import type { FetchTopicResponse as _samsa_v1_FetchTopicResponse, FetchTopicResponse__Output as _samsa_v1_FetchTopicResponse__Output } from './samsa/v1/FetchTopicResponse.js';
import type { InitProducerIdRequest as _samsa_v1_InitProducerIdRequest, InitProducerIdRequest__Output as _samsa_v1_InitProducerIdRequest__Output } from './samsa/v1/InitProducerIdRequest.js';
import type { InitProducerIdResponse as _samsa_v1_InitProducerIdResponse, InitProducerIdResponse__Output as _samsa_v1_InitProducerIdResponse__Output } from './samsa/v1/InitProducerIdResponse.js';
import type { LeaderIdAndEpoch as _samsa_v1_LeaderIdAndEpoch, LeaderIdAndEpoch__Output as _samsa_v1_LeaderIdAndEpoch__Output } from './samsa/v1/LeaderIdAndEpoch.js';
import type { ListOffsetsPartition as _samsa_v1_ListOffsetsPartition, ListOffsetsPartition__Output as _samsa_v1_ListOffsetsPartition__Output } from './samsa/v1/ListOffsetsPartition.js';
import type { ListOffsetsPartitionResponse as _samsa_v1_ListOffsetsPartitionResponse, ListOffsetsPartitionResponse__Output as _samsa_v1_ListOffsetsPartitionResponse__Output } from './samsa/v1/ListOffsetsPartitionResponse.js';
import type { ListOffsetsRequest as _samsa_v1_ListOffsetsRequest, ListOffsetsRequest__Output as _samsa_v1_ListOffsetsRequest__Output } from './samsa/v1/ListOffsetsRequest.js';
import type { ListOffsetsResponse as _samsa_v1_ListOffsetsResponse, ListOffsetsResponse__Output as _samsa_v1_ListOffsetsResponse__Output } from './samsa/v1/ListOffsetsResponse.js';
import type { ListOffsetsTopic as _samsa_v1_ListOffsetsTopic, ListOffsetsTopic__Output as _samsa_v1_ListOffsetsTopic__Output } from './samsa/v1/ListOffsetsTopic.js';
import type { ListOffsetsTopicResponse as _samsa_v1_ListOffsetsTopicResponse, ListOffsetsTopicResponse__Output as _samsa_v1_ListOffsetsTopicResponse__Output } from './samsa/v1/ListOffsetsTopicResponse.js';
import type { MetadataRequest as _samsa_v1_MetadataRequest, MetadataRequest__Output as _samsa_v1_MetadataRequest__Output } from './samsa/v1/MetadataRequest.js';
import type { MetadataResponse as _samsa_v1_MetadataResponse, MetadataResponse__Output as _samsa_v1_MetadataResponse__Output } from './samsa/v1/MetadataResponse.js';
import type { OffsetForLeaderEpochPartition as _samsa_v1_OffsetForLeaderEpochPartition, OffsetForLeaderEpochPartition__Output as _samsa_v1_OffsetForLeaderEpochPartition__Output } from './samsa/v1/OffsetForLeaderEpochPartition.js';
import type { OffsetForLeaderEpochPartitionResponse as _samsa_v1_OffsetForLeaderEpochPartitionResponse, OffsetForLeaderEpochPartitionResponse__Output as _samsa_v1_OffsetForLeaderEpochPartitionResponse__Output } from './samsa/v1/OffsetForLeaderEpochPartitionResponse.js';
import type { OffsetForLeaderEpochRequest as _samsa_v1_OffsetForLeaderEpochRequest, OffsetForLeaderEpochRequest__Output as _samsa_v1_OffsetForLeaderEpochRequest__Output } from './samsa/v1/OffsetForLeaderEpochRequest.js';
import type { OffsetForLeaderEpochResponse as _samsa_v1_OffsetForLeaderEpochResponse, OffsetForLeaderEpochResponse__Output as _samsa_v1_OffsetForLeaderEpochResponse__Output } from './samsa/v1/OffsetForLeaderEpochResponse.js';
import type { OffsetForLeaderEpochTopic as _samsa_v1_OffsetForLeaderEpochTopic, OffsetForLeaderEpochTopic__Output as _samsa_v1_OffsetForLeaderEpochTopic__Output } from './samsa/v1/OffsetForLeaderEpochTopic.js';
import type { OffsetForLeaderEpochTopicResponse as _samsa_v1_OffsetForLeaderEpochTopicResponse, OffsetForLeaderEpochTopicResponse__Output as _samsa_v1_OffsetForLeaderEpochTopicResponse__Output } from './samsa/v1/OffsetForLeaderEpochTopicResponse.js';
import type { PartitionMetadata as _samsa_v1_PartitionMetadata, PartitionMetadata__Output as _samsa_v1_PartitionMetadata__Output } from './samsa/v1/PartitionMetadata.js';
import type { ProducePartitionData as _samsa_v1_ProducePartitionData, ProducePartitionData__Output as _samsa_v1_ProducePartitionData__Output } from './samsa/v1/ProducePartitionData.js';
import type { ProducePartitionResponse as _samsa_v1_ProducePartitionResponse, ProducePartitionResponse__Output as _samsa_v1_ProducePartitionResponse__Output } from './samsa/v1/ProducePartitionResponse.js';
import type { ProduceRequest as _samsa_v1_ProduceRequest, ProduceRequest__Output as _samsa_v1_ProduceRequest__Output } from './samsa/v1/ProduceRequest.js';
import type { ProduceResponse as _samsa_v1_ProduceResponse, ProduceResponse__Output as _samsa_v1_ProduceResponse__Output } from './samsa/v1/ProduceResponse.js';
import type { ProduceStreamRequest as _samsa_v1_ProduceStreamRequest, ProduceStreamRequest__Output as _samsa_v1_ProduceStreamRequest__Output } from './samsa/v1/ProduceStreamRequest.js';
import type { ProduceStreamResponse as _samsa_v1_ProduceStreamResponse, ProduceStreamResponse__Output as _samsa_v1_ProduceStreamResponse__Output } from './samsa/v1/ProduceStreamResponse.js';
import type { ProduceTopicData as _samsa_v1_ProduceTopicData, ProduceTopicData__Output as _samsa_v1_ProduceTopicData__Output } from './samsa/v1/ProduceTopicData.js';
import type { ProduceTopicResponse as _samsa_v1_ProduceTopicResponse, ProduceTopicResponse__Output as _samsa_v1_ProduceTopicResponse__Output } from './samsa/v1/ProduceTopicResponse.js';
import type { ReassignablePartition as _samsa_v1_ReassignablePartition, ReassignablePartition__Output as _samsa_v1_ReassignablePartition__Output } from './samsa/v1/ReassignablePartition.js';
import type { ReassignmentResult as _samsa_v1_ReassignmentResult, ReassignmentResult__Output as _samsa_v1_ReassignmentResult__Output } from './samsa/v1/ReassignmentResult.js';
import type { TopicMetadata as _samsa_v1_TopicMetadata, TopicMetadata__Output as _samsa_v1_TopicMetadata__Output } from './samsa/v1/TopicMetadata.js';
import type { TopicResult as _samsa_v1_TopicResult, TopicResult__Output as _samsa_v1_TopicResult__Output } from './samsa/v1/TopicResult.js';

type SubtypeConstructor<Constructor extends new (...args: any) => any, Subtype> = {
  new(...args: ConstructorParameters<Constructor>): Subtype;
};

export interface ProtoGrpcType {
  samsa: {
    v1: {
      AlterConfigOp: MessageTypeDefinition<_samsa_v1_AlterConfigOp, _samsa_v1_AlterConfigOp__Output>
      AlterConfigsRequest: MessageTypeDefinition<_samsa_v1_AlterConfigsRequest, _samsa_v1_AlterConfigsRequest__Output>
      AlterConfigsResource: MessageTypeDefinition<_samsa_v1_AlterConfigsResource, _samsa_v1_AlterConfigsResource__Output>
      AlterConfigsResponse: MessageTypeDefinition<_samsa_v1_AlterConfigsResponse, _samsa_v1_AlterConfigsResponse__Output>
      AlterPartitionReassignmentsRequest: MessageTypeDefinition<_samsa_v1_AlterPartitionReassignmentsRequest, _samsa_v1_AlterPartitionReassignmentsRequest__Output>
      AlterPartitionReassignmentsResponse: MessageTypeDefinition<_samsa_v1_AlterPartitionReassignmentsResponse, _samsa_v1_AlterPartitionReassignmentsResponse__Output>
      Broker: SubtypeConstructor<typeof grpc.Client, _samsa_v1_BrokerClient> & { service: _samsa_v1_BrokerDefinition }
      BrokerInfo: MessageTypeDefinition<_samsa_v1_BrokerInfo, _samsa_v1_BrokerInfo__Output>
      CreatableTopic: MessageTypeDefinition<_samsa_v1_CreatableTopic, _samsa_v1_CreatableTopic__Output>
      CreatePartitionsRequest: MessageTypeDefinition<_samsa_v1_CreatePartitionsRequest, _samsa_v1_CreatePartitionsRequest__Output>
      CreatePartitionsResponse: MessageTypeDefinition<_samsa_v1_CreatePartitionsResponse, _samsa_v1_CreatePartitionsResponse__Output>
      CreatePartitionsTopic: MessageTypeDefinition<_samsa_v1_CreatePartitionsTopic, _samsa_v1_CreatePartitionsTopic__Output>
      CreateTopicsRequest: MessageTypeDefinition<_samsa_v1_CreateTopicsRequest, _samsa_v1_CreateTopicsRequest__Output>
      CreateTopicsResponse: MessageTypeDefinition<_samsa_v1_CreateTopicsResponse, _samsa_v1_CreateTopicsResponse__Output>
      DeleteRecordsPartition: MessageTypeDefinition<_samsa_v1_DeleteRecordsPartition, _samsa_v1_DeleteRecordsPartition__Output>
      DeleteRecordsPartitionResponse: MessageTypeDefinition<_samsa_v1_DeleteRecordsPartitionResponse, _samsa_v1_DeleteRecordsPartitionResponse__Output>
      DeleteRecordsRequest: MessageTypeDefinition<_samsa_v1_DeleteRecordsRequest, _samsa_v1_DeleteRecordsRequest__Output>
      DeleteRecordsResponse: MessageTypeDefinition<_samsa_v1_DeleteRecordsResponse, _samsa_v1_DeleteRecordsResponse__Output>
      DeleteRecordsTopic: MessageTypeDefinition<_samsa_v1_DeleteRecordsTopic, _samsa_v1_DeleteRecordsTopic__Output>
      DeleteRecordsTopicResponse: MessageTypeDefinition<_samsa_v1_DeleteRecordsTopicResponse, _samsa_v1_DeleteRecordsTopicResponse__Output>
      DeleteTopicsRequest: MessageTypeDefinition<_samsa_v1_DeleteTopicsRequest, _samsa_v1_DeleteTopicsRequest__Output>
      DeleteTopicsResponse: MessageTypeDefinition<_samsa_v1_DeleteTopicsResponse, _samsa_v1_DeleteTopicsResponse__Output>
      DescribeClusterRequest: MessageTypeDefinition<_samsa_v1_DescribeClusterRequest, _samsa_v1_DescribeClusterRequest__Output>
      DescribeClusterResponse: MessageTypeDefinition<_samsa_v1_DescribeClusterResponse, _samsa_v1_DescribeClusterResponse__Output>
      ElectLeadersRequest: MessageTypeDefinition<_samsa_v1_ElectLeadersRequest, _samsa_v1_ElectLeadersRequest__Output>
      ElectLeadersResponse: MessageTypeDefinition<_samsa_v1_ElectLeadersResponse, _samsa_v1_ElectLeadersResponse__Output>
      ElectLeadersTopic: MessageTypeDefinition<_samsa_v1_ElectLeadersTopic, _samsa_v1_ElectLeadersTopic__Output>
      ElectionResult: MessageTypeDefinition<_samsa_v1_ElectionResult, _samsa_v1_ElectionResult__Output>
      FetchAbortedTransaction: MessageTypeDefinition<_samsa_v1_FetchAbortedTransaction, _samsa_v1_FetchAbortedTransaction__Output>
      FetchPartition: MessageTypeDefinition<_samsa_v1_FetchPartition, _samsa_v1_FetchPartition__Output>
      FetchPartitionResponse: MessageTypeDefinition<_samsa_v1_FetchPartitionResponse, _samsa_v1_FetchPartitionResponse__Output>
      FetchRequest: MessageTypeDefinition<_samsa_v1_FetchRequest, _samsa_v1_FetchRequest__Output>
      FetchResponse: MessageTypeDefinition<_samsa_v1_FetchResponse, _samsa_v1_FetchResponse__Output>
      FetchStreamRequest: MessageTypeDefinition<_samsa_v1_FetchStreamRequest, _samsa_v1_FetchStreamRequest__Output>
      FetchStreamResponse: MessageTypeDefinition<_samsa_v1_FetchStreamResponse, _samsa_v1_FetchStreamResponse__Output>
      FetchTopic: MessageTypeDefinition<_samsa_v1_FetchTopic, _samsa_v1_FetchTopic__Output>
      FetchTopicResponse: MessageTypeDefinition<_samsa_v1_FetchTopicResponse, _samsa_v1_FetchTopicResponse__Output>
      InitProducerIdRequest: MessageTypeDefinition<_samsa_v1_InitProducerIdRequest, _samsa_v1_InitProducerIdRequest__Output>
      InitProducerIdResponse: MessageTypeDefinition<_samsa_v1_InitProducerIdResponse, _samsa_v1_InitProducerIdResponse__Output>
      LeaderIdAndEpoch: MessageTypeDefinition<_samsa_v1_LeaderIdAndEpoch, _samsa_v1_LeaderIdAndEpoch__Output>
      ListOffsetsPartition: MessageTypeDefinition<_samsa_v1_ListOffsetsPartition, _samsa_v1_ListOffsetsPartition__Output>
      ListOffsetsPartitionResponse: MessageTypeDefinition<_samsa_v1_ListOffsetsPartitionResponse, _samsa_v1_ListOffsetsPartitionResponse__Output>
      ListOffsetsRequest: MessageTypeDefinition<_samsa_v1_ListOffsetsRequest, _samsa_v1_ListOffsetsRequest__Output>
      ListOffsetsResponse: MessageTypeDefinition<_samsa_v1_ListOffsetsResponse, _samsa_v1_ListOffsetsResponse__Output>
      ListOffsetsTopic: MessageTypeDefinition<_samsa_v1_ListOffsetsTopic, _samsa_v1_ListOffsetsTopic__Output>
      ListOffsetsTopicResponse: MessageTypeDefinition<_samsa_v1_ListOffsetsTopicResponse, _samsa_v1_ListOffsetsTopicResponse__Output>
      MetadataRequest: MessageTypeDefinition<_samsa_v1_MetadataRequest, _samsa_v1_MetadataRequest__Output>
      MetadataResponse: MessageTypeDefinition<_samsa_v1_MetadataResponse, _samsa_v1_MetadataResponse__Output>
      OffsetForLeaderEpochPartition: MessageTypeDefinition<_samsa_v1_OffsetForLeaderEpochPartition, _samsa_v1_OffsetForLeaderEpochPartition__Output>
      OffsetForLeaderEpochPartitionResponse: MessageTypeDefinition<_samsa_v1_OffsetForLeaderEpochPartitionResponse, _samsa_v1_OffsetForLeaderEpochPartitionResponse__Output>
      OffsetForLeaderEpochRequest: MessageTypeDefinition<_samsa_v1_OffsetForLeaderEpochRequest, _samsa_v1_OffsetForLeaderEpochRequest__Output>
      OffsetForLeaderEpochResponse: MessageTypeDefinition<_samsa_v1_OffsetForLeaderEpochResponse, _samsa_v1_OffsetForLeaderEpochResponse__Output>
      OffsetForLeaderEpochTopic: MessageTypeDefinition<_samsa_v1_OffsetForLeaderEpochTopic, _samsa_v1_OffsetForLeaderEpochTopic__Output>
      OffsetForLeaderEpochTopicResponse: MessageTypeDefinition<_samsa_v1_OffsetForLeaderEpochTopicResponse, _samsa_v1_OffsetForLeaderEpochTopicResponse__Output>
      PartitionMetadata: MessageTypeDefinition<_samsa_v1_PartitionMetadata, _samsa_v1_PartitionMetadata__Output>
      ProducePartitionData: MessageTypeDefinition<_samsa_v1_ProducePartitionData, _samsa_v1_ProducePartitionData__Output>
      ProducePartitionResponse: MessageTypeDefinition<_samsa_v1_ProducePartitionResponse, _samsa_v1_ProducePartitionResponse__Output>
      ProduceRequest: MessageTypeDefinition<_samsa_v1_ProduceRequest, _samsa_v1_ProduceRequest__Output>
      ProduceResponse: MessageTypeDefinition<_samsa_v1_ProduceResponse, _samsa_v1_ProduceResponse__Output>
      ProduceStreamRequest: MessageTypeDefinition<_samsa_v1_ProduceStreamRequest, _samsa_v1_ProduceStreamRequest__Output>
      ProduceStreamResponse: MessageTypeDefinition<_samsa_v1_ProduceStreamResponse, _samsa_v1_ProduceStreamResponse__Output>
      ProduceTopicData: MessageTypeDefinition<_samsa_v1_ProduceTopicData, _samsa_v1_ProduceTopicData__Output>
      ProduceTopicResponse: MessageTypeDefinition<_samsa_v1_ProduceTopicResponse, _samsa_v1_ProduceTopicResponse__Output>
      ReassignablePartition: MessageTypeDefinition<_samsa_v1_ReassignablePartition, _samsa_v1_ReassignablePartition__Output>
      ReassignmentResult: MessageTypeDefinition<_samsa_v1_ReassignmentResult, _samsa_v1_ReassignmentResult__Output>
      TopicMetadata: MessageTypeDefinition<_samsa_v1_TopicMetadata, _samsa_v1_TopicMetadata__Output>
      TopicResult: MessageTypeDefinition<_samsa_v1_TopicResult, _samsa_v1_TopicResult__Output>
    }
  }
}

