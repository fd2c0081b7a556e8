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
  cancelTimer: (() => void) | undefined;
  done: boolean;
  /** Removed from the signal once the operation is done: a signal may outlive many operations (a stream's). */
  detach?: () => void;
}

export class DelayedOperations {
  private readonly byKey = new Map<string, Set<Parked>>();
  private parkedCount = 0;

  /** `clock` times the deadlines (the simulation passes a simulated one). */
  constructor(private readonly clock: Clock = systemClock) {}

  /** Number of operations waiting right now (for metrics and tests). */
  get size(): number {
    return this.parkedCount;
  }

  /**
   * Tries the operation once; if it cannot complete yet, parks it under `keys` until a change,
   * `timeoutMs`, or `signal` aborts it. Its abort listener comes off the signal once it is done, so a
   * signal may serve many operations (a stream's). Returns a function that cancels it without
   * completing it.
   */
  park(op: DelayedOperation, keys: readonly string[], timeoutMs: number, signal?: AbortSignal): () => void {
    if (op.tryComplete()) return () => {};
    if (signal?.aborted) {
      op.onAbort?.();
      return () => {};
    }
    const parked: Parked = { op, keys, cancelTimer: undefined, done: false };
    for (const key of keys) {
      let set = this.byKey.get(key);
      if (!set) {
        set = new Set();
        this.byKey.set(key, set);
      }
      set.add(parked);
    }
    this.parkedCount++;
    const cancel = () => this.remove(parked);
    parked.cancelTimer = this.clock.schedule(Math.max(0, timeoutMs), () => {
      if (this.remove(parked)) op.onExpire();
    });
    if (signal) {
      const abort = (): void => {
        if (this.remove(parked)) op.onAbort?.();
      };
      signal.addEventListener('abort', abort, { once: true });
      parked.detach = () => signal.removeEventListener('abort', abort);
    }
    return cancel;
  }

  /** Something changed on `key`: every operation parked under it gets a chance to complete. */
  notify(key: string): void {
    const set = this.byKey.get(key);
    if (!set) return;
    for (const parked of [...set]) {
      if (!parked.done && parked.op.tryComplete()) this.remove(parked);
    }
  }

  /** Completes every parked operation by expiring it now (shutdown). */
  expireAll(): void {
    const all = new Set<Parked>();
    for (const set of this.byKey.values()) for (const parked of set) all.add(parked);
    for (const parked of all) if (this.remove(parked)) parked.op.onExpire();
  }

  private remove(parked: Parked): boolean {
    if (parked.done) return false;
    parked.done = true;
    parked.cancelTimer?.();
    parked.detach?.();
    for (const key of parked.keys) {
      const set = this.byKey.get(key);
      set?.delete(parked);
      if (set?.size === 0) this.byKey.delete(key);
    }
    this.parkedCount--;
    return true;
  }
}
