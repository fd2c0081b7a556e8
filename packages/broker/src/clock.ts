/**
 * Time as the drivers see it: a reading and one-shot timers. The broker passes systemClock; the
 * seeded simulations pass a simulated clock whose time moves only when the schedule says so, so
 * the same seed fires the same timers in the same order.
 */
export interface Clock {
  /** Milliseconds since an arbitrary origin; drivers hand it to the pure cores as `nowMs`. */
  now(): number;
  /** Calls `fn` once after `delayMs`; the returned function cancels it (harmless once fired). */
  schedule(delayMs: number, fn: () => void): () => void;
  /**
   * Milliseconds on a clock that never goes back (the timers' own), for deadlines that `schedule`'s
   * timers check: `now()` may be set back or forward. Absent on a simulated clock, whose `now()` is that.
   */
  monotonicNow?(): number;
}

/** Wall-clock time and Node's timers. */
export const systemClock: Clock = {
  now: () => Date.now(),
  monotonicNow: () => performance.now(),
  schedule(delayMs, fn) {
    const timer = setTimeout(fn, Math.max(0, delayMs));
    return () => clearTimeout(timer);
  },
};
