/**
 * Seeded simulation of a 3-replica partition running the broker's replication driver (and through
 * it the pure cores), with invariant checks after every step (see sim/cluster.ts). A failure names
 * its seed; reproduce it with
 *   SIM_SEED=<seed> npx vitest run packages/broker/test/replication/simulation.test.ts
 * and run a longer sweep with SIM_SEEDS=<count> SIM_STEPS=<steps>.
 */
import { describe, expect, it } from 'vitest';
import type { SimOptions } from './sim/cluster.js';
import { coreController } from './sim/core-controller.js';
import { runSeed } from './sim/run.js';

const env = process.env;
const SEEDS = env.SIM_SEED
  ? [Number(env.SIM_SEED)]
  : Array.from({ length: Number(env.SIM_SEEDS ?? 200) }, (_, i) => i + 1);
const STEPS = Number(env.SIM_STEPS ?? 300);

describe('replication simulation', () => {
  for (const [name, options] of [
    ['min.insync.replicas=2', { minInsyncReplicas: 2 }],
    ['min.insync.replicas=1', { minInsyncReplicas: 1 }],
    ['5 replicas, min.insync.replicas=3', { brokers: 5, minInsyncReplicas: 3 }],
    ['the real ControllerCore, min.insync.replicas=2', { minInsyncReplicas: 2, controller: coreController }],
    [
      'tight timing (lag 300 ms, 1 record per fetch, 100 ms request timeout)',
      { minInsyncReplicas: 2, replicaLagTimeMaxMs: 300, maxFetchRecords: 1, requestTimeoutMs: 100 },
    ],
    ['queued log operations (roles change while appends and truncations wait)', { queuedLogs: true }],
    [
      'queued log operations, followers copying appends before their leader wrote them',
      { queuedLogs: true, exposeUnwrittenAppends: true },
    ],
    [
      'DeleteRecords (leaders delete below their HW; answered at the low watermark; starts saved later)',
      { deleteRecords: true, deferStartSaves: true },
    ],
    [
      'DeleteRecords into batches of 3 records (followers reset to a start inside a batch copy it from its base)',
      { deleteRecords: true, deferStartSaves: true, batchRecords: 3 },
    ],
  ] as [string, SimOptions][]) {
    it(`${SEEDS.length} seeds x ${STEPS} steps keep every invariant (${name})`, async () => {
      const totals = {
        produced: 0,
        acked: 0,
        elections: 0,
        truncations: 0,
        isrChanges: 0,
        crashes: 0,
        retentions: 0,
        deletions: 0,
        restartsBelowStart: 0,
        fetchesWhileSaving: 0,
      };
      for (const seed of SEEDS) {
        const sim = await runSeed(seed, options, STEPS);
        for (const key of Object.keys(totals) as Array<keyof typeof totals>) totals[key] += sim.stats[key];
      }
      // The schedules must actually exercise the interesting paths.
      expect(totals.acked).toBeGreaterThan(0);
      if (SEEDS.length >= 50) {
        expect(totals.elections).toBeGreaterThan(SEEDS.length);
        expect(totals.truncations).toBeGreaterThan(0);
        expect(totals.isrChanges).toBeGreaterThan(0);
        if (options.deleteRecords) expect(totals.deletions).toBeGreaterThan(SEEDS.length);
        if (options.batchRecords) expect(totals.restartsBelowStart).toBeGreaterThan(0);
        // Followers fetch while a start's save is held (until 2026-12-07 the fetch waited for it).
        if (options.deferStartSaves) expect(totals.fetchesWhileSaving).toBeGreaterThan(SEEDS.length);
      }
      console.log(`${name}: ${JSON.stringify(totals)}`);
    }, 120_000); // CPU-bound: 6 s of CPU took 21-24 s of wall time on a loaded 2-core machine
  }

  // Seeds the queued-log schedules found the two role-change races with (REPLICATION.md, "Role changes and
  // work in flight"): seed 1 started a same-leader epoch below a queued old-epoch append; seed 357
  // elected a follower whose divergence truncation, still queued, then deleted its new epoch's entry.
  // Kept as regressions: the random sweep above reaches the second only now and then.
  for (const seed of [1, 357]) {
    it(`queued logs, seed ${seed}: role changes with log operations still queued`, async () => {
      await runSeed(seed, { queuedLogs: true }, 300);
    });
  }

  it('is deterministic: the same seed gives the same history', async () => {
    const a = await runSeed(7, {}, STEPS);
    const b = await runSeed(7, {}, STEPS);
    expect(a.trace).toEqual(b.trace);
    expect(a.acked).toEqual(b.acked);
  });
});
