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

import { Bag, type BagEntry } from '../bag.js';
import { type Clock, systemClock } from '../clock.js';

/** Empty per-key bags kept for their keys' next park before a sweep drops them (bounds the memory they hold). */
const EMPTY_KEYS_KEPT = 1024;

/**
 * One parked operation. Once done it lets go of the operation, its keys and its signal: a completed
 * one stays in its deadline queue until its deadline (up to a long poll's 500 ms, or a Produce's 30 s
 * request timeout), and an operation holds its request's closures and buffers. Held that long they
 * outlived the young generation's collections and filled the old one: at 10k records/s every follower
 * fetch's and acks=all Produce's state went there, a broker's old generation grew about 1.5 MB/s and a
 * full collection came every ~18 s with a 2-6 ms pause and incremental steps of up to 8 ms
 * (docs/performance-log.md, the seventeenth look).
 */
class Parked implements Cancellable {
  /**
   * Its entry in the bag of each key it is parked under: the entry itself for one key (the usual park:
   * no array), else one per key.
   */
  inKeys: BagEntry<Parked> | readonly BagEntry<Parked>[] = NO_ENTRIES;
  /** Its entry in the bag of the operations its signal aborts. */
  inSignal: BagEntry<Parked> | undefined = undefined;
  done = false;

  constructor(
    public op: DelayedOperation,
    readonly deadlineMs: number,
    readonly queue: DeadlineQueue,
    /** Its DelayedOperations' removal (one function per DelayedOperations): what cancel does. */
    private readonly removal: (parked: Parked) => void,
  ) {}

  /** Takes it out without completing it (park's handle: no closure per park). */
  cancel(): void {
    this.removal(this);
  }
}

/** What park returns: takes the operation out without completing it (nothing once it completed). */
export interface Cancellable {
  cancel(): void;
}

/** What a done Parked holds instead of its operation. */
const RELEASED: DelayedOperation = { tryComplete: () => true, onExpire: () => {} };
const NO_ENTRIES: readonly BagEntry<Parked>[] = [];
/** What park returns for an operation it did not park. */
const NOTHING_TO_CANCEL: Cancellable = Object.freeze({ cancel: () => {} });

/**
 * The operations parked with one timeout, in deadline order: a deadline is the park's time plus the
 * timeout, and that time does not go back (the monotonic clock), so each one parked goes at the end. A
 * completed operation stays in place until it reaches the front (removing it from the middle would cost
 * a search); once those are most of a long queue, they are dropped in one pass, so a queue holds at most
 * about twice its live operations.
 */
class DeadlineQueue {
  private items: Parked[] = [];
  private head = 0;
  /** Operations in the queue not completed yet. */
  live = 0;

  push(parked: Parked): void {
    // A clock that went back after all (a simulated one): keep the order by inserting from the end.
    let at = this.items.length;
    while (at > this.head && (this.items[at - 1] as Parked).deadlineMs > parked.deadlineMs) at--;
    if (at === this.items.length) this.items.push(parked);
    else this.items.splice(at, 0, parked);
    this.live++;
  }

  /** One of its operations completed (it is `done` now). */
  removed(): void {
    this.live--;
    const length = this.items.length - this.head;
    if (length > 1024 && this.live < length / 2) {
      this.items = this.items.slice(this.head).filter((p) => !p.done);
      this.head = 0;
    }
  }

  /** Takes the operations due at `nowMs` off the front into `due`; returns how many entries it looked at. */
  takeDue(nowMs: number, due: Parked[]): number {
    let looked = 0;
    while (this.head < this.items.length) {
      const first = this.items[this.head] as Parked;
      looked++;
      if (!first.done && first.deadlineMs > nowMs) break;
      this.head++;
      if (!first.done) due.push(first);
    }
    if (this.head === this.items.length) {
      this.items = [];
      this.head = 0;
    } else if (this.head > 1024 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
    return looked;
  }

  /** The earliest deadline of a live operation (the front, once takeDue has dropped the completed ones). */
  nextDeadlineMs(): number {
    while (this.head < this.items.length && (this.items[this.head] as Parked).done) this.head++;
    return this.items[this.head]?.deadlineMs ?? Number.POSITIVE_INFINITY;
  }

  /** Every live operation (shutdown). */
  liveOperations(): Parked[] {
    return this.items.slice(this.head).filter((p) => !p.done);
  }
}

/**
 * Most parked operations complete long before their deadline (a follower's fetch is answered by the
 * next append, a produce by the followers' next fetches), so the deadlines share one timer: it is armed
 * for the earliest deadline and, when it fires, expires what is due and is armed again for the next.
 * Parking costs no timer of its own and completing none to cancel: at one record per request that was
 * three timers made and cleared per record on a leader. Likewise an abort signal gets one listener,
 * however many operations it serves over its life (a stream's serves one per request on it). When the
 * timer fires it looks only at what is due: the operations are kept in one deadline-ordered queue per
 * timeout, so a sweep looks at the front of each, not at every operation parked (at 1000 parked long
 * polls, scanning them all cost more than the timers per operation it replaced had). A long poll parks
 * with what is left of its wait (500, 499, ... ms), so there is a queue per such value in use (10-20
 * measured), each dropped at the sweep once nothing in it waits: still a front each, not every operation.
 */
export class DelayedOperations {
  private readonly byKey = new Map<string, Bag<Parked>>();
  /** Bags in byKey that are empty (kept for the key's next park; dropped by the sweep past EMPTY_KEYS_KEPT). */
  private emptyKeys = 0;
  /** The parked operations by their timeout, each queue in deadline order. */
  private readonly byTimeout = new Map<number, DeadlineQueue>();
  private parkedCount = 0;
  private looked = 0;
  /** The parked operations each signal aborts; the signal's one listener aborts what is in its bag. */
  private readonly bySignal = new WeakMap<AbortSignal, Bag<Parked>>();
  private timer: { readonly atMs: number; readonly cancel: () => void } | undefined;
  private readonly removal = (parked: Parked): void => {
    this.remove(parked);
  };

  /** `clock` times the deadlines (the simulation passes a simulated one). */
  constructor(private readonly clock: Clock = systemClock) {}

  /** Number of operations waiting right now (for metrics and tests). */
  get size(): number {
    return this.parkedCount;
  }

  /** Number of keys holding a set, empty ones included (for tests: they are bounded). */
  get keysHeld(): number {
    return this.byKey.size;
  }

  /** How many queue entries the last deadline sweep looked at (for tests: the due ones and a front each). */
  get lastSweepLooked(): number {
    return this.looked;
  }

  /**
   * Tries the operation once; if it cannot complete yet, parks it under `keys` until a change,
   * `timeoutMs`, or `signal` aborts it. Returns its handle, whose cancel() takes it out without completing it.
   */
  park(op: DelayedOperation, keys: readonly string[], timeoutMs: number, signal?: AbortSignal): Cancellable {
    if (op.tryComplete()) return NOTHING_TO_CANCEL;
    if (signal?.aborted) {
      op.onAbort?.();
      return NOTHING_TO_CANCEL;
    }
    // Not a number (a caller's bug) counts as 0, as setTimeout took it: a NaN deadline would make the
    // sweep's next deadline NaN and leave every other operation parked with no timer armed.
    const afterMs = Number.isNaN(timeoutMs) ? 0 : Math.max(0, timeoutMs);
    const deadlineMs = this.nowMs() + afterMs;
    let queue = this.byTimeout.get(afterMs);
    if (!queue) {
      queue = new DeadlineQueue();
      this.byTimeout.set(afterMs, queue);
    }
    const parked = new Parked(op, deadlineMs, queue, this.removal);
    if (keys.length === 1) parked.inKeys = this.bagOf(keys[0] as string).add(parked);
    else {
      const inKeys: BagEntry<Parked>[] = [];
      for (const key of keys) inKeys.push(this.bagOf(key).add(parked));
      parked.inKeys = inKeys;
    }
    queue.push(parked);
    this.parkedCount++;
    if (signal) parked.inSignal = this.listen(signal).add(parked);
    if (deadlineMs < this.armedAtMs()) this.arm(deadlineMs);
    return parked;
  }

  /** The bag of `key`'s operations, made on first use (an empty one is about to be added to). */
  private bagOf(key: string): Bag<Parked> {
    let bag = this.byKey.get(key);
    if (!bag) {
      bag = new Bag();
      this.byKey.set(key, bag);
    } else if (bag.size === 0) this.emptyKeys--;
    return bag;
  }

  /** Something changed on `key`: every operation parked under it gets a chance to complete. */
  notify(key: string): void {
    const bag = this.byKey.get(key);
    if (bag === undefined || bag.size === 0) return;
    // The live bag, not a copy (a leader notifies a key several times per append): its forEach survives
    // removals, and an operation tried twice (moved by a removal) or parked under the key meanwhile (by
    // something a completion ran) is only tried once more, as park has just tried it.
    bag.forEach((parked) => {
      if (!parked.done && parked.op.tryComplete()) this.remove(parked);
    });
  }

  /** Drops the keys whose bags are empty (keys of partitions gone or idle since their last wait). */
  private dropEmptyKeys(): void {
    for (const [key, bag] of this.byKey) if (bag.size === 0) this.byKey.delete(key);
    this.emptyKeys = 0;
  }

  /** Completes every parked operation by expiring it now, and disarms the timer (shutdown). */
  expireAll(): void {
    const all = [...this.byTimeout.values()].flatMap((queue) => queue.liveOperations());
    for (const parked of all) this.remove(parked)?.onExpire();
    this.timer?.cancel();
    this.timer = undefined;
  }

  /** The operations `signal` aborts, with the signal's one listener added on first use. */
  private listen(signal: AbortSignal): Bag<Parked> {
    let ops = this.bySignal.get(signal);
    if (!ops) {
      const bag = new Bag<Parked>();
      signal.addEventListener(
        'abort',
        () => {
          for (const parked of bag.values()) this.remove(parked)?.onAbort?.();
        },
        { once: true },
      );
      this.bySignal.set(signal, bag);
      ops = bag;
    }
    return ops;
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
    this.looked = 0;
    for (const queue of this.byTimeout.values()) {
      this.looked += queue.takeDue(nowMs, due);
      nextMs = Math.min(nextMs, queue.nextDeadlineMs());
    }
    due.sort((a, b) => a.deadlineMs - b.deadlineMs);
    for (const parked of due) this.remove(parked)?.onExpire();
    // A timeout no operation waits with any more gives up its queue (kept meanwhile: one-at-a-time
    // requests would otherwise make and drop a queue per request).
    for (const [timeoutMs, queue] of this.byTimeout) if (queue.live === 0) this.byTimeout.delete(timeoutMs);
    if (this.emptyKeys > EMPTY_KEYS_KEPT) this.dropEmptyKeys();
    // An operation expired above may have parked another: arm only if none did (an earlier one armed).
    if (nextMs < this.armedAtMs()) this.arm(nextMs);
  }

  private leaveKey(entry: BagEntry<Parked>): void {
    if (entry.bag.delete(entry) && entry.bag.size === 0) this.emptyKeys++;
  }

  /** Takes a parked operation out (once); returns it, or undefined when it was out already. */
  private remove(parked: Parked): DelayedOperation | undefined {
    if (parked.done) return undefined;
    const op = parked.op;
    parked.done = true;
    this.parkedCount--;
    parked.queue.removed();
    if (parked.inSignal) parked.inSignal.bag.delete(parked.inSignal);
    // A key's bag stays when it empties: a follower's fetch parks under its partition's key again at
    // every fetch, so dropping it made and dropped one per fetch. The sweep drops empty ones.
    const inKeys = parked.inKeys;
    if (!Array.isArray(inKeys)) this.leaveKey(inKeys as BagEntry<Parked>);
    else for (const entry of inKeys) this.leaveKey(entry);
    parked.op = RELEASED;
    parked.inKeys = NO_ENTRIES;
    parked.inSignal = undefined;
    // The timer stays armed when nothing is left: it fires once for nothing, where cancelling it here
    // would make and clear a timer per request again whenever requests come one at a time.
    return op;
  }
}
