/**
 * A follower adopts its leader's log start offset from each fetch answer (Kafka's
 * maybeIncrementLogStartOffset), never past its own high watermark, and its epoch cache forgets
 * what lies below (truncateFromStart); its next fetch tells the leader its new start, which the
 * leader's low watermark (DeleteRecords) waits for.
 */
import { encodeBatch } from '@samsa/protocol';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import {
  LeaderEpochCache,
  type Replica,
  type ReplicaFetchRequest,
  type ReplicaFetchResponse,
  ReplicationDriver,
  adoptedLogStart,
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
    clock: {
      now: () => Date.now(),
      schedule: (ms, fn) => {
        const timer = setTimeout(fn, ms);
        return () => clearTimeout(timer);
      },
    },
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
    waiters: { park: () => () => {}, notify: () => {} },
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
      expect(f.saved[0]).toBe(
        JSON.stringify([
          { epoch: 0, startOffset: 2 },
          { epoch: 1, startOffset: 3 },
        ]),
      );
      expect(f.log.logStartOffset).toBe(4);
    } finally {
      await f.driver.close();
    }
  });
});

describe('a follower states the log start it has saved', () => {
  const stated = (requests: ReplicaFetchRequest[]) => requests.map((r) => r.topics[0]!.partitions[0]!.logStartOffset);

  it('not one moved in memory only; it saves that before its next fetch instead of fetching in a loop', async () => {
    // Retention moved the start to 4 in memory; its save (the segment files deleted) waits for drain().
    const f = await follower([answer(6, 4), answer(6, 4), answer(6, 4)], (log) => {
      log.deferStartSaves = true;
      void log.deleteRecordsBefore(4);
    });
    try {
      for (let i = 0; i < 10; i++) await settleMicrotasks();
      expect([f.log.logStartOffset, f.log.savedLogStartOffset]).toEqual([4, 0]);
      // A leader at 4 answers a follower stating 0 at once (no long poll): the follower waits for its save.
      expect(stated(f.requests)).toEqual([0]);
      f.log.drain();
      for (let i = 0; i < 10 && f.requests.length < 2; i++) await settleMicrotasks();
      expect(stated(f.requests).slice(0, 2)).toEqual([0, 4]);
      expect(f.epochCache.epochEntries).toEqual([{ epoch: 1, startOffset: 4 }]);
    } finally {
      await f.driver.close();
    }
  });
});
