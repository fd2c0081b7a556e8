/** Replication: the pure per-partition state machines and the leader-epoch cache (see ../../REPLICATION.md). */
export {
  LeaderEpochCache,
  UNDEFINED_EPOCH,
  UNDEFINED_EPOCH_END_OFFSET,
  UNDEFINED_EPOCH_OFFSET,
  type EpochEndOffset,
  type EpochEntry,
  type EpochLookup,
} from './epoch-cache.js';
export { CorruptCheckpointError } from './checkpoint-file.js';
export {
  HIGH_WATERMARK_CHECKPOINT_FILE,
  formatHighWatermarkCheckpoint,
  loadHighWatermarks,
  parseHighWatermarkCheckpoint,
  saveHighWatermarks,
  type HighWatermarkEntry,
} from './hw-checkpoint.js';
export {
  CorruptEpochCheckpointError,
  LEADER_EPOCH_CHECKPOINT_FILE,
  formatEpochCheckpoint,
  loadEpochCache,
  parseEpochCheckpoint,
  saveEpochCache,
} from './epoch-checkpoint.js';
export { assignEpochsFromBatches } from './batches.js';
export {
  LeaderState,
  isrRejectionFor,
  type AcksAllStatus,
  type FollowerSnapshot,
  type IsrProposal,
  type IsrRejection,
  type LeaderOutput,
  type LeaderStateOptions,
} from './leader.js';
export {
  followerHighWatermark,
  followerTruncation,
  validateFollowerFetch,
  type FetchValidation,
  type FollowerFetch,
  type FollowerLogView,
  type LeaderLogView,
  type TruncationDecision,
} from './follower.js';
export {
  EMPTY_RECORDS,
  partitionKey,
  type AlterPartitionRequest,
  type CommittedPartitionState,
  type FetchSession,
  type ParkedOperation,
  type Replica,
  type ReplicaFetchPartition,
  type ReplicaFetchPartitionResponse,
  type ReplicaFetchRequest,
  type ReplicaFetchResponse,
  type ReplicaLog,
  type ReplicaRoleChange,
  type ReplicationTransport,
  type Waiters,
} from './replica.js';
export { adoptedLogStart, afterLogStartMoved, moveLogStart } from './log-start.js';
export { LeaderDriver, type LeaderDriverOptions } from './leader-driver.js';
export { FollowerDriver, type FollowerDriverOptions } from './follower-driver.js';
export { ReplicationDriver, type ReplicationDriverOptions } from './driver.js';
export { ReplicationThrottle, listsReplica } from './throttle.js';
