/**
 * The aborted-transaction index of a partition log, as Kafka's `.txnindex`: one file per segment,
 * named by the segment's base offset, holding an entry for every abort marker written in that segment.
 * Entries are 34 bytes: int16 version (0), int64 producer id, int64 first offset (of the aborted
 * transaction), int64 last offset (the abort marker's), int64 last stable offset when it was written.
 * A read_committed fetch is answered with the entries overlapping its range, so the consumer can skip
 * the aborted batches without seeing the markers (which may lie past the last stable offset).
 *
 * The whole index is also kept in memory (aborts are rare, entries small). Its files change with
 * producer state (producer-states.ts): entries are appended when a write holding abort markers
 * completes, cut at truncation, dropped with the segments retention deletes, rebuilt at open from the
 * files plus the markers the producer-state replay meets again (an entry is known by its marker offset).
 */
import { appendFileSync } from 'node:fs';
import { open, readdir, readFile, unlink, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { segmentFileStem, writeFileAtomic } from './files.js';

export const TXN_INDEX_SUFFIX = '.txnindex';
const ENTRY_BYTES = 34;
const VERSION = 0;

export interface AbortedTxn {
  readonly producerId: number;
  readonly firstOffset: number;
  readonly lastOffset: number;
  readonly lastStableOffset: number;
}

interface Located extends AbortedTxn {
  /** Base offset of the segment whose file holds the entry. */
  readonly segmentBase: number;
}

export function encodeAbortedTxn(entry: AbortedTxn): Buffer {
  const buf = Buffer.alloc(ENTRY_BYTES);
  buf.writeInt16BE(VERSION, 0);
  buf.writeBigInt64BE(BigInt(entry.producerId), 2);
  buf.writeBigInt64BE(BigInt(entry.firstOffset), 10);
  buf.writeBigInt64BE(BigInt(entry.lastOffset), 18);
  buf.writeBigInt64BE(BigInt(entry.lastStableOffset), 26);
  return buf;
}

/** The entries of a file; a torn last entry (a crash mid-append) and unknown versions are ignored. */
export function decodeAbortedTxns(buf: Buffer): AbortedTxn[] {
  const out: AbortedTxn[] = [];
  for (let at = 0; at + ENTRY_BYTES <= buf.length; at += ENTRY_BYTES) {
    if (buf.readInt16BE(at) !== VERSION) continue;
    out.push({
      producerId: Number(buf.readBigInt64BE(at + 2)),
      firstOffset: Number(buf.readBigInt64BE(at + 10)),
      lastOffset: Number(buf.readBigInt64BE(at + 18)),
      lastStableOffset: Number(buf.readBigInt64BE(at + 26)),
    });
  }
  return out;
}

function txnIndexPath(dir: string, segmentBase: number): string {
  return join(dir, segmentFileStem(segmentBase) + TXN_INDEX_SUFFIX);
}

export class AbortedTxnIndex {
  /** Sorted by marker offset. */
  private entries: Located[] = [];
  /** Segments whose file was appended to since the last sync(). */
  private unsynced = new Set<number>();

  constructor(private readonly dir: string) {}

  get size(): number {
    return this.entries.length;
  }

  /** Reads every `.txnindex` file of the directory (opening the log). */
  async load(): Promise<void> {
    const entries: Located[] = [];
    for (const name of await readdir(this.dir)) {
      if (!name.endsWith(TXN_INDEX_SUFFIX)) continue;
      const segmentBase = Number(name.slice(0, -TXN_INDEX_SUFFIX.length));
      if (!Number.isSafeInteger(segmentBase)) continue;
      for (const e of decodeAbortedTxns(await readFile(join(this.dir, name)))) entries.push({ ...e, segmentBase });
    }
    entries.sort((a, b) => a.lastOffset - b.lastOffset);
    this.entries = entries.filter((e, i) => i === 0 || entries[i - 1]!.lastOffset !== e.lastOffset);
    // Appended to before a crash of the process, maybe not on the disk yet: synced with the first snapshot.
    this.unsynced = new Set(this.entries.map((e) => e.segmentBase));
  }

  /**
   * Records aborted transactions whose markers were just written (synchronously: aborts are rare, and
   * the file then never misses an entry whose marker a reader may already see). Known ones are skipped.
   */
  add(entries: readonly Located[]): void {
    for (const entry of entries) {
      if (this.entries.some((e) => e.lastOffset === entry.lastOffset)) continue;
      appendFileSync(txnIndexPath(this.dir, entry.segmentBase), encodeAbortedTxn(entry));
      this.unsynced.add(entry.segmentBase);
      this.entries.push(entry);
      if (this.entries.length > 1 && this.entries.at(-2)!.lastOffset > entry.lastOffset) {
        this.entries.sort((a, b) => a.lastOffset - b.lastOffset);
      }
    }
  }

  /**
   * fsyncs the files appended to since the last call. Before a producer-state snapshot is saved: a
   * rebuild replays only the markers after the snapshot, so an entry of a marker below it that a
   * power loss took from its file would be lost for good (read_committed consumers would then get
   * that transaction's aborted records). Kafka's segment flush syncs its `.txnindex` too.
   */
  async sync(): Promise<void> {
    const bases = [...this.unsynced];
    this.unsynced = new Set();
    for (const base of bases) {
      let fh: FileHandle;
      try {
        fh = await open(txnIndexPath(this.dir, base), 'r');
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') continue; // rewritten away meanwhile
        throw err;
      }
      try {
        await fh.datasync();
      } finally {
        await fh.close();
      }
    }
  }

  /** Forgets entries whose markers are at or past `endOffset` (truncation), rewriting their files. */
  async truncateTo(endOffset: number): Promise<void> {
    const cut = this.entries.filter((e) => e.lastOffset >= endOffset);
    if (cut.length === 0) return;
    this.entries = this.entries.filter((e) => e.lastOffset < endOffset);
    await this.rewrite(new Set(cut.map((e) => e.segmentBase)));
  }

  /** Drops the files and entries of segments below `oldestBase` (deleted by retention). */
  async deleteBefore(oldestBase: number): Promise<void> {
    const gone = new Set(this.entries.filter((e) => e.segmentBase < oldestBase).map((e) => e.segmentBase));
    if (gone.size === 0) return;
    this.entries = this.entries.filter((e) => e.segmentBase >= oldestBase);
    await this.rewrite(gone);
  }

  /**
   * Forgets the entries of these markers (the cleaner removed them, their transactions' data long
   * gone), rewriting their files. Before the markers leave the log: an entry without its marker would
   * make a read_committed consumer skip its producer's later transactions.
   */
  async removeMarkers(markerOffsets: readonly number[]): Promise<void> {
    const gone = new Set(markerOffsets);
    const removed = this.entries.filter((e) => gone.has(e.lastOffset));
    if (removed.length === 0) return;
    this.entries = this.entries.filter((e) => !gone.has(e.lastOffset));
    await this.rewrite(new Set(removed.map((e) => e.segmentBase)));
  }

  async clear(): Promise<void> {
    const all = new Set(this.entries.map((e) => e.segmentBase));
    this.entries = [];
    await this.rewrite(all);
    for (const name of await readdir(this.dir)) {
      if (name.endsWith(TXN_INDEX_SUFFIX)) await unlinkQuietly(join(this.dir, name));
    }
  }

  /** The aborted transactions that may have batches in [fromOffset, toOffset): marker at or after the start. */
  overlapping(fromOffset: number, toOffset: number): AbortedTxn[] {
    const out: AbortedTxn[] = [];
    for (const e of this.entries) {
      if (e.lastOffset >= fromOffset && e.firstOffset < toOffset) {
        out.push({
          producerId: e.producerId,
          firstOffset: e.firstOffset,
          lastOffset: e.lastOffset,
          lastStableOffset: e.lastStableOffset,
        });
      }
    }
    return out;
  }

  private async rewrite(segmentBases: ReadonlySet<number>): Promise<void> {
    for (const base of segmentBases) {
      const kept = this.entries.filter((e) => e.segmentBase === base);
      const path = txnIndexPath(this.dir, base);
      if (kept.length === 0) await unlinkQuietly(path);
      else {
        // Replaced (fsynced, renamed), so a crash mid-write never loses the file's other entries.
        await writeFileAtomic(path, Buffer.concat(kept.map(encodeAbortedTxn)), this.dir);
      }
    }
  }
}

async function unlinkQuietly(path: string): Promise<void> {
  try {
    await unlink(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
}
