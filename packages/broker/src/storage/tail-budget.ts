/** What the budget knows of one tail entry: its size, whether its log still keeps it, how to take it back. */
export interface TailToken {
  readonly retained: number;
  dropped: boolean;
  /** Makes the owning log drop the entry (already released): called once, when the budget needs room. */
  evict(): void;
}

/**
 * Bounds the bytes all the logs of a broker keep in their in-memory tails together (a log keeps its
 * latest leader appends to serve followers without a disk read). Past `maxBytes` the oldest entries
 * go first, whichever log holds them. Logs add their entries in order and drop them oldest first (or
 * all at once), so the first entry of a log still queued here is always the oldest in its tail.
 */
export class TailBudget {
  private used = 0;
  private queue: TailToken[] = [];
  private head = 0;
  /** Queued tokens already dropped by their log, waiting to be compacted away. */
  private stale = 0;

  constructor(readonly maxBytes: number) {}

  /** Bytes held by the entries logs keep now. */
  get usedBytes(): number {
    return this.used;
  }

  /** Counts a new entry (the token is the entry itself: no object of the budget's own per entry). */
  add(token: TailToken): void {
    this.queue.push(token);
    this.used += token.retained;
    while (this.used > this.maxBytes && this.head < this.queue.length) {
      const oldest = this.queue[this.head++]!;
      if (oldest.dropped) {
        this.stale--;
      } else {
        this.release(oldest);
        this.stale--; // counted by release, but no longer queued
        oldest.evict();
      }
    }
    this.compact();
  }

  /** The log no longer keeps the entry (dropped it itself, or was told to by evict). */
  release(token: TailToken): void {
    if (token.dropped) return;
    token.dropped = true;
    this.used -= token.retained;
    this.stale++;
    this.compact();
  }

  private compact(): void {
    const queued = this.queue.length - this.head;
    if (this.stale < 1024 || this.stale * 2 < queued) return;
    this.queue = this.queue.slice(this.head).filter((q) => !q.dropped);
    this.head = 0;
    this.stale = 0;
  }
}
