/**
 * The cleaner's bulk work: reading segments in chunks of whole batches, decompressing, reading keys,
 * filling or consulting the offset map, rewriting and compressing, writing the cleaned file and its
 * fdatasync. InlineCompute does it on the calling thread (tests, tools); WorkerCompute does the same
 * in a worker thread (cleaner-worker.ts, at a low CPU priority), but for the fdatasync (a libuv
 * thread: see syncFile), so that a broker's event loop only pins segments, builds the new indexes
 * from what the worker reports, and swaps. With the record
 * work on the event loop an acks=1 producer's p50 went from about 1 ms to 17-28 ms while a large log
 * was cleaned; with only the reads and writes there, still 7-20 ms on a saturated machine, where the
 * broker's thread, kept busy, waits for a core (README: the cleaner's figures).
 */
import { type ChildProcess, fork } from 'node:child_process';
import { existsSync, fdatasync, fdatasyncSync, readSync, write, writeSync } from 'node:fs';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import {
  BATCH_HEADER_SIZE,
  BatchField,
  LOG_OVERHEAD,
  batchSize,
  compress,
  compressionOf,
  decompress,
  lastOffsetOf,
  readBatchHeader,
  writeBatchCrc,
  type BatchHeader,
} from '@samsa/protocol';
import {
  AbortedTransactions,
  batchVerdict,
  isControl,
  MarkerTracker,
  OffsetMap,
  recordsOf,
  retainRecord,
  visitRecordKeys,
  type AbortedRange,
  type CleanerRecord,
} from './cleaner-plan.js';
import { controlRecordOf } from './producer-state.js';

export interface MapChunkResult {
  /** The map filled up inside this chunk: the pass stops at endOffset. */
  readonly full: boolean;
  /** One past the last offset the map covers. */
  readonly endOffset: number;
  /** The newest batch timestamp the map covers wholly (-Infinity when none). */
  readonly newestTimestampMs: number;
}

export interface RewriteRulesData {
  /** Tombstones in batches with a largest timestamp at or below this may go. */
  readonly horizonMs: number;
  /** Last offsets of the producers' last data batches: those batches stay, even empty. */
  readonly lastOfProducers: readonly number[];
  /**
   * Producer id and epoch of the producers whose last write is a marker (no data batch since the
   * epoch it set): that marker stays, as Kafka keeps a producer's last batch.
   */
  readonly lastMarkers: ReadonlyArray<readonly [number, number]>;
}

/** What the rewrite did with each batch of a chunk, in order: kept as is, dropped, or new bytes. */
export interface RewriteChunkResult {
  /** 0 keep, 1 drop, 2 replaced by the next entry of `replacements`. */
  readonly verdicts: readonly number[];
  readonly replacements: readonly Buffer[];
  readonly removed: number;
}

/** A map chunk read from a file: where the next one starts and how much was read. */
export interface MapRangeResult extends MapChunkResult {
  readonly nextPosition: number;
  readonly bytesRead: number;
}

/** A rewrite chunk read from a segment and written to the cleaned file. */
export interface RewriteRangeResult {
  readonly nextPosition: number;
  readonly bytesRead: number;
  readonly bytesWritten: number;
  /** The batches written, in order: base offset, last offset, max timestamp, size (for the indexes). */
  readonly written: ReadonlyArray<readonly [number, number, number, number]>;
  readonly removed: number;
  /** Some batch was dropped or rewritten. */
  readonly changed: boolean;
  /** Offsets of the markers dropped (their aborted-transaction index entries go). */
  readonly droppedMarkers: readonly number[];
}

export interface CleanerCompute {
  /**
   * Starts a pass: empties the map, starts it at `offset`, and takes the aborted transactions that
   * overlap the range the pass cleans (their batches are skipped by the map and removed).
   */
  reset(offset: number, aborted: readonly AbortedRange[]): Promise<void>;
  /** Marks offsets up to `offset` as looked at; returns the map's end. */
  advanceTo(offset: number): Promise<number>;
  /** Keys in the map (for logs). */
  size(): Promise<number>;
  /**
   * Reads about `maxBytes` of whole batches of the open file `fd` from `position` (before `end`) and
   * maps them: adds their keys (at or after `firstDirtyOffset`) until the map is full. The compute
   * reads the file itself (the broker's thread only waits), so the caller keeps `fd` open until the
   * answer.
   */
  mapRange(
    fd: number,
    position: number,
    end: number,
    firstDirtyOffset: number,
    maxBytes: number,
  ): Promise<MapRangeResult>;
  /**
   * Reads about `maxBytes` of whole batches of `fd` from `position` (before `end`), rewrites them by
   * the rules (in offset order across calls, from the log start: see MarkerTracker), and writes what
   * is kept to `out.fd` at `out.position`.
   */
  rewriteRange(
    fd: number,
    range: { readonly position: number; readonly end: number; readonly maxBytes: number },
    rules: RewriteRulesData,
    out: { readonly fd: number; readonly position: number },
  ): Promise<RewriteRangeResult>;
  /**
   * fdatasync of `fd` (the cleaned file). Not on a low-priority thread: the fdatasync allocates the
   * file's blocks holding ext4 journal handles, and a thread the scheduler leaves waiting while it
   * holds one stops the journal's next commit, which every other fsync, and every write that
   * updates a file's size or mtime once the commit has begun, then wait for.
   */
  syncFile(fd: number): Promise<void>;
}

/** The record work on the calling thread, over `map`. */
export class InlineCompute implements CleanerCompute {
  private aborted = new AbortedTransactions([]);
  private readonly markers = new MarkerTracker();

  /**
   * The buffer every chunk is read into, reused: a chunk's bytes never outlive the call that read
   * it (keys are copied into the map, kept batches into the output). A fresh 256 KiB buffer per
   * chunk was external memory that made V8 collect the worker's heap again and again, and its
   * collector threads run at the process's priority, beside the broker's event loop.
   */
  private readBuffer = Buffer.allocUnsafeSlow(0);
  private readonly scratch = (length: number): Buffer => {
    if (this.readBuffer.length < length) this.readBuffer = Buffer.allocUnsafeSlow(length);
    return this.readBuffer.subarray(0, length);
  };

  constructor(private readonly map: OffsetMap) {}

  async reset(offset: number, aborted: readonly AbortedRange[]): Promise<void> {
    this.resetSync(offset, aborted);
  }

  resetSync(offset: number, aborted: readonly AbortedRange[]): void {
    this.map.clear();
    this.map.advanceTo(offset);
    this.aborted = new AbortedTransactions(aborted);
    this.markers.clear();
  }

  mapSync(batches: Buffer, firstDirtyOffset: number): MapChunkResult {
    const map = this.map;
    let newestTimestampMs = Number.NEGATIVE_INFINITY;
    for (let at = 0; at < batches.length; ) {
      const header = readBatchHeader(batches, at);
      const batch = batches.subarray(at, at + batchSize(header));
      at += batch.length;
      if (lastOffsetOf(header) < firstDirtyOffset) continue;
      // Markers and aborted data never supersede anything; committed transactional data does.
      if (!isControl(header) && !this.aborted.contains(header) && header.recordCount > 0) {
        const plain = plainRecords(batch, header);
        const fits = visitRecordKeys(plain, header, (offset, keyStart, keyEnd) => {
          if (offset < firstDirtyOffset) return true;
          if (keyStart < 0) {
            map.advanceTo(offset + 1);
            return true;
          }
          return map.putRange(plain, keyStart, keyEnd, offset);
        });
        if (!fits) return { full: true, endOffset: map.endOffset, newestTimestampMs };
        newestTimestampMs = Math.max(newestTimestampMs, header.maxTimestamp);
      }
      map.advanceTo(lastOffsetOf(header) + 1);
    }
    return { full: false, endOffset: map.endOffset, newestTimestampMs };
  }

  async advanceTo(offset: number): Promise<number> {
    return this.advanceSync(offset);
  }

  advanceSync(offset: number): number {
    this.map.advanceTo(offset);
    return this.map.endOffset;
  }

  /** Chunks of one pass must come in offset order, from the log start: the marker rules follow transactions. */
  rewriteSync(batches: Buffer, rules: RewriteRulesData): RewriteChunkResult {
    const producers: ProducersLast = {
      lastOfProducers: new Set(rules.lastOfProducers),
      lastMarkers: new Map(rules.lastMarkers),
    };
    const verdicts: number[] = [];
    const replacements: Buffer[] = [];
    let removed = 0;
    for (let at = 0; at < batches.length; ) {
      const header = readBatchHeader(batches, at);
      const batch = batches.subarray(at, at + batchSize(header));
      at += batch.length;
      // Per batch, not per segment: cleaning merges a tombstone's segment with newer ones.
      const pastHorizon = header.maxTimestamp <= rules.horizonMs;
      const result = this.rewriteBatch(batch, header, pastHorizon, producers);
      removed += result.removed;
      if (result.bytes === batch) verdicts.push(0);
      else if (result.bytes === undefined) verdicts.push(1);
      else {
        verdicts.push(2);
        replacements.push(result.bytes);
      }
    }
    return { verdicts, replacements, removed };
  }

  async size(): Promise<number> {
    return this.sizeSync();
  }

  async mapRange(
    fd: number,
    position: number,
    end: number,
    firstDirtyOffset: number,
    maxBytes: number,
  ): Promise<MapRangeResult> {
    return this.mapRangeSync(fd, position, end, firstDirtyOffset, maxBytes);
  }

  mapRangeSync(fd: number, position: number, end: number, firstDirtyOffset: number, maxBytes: number): MapRangeResult {
    const batches = readWholeBatches(fd, position, end, maxBytes, this.scratch);
    return {
      ...this.mapSync(batches, firstDirtyOffset),
      nextPosition: position + batches.length,
      bytesRead: batches.length,
    };
  }

  async rewriteRange(
    fd: number,
    range: { readonly position: number; readonly end: number; readonly maxBytes: number },
    rules: RewriteRulesData,
    out: { readonly fd: number; readonly position: number },
  ): Promise<RewriteRangeResult> {
    return this.rewriteRangeSync(fd, range, rules, out);
  }

  rewriteRangeSync(
    fd: number,
    range: { readonly position: number; readonly end: number; readonly maxBytes: number },
    rules: RewriteRulesData,
    out: { readonly fd: number; readonly position: number },
  ): RewriteRangeResult {
    const { output, ...result } = this.rewriteRangeToBytesSync(fd, range, rules);
    writeFullySync(out.fd, output, out.position);
    return result;
  }

  /** rewriteRangeSync without the write: the bytes to write come back with the answer. */
  rewriteRangeToBytesSync(
    fd: number,
    range: { readonly position: number; readonly end: number; readonly maxBytes: number },
    rules: RewriteRulesData,
  ): RewriteRangeResult & { readonly output: Buffer } {
    const batches = readWholeBatches(fd, range.position, range.end, range.maxBytes, this.scratch);
    const result = this.rewriteSync(batches, rules);
    const parts: Buffer[] = [];
    const written: Array<readonly [number, number, number, number]> = [];
    const droppedMarkers: number[] = [];
    let replacement = 0;
    let changed = false;
    let at = 0;
    for (const verdict of result.verdicts) {
      const header = readBatchHeader(batches, at);
      const original = batches.subarray(at, at + batchSize(header));
      at += original.length;
      if (verdict !== 0) changed = true;
      if (verdict === 1) {
        if (isControl(header)) droppedMarkers.push(lastOffsetOf(header));
        continue;
      }
      const bytes = verdict === 2 ? result.replacements[replacement++]! : original;
      parts.push(bytes);
      written.push([header.baseOffset, lastOffsetOf(header), header.maxTimestamp, bytes.length]);
    }
    const output = Buffer.concat(parts);
    return {
      output,
      nextPosition: range.position + batches.length,
      bytesRead: batches.length,
      bytesWritten: output.length,
      written,
      removed: result.removed,
      changed,
      droppedMarkers,
    };
  }

  async syncFile(fd: number): Promise<void> {
    fdatasyncSync(fd);
  }

  sizeSync(): number {
    return this.map.size;
  }

  /**
   * One batch through the rules: the same bytes when kept whole, undefined when dropped, else a new
   * batch with the surviving records' bytes, compressed with the batch's own codec. The header stays
   * as it was except for the length, the record count and the CRC: base offset and last offset delta
   * (so offsets keep their values and a batch keeps its place), timestamps, producer id, epoch and
   * base sequence (so producer state rebuilt from the log is what it was).
   */
  private rewriteBatch(
    batch: Buffer,
    header: BatchHeader,
    pastHorizon: boolean,
    producers: ProducersLast,
  ): { bytes: Buffer | undefined; removed: number } {
    if (isControl(header)) {
      const lastOfProducer = producers.lastMarkers.get(header.producerId) === header.producerEpoch;
      const type = markerTypeOf(batch);
      const removable = this.markers.markerRemovable(header, { type, pastHorizon, lastOfProducer });
      return removable ? { bytes: undefined, removed: header.recordCount } : { bytes: batch, removed: 0 };
    }
    this.markers.onData(header);
    const lastOfProducer = header.producerId >= 0 && producers.lastOfProducers.has(lastOffsetOf(header));
    // An empty batch (left by an earlier pass) stays only while it is its producer's last, as in Kafka.
    if (header.recordCount === 0) return { bytes: lastOfProducer ? batch : undefined, removed: 0 };
    const plain = plainRecords(batch, header);
    const records = recordsOf(plain, header);
    const kept = this.aborted.contains(header)
      ? []
      : records.filter((r) => retainRecord(r, { map: this.map, tombstonesExpired: pastHorizon }));
    const verdict = batchVerdict(records, kept, lastOfProducer);
    const removed = records.length - kept.length;
    if (verdict.kind === 'keep') return { bytes: batch, removed };
    if (verdict.kind === 'drop') return { bytes: undefined, removed };
    return { bytes: buildBatch(batch, header, plain, verdict.records), removed };
  }
}

interface ProducersLast {
  readonly lastOfProducers: ReadonlySet<number>;
  readonly lastMarkers: ReadonlyMap<number, number>;
}

/** A marker's control type (abort or commit); undefined for a control batch that is not a marker. */
function markerTypeOf(batch: Buffer): number | undefined {
  try {
    return controlRecordOf(batch).type;
  } catch {
    return undefined;
  }
}

/**
 * Whole batches of the file from `position`: about `maxBytes` of them (at least one whole batch,
 * however large), none past `end`. A batch whose length does not fit is corruption.
 */
function readWholeBatches(
  fd: number,
  position: number,
  end: number,
  maxBytes: number,
  scratch: (length: number) => Buffer,
): Buffer {
  let buffer = readFullySync(fd, scratch(Math.min(maxBytes, end - position)), position);
  let at = 0;
  while (at + LOG_OVERHEAD <= buffer.length) {
    const size = LOG_OVERHEAD + buffer.readInt32BE(at + BatchField.batchLength);
    if (size < BATCH_HEADER_SIZE || position + at + size > end) {
      throw new Error(`a batch of ${size} bytes at position ${position + at} does not fit the segment (${end} bytes)`);
    }
    if (at + size > buffer.length) {
      if (at > 0) break;
      buffer = readFullySync(fd, scratch(size), position); // one batch larger than maxBytes
    }
    at += size;
  }
  if (at === 0 && end > position) throw new Error(`a torn batch at position ${position} (segment of ${end} bytes)`);
  return buffer.subarray(0, at);
}

/** Fills `buffer` from the file at `position`. */
function readFullySync(fd: number, buffer: Buffer, position: number): Buffer {
  const length = buffer.length;
  for (let done = 0; done < length; ) {
    const n = readSync(fd, buffer, done, length - done, position + done);
    if (n === 0) throw new Error(`the file ended at ${position + done}, ${length - done} bytes short`);
    done += n;
  }
  return buffer;
}

function writeFullySync(fd: number, bytes: Buffer, position: number): void {
  for (let done = 0; done < bytes.length; ) done += writeSync(fd, bytes, done, bytes.length - done, position + done);
}

/** The decompressed record bytes of a whole batch. */
function plainRecords(batch: Buffer, header: BatchHeader): Buffer {
  const payload = batch.subarray(BATCH_HEADER_SIZE);
  const codec = compressionOf(header.attributes);
  return codec === 'none' ? payload : decompress(codec, payload, { errorPosition: BATCH_HEADER_SIZE });
}

function buildBatch(batch: Buffer, header: BatchHeader, plain: Buffer, kept: readonly CleanerRecord[]): Buffer {
  const recordBytes = Buffer.concat(kept.map((r) => plain.subarray(r.start, r.end)));
  const codec = compressionOf(header.attributes);
  const payload = codec === 'none' ? recordBytes : compress(codec, recordBytes);
  const out = Buffer.allocUnsafe(BATCH_HEADER_SIZE + payload.length);
  batch.copy(out, 0, 0, BATCH_HEADER_SIZE);
  payload.copy(out, BATCH_HEADER_SIZE);
  out.writeInt32BE(out.length - LOG_OVERHEAD, BatchField.batchLength);
  out.writeInt32BE(kept.length, BatchField.recordCount);
  writeBatchCrc(out, 0, { batchLength: out.length - LOG_OVERHEAD });
  return out;
}

/** A request to the worker and its answer, matched by id. */
export type WorkerRequest =
  | { readonly id: number; readonly op: 'reset'; readonly offset: number; readonly aborted: readonly AbortedRange[] }
  | { readonly id: number; readonly op: 'advance'; readonly offset: number }
  | { readonly id: number; readonly op: 'size' }
  | {
      readonly id: number;
      readonly op: 'mapRange';
      readonly fd: number;
      readonly position: number;
      readonly end: number;
      readonly firstDirtyOffset: number;
      readonly maxBytes: number;
    }
  | {
      readonly id: number;
      readonly op: 'rewriteRange';
      readonly fd: number;
      readonly range: { readonly position: number; readonly end: number; readonly maxBytes: number };
      readonly rules: RewriteRulesData;
      readonly out: { readonly fd: number; readonly position: number };
    }
  | {
      readonly id: number;
      readonly op: 'rewriteRangeToBytes';
      readonly fd: number;
      readonly range: { readonly position: number; readonly end: number; readonly maxBytes: number };
      readonly rules: RewriteRulesData;
    }
  | { readonly id: number; readonly op: 'syncFile'; readonly fd: number };

export type WorkerReply = { readonly id: number; readonly result?: unknown; readonly error?: string };

/**
 * Answers one request on `compute`: the loop of the worker thread (cleaner-worker.ts) and of the child
 * process (cleaner-process.ts). `fd` turns a descriptor named in the request into one this side can
 * use: the worker shares the broker's, the child reopens it.
 */
export function answerRequest(
  compute: InlineCompute,
  request: WorkerRequest,
  fd: (brokerFd: number, flags: 'r' | 'r+') => number,
): WorkerReply {
  try {
    return { id: request.id, result: serveRequest(compute, request, fd) };
  } catch (err) {
    return { id: request.id, error: err instanceof Error ? err.message : String(err) };
  }
}

function serveRequest(
  compute: InlineCompute,
  request: WorkerRequest,
  fd: (brokerFd: number, flags: 'r' | 'r+') => number,
): unknown {
  switch (request.op) {
    case 'reset':
      compute.resetSync(request.offset, request.aborted);
      return undefined;
    case 'advance':
      return compute.advanceSync(request.offset);
    case 'size':
      return compute.sizeSync();
    case 'mapRange':
      return compute.mapRangeSync(
        fd(request.fd, 'r'),
        request.position,
        request.end,
        request.firstDirtyOffset,
        request.maxBytes,
      );
    case 'rewriteRange': {
      const input = fd(request.fd, 'r');
      const out = { fd: fd(request.out.fd, 'r+'), position: request.out.position };
      return compute.rewriteRangeSync(input, request.range, request.rules, out);
    }
    case 'rewriteRangeToBytes':
      return compute.rewriteRangeToBytesSync(fd(request.fd, 'r'), request.range, request.rules);
    case 'syncFile':
      fdatasyncSync(fd(request.fd, 'r+'));
      return undefined;
  }
}

/** What the broker passes the cleaner's child process in argv[2] (JSON). */
export interface CleanerProcessOptions {
  readonly capacityBytes: number;
  readonly priority: CleanerThreadPriority;
  readonly brokerPid: number;
  /** The file that sets the child's autogroup's nice (tests point it elsewhere to see the fallback). */
  readonly autogroupPath: string;
}

/** The child's first message: whether it lowered its autogroup (else the broker uses a thread). */
export interface CleanerProcessHello {
  readonly hello: true;
  readonly autogroupNice?: number;
  readonly error?: string;
}

/** Where WorkerCompute runs the record work: a worker thread of the broker, or a child process. */
export type CleanerComputeWhere = 'thread' | 'process';

/** A notice for the broker's log (the process fell back to a thread, the process exited). */
export type CleanerComputeNotice = (level: 'info' | 'warn', context: Record<string, unknown>, message: string) => void;

/** How WorkerCompute's requests reach the thread or process that answers them. */
interface ComputeChannel {
  call(request: WorkerRequest): Promise<unknown>;
  close(): Promise<void>;
}

/**
 * Requests to a worker or child, matched with their answers by id. Every request still waiting fails
 * when the other side exits.
 */
class Pending {
  private nextId = 0;
  private readonly waiting = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();

  get size(): number {
    return this.waiting.size;
  }

  add(request: WorkerRequest, send: (request: WorkerRequest) => void): Promise<unknown> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.waiting.set(id, { resolve, reject });
      send({ ...request, id });
    });
  }

  answer(reply: WorkerReply): void {
    const waiter = this.waiting.get(reply.id);
    this.waiting.delete(reply.id);
    if (reply.error !== undefined) waiter?.reject(new Error(reply.error));
    else waiter?.resolve(reply.result);
  }

  failAll(err: Error): void {
    for (const waiter of this.waiting.values()) waiter.reject(err);
    this.waiting.clear();
  }
}

class ThreadChannel implements ComputeChannel {
  private readonly worker: Worker;
  private readonly pending = new Pending();

  constructor(capacityBytes: number, priority: CleanerThreadPriority) {
    this.worker = new Worker(WORKER_SCRIPT, { workerData: { capacityBytes, priority } });
    this.worker.unref();
    this.worker.on('message', (reply: WorkerReply) => this.pending.answer(reply));
    this.worker.on('error', (err) => this.pending.failAll(err));
    this.worker.on('exit', (code) => this.pending.failAll(new Error(`cleaner worker exited with code ${code}`)));
  }

  call(request: WorkerRequest): Promise<unknown> {
    return this.pending.add(request, (r) => this.worker.postMessage(r));
  }

  async close(): Promise<void> {
    await this.worker.terminate();
  }
}

/**
 * A child process in a session of its own (cleaner-process.js), or a worker thread where its
 * autogroup cannot be lowered. A child that exits fails the requests waiting and every later one
 * until the next pass's `reset`, which starts a new child: a pass never goes on with an empty map.
 */
class ProcessChannel implements ComputeChannel {
  private child: ChildProcess | undefined;
  private started: Promise<ComputeChannel | undefined> | undefined;
  private readonly pending = new Pending();
  private thread: ThreadChannel | undefined;
  private closed = false;

  constructor(
    private readonly capacityBytes: number,
    private readonly priority: CleanerThreadPriority,
    private readonly notice: CleanerComputeNotice,
    private readonly autogroupPath: string,
  ) {
    this.started = this.start();
  }

  /** The child's pid (tests), once it has started. */
  async pid(): Promise<number | undefined> {
    await this.started;
    return this.child?.pid;
  }

  async call(request: WorkerRequest): Promise<unknown> {
    if (this.started === undefined) {
      if (request.op !== 'reset') throw new Error('the cleaner process exited during the pass');
      this.started = this.start();
    }
    const fallback = await this.started;
    if (fallback !== undefined) return fallback.call(request);
    const child = this.child;
    if (child === undefined) throw new Error('the cleaner process exited during the pass');
    if (this.pending.size === 0) child.channel?.ref();
    try {
      return await this.pending.add(request, (r) => child.send(r));
    } finally {
      if (this.pending.size === 0) child.channel?.unref();
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.started;
    await this.thread?.close();
    const child = this.child;
    if (child === undefined || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGKILL');
    await exited;
  }

  /** Resolves to the thread to use instead, or undefined when the child answers. */
  private start(): Promise<ComputeChannel | undefined> {
    if (this.thread !== undefined) return Promise.resolve(this.thread);
    if (!existsSync(this.autogroupPath)) {
      // Not Linux, or a kernel without sched autogroup: a group of its own would gain nothing.
      this.notice('warn', { path: this.autogroupPath }, 'no sched autogroup: cleaning in a thread');
      return Promise.resolve(this.fallBack());
    }
    const options: CleanerProcessOptions = {
      capacityBytes: this.capacityBytes,
      priority: this.priority,
      brokerPid: process.pid,
      autogroupPath: this.autogroupPath,
    };
    const child = fork(fileURLToPath(PROCESS_SCRIPT), [JSON.stringify(options)], {
      detached: true, // setsid: a session, so an autogroup, of its own
      stdio: ['ignore', 'ignore', 'ignore', 'ipc'],
      serialization: 'advanced', // -Infinity and undefined survive, as with a worker
      execArgv: [],
    });
    this.child = child;
    // Like the worker, the child keeps no broker alive, but for the time its answer is awaited.
    child.unref();
    return new Promise((resolve) => {
      let answering = false;
      const onHello = (hello: CleanerProcessHello): void => {
        child.channel?.unref();
        if (hello.error === undefined) {
          answering = true;
          child.on('message', (reply: WorkerReply) => this.pending.answer(reply));
          this.notice('info', { cleanerPid: child.pid, autogroupNice: hello.autogroupNice }, 'cleaner process started');
          resolve(undefined);
          return;
        }
        this.notice(
          'warn',
          { reason: hello.error },
          'cleaner process cannot lower its autogroup: cleaning in a thread',
        );
        child.kill('SIGKILL');
        resolve(this.fallBack());
      };
      child.once('message', onHello);
      child.once('error', (err) => {
        this.notice('warn', { err }, 'cleaner process did not start: cleaning in a thread');
        resolve(this.fallBack());
      });
      child.once('exit', (code, signal) => {
        child.off('message', onHello);
        if (this.child === child && !answering && !this.closed) {
          // It died before its hello: a new one would too (no script, no memory); no respawning per pass.
          this.notice('warn', { code, signal }, 'cleaner process died at start: cleaning in a thread');
          resolve(this.fallBack());
          return;
        }
        resolve(this.child === child ? undefined : this.thread);
        if (this.child !== child) return;
        this.child = undefined;
        this.started = undefined;
        this.pending.failAll(new Error(`cleaner process exited (code ${code}, signal ${signal})`));
        if (!this.closed) this.notice('warn', { cleanerPid: child.pid, code, signal }, 'cleaner process exited');
      });
    });
  }

  private fallBack(): ThreadChannel {
    this.child = undefined;
    this.thread ??= new ThreadChannel(this.capacityBytes, this.priority);
    return this.thread;
  }
}

/**
 * The record work in a worker thread (cleaner-worker.js next to this file) or, with `where`
 * 'process', in a child process (cleaner-process.js), with its own map either way.
 */
export class WorkerCompute implements CleanerCompute {
  private readonly channel: ComputeChannel;

  /**
   * `syncOnWorker`: the fdatasync on the worker thread (the benchmark's A/B) instead of a libuv
   * thread at the broker's priority (see CleanerCompute.syncFile).
   */
  constructor(
    capacityBytes: number,
    priority: CleanerThreadPriority = DEFAULT_CLEANER_THREAD_PRIORITY,
    private readonly syncOnWorker = false,
    where: CleanerComputeWhere = 'thread',
    notice: CleanerComputeNotice = () => {},
    autogroupPath = '/proc/self/autogroup',
    /**
     * The cleaned file's writes on a libuv thread of the broker, the bytes coming back with the
     * answer (default in 'process' mode): a write that changes a file's size or mtime holds an ext4
     * journal handle, and a helper left waiting for a core while it holds one stalls the journal's
     * next commit, and every append behind it (see syncFile). A helper in a nice-19 group waits longer.
     */
    private readonly writeInBroker = where === 'process',
  ) {
    this.channel =
      where === 'process'
        ? new ProcessChannel(capacityBytes, priority, notice, autogroupPath)
        : new ThreadChannel(capacityBytes, priority);
  }

  /** The child process's pid in 'process' mode once started (undefined on a thread). */
  async processId(): Promise<number | undefined> {
    return this.channel instanceof ProcessChannel ? this.channel.pid() : undefined;
  }

  reset(offset: number, aborted: readonly AbortedRange[]): Promise<void> {
    return this.channel.call({ id: 0, op: 'reset', offset, aborted }) as Promise<void>;
  }

  advanceTo(offset: number): Promise<number> {
    return this.channel.call({ id: 0, op: 'advance', offset }) as Promise<number>;
  }

  size(): Promise<number> {
    return this.channel.call({ id: 0, op: 'size' }) as Promise<number>;
  }

  mapRange(
    fd: number,
    position: number,
    end: number,
    firstDirtyOffset: number,
    maxBytes: number,
  ): Promise<MapRangeResult> {
    return this.channel.call({
      id: 0,
      op: 'mapRange',
      fd,
      position,
      end,
      firstDirtyOffset,
      maxBytes,
    }) as Promise<MapRangeResult>;
  }

  async rewriteRange(
    fd: number,
    range: { readonly position: number; readonly end: number; readonly maxBytes: number },
    rules: RewriteRulesData,
    out: { readonly fd: number; readonly position: number },
  ): Promise<RewriteRangeResult> {
    if (!this.writeInBroker) {
      return this.channel.call({ id: 0, op: 'rewriteRange', fd, range, rules, out }) as Promise<RewriteRangeResult>;
    }
    const answer = (await this.channel.call({
      id: 0,
      op: 'rewriteRangeToBytes',
      fd,
      range,
      rules,
    })) as RewriteRangeResult & {
      readonly output: Uint8Array;
    };
    const { output, ...result } = answer;
    for (let done = 0; done < output.length; ) {
      done += (await writeOnPool(out.fd, output, done, output.length - done, out.position + done)).bytesWritten;
    }
    return result;
  }

  async syncFile(fd: number): Promise<void> {
    if (this.syncOnWorker) await this.channel.call({ id: 0, op: 'syncFile', fd });
    else await fdatasyncOnPool(fd);
  }

  close(): Promise<void> {
    return this.channel.close();
  }
}

const WORKER_SCRIPT = new URL('./cleaner-worker.js', import.meta.url);
const PROCESS_SCRIPT = new URL('./cleaner-process.js', import.meta.url);
const fdatasyncOnPool = promisify(fdatasync);
const writeOnPool = promisify(write);

/** A nice value for the cleaner's worker threads (0: the broker's priority), or 'idle': SCHED_IDLE (Linux). */
export type CleanerThreadPriority = number | 'idle';

/**
 * The CPU priority of the cleaner's worker threads (cleaner-worker.ts). With the worker at the
 * broker's priority, an acks=1 append's p50 went from 1.5 ms to 3.6-10 ms and its p99 doubled while
 * a log was cleaned on a loaded 2-core machine (scripts/bench-cleaner.mjs --latency).
 */
export const DEFAULT_CLEANER_THREAD_PRIORITY: CleanerThreadPriority = 'idle';

/**
 * Where the record work runs unless asked otherwise: a worker thread. The child process measured
 * better than the thread at load 3-7 on the 2-core test machine and worse on the same machine nearly
 * idle (load 1-2: p99 while cleaning about twice idle's in every round, the thread's within noise of
 * idle); docs/performance-log.md. Until that is understood it is opt-in (LogCleanerSettings.computeIn).
 */
export const DEFAULT_CLEANER_COMPUTE_WHERE: CleanerComputeWhere = 'thread';

/**
 * `asked` (or the default), but a thread at priority 0 (the broker's): a child's group at nice 0 would
 * get as much CPU as the whole broker.
 */
export function computeWhere(
  asked: CleanerComputeWhere | undefined,
  priority: CleanerThreadPriority,
): CleanerComputeWhere {
  const where = asked ?? DEFAULT_CLEANER_COMPUTE_WHERE;
  return priority === 0 ? 'thread' : where;
}

/**
 * A worker thread or a child process (`where`) with a map of `capacityBytes` when the built scripts
 * are there (a broker runs the built package); the calling thread otherwise (tests that run the sources).
 */
export function createCompute(
  capacityBytes: number,
  priority: CleanerThreadPriority = DEFAULT_CLEANER_THREAD_PRIORITY,
  syncOnWorker = false,
  where: CleanerComputeWhere = computeWhere(undefined, priority),
  notice: CleanerComputeNotice = () => {},
  writeInBroker = where === 'process',
): CleanerCompute & { close(): Promise<void> } {
  if (existsSync(fileURLToPath(WORKER_SCRIPT))) {
    return new WorkerCompute(capacityBytes, priority, syncOnWorker, where, notice, undefined, writeInBroker);
  }
  const inline = new InlineCompute(new OffsetMap(capacityBytes));
  return Object.assign(inline, { close: async () => {} });
}
