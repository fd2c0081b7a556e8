/**
 * DeleteRecords on the leader, through the broker's handlers on a real partition log: the answer
 * waits for the in-sync follower to state the new log start, and the follower's fetch parked in its
 * long poll is answered at once with that start instead of when the poll ends.
 */
import { mkdtemp, open, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ErrorCodes, type v1 } from '@samsa/protocol';
import { afterEach, describe, expect, it } from 'vitest';
import type { BrokerContext } from '../../src/server/context.js';
import { handleDeleteRecords } from '../../src/server/handlers/delete-records.js';
import { handleReplicaFetch } from '../../src/server/handlers/replica-fetch.js';
import { leaderWithTenRecords } from './leader-fixture.js';
import { withTimeout } from '../../../../test/helpers/wait.js';

let dir: string | undefined;
afterEach(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
  dir = undefined;
});

/** Broker 1 leading t-0 (replicas 1 and 2, both in sync) with 10 records, and the handlers' context. */
async function leaderWithRecords() {
  dir = await mkdtemp(join(tmpdir(), 'samsa-delete-records-'));
  return leaderWithTenRecords(dir, [1, 2]);
}

/**
 * Follower 2's fetch at the log end, stating `logStartOffset` (undefined: too old to) and `unsaved` (the
 * start it is saving), long-polling `maxWaitMs`.
 */
function followerFetch(
  ctx: BrokerContext,
  logStartOffset: number | undefined,
  maxWaitMs: number,
  leaderEpoch = 0,
  unsaved?: number,
) {
  const request: v1.ReplicaFetchRequest__Output = {
    replicaId: 2,
    maxWaitMs,
    minBytes: 1,
    maxBytes: 1 << 20,
    topics: [
      {
        name: 't',
        partitions: [
          {
            partition: 0,
            fetchOffset: 10,
            currentLeaderEpoch: leaderEpoch,
            lastFetchedEpoch: 0,
            partitionMaxBytes: 1 << 20,
            ...(logStartOffset === undefined ? {} : { logStartOffset }),
            ...(unsaved === undefined ? {} : { unsavedLogStartOffset: unsaved }),
          },
        ],
      },
    ],
  };
  return handleReplicaFetch(ctx, request, new AbortController().signal);
}

const deleteBelow = (ctx: BrokerContext, offset: number, timeoutMs = 60_000) =>
  handleDeleteRecords(
    ctx,
    { topics: [{ name: 't', partitions: [{ partition: 0, offset }] }], timeoutMs },
    new AbortController().signal,
  );

describe('DeleteRecords on the leader', () => {
  it('answers once the in-sync follower states the new start; its parked fetch gets the start at once', async () => {
    const { hosted, leaders, ctx } = await leaderWithRecords();
    try {
      await followerFetch(ctx, 0, 0); // the follower holds everything: HW 10
      expect(hosted.highWatermark).toBe(10);
      // The follower waits at the log end, for a minute at most.
      const parked = followerFetch(ctx, 0, 60_000);
      const deleting = deleteBelow(ctx, 6);
      const answer = await withTimeout(parked, 10_000, "the parked fetch's answer");
      expect(answer.topics![0]!.partitions![0]!.logStartOffset).toBe(6);
      expect(hosted.log.logStartOffset).toBe(6);
      // The follower adopted it and says so in its next fetch: the low watermark reaches 6.
      await followerFetch(ctx, 6, 0);
      const deleted = await withTimeout(deleting, 10_000, 'the DeleteRecords answer');
      expect(hosted.epochCache.epochEntries).toEqual([{ epoch: 0, startOffset: 6 }]);
      expect(deleted.topics![0]!.partitions![0]).toEqual({
        partition: 0,
        errorCode: 0,
        errorMessage: '',
        lowWatermark: 6,
      });
    } finally {
      leaders.stop();
      await hosted.log.close();
    }
  });

  it('refuses past the high watermark; times out while the follower has not followed', async () => {
    const { hosted, leaders, ctx } = await leaderWithRecords();
    try {
      await followerFetch(ctx, 0, 0);
      const tooFar = (await deleteBelow(ctx, 11)).topics![0]!.partitions![0]!;
      expect([tooFar.errorCode, tooFar.lowWatermark]).toEqual([ErrorCodes.OFFSET_OUT_OF_RANGE.code, -1]);
      const late = (await deleteBelow(ctx, 4, 50)).topics![0]!.partitions![0]!;
      expect(late.errorCode).toBe(ErrorCodes.REQUEST_TIMED_OUT.code);
      expect(hosted.log.logStartOffset).toBe(4); // the leader has deleted: asking again waits again
      const all = deleteBelow(ctx, -1);
      await followerFetch(ctx, 10, 0);
      expect((await all).topics![0]!.partitions![0]!.lowWatermark).toBe(10);
    } finally {
      leaders.stop();
      await hosted.log.close();
    }
  });

  it('a follower too old to state its start is long-polled as before, not answered at once in a loop', async () => {
    const { hosted, leaders, ctx } = await leaderWithRecords();
    try {
      await followerFetch(ctx, undefined, 0);
      expect(hosted.highWatermark).toBe(10);
      await hosted.log.deleteRecordsBefore(6);
      const startedMs = Date.now();
      const answer = await followerFetch(ctx, undefined, 300);
      expect(Date.now() - startedMs).toBeGreaterThanOrEqual(250);
      expect(answer.topics![0]!.partitions![0]!.logStartOffset).toBe(6);
      // Its start is unknown: a DeleteRecords cannot be confirmed by it.
      const late = (await deleteBelow(ctx, 6, 50)).topics![0]!.partitions![0]!;
      expect(late.errorCode).toBe(ErrorCodes.REQUEST_TIMED_OUT.code);
    } finally {
      leaders.stop();
      await hosted.log.close();
    }
  });

  it('a follower saving the start it was told is long-polled, not answered at once in a loop', async () => {
    const { hosted, leaders, ctx } = await leaderWithRecords();
    try {
      await followerFetch(ctx, 0, 0);
      const deleting = deleteBelow(ctx, 6);
      await expect.poll(() => hosted.log.savedLogStartOffset).toBe(6);
      // Saved start 0, start 6 being saved: answered when the poll ends (at once, the follower would ask
      // again at once, and so on until its save ended).
      const startedMs = Date.now();
      const answer = await followerFetch(ctx, 0, 300, 0, 6);
      expect(Date.now() - startedMs).toBeGreaterThanOrEqual(250);
      expect(answer.topics![0]!.partitions![0]!.logStartOffset).toBe(6);
      // The unsaved start does not count for DeleteRecords; the fetch after the save does.
      expect(hosted.leaderState!.lowWatermark).toBe(0);
      await followerFetch(ctx, 6, 0);
      expect((await withTimeout(deleting, 10_000, 'the DeleteRecords answer')).topics![0]!.partitions![0]!).toEqual({
        partition: 0,
        errorCode: 0,
        errorMessage: '',
        lowWatermark: 6,
      });
    } finally {
      leaders.stop();
      await hosted.log.close();
    }
  });

  it('a request again for a start moved but not yet saved waits for the save, across a new term', async () => {
    const { hosted, leaders, ctx } = await leaderWithRecords();
    // Holds the write of the log-start-offset file (its text is one number), not the epoch checkpoint.
    const probe = await open(join(dir!, 'probe'), 'w');
    const proto = Object.getPrototypeOf(probe) as { writeFile: (...args: unknown[]) => Promise<unknown> };
    await probe.close();
    const original = proto.writeFile;
    let release!: () => void;
    const gate = new Promise<void>((r) => {
      release = r;
    });
    proto.writeFile = async function (this: unknown, ...args: unknown[]) {
      if (typeof args[0] === 'string' && /^\d+\n$/.test(args[0])) await gate;
      return original.apply(this, args);
    };
    try {
      await followerFetch(ctx, 0, 0);
      const first = deleteBelow(ctx, 6);
      await expect.poll(() => hosted.log.logStartOffset).toBe(6); // moved in memory, its file held
      // The same leader takes a new epoch meanwhile; the follower adopts the start and states it.
      hosted.leaderEpoch = 1;
      await leaders.becomeLeader(hosted, { kind: 'leader', leader: 1, leaderEpoch: 1, isr: [1, 2], replicas: [1, 2] });
      expect(hosted.leaderState?.leaderEpoch).toBe(1);
      await followerFetch(ctx, 6, 0, 1);
      // The new term counts the leader's own start as saved (0), not as moved in memory (6).
      expect(hosted.leaderState!.lowWatermark).toBe(0);
      let answered = false;
      const again = deleteBelow(ctx, 6).then((r) => {
        answered = true;
        return r;
      });
      for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
      // A crash now would bring records 0-5 back on this leader: the request must not be answered yet.
      expect(answered).toBe(false);
      release();
      for (const answer of [await first, await again]) expect(answer.topics![0]!.partitions![0]!.lowWatermark).toBe(6);
      expect(hosted.leaderState!.lowWatermark).toBe(6);
      expect(await readFile(join(dir!, 'log-start-offset'), 'utf8')).toBe('6\n');
    } finally {
      release();
      proto.writeFile = original;
      leaders.stop();
      await hosted.log.close();
    }
  });
});
