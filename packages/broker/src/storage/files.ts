import { open, readdir, readFile, rename, rm, unlink, type FileHandle } from 'node:fs/promises';
import { dirname, join } from 'node:path';

export const LOG_SUFFIX = '.log';
export const INDEX_SUFFIX = '.index';
export const TIME_INDEX_SUFFIX = '.timeindex';
/** Written last on close; its absence on open means the previous run did not shut down cleanly. */
export const CLEAN_SHUTDOWN_FILE = '.clean-shutdown';
/** Offsets below this were fsynced together with their segment's indexes (Kafka's recovery point). */
export const RECOVERY_POINT_FILE = 'recovery-point';
/** The log start offset when deleteRecordsBefore moved it past the first segment's base. */
export const LOG_START_OFFSET_FILE = 'log-start-offset';

/** Kafka's partition directory name. */
export function partitionDirName(topic: string, partition: number): string {
  return `${topic}-${partition}`;
}

/** Segment files are named by base offset, 20 digits zero-padded, so lexical order is offset order. */
export function segmentFileStem(baseOffset: number): string {
  return String(baseOffset).padStart(20, '0');
}

export function segmentPaths(dir: string, baseOffset: number): { log: string; index: string; timeIndex: string } {
  const stem = join(dir, segmentFileStem(baseOffset));
  return { log: stem + LOG_SUFFIX, index: stem + INDEX_SUFFIX, timeIndex: stem + TIME_INDEX_SUFFIX };
}

/** The base offset of a `<20 digits>.log` name, or undefined for anything else. */
export function parseSegmentFileName(name: string, suffix = LOG_SUFFIX): number | undefined {
  if (!name.endsWith(suffix)) return undefined;
  const stem = name.slice(0, -suffix.length);
  if (!/^\d{20}$/.test(stem)) return undefined;
  const value = Number(stem);
  return Number.isSafeInteger(value) ? value : undefined;
}

/** Reads exactly `length` bytes unless the file ends first; returns how many were read. */
export async function readFully(
  fh: FileHandle,
  buf: Buffer,
  offset: number,
  length: number,
  position: number,
): Promise<number> {
  let done = 0;
  while (done < length) {
    const { bytesRead } = await fh.read(buf, offset + done, length - done, position + done);
    if (bytesRead === 0) break;
    done += bytesRead;
  }
  return done;
}

/** Writes every byte (a short write is retried from where it stopped). */
export async function writeFully(fh: FileHandle, buf: Buffer, position: number): Promise<void> {
  let done = 0;
  while (done < buf.length) {
    const { bytesWritten } = await fh.write(buf, done, buf.length - done, position + done);
    done += bytesWritten;
  }
}

/** Makes a created, renamed or deleted directory entry durable. */
export async function fsyncDir(dir: string): Promise<void> {
  const fh = await open(dir, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/** Replaces `path` with `data` so that a crash leaves either the old or the new content. */
export async function writeFileAtomic(path: string, data: Buffer | string, dir: string): Promise<void> {
  const tmp = `${path}.tmp`;
  const fh = await open(tmp, 'w');
  try {
    await fh.writeFile(data);
    await fh.sync();
  } finally {
    await fh.close();
  }
  await rename(tmp, path);
  await fsyncDir(dir);
}

/** The file's text, or undefined when there is no such file (other errors are thrown). */
export async function readTextIfExists(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

/**
 * The `key<separator>value` lines of a small metadata file (Kafka's `partition.metadata`,
 * `meta.properties`), split at the first separator and trimmed. Blank lines, `#` and `!` comments and
 * lines without a separator are skipped.
 */
export function parseKeyValueLines(text: string, separator: RegExp): Map<string, string> {
  const fields = new Map<string, string>();
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line.startsWith('#') || line.startsWith('!')) continue;
    const at = line.search(separator);
    if (at > 0) fields.set(line.slice(0, at).trim(), line.slice(at + 1).trim());
  }
  return fields;
}

export async function unlinkIfExists(path: string): Promise<void> {
  try {
    await unlink(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
}

/** A directory being deleted is renamed to end with this first (Kafka's `-delete`): no partition has such a name. */
export const DELETED_DIR_SUFFIX = '-delete';

/**
 * Deletes a partition directory so that a crash part way never leaves a directory of the partition's
 * name holding some of its files (a log with a hole, or without its `partition.metadata`, which a
 * topic created again under the name would then take for its own): renamed first, atomically, with
 * the parent directory fsynced, then removed. removeDeletedDirectories finishes what a crash left.
 */
export async function deleteDirectory(dir: string): Promise<void> {
  const doomed = dir + DELETED_DIR_SUFFIX;
  await rm(doomed, { recursive: true, force: true }); // an earlier deletion a crash interrupted
  try {
    await rename(dir, doomed);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw err;
  }
  await fsyncDir(dirname(dir));
  await rm(doomed, { recursive: true, force: true });
}

/** Removes the directories under `parent` that a crash left half deleted (deleteDirectory). */
export async function removeDeletedDirectories(parent: string): Promise<string[]> {
  const names = (await readdir(parent, { withFileTypes: true }).catch(() => []))
    .filter((entry) => entry.isDirectory() && entry.name.endsWith(DELETED_DIR_SUFFIX))
    .map((entry) => entry.name);
  for (const name of names) await rm(join(parent, name), { recursive: true, force: true });
  return names;
}
