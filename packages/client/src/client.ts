import { Admin } from './admin.js';
import { Cluster } from './cluster.js';
import { Consumer, type ConsumerOptions } from './consumer.js';
import { ClosedError, SamsaClientError } from './errors.js';
import { ErrorCodes } from '@samsa/protocol';
import { silentLogger, type Logger } from './logger.js';
import { Producer, type ProducerOptions } from './producer.js';
import { DEFAULT_RETRY, type RetryOptions } from './retry.js';
import { TransactionalProducer, type TransactionalProducerOptions } from './transaction.js';
import { ConnectionPool } from './transport.js';

export interface SamsaOptions {
  /** Bootstrap brokers, "host:port"; tried in turn until one answers. */
  brokers: readonly string[];
  clientId?: string;
  /** Deadline of one request (Kafka's request.timeout.ms, 30000). */
  requestTimeoutMs?: number;
  /** Bound on metadata lookups, admin operations and offset lookups (Kafka's default.api.timeout.ms, 60000). */
  defaultApiTimeoutMs?: number;
  /** Metadata is refreshed at least this often (Kafka's metadata.max.age.ms, 300000). */
  metadataMaxAgeMs?: number;
  /**
   * Ask brokers to create topics that producers and consumers name but that do not exist, with the
   * brokers' defaults (Kafka's allow.auto.create.topics, true); brokers with
   * auto.create.topics.enable=false never do. Admin requests never create topics.
   */
  allowAutoTopicCreation?: boolean;
  /** Backoff between retries of retriable errors, and how many retries non-produce requests get. */
  retry?: Partial<RetryOptions>;
  /** A pino logger (or anything with debug/info/warn/error(context, message)); silent by default. */
  logger?: Logger;
}

/** What an open client holds: each of these keeps the process alive until the client is closed. */
export interface OpenClientDescription {
  readonly clientId: string;
  /** Brokers it has a connection to (host:port). */
  readonly connections: readonly string[];
  /** Producers and consumers made by it and not closed yet. */
  readonly producers: number;
  readonly consumers: number;
}

/** Every client of this process not closed yet, for Samsa.openClients(). */
const openClients = new Set<Samsa>();

/**
 * The client: one per application. Owns the connections (one gRPC channel per broker) and the metadata
 * cache, shared by the producers, consumers and admins it makes. `close()` closes them all.
 */
export class Samsa implements AsyncDisposable {
  private readonly cluster: Cluster;
  private readonly pool: ConnectionPool;
  private readonly retry: RetryOptions;
  private readonly logger: Logger;
  private readonly producers = new Set<Producer | TransactionalProducer>();
  private readonly consumers = new Set<Consumer>();
  private closing: Promise<void> | undefined;
  private readonly clientId: string;

  constructor(options: SamsaOptions) {
    if (!options || !Array.isArray(options.brokers) || options.brokers.length === 0) {
      throw new SamsaClientError(ErrorCodes.INVALID_REQUEST, 'brokers must list at least one "host:port"', {
        retriable: false,
      });
    }
    for (const broker of options.brokers) {
      if (!/^(\[[^\]]+\]|[^:\s]+):\d+$/.test(broker)) {
        throw new SamsaClientError(ErrorCodes.INVALID_REQUEST, `broker address "${broker}" is not "host:port"`, {
          retriable: false,
        });
      }
    }
    this.retry = { ...DEFAULT_RETRY, ...options.retry };
    this.logger = options.logger ?? silentLogger;
    this.clientId = options.clientId ?? 'samsa';
    this.pool = new ConnectionPool(this.clientId);
    this.cluster = new Cluster({
      brokers: [...options.brokers],
      pool: this.pool,
      requestTimeoutMs: options.requestTimeoutMs ?? 30_000,
      defaultApiTimeoutMs: options.defaultApiTimeoutMs ?? 60_000,
      metadataMaxAgeMs: options.metadataMaxAgeMs ?? 300_000,
      allowAutoTopicCreation: options.allowAutoTopicCreation ?? true,
      retry: this.retry,
      logger: this.logger,
    });
    openClients.add(this);
    this.logger.debug(
      { clientId: this.clientId, brokers: options.brokers },
      'client opened: it keeps the process alive until close() (or `await using`)',
    );
  }

  /**
   * The clients of this process that are still open, with what each holds. A script that does not
   * exit has probably left one open: `setTimeout(() => console.log(Samsa.openClients()), 5000).unref()`
   * names it. Each client also logs at debug when it opens and closes.
   */
  static openClients(): OpenClientDescription[] {
    return [...openClients].map((client) => client.describeOpen());
  }

  /** What this client holds open (connections, producers, consumers). */
  describeOpen(): OpenClientDescription {
    return {
      clientId: this.clientId,
      connections: this.pool.addresses(),
      producers: this.producers.size,
      consumers: this.consumers.size,
    };
  }

  /** A producer or consumer closed while the client stays open: the usual reason a script does not exit. */
  private closedOne(what: 'producer' | 'consumer'): void {
    if (this.closing) return;
    this.logger.debug(
      { ...this.describeOpen() },
      `${what} closed; the client is still open and keeps the process alive until close()`,
    );
  }

  /** Fetches cluster metadata now (otherwise the first operation does): fails fast when no broker answers. */
  async connect(): Promise<void> {
    this.checkOpen();
    await this.cluster.refresh();
  }

  /**
   * A producer. With `transactionalId`, a transactional one (`transaction()`, `begin/commit/abort`):
   * its records reach read_committed consumers all together or not at all.
   */
  producer(options: TransactionalProducerOptions): TransactionalProducer;
  producer(options?: ProducerOptions): Producer;
  producer(options: ProducerOptions | TransactionalProducerOptions = {}): Producer | TransactionalProducer {
    this.checkOpen();
    if ('transactionalId' in options && options.transactionalId !== undefined) {
      const transactional = new TransactionalProducer(this.cluster, options, this.retry, this.logger, (p) => {
        this.producers.delete(p);
        this.closedOne('producer');
      });
      this.producers.add(transactional);
      return transactional;
    }
    const producer = new Producer(this.cluster, options, this.retry, this.logger, (p) => {
      this.producers.delete(p);
      this.closedOne('producer');
    });
    this.producers.add(producer);
    return producer;
  }

  consumer(options: ConsumerOptions = {}): Consumer {
    this.checkOpen();
    const consumer = new Consumer(this.cluster, options, this.retry, this.logger, (c) => {
      this.consumers.delete(c);
      this.closedOne('consumer');
    });
    this.consumers.add(consumer);
    return consumer;
  }

  admin(): Admin {
    this.checkOpen();
    return new Admin(this.cluster);
  }

  private checkOpen(): void {
    if (this.closing) throw new ClosedError('client');
  }

  /** Closes consumers, flushes and closes producers, then closes every connection. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      await Promise.allSettled([...this.consumers].map((c) => c.close()));
      await Promise.allSettled([...this.producers].map((p) => p.close()));
      this.pool.close();
      openClients.delete(this);
      this.logger.debug({ clientId: this.clientId }, 'client closed');
    })();
    return this.closing;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}
