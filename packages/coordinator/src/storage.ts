/**
 * The durable edge: an append-only transaction log with group commit, and snapshots.
 *
 * Ordering rule: a record counts as durable only after the fdatasync that follows its write returns;
 * `onDurable(seq)` reports that every record appended up to `seq` is on disk, and the server releases
 * replies only then. Appends that arrive while a sync is in flight are written and synced together by
 * the next one (group commit).
 *
 * Files in dataDir: `log.<first zxid, 16 hex>` and `snapshot.<zxid, 16 hex>`. A snapshot at zxid Z is
 * taken together with a roll to `log.<Z+1>`; once the snapshot is durable, older logs and snapshots
 * are deleted. Recovery loads the newest valid snapshot and replays the logs after it, truncating a
 * torn tail of the last log.
 */
import {
  closeSync,
  fsyncSync,
  ftruncateSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
  writevSync,
} from 'node:fs';
import { mkdir, open, rename, rm, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from 'pino';
import type { SnapshotData, Txn } from './core.js';
import { JuteError } from './jute.js';
import { decodeSnapshot, scanLog } from './records.js';

export interface Recovered {
  snapshot: SnapshotData | null;
  /** Log txns after the snapshot, in zxid order. */
  txns: Txn[];
}

const hex = (zxid: number) => zxid.toString(16).padStart(16, '0');
const LOG_RE = /^log\.([0-9a-f]{16})$/;
const SNAP_RE = /^snapshot\.([0-9a-f]{16})$/;

function listByZxid(dir: string, re: RegExp): Array<{ name: string; zxid: number }> {
  const out: Array<{ name: string; zxid: number }> = [];
  for (const name of readdirSync(dir)) {
    const m = re.exec(name);
    if (m) out.push({ name, zxid: Number.parseInt(m[1]!, 16) });
  }
  return out.sort((a, b) => a.zxid - b.zxid);
}

function fsyncDirSync(dir: string): void {
  const fd = openSync(dir, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/**
 * Claims dataDir for this process (`dataDir/LOCK` holds our pid): two coordinators appending to the
 * same log would corrupt it. A lock left by a process that no longer exists (a crash) is taken over.
 * Returns the function that releases it.
 */
export async function lockDataDir(dataDir: string, waitMs = 3000): Promise<() => void> {
  mkdirSync(dataDir, { recursive: true });
  const lockFile = join(dataDir, 'LOCK');
  const deadline = Date.now() + waitMs;
  for (;;) {
    try {
      writeFileSync(lockFile, `${process.pid}\n`, { flag: 'wx' });
      return () => rmSync(lockFile, { force: true });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    let pid = Number.NaN;
    try {
      pid = Number.parseInt(readFileSync(lockFile, 'utf8'), 10);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') continue; // removed meanwhile: try again
      throw err;
    }
    if (!(Number.isInteger(pid) && pid > 0 && processExists(pid))) {
      rmSync(lockFile, { force: true });
      continue;
    }
    // A killed predecessor can linger briefly (until its parent reaps it): wait a little before refusing.
    if (Date.now() >= deadline) throw new Error(`data directory ${dataDir} is in use by process ${pid} (${lockFile})`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

function processExists(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Reads dataDir at startup (synchronous: nothing else runs yet). Truncates a torn log tail in place. */
export function recover(dataDir: string, logger: Logger): Recovered {
  mkdirSync(dataDir, { recursive: true });
  for (const name of readdirSync(dataDir)) if (name.endsWith('.tmp')) rmSync(join(dataDir, name), { force: true });
  let snapshot: SnapshotData | null = null;
  const snaps = listByZxid(dataDir, SNAP_RE).reverse();
  for (const s of snaps) {
    try {
      snapshot = decodeSnapshot(readFileSync(join(dataDir, s.name)));
      logger.info({ file: s.name, zxid: snapshot.zxid, nodes: snapshot.nodes.length }, 'loaded snapshot');
      break;
    } catch (err) {
      if (!(err instanceof JuteError)) throw err;
      logger.warn({ file: s.name, err: err.message }, 'skipping unreadable snapshot');
    }
  }
  const txns: Txn[] = [];
  let lastZxid = snapshot?.zxid ?? 0;
  const logs = listByZxid(dataDir, LOG_RE);
  for (let i = 0; i < logs.length; i++) {
    const file = join(dataDir, logs[i]!.name);
    const buf = readFileSync(file);
    const scan = scanLog(buf);
    for (const txn of scan.txns) {
      if (txn.zxid <= lastZxid) continue;
      if (txn.zxid !== lastZxid + 1)
        throw new Error(`transaction log gap: zxid ${txn.zxid} follows ${lastZxid} in ${logs[i]!.name}`);
      txns.push(txn);
      lastZxid = txn.zxid;
    }
    if (scan.tornReason !== null) {
      if (i !== logs.length - 1) {
        throw new Error(
          `corrupt transaction log ${logs[i]!.name} at byte ` +
            `${scan.validBytes} (${scan.tornReason}) with later logs present`,
        );
      }
      logger.warn(
        { file: logs[i]!.name, validBytes: scan.validBytes, size: buf.length, reason: scan.tornReason },
        'truncating torn log tail',
      );
      const fd = openSync(file, 'r+');
      try {
        ftruncateSync(fd, scan.validBytes);
        fsyncSync(fd);
      } finally {
        closeSync(fd);
      }
    }
  }
  logger.info({ snapshotZxid: snapshot?.zxid ?? 0, replayed: txns.length, lastZxid }, 'recovered');
  return { snapshot, txns };
}

type Pending = Buffer | { rollTo: string; done: () => void };

export interface TxnLogOptions {
  dataDir: string;
  logger: Logger;
  /** Called after each group commit with the number of records now durable. */
  onDurable: (durableSeq: number) => void;
  /** A write or sync failed: nothing more can be acknowledged. */
  onFatal: (err: Error) => void;
}

export class TxnLog {
  private fh: FileHandle | null = null;
  private pending: Pending[] = [];
  private appended = 0;
  private durable = 0;
  private flushing: Promise<void> | null = null;
  private scheduled = false;
  private failed: Error | null = null;
  private snapshotting = false;

  private constructor(private readonly options: TxnLogOptions) {}

  /**
   * Opens a fresh log file starting after `lastZxid` (any older log stays as it is). A failure after
   * the file is open (the directory's fsync: EIO, a full disk) closes it: the caller gets no log to close.
   */
  static async open(options: TxnLogOptions, lastZxid: number): Promise<TxnLog> {
    const log = new TxnLog(options);
    await mkdir(options.dataDir, { recursive: true });
    const fh = await open(join(options.dataDir, `log.${hex(lastZxid + 1)}`), 'w');
    try {
      fsyncDirSync(options.dataDir);
    } catch (err) {
      await fh.close().catch(() => undefined);
      throw err;
    }
    log.fh = fh;
    return log;
  }

  /** Whether `snapshot` would start one now (none in progress, log healthy). */
  get canSnapshot(): boolean {
    return !this.snapshotting && !this.failed;
  }

  get appendedSeq(): number {
    return this.appended;
  }
  get durableSeq(): number {
    return this.durable;
  }

  /** Queues one encoded record; it is written and synced with whatever else arrives this turn. */
  append(record: Buffer): number {
    if (this.failed) throw this.failed;
    this.pending.push(record);
    this.appended++;
    this.schedule();
    return this.appended;
  }

  private schedule(): void {
    if (this.scheduled || this.flushing) return;
    this.scheduled = true;
    // setImmediate runs after this poll phase: requests from every socket read in it share one fsync.
    setImmediate(() => {
      this.scheduled = false;
      this.flushing = this.flushLoop().finally(() => {
        this.flushing = null;
        if (this.pending.length > 0 && !this.failed) this.schedule();
      });
    });
  }

  private async flushLoop(): Promise<void> {
    while (this.pending.length > 0 && !this.failed) {
      const batch = this.pending;
      const seq = this.appended;
      this.pending = [];
      try {
        let run: Buffer[] = [];
        for (const item of batch) {
          if (Buffer.isBuffer(item)) {
            run.push(item);
            continue;
          }
          this.writeRun(run);
          run = [];
          await this.fh!.datasync();
          await this.fh!.close();
          this.fh = await open(join(this.options.dataDir, item.rollTo), 'w');
          fsyncDirSync(this.options.dataDir);
          item.done();
        }
        this.writeRun(run);
        await this.fh!.datasync();
      } catch (err) {
        this.failed = err instanceof Error ? err : new Error(String(err));
        this.options.logger.fatal({ err: this.failed }, 'transaction log write failed');
        this.options.onFatal(this.failed);
        return;
      }
      this.durable = seq;
      this.options.onDurable(seq);
    }
  }

  /**
   * Writes a batch into the page cache synchronously: a memory copy per batch (not per request) that
   * saves a thread-pool round trip; only the fdatasync that makes it durable runs off the event loop.
   */
  private writeRun(run: Buffer[]): void {
    if (run.length === 0) return;
    const fd = this.fh!.fd;
    let buffers = run;
    for (;;) {
      let total = 0;
      for (const b of buffers) total += b.length;
      const written = writevSync(fd, buffers);
      if (written >= total) return;
      // Short write: continue with the remaining bytes.
      buffers = [Buffer.concat(buffers).subarray(written)];
    }
  }

  /**
   * Takes a snapshot of the state just produced by the last appended txn (zxid `snap.zxid`): rolls the
   * log to a new file and writes the snapshot in the background (the captured nodes are immutable);
   * older files go once it is durable.
   * Returns false (and does nothing) if a snapshot is already being written.
   */
  snapshot(snap: SnapshotData, encode: (s: SnapshotData) => Iterable<Buffer>): boolean {
    if (this.snapshotting || this.failed) return false;
    this.snapshotting = true;
    const dir = this.options.dataDir;
    const rollName = `log.${hex(snap.zxid + 1)}`;
    const rolled = new Promise<void>((resolve) => this.pending.push({ rollTo: rollName, done: resolve }));
    this.schedule();
    const name = `snapshot.${hex(snap.zxid)}`;
    let bytes = 0;
    const work = async () => {
      const tmp = join(dir, `${name}.tmp`);
      const fh = await open(tmp, 'w');
      try {
        // Encoded part by part, yielding between parts, so a large tree does not stall the server.
        for (const part of encode(snap)) {
          await fh.write(part);
          bytes += part.length;
        }
        await fh.sync();
      } finally {
        await fh.close();
      }
      await rename(tmp, join(dir, name));
      fsyncDirSync(dir);
      await rolled;
      for (const s of listByZxid(dir, SNAP_RE)) if (s.zxid < snap.zxid) await rm(join(dir, s.name), { force: true });
      for (const l of listByZxid(dir, LOG_RE)) if (l.zxid <= snap.zxid) await rm(join(dir, l.name), { force: true });
      this.options.logger.info({ zxid: snap.zxid, bytes }, 'snapshot written');
    };
    work()
      .catch((err: unknown) => this.options.logger.error({ err }, 'snapshot failed; the log still holds everything'))
      .finally(() => {
        this.snapshotting = false;
      });
    return true;
  }

  /** Waits until everything appended is durable, then closes the file. */
  async close(): Promise<void> {
    while (!this.failed && (this.flushing || this.scheduled || this.pending.length > 0)) {
      if (this.flushing) await this.flushing;
      else await new Promise((r) => setImmediate(r));
    }
    while (this.snapshotting && !this.failed) await new Promise((r) => setTimeout(r, 5));
    await this.fh?.close();
    this.fh = null;
  }
}
