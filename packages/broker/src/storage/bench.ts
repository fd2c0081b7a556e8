import { mkdir, mkdtemp, open, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { encodeBatch } from '@samsa/protocol';
import { openPartitionLog, type PartitionLog } from './log.js';
import type { LogConfig } from './config.js';

export interface StorageBenchmarkOptions {
  /** A directory on the disk to measure; the benchmark works in a fresh subdirectory and removes it. */
  readonly dir: string;
  /** Records to write (default 1,000,000). */
  readonly records?: number;
  /** Value bytes per record (default 100). */
  readonly recordSize?: number;
  /** Records per batch (default 1,000). */
  readonly batchSize?: number;
  /** maxBytes of each read (default 1 MiB, Kafka's max.partition.fetch.bytes). */
  readonly readMaxBytes?: number;
  /** Appends kept in flight (default 1: each append awaited, like the raw baseline). */
  readonly appendConcurrency?: number;
  /** Log config overrides (default: Kafka's defaults, fsync left to replication). */
  readonly config?: Partial<LogConfig>;
  readonly logger?: Logger;
  readonly onProgress?: (progress: { phase: 'build' | 'append' | 'read'; done: number; total: number }) => void;
  /** Batches per block when alternating raw writes and appends (default 20). */
  readonly interleaveBatches?: number;
  /** Rounds of raw write, append and read; each figure is the median round (default 5). */
  readonly rounds?: number;
  /** Keep the files (default false). */
  readonly keepFiles?: boolean;
}

export interface ThroughputFigure {
  readonly seconds: number;
  readonly bytes: number;
  readonly records: number;
  readonly recordsPerSec: number;
  /** Decimal megabytes (10^6 bytes) per second. */
  readonly mbPerSec: number;
}

export interface StorageBenchmarkResult {
  readonly records: number;
  readonly recordSize: number;
  readonly batchSize: number;
  readonly batches: number;
  readonly totalBytes: number;
  /** Time to encode the batches up front (not part of the append figure). */
  readonly buildSeconds: number;
  readonly rounds: number;
  /** Plain FileHandle writes of the same bytes in the same chunks: the baseline (median-ratio round). */
  readonly rawWrite: ThroughputFigure;
  /** PartitionLog.append of the prebuilt batches (validation, CRC check, stamping, indexes, write). */
  readonly append: ThroughputFigure;
  /** PartitionLog.read from the start to the end, from the page cache. */
  readonly read: ThroughputFigure;
  /** append.mbPerSec / rawWrite.mbPerSec, both from the round with the median ratio. */
  readonly appendToRawRatio: number;
}

/**
 * Measures the partition log against the raw speed of the same disk in the same run:
 * (1) sequential FileHandle writes, (2) appends through the log with fsync left to replication,
 * both of the same prebuilt batches and interleaved block by block (see writeRound),
 * (3) sequential reads through the log. Every phase runs `rounds` times (fresh files each time,
 * which also warms the JIT) and the median round is reported. Returns the figures; prints nothing.
 */
export async function runStorageBenchmark(options: StorageBenchmarkOptions): Promise<StorageBenchmarkResult> {
  const records = options.records ?? 1_000_000;
  const recordSize = options.recordSize ?? 100;
  const batchSize = options.batchSize ?? 1000;
  const readMaxBytes = options.readMaxBytes ?? 1024 * 1024;
  const concurrency = Math.max(1, options.appendConcurrency ?? 1);
  const roundCount = Math.max(1, options.rounds ?? 5);
  const interleaveBatches = Math.max(1, options.interleaveBatches ?? 20);
  const progress = options.onProgress ?? (() => {});
  await mkdir(options.dir, { recursive: true });
  const workDir = await mkdtemp(join(options.dir, 'samsa-bench-'));
  try {
    const started = performance.now();
    const batches: Buffer[] = [];
    for (let done = 0; done < records; done += batchSize) {
      batches.push(buildBenchmarkBatch(Math.min(batchSize, records - done), recordSize, Date.now()));
      if (batches.length % 100 === 0) progress({ phase: 'build', done: done + batchSize, total: records });
    }
    const buildSeconds = (performance.now() - started) / 1000;
    const totalBytes = batches.reduce((n, b) => n + b.length, 0);
    const rounds: Array<{ raw: ThroughputFigure; append: ThroughputFigure; read: ThroughputFigure }> = [];
    for (let round = 0; round < roundCount; round++) {
      const logDir = join(workDir, `bench-${round}`);
      const log = await openPartitionLog({
        dir: logDir,
        config: options.config ?? {},
        ...(options.logger ? { logger: options.logger } : {}),
      });
      try {
        const reportAppend = (done: number): void => progress({ phase: 'append', done, total: records });
        const written = await writeRound(
          join(workDir, `raw-${round}.bin`),
          log,
          batches,
          { concurrency, blockBatches: interleaveBatches },
          reportAppend,
        );
        const raw = figure(written.rawSeconds, totalBytes, records);
        const append = figure(written.appendSeconds, totalBytes, records);
        const { seconds, bytes } = await readRound(log, readMaxBytes);
        rounds.push({ raw, append, read: figure(seconds, bytes, records) });
      } finally {
        await log.close();
      }
      if (!options.keepFiles) await rm(logDir, { recursive: true, force: true });
      progress({ phase: 'read', done: round + 1, total: roundCount });
    }
    // The round with the median append/raw ratio supplies both write figures, so they agree.
    const byRatio = [...rounds].sort((a, b) => a.append.mbPerSec / a.raw.mbPerSec - b.append.mbPerSec / b.raw.mbPerSec);
    const { raw: rawWrite, append } = byRatio[Math.floor(byRatio.length / 2)]!;
    return {
      records,
      recordSize,
      batchSize,
      batches: batches.length,
      totalBytes,
      buildSeconds,
      rounds: roundCount,
      rawWrite,
      append,
      read: median(rounds.map((r) => r.read)),
      appendToRawRatio: append.mbPerSec / rawWrite.mbPerSec,
    };
  } finally {
    if (!options.keepFiles) await rm(workDir, { recursive: true, force: true });
  }
}

/**
 * Writes every batch twice: to a plain file with positioned FileHandle writes (the baseline) and
 * through the log. The two alternate in blocks of `blockBatches`, swapping which goes first, so
 * both see the same disk state and the same load from anything else running on the machine.
 */
async function writeRound(
  rawPath: string,
  log: PartitionLog,
  batches: Buffer[],
  options: { concurrency: number; blockBatches: number },
  progress: (done: number) => void,
): Promise<{ rawSeconds: number; appendSeconds: number }> {
  const fh = await open(rawPath, 'w');
  let rawMs = 0;
  let appendMs = 0;
  let position = 0;
  try {
    for (let start = 0, block = 0; start < batches.length; start += options.blockBatches, block++) {
      const chunk = batches.slice(start, start + options.blockBatches);
      const writeRaw = async (): Promise<void> => {
        const started = performance.now();
        for (const batch of chunk) {
          await fh.write(batch, 0, batch.length, position);
          position += batch.length;
        }
        rawMs += performance.now() - started;
      };
      const writeLog = async (): Promise<void> => {
        const started = performance.now();
        await appendAll(log, chunk, options.concurrency);
        appendMs += performance.now() - started;
      };
      if (block % 2 === 0) {
        await writeRaw();
        await writeLog();
      } else {
        await writeLog();
        await writeRaw();
      }
      progress(log.logEndOffset);
    }
  } finally {
    await fh.close();
    await rm(rawPath);
  }
  return { rawSeconds: rawMs / 1000, appendSeconds: appendMs / 1000 };
}

/** Appends in order with up to `concurrency` appends in flight. */
async function appendAll(log: PartitionLog, batches: Buffer[], concurrency: number): Promise<void> {
  if (concurrency === 1) {
    for (const batch of batches) await log.append(batch);
    return;
  }
  const inFlight = new Set<Promise<unknown>>();
  for (const batch of batches) {
    const append = log.append(batch);
    inFlight.add(append);
    void append.finally(() => inFlight.delete(append)).catch(() => {});
    if (inFlight.size >= concurrency) await Promise.race(inFlight);
  }
  await Promise.all(inFlight);
}

async function readRound(log: PartitionLog, maxBytes: number): Promise<{ seconds: number; bytes: number }> {
  const started = performance.now();
  let offset = log.logStartOffset;
  let bytes = 0;
  while (offset < log.logEndOffset) {
    const result = await log.read(offset, maxBytes);
    bytes += result.bytes.length;
    offset = result.lastOffset + 1;
  }
  return { seconds: (performance.now() - started) / 1000, bytes };
}

function median(figures: ThroughputFigure[]): ThroughputFigure {
  const sorted = [...figures].sort((a, b) => a.mbPerSec - b.mbPerSec);
  return sorted[Math.floor(sorted.length / 2)]!;
}

function figure(seconds: number, bytes: number, records: number): ThroughputFigure {
  return { seconds, bytes, records, recordsPerSec: records / seconds, mbPerSec: bytes / 1e6 / seconds };
}

/** Human-readable lines for `samsa bench storage`. */
export function formatStorageBenchmark(result: StorageBenchmarkResult): string[] {
  const line = (name: string, f: ThroughputFigure): string =>
    `${name.padEnd(10)} ${Math.round(f.recordsPerSec).toLocaleString('en-US').padStart(12)} ` +
    `records/s ${f.mbPerSec.toFixed(1).padStart(9)} MB/s  (${f.seconds.toFixed(3)} s)`;
  return [
    `${result.records.toLocaleString('en-US')} records of ${result.recordSize} bytes ` +
      `in batches of ${result.batchSize} (${(result.totalBytes / 1e6).toFixed(1)} MB); ` +
      `batches built in ${result.buildSeconds.toFixed(3)} s; median of ${result.rounds} rounds`,
    line('raw write', result.rawWrite),
    line('append', result.append),
    line('read', result.read),
    `append/raw ${(result.appendToRawRatio * 100).toFixed(1)}% (round with the median ratio; read: median round)`,
  ];
}

/**
 * A valid uncompressed v2 batch of `count` records with `valueSize`-byte values and no keys, built with
 * the protocol package's encoder (the same bytes a producer sends).
 */
export function buildBenchmarkBatch(count: number, valueSize: number, timestamp: number): Buffer {
  const records = Array.from({ length: count }, (_, i) => ({
    key: null,
    value: Buffer.alloc(valueSize, 0x61 + (i % 26)),
    timestamp,
  }));
  return encodeBatch(records, { now: timestamp });
}
