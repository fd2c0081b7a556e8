import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { encodeBatch, stampBatch } from '@samsa/protocol';
import {
  CorruptEpochCheckpointError,
  LEADER_EPOCH_CHECKPOINT_FILE,
  LeaderEpochCache,
  UNDEFINED_EPOCH_END_OFFSET,
  assignEpochsFromBatches,
  formatEpochCheckpoint,
  loadEpochCache,
  parseEpochCheckpoint,
  saveEpochCache,
} from '../../src/replication/index.js';

const cacheOf = (...pairs: Array<[number, number]>): LeaderEpochCache =>
  new LeaderEpochCache(pairs.map(([epoch, startOffset]) => ({ epoch, startOffset })));
const entries = (cache: LeaderEpochCache): Array<[number, number]> =>
  cache.epochEntries.map((e) => [e.epoch, e.startOffset]);

describe('LeaderEpochCache.assign', () => {
  it('appends newer epochs and reports the change', () => {
    const cache = new LeaderEpochCache();
    expect(cache.latestEpoch).toBe(-1);
    expect(cache.assign(0, 0)).toBe(true);
    expect(cache.assign(2, 10)).toBe(true);
    expect(entries(cache)).toEqual([
      [0, 0],
      [2, 10],
    ]);
    expect(cache.latestEpoch).toBe(2);
    expect(cache.earliestEpoch).toBe(0);
  });

  it('ignores an epoch at or below the latest (every batch of the current epoch calls assign)', () => {
    const cache = cacheOf([1, 0], [3, 5]);
    expect(cache.assign(3, 9)).toBe(false);
    expect(cache.assign(2, 7)).toBe(false);
    expect(cache.assign(3, 1)).toBe(false);
    expect(entries(cache)).toEqual([
      [1, 0],
      [3, 5],
    ]);
  });

  it('replaces an epoch that wrote nothing when the next starts at the same offset', () => {
    const cache = cacheOf([1, 0], [3, 5]);
    expect(cache.assign(4, 5)).toBe(true);
    expect(entries(cache)).toEqual([
      [1, 0],
      [4, 5],
    ]);
  });

  it('throws when a newer epoch would start before the latest one (log not truncated first)', () => {
    const cache = cacheOf([1, 0], [3, 5]);
    expect(() => cache.assign(4, 4)).toThrow(/before epoch 3 at 5/);
    expect(() => cache.assign(-1, 4)).toThrow(RangeError);
    expect(() => cache.assign(5, 1.5)).toThrow(RangeError);
  });

  it('rejects non-increasing entries at construction', () => {
    expect(() => cacheOf([1, 0], [1, 5])).toThrow(RangeError);
    expect(() => cacheOf([1, 5], [2, 5])).toThrow(RangeError);
    expect(() => cacheOf([2, 0], [1, 5])).toThrow(RangeError);
  });
});

describe('LeaderEpochCache.endOffsetFor (Kafka semantics)', () => {
  const cache = cacheOf([2, 0], [4, 10], [7, 20]);
  it('the latest epoch ends at the log end', () => {
    expect(cache.endOffsetFor(7, 25)).toEqual({ epoch: 7, endOffset: 25 });
  });
  it('an older epoch ends where the next one starts', () => {
    expect(cache.endOffsetFor(2, 25)).toEqual({ epoch: 2, endOffset: 10 });
    expect(cache.endOffsetFor(4, 25)).toEqual({ epoch: 4, endOffset: 20 });
  });
  it('an epoch the cache lacks answers with the largest epoch below it and the next start', () => {
    expect(cache.endOffsetFor(3, 25)).toEqual({ epoch: 2, endOffset: 10 });
    expect(cache.endOffsetFor(6, 25)).toEqual({ epoch: 4, endOffset: 20 });
  });
  it('an epoch older than every entry ends where the first entry starts', () => {
    expect(cache.endOffsetFor(1, 25)).toEqual({ epoch: 1, endOffset: 0 });
    expect(cacheOf([5, 100]).endOffsetFor(3, 150)).toEqual({ epoch: 3, endOffset: 100 });
  });
  it('UNDEFINED for an epoch newer than the latest, for UNDEFINED_EPOCH, and on an empty cache', () => {
    expect(cache.endOffsetFor(8, 25)).toEqual(UNDEFINED_EPOCH_END_OFFSET);
    expect(cache.endOffsetFor(-1, 25)).toEqual(UNDEFINED_EPOCH_END_OFFSET);
    expect(new LeaderEpochCache().endOffsetFor(0, 0)).toEqual({ epoch: -1, endOffset: -1 });
  });
});

describe('LeaderEpochCache truncation', () => {
  it('truncateFromEnd drops epochs starting at or after the offset', () => {
    const cache = cacheOf([2, 0], [4, 10], [7, 20]);
    expect(cache.truncateFromEnd(25)).toBe(false);
    expect(cache.truncateFromEnd(20)).toBe(true);
    expect(entries(cache)).toEqual([
      [2, 0],
      [4, 10],
    ]);
    expect(cache.truncateFromEnd(11)).toBe(false);
    expect(cache.truncateFromEnd(0)).toBe(true);
    expect(cache.size).toBe(0);
  });

  it('truncateFromStart drops epochs that ended before the offset and clamps the covering one', () => {
    const cache = cacheOf([2, 0], [4, 10], [7, 20]);
    expect(cache.truncateFromStart(0)).toBe(false);
    expect(cache.truncateFromStart(12)).toBe(true);
    expect(entries(cache)).toEqual([
      [4, 12],
      [7, 20],
    ]);
    expect(cache.truncateFromStart(20)).toBe(true);
    expect(entries(cache)).toEqual([[7, 20]]);
    expect(cache.truncateFromStart(30)).toBe(true);
    expect(entries(cache)).toEqual([[7, 30]]);
  });

  it('truncateFromStart below the first entry changes nothing', () => {
    const cache = cacheOf([3, 50]);
    expect(cache.truncateFromStart(40)).toBe(false);
    expect(entries(cache)).toEqual([[3, 50]]);
  });

  it('trimToLog keeps what the log holds and, for an empty log, the epoch covering its start', () => {
    // A crash after a follower's reset to 200 and before its cleared cache was saved: the old log's last
    // epoch, clamped to the start (as Kafka's loader). It was an empty cache until 2026-12-07.
    const reset = cacheOf([1, 0], [3, 50]);
    expect(reset.trimToLog(200, 200)).toBe(true);
    expect(entries(reset)).toEqual([[3, 200]]);
    expect(reset.latestEpoch).toBe(3);
    // DeleteRecords up to the log end clamped epoch 3 to it; reopened, it stays (Kafka's loader drops it).
    const emptied = cacheOf([3, 200]);
    expect(emptied.trimToLog(200, 200)).toBe(false);
    expect(entries(emptied)).toEqual([[3, 200]]);
    const torn = cacheOf([1, 0], [3, 50], [4, 90]);
    expect(torn.trimToLog(10, 80)).toBe(true);
    expect(entries(torn)).toEqual([
      [1, 10],
      [3, 50],
    ]);
    // An entry at an empty log's start stays, as in the cache of a leader of epoch 3 that wrote nothing.
    const tornEmpty = cacheOf([1, 0], [3, 50]);
    expect(tornEmpty.trimToLog(50, 50)).toBe(true);
    expect(entries(tornEmpty)).toEqual([[3, 50]]);
    const exact = cacheOf([1, 0], [3, 50]);
    expect(exact.trimToLog(0, 60)).toBe(false);
  });

  it('clear forgets everything', () => {
    const cache = cacheOf([3, 50]);
    expect(cache.clear()).toBe(true);
    expect(cache.latestEpoch).toBe(-1);
  });
});

describe('assignEpochsFromBatches', () => {
  it('assigns the epochs of stamped batches', () => {
    const batch = (offset: number, epoch: number): Buffer => {
      const buf = encodeBatch([{ value: Buffer.from('x') }, { value: Buffer.from('y') }], { now: 1_700_000_000_000 });
      stampBatch(buf, 0, offset, epoch);
      return buf;
    };
    const cache = cacheOf([1, 0]);
    expect(assignEpochsFromBatches(cache, Buffer.concat([batch(4, 1), batch(6, 3), batch(8, 3), batch(10, 5)]))).toBe(
      true,
    );
    expect(entries(cache)).toEqual([
      [1, 0],
      [3, 6],
      [5, 10],
    ]);
    expect(assignEpochsFromBatches(cache, batch(12, 5))).toBe(false);
  });

  it('skips batches without an epoch and at or below the latest, and reads offsets past 2^32', () => {
    const batch = (offset: number, epoch: number): Buffer => {
      const buf = encodeBatch([{ value: Buffer.from('x') }], { now: 1_700_000_000_000 });
      stampBatch(buf, 0, offset, epoch);
      return buf;
    };
    const cache = cacheOf();
    const far = 2 ** 40 + 7;
    const batches = [batch(far, -1), batch(far + 1, 2), batch(far + 2, 1), batch(far + 3, 2), batch(far + 4, 9)];
    expect(assignEpochsFromBatches(cache, Buffer.concat(batches))).toBe(true);
    expect(entries(cache)).toEqual([
      [2, far + 1],
      [9, far + 4],
    ]);
    expect(assignEpochsFromBatches(cache, Buffer.alloc(0))).toBe(false);
  });
});

describe('leader-epoch-checkpoint file', () => {
  const dirs: string[] = [];
  const tempDir = async (): Promise<string> => {
    const dir = await mkdtemp(join(tmpdir(), 'samsa-epochs-'));
    dirs.push(dir);
    return dir;
  };
  afterEach(async () => {
    await Promise.all(dirs.splice(0).map((d) => rm(d, { recursive: true, force: true })));
  });

  it('uses Kafka text format', () => {
    expect(
      formatEpochCheckpoint([
        { epoch: 0, startOffset: 0 },
        { epoch: 3, startOffset: 150 },
      ]),
    ).toBe('0\n2\n0 0\n3 150\n');
    expect(formatEpochCheckpoint([])).toBe('0\n0\n');
  });

  it('round-trips through the file, atomically replacing it', async () => {
    const dir = await tempDir();
    expect((await loadEpochCache(dir)).size).toBe(0);
    const cache = cacheOf([0, 0], [3, 150], [9, 4000]);
    await saveEpochCache(dir, cache);
    expect(await readFile(join(dir, LEADER_EPOCH_CHECKPOINT_FILE), 'utf8')).toBe('0\n3\n0 0\n3 150\n9 4000\n');
    expect(entries(await loadEpochCache(dir))).toEqual([
      [0, 0],
      [3, 150],
      [9, 4000],
    ]);
    cache.truncateFromEnd(150);
    await saveEpochCache(dir, cache);
    expect(entries(await loadEpochCache(dir))).toEqual([[0, 0]]);
    expect(await readdir(dir)).toEqual([LEADER_EPOCH_CHECKPOINT_FILE]);
  });

  it('accepts a file without a final newline', () => {
    expect(entries(parseEpochCheckpoint('0\n1\n4 7'))).toEqual([[4, 7]]);
  });

  it.each([
    ['empty', ''],
    ['bad version', '1\n0\n'],
    ['missing count', '0\n'],
    ['count larger than the lines', '0\n2\n0 0\n'],
    ['count smaller than the lines', '0\n1\n0 0\n1 5\n'],
    ['a malformed line', '0\n1\n0,0\n'],
    ['a negative offset', '0\n1\n0 -4\n'],
    ['non-increasing entries', '0\n2\n3 10\n2 20\n'],
    ['garbage', '\u0000\u0001binary'],
  ])('a corrupt file (%s) is a typed error', async (_name, text) => {
    const dir = await tempDir();
    await writeFile(join(dir, LEADER_EPOCH_CHECKPOINT_FILE), text);
    const err = await loadEpochCache(dir).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CorruptEpochCheckpointError);
    expect((err as CorruptEpochCheckpointError).path).toBe(join(dir, LEADER_EPOCH_CHECKPOINT_FILE));
    expect((err as CorruptEpochCheckpointError).code).toBe(56);
  });

  it('names the offending line', () => {
    const err = (() => {
      try {
        parseEpochCheckpoint('0\n3\n1 0\n4 10\n3 20\n', 'dir/leader-epoch-checkpoint');
      } catch (e) {
        return e as CorruptEpochCheckpointError;
      }
      return undefined;
    })();
    expect(err?.line).toBe(5);
    expect(err?.message).toMatch(/dir\/leader-epoch-checkpoint:5: entries must increase/);
  });
});

describe('LeaderEpochCache against a brute-force model', () => {
  it('endOffsetFor matches the definition over random logs, truncations and retention', async () => {
    const { Rng } = await import('./sim/rng.js');
    for (let seed = 1; seed <= 300; seed++) {
      const rng = new Rng(seed);
      // A log: the epoch of each offset, non-decreasing; offsets below logStart are deleted.
      let epochs: number[] = [];
      let logStart = 0;
      const cache = new LeaderEpochCache();
      let epoch = rng.int(0, 2);
      for (let step = 0; step < 40; step++) {
        const op = rng.weighted({ append: 6, newEpoch: 2, truncate: 1, retain: 1 });
        if (op === 'append') {
          epochs.push(epoch);
          cache.assign(epoch, epochs.length - 1);
        } else if (op === 'newEpoch') {
          epoch += rng.int(1, 3);
        } else if (op === 'truncate' && epochs.length > logStart + 1) {
          // (Truncating to exactly the log start empties the log and the cache: a reset, not modelled.)
          const to = rng.int(logStart + 1, epochs.length);
          epochs = epochs.slice(0, to);
          cache.truncateFromEnd(to);
          epoch = Math.max(epoch, epochs.at(-1) ?? 0);
        } else if (op === 'retain' && epochs.length > logStart) {
          logStart = rng.int(logStart, epochs.length);
          cache.truncateFromStart(logStart);
        }
        const leo = epochs.length;
        // The records still in the log; with all of them deleted, the cache still knows the latest
        // epoch, as starting at the log end (Kafka keeps the covering entry, clamped).
        const live = epochs.map((e, offset) => ({ e, offset })).filter((x) => x.offset >= logStart);
        if (live.length === 0 && leo > 0) live.push({ e: epochs[leo - 1]!, offset: leo });
        for (let requested = 0; requested <= epoch + 1; requested++) {
          const expected = ((): { epoch: number; endOffset: number } => {
            if (live.length === 0) return { epoch: -1, endOffset: -1 };
            const latest = live.at(-1)!.e;
            if (requested === latest) return { epoch: latest, endOffset: leo };
            if (requested > latest) return { epoch: -1, endOffset: -1 };
            const atOrBelow = live.filter((x) => x.e <= requested);
            const next = live.find((x) => x.e > requested)!;
            if (atOrBelow.length === 0) return { epoch: requested, endOffset: next.offset };
            return { epoch: atOrBelow.at(-1)!.e, endOffset: next.offset };
          })();
          expect(cache.endOffsetFor(requested, leo), `seed ${seed} step ${step} epoch ${requested}`).toEqual(expected);
        }
      }
    }
  });
});
