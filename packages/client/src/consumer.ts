import {
  ErrorCodes,
  decodeBatches,
  type RecordBatch,
  type RecordFactory,
  type RecordHeader,
  type v1,
} from '@samsa/protocol';
import type { Cluster } from './cluster.js';
import {
  AbortError,
  ClosedError,
  OffsetOutOfRangeError,
  SamsaClientError,
  errorFromCode,
  needsMetadataRefresh,
} from './errors.js';
import type { Logger } from './logger.js';
import { EARLIEST_TIMESTAMP, LATEST_TIMESTAMP, listOffsets, type TopicPartition } from './offsets.js';
import { backoffMs, type RetryOptions } from './retry.js';
import { Wakeup } from './wakeup.js';

export interface ConsumerOptions {
  /** Long poll: how long the broker may hold a Fetch waiting for minBytes (Kafka's fetch.max.wait.ms, 500). */
  maxWaitMs?: number;
  /** Kafka's fetch.min.bytes, 1. */
  minBytes?: number;
  /** Bytes per Fetch response (Kafka's fetch.max.bytes, 50 MiB). */
  maxBytes?: number;
  /** Bytes per partition per Fetch (Kafka's max.partition.fetch.bytes, 1 MiB). */
  maxPartitionFetchBytes?: number;
  /**
   * Where to start when a partition has no position, or its position is out of range:
   * 'latest' (Kafka's default), 'earliest', or 'none' (throw OffsetOutOfRangeError / refuse to start).
   */
  autoOffsetReset?: 'earliest' | 'latest' | 'none';
  /** Deadline of each Fetch on top of maxWaitMs; defaults to the client's requestTimeoutMs. */
  requestTimeoutMs?: number;
}

export interface ConsumedMessage {
  readonly topic: string;
  readonly partition: number;
  readonly offset: number;
  /** ms since the epoch (create time, or log append time if the topic uses it). */
  readonly timestamp: number;
  readonly key: Buffer | null;
  readonly value: Buffer | null;
  readonly headers: readonly RecordHeader[];
}

/** The records of one partition from one fetch, as `batches()` yields them. */
export interface ConsumedBatch {
  readonly topic: string;
  readonly partition: number;
  readonly messages: readonly ConsumedMessage[];
  /** The partition's high watermark when fetched: lag = highWatermark - (last offset + 1). */
  readonly highWatermark: number;
}

export type AssignmentSpec = TopicPartition | { topic: string; partition?: undefined };

class PartitionState {
  /** Next offset handed to the application; undefined until reset by policy or seek. */
  position: number | undefined;
  /** Next offset to fetch (ahead of position while a chunk is buffered). */
  fetchOffset = 0;
  /** Bumped by seek: buffered and in-flight data of an older generation is dropped. */
  generation = 0;
  buffered = false;
  inFlight = false;
  resetting = false;
  retryAtMs = 0;
  attempts = 0;
  highWatermark = -1;
  /** Out of range with autoOffsetReset 'none': stopped until seek. */
  stopped = false;

  constructor(
    readonly topic: string,
    readonly partition: number,
  ) {}
}

interface Chunk {
  readonly state: PartitionState;
  readonly generation: number;
  /** Built by the decoder as messages (messageFactory): handed to the application as they are. */
  readonly records: ConsumedMessage[];
  /** Where the partition's position goes once the chunk is consumed. */
  readonly nextOffset: number;
  readonly highWatermark: number;
}

const tpKey = (topic: string, partition: number) => `${topic}\0${partition}`;

/** Decoded records become messages directly: one object per record, not a record and a copy. */
function messageFactory(topic: string, partition: number): RecordFactory {
  // The object is both a KafkaRecord (what the decoder returns) and a ConsumedMessage.
  return (key, value, headers, timestamp, offset) => ({ topic, partition, offset, timestamp, key, value, headers });
}

/**
 * An assignment-based consumer. A background fetcher keeps at most one Fetch in flight and at most one
 * undelivered chunk per partition: while the application works through one chunk, the next is being
 * fetched (pipelining), and prefetched memory stays bounded (maxPartitionFetchBytes per partition,
 * maxBytes per response).
 */
export class Consumer implements AsyncIterable<ConsumedMessage>, AsyncDisposable {
  private readonly options: Required<ConsumerOptions>;
  private readonly partitions = new Map<string, PartitionState>();
  private readonly chunks: Chunk[] = [];
  private readonly controller = new AbortController();
  private readonly topicsOfInterest = new Set<string>();
  private errors: unknown[] = [];
  private waiter: (() => void) | undefined;
  private iterating = false;
  private started = false;
  private tickScheduled = false;
  private readonly wakeup = new Wakeup(() => this.tick());
  private closed = false;

  constructor(
    private readonly cluster: Cluster,
    options: ConsumerOptions,
    private readonly retry: RetryOptions,
    private readonly logger: Logger,
    private readonly onClose: (consumer: Consumer) => void,
  ) {
    this.options = {
      maxWaitMs: options.maxWaitMs ?? 500,
      minBytes: options.minBytes ?? 1,
      maxBytes: options.maxBytes ?? 52_428_800,
      maxPartitionFetchBytes: options.maxPartitionFetchBytes ?? 1_048_576,
      autoOffsetReset: options.autoOffsetReset ?? 'latest',
      requestTimeoutMs: options.requestTimeoutMs ?? cluster.options.requestTimeoutMs,
    };
  }

  /**
   * Replaces the assignment. `{ topic }` without a partition means every partition of the topic (as the
   * metadata says now). Partitions kept keep their positions; new ones start per autoOffsetReset.
   */
  async assign(specs: readonly AssignmentSpec[]): Promise<void> {
    this.checkOpen();
    const wanted: TopicPartition[] = [];
    for (const spec of specs) {
      if (spec.partition !== undefined) {
        wanted.push({ topic: spec.topic, partition: spec.partition });
      } else {
        const info = await this.cluster.topic(spec.topic);
        for (let p = 0; p < info.partitions.length; p++) wanted.push({ topic: spec.topic, partition: p });
      }
    }
    const next = new Map<string, PartitionState>();
    for (const { topic, partition } of wanted) {
      const key = tpKey(topic, partition);
      next.set(key, this.partitions.get(key) ?? new PartitionState(topic, partition));
    }
    for (const [key, state] of this.partitions) if (!next.has(key)) state.generation++;
    this.partitions.clear();
    for (const [key, state] of next) this.partitions.set(key, state);
    const topics = new Set(wanted.map((tp) => tp.topic));
    for (const topic of topics) if (!this.topicsOfInterest.has(topic)) this.cluster.addInterest(topic);
    for (const topic of this.topicsOfInterest) if (!topics.has(topic)) this.cluster.removeInterest(topic);
    this.topicsOfInterest.clear();
    for (const topic of topics) this.topicsOfInterest.add(topic);
    this.tick();
  }

  assignment(): TopicPartition[] {
    return [...this.partitions.values()].map(({ topic, partition }) => ({ topic, partition }));
  }

  /** Next offset the application will receive from this partition; undefined before it is known. */
  position(tp: TopicPartition): number | undefined {
    return this.state(tp).position;
  }

  /** Moves the position; the next message from this partition is the one at `offset` (or the first after it). */
  seek(target: TopicPartition & { offset: number }): void {
    const state = this.state(target);
    if (!Number.isSafeInteger(target.offset) || target.offset < 0) {
      throw new SamsaClientError(ErrorCodes.INVALID_REQUEST, `cannot seek to offset ${target.offset}`, {
        topic: target.topic,
        partition: target.partition,
        retriable: false,
      });
    }
    state.generation++;
    state.position = target.offset;
    state.fetchOffset = target.offset;
    state.buffered = false;
    state.stopped = false;
    state.retryAtMs = 0;
    this.tick();
  }

  /** Seeks to the log start offset of the given (default: all assigned) partitions; resolves with the offsets. */
  seekToBeginning(tps?: readonly TopicPartition[]): Promise<number[]> {
    return this.seekToListed(tps, EARLIEST_TIMESTAMP);
  }

  /** Seeks past the last record (the high watermark): only records produced from now on are received. */
  seekToEnd(tps?: readonly TopicPartition[]): Promise<number[]> {
    return this.seekToListed(tps, LATEST_TIMESTAMP);
  }

  /** Seeks to the first record with a timestamp at or after `timestampMs` (the end if there is none). */
  seekToTimestamp(timestampMs: number, tps?: readonly TopicPartition[]): Promise<number[]> {
    if (!Number.isSafeInteger(timestampMs) || timestampMs < 0) {
      throw new SamsaClientError(ErrorCodes.INVALID_REQUEST, `invalid timestamp ${timestampMs}`, { retriable: false });
    }
    return this.seekToListed(tps, timestampMs);
  }

  private async seekToListed(tps: readonly TopicPartition[] | undefined, timestamp: number): Promise<number[]> {
    this.checkOpen();
    const targets = tps ?? this.assignment();
    for (const tp of targets) this.state(tp);
    const answers = await listOffsets(
      this.cluster,
      targets.map((tp) => ({ ...tp, timestamp })),
      this.controller.signal,
    );
    let needEnd: TopicPartition[] = answers.filter((a) => a.offset < 0);
    const ends =
      needEnd.length > 0
        ? await listOffsets(
            this.cluster,
            needEnd.map((tp) => ({ ...tp, timestamp: LATEST_TIMESTAMP })),
            this.controller.signal,
          )
        : [];
    needEnd = [];
    const endByKey = new Map(ends.map((a) => [tpKey(a.topic, a.partition), a.offset]));
    return answers.map((a) => {
      const offset = a.offset >= 0 ? a.offset : (endByKey.get(tpKey(a.topic, a.partition)) ?? 0);
      this.seek({ topic: a.topic, partition: a.partition, offset });
      return offset;
    });
  }

  private state(tp: TopicPartition): PartitionState {
    const state = this.partitions.get(tpKey(tp.topic, tp.partition));
    if (!state)
      throw new SamsaClientError(
        ErrorCodes.INVALID_REQUEST,
        `${tp.topic}-${tp.partition} is not assigned to this consumer`,
        { ...tp, retriable: false },
      );
    return state;
  }

  private checkOpen(): void {
    if (this.closed) throw new ClosedError('consumer');
  }

  [Symbol.asyncIterator](): AsyncIterableIterator<ConsumedMessage> {
    return this.messages();
  }

  /**
   * Messages in offset order per partition. Ends when the consumer closes; throws AbortError when
   * `signal` aborts, and OffsetOutOfRangeError (autoOffsetReset 'none') or a non-retriable error
   * when fetching cannot go on. One iterator at a time.
   */
  messages(options: { signal?: AbortSignal } = {}): AsyncIterableIterator<ConsumedMessage> {
    return new MessageIterator(this, options.signal);
  }

  /** Like messages(), one partition's fetched records at a time: cheaper when handling records in bulk. */
  async *batches(options: { signal?: AbortSignal } = {}): AsyncGenerator<ConsumedBatch, void, undefined> {
    const signal = options.signal;
    this.beginIteration();
    try {
      for (;;) {
        const chunk = await this.nextChunk(signal);
        if (chunk === undefined) return;
        const { state, records: messages } = chunk;
        state.position = chunk.nextOffset;
        if (messages.length > 0)
          yield { topic: state.topic, partition: state.partition, messages, highWatermark: chunk.highWatermark };
        if (signal?.aborted) throw new AbortError(signal);
      }
    } finally {
      this.iterating = false;
    }
  }

  /** @internal Runs on the first next(), so an iterator never used holds nothing. */
  beginIteration(): void {
    this.checkOpen();
    if (this.iterating)
      throw new SamsaClientError(ErrorCodes.INVALID_REQUEST, 'this consumer is already being iterated', {
        retriable: false,
      });
    this.iterating = true;
    this.started = true;
  }

  /** @internal */
  endIteration(): void {
    this.iterating = false;
  }

  /** @internal Leaves a chunk unfinished: its partition resumes right after the last message handed out. */
  resumeAfter(chunk: Chunk): void {
    const { state, generation } = chunk;
    if (
      state.generation === generation &&
      state.position !== undefined &&
      this.partitions.get(tpKey(state.topic, state.partition)) === state
    ) {
      this.seek({ topic: state.topic, partition: state.partition, offset: state.position });
    }
  }

  /** @internal The next current chunk, releasing its partition for the next fetch (pipelining). */
  async nextChunk(signal: AbortSignal | undefined): Promise<Chunk | undefined> {
    this.tick();
    for (;;) {
      if (signal?.aborted) throw new AbortError(signal);
      if (this.errors.length > 0) throw this.errors.shift();
      if (this.closed) return undefined;
      const chunk = this.chunks.shift();
      if (chunk !== undefined) {
        if (chunk.generation !== chunk.state.generation) continue;
        chunk.state.buffered = false;
        this.tick();
        return chunk;
      }
      await new Promise<void>((resolve) => {
        const onAbort = () => resolve();
        this.waiter = () => {
          signal?.removeEventListener('abort', onAbort);
          resolve();
        };
        signal?.addEventListener('abort', onAbort, { once: true });
      });
      this.waiter = undefined;
    }
  }

  private notify(): void {
    this.waiter?.();
  }

  private tick(): void {
    if (this.tickScheduled || this.closed || !this.started) return;
    this.tickScheduled = true;
    queueMicrotask(() => {
      this.tickScheduled = false;
      this.fetchReady();
    });
  }

  /**
   * Starts one Fetch per broker for the fetchable partitions it leads: those with a position, no fetch
   * in flight and no undelivered chunk. Fetches are per partition set, not one per broker at a time, so
   * a long poll on idle partitions never holds up a busy partition whose chunk was just handed out.
   */
  private fetchReady(): void {
    if (this.closed) return;
    const now = Date.now();
    const toReset: PartitionState[] = [];
    const byLeader = new Map<number, PartitionState[]>();
    let needMetadata = false;
    for (const state of this.partitions.values()) {
      if (state.buffered || state.inFlight || state.resetting || state.stopped) continue;
      if (state.retryAtMs > now) {
        this.wakeup.at(state.retryAtMs);
        continue;
      }
      if (state.position === undefined) {
        toReset.push(state);
        continue;
      }
      const leader = this.cluster.leaderOf(state.topic, state.partition);
      if (leader < 0 || !this.cluster.brokers.has(leader)) {
        needMetadata = true;
        state.retryAtMs = now + backoffMs(state.attempts++, this.retry);
        this.wakeup.at(state.retryAtMs);
        continue;
      }
      let list = byLeader.get(leader);
      if (!list) {
        list = [];
        byLeader.set(leader, list);
      }
      list.push(state);
    }
    if (needMetadata) this.cluster.requestRefresh();
    if (toReset.length > 0) void this.resetPositions(toReset);
    for (const [leader, states] of byLeader) void this.fetchFrom(leader, states);
  }

  /** Positions from autoOffsetReset for partitions that have none. */
  private async resetPositions(states: PartitionState[]): Promise<void> {
    const policy = this.options.autoOffsetReset;
    if (policy === 'none') {
      for (const state of states) state.stopped = true;
      this.fail(
        new SamsaClientError(
          ErrorCodes.OFFSET_OUT_OF_RANGE,
          `no position for ${states.map((s) => `${s.topic}-${s.partition}`).join(', ')} and autoOffsetReset is 'none': seek first`,
          { retriable: false },
        ),
      );
      return;
    }
    for (const state of states) state.resetting = true;
    const generations = states.map((s) => s.generation);
    try {
      const answers = await listOffsets(
        this.cluster,
        states.map((s) => ({
          topic: s.topic,
          partition: s.partition,
          timestamp: policy === 'earliest' ? EARLIEST_TIMESTAMP : LATEST_TIMESTAMP,
        })),
        this.controller.signal,
      );
      states.forEach((state, i) => {
        if (state.generation !== generations[i] || state.position !== undefined) return;
        state.position = (answers[i] as { offset: number }).offset;
        state.fetchOffset = state.position;
      });
    } catch (err) {
      if (!this.closed) this.fail(err);
    } finally {
      for (const state of states) state.resetting = false;
      this.tick();
    }
  }

  private fail(err: unknown): void {
    this.errors.push(err);
    this.notify();
  }

  private async fetchFrom(leader: number, states: PartitionState[]): Promise<void> {
    const connection = this.cluster.connection(leader);
    if (!connection) {
      for (const state of states) this.backOff(state);
      this.cluster.requestRefresh();
      return;
    }
    const generations = states.map((s) => s.generation);
    const offsets = states.map((s) => s.fetchOffset);
    for (const state of states) state.inFlight = true;
    const topics = new Map<string, v1.FetchPartition[]>();
    for (const state of states) {
      let list = topics.get(state.topic);
      if (!list) {
        list = [];
        topics.set(state.topic, list);
      }
      const epoch = this.cluster.topics.get(state.topic)?.partitions[state.partition]?.leaderEpoch;
      list.push({
        partition: state.partition,
        fetchOffset: state.fetchOffset,
        partitionMaxBytes: this.options.maxPartitionFetchBytes,
        currentLeaderEpoch: epoch ?? -1,
      });
    }
    const request: v1.FetchRequest = {
      maxWaitMs: this.options.maxWaitMs,
      minBytes: this.options.minBytes,
      maxBytes: this.options.maxBytes,
      topics: [...topics].map(([name, partitions]) => ({ name, partitions })),
    };
    try {
      const response = await connection.call('Fetch', request, {
        timeoutMs: this.options.requestTimeoutMs + this.options.maxWaitMs,
        signal: this.controller.signal,
      });
      const byKey = new Map<string, v1.FetchPartitionResponse__Output>();
      for (const t of response.topics) for (const p of t.partitions) byKey.set(tpKey(t.name, p.partition), p);
      states.forEach((state, i) => {
        const result = byKey.get(tpKey(state.topic, state.partition));
        if (result && state.generation === generations[i]) this.handlePartition(state, offsets[i] as number, result);
      });
    } catch (err) {
      if (this.closed) return;
      const retriable = err instanceof SamsaClientError && err.retriable;
      this.logger.debug({ broker: leader, err }, 'fetch failed');
      if (!retriable) this.fail(err);
      if (err instanceof SamsaClientError && needsMetadataRefresh(err.code)) this.cluster.requestRefresh();
      for (const state of states) this.backOff(state);
    } finally {
      for (const state of states) state.inFlight = false;
      this.tick();
    }
  }

  private backOff(state: PartitionState): void {
    state.retryAtMs = Date.now() + backoffMs(state.attempts++, this.retry);
    this.wakeup.at(state.retryAtMs);
  }

  private handlePartition(state: PartitionState, fetchOffset: number, result: v1.FetchPartitionResponse__Output): void {
    if (result.errorCode !== 0) {
      this.handlePartitionError(state, fetchOffset, result);
      return;
    }
    state.attempts = 0;
    state.highWatermark = result.highWatermark;
    if (result.records.length === 0) return;
    let batches: RecordBatch[];
    try {
      batches = decodeBatches(result.records, {
        allowPartialTrailingBatch: true,
        recordFactory: messageFactory(state.topic, state.partition),
      });
    } catch (err) {
      // Corrupt bytes are retriable in the table: fetch again, maybe from another replica later.
      this.logger.warn({ topic: state.topic, partition: state.partition, fetchOffset, err }, 'corrupt fetch data');
      this.backOff(state);
      return;
    }
    if (batches.length === 0) return;
    const records: ConsumedMessage[] = [];
    for (const batch of batches) {
      if (batch.control) continue;
      // messageFactory made them.
      for (const message of batch.records as unknown as ConsumedMessage[])
        if (message.offset >= fetchOffset) records.push(message);
    }
    const last = batches[batches.length - 1]!.header;
    const nextOffset = Math.max(fetchOffset, last.baseOffset + last.lastOffsetDelta + 1);
    state.fetchOffset = nextOffset;
    state.buffered = true;
    this.chunks.push({ state, generation: state.generation, records, nextOffset, highWatermark: result.highWatermark });
    this.notify();
  }

  private handlePartitionError(
    state: PartitionState,
    fetchOffset: number,
    result: v1.FetchPartitionResponse__Output,
  ): void {
    const err = errorFromCode(result.errorCode, result.errorMessage || undefined, {
      topic: state.topic,
      partition: state.partition,
    });
    if (result.errorCode === ErrorCodes.OFFSET_OUT_OF_RANGE.code) {
      if (this.options.autoOffsetReset === 'none') {
        state.stopped = true;
        this.fail(new OffsetOutOfRangeError(state.topic, state.partition, fetchOffset));
      } else {
        this.logger.info(
          { topic: state.topic, partition: state.partition, fetchOffset, reset: this.options.autoOffsetReset },
          'offset out of range, resetting',
        );
        state.generation++;
        state.position = undefined;
      }
      return;
    }
    if (!err.retriable) {
      state.stopped = true;
      this.fail(err);
      return;
    }
    if (needsMetadataRefresh(result.errorCode)) this.cluster.requestRefresh();
    this.backOff(state);
  }

  /** Stops fetching and ends any iteration (the iterator finishes normally). */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.controller.abort();
    this.wakeup.stop();
    for (const topic of this.topicsOfInterest) this.cluster.removeInterest(topic);
    this.chunks.length = 0;
    this.notify();
    this.onClose(this);
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}

const DONE: IteratorReturnResult<undefined> = Object.freeze({ done: true, value: undefined });

/**
 * messages(): a hand-written iterator rather than an async generator, because a generator costs
 * several promise turns per message; this one resolves at once while the current chunk lasts.
 * Position moves as the application receives; a seek while handling a message wins.
 */
class MessageIterator implements AsyncIterableIterator<ConsumedMessage> {
  private chunk: Chunk | undefined;
  private index = 0;
  private started = false;
  private finished = false;

  constructor(
    private readonly consumer: Consumer,
    private readonly signal: AbortSignal | undefined,
  ) {}

  [Symbol.asyncIterator](): this {
    return this;
  }

  next(): Promise<IteratorResult<ConsumedMessage, undefined>> {
    if (this.finished) return Promise.resolve(DONE);
    if (!this.started) {
      try {
        this.consumer.beginIteration();
      } catch (err) {
        this.finished = true;
        return Promise.reject(err);
      }
      this.started = true;
    }
    if (this.signal?.aborted) return this.fail(new AbortError(this.signal));
    const chunk = this.chunk;
    if (chunk !== undefined) {
      const { state, generation, records } = chunk;
      if (state.generation === generation && this.index < records.length) {
        const message = records[this.index++] as ConsumedMessage;
        state.position = message.offset + 1;
        return Promise.resolve({ done: false, value: message });
      }
      if (state.generation === generation) state.position = chunk.nextOffset;
      this.chunk = undefined;
    }
    return this.nextChunk();
  }

  private async nextChunk(): Promise<IteratorResult<ConsumedMessage, undefined>> {
    let chunk: Chunk | undefined;
    try {
      chunk = await this.consumer.nextChunk(this.signal);
    } catch (err) {
      return this.fail(err);
    }
    if (chunk === undefined) return this.return();
    this.chunk = chunk;
    this.index = 0;
    return this.next();
  }

  private fail(err: unknown): Promise<never> {
    void this.return();
    return Promise.reject(err);
  }

  /** `break` lands here: an unfinished chunk makes its partition resume after the last message received. */
  return(): Promise<IteratorResult<ConsumedMessage, undefined>> {
    if (!this.finished) {
      this.finished = true;
      if (this.chunk !== undefined && this.index < this.chunk.records.length) this.consumer.resumeAfter(this.chunk);
      this.chunk = undefined;
      if (this.started) this.consumer.endIteration();
    }
    return Promise.resolve(DONE);
  }

  throw(err?: unknown): Promise<IteratorResult<ConsumedMessage, undefined>> {
    void this.return();
    return Promise.reject(err);
  }
}
