/**
 * Broker 1 leading t-0 (replicas 1 and 2, ISR `isr`) on a real partition log in `dir` with 10 committed
 * records, and a handlers' context around it: for tests that drive the broker's handlers directly.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encodeBatch } from '@samsa/protocol';
import { pino } from 'pino';
import { afterEach, expect } from 'vitest';
import { systemClock } from '../../src/clock.js';
import { TOPIC_SETTINGS, resolveSettings } from '../../src/config.js';
import { LeaderDriver, LeaderEpochCache, saveEpochCache } from '../../src/replication/index.js';
import type { BrokerContext } from '../../src/server/context.js';
import { DelayedOperations } from '../../src/server/delayed.js';
import type { HostedPartition } from '../../src/server/partitions.js';
import { openPartitionLog } from '../../src/storage/index.js';
import { makeBatch } from '../storage/helpers.js';

/**
 * Broker 1's LeaderDriver over HostedPartitions as the handlers see them, with no controller; the epoch
 * cache saved to the log's directory unless `saveEpochCache` says otherwise (a test holding the save).
 */
export function testLeaderDriver(
  options: { waiters?: DelayedOperations; saveEpochCache?: (h: HostedPartition) => Promise<void> } = {},
): LeaderDriver<HostedPartition> {
  return new LeaderDriver<HostedPartition>({
    brokerId: 1,
    replicaLagTimeMaxMs: 30_000,
    clock: systemClock,
    transport: { alterPartition: () => Promise.reject(new Error('no controller in this test')) },
    waiters: options.waiters ?? new DelayedOperations(),
    committedState: () => undefined,
    minInsyncReplicas: () => 1,
    saveEpochCache: options.saveEpochCache ?? ((h) => saveEpochCache(h.log.dir, h.epochCache)),
    logger: pino({ level: 'silent' }),
  });
}

/** Partition t-0 on a real log in `dir`: broker 1 its only replica and leader, unless `fields` say otherwise. */
export async function hostedT0(dir: string, fields: Partial<HostedPartition> = {}): Promise<HostedPartition> {
  return {
    topic: 't',
    topicId: '',
    partition: 0,
    log: await openPartitionLog({ dir }),
    epochCache: new LeaderEpochCache(),
    leaderState: undefined,
    role: 'leader',
    leaderEpoch: 0,
    leader: 1,
    isr: [1],
    replicas: [1],
    highWatermark: 0,
    settings: resolveSettings(TOPIC_SETTINGS),
    ...fields,
  };
}

export async function leaderWithTenRecords(dir: string, isr: number[]) {
  const waiters = new DelayedOperations();
  const leaders = testLeaderDriver({ waiters });
  const hosted = await hostedT0(dir, { isr, replicas: [1, 2] });
  await leaders.becomeLeader(hosted, { kind: 'leader', leader: 1, leaderEpoch: 0, isr, replicas: [1, 2] });
  await leaders.append(hosted, makeBatch({ count: 10 }), 1, 1000, new AbortController().signal);
  const ctx = {
    brokerId: 1,
    logger: pino({ level: 'silent' }),
    waiters,
    partitions: { leaderOf: () => hosted, get: () => hosted },
    knowsPartition: () => true,
    member: { metadata: { image: { topics: new Map() } } },
    replication: { leaders },
  } as unknown as BrokerContext;
  return { hosted, leaders, ctx, waiters };
}

/**
 * leaderWithTenRecords in a fresh temp dir for each test of the calling file (call once, at its top
 * level): the log is closed and the dir removed after each test (an open log's files were left to the
 * garbage collector, DEP0137). `opened` is the current test's partition.
 */
export function leaderPerTest(prefix: string): {
  leader(isr: number[]): ReturnType<typeof leaderWithTenRecords>;
  /** Broker 1 leading t-0 alone: offsets 0-9 committed at timestamp 1000, 10-12 an open transaction's at 5000. */
  leaderWithOpenTransaction(): Promise<BrokerContext>;
  readonly opened: HostedPartition | undefined;
} {
  let dir: string | undefined;
  let opened: HostedPartition | undefined;
  afterEach(async () => {
    await opened?.log.close();
    opened = undefined;
    if (dir) await rm(dir, { recursive: true, force: true });
    dir = undefined;
  });
  return {
    async leader(isr) {
      dir = await mkdtemp(join(tmpdir(), prefix));
      const made = await leaderWithTenRecords(dir, isr);
      opened = made.hosted;
      return made;
    },
    async leaderWithOpenTransaction() {
      const { hosted, leaders, ctx } = await this.leader([1]);
      const open = encodeBatch(
        [0, 1, 2].map((i) => ({ value: Buffer.from(`txn-${i}`), timestamp: 5000 })),
        { producerId: 7, producerEpoch: 0, baseSequence: 0, transactional: true },
      );
      await leaders.append(hosted, open, 1, 1000, new AbortController().signal);
      expect([hosted.highWatermark, hosted.log.lastStableOffset(hosted.highWatermark)]).toEqual([13, 10]);
      return ctx;
    },
    get opened() {
      return opened;
    },
  };
}
