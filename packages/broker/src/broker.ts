import { mkdir } from 'node:fs/promises';
import { resolve } from 'node:path';
import type { Logger } from 'pino';
import { ClusterMember } from './cluster/cluster-member.js';
import { advertisedEndpoints, bindHost, listenerConfig, type BrokerSettingName, type Settings } from './config.js';
import { formatListenerEndpoint } from './listeners.js';
import { startKafkaServer } from './kafka/server.js';
import { ReplicationDriver, saveEpochCache } from './replication/index.js';
import { systemClock } from './clock.js';
import { ProducerIdManager } from './cluster/producer-ids.js';
import { GroupCoordinatorRuntime, topicsViewOf } from './server/group-runtime.js';
import type { BrokerContext } from './server/context.js';
import { DelayedOperations } from './server/delayed.js';
import { startGrpcServer, type BrokerServer } from './server/grpc-server.js';
import { checkBrokerId, checkClusterId } from './server/meta-properties.js';
import { type HostedPartition, PartitionRegistry, type ReplicaRole } from './server/partitions.js';
import { PeerClients } from './server/peer-clients.js';
import { GrpcReplicationTransport } from './server/replication-transport.js';
import {
  BrokerMarkerWriter,
  TxnCoordinatorRuntime,
  TxnPeerClients,
  txnPartitionVerifier,
  writeMarkerLocally,
} from './server/txn-runtime.js';

export interface RunningBroker {
  readonly brokerId: number;
  /** The port the first listener is bound to (useful when `listeners` asked for port 0). */
  readonly port: number;
  /** Bound port by listener name. */
  readonly ports: ReadonlyMap<string, number>;
  readonly member: ClusterMember;
  readonly partitions: PartitionRegistry;
  /** Graceful stop: deregister, let requests in flight finish, flush and close every log. */
  close(): Promise<void>;
}

/**
 * The composition root: gRPC server, cluster membership (registration, controller election,
 * metadata), the partitions this broker hosts, and the long-poll waiters, wired together.
 * Start-up order: listen on every listener (so advertised ports are known), join the cluster, open
 * the logs of the partitions this broker holds, then answer requests (until then every listener
 * answers UNAVAILABLE).
 */
export async function startBroker(settings: Settings<BrokerSettingName>, logger: Logger): Promise<RunningBroker> {
  const brokerId = settings['broker.id'] as number;
  const log = logger.child({ brokerId });
  const listeners = listenerConfig(settings);
  const logDir = resolve(settings['log.dirs'] as string);
  await mkdir(logDir, { recursive: true });
  // The data directory names the broker and the cluster it belongs to (meta.properties).
  await checkBrokerId(logDir, brokerId);

  // One gRPC server per listener, the same handlers behind each; a request's context names its listener.
  const contexts = new Map<string, BrokerContext>();
  const servers: BrokerServer[] = [];
  const ports = new Map<string, number>();
  const closeServers = (graceMs: number) => Promise.all(servers.map((s) => s.close(graceMs))).then(() => undefined);
  try {
    for (const listener of listeners.listeners) {
      const start = listeners.protocols.get(listener.listener) === 'PLAINTEXT' ? startKafkaServer : startGrpcServer;
      const server = await start({
        listenerName: listener.listener,
        host: bindHost(listener),
        port: listener.port,
        maxRequestBytes: settings['socket.request.max.bytes'] as number,
        logger: log,
        context: () => contexts.get(listener.listener),
      });
      servers.push(server);
      ports.set(listener.listener, server.port);
    }
  } catch (err) {
    await closeServers(0);
    throw err;
  }
  const endpoints = advertisedEndpoints(listeners, ports);
  // host/port of the registration: the inter-broker endpoint (what readers without `endpoints` use).
  const interBroker = endpoints.find((e) => e.listener === listeners.interBrokerListenerName)!;

  let member: ClusterMember;
  try {
    member = await ClusterMember.start({
      brokerId,
      host: interBroker.host,
      port: interBroker.port,
      endpoints,
      ...(settings['broker.rack'] ? { rack: settings['broker.rack'] as string } : {}),
      connectString: settings['zookeeper.connect'] as string,
      sessionTimeoutMs: settings['zookeeper.session.timeout.ms'] as number,
      connectTimeoutMs: settings['zookeeper.connection.timeout.ms'] as number,
      logger, // the member adds brokerId itself
      verifyClusterId: (clusterId) => checkClusterId(logDir, brokerId, clusterId),
      ...(settings['auto.leader.rebalance.enable']
        ? {
            autoLeaderRebalance: {
              intervalMs: (settings['leader.imbalance.check.interval.seconds'] as number) * 1000,
              imbalancePercentage: settings['leader.imbalance.per.broker.percentage'] as number,
            },
          }
        : {}),
    });
  } catch (err) {
    await closeServers(0);
    throw err;
  }

  const waiters = new DelayedOperations();
  const peers = new PeerClients(listeners.interBrokerListenerName);
  const metadata = () => member.metadata.image;
  const replication = new ReplicationDriver<HostedPartition>({
    brokerId,
    replicaLagTimeMaxMs: settings['replica.lag.time.max.ms'] as number,
    exposeUnwrittenAppends: settings['replica.fetch.unwritten.enable'] as boolean,
    clock: systemClock,
    transport: new GrpcReplicationTransport(peers, metadata),
    waiters,
    committedState: (topic, partition) => metadata().topics.get(topic)?.partitions[partition],
    minInsyncReplicas: (hosted) => hosted.settings['min.insync.replicas'] as number,
    saveEpochCache: (hosted) => saveEpochCache(hosted.log.dir, hosted.epochCache),
    logger: log,
  });
  const groups = new GroupCoordinatorRuntime<HostedPartition>({
    settings,
    leader: replication.leaders,
    topics: topicsViewOf(metadata),
    nowMs: () => systemClock.now(),
    logger: log.child({ component: 'groups' }),
  });
  const producerIds = new ProducerIdManager(() => member.allocateProducerIdBlock());
  const txnPeers = new TxnPeerClients(listeners.interBrokerListenerName);
  const knowsPartition = (topic: string, partition: number) =>
    member.metadata.image.topics.get(topic)?.partitions[partition] !== undefined;
  const leaderEndpoint = (topic: string, partition: number) => {
    const leader = metadata().topics.get(topic)?.partitions[partition]?.leader;
    return leader === undefined || leader < 0 ? undefined : metadata().brokers.get(leader);
  };
  const txnLog = log.child({ component: 'transactions' });
  const writeTxnMarker = (marker: Parameters<typeof writeMarkerLocally>[0]) =>
    writeMarkerLocally(
      marker,
      partitions,
      replication.leaders,
      knowsPartition,
      systemClock.now(),
      txnLog,
      groups.orderMarker,
    );
  const txns = new TxnCoordinatorRuntime<HostedPartition>({
    settings,
    leader: replication.leaders,
    topics: topicsViewOf(metadata),
    nowMs: () => systemClock.now(),
    newProducerId: () => producerIds.nextId(),
    markers: new BrokerMarkerWriter(
      { brokerId, leaderOf: leaderEndpoint, writeLocal: writeTxnMarker, peers: txnPeers },
      txnLog,
    ),
    logger: txnLog,
  });
  const partitions = new PartitionRegistry({
    brokerId,
    logDir,
    brokerSettings: settings,
    topicConfigs: (topic) => member.metadata.image.topics.get(topic)?.configs ?? {},
    waiters,
    registrationZxid: () => member.registrationZxid,
    currentRole: (topic, partition) =>
      member
        .currentRoles()
        .find((r): r is ReplicaRole => r.kind !== 'deleted' && r.topic === topic && r.partition === partition),
    reportOffline: (offline) => member.setOfflineReplicas(offline),
    hooks: {
      applyRole: async (hosted, change) => {
        const applied = await replication.applyRole(hosted, change);
        if (applied) {
          groups.onRole(hosted);
          txns.onRole(hosted);
        }
        return applied;
      },
      stepDown: (hosted) => {
        replication.stepDown(hosted);
        groups.onStepDown(hosted);
        txns.onStepDown(hosted);
      },
    },
    logger: log,
  });
  member.on('roles', (changes) => void partitions.applyRoles(changes));
  member.metadata.on('change', () => {
    partitions.applyTopicConfigs();
    replication.onMetadata();
  });
  // Roles announced while joining were emitted before this listener existed: apply the current ones.
  // Applying a role twice is harmless (the second only refreshes it).
  await partitions.applyRoles(member.currentRoles());
  await partitions.removeStrayLogs(
    (topic, partition) =>
      member.metadata.image.topics.get(topic)?.partitions[partition]?.replicas.includes(brokerId) ?? false,
  );
  partitions.startRetention();
  partitions.startOfflineRecovery();
  partitions.startHighWatermarkCheckpoints();
  replication.start();

  let closing: Promise<void> | undefined;
  const close = (): Promise<void> => {
    closing ??= (async () => {
      log.info('shutting down');
      await member.close();
      groups.close();
      txns.close();
      await replication.close();
      waiters.expireAll();
      await closeServers(settings['controlled.shutdown.timeout.ms'] as number);
      await partitions.close();
      peers.close();
      txnPeers.close();
      log.info('stopped');
    })();
    return closing;
  };
  member.on('fatal', (err) => {
    log.fatal({ err }, 'leaving the cluster');
    void close();
  });

  const base = {
    brokerId,
    settings,
    logger: log,
    member,
    partitions,
    waiters,
    replication,
    groups: groups.coordinator,
    producerIds,
    txns: txns.coordinator,
    verifyTxnPartition: txnPartitionVerifier({
      brokerId,
      coordinator: txns.coordinator,
      coordinatorOf: (partition: number) => leaderEndpoint('__transaction_state', partition),
      peers: txnPeers,
      timeoutMs: 5000,
    }),
    writeTxnMarker,
    knowsPartition,
  };
  for (const listener of listeners.listeners)
    contexts.set(listener.listener, { ...base, listenerName: listener.listener });
  log.info(
    {
      listeners: listeners.listeners.map((l) => formatListenerEndpoint({ ...l, port: ports.get(l.listener)! })),
      kafkaListeners: [...listeners.protocols].filter(([, p]) => p === 'PLAINTEXT').map(([name]) => name),
      advertised: endpoints.map(formatListenerEndpoint),
      interBrokerListener: listeners.interBrokerListenerName,
      logDir,
    },
    'broker started',
  );
  return { brokerId, port: servers[0]!.port, ports, member, partitions, close };
}
