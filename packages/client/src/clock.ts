/** Time as the client's drivers see it: the group membership driver takes one, so tests pass a manual clock. */
export interface Clock {
  nowMs(): number;
  /** Calls `fn` after `delayMs`; the returned function cancels it. */
  setTimer(fn: () => void, delayMs: number): () => void;
}

/** Wall-clock time and Node's timers. */
export const systemClock: Clock = {
  nowMs: () => Date.now(),
  setTimer(fn, delayMs) {
    const timer = setTimeout(fn, delayMs);
    return () => clearTimeout(timer);
  },
};
