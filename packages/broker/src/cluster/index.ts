/** A broker's membership: registration, controller campaign, metadata cache and role changes. */
export {
  ClusterMember,
  DEFAULT_SESSION_TIMEOUT_MS,
  DuplicateBrokerIdError,
  type ClusterMemberEvents,
  type ClusterMemberOptions,
} from './cluster-member.js';
export { MetadataCache, type MetadataCacheEvents } from './metadata-cache.js';
export {
  EMPTY_IMAGE,
  currentRoles,
  diffRoles,
  offlineReplicas,
  type MetadataImage,
  type PartitionInfo,
  type RoleChange,
  type TopicInfo,
} from './metadata.js';
