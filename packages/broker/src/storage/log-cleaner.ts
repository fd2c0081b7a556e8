import type { Logger } from 'pino';
import { computeWhere, createCompute, DEFAULT_CLEANER_THREAD_PRIORITY } from './cleaner-compute.js';
import {
  type CleanerBudgetConfig,
  type CleanerBudgetEvent,
  type CleanerBudgetState,
  initialCleanerBudget,
  isUnlimitedBudget,
  nextCleanerBudget,
} from './cleaner-budget.js';
import { chooseLogToClean, needsCleaning } from './cleaner-plan.js';
import type { CleanStats } from './cleaner.js';
import type { CleanerCompute, CleanerComputeWhere, CleanerThreadPriority } from './cleaner-compute.js';
import type { PartitionLog } from './log.js';

/** Kafka's broker settings for the cleaner (log.cleaner.*). */
export interface LogCleanerSettings {
  /** log.cleaner.threads: logs cleaned at the same time. */
  readonly threads: number;
  /** log.cleaner.dedupe.buffer.size: memory of all offset maps together. */
  readonly dedupeBufferBytes: number;
  /** log.cleaner.io.max.bytes.per.second: reads and writes of all cleaners together. */
  readonly ioMaxBytesPerSecond: number;
  /**
   * ioMaxBytesPerSecond is the broker's default, not a value the user set: it rises while the cleaner
   * falls behind and falls back when it is idle (cleaner-budget.ts). Absent or false: a hard cap.
   */
  readonly ioMaxIsDefault?: boolean;
  /** log.cleaner.backoff.ms: the sleep when nothing needs cleaning. */
  readonly backoffMs: number;
  /** CPU priority of the worker threads (DEFAULT_CLEANER_THREAD_PRIORITY when absent; 0: the broker's). */
  readonly threadPriority?: CleanerThreadPriority;
  /** The cleaned files' fdatasync on the worker threads (the benchmark's A/B; see CleanerCompute.syncFile). */
  readonly syncOnWorker?: boolean;
  /**
   * Where each loop's record work runs: a worker thread of the broker (the default:
   * DEFAULT_CLEANER_COMPUTE_WHERE), or a child process in a session (so an autogroup) of its own.
   * A thread at threadPriority 0; where /proc/self/autogroup is missing or the child cannot lower its
   * group, a thread too, and the log says so.
   */
  readonly computeIn?: CleanerComputeWhere;
  /**
   * The cleaned files' writes by the child process itself instead of the broker (the benchmark's A/B;
   * see WorkerCompute's writeInBroker). Only with computeIn 'process'.
   */
  readonly writeOnProcess?: boolean;
}

/** A log the cleaner may work on, with the offset below which it is stable (the high watermark). */
export interface CleanableLog {
  readonly log: PartitionLog;
  readonly stableOffset: () => number;
  /** For logs: topic and partition. */
  readonly context: Readonly<Record<string, unknown>>;
}

export interface CleanerClock {
  readonly now: () => number;
  /** Resolves after `ms`, or at once when `signal` aborts. */
  readonly sleep: (ms: number, signal: AbortSignal) => Promise<void>;
}

const realClock: CleanerClock = {
  now: () => Date.now(),
  sleep: (ms, signal) =>
    new Promise((resolve) => {
      if (signal.aborted) return resolve();
      const timer = setTimeout(done, ms);
      function done(): void {
        clearTimeout(timer);
        signal.removeEventListener('abort', done);
        resolve();
      }
      signal.addEventListener('abort', done);
    }),
};

/** Totals since start, for logs, tests and the benchmark. */
export interface LogCleanerTotals {
  passes: number;
  bytesRead: number;
  bytesWritten: number;
  dirtyBytesCleaned: number;
  cleaningMs: number;
  /** Times the default budget rose because the cleaner fell behind (cleaner-budget.ts). */
  budgetRises: number;
}

/**
 * The broker's log cleaner (Kafka's LogCleaner with its cleaner manager): `threads` loops, each
 * picking the compacted log that needs cleaning most (overdue first, then the highest dirty ratio,
 * never one another loop is cleaning), running one pass on it (PartitionLog.clean), and sleeping
 * backoffMs when none does. The offset maps share dedupeBufferBytes; reads and writes share one
 * throttle. A pass that fails is logged and the log is skipped until its next turn.
 */
export class LogCleaner {
  readonly totals: LogCleanerTotals = {
    passes: 0,
    bytesRead: 0,
    bytesWritten: 0,
    dirtyBytesCleaned: 0,
    cleaningMs: 0,
    budgetRises: 0,
  };
  private readonly stop = new AbortController();
  private readonly busy = new Set<PartitionLog>();
  private loops: Promise<void>[] = [];
  private readonly throttle: Throttle;
  private readonly wakers = new Set<() => void>();
  private readonly budgetConfig: CleanerBudgetConfig;
  private budget: CleanerBudgetState;

  constructor(
    private readonly settings: LogCleanerSettings,
    private readonly logs: () => Iterable<CleanableLog>,
    private readonly logger: Logger,
    private readonly clock: CleanerClock = realClock,
  ) {
    this.throttle = new Throttle(settings.ioMaxBytesPerSecond, clock, this.stop.signal);
    this.budgetConfig = {
      configuredBytesPerSecond: settings.ioMaxBytesPerSecond,
      explicit: settings.ioMaxIsDefault !== true,
    };
    this.budget = initialCleanerBudget(this.budgetConfig);
  }

  /** Whether the budget rises while the cleaner falls behind (the default), or is a hard cap (a value set). */
  get budgetAdapts(): boolean {
    return !this.budgetConfig.explicit;
  }

  /** The I/O budget of the passes from now on (bytes per second; Infinity: unlimited). */
  get budgetBytesPerSecond(): number {
    return this.budget.bytesPerSecond;
  }

  start(): void {
    const { threads, ioMaxBytesPerSecond } = this.settings;
    // Says whether the budget may rise (left unset) or is a cap the user set (cleaner-budget.ts).
    this.logger.info(
      { threads, ioMaxBytesPerSecond, budget: this.budgetAdapts ? 'adaptive (the default)' : 'hard cap (set)' },
      'log cleaner started',
    );
    for (let i = 0; i < this.settings.threads; i++) this.loops.push(this.loop(i));
  }

  /** Stops after the passes in progress reach their next step; resolves when every loop ended. */
  async close(): Promise<void> {
    this.stop.abort();
    await Promise.all(this.loops);
  }

  /** Looks for work now instead of at the end of the backoff (tests, and after a topic changes). */
  poke(): void {
    for (const wake of this.wakers) wake();
  }

  private async loop(thread: number): Promise<void> {
    // The record work of this loop runs in a child process or a worker thread of its own, with its
    // share of the buffer.
    const priority = this.settings.threadPriority ?? DEFAULT_CLEANER_THREAD_PRIORITY;
    const where = computeWhere(this.settings.computeIn, priority);
    const compute = createCompute(
      Math.floor(this.settings.dedupeBufferBytes / this.settings.threads),
      priority,
      this.settings.syncOnWorker,
      where,
      (level, context, message) => this.logger[level]({ ...context, thread }, message),
      where === 'process' && this.settings.writeOnProcess !== true,
    );
    try {
      await this.run(thread, compute);
    } finally {
      await compute.close();
    }
  }

  private async run(thread: number, compute: CleanerCompute): Promise<void> {
    while (!this.stop.signal.aborted) {
      const { next, backlogBytes } = this.pick();
      // Nothing left to clean, here or on another loop: the cleaner keeps up.
      if (backlogBytes === 0) this.adjustBudget({ kind: 'idle' });
      if (next === undefined) {
        const wakeUp = new AbortController();
        const wake = (): void => wakeUp.abort();
        this.wakers.add(wake);
        this.stop.signal.addEventListener('abort', wake);
        await this.clock.sleep(this.settings.backoffMs, wakeUp.signal);
        this.stop.signal.removeEventListener('abort', wake);
        this.wakers.delete(wake);
        continue;
      }
      this.adjustBudget({ kind: 'pass', backlogBytes });
      this.busy.add(next.log);
      try {
        await this.cleanOne(next, compute, thread);
      } finally {
        this.busy.delete(next.log);
      }
    }
  }

  /**
   * The log to clean next, and the cleaner's backlog: the dirty bytes of every log that needs
   * cleaning, those other loops are cleaning included (their dirty section is dirty until the pass ends).
   */
  private pick(): { next: CleanableLog | undefined; backlogBytes: number } {
    const candidates = [];
    let backlogBytes = 0;
    for (const entry of this.logs()) {
      const log = entry.log;
      if (!log.compacted || log.state !== 'online') continue;
      const section = log.cleanableSection(entry.stableOffset());
      const minRatio = log.compactionConfig.minCleanableDirtyRatio;
      if (this.busy.has(log)) backlogBytes += section.dirtyBytes;
      else {
        if (needsCleaning(section, minRatio)) backlogBytes += section.dirtyBytes;
        candidates.push({ entry, section, minRatio });
      }
    }
    return { next: chooseLogToClean(candidates)?.entry, backlogBytes };
  }

  /** Applies the budget rule to `event`; says so in one line when the budget rises or falls back. */
  private adjustBudget(event: CleanerBudgetEvent): void {
    const before = this.budget;
    const { state, change } = nextCleanerBudget(this.budgetConfig, before, event);
    this.budget = state;
    if (change === undefined) return;
    this.throttle.setRate(state.bytesPerSecond);
    const budget = (bytes: number): number | string => (isUnlimitedBudget(bytes) ? 'unlimited' : bytes);
    const context = { budgetBytesPerSecond: budget(state.bytesPerSecond), was: budget(before.bytesPerSecond) };
    if (change === 'fall-back') {
      this.logger.info(context, 'cleaner idle: I/O budget back to its default');
      return;
    }
    this.totals.budgetRises++;
    this.logger.info(
      {
        ...context,
        backlogBytes: event.kind === 'pass' ? event.backlogBytes : undefined,
        previousBacklogBytes: before.previousBacklogBytes,
      },
      'cleaner falling behind (dirty bytes grew between back-to-back passes): I/O budget raised',
    );
  }

  private async cleanOne(entry: CleanableLog, compute: CleanerCompute, thread: number): Promise<void> {
    const started = this.clock.now();
    this.logger.info({ ...entry.context, thread }, 'cleaning log');
    let stats: CleanStats | undefined;
    try {
      stats = await entry.log.clean({
        stableOffset: entry.stableOffset(),
        compute,
        throttle: (bytes) => this.throttle.take(bytes),
        aborted: () => this.stop.signal.aborted,
      });
    } catch (err) {
      if (!this.stop.signal.aborted) this.logger.warn({ ...entry.context, err }, 'log cleaning failed');
      return;
    }
    if (stats === undefined) return;
    const elapsedMs = this.clock.now() - started;
    this.totals.passes++;
    this.totals.bytesRead += stats.bytesRead;
    this.totals.bytesWritten += stats.bytesWritten;
    this.totals.dirtyBytesCleaned += stats.dirtyBytes;
    this.totals.cleaningMs += elapsedMs;
    this.logger.info(
      {
        ...entry.context,
        thread,
        elapsedMs,
        firstDirtyOffset: stats.firstDirtyOffset,
        cleanedUpTo: stats.mapEndOffset,
        dirtyBytes: stats.dirtyBytes,
        bytesRead: stats.bytesRead,
        bytesWritten: stats.bytesWritten,
        sizeBefore: stats.sizeBefore,
        sizeAfter: stats.sizeAfter,
        recordsRemoved: stats.recordsRemoved,
        mapKeys: await compute.size(),
      },
      'cleaned log',
    );
  }
}

/**
 * Kafka's Throttler: counts bytes over windows of about 100 ms and, when a window went faster than
 * the rate allows, sleeps the difference. Shared by every cleaner loop.
 */
class Throttle {
  private windowStartMs: number;
  private windowBytes = 0;

  constructor(
    private bytesPerSecond: number,
    private readonly clock: CleanerClock,
    private readonly signal: AbortSignal,
  ) {
    this.windowStartMs = clock.now();
  }

  /** The rate the next take() waits for (the window under way included). */
  setRate(bytesPerSecond: number): void {
    this.bytesPerSecond = bytesPerSecond;
  }

  async take(bytes: number): Promise<void> {
    if (!Number.isFinite(this.bytesPerSecond) || this.bytesPerSecond >= Number.MAX_SAFE_INTEGER) return;
    this.windowBytes += bytes;
    const elapsedMs = this.clock.now() - this.windowStartMs;
    if (elapsedMs < 100 && this.windowBytes < this.bytesPerSecond / 10) return;
    const neededMs = (this.windowBytes * 1000) / this.bytesPerSecond;
    if (neededMs > elapsedMs) await this.clock.sleep(neededMs - elapsedMs, this.signal);
    this.windowStartMs = this.clock.now();
    this.windowBytes = 0;
  }
}
