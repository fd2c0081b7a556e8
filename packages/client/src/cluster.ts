import { ErrorCodes, errorSpecForCode, type v1 } from '@samsa/protocol';
import {
  ConnectionError,
  type SamsaClientError,
  connectionReason,
  errorFromCode,
  isConnectionFailure,
} from './errors.js';
import type { Logger } from './logger.js';
import { withRetries, type RetryOptions } from './retry.js';
import type { BrokerConnection, BrokerRpcs, CallOptions, ConnectionPool, RpcName } from './transport.js';

export interface BrokerNode {
  readonly id: number;
  readonly host: string;
  readonly port: number;
  readonly rack: string;
  /** host:port, the key of the broker's connection. */
  readonly address: string;
}

export interface PartitionInfo {
  readonly partition: number;
  /** Error code the broker reported for this partition (0: none). LeaderNotAvailable during elections. */
  readonly errorCode: number;
  /** Broker id, -1 while the partition has no leader. */
  readonly leader: number;
  readonly leaderEpoch: number;
  readonly replicas: readonly number[];
  readonly isr: readonly number[];
  readonly offlineReplicas: readonly number[];
}

export interface TopicInfo {
  readonly name: string;
  readonly errorCode: number;
  readonly errorMessage: string;
  /** Indexed by partition number. */
  readonly partitions: readonly PartitionInfo[];
  readonly configs: Readonly<Record<string, string>>;
}

export interface ClusterOptions {
  brokers: readonly string[];
  pool: ConnectionPool;
  requestTimeoutMs: number;
  /** Kafka's default.api.timeout.ms: the bound on metadata lookups and admin operations. */
  defaultApiTimeoutMs: number;
  metadataMaxAgeMs: number;
  /** Ask brokers to create missing topics with their defaults (Kafka's allow.auto.create.topics). */
  allowAutoTopicCreation: boolean;
  retry: RetryOptions;
  logger: Logger;
}

/** How long a broker that failed or timed out is tried last by requests any broker can answer. */
const SUSPECT_WINDOW_MS = 30_000;
/** A broker holding a request unanswered this long is tried after the others (a paused one would hold this one too). */
const STALLED_REQUEST_MS = 1000;

export function brokerAddress(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

/** A broker as metadata or a leader hint's endpoints describe it. */
function brokerNode(b: { id: number; host: string; port: number; rack: string }): BrokerNode {
  return { id: b.id, host: b.host, port: b.port, rack: b.rack, address: brokerAddress(b.host, b.port) };
}

/**
 * The client's view of the cluster: brokers, controller and topic metadata, refreshed on demand, after
 * errors that suggest leadership moved, and once older than metadataMaxAgeMs. Every producer, consumer
 * and admin of a Samsa client shares one.
 */
export class Cluster {
  readonly options: ClusterOptions;
  clusterId = '';
  controllerId = -1;
  readonly brokers = new Map<number, BrokerNode>();
  readonly topics = new Map<string, TopicInfo>();
  /** The last error the brokers gave for a topic they returned no partitions for (InvalidTopic, ...). */
  private readonly topicErrors = new Map<string, { code: number; message: string }>();
  /** Date.now() of the last successful refresh; 0 before the first one. */
  lastRefreshMs = 0;
  private readonly interest = new Map<string, number>();
  private refreshing: Promise<void> | undefined;
  /** Called after every metadata answer is applied (producers retry at a new leader at once). */
  private readonly listeners = new Set<() => void>();
  private refreshAgain = false;
  private refreshAll = false;

  constructor(options: ClusterOptions) {
    this.options = options;
  }

  /** Topics whose metadata is kept fresh (reference counted: producers and consumers add and remove). */
  addInterest(topic: string): void {
    this.interest.set(topic, (this.interest.get(topic) ?? 0) + 1);
  }

  removeInterest(topic: string): void {
    const count = (this.interest.get(topic) ?? 0) - 1;
    if (count > 0) this.interest.set(topic, count);
    else this.interest.delete(topic);
  }

  connection(brokerId: number): BrokerConnection | undefined {
    const broker = this.brokers.get(brokerId);
    return broker && !this.options.pool.isClosed ? this.options.pool.get(broker.address) : undefined;
  }

  /** The current leader's id, or -1; also starts a background refresh when metadata is older than its max age. */
  leaderOf(topic: string, partition: number): number {
    return this.partitionOf(topic, partition)?.leader ?? -1;
  }

  /** A partition's metadata, if known; also starts a background refresh when it is older than its max age. */
  partitionOf(topic: string, partition: number): PartitionInfo | undefined {
    this.refreshIfStale();
    return this.topics.get(topic)?.partitions[partition];
  }

  /** Calls `listener` after each metadata update is applied; the returned function unsubscribes. */
  onUpdate(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  refreshIfStale(): void {
    if (Date.now() - this.lastRefreshMs > this.options.metadataMaxAgeMs) this.requestRefresh();
  }

  /** A refresh in the background; failures are logged, the next user of metadata retries. */
  requestRefresh(): void {
    this.refresh().catch((err: unknown) => this.options.logger.warn({ err }, 'metadata refresh failed'));
  }

  /**
   * Refreshes metadata of the topics of interest (every topic when `all`, or when nothing is of
   * interest). Concurrent callers share one request; a call made while one is running gets a new one
   * afterwards, so it always sees metadata fetched after it was called.
   */
  refresh(extraTopics: readonly string[] = [], all = false): Promise<void> {
    for (const topic of extraTopics) if (!this.interest.has(topic)) this.interest.set(topic, 0);
    this.refreshAll ||= all;
    if (this.refreshing) {
      // The running refresh loops once more, so this caller sees metadata requested after its call.
      this.refreshAgain = true;
      return this.refreshing;
    }
    const run = async () => {
      try {
        do {
          this.refreshAgain = false;
          const everything = this.refreshAll;
          this.refreshAll = false;
          await this.fetchMetadata(everything);
        } while (this.refreshAgain);
      } finally {
        this.refreshing = undefined;
      }
    };
    this.refreshing = run();
    return this.refreshing;
  }

  private async fetchMetadata(all: boolean): Promise<void> {
    const topics = all ? [] : [...this.interest.keys()];
    // The broker creates a missing topic only if its auto.create.topics.enable allows it too.
    const response = await this.callAny('Metadata', {
      topics,
      allowAutoTopicCreation: this.options.allowAutoTopicCreation,
    });
    this.apply(response, topics.length === 0);
    // One-off lookups (count 0) are forgotten once answered; ones added meanwhile wait for the next round.
    for (const topic of topics) if (this.interest.get(topic) === 0) this.interest.delete(topic);
  }

  /** One Metadata request for `name` that never asks the brokers to create it (admin lookups, as Kafka's). */
  private async lookUpWithoutCreating(name: string, signal: AbortSignal | undefined): Promise<void> {
    const response = await this.callAny('Metadata', { topics: [name], allowAutoTopicCreation: false }, { signal });
    this.apply(response, false);
  }

  private apply(response: v1.MetadataResponse__Output, complete: boolean): void {
    this.clusterId = response.clusterId;
    this.controllerId = response.controllerId;
    this.brokers.clear();
    for (const b of response.brokers) this.brokers.set(b.id, brokerNode(b));
    const previous = complete ? new Map(this.topics) : this.topics;
    if (complete) this.topics.clear();
    for (const t of response.topics) {
      if (t.errorCode !== 0 && t.partitions.length === 0) {
        this.topics.delete(t.name);
        this.topicErrors.set(t.name, { code: t.errorCode, message: t.errorMessage });
        continue;
      }
      this.topicErrors.delete(t.name);
      const partitions: PartitionInfo[] = [];
      const known = previous.get(t.name)?.partitions;
      for (const p of t.partitions) {
        const before = known?.[p.partition];
        if (before !== undefined && before.leader !== p.leader)
          this.options.logger.debug(
            {
              topic: t.name,
              partition: p.partition,
              from: before.leader,
              leader: p.leader,
              leaderEpoch: p.leaderEpoch,
            },
            'partition leader changed',
          );
        partitions[p.partition] = {
          partition: p.partition,
          errorCode: p.errorCode,
          leader: p.leader,
          leaderEpoch: p.leaderEpoch,
          replicas: p.replicas,
          isr: p.isr,
          offlineReplicas: p.offlineReplicas,
        };
      }
      this.topics.set(t.name, {
        name: t.name,
        errorCode: t.errorCode,
        errorMessage: t.errorMessage,
        partitions,
        configs: t.configs,
      });
    }
    this.lastRefreshMs = Date.now();
    for (const listener of this.listeners) listener();
  }

  /**
   * KIP-951: a broker that refused a partition (not the leader) named the leader it knows of, and that
   * broker's address. Taken, without a metadata request, when its epoch is newer than the one known;
   * returns whether it was.
   */
  applyLeaderHint(
    topic: string,
    partition: number,
    hint: { readonly leaderId: number; readonly leaderEpoch: number },
    endpoints: readonly v1.BrokerInfo__Output[],
  ): boolean {
    const info = this.topics.get(topic);
    const known = info?.partitions[partition];
    if (info === undefined || known === undefined || hint.leaderId < 0 || hint.leaderEpoch <= known.leaderEpoch)
      return false;
    if (!this.brokers.has(hint.leaderId)) {
      const b = endpoints.find((e) => e.id === hint.leaderId);
      if (b === undefined) return false;
      this.brokers.set(b.id, brokerNode(b));
    }
    const partitions = [...info.partitions];
    partitions[partition] = { ...known, leader: hint.leaderId, leaderEpoch: hint.leaderEpoch };
    this.topics.set(topic, { ...info, partitions });
    this.options.logger.debug(
      { topic, partition, from: known.leader, leader: hint.leaderId, leaderEpoch: hint.leaderEpoch, hinted: true },
      'partition leader changed',
    );
    for (const listener of this.listeners) listener();
    return true;
  }

  /**
   * Metadata of one topic, fetching it when unknown. A topic the brokers do not know is retried
   * (it may be being created) until the deadline, then UnknownTopicOrPartition; an error that is not
   * retriable (InvalidTopic) fails at once.
   */
  async topic(
    name: string,
    deadline = Date.now() + this.options.defaultApiTimeoutMs,
    signal?: AbortSignal,
    autoCreate = true,
  ): Promise<TopicInfo> {
    this.refreshIfStale();
    const cached = this.topics.get(name);
    if (cached && cached.partitions.length > 0) return cached;
    return withRetries(
      async () => {
        if (autoCreate) await this.refresh([name]);
        else await this.lookUpWithoutCreating(name, signal);
        const info = this.topics.get(name);
        if (info && info.partitions.length > 0) return info;
        // A final answer (InvalidTopic, say) ends the wait; a retriable one (being created) does not.
        const failed = this.topicErrors.get(name);
        if (failed && !errorSpecForCode(failed.code).retriable)
          throw errorFromCode(failed.code, failed.message || undefined, { topic: name });
        throw errorFromCode(ErrorCodes.UNKNOWN_TOPIC_OR_PARTITION.code, `topic ${name} does not exist`, {
          topic: name,
        });
      },
      { retry: { ...this.options.retry, retries: Number.MAX_SAFE_INTEGER }, deadline, signal },
    );
  }

  /**
   * Sends a request to any reachable broker: known brokers first, then the bootstrap list. A broker that
   * cannot be reached is skipped; when none can be, the call is retried with backoff and finally fails
   * with a one-line ConnectionError naming the addresses and the reason.
   */
  async callAny<M extends RpcName>(
    method: M,
    request: BrokerRpcs[M][0],
    options: Partial<CallOptions> = {},
  ): Promise<BrokerRpcs[M][1]> {
    const deadline = Date.now() + this.options.defaultApiTimeoutMs;
    try {
      return await withRetries(() => this.callAnyOnce(method, request, options), {
        retry: this.options.retry,
        deadline,
        signal: options.signal,
      });
    } catch (err) {
      // Retried already: final for whoever called.
      if (err instanceof ConnectionError && err.retriable) throw new ConnectionError(err.message, { cause: err.cause });
      throw err;
    }
  }

  private async callAnyOnce<M extends RpcName>(
    method: M,
    request: BrokerRpcs[M][0],
    options: Partial<CallOptions>,
  ): Promise<BrokerRpcs[M][1]> {
    // Brokers that just failed or timed out go last, and before them those holding a request unanswered
    // for a while (paused?) (Kafka's least-loaded-node choice avoids both too).
    const healthyFirst = (address: string) => {
      const connection = this.options.pool.get(address);
      if (connection.recentlyFailed(SUSPECT_WINDOW_MS)) return 2;
      return connection.hasStalledRequest(STALLED_REQUEST_MS) ? 1 : 0;
    };
    const addresses = [...new Set([...[...this.brokers.values()].map((b) => b.address), ...this.options.brokers])].sort(
      (a, b) => healthyFirst(a) - healthyFirst(b),
    );
    const timeoutMs = options.timeoutMs ?? this.options.requestTimeoutMs;
    if (method === 'Metadata' && addresses.length > 1)
      return this.hedgedCall(method, request, addresses, timeoutMs, options.signal);
    let lastError: unknown;
    let timeouts = 0;
    for (const address of addresses) {
      try {
        return await this.options.pool.get(address).call(method, request, { timeoutMs, signal: options.signal });
      } catch (err) {
        if (!isConnectionFailure(err)) throw err;
        this.options.logger.debug({ address, err }, 'broker unreachable');
        lastError = err;
        if ((err as SamsaClientError).code === ErrorCodes.REQUEST_TIMED_OUT.code) timeouts++;
      }
    }
    throw this.noBrokerAnswered(addresses, lastError, timeouts);
  }

  private noBrokerAnswered(addresses: readonly string[], lastError: unknown, timeouts: number): unknown {
    // Every broker was slow rather than unreachable: the timeout says more than "cannot reach".
    if (timeouts === addresses.length) return lastError;
    const tried = this.brokers.size > 0 ? addresses : this.options.brokers;
    return new ConnectionError(`cannot reach any broker at ${tried.join(', ')} (${connectionReason(lastError)})`, {
      cause: lastError,
      retriable: true,
    });
  }

  /**
   * A request any broker answers the same (Metadata), sent to the first address and, each time
   * STALLED_REQUEST_MS pass without an answer or a broker cannot be reached, to the next one as well: the
   * first answer wins and the others are cancelled. A paused or cut-off broker that nothing has marked
   * yet would otherwise hold the client's metadata (and every refresh queued behind it) for the whole
   * request timeout, just when a failover needs fresh metadata.
   */
  private hedgedCall<M extends RpcName>(
    method: M,
    request: BrokerRpcs[M][0],
    addresses: readonly string[],
    timeoutMs: number,
    outer: AbortSignal | undefined,
  ): Promise<BrokerRpcs[M][1]> {
    return new Promise((resolve, reject) => {
      const losers = new AbortController();
      const signal = outer === undefined ? losers.signal : AbortSignal.any([losers.signal, outer]);
      let next = 0;
      let running = 0;
      let settled = false;
      let timeouts = 0;
      let lastError: unknown;
      let timer: NodeJS.Timeout | undefined;
      /** The brokers asked and not answered yet, with when each was asked (performance.now()). */
      const asked = new Map<BrokerConnection, number>();
      const finish = (settle: () => void) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        losers.abort();
        settle();
      };
      // Another broker answered: those silent for STALLED_REQUEST_MS count as timed out (recentlyFailed), as
      // they would have had the request waited for them. Their calls are cancelled, which marks nothing, so a
      // paused broker would otherwise look healthy and be asked first by the next request any broker answers
      // (a producer's InitProducerId, which waits out its whole request timeout there).
      const answered = (response: BrokerRpcs[M][1]) => {
        if (settled) return;
        const before = performance.now() - STALLED_REQUEST_MS;
        for (const [connection, askedAtMs] of asked) if (askedAtMs <= before) connection.noteSilent();
        finish(() => resolve(response));
      };
      const launch = (): void => {
        clearTimeout(timer);
        if (settled) return;
        const address = addresses[next++];
        if (address === undefined) {
          if (running === 0) finish(() => reject(this.noBrokerAnswered(addresses, lastError, timeouts)));
          return;
        }
        let call: Promise<BrokerRpcs[M][1]>;
        let connection: BrokerConnection;
        try {
          connection = this.options.pool.get(address);
          call = connection.call(method, request, { timeoutMs, signal });
        } catch (err) {
          // The client closed meanwhile (launched by the timer or a failure): fail the request, never throw
          // from a timer or a promise's handler (it would end the process, and the request would never settle).
          finish(() => reject(err));
          return;
        }
        running++;
        asked.set(connection, performance.now());
        call.then(
          (response) => {
            asked.delete(connection);
            answered(response);
          },
          (err: unknown) => {
            running--;
            asked.delete(connection);
            if (settled) return;
            if (!isConnectionFailure(err)) return finish(() => reject(err));
            this.options.logger.debug({ address, err }, 'broker unreachable');
            lastError = err;
            if ((err as SamsaClientError).code === ErrorCodes.REQUEST_TIMED_OUT.code) timeouts++;
            launch();
          },
        );
        if (next < addresses.length) timer = setTimeout(launch, STALLED_REQUEST_MS);
      };
      launch();
    });
  }
}
