import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { splitBatches } from '@samsa/protocol';
import { openPartitionLog, type PartitionLog } from '@samsa/broker/internal';
import { makeBatch, tempDir } from './helpers.js';

/**
 * A leader's followers may copy an append as soon as its CRCs passed, while its write still runs
 * (append-chain.ts): readForFollower and exposedEndOffset see it, every other read and the log end
 * offset only once it is written. The writes here are held at a gate to see that phase.
 */
describe('a leader append exposed to followers before its write completes', () => {
  let dir: { path: string; remove: () => Promise<void> };
  let log: PartitionLog;
  let gate: { promise: Promise<void>; release: () => void } | undefined;
  let restore: () => void;

  beforeEach(async () => {
    dir = await tempDir();
    // Every FileHandle write of this process waits for the gate while one is set.
    const probe = await open(join(dir.path, 'probe'), 'w');
    const proto = Object.getPrototypeOf(probe) as { write: (...args: unknown[]) => Promise<unknown> };
    await probe.close();
    const original = proto.write;
    proto.write = async function (this: unknown, ...args: unknown[]) {
      if (gate) await gate.promise;
      return original.apply(this, args);
    };
    restore = () => {
      proto.write = original;
    };
    // Small runs are written on the event loop and exposed once written: these go through the pool.
    log = await openPartitionLog({ dir: dir.path, config: { segmentBytes: 1 << 20, inlineWriteMaxBytes: 0 } });
    await log.append(makeBatch({ count: 2 }));
  });
  afterEach(async () => {
    gate?.release();
    gate = undefined;
    restore();
    await log.close();
    await dir.remove();
  });

  const holdWrites = (): (() => void) => {
    let release!: () => void;
    const promise = new Promise<void>((r) => {
      release = r;
    });
    gate = { promise, release };
    return () => {
      gate = undefined;
      release();
    };
  };

  it('answers a follower at once from memory (the exposed append, the log end), and not from the files', async () => {
    const release = holdWrites();
    let exposed = 0;
    const appended = log.append(makeBatch({ count: 3, fill: 7 }), { leaderEpoch: 4, onExposed: () => exposed++ });
    await expect.poll(() => exposed).toBe(1);
    const copy = log.readForFollowerNow(2, 1 << 20);
    expect(splitBatches(copy!.bytes).map((s) => [s.header.baseOffset, s.header.recordCount])).toEqual([[2, 3]]);
    expect(log.readForFollowerNow(5, 1 << 20)?.bytes.length).toBe(0);
    expect(() => log.readForFollowerNow(6, 1 << 20)).toThrow(
      expect.objectContaining({ errorName: 'OffsetOutOfRange' }),
    );
    release();
    await appended;
    expect(log.readForFollowerNow(5, 1 << 20)?.bytes.length).toBe(0); // the written end
    // Reopened, the tail holds nothing: the bytes are in the files only, which readForFollower reads.
    await log.close();
    log = await openPartitionLog({ dir: dir.path, config: { segmentBytes: 1 << 20, inlineWriteMaxBytes: 0 } });
    expect(log.readForFollowerNow(0, 1 << 20)).toBeUndefined();
    expect(splitBatches((await log.readForFollower(0, 1 << 20)).bytes).map((s) => s.header.baseOffset)).toEqual([0, 2]);
  });

  it('reads for followers up to the exposed end; the log end and other reads wait for the write', async () => {
    const release = holdWrites();
    let exposed = 0;
    const appended = log.append(makeBatch({ count: 3, fill: 7 }), { leaderEpoch: 4, onExposed: () => exposed++ });
    await expect.poll(() => exposed).toBe(1);
    expect([log.logEndOffset, log.exposedEndOffset]).toEqual([2, 5]);
    const copy = await log.readForFollower(2, 1 << 20);
    expect(splitBatches(copy.bytes).map((s) => [s.header.baseOffset, s.header.recordCount])).toEqual([[2, 3]]);
    expect(splitBatches(copy.bytes)[0]!.header.partitionLeaderEpoch).toBe(4);
    // From below the written end a follower gets the written and the exposed batches together.
    expect(splitBatches((await log.readForFollower(0, 1 << 20)).bytes).map((s) => s.header.baseOffset)).toEqual([0, 2]);
    expect((await log.readForFollower(5, 1 << 20)).bytes.length).toBe(0);
    await expect(log.readForFollower(6, 1 << 20)).rejects.toMatchObject({ errorName: 'OffsetOutOfRange' });
    // Consumers and everything else: the written end only.
    expect((await log.read(0, 1 << 20)).lastOffset).toBe(1);
    expect((await log.read(2, 1 << 20)).bytes.length).toBe(0);
    await expect(log.read(3, 1 << 20)).rejects.toMatchObject({ errorName: 'OffsetOutOfRange' });
    release();
    expect((await appended).baseOffset).toBe(2);
    expect([log.logEndOffset, log.exposedEndOffset]).toEqual([5, 5]);
    expect((await log.read(2, 1 << 20, { fromFiles: true })).bytes).toEqual(copy.bytes);
  });

  it('never exposes a run with a bad CRC: its good appends are exposed again at their new offsets', async () => {
    const release = holdWrites();
    const bad = Buffer.from(makeBatch({ count: 4 }));
    bad[bad.length - 2]! ^= 0x01;
    const exposedAt: number[] = [];
    const onExposed = (): void => {
      exposedAt.push(log.exposedEndOffset);
    };
    const appends = [bad, makeBatch({ count: 3 })].map((b) => log.append(b, { onExposed }));
    const outcomes = Promise.allSettled(appends);
    release();
    const [first, second] = await outcomes;
    expect(first?.status).toBe('rejected');
    expect(second?.status === 'fulfilled' ? second.value.baseOffset : -1).toBe(2);
    // Only the good append, once, at 2-4: never at the offsets the bad one would have pushed it to.
    expect(exposedAt).toEqual([5]);
  });

  it('exposes a run of more appends than the tail keeps: followers read the ones it dropped once written', async () => {
    // The tail keeps a log's last eight appends (tail.ts): a run of twelve, exposed together, leaves the
    // first four in no memory while their write runs. The exposed end stays; a follower at the first
    // gets nothing stale, and reads it from the files once written.
    const release = holdWrites();
    let exposed = 0;
    const counts = Array.from({ length: 12 }, (_, i) => 1 + (i % 3));
    const appends = counts.map((count, i) =>
      log.append(makeBatch({ count, fill: i }), { leaderEpoch: 4, onExposed: () => exposed++ }),
    );
    await expect.poll(() => exposed).toBe(12);
    const bases = counts.map((_, i) => 2 + counts.slice(0, i).reduce((a, b) => a + b, 0));
    const end = 2 + counts.reduce((a, b) => a + b, 0);
    expect([log.logEndOffset, log.exposedEndOffset]).toEqual([2, end]);
    expect(log.readForFollowerNow(bases[0]!, 1 << 20)).toBeUndefined();
    expect(log.readForFollowerNow(bases[3]!, 1 << 20)).toBeUndefined();
    const fromMemory = log.readForFollowerNow(bases[4]!, 1 << 20);
    expect(splitBatches(fromMemory!.bytes).map((s) => s.header.baseOffset)).toEqual(bases.slice(4));
    const fromFirst = log.readForFollower(bases[0]!, 1 << 20);
    release();
    await Promise.all(appends);
    const files = await log.read(bases[0]!, 1 << 20, { fromFiles: true });
    expect(splitBatches(files.bytes).map((s) => s.header.baseOffset)).toEqual(bases);
    expect((await fromFirst).bytes).toEqual(files.bytes);
    expect(fromMemory!.bytes).toEqual((await log.read(bases[4]!, 1 << 20, { fromFiles: true })).bytes);
  });

  it('exposes an append without onExposed only once written', async () => {
    const release = holdWrites();
    const appended = log.append(makeBatch({ count: 3 }), { leaderEpoch: 4 });
    await new Promise((r) => setImmediate(r));
    expect([log.logEndOffset, log.exposedEndOffset]).toEqual([2, 2]);
    expect((await log.readForFollower(2, 1 << 20)).bytes.length).toBe(0);
    release();
    await appended;
    expect([log.logEndOffset, log.exposedEndOffset]).toEqual([5, 5]);
  });

  it('exposes nothing of a follower append', async () => {
    const config = { segmentBytes: 1 << 20, inlineWriteMaxBytes: 0 };
    const follower = await openPartitionLog({ dir: join(dir.path, 'f'), config });
    try {
      const release = holdWrites();
      const copied = follower.appendAsFollower((await log.read(0, 1 << 20)).bytes);
      await new Promise((r) => setImmediate(r));
      expect([follower.logEndOffset, follower.exposedEndOffset]).toEqual([0, 0]);
      release();
      await copied;
      expect([follower.logEndOffset, follower.exposedEndOffset]).toEqual([2, 2]);
    } finally {
      await follower.close();
    }
  });
});
