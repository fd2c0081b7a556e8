/** Shared shapes of the controller core, the ZooKeeper driver and the metadata cache. */

/** One named listener's advertised address (Kafka's `NAME://host:port`). */
export interface ListenerEndpoint {
  /** Listener name, upper case (Kafka normalises names so). */
  readonly listener: string;
  readonly host: string;
  readonly port: number;
}

/** The listener name of a plain `host:port` and of a registration written without `endpoints`. */
export const DEFAULT_LISTENER_NAME = 'PLAINTEXT';

/**
 * A live broker as registered under /brokers/ids/<id>. `host`/`port` is the inter-broker endpoint
 * (what registrations without `endpoints` carry, and what older readers use); `endpoints` lists every
 * advertised listener. A registration without `endpoints` has one listener, PLAINTEXT at host:port.
 */
export interface BrokerEndpoint {
  readonly id: number;
  readonly host: string;
  readonly port: number;
  readonly rack?: string;
  readonly endpoints?: readonly ListenerEndpoint[];
}

/** The broker's address on `listener`, or undefined when it does not advertise that listener. */
export function endpointOn(broker: BrokerEndpoint, listener: string): ListenerEndpoint | undefined {
  if (!broker.endpoints)
    return listener === DEFAULT_LISTENER_NAME ? { listener, host: broker.host, port: broker.port } : undefined;
  return broker.endpoints.find((e) => e.listener === listener);
}

/**
 * Parses Kafka's `NAME://host:port` (`NAME://[::1]:9092` for IPv6; an empty host is allowed, as in
 * Kafka's `PLAINTEXT://:9092`). The name is upper-cased, as Kafka normalises listener names. Returns
 * undefined when `value` is not of that shape.
 */
export function parseListenerEndpoint(value: string): ListenerEndpoint | undefined {
  const match = /^([A-Za-z0-9_-]+):\/\/(?:\[([^\]]+)\]|([^:[\]/]*)):(\d{1,5})$/.exec(value.trim());
  if (!match) return undefined;
  const port = Number(match[4]);
  if (port > 65535) return undefined;
  return { listener: match[1]!.toUpperCase(), host: (match[2] ?? match[3])!, port };
}

/** The inverse of parseListenerEndpoint. */
export function formatListenerEndpoint(e: ListenerEndpoint): string {
  return `${e.listener}://${grpcAddress(e)}`;
}

/** `host:port` for a gRPC target (IPv6 literals in brackets). */
export function grpcAddress(endpoint: { readonly host: string; readonly port: number }): string {
  return `${endpoint.host.includes(':') ? `[${endpoint.host}]` : endpoint.host}:${endpoint.port}`;
}

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
}

export interface LoadedTopic {
  readonly name: string;
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
}
