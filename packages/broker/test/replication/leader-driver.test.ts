/**
 * LeaderDriver.becomeLeader against a real partition log. The partition answers as leader before its
 * term's LeaderState exists (the epoch checkpoint is written in between), so acks=0/1 produces can
 * append in that window: the term must start from the log end as it is then, or those records sit
 * above a high watermark that nothing moves until the next append (consumers would not see them).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { systemClock } from '../../src/clock.js';
import { TOPIC_SETTINGS, resolveSettings } from '../../src/config.js';
import { LeaderDriver, LeaderEpochCache, saveEpochCache } from '../../src/replication/index.js';
import { DelayedOperations } from '../../src/server/delayed.js';
import type { HostedPartition, ReplicaRole } from '../../src/server/partitions.js';
import { openPartitionLog } from '../../src/storage/index.js';
import { makeBatch } from '../storage/helpers.js';

let dir: string | undefined;
afterEach(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
  dir = undefined;
});

describe('LeaderDriver.becomeLeader', () => {
  it('starts the term from the log end after the epoch checkpoint, counting appends made meanwhile', async () => {
    dir = await mkdtemp(join(tmpdir(), 'samsa-leadership-'));
    const log = await openPartitionLog({ dir });
    const hosted: HostedPartition = {
      topic: 't',
      topicId: '',
      partition: 0,
      log,
      epochCache: new LeaderEpochCache(),
      leaderState: undefined,
      role: 'leader',
      leaderEpoch: 0,
      leader: 1,
      isr: [1],
      replicas: [1],
      highWatermark: 0,
      settings: resolveSettings(TOPIC_SETTINGS),
    };
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
    const leadership = new LeaderDriver<HostedPartition>({
      brokerId: 1,
      replicaLagTimeMaxMs: 30_000,
      clock: systemClock,
      transport: { alterPartition: () => Promise.reject(new Error('no controller in this test')) },
      waiters,
      committedState: () => undefined,
      minInsyncReplicas: (h) => h.settings['min.insync.replicas'] as number,
      saveEpochCache: (h) => saveEpochCache(h.log.dir, h.epochCache),
      logger: pino({ level: 'silent' }),
    });
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
