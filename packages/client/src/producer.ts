import {
  ErrorCodes,
  decodeBatches,
  encodeBatch,
  stampProducer,
  trace,
  type CompressionName,
  type KafkaRecordInput,
  type RecordHeaderInput,
  type v1,
} from '@samsa/protocol';
import {
  addSequence,
  PartitionQueue,
  ProducerBatch,
  SendTracker,
  type AcknowledgedCallback,
  type RecordMetadata,
} from './accumulator.js';
import { BufferMemory } from './buffer-memory.js';
import type { Cluster, TopicInfo } from './cluster.js';
import {
  ClosedError,
  SamsaClientError,
  TimeoutError,
  errorFromCode,
  isRetriable,
  needsMetadataRefresh,
  topicNameError,
} from './errors.js';
import type { Logger } from './logger.js';
import { Partitioner, type PartitionerFunction, type PartitionerName } from './partitioner.js';
import { backoffMs, type RetryOptions } from './retry.js';
import { Wakeup } from './wakeup.js';

export type { RecordMetadata } from './accumulator.js';

/** 0: fire and forget; 1: the leader has written it; -1 or 'all': every in-sync replica has it. */
export type Acks = 0 | 1 | -1 | 'all';

export type HeaderValue = Uint8Array | string | null;

export interface Message {
  key?: Uint8Array | string | null;
  /** null is a tombstone. */
  value: Uint8Array | string | null;
  headers?: Readonly<Record<string, HeaderValue>> | readonly { key: string; value: HeaderValue }[];
  /** Send to this partition, bypassing the partitioner. */
  partition?: number;
  /** Create time in ms since the epoch; defaults to when the batch is created. */
  timestamp?: number;
}

export interface ProducerRecord extends Message {
  topic: string;
}

export interface SendBatchRequest {
  topic: string;
  messages: readonly Message[];
  /** Overrides the producer's acks for these messages. */
  acks?: Acks;
  /**
   * Called as each run of consecutive messages of this call is acknowledged (per acks; with acks=0
   * once sent), before the returned promise settles: `first` is the index in `messages` of the run's
   * first record, `count` how many. A call's records may go out in several batches, each acknowledged
   * at its own time, so this tells when each record was, without a promise per record. Not called for
   * records that fail. It must not throw (an exception is rethrown outside the producer).
   */
  onAcknowledged?: (first: number, count: number) => void;
}

export interface ProducerOptions {
  /** Default -1 ('all'), Kafka's default since 3.0. */
  acks?: Acks;
  /**
   * Kafka's enable.idempotence: every batch carries this producer's id, epoch and a sequence per
   * partition, so a retry the broker already appended is answered with the first copy's offsets
   * instead of being written twice. Applies to acks=all sends. Default true, as in Kafka 3+, unless
   * acks is set to 0 or 1; true with acks 0 or 1 is a configuration error.
   */
  idempotent?: boolean;
  /**
   * How long a batch waits for more records before it is sent (Kafka's linger.ms). 0, not Kafka 4's 5:
   * one request is in flight per partition, so under load records pile up behind it and go together
   * anyway; a linger only adds its own wait (a timer, a millisecond or two) to every request of a light
   * load, and on a busy host every millisecond a batch waits grows the requests and the time each hop
   * spends on them (docs/performance-log.md, "The third look" and "The sixth look").
   */
  lingerMs?: number;
  /** Batch size in (uncompressed, estimated) bytes (Kafka's batch.size, 16384). */
  batchSize?: number;
  compression?: CompressionName;
  partitioner?: PartitionerName | PartitionerFunction;
  /** Retries per batch on retriable errors (Kafka: effectively unbounded, limited by deliveryTimeoutMs). */
  retries?: number;
  /** Upper bound from send() to acknowledgement or failure (Kafka's delivery.timeout.ms, 120000). */
  deliveryTimeoutMs?: number;
  /** Outstanding Produce requests per broker (Kafka's max.in.flight.requests.per.connection, 5). */
  maxInFlightRequests?: number;
  /** Bytes of records the producer may hold (Kafka's buffer.memory, 32 MiB). */
  bufferMemory?: number;
  /** How long send() may wait for buffer memory or metadata (Kafka's max.block.ms, 60000). */
  maxBlockMs?: number;
  /** Largest Produce request, and largest record (Kafka's max.request.size, 1 MiB). */
  maxRequestSize?: number;
  /** Deadline of each Produce request; defaults to the client's requestTimeoutMs. */
  requestTimeoutMs?: number;
  /**
   * Called as each Produce request is answered or fails, with Kafka's two producer timings of it, for
   * telling where a record's latency goes (`samsa bench produce` prints them). It must not throw (an
   * exception is rethrown outside the producer).
   */
  onRequestTimed?: (timing: ProduceRequestTiming) => void;
}

/** One Produce request's timings (Kafka's record-queue-time and request-latency, per request). */
export interface ProduceRequestTiming {
  /** From opening the request's oldest batch to sending the request: what its records waited in the producer. */
  readonly queueTimeMs: number;
  /** From sending the request to its answer (or failure). */
  readonly requestLatencyMs: number;
  readonly batches: number;
  readonly records: number;
  /** False when the request as a whole failed (no answer, or not one the producer could use). */
  readonly answered: boolean;
}

interface ResolvedProducerOptions {
  acks: number;
  idempotent: boolean;
  lingerMs: number;
  batchSize: number;
  compression: CompressionName;
  retries: number;
  deliveryTimeoutMs: number;
  maxInFlightRequests: number;
  maxBlockMs: number;
  maxRequestSize: number;
  requestTimeoutMs: number;
  onRequestTimed: ((timing: ProduceRequestTiming) => void) | undefined;
}

/**
 * How the transactional producer (transaction.ts) sends through this one: its batches carry the
 * transactional id and the transactional bit, under the identity the transaction coordinator gave
 * (never one of our own InitProducerId), and a batch that fails for good fails the transaction.
 */
export interface TransactionalSending {
  readonly transactionalId: string;
  /** A batch failed for good (its records are rejected): the open transaction can only abort. */
  readonly onFailure: (err: unknown) => void;
}

/**
 * The most batches of one partition an idempotent producer sends in one request: fewer than the
 * broker remembers per producer (PRODUCER_BATCHES_RETAINED, 64), so each batch of a failed request is
 * still recognised when its retry (one batch at a time: retryLimit) arrives. Kafka's clients send one
 * batch per partition per request and five requests in flight.
 */
const IDEMPOTENT_BATCHES_PER_REQUEST = 32;

export function normalizeAcks(acks: Acks): number {
  if (acks === 'all' || acks === -1) return -1;
  if (acks === 0 || acks === 1) return acks;
  throw new SamsaClientError(ErrorCodes.INVALID_REQUIRED_ACKS, `acks must be 0, 1, -1 or 'all', not ${String(acks)}`);
}

/** Rough upper bound of a record's encoded size: what batchSize and bufferMemory count. */
function estimateRecordBytes(record: KafkaRecordInput): number {
  let bytes = 16 + (record.key ? record.key.length : 0) + (record.value ? record.value.length : 0);
  if (record.headers) for (const h of record.headers) bytes += 8 + h.key.length + (h.value ? h.value.length : 0);
  return bytes;
}

function toBytes(value: Uint8Array | string, what: string): Uint8Array {
  if (value instanceof Uint8Array) return value;
  if (typeof value === 'string') return Buffer.from(value, 'utf8');
  throw new SamsaClientError(ErrorCodes.INVALID_REQUEST, `${what} must be a Buffer, Uint8Array, string or null`);
}

function toHeaders(headers: NonNullable<Message['headers']>): RecordHeaderInput[] {
  const list = Array.isArray(headers)
    ? (headers as readonly { key: string; value: HeaderValue }[])
    : Object.entries(headers as Record<string, HeaderValue>).map(([key, value]) => ({ key, value }));
  return list.map(({ key, value }) => ({
    key,
    value: value === null || value === undefined ? null : toBytes(value, `header ${key}`),
  }));
}

/** The codec's record shape; a message that already has it (Buffers, no headers) is used as it is, without a copy. */
function toRecordInput(m: Message): KafkaRecordInput {
  const { key, value, headers } = m;
  if (
    (key === undefined || key === null || key instanceof Uint8Array) &&
    (value === null || value instanceof Uint8Array) &&
    headers === undefined
  ) {
    return m as KafkaRecordInput;
  }
  if (value === undefined)
    throw new SamsaClientError(ErrorCodes.INVALID_REQUEST, 'a message needs a value (null for a tombstone)');
  return {
    key: key === undefined || key === null ? null : toBytes(key, 'key'),
    value: value === null ? null : toBytes(value, 'value'),
    headers: headers === undefined ? [] : toHeaders(headers),
    ...(m.timestamp === undefined ? {} : { timestamp: m.timestamp }),
  };
}

/** A send() or sendBatch() call being appended. */
interface AppendJob {
  readonly topic: string;
  readonly messages: readonly Message[];
  readonly inputs: KafkaRecordInput[];
  readonly acks: number;
  readonly tracker: SendTracker;
  deadline: number;
  /** Index of the next message to append. */
  next: number;
  info: TopicInfo;
}

/** One partition's part of a Produce request. */
interface RequestPart {
  readonly queue: PartitionQueue;
  readonly batches: ProducerBatch[];
  /** Where sendRequest put it in the request (topics[topicIndex].partitions[partitionIndex]). */
  topicIndex: number;
  partitionIndex: number;
  /** The partition's leader epoch in the metadata the request was planned with. */
  readonly leaderEpoch: number;
  /** The broker the request went to, and when (Date.now(); 0 until sent). */
  readonly broker: number;
  sentAtMs: number;
}

/**
 * A request unanswered this long is looked at: the producer refreshes metadata (at once, then at gaps
 * from initialRetryTimeMs doubling up to maxRetryTimeMs while the stall lasts: a cluster that is only
 * slow gets about one Metadata request a second, not ten) and, once it names another leader in a newer
 * epoch, gives up on that partition's part and retries at the new leader instead of waiting out
 * requestTimeoutMs (30 s by default) at a paused or cut-off one.
 */
const STALLED_REQUEST_MS = 1000;

interface ProduceRequestPlan {
  readonly broker: number;
  readonly acks: number;
  readonly parts: RequestPart[];
  bytes: number;
}

/**
 * Batches records per partition and sends them. Ordering rule: at most one request per partition is
 * outstanding, and a failed request's batches stay at the head of their partition's queue until
 * retried, so records of a partition are appended in send order even across retries. Throughput comes
 * from carrying every ready batch of a partition (up to maxRequestSize) in that one request, and every
 * ready partition of a broker in one Produce request, up to maxInFlightRequests per broker.
 */
export class Producer implements AsyncDisposable {
  private readonly options: ResolvedProducerOptions;
  private readonly memory: BufferMemory;
  private readonly partitioner: Partitioner;
  private readonly queues = new Map<string, PartitionQueue[]>();
  /** Queues holding batches. */
  private readonly active = new Set<PartitionQueue>();
  private readonly inFlightByBroker = new Map<number, number>();
  private readonly available = new WeakMap<TopicInfo, number[]>();
  private readonly topicsOfInterest = new Set<string>();
  private readonly appending = new Set<Promise<SendTracker>>();
  /** Settles after the last waiting call has appended its records. */
  private appendTail: Promise<void> | undefined;
  private drainScheduled = false;
  private readonly wakeup = new Wakeup(() => this.drain());
  private refreshingMetadata = false;
  /** No producer-started metadata refresh before this time (Date.now() scale). */
  private metadataPollAtMs = 0;
  /** No refresh for stalled requests alone before this time: see stallPollGapMs. */
  private stallPollAtMs = 0;
  /**
   * The gap before the next refresh for stalled requests alone: initialRetryTimeMs, doubled at each
   * such refresh up to maxRetryTimeMs, and back to the start once no request is stalled or the metadata
   * named a stalled partition's new leader.
   */
  private stallPollGapMs: number;
  private readonly stopWatchingMetadata: () => void;
  /** Idempotence: the producer id and epoch new partitions' sequences start under. */
  private identity: { producerId: number; producerEpoch: number } | undefined;
  private identityRequest: Promise<void> | undefined;
  private identityRetryAtMs = 0;
  private identityAttempts = 0;
  private flushing = 0;
  private closing = false;
  /** Closed with a timeout that expired: nothing more is sent. */
  private stopped = false;
  private closed: Promise<void> | undefined;

  constructor(
    private readonly cluster: Cluster,
    options: ProducerOptions,
    private readonly retry: RetryOptions,
    private readonly logger: Logger,
    private readonly onClose: (producer: Producer) => void,
    private readonly transactional?: TransactionalSending,
  ) {
    const acks = normalizeAcks(options.acks ?? -1);
    if (options.idempotent === true && acks !== -1) {
      throw new SamsaClientError(ErrorCodes.INVALID_CONFIG, `idempotent: true needs acks 'all', not ${acks}`, {
        retriable: false,
      });
    }
    this.options = {
      acks,
      idempotent: options.idempotent ?? acks === -1,
      lingerMs: options.lingerMs ?? 0,
      batchSize: options.batchSize ?? 16384,
      compression: options.compression ?? 'none',
      retries: options.retries ?? Number.MAX_SAFE_INTEGER,
      deliveryTimeoutMs: options.deliveryTimeoutMs ?? 120_000,
      maxInFlightRequests: options.maxInFlightRequests ?? 5,
      maxBlockMs: options.maxBlockMs ?? 60_000,
      maxRequestSize: options.maxRequestSize ?? 1_048_576,
      requestTimeoutMs: options.requestTimeoutMs ?? cluster.options.requestTimeoutMs,
      onRequestTimed: options.onRequestTimed,
    };
    this.stallPollGapMs = retry.initialRetryTimeMs;
    this.memory = new BufferMemory(options.bufferMemory ?? 32 * 1024 * 1024);
    this.partitioner = new Partitioner(options.partitioner ?? 'default', this.options.batchSize);
    // New metadata may name a new leader for a partition backing off: it retries there at once.
    this.stopWatchingMetadata = cluster.onUpdate(() => {
      if (this.active.size > 0) this.wake();
    });
  }

  /** Sends one record; resolves with its partition and offset once acknowledged per acks. */
  send(record: ProducerRecord, options: { acks?: Acks } = {}): Promise<RecordMetadata> {
    if ('messages' in record) {
      return Promise.reject(
        new SamsaClientError(
          ErrorCodes.INVALID_REQUEST,
          'send() takes one record; use sendBatch({ topic, messages }) for several',
          { retriable: false },
        ),
      );
    }
    return this.enqueue(record.topic, [record], options.acks, true, undefined) as Promise<RecordMetadata>;
  }

  /**
   * Sends records to one topic; resolves with one result per message, in order, once all are
   * acknowledged, or rejects at the first failure (records of other batches may still be delivered).
   * Waits (up to maxBlockMs) while bufferMemory is full. No promise is created per record.
   */
  sendBatch(request: SendBatchRequest): Promise<RecordMetadata[]> {
    return this.enqueue(request.topic, request.messages, request.acks, false, request.onAcknowledged) as Promise<
      RecordMetadata[]
    >;
  }

  /**
   * The common case (metadata cached, memory free, no earlier call still waiting) appends synchronously;
   * otherwise the call waits, and counts as in progress until appended: flush() and close() wait for it,
   * and later calls queue behind it, so records keep their call order.
   */
  private enqueue(
    topic: string,
    messages: readonly Message[],
    acks: Acks | undefined,
    single: boolean,
    onAcknowledged: AcknowledgedCallback | undefined,
  ): Promise<RecordMetadata[] | RecordMetadata> {
    if (this.closing) return Promise.reject(new ClosedError('producer'));
    let job: AppendJob | undefined;
    try {
      if (!this.topicsOfInterest.has(topic)) {
        // Checked once per topic, not per record: names of interest are legal ones.
        const invalid = topicNameError(topic);
        if (invalid) throw invalid;
        this.topicsOfInterest.add(topic);
        this.cluster.addInterest(topic);
      }
      const info = this.cluster.topics.get(topic);
      if (info !== undefined && info.partitions.length > 0 && this.appending.size === 0) {
        job = this.newJob(topic, messages, acks, single, info, onAcknowledged);
        if (this.appendSome(job)) return job.tracker.promise;
      }
    } catch (err) {
      return Promise.reject(err);
    }
    const appending = this.appendAsync(this.appendTail, job, topic, messages, acks, single, onAcknowledged);
    this.appending.add(appending);
    const tail = appending.then(
      () => {},
      () => {},
    );
    this.appendTail = tail;
    void tail.then(() => {
      this.appending.delete(appending);
      if (this.appendTail === tail) this.appendTail = undefined;
    });
    return appending.then((tracker) => tracker.promise);
  }

  private newJob(
    topic: string,
    messages: readonly Message[],
    acks: Acks | undefined,
    single: boolean,
    info: TopicInfo,
    onAcknowledged: AcknowledgedCallback | undefined,
  ): AppendJob {
    return {
      topic,
      messages,
      inputs: this.prepare(topic, info, messages),
      acks: acks === undefined ? this.options.acks : normalizeAcks(acks),
      tracker: new SendTracker(messages.length, single, onAcknowledged),
      deadline: Date.now() + this.options.maxBlockMs,
      next: 0,
      info,
    };
  }

  /** Appends from job.next while memory allows; true when all are appended (and the tracker sealed). */
  private appendSome(job: AppendJob): boolean {
    const { topic, messages, inputs, acks, tracker } = job;
    const info = job.info;
    const partitions = this.queueArray(topic, info.partitions.length);
    const available = this.availablePartitions(info);
    const numPartitions = info.partitions.length;
    const load = (p: number): number => (partitions[p] as PartitionQueue).batches.length; // waiting or in flight
    const now = Date.now();
    for (let i = job.next; i < inputs.length; i++) {
      const input = inputs[i] as KafkaRecordInput;
      const bytes = estimateRecordBytes(input);
      if (!this.memory.tryReserve(bytes)) {
        job.next = i;
        return false;
      }
      const explicit = (messages[i] as Message).partition;
      const partition =
        explicit ?? this.partitioner.partition(topic, input.key ?? null, numPartitions, available, bytes, load);
      this.append(partitions[partition] as PartitionQueue, acks, input, bytes, tracker, i, now);
    }
    job.next = inputs.length;
    tracker.seal();
    return true;
  }

  private async appendAsync(
    previous: Promise<void> | undefined,
    job: AppendJob | undefined,
    topic: string,
    messages: readonly Message[],
    acks: Acks | undefined,
    single: boolean,
    onAcknowledged: AcknowledgedCallback | undefined,
  ): Promise<SendTracker> {
    // Behind earlier calls that are still waiting (for metadata or memory), in call order.
    if (previous !== undefined) await previous;
    if (job === undefined) {
      const deadline = Date.now() + this.options.maxBlockMs;
      const info = await this.cluster.topic(topic, deadline);
      job = this.newJob(topic, messages, acks, single, info, onAcknowledged);
      job.deadline = deadline;
    }
    while (!this.appendSome(job)) {
      const input = job.inputs[job.next] as KafkaRecordInput;
      const bytes = estimateRecordBytes(input);
      try {
        await this.memory.reserve(bytes, Math.max(0, job.deadline - Date.now()), () => this.wake());
      } catch (err) {
        job.tracker.abandon();
        throw err;
      }
      // Reserved for the record at job.next: hand it back, appendSome takes it again in order.
      this.memory.release(bytes);
      job.info = this.cluster.topics.get(topic) ?? job.info;
    }
    return job.tracker;
  }

  /** Checks every message before any is queued, so a bad one fails the call without a partial send. */
  private prepare(topic: string, info: TopicInfo, messages: readonly Message[]): KafkaRecordInput[] {
    const inputs = new Array<KafkaRecordInput>(messages.length);
    const numPartitions = info.partitions.length;
    for (let i = 0; i < messages.length; i++) {
      const m = messages[i] as Message;
      const p = m.partition;
      if (p !== undefined && !(Number.isInteger(p) && p >= 0 && p < numPartitions)) {
        throw new SamsaClientError(
          ErrorCodes.UNKNOWN_TOPIC_OR_PARTITION,
          `partition ${p} does not exist; ${topic} has ${numPartitions}`,
          { topic, partition: p, retriable: false },
        );
      }
      const input = toRecordInput(m);
      const bytes = estimateRecordBytes(input);
      if (bytes > this.options.maxRequestSize) {
        throw new SamsaClientError(
          ErrorCodes.MESSAGE_TOO_LARGE,
          `a record of about ${bytes} bytes exceeds maxRequestSize ${this.options.maxRequestSize}`,
          { topic },
        );
      }
      inputs[i] = input;
    }
    return inputs;
  }

  private queueArray(topic: string, numPartitions: number): PartitionQueue[] {
    let queues = this.queues.get(topic);
    if (queues === undefined) {
      queues = [];
      this.queues.set(topic, queues);
    }
    for (let p = queues.length; p < numPartitions; p++) queues.push(new PartitionQueue(topic, p));
    return queues;
  }

  private availablePartitions(info: TopicInfo): number[] {
    let available = this.available.get(info);
    if (available === undefined) {
      available = info.partitions.filter((p) => p !== undefined && p.leader >= 0).map((p) => p.partition);
      if (available.length === 0) available = info.partitions.map((_, i) => i);
      this.available.set(info, available);
    }
    return available;
  }

  private append(
    queue: PartitionQueue,
    acks: number,
    input: KafkaRecordInput,
    bytes: number,
    tracker: SendTracker,
    index: number,
    now: number,
  ): void {
    // While the partition's request is out its batches wait for the answer, which wakes the sender
    // itself: no drain for them before that (one per request at a moderate rate).
    let batch = queue.open;
    if (batch !== undefined && (batch.acks !== acks || batch.bytes + bytes > this.options.batchSize)) {
      batch.closed = true;
      if (!queue.inFlight) this.wake();
      batch = undefined;
    }
    if (batch === undefined) {
      batch = new ProducerBatch(queue.topic, queue.partition, acks, now);
      queue.batches.push(batch);
      this.active.add(queue);
      // Without a linger the batch may go on the next turn of the event loop: a timer of 0 ms would
      // fire a millisecond or more later.
      if (this.options.lingerMs > 0) this.wakeup.at(now + this.options.lingerMs);
      else if (!queue.inFlight) this.wake();
    }
    batch.append(input, bytes, tracker, index);
    if (batch.bytes >= this.options.batchSize) {
      batch.closed = true;
      if (!queue.inFlight) this.wake();
    }
  }

  private wake(): void {
    if (this.drainScheduled) return;
    this.drainScheduled = true;
    setImmediate(() => this.drain());
  }

  /** Sends what is ready; arms the timer for what will be. */
  private drain(): void {
    this.drainScheduled = false;
    if (this.stopped) return;
    const now = Date.now();
    const { lingerMs, maxInFlightRequests, maxRequestSize, deliveryTimeoutMs } = this.options;
    const force = this.flushing > 0 || this.closing || this.memory.waiting > 0;
    let nextWakeMs = Infinity;
    let needMetadata = false;
    let stalled = false;
    const plans = new Map<number, ProduceRequestPlan>();
    for (const queue of this.active) {
      if (queue.inFlight) {
        const part = queue.outstanding as RequestPart | undefined;
        if (part === undefined) continue;
        const stalledAtMs = part.sentAtMs + STALLED_REQUEST_MS;
        if (now < stalledAtMs) {
          nextWakeMs = Math.min(nextWakeMs, stalledAtMs);
          continue;
        }
        if (!this.abandonIfLeaderMoved(part, now)) {
          stalled = true;
          continue;
        }
        this.resetStallPoll();
      }
      this.expire(queue, now);
      const head = queue.batches[0];
      if (head === undefined) {
        this.active.delete(queue);
        continue;
      }
      nextWakeMs = Math.min(nextWakeMs, head.createdMs + deliveryTimeoutMs);
      if (queue.retryAtMs > now) {
        if (!this.leaderMoved(queue)) {
          nextWakeMs = Math.min(nextWakeMs, queue.retryAtMs);
          // Until the metadata names a new leader (after a session timeout, for a dead one), look again
          // every retry backoff rather than only at this partition's growing retry times.
          if (queue.retryAwaitsMetadata) needMetadata = true;
          continue;
        }
        queue.retryAtMs = 0;
      }
      if (!head.closed && !force && now - head.createdMs < lingerMs) {
        nextWakeMs = Math.min(nextWakeMs, head.createdMs + lingerMs);
        continue;
      }
      const info = this.cluster.partitionOf(queue.topic, queue.partition);
      const leader = info?.leader ?? -1;
      if (leader < 0 || !this.cluster.brokers.has(leader)) {
        needMetadata = true;
        // Named by the timeout error if it comes to that, rather than a bare "not acknowledged".
        head.lastError ??= errorFromCode(
          ErrorCodes.LEADER_NOT_AVAILABLE.code,
          `no broker leads ${queue.topic}-${queue.partition} now (its replicas are down or their logs offline)`,
        );
        continue;
      }
      const key = leader * 4 + head.acks + 1;
      let plan = plans.get(key);
      if (plan === undefined) {
        if ((this.inFlightByBroker.get(leader) ?? 0) >= maxInFlightRequests) continue;
        plan = { broker: leader, acks: head.acks, parts: [], bytes: 0 };
        plans.set(key, plan);
        this.inFlightByBroker.set(leader, (this.inFlightByBroker.get(leader) ?? 0) + 1);
      } else if (plan.bytes >= maxRequestSize) {
        continue;
      }
      const taken = this.take(queue, plan, now, force);
      if (taken.length > 0) {
        const leaderEpoch = info?.leaderEpoch ?? -1;
        plan.parts.push({
          queue,
          batches: taken,
          topicIndex: -1,
          partitionIndex: -1,
          leaderEpoch,
          broker: leader,
          sentAtMs: 0,
        });
        queue.inFlight = true;
      }
    }
    for (const plan of plans.values()) {
      if (plan.parts.length > 0) this.sendRequest(plan);
      else this.requestDone(plan.broker);
    }
    if (!stalled) this.resetStallPoll();
    if (needMetadata || stalled) this.refreshMetadata(needMetadata);
    if (nextWakeMs !== Infinity) this.wakeup.at(nextWakeMs);
  }

  /** Head batches of one partition with the same acks, encoded (once), up to the request's size limit. */
  private take(queue: PartitionQueue, plan: ProduceRequestPlan, now: number, force: boolean): ProducerBatch[] {
    const taken: ProducerBatch[] = [];
    while (taken.length < queue.batches.length) {
      const batch = queue.batches[taken.length] as ProducerBatch;
      if (batch.acks !== plan.acks) break;
      // A batch split after MessageTooLarge goes on its own, so the answer tells whether it still is too large.
      if (batch.alone && taken.length > 0) break;
      // The broker recognises a retried request only while it remembers the request's first batch, and
      // only if it carries nothing more than the first attempt did.
      if (this.options.idempotent && taken.length >= IDEMPOTENT_BATCHES_PER_REQUEST) break;
      if (queue.retryBatches > 0 && taken.length >= this.retryLimit(queue, plan)) break;
      if (!batch.closed && !force && now - batch.createdMs < this.options.lingerMs) break;
      if (!batch.closed) {
        batch.closed = true;
        this.partitioner.batchSent(batch.topic, batch.partition);
      }
      const idempotent = this.options.idempotent && batch.acks === -1;
      const sequencing = idempotent ? this.assignSequence(queue, batch) : 'none';
      if (sequencing === 'wait') break;
      if (batch.encoded === undefined) {
        try {
          batch.encoded = encodeBatch(batch.records, {
            compression: this.options.compression,
            now: batch.createdMs,
            ...(idempotent
              ? { producerId: queue.producerId, producerEpoch: queue.producerEpoch, baseSequence: batch.baseSequence }
              : {}),
            transactional: this.transactional !== undefined,
          });
          batch.records = [];
        } catch (err) {
          // Bad input (e.g. a timestamp out of range): this batch fails, the partition goes on, and the
          // sequences it took are given back so the next batch leaves no gap.
          if (sequencing === 'assigned') queue.nextSequence = batch.baseSequence;
          queue.batches.splice(taken.length, 1);
          this.memory.release(batch.bytes);
          this.failBatch(batch, err);
          continue;
        }
      } else if (sequencing === 'assigned') {
        // Encoded under a producer id the broker forgot: the same records, new id and sequences.
        stampProducer(batch.encoded, 0, queue.producerId, queue.producerEpoch, batch.baseSequence);
      }
      // A request may exceed maxRequestSize only by holding one batch that is bigger on its own.
      if (
        (taken.length > 0 || plan.parts.length > 0) &&
        plan.bytes + batch.encoded.length > this.options.maxRequestSize
      )
        break;
      plan.bytes += batch.encoded.length;
      taken.push(batch);
      if (batch.alone) break;
    }
    return taken;
  }

  /**
   * How many of the batches a failed request carried its retry takes: all of them (without idempotence
   * a retry may duplicate anyway), or one at a time with sequences. A new leader may hold only a prefix
   * of the failed request's batches (its follower's fetch ended between two of them): the whole request
   * again is then neither a duplicate nor in sequence (OUT_OF_ORDER_SEQUENCE_NUMBER, and the producer
   * started the partition over under a new producer id, writing the prefix twice). Each batch alone is
   * recognised as a duplicate if it was appended, or appended in sequence if not, as in Kafka's clients.
   */
  private retryLimit(queue: PartitionQueue, plan: ProduceRequestPlan): number {
    return this.options.idempotent && plan.acks === -1 ? 1 : queue.retryBatches;
  }

  /**
   * Idempotence: gives `batch` its sequences, in queue order, under the partition's producer id (taking
   * the producer's current one when the partition has none yet). 'wait' while no producer id is known
   * (one is being asked for); 'kept' for a batch that has its sequences already (a retry).
   */
  private assignSequence(queue: PartitionQueue, batch: ProducerBatch): 'wait' | 'assigned' | 'kept' {
    if (queue.producerId >= 0 && batch.baseSequence >= 0) return 'kept';
    if (queue.producerId < 0) {
      const identity = this.identity;
      if (identity === undefined) {
        this.requestIdentity();
        return 'wait';
      }
      queue.producerId = identity.producerId;
      queue.producerEpoch = identity.producerEpoch;
      queue.nextSequence = 0;
    }
    batch.baseSequence = queue.nextSequence;
    queue.nextSequence = addSequence(queue.nextSequence, batch.recordCount);
    return 'assigned';
  }

  /**
   * The transactional producer's identity for its next transaction: every partition's sequences start
   * over at 0 under it (the coordinator bumps the epoch at each commit or abort, KIP-890). Called
   * between transactions, when no batch is queued.
   */
  useTransactionIdentity(identity: { producerId: number; producerEpoch: number }): void {
    this.identity = { ...identity };
    for (const queues of this.queues.values()) {
      for (const queue of queues) {
        queue.producerId = -1;
        queue.producerEpoch = -1;
        queue.nextSequence = 0;
        for (const batch of queue.batches) batch.baseSequence = -1;
      }
    }
  }

  /** Asks any broker for a producer id (InitProducerId), once at a time, with backoff after a failure. */
  private requestIdentity(): void {
    // A transactional producer's identity is its coordinator's to give (useTransactionIdentity).
    if (this.identityRequest !== undefined || this.transactional !== undefined) return;
    const now = Date.now();
    if (now < this.identityRetryAtMs) {
      this.wakeup.at(this.identityRetryAtMs);
      return;
    }
    const request = { transactionalId: '', transactionTimeoutMs: 0, producerId: -1, producerEpoch: -1 };
    this.identityRequest = this.cluster
      .callAny('InitProducerId', request, { timeoutMs: this.options.requestTimeoutMs })
      .then((response) => {
        if (response.errorCode !== 0) throw errorFromCode(response.errorCode, response.errorMessage || undefined);
        this.identity = { producerId: response.producerId, producerEpoch: response.producerEpoch };
        this.identityAttempts = 0;
        this.logger.debug({ producerId: response.producerId }, 'idempotent producer id');
      })
      .catch((err: unknown) => {
        this.identityAttempts++;
        this.identityRetryAtMs = Date.now() + backoffMs(this.identityAttempts - 1, this.retry);
        for (const queue of this.active) for (const batch of queue.batches) batch.lastError ??= err;
        this.logger.warn({ err, attempts: this.identityAttempts }, 'could not get a producer id, will retry');
      })
      .finally(() => {
        this.identityRequest = undefined;
        this.wake();
      });
  }

  /**
   * The broker has no state for this partition's producer id, or lost the sequences before the ones
   * sent (OutOfOrderSequenceNumber, UnknownProducerId: nothing of the refused batches was appended).
   * The partition starts over under a new producer id, its waiting batches getting new sequences in
   * order; other partitions keep theirs.
   */
  private resetSequences(queue: PartitionQueue): void {
    if (this.identity?.producerId === queue.producerId) this.identity = undefined;
    this.logger.warn(
      { topic: queue.topic, partition: queue.partition, producerId: queue.producerId },
      'the broker lost track of this producer: new producer id for the partition',
    );
    queue.producerId = -1;
    queue.producerEpoch = -1;
    queue.nextSequence = 0;
    for (const batch of queue.batches) batch.baseSequence = -1;
  }

  /** Fails waiting batches older than deliveryTimeoutMs. */
  private expire(queue: PartitionQueue, now: number): void {
    const limit = this.options.deliveryTimeoutMs;
    while (queue.batches.length > 0 && now - (queue.batches[0] as ProducerBatch).createdMs >= limit) {
      const batch = queue.batches.shift() as ProducerBatch;
      if (queue.retryBatches > 0) queue.retryBatches--;
      this.memory.release(batch.bytes);
      const cause = batch.lastError;
      this.failBatch(
        batch,
        new TimeoutError(
          `${batch.recordCount} record(s) for ${batch.topic}-${batch.partition} not acknowledged within ` +
            `deliveryTimeoutMs ${limit}${cause instanceof Error ? ` (last error: ${cause.message})` : ''}`,
          {
            cause,
            topic: batch.topic,
            partition: batch.partition,
            retriable: false,
          },
        ),
      );
    }
  }

  private failBatch(batch: ProducerBatch, err: unknown): void {
    batch.fail(err);
    this.transactional?.onFailure(err);
  }

  /**
   * Whether the metadata names another leader for a partition backing off, or a newer epoch of the
   * one its failed request went to: the backoff was for that leader, the retry goes to the new one now.
   */
  private leaderMoved(queue: PartitionQueue): boolean {
    if (queue.retryLeader < 0) return false;
    const info = this.cluster.topics.get(queue.topic)?.partitions[queue.partition];
    if (info === undefined || info.leader < 0 || !this.cluster.brokers.has(info.leader)) return false;
    return info.leader !== queue.retryLeader || info.leaderEpoch > queue.retryLeaderEpoch;
  }

  /**
   * A metadata refresh in the background, at most one per retry backoff (initialRetryTimeMs) however often
   * asked; `urgent` false (only stalled requests ask): at most one per stallPollGapMs, which doubles.
   */
  private refreshMetadata(urgent: boolean): void {
    if (this.refreshingMetadata) return;
    const now = Date.now();
    const atMs = urgent ? this.metadataPollAtMs : Math.max(this.metadataPollAtMs, this.stallPollAtMs);
    if (now < atMs) {
      this.wakeup.at(atMs);
      return;
    }
    this.metadataPollAtMs = now + this.retry.initialRetryTimeMs;
    if (!urgent) {
      this.stallPollAtMs = now + this.stallPollGapMs;
      this.stallPollGapMs = Math.max(
        this.retry.initialRetryTimeMs,
        Math.min(this.retry.maxRetryTimeMs, this.stallPollGapMs * 2),
      );
    }
    this.refreshingMetadata = true;
    this.cluster
      .refresh()
      .catch((err: unknown) => this.logger.warn({ err }, 'producer metadata refresh failed'))
      .finally(() => {
        this.refreshingMetadata = false;
        this.wakeup.at(Date.now() + this.retry.initialRetryTimeMs);
      });
  }

  /** The next stall starts polling the metadata at initialRetryTimeMs again. */
  private resetStallPoll(): void {
    this.stallPollAtMs = 0;
    this.stallPollGapMs = this.retry.initialRetryTimeMs;
  }

  private sendRequest(plan: ProduceRequestPlan): void {
    const topics: v1.ProduceTopicData[] = [];
    const names: string[] = [];
    const lists: v1.ProducePartitionData[][] = [];
    for (const part of plan.parts) {
      const { queue, batches } = part;
      const records =
        batches.length === 1 ? (batches[0]?.encoded as Buffer) : Buffer.concat(batches.map((b) => b.encoded as Buffer));
      // Usually the same topic as the part before; otherwise a scan of the (few) topics so far.
      let topicIndex = names.length - 1;
      if (topicIndex < 0 || names[topicIndex] !== queue.topic) {
        topicIndex = names.indexOf(queue.topic);
        if (topicIndex < 0) {
          const partitions: v1.ProducePartitionData[] = [];
          topicIndex = names.push(queue.topic) - 1;
          lists.push(partitions);
          topics.push({ name: queue.topic, partitions });
        }
      }
      const partitions = lists[topicIndex] as v1.ProducePartitionData[];
      part.topicIndex = topicIndex;
      part.partitionIndex = partitions.push({ partition: queue.partition, records }) - 1;
    }
    const request: v1.ProduceRequest = {
      acks: plan.acks,
      timeoutMs: this.options.requestTimeoutMs,
      topics,
      // KIP-890 part 2: each leader adds its partition to the open transaction itself.
      ...(this.transactional ? { transactionalId: this.transactional.transactionalId, addPartitionsToTxn: true } : {}),
    };
    const connection = this.cluster.connection(plan.broker);
    if (connection === undefined) {
      // Its parts are the partitions' current ones (givenUp would drop them, leaving them in flight forever).
      if (plan.acks !== 0) for (const part of plan.parts) part.queue.outstanding = part;
      this.requestFailed(
        plan,
        errorFromCode(ErrorCodes.LEADER_NOT_AVAILABLE.code, `broker ${plan.broker} is not in the metadata`),
      );
      this.requestDone(plan.broker);
      return;
    }
    const sentAt = performance.now();
    if (plan.acks !== 0) {
      const sentAtMs = Date.now();
      for (const part of plan.parts) {
        part.sentAtMs = sentAtMs;
        part.queue.outstanding = part;
      }
      this.wakeup.at(sentAtMs + STALLED_REQUEST_MS);
    }
    const call = connection.produce(request, { timeoutMs: this.options.requestTimeoutMs });
    if (trace) this.traceSent(plan, sentAt);
    // acks=0: nobody will tell us the offset, so the records count as sent once handed to the transport.
    if (plan.acks === 0) for (const part of plan.parts) for (const batch of part.batches) batch.complete(-1);
    // requestDone in each handler rather than a .finally: one promise and microtask fewer per request.
    call.then(
      (response) => {
        try {
          this.timeRequest(plan, sentAt, true);
          this.requestSucceeded(plan, response);
        } finally {
          this.requestDone(plan.broker);
        }
      },
      (err: unknown) => {
        try {
          this.timeRequest(plan, sentAt, false);
          this.requestFailed(plan, err);
        } finally {
          this.requestDone(plan.broker);
        }
      },
    );
  }

  private timeRequest(plan: ProduceRequestPlan, sentAt: number, answered: boolean): void {
    const onRequestTimed = this.options.onRequestTimed;
    if (onRequestTimed === undefined) return;
    let openedAt = sentAt;
    let batches = 0;
    let records = 0;
    for (const part of plan.parts) {
      for (const batch of part.batches) {
        openedAt = Math.min(openedAt, batch.openedAt);
        batches++;
        records += batch.recordCount;
      }
    }
    const requestLatencyMs = performance.now() - sentAt;
    try {
      onRequestTimed({ queueTimeMs: sentAt - openedAt, requestLatencyMs, batches, records, answered });
    } catch (err) {
      // The producer's state must not depend on user code: report it as an uncaught exception would be.
      queueMicrotask(() => {
        throw err;
      });
    }
  }

  private requestDone(broker: number): void {
    this.inFlightByBroker.set(broker, (this.inFlightByBroker.get(broker) ?? 1) - 1);
    this.wake();
  }

  private requestSucceeded(plan: ProduceRequestPlan, response: v1.ProduceResponse__Output): void {
    let results: Map<string, v1.ProducePartitionResponse__Output> | undefined;
    for (const part of plan.parts) {
      if (this.givenUp(plan, part)) continue;
      const { topic, partition } = part.queue;
      // The broker answers in the request's order; a map of the answer only if it did not.
      let result: v1.ProducePartitionResponse__Output | undefined;
      const t = response.topics[part.topicIndex];
      const p = t?.name === topic ? t.partitions[part.partitionIndex] : undefined;
      if (p?.partition === partition) {
        result = p;
      } else {
        if (results === undefined) {
          results = new Map();
          for (const t of response.topics) for (const p of t.partitions) results.set(`${t.name}\0${p.partition}`, p);
        }
        result = results.get(`${topic}\0${partition}`);
      }
      if (plan.acks === 0) {
        this.partDelivered(part, -1);
      } else if (result === undefined) {
        this.partFailed(
          plan.broker,
          part,
          errorFromCode(ErrorCodes.UNKNOWN_SERVER_ERROR.code, 'the broker did not answer for this partition', {
            topic,
            partition,
          }),
        );
      } else if (result.errorCode !== 0) {
        const err = errorFromCode(result.errorCode, result.errorMessage || undefined, { topic, partition });
        // KIP-951: a refusal that names the new leader saves the metadata request.
        const hinted =
          result.currentLeader !== null &&
          this.cluster.applyLeaderHint(topic, partition, result.currentLeader, response.nodeEndpoints);
        this.partFailed(plan.broker, part, err, hinted);
      } else {
        trace?.('c.ack', partition, result.baseOffset);
        this.partDelivered(part, result.baseOffset);
      }
    }
  }

  /** The request timeline (@samsa/protocol's trace): each partition's records and oldest batch's wait. */
  private traceSent(plan: ProduceRequestPlan, sentAt: number): void {
    for (const part of plan.parts) {
      let records = 0;
      let openedAt = sentAt;
      for (const batch of part.batches) {
        records += batch.recordCount;
        openedAt = Math.min(openedAt, batch.openedAt);
      }
      trace?.('c.send', part.queue.partition, records, sentAt - openedAt);
    }
  }

  private requestFailed(plan: ProduceRequestPlan, err: unknown): void {
    if (err instanceof SamsaClientError && needsMetadataRefresh(err.code)) this.cluster.requestRefresh();
    for (const part of plan.parts) {
      if (this.givenUp(plan, part)) continue;
      if (plan.acks === 0) this.partDelivered(part, -1);
      else this.partFailed(plan.broker, part, err);
    }
  }

  /** Whether the producer gave up on this part of an answered request (abandonIfLeaderMoved). */
  private givenUp(plan: ProduceRequestPlan, part: RequestPart): boolean {
    if (plan.acks === 0) return false;
    if (part.queue.outstanding !== part) return true;
    part.queue.outstanding = undefined;
    return false;
  }

  /**
   * A request stalled at a broker the metadata no longer names as the partition's leader (another one,
   * in a newer epoch: an election happened): the partition's part fails as a timeout would, and its
   * batches go to the new leader at once. The old leader was deposed, so it commits none of them; a copy
   * its followers took before is in the new leader's log, which an idempotent producer's retry finds by
   * its sequences. The late answer, if any, is dropped.
   */
  private abandonIfLeaderMoved(part: RequestPart, now: number): boolean {
    const { queue } = part;
    const info = this.cluster.topics.get(queue.topic)?.partitions[queue.partition];
    if (info === undefined || info.leader < 0 || info.leader === part.broker || info.leaderEpoch <= part.leaderEpoch)
      return false;
    if (!this.cluster.brokers.has(info.leader)) return false;
    queue.outstanding = undefined;
    const err = new TimeoutError(
      `Produce to broker ${part.broker} unanswered after ${now - part.sentAtMs} ms, and ` +
        `${queue.topic}-${queue.partition} has a new leader (${info.leader}, epoch ${info.leaderEpoch})`,
      { topic: queue.topic, partition: queue.partition, retriable: true },
    );
    this.partFailed(part.broker, part, err);
    return true;
  }

  /** The partition's batches were appended back to back starting at baseOffset. */
  private partDelivered(part: RequestPart, baseOffset: number): void {
    const { queue, batches } = part;
    queue.batches.splice(0, batches.length);
    queue.inFlight = false;
    queue.retryAtMs = 0;
    queue.retryAwaitsMetadata = false;
    // The failed request's batches after these are retried next (one at a time with idempotence).
    queue.retryBatches = Math.max(0, queue.retryBatches - batches.length);
    let offset = baseOffset;
    for (const batch of batches) {
      this.memory.release(batch.bytes);
      if (baseOffset >= 0) {
        batch.complete(offset);
        offset += batch.recordCount;
      } else if (batch.acks !== 0) {
        batch.complete(-1);
      }
      // acks=0 batches were completed when sent; a later error is logged only.
    }
  }

  /** The request of `part` went to `broker`; `hinted`: its answer named the new leader, now in the metadata. */
  private partFailed(broker: number, part: RequestPart, err: unknown, hinted = false): void {
    const { queue, batches } = part;
    queue.inFlight = false;
    if (
      err instanceof SamsaClientError &&
      err.code === ErrorCodes.MESSAGE_TOO_LARGE.code &&
      this.splitRefused(part, err)
    )
      return;
    const now = Date.now();
    const first = batches[0] as ProducerBatch;
    const attempts = first.attempts + 1;
    // A transaction's sequences cannot start over under another producer id: it fails (and aborts).
    const sequencesLost =
      this.transactional === undefined &&
      err instanceof SamsaClientError &&
      queue.producerId >= 0 &&
      (err.code === ErrorCodes.OUT_OF_ORDER_SEQUENCE_NUMBER.code || err.code === ErrorCodes.UNKNOWN_PRODUCER_ID.code);
    if (sequencesLost) this.resetSequences(queue);
    // Past deliveryTimeoutMs the batches stay queued too: drain() fails them with a TimeoutError whose cause is err.
    const retriable = (isRetriable(err) || sequencesLost) && attempts <= this.options.retries;
    this.logger[retriable ? 'warn' : 'error'](
      { topic: queue.topic, partition: queue.partition, attempts, retriable, err },
      retriable ? 'produce failed, will retry' : 'produce failed',
    );
    if (retriable) {
      const staleMetadata = !hinted && err instanceof SamsaClientError && needsMetadataRefresh(err.code);
      if (staleMetadata) this.cluster.requestRefresh();
      queue.retryAwaitsMetadata = staleMetadata;
      queue.retryLeader = broker;
      queue.retryLeaderEpoch = part.leaderEpoch;
      // A retry of a retry (one batch of a failed request) leaves the request's later batches to retry too.
      queue.retryBatches = sequencesLost ? 0 : Math.max(queue.retryBatches, batches.length);
      for (const batch of batches) {
        batch.attempts = attempts;
        batch.lastError = err;
      }
      queue.retryAtMs = Math.min(
        now + backoffMs(attempts - 1, this.retry),
        first.createdMs + this.options.deliveryTimeoutMs,
      );
      return;
    }
    // A transaction's later batches of the partition would only meet a sequence gap: they fail with it.
    const failed = queue.batches.splice(0, this.transactional ? queue.batches.length : batches.length);
    queue.retryBatches = Math.max(0, queue.retryBatches - failed.length);
    for (const batch of failed) {
      this.memory.release(batch.bytes);
      this.failBatch(batch, err);
    }
  }

  /**
   * Kafka's splitAndReenqueue: the broker refused the partition's batches as too large (a batch exceeds
   * the topic's max.message.bytes). Unless that is a single record, its batches go back to the head of
   * the queue in halves (a batch of one record as it is), each to be sent on its own, so only a record
   * that is too large by itself fails. Not a retry: attempts and deliveryTimeoutMs carry over unchanged.
   */
  private splitRefused(part: RequestPart, err: SamsaClientError): boolean {
    const { queue, batches } = part;
    if (this.stopped) return false;
    let records = 0;
    for (const batch of batches) records += batch.recordCount;
    if (records <= 1) return false;
    // Decode everything before changing anything: our own encoding should always decode, but if not, fail as before.
    const decoded: (KafkaRecordInput[] | undefined)[] = [];
    try {
      for (const batch of batches)
        decoded.push(
          batch.recordCount > 1 ? decodeBatches(batch.encoded as Buffer).flatMap((b) => b.records) : undefined,
        );
    } catch (decodeErr) {
      this.logger.error(
        { topic: queue.topic, partition: queue.partition, err: decodeErr },
        'cannot split a batch refused as too large',
      );
      return false;
    }
    const replaced: ProducerBatch[] = [];
    for (let i = 0; i < batches.length; i++) {
      const batch = batches[i] as ProducerBatch;
      const inputs = decoded[i];
      if (inputs === undefined) {
        batch.alone = true;
        replaced.push(batch);
        continue;
      }
      // The estimates are what was reserved per record; the last one takes any rounding so the halves hold exactly
      // batch.bytes.
      const recordBytes = inputs.map(estimateRecordBytes);
      let sum = 0;
      for (const b of recordBytes) sum += b;
      recordBytes[recordBytes.length - 1] = (recordBytes[recordBytes.length - 1] as number) + (batch.bytes - sum);
      replaced.push(...batch.split(inputs, recordBytes));
    }
    queue.batches.splice(0, batches.length, ...replaced);
    queue.retryBatches = 0;
    queue.retryAtMs = 0;
    this.logger.warn(
      { topic: queue.topic, partition: queue.partition, records, batches: replaced.length, err },
      'produce refused as too large, splitting the batches',
    );
    this.wake();
    return true;
  }

  /**
   * Sends everything accumulated so far (ignoring lingerMs) and resolves when each batch has completed, delivered or
   * failed.
   */
  async flush(): Promise<void> {
    if (this.appending.size > 0) await Promise.allSettled([...this.appending]);
    const pending: ProducerBatch[] = [];
    for (const queue of this.active) for (const batch of queue.batches) if (!batch.done) pending.push(batch);
    if (pending.length === 0) return;
    this.flushing++;
    try {
      await new Promise<void>((resolve) => {
        let left = pending.length;
        for (const batch of pending) batch.onDone(() => --left === 0 && resolve());
        this.wake();
      });
    } finally {
      this.flushing--;
    }
  }

  /**
   * Refuses new sends, delivers what is buffered (flush), then stops. With `timeoutMs`, records still
   * undelivered by then fail with ClosedError (some may still reach the broker).
   */
  close(options: { timeoutMs?: number } = {}): Promise<void> {
    this.closed ??= (async () => {
      this.closing = true;
      const flushed = this.flush();
      const timeoutMs = options.timeoutMs;
      if (timeoutMs === undefined || !Number.isFinite(timeoutMs)) {
        await flushed;
      } else {
        let timer: NodeJS.Timeout | undefined;
        const expired = await Promise.race([
          flushed.then(() => false),
          new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(true), Math.max(0, timeoutMs)))),
        ]);
        clearTimeout(timer);
        if (expired) this.abandonAll();
      }
      this.memory.close();
      this.wakeup.stop();
      this.stopWatchingMetadata();
      for (const topic of this.topicsOfInterest) this.cluster.removeInterest(topic);
      this.onClose(this);
    })();
    return this.closed;
  }

  /** Fails every undelivered record; answers that still arrive change nothing. */
  private abandonAll(): void {
    this.stopped = true;
    this.wakeup.stop();
    const err = new ClosedError('producer');
    for (const queue of this.active) for (const batch of queue.batches) if (!batch.done) batch.fail(err);
    this.active.clear();
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}
