import { mkdir, readdir, readFile, stat, unlink, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { encodeBatch } from '@samsa/protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deleteDirectory, openPartitionLog, removeDeletedDirectories, type PartitionLog } from '@samsa/broker/internal';
import { encodeMarker } from '../../src/txn/state-topic.js';
import { crashAtEveryStep, DiskCrash, type CrashRun } from './disk-crash.js';
import { makeBatch, tempDir } from './helpers.js';

/**
 * Every multi-step disk operation of the log, crashed at each of its changes in turn (DiskCrash: the
 * files stay as a SIGKILL at that moment leaves them) and reopened: the log must be one of the states
 * the operation allows, with no hole, the right start and end, and every record byte for byte.
 */

const BATCH_BYTES = makeBatch({ valueSize: 100 }).length;
/** Three batches of one record per segment. */
const config = { segmentBytes: BATCH_BYTES * 3, retentionMs: -1 };

/** Ten one-record batches, offsets 0-9, in segments 0, 3, 6 and 9 (the active one). */
async function tenRecords(log: PartitionLog): Promise<void> {
  for (let i = 0; i < 10; i++) await log.append(makeBatch({ valueSize: 100, fill: i }));
}

/** The fill byte of every record from the log start to the end, read through the log. */
async function fills(log: PartitionLog): Promise<number[]> {
  const out: number[] = [];
  for (let offset = log.logStartOffset; offset < log.logEndOffset; ) {
    const read = await log.read(offset, 1 << 20);
    if (read.lastOffset < 0) break;
    for (let at = 0; at < read.bytes.length; at += BATCH_BYTES) {
      const base = Number(read.bytes.readBigInt64BE(at));
      if (base >= offset) out.push(read.bytes[at + BATCH_BYTES - 2]!);
    }
    offset = read.lastOffset + 1;
  }
  return out;
}

function range(from: number, to: number): number[] {
  return Array.from({ length: Math.max(0, to - from) }, (_, i) => from + i);
}

/** Segment base offsets found on disk. */
async function segmentFiles(dir: string): Promise<number[]> {
  return (await readdir(dir))
    .filter((n) => /^\d{20}\.log$/.test(n))
    .map((n) => Number(n.slice(0, 20)))
    .sort((a, b) => a - b);
}

/** [start, end, records (their fills: offset i holds fill i)]. */
async function stateOf(run: CrashRun): Promise<[number, number, number[]]> {
  return [run.log.logStartOffset, run.log.logEndOffset, await fills(run.log)];
}

/**
 * The log appends at its end after the reopen, no segment file lies wholly below its start, and the
 * saved recovery point is not past the end: segments below it are trusted unread at the next open,
 * so one past the end would cover what is appended there again before its roll flush.
 */
async function stillWorks(run: CrashRun, where: string): Promise<void> {
  const recoveryPoint = Number(await readFile(join(run.dir, 'recovery-point'), 'utf8').catch(() => '0'));
  expect(recoveryPoint, `${where}: the saved recovery point`).toBeLessThanOrEqual(run.log.logEndOffset);
  const onDisk = await segmentFiles(run.dir);
  expect(onDisk[1] === undefined || onDisk[1] > run.log.logStartOffset, `${where}: files ${onDisk}`).toBe(true);
  const end = run.log.logEndOffset;
  expect((await run.log.append(makeBatch({ valueSize: 100, fill: 99 }))).baseOffset, where).toBe(end);
}

const describeIt = (run: CrashRun): string => `crash at change ${run.step} (${run.steps.join(', ')})`;

describe('storage: a crash at every change of a multi-step operation', () => {
  const disk = new DiskCrash();
  let scratch: { path: string; remove: () => Promise<void> };
  beforeAll(async () => {
    scratch = await tempDir();
    await disk.install(scratch.path);
  });
  afterAll(async () => {
    disk.uninstall();
    await scratch.remove();
  });

  it("resetTo (a follower behind its leader's start): the old log or the empty log at the new start", async () => {
    const changes = await crashAtEveryStep({
      disk,
      open: { config },
      setup: async (log) => {
        await tenRecords(log);
        await log.deleteRecordsBefore(1);
      },
      operation: (log) => log.resetTo(25),
      check: async (run) => {
        const where = describeIt(run);
        const [start, end, records] = await stateOf(run);
        // The old log, or what is left of it (a later start: the log is being emptied anyway)...
        if (end === 10) expect(records, where).toEqual(range(start, 10));
        // ...or the empty log at the new start, never at the initial offset or the old start.
        else expect([start, end, records], where).toEqual([25, 25, []]);
        await stillWorks(run, where);
      },
    });
    expect(changes).toBeGreaterThan(5);
  });

  it("a follower's append at a start inside its first batch: the empty log at the start, or the batch", async () => {
    // The leader's start, 25, is inside its batch 20-29: the reset follower's log restarts at 20 and takes it.
    const batch = makeBatch({ count: 10, baseOffset: 20, valueSize: 10, fill: 7 });
    const changes = await crashAtEveryStep({
      disk,
      open: { config },
      setup: async (log) => {
        await tenRecords(log);
        await log.resetTo(25);
      },
      operation: (log) => log.appendAsFollower(batch),
      check: async (run) => {
        const where = describeIt(run);
        const { log } = run;
        if (log.logEndOffset === 30) {
          const read = await log.read(25, 1 << 20);
          expect([log.logStartOffset, read.bytes.equals(batch)], where).toEqual([25, true]);
        } else {
          expect([log.logStartOffset, log.logEndOffset], where).toEqual([25, 25]);
        }
        await stillWorks(run, where);
      },
    });
    expect(changes).toBeGreaterThan(3);
  });

  it('resetTo: an open transaction of the old log never holds the new one back', async () => {
    const open = encodeBatch([{ value: Buffer.from('in a transaction') }], {
      now: 1_000,
      producerId: 7,
      producerEpoch: 0,
      baseSequence: 0,
      transactional: true,
    });
    await crashAtEveryStep({
      disk,
      open: { config },
      setup: async (log) => {
        await log.append(open);
        await tenRecords(log); // rolls write producer snapshots holding the open transaction
        expect(log.firstUnstableOffset).toBe(0);
      },
      operation: (log) => log.resetTo(25),
      check: async (run) => {
        const where = describeIt(run);
        const { log } = run;
        if (log.logEndOffset === 25) {
          expect([log.logStartOffset, log.firstUnstableOffset, log.lastStableOffset(25)], where).toEqual([
            25,
            undefined,
            25,
          ]);
        } else {
          expect([log.logEndOffset, log.firstUnstableOffset], where).toEqual([11, 0]);
        }
      },
    });
  });

  it('truncateTo inside the log: a prefix at least as long as the truncated log, never a hole', async () => {
    await crashAtEveryStep({
      disk,
      open: { config },
      setup: tenRecords,
      operation: (log) => log.truncateTo(4),
      check: async (run) => {
        const where = describeIt(run);
        const [start, end, records] = await stateOf(run);
        expect(start, where).toBe(0);
        expect(end, where).toBeGreaterThanOrEqual(4);
        expect(records, where).toEqual(range(0, end));
        await stillWorks(run, where);
      },
    });
  });

  it('truncateTo on a compacted log: what is appended again below the old cleaner checkpoint is dirty', async () => {
    const compacted = { config: { ...config, cleanupPolicy: 'compact' as const } };
    await crashAtEveryStep({
      disk,
      open: compacted,
      setup: async (log) => {
        await tenRecords(log);
        await log.close();
        await writeFile(join(log.dir, 'cleaner-offset-checkpoint'), '9\n');
      },
      operation: async (log) => {
        const reopened = await openPartitionLog({ ...compacted, dir: log.dir });
        await reopened.truncateTo(4);
        await reopened.abandon();
      },
      check: async (run) => {
        const where = describeIt(run);
        const end = run.log.logEndOffset;
        for (let i = 0; i < 10; i++) await run.log.append(makeBatch({ valueSize: 100, fill: 50 + i }));
        await run.log.flush(); // the roll flushes: the recovery point no longer bounds the section
        expect(run.log.cleanableSection(run.log.logEndOffset).firstDirtyOffset, where).toBeLessThanOrEqual(end);
      },
    });
  });

  it('truncateTo below the start (the start at a segment base): a prefix, or the empty log at the offset', async () => {
    await crashAtEveryStep({
      disk,
      open: { config },
      setup: async (log) => {
        await tenRecords(log);
        await log.deleteRecordsBefore(3); // segment 0 goes: the start is the first segment's base
      },
      operation: (log) => log.truncateTo(2),
      check: async (run) => {
        const where = describeIt(run);
        const [start, end, records] = await stateOf(run);
        // What is left of the old log from its start, or the empty log at the offset.
        if (end === start) expect(start, where).toBe(2);
        else expect([start >= 3, records], where).toEqual([true, range(start, end)]);
        await stillWorks(run, where);
      },
    });
  });

  it('truncateTo below a start inside the first segment: a prefix, or the empty log at either start', async () => {
    await crashAtEveryStep({
      disk,
      open: { config },
      setup: async (log) => {
        await tenRecords(log);
        await log.deleteRecordsBefore(2);
      },
      operation: (log) => log.truncateTo(1),
      check: async (run) => {
        const where = describeIt(run);
        const [start, end, records] = await stateOf(run);
        // Never offset 1 with records: the records DeleteRecords removed stay removed.
        if (end === start) expect([1, 2], where).toContain(start);
        else expect([start >= 2, records], where).toEqual([true, range(start, end)]);
        await stillWorks(run, where);
      },
    });
  });

  it('deleteRecordsBefore: the old start or the new, and no segment file left wholly below it', async () => {
    await crashAtEveryStep({
      disk,
      open: { config },
      setup: tenRecords,
      operation: (log) => log.deleteRecordsBefore(7),
      check: async (run) => {
        const where = describeIt(run);
        const [start, end, records] = await stateOf(run);
        expect([0, 7], where).toContain(start);
        expect([end, records], where).toEqual([10, range(start, 10)]);
        await stillWorks(run, where);
      },
    });
  });

  it('retention: the old start or a later segment base, every record from there', async () => {
    await crashAtEveryStep({
      disk,
      open: { config: { ...config, retentionBytes: BATCH_BYTES * 4 } },
      setup: tenRecords,
      operation: (log) => log.deleteOldSegments(),
      check: async (run) => {
        const where = describeIt(run);
        const [start, end, records] = await stateOf(run);
        expect([0, 3, 6], where).toContain(start);
        expect([end, records], where).toEqual([10, range(start, 10)]);
        await stillWorks(run, where);
      },
    });
  });

  it('a roll and its flush: every record, appends go on at the end', async () => {
    await crashAtEveryStep({
      disk,
      open: { config },
      setup: async (log) => {
        for (let i = 0; i < 8; i++) await log.append(makeBatch({ valueSize: 100, fill: i }));
      },
      operation: async (log) => {
        await log.append(makeBatch({ valueSize: 100, fill: 8 }));
        await log.append(makeBatch({ valueSize: 100, fill: 9 })); // rolls
        await log.flush();
      },
      check: async (run) => {
        const where = describeIt(run);
        const [start, end, records] = await stateOf(run);
        expect(start, where).toBe(0);
        expect(end, where).toBeGreaterThanOrEqual(8);
        expect(records, where).toEqual(range(0, end));
        await stillWorks(run, where);
      },
    });
  });

  it('deleting a partition directory (topic deletion, a replica moved away): all of it or none of it', async () => {
    for (let step = 1; ; step++) {
      const parent = await tempDir();
      try {
        const dir = join(parent.path, 'orders-0');
        await mkdir(dir);
        const log = await openPartitionLog({ dir, config });
        await tenRecords(log);
        await log.close();
        const files = (await readdir(dir)).sort();
        disk.arm(step);
        const done = deleteDirectory(dir).then(() => true);
        const finished = await Promise.race([done, disk.crash.then(() => false)]);
        disk.freeze();
        const where = `crash at change ${step} (${disk.steps.join(', ')})`;
        await disk.closeLeftovers();
        disk.disarm();
        // What a restarted broker finds under the partition's name: the whole log, or no directory.
        const left = await readdir(dir).then(
          (names) => names.sort(),
          () => undefined,
        );
        expect([JSON.stringify(files), undefined], where).toContain(left && JSON.stringify(left));
        await removeDeletedDirectories(parent.path);
        expect(await readdir(parent.path), where).toEqual(left ? ['orders-0'] : []);
        if (finished) break;
      } finally {
        disk.disarm();
        await parent.remove();
      }
    }
  });

  it("open rebuilding an inactive segment's missing indexes: never leaves them empty and trusted", async () => {
    const indexed = { config: { ...config, indexIntervalBytes: 1 } };
    await crashAtEveryStep({
      disk,
      open: indexed,
      setup: async (log) => {
        await tenRecords(log);
        await log.close();
        await unlink(join(log.dir, '00000000000000000003.index'));
      },
      operation: (log) => openPartitionLog({ ...indexed, dir: log.dir }).then((reopened) => reopened.abandon()),
      check: async (run) => {
        const where = describeIt(run);
        expect(await stateOf(run), where).toEqual([0, 10, range(0, 10)]);
        // A torn rewrite would be trusted below the recovery point: every read of the segment a scan
        // from its first byte, and retention by the file's mtime instead of the largest timestamp.
        for (const suffix of ['index', 'timeindex']) {
          const size = await stat(join(run.dir, `00000000000000000003.${suffix}`)).then((s) => s.size);
          expect(size, `${where}: .${suffix}`).toBeGreaterThan(0);
        }
        await stillWorks(run, where);
      },
    });
  });

  // What an fsync makes durable: the order of fsyncs and renames a machine crash depends on.

  it('a new partition directory is fsynced in its parent before the log is used', async () => {
    const parent = await tempDir();
    try {
      disk.arm(Number.POSITIVE_INFINITY);
      const log = await openPartitionLog({ dir: join(parent.path, 'orders-0') });
      const events = [...disk.events];
      await log.close();
      const made = events.indexOf('mkdir orders-0');
      expect(made, events.join(', ')).toBeGreaterThanOrEqual(0);
      expect(events.indexOf(`sync ${basename(parent.path)}`, made), events.join(', ')).toBeGreaterThan(made);
    } finally {
      await parent.remove();
    }
  });

  it("an abort marker's .txnindex entry is fsynced before a producer snapshot above it is saved", async () => {
    const dir = await tempDir();
    const txn = (producerId: number, epoch: number): Buffer =>
      encodeBatch([{ value: Buffer.from('t') }], {
        now: 1_000,
        producerId,
        producerEpoch: epoch,
        baseSequence: 0,
        transactional: true,
      });
    const abort = (producerId: number, epoch: number): Buffer =>
      encodeMarker({ producerId, producerEpoch: epoch, commit: false, coordinatorEpoch: 0, nowMs: 1_000 });
    try {
      disk.arm(Number.POSITIVE_INFINITY);
      const log = await openPartitionLog({ dir: dir.path });
      await log.append(txn(1, 0)); // 0
      await log.appendMarker(abort(1, 1), { leaderEpoch: 0, coordinatorEpoch: 0 }); // 1
      await log.roll(); // a snapshot at 2, written beside the chain with the roll's flush
      await log.flush();
      await log.append(txn(2, 0)); // 2
      await log.appendMarker(abort(2, 1), { leaderEpoch: 0, coordinatorEpoch: 0 }); // 3
      await log.close(); // a snapshot at 4
      const events = [...disk.events];
      // A crashed process's entries may not be on the disk either: the reopened log syncs them too.
      const crashed = await openPartitionLog({ dir: dir.path });
      await crashed.append(txn(3, 0)); // 4, in segment 2
      await crashed.appendMarker(abort(3, 1), { leaderEpoch: 0, coordinatorEpoch: 0 }); // 5
      await crashed.abandon();
      disk.arm(Number.POSITIVE_INFINITY);
      const reopened = await openPartitionLog({ dir: dir.path });
      await reopened.roll(); // a snapshot at 6
      await reopened.close();
      for (const [txnIndex, snapshot, run] of [
        ['00000000000000000000.txnindex', '00000000000000000002.snapshot.tmp', events],
        ['00000000000000000002.txnindex', '00000000000000000004.snapshot.tmp', events],
        ['00000000000000000002.txnindex', '00000000000000000006.snapshot.tmp', [...disk.events]],
      ] as const) {
        const saved = run.indexOf(`rename ${snapshot}`);
        expect(saved, run.join(', ')).toBeGreaterThan(0);
        const synced = run.findIndex((e) => /sync /.test(e) && e.endsWith(` ${txnIndex}`));
        expect([synced >= 0, synced < saved], `${txnIndex}: ${run.join(', ')}`).toEqual([true, true]);
      }
    } finally {
      await dir.remove();
    }
  });

  it('close: every record, whatever the step', async () => {
    await crashAtEveryStep({
      disk,
      open: { config },
      setup: tenRecords,
      operation: (log) => log.close(),
      check: async (run) => {
        const where = describeIt(run);
        expect(await stateOf(run), where).toEqual([0, 10, range(0, 10)]);
        await stillWorks(run, where);
      },
    });
  });
});
