/**
 * The leader-epoch cache on disk: Kafka's `leader-epoch-checkpoint` text file in the partition
 * directory, so that tools and habits carry over:
 *
 *     0            format version
 *     2            number of entries
 *     0 0          epoch startOffset
 *     3 150
 *
 * Ordering rules:
 * - Save after every change that matters for truncation (a new epoch assigned, truncateFromEnd)
 *   before answering a fetch with the new state. Saves of one partition must not overlap (they share
 *   the temp file): saveEpochCache queues them per directory, since the follower's fetch loop, a new
 *   term, DeleteRecords and retention can each save one.
 * - The write is atomic (temp file, fsync, rename, fsync of the directory): a crash leaves the old or
 *   the new content, never a mix. A missing file is an empty cache (a new log); a damaged file is a
 *   typed error, and the caller may rebuild the cache from the batches' partitionLeaderEpoch fields.
 */
import { join } from 'node:path';
import { readTextIfExists, writeFileAtomic } from '../storage/files.js';
import { CorruptCheckpointError, checkpointInteger, formatCheckpoint, parseCheckpoint } from './checkpoint-file.js';
import { LeaderEpochCache, type EpochEntry } from './epoch-cache.js';

export const LEADER_EPOCH_CHECKPOINT_FILE = 'leader-epoch-checkpoint';
export const LEADER_EPOCH_CHECKPOINT_VERSION = 0;

/** The leader-epoch checkpoint exists but cannot be parsed (or its entries do not increase). */
export class CorruptEpochCheckpointError extends CorruptCheckpointError {
  constructor(path: string, line: number, detail: string) {
    super(path, line, detail);
    this.name = 'CorruptEpochCheckpointError';
  }
}

/** The file's text for `entries` (pure). */
export function formatEpochCheckpoint(entries: readonly EpochEntry[]): string {
  return formatCheckpoint(
    LEADER_EPOCH_CHECKPOINT_VERSION,
    entries.map((e) => [e.epoch, e.startOffset]),
  );
}

/** Parses the file's text (pure); `path` only labels errors. */
export function parseEpochCheckpoint(text: string, path = LEADER_EPOCH_CHECKPOINT_FILE): LeaderEpochCache {
  const corrupt = (line: number, detail: string): CorruptEpochCheckpointError =>
    new CorruptEpochCheckpointError(path, line, detail);
  const entries: EpochEntry[] = [];
  for (const { line, fields } of parseCheckpoint(text, LEADER_EPOCH_CHECKPOINT_VERSION, 'epoch startOffset', corrupt)) {
    const entry = {
      epoch: checkpointInteger(fields[0], line, 'an epoch', corrupt),
      startOffset: checkpointInteger(fields[1], line, 'a start offset', corrupt),
    };
    const previous = entries.at(-1);
    if (previous && (entry.epoch <= previous.epoch || entry.startOffset <= previous.startOffset)) {
      throw corrupt(
        line,
        `entries must increase: (${previous.epoch}, ${previous.startOffset}) ` +
          `then (${entry.epoch}, ${entry.startOffset})`,
      );
    }
    entries.push(entry);
  }
  return new LeaderEpochCache(entries);
}

/** Reads `<dir>/leader-epoch-checkpoint`; an absent file is an empty cache. */
export async function loadEpochCache(dir: string): Promise<LeaderEpochCache> {
  const path = join(dir, LEADER_EPOCH_CHECKPOINT_FILE);
  const text = await readTextIfExists(path);
  return text === undefined ? new LeaderEpochCache() : parseEpochCheckpoint(text, path);
}

/** The save running or queued last in each partition directory. */
const savesByDir = new Map<string, Promise<void>>();

/**
 * Replaces `<dir>/leader-epoch-checkpoint` atomically (temp, fsync, rename, fsync dir), after the
 * saves of the same directory queued before it; each writes the cache as it is when its turn comes.
 */
export function saveEpochCache(dir: string, cache: LeaderEpochCache): Promise<void> {
  const write = (): Promise<void> =>
    writeFileAtomic(join(dir, LEADER_EPOCH_CHECKPOINT_FILE), formatEpochCheckpoint(cache.epochEntries), dir);
  const save = (savesByDir.get(dir) ?? Promise.resolve()).then(write, write);
  savesByDir.set(dir, save);
  const forget = (): void => {
    if (savesByDir.get(dir) === save) savesByDir.delete(dir);
  };
  save.then(forget, forget);
  return save;
}
