/**
 * The log cleaner's I/O for one partition log: it builds the key → offset map over the dirty
 * section, rewrites the segments from the log start up to the map's end into `.cleaned` files, and
 * swaps them in. Every decision comes from cleaner-plan.ts; the bytes are read and written by the
 * compute (cleaner-compute.ts: a worker thread in the broker) through the pinned segments' file
 * descriptors; this file pins, builds the new segment's indexes, renames and swaps.
 *
 * It runs beside the append chain (see the ordering rules in append-chain.ts): appends and reads go
 * on while it reads and writes. The chain only sees the moment of the swap, which checks that the
 * group is still in the log as planned, renames `.cleaned` to `.swap` and replaces the group's
 * segments in memory; the rest of the swap runs on Durability's deletion queue.
 *
 * Crash safety, as Kafka's `.cleaned` / `.swap` protocol. The rename to `.swap` is the commit point:
 * - a crash before it leaves the old segments and a `.cleaned` file, which opening the log deletes;
 * - a crash after it leaves a `.swap` file, and opening the log finishes the swap: the segments the
 *   swap's offsets cover (the old ones) are deleted and the `.swap` becomes the segment
 *   (finishInterruptedCleaning below). The old files are renamed to `.deleted` before the `.swap`
 *   takes the group's name, so no crash leaves the new segment beside an old one it replaces.
 * Either the old segments or the new one are in the log afterwards, never both and never neither.
 */
import { open, rename, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { lastOffsetOf } from '@samsa/protocol';
import { type CleanerCompute, InlineCompute, type RewriteRulesData } from './cleaner-compute.js';
import type { Durability } from './durability.js';
import {
  INDEX_SUFFIX,
  LOG_SUFFIX,
  TIME_INDEX_SUFFIX,
  fsyncDir,
  parseSegmentFileName,
  readTextIfExists,
  segmentPaths,
  unlinkIfExists,
  writeFileAtomic,
} from './files.js';
import type { LogContext } from './log-context.js';
import {
  cleanableSection,
  deleteHorizonMs,
  groupSegments,
  type CleanableSection,
  type CleanerSegmentInfo,
  type CompactionConfig,
  type OffsetMap,
} from './cleaner-plan.js';
import type { ProducerStates } from './producer-states.js';
import { scanBatches } from './scan.js';
import { LogSegment } from './segment.js';
import type { SegmentSet } from './segment-set.js';

/** Kafka's per-log-dir file; here one per partition directory: the first offset not yet cleaned. */
export const CLEANER_CHECKPOINT_FILE = 'cleaner-offset-checkpoint';
export const CLEANED_SUFFIX = '.cleaned';
export const SWAP_SUFFIX = '.swap';
export const DELETED_SUFFIX = '.deleted';

/** The moments a crash test can stop the cleaner at, in order. */
export const CLEANER_STEPS = [
  'map-built',
  'cleaned-written',
  'markers-unindexed',
  'swap-renamed',
  'swap-in-memory',
  'old-renamed',
  'swap-installed',
  'indexes-written',
  'old-deleted',
  'checkpoint-written',
] as const;
export type CleanerStep = (typeof CLEANER_STEPS)[number];

export interface CleanerParts {
  readonly ctx: LogContext;
  readonly segments: SegmentSet;
  readonly durability: Durability;
  readonly producers: ProducerStates;
  /** Runs `op` on the append chain. */
  readonly onChain: <T>(op: () => Promise<T>) => Promise<T>;
}

export interface CleanOptions {
  /** The high watermark (or lower): nothing at or above it is cleaned. */
  readonly stableOffset: number;
  /** The map to fill on this thread; cleared first. Its capacity bounds the pass. */
  readonly map?: OffsetMap;
  /** Where the record work runs (a worker thread in the broker); InlineCompute over `map` when absent. */
  readonly compute?: CleanerCompute;
  /** Called with every chunk of bytes read or written (log.cleaner.io.max.bytes.per.second). */
  readonly throttle?: (bytes: number) => Promise<void>;
  /** Gives the event loop a turn (appends and reads) every so often; a setImmediate by default. */
  readonly pause?: () => Promise<void>;
  /** True once the cleaner should stop (the log closes, the broker stops). */
  readonly aborted?: () => boolean;
  /** Tests: throws at a step to play a crash there. */
  readonly crashAt?: (step: CleanerStep) => void;
  /** The cleaned file is fdatasynced after every this many bytes written (CLEANED_SYNC_BYTES by default). */
  readonly syncEveryBytes?: number;
}

export interface CleanStats {
  readonly firstDirtyOffset: number;
  /** Where the map ended: the new cleaner checkpoint. */
  readonly mapEndOffset: number;
  readonly dirtyBytes: number;
  readonly bytesRead: number;
  readonly bytesWritten: number;
  readonly sizeBefore: number;
  readonly sizeAfter: number;
  readonly recordsRemoved: number;
  readonly groupsSwapped: number;
}

/**
 * What the cleaner does on the broker's event loop (indexes of the new segment, bookkeeping) lets the
 * loop run (appends, fetches, replication) after this much, so no request waits behind more than
 * this. log.cleaner.io.max.bytes.per.second bounds the disk traffic (README: the cleaner's effect on
 * a producer's latency).
 */
const PAUSE_EVERY_MS = 0.5;
/** The compute reads (and rewrites) batches in chunks of about this size. */
const COMPUTE_CHUNK_BYTES = 256 * 1024;
/**
 * The cleaned file goes to disk in slices of about this size (RocksDB's bytes_per_sync, the log's
 * writeback.interval.bytes): the dirty pages a cleaning leaves stay bounded, and no single fdatasync
 * (whose journal commit every other fsync on the disk waits behind) writes a whole segment.
 */
export const CLEANED_SYNC_BYTES = 4 * 1024 * 1024;

const defaultPause = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/** The first offset not yet cleaned, from the checkpoint file (the log start when there is none). */
export async function readCleanerCheckpoint(dir: string): Promise<number> {
  const text = await readTextIfExists(join(dir, CLEANER_CHECKPOINT_FILE));
  const value = Number(text?.trim());
  return text !== undefined && Number.isSafeInteger(value) && value >= 0 ? value : 0;
}

/** The planner's view of a log's segments. */
export function segmentInfos(segments: SegmentSet): CleanerSegmentInfo[] {
  const all = segments.all;
  return all.map((s, i) => ({
    baseOffset: s.baseOffset,
    endOffset: all[i + 1]?.baseOffset ?? s.nextOffset,
    sizeBytes: s.size,
    largestTimestampMs: s.largestTimestamp,
  }));
}

/** What may be cleaned, bounded also by open transactions and the recovery point. */
export function sectionOf(
  parts: Pick<CleanerParts, 'segments' | 'durability' | 'producers'>,
  checkpoint: number,
  stableOffset: number,
  config: CompactionConfig,
  nowMs: number,
): CleanableSection {
  const { segments, durability, producers } = parts;
  const bound = Math.min(
    stableOffset,
    durability.recoveryPoint,
    producers.table.firstUnstableOffset() ?? Number.MAX_SAFE_INTEGER,
  );
  return cleanableSection(
    segmentInfos(segments),
    { checkpoint, logStartOffset: segments.startOffset, stableOffset: bound },
    config,
    nowMs,
  );
}

class Aborted extends Error {}

/**
 * One cleaning pass over a log: undefined when there is nothing dirty to clean, else what it did.
 * The caller moves the checkpoint to the returned mapEndOffset (CleanerCheckpoint.advance).
 */
export async function cleanLog(
  parts: CleanerParts,
  checkpoint: number,
  config: CompactionConfig,
  options: CleanOptions,
): Promise<CleanStats | undefined> {
  const { ctx, segments } = parts;
  const io = new CleanerIo(options);
  // Segments rolled a moment ago are cleanable once their flush is done (the recovery point moved).
  await parts.durability.settled();
  const section = sectionOf(parts, checkpoint, options.stableOffset, config, ctx.clock());
  if (section.dirtyBytes === 0) return undefined;
  const planned = segments.all.slice(0, section.uncleanableIndex);
  const infos = segmentInfos(segments).slice(0, section.uncleanableIndex);
  const sizeBefore = planned.reduce((n, s) => n + s.size, 0);
  try {
    const compute = options.compute ?? new InlineCompute(options.map!);
    // Every transaction with data in the range is decided: the section ends before the first open one.
    const aborted = parts.producers.aborted.overlapping(planned[0]?.baseOffset ?? 0, section.firstUncleanableOffset);
    await compute.reset(section.firstDirtyOffset, aborted);
    const { mapEndOffset, newestTimestampMs } = await buildOffsetMap(
      parts,
      planned.slice(section.firstDirtyIndex),
      section,
      compute,
      io,
    );
    options.crashAt?.('map-built');
    const horizonMs = deleteHorizonMs(infos, section, newestTimestampMs, config.deleteRetentionMs);
    const toClean = planned.filter((s) => s.baseOffset < mapEndOffset);
    const producers = parts.producers.table.all();
    const lastOfProducers = producers.flatMap((e) => (e.batches.length > 0 ? [e.batches.at(-1)!.lastOffset] : []));
    const lastMarkers = producers.filter((e) => e.batches.length === 0).map((e) => [e.producerId, e.epoch] as const);
    const infoOf = new Map(planned.map((s, i) => [s, infos[i]!]));
    let groupsSwapped = 0;
    let recordsRemoved = 0;
    let sizeAfter = sizeBefore;
    const rules = { horizonMs, lastOfProducers, lastMarkers };
    const withSegments = toClean.map((s) => ({ ...infoOf.get(s)!, segment: s }));
    for (const group of groupSegments(withSegments, config.segmentBytes)) {
      const result = await cleanGroup(parts, group, rules, compute, options, io);
      recordsRemoved += result.recordsRemoved;
      sizeAfter += result.sizeDelta;
      if (result.swapped) groupsSwapped++;
    }
    return {
      firstDirtyOffset: section.firstDirtyOffset,
      mapEndOffset,
      dirtyBytes: section.dirtyBytes,
      bytesRead: io.bytesRead,
      bytesWritten: io.bytesWritten,
      sizeBefore,
      sizeAfter,
      recordsRemoved,
      groupsSwapped,
    };
  } catch (err) {
    if (err instanceof Aborted) return undefined;
    throw err;
  }
}

/**
 * One log's cleaner checkpoint (the first offset not yet cleaned), in memory and in
 * `cleaner-offset-checkpoint`, and the only writer of that file. Two things move it: a cleaning pass
 * up to where its map reached (advance, beside the append chain), and a truncation down to the new log
 * end (lower, on the chain), which after an unclean election can go below where the pass in progress
 * reaches. So:
 * - writes run one at a time, each writing the value current when it starts: the temporary file is
 *   never written by two at once (two writers could rename each other's half-written file in, or fail
 *   a truncation on the other's rename), and the last write leaves the latest value. A crash at any
 *   moment leaves the file as one complete write left it, never above the truncation's offset once
 *   that write was done;
 * - a pass never moves the checkpoint above where a truncation since the pass began went (its map
 *   covered records that are gone; the offsets are written again and are dirty), and the pass stops
 *   there (truncatedBelow): its remaining swaps would install segments built from that map.
 */
export class CleanerCheckpoint {
  private writing: Promise<void> = Promise.resolve();
  /** The lowest offset truncated to since the pass in progress began; Infinity when none. */
  private truncatedTo = Number.POSITIVE_INFINITY;

  private constructor(
    private readonly dir: string,
    private current: number,
  ) {}

  /** The checkpoint saved in `dir` (0 when there is none or it is unreadable). */
  static async load(dir: string): Promise<CleanerCheckpoint> {
    return new CleanerCheckpoint(dir, await readCleanerCheckpoint(dir).catch(() => 0));
  }

  get offset(): number {
    return this.current;
  }

  /** A cleaning pass begins: the truncations that count against it are the ones from now on. */
  beginPass(): void {
    this.truncatedTo = Number.POSITIVE_INFINITY;
  }

  /** Whether a truncation since the pass began went below `offset` (the pass must stop). */
  truncatedBelow(offset: number): boolean {
    return this.truncatedTo < offset;
  }

  /** A pass cleaned up to `offset`: saved, unless a truncation since it began went below it. */
  async advance(offset: number): Promise<boolean> {
    if (this.truncatedBelow(offset)) return false;
    this.current = offset;
    await this.save();
    return true;
  }

  /** The log was truncated (or reset) to end at `offset`: the checkpoint goes no higher. */
  async lower(offset: number): Promise<void> {
    this.truncatedTo = Math.min(this.truncatedTo, offset);
    if (this.current <= offset) return;
    this.current = offset;
    await this.save();
  }

  private save(): Promise<void> {
    const write = this.writing.then(() => saveCleanerCheckpoint(this.dir, this.current));
    this.writing = write.catch(() => undefined);
    return write;
  }
}

/** Writes where the next pass's dirty section starts; only CleanerCheckpoint (one writer per file) calls it. */
async function saveCleanerCheckpoint(dir: string, offset: number): Promise<void> {
  await writeFileAtomic(join(dir, CLEANER_CHECKPOINT_FILE), `${offset}\n`, dir);
}

/** Counts bytes, throttles, and pauses for the event loop. */
class CleanerIo {
  bytesRead = 0;
  bytesWritten = 0;
  private lastPauseMs = performance.now();

  constructor(private readonly options: CleanOptions) {}

  async read(bytes: number): Promise<void> {
    this.bytesRead += bytes;
    await this.account(bytes);
  }

  async wrote(bytes: number): Promise<void> {
    this.bytesWritten += bytes;
    await this.account(bytes);
  }

  private async account(bytes: number): Promise<void> {
    if (this.options.aborted?.()) throw new Aborted();
    if (performance.now() - this.lastPauseMs >= PAUSE_EVERY_MS) {
      await (this.options.pause ?? defaultPause)();
      this.lastPauseMs = performance.now();
    }
    if (this.options.throttle) await this.options.throttle(bytes);
  }
}

/**
 * Fills the map from the dirty segments, oldest first, until it is full or the dirty section ends.
 * Returns the map's end (one past the last offset it covers) and the newest timestamp of the batches
 * it covers wholly. The compute reads the segments itself (through the pinned segment's descriptor).
 */
async function buildOffsetMap(
  parts: CleanerParts,
  dirty: readonly LogSegment[],
  section: CleanableSection,
  compute: CleanerCompute,
  io: CleanerIo,
): Promise<{ mapEndOffset: number; newestTimestampMs: number }> {
  let newestTimestampMs = Number.NEGATIVE_INFINITY;
  for (const segment of dirty) {
    const full = await withPinned(parts.segments, segment, async (fh) => {
      for (let position = 0; position < segment.size; ) {
        const result = await inSegment(segment, () =>
          compute.mapRange(fh.fd, position, segment.size, section.firstDirtyOffset, COMPUTE_CHUNK_BYTES),
        );
        newestTimestampMs = Math.max(newestTimestampMs, result.newestTimestampMs);
        position = result.nextPosition;
        await io.read(result.bytesRead);
        if (result.full) return true;
      }
      return false;
    });
    if (full) return { mapEndOffset: await compute.advanceTo(0), newestTimestampMs };
  }
  return { mapEndOffset: await compute.advanceTo(section.firstUncleanableOffset), newestTimestampMs };
}

/** Names the segment in an error of the compute's reading. */
async function inSegment<T>(segment: LogSegment, read: () => Promise<T>): Promise<T> {
  try {
    return await read();
  } catch (err) {
    throw new Error(`${(err as Error).message} in ${segment.paths.log}`, { cause: err });
  }
}

/** Runs `fn` with the segment's file open and a reference held, so it is not closed underneath. */
async function withPinned<T>(
  segments: SegmentSet,
  segment: LogSegment,
  fn: (fh: FileHandle) => Promise<T>,
): Promise<T> {
  if (segment.deleted) throw new Aborted();
  segment.refs++;
  try {
    return await fn(await segment.handle());
  } finally {
    segments.release(segment);
  }
}

/**
 * Rewrites one group of segments into `<base>.log.cleaned` and swaps it in. A group that would come
 * out unchanged (one segment, nothing removed) is left alone.
 */
async function cleanGroup(
  parts: CleanerParts,
  group: ReadonlyArray<CleanerSegmentInfo & { readonly segment: LogSegment }>,
  rules: RewriteRulesData,
  compute: CleanerCompute,
  options: CleanOptions,
  io: CleanerIo,
): Promise<{ swapped: boolean; recordsRemoved: number; sizeDelta: number }> {
  const { ctx } = parts;
  const olds = group.map((g) => g.segment);
  const base = olds[0]!.baseOffset;
  const cleanedPath = segmentPaths(ctx.dir, base).log + CLEANED_SUFFIX;
  const fresh = new LogSegment(ctx.dir, base, ctx.clock());
  fresh.resetIndexes();
  const fh = await open(cleanedPath, 'w+');
  fresh.fh = fh;
  let recordsRemoved = 0;
  let changed = olds.length > 1;
  const droppedMarkers: number[] = [];
  const sizes = olds.map((s) => s.size);
  try {
    // The compute reads the old segments and writes the cleaned file itself; this thread only builds
    // the new segment's indexes from what it reports.
    let outPosition = 0;
    let unsyncedBytes = 0;
    const syncEveryBytes = options.syncEveryBytes ?? CLEANED_SYNC_BYTES;
    for (const old of olds) {
      await withPinned(parts.segments, old, async (oldFh) => {
        for (let position = 0; position < old.size; ) {
          const range = { position, end: old.size, maxBytes: COMPUTE_CHUNK_BYTES };
          const result = await inSegment(old, () =>
            compute.rewriteRange(oldFh.fd, range, rules, { fd: fh.fd, position: outPosition }),
          );
          position = result.nextPosition;
          recordsRemoved += result.removed;
          if (result.changed) changed = true;
          droppedMarkers.push(...result.droppedMarkers);
          for (const [baseOffset, lastOffset, maxTimestamp, size] of result.written) {
            fresh.recordBatch(outPosition, baseOffset, lastOffset, maxTimestamp, size, ctx.config.indexIntervalBytes);
            outPosition += size;
          }
          await io.read(result.bytesRead);
          await io.wrote(result.bytesWritten);
          unsyncedBytes += result.bytesWritten;
          if (unsyncedBytes >= syncEveryBytes) {
            await compute.syncFile(fh.fd);
            unsyncedBytes = 0;
          }
        }
      });
    }
    fresh.size = outPosition;
    fresh.nextOffset = group[group.length - 1]!.endOffset;
    fresh.lastModifiedMs = Math.max(...olds.map((s) => s.lastModifiedMs));
    fresh.sealTimeIndex();
    if (!changed) {
      await discard(fh, cleanedPath);
      return { swapped: false, recordsRemoved: 0, sizeDelta: 0 };
    }
    await compute.syncFile(fh.fd);
    options.crashAt?.('cleaned-written');
  } catch (err) {
    await discard(fh, cleanedPath).catch(() => undefined);
    throw err;
  }
  const swapped = await swapIn(parts, olds, sizes, fresh, cleanedPath, droppedMarkers, options);
  if (!swapped) return { swapped, recordsRemoved: 0, sizeDelta: 0 };
  return { swapped, recordsRemoved, sizeDelta: fresh.size - sizes.reduce((n, size) => n + size, 0) };
}

async function discard(fh: FileHandle, path: string): Promise<void> {
  await fh.close().catch(() => undefined);
  await unlinkIfExists(path);
}

/**
 * The swap. On the chain: if the group is still in the log exactly as planned (retention,
 * DeleteRecords or truncation may have changed it meanwhile), `.cleaned` becomes `.swap` (the commit
 * point) and the new segment replaces the group in memory; readers holding an old segment finish
 * with it (its file stays open and its indexes loaded until they let go), later readers find the new
 * one. Beside the chain, on Durability's deletion queue (which truncation, reset, close and
 * retention's own deletions wait for): the old files become `.deleted`, the `.swap` takes the
 * group's name, the new indexes are written, and the old files go.
 */
async function swapIn(
  parts: CleanerParts,
  olds: readonly LogSegment[],
  sizes: readonly number[],
  fresh: LogSegment,
  cleanedPath: string,
  droppedMarkers: readonly number[],
  options: CleanOptions,
): Promise<boolean> {
  const { ctx, segments, durability } = parts;
  const swapPath = fresh.paths.log + SWAP_SUFFIX;
  // Pinned, with indexes loaded, until the files are renamed: a reader that took an old segment
  // before the swap must never load its indexes or open its file by name afterwards.
  for (const old of olds) old.refs++;
  fresh.refs++;
  const unpin = (): void => {
    for (const old of olds) segments.release(old);
    fresh.refs--;
  };
  let installed: boolean;
  try {
    for (const old of olds) await segments.ensureIndexes(old);
    installed = await parts.onChain(async () => {
      if (!ctx.online || options.aborted?.()) return false;
      const at = segments.all.indexOf(olds[0]!);
      const intact =
        at >= 0 &&
        at + olds.length < segments.all.length &&
        olds.every((old, i) => segments.all[at + i] === old && !old.deleted && old.size === sizes[i]);
      if (!intact) return false;
      // The index entries of removed abort markers go first: a crash here leaves markers without
      // entries, harmless since their transactions' data is gone; never an entry without its marker.
      await parts.producers.aborted.removeMarkers(droppedMarkers);
      options.crashAt?.('markers-unindexed');
      await rename(cleanedPath, swapPath);
      options.crashAt?.('swap-renamed');
      segments.replaceRange(at, olds.length, fresh);
      options.crashAt?.('swap-in-memory');
      return true;
    });
  } catch (err) {
    unpin();
    if (!segments.all.includes(fresh)) await fresh.closeHandle().catch(() => undefined);
    throw err;
  }
  if (!installed) {
    unpin();
    await discard(fresh.fh!, cleanedPath);
    fresh.fh = undefined;
    return false;
  }
  try {
    await durability.queueDeletion(() => finishSwap(parts, olds, fresh, swapPath, options));
  } catch (err) {
    throw ctx.goOffline(err, swapPath, undefined);
  }
  return true;
}

async function finishSwap(
  parts: CleanerParts,
  olds: readonly LogSegment[],
  fresh: LogSegment,
  swapPath: string,
  options: CleanOptions,
): Promise<void> {
  const { ctx, segments } = parts;
  try {
    await fsyncDir(ctx.dir);
    const oldFiles = olds.flatMap((s) => [s.paths.log, s.paths.index, s.paths.timeIndex]);
    for (const file of oldFiles) await renameIfExists(file, file + DELETED_SUFFIX);
    options.crashAt?.('old-renamed');
    await fsyncDir(ctx.dir);
    await rename(swapPath, fresh.paths.log);
    options.crashAt?.('swap-installed');
    await fresh.writeIndexes();
    await fsyncDir(ctx.dir);
    options.crashAt?.('indexes-written');
    for (const file of oldFiles) await unlinkIfExists(file + DELETED_SUFFIX);
    options.crashAt?.('old-deleted');
    await parts.producers.deleteSnapshotsAt(olds.map((s) => s.baseOffset).filter((o) => o !== fresh.baseOffset));
    ctx.logger.info(
      { replaced: olds.map((s) => s.baseOffset), segment: fresh.paths.log, size: fresh.size },
      'swapped in a cleaned segment',
    );
  } finally {
    for (const old of olds) segments.release(old);
    segments.release(fresh);
  }
}

async function renameIfExists(from: string, to: string): Promise<void> {
  try {
    await rename(from, to);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
}

/**
 * At open, before the segments are listed: a `.cleaned` file is a clean that never committed
 * (deleted: the old segments are intact); a `.swap` file is a committed swap, finished here: every
 * segment whose base offset falls in the swap's offsets is one it replaces and goes, then the swap
 * takes its name (its indexes are rebuilt by the open). `.deleted` files are the leftovers of a
 * finished swap. Returns whether the directory changed.
 */
export async function finishInterruptedCleaning(ctx: LogContext, names: readonly string[]): Promise<boolean> {
  let changed = false;
  for (const name of names) {
    if (name.endsWith(CLEANED_SUFFIX) || name.endsWith(DELETED_SUFFIX)) {
      await unlinkIfExists(join(ctx.dir, name));
      changed = true;
    }
  }
  for (const name of names) {
    const base = parseSegmentFileName(name, LOG_SUFFIX + SWAP_SUFFIX);
    if (base === undefined) continue;
    const swapPath = join(ctx.dir, name);
    const end = await swapEndOffset(swapPath, base);
    for (const other of names) {
      const otherBase = [LOG_SUFFIX, INDEX_SUFFIX, TIME_INDEX_SUFFIX]
        .map((suffix) => parseSegmentFileName(other, suffix))
        .find((b) => b !== undefined);
      if (otherBase !== undefined && otherBase >= base && otherBase < end) await unlinkIfExists(join(ctx.dir, other));
    }
    await rename(swapPath, segmentPaths(ctx.dir, base).log);
    ctx.logger.warn({ segment: name, replacedBelow: end }, 'finished a cleaner swap interrupted by a crash');
    changed = true;
  }
  if (changed) await fsyncDir(ctx.dir);
  return changed;
}

/** One past the last offset of a swap file (its base plus one when it is empty). */
async function swapEndOffset(path: string, base: number): Promise<number> {
  const fh = await open(path, 'r');
  try {
    const { size } = await fh.stat();
    let end = base + 1;
    for await (const item of scanBatches(fh, 0, size, { verifyCrc: false })) {
      if (item.kind === 'error') break;
      end = lastOffsetOf(item.header) + 1;
    }
    return end;
  } finally {
    await fh.close();
  }
}
