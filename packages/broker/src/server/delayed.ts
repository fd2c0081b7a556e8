/**
 * Requests that wait for something to happen on a partition — a long-poll Fetch waiting for bytes,
 * later an acks=all Produce waiting for followers — parked under the keys (topic-partitions) whose
 * changes may complete them. Kafka calls this the purgatory.
 *
 * A parked operation completes exactly once: when `tryComplete` says so after a change on one of its
 * keys, when its deadline passes (`onExpire`), or when it is aborted (the caller went away: `onAbort`).
 */
export interface DelayedOperation {
  /** Returns true when the operation completed (and has answered its caller). */
  tryComplete(): boolean;
  /** Called once when the deadline passes without completion. */
  onExpire(): void;
  /** Called once when the signal given to park aborts first (also when it already had). */
  onAbort?(): void;
}

import { type Clock, systemClock } from '../clock.js';

interface Parked {
  readonly op: DelayedOperation;
  readonly keys: readonly string[];
  readonly deadlineMs: number;
  readonly signal: AbortSignal | undefined;
  done: boolean;
}

/**
 * Most parked operations complete long before their deadline (a follower's fetch is answered by the
 * next append, a produce by the followers' next fetches), so the deadlines share one timer: it is armed
 * for the earliest deadline and, when it fires, expires what is due and is armed again for the next.
 * Parking costs no timer of its own and completing none to cancel: at one record per request that was
 * three timers made and cleared per record on a leader. Likewise an abort signal gets one listener,
 * however many operations it serves over its life (a stream's serves one per request on it).
 */
export class DelayedOperations {
  private readonly byKey = new Map<string, Set<Parked>>();
  /** Every parked operation, in the order parked (the deadline sweep looks at them all). */
  private readonly parked = new Set<Parked>();
  /** The parked operations each signal aborts; the signal's one listener aborts what is in its set. */
  private readonly bySignal = new WeakMap<AbortSignal, Set<Parked>>();
  private timer: { readonly atMs: number; readonly cancel: () => void } | undefined;

  /** `clock` times the deadlines (the simulation passes a simulated one). */
  constructor(private readonly clock: Clock = systemClock) {}

  /** Number of operations waiting right now (for metrics and tests). */
  get size(): number {
    return this.parked.size;
  }

  /**
   * Tries the operation once; if it cannot complete yet, parks it under `keys` until a change,
   * `timeoutMs`, or `signal` aborts it. Returns a function that cancels it without completing it.
   */
  park(op: DelayedOperation, keys: readonly string[], timeoutMs: number, signal?: AbortSignal): () => void {
    if (op.tryComplete()) return () => {};
    if (signal?.aborted) {
      op.onAbort?.();
      return () => {};
    }
    // Not a number (a caller's bug) counts as 0, as setTimeout took it: a NaN deadline would make the
    // sweep's next deadline NaN and leave every other operation parked with no timer armed.
    const deadlineMs = this.nowMs() + (Number.isNaN(timeoutMs) ? 0 : Math.max(0, timeoutMs));
    const parked: Parked = { op, keys, deadlineMs, signal, done: false };
    for (const key of keys) {
      let set = this.byKey.get(key);
      if (!set) {
        set = new Set();
        this.byKey.set(key, set);
      }
      set.add(parked);
    }
    this.parked.add(parked);
    if (signal) this.listen(signal).add(parked);
    if (deadlineMs < this.armedAtMs()) this.arm(deadlineMs);
    return () => this.remove(parked);
  }

  /** Something changed on `key`: every operation parked under it gets a chance to complete. */
  notify(key: string): void {
    const set = this.byKey.get(key);
    if (!set) return;
    for (const parked of [...set]) {
      if (!parked.done && parked.op.tryComplete()) this.remove(parked);
    }
  }

  /** Completes every parked operation by expiring it now, and disarms the timer (shutdown). */
  expireAll(): void {
    for (const parked of [...this.parked]) if (this.remove(parked)) parked.op.onExpire();
    this.timer?.cancel();
    this.timer = undefined;
  }

  /** The set of operations `signal` aborts, with the signal's one listener added on first use. */
  private listen(signal: AbortSignal): Set<Parked> {
    let set = this.bySignal.get(signal);
    if (!set) {
      const ops = new Set<Parked>();
      signal.addEventListener(
        'abort',
        () => {
          for (const parked of [...ops]) if (this.remove(parked)) parked.op.onAbort?.();
        },
        { once: true },
      );
      this.bySignal.set(signal, ops);
      set = ops;
    }
    return set;
  }

  /**
   * The deadlines' time: the monotonic one where the clock has it. On the wall clock, one set back an hour
   * would keep every parked operation an hour past its deadline (the timer, when it fires, finds none due).
   */
  private nowMs(): number {
    return this.clock.monotonicNow?.() ?? this.clock.now();
  }

  private armedAtMs(): number {
    return this.timer?.atMs ?? Number.POSITIVE_INFINITY;
  }

  private arm(atMs: number): void {
    this.timer?.cancel();
    const cancel = this.clock.schedule(atMs - this.nowMs(), () => this.expireDue());
    this.timer = { atMs, cancel };
  }

  /** The timer fired: expires what is due, in deadline order, then arms for the earliest left. */
  private expireDue(): void {
    this.timer = undefined;
    const nowMs = this.nowMs();
    const due: Parked[] = [];
    let nextMs = Number.POSITIVE_INFINITY;
    for (const parked of this.parked) {
      if (parked.deadlineMs <= nowMs) due.push(parked);
      else nextMs = Math.min(nextMs, parked.deadlineMs);
    }
    due.sort((a, b) => a.deadlineMs - b.deadlineMs);
    for (const parked of due) if (this.remove(parked)) parked.op.onExpire();
    // An operation expired above may have parked another: arm only if none did (an earlier one armed).
    if (nextMs < this.armedAtMs()) this.arm(nextMs);
  }

  private remove(parked: Parked): boolean {
    if (parked.done) return false;
    parked.done = true;
    this.parked.delete(parked);
    if (parked.signal) this.bySignal.get(parked.signal)?.delete(parked);
    for (const key of parked.keys) {
      const set = this.byKey.get(key);
      set?.delete(parked);
      if (set?.size === 0) this.byKey.delete(key);
    }
    // The timer stays armed when nothing is left: it fires once for nothing, where cancelling it here
    // would make and clear a timer per request again whenever requests come one at a time.
    return true;
  }
}
