/** A value's place in a Bag: what `add` returns and `delete` takes. */
export interface BagEntry<T> {
  readonly value: T;
  readonly bag: Bag<T>;
  /** Where the entry is in its bag's array; -1 once removed. */
  index: number;
}

/**
 * An unordered collection for values that come and go all the time (the requests parked on a
 * partition, the appends not yet settled): adding and removing cost no allocation beyond the entry,
 * because the values live in one array whose storage is reused, and a removal moves the last entry
 * into the hole.
 *
 * A Set would do the same job with a hash table that V8 replaces whenever it shrinks (every time it
 * empties) or fills with deleted slots, and the table it leaves behind points to its replacement.
 * Once one table of a long-lived Set has reached the old generation, each dead table there keeps the
 * next one alive through every young collection, so every table the Set ever makes is promoted and
 * waits for a full collection: at 10k records/s the Sets of a broker's hot path put about 0.3 MB/s
 * into its old generation (docs/performance-log.md, the seventeenth look).
 */
export class Bag<T> {
  private readonly entries: BagEntry<T>[] = [];

  get size(): number {
    return this.entries.length;
  }

  add(value: T): BagEntry<T> {
    const entry = { value, bag: this, index: this.entries.length };
    this.entries.push(entry);
    return entry;
  }

  /** Removes the entry if it is still in this bag; returns whether it was. */
  delete(entry: BagEntry<T>): boolean {
    const at = entry.index;
    if (at < 0 || this.entries[at] !== entry) return false;
    const last = this.entries.pop() as BagEntry<T>;
    if (last !== entry) {
      this.entries[at] = last;
      last.index = at;
    }
    entry.index = -1;
    return true;
  }

  /**
   * Calls `visit` with each value, last added first. `visit` may remove entries, itself's or others':
   * every value in the bag when the call began and still in it when its turn comes is visited at least
   * once (a removal moves an entry already visited into an earlier hole, so that one may be visited
   * again). Values added meanwhile may or may not be visited.
   */
  forEach(visit: (value: T) => void): void {
    for (let i = this.entries.length - 1; i >= 0; i--) {
      const entry = this.entries[i];
      if (entry !== undefined) visit(entry.value);
    }
  }

  /** The values now, in no particular order. */
  values(): T[] {
    return this.entries.map((entry) => entry.value);
  }
}
