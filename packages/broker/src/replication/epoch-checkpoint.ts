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
 *   before answering a fetch with the new state; saves of one partition must not overlap (they share
 *   the temp file): run them on the partition's own chain.
 * - The write is atomic (temp file, fsync, rename, fsync of the directory): a crash leaves the old or
 *   the new content, never a mix. A missing file is an empty cache (a new log); a damaged file is a
 *   typed error, and the caller may rebuild the cache from the batches' partitionLeaderEpoch fields.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ErrorCodes, SamsaError } from '@samsa/protocol';
import { writeFileAtomic } from '../storage/files.js';
import { LeaderEpochCache, type EpochEntry } from './epoch-cache.js';

export const LEADER_EPOCH_CHECKPOINT_FILE = 'leader-epoch-checkpoint';
export const LEADER_EPOCH_CHECKPOINT_VERSION = 0;

/** The checkpoint file exists but cannot be parsed (or its entries do not increase). */
export class CorruptEpochCheckpointError extends SamsaError {
  constructor(
    readonly path: string,
    readonly line: number,
    detail: string,
  ) {
    super(ErrorCodes.KAFKA_STORAGE_ERROR, `${path}:${line}: ${detail}`);
    this.name = 'CorruptEpochCheckpointError';
  }
}

/** The file's text for `entries` (pure). */
export function formatEpochCheckpoint(entries: readonly EpochEntry[]): string {
  const lines = [String(LEADER_EPOCH_CHECKPOINT_VERSION), String(entries.length), ...entries.map((e) => `${e.epoch} ${e.startOffset}`)];
  return `${lines.join('\n')}\n`;
}

/** Parses the file's text (pure); `path` only labels errors. */
export function parseEpochCheckpoint(text: string, path = LEADER_EPOCH_CHECKPOINT_FILE): LeaderEpochCache {
  const lines = text.split('\n');
  if (lines.at(-1) === '') lines.pop();
  const corrupt = (line: number, detail: string): CorruptEpochCheckpointError => new CorruptEpochCheckpointError(path, line, detail);
  const integer = (line: number, s: string | undefined, what: string): number => {
    if (s === undefined || !/^\d+$/.test(s)) throw corrupt(line, `expected ${what}, found ${JSON.stringify(s ?? '<end of file>')}`);
    const n = Number(s);
    if (!Number.isSafeInteger(n)) throw corrupt(line, `${what} ${s} is out of range`);
    return n;
  };
  const version = integer(1, lines[0], 'the version');
  if (version !== LEADER_EPOCH_CHECKPOINT_VERSION) throw corrupt(1, `unsupported version ${version}`);
  const count = integer(2, lines[1], 'the entry count');
  if (lines.length !== count + 2) throw corrupt(2, `the header says ${count} entries, the file has ${Math.max(0, lines.length - 2)}`);
  const entries: EpochEntry[] = [];
  for (let i = 0; i < count; i++) {
    const lineNo = i + 3;
    const fields = lines[i + 2]!.split(' ');
    if (fields.length !== 2) throw corrupt(lineNo, `expected "epoch startOffset", found ${JSON.stringify(lines[i + 2])}`);
    const entry = { epoch: integer(lineNo, fields[0], 'an epoch'), startOffset: integer(lineNo, fields[1], 'a start offset') };
    const previous = entries.at(-1);
    if (previous && (entry.epoch <= previous.epoch || entry.startOffset <= previous.startOffset)) {
      throw corrupt(lineNo, `entries must increase: (${previous.epoch}, ${previous.startOffset}) then (${entry.epoch}, ${entry.startOffset})`);
    }
    entries.push(entry);
  }
  return new LeaderEpochCache(entries);
}

/** Reads `<dir>/leader-epoch-checkpoint`; an absent file is an empty cache. */
export async function loadEpochCache(dir: string): Promise<LeaderEpochCache> {
  const path = join(dir, LEADER_EPOCH_CHECKPOINT_FILE);
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return new LeaderEpochCache();
    throw err;
  }
  return parseEpochCheckpoint(text, path);
}

/** Replaces `<dir>/leader-epoch-checkpoint` atomically (temp, fsync, rename, fsync dir). */
export async function saveEpochCache(dir: string, cache: LeaderEpochCache): Promise<void> {
  await writeFileAtomic(join(dir, LEADER_EPOCH_CHECKPOINT_FILE), formatEpochCheckpoint(cache.epochEntries), dir);
}
