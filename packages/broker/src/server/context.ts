import type { v1 } from '@samsa/protocol';
import type { Logger } from 'pino';
import type { ClusterMember } from '../cluster/cluster-member.js';
import type { BrokerSettingName, Settings } from '../config.js';
import type { DelayedOperations } from './delayed.js';
import type { HostedPartition, PartitionRegistry } from './partitions.js';
import type { GroupCoordinator } from '../group/driver.js';
import type { ProducerIdManager } from '../cluster/producer-ids.js';
import type { ReplicationDriver } from '../replication/index.js';
import type { TxnRequest } from '../txn/core.js';
import type { TxnCoordinator } from '../txn/driver.js';

/** What every request handler may use: the broker's parts, wired once in broker.ts. */
export interface BrokerContext {
  readonly brokerId: number;
  /** The listener the request arrived on (Kafka answers Metadata with that listener's addresses). */
  readonly listenerName: string;
  readonly settings: Settings<BrokerSettingName>;
  readonly logger: Logger;
  readonly member: ClusterMember;
  readonly partitions: PartitionRegistry;
  /** Leader and follower sides of replication (acks=all, follower fetches, ISR changes). */
  readonly replication: ReplicationDriver<HostedPartition>;
  readonly waiters: DelayedOperations;
  /** The consumer-group coordinator (the groups of the __consumer_offsets partitions this broker leads). */
  readonly groups: GroupCoordinator;
  /** The transaction coordinator (the transactional ids of the __transaction_state partitions this broker leads). */
  readonly txns: TxnCoordinator;
  /**
   * KIP-890 part 1, for the produce path: asks the coordinator of the request's transactional id (here or
   * on another broker) whether the partition is in the producer's open transaction; throws if not.
   */
  /**
   * With `add`, asks it to add the partition to that transaction instead (KIP-890 part 2). Resolves with the
   * open transaction's start time (its markers name it).
   */
  verifyTxnPartition(request: TxnRequest, topic: string, partition: number, add?: boolean): Promise<number>;
  /** Writes a transaction marker on the partitions of `marker` this broker leads (acks=all); errors by partition. */
  writeTxnMarker(marker: v1.WritableTxnMarker__Output): Promise<v1.TxnMarkerPartitionResult__Output[]>;
  /** Producer ids for idempotent producers, from this broker's block. */
  readonly producerIds: ProducerIdManager;
  /** Whether the partition exists in this broker's metadata (distinguishes NotLeader from UnknownTopicOrPartition). */
  knowsPartition(topic: string, partition: number): boolean;
}
