import { mkdir } from 'node:fs/promises';
import { resolve } from 'node:path';
import type { Logger } from 'pino';
import { ClusterMember } from './cluster/cluster-member.js';
import { parseHostPort, type BrokerSettingName, type Settings } from './config.js';
import type { BrokerContext } from './server/context.js';
import { DelayedOperations } from './server/delayed.js';
import { ReplicaFetchers } from './server/fetcher.js';
import { startGrpcServer } from './server/grpc-server.js';
import { PartitionRegistry } from './server/partitions.js';
import { Leadership, PeerClients } from './server/replication.js';

export interface RunningBroker {
  readonly brokerId: number;
  /** The port the gRPC server listens on (useful when `listeners` asked for port 0). */
  readonly port: number;
  readonly member: ClusterMember;
  readonly partitions: PartitionRegistry;
  /** Graceful stop: deregister, let requests in flight finish, flush and close every log. */
  close(): Promise<void>;
}

/**
 * The composition root: gRPC server, cluster membership (registration, controller election,
 * metadata), the partitions this broker hosts, and the long-poll waiters, wired together.
 * Start-up order: listen (so the advertised port is known), join the cluster, open the logs of the
 * partitions this broker holds, then answer requests.
 */
export async function startBroker(settings: Settings<BrokerSettingName>, logger: Logger): Promise<RunningBroker> {
  const brokerId = settings['broker.id'] as number;
  const log = logger.child({ brokerId });
  const listen = parseHostPort(settings['listeners'] as string, 'listeners');
  const logDir = resolve(settings['log.dirs'] as string);
  await mkdir(logDir, { recursive: true });

  let context: BrokerContext | undefined;
  const server = await startGrpcServer({
    host: listen.host,
    port: listen.port,
    maxRequestBytes: settings['socket.request.max.bytes'] as number,
    logger: log,
    context: () => context,
  });
  const advertised = settings['advertised.listeners']
    ? parseHostPort(settings['advertised.listeners'] as string, 'advertised.listeners')
    : { host: listen.host === '0.0.0.0' || listen.host === '::' ? '127.0.0.1' : listen.host, port: server.port };

  let member: ClusterMember;
  try {
    member = await ClusterMember.start({
      brokerId,
      host: advertised.host,
      port: advertised.port,
      ...(settings['broker.rack'] ? { rack: settings['broker.rack'] as string } : {}),
      connectString: settings['zookeeper.connect'] as string,
      sessionTimeoutMs: settings['zookeeper.session.timeout.ms'] as number,
      connectTimeoutMs: settings['zookeeper.connection.timeout.ms'] as number,
      logger, // the member adds brokerId itself
    });
  } catch (err) {
    await server.close(0);
    throw err;
  }

  const waiters = new DelayedOperations();
  const peers = new PeerClients();
  const metadata = () => member.metadata.image;
  const leadership = new Leadership({
    brokerId,
    replicaLagTimeMaxMs: settings['replica.lag.time.max.ms'] as number,
    waiters,
    peers,
    metadata,
    logger: log,
  });
  const fetchers = new ReplicaFetchers({ brokerId, peers, metadata, logger: log });
  const partitions = new PartitionRegistry({
    brokerId,
    logDir,
    brokerSettings: settings,
    topicConfigs: (topic) => member.metadata.image.topics.get(topic)?.configs ?? {},
    waiters,
    hooks: {
      becomeLeader: (hosted, change) => leadership.becomeLeader(hosted, change),
      becomeFollower: (hosted) => fetchers.follow(hosted),
      stepDown: (hosted) => {
        leadership.resign(hosted);
        fetchers.unfollow(hosted);
      },
    },
    logger: log,
  });
  member.on('roles', (changes) => void partitions.applyRoles(changes));
  member.metadata.on('change', () => leadership.onMetadata());
  // Roles announced while joining were emitted before this listener existed: apply the current ones.
  // Applying a role twice is harmless (the second only refreshes it).
  await partitions.applyRoles(member.currentRoles());
  await partitions.removeStrayLogs((topic, partition) => member.metadata.image.topics.get(topic)?.partitions[partition]?.replicas.includes(brokerId) ?? false);
  partitions.startRetention();
  leadership.start();

  let closing: Promise<void> | undefined;
  const close = (): Promise<void> => {
    closing ??= (async () => {
      log.info('shutting down');
      await member.close();
      leadership.stop();
      await fetchers.close();
      waiters.expireAll();
      await server.close(settings['controlled.shutdown.timeout.ms'] as number);
      await partitions.close();
      peers.close();
      log.info('stopped');
    })();
    return closing;
  };
  member.on('fatal', (err) => {
    log.fatal({ err }, 'leaving the cluster');
    void close();
  });

  context = {
    brokerId,
    settings,
    logger: log,
    member,
    partitions,
    waiters,
    leadership,
    knowsPartition: (topic, partition) => member.metadata.image.topics.get(topic)?.partitions[partition] !== undefined,
  };
  log.info({ listen: `${listen.host}:${server.port}`, advertised: `${advertised.host}:${advertised.port}`, logDir }, 'broker started');
  return { brokerId, port: server.port, member, partitions, close };
}
