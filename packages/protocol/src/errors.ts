/**
 * The one error table shared by broker, client and CLI. Codes and names follow Kafka's protocol error
 * codes where the concept is Kafka's, so tools that know Kafka read them the same way.
 */
export interface ErrorSpec {
  readonly code: number;
  readonly name: string;
  readonly retriable: boolean;
  readonly message: string;
}

function spec(code: number, name: string, retriable: boolean, message: string): ErrorSpec {
  return Object.freeze({ code, name, retriable, message });
}

export const ErrorCodes = Object.freeze({
  UNKNOWN_SERVER_ERROR: spec(-1, 'UnknownServerError', false, 'The server experienced an unexpected error'),
  NONE: spec(0, 'None', false, 'No error'),
  OFFSET_OUT_OF_RANGE: spec(
    1,
    'OffsetOutOfRange',
    false,
    'The requested offset is outside the range the partition holds',
  ),
  CORRUPT_MESSAGE: spec(
    2,
    'CorruptMessage',
    true,
    'The record batch failed its CRC check, has a bad size, or is otherwise malformed',
  ),
  UNKNOWN_TOPIC_OR_PARTITION: spec(
    3,
    'UnknownTopicOrPartition',
    true,
    'This server does not host this topic-partition',
  ),
  INVALID_FETCH_SIZE: spec(4, 'InvalidFetchSize', false, 'The requested fetch size is invalid'),
  LEADER_NOT_AVAILABLE: spec(
    5,
    'LeaderNotAvailable',
    true,
    'There is no leader for this topic-partition right now (an election may be in progress)',
  ),
  NOT_LEADER_OR_FOLLOWER: spec(
    6,
    'NotLeaderOrFollower',
    true,
    'This server is not the leader or a follower of this partition',
  ),
  REQUEST_TIMED_OUT: spec(7, 'RequestTimedOut', true, 'The request timed out'),
  BROKER_NOT_AVAILABLE: spec(8, 'BrokerNotAvailable', false, 'The broker is not available'),
  REPLICA_NOT_AVAILABLE: spec(
    9,
    'ReplicaNotAvailable',
    true,
    'The replica is not available for the requested topic-partition',
  ),
  MESSAGE_TOO_LARGE: spec(
    10,
    'MessageTooLarge',
    false,
    'The request included a message larger than the maximum message size the server accepts',
  ),
  STALE_CONTROLLER_EPOCH: spec(11, 'StaleControllerEpoch', false, 'The controller moved to another broker'),
  OFFSET_METADATA_TOO_LARGE: spec(
    12,
    'OffsetMetadataTooLarge',
    false,
    'The metadata field of the offset request was too large',
  ),
  NETWORK_EXCEPTION: spec(13, 'NetworkException', true, 'The server disconnected before a response was received'),
  COORDINATOR_LOAD_IN_PROGRESS: spec(
    14,
    'CoordinatorLoadInProgress',
    true,
    'The coordinator is loading its groups from the log and cannot answer yet',
  ),
  COORDINATOR_NOT_AVAILABLE: spec(15, 'CoordinatorNotAvailable', true, 'The coordinator is not available'),
  NOT_COORDINATOR: spec(16, 'NotCoordinator', true, 'This is not the correct coordinator'),
  INVALID_TOPIC_EXCEPTION: spec(17, 'InvalidTopic', false, 'The topic name is invalid'),
  RECORD_LIST_TOO_LARGE: spec(
    18,
    'RecordListTooLarge',
    false,
    'The request included a batch larger than the configured segment size',
  ),
  NOT_ENOUGH_REPLICAS: spec(
    19,
    'NotEnoughReplicas',
    true,
    'Messages are rejected since there are fewer in-sync replicas than required',
  ),
  NOT_ENOUGH_REPLICAS_AFTER_APPEND: spec(
    20,
    'NotEnoughReplicasAfterAppend',
    true,
    'Messages are written to the log, but to fewer in-sync replicas than required',
  ),
  INVALID_REQUIRED_ACKS: spec(
    21,
    'InvalidRequiredAcks',
    false,
    'Produce request specified an invalid value for required acks',
  ),
  ILLEGAL_GENERATION: spec(22, 'IllegalGeneration', false, 'The generation id is not the current one'),
  INCONSISTENT_GROUP_PROTOCOL: spec(23, 'InconsistentGroupProtocol', false, 'The group uses another protocol'),
  INVALID_GROUP_ID: spec(24, 'InvalidGroupId', false, 'The group id is empty or too long'),
  UNKNOWN_MEMBER_ID: spec(25, 'UnknownMemberId', false, 'The coordinator does not know this member id'),
  INVALID_SESSION_TIMEOUT: spec(
    26,
    'InvalidSessionTimeout',
    false,
    'The session timeout is not within the range the broker allows',
  ),
  REBALANCE_IN_PROGRESS: spec(27, 'RebalanceInProgress', false, 'The group is rebalancing'),
  INVALID_COMMIT_OFFSET_SIZE: spec(
    28,
    'InvalidCommitOffsetSize',
    false,
    'The committing offset data size is not valid',
  ),
  INVALID_TIMESTAMP: spec(32, 'InvalidTimestamp', false, 'The timestamp of the message is out of acceptable range'),
  INVALID_PARTITIONS: spec(37, 'InvalidPartitions', false, 'Number of partitions is below 1'),
  INVALID_REPLICATION_FACTOR: spec(
    38,
    'InvalidReplicationFactor',
    false,
    'Replication factor is below 1 or larger than the number of available brokers',
  ),
  INVALID_REPLICA_ASSIGNMENT: spec(39, 'InvalidReplicaAssignment', false, 'The replica assignment is not valid'),
  REASSIGNMENT_IN_PROGRESS: spec(60, 'ReassignmentInProgress', false, 'A partition reassignment is in progress'),
  NO_REASSIGNMENT_IN_PROGRESS: spec(
    85,
    'NoReassignmentInProgress',
    false,
    'No partition reassignment is in progress for this partition',
  ),
  INVALID_CONFIG: spec(40, 'InvalidConfig', false, 'Configuration is invalid'),
  NOT_CONTROLLER: spec(41, 'NotController', true, 'This is not the correct controller for this cluster'),
  INVALID_REQUEST: spec(42, 'InvalidRequest', false, 'The request is malformed or invalid'),
  UNSUPPORTED_FOR_MESSAGE_FORMAT: spec(
    43,
    'UnsupportedForMessageFormat',
    false,
    'The message format version does not support the request',
  ),
  POLICY_VIOLATION: spec(44, 'PolicyViolation', false, 'Request parameters do not satisfy the configured policy'),
  ILLEGAL_SASL_STATE: spec(34, 'IllegalSaslState', false, 'Request is not valid given the current SASL state'),
  UNSUPPORTED_VERSION: spec(35, 'UnsupportedVersion', false, 'The version of this API is not supported'),
  TOPIC_ALREADY_EXISTS: spec(36, 'TopicAlreadyExists', false, 'Topic with this name already exists'),
  NON_EMPTY_GROUP: spec(68, 'NonEmptyGroup', false, 'The group is not empty'),
  GROUP_ID_NOT_FOUND: spec(69, 'GroupIdNotFound', false, 'The group id does not exist'),
  OUT_OF_ORDER_SEQUENCE_NUMBER: spec(
    45,
    'OutOfOrderSequenceNumber',
    false,
    'The broker received an out of order sequence number from this producer',
  ),
  DUPLICATE_SEQUENCE_NUMBER: spec(
    46,
    'DuplicateSequenceNumber',
    false,
    'The broker received a duplicate sequence number',
  ),
  INVALID_PRODUCER_EPOCH: spec(
    47,
    'InvalidProducerEpoch',
    false,
    "The producer's epoch is older than the one the broker knows: a newer incarnation of this producer exists",
  ),
  INVALID_TXN_STATE: spec(
    48,
    'InvalidTxnState',
    false,
    'The producer attempted a transactional operation in an invalid state',
  ),
  INVALID_PRODUCER_ID_MAPPING: spec(
    49,
    'InvalidProducerIdMapping',
    false,
    'The producer id does not match the transactional id it was given for',
  ),
  INVALID_TRANSACTION_TIMEOUT: spec(
    50,
    'InvalidTransactionTimeout',
    false,
    'The transaction timeout is larger than transaction.max.timeout.ms',
  ),
  CONCURRENT_TRANSACTIONS: spec(
    51,
    'ConcurrentTransactions',
    true,
    'The producer attempted to update a transaction while another concurrent operation on it was in progress',
  ),
  TRANSACTION_COORDINATOR_FENCED: spec(
    52,
    'TransactionCoordinatorFenced',
    false,
    'A newer transaction coordinator exists for this transactional id',
  ),
  TRANSACTIONAL_ID_AUTHORIZATION_FAILED: spec(
    53,
    'TransactionalIdAuthorizationFailed',
    false,
    'Transactional id authorization failed (a Produce with transactional records names no transactional id)',
  ),
  OPERATION_NOT_ATTEMPTED: spec(
    55,
    'OperationNotAttempted',
    false,
    'The operation was not attempted because another part of the request failed',
  ),
  UNKNOWN_PRODUCER_ID: spec(
    59,
    'UnknownProducerId',
    false,
    'The broker has no state for this producer id (its records were deleted or it expired)',
  ),
  INVALID_RECORD: spec(87, 'InvalidRecord', false, 'The record batch is invalid for this request'),
  UNSTABLE_OFFSET_COMMIT: spec(
    88,
    'UnstableOffsetCommit',
    true,
    'There are unstable offsets that need to be cleared (a transaction committing offsets is still open)',
  ),
  PRODUCER_FENCED: spec(
    90,
    'ProducerFenced',
    false,
    'A newer producer with the same transactional id has been initialized: this one is fenced',
  ),
  TRANSACTION_ABORTABLE: spec(
    120,
    'TransactionAbortable',
    false,
    'The transaction cannot be committed (it outlived its timeout): abort it, then the producer can go on',
  ),
  TRANSACTIONAL_ID_NOT_FOUND: spec(105, 'TransactionalIdNotFound', false, 'The transactional id was not found'),
  KAFKA_STORAGE_ERROR: spec(56, 'KafkaStorageError', true, 'Disk error when trying to access the log file on disk'),
  FENCED_LEADER_EPOCH: spec(
    74,
    'FencedLeaderEpoch',
    true,
    'The leader epoch in the request is older than the epoch on the broker',
  ),
  UNKNOWN_LEADER_EPOCH: spec(
    75,
    'UnknownLeaderEpoch',
    true,
    'The leader epoch in the request is newer than the epoch on the broker',
  ),
  UNSUPPORTED_COMPRESSION_TYPE: spec(
    76,
    'UnsupportedCompressionType',
    false,
    'The requesting client does not support the compression type of the given partition',
  ),
  PREFERRED_LEADER_NOT_AVAILABLE: spec(
    80,
    'PreferredLeaderNotAvailable',
    true,
    'The preferred leader is not alive or not in the in-sync replica set',
  ),
  MEMBER_ID_REQUIRED: spec(79, 'MemberIdRequired', false, 'Join again with the member id in this answer'),
  GROUP_MAX_SIZE_REACHED: spec(
    81,
    'GroupMaxSizeReached',
    false,
    'The group has reached its maximum size (group.consumer.max.size)',
  ),
  FENCED_INSTANCE_ID: spec(
    82,
    'FencedInstanceId',
    false,
    'Another member with the same group.instance.id has replaced this one',
  ),
  ELECTION_NOT_NEEDED: spec(84, 'ElectionNotNeeded', false, 'The preferred leader already leads this partition'),
  OFFSET_NOT_AVAILABLE: spec(
    78,
    'OffsetNotAvailable',
    true,
    'The leader high watermark has not caught up from a recent leader election',
  ),
  INVALID_UPDATE_VERSION: spec(95, 'InvalidUpdateVersion', false, 'The given version of the partition state is stale'),
  FETCH_SESSION_ID_NOT_FOUND: spec(
    70,
    'FetchSessionIdNotFound',
    true,
    'The fetch session ID was not found (the client starts over with a full fetch)',
  ),
  INVALID_FETCH_SESSION_EPOCH: spec(71, 'InvalidFetchSessionEpoch', true, 'The fetch session epoch is invalid'),
  UNKNOWN_TOPIC_ID: spec(100, 'UnknownTopicId', true, 'This server does not host this topic ID'),
  INELIGIBLE_REPLICA: spec(107, 'IneligibleReplica', false, 'The new ISR contains at least one ineligible replica'),
  GROUP_SUBSCRIBED_TO_TOPIC: spec(
    86,
    'GroupSubscribedToTopic',
    false,
    'The consumer group is actively subscribed to the topic',
  ),
  FENCED_MEMBER_EPOCH: spec(
    110,
    'FencedMemberEpoch',
    false,
    'The member epoch is fenced by the group coordinator: the member must give up its partitions and rejoin',
  ),
  UNRELEASED_INSTANCE_ID: spec(
    111,
    'UnreleasedInstanceId',
    false,
    'The instance id is still used by another member of the group: that member must leave first',
  ),
  UNSUPPORTED_ASSIGNOR: spec(112, 'UnsupportedAssignor', false, 'The assignor is not supported by the group'),
  STALE_MEMBER_EPOCH: spec(
    113,
    'StaleMemberEpoch',
    false,
    'The member epoch is stale: retry after the heartbeat has returned the current member epoch',
  ),
  INVALID_REGULAR_EXPRESSION: spec(128, 'InvalidRegularExpression', false, 'The regular expression is not valid'),
} satisfies Record<string, ErrorSpec>);

export type ErrorName = keyof typeof ErrorCodes;

const byCode = new Map<number, ErrorSpec>(Object.values(ErrorCodes).map((s) => [s.code, s]));

/** Looks an error up by its wire code; an unknown code maps to UnknownServerError rather than throwing. */
export function errorSpecForCode(code: number): ErrorSpec {
  return byCode.get(code) ?? ErrorCodes.UNKNOWN_SERVER_ERROR;
}

/**
 * A typed error that carries its table entry. Broker code throws these for expected failures;
 * anything else reaching a handler is a bug and maps to UnknownServerError.
 */
export class SamsaError extends Error {
  readonly code: number;
  readonly errorName: string;
  readonly retriable: boolean;
  /** The message without the error name in front: what goes into a response's error_message. */
  readonly detail: string;

  constructor(errorSpec: ErrorSpec, detail?: string, options?: { cause?: unknown }) {
    const text = detail ?? errorSpec.message;
    super(`${errorSpec.name}: ${text}`, options);
    this.name = 'SamsaError';
    this.code = errorSpec.code;
    this.errorName = errorSpec.name;
    this.retriable = errorSpec.retriable;
    this.detail = text;
  }
}

/** Malformed bytes: the codec's one error type, always CorruptMessage on the wire. */
export class CorruptRecordError extends SamsaError {
  /** Byte position (relative to the buffer handed to the decoder) where the problem was found. */
  readonly position: number;

  constructor(detail: string, position: number, options?: { cause?: unknown }) {
    super(ErrorCodes.CORRUPT_MESSAGE, `${detail} (at byte ${position})`, options);
    this.name = 'CorruptRecordError';
    this.position = position;
  }
}
