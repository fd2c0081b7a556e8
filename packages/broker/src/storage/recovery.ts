import { mkdir, readdir, readFile, stat, unlink } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { finishInterruptedCleaning } from './cleaner.js';
import type { Durability } from './durability.js';
import {
  CLEAN_SHUTDOWN_FILE,
  INDEX_SUFFIX,
  LOG_START_OFFSET_FILE,
  RECOVERY_POINT_FILE,
  TIME_INDEX_SUFFIX,
  fsyncDir,
  parseSegmentFileName,
  segmentFileStem,
  segmentPaths,
  unlinkIfExists,
} from './files.js';
import { IndexCorruptError } from './indexes.js';
import type { LogContext } from './log-context.js';
import type { ProducerStates } from './producer-states.js';
import { findValidBatchAfter } from './scan.js';
import { LogSegment } from './segment.js';
import type { SegmentSet } from './segment-set.js';
import { TXN_INDEX_SUFFIX } from './txn-index.js';

/** What opening a log fills in: the segment set and log start, and the recovery point. */
export interface RecoveryParts {
  readonly ctx: LogContext;
  readonly segments: SegmentSet;
  readonly durability: Durability;
  readonly producers: ProducerStates;
}

/**
 * Opens the log in `ctx.dir`, recovering it after a crash. After a clean shutdown (the marker is
 * there) the indexes are trusted after a sanity check; otherwise every segment holding offsets at or
 * past the recovery point is rescanned with CRC checks. A torn tail of the last segment is cut off;
 * any other damage takes the log offline, naming file and byte, and deletes nothing. A new directory
 * gets one empty segment at `initialOffset`.
 *
 * The saved log start (log-start-offset) decides what the segments mean, as in Kafka's LogLoader:
 * segments wholly below it are deleted unread (a DeleteRecords, reset or truncation a crash
 * interrupted after saving it); with no segment left the log is the empty one at that start; and a
 * start past the end of the segments (a reset interrupted the same way, or a torn tail cut below a
 * DeleteRecords start) empties the log and restarts it at the start. A recovery point past the end
 * (a truncation a crash interrupted) is saved lowered to it.
 */
export async function loadLog(parts: RecoveryParts, initialOffset: number): Promise<void> {
  const { ctx, segments, durability } = parts;
  // A new directory's entry is fsynced in its parent, or a power loss could take it with every file
  // in it, fsynced or not.
  const created = await mkdir(ctx.dir, { recursive: true });
  for (let made = ctx.dir; created !== undefined; made = dirname(made)) {
    await fsyncDir(dirname(made));
    if (made === created) break;
  }
  let names = await readdir(ctx.dir);
  // A cleaner swap that committed before a crash is finished first, one that did not is dropped.
  if (await finishInterruptedCleaning(ctx, names)) names = await readdir(ctx.dir);
  const clean = names.includes(CLEAN_SHUTDOWN_FILE);
  const savedStart = await readOffsetFile(ctx.dir, LOG_START_OFFSET_FILE, undefined);
  const found = await tidyDirectory(ctx.dir, names);
  if (clean) {
    // From here on the log may change: a crash must not look like a clean shutdown.
    await unlink(join(ctx.dir, CLEAN_SHUTDOWN_FILE));
    await fsyncDir(ctx.dir);
  }
  const bases = await deleteSegmentsBelow(ctx, found, savedStart ?? 0);
  durability.setRecoveryPoint(clean ? Number.MAX_SAFE_INTEGER : await readOffsetFile(ctx.dir, RECOVERY_POINT_FILE, 0));
  if (bases.length === 0) {
    const start = savedStart ?? initialOffset;
    segments.replaceAll([await segments.createSegment(start)], start);
    if (durability.recoveryPoint > start) await durability.saveRecoveryPoint(start); // as below
    await parts.producers.clear();
    return;
  }
  const now = ctx.clock();
  const loaded = bases.map((base) => new LogSegment(ctx.dir, base, now));
  segments.replaceAll(loaded, 0);
  for (const segment of loaded) segment.size = (await stat(segment.paths.log)).size;
  for (let i = 0; i < loaded.length && ctx.online; i++) {
    await loadSegment(parts, loaded, i, clean);
  }
  const start = Math.max(loaded[0]!.baseOffset, savedStart ?? 0);
  segments.setStartOffset(start);
  segments.startOffsetSaved(start); // read from the disk
  if (ctx.online) {
    if (start > segments.endOffset) await restartAt(parts, start);
    // Saved when lowered: a truncation a crash interrupted left it past the end, where the segments
    // appended next would be trusted unread at the open after the next crash.
    if (!clean && durability.recoveryPoint > segments.endOffset) await durability.saveRecoveryPoint(segments.endOffset);
    else durability.setRecoveryPoint(Math.min(durability.recoveryPoint, segments.endOffset));
    await parts.producers.rebuild();
    ctx.logger.info(
      {
        dir: ctx.dir,
        clean,
        segments: loaded.length,
        logStartOffset: segments.startOffset,
        logEndOffset: segments.endOffset,
      },
      'opened log',
    );
  }
}

/**
 * Segments whose records all lie below the saved start (the next segment's base is at or below it)
 * are deleted without being read: the leftovers of a deletion a crash interrupted. Returns the rest.
 */
async function deleteSegmentsBelow(ctx: LogContext, bases: number[], start: number): Promise<number[]> {
  let below = 0;
  while (below + 1 < bases.length && bases[below + 1]! <= start) below++;
  if (below === 0) return bases;
  for (const base of bases.slice(0, below)) {
    const paths = segmentPaths(ctx.dir, base);
    const txnIndex = join(ctx.dir, segmentFileStem(base) + TXN_INDEX_SUFFIX);
    for (const path of [paths.log, paths.index, paths.timeIndex, txnIndex]) await unlinkIfExists(path);
  }
  await fsyncDir(ctx.dir);
  ctx.logger.info({ deleted: bases.slice(0, below), logStartOffset: start }, 'deleted segments below the log start');
  return bases.slice(below);
}

/**
 * The saved start lies past every record: the log is the empty one at `start`. Its segments and
 * producer state go and one empty segment at `start` takes their place (Kafka's LogLoader does the
 * same), rather than moving the start back onto offsets that were deleted or never written here.
 */
async function restartAt({ ctx, segments, producers }: RecoveryParts, start: number): Promise<void> {
  ctx.logger.warn(
    { logStartOffset: start, logEndOffset: segments.endOffset },
    'the saved log start is past the end of the log: restarting the log empty at its start',
  );
  const doomed = [...segments.all];
  await producers.clear();
  await segments.deleteFiles(doomed.reverse());
  segments.replaceAll([await segments.createSegment(start)], start);
}

/** Removes leftovers (temp files, indexes without a log); returns the segment base offsets. */
async function tidyDirectory(dir: string, names: string[]): Promise<number[]> {
  const bases = names
    .map((n) => parseSegmentFileName(n))
    .filter((b): b is number => b !== undefined)
    .sort((a, b) => a - b);
  const known = new Set(bases);
  for (const name of names) {
    const orphanIndex = [INDEX_SUFFIX, TIME_INDEX_SUFFIX].some((suffix) => {
      const base = parseSegmentFileName(name, suffix);
      return base !== undefined && !known.has(base);
    });
    if (name.endsWith('.tmp') || orphanIndex) await unlinkIfExists(join(dir, name));
  }
  return bases;
}

/**
 * Loads segment i. Segments holding offsets at or past the recovery point (all of them after a
 * crash with no checkpoint) are rescanned with CRC checks; the others trust their indexes when
 * those look sane. The active segment always gets its tail state from the log itself.
 */
async function loadSegment(parts: RecoveryParts, loaded: LogSegment[], i: number, clean: boolean): Promise<void> {
  const { ctx, durability } = parts;
  const segment = loaded[i]!;
  const next = loaded[i + 1];
  const isLast = next === undefined;
  const needsRecovery = !clean && (isLast || next.baseOffset > durability.recoveryPoint);
  if (!needsRecovery) {
    try {
      if (isLast) {
        await segment.loadIndexes(0x7fffffff);
        if (await segment.loadTailState()) return;
        ctx.logger.warn({ file: segment.paths.log }, 'active segment tail does not match its index, recovering');
      } else {
        await segment.loadLargestTimestamp();
        await checkIndexFileSizes(segment, ctx.config.segmentIndexBytes);
        return;
      }
    } catch (err) {
      if (!(err instanceof IndexCorruptError) && (err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      ctx.logger.warn(
        { file: segment.paths.index, reason: (err as Error).message },
        'index files missing or inconsistent, rebuilding from the log',
      );
    }
  }
  await recoverSegment(ctx, segment, next, isLast);
  if (!isLast && ctx.online) {
    segment.unloadIndexes();
    await segment.closeHandle();
  }
}

async function checkIndexFileSizes(segment: LogSegment, segmentIndexBytes: number): Promise<void> {
  const index = await stat(segment.paths.index);
  const timeIndex = await stat(segment.paths.timeIndex);
  if (index.size % 8 !== 0 || timeIndex.size % 12 !== 0 || index.size > segmentIndexBytes) {
    throw new IndexCorruptError(
      `index sizes ${index.size}/${timeIndex.size} of ${segment.paths.index} are inconsistent`,
    );
  }
}

/**
 * Validates a segment batch by batch. A bad tail of the last segment (nothing valid after it) is a
 * torn write: truncated. Anything else is corruption of acknowledged data: the partition goes
 * offline, naming the file and byte position, and nothing is deleted.
 */
async function recoverSegment(
  ctx: LogContext,
  segment: LogSegment,
  next: LogSegment | undefined,
  isLast: boolean,
): Promise<void> {
  const fileSize = (await stat(segment.paths.log)).size;
  const outcome = await segment.recover({
    verifyCrc: true,
    endOffsetExclusive: next?.baseOffset ?? Number.MAX_SAFE_INTEGER,
    indexIntervalBytes: ctx.config.indexIntervalBytes,
    fileSize,
  });
  const { failure } = outcome;
  if (failure) {
    const fh = await segment.handle();
    const validAfter =
      isLast && !failure.crcValid
        ? await findValidBatchAfter(fh, failure.position, fileSize, segment.nextOffset)
        : undefined;
    if (!isLast || failure.crcValid || validAfter !== undefined) {
      const where = validAfter !== undefined ? `; a valid batch follows at byte ${validAfter}` : '';
      ctx.goOffline(new Error(`${failure.reason}${where}`), segment.paths.log, failure.position);
      return;
    }
    ctx.logger.warn(
      {
        file: segment.paths.log,
        position: failure.position,
        droppedBytes: fileSize - failure.position,
        reason: failure.reason,
      },
      'truncating torn tail of the log',
    );
    await fh.truncate(failure.position);
    await fh.datasync();
  }
  segment.size = outcome.validBytes;
  if (!isLast) segment.sealTimeIndex();
  await segment.writeIndexes();
  segment.lastModifiedMs = (await stat(segment.paths.log)).mtimeMs;
}

/** A checkpoint file's offset; `fallback` when it is missing or unreadable. */
async function readOffsetFile<T extends number | undefined>(
  dir: string,
  name: string,
  fallback: T,
): Promise<number | T> {
  try {
    const value = Number((await readFile(join(dir, name), 'utf8')).trim());
    return Number.isSafeInteger(value) && value >= 0 ? value : fallback;
  } catch {
    return fallback;
  }
}
