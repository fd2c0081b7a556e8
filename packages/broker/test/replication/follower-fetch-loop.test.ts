import { ErrorCodes, encodeBatch, recordsEndOffset } from '@samsa/protocol';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { type Clock, systemClock } from '../../src/clock.js';
import { FollowerDriver, type FollowerDriverOptions } from '../../src/replication/follower-driver.js';
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
    const driver = driverOver(session, systemClock);
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
    const driver = driverOver(session, clock, { backoffMs: 200 });
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
    const driver = driverOver(session, clock, { logger, backoffMs: 200 });
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
  it('sets no delay for a partition whose answer fails after the loop was stopped', async () => {
    const { session, requests, answer } = scriptedSession();
    // The real timers, counted: a delay set after close() would keep the process up to backoffMs.
    const live = new Set<object>();
    const clock: Clock = {
      ...systemClock,
      schedule(delayMs, fn) {
        const timer = {};
        live.add(timer);
        const cancel = systemClock.schedule(delayMs, () => {
          live.delete(timer);
          fn();
        });
        return () => {
          live.delete(timer);
          cancel();
        };
      },
    };
    const driver = driverOver(session, clock, { backoffMs: 60_000 });
    // t-0's write is under way when the loop stops, and then fails (the log closed under it).
    const replica = copying('t', 0);
    let failWrite!: (err: Error) => void;
    let writing = false;
    (replica.log as unknown as { appendAsFollower(records: Buffer): Promise<void> }).appendAsFollower = () => {
      writing = true;
      return new Promise((_, reject) => {
        failWrite = reject;
      });
    };
    driver.follow(replica);
    await expect.poll(() => requests.length).toBe(1);
    answer(answers([records(0, 100)]));
    await expect.poll(() => writing).toBe(true);
    const stopped = driver.close();
    failWrite(new Error('log closed'));
    await stopped;
    expect(live.size).toBe(0);
  });

  it("settles a partition's inFlight once its own answer is applied, not the answer's slowest", async () => {
    const { session, requests, answer } = scriptedSession();
    const driver = driverOver(session, systemClock);
    const fast = copying('t', 0);
    const slow = copying('t', 1);
    let finishSlow!: () => void;
    (slow.log as unknown as { appendAsFollower(records: Buffer): Promise<void> }).appendAsFollower = () =>
      new Promise((resolve) => {
        finishSlow = resolve;
      });
    driver.follow(fast);
    driver.follow(slow);
    try {
      await expect.poll(() => requests.length).toBe(1);
      expect(listed(requests[0])).toEqual(['t-0@100', 't-1@100']);
      answer(answers([records(0, 100), records(1, 100)]));
      await expect.poll(() => finishSlow !== undefined).toBe(true);
      // t-0's answer is applied (its log grew) while t-1's write is still under way.
      await expect.poll(() => fast.log.logEndOffset).toBe(101);
      const fastWork = driver.inFlight(fast);
      if (fastWork !== undefined) await fastWork; // settles without t-1's write
      const slowWork = driver.inFlight(slow);
      expect(slowWork).toBeDefined();
      let slowDone = false;
      void slowWork?.then(() => {
        slowDone = true;
      });
      await Promise.resolve();
      expect(slowDone).toBe(false);
      finishSlow();
      await slowWork;
      await expect.poll(() => driver.inFlight(slow) === undefined && driver.inFlight(fast) === undefined).toBe(true);
    } finally {
      await driver.close();
    }
  });

  it('leaves out only the partition whose answer failed and fetches the others at once', async () => {
    const { session, requests, answer } = scriptedSession();
    const clock = timerClock();
    const driver = driverOver(session, clock, { backoffMs: 200 });
    // t-0's own log fails every write (a storage error here, not the leader's); t-1 copies.
    const broken = copying('t', 0, new Error('EIO: i/o error, write'));
    const healthy = copying('t', 1);
    driver.follow(broken);
    driver.follow(healthy);
    try {
      await expect.poll(() => requests.length).toBe(1);
      expect(listed(requests[0])).toEqual(['t-0@100', 't-1@100']);
      answer(answers([records(0, 100), records(1, 100)]));
      // No timer fired: t-1 is fetched again at once, without t-0, and with a long poll that ends when
      // t-0's backoff does (the fake clock's now() stands still: the whole backoff).
      await expect.poll(() => requests.length).toBe(2);
      expect(listed(requests[1])).toEqual(['t-1@101']);
      expect(requests[1]?.maxWaitMs).toBe(200);
      answer(answers([records(1, 101)]));
      await expect.poll(() => requests.length).toBe(3);
      expect(listed(requests[2])).toEqual(['t-1@102']);
      // t-0's backoff ends while t-1's fetch is out: the fetch after it asks for both again.
      expect(await clock.fire()).toBe(200);
      answer(answers([records(1, 102)]));
      await expect.poll(() => requests.length).toBe(4);
      expect(listed(requests[3])).toEqual(['t-0@100', 't-1@103']);
      // A leader still starting t-0's term: t-0 is retried after 5 ms, and so is the long poll of t-1.
      answer(answers([refused(0, ErrorCodes.NOT_LEADER_OR_FOLLOWER.code), records(1, 103)]));
      await expect.poll(() => requests.length).toBe(5);
      expect(listed(requests[4])).toEqual(['t-1@104']);
      expect(requests[4]?.maxWaitMs).toBe(5);
    } finally {
      clock.release();
      await driver.close();
    }
  });

  it('fetches a delayed partition at once when metadata brings its new role', async () => {
    const { session, requests, answer } = scriptedSession();
    const clock = timerClock();
    const driver = driverOver(session, clock, { backoffMs: 200 });
    const fenced = copying('t', 0);
    driver.follow(fenced);
    driver.follow(copying('t', 1));
    try {
      await expect.poll(() => requests.length).toBe(1);
      // Our epoch for t-0 is older than the leader's: left out until the backoff ends or metadata comes.
      answer(answers([refused(0, ErrorCodes.FENCED_LEADER_EPOCH.code), records(1, 100)]));
      await expect.poll(() => requests.length).toBe(2);
      expect(listed(requests[1])).toEqual(['t-1@101']);
      (fenced as { leaderEpoch: number }).leaderEpoch = 1;
      driver.follow(fenced);
      answer(answers([records(1, 101)]));
      // No timer fired: the new role is in the next fetch (listed after t-1 now), with its new epoch.
      await expect.poll(() => requests.length).toBe(3);
      expect(listed(requests[2])).toEqual(['t-1@102', 't-0@100']);
      expect(requests[2]?.topics[0]?.partitions[1]?.currentLeaderEpoch).toBe(1);
    } finally {
      clock.release();
      await driver.close();
    }
  });

  it('backs off the whole loop when the fetch fails; a partition delay ending does not cut it short', async () => {
    const { session, requests, answer, fail } = scriptedSession();
    const clock = timerClock();
    const driver = driverOver(session, clock, { backoffMs: 200 });
    driver.follow(copying('t', 0));
    driver.follow(copying('t', 1));
    try {
      await expect.poll(() => requests.length).toBe(1);
      answer(answers([refused(0, ErrorCodes.FENCED_LEADER_EPOCH.code), records(1, 100)]));
      await expect.poll(() => requests.length).toBe(2);
      expect(listed(requests[1])).toEqual(['t-1@101']);
      fail(new Error('14 UNAVAILABLE: connection dropped'));
      // First the end of t-0's delay (set first), then the loop's backoff; only the latter sends.
      expect(await clock.fire()).toBe(200);
      for (let i = 0; i < 5; i++) await new Promise((resolve) => setImmediate(resolve));
      expect(requests.length).toBe(2);
      expect(await clock.fire()).toBe(200);
      await expect.poll(() => requests.length).toBe(3);
      expect(listed(requests[2])).toEqual(['t-0@100', 't-1@101']);
    } finally {
      clock.release();
      await driver.close();
    }
  });
});

/**
 * A follower replica of leader 1 whose log ends at 100 and takes what it is sent (or fails with
 * `appendError`, as a full or failing disk does).
 */
/** A follower driver (broker 2) fetching over `session` on `clock`, silent unless given a logger. */
function driverOver(
  session: FetchSession,
  clock: Clock,
  options: Partial<Pick<FollowerDriverOptions<Replica>, 'logger' | 'backoffMs'>> = {},
): FollowerDriver {
  return new FollowerDriver({
    brokerId: 2,
    clock,
    transport: { openFetchSession: () => session },
    saveEpochCache: async () => {},
    logger: pino({ level: 'silent' }),
    ...options,
  });
}

function copying(topic: string, partition: number, appendError?: Error): Replica {
  const replica = follower(topic, partition);
  const log = replica.log as unknown as { logEndOffset: number; appendAsFollower(records: Buffer): Promise<void> };
  log.appendAsFollower = async (records) => {
    if (appendError) throw appendError;
    log.logEndOffset = recordsEndOffset(records, log.logEndOffset);
  };
  (replica.epochCache as unknown as { truncateFromStart(offset: number): boolean }).truncateFromStart = () => false;
  return replica;
}

/** Each partition a request asks for, with its fetch offset: `t-1@101`. */
function listed(request: ReplicaFetchRequest | undefined): string[] {
  return (request?.topics ?? []).flatMap((t) => t.partitions.map((p) => `${t.name}-${p.partition}@${p.fetchOffset}`));
}

type PartitionAnswer = ReplicaFetchResponse['topics'][number]['partitions'][number];

/** Topic t's answer with these partitions'. */
function answers(partitions: PartitionAnswer[]): ReplicaFetchResponse {
  return { topics: [{ name: 't', partitions }] };
}

/** One record at `offset` in epoch 0, the leader's high watermark just past it. */
function records(partition: number, offset: number): PartitionAnswer {
  const batch = encodeBatch([{ key: null, value: Buffer.from('v'), headers: [] }], {
    baseOffset: offset,
    partitionLeaderEpoch: 0,
    now: 0,
  });
  return { partition, errorCode: 0, errorMessage: '', highWatermark: offset + 1, logStartOffset: 0, records: batch };
}

function refused(partition: number, errorCode: number): PartitionAnswer {
  return { partition, errorCode, errorMessage: '', highWatermark: 0, logStartOffset: 0, records: Buffer.alloc(0) };
}

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
  const fail = (err: Error): void => {
    const p = pending;
    pending = undefined;
    p?.reject(err);
  };
  return { session, requests, answer, fail };
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
