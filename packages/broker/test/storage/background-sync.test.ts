import { readdirSync, readlinkSync } from 'node:fs';
import { cp, mkdir, open, readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  KafkaStorageError,
  OffsetOutOfRangeError,
  openPartitionLog,
  type PartitionLog,
  WritebackSlots,
} from '@samsa/broker/internal';
import { waitFor, withTimeout } from '../../../../test/helpers/wait.js';
import { makeBatch, tempDir } from './helpers.js';

/**
 * How long an append, read or fsync may take before the test calls it stuck behind the gated disk. The
 * gate stays shut until the test opens it, so anything that waits for it never finishes: a bound of
 * seconds only tells a hang from a slow machine (at load 15 on two cores, 2 s was not always enough).
 */
const STUCK_MS = 10_000;

type Sync = (this: unknown) => Promise<void>;
type Gate = { held: () => number; release: () => void; restore: () => void };

/**
 * Holds every call of FileHandle's `method` at a gate until release(): a disk that takes as long as
 * we like. datasync() makes log bytes durable (a rolled segment, early writeback, a flush); index
 * files, checkpoints and directories use sync().
 */
async function gateFileHandle(scratchDir: string, method: 'datasync' | 'sync'): Promise<Gate> {
  const probe = await open(join(scratchDir, 'probe'), 'w');
  const proto = Object.getPrototypeOf(probe) as Record<typeof method, Sync>;
  await probe.close();
  const real = proto[method];
  let held = 0;
  let release!: () => void;
  const gate = new Promise<void>((resolve) => (release = resolve));
  proto[method] = async function (this: unknown) {
    held++;
    await gate;
    return real.call(this);
  };
  return {
    held: () => held,
    release,
    restore: () => {
      proto[method] = real;
    },
  };
}

async function segmentBases(dir: string): Promise<number[]> {
  return (await readdir(dir))
    .filter((n) => /^\d{20}\.log$/.test(n))
    .map((n) => Number(n.slice(0, 20)))
    .sort((a, b) => a - b);
}

async function recoveryPoint(dir: string): Promise<number | undefined> {
  return readFile(join(dir, 'recovery-point'), 'utf8').then(
    (t) => Number(t.trim()),
    () => undefined,
  );
}

/** The files under `dir` this process holds open (its descriptors, from /proc/self/fd). */
function openFilesUnder(dir: string): string[] {
  const files: string[] = [];
  for (const fd of readdirSync('/proc/self/fd')) {
    try {
      const target = readlinkSync(`/proc/self/fd/${fd}`);
      if (target.startsWith(`${dir}/`)) files.push(target);
    } catch {
      // closed between the listing and the read
    }
  }
  return files;
}

/** Resolves once the log's background work (roll flushes, writeback, deletions) has ended. */
function backgroundSettled(log: PartitionLog): Promise<void> {
  return (log as unknown as { durability: { settled(): Promise<void> } }).durability.settled();
}

/** For each test of a describe block: a log directory, a scratch directory, and datasync gated. */
function gatedDisk(): { dir: string; scratch: string; disk: Gate } {
  const t = {} as { dir: string; scratch: string; disk: Gate };
  const removals: Array<() => Promise<void>> = [];
  beforeEach(async () => {
    for (const field of ['dir', 'scratch'] as const) {
      const made = await tempDir();
      t[field] = made.path;
      removals.push(made.remove);
    }
    t.disk = await gateFileHandle(t.scratch, 'datasync');
  });
  afterEach(async () => {
    t.disk.release();
    t.disk.restore();
    for (const remove of removals.splice(0)) await remove();
  });
  return t;
}

describe('partition log: rolling a segment', () => {
  const t = gatedDisk();

  it('appends go on while a rolled segment is made durable; the recovery point moves once it is', async () => {
    const log = await openPartitionLog({ dir: t.dir, config: { segmentBytes: 1000 } });
    for (let i = 0; i < 20; i++)
      await withTimeout(log.append(makeBatch({ valueSize: 100, fill: i })), STUCK_MS, `append ${i}`);
    const bases = await segmentBases(t.dir);
    expect(bases.length).toBeGreaterThan(2);
    // The first rolled segment's fsync reaches the gate (after its index files, which are not
    // gated, so possibly after the appends above) and stays there; the others queue behind it.
    await waitFor(() => t.disk.held() > 0, { timeoutMs: STUCK_MS, description: "the first rolled segment's fsync" });
    expect(t.disk.held()).toBe(1);
    expect(await recoveryPoint(t.dir)).toBeUndefined();
    // Reads of the rolled segments do not wait either.
    expect((await withTimeout(log.read(0, 10_000), STUCK_MS, 'read')).firstOffset).toBe(0);

    t.disk.release();
    await log.flush();
    expect(await recoveryPoint(t.dir)).toBe(bases.at(-1));
    await log.close();
  });

  it('an fsync the flush policy asks for also waits for the rolled segment', async () => {
    t.disk.release();
    const log = await openPartitionLog({ dir: t.dir, config: { segmentBytes: 1000, flushMessages: 1 } });
    let rolls = 0;
    for (let i = 0; i < 20; i++) {
      await log.append(makeBatch({ valueSize: 100, fill: i }));
      // Acknowledged means on disk, the earlier appends in the rolled segment included: that flush
      // has finished, and with it the move of the recovery point to the active segment.
      const bases = await segmentBases(t.dir);
      if (bases.length > 1) {
        rolls++;
        expect(await recoveryPoint(t.dir)).toBe(bases.at(-1));
      }
    }
    expect(rolls).toBeGreaterThan(0);
    await log.close();
  });

  it('a crash before the rolled segment is durable loses nothing: reopens below it, rebuilds indexes', async () => {
    const config = { segmentBytes: 1000, indexIntervalBytes: 100 };
    const log = await openPartitionLog({ dir: t.dir, config });
    const batches = Array.from({ length: 20 }, (_, i) => makeBatch({ count: 2, valueSize: 100, fill: i }));
    for (const batch of batches) await withTimeout(log.append(batch), STUCK_MS, 'append');
    const end = log.logEndOffset;
    // What a process crash leaves behind (the page cache survives it): a copy taken now, while the
    // rolled segments' indexes and fsyncs wait at the gate (once the first flush reached it, no index
    // file is being renamed into place under the copy).
    await waitFor(() => t.disk.held() > 0, { timeoutMs: STUCK_MS, description: 'the first roll flush at the gate' });
    const crashed = join(t.scratch, 'crashed');
    await cp(t.dir, crashed, { recursive: true });
    t.disk.release();
    await log.close();

    const reopened = await openPartitionLog({ dir: crashed, config });
    try {
      expect(reopened.logEndOffset).toBe(end);
      for (const [i, batch] of batches.entries()) {
        const result = await reopened.read(i * 2 + 1, 1);
        expect(result.firstOffset).toBe(i * 2);
        expect(result.bytes.equals(batch)).toBe(true); // append stamped the batch in place
      }
    } finally {
      await reopened.close();
    }
  });
  it("a roll's flush still queued when the log is abandoned or closed offline opens no file again", async () => {
    // Before: the flush, held at its index writes, went on after the log had closed its files and
    // opened the rolled segment again to fsync it; nothing closed that handle (the GC did, with a warning).
    t.disk.release();
    for (const end of ['abandon', 'offline close'] as const) {
      const dir = join(t.dir, end.replace(' ', '-'));
      const log = await openPartitionLog({ dir });
      await log.append(makeBatch({ count: 2, valueSize: 100 }));
      const indexWrites = await gateFileHandle(t.scratch, 'sync');
      try {
        await log.roll();
        await waitFor(() => indexWrites.held() > 0, { timeoutMs: STUCK_MS, description: "the flush's index write" });
        if (end === 'abandon') await log.abandon();
        else {
          // The log start's save fails (its temporary file's name is a directory's, as ENOSPC would).
          await mkdir(join(dir, 'log-start-offset.tmp'));
          await expect(log.deleteRecordsBefore(1)).rejects.toBeInstanceOf(KafkaStorageError);
          expect(log.state).toBe('offline');
          await log.close();
        }
        // Only the held index write's temporary file is open.
        expect(openFilesUnder(dir).filter((file) => !file.endsWith('.tmp'))).toEqual([]);
        indexWrites.release();
        await withTimeout(backgroundSettled(log), STUCK_MS, 'the roll flush');
        expect(openFilesUnder(dir)).toEqual([]);
      } finally {
        indexWrites.release();
        indexWrites.restore();
      }
    }
  });
});

describe('partition log: the flush policy across a roll in the middle of a drain', () => {
  const dirs: Array<() => Promise<void>> = [];
  afterEach(async () => {
    for (const remove of dirs.splice(0)) await remove();
  });

  for (const [how, second, refused] of [
    // One record after the roll: below flush.messages on its own.
    ['the run after it is written', () => makeBatch({ count: 1, valueSize: 100, fill: 8 }), false],
    ['the run after it fails its CRC check', () => corrupt(makeBatch({ count: 1, valueSize: 100, fill: 8 })), true],
  ] as const) {
    it(`flush.messages=2: an append before the roll waits for that flush when ${how}`, async () => {
      const dir = await tempDir();
      const scratch = await tempDir();
      dirs.push(dir.remove, scratch.remove);
      const log = await openPartitionLog({ dir: dir.path, config: { segmentBytes: 1000, flushMessages: 2 } });
      for (let i = 0; i < 3; i++) await log.append(makeBatch({ count: 2, valueSize: 100, fill: i }));
      expect(log.logEndOffset).toBe(6);
      const disk = await gateFileHandle(scratch.path, 'datasync');
      try {
        // One drain: two records that fit the active segment (flush.messages asks for an fsync), then
        // a batch that rolls it; the roll's flush of the segment holding them waits at the gate.
        const first = log.append(makeBatch({ count: 2, valueSize: 20, fill: 7 }));
        const next = log.append(second()).then(
          (result) => result.baseOffset,
          () => 'refused',
        );
        let acknowledged = false;
        void first.then(() => {
          acknowledged = true;
        });
        await waitFor(() => disk.held() > 0, { timeoutMs: STUCK_MS, description: "the rolled segment's fsync" });
        expect(acknowledged).toBe(false);
        disk.release();
        expect((await withTimeout(first, STUCK_MS, 'the append before the roll')).baseOffset).toBe(6);
        expect(await withTimeout(next, STUCK_MS, 'the append that rolled')).toBe(refused ? 'refused' : 8);
      } finally {
        disk.release();
        disk.restore();
      }
      await log.close();
    });
  }
});

/** The batch with a byte of its last record flipped: its CRC no longer matches. */
function corrupt(batch: Buffer): Buffer {
  batch[batch.length - 2]! ^= 0x01;
  return batch;
}

describe('partition log: early writeback', () => {
  const t = gatedDisk();

  it('fsyncs the active segment every writebackIntervalBytes, beside appends that do not wait for it', async () => {
    const log = await openPartitionLog({ dir: t.dir, config: { writebackIntervalBytes: 4096 } });
    await withTimeout(log.append(makeBatch({ valueSize: 1000 })), STUCK_MS, 'the first append');
    expect(t.disk.held()).toBe(0);
    for (let i = 0; i < 20; i++)
      await withTimeout(log.append(makeBatch({ valueSize: 1000, fill: i })), STUCK_MS, `append ${i}`);
    // About 21 KB appended: the first writeback waits at the gate and holds the log's one slot, so
    // no other was queued behind it.
    expect(t.disk.held()).toBe(1);
    t.disk.release();
    await log.flush();
    expect(t.disk.held()).toBe(2); // the writeback, then flush()'s own fsync
    // The bytes appended while the slot was busy still count: with it free again, the next append
    // starts a writeback at once.
    await log.append(makeBatch({ valueSize: 1000 }));
    await log.flush();
    expect(t.disk.held()).toBe(4);
    await log.close();
  });

  it('logs sharing writeback slots skip theirs while none is free', async () => {
    const slots = new WritebackSlots(1);
    const config = { writebackIntervalBytes: 4096 };
    const a = await openPartitionLog({ dir: join(t.dir, 'a'), config, writebackSlots: slots });
    const b = await openPartitionLog({ dir: join(t.dir, 'b'), config, writebackSlots: slots });
    for (let i = 0; i < 5; i++)
      await withTimeout(a.append(makeBatch({ valueSize: 1000, fill: i })), STUCK_MS, 'append to a');
    expect(t.disk.held()).toBe(1); // a's writeback, at the gate
    for (let i = 0; i < 10; i++)
      await withTimeout(b.append(makeBatch({ valueSize: 1000, fill: i })), STUCK_MS, 'append to b');
    expect(t.disk.held()).toBe(1); // b found no free slot
    t.disk.release();
    await a.flush(); // a's writeback is done and its slot free: b's next append starts one
    const held = t.disk.held();
    await b.append(makeBatch({ valueSize: 1000 }));
    await b.flush();
    expect(t.disk.held()).toBe(held + 2); // b's writeback, then its flush
    await a.close();
    await b.close();
  });

  it('is off at 0', async () => {
    const log = await openPartitionLog({ dir: t.dir, config: { writebackIntervalBytes: 0 } });
    for (let i = 0; i < 20; i++) await log.append(makeBatch({ valueSize: 1000, fill: i }));
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(t.disk.held()).toBe(0);
    t.disk.release();
    await log.close();
  });
});

describe('partition log: retention', () => {
  let dirs: Array<{ path: string; remove: () => Promise<void> }> = [];
  beforeEach(async () => {
    dirs = [await tempDir(), await tempDir()];
  });
  afterEach(async () => {
    for (const made of dirs) await made.remove();
  });

  it('deletes files beside the append chain: appends (flushed too) go on while the directory fsync waits', async () => {
    const [dir, scratch] = dirs.map((d) => d.path) as [string, string];
    const size = makeBatch({ valueSize: 100 }).length;
    const config = { retentionBytes: size * 2, retentionMs: -1, flushMessages: 1 };
    const log = await openPartitionLog({ dir, config });
    // Four segments of one batch each, and an empty active one.
    for (let i = 0; i < 4; i++) {
      await log.append(makeBatch({ valueSize: 100, fill: i }));
      await log.roll();
    }
    await log.flush();
    const disk = await gateFileHandle(scratch, 'sync');
    try {
      let retentionDone = false;
      const retention = log.deleteOldSegments().finally(() => {
        retentionDone = true;
      });
      // The segments leave the log at once...
      const append = log.append(makeBatch({ valueSize: 100, fill: 9 }));
      expect((await withTimeout(append, STUCK_MS, 'an append (and its fsync) queued after retention')).baseOffset).toBe(
        4,
      );
      expect(log.segmentBaseOffsets()).toEqual([2, 3, 4]);
      expect(log.logStartOffset).toBe(2);
      await expect(log.read(0, 1000)).rejects.toBeInstanceOf(OffsetOutOfRangeError);
      // ...while deleting their files waits for the directory's fsync, and retention with it.
      await waitFor(() => disk.held() > 0, { timeoutMs: STUCK_MS, description: "retention's directory fsync" });
      expect(retentionDone).toBe(false);
      disk.release();
      expect(await withTimeout(retention, STUCK_MS, 'retention')).toBe(2);
      expect(await segmentBases(dir)).toEqual([2, 3, 4]);
    } finally {
      disk.release();
      disk.restore();
    }
    await log.close();
    const reopened = await openPartitionLog({ dir });
    expect([reopened.logStartOffset, reopened.logEndOffset]).toEqual([2, 5]);
    await reopened.close();
  });

  it('DeleteRecords saves the start, deletes files beside the chain: appends go on while fsyncs wait', async () => {
    const [dir, scratch] = dirs.map((d) => d.path) as [string, string];
    const log = await openPartitionLog({ dir, config: { retentionMs: -1, flushMessages: 1 } });
    for (let i = 0; i < 4; i++) {
      await log.append(makeBatch({ valueSize: 100, fill: i }));
      await log.roll();
    }
    await log.flush();
    const disk = await gateFileHandle(scratch, 'sync');
    try {
      let deleteDone = false;
      const deleting = log.deleteRecordsBefore(2).finally(() => {
        deleteDone = true;
      });
      // The start moves and the segments leave the log at once; appends do not wait for the disk...
      const append = log.append(makeBatch({ valueSize: 100, fill: 9 }));
      expect((await withTimeout(append, STUCK_MS, 'an append queued after DeleteRecords')).baseOffset).toBe(4);
      expect(log.logStartOffset).toBe(2);
      expect(log.segmentBaseOffsets()).toEqual([2, 3, 4]);
      await expect(log.read(0, 1000)).rejects.toBeInstanceOf(OffsetOutOfRangeError);
      // ...while DeleteRecords answers only once the start offset is saved and the files are gone.
      await waitFor(() => disk.held() > 0, { timeoutMs: STUCK_MS, description: "DeleteRecords' fsync" });
      expect(deleteDone).toBe(false);
      disk.release();
      expect(await withTimeout(deleting, STUCK_MS, 'DeleteRecords')).toBe(2);
      expect(await segmentBases(dir)).toEqual([2, 3, 4]);
    } finally {
      disk.release();
      disk.restore();
    }
    await log.abandon();
    const reopened = await openPartitionLog({ dir });
    expect([reopened.logStartOffset, reopened.logEndOffset]).toEqual([2, 5]);
    await reopened.close();
  });

  it('savedLogStartOffset follows a moved start once it is on disk (what a follower states)', async () => {
    const [dir, scratch] = dirs.map((d) => d.path) as [string, string];
    const size = makeBatch({ valueSize: 100 }).length;
    const log = await openPartitionLog({ dir, config: { retentionBytes: size * 2, retentionMs: -1 } });
    for (let i = 0; i < 4; i++) {
      await log.append(makeBatch({ valueSize: 100, fill: i }));
      await log.roll();
    }
    const disk = await gateFileHandle(scratch, 'sync');
    try {
      const retention = log.deleteOldSegments();
      await waitFor(() => disk.held() > 0, { timeoutMs: STUCK_MS, description: "retention's directory fsync" });
      // Retention moved the start in memory; a crash now would bring offsets 0-1 back.
      expect([log.logStartOffset, log.savedLogStartOffset]).toEqual([2, 0]);
      // Deleting below that start again (a follower adopting its leader's 2) answers once it is saved.
      let deleted = false;
      const deleting = log.deleteRecordsBefore(2).finally(() => {
        deleted = true;
      });
      for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
      expect(deleted).toBe(false);
      disk.release();
      expect(await withTimeout(retention, STUCK_MS, 'retention')).toBe(2);
      expect(await withTimeout(deleting, STUCK_MS, 'DeleteRecords at the start')).toBe(2);
      expect(log.savedLogStartOffset).toBe(2);
    } finally {
      disk.release();
      disk.restore();
    }
    expect(await log.deleteRecordsBefore(3)).toBe(3);
    expect([log.logStartOffset, log.savedLogStartOffset]).toEqual([3, 3]);
    await log.abandon();
    const reopened = await openPartitionLog({ dir });
    expect([reopened.logStartOffset, reopened.savedLogStartOffset]).toEqual([3, 3]);
    await reopened.close();
  });
});
