import type * as grpc from '@grpc/grpc-js';
import type { MessageTypeDefinition } from '@grpc/proto-loader';

import type { ActiveProducer as _samsa_v1_ActiveProducer, ActiveProducer__Output as _samsa_v1_ActiveProducer__Output } from './samsa/v1/ActiveProducer.js';
import type { AddOffsetsToTxnRequest as _samsa_v1_AddOffsetsToTxnRequest, AddOffsetsToTxnRequest__Output as _samsa_v1_AddOffsetsToTxnRequest__Output } from './samsa/v1/AddOffsetsToTxnRequest.js';
import type { AddOffsetsToTxnResponse as _samsa_v1_AddOffsetsToTxnResponse, AddOffsetsToTxnResponse__Output as _samsa_v1_AddOffsetsToTxnResponse__Output } from './samsa/v1/AddOffsetsToTxnResponse.js';
import type { AddPartitionsToTxnRequest as _samsa_v1_AddPartitionsToTxnRequest, AddPartitionsToTxnRequest__Output as _samsa_v1_AddPartitionsToTxnRequest__Output } from './samsa/v1/AddPartitionsToTxnRequest.js';
import type { AddPartitionsToTxnResponse as _samsa_v1_AddPartitionsToTxnResponse, AddPartitionsToTxnResponse__Output as _samsa_v1_AddPartitionsToTxnResponse__Output } from './samsa/v1/AddPartitionsToTxnResponse.js';
import type { DescribeProducersRequest as _samsa_v1_DescribeProducersRequest, DescribeProducersRequest__Output as _samsa_v1_DescribeProducersRequest__Output } from './samsa/v1/DescribeProducersRequest.js';
import type { DescribeProducersResponse as _samsa_v1_DescribeProducersResponse, DescribeProducersResponse__Output as _samsa_v1_DescribeProducersResponse__Output } from './samsa/v1/DescribeProducersResponse.js';
import type { DescribeTransactionsRequest as _samsa_v1_DescribeTransactionsRequest, DescribeTransactionsRequest__Output as _samsa_v1_DescribeTransactionsRequest__Output } from './samsa/v1/DescribeTransactionsRequest.js';
import type { DescribeTransactionsResponse as _samsa_v1_DescribeTransactionsResponse, DescribeTransactionsResponse__Output as _samsa_v1_DescribeTransactionsResponse__Output } from './samsa/v1/DescribeTransactionsResponse.js';
import type { EndTxnRequest as _samsa_v1_EndTxnRequest, EndTxnRequest__Output as _samsa_v1_EndTxnRequest__Output } from './samsa/v1/EndTxnRequest.js';
import type { EndTxnResponse as _samsa_v1_EndTxnResponse, EndTxnResponse__Output as _samsa_v1_EndTxnResponse__Output } from './samsa/v1/EndTxnResponse.js';
import type { ListTransactionsRequest as _samsa_v1_ListTransactionsRequest, ListTransactionsRequest__Output as _samsa_v1_ListTransactionsRequest__Output } from './samsa/v1/ListTransactionsRequest.js';
import type { ListTransactionsResponse as _samsa_v1_ListTransactionsResponse, ListTransactionsResponse__Output as _samsa_v1_ListTransactionsResponse__Output } from './samsa/v1/ListTransactionsResponse.js';
import type { TransactionCoordinatorClient as _samsa_v1_TransactionCoordinatorClient, TransactionCoordinatorDefinition as _samsa_v1_TransactionCoordinatorDefinition } from './samsa/v1/TransactionCoordinator.js';
import type { TransactionDescription as _samsa_v1_TransactionDescription, TransactionDescription__Output as _samsa_v1_TransactionDescription__Output } from './samsa/v1/TransactionDescription.js';
import type { TransactionListing as _samsa_v1_TransactionListing, TransactionListing__Output as _samsa_v1_TransactionListing__Output } from './samsa/v1/TransactionListing.js';
import type { TxnMarkerPartitionResult as _samsa_v1_TxnMarkerPartitionResult, TxnMarkerPartitionResult__Output as _samsa_v1_TxnMarkerPartitionResult__Output } from './samsa/v1/TxnMarkerPartitionResult.js';
import type { TxnTopic as _samsa_v1_TxnTopic, TxnTopic__Output as _samsa_v1_TxnTopic__Output } from './samsa/v1/TxnTopic.js';
import type { WritableTxnMarker as _samsa_v1_WritableTxnMarker, WritableTxnMarker__Output as _samsa_v1_WritableTxnMarker__Output } from './samsa/v1/WritableTxnMarker.js';
import type { WriteTxnMarkersRequest as _samsa_v1_WriteTxnMarkersRequest, WriteTxnMarkersRequest__Output as _samsa_v1_WriteTxnMarkersRequest__Output } from './samsa/v1/WriteTxnMarkersRequest.js';
import type { WriteTxnMarkersResponse as _samsa_v1_WriteTxnMarkersResponse, WriteTxnMarkersResponse__Output as _samsa_v1_WriteTxnMarkersResponse__Output } from './samsa/v1/WriteTxnMarkersResponse.js';
import type { WriteTxnMarkersResult as _samsa_v1_WriteTxnMarkersResult, WriteTxnMarkersResult__Output as _samsa_v1_WriteTxnMarkersResult__Output } from './samsa/v1/WriteTxnMarkersResult.js';

type SubtypeConstructor<Constructor extends new (...args: any) => any, Subtype> = {
  new(...args: ConstructorParameters<Constructor>): Subtype;
};

export interface ProtoGrpcType {
  samsa: {
    v1: {
      ActiveProducer: MessageTypeDefinition<_samsa_v1_ActiveProducer, _samsa_v1_ActiveProducer__Output>
      AddOffsetsToTxnRequest: MessageTypeDefinition<_samsa_v1_AddOffsetsToTxnRequest, _samsa_v1_AddOffsetsToTxnRequest__Output>
      AddOffsetsToTxnResponse: MessageTypeDefinition<_samsa_v1_AddOffsetsToTxnResponse, _samsa_v1_AddOffsetsToTxnResponse__Output>
      AddPartitionsToTxnRequest: MessageTypeDefinition<_samsa_v1_AddPartitionsToTxnRequest, _samsa_v1_AddPartitionsToTxnRequest__Output>
      AddPartitionsToTxnResponse: MessageTypeDefinition<_samsa_v1_AddPartitionsToTxnResponse, _samsa_v1_AddPartitionsToTxnResponse__Output>
      DescribeProducersRequest: MessageTypeDefinition<_samsa_v1_DescribeProducersRequest, _samsa_v1_DescribeProducersRequest__Output>
      DescribeProducersResponse: MessageTypeDefinition<_samsa_v1_DescribeProducersResponse, _samsa_v1_DescribeProducersResponse__Output>
      DescribeTransactionsRequest: MessageTypeDefinition<_samsa_v1_DescribeTransactionsRequest, _samsa_v1_DescribeTransactionsRequest__Output>
      DescribeTransactionsResponse: MessageTypeDefinition<_samsa_v1_DescribeTransactionsResponse, _samsa_v1_DescribeTransactionsResponse__Output>
      EndTxnRequest: MessageTypeDefinition<_samsa_v1_EndTxnRequest, _samsa_v1_EndTxnRequest__Output>
      EndTxnResponse: MessageTypeDefinition<_samsa_v1_EndTxnResponse, _samsa_v1_EndTxnResponse__Output>
      ListTransactionsRequest: MessageTypeDefinition<_samsa_v1_ListTransactionsRequest, _samsa_v1_ListTransactionsRequest__Output>
      ListTransactionsResponse: MessageTypeDefinition<_samsa_v1_ListTransactionsResponse, _samsa_v1_ListTransactionsResponse__Output>
      TransactionCoordinator: SubtypeConstructor<typeof grpc.Client, _samsa_v1_TransactionCoordinatorClient> & { service: _samsa_v1_TransactionCoordinatorDefinition }
      TransactionDescription: MessageTypeDefinition<_samsa_v1_TransactionDescription, _samsa_v1_TransactionDescription__Output>
      TransactionListing: MessageTypeDefinition<_samsa_v1_TransactionListing, _samsa_v1_TransactionListing__Output>
      TxnMarkerPartitionResult: MessageTypeDefinition<_samsa_v1_TxnMarkerPartitionResult, _samsa_v1_TxnMarkerPartitionResult__Output>
      TxnTopic: MessageTypeDefinition<_samsa_v1_TxnTopic, _samsa_v1_TxnTopic__Output>
      WritableTxnMarker: MessageTypeDefinition<_samsa_v1_WritableTxnMarker, _samsa_v1_WritableTxnMarker__Output>
      WriteTxnMarkersRequest: MessageTypeDefinition<_samsa_v1_WriteTxnMarkersRequest, _samsa_v1_WriteTxnMarkersRequest__Output>
      WriteTxnMarkersResponse: MessageTypeDefinition<_samsa_v1_WriteTxnMarkersResponse, _samsa_v1_WriteTxnMarkersResponse__Output>
      WriteTxnMarkersResult: MessageTypeDefinition<_samsa_v1_WriteTxnMarkersResult, _samsa_v1_WriteTxnMarkersResult__Output>
    }
  }
}

