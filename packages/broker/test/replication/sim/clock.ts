/**
 * The simulation's time: a clock whose now() moves only when the schedule advances it, with one-shot
 * timers that fire in due order (ties in the order they were set). Each broker incarnation gets its
 * own Clock face, so a crash cancels exactly that process's timers.
 */
import type { Clock } from '../../../src/clock.js';

interface Timer {
  readonly atMs: number;
  readonly seq: number;
  readonly owner: object;
  readonly fn: () => void;
}

/** Lets every promise continuation that is ready run (nothing in the simulation waits on real I/O). */
export function settleMicrotasks(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

export class SimClock {
  nowMs = 0;
  private timers: Timer[] = [];
  private seq = 0;

  /** The Clock a broker incarnation (`owner`) runs on. */
  clockFor(owner: object): Clock {
    return {
      now: () => this.nowMs,
      schedule: (delayMs, fn) => {
        const timer: Timer = { atMs: this.nowMs + Math.max(0, delayMs), seq: this.seq++, owner, fn };
        this.timers.push(timer);
        return () => {
          this.timers = this.timers.filter((t) => t !== timer);
        };
      },
    };
  }

  /** Drops every timer of `owner` (its process died). */
  cancelAll(owner: object): void {
    this.timers = this.timers.filter((t) => t.owner !== owner);
  }

  /** Moves time forward by `ms`, firing the timers that fall due in order, each run to quiescence. */
  async advance(ms: number): Promise<void> {
    const target = this.nowMs + ms;
    for (;;) {
      let next: Timer | undefined;
      for (const t of this.timers)
        if (t.atMs <= target && (!next || t.atMs < next.atMs || (t.atMs === next.atMs && t.seq < next.seq))) next = t;
      if (!next) break;
      const fired = next;
      this.timers = this.timers.filter((t) => t !== fired);
      this.nowMs = Math.max(this.nowMs, fired.atMs);
      fired.fn();
      await settleMicrotasks();
    }
    this.nowMs = target;
  }
}
