import { randomBytes } from 'node:crypto';
import type { Command } from 'commander';
import hdr from 'hdr-histogram-js';
import type { Acks, CompressionName, Message } from '@samsa/client';
import { CliError } from '../errors.js';
import { connect, withBootstrap } from '../connect.js';
import { parseIntOption } from '../options.js';
import { parseAcks } from './console.js';

/** Records per sendBatch call: big enough to keep per-call overhead out of the figures. */
const RECORDS_PER_CALL = 1000;
/** sendBatch calls in flight at once; the producer's bufferMemory bounds memory on top. */
const CALLS_IN_FLIGHT = 64;
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
}

function histogram(): hdr.Histogram {
  return hdr.build({
    lowestDiscernibleValue: 1,
    highestTrackableValue: 3_600_000_000,
    numberOfSignificantValueDigits: 3,
  });
}

function figures(records: number, bytes: number, seconds: number, latencyUs: hdr.Histogram): BenchFigures {
  // A percentile is reported as the top of its histogram bucket, which can lie above the largest value recorded.
  const ms = (p: number) => Math.min(latencyUs.getValueAtPercentile(p), latencyUs.maxValue) / 1000;
  return {
    records,
    seconds,
    recordsPerSec: records / seconds,
    mbPerSec: bytes / 1e6 / seconds,
    p50Ms: ms(50),
    p99Ms: ms(99),
    p999Ms: ms(99.9),
    maxMs: latencyUs.maxValue / 1000,
  };
}

export function formatFigures(what: string, f: BenchFigures): string {
  return (
    `${f.records} records ${what}, ${Math.round(f.recordsPerSec)} records/sec (${f.mbPerSec.toFixed(2)} MB/sec), ` +
    `latency p50 ${f.p50Ms.toFixed(1)} ms, p99 ${f.p99Ms.toFixed(1)} ms, ` +
    `p99.9 ${f.p999Ms.toFixed(1)} ms, max ${f.maxMs.toFixed(1)} ms`
  );
}

/** A progress line every few seconds: the figures of the interval since the last one. */
function ticker(what: string): { add(records: number, bytes: number): void; stop(): void } {
  let records = 0;
  let bytes = 0;
  let since = performance.now();
  const timer = setInterval(() => {
    const now = performance.now();
    const seconds = (now - since) / 1000;
    process.stderr.write(
      `${records} records ${what}, ${Math.round(records / seconds)} ` +
        `records/sec (${(bytes / 1e6 / seconds).toFixed(2)} MB/sec)\n`,
    );
    records = 0;
    bytes = 0;
    since = now;
  }, REPORT_INTERVAL_MS);
  return {
    add: (r, b) => {
      records += r;
      bytes += b;
    },
    stop: () => clearInterval(timer),
  };
}

interface ProduceBenchOptions {
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
  bootstrapServer: string;
}

/** The whole run's figures, and with --warmup-records those of the records sent after the warm-up. */
export interface ProduceBenchFigures extends BenchFigures {
  steadyState?: BenchFigures;
}

/**
 * Like kafka-producer-perf-test: fixed-size random payloads sent as fast as the producer takes them
 * (or at --throughput records/s); latency is from a send call to its acknowledgement, per record.
 * With --warmup-records W (as KIP-1052 added to Kafka's tool), the first W records count in the whole
 * run's figures only; the records after them also count in the steady-state figures, whose clock
 * starts when the first of them is sent. A fresh process spends its first fraction of a second
 * compiling hot code and opening connections, and that shows as latency, not as the cluster's.
 */
export async function benchProduce(o: ProduceBenchOptions): Promise<ProduceBenchFigures> {
  await using samsa = await connect(o.bootstrapServer, 'samsa-producer-perf');
  const producer = samsa.producer({
    acks: o.acks,
    batchSize: o.batchSize,
    lingerMs: o.lingerMs,
    compression: o.compression,
  });
  const payload = randomBytes(o.recordSize);
  const chunk: Message[] = Array.from({ length: RECORDS_PER_CALL }, () => ({ value: payload }));
  const whole = histogram();
  const steady = o.warmupRecords > 0 ? histogram() : undefined;
  const tick = ticker('sent');
  const inFlight = new Set<Promise<unknown>>();
  const start = performance.now();
  let steadyStart = start;
  let sent = 0;
  try {
    while (sent < o.numRecords) {
      // A call never straddles the end of the warm-up.
      const warmingUp = sent < o.warmupRecords;
      const count = Math.min(RECORDS_PER_CALL, o.numRecords - sent, warmingUp ? o.warmupRecords - sent : Infinity);
      if (o.throughput > 0) {
        const dueMs = start + (sent / o.throughput) * 1000;
        const waitMs = dueMs - performance.now();
        if (waitMs > 1) await new Promise((r) => setTimeout(r, waitMs));
      }
      const t0 = performance.now();
      if (steady && sent === o.warmupRecords) steadyStart = t0;
      const alsoSteady = steady && !warmingUp ? steady : undefined;
      const call = producer
        .sendBatch({ topic: o.topic, messages: count === chunk.length ? chunk : chunk.slice(0, count) })
        .then(() => {
          const us = Math.max(1, Math.round((performance.now() - t0) * 1000));
          whole.recordValueWithCount(us, count);
          alsoSteady?.recordValueWithCount(us, count);
          tick.add(count, count * o.recordSize);
        });
      inFlight.add(call);
      void call.finally(() => inFlight.delete(call)).catch(() => undefined);
      sent += count;
      if (inFlight.size >= CALLS_IN_FLIGHT) await Promise.race(inFlight);
    }
    await Promise.all(inFlight);
    await producer.flush();
  } finally {
    tick.stop();
    await producer.close();
  }
  const end = performance.now();
  const result: ProduceBenchFigures = figures(o.numRecords, o.numRecords * o.recordSize, (end - start) / 1000, whole);
  if (steady) {
    const records = o.numRecords - o.warmupRecords;
    result.steadyState = figures(records, records * o.recordSize, (end - steadyStart) / 1000, steady);
  }
  return result;
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

export function registerClientBench(bench: Command): void {
  withBootstrap(bench.command('produce'))
    .description('producer throughput and latency (like kafka-producer-perf-test)')
    .requiredOption('--topic <name>', 'topic to write to (created with the broker defaults if missing)')
    .option(
      '--num-records <n>',
      'records to send',
      parseIntOption('--num-records', 1, Number.MAX_SAFE_INTEGER),
      1_000_000,
    )
    .option('--record-size <bytes>', 'value bytes per record', parseIntOption('--record-size', 0, 10_000_000), 100)
    .option('--acks <0|1|all>', 'acknowledgement to wait for', parseAcks, 1 as Acks)
    .option('--batch-size <bytes>', 'producer batch.size', parseIntOption('--batch-size', 1, 64 * 1024 * 1024), 262_144)
    .option(
      '--linger-ms <ms>',
      "producer linger.ms (default: the producer's, 1)",
      parseIntOption('--linger-ms', 0, 60_000),
    )
    .option('--compression <codec>', 'none, gzip, snappy, lz4 or zstd', 'none')
    .option('--throughput <n>', 'records/s to aim for; -1 for as fast as possible', (v) => Number(v), -1)
    .option(
      '--warmup-records <n>',
      "records at the start left out of the steady-state figures (printed after the whole run's)",
      parseIntOption('--warmup-records', 0, Number.MAX_SAFE_INTEGER),
      0,
    )
    .option('--json', 'print the figures as JSON')
    .action(async (o: ProduceBenchOptions & { json?: boolean }) => {
      if (o.warmupRecords >= o.numRecords)
        throw new CliError(
          `--warmup-records (${o.warmupRecords}) must be less than --num-records (${o.numRecords})`,
          2,
        );
      const result = await benchProduce(o);
      if (o.json) {
        process.stdout.write(`${JSON.stringify(result)}\n`);
        return;
      }
      process.stdout.write(`${formatFigures('sent', result)}\n`);
      if (result.steadyState)
        process.stdout.write(
          `steady state after ${o.warmupRecords} warm-up records: ${formatFigures('sent', result.steadyState)}\n`,
        );
    });

  withBootstrap(bench.command('consume'))
    .description('consumer throughput from the beginning of a topic (like kafka-consumer-perf-test)')
    .requiredOption('--topic <name>', 'topic to read')
    .option(
      '--num-records <n>',
      'records to read',
      parseIntOption('--num-records', 1, Number.MAX_SAFE_INTEGER),
      1_000_000,
    )
    .option('--timeout-ms <ms>', 'give up after this long', parseIntOption('--timeout-ms', 1, 2 ** 31 - 1), 120_000)
    .option('--json', 'print the figures as JSON')
    .action(
      async (o: { topic: string; numRecords: number; timeoutMs: number; bootstrapServer: string; json?: boolean }) => {
        const result = await benchConsume(o);
        process.stdout.write(o.json ? `${JSON.stringify(result)}\n` : `${formatFigures('consumed', result)}\n`);
      },
    );
}
