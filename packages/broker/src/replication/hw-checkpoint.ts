/**
 * The high watermarks on disk: Kafka's `replication-offset-checkpoint` text file in the broker's log
 * directory, one line per partition this broker holds a replica of:
 *
 *     0              format version
 *     2              number of entries
 *     orders 0 1500  topic partition highWatermark
 *     orders 1 1480
 *
 * Without it a restarted broker would start every partition at high watermark 0: the watermark would
 * move backwards across a restart, and a leader elected while its followers are still down (or an ISR
 * below min.insync.replicas) could not let consumers read what was committed before. Saved every
 * `replica.high.watermark.checkpoint.interval.ms` and at shutdown, so it may lag, never lead: every
 * value in it was a high watermark, so everything below it was committed. A reader caps it at the
 * log end (a tail lost with the page cache). The write is atomic (temp file, fsync, rename, fsync of
 * the directory); a damaged file is a typed error.
 */
import { join } from 'node:path';
import { readTextIfExists, writeFileAtomic } from '../storage/files.js';
import { CorruptCheckpointError, checkpointInteger, formatCheckpoint, parseCheckpoint } from './checkpoint-file.js';

export const HIGH_WATERMARK_CHECKPOINT_FILE = 'replication-offset-checkpoint';
export const HIGH_WATERMARK_CHECKPOINT_VERSION = 0;

/** One partition's saved high watermark. */
export interface HighWatermarkEntry {
  readonly topic: string;
  readonly partition: number;
  readonly highWatermark: number;
}

/** The file's text (pure); entries sorted by topic and partition so equal states give equal files. */
export function formatHighWatermarkCheckpoint(entries: readonly HighWatermarkEntry[]): string {
  const sorted = [...entries].sort((a, b) =>
    a.topic < b.topic ? -1 : a.topic > b.topic ? 1 : a.partition - b.partition,
  );
  return formatCheckpoint(
    HIGH_WATERMARK_CHECKPOINT_VERSION,
    sorted.map((e) => [e.topic, e.partition, e.highWatermark]),
  );
}

/** Parses the file's text (pure); `path` only labels errors. */
export function parseHighWatermarkCheckpoint(
  text: string,
  path = HIGH_WATERMARK_CHECKPOINT_FILE,
): HighWatermarkEntry[] {
  const corrupt = (line: number, detail: string): CorruptCheckpointError =>
    new CorruptCheckpointError(path, line, detail);
  const seen = new Set<string>();
  return parseCheckpoint(text, HIGH_WATERMARK_CHECKPOINT_VERSION, 'topic partition highWatermark', corrupt).map(
    ({ line, fields }) => {
      const topic = fields[0]!;
      if (topic === '') throw corrupt(line, 'empty topic name');
      const partition = checkpointInteger(fields[1], line, 'a partition', corrupt);
      const key = `${topic} ${partition}`;
      if (seen.has(key)) throw corrupt(line, `${topic}-${partition} appears twice`);
      seen.add(key);
      return { topic, partition, highWatermark: checkpointInteger(fields[2], line, 'a high watermark', corrupt) };
    },
  );
}

/** Reads `<logDir>/replication-offset-checkpoint`; no file is no entries. */
export async function loadHighWatermarks(logDir: string): Promise<HighWatermarkEntry[]> {
  const path = join(logDir, HIGH_WATERMARK_CHECKPOINT_FILE);
  const text = await readTextIfExists(path);
  return text === undefined ? [] : parseHighWatermarkCheckpoint(text, path);
}

/** Replaces `<logDir>/replication-offset-checkpoint` atomically; saves must not overlap (one temp file). */
export async function saveHighWatermarks(logDir: string, text: string): Promise<void> {
  await writeFileAtomic(join(logDir, HIGH_WATERMARK_CHECKPOINT_FILE), text, logDir);
}
