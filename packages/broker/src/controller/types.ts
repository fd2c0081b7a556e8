/** Shared shapes of the controller core, the ZooKeeper driver and the metadata cache. */

/** The value of /brokers/topics/<t>/partitions/<p>/state. `leader` is -1 when the partition has none. */
export interface LeaderAndIsr {
  readonly leader: number;
  readonly leaderEpoch: number;
  readonly isr: readonly number[];
  /** Epoch of the controller that wrote this state. */
  readonly controllerEpoch: number;
}

export const NO_LEADER = -1;

/** Topic-level setting that allows electing a leader from outside the ISR (Kafka's name and default). */
export const UNCLEAN_LEADER_ELECTION_CONFIG = 'unclean.leader.election.enable';

export type TopicConfigs = Readonly<Record<string, string>>;

/** A partition as the controller loaded it from the coordinator. */
export interface LoadedPartition {
  readonly replicas: readonly number[];
  /** Absent when /brokers/topics/<t>/partitions/<p>/state does not exist yet. */
  readonly state?: LeaderAndIsr;
  /** Znode version of the state znode (meaningful only with `state`). */
  readonly stateZkVersion?: number;
  /** Whether /brokers/topics/<t>/partitions/<p> exists. */
  readonly hasPartitionZnode: boolean;
  /** A replica move in progress (the topic znode's adding_replicas / removing_replicas); absent: none. */
  readonly adding?: readonly number[];
  readonly removing?: readonly number[];
}

export interface LoadedTopic {
  readonly name: string;
  /** The topic znode's topic_id (kept when the controller rewrites the znode); absent when it has none. */
  readonly topicId?: string;
  /** Index = partition id. */
  readonly partitions: readonly LoadedPartition[];
  readonly configs: TopicConfigs;
  readonly hasConfigZnode: boolean;
  readonly hasPartitionsZnode: boolean;
}

/** What a newly elected controller reads from the coordinator before deciding anything. */
export interface ClusterSnapshot {
  readonly liveBrokerIds: readonly number[];
  readonly topics: readonly LoadedTopic[];
  /** Children of /admin/delete_topics. */
  readonly pendingDeletions: readonly string[];
  /** The partitions each live broker's registration reports offline (absent: none anywhere). */
  readonly offlineReplicas?: ReadonlyArray<{
    readonly brokerId: number;
    readonly partitions: ReadonlyArray<{ readonly topic: string; readonly partition: number }>;
  }>;
}
