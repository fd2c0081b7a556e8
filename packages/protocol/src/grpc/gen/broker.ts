import type * as grpc from '@grpc/grpc-js';
import type { MessageTypeDefinition } from '@grpc/proto-loader';

import type { BrokerClient as _samsa_v1_BrokerClient, BrokerDefinition as _samsa_v1_BrokerDefinition } from './samsa/v1/Broker.js';

type SubtypeConstructor<Constructor extends new (...args: any) => any, Subtype> = {
  new(...args: ConstructorParameters<Constructor>): Subtype;
};

export interface ProtoGrpcType {
  samsa: {
    v1: {
      Broker: SubtypeConstructor<typeof grpc.Client, _samsa_v1_BrokerClient> & { service: _samsa_v1_BrokerDefinition }
      BrokerInfo: MessageTypeDefinition
      CreatableTopic: MessageTypeDefinition
      CreateTopicsRequest: MessageTypeDefinition
      CreateTopicsResponse: MessageTypeDefinition
      DeleteTopicsRequest: MessageTypeDefinition
      DeleteTopicsResponse: MessageTypeDefinition
      DescribeClusterRequest: MessageTypeDefinition
      DescribeClusterResponse: MessageTypeDefinition
      ElectLeadersRequest: MessageTypeDefinition
      ElectLeadersResponse: MessageTypeDefinition
      ElectLeadersTopic: MessageTypeDefinition
      ElectionResult: MessageTypeDefinition
      FetchPartition: MessageTypeDefinition
      FetchPartitionResponse: MessageTypeDefinition
      FetchRequest: MessageTypeDefinition
      FetchResponse: MessageTypeDefinition
      FetchTopic: MessageTypeDefinition
      FetchTopicResponse: MessageTypeDefinition
      ListOffsetsPartition: MessageTypeDefinition
      ListOffsetsPartitionResponse: MessageTypeDefinition
      ListOffsetsRequest: MessageTypeDefinition
      ListOffsetsResponse: MessageTypeDefinition
      ListOffsetsTopic: MessageTypeDefinition
      ListOffsetsTopicResponse: MessageTypeDefinition
      MetadataRequest: MessageTypeDefinition
      MetadataResponse: MessageTypeDefinition
      PartitionMetadata: MessageTypeDefinition
      ProducePartitionData: MessageTypeDefinition
      ProducePartitionResponse: MessageTypeDefinition
      ProduceRequest: MessageTypeDefinition
      ProduceResponse: MessageTypeDefinition
      ProduceStreamRequest: MessageTypeDefinition
      ProduceStreamResponse: MessageTypeDefinition
      ProduceTopicData: MessageTypeDefinition
      ProduceTopicResponse: MessageTypeDefinition
      TopicMetadata: MessageTypeDefinition
      TopicResult: MessageTypeDefinition
    }
  }
}

