import type * as grpc from '@grpc/grpc-js';
import type { MessageTypeDefinition } from '@grpc/proto-loader';

import type { ReplicationClient as _samsa_v1_ReplicationClient, ReplicationDefinition as _samsa_v1_ReplicationDefinition } from './samsa/v1/Replication.js';

type SubtypeConstructor<Constructor extends new (...args: any) => any, Subtype> = {
  new(...args: ConstructorParameters<Constructor>): Subtype;
};

export interface ProtoGrpcType {
  samsa: {
    v1: {
      AlterPartitionRequest: MessageTypeDefinition
      AlterPartitionResponse: MessageTypeDefinition
      EpochEndOffset: MessageTypeDefinition
      ReplicaFetchPartition: MessageTypeDefinition
      ReplicaFetchPartitionResponse: MessageTypeDefinition
      ReplicaFetchRequest: MessageTypeDefinition
      ReplicaFetchResponse: MessageTypeDefinition
      ReplicaFetchTopic: MessageTypeDefinition
      ReplicaFetchTopicResponse: MessageTypeDefinition
      Replication: SubtypeConstructor<typeof grpc.Client, _samsa_v1_ReplicationClient> & { service: _samsa_v1_ReplicationDefinition }
    }
  }
}

