/**
 * A follower's fetch at a broker just elected leader, whose role is set but whose term has not started
 * (the new epoch is being saved to the epoch cache, an fsync): it waits for the term, within its long
 * poll, instead of being refused NOT_LEADER_OR_FOLLOWER ("not a replica"), which sent the follower into
 * replica.fetch.backoff.ms (200 ms) and held every acks=all write to the new leader that long after a
 * preferred election. Real LeaderDriver and partition log; the epoch cache's save is held until the test
 * lets it end.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ErrorCodes, type v1 } from '@samsa/protocol';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { BROKER_SETTINGS, resolveSettings } from '../../src/config.js';
import type { BrokerContext } from '../../src/server/context.js';
import { DelayedOperations } from '../../src/server/delayed.js';
import { handleReplicaFetch } from '../../src/server/handlers/replica-fetch.js';
import { deferred } from '../../../../test/helpers/wait.js';
import { hostedT0, testLeaderDriver } from './leader-fixture.js';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0)) await cleanup();
});

const settled = () => new Promise<void>((resolve) => setImmediate(resolve));

/** Broker 1, elected leader of t-0 (replicas 1 and 2) in epoch 1, its term held at the epoch cache's save. */
async function electedLeader() {
  const dir = await mkdtemp(join(tmpdir(), 'samsa-replica-fetch-term-'));
  const cacheSaved = deferred<void>();
  const waiters = new DelayedOperations();
  const leaders = testLeaderDriver({ waiters, saveEpochCache: () => cacheSaved.promise });
  const hosted = await hostedT0(dir, { replicas: [1, 2], isr: [1, 2], leaderEpoch: 1 });
  cleanups.push(async () => {
    await hosted.log.close();
    await rm(dir, { recursive: true, force: true });
  });
  const ctx = {
    brokerId: 1,
    settings: resolveSettings(BROKER_SETTINGS, {}),
    logger: pino({ level: 'silent' }),
    waiters,
    partitions: { leaderOf: () => hosted, get: () => hosted },
    knowsPartition: () => true,
    member: {
      metadata: {
        image: { topics: new Map([['t', { partitions: [{ leader: 1, leaderEpoch: 1, replicas: [1, 2] }] }]]) },
      },
    },
    replication: { leaders },
  } as unknown as BrokerContext;
  const term = leaders.becomeLeader(hosted, {
    kind: 'leader',
    leader: 1,
    leaderEpoch: 1,
    isr: [1, 2],
    replicas: [1, 2],
  });
  return {
    ctx,
    saveLands: async () => {
      cacheSaved.resolve();
      await term;
    },
  };
}

function fetchFrom2(ctx: BrokerContext) {
  const request = {
    replicaId: 2,
    maxWaitMs: 1000,
    minBytes: 1,
    maxBytes: 1 << 20,
    topics: [
      {
        name: 't',
        partitions: [
          { partition: 0, fetchOffset: 0, currentLeaderEpoch: 1, lastFetchedEpoch: -1, partitionMaxBytes: 1 << 20 },
        ],
      },
    ],
  } as unknown as v1.ReplicaFetchRequest__Output;
  return handleReplicaFetch(ctx, request, new AbortController().signal).then((r) => r.topics?.[0]?.partitions?.[0]);
}

describe('ReplicaFetch at a leader whose term is starting', () => {
  it('waits for the term instead of refusing the follower', async () => {
    const { ctx, saveLands } = await electedLeader();
    let answered = false;
    const answer = fetchFrom2(ctx).finally(() => {
      answered = true;
    });
    await settled();
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(answered).toBe(false);
    await saveLands();
    const partition = await answer;
    expect(partition?.errorCode ?? 0).not.toBe(ErrorCodes.NOT_LEADER_OR_FOLLOWER.code);
  });
});
