import type * as grpc from '@grpc/grpc-js';
import type { MessageTypeDefinition } from '@grpc/proto-loader';

import type { GroupCoordinatorClient as _samsa_v1_GroupCoordinatorClient, GroupCoordinatorDefinition as _samsa_v1_GroupCoordinatorDefinition } from './samsa/v1/GroupCoordinator.js';

type SubtypeConstructor<Constructor extends new (...args: any) => any, Subtype> = {
  new(...args: ConstructorParameters<Constructor>): Subtype;
};

export interface ProtoGrpcType {
  samsa: {
    v1: {
      ConsumerGroupHeartbeatRequest: MessageTypeDefinition
      ConsumerGroupHeartbeatResponse: MessageTypeDefinition
      Coordinator: MessageTypeDefinition
      DeleteGroupsRequest: MessageTypeDefinition
      DeleteGroupsResponse: MessageTypeDefinition
      DeletedGroupResult: MessageTypeDefinition
      DescribeGroupsRequest: MessageTypeDefinition
      DescribeGroupsResponse: MessageTypeDefinition
      DescribedGroup: MessageTypeDefinition
      FindCoordinatorRequest: MessageTypeDefinition
      FindCoordinatorResponse: MessageTypeDefinition
      GroupCoordinator: SubtypeConstructor<typeof grpc.Client, _samsa_v1_GroupCoordinatorClient> & { service: _samsa_v1_GroupCoordinatorDefinition }
      GroupMemberDescription: MessageTypeDefinition
      GroupTopicPartitions: MessageTypeDefinition
      ListGroupsRequest: MessageTypeDefinition
      ListGroupsResponse: MessageTypeDefinition
      ListedGroup: MessageTypeDefinition
      OffsetCommitPartition: MessageTypeDefinition
      OffsetCommitPartitionResponse: MessageTypeDefinition
      OffsetCommitRequest: MessageTypeDefinition
      OffsetCommitResponse: MessageTypeDefinition
      OffsetCommitTopic: MessageTypeDefinition
      OffsetCommitTopicResponse: MessageTypeDefinition
      OffsetDeletePartitionResponse: MessageTypeDefinition
      OffsetDeleteRequest: MessageTypeDefinition
      OffsetDeleteResponse: MessageTypeDefinition
      OffsetDeleteTopic: MessageTypeDefinition
      OffsetDeleteTopicResponse: MessageTypeDefinition
      OffsetFetchPartitionResponse: MessageTypeDefinition
      OffsetFetchRequest: MessageTypeDefinition
      OffsetFetchResponse: MessageTypeDefinition
      OffsetFetchTopic: MessageTypeDefinition
      OffsetFetchTopicResponse: MessageTypeDefinition
      TopicNameList: MessageTypeDefinition
      TopicPartitionsList: MessageTypeDefinition
    }
  }
}

