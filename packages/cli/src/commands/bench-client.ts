import { randomBytes } from 'node:crypto';
import hdr from 'hdr-histogram-js';
import type { Acks, CompressionName, Message, ProduceRequestTiming } from '@samsa/client';
import { CliError } from '../errors.js';
import { connect } from '../connect.js';
import { Outstanding, pacedSends } from './bench-pacing.js';
import { producerOptionsFrom } from './producer-properties.js';

/** Most records in one sendBatch call: at full speed, big enough to keep per-call overhead out of the figures. */
const RECORDS_PER_CALL = 1000;
/** Records sent and not yet acknowledged; the producer's bufferMemory bounds memory on top. */
const RECORDS_IN_FLIGHT = 64_000;
const REPORT_INTERVAL_MS = 2000;

export interface BenchFigures {
  records: number;
  seconds: number;
  recordsPerSec: number;
  mbPerSec: number;
  p50Ms: number;
  p99Ms: number;
  p999Ms: number;
  maxMs: number;
  /**
   * The records' latencies in µs as an HdrHistogram in its compressed base64 form (hdr-histogram-js
   * decodeFromCompressedBase64), so runs can be pooled: a p99 over several runs' records together.
   */
  latencyHistogram: string;
  /**
   * bench produce: its Produce requests (answered ones, sent in the figures' period) and Kafka's two
   * producer timings of them, which split a record's latency into the wait in the producer and the
   * request's round trip: what the oldest batch waited before its request went out, and the request's
   * time to its answer.
   */
  requests?: number;
  queueTimeP50Ms?: number;
  queueTimeP99Ms?: number;
  requestLatencyP50Ms?: number;
  requestLatencyP99Ms?: number;
  /**
   * bench end-to-end: the same records' acknowledgement latency (send → the producer's acknowledgement)
   * and how long after its step's acknowledgement the consumer received each record (0 when it came
   * first), which split a record's end-to-end time into the produce path and the consumer's.
   */
  acknowledgedP50Ms?: number;
  acknowledgedP99Ms?: number;
  afterAckP50Ms?: number;
  afterAckP99Ms?: number;
  /** bench end-to-end: the share of records the consumer received before their step was acknowledged. */
  receivedBeforeAck?: number;
  /**
   * bench produce and end-to-end: the CPU time (user + system, process.cpuUsage) the bench process used
   * over the figures' period per record, in µs: the producer's (and consumer's) own cost, which on a
   * small machine queues the brokers' work behind it.
   */
  clientCpuUsPerRecord?: number;
}

function histogram(): hdr.Histogram {
  return hdr.build({
    lowestDiscernibleValue: 1,
    highestTrackableValue: 3_600_000_000,
    numberOfSignificantValueDigits: 3,
  });
}

/**
 * Percentile `p` of a histogram of µs, in ms. A percentile is reported as the top of its histogram bucket,
 * which can lie above the largest value recorded: it is capped there.
 */
function percentileMs(h: hdr.Histogram, p: number): number {
  return Math.min(h.getValueAtPercentile(p), h.maxValue) / 1000;
}

function figures(records: number, bytes: number, seconds: number, latencyUs: hdr.Histogram): BenchFigures {
  const ms = (p: number) => percentileMs(latencyUs, p);
  return {
    records,
    seconds,
    recordsPerSec: records / seconds,
    mbPerSec: bytes / 1e6 / seconds,
    p50Ms: ms(50),
    p99Ms: ms(99),
    p999Ms: ms(99.9),
    maxMs: latencyUs.maxValue / 1000,
    latencyHistogram: hdr.encodeIntoCompressedBase64(latencyUs),
  };
}

export function formatFigures(what: string, f: BenchFigures): string {
  const ms = (v: number) => (v < 10 ? v.toFixed(2) : v.toFixed(1));
  const requests =
    f.requests === undefined || f.requests === 0
      ? ''
      : `; ${f.requests} requests: queue time p50 ${ms(f.queueTimeP50Ms ?? 0)} ms, ` +
        `p99 ${ms(f.queueTimeP99Ms ?? 0)} ms, ` +
        `request latency p50 ${ms(f.requestLatencyP50Ms ?? 0)} ms, p99 ${ms(f.requestLatencyP99Ms ?? 0)} ms`;
  const split =
    f.acknowledgedP50Ms === undefined
      ? ''
      : `; acknowledged p50 ${ms(f.acknowledgedP50Ms)} ms, p99 ${ms(f.acknowledgedP99Ms ?? 0)} ms, ` +
        `received after acknowledgement p50 ${ms(f.afterAckP50Ms ?? 0)} ms, p99 ${ms(f.afterAckP99Ms ?? 0)} ms ` +
        `(${(100 * (f.receivedBeforeAck ?? 0)).toFixed(0)}% before it)`;
  return (
    `${f.records} records ${what}, ${Math.round(f.recordsPerSec)} records/sec (${f.mbPerSec.toFixed(2)} MB/sec), ` +
    `latency p50 ${ms(f.p50Ms)} ms, p99 ${ms(f.p99Ms)} ms, ` +
    `p99.9 ${ms(f.p999Ms)} ms, max ${ms(f.maxMs)} ms${requests}${split}` +
    (f.clientCpuUsPerRecord === undefined ? '' : `; client CPU ${f.clientCpuUsPerRecord.toFixed(1)} µs/record`)
  );
}

/** The producer's per-request timings (onRequestTimed) as histograms, as LatencyRecorder keeps records'. */
class RequestTimings {
  private readonly queueUs = histogram();
  private readonly requestUs = histogram();
  private count = 0;

  add(queueTimeMs: number, requestLatencyMs: number): void {
    this.queueUs.recordValue(Math.max(1, Math.round(queueTimeMs * 1000)));
    this.requestUs.recordValue(Math.max(1, Math.round(requestLatencyMs * 1000)));
    this.count++;
  }

  /** Both sets of timings together. */
  plus(other: RequestTimings): RequestTimings {
    const sum = new RequestTimings();
    for (const t of [this, other]) {
      sum.queueUs.add(t.queueUs);
      sum.requestUs.add(t.requestUs);
      sum.count += t.count;
    }
    return sum;
  }

  addTo(f: BenchFigures): void {
    const ms = percentileMs;
    f.requests = this.count;
    if (this.count === 0) return;
    f.queueTimeP50Ms = ms(this.queueUs, 50);
    f.queueTimeP99Ms = ms(this.queueUs, 99);
    f.requestLatencyP50Ms = ms(this.requestUs, 50);
    f.requestLatencyP99Ms = ms(this.requestUs, 99);
  }
}

/**
 * bench end-to-end's split of each record's time: send → acknowledged (the produce path, which the
 * consumer cannot beat: it sees a record once the high watermark passes it, as the acknowledgement
 * does) and the step's acknowledgement → the consumer receiving the record (the fetch path).
 */
class AcknowledgementSplit {
  private readonly ackUs = histogram();
  private readonly afterUs = histogram();
  private before = 0;
  private after = 0;

  acknowledged(count: number, ms: number): void {
    this.ackUs.recordValueWithCount(Math.max(1, Math.round(ms * 1000)), count);
  }

  /** Both splits together. */
  plus(other: AcknowledgementSplit): AcknowledgementSplit {
    const sum = new AcknowledgementSplit();
    for (const t of [this, other]) {
      sum.ackUs.add(t.ackUs);
      sum.afterUs.add(t.afterUs);
      sum.before += t.before;
      sum.after += t.after;
    }
    return sum;
  }

  /** `count` records received `ms` after their step was acknowledged; undefined: not acknowledged yet. */
  received(count: number, ms: number | undefined): void {
    if (ms === undefined) this.before += count;
    else this.after += count;
    this.afterUs.recordValueWithCount(Math.max(1, Math.round((ms ?? 0) * 1000)), count);
  }

  addTo(f: BenchFigures): void {
    const ms = percentileMs;
    if (this.ackUs.totalCount === 0 || this.afterUs.totalCount === 0) return;
    f.acknowledgedP50Ms = ms(this.ackUs, 50);
    f.acknowledgedP99Ms = ms(this.ackUs, 99);
    f.afterAckP50Ms = ms(this.afterUs, 50);
    f.afterAckP99Ms = ms(this.afterUs, 99);
    f.receivedBeforeAck = this.before / (this.before + this.after);
  }
}

/**
 * A progress line every few seconds: the figures of the interval since the last one, with the latency
 * percentiles of the records timed in it when the caller times records (as Kafka's perf tool prints each
 * window's average and maximum), so a run shows how long its warm-up lasted.
 */
function ticker(what: string): {
  add(records: number, bytes: number, latencyUs?: number): void;
  stop(): void;
} {
  let records = 0;
  let bytes = 0;
  let since = performance.now();
  const latencyUs = histogram();
  const timer = setInterval(() => {
    const now = performance.now();
    const seconds = (now - since) / 1000;
    let latency = '';
    if (latencyUs.totalCount > 0) {
      const ms = (p: number) => percentileMs(latencyUs, p).toFixed(2);
      latency = `, latency p50 ${ms(50)} ms, p99 ${ms(99)} ms, max ${(latencyUs.maxValue / 1000).toFixed(1)} ms`;
      latencyUs.reset();
    }
    process.stderr.write(
      `${records} records ${what}, ${Math.round(records / seconds)} ` +
        `records/sec (${(bytes / 1e6 / seconds).toFixed(2)} MB/sec)${latency}\n`,
    );
    records = 0;
    bytes = 0;
    since = now;
  }, REPORT_INTERVAL_MS);
  return {
    add: (r, b, us) => {
      records += r;
      bytes += b;
      if (us !== undefined && r > 0) latencyUs.recordValueWithCount(us, r);
    },
    stop: () => clearInterval(timer),
  };
}

/**
 * Per-record latencies of a run, with --warmup-records W also those of the records from W on (the
 * steady state, whose clock starts when record W is sent). A fresh process spends its first fraction
 * of a second compiling hot code and opening connections, and that shows as latency, not as the
 * cluster's. Each record, request and split is recorded once, in the warm-up's set or the steady
 * state's (all in the first without a warm-up); the whole run's figures add the two at the end.
 */
export class LatencyRecorder {
  private readonly warmup = { records: histogram(), requests: new RequestTimings(), split: new AcknowledgementSplit() };
  private readonly steady:
    | { records: hdr.Histogram; requests: RequestTimings; split: AcknowledgementSplit }
    | undefined;
  private readonly start = performance.now();
  private steadyStart = this.start;
  private steadyStarted = false;
  private readonly startCpu = process.cpuUsage();
  private steadyStartCpu = this.startCpu;
  private readonly tick: ReturnType<typeof ticker>;

  constructor(
    private readonly o: { numRecords: number; warmupRecords: number; recordSize: number },
    what: string,
  ) {
    this.steady =
      o.warmupRecords > 0
        ? { records: histogram(), requests: new RequestTimings(), split: new AcknowledgementSplit() }
        : undefined;
    this.tick = ticker(what);
  }

  /** Record `first` (of a step starting at `first`) was sent at `sentMs`. */
  sent(first: number, sentMs: number): void {
    if (first === this.o.warmupRecords && !this.steadyStarted) {
      this.steadyStart = sentMs;
      this.steadyStarted = true;
      this.steadyStartCpu = process.cpuUsage();
    }
  }

  /** The set the records of the step that started at `first` count in. */
  private of(first: number): NonNullable<LatencyRecorder['steady']> {
    return this.steady !== undefined && first >= this.o.warmupRecords ? this.steady : this.warmup;
  }

  /** A Produce request of the run was answered `requestLatencyMs` after it was sent (onRequestTimed). */
  request(timing: ProduceRequestTiming): void {
    if (!timing.answered) return;
    const steady = this.steady;
    const sentMs = performance.now() - timing.requestLatencyMs;
    const into = steady !== undefined && this.steadyStarted && sentMs >= this.steadyStart ? steady : this.warmup;
    into.requests.add(timing.queueTimeMs, timing.requestLatencyMs);
  }

  /** `count` records of the step that started at record `first` took `ms` each. */
  record(first: number, count: number, ms: number): void {
    const us = Math.max(1, Math.round(ms * 1000));
    this.of(first).records.recordValueWithCount(us, count);
    this.tick.add(count, count * this.o.recordSize, us);
  }

  /** bench end-to-end: `count` records of the step that started at `first` were acknowledged `ms` after their send. */
  acknowledged(first: number, count: number, ms: number): void {
    this.of(first).split.acknowledged(count, ms);
  }

  /** bench end-to-end: `count` records of step `first` received `ms` after the step's acknowledgement. */
  receivedAfterAck(first: number, count: number, ms: number | undefined): void {
    this.of(first).split.received(count, ms);
  }

  stop(): void {
    this.tick.stop();
  }

  figures(): ProduceBenchFigures {
    const end = performance.now();
    const endCpu = process.cpuUsage();
    const cpuUsPerRecord = (since: NodeJS.CpuUsage, records: number): number =>
      (endCpu.user - since.user + endCpu.system - since.system) / records;
    const { numRecords, warmupRecords, recordSize } = this.o;
    const { warmup, steady } = this;
    const whole = histogram();
    whole.add(warmup.records);
    if (steady) whole.add(steady.records);
    const result: ProduceBenchFigures = figures(numRecords, numRecords * recordSize, (end - this.start) / 1000, whole);
    result.clientCpuUsPerRecord = cpuUsPerRecord(this.startCpu, numRecords);
    (steady ? warmup.requests.plus(steady.requests) : warmup.requests).addTo(result);
    (steady ? warmup.split.plus(steady.split) : warmup.split).addTo(result);
    if (steady) {
      const records = numRecords - warmupRecords;
      result.steadyState = figures(records, records * recordSize, (end - this.steadyStart) / 1000, steady.records);
      result.steadyState.clientCpuUsPerRecord = cpuUsPerRecord(this.steadyStartCpu, records);
      steady.requests.addTo(result.steadyState);
      steady.split.addTo(result.steadyState);
    }
    return result;
  }
}

export interface ProduceBenchOptions {
  topic: string;
  numRecords: number;
  recordSize: number;
  acks: Acks;
  batchSize: number;
  /** The producer's own default when not given. */
  lingerMs?: number;
  compression: CompressionName;
  throughput: number;
  warmupRecords: number;
  /** Burst mode: pace whole calls of this many records instead of single records. */
  burst?: number;
  /** Each record sent alone, the next only once it is acknowledged. */
  oneAtATime?: boolean;
  /** --producer-property key=value pairs (Kafka's names), applied over the options above. */
  producerProperty?: string[];
  bootstrapServer: string;
}

/** The whole run's figures, and with --warmup-records those of the records sent after the warm-up. */
export interface ProduceBenchFigures extends BenchFigures {
  steadyState?: BenchFigures;
}

/**
 * Like kafka-producer-perf-test: fixed-size random payloads sent as fast as the producer takes them,
 * or paced record by record at --throughput records/s (bench-pacing.ts); each record's latency is
 * from its own send to its own acknowledgement. Records handed over in one step share one sendBatch
 * call, whose onAcknowledged tells when each of its batches was acknowledged (a promise per record
 * would cost the producer a third of its top speed). --burst N paces whole calls of N records, the
 * old method: a record then also waits for the burst it is in. With --warmup-records W (as KIP-1052
 * added to Kafka's tool), the records after the first W also count in steady-state figures.
 */
export async function benchProduce(o: ProduceBenchOptions): Promise<ProduceBenchFigures> {
  await using samsa = await connect(o.bootstrapServer, 'samsa-producer-perf');
  const latency = new LatencyRecorder(o, 'sent');
  const producer = samsa.producer({
    acks: o.acks,
    batchSize: o.batchSize,
    lingerMs: o.lingerMs,
    compression: o.compression,
    ...producerOptionsFrom(o.producerProperty ?? []),
    onRequestTimed: (timing) => latency.request(timing),
  });
  const payload = randomBytes(o.recordSize);
  const perCall = o.oneAtATime ? 1 : (o.burst ?? RECORDS_PER_CALL);
  const chunk: Message[] = Array.from({ length: perCall }, () => ({ value: payload }));
  const calls = new Outstanding();
  let inFlight = 0;
  const pacing = {
    total: o.numRecords,
    recordsPerSec: o.throughput,
    maxPerStep: perCall,
    boundary: o.warmupRecords > 0 ? o.warmupRecords : undefined,
    wholeSteps: o.burst !== undefined,
  };
  try {
    await pacedSends(pacing, (first, count, t0) => {
      if (calls.failure !== undefined) throw calls.failure;
      latency.sent(first, t0);
      if (o.oneAtATime)
        return producer
          .send({ topic: o.topic, value: payload })
          .then(() => latency.record(first, 1, performance.now() - t0));
      inFlight += count;
      const call = producer.sendBatch({
        topic: o.topic,
        messages: count === chunk.length ? chunk : chunk.slice(0, count),
        onAcknowledged: (_, n) => {
          inFlight -= n;
          latency.record(first, n, performance.now() - t0);
        },
      });
      calls.track(call);
      return inFlight >= RECORDS_IN_FLIGHT ? calls.next() : undefined;
    });
    await calls.all();
    if (calls.failure !== undefined) throw calls.failure;
    await producer.flush();
  } finally {
    latency.stop();
    await producer.close();
  }
  return latency.figures();
}

export interface EndToEndBenchOptions {
  topic: string;
  numRecords: number;
  recordSize: number;
  acks: Acks;
  batchSize: number;
  lingerMs?: number;
  throughput: number;
  warmupRecords: number;
  oneAtATime?: boolean;
  producerProperty?: string[];
  timeoutMs: number;
  bootstrapServer: string;
}

/** Where an end-to-end record carries its send time and the index of its step's first record. */
const E2E_HEADER_BYTES = 16;

/** The index of the first record of the step an end-to-end record was sent in (undefined: not one of ours). */
function stepOf(value: Buffer | null | undefined): number | undefined {
  return value === null || value === undefined || value.length < E2E_HEADER_BYTES ? undefined : value.readDoubleLE(8);
}

/**
 * Like Kafka's EndToEndLatency: a producer and a consumer in one process on one topic; each record's
 * latency is from its send to the consumer receiving it (both read one clock). The value carries the
 * send time, so no record has to be looked up. The consumer starts at the log end; with
 * --one-at-a-time the next record is sent only once the last was received, otherwise records are
 * paced as in benchProduce.
 */
export async function benchEndToEnd(o: EndToEndBenchOptions): Promise<ProduceBenchFigures> {
  if (o.recordSize < E2E_HEADER_BYTES)
    throw new CliError(`--record-size must be at least ${E2E_HEADER_BYTES} (the send time and index)`, 2);
  await using samsa = await connect(o.bootstrapServer, 'samsa-end-to-end');
  const producer = samsa.producer({
    acks: o.acks,
    batchSize: o.batchSize,
    lingerMs: o.lingerMs,
    ...producerOptionsFrom(o.producerProperty ?? []),
  });
  const consumer = samsa.consumer({ autoOffsetReset: 'latest' });
  await consumer.assign([{ topic: o.topic }]);
  await consumer.seekToEnd();
  const latency = new LatencyRecorder(o, 'received');
  const perStep = o.oneAtATime ? 1 : RECORDS_PER_CALL;
  const stop = new AbortController();
  let received = 0;
  let onReceived: (() => void) | undefined;
  /** When each step (by its first record) was wholly acknowledged; dropped once received in full. */
  const steps = new Map<number, { unacknowledged: number; unreceived: number; acknowledgedAt?: number }>();
  const consuming = (async () => {
    for await (const batch of consumer.batches({ signal: stop.signal })) {
      const now = performance.now();
      const messages = batch.messages;
      for (let i = 0; i < messages.length; ) {
        const first = stepOf(messages[i]?.value);
        if (first === undefined) {
          i++;
          continue;
        }
        // A step's records share their send time, and arrive together: recorded as one run.
        let count = 1;
        while (i + count < messages.length && stepOf(messages[i + count]?.value) === first) count++;
        const value = messages[i]?.value as Buffer;
        i += count;
        latency.record(first, count, now - value.readDoubleLE(0));
        const step = steps.get(first);
        if (step === undefined) continue;
        const afterAckMs = step.acknowledgedAt === undefined ? undefined : now - step.acknowledgedAt;
        latency.receivedAfterAck(first, count, afterAckMs);
        step.unreceived -= count;
        if (step.unreceived === 0 && step.unacknowledged === 0) steps.delete(first);
      }
      received += batch.messages.length;
      onReceived?.();
      if (received >= o.numRecords) return;
    }
  })();
  const calls = new Outstanding();
  const pacing = {
    total: o.numRecords,
    recordsPerSec: o.throughput,
    maxPerStep: perStep,
    boundary: o.warmupRecords > 0 ? o.warmupRecords : undefined,
  };
  try {
    await pacedSends(pacing, (first, count, t0) => {
      if (calls.failure !== undefined) throw calls.failure;
      latency.sent(first, t0);
      // The records of a step share their send time, so they can share one value.
      const value = Buffer.alloc(o.recordSize);
      value.writeDoubleLE(t0, 0);
      value.writeDoubleLE(first, 8);
      const step: { unacknowledged: number; unreceived: number; acknowledgedAt?: number } = {
        unacknowledged: count,
        unreceived: count,
      };
      steps.set(first, step);
      const call = producer.sendBatch({
        topic: o.topic,
        // One message object for the step's records (the producer takes it as it is, without a copy).
        messages: new Array<Message>(count).fill({ value }),
        onAcknowledged: (_, n) => {
          const now = performance.now();
          latency.acknowledged(first, n, now - t0);
          step.unacknowledged -= n;
          if (step.unacknowledged > 0) return;
          step.acknowledgedAt = now;
          if (step.unreceived === 0) steps.delete(first);
        },
      });
      calls.track(call);
      if (o.oneAtATime) return untilReceived(first + count);
      return calls.size >= RECORDS_IN_FLIGHT / perStep ? calls.next() : undefined;
    });
    await calls.all();
    if (calls.failure !== undefined) throw calls.failure;
    await withTimeout(
      untilReceived(o.numRecords),
      o.timeoutMs,
      () => `${o.numRecords - received} records not received`,
    );
  } finally {
    stop.abort();
    await consuming.catch(() => undefined);
    latency.stop();
    await producer.close();
    await consumer.close();
  }
  return latency.figures();

  function untilReceived(count: number): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const check = (): void => {
        if (received >= count) {
          onReceived = undefined;
          resolve();
        }
      };
      onReceived = check;
      check();
      consuming.then(check, reject);
    });
  }
}

function withTimeout<T>(promise: Promise<T>, ms: number, what: () => string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    promise,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new CliError(`gave up after ${ms} ms: ${what()}`, 1)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

/**
 * Like kafka-consumer-perf-test: reads --num-records from the beginning of every partition of the
 * topic; latency is how long the consumer waited for each fetched chunk. The clock runs from the
 * first Fetch (connecting, metadata and the ListOffsets of the seek are before it) to the last
 * record received, not to the end of close().
 */
export async function benchConsume(o: {
  topic: string;
  numRecords: number;
  timeoutMs: number;
  bootstrapServer: string;
}): Promise<BenchFigures> {
  await using samsa = await connect(o.bootstrapServer, 'samsa-consumer-perf');
  const consumer = samsa.consumer({ autoOffsetReset: 'earliest' });
  await consumer.assign([{ topic: o.topic }]);
  await consumer.seekToBeginning();
  const latencyUs = histogram();
  const tick = ticker('consumed');
  let records = 0;
  let bytes = 0;
  const start = performance.now();
  let end = start;
  let waitStart = start;
  try {
    for await (const batch of consumer.batches({ signal: AbortSignal.timeout(o.timeoutMs) })) {
      latencyUs.recordValue(Math.max(1, Math.round((performance.now() - waitStart) * 1000)));
      let batchBytes = 0;
      for (const m of batch.messages) batchBytes += (m.value?.length ?? 0) + (m.key?.length ?? 0);
      records += batch.messages.length;
      bytes += batchBytes;
      end = performance.now();
      tick.add(batch.messages.length, batchBytes);
      if (records >= o.numRecords) break;
      waitStart = performance.now();
    }
  } finally {
    tick.stop();
    await consumer.close();
  }
  return figures(records, bytes, (end - start) / 1000, latencyUs);
}
