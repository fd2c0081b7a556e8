/**
 * LeaderDriver.becomeLeader against a real partition log. The partition answers as leader before its
 * term's LeaderState exists (the epoch checkpoint is written in between), so acks=0/1 produces can
 * append in that window: the term must start from the log end as it is then, or those records sit
 * above a high watermark that nothing moves until the next append (consumers would not see them).
 */
import { mkdtemp, open, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ErrorCodes } from '@samsa/protocol';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { systemClock } from '../../src/clock.js';
import { TOPIC_SETTINGS, resolveSettings } from '../../src/config.js';
import {
  LeaderDriver,
  LeaderEpochCache,
  partitionKey,
  saveEpochCache,
  validateFollowerFetch,
} from '../../src/replication/index.js';
import { DelayedOperations } from '../../src/server/delayed.js';
import type { HostedPartition, ReplicaRole } from '../../src/server/partitions.js';
import { writeMarkerOn } from '../../src/server/txn-runtime.js';
import { type LogConfig, TailBudget, openPartitionLog } from '../../src/storage/index.js';
import { makeBatch } from '../storage/helpers.js';

let dir: string | undefined;
afterEach(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
  dir = undefined;
});

function leaderDriver(
  waiters = new DelayedOperations(),
  exposeUnwrittenAppends = false,
  saveEpoch: (h: HostedPartition) => Promise<void> = (h) => saveEpochCache(h.log.dir, h.epochCache),
): LeaderDriver<HostedPartition> {
  return new LeaderDriver<HostedPartition>({
    brokerId: 1,
    exposeUnwrittenAppends,
    replicaLagTimeMaxMs: 30_000,
    clock: systemClock,
    transport: { alterPartition: () => Promise.reject(new Error('no controller in this test')) },
    waiters,
    committedState: () => undefined,
    minInsyncReplicas: (h) => h.settings['min.insync.replicas'] as number,
    saveEpochCache: saveEpoch,
    logger: pino({ level: 'silent' }),
  });
}

/** Partition t-0 in a fresh temporary log directory, led by broker 1 at epoch 0 with `replicas` all in sync. */
async function hostedPartition(
  replicas: number[],
  tailBudget?: TailBudget,
  config?: Partial<LogConfig>,
): Promise<HostedPartition> {
  dir = await mkdtemp(join(tmpdir(), 'samsa-leadership-'));
  return {
    topic: 't',
    topicId: '',
    partition: 0,
    log: await openPartitionLog({ dir, ...(tailBudget && { tailBudget }), ...(config && { config }) }),
    epochCache: new LeaderEpochCache(),
    leaderState: undefined,
    role: 'leader',
    leaderEpoch: 0,
    leader: 1,
    isr: [...replicas],
    replicas: [...replicas],
    highWatermark: 0,
    settings: resolveSettings(TOPIC_SETTINGS),
  };
}

function leaderRole(leaderEpoch: number, isr: number[]): ReplicaRole {
  return {
    kind: 'leader',
    topic: 't',
    partition: 0,
    leader: 1,
    leaderEpoch,
    isr,
    replicas: [1, 2, 3],
    stateMzxid: '',
    topicId: '',
  };
}

/**
 * Broker 1 leading `hosted` alone at epoch 0 with 3 records, and a commit marker for it that passed the
 * leader check and waits in a queue (as behind a coordinator's writes) until `release`.
 */
async function queuedMarker(hosted: HostedPartition, leadership: LeaderDriver<HostedPartition>) {
  await leadership.becomeLeader(hosted, { ...leaderRole(0, [1]), replicas: [1] });
  await leadership.append(hosted, makeBatch({ count: 3 }), 1, 1000, new AbortController().signal);
  let release!: () => void;
  const queue = new Promise<void>((resolve) => {
    release = resolve;
  });
  const marker = {
    producerId: 9,
    producerEpoch: 1,
    committed: true,
    topics: [],
    coordinatorEpoch: 0,
    sameEpoch: false,
    txnStartMs: 0,
  };
  const signal = new AbortController().signal;
  const written = writeMarkerOn(hosted, leadership, marker, Date.now(), signal, (append) => queue.then(append));
  return { written, release };
}

describe('LeaderDriver.becomeLeader', () => {
  it('starts a same-leader epoch bump after the appends stamped with the old epoch', async () => {
    const hosted = await hostedPartition([1, 2, 3]);
    const log = hosted.log;
    const leadership = leaderDriver();
    try {
      await leadership.becomeLeader(hosted, leaderRole(0, [1, 2, 3]));
      await leadership.append(hosted, makeBatch({ count: 3 }), 1, 1000, new AbortController().signal);
      // Two acks=1 produces of epoch 0 are queued on the log's chain when the controller bumps the
      // epoch with the same leader (a dead follower leaves the ISR); a third arrives right after.
      const signal = new AbortController().signal;
      const old = [
        leadership.append(hosted, makeBatch({ count: 2 }), 1, 1000, signal),
        leadership.append(hosted, makeBatch({ count: 2 }), 1, 1000, signal),
      ];
      leadership.resign(hosted);
      hosted.leaderEpoch = 1;
      hosted.isr = [1, 2];
      const becoming = leadership.becomeLeader(hosted, leaderRole(1, [1, 2]));
      const next = leadership.append(hosted, makeBatch({ count: 1 }), 1, 1000, signal);
      await Promise.all([...old, becoming]);
      const fresh = await next;
      expect((await Promise.all(old)).map((a) => a.baseOffset)).toEqual([3, 5]);
      // Epoch 1 starts after the last epoch-0 batch and at its own first batch.
      expect(hosted.epochCache.epochEntries).toEqual([
        { epoch: 0, startOffset: 0 },
        { epoch: 1, startOffset: 7 },
      ]);
      expect(fresh.baseOffset).toBe(7);
      expect(hosted.leaderState!.leaderEpoch).toBe(1);
      // A follower that copied every epoch-0 batch fetches on without diverging.
      const fetch = { fetchOffset: 7, currentLeaderEpoch: 1, lastFetchedEpoch: 0 };
      const leader = { leaderEpoch: 1, epochCache: hosted.epochCache, logStartOffset: 0, logEndOffset: 8 };
      expect(validateFollowerFetch(fetch, leader).kind).toBe('ok');
    } finally {
      leadership.stop();
      await log.close();
    }
  });

  it('holds a transaction marker queued across a same-leader epoch bump until the new epoch has started', async () => {
    const hosted = await hostedPartition([1]);
    const log = hosted.log;
    const leadership = leaderDriver();
    try {
      // The marker passed the leader check and waits behind a coordinator's writes (OrderedMarkerAppend)
      // when the controller bumps the epoch; its queue releases it while the new epoch is starting.
      const { written, release } = await queuedMarker(hosted, leadership);
      const signal = new AbortController().signal;
      const old = leadership.append(hosted, makeBatch({ count: 2 }), 1, 1000, signal);
      leadership.resign(hosted);
      hosted.leaderEpoch = 1;
      const becoming = leadership.becomeLeader(hosted, { ...leaderRole(1, [1]), replicas: [1] });
      release();
      // Its acks=all wait may find no term yet (NotLeaderOrFollower: the coordinator writes it again).
      await Promise.all([old, becoming, written.catch(() => undefined)]);
      // Epoch 1 starts at or below its first batch, the marker: never above a batch stamped with it.
      const start = hosted.epochCache.epochEntries.find((e) => e.epoch === 1)!.startOffset;
      expect(start).toBe(5);
      expect(log.logEndOffset).toBe(6);
    } finally {
      leadership.stop();
      await log.close();
    }
  });

  for (const bump of [false, true]) {
    it(`drops a marker whose queue ends with this broker a follower${bump ? ' (epoch starting)' : ''}`, async () => {
      const hosted = await hostedPartition([1]);
      const log = hosted.log;
      const leadership = leaderDriver();
      try {
        // The marker passed the leader check and waits behind a coordinator's writes (OrderedMarkerAppend).
        const { written, release } = await queuedMarker(hosted, leadership);
        let becoming: Promise<void> | undefined;
        if (bump) {
          leadership.resign(hosted);
          hosted.leaderEpoch = 1;
          becoming = leadership.becomeLeader(hosted, { ...leaderRole(1, [1]), replicas: [1] });
        }
        release();
        // Meanwhile the controller moves the partition on: broker 2 leads epoch 2.
        leadership.resign(hosted);
        hosted.role = 'follower';
        hosted.leader = 2;
        hosted.leaderEpoch = 2;
        await becoming;
        await expect(written).rejects.toMatchObject({ code: 6 }); // NotLeaderOrFollower: written again elsewhere
        // Appended here it would be stamped with the new leader's epoch at an offset that leader never
        // wrote: this follower's fetch (last epoch 2) would not truncate it.
        expect(log.logEndOffset).toBe(3);
      } finally {
        leadership.stop();
        await log.close();
      }
    });
  }

  it('answers an acks=all producer of the previous term when the same leader gets a new epoch', async () => {
    const hosted = await hostedPartition([1, 2]);
    const log = hosted.log;
    const leadership = leaderDriver();
    try {
      await leadership.becomeLeader(hosted, { ...leaderRole(0, [1, 2]), replicas: [1, 2] });
      // Waits for broker 2, which dies; the controller takes it out of the ISR with epoch 1.
      const produce = leadership.append(hosted, makeBatch({ count: 2 }), -1, 10_000, new AbortController().signal);
      const outcome = produce.then(
        () => 'acknowledged',
        (err: unknown) => String(err),
      );
      await log.appendsSettled();
      await new Promise(setImmediate); // the produce parks its acks=all wait
      expect(hosted.log.logEndOffset).toBe(2);
      leadership.keepLeading(hosted);
      leadership.resign(hosted);
      hosted.leaderEpoch = 1;
      hosted.isr = [1];
      await leadership.becomeLeader(hosted, { ...leaderRole(1, [1]), replicas: [1, 2] });
      // Alone in the ISR with min.insync.replicas=1, the new term commits the records at once.
      expect(hosted.highWatermark).toBe(2);
      expect(await outcome).toBe('acknowledged');
    } finally {
      leadership.stop();
      await log.close();
    }
  });

  it('holds an acks=all append that arrives while a new term saves its epoch, and appends in that term', async () => {
    const hosted = await hostedPartition([1, 2]);
    let held: Promise<void> | undefined;
    let saving = false;
    const leadership = leaderDriver(new DelayedOperations(), false, () => {
      saving = true;
      return held ?? Promise.resolve();
    });
    try {
      await leadership.becomeLeader(hosted, { ...leaderRole(0, [1, 2]), replicas: [1, 2] });
      // Broker 2 left the ISR: epoch 1 for the same leader, whose save (an fsync) is held.
      let release!: () => void;
      held = new Promise<void>((r) => {
        release = r;
      });
      saving = false;
      leadership.keepLeading(hosted);
      leadership.resign(hosted);
      hosted.leaderEpoch = 1;
      hosted.isr = [1];
      const term = leadership.becomeLeader(hosted, { ...leaderRole(1, [1]), replicas: [1, 2] });
      while (!saving) await new Promise(setImmediate);
      const produce = leadership.append(hosted, makeBatch({ count: 2 }), -1, 60_000, new AbortController().signal);
      const outcome = produce.then(
        (appended) => appended.baseOffset,
        (err: unknown) => String(err),
      );
      await new Promise(setImmediate); // refused by now without the wait for the term
      release();
      await term;
      expect(await outcome).toBe(0);
      expect(hosted.highWatermark).toBe(2);
    } finally {
      leadership.stop();
      await hosted.log.close();
    }
  });

  it('tells a follower refused while the term starts that it has not started, not no replica', async () => {
    const hosted = await hostedPartition([1, 2]);
    let release!: () => void;
    const held = new Promise<void>((r) => {
      release = r;
    });
    const leadership = leaderDriver(new DelayedOperations(), false, () => held);
    const fetch = {
      partition: 0,
      fetchOffset: 0,
      currentLeaderEpoch: 0,
      lastFetchedEpoch: -1,
      partitionMaxBytes: 1024,
    };
    try {
      const term = leadership.becomeLeader(hosted, { ...leaderRole(0, [1, 2]), replicas: [1, 2] });
      const starting = await leadership.answerFetch(hosted, 2, fetch, 1024, true);
      expect(starting.errorCode).toBe(ErrorCodes.NOT_LEADER_OR_FOLLOWER.code);
      expect(starting.errorMessage).toBe("broker 1's term as leader of t-0 (epoch 0) has not started yet");
      release();
      await term;
      const stranger = await leadership.answerFetch(hosted, 3, fetch, 1024, true);
      expect(stranger.errorMessage).toBe('broker 3 is not a replica of t-0');
      leadership.resign(hosted);
      const resigned = await leadership.answerFetch(hosted, 2, fetch, 1024, true);
      expect(resigned.errorMessage).toBe('broker 1 has no term as leader of t-0');
    } finally {
      release();
      leadership.stop();
      await hosted.log.close();
    }
  });

  it('starts the term from the log end after the epoch checkpoint, counting appends made meanwhile', async () => {
    const hosted = await hostedPartition([1]);
    const log = hosted.log;
    const change: ReplicaRole = {
      kind: 'leader',
      topic: 't',
      partition: 0,
      leader: 1,
      leaderEpoch: 0,
      isr: [1],
      replicas: [1],
      stateMzxid: '',
      topicId: '',
    };
    const waiters = new DelayedOperations();
    const leadership = leaderDriver(waiters);
    try {
      const becoming = leadership.becomeLeader(hosted, change);
      // A produce with acks=1 lands while the epoch checkpoint is being written.
      await log.append(makeBatch({ count: 2 }), { leaderEpoch: 0 });
      leadership.onLeaderAppend(hosted); // no LeaderState yet: nothing to tell
      await becoming;
      expect(log.logEndOffset).toBe(2);
      expect(hosted.leaderState!.logEndOffset).toBe(2);
      // Alone in the ISR with min.insync.replicas=1, everything in the log is committed.
      expect(hosted.highWatermark).toBe(2);
      expect(hosted.epochCache.latestEpoch).toBe(0);
    } finally {
      leadership.stop();
      await log.close();
    }
  });
});

/**
 * Holds every FileHandle write of this process until the returned release is called. Only appends
 * written through the thread pool go through FileHandle (a log opened with inlineWriteMaxBytes 0).
 */
async function holdFileWrites(scratchDir: string): Promise<() => void> {
  const probe = await open(join(scratchDir, 'probe'), 'w');
  const proto = Object.getPrototypeOf(probe) as { write: (...args: unknown[]) => Promise<unknown> };
  await probe.close();
  const original = proto.write;
  let release!: () => void;
  const gate = new Promise<void>((r) => {
    release = r;
  });
  proto.write = async function (this: unknown, ...args: unknown[]) {
    await gate;
    return original.apply(this, args);
  };
  return () => {
    proto.write = original;
    release();
  };
}

/** Small appends are written on the event loop, exposed once written: these tests need the thread pool's. */
const throughPool: Partial<LogConfig> = { inlineWriteMaxBytes: 0 };

describe('LeaderDriver, replica.fetch.unwritten.enable: followers copy an append while the leader writes it', () => {
  it('wakes a parked follower fetch and serves it before the write completes; the HW waits for the write', async () => {
    const hosted = await hostedPartition([1, 2, 3], undefined, throughPool);
    const waiters = new DelayedOperations();
    const leadership = leaderDriver(waiters, true);
    const fetchAt = (offset: number) => ({
      partition: 0,
      fetchOffset: offset,
      currentLeaderEpoch: 0,
      lastFetchedEpoch: offset === 0 ? -1 : 0,
      logStartOffset: 0,
      partitionMaxBytes: 1 << 20,
    });
    let release: (() => void) | undefined;
    try {
      await leadership.becomeLeader(hosted, leaderRole(0, [1, 2, 3]));
      for (const follower of [2, 3]) await leadership.answerFetch(hosted, follower, fetchAt(0), 1 << 20, true);
      // A follower's long poll at the log end, parked as the ReplicaFetch handler parks it.
      let woken = false;
      waiters.park(
        {
          tryComplete: () => {
            woken = hosted.log.exposedEndOffset > 0;
            return woken;
          },
          onExpire: () => {},
        },
        [partitionKey('t', 0)],
        10_000,
      );
      release = await holdFileWrites(dir!);
      let acknowledged = false;
      const produce = leadership.append(hosted, makeBatch({ count: 3 }), -1, 10_000, new AbortController().signal);
      void produce.then(() => {
        acknowledged = true;
      });
      await expect.poll(() => woken).toBe(true);
      expect(hosted.log.logEndOffset).toBe(0); // not written yet
      const copy = await leadership.answerFetch(hosted, 2, fetchAt(0), 1 << 20, true);
      expect(copy.errorCode).toBe(0);
      expect(copy.records.length).toBeGreaterThan(0);
      // Both followers hold offsets 0-2 now, the leader does not: nothing is committed or acknowledged.
      for (const follower of [2, 3]) {
        const ack = await leadership.answerFetch(hosted, follower, fetchAt(3), 1 << 20, true);
        expect(ack.errorCode).toBe(0);
      }
      expect(hosted.highWatermark).toBe(0);
      await new Promise((r) => setImmediate(r));
      expect(acknowledged).toBe(false);
      release();
      release = undefined;
      await produce;
      expect(hosted.highWatermark).toBe(3);
    } finally {
      release?.();
      leadership.stop();
      await hosted.log.close();
    }
  });

  it('keeps the exposed end while the broker-wide tail budget takes the exposed append back', async () => {
    // The budget holds one append: another log's exposed append evicts this log's while both writes
    // are held. The exposed end fell back to the written end then, so a follower that had copied the
    // append was told to truncate it (a diverging epoch at the written end) while the leader still
    // counted its fetch: the write completing then committed records that follower no longer held.
    const batch = (fill: number): Buffer => {
      const bytes = makeBatch({ count: 3, fill });
      const own = Buffer.alloc(bytes.length); // its own ArrayBuffer: what the tail is charged
      bytes.copy(own);
      return own;
    };
    const first = batch(1);
    const budget = new TailBudget(first.length);
    const hosted = await hostedPartition([1, 2], budget, throughPool);
    const other = await openPartitionLog({ dir: join(dir!, 'other'), tailBudget: budget });
    const leadership = leaderDriver(new DelayedOperations(), true);
    const fetchAt = (offset: number) => ({
      partition: 0,
      fetchOffset: offset,
      currentLeaderEpoch: 0,
      lastFetchedEpoch: offset === 0 ? -1 : 0,
      logStartOffset: 0,
      partitionMaxBytes: 1 << 20,
    });
    let release: (() => void) | undefined;
    try {
      await leadership.becomeLeader(hosted, leaderRole(0, [1, 2]));
      await leadership.answerFetch(hosted, 2, fetchAt(0), 1 << 20, true);
      release = await holdFileWrites(dir!);
      const produce = leadership.append(hosted, first, -1, 10_000, new AbortController().signal);
      await expect.poll(() => hosted.log.exposedEndOffset).toBe(3);
      expect((await leadership.answerFetch(hosted, 2, fetchAt(0), 1 << 20, true)).records.length).toBeGreaterThan(0);
      expect((await leadership.answerFetch(hosted, 2, fetchAt(3), 1 << 20, true)).errorCode).toBe(0);
      let otherExposed = false;
      const otherAppend = other.append(batch(2), {
        leaderEpoch: 0,
        onExposed: () => {
          otherExposed = true;
        },
      });
      await expect.poll(() => otherExposed).toBe(true);
      expect(hosted.log.logEndOffset).toBe(0); // still not written
      expect(hosted.log.exposedEndOffset).toBe(3);
      const again = await leadership.answerFetch(hosted, 2, fetchAt(3), 1 << 20, true);
      expect(again.divergingEpoch).toBeUndefined();
      expect(again.errorCode).toBe(0);
      release();
      release = undefined;
      await Promise.all([produce, otherAppend]);
      expect(hosted.highWatermark).toBe(3);
    } finally {
      release?.();
      leadership.stop();
      await other.close();
      await hosted.log.close();
    }
  });
});
