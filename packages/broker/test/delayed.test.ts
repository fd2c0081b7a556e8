import { getEventListeners } from 'node:events';
import { describe, expect, it, vi } from 'vitest';
import { type Clock, systemClock } from '../src/clock.js';
import type { BrokerContext } from '../src/server/context.js';
import { type Cancellable, DelayedOperations } from '../src/server/delayed.js';
import { waitForPartitions } from '../src/server/handlers/long-poll.js';

/** park's handle as the function the models below call. */
const cancelOf =
  (handle: Cancellable): (() => void) =>
  () =>
    handle.cancel();

/** A clock whose time moves only when the test says, counting its armed timers. */
function manualClock(): Clock & { advanceTo(ms: number, late?: boolean): void; pending(): number } {
  let nowMs = 0;
  const timers = new Set<{ atMs: number; fn: () => void }>();
  return {
    now: () => nowMs,
    schedule(delayMs, fn) {
      const timer = { atMs: nowMs + Math.max(0, delayMs), fn };
      timers.add(timer);
      return () => timers.delete(timer);
    },
    /** Fires the timers due by `ms` in order; `late`: all of them only at `ms`, as a busy event loop does. */
    advanceTo(ms, late = false) {
      if (late) nowMs = ms;
      for (;;) {
        const due = [...timers].filter((t) => t.atMs <= ms).sort((a, b) => a.atMs - b.atMs)[0];
        if (!due) break;
        timers.delete(due);
        nowMs = Math.max(nowMs, due.atMs);
        due.fn();
      }
      nowMs = ms;
    },
    pending: () => timers.size,
  };
}

/**
 * A seeded generator of integers below n (mulberry32). The LCG these tests used, state * 1103515245 in
 * doubles, lost its low bits past 2^53: state % n came out even nearly always, so the model never
 * aborted a signal (an odd choice) and drew few distinct keys.
 */
function seededRandom(seed: number): (n: number) => number {
  let state = seed;
  return (n) => {
    state = (state + 0x6d2b79f5) | 0;
    let t = Math.imul(state ^ (state >>> 15), 1 | state);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return Math.floor((((t ^ (t >>> 14)) >>> 0) / 4294967296) * n);
  };
}

function op(ready: () => boolean) {
  const calls = { completed: 0, expired: 0 };
  return {
    calls,
    op: {
      tryComplete: () => {
        if (!ready()) return false;
        calls.completed++;
        return true;
      },
      onExpire: () => void calls.expired++,
    },
  };
}

describe('DelayedOperations', () => {
  it('completes at once when ready, otherwise on a notify of one of its keys, exactly once', () => {
    const ops = new DelayedOperations();
    let ready = true;
    const a = op(() => ready);
    ops.park(a.op, ['t-0'], 1000);
    expect(a.calls.completed).toBe(1);
    expect(ops.size).toBe(0);

    ready = false;
    const b = op(() => ready);
    ops.park(b.op, ['t-0', 't-1'], 1000);
    ops.notify('t-1');
    expect(b.calls.completed).toBe(0);
    ready = true;
    ops.notify('t-1');
    ops.notify('t-0');
    expect(b.calls).toEqual({ completed: 1, expired: 0 });
    expect(ops.size).toBe(0);
  });

  it('expires at the deadline and cancels on abort', () => {
    vi.useFakeTimers();
    try {
      const ops = new DelayedOperations();
      const a = op(() => false);
      ops.park(a.op, ['k'], 500);
      vi.advanceTimersByTime(499);
      expect(a.calls.expired).toBe(0);
      vi.advanceTimersByTime(1);
      expect(a.calls.expired).toBe(1);

      const controller = new AbortController();
      const b = op(() => false);
      ops.park(b.op, ['k'], 500, controller.signal);
      controller.abort();
      vi.advanceTimersByTime(1000);
      expect(b.calls).toEqual({ completed: 0, expired: 0 });
      expect(ops.size).toBe(0);
    } finally {
      vi.useRealTimers();
    }
  });

  it('adds one abort listener per signal, however many operations it serves (a stream serves many polls)', async () => {
    vi.useFakeTimers();
    try {
      const ops = new DelayedOperations();
      const signal = new AbortController().signal;
      let ready = false;
      for (let i = 0; i < 50; i++) ops.park(op(() => ready).op, ['t-0'], 1000, signal);
      for (let i = 0; i < 50; i++) ops.park(op(() => false).op, ['t-1'], 10, signal);
      expect(getEventListeners(signal, 'abort')).toHaveLength(1);
      ready = true;
      ops.notify('t-0');
      vi.advanceTimersByTime(10);
      expect(ops.size).toBe(0);
      for (let i = 0; i < 50; i++) ops.park(op(() => false).op, ['t-1'], 10, signal);
      vi.advanceTimersByTime(10);
      expect(getEventListeners(signal, 'abort')).toHaveLength(1);

      // The long poll on top of it adds none of its own.
      const ctx = { waiters: ops } as unknown as BrokerContext;
      let changed = false;
      const reads = [{ topic: 't', partition: 0, response: {} }];
      const polls = [
        waitForPartitions(ctx, reads, () => changed, 1000, signal),
        waitForPartitions(ctx, reads, () => false, 5, signal),
      ];
      expect(getEventListeners(signal, 'abort')).toHaveLength(1);
      changed = true;
      ops.notify('t\u00000');
      vi.advanceTimersByTime(5);
      await Promise.all(polls);
      expect(getEventListeners(signal, 'abort')).toHaveLength(1);
    } finally {
      vi.useRealTimers();
    }
  });

  it('aborts only the operations of the signal that aborted', () => {
    const ops = new DelayedOperations();
    const [one, two] = [new AbortController(), new AbortController()];
    const aborted: string[] = [];
    const waiting = (name: string) => ({ ...op(() => false).op, onAbort: () => void aborted.push(name) });
    ops.park(waiting('a1'), ['k'], 60_000, one.signal);
    ops.park(waiting('b1'), ['k'], 60_000, two.signal);
    ops.park(waiting('a2'), ['j'], 60_000, one.signal);
    one.abort();
    expect(aborted).toEqual(['a1', 'a2']);
    expect(ops.size).toBe(1);
    two.abort();
    expect(aborted).toEqual(['a1', 'a2', 'b1']);
    expect(ops.size).toBe(0);
  });

  it('times every deadline with one timer, armed for the earliest, each expiring at its own deadline', () => {
    const clock = manualClock();
    const ops = new DelayedOperations(clock);
    const expired: string[] = [];
    const waiting = (name: string) => ({ tryComplete: () => false, onExpire: () => void expired.push(name) });
    ops.park(waiting('produce'), ['k'], 30_000);
    ops.park(waiting('fetch-500'), ['k'], 500);
    ops.park(waiting('fetch-300'), ['j'], 300); // earlier than the armed deadline: the timer moves
    ops.park(waiting('fetch-700'), ['j'], 700);
    let completing = false;
    const done = { tryComplete: () => completing, onExpire: () => void expired.push('completed') };
    ops.park(done, ['j'], 100);
    expect(clock.pending()).toBe(1);
    completing = true;
    ops.notify('j'); // completes 'completed' only; its deadline's timer fires for nothing
    clock.advanceTo(100);
    expect(expired).toEqual([]);
    clock.advanceTo(299);
    expect(expired).toEqual([]);
    clock.advanceTo(300);
    expect(expired).toEqual(['fetch-300']);
    clock.advanceTo(699);
    expect(expired).toEqual(['fetch-300', 'fetch-500']);
    clock.advanceTo(700);
    expect(expired).toEqual(['fetch-300', 'fetch-500', 'fetch-700']);
    expect(clock.pending()).toBe(1);
    clock.advanceTo(30_000);
    expect(expired).toEqual(['fetch-300', 'fetch-500', 'fetch-700', 'produce']);
    expect([ops.size, clock.pending()]).toEqual([0, 0]);
    // Late timers (a busy loop) expire everything due, in deadline order.
    ops.park(waiting('late-20'), ['k'], 20);
    ops.park(waiting('late-10'), ['k'], 10);
    clock.advanceTo(40_000, true);
    expect(expired.slice(-2)).toEqual(['late-10', 'late-20']);
    expect([ops.size, clock.pending()]).toEqual([0, 0]);
  });

  it('looks only at what is due when the timer fires, not at every operation parked', () => {
    const clock = manualClock();
    const ops = new DelayedOperations(clock);
    const expired: number[] = [];
    const waiting = (n: number) => ({ tryComplete: () => false, onExpire: () => void expired.push(n) });
    // 1000 long polls of 500 ms parked over 100 ms, and between them 10 produce waits of 30 s.
    for (let i = 0; i < 1000; i++) {
      clock.advanceTo(i / 10);
      ops.park(waiting(i), ['t-0'], 500);
      if (i % 100 === 0) ops.park(waiting(-1), ['t-1'], 30_000);
    }
    clock.advanceTo(500); // the first poll is due (parked at 0)
    expect(expired).toEqual([0]);
    // The due one, the next one of its queue, and the front of the other queue: not the 1010 parked.
    expect(ops.lastSweepLooked).toBeLessThanOrEqual(3);
    clock.advanceTo(600, true);
    expect(expired).toHaveLength(1000);
    expect(expired).toEqual([...expired].sort((a, b) => a - b));
    expect(ops.size).toBe(10);
  });

  it('keeps a queue of completed operations short while an older one waits in front of them', () => {
    const clock = manualClock();
    const ops = new DelayedOperations(clock);
    let expired = 0;
    ops.park({ tryComplete: () => false, onExpire: () => void expired++ }, ['slow'], 1000);
    // 100k polls complete behind it, each before its deadline.
    let ready = false;
    for (let i = 0; i < 100_000; i++) {
      ready = false;
      ops.park({ tryComplete: () => ready, onExpire: () => void expired++ }, ['fast'], 1000);
      ready = true;
      ops.notify('fast');
    }
    expect(ops.size).toBe(1);
    clock.advanceTo(1000);
    expect(expired).toBe(1);
    // The sweep met the one live operation and what was left of the completed ones: compacted, not 100k.
    expect(ops.lastSweepLooked).toBeLessThan(2100);
  });

  it('keeps a key whose operations completed for its next park, and drops such keys past a bound', () => {
    const clock = manualClock();
    const ops = new DelayedOperations(clock);
    let ready = false;
    const parkAndComplete = (key: string) => {
      ready = false;
      ops.park({ tryComplete: () => ready, onExpire: () => {} }, [key], 500);
      ready = true;
      ops.notify(key);
    };
    // A follower's fetches, one after another under one partition's key: one key held, not one per fetch.
    for (let i = 0; i < 100; i++) parkAndComplete('t-0');
    expect(ops.size).toBe(0);
    expect(ops.keysHeld).toBe(1);
    // Waits on 5000 partitions that come and go: their keys are dropped by the next sweep past 1024.
    for (let i = 0; i < 5000; i++) parkAndComplete(`gone-${i}`);
    expect(ops.keysHeld).toBe(5001);
    ops.park({ tryComplete: () => false, onExpire: () => {} }, ['t-0'], 10);
    clock.advanceTo(10);
    expect(ops.size).toBe(0);
    expect(ops.keysHeld).toBe(0);
    // A key dropped while empty works as a new one.
    ready = false;
    const late = op(() => ready);
    ops.park(late.op, ['gone-7'], 500);
    ready = true;
    ops.notify('gone-7');
    expect(late.calls.completed).toBe(1);
  });

  it('tries each operation parked under a notified key; one parked by a completion meanwhile has its try', () => {
    const ops = new DelayedOperations();
    let ready = false;
    const tries: string[] = [];
    const second = {
      tryComplete: () => {
        tries.push('second');
        return false;
      },
      onExpire: () => {},
    };
    const first = {
      tryComplete: () => {
        tries.push('first');
        if (!ready) return false;
        ops.park(second, ['t-0'], 1000); // as an answered request's next one could, synchronously
        return true;
      },
      onExpire: () => {},
    };
    const other = op(() => ready);
    ops.park(first, ['t-0'], 1000);
    ops.park(other.op, ['t-0'], 1000);
    ready = true;
    ops.notify('t-0');
    // first completes and parks second, which park tries (after the change: the notify need not try it
    // again, and may); other completes.
    expect(tries.filter((t) => t === 'first')).toHaveLength(2);
    expect(tries.filter((t) => t === 'second').length).toBeGreaterThanOrEqual(1);
    expect(tries.slice(0, 2)).toEqual(['first', 'first']);
    expect(other.calls.completed).toBe(1);
    expect(ops.size).toBe(1);
  });

  it('times deadlines on the monotonic clock: a wall clock set back or forward moves no deadline', () => {
    const timers = manualClock();
    let wallMs = 1_000_000;
    // The timers' own time is the monotonic one; the wall clock is set back an hour, then forward two.
    const clock: Clock = { now: () => wallMs, monotonicNow: timers.now, schedule: timers.schedule };
    const ops = new DelayedOperations(clock);
    const expired: string[] = [];
    const waiting = (name: string) => ({ tryComplete: () => false, onExpire: () => void expired.push(name) });
    ops.park(waiting('fetch'), ['k'], 500);
    wallMs -= 3_600_000;
    ops.park(waiting('produce'), ['k'], 30_000);
    timers.advanceTo(499);
    expect(expired).toEqual([]);
    timers.advanceTo(500);
    expect(expired).toEqual(['fetch']);
    wallMs += 7_200_000;
    timers.advanceTo(29_999);
    expect(expired).toEqual(['fetch']);
    timers.advanceTo(30_000);
    expect(expired).toEqual(['fetch', 'produce']);
    expect(systemClock.monotonicNow).toBeDefined();
  });

  it('expires an operation parked with a timeout that is not a number at once, and the others on time', () => {
    const clock = manualClock();
    const ops = new DelayedOperations(clock);
    const expired: string[] = [];
    const waiting = (name: string) => ({ tryComplete: () => false, onExpire: () => void expired.push(name) });
    ops.park(waiting('a'), ['k'], 100);
    ops.park(waiting('nan'), ['k'], Number.NaN);
    ops.park(waiting('c'), ['k'], 200);
    clock.advanceTo(0);
    expect(expired).toEqual(['nan']);
    clock.advanceTo(100);
    expect(expired).toEqual(['nan', 'a']);
    clock.advanceTo(200);
    expect(expired).toEqual(['nan', 'a', 'c']);
    expect(ops.size).toBe(0);
  });

  it('calls onAbort once when the signal aborts first, at once when it already had, and never after completion', () => {
    const ops = new DelayedOperations();
    const aborted: string[] = [];
    const withAbort = (name: string, ready: () => boolean) => ({
      ...op(ready).op,
      onAbort: () => void aborted.push(name),
    });

    const controller = new AbortController();
    let ready = false;
    ops.park(
      withAbort('waiting', () => false),
      ['k'],
      60_000,
      controller.signal,
    );
    ops.park(
      withAbort('completed', () => ready),
      ['k'],
      60_000,
      controller.signal,
    );
    ready = true;
    ops.notify('k');
    // Only the waiting one still listens: the completed one took its listener off.
    expect(getEventListeners(controller.signal, 'abort')).toHaveLength(1);
    controller.abort();
    controller.abort();
    expect(aborted).toEqual(['waiting']);
    expect(ops.size).toBe(0);

    ops.park(
      withAbort('late', () => false),
      ['k'],
      60_000,
      controller.signal,
    );
    ops.park(
      withAbort('ready anyway', () => true),
      ['k'],
      60_000,
      controller.signal,
    );
    expect(aborted).toEqual(['waiting', 'late']);
    expect(ops.size).toBe(0);
    expect(getEventListeners(controller.signal, 'abort')).toHaveLength(0);
  });

  it('expireAll answers every waiting operation', () => {
    const ops = new DelayedOperations();
    const a = op(() => false);
    const b = op(() => false);
    ops.park(a.op, ['x'], 60_000);
    ops.park(b.op, ['x', 'y'], 60_000);
    ops.expireAll();
    expect([a.calls.expired, b.calls.expired, ops.size]).toEqual([1, 1, 0]);
  });
});

describe('DelayedOperations against a model (seeded random parks, notifies, aborts, cancels, time)', () => {
  it('each operation ends once: completed when ready and notified, aborted, cancelled, or expired on time', () => {
    let signalAborts = 0;
    for (let seed = 1; seed <= 40; seed++) {
      const rand = seededRandom(seed);
      const clock = manualClock();
      const ops = new DelayedOperations(clock);
      const signals = [new AbortController(), new AbortController()];
      type Model = { ready: boolean; deadlineMs: number; ends: string[]; cancel: () => void; key: string };
      const parked: Model[] = [];
      let nowMs = 0;
      for (let step = 0; step < 400; step++) {
        const choice = rand(10);
        if (choice === 7) signalAborts++;
        if (choice < 4) {
          const timeoutMs = [0, 5, 10, 10, 25, 100][rand(6)]!;
          const m: Model = {
            ready: false,
            deadlineMs: nowMs + timeoutMs,
            ends: [],
            cancel: () => {},
            key: `k${rand(3)}`,
          };
          const which = rand(3);
          const signal = which < 2 ? signals[which]!.signal : undefined;
          const aborted = signal?.aborted ?? false;
          m.cancel = cancelOf(
            ops.park(
              {
                tryComplete: () => {
                  if (!m.ready) return false;
                  m.ends.push('completed');
                  return true;
                },
                onExpire: () => {
                  if (nowMs < m.deadlineMs) throw new Error(`seed ${seed}: expired before its deadline`);
                  m.ends.push('expired');
                },
                onAbort: () => m.ends.push('aborted'),
              },
              [m.key],
              timeoutMs,
              signal,
            ),
          );
          if (aborted) expect(m.ends).toEqual(['aborted']);
          parked.push(m);
        } else if (choice < 6) {
          for (const m of parked) if (rand(2) === 0) m.ready = true;
          ops.notify(`k${rand(3)}`);
        } else if (choice < 7) {
          const m = parked[rand(Math.max(1, parked.length))];
          if (m && m.ends.length === 0) {
            m.cancel();
            m.ends.push('cancelled');
          }
        } else if (choice < 8) {
          const i = rand(2);
          signals[i]!.abort();
          signals[i] = new AbortController();
        } else {
          nowMs += rand(30);
          clock.advanceTo(nowMs);
        }
        // Plain checks (expect per operation per step made this take seconds on a loaded machine).
        let live = 0;
        for (const m of parked) {
          if (m.ends.length > 1) throw new Error(`seed ${seed}: ended more than once: ${m.ends}`);
          // Every operation past its deadline has ended: the timer fired for it.
          if (m.ends.length === 0 && m.deadlineMs < nowMs) throw new Error(`seed ${seed}: parked past its deadline`);
          if (m.ends.length === 0) live++;
        }
        if (ops.size !== live) throw new Error(`seed ${seed}: size ${ops.size}, ${live} parked`);
      }
    }
    // The model aborts signals too (a generator that never drew this choice left aborts untested).
    expect(signalAborts).toBeGreaterThan(40);
  });
});

describe('DelayedOperations against a model: completions that park and cancel others, many keys', () => {
  // A completion runs the caller's code (it answers a request), which may park or cancel other operations
  // while notify iterates the key's live set; keys of partitions gone are swept. No operation may end
  // twice, a ready one under a notified key may not be missed, and the empty keys kept stay bounded.
  it('ends each operation once, misses no ready one on a notify, and bounds the keys it keeps', () => {
    for (let seed = 1; seed <= 6; seed++) {
      const rand = seededRandom(seed);
      const clock = manualClock();
      const ops = new DelayedOperations(clock);
      type Model = { ready: boolean; deadlineMs: number; ends: string[]; cancel: () => void; keys: string[] };
      const parked: Model[] = [];
      let nowMs = 0;
      const live = () => parked.filter((m) => m.ends.length === 0);
      const key = () => (rand(2) === 0 ? `wide${rand(20_000)}` : `hot${rand(3)}`);
      let mostKeysHeld = 0;
      const park = (keys: string[], ready: boolean, depth: number): void => {
        const timeoutMs = [0, 5, 10, 25, 100][rand(5)]!;
        const m: Model = { ready, deadlineMs: nowMs + timeoutMs, ends: [], cancel: () => {}, keys };
        parked.push(m);
        m.cancel = cancelOf(
          ops.park(
            {
              tryComplete: () => {
                if (!m.ready) return false;
                m.ends.push('completed');
                if (depth < 2) {
                  const effect = rand(4);
                  if (effect === 0) {
                    const others = live();
                    const other = others[rand(Math.max(1, others.length))];
                    if (other && other !== m) {
                      other.cancel();
                      other.ends.push('cancelled');
                    }
                  } else if (effect === 1) park([m.keys[0]!], rand(2) === 0, depth + 1);
                }
                return true;
              },
              onExpire: () => {
                if (nowMs < m.deadlineMs) throw new Error(`seed ${seed}: expired before its deadline`);
                m.ends.push('expired');
              },
            },
            keys,
            timeoutMs,
          ),
        );
      };
      for (let step = 0; step < 8000; step++) {
        const choice = rand(10);
        if (choice < 5) park(rand(3) === 0 ? [key(), key()] : [key()], false, 0);
        else if (choice < 7) {
          for (const m of live()) if (rand(2) === 0) m.ready = true;
          const notified = key();
          ops.notify(notified);
          for (const m of live())
            if (m.ready && m.keys.includes(notified)) throw new Error(`seed ${seed}: ${notified} notified, missed`);
        } else if (choice < 8) {
          const m = parked[rand(Math.max(1, parked.length))];
          if (m && m.ends.length === 0) {
            m.cancel();
            m.ends.push('cancelled');
          }
        } else {
          nowMs += rand(30);
          clock.advanceTo(nowMs);
        }
        for (const m of parked) if (m.ends.length > 1) throw new Error(`seed ${seed}: ended twice: ${m.ends}`);
        if (ops.size !== live().length) throw new Error(`seed ${seed}: size ${ops.size}, ${live().length} parked`);
        mostKeysHeld = Math.max(mostKeysHeld, ops.keysHeld);
      }
      expect(mostKeysHeld).toBeGreaterThan(1024);
      nowMs += 1000;
      clock.advanceTo(nowMs);
      expect(live()).toEqual([]);
      expect(ops.size).toBe(0);
      // Every set is empty now; the sweep at the last expiry kept at most its bound of them.
      expect(ops.keysHeld).toBeLessThanOrEqual(1024);
    }
  });
});

describe('DelayedOperations against a model: completions that abort signals and notify again', () => {
  // A completion answers its request, and what that runs may abort a stream's signal (other operations
  // of that signal end, aborted, while notify iterates a key's live bag) or notify a key again (a nested
  // iteration of the same bag). No operation may end twice, a ready one under a notified key may not be
  // missed, and none may outlive its signal's abort. The effects reach operations other than those whose
  // tryComplete is running: an operation's own completion re-entered is not guarded against (the real
  // ones only settle a promise, which runs nothing at once).
  it('ends each operation once, misses no ready one on a notify, and leaves none parked on an aborted signal', () => {
    let abortsInCompletions = 0;
    let nestedNotifies = 0;
    for (let seed = 1; seed <= 20; seed++) {
      const rand = seededRandom(seed);
      const clock = manualClock();
      const ops = new DelayedOperations(clock);
      const signals = [new AbortController(), new AbortController(), new AbortController()];
      type Model = { ready: boolean; ends: string[]; cancel: () => void; key: string; signal: AbortSignal };
      const parked: Model[] = [];
      const live = () => parked.filter((m) => m.ends.length === 0);
      /** The operations whose tryComplete is running (a completion's effects leave them alone). */
      const completing: Model[] = [];
      const others = () => live().filter((m) => !completing.includes(m));
      const abort = (i: number): boolean => {
        if (completing.some((m) => m.signal === signals[i]!.signal)) return false;
        const controller = signals[i]!;
        signals[i] = new AbortController();
        controller.abort();
        for (const m of live())
          if (m.signal === controller.signal) throw new Error(`seed ${seed}: parked past its signal's abort`);
        return true;
      };
      const park = (key: string, ready: boolean, depth: number): void => {
        const signal = signals[rand(3)]!.signal;
        const m: Model = { ready, ends: [], cancel: () => {}, key, signal };
        parked.push(m);
        m.cancel = cancelOf(
          ops.park(
            {
              tryComplete: () => {
                if (!m.ready) return false;
                m.ends.push('completed');
                completing.push(m);
                if (depth < 2)
                  for (let k = rand(3); k > 0; k--) {
                    const effect = rand(4);
                    if (effect === 0) park(`k${rand(3)}`, rand(2) === 0, depth + 1);
                    else if (effect === 1) {
                      if (abort(rand(3))) abortsInCompletions++;
                    } else if (effect === 2) {
                      const key = `k${rand(3)}`;
                      if (completing.some((c) => c.key === key)) continue;
                      nestedNotifies++;
                      ops.notify(key);
                    } else {
                      const other = others()[rand(Math.max(1, others().length))];
                      if (other) {
                        other.cancel();
                        other.ends.push('cancelled');
                      }
                    }
                  }
                completing.pop();
                return true;
              },
              onExpire: () => m.ends.push('expired'),
              onAbort: () => m.ends.push('aborted'),
            },
            [key],
            1000,
            signal,
          ),
        );
      };
      for (let step = 0; step < 1500; step++) {
        const choice = rand(10);
        if (choice < 5) park(`k${rand(3)}`, false, 0);
        else if (choice < 8) {
          for (const m of live()) if (rand(3) === 0) m.ready = true;
          const key = `k${rand(3)}`;
          ops.notify(key);
          for (const m of live())
            if (m.ready && m.key === key) throw new Error(`seed ${seed}: ${key} notified, missed`);
        } else if (choice < 9) abort(rand(3));
        else {
          const m = parked[rand(Math.max(1, parked.length))];
          if (m && m.ends.length === 0) {
            m.cancel();
            m.ends.push('cancelled');
          }
        }
        for (const m of parked) if (m.ends.length > 1) throw new Error(`seed ${seed}: ended twice: ${m.ends}`);
        if (ops.size !== live().length) throw new Error(`seed ${seed}: size ${ops.size}, ${live().length} parked`);
      }
      ops.expireAll();
      expect(live()).toEqual([]);
      expect(ops.size).toBe(0);
    }
    expect(abortsInCompletions).toBeGreaterThan(100);
    expect(nestedNotifies).toBeGreaterThan(100);
  });
});
