import { ErrorCodes } from '@samsa/protocol';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { type Clock, systemClock } from '../../src/clock.js';
import { FollowerDriver } from '../../src/replication/follower-driver.js';
import type { FetchSession, Replica, ReplicaFetchRequest, ReplicaFetchResponse } from '../../src/replication/index.js';

/** A follower replica of leader 1 with an empty answer's worth of state: its log ends at 100. */
function follower(topic: string, partition: number): Replica {
  const log = { state: 'online', logEndOffset: 100, logStartOffset: 0, savedLogStartOffset: 0 };
  return {
    topic,
    partition,
    log,
    epochCache: { latestEpoch: 0 },
    leaderState: undefined,
    role: 'follower',
    leaderEpoch: 0,
    leader: 1,
    isr: [1, 2],
    replicas: [1, 2],
    highWatermark: 0,
  } as unknown as Replica;
}

describe("the follower's fetch loop", () => {
  it("groups a fetch by topic and applies each partition's answer to its own replica, in any order", async () => {
    const requests: ReplicaFetchRequest[] = [];
    let answer: ((response: ReplicaFetchResponse) => void) | undefined;
    let fail: ((err: Error) => void) | undefined;
    const session: FetchSession = {
      fetch: (request) => {
        requests.push(request);
        return new Promise((resolve, reject) => {
          answer = resolve;
          fail = reject;
        });
      },
      close: (reason) => fail?.(reason),
    };
    const driver = new FollowerDriver({
      brokerId: 2,
      clock: systemClock,
      transport: { openFetchSession: () => session },
      saveEpochCache: async () => {},
      logger: pino({ level: 'silent' }),
    });
    // Followed interleaved across two topics: the request lists them by topic.
    const replicas = [follower('a', 0), follower('b', 0), follower('a', 1), follower('b', 1)];
    for (const r of replicas) driver.follow(r);
    try {
      await expect.poll(() => requests.length).toBe(1);
      const listed = requests[0]?.topics.map((t) => `${t.name}:${t.partitions.map((p) => p.partition).join(',')}`);
      expect(listed).toEqual(['a:0,1', 'b:0,1']);
      // Answered out of request order, each partition with a high watermark of its own.
      const part = (partition: number, highWatermark: number) => ({
        partition,
        errorCode: 0,
        errorMessage: '',
        highWatermark,
        logStartOffset: 0,
        records: Buffer.alloc(0),
      });
      answer?.({
        topics: [
          { name: 'b', partitions: [part(1, 14), part(0, 13)] },
          { name: 'a', partitions: [part(1, 12), part(0, 11)] },
        ],
      });
      await expect.poll(() => requests.length).toBe(2);
      expect(replicas.map((r) => `${r.topic}-${r.partition}:${r.highWatermark}`)).toEqual([
        'a-0:11',
        'b-0:13',
        'a-1:12',
        'b-1:14',
      ]);
    } finally {
      await driver.close();
    }
  });

  it('retries within milliseconds, a bounded number of times, a leader unaware of its term', async () => {
    const { session, requests, answer } = scriptedSession();
    const clock = timerClock();
    const driver = new FollowerDriver({
      brokerId: 2,
      clock,
      transport: { openFetchSession: () => session },
      saveEpochCache: async () => {},
      logger: pino({ level: 'silent' }),
      backoffMs: 200,
    });
    driver.follow(follower('t', 0));
    const waits: number[] = [];
    try {
      // Refused by broker 1, the leader this replica's metadata names, as its metadata lags ours.
      for (const code of [
        ErrorCodes.NOT_LEADER_OR_FOLLOWER.code,
        ErrorCodes.UNKNOWN_LEADER_EPOCH.code,
        ErrorCodes.NOT_LEADER_OR_FOLLOWER.code,
        ErrorCodes.NOT_LEADER_OR_FOLLOWER.code,
        ErrorCodes.NOT_LEADER_OR_FOLLOWER.code,
        ErrorCodes.NOT_LEADER_OR_FOLLOWER.code,
      ]) {
        await expect.poll(() => requests.length).toBe(waits.length + 1);
        answer(refusal(code));
        waits.push(await clock.fire());
      }
      // Five quick retries, then the backoff; an answer applied starts the count again.
      expect(waits).toEqual([5, 10, 20, 40, 80, 200]);
      await expect.poll(() => requests.length).toBe(7);
      answer(refusal(ErrorCodes.NONE.code));
      await expect.poll(() => requests.length).toBe(8);
      answer(refusal(ErrorCodes.NOT_LEADER_OR_FOLLOWER.code));
      expect(await clock.fire()).toBe(5);
      // A fenced epoch (ours is older than the leader's) waits for our new role: the backoff at once.
      await expect.poll(() => requests.length).toBe(9);
      answer(refusal(ErrorCodes.FENCED_LEADER_EPOCH.code));
      expect(await clock.fire()).toBe(200);
    } finally {
      clock.release();
      await driver.close();
    }
  });

  it('stops without logging a failure or waiting out the backoff when its fetch is cut by the stop', async () => {
    const { session, requests } = scriptedSession();
    const lines: string[] = [];
    const logger = pino({ level: 'debug' }, { write: (line: string) => lines.push(line) });
    const clock = timerClock();
    const driver = new FollowerDriver({
      brokerId: 2,
      clock,
      transport: { openFetchSession: () => session },
      saveEpochCache: async () => {},
      logger,
      backoffMs: 200,
    });
    driver.follow(follower('t', 0));
    await expect.poll(() => requests.length).toBe(1);
    const stopped = driver.close();
    // Stopped before any timer is set: the loop neither backs off nor logs the cut fetch as a failure.
    const first = await Promise.race([stopped.then(() => 'stopped'), clock.fire().then((ms) => `a ${ms} ms wait`)]);
    clock.release();
    await stopped;
    expect(first).toBe('stopped');
    expect(lines.filter((line) => line.includes('replica fetch failed'))).toEqual([]);
  });
});

/** A fetch session whose every fetch waits for the test's answer; close() fails the one outstanding. */
function scriptedSession() {
  const requests: ReplicaFetchRequest[] = [];
  let pending: { resolve: (r: ReplicaFetchResponse) => void; reject: (err: Error) => void } | undefined;
  const session: FetchSession = {
    fetch: (request) => {
      requests.push(request);
      return new Promise((resolve, reject) => {
        pending = { resolve, reject };
      });
    },
    close: (reason) => pending?.reject(reason),
  };
  const answer = (response: ReplicaFetchResponse): void => {
    const p = pending;
    pending = undefined;
    p?.resolve(response);
  };
  return { session, requests, answer };
}

/** t-0's answer with `errorCode` and nothing else (NONE: an empty answer at the follower's end). */
function refusal(errorCode: number): ReplicaFetchResponse {
  const partition = { partition: 0, errorCode, errorMessage: '', highWatermark: 0, logStartOffset: 0 };
  return { topics: [{ name: 't', partitions: [{ ...partition, records: Buffer.alloc(0) }] }] };
}

/**
 * A clock whose timers fire only when the test says: fire() waits for the next one, fires it and returns
 * its delay; release() fires every timer from then on at once (a loop that backs off still stops).
 */
function timerClock(): Clock & { fire(): Promise<number>; release(): void } {
  const timers: { delayMs: number; fn: () => void }[] = [];
  let released = false;
  let onTimer: (() => void) | undefined;
  const next = async (): Promise<{ delayMs: number; fn: () => void }> => {
    for (;;) {
      const timer = timers.shift();
      if (timer) return timer;
      await new Promise<void>((resolve) => {
        onTimer = resolve;
      });
    }
  };
  return {
    now: () => 0,
    schedule(delayMs, fn) {
      let cancelled = false;
      const timer = { delayMs, fn: () => cancelled || fn() };
      if (released) queueMicrotask(timer.fn);
      else timers.push(timer);
      onTimer?.();
      return () => {
        cancelled = true;
        const index = timers.indexOf(timer);
        if (index >= 0) timers.splice(index, 1);
      };
    },
    async fire() {
      const timer = await next();
      timer.fn();
      return timer.delayMs;
    },
    release() {
      released = true;
      for (const timer of timers.splice(0)) timer.fn();
    },
  };
}
