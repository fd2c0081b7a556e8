import type * as grpc from '@grpc/grpc-js';
import type { MessageTypeDefinition } from '@grpc/proto-loader';

import type { ConsumerGroupHeartbeatRequest as _samsa_v1_ConsumerGroupHeartbeatRequest, ConsumerGroupHeartbeatRequest__Output as _samsa_v1_ConsumerGroupHeartbeatRequest__Output } from './samsa/v1/ConsumerGroupHeartbeatRequest.js';
import type { ConsumerGroupHeartbeatResponse as _samsa_v1_ConsumerGroupHeartbeatResponse, ConsumerGroupHeartbeatResponse__Output as _samsa_v1_ConsumerGroupHeartbeatResponse__Output } from './samsa/v1/ConsumerGroupHeartbeatResponse.js';
import type { Coordinator as _samsa_v1_Coordinator, Coordinator__Output as _samsa_v1_Coordinator__Output } from './samsa/v1/Coordinator.js';
import type { DeleteGroupsRequest as _samsa_v1_DeleteGroupsRequest, DeleteGroupsRequest__Output as _samsa_v1_DeleteGroupsRequest__Output } from './samsa/v1/DeleteGroupsRequest.js';
import type { DeleteGroupsResponse as _samsa_v1_DeleteGroupsResponse, DeleteGroupsResponse__Output as _samsa_v1_DeleteGroupsResponse__Output } from './samsa/v1/DeleteGroupsResponse.js';
import type { DeletedGroupResult as _samsa_v1_DeletedGroupResult, DeletedGroupResult__Output as _samsa_v1_DeletedGroupResult__Output } from './samsa/v1/DeletedGroupResult.js';
import type { DescribeGroupsRequest as _samsa_v1_DescribeGroupsRequest, DescribeGroupsRequest__Output as _samsa_v1_DescribeGroupsRequest__Output } from './samsa/v1/DescribeGroupsRequest.js';
import type { DescribeGroupsResponse as _samsa_v1_DescribeGroupsResponse, DescribeGroupsResponse__Output as _samsa_v1_DescribeGroupsResponse__Output } from './samsa/v1/DescribeGroupsResponse.js';
import type { DescribedGroup as _samsa_v1_DescribedGroup, DescribedGroup__Output as _samsa_v1_DescribedGroup__Output } from './samsa/v1/DescribedGroup.js';
import type { FindCoordinatorRequest as _samsa_v1_FindCoordinatorRequest, FindCoordinatorRequest__Output as _samsa_v1_FindCoordinatorRequest__Output } from './samsa/v1/FindCoordinatorRequest.js';
import type { FindCoordinatorResponse as _samsa_v1_FindCoordinatorResponse, FindCoordinatorResponse__Output as _samsa_v1_FindCoordinatorResponse__Output } from './samsa/v1/FindCoordinatorResponse.js';
import type { GroupCoordinatorClient as _samsa_v1_GroupCoordinatorClient, GroupCoordinatorDefinition as _samsa_v1_GroupCoordinatorDefinition } from './samsa/v1/GroupCoordinator.js';
import type { GroupMemberDescription as _samsa_v1_GroupMemberDescription, GroupMemberDescription__Output as _samsa_v1_GroupMemberDescription__Output } from './samsa/v1/GroupMemberDescription.js';
import type { GroupTopicPartitions as _samsa_v1_GroupTopicPartitions, GroupTopicPartitions__Output as _samsa_v1_GroupTopicPartitions__Output } from './samsa/v1/GroupTopicPartitions.js';
import type { ListGroupsRequest as _samsa_v1_ListGroupsRequest, ListGroupsRequest__Output as _samsa_v1_ListGroupsRequest__Output } from './samsa/v1/ListGroupsRequest.js';
import type { ListGroupsResponse as _samsa_v1_ListGroupsResponse, ListGroupsResponse__Output as _samsa_v1_ListGroupsResponse__Output } from './samsa/v1/ListGroupsResponse.js';
import type { ListedGroup as _samsa_v1_ListedGroup, ListedGroup__Output as _samsa_v1_ListedGroup__Output } from './samsa/v1/ListedGroup.js';
import type { OffsetCommitPartition as _samsa_v1_OffsetCommitPartition, OffsetCommitPartition__Output as _samsa_v1_OffsetCommitPartition__Output } from './samsa/v1/OffsetCommitPartition.js';
import type { OffsetCommitPartitionResponse as _samsa_v1_OffsetCommitPartitionResponse, OffsetCommitPartitionResponse__Output as _samsa_v1_OffsetCommitPartitionResponse__Output } from './samsa/v1/OffsetCommitPartitionResponse.js';
import type { OffsetCommitRequest as _samsa_v1_OffsetCommitRequest, OffsetCommitRequest__Output as _samsa_v1_OffsetCommitRequest__Output } from './samsa/v1/OffsetCommitRequest.js';
import type { OffsetCommitResponse as _samsa_v1_OffsetCommitResponse, OffsetCommitResponse__Output as _samsa_v1_OffsetCommitResponse__Output } from './samsa/v1/OffsetCommitResponse.js';
import type { OffsetCommitTopic as _samsa_v1_OffsetCommitTopic, OffsetCommitTopic__Output as _samsa_v1_OffsetCommitTopic__Output } from './samsa/v1/OffsetCommitTopic.js';
import type { OffsetCommitTopicResponse as _samsa_v1_OffsetCommitTopicResponse, OffsetCommitTopicResponse__Output as _samsa_v1_OffsetCommitTopicResponse__Output } from './samsa/v1/OffsetCommitTopicResponse.js';
import type { OffsetDeletePartitionResponse as _samsa_v1_OffsetDeletePartitionResponse, OffsetDeletePartitionResponse__Output as _samsa_v1_OffsetDeletePartitionResponse__Output } from './samsa/v1/OffsetDeletePartitionResponse.js';
import type { OffsetDeleteRequest as _samsa_v1_OffsetDeleteRequest, OffsetDeleteRequest__Output as _samsa_v1_OffsetDeleteRequest__Output } from './samsa/v1/OffsetDeleteRequest.js';
import type { OffsetDeleteResponse as _samsa_v1_OffsetDeleteResponse, OffsetDeleteResponse__Output as _samsa_v1_OffsetDeleteResponse__Output } from './samsa/v1/OffsetDeleteResponse.js';
import type { OffsetDeleteTopic as _samsa_v1_OffsetDeleteTopic, OffsetDeleteTopic__Output as _samsa_v1_OffsetDeleteTopic__Output } from './samsa/v1/OffsetDeleteTopic.js';
import type { OffsetDeleteTopicResponse as _samsa_v1_OffsetDeleteTopicResponse, OffsetDeleteTopicResponse__Output as _samsa_v1_OffsetDeleteTopicResponse__Output } from './samsa/v1/OffsetDeleteTopicResponse.js';
import type { OffsetFetchPartitionResponse as _samsa_v1_OffsetFetchPartitionResponse, OffsetFetchPartitionResponse__Output as _samsa_v1_OffsetFetchPartitionResponse__Output } from './samsa/v1/OffsetFetchPartitionResponse.js';
import type { OffsetFetchRequest as _samsa_v1_OffsetFetchRequest, OffsetFetchRequest__Output as _samsa_v1_OffsetFetchRequest__Output } from './samsa/v1/OffsetFetchRequest.js';
import type { OffsetFetchResponse as _samsa_v1_OffsetFetchResponse, OffsetFetchResponse__Output as _samsa_v1_OffsetFetchResponse__Output } from './samsa/v1/OffsetFetchResponse.js';
import type { OffsetFetchTopic as _samsa_v1_OffsetFetchTopic, OffsetFetchTopic__Output as _samsa_v1_OffsetFetchTopic__Output } from './samsa/v1/OffsetFetchTopic.js';
import type { OffsetFetchTopicResponse as _samsa_v1_OffsetFetchTopicResponse, OffsetFetchTopicResponse__Output as _samsa_v1_OffsetFetchTopicResponse__Output } from './samsa/v1/OffsetFetchTopicResponse.js';
import type { TopicNameList as _samsa_v1_TopicNameList, TopicNameList__Output as _samsa_v1_TopicNameList__Output } from './samsa/v1/TopicNameList.js';
import type { TopicPartitionsList as _samsa_v1_TopicPartitionsList, TopicPartitionsList__Output as _samsa_v1_TopicPartitionsList__Output } from './samsa/v1/TopicPartitionsList.js';
import type { TxnOffsetCommitRequest as _samsa_v1_TxnOffsetCommitRequest, TxnOffsetCommitRequest__Output as _samsa_v1_TxnOffsetCommitRequest__Output } from './samsa/v1/TxnOffsetCommitRequest.js';
import type { TxnOffsetCommitResponse as _samsa_v1_TxnOffsetCommitResponse, TxnOffsetCommitResponse__Output as _samsa_v1_TxnOffsetCommitResponse__Output } from './samsa/v1/TxnOffsetCommitResponse.js';

type SubtypeConstructor<Constructor extends new (...args: any) => any, Subtype> = {
  new(...args: ConstructorParameters<Constructor>): Subtype;
};

export interface ProtoGrpcType {
  samsa: {
    v1: {
      ConsumerGroupHeartbeatRequest: MessageTypeDefinition<_samsa_v1_ConsumerGroupHeartbeatRequest, _samsa_v1_ConsumerGroupHeartbeatRequest__Output>
      ConsumerGroupHeartbeatResponse: MessageTypeDefinition<_samsa_v1_ConsumerGroupHeartbeatResponse, _samsa_v1_ConsumerGroupHeartbeatResponse__Output>
      Coordinator: MessageTypeDefinition<_samsa_v1_Coordinator, _samsa_v1_Coordinator__Output>
      DeleteGroupsRequest: MessageTypeDefinition<_samsa_v1_DeleteGroupsRequest, _samsa_v1_DeleteGroupsRequest__Output>
      DeleteGroupsResponse: MessageTypeDefinition<_samsa_v1_DeleteGroupsResponse, _samsa_v1_DeleteGroupsResponse__Output>
      DeletedGroupResult: MessageTypeDefinition<_samsa_v1_DeletedGroupResult, _samsa_v1_DeletedGroupResult__Output>
      DescribeGroupsRequest: MessageTypeDefinition<_samsa_v1_DescribeGroupsRequest, _samsa_v1_DescribeGroupsRequest__Output>
      DescribeGroupsResponse: MessageTypeDefinition<_samsa_v1_DescribeGroupsResponse, _samsa_v1_DescribeGroupsResponse__Output>
      DescribedGroup: MessageTypeDefinition<_samsa_v1_DescribedGroup, _samsa_v1_DescribedGroup__Output>
      FindCoordinatorRequest: MessageTypeDefinition<_samsa_v1_FindCoordinatorRequest, _samsa_v1_FindCoordinatorRequest__Output>
      FindCoordinatorResponse: MessageTypeDefinition<_samsa_v1_FindCoordinatorResponse, _samsa_v1_FindCoordinatorResponse__Output>
      GroupCoordinator: SubtypeConstructor<typeof grpc.Client, _samsa_v1_GroupCoordinatorClient> & { service: _samsa_v1_GroupCoordinatorDefinition }
      GroupMemberDescription: MessageTypeDefinition<_samsa_v1_GroupMemberDescription, _samsa_v1_GroupMemberDescription__Output>
      GroupTopicPartitions: MessageTypeDefinition<_samsa_v1_GroupTopicPartitions, _samsa_v1_GroupTopicPartitions__Output>
      ListGroupsRequest: MessageTypeDefinition<_samsa_v1_ListGroupsRequest, _samsa_v1_ListGroupsRequest__Output>
      ListGroupsResponse: MessageTypeDefinition<_samsa_v1_ListGroupsResponse, _samsa_v1_ListGroupsResponse__Output>
      ListedGroup: MessageTypeDefinition<_samsa_v1_ListedGroup, _samsa_v1_ListedGroup__Output>
      OffsetCommitPartition: MessageTypeDefinition<_samsa_v1_OffsetCommitPartition, _samsa_v1_OffsetCommitPartition__Output>
      OffsetCommitPartitionResponse: MessageTypeDefinition<_samsa_v1_OffsetCommitPartitionResponse, _samsa_v1_OffsetCommitPartitionResponse__Output>
      OffsetCommitRequest: MessageTypeDefinition<_samsa_v1_OffsetCommitRequest, _samsa_v1_OffsetCommitRequest__Output>
      OffsetCommitResponse: MessageTypeDefinition<_samsa_v1_OffsetCommitResponse, _samsa_v1_OffsetCommitResponse__Output>
      OffsetCommitTopic: MessageTypeDefinition<_samsa_v1_OffsetCommitTopic, _samsa_v1_OffsetCommitTopic__Output>
      OffsetCommitTopicResponse: MessageTypeDefinition<_samsa_v1_OffsetCommitTopicResponse, _samsa_v1_OffsetCommitTopicResponse__Output>
      OffsetDeletePartitionResponse: MessageTypeDefinition<_samsa_v1_OffsetDeletePartitionResponse, _samsa_v1_OffsetDeletePartitionResponse__Output>
      OffsetDeleteRequest: MessageTypeDefinition<_samsa_v1_OffsetDeleteRequest, _samsa_v1_OffsetDeleteRequest__Output>
      OffsetDeleteResponse: MessageTypeDefinition<_samsa_v1_OffsetDeleteResponse, _samsa_v1_OffsetDeleteResponse__Output>
      OffsetDeleteTopic: MessageTypeDefinition<_samsa_v1_OffsetDeleteTopic, _samsa_v1_OffsetDeleteTopic__Output>
      OffsetDeleteTopicResponse: MessageTypeDefinition<_samsa_v1_OffsetDeleteTopicResponse, _samsa_v1_OffsetDeleteTopicResponse__Output>
      OffsetFetchPartitionResponse: MessageTypeDefinition<_samsa_v1_OffsetFetchPartitionResponse, _samsa_v1_OffsetFetchPartitionResponse__Output>
      OffsetFetchRequest: MessageTypeDefinition<_samsa_v1_OffsetFetchRequest, _samsa_v1_OffsetFetchRequest__Output>
      OffsetFetchResponse: MessageTypeDefinition<_samsa_v1_OffsetFetchResponse, _samsa_v1_OffsetFetchResponse__Output>
      OffsetFetchTopic: MessageTypeDefinition<_samsa_v1_OffsetFetchTopic, _samsa_v1_OffsetFetchTopic__Output>
      OffsetFetchTopicResponse: MessageTypeDefinition<_samsa_v1_OffsetFetchTopicResponse, _samsa_v1_OffsetFetchTopicResponse__Output>
      TopicNameList: MessageTypeDefinition<_samsa_v1_TopicNameList, _samsa_v1_TopicNameList__Output>
      TopicPartitionsList: MessageTypeDefinition<_samsa_v1_TopicPartitionsList, _samsa_v1_TopicPartitionsList__Output>
      TxnOffsetCommitRequest: MessageTypeDefinition<_samsa_v1_TxnOffsetCommitRequest, _samsa_v1_TxnOffsetCommitRequest__Output>
      TxnOffsetCommitResponse: MessageTypeDefinition<_samsa_v1_TxnOffsetCommitResponse, _samsa_v1_TxnOffsetCommitResponse__Output>
    }
  }
}

