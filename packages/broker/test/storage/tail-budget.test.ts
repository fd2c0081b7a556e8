import { afterEach, describe, expect, it } from 'vitest';
import { TailBudget, openPartitionLog, ReadBufferPool, type PartitionLog } from '@samsa/broker/internal';
import { makeBatch, tempDir } from './helpers.js';

describe('TailBudget', () => {
  it('evicts the oldest entries first, whichever log holds them, and counts what logs release', () => {
    const budget = new TailBudget(100);
    const evicted: string[] = [];
    const token = (name: string, retained: number) => ({
      retained,
      dropped: false,
      evict: () => void evicted.push(name),
    });
    const a1 = token('a1', 40);
    const b1 = token('b1', 40);
    const a2 = token('a2', 30);
    budget.add(a1);
    budget.add(b1);
    budget.add(a2);
    expect(budget.usedBytes).toBe(110 - 40);
    expect(evicted).toEqual(['a1']);
    expect(a1.dropped).toBe(true);
    // A log dropping an entry itself gives its bytes back and is never asked again.
    budget.release(b1);
    budget.add(token('c1', 60));
    expect(budget.usedBytes).toBe(90);
    expect(evicted).toEqual(['a1']);
  });

  it('stays bounded while logs keep releasing their own entries (stale tokens are compacted away)', () => {
    const budget = new TailBudget(1_000_000);
    for (let i = 0; i < 50_000; i++) {
      const t = { retained: 10, dropped: false, evict: () => undefined };
      budget.add(t);
      budget.release(t);
    }
    expect(budget.usedBytes).toBe(0);
    expect((budget as unknown as { queue: unknown[] }).queue.length).toBeLessThan(5_000);
  });
});

describe('logs sharing a tail budget', () => {
  const cleanup: Array<() => Promise<void>> = [];
  afterEach(async () => {
    for (const c of cleanup.splice(0).reverse()) await c();
  });

  /** A batch in a buffer of its own (not a slice of Node's shared pool), so it counts its own size. */
  const ownBatch = (fill: number): Buffer => {
    const batch = makeBatch({ count: 5, valueSize: 200, fill });
    const own = Buffer.alloc(batch.length);
    batch.copy(own);
    return own;
  };

  const open = async (budget: TailBudget): Promise<PartitionLog> => {
    const dir = await tempDir();
    const log = await openPartitionLog({ dir: dir.path, tailBudget: budget });
    cleanup.push(async () => {
      await log.close();
      await dir.remove();
    });
    return log;
  };

  /** Every batch's read (from the tail or the file) is the file's, byte for byte. */
  const expectReadsMatchFiles = async (log: PartitionLog): Promise<void> => {
    const pool = new ReadBufferPool();
    for (let offset = 0; offset < log.logEndOffset; offset += 5) {
      const plain = await log.read(offset, 1 << 20);
      const files = await log.read(offset, 1 << 20, { buffers: pool, fromFiles: true });
      expect(plain.bytes.equals(files.bytes)).toBe(true);
      pool.release(files.bytes);
    }
  };

  it("keeps the total within the budget, evicting the older log's appends, and reads stay right", async () => {
    const size = ownBatch(0).length;
    const budget = new TailBudget(size * 4);
    const a = await open(budget);
    const b = await open(budget);
    for (let i = 0; i < 3; i++) await a.append(ownBatch(0x10 + i));
    expect(a.tailBytes).toBe(size * 3);
    for (let i = 0; i < 3; i++) await b.append(ownBatch(0x20 + i));
    expect(budget.usedBytes).toBe(size * 4);
    expect(a.tailBytes).toBe(size);
    expect(b.tailBytes).toBe(size * 3);
    // Evicted appends are read from the file, byte for byte the same.
    await expectReadsMatchFiles(a);
    // A closed log gives its share back.
    await b.close();
    expect(budget.usedBytes).toBe(size);
  });

  it('keeps only the last eight appends of a log, whatever the budget allows', async () => {
    const size = ownBatch(0).length;
    const budget = new TailBudget(size * 100);
    const log = await open(budget);
    for (let i = 0; i < 20; i++) await log.append(ownBatch(i));
    expect(log.tailBytes).toBe(size * 8);
    expect(budget.usedBytes).toBe(size * 8);
    // The older appends come from the file, byte for byte the same.
    await expectReadsMatchFiles(log);
  });
});
