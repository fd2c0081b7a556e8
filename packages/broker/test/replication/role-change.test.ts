/**
 * Role changes against work the previous role still has in flight. A follower's divergence
 * truncation changes the log and then the epoch cache; if the replica becomes leader in between, the
 * second half must not run after the leader recorded its new epoch (truncateFromEnd would delete it,
 * and every follower fetch in that epoch would then get an undefined diverging epoch).
 */
import { encodeBatch } from '@samsa/protocol';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import {
  LeaderEpochCache,
  type Replica,
  type ReplicaFetchResponse,
  ReplicationDriver,
  validateFollowerFetch,
} from '../../src/replication/index.js';
import { SimClock, settleMicrotasks } from './sim/clock.js';
import { MemoryLog } from './sim/memory-log.js';

/** A MemoryLog whose truncations wait until the test lets them go. */
class GatedLog extends MemoryLog {
  truncationStarted: (() => void) | undefined;
  gate: Promise<void> | undefined;

  override async truncateTo(offset: number): Promise<void> {
    this.truncationStarted?.();
    if (this.gate) await this.gate;
    return super.truncateTo(offset);
  }
}

const divergedAnswer = (endOffset: number): ReplicaFetchResponse => ({
  topics: [
    {
      name: 't',
      partitions: [
        {
          partition: 0,
          errorCode: 0,
          errorMessage: '',
          highWatermark: 2,
          logStartOffset: 0,
          divergingEpoch: { epoch: 0, endOffset },
          records: Buffer.alloc(0),
        },
      ],
    },
  ],
});

describe('ReplicationDriver.applyRole', () => {
  it('lets a divergence truncation in flight finish before the replica leads, keeping its new epoch', async () => {
    const log = new GatedLog(() => 'x');
    const epochCache = new LeaderEpochCache();
    // Offsets 0-2 of epoch 0, then 3-4 of epoch 1 (this broker led epoch 1 and wrote them alone).
    for (const epoch of [0, 0, 0, 1, 1]) {
      const batch = encodeBatch([{ key: null, value: Buffer.from('v'), headers: [] }], { now: 0 });
      const { baseOffset } = await log.append(batch, { leaderEpoch: epoch });
      epochCache.assign(epoch, baseOffset);
    }
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
      highWatermark: 2,
    };
    let answered = false;
    const clock = new SimClock();
    const driver = new ReplicationDriver({
      brokerId: 1,
      replicaLagTimeMaxMs: 30_000,
      clock: clock.clockFor({}),
      transport: {
        openFetchSession: () => ({
          // The leader of epoch 2 says our epoch 1 never happened there: epoch 0 ends at 3.
          fetch: () => {
            if (answered) return new Promise(() => {});
            answered = true;
            return Promise.resolve(divergedAnswer(3));
          },
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
    let release!: () => void;
    log.gate = new Promise((resolve) => {
      release = resolve;
    });
    const truncating = new Promise<void>((resolve) => {
      log.truncationStarted = resolve;
    });
    try {
      await driver.applyRole(replica, { kind: 'follower', leader: 2, leaderEpoch: 2, isr: [1, 2], replicas: [1, 2] });
      await truncating;
      // Broker 2 dies mid-truncation and this replica is elected for epoch 3.
      const leading = driver.applyRole(replica, {
        kind: 'leader',
        leader: 1,
        leaderEpoch: 3,
        isr: [1],
        replicas: [1, 2],
      });
      await settleMicrotasks();
      release();
      await leading;
      await settleMicrotasks();
      expect(log.logEndOffset).toBe(3);
      expect(epochCache.epochEntries).toEqual([
        { epoch: 0, startOffset: 0 },
        { epoch: 3, startOffset: 3 },
      ]);
      expect(replica.leaderState?.leaderEpoch).toBe(3);
      // Broker 2, back as a follower holding epoch 0 up to 3, fetches on without diverging.
      const fetch = { fetchOffset: 3, currentLeaderEpoch: 3, lastFetchedEpoch: 0 };
      const leader = { leaderEpoch: 3, epochCache, logStartOffset: 0, logEndOffset: log.logEndOffset };
      expect(validateFollowerFetch(fetch, leader).kind).toBe('ok');
    } finally {
      await driver.close();
    }
  });
});
