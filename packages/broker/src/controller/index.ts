/** The controller: pure decisions (ControllerCore), Kafka's znode layout, and the ZooKeeper driver. */
export {
  ControllerCore,
  MAX_PARTITIONS_PER_BATCH,
  type ControllerInput,
  type PartitionView,
  type RequestResult,
  type RoleAnnouncement,
  type StateChange,
  type StepOutput,
  type TopicPartitionRef,
  type TopicView,
  type WriteBatch,
  type ZnodeOp,
} from './core.js';
export {
  MAX_PARTITIONS_PER_TOPIC,
  MAX_TOPIC_NAME_LENGTH,
  assignReplicas,
  validateNewTopic,
  validateTopicName,
  type Rejection,
} from './assignment.js';
export {
  ControllerDriver,
  fencedWrite,
  loadClusterSnapshot,
  type AutoLeaderRebalance,
  type ControllerDriverOptions,
  type NewTopic,
  type PartitionResult,
  type TopicResult,
} from './driver.js';
export {
  NO_LEADER,
  UNCLEAN_LEADER_ELECTION_CONFIG,
  type ClusterSnapshot,
  type LeaderAndIsr,
  type LoadedPartition,
  type LoadedTopic,
  type TopicConfigs,
} from './types.js';
export * as znodes from './znodes.js';
export {
  DEFAULT_LISTENER_NAME,
  endpointOn,
  grpcAddress,
  type BrokerEndpoint,
  type ListenerEndpoint,
} from '../listeners.js';
