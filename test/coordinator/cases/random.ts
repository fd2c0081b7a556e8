/**
 * Differential fuzzing: seeded random sequences of operations (creates in every mode, deletes and
 * setData with right, wrong and "any" versions, reads with watches, multis, a second session whose
 * ephemerals vanish when it closes) run against each target. ZooKeeper is the oracle: the case asserts
 * nothing itself; the transcripts of the two targets must be equal, step by step.
 * SAMSA_CONFORMANCE_SEEDS=1,2,3 replaces the default seeds.
 */
import { errorName, ZkError, type Event, type Stat, type ZkTestClient } from '../../helpers/zk-client.js';
import { CaseContext, CreateMode, type ConformanceCase } from '../support/case-context.js';

const DEFAULT_SEEDS = [1, 2, 3];
const OPS_PER_SEED = 200;
const NAMES = ['a', 'b', 'c'];
const MODES = [CreateMode.PERSISTENT, CreateMode.PERSISTENT_SEQUENTIAL, CreateMode.EPHEMERAL, CreateMode.EPHEMERAL_SEQUENTIAL];

function prng(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Runs an operation and describes its outcome: its result, or the error code name. */
async function outcome<T>(operation: Promise<T>, describe: (value: T) => unknown): Promise<unknown> {
  try {
    return { ok: describe(await operation) };
  } catch (error) {
    if (error instanceof ZkError) return { error: error.codeName };
    throw error;
  }
}

async function runSequence(c: CaseContext, seed: number): Promise<void> {
  const random = prng(seed);
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)]!;
  const root = c.path(`s${seed}`);
  const a = await c.client(`A${seed}`);
  let b: ZkTestClient | undefined = await c.client(`B${seed}`);
  await a.create(root);
  /** Paths created so far (some may be gone); sequential names come back from the server. */
  const known: string[] = [root];
  const somePath = () => (random() < 0.8 ? pick(known) : `${pick(known)}/${pick(NAMES)}`);
  const version = async (path: string) => {
    const roll = random();
    if (roll < 0.4) return -1;
    const stat: Stat | null = await a.exists(path);
    const current = stat?.version ?? 0;
    return roll < 0.8 ? current : current + 1;
  };
  const statOf = (stat: Stat | null) => c.transcript.stat(stat);
  // Events are collected and recorded per step, sorted: the deletions of a closing session's
  // ephemerals have no specified order. The order within one txn is covered by the watch cases.
  let pending: string[] = [];
  const watcher = (name: string) => (event: Event) => pending.push(`${name}: ${event.getName()} ${event.getPath()}`);

  for (let step = 0; step < OPS_PER_SEED; step++) {
    const roll = random();
    const label = `s${seed}#${step}`;
    if (roll < 0.25) {
      const client = b && random() < 0.3 ? b : a;
      const path = `${pick(known)}/${pick(NAMES)}`;
      const mode = pick(MODES);
      const result = await outcome(client.create(path, Buffer.from(label), mode), (created) => {
        known.push(created);
        return created;
      });
      c.record(`${label} create ${path} mode ${mode}`, result);
    } else if (roll < 0.4) {
      const path = somePath();
      const v = await version(path);
      c.record(`${label} setData ${path} v${v}`, await outcome(a.setData(path, Buffer.from(label), v), statOf));
    } else if (roll < 0.52) {
      const path = somePath();
      const v = await version(path);
      c.record(`${label} delete ${path} v${v}`, await outcome(a.remove(path, v), () => 'deleted'));
    } else if (roll < 0.62) {
      const path = somePath();
      const watch = random() < 0.5 ? watcher(`${label} data ${path}`) : undefined;
      c.record(`${label} getData ${path}${watch ? ' +watch' : ''}`, await outcome(a.getData(path, watch), (r) => ({ data: r.data?.toString() ?? null, stat: statOf(r.stat) })));
    } else if (roll < 0.72) {
      const path = somePath();
      const watch = random() < 0.5 ? watcher(`${label} exists ${path}`) : undefined;
      c.record(`${label} exists ${path}${watch ? ' +watch' : ''}`, await outcome(a.exists(path, watch), statOf));
    } else if (roll < 0.82) {
      const path = somePath();
      const watch = random() < 0.5 ? watcher(`${label} children ${path}`) : undefined;
      c.record(`${label} getChildren ${path}${watch ? ' +watch' : ''}`, await outcome(a.getChildren(path, watch), (r) => ({ children: [...r.children].sort(), stat: statOf(r.stat) })));
    } else if (roll < 0.95) {
      const ops: string[] = [];
      const result = await a.multi((tx) => {
        const count = 1 + Math.floor(random() * 3);
        for (let i = 0; i < count; i++) {
          const kind = random();
          const path = kind < 0.5 ? `${pick(known)}/${pick(NAMES)}` : pick(known);
          if (kind < 0.5) {
            tx.create(path, Buffer.from(label), pick([CreateMode.PERSISTENT, CreateMode.PERSISTENT_SEQUENTIAL]));
            ops.push(`create ${path}`);
          } else if (kind < 0.7) {
            tx.setData(path, Buffer.from(label), -1);
            ops.push(`setData ${path}`);
          } else if (kind < 0.85) {
            tx.check(path, 0);
            ops.push(`check ${path} v0`);
          } else {
            tx.remove(path, -1);
            ops.push(`delete ${path}`);
          }
        }
      });
      for (const r of result.results) if (r.type === 1 && r.path) known.push(r.path);
      c.record(`${label} multi [${ops.join('; ')}]`, {
        error: result.error?.codeName ?? null,
        results: result.results.map((r) => ({ type: r.type, err: r.err ?? null, path: r.path ?? null, stat: statOf(r.stat ?? null) })),
      });
    } else if (b && random() < 0.5) {
      await b.close();
      b = undefined;
      c.record(`${label} B closes its session`);
    } else {
      c.record(`${label} delete missing`, await errorName(a.remove(`${root}/missing-${step}`)));
    }
    // A round trip on A: every notification caused by this step reaches A before its reply.
    await a.exists('/');
    if (pending.length > 0) c.record(`${label} events`, pending.sort());
    pending = [];
  }
}

export const randomCases: ConformanceCase[] = [
  {
    name: 'seeded random operation sequences (differential: transcripts must match)',
    async run(c) {
      const seeds = (process.env.SAMSA_CONFORMANCE_SEEDS ?? DEFAULT_SEEDS.join(',')).split(',').map(Number);
      for (const seed of seeds) await runSequence(c, seed);
    },
  },
];
