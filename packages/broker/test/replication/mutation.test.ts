/**
 * Proof by mutation that the simulation checks the broker's driver and not a copy of it. The
 * simulation used to carry its own ~900-line driver around the pure cores, so a bug in the broker's
 * driver (leader-driver.ts: when to answer an acks=all producer) could not show up in it at all.
 * Here the broker's own LeaderDriver is given one deliberate bug, as a subclass; the same seeded
 * schedules that pass with the real driver must report the lost acknowledged write.
 */
import { describe, expect, it } from 'vitest';
import { type AcksAllStatus, LeaderDriver, type LeaderState } from '../../src/replication/index.js';
import type { SimReplica } from './sim/cluster.js';
import { runSeed } from './sim/run.js';

/** Answers acks=all once every in-sync replica but the slowest holds the records. */
class ReleasesOneIsrMemberEarly extends LeaderDriver<SimReplica> {
  protected override acksAllStatus(state: LeaderState, requiredOffset: number): AcksAllStatus {
    const status = super.acksAllStatus(state, requiredOffset);
    if (status !== 'waiting') return status;
    const followers = state.isr
      .filter((id) => id !== state.localBrokerId)
      .map((id) => state.follower(id)?.logEndOffset ?? -1)
      .sort((a, b) => b - a);
    followers.pop(); // the bug: the slowest in-sync replica is not waited for
    return followers.every((leo) => leo >= requiredOffset) ? 'committed' : 'waiting';
  }
}

const STEPS = 300;

describe('the simulation runs the broker’s replication driver', () => {
  it('finds a driver that answers acks=all one ISR member early; the real one passes that seed', async () => {
    let failing: { seed: number; message: string } | undefined;
    for (let seed = 1; seed <= 50 && !failing; seed++) {
      try {
        await runSeed(seed, { minInsyncReplicas: 2, leaderDriver: (o) => new ReleasesOneIsrMemberEarly(o) }, STEPS);
      } catch (err) {
        failing = { seed, message: (err as Error).message };
      }
    }
    expect(failing, 'no seed of 50 caught the mutant').toBeDefined();
    expect(failing!.message).toMatch(/no acknowledged write lost/);
    // The same schedule with the real driver: nothing to report.
    await runSeed(failing!.seed, { minInsyncReplicas: 2 }, STEPS);
  });
});
