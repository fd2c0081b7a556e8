import { createHook } from 'node:async_hooks';
import fs from 'node:fs';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { CorruptRecordError, splitBatches } from '@samsa/protocol';
import { KafkaStorageError, openPartitionLog, type PartitionLog } from '@samsa/broker/internal';
import { makeBatch, tempDir } from './helpers.js';

/**
 * A run of appends of at most inlineWriteMaxBytes is written with fs.writeSync / fs.writevSync on the
 * event loop (append-chain.ts), a larger one through FileHandle on the thread pool. The synchronous
 * calls are watched (and made to misbehave) through the `fs` object the append chain calls them on.
 */
describe('appends written on the event loop', () => {
  let dir: { path: string; remove: () => Promise<void> };
  let log: PartitionLog;
  let poolWrites: Buffer[];
  let restorePool: () => void;
  const segmentFile = (): string => join(dir.path, '00000000000000000000.log');

  beforeEach(async () => {
    dir = await tempDir();
    // Every buffer a FileHandle writes (or writevs) in this process, in order.
    poolWrites = [];
    const probe = await open(join(dir.path, 'probe'), 'w');
    const proto = Object.getPrototypeOf(probe) as Record<'write' | 'writev', (...args: unknown[]) => unknown>;
    await probe.close();
    const { write, writev } = proto;
    proto.write = function (this: unknown, ...args: unknown[]) {
      poolWrites.push(args[0] as Buffer);
      return write.apply(this, args);
    };
    proto.writev = function (this: unknown, ...args: unknown[]) {
      poolWrites.push(...(args[0] as Buffer[]));
      return writev.apply(this, args);
    };
    restorePool = () => Object.assign(proto, { write, writev });
  });
  afterEach(async () => {
    vi.restoreAllMocks();
    restorePool();
    await log?.close();
    await dir.remove();
  });

  /** The buffers the event loop wrote with writeSync/writevSync, from now on; the spies pass through. */
  const watchInlineWrites = (): { writeSync: Buffer[]; writevSync: Buffer[][] } => {
    const seen = { writeSync: [] as Buffer[], writevSync: [] as Buffer[][] };
    const writeSync = fs.writeSync;
    const writevSync = fs.writevSync;
    vi.spyOn(fs, 'writeSync').mockImplementation(((fd: number, buffer: Buffer, ...rest: never[]) => {
      seen.writeSync.push(buffer);
      return writeSync(fd, buffer, ...rest);
    }) as typeof fs.writeSync);
    vi.spyOn(fs, 'writevSync').mockImplementation((fd, buffers, position) => {
      seen.writevSync.push(buffers as Buffer[]);
      return writevSync(fd, buffers, position);
    });
    return seen;
  };

  it('writes a run of exactly inlineWriteMaxBytes on the event loop, one byte more through the pool', async () => {
    const first = makeBatch({ count: 2, valueSize: 100, fill: 1 });
    log = await openPartitionLog({ dir: dir.path, config: { inlineWriteMaxBytes: first.length } });
    const inline = watchInlineWrites();
    expect((await log.append(first)).baseOffset).toBe(0);
    expect(inline.writeSync).toEqual([first]);
    expect(poolWrites).toEqual([]);

    log.reconfigure({ inlineWriteMaxBytes: first.length - 1 });
    const second = makeBatch({ count: 2, valueSize: 100, fill: 2 });
    expect((await log.append(second)).baseOffset).toBe(2);
    expect(inline.writeSync).toEqual([first]);
    expect(poolWrites).toEqual([second]);

    // 0: every run goes through the pool, however small.
    log.reconfigure({ inlineWriteMaxBytes: 0 });
    const third = makeBatch({ count: 1, valueSize: 1, fill: 3 });
    await log.append(third);
    expect(poolWrites).toEqual([second, third]);
    expect(inline.writeSync).toEqual([first]);
    const stored = (await log.read(0, 1 << 20, { fromFiles: true })).bytes;
    expect(stored).toEqual(Buffer.concat([first, second, third]));
    expect(fs.statSync(segmentFile()).size).toBe(stored.length);
  });

  it('writes the appends of one drain with one writevSync', async () => {
    log = await openPartitionLog({ dir: dir.path });
    const inline = watchInlineWrites();
    const batches = [1, 2, 3].map((fill) => makeBatch({ count: fill, fill }));
    const results = await Promise.all(batches.map((b) => log.append(b)));
    expect(results.map((r) => r.baseOffset)).toEqual([0, 1, 3]);
    expect(inline.writevSync).toEqual([batches]);
    expect(poolWrites).toEqual([]);
    expect((await log.read(0, 1 << 20, { fromFiles: true })).bytes).toEqual(Buffer.concat(batches));
  });

  it('finishes a short write of one buffer and of several', async () => {
    log = await openPartitionLog({ dir: dir.path });
    const writeSync = fs.writeSync;
    const writevSync = fs.writevSync;
    // The first call of each writes only 7 bytes: what a signal or a nearly full disk can cause.
    let shortWrites = 0;
    vi.spyOn(fs, 'writeSync').mockImplementation(((fd: number, buffer: Buffer, offset: number, length: number, pos) => {
      if (shortWrites++ === 0) return writeSync(fd, buffer, offset, 7, pos);
      return writeSync(fd, buffer, offset, length, pos);
    }) as typeof fs.writeSync);
    vi.spyOn(fs, 'writevSync').mockImplementation((fd, buffers, position) => {
      if (shortWrites++ === 1) return writeSync(fd, (buffers as Buffer[])[0]!, 0, 7, position);
      return writevSync(fd, buffers, position);
    });
    const single = makeBatch({ count: 3, fill: 1 });
    expect((await log.append(single)).lastOffset).toBe(2);
    const several = [4, 5].map((fill) => makeBatch({ count: 2, fill }));
    await Promise.all(several.map((b) => log.append(b)));
    expect(shortWrites).toBeGreaterThan(2);
    expect(log.logEndOffset).toBe(7);
    const stored = (await log.read(0, 1 << 20, { fromFiles: true })).bytes;
    expect(stored).toEqual(Buffer.concat([single, ...several]));
    expect(fs.statSync(segmentFile()).size).toBe(stored.length);
    expect(splitBatches(stored).map((s) => s.header.baseOffset)).toEqual([0, 3, 5]);
  });

  it('takes the log offline when the write fails, rejecting the run and what is queued behind it', async () => {
    const failures: KafkaStorageError[] = [];
    log = await openPartitionLog({ dir: dir.path, onOffline: (e) => failures.push(e) });
    await log.append(makeBatch({ count: 2 }));
    const eio = Object.assign(new Error('EIO: i/o error, write'), { code: 'EIO', errno: -5, syscall: 'write' });
    vi.spyOn(fs, 'writeSync').mockImplementation(() => {
      throw eio;
    });
    vi.spyOn(fs, 'writevSync').mockImplementation(() => {
      throw eio;
    });
    const refused = await log.append(makeBatch({ count: 3 })).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(KafkaStorageError);
    expect((refused as KafkaStorageError).ioErrorCode).toBe('EIO');
    expect(log.state).toBe('offline');
    expect(failures).toHaveLength(1);
    expect(log.logEndOffset).toBe(2);
    await expect(log.append(makeBatch())).rejects.toBeInstanceOf(KafkaStorageError);
    expect(failures).toHaveLength(1);
  });

  it('never writes a run with a bad CRC; its good appends are written again at their new offsets', async () => {
    log = await openPartitionLog({ dir: dir.path });
    await log.append(makeBatch({ count: 2 }));
    const inline = watchInlineWrites();
    const bad = makeBatch({ count: 5, fill: 9 });
    bad[bad.length - 2]! ^= 0x01;
    const good = [makeBatch({ count: 2, fill: 1 }), makeBatch({ count: 3, fill: 2 })];
    const settled = await Promise.allSettled([good[0]!, bad, good[1]!].map((b) => log.append(b)));
    expect(settled.map((s) => s.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect((settled[1] as PromiseRejectedResult).reason).toBeInstanceOf(CorruptRecordError);
    // The run with the bad batch never reached the file: only the good appends' retry did.
    const written = [...inline.writeSync, ...inline.writevSync.flat()];
    expect(written).not.toContain(bad);
    expect(inline.writevSync).toEqual([good]);
    expect(poolWrites).toEqual([]);
    const stored = splitBatches((await log.read(0, 1 << 20, { fromFiles: true })).bytes);
    expect(stored.map((s) => [s.header.baseOffset, s.header.recordCount])).toEqual([
      [0, 2],
      [2, 2],
      [4, 3],
    ]);
    expect(fs.statSync(segmentFile()).size).toBe(stored.reduce((n, s) => n + s.header.batchLength + 12, 0));
  });

  it("makes no thread-pool request for a small leader append or its follower's copy", async () => {
    log = await openPartitionLog({ dir: dir.path });
    const follower = await openPartitionLog({ dir: join(dir.path, 'follower') });
    try {
      await log.append(makeBatch({ count: 2 }));
      await follower.appendAsFollower((await log.read(0, 1 << 20)).bytes);
      // Every fs request (fs/promises or callback) made while the appends run; reads of the tail are in memory.
      const requests: string[] = [];
      const hook = createHook({
        init: (_id, type) => {
          if (type.startsWith('FSREQ') || type.startsWith('FILEHANDLE')) requests.push(type);
        },
      });
      hook.enable();
      try {
        for (let i = 0; i < 5; i++) {
          const { baseOffset } = await log.append(makeBatch({ count: 3, fill: i }), { leaderEpoch: 0 });
          await follower.appendAsFollower((await log.read(baseOffset, 1 << 20)).bytes);
        }
      } finally {
        hook.disable();
      }
      expect(requests).toEqual([]);
      expect([log.logEndOffset, follower.logEndOffset]).toEqual([17, 17]);
    } finally {
      await follower.close();
    }
  });

  it('tells onExposed once the run is written, before the log end moves', async () => {
    log = await openPartitionLog({ dir: dir.path });
    const batch = makeBatch({ count: 4 });
    let seen: { fileSize: number; logEnd: number; exposedEnd: number } | undefined;
    const onExposed = (): void => {
      seen = { fileSize: fs.statSync(segmentFile()).size, logEnd: log.logEndOffset, exposedEnd: log.exposedEndOffset };
    };
    await log.append(batch, { leaderEpoch: 3, onExposed });
    expect(seen).toEqual({ fileSize: batch.length, logEnd: 0, exposedEnd: 4 });
    expect(log.logEndOffset).toBe(4);
  });
});
