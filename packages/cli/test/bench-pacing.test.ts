import { describe, expect, it } from 'vitest';
import { Outstanding, pacedSends, type PacingOptions } from '../src/commands/bench-pacing.js';

/**
 * Runs the loop on a fake clock: a sleep moves it forward (at least 1 ms, as Node's timers do); `ioMs`
 * is what each sleep and each yield to I/O takes on top (a stall).
 */
async function run(o: Omit<PacingOptions, 'now' | 'sleep' | 'yieldToIo'>, ioMs = 0, hops = { sleeps: 0, yields: 0 }) {
  let clock = 1000;
  const steps: { first: number; count: number; atMs: number }[] = [];
  await pacedSends(
    {
      ...o,
      now: () => clock,
      sleep: async (ms) => {
        hops.sleeps++;
        clock += Math.max(1, ms) + ioMs;
      },
      yieldToIo: async () => {
        hops.yields++;
        clock += ioMs;
      },
    },
    (first, count, atMs) => {
      steps.push({ first, count, atMs: atMs - 1000 });
      return undefined;
    },
  );
  return steps;
}

describe('pacedSends', () => {
  it('paces record by record: at 10k records/s each millisecond step carries about ten records', async () => {
    const steps = await run({ total: 10_000, recordsPerSec: 10_000, maxPerStep: 1000 });
    expect(steps[0]).toEqual({ first: 0, count: 1, atMs: 0 });
    // Consecutive, complete, never a record before it is due.
    let next = 0;
    for (const s of steps) {
      expect(s.first).toBe(next);
      expect(s.first * 0.1).toBeLessThanOrEqual(s.atMs);
      next += s.count;
    }
    expect(next).toBe(10_000);
    expect(Math.max(...steps.map((s) => s.count))).toBeLessThanOrEqual(11);
    // The last record is due at 999.9 ms: the run takes a second, not ten bursts of a thousand.
    expect(steps.at(-1)!.atMs).toBeGreaterThanOrEqual(999);
    expect(steps.at(-1)!.atMs).toBeLessThan(1002);
  });

  it('a step that is on time costs one timer, not a timer and a yield to I/O as well', async () => {
    const hops = { sleeps: 0, yields: 0 };
    const steps = await run({ total: 10_000, recordsPerSec: 10_000, maxPerStep: 1000 }, 0, hops);
    expect(hops.yields).toBe(0);
    expect(hops.sleeps).toBeLessThanOrEqual(steps.length);
  });

  it('sends at once what is overdue after a stall, up to maxPerStep per step', async () => {
    // Every sleep and yield to I/O takes 50 ms more: the loop is always behind and catches up in bigger steps.
    const steps = await run({ total: 2000, recordsPerSec: 10_000, maxPerStep: 300 }, 50);
    expect(steps.map((s) => s.count).slice(0, 4)).toEqual([1, 300, 300, 300]);
    expect(steps.reduce((n, s) => n + s.count, 0)).toBe(2000);
  });

  it('never lets a step straddle the boundary (the end of the warm-up)', async () => {
    const steps = await run({ total: 100, recordsPerSec: 0, maxPerStep: 30, boundary: 45 });
    expect(steps.map((s) => [s.first, s.count])).toEqual([
      [0, 30],
      [30, 15],
      [45, 30],
      [75, 25],
    ]);
  });

  it('burst mode sends a whole step once its first record is due', async () => {
    const steps = await run({ total: 3000, recordsPerSec: 10_000, maxPerStep: 1000, wholeSteps: true });
    expect(steps.map((s) => [s.first, s.count])).toEqual([
      [0, 1000],
      [1000, 1000],
      [2000, 1000],
    ]);
    expect(steps[1]!.atMs).toBeGreaterThanOrEqual(100);
    expect(steps[1]!.atMs).toBeLessThan(102);
  });

  it('waits for the promise a step returns before the next step', async () => {
    const order: string[] = [];
    await pacedSends({ total: 3, recordsPerSec: 0, maxPerStep: 1 }, (first) => {
      order.push(`send ${first}`);
      return Promise.resolve().then(() => order.push(`done ${first}`));
    });
    expect(order).toEqual(['send 0', 'done 0', 'send 1', 'done 1', 'send 2', 'done 2']);
  });
});

describe('Outstanding', () => {
  const deferred = () => {
    let resolve!: () => void;
    let reject!: (err: unknown) => void;
    const promise = new Promise<void>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    return { promise, resolve, reject };
  };

  it('counts calls in flight, wakes next() at each settling, all() at the last; keeps the first failure', async () => {
    const calls = new Outstanding();
    await calls.next(); // nothing in flight: at once
    const [a, b, c] = [deferred(), deferred(), deferred()];
    for (const d of [a, b, c]) calls.track(d.promise);
    expect(calls.size).toBe(3);
    let nextDone = false;
    let allDone = false;
    const next = calls.next().then(() => (nextDone = true));
    const all = calls.all().then(() => (allDone = true));
    await Promise.resolve();
    expect(nextDone).toBe(false);
    b.reject(new Error('first'));
    await next;
    expect(calls.size).toBe(2);
    expect(allDone).toBe(false);
    a.reject(new Error('second'));
    c.resolve();
    await all;
    expect(calls.size).toBe(0);
    expect((calls.failure as Error).message).toBe('first');
  });
});
