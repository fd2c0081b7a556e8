export { Samsa, type OpenClientDescription, type SamsaOptions } from './client.js';
export {
  Producer,
  type Acks,
  type HeaderValue,
  type Message,
  type ProducerOptions,
  type ProducerRecord,
  type ProduceRequestTiming,
  type RecordMetadata,
  type SendBatchRequest,
} from './producer.js';
export {
  Consumer,
  type AssignmentSpec,
  type ConsumedBatch,
  type ConsumedMessage,
  type ConsumerOptions,
} from './consumer.js';
export type { GroupMetadata, RebalanceListener } from './group/session.js';
export type { CommitOffset, CommittedOffset } from './group/offsets.js';
export type { GroupDescription, GroupListing, GroupMemberDescription } from './group/admin.js';
export {
  Admin,
  type AdminRequestOptions,
  type BrokerDescription,
  type ClusterDescription,
  type ElectionOutcome,
  type PartitionReassignment,
  type ReassignmentOutcome,
  type ElectionTarget,
  type NewTopic,
  type PartitionDescription,
  type ListOffsetsOptions,
  type PartitionOffsets,
  type TopicDescription,
} from './admin.js';
export {
  DELETE_UP_TO_HIGH_WATERMARK,
  type DeleteRecordsOptions,
  type DeletedRecords,
  type RecordsToDelete,
} from './admin-delete-records.js';
export type { PartitionerArgs, PartitionerFunction, PartitionerName } from './partitioner.js';
export type { IsolationLevel, PartitionOffset, TopicPartition } from './offsets.js';
export type { RetryOptions } from './retry.js';
export type { Logger } from './logger.js';
export {
  AbortError,
  BufferExhaustedError,
  ClosedError,
  CommitFailedError,
  ConnectionError,
  GroupRequiredError,
  OffsetOutOfRangeError,
  LogTruncationError,
  SamsaClientError,
  TimeoutError,
} from './errors.js';
export {
  SamsaError,
  ErrorCodes,
  MAX_PARTITIONS_PER_TOPIC,
  MAX_TOPIC_NAME_LENGTH,
  checkTopicName,
  topicNameProblem,
  type CompressionName,
} from '@samsa/protocol';
export {
  TransactionalProducer,
  type Transaction,
  type TransactionalProducerOptions,
  type TransactionDescription,
  type TransactionListing,
} from './transaction.js';
