/**
 * One timer that fires at the earliest deadline asked for: a producer's linger and retry backoffs,
 * a consumer's backoffs. Asking for a later time than the one armed changes nothing; an earlier one
 * re-arms it.
 */
export class Wakeup {
  private timer: NodeJS.Timeout | undefined;
  private atMs = Infinity;
  private stopped = false;

  constructor(private readonly onWake: () => void) {}

  /** Calls onWake at `atMs` (ms since the epoch) unless an earlier wake-up is already armed. */
  at(atMs: number): void {
    if (this.stopped || atMs >= this.atMs) return;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.atMs = atMs;
    this.timer = setTimeout(
      () => {
        this.timer = undefined;
        this.atMs = Infinity;
        this.onWake();
      },
      Math.max(0, atMs - Date.now()),
    );
  }

  /** Cancels the armed wake-up and refuses new ones. */
  stop(): void {
    this.stopped = true;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
  }
}
