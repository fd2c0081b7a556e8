import { describe, expect, it } from 'vitest';
import { Bag, type BagEntry } from '../src/bag.js';
import { Rng } from './replication/sim/rng.js';

/** A seeded generator of integers below n (the simulation's mulberry32). */
function seededRandom(seed: number): (n: number) => number {
  const rng = new Rng(seed);
  return (n) => rng.int(0, n - 1);
}

describe('Bag', () => {
  it('holds what was added and not deleted, each entry deleted once', () => {
    const bag = new Bag<string>();
    const a = bag.add('a');
    const b = bag.add('b');
    const c = bag.add('c');
    expect(bag.delete(a)).toBe(true);
    expect(bag.delete(a)).toBe(false);
    expect(bag.values().sort()).toEqual(['b', 'c']);
    expect(bag.delete(c)).toBe(true);
    expect(bag.delete(b)).toBe(true);
    expect(bag.size).toBe(0);
    expect(bag.values()).toEqual([]);
  });

  it('does not delete an entry of another bag', () => {
    const one = new Bag<number>();
    const two = new Bag<number>();
    const entry = one.add(1);
    two.add(2);
    expect(two.delete(entry)).toBe(false);
    expect(two.values()).toEqual([2]);
    expect(one.values()).toEqual([1]);
  });

  it('agrees with a Set over random adds and deletes', () => {
    for (let seed = 1; seed <= 20; seed++) {
      const random = seededRandom(seed);
      const bag = new Bag<number>();
      const model = new Set<number>();
      const entries: BagEntry<number>[] = [];
      for (let step = 0; step < 500; step++) {
        if (entries.length === 0 || random(3) > 0) {
          entries.push(bag.add(step));
          model.add(step);
        } else {
          const entry = entries.splice(random(entries.length), 1)[0] as BagEntry<number>;
          expect(bag.delete(entry)).toBe(true);
          model.delete(entry.value);
        }
        expect(bag.size).toBe(model.size);
      }
      expect(bag.values().sort((x, y) => x - y)).toEqual([...model].sort((x, y) => x - y));
    }
  });

  it('forEach visits every value still there when its turn comes, whatever the visits delete', () => {
    for (let seed = 1; seed <= 50; seed++) {
      const random = seededRandom(seed);
      const bag = new Bag<number>();
      const entries = new Map<number, BagEntry<number>>();
      const count = 1 + random(12);
      for (let v = 0; v < count; v++) entries.set(v, bag.add(v));
      const visited = new Set<number>();
      const deleted = new Set<number>();
      bag.forEach((value) => {
        expect(deleted.has(value)).toBe(false);
        visited.add(value);
        // Each visit deletes up to two values: itself, others visited or not.
        for (let k = random(3); k > 0; k--) {
          const victim = random(count);
          if (bag.delete(entries.get(victim) as BagEntry<number>)) deleted.add(victim);
        }
      });
      for (let v = 0; v < count; v++) expect(visited.has(v) || deleted.has(v)).toBe(true);
    }
  });
});

describe('Bag.forEach under visits that add, delete and iterate the bag again', () => {
  // DelayedOperations.notify iterates a key's live bag, and a completion may park under the key (an
  // add), cancel or abort others (deletes) or notify the key again (a nested forEach): every value in the
  // bag when an iteration began and not deleted before its turn must still get its visit.
  it('visits each value there at the start and not deleted before its turn, and no deleted one', () => {
    let nested = 0;
    for (let seed = 1; seed <= 300; seed++) {
      const random = seededRandom(seed);
      const bag = new Bag<number>();
      const entries = new Map<number, BagEntry<number>>();
      const live = new Set<number>();
      let nextValue = 0;
      const add = (): void => {
        const v = nextValue++;
        entries.set(v, bag.add(v));
        live.add(v);
      };
      for (let n = 1 + random(10); n > 0; n--) add();
      const iterate = (depth: number): void => {
        const atStart = new Set(live);
        const visited = new Set<number>();
        bag.forEach((value) => {
          if (!live.has(value)) throw new Error(`seed ${seed}: visited ${value} after its delete`);
          visited.add(value);
          for (let k = random(4); k > 0; k--) {
            const effect = random(5);
            // Bounded: a value added meanwhile may be visited, and its visit may add again.
            if (effect < 2) {
              if (nextValue < 60) add();
            } else if (effect < 4) {
              const victim = random(nextValue);
              if (bag.delete(entries.get(victim) as BagEntry<number>)) live.delete(victim);
            } else if (depth < 2) {
              nested++;
              iterate(depth + 1);
            }
          }
        });
        for (const v of atStart)
          if (live.has(v) && !visited.has(v)) throw new Error(`seed ${seed}: ${v} was never visited`);
      };
      iterate(0);
      expect(bag.size).toBe(live.size);
      expect(new Set(bag.values())).toEqual(live);
    }
    expect(nested).toBeGreaterThan(100);
  });
});
