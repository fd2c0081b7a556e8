/** One seeded run of the replication simulation: random steps, then healing, a final write and the checks. */
import { SimCluster, type SimOptions } from './cluster.js';

/**
 * Runs `steps` random steps of `seed`, then ends every fault and requires convergence, a final
 * acks=all write, and every acknowledged write on every replica. A failure names the seed, how to
 * rerun it, and the last events.
 */
export async function runSeed(seed: number, options: SimOptions = {}, steps: number): Promise<SimCluster> {
  const sim = await SimCluster.start(seed, options);
  try {
    for (let i = 0; i < steps; i++) await sim.randomStep();
    if (!(await sim.healAndSettle())) throw new Error('did not converge after healing (liveness)');
    // After healing, an acks=all write goes through.
    const leader = sim.controller.state.leader;
    const entry = await sim.produce(leader, 'all', 'final');
    if (typeof entry === 'string') throw new Error(`final produce refused: ${entry}`);
    if (!(await sim.healAndSettle())) throw new Error('did not converge after the final write');
    if (!sim.acked.some((a) => a.value === 'final')) throw new Error('final acks=all write was not acknowledged');
    // Every acknowledged write is in every replica's log at its offset; no answered deletion came back.
    for (const b of sim.brokers) {
      if (b.logStart < sim.deletedBelow)
        throw new Error(`b${b.id} starts at ${b.logStart}, below the answered deletion at ${sim.deletedBelow}`);
      for (const a of sim.acked) {
        if (a.offset < b.logStart) continue; // deleted by retention or DeleteRecords
        const e = b.log.entryAt(a.offset);
        if (e?.value !== a.value) throw new Error(`b${b.id} lacks acknowledged ${a.value}@${a.offset}`);
      }
    }
  } catch (err) {
    const shown = { ...options, controller: options.controller ? 'ControllerCore' : 'model', leaderDriver: undefined };
    const rerun = `SIM_SEED=${seed}, ${JSON.stringify(shown)}`;
    const message = `seed ${seed} failed (${rerun}): ${(err as Error).message}\nlast events:\n${sim.trace.join('\n')}`;
    throw new Error(message, { cause: err });
  }
  return sim;
}
