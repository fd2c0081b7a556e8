import type { Logger } from 'pino';
import { describe, expect, it } from 'vitest';
import {
  type CleanOptions,
  type CleanStats,
  type CleanableSection,
  LogCleaner,
  type PartitionLog,
} from '@samsa/broker/internal';

const MiB = 1024 * 1024;

/**
 * A compacted log whose dirty section is `dirtyMB[0]` MiB at the first pass and `dirtyMB[i]` at the
 * pass after the i-th: a writer the cleaner falls behind, then one it catches up with (0: nothing left).
 * Each pass reads one second's worth of the budget the cleaner started with (30 MiB) through the
 * throttle; the sleep the throttle asks the clock for says what budget the pass ran at.
 */
function fallingBehindLog(dirtyMB: readonly number[]) {
  let passes = 0;
  let idleSeen: () => void = () => {};
  /** Resolves when the cleaner, every pass done, sleeps its backoff: it found nothing to clean. */
  const idle = new Promise<void>((resolve) => {
    idleSeen = resolve;
  });
  const throttleSleepsMs: number[] = [];
  let inPass = false;
  const section = (): CleanableSection => {
    const dirtyBytes = (dirtyMB[Math.min(passes, dirtyMB.length - 1)] ?? 0) * MiB;
    const cleanBytes = 10 * MiB;
    return {
      firstDirtyOffset: 0,
      firstUncleanableOffset: 0,
      firstDirtyIndex: 0,
      uncleanableIndex: 0,
      cleanBytes,
      dirtyBytes,
      dirtyRatio: dirtyBytes / (cleanBytes + dirtyBytes),
      overdue: false,
    };
  };
  const log = {
    compacted: true,
    state: 'online',
    compactionConfig: { minCleanableDirtyRatio: 0.5 },
    cleanableSection: section,
    clean: async (options: CleanOptions): Promise<CleanStats> => {
      inPass = true;
      await options.throttle?.(30 * MiB);
      inPass = false;
      const dirtyBytes = section().dirtyBytes;
      passes++;
      return {
        firstDirtyOffset: 0,
        mapEndOffset: 0,
        dirtyBytes,
        bytesRead: 30 * MiB,
        bytesWritten: 0,
        sizeBefore: 0,
        sizeAfter: 0,
        recordsRemoved: 0,
        groupsSwapped: 0,
      };
    },
  } as unknown as PartitionLog;
  const clock = {
    now: () => 0,
    sleep: (ms: number) =>
      new Promise<void>((resolve) => {
        if (inPass) throttleSleepsMs.push(ms);
        else if (passes === dirtyMB.length - 1) idleSeen();
        setImmediate(resolve);
      }),
  };
  return { log, clock, throttleSleepsMs, idle };
}

function capturingLogger(onLine: (msg: string, context: Record<string, unknown>) => void): Logger {
  const info = (context: Record<string, unknown>, msg: string) => onLine(msg, context);
  return { info, warn: info, error: info, debug: () => {} } as unknown as Logger;
}

async function runUntilIdle(ioMaxIsDefault: boolean, dirtyMB: readonly number[]) {
  const fake = fallingBehindLog(dirtyMB);
  const lines: { msg: string; context: Record<string, unknown> }[] = [];
  const logger = capturingLogger((msg, context) => lines.push({ msg, context }));
  const cleaner = new LogCleaner(
    { threads: 1, dedupeBufferBytes: MiB, ioMaxBytesPerSecond: 30 * MiB, ioMaxIsDefault, backoffMs: 1 },
    () => [{ log: fake.log, stableOffset: () => 0, context: { topic: 't', partition: 0 } }],
    logger,
    fake.clock,
  );
  cleaner.start();
  await fake.idle;
  const budgetAfter = cleaner.budgetBytesPerSecond;
  await cleaner.close();
  const budgetLines = lines.filter((l) => l.msg.includes('I/O budget'));
  return { throttleSleepsMs: fake.throttleSleepsMs, budgetLines, budgetAfter, totals: cleaner.totals };
}

describe("the log cleaner's default I/O budget", () => {
  it('rises while back-to-back passes find more dirty bytes, and falls back when the cleaner is idle', async () => {
    const run = await runUntilIdle(true, [16, 32, 64, 128, 256, 300, 0]);
    // 30 MiB through the throttle: a second at 30 MiB/s, half at 60, a quarter at 120, ... none unlimited.
    expect(run.throttleSleepsMs).toEqual([1000, 500, 250, 125]);
    expect(run.totals.budgetRises).toBe(4);
    expect(run.budgetLines.map((l) => l.context.budgetBytesPerSecond)).toEqual([
      60 * MiB,
      120 * MiB,
      240 * MiB,
      'unlimited',
      30 * MiB,
    ]);
    expect(run.budgetLines.at(-1)?.msg).toBe('cleaner idle: I/O budget back to its default');
    expect(run.budgetAfter).toBe(30 * MiB);
  });

  it('holds a budget the user set', async () => {
    const run = await runUntilIdle(false, [16, 32, 64, 128, 256, 300, 0]);
    expect(run.throttleSleepsMs).toEqual([1000, 1000, 1000, 1000, 1000, 1000]);
    expect(run.budgetLines).toEqual([]);
    expect(run.budgetAfter).toBe(30 * MiB);
  });
});
