import { getEventListeners } from 'node:events';
import { describe, expect, it, vi } from 'vitest';
import type { BrokerContext } from '../src/server/context.js';
import { DelayedOperations } from '../src/server/delayed.js';
import { waitForPartitions } from '../src/server/handlers/long-poll.js';

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

  it('takes its abort listener off a long-lived signal once done (a stream serves many polls)', async () => {
    vi.useFakeTimers();
    try {
      const ops = new DelayedOperations();
      const signal = new AbortController().signal;
      let ready = false;
      for (let i = 0; i < 50; i++) ops.park(op(() => ready).op, ['t-0'], 1000, signal);
      for (let i = 0; i < 50; i++) ops.park(op(() => false).op, ['t-1'], 10, signal);
      expect(getEventListeners(signal, 'abort')).toHaveLength(100);
      ready = true;
      ops.notify('t-0');
      vi.advanceTimersByTime(10);
      expect(getEventListeners(signal, 'abort')).toHaveLength(0);

      // The long poll on top of it does the same for its own listener.
      const ctx = { waiters: ops } as unknown as BrokerContext;
      let changed = false;
      const reads = [{ topic: 't', partition: 0, response: {} }];
      const polls = [
        waitForPartitions(ctx, reads, () => changed, 1000, signal),
        waitForPartitions(ctx, reads, () => false, 5, signal),
      ];
      expect(getEventListeners(signal, 'abort')).toHaveLength(2);
      changed = true;
      ops.notify('t\u00000');
      vi.advanceTimersByTime(5);
      await Promise.all(polls);
      expect(getEventListeners(signal, 'abort')).toHaveLength(0);
    } finally {
      vi.useRealTimers();
    }
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
