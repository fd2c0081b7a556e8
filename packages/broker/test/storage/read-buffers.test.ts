import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openPartitionLog, ReadBufferPool, type PartitionLog } from '@samsa/broker/internal';
import { makeBatch, tempDir } from './helpers.js';

describe('read buffer pool', () => {
  it('hands a released buffer out again, whichever view of it comes back', () => {
    const pool = new ReadBufferPool();
    const a = pool.acquire(100_000);
    expect(a.length).toBeGreaterThanOrEqual(100_000);
    pool.release(a.subarray(10, 20));
    expect(pool.acquire(90_000).buffer).toBe(a.buffer);
    expect(pool.acquire(90_000).buffer).not.toBe(a.buffer);
  });

  it('ignores buffers it did not lend and second releases', () => {
    const pool = new ReadBufferPool();
    pool.release(Buffer.allocUnsafeSlow(200_000));
    pool.release(Buffer.alloc(0));
    const a = pool.acquire(1000);
    pool.release(a);
    pool.release(a);
    const first = pool.acquire(1000);
    const second = pool.acquire(1000);
    expect(first.buffer).toBe(a.buffer);
    expect(second.buffer).not.toBe(a.buffer);
  });

  it('keeps at most maxPooledBytes and never pools oversized reads', () => {
    const pool = new ReadBufferPool(128 * 1024, 64 * 1024);
    const big = pool.acquire(100_000);
    expect(big.length).toBe(100_000);
    pool.release(big);
    expect(pool.acquire(100_000).buffer).not.toBe(big.buffer);
    const held = [pool.acquire(65_536), pool.acquire(65_536), pool.acquire(65_536)];
    for (const b of held) pool.release(b);
    const again = [pool.acquire(65_536), pool.acquire(65_536), pool.acquire(65_536)].map((b) => b.buffer);
    expect(again.filter((b) => held.some((h) => h.buffer === b))).toHaveLength(2);
  });

  describe('log reads into pooled buffers', () => {
    let dir: { path: string; remove: () => Promise<void> };
    let log: PartitionLog;
    beforeEach(async () => {
      dir = await tempDir();
      log = await openPartitionLog({ dir: dir.path });
    });
    afterEach(async () => {
      await log.close();
      await dir.remove();
    });

    it('reads the same bytes as without a pool, reusing the buffer once released', async () => {
      const batches = [
        makeBatch({ count: 3 }),
        makeBatch({ count: 2, fill: 0x7a }),
        makeBatch({ count: 5, fill: 0x11 }),
      ];
      for (const b of batches) await log.append(b, { leaderEpoch: 1 });
      const pool = new ReadBufferPool();
      const plain = await log.read(3, 1 << 20);
      const pooled = await log.read(3, 1 << 20, { buffers: pool });
      expect(pooled.bytes.equals(plain.bytes)).toBe(true);
      expect(pooled).toMatchObject({ firstOffset: plain.firstOffset, lastOffset: plain.lastOffset });
      const copy = Buffer.from(pooled.bytes);
      pool.release(pooled.bytes);
      const again = await log.read(0, 1 << 20, { buffers: pool });
      expect(again.bytes.buffer).toBe(pooled.bytes.buffer);
      expect(again.bytes.subarray(batches[0]!.length).equals(copy)).toBe(true);
    });
  });
});
