import type * as grpc from '@grpc/grpc-js';
import type { MessageTypeDefinition } from '@grpc/proto-loader';

import type { AlterPartitionRequest as _samsa_v1_AlterPartitionRequest, AlterPartitionRequest__Output as _samsa_v1_AlterPartitionRequest__Output } from './samsa/v1/AlterPartitionRequest.js';
import type { AlterPartitionResponse as _samsa_v1_AlterPartitionResponse, AlterPartitionResponse__Output as _samsa_v1_AlterPartitionResponse__Output } from './samsa/v1/AlterPartitionResponse.js';
import type { EpochEndOffset as _samsa_v1_EpochEndOffset, EpochEndOffset__Output as _samsa_v1_EpochEndOffset__Output } from './samsa/v1/EpochEndOffset.js';
import type { ReplicaFetchPartition as _samsa_v1_ReplicaFetchPartition, ReplicaFetchPartition__Output as _samsa_v1_ReplicaFetchPartition__Output } from './samsa/v1/ReplicaFetchPartition.js';
import type { ReplicaFetchPartitionResponse as _samsa_v1_ReplicaFetchPartitionResponse, ReplicaFetchPartitionResponse__Output as _samsa_v1_ReplicaFetchPartitionResponse__Output } from './samsa/v1/ReplicaFetchPartitionResponse.js';
import type { ReplicaFetchRequest as _samsa_v1_ReplicaFetchRequest, ReplicaFetchRequest__Output as _samsa_v1_ReplicaFetchRequest__Output } from './samsa/v1/ReplicaFetchRequest.js';
import type { ReplicaFetchResponse as _samsa_v1_ReplicaFetchResponse, ReplicaFetchResponse__Output as _samsa_v1_ReplicaFetchResponse__Output } from './samsa/v1/ReplicaFetchResponse.js';
import type { ReplicaFetchTopic as _samsa_v1_ReplicaFetchTopic, ReplicaFetchTopic__Output as _samsa_v1_ReplicaFetchTopic__Output } from './samsa/v1/ReplicaFetchTopic.js';
import type { ReplicaFetchTopicResponse as _samsa_v1_ReplicaFetchTopicResponse, ReplicaFetchTopicResponse__Output as _samsa_v1_ReplicaFetchTopicResponse__Output } from './samsa/v1/ReplicaFetchTopicResponse.js';
import type { ReplicationClient as _samsa_v1_ReplicationClient, ReplicationDefinition as _samsa_v1_ReplicationDefinition } from './samsa/v1/Replication.js';

type SubtypeConstructor<Constructor extends new (...args: any) => any, Subtype> = {
  new(...args: ConstructorParameters<Constructor>): Subtype;
};

export interface ProtoGrpcType {
  samsa: {
    v1: {
      AlterPartitionRequest: MessageTypeDefinition<_samsa_v1_AlterPartitionRequest, _samsa_v1_AlterPartitionRequest__Output>
      AlterPartitionResponse: MessageTypeDefinition<_samsa_v1_AlterPartitionResponse, _samsa_v1_AlterPartitionResponse__Output>
      EpochEndOffset: MessageTypeDefinition<_samsa_v1_EpochEndOffset, _samsa_v1_EpochEndOffset__Output>
      ReplicaFetchPartition: MessageTypeDefinition<_samsa_v1_ReplicaFetchPartition, _samsa_v1_ReplicaFetchPartition__Output>
      ReplicaFetchPartitionResponse: MessageTypeDefinition<_samsa_v1_ReplicaFetchPartitionResponse, _samsa_v1_ReplicaFetchPartitionResponse__Output>
      ReplicaFetchRequest: MessageTypeDefinition<_samsa_v1_ReplicaFetchRequest, _samsa_v1_ReplicaFetchRequest__Output>
      ReplicaFetchResponse: MessageTypeDefinition<_samsa_v1_ReplicaFetchResponse, _samsa_v1_ReplicaFetchResponse__Output>
      ReplicaFetchTopic: MessageTypeDefinition<_samsa_v1_ReplicaFetchTopic, _samsa_v1_ReplicaFetchTopic__Output>
      ReplicaFetchTopicResponse: MessageTypeDefinition<_samsa_v1_ReplicaFetchTopicResponse, _samsa_v1_ReplicaFetchTopicResponse__Output>
      Replication: SubtypeConstructor<typeof grpc.Client, _samsa_v1_ReplicationClient> & { service: _samsa_v1_ReplicationDefinition }
    }
  }
}

