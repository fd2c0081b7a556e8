/**
 * A follower adopts its leader's log start offset from each fetch answer (Kafka's
 * maybeIncrementLogStartOffset), never past its own high watermark, and its epoch cache forgets
 * what lies below (truncateFromStart); its next fetch tells the leader its new start, which the
 * leader's low watermark (DeleteRecords) waits for.
 */
import { encodeBatch, stampBatch } from '@samsa/protocol';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { systemClock } from '../../src/clock.js';
import {
  LeaderEpochCache,
  type Replica,
  type ReplicaFetchRequest,
  type ReplicaFetchResponse,
  ReplicationDriver,
  adoptedLogStart,
  afterLogStartMoved,
} from '../../src/replication/index.js';
import { settleMicrotasks } from './sim/clock.js';
import { MemoryLog } from './sim/memory-log.js';

const answer = (highWatermark: number, logStartOffset: number): ReplicaFetchResponse => ({
  topics: [
    {
      name: 't',
      partitions: [
        { partition: 0, errorCode: 0, errorMessage: '', highWatermark, logStartOffset, records: Buffer.alloc(0) },
      ],
    },
  ],
});

/**
 * A follower of broker 2 holding offsets 0-5 (epoch 0 for 0-2, epoch 1 for 3-5), HW 1; `prepare`
 * changes its log before it starts following.
 */
async function follower(answers: ReplicaFetchResponse[], prepare?: (log: MemoryLog) => void) {
  const log = new MemoryLog(() => 'x');
  const epochCache = new LeaderEpochCache();
  for (const epoch of [0, 0, 0, 1, 1, 1]) {
    const batch = encodeBatch([{ key: null, value: Buffer.from('v'), headers: [] }], { now: 0 });
    const { baseOffset } = await log.append(batch, { leaderEpoch: epoch });
    epochCache.assign(epoch, baseOffset);
  }
  prepare?.(log);
  const replica: Replica = {
    topic: 't',
    partition: 0,
    log,
    epochCache,
    leaderState: undefined,
    role: 'follower',
    leaderEpoch: 1,
    leader: -1,
    isr: [1, 2],
    replicas: [1, 2],
    highWatermark: 1,
  };
  const requests: ReplicaFetchRequest[] = [];
  const saved: string[] = [];
  const driver = new ReplicationDriver({
    brokerId: 1,
    replicaLagTimeMaxMs: 30_000,
    // Real timers: the fetch loop's backoff after its session closes must fire for close() to finish.
    clock: systemClock,
    transport: {
      openFetchSession: () => {
        let closed: (err: Error) => void = () => {};
        return {
          fetch: (request) => {
            requests.push(request);
            const next = answers.shift();
            return next ? Promise.resolve(next) : new Promise((_, reject) => (closed = reject));
          },
          close: (reason) => closed(reason),
        };
      },
      alterPartition: () => Promise.reject(new Error('no controller in this test')),
    },
    waiters: { park: () => ({ cancel: () => {} }), notify: () => {} },
    committedState: () => undefined,
    minInsyncReplicas: () => 1,
    saveEpochCache: async (r) => {
      saved.push(JSON.stringify(r.epochCache.epochEntries));
    },
    logger: pino({ level: 'silent' }),
  });
  await driver.applyRole(replica, { kind: 'follower', leader: 2, leaderEpoch: 1, isr: [1, 2], replicas: [1, 2] });
  return { log, epochCache, replica, requests, saved, driver };
}

describe('adoptedLogStart', () => {
  it("takes the leader's start, bounded by the follower's high watermark, and never moves back", () => {
    expect(adoptedLogStart(0, 4, 10)).toBe(4);
    expect(adoptedLogStart(0, 4, 2)).toBe(2);
    expect(adoptedLogStart(3, 2, 10)).toBeUndefined();
    expect(adoptedLogStart(3, 5, 3)).toBeUndefined();
  });
});

describe("a follower adopts its leader's log start", () => {
  it('deletes below it, truncates its epoch cache from the start, and reports it in the next fetch', async () => {
    const f = await follower([answer(5, 4)]);
    try {
      for (let i = 0; i < 10 && f.requests.length < 2; i++) await settleMicrotasks();
      expect(f.requests[0]!.topics[0]!.partitions[0]!.logStartOffset).toBe(0);
      expect(f.log.logStartOffset).toBe(4);
      expect(f.epochCache.epochEntries).toEqual([{ epoch: 1, startOffset: 4 }]);
      expect(f.saved.at(-1)).toBe(JSON.stringify([{ epoch: 1, startOffset: 4 }]));
      expect(f.requests[1]!.topics[0]!.partitions[0]!.logStartOffset).toBe(4);
    } finally {
      await f.driver.close();
    }
  });

  it('never past its own high watermark: only committed records are deleted', async () => {
    // The leader's HW (2) is behind its start (4) as this follower last heard: it keeps offsets from 2.
    const f = await follower([answer(2, 4), answer(6, 4)]);
    try {
      for (let i = 0; i < 10 && f.requests.length < 3; i++) await settleMicrotasks();
      const starts = f.requests.map((r) => r.topics[0]!.partitions[0]!.logStartOffset);
      expect(starts).toEqual([0, 2, 4]);
      expect(f.log.logStartOffset).toBe(4);
      expect(f.epochCache.epochEntries).toEqual([{ epoch: 1, startOffset: 4 }]);
    } finally {
      await f.driver.close();
    }
  });
});

describe('afterLogStartMoved', () => {
  it('clamps the epoch cache to the saved start, not a later one moved in memory and not saved yet', async () => {
    // An adoption's save ended while a later adoption's start is moved in memory only: a cache saved
    // clamped to that one would leave offsets 4-5 without an epoch after a crash (REPLICATION.md).
    const log = new MemoryLog(() => 'x');
    for (let i = 0; i < 8; i++) await log.append(recordAt(0, i < 3 ? 0 : 1), { leaderEpoch: i < 3 ? 0 : 1 });
    log.deferStartSaves = true;
    void log.deleteRecordsBefore(4);
    log.drain();
    void log.deleteRecordsBefore(6); // held
    expect([log.logStartOffset, log.savedLogStartOffset]).toEqual([6, 4]);
    const epochCache = new LeaderEpochCache([
      { epoch: 0, startOffset: 0 },
      { epoch: 1, startOffset: 3 },
    ]);
    const replica = { topic: 't', partition: 0, log, epochCache, leaderState: undefined } as unknown as Replica;
    await afterLogStartMoved(replica, async () => {});
    expect(epochCache.epochEntries).toEqual([{ epoch: 1, startOffset: 4 }]);
  });
});

describe('a follower states the log start it has saved', () => {
  const stated = (requests: ReplicaFetchRequest[]) =>
    requests.map((r) => {
      const p = r.topics[0]!.partitions[0]!;
      return [p.logStartOffset, p.unsavedLogStartOffset];
    });

  it('not one moved in memory only: that one goes as unsaved, and the fetch after its save states it', async () => {
    // Retention moved the start to 4 in memory; its save (the segment files deleted) waits for drain().
    const f = await follower([answer(6, 4), answer(6, 4), answer(6, 4)], (log) => {
      log.deferStartSaves = true;
      void log.deleteRecordsBefore(4);
    });
    try {
      for (let i = 0; i < 10; i++) await settleMicrotasks();
      expect([f.log.logStartOffset, f.log.savedLogStartOffset]).toEqual([4, 0]);
      // Each fetch went out at once (the leader, told of the unsaved 4, long-polls it: not in a loop here).
      expect(stated(f.requests)).toEqual([
        [0, 4],
        [0, 4],
        [0, 4],
        [0, 4],
      ]);
      // While its save runs the follower polls briefly, then longer, so the leader hears of the save soon
      // after a quick one, with a few fetches more during a slow one.
      expect(f.requests.map((r) => r.maxWaitMs)).toEqual([500, 1, 2, 4]);
    } finally {
      await f.driver.close();
    }
  });
});

/** One record at `offset` written by leader epoch `epoch`, as a leader would send it. */
function recordAt(offset: number, epoch: number): Buffer {
  const batch = encodeBatch([{ key: null, value: Buffer.from(`r${offset}`), headers: [] }], { now: 0 });
  stampBatch(batch, 0, offset, epoch);
  return batch;
}

describe("one partition's slow start save holds no other partition", () => {
  it('the next fetch goes out at once with the saved start; the fetch after the save states the new one', async () => {
    const slow = new MemoryLog(() => 'x');
    for (let i = 0; i < 6; i++) await slow.append(recordAt(0, 1), { leaderEpoch: 1 });
    slow.deferStartSaves = true; // t-0's save waits for drain()
    const fast = new MemoryLog(() => 'y');
    const replica = (partition: number, log: MemoryLog, highWatermark: number): Replica => ({
      topic: 't',
      partition,
      log,
      epochCache: new LeaderEpochCache(log.logEndOffset > 0 ? [{ epoch: 1, startOffset: 0 }] : []),
      leaderState: undefined,
      role: 'follower',
      leaderEpoch: 1,
      leader: -1,
      isr: [1, 2],
      replicas: [1, 2],
      highWatermark,
    });
    const requests: ReplicaFetchRequest[] = [];
    const pending: Array<(response: ReplicaFetchResponse) => void> = [];
    const driver = new ReplicationDriver({
      brokerId: 1,
      replicaLagTimeMaxMs: 30_000,
      clock: systemClock,
      transport: {
        openFetchSession: () => ({
          fetch: (request) =>
            new Promise((resolve) => {
              requests.push(request);
              pending.push(resolve);
            }),
          close: () => {},
        }),
        alterPartition: () => Promise.reject(new Error('no controller in this test')),
      },
      waiters: { park: () => ({ cancel: () => {} }), notify: () => {} },
      committedState: () => undefined,
      minInsyncReplicas: () => 1,
      saveEpochCache: async () => {},
      logger: pino({ level: 'silent' }),
    });
    const role = { kind: 'follower', leader: 2, leaderEpoch: 1, isr: [1, 2], replicas: [1, 2] } as const;
    const t0 = replica(0, slow, 1);
    const t1 = replica(1, fast, 0);
    await driver.applyRole(t0, role);
    await driver.applyRole(t1, role);
    const partition = (
      p: number,
      highWatermark: number,
      logStartOffset: number,
      records: Buffer = Buffer.alloc(0),
    ) => ({
      partition: p,
      errorCode: 0,
      errorMessage: '',
      highWatermark,
      logStartOffset,
      records,
    });
    /** Answers the outstanding fetch and waits for the next one. */
    const reply = async (...partitions: ReturnType<typeof partition>[]) => {
      const count = requests.length;
      pending.shift()!({ topics: [{ name: 't', partitions }] });
      for (let i = 0; i < 20 && requests.length === count; i++) await settleMicrotasks();
      expect(requests.length, 'the next fetch went out').toBe(count + 1);
      const next = requests.at(-1)!.topics[0]!.partitions;
      return next.map((p) => [p.partition, p.fetchOffset, p.logStartOffset, p.unsavedLogStartOffset]);
    };
    try {
      for (let i = 0; i < 10 && requests.length === 0; i++) await settleMicrotasks();
      // The first fetch went out before t-1 was followed.
      expect(await reply(partition(0, 1, 0))).toEqual([
        [0, 6, 0, undefined],
        [1, 0, 0, undefined],
      ]);
      // The leader deleted t-0 below 4 (its HW 6); t-1 gets a record. t-0's save is held (drain).
      expect(await reply(partition(0, 6, 4), partition(1, 1, 0, recordAt(0, 1)))).toEqual([
        [0, 6, 0, 4], // the saved start, and the one being saved
        [1, 1, 0, undefined], // copied, without waiting for t-0's save
      ]);
      expect(requests.at(-1)!.maxWaitMs).toBe(1);
      // t-0 copies a record of epoch 2 while its start's save is held.
      expect(await reply(partition(0, 6, 4, recordAt(6, 2)), partition(1, 2, 0, recordAt(1, 1)))).toEqual([
        [0, 7, 0, 4],
        [1, 2, 0, undefined],
      ]);
      expect(slow.logStartOffset).toBe(4);
      // Its epoch cache (saved with the record's new entry) still covers the saved start: clamped to
      // the unsaved one (until 2026-12-07), a crash before the start's save reopened offsets 0-3 with
      // no epoch, and this replica, as leader, told a stale follower that an older epoch ended at 4.
      expect(t0.epochCache.epochEntries[0]!.startOffset).toBeLessThanOrEqual(slow.savedLogStartOffset);
      // A divergence check that truncates nothing (the leader's epoch 2 ends past our end) keeps the
      // save in view: still stated as unsaved, still a short poll (it was forgotten, as if the
      // truncation had waited for it: polls of replica.fetch.wait.max.ms, which a leader holds).
      const noCut = { ...partition(0, 6, 4), divergingEpoch: { epoch: 2, endOffset: 9 } };
      expect(await reply(noCut, partition(1, 2, 0)), 'a no-op truncation').toEqual([
        [0, 7, 0, 4],
        [1, 2, 0, undefined],
      ]);
      expect(requests.at(-1)!.maxWaitMs).toBeLessThan(500);
      slow.drain(); // t-0's start is saved: the fetch after it states it
      expect(await reply(partition(0, 7, 4), partition(1, 2, 0))).toEqual([
        [0, 7, 4, undefined],
        [1, 2, 0, undefined],
      ]);
      expect(requests.at(-1)!.maxWaitMs).toBe(500);
      expect(t0.epochCache.epochEntries).toEqual([
        { epoch: 1, startOffset: 4 },
        { epoch: 2, startOffset: 6 },
      ]);
    } finally {
      const closing = driver.close();
      for (const resolve of pending) resolve({ topics: [] });
      await closing;
    }
  });
});
