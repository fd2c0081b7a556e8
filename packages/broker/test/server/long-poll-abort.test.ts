/**
 * Long polls through the broker's handlers on a real partition log, parked on the signal of the stream
 * they came on (as the FetchStream and ReplicaFetch streams park theirs): a client that vanishes ends
 * exactly its own polls at once, and every other poll still ends at its own deadline.
 */
import { getEventListeners } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { v1 } from '@samsa/protocol';
import { afterEach, describe, expect, it } from 'vitest';
import type { BrokerContext } from '../../src/server/context.js';
import { handleFetch } from '../../src/server/handlers/fetch.js';
import { handleReplicaFetch } from '../../src/server/handlers/replica-fetch.js';
import { leaderWithTenRecords } from './leader-fixture.js';
import { withTimeout } from '../../../../test/helpers/wait.js';

let dir: string | undefined;
afterEach(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
  dir = undefined;
});

/** Broker 1 leading t-0 alone (replicas 1 and 2, ISR [1]) with 10 committed records, and the handlers' context. */
async function leader() {
  dir = await mkdtemp(join(tmpdir(), 'samsa-long-poll-abort-'));
  return leaderWithTenRecords(dir, [1]);
}

/** A consumer's fetch at the log end (offset 10), long-polling `maxWaitMs`. */
function consumerFetch(ctx: BrokerContext, maxWaitMs: number, signal: AbortSignal): Promise<v1.FetchResponse> {
  const partition = { partition: 0, fetchOffset: 10, partitionMaxBytes: 1 << 20, currentLeaderEpoch: -1 };
  const request = {
    maxWaitMs,
    minBytes: 1,
    maxBytes: 1 << 20,
    isolationLevel: 0,
    topics: [{ name: 't', partitions: [partition] }],
  };
  return handleFetch(ctx, request, signal);
}

/** Follower 2's fetch at the log end, long-polling `maxWaitMs`. */
function followerFetch(ctx: BrokerContext, maxWaitMs: number, signal: AbortSignal) {
  const partition = {
    partition: 0,
    fetchOffset: 10,
    currentLeaderEpoch: 0,
    lastFetchedEpoch: 0,
    partitionMaxBytes: 1 << 20,
    logStartOffset: 0,
  };
  const request = {
    replicaId: 2,
    maxWaitMs,
    minBytes: 1,
    maxBytes: 1 << 20,
    topics: [{ name: 't', partitions: [partition] }],
  };
  return handleReplicaFetch(ctx, request, signal);
}

describe('long polls parked on a stream’s signal', () => {
  it('end at once, exactly those of the stream that went away; the others at their own deadlines', async () => {
    const { hosted, leaders, ctx, waiters } = await leader();
    try {
      expect(hosted.highWatermark).toBe(10);
      const gone = new AbortController(); // a client's stream, cancelled below
      const staying = new AbortController();
      const goneFetches = [
        consumerFetch(ctx, 60_000, gone.signal),
        consumerFetch(ctx, 60_000, gone.signal),
        followerFetch(ctx, 60_000, gone.signal),
      ];
      const startedMs = Date.now();
      const short = consumerFetch(ctx, 200, staying.signal);
      const long = consumerFetch(ctx, 60_000, staying.signal);
      await new Promise((resolve) => setImmediate(resolve));
      expect(waiters.size).toBe(5);
      // One listener per signal, however many polls it serves.
      expect(getEventListeners(gone.signal, 'abort')).toHaveLength(1);

      gone.abort();
      const answers = await withTimeout(Promise.all(goneFetches), 5000, 'the vanished stream’s polls');
      for (const answer of answers) expect(answer.topics![0]!.partitions![0]!.records).toHaveLength(0);
      expect(waiters.size).toBe(2);

      // The short poll still ends at its own deadline, and not before it.
      const shortAnswer = await withTimeout(short, 5000, 'the short poll');
      expect(Date.now() - startedMs).toBeGreaterThanOrEqual(199);
      expect(shortAnswer.topics![0]!.partitions![0]!.records).toHaveLength(0);
      expect(waiters.size).toBe(1);

      staying.abort();
      await withTimeout(long, 5000, 'the long poll');
      expect(waiters.size).toBe(0);
    } finally {
      leaders.stop();
      await hosted.log.close();
    }
  });
});
