/**
 * Record-by-record pacing for the benchmarks, as kafka-producer-perf-test's throttler paces: record i
 * is due at start + i / rate, and a loop sends every record that is due, then sleeps until the next
 * one is. Node's timers fire no sooner than about a millisecond, so at 10k records/s a step carries
 * about ten records, not a thousand every tenth of a second. Each step's records share the step's
 * send time, as records sent back to back by Kafka's tool do.
 */

export interface PacingOptions {
  /** Records to send in all. */
  readonly total: number;
  /** Records per second to aim for; 0 or less: as fast as the sends allow. */
  readonly recordsPerSec: number;
  /** Most records handed over in one step. */
  readonly maxPerStep: number;
  /** A step never straddles this record index (the end of the warm-up). */
  readonly boundary?: number;
  /**
   * Burst mode (the old method): wait until a step's first record is due, then send maxPerStep
   * records at once, so records wait up to maxPerStep / rate behind the burst's first.
   */
  readonly wholeSteps?: boolean;
  /** The clock, in ms (performance.now by default). */
  readonly now?: () => number;
  /** Sleeps `ms` (a timer); a step that is due yields to I/O through `yieldToIo` instead. */
  readonly sleep?: (ms: number) => Promise<void>;
  readonly yieldToIo?: () => Promise<void>;
}

/**
 * Calls `send(first, count, nowMs)` for consecutive runs of records, each once its records are due.
 * `send` may return a promise (say, while too many records are in flight): the loop waits for it
 * before the next step. Resolves once every record has been handed to `send`.
 */
export async function pacedSends(
  o: PacingOptions,
  send: (first: number, count: number, nowMs: number) => Promise<unknown> | undefined,
): Promise<void> {
  const now = o.now ?? (() => performance.now());
  const sleep = o.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, Math.max(0, ms))));
  const yieldToIo = o.yieldToIo ?? (() => new Promise<void>((r) => setImmediate(r)));
  const paced = o.recordsPerSec > 0;
  const startMs = now();
  const dueAtMs = (record: number): number => startMs + (record * 1000) / o.recordsPerSec;
  let sent = 0;
  while (sent < o.total) {
    const t = now();
    const limit = Math.min(
      o.total - sent,
      o.maxPerStep,
      o.boundary !== undefined && o.boundary > sent ? o.boundary - sent : Infinity,
    );
    let count = limit;
    if (paced) {
      // Records 0 .. due-1 are due by t (record 0 at the start itself).
      const due = Math.floor(((t - startMs) * o.recordsPerSec) / 1000) + 1;
      if (due <= sent) {
        await sleep(dueAtMs(sent) - t);
        continue;
      }
      if (!o.wholeSteps) count = Math.min(limit, due - sent);
    }
    const waitFor = send(sent, count, t);
    sent += count;
    if (waitFor !== undefined) await waitFor;
    else if (paced && sent < o.total) {
      // Sleeping until the next record is due lets acknowledgements in on the way; a loop that is behind
      // must still let them in between its steps. Not both: a step costs one timer, not a timer and an
      // immediate as well (at 10k records/s, a thousand hops a second of the bench's own CPU).
      const after = now();
      const nextDueMs = dueAtMs(sent);
      if (nextDueMs > after) await sleep(nextDueMs - after);
      else await yieldToIo();
    }
  }
}

/**
 * The sends a benchmark has in flight, counted: `next()` resolves at the next one to settle (the
 * backpressure wait), `all()` once none is left, and the first failure is kept. A Set of the calls
 * did the same, but it emptied at every call, and V8 replaces an emptied Set's table and links the
 * dead table to the new one: once one table was in the old generation every later one, and the calls
 * and results each held, were promoted with it, and the bench client collected fully more often than
 * the brokers it measured (docs/performance-log.md, the seventeenth look).
 */
export class Outstanding {
  private count = 0;
  private waiters: (() => void)[] = [];
  failure: unknown;

  get size(): number {
    return this.count;
  }

  track(call: Promise<unknown>): void {
    this.count++;
    call.then(
      () => this.settled(),
      (err: unknown) => {
        this.failure ??= err;
        this.settled();
      },
    );
  }

  /** Resolves when the next call in flight settles (at once when none is). */
  next(): Promise<void> {
    if (this.count === 0) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  /** Resolves once every call tracked so far has settled. */
  async all(): Promise<void> {
    while (this.count > 0) await this.next();
  }

  private settled(): void {
    this.count--;
    const waiters = this.waiters;
    if (waiters.length === 0) return;
    this.waiters = [];
    for (const wake of waiters) wake();
  }
}
