import * as grpc from '@grpc/grpc-js';
import { ErrorCodes, errorSpecForCode, loadTxnProto, SamsaError, type v1 } from '@samsa/protocol';
import type { Logger } from 'pino';
import * as tp from '../group/partitions.js';
import type { TopicPartitions } from '../group/partitions.js';
import { type BrokerEndpoint, endpointOn, grpcAddress } from '../listeners.js';
import type { MarkerJob, TxnRequest } from '../txn/core.js';
import { type MarkerWriter, TRANSACTION_STATE_TOPIC, TxnCoordinator } from '../txn/driver.js';
import * as txnRecords from '../txn/records.js';
import { encodeMarker, txnCoreConfigFrom } from '../txn/state-topic.js';
import { type InternalTopicLeader, InternalTopicLog, type InternalTopicPartitionRole } from './internal-topic-log.js';

/** How long a marker write waits for the partition's in-sync replicas before it is retried. */
const MARKER_TIMEOUT_MS = 5000;
/** Marker writes whose backoff has passed are started again this often. */
const MARKER_RETRY_INTERVAL_MS = 100;

export type TxnClient = grpc.Client & {
  [K in 'AddPartitionsToTxn' | 'WriteTxnMarkers']: (
    req: K extends 'AddPartitionsToTxn' ? v1.AddPartitionsToTxnRequest : v1.WriteTxnMarkersRequest,
    opts: grpc.CallOptions,
    cb: (
      err: grpc.ServiceError | null,
      res?: K extends 'AddPartitionsToTxn' ? v1.AddPartitionsToTxnResponse__Output : v1.WriteTxnMarkersResponse__Output,
    ) => void,
  ) => grpc.ClientUnaryCall;
};

/** Broker-to-broker TransactionCoordinator clients (markers, partition verification), one per peer. */
export class TxnPeerClients {
  private readonly clients = new Map<string, TxnClient>();

  constructor(private readonly interBrokerListenerName: string) {}

  forBroker(broker: BrokerEndpoint): TxnClient {
    const endpoint = endpointOn(broker, this.interBrokerListenerName);
    if (!endpoint)
      throw new SamsaError(ErrorCodes.BROKER_NOT_AVAILABLE, `broker ${broker.id} has no inter-broker listener`);
    const address = grpcAddress(endpoint);
    let client = this.clients.get(address);
    if (!client) {
      const Txn = loadTxnProto().TransactionCoordinator;
      client = new Txn(address, grpc.credentials.createInsecure(), {
        'grpc.initial_reconnect_backoff_ms': 100,
        'grpc.max_reconnect_backoff_ms': 1000,
      }) as unknown as TxnClient;
      this.clients.set(address, client);
    }
    return client;
  }

  close(): void {
    for (const client of this.clients.values()) client.close();
    this.clients.clear();
  }
}

export function call<Req, Res>(
  client: TxnClient,
  method: 'AddPartitionsToTxn' | 'WriteTxnMarkers',
  request: Req,
  timeoutMs: number,
): Promise<Res> {
  return new Promise((resolve, reject) => {
    const fn = client[method] as unknown as (
      req: Req,
      opts: grpc.CallOptions,
      cb: (err: grpc.ServiceError | null, res?: Res) => void,
    ) => void;
    fn.call(client, request, { deadline: Date.now() + timeoutMs }, (err, res) => {
      if (err || !res) reject(new SamsaError(ErrorCodes.REQUEST_TIMED_OUT, err?.message ?? 'no response'));
      else resolve(res);
    });
  });
}

/** What marker writing needs of the broker: who leads each partition, and this broker's own write. */
export interface MarkerRouting {
  readonly brokerId: number;
  leaderOf(topic: string, partition: number): BrokerEndpoint | undefined;
  /** Writes `marker` to the partitions this broker leads; the errors by partition (empty: all written). */
  writeLocal(marker: v1.WritableTxnMarker__Output): Promise<v1.TxnMarkerPartitionResult__Output[]>;
  readonly peers: TxnPeerClients;
}

export function txnTopics(partitions: TopicPartitions): v1.TxnTopic__Output[] {
  return Object.entries(partitions).map(([name, ps]) => ({ name, partitions: [...ps] }));
}

export function fromTxnTopics(topics: readonly { name: string; partitions: readonly number[] }[]): TopicPartitions {
  return tp.fromKeys(topics.flatMap((t) => t.partitions.map((p) => tp.tpKey(t.name, p))));
}

/** Sends a job's markers to the partitions' leaders (this broker's own directly); answers what is left. */
export class BrokerMarkerWriter implements MarkerWriter {
  constructor(
    private readonly routing: MarkerRouting,
    private readonly logger: Logger,
  ) {}

  async write(job: MarkerJob, coordinatorEpoch: number): Promise<TopicPartitions> {
    const byLeader = new Map<number, { broker: BrokerEndpoint | undefined; keys: string[] }>();
    const remaining: string[] = [];
    for (const key of tp.toKeys(job.partitions)) {
      const { topic, partition } = tp.fromKey(key);
      const leader = this.routing.leaderOf(topic, partition);
      if (leader === undefined) {
        remaining.push(key);
        continue;
      }
      const group = byLeader.get(leader.id) ?? { broker: leader, keys: [] };
      group.keys.push(key);
      byLeader.set(leader.id, group);
    }
    await Promise.all(
      [...byLeader].map(async ([brokerId, { broker, keys }]) => {
        const marker: v1.WritableTxnMarker__Output = {
          producerId: job.producerId,
          producerEpoch: job.producerEpoch,
          committed: job.commit,
          coordinatorEpoch,
          topics: txnTopics(tp.fromKeys(keys)),
          sameEpoch: job.sameEpoch,
          txnStartMs: job.txnStartMs,
        };
        try {
          const results =
            brokerId === this.routing.brokerId
              ? await this.routing.writeLocal(marker)
              : ((
                  await call<v1.WriteTxnMarkersRequest, v1.WriteTxnMarkersResponse__Output>(
                    this.routing.peers.forBroker(broker!),
                    'WriteTxnMarkers',
                    { markers: [marker] },
                    MARKER_TIMEOUT_MS + 1000,
                  )
                ).markers[0]?.partitions ?? []);
          const failed = results.filter((r) => r.errorCode !== 0);
          for (const r of failed) remaining.push(tp.tpKey(r.topic, r.partition));
          if (failed.length > 0) {
            this.logger.warn({ transactionalId: job.transactionalId, failed }, 'transaction markers refused');
          }
        } catch (err) {
          remaining.push(...keys);
          this.logger.warn({ err, brokerId, transactionalId: job.transactionalId }, 'transaction markers not written');
        }
      }),
    );
    return tp.fromKeys(remaining);
  }
}

/** A hosted partition as marker writing needs it: the log's marker append and the leader's acks=all wait. */
export interface MarkerReplica {
  readonly leaderEpoch: number;
  /** Checked again right before the append: a queue or wait before it may end with this broker a follower. */
  readonly role?: 'leader' | 'follower';
  readonly log: {
    readonly logEndOffset: number;
    appendMarker(
      batch: Buffer,
      options: { leaderEpoch: number; coordinatorEpoch: number; sameEpoch: boolean; txnStartMs: number },
    ): Promise<{ lastOffset: number }>;
  };
}

/**
 * Puts a marker's append in order with a coordinator's own writes of the partition: the group
 * coordinator's, for a __consumer_offsets partition (its pending transactional offsets end with the
 * marker). Resolves with the log end offset after the marker.
 */
export type OrderedMarkerAppend = (
  topic: string,
  partition: number,
  marker: v1.WritableTxnMarker__Output,
  append: () => Promise<number>,
) => Promise<number>;

/** Writes one marker on a partition this broker leads, acks=all. A retry of a written marker writes nothing. */
export async function writeMarkerOn<R extends MarkerReplica>(
  replica: R,
  leader: InternalTopicLeader<R>,
  marker: v1.WritableTxnMarker__Output,
  nowMs: number,
  signal: AbortSignal,
  ordered?: (append: () => Promise<number>) => Promise<number>,
): Promise<void> {
  leader.checkEnoughReplicas(replica);
  const batch = encodeMarker({
    producerId: marker.producerId,
    producerEpoch: marker.producerEpoch,
    commit: marker.committed,
    coordinatorEpoch: marker.coordinatorEpoch,
    nowMs,
  });
  const append = async (): Promise<number> => {
    // Checked above but queued since: a new epoch may be starting now (see InternalTopicLog.append).
    for (let s = leader.epochStarting?.(replica); s; s = leader.epochStarting?.(replica)) await s;
    // The wait (or the queue) may end with this broker a follower: its log must not take a batch
    // stamped with the new leader's epoch at an offset that leader never wrote (no fetch truncates it).
    if (replica.role === 'follower') {
      throw new SamsaError(ErrorCodes.NOT_LEADER_OR_FOLLOWER, `no longer the leader (epoch ${replica.leaderEpoch})`);
    }
    const appended = await replica.log.appendMarker(batch, {
      leaderEpoch: replica.leaderEpoch,
      coordinatorEpoch: marker.coordinatorEpoch,
      sameEpoch: marker.sameEpoch,
      txnStartMs: Number(marker.txnStartMs),
    });
    leader.onLeaderAppend(replica);
    return appended.lastOffset >= 0 ? appended.lastOffset + 1 : replica.log.logEndOffset;
  };
  const end = await (ordered ? ordered(append) : append());
  await leader.waitForIsr(replica, end, MARKER_TIMEOUT_MS, signal);
}

/**
 * The transaction coordinator as the broker runs it: one TxnCoordinator, told when this broker starts
 * or stops leading a __transaction_state partition, with its timers (timeouts; marker retries).
 */
export class TxnCoordinatorRuntime<R extends InternalTopicPartitionRole> {
  readonly coordinator: TxnCoordinator;
  private readonly timers: NodeJS.Timeout[];

  constructor(
    private readonly options: {
      readonly settings: Readonly<Record<string, unknown>>;
      readonly leader: InternalTopicLeader<R>;
      readonly topics: () => ReadonlyMap<string, number>;
      readonly nowMs: () => number;
      readonly newProducerId: () => Promise<number>;
      readonly markers: MarkerWriter;
      readonly logger: Logger;
    },
  ) {
    const settings = options.settings;
    this.coordinator = new TxnCoordinator({
      config: txnCoreConfigFrom(settings),
      numPartitions: () =>
        options.topics().get(TRANSACTION_STATE_TOPIC) ?? (settings['transaction.state.log.num.partitions'] as number),
      offsetsPartitions: () =>
        options.topics().get('__consumer_offsets') ?? (settings['offsets.topic.num.partitions'] as number),
      nowMs: options.nowMs,
      newProducerId: options.newProducerId,
      markers: options.markers,
      wait: (ms) => new Promise((resolve) => setTimeout(resolve, ms).unref()),
      logger: options.logger,
    });
    const cleanupMs = settings['transaction.abort.timed.out.transaction.cleanup.interval.ms'] as number;
    this.timers = [
      setInterval(() => this.coordinator.tick(), cleanupMs),
      setInterval(() => this.coordinator.retryMarkers(), MARKER_RETRY_INTERVAL_MS),
    ];
    for (const timer of this.timers) timer.unref();
  }

  onRole(replica: R): void {
    if (replica.topic !== TRANSACTION_STATE_TOPIC) return;
    if (replica.role !== 'leader') {
      this.coordinator.resign(replica.partition);
      return;
    }
    const log = new InternalTopicLog(
      replica,
      this.options.leader,
      txnRecords,
      this.options.settings['offsets.commit.timeout.ms'] as number,
      this.options.nowMs,
      this.options.logger,
    );
    this.coordinator.becomeLeader(replica.partition, log, replica.leaderEpoch).catch((err: unknown) => {
      this.options.logger.error({ err, partition: replica.partition }, 'loading transactions failed');
      this.coordinator.resign(replica.partition);
    });
  }

  onStepDown(replica: R): void {
    if (replica.topic === TRANSACTION_STATE_TOPIC) this.coordinator.resign(replica.partition);
  }

  close(): void {
    for (const timer of this.timers) clearInterval(timer);
    this.coordinator.resignAll();
  }
}

/** The request fields every transactional RPC carries. */
export function txnRequestOf(request: {
  transactionalId: string;
  producerId: number;
  producerEpoch: number;
}): TxnRequest {
  return {
    transactionalId: request.transactionalId,
    producerId: request.producerId,
    producerEpoch: request.producerEpoch,
  };
}

/** A partition registry as marker writing sees it. */
export interface LeaderLookup<R> {
  leaderOf(topic: string, partition: number, knownPartition: boolean): R;
}

/**
 * Writes a marker on each of its partitions this broker leads (WriteTxnMarkers, and the coordinator's
 * own partitions without a network hop), in parallel; the error of each partition (0 when written).
 */
export async function writeMarkerLocally<R extends MarkerReplica>(
  marker: v1.WritableTxnMarker__Output,
  partitions: LeaderLookup<R>,
  leader: InternalTopicLeader<R>,
  knowsPartition: (topic: string, partition: number) => boolean,
  nowMs: number,
  logger: Logger,
  ordered?: OrderedMarkerAppend,
): Promise<v1.TxnMarkerPartitionResult__Output[]> {
  const never = new AbortController().signal;
  const jobs = marker.topics.flatMap((topic) =>
    topic.partitions.map(async (partition) => {
      try {
        const replica = partitions.leaderOf(topic.name, partition, knowsPartition(topic.name, partition));
        const inOrder = ordered && ((append: () => Promise<number>) => ordered(topic.name, partition, marker, append));
        await writeMarkerOn(replica, leader, marker, nowMs, never, inOrder);
        return { topic: topic.name, partition, errorCode: 0, errorMessage: '' };
      } catch (err) {
        if (!(err instanceof SamsaError))
          logger.error({ err, topic: topic.name, partition }, 'writing a marker failed');
        const spec = err instanceof SamsaError ? err : new SamsaError(ErrorCodes.UNKNOWN_SERVER_ERROR, String(err));
        return { topic: topic.name, partition, errorCode: spec.code, errorMessage: spec.detail };
      }
    }),
  );
  return Promise.all(jobs);
}

/**
 * KIP-890 for the produce path: the coordinator of the id (here, or a peer) verifies that the partition
 * is in the producer's open transaction (part 1), or with `add` adds it (part 2). Resolves with the
 * transaction's start time.
 */
export function txnPartitionVerifier(options: {
  readonly brokerId: number;
  readonly coordinator: TxnCoordinator;
  readonly coordinatorOf: (partition: number) => BrokerEndpoint | undefined;
  readonly peers: TxnPeerClients;
  readonly timeoutMs: number;
}): (request: TxnRequest, topic: string, partition: number, add?: boolean) => Promise<number> {
  const verify = async (request: TxnRequest, topic: string, partition: number, add: boolean): Promise<number> => {
    const broker = options.coordinatorOf(options.coordinator.partitionFor(request.transactionalId));
    if (broker === undefined) {
      throw new SamsaError(ErrorCodes.COORDINATOR_NOT_AVAILABLE, `no coordinator for ${request.transactionalId}`);
    }
    if (broker.id === options.brokerId) {
      return add
        ? options.coordinator.addPartitions(request, tp.fromKeys([tp.tpKey(topic, partition)]), true)
        : options.coordinator.verifyPartition(request, topic, partition);
    }
    const response = await call<v1.AddPartitionsToTxnRequest, v1.AddPartitionsToTxnResponse__Output>(
      options.peers.forBroker(broker),
      'AddPartitionsToTxn',
      { ...request, topics: [{ name: topic, partitions: [partition] }], verifyOnly: !add, forProduce: add },
      options.timeoutMs,
    );
    if (response.errorCode !== 0) {
      throw new SamsaError(errorSpecForCode(response.errorCode), response.errorMessage);
    }
    return Number(response.txnStartMs);
  };
  // A coordinator that cannot answer now (moving, loading, unreachable) is a produce error the producer
  // retries: NotEnoughReplicas, as Kafka answers producers that do not know the coordinator's errors.
  return async (request, topic, partition, add = false) => {
    try {
      return await verify(request, topic, partition, add);
    } catch (err) {
      if (err instanceof SamsaError && err.retriable) {
        throw new SamsaError(ErrorCodes.NOT_ENOUGH_REPLICAS, `transaction not verified yet: ${err.detail}`, {
          cause: err,
        });
      }
      throw err;
    }
  };
}
