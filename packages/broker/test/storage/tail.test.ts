import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { splitBatches } from '@samsa/protocol';
import { openPartitionLog, ReadBufferPool, type PartitionLog } from '@samsa/broker/internal';
import { makeBatch, tempDir } from './helpers.js';

/**
 * Reads of the latest leader appends come from memory (the log's tail; a pooled read copies them into
 * its buffer). They must return what the files hold, whatever happened to the log.
 */
describe('reads of the log tail', () => {
  let dir: { path: string; remove: () => Promise<void> };
  let log: PartitionLog;
  const pool = new ReadBufferPool();
  const config = { segmentBytes: 2_000, indexIntervalBytes: 64 };
  beforeEach(async () => {
    dir = await tempDir();
    log = await openPartitionLog({ dir: dir.path, config });
  });
  afterEach(async () => {
    await log.close();
    await dir.remove();
  });

  /** Every (offset, maxBytes, maxOffset) read, plain and from the files, must agree. */
  const expectReadsAgree = async (): Promise<void> => {
    for (let offset = log.logStartOffset; offset <= log.logEndOffset; offset++) {
      for (const maxBytes of [0, 50, 100, 250, 1 << 20]) {
        for (const maxOffset of [undefined, offset + 1, offset + 3, log.logEndOffset]) {
          const plain = await log.read(offset, maxBytes, { maxOffset });
          const files = await log.read(offset, maxBytes, { maxOffset, buffers: pool, fromFiles: true });
          expect(
            { ...plain, bytes: plain.bytes.toString('hex') },
            `offset ${offset} maxBytes ${maxBytes} maxOffset ${maxOffset}`,
          ).toEqual({ ...files, bytes: files.bytes.toString('hex') });
          pool.release(files.bytes);
        }
      }
    }
  };

  it('returns what the files hold, across rolls, for any offset, size and bound', async () => {
    for (let i = 0; i < 25; i++)
      await log.append(
        Buffer.concat(
          Array.from({ length: 1 + (i % 3) }, (_, b) => makeBatch({ count: 1 + b, valueSize: 20, fill: i })),
        ),
      );
    expect(log.segmentCount).toBeGreaterThan(1);
    await expectReadsAgree();
  });

  it('returns what the files hold when every append the tail keeps is in the active segment', async () => {
    // More appends than the tail keeps (eight), all in one segment: reads start at each kept one, the
    // oldest included, and at the ones it dropped.
    for (let i = 0; i < 12; i++)
      await log.append(
        Buffer.concat(
          Array.from({ length: 1 + (i % 2) }, (_, b) => makeBatch({ count: 1 + b, valueSize: 4, fill: i })),
        ),
      );
    expect(log.segmentCount).toBe(1);
    await expectReadsAgree();
  });

  it('serves a read at the start of a recent append whole, as several batches', async () => {
    await log.append(makeBatch({ count: 2 }));
    await log.append(Buffer.concat([makeBatch({ count: 3, fill: 1 }), makeBatch({ count: 1, fill: 2 })]));
    const read = await log.read(2, 1 << 20);
    expect(splitBatches(read.bytes).map((s) => [s.header.baseOffset, s.header.recordCount])).toEqual([
      [2, 3],
      [5, 1],
    ]);
    expect([read.firstOffset, read.lastOffset, read.logEndOffset]).toEqual([2, 5, 6]);
  });

  it("copies the tail into a pooled read's own buffer: what its caller does with it changes no read", async () => {
    await log.append(makeBatch({ count: 3, fill: 0x41 }));
    const files = await log.read(0, 1 << 20, { buffers: pool, fromFiles: true });
    const expected = Buffer.from(files.bytes);
    pool.release(files.bytes);
    const pooled = await log.read(0, 1 << 20, { buffers: pool });
    expect(pooled.bytes.equals(expected)).toBe(true);
    pooled.bytes.fill(0); // a consumer's buffer is reused for the next read once serialized
    pool.release(pooled.bytes);
    expect((await log.read(0, 1 << 20)).bytes.equals(expected)).toBe(true);
    expect((await log.read(0, 1 << 20, { buffers: pool })).bytes.equals(expected)).toBe(true);
  });

  it('forgets truncated appends: records written again at the same offsets are the new ones', async () => {
    for (let i = 0; i < 6; i++) await log.append(makeBatch({ count: 2, fill: 0x10 + i }));
    await log.truncateTo(6);
    await log.append(makeBatch({ count: 2, fill: 0x70 }));
    await log.append(makeBatch({ count: 2, fill: 0x71 }));
    const read = await log.read(6, 1 << 20);
    expect(read.bytes.includes(Buffer.alloc(10, 0x70))).toBe(true);
    expect(read.bytes.includes(Buffer.alloc(10, 0x13))).toBe(false);
    await expectReadsAgree();
  });

  it('forgets everything when the log restarts elsewhere, and follower appends are read from the files', async () => {
    for (let i = 0; i < 4; i++) await log.append(makeBatch({ count: 2, fill: 0x20 + i }));
    await log.resetTo(100);
    expect((await log.read(100, 1 << 20)).bytes.length).toBe(0);
    await log.appendAsFollower(makeBatch({ count: 2, baseOffset: 100, leaderEpoch: 3, fill: 0x30 }));
    await log.appendAsFollower(makeBatch({ count: 2, baseOffset: 102, leaderEpoch: 3, fill: 0x31 }));
    await expectReadsAgree();
    // Leading again: new appends follow the follower's ones.
    await log.append(makeBatch({ count: 2, fill: 0x32 }), { leaderEpoch: 4 });
    await log.append(makeBatch({ count: 2, fill: 0x33 }), { leaderEpoch: 4 });
    await expectReadsAgree();
  });
});
