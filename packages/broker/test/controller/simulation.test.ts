/**
 * Seeded random schedules of broker failures and returns, topic creation (by the controller and by
 * other brokers) and deletion, leader ISR proposals, ISR writes behind the controller's back,
 * preferred leader elections (asked for, and the periodic imbalance check) and controller failovers, checked against
 * invariants after every step. Writes go to an in-memory znode
 * store with ZooKeeper's version and parent rules; a failed write is followed by a re-read, as the
 * driver does; failover controllers load from the store. The invariants are checked on what is
 * persisted. A failing seed reproduces: run with SIM_SEED=<seed>.
 */
import { ErrorCodes } from '@samsa/protocol';
import { isDeepStrictEqual } from 'node:util';
import { describe, expect, it } from 'vitest';
import { assignReplicas } from '../../src/controller/assignment.js';
import { type ControllerInput, ControllerCore, type StepOutput, type WriteBatch } from '../../src/controller/core.js';
import type { ClusterSnapshot, LeaderAndIsr, LoadedTopic } from '../../src/controller/types.js';
import {
  decodePartitionState,
  decodeTopicAssignment,
  decodeTopicConfig,
  encodePartitionState,
  encodeTopicAssignment,
  encodeTopicConfig,
  partitionPath,
  partitionsPath,
  partitionStatePath,
  topicConfigPath,
  topicPath,
} from '../../src/controller/znodes.js';

function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Znodes with ZooKeeper's rules: create needs the parent and fails if present, set/delete check versions. */
class FakeZnodeStore {
  readonly nodes = new Map<string, { data: string; version: number; czxid: number }>();
  private zxid = 0;
  constructor() {
    for (const p of ['/brokers', '/brokers/topics', '/config', '/config/topics', '/admin', '/admin/delete_topics'])
      this.nodes.set(p, { data: '', version: 0, czxid: 0 });
  }
  private parent(path: string): string {
    return path.slice(0, path.lastIndexOf('/'));
  }
  children(path: string): string[] {
    const prefix = `${path}/`;
    return [...this.nodes.keys()]
      .filter((k) => k.startsWith(prefix) && !k.slice(prefix.length).includes('/'))
      .map((k) => k.slice(prefix.length));
  }
  /** Atomic like multi(): all ops or none; throws on the first failing op. */
  apply(batch: WriteBatch): void {
    this.zxid += 1;
    const copy = new Map(this.nodes);
    for (const op of batch.ops) {
      const cur = copy.get(op.path);
      if (op.op === 'create') {
        if (cur) throw new Error(`NODE_EXISTS ${op.path} (${batch.reason})`);
        if (!copy.has(this.parent(op.path))) throw new Error(`NO_NODE parent of ${op.path}`);
        copy.set(op.path, { data: op.data, version: 0, czxid: this.zxid });
      } else if (op.op === 'set') {
        if (!cur) throw new Error(`NO_NODE ${op.path}`);
        if (op.expectedVersion !== -1 && op.expectedVersion !== cur.version)
          throw new Error(`BAD_VERSION ${op.path} ${op.expectedVersion} != ${cur.version}`);
        copy.set(op.path, { ...cur, data: op.data, version: cur.version + 1 });
      } else {
        if (!cur) throw new Error(`NO_NODE ${op.path}`);
        if (op.expectedVersion !== -1 && op.expectedVersion !== cur.version) throw new Error(`BAD_VERSION ${op.path}`);
        if ([...copy.keys()].some((k) => k.startsWith(`${op.path}/`))) throw new Error(`NOT_EMPTY ${op.path}`);
        copy.delete(op.path);
      }
    }
    this.nodes.clear();
    for (const [k, v] of copy) this.nodes.set(k, v);
  }
  snapshot(live: number[]): ClusterSnapshot {
    const topics: LoadedTopic[] = this.children('/brokers/topics').map((name) => {
      const replicas = decodeTopicAssignment(name, this.nodes.get(topicPath(name))!.data);
      const config = this.nodes.get(topicConfigPath(name));
      return {
        name,
        configs: config ? decodeTopicConfig(name, config.data) : {},
        hasConfigZnode: config !== undefined,
        hasPartitionsZnode: this.nodes.has(partitionsPath(name)),
        partitions: replicas.map((r, p) => {
          const s = this.nodes.get(partitionStatePath(name, p));
          const base = { replicas: r, hasPartitionZnode: this.nodes.has(partitionPath(name, p)) };
          return s ? { ...base, state: decodePartitionState(name, p, s.data), stateZkVersion: s.version } : base;
        }),
      };
    });
    return { liveBrokerIds: live, topics, pendingDeletions: [] };
  }
}

/** Plain checks in the hot loop (vitest's expect is slow at this volume); the message names the seed. */
function invariant(condition: boolean, message: string): asserts condition {
  if (!condition) throw new Error(`invariant violated: ${message}`);
}

const BROKERS = [1, 2, 3, 4, 5];
const TOPICS = ['a', 'b', 'c', 'd'];
const UNCLEAN = 'unclean.leader.election.enable';

interface Stats {
  elections: number;
  unclean: number;
  failovers: number;
  resyncs: number;
  preferred: number;
}

function runSchedule(seed: number, steps: number): Stats {
  const rand = mulberry32(seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!;
  const store = new FakeZnodeStore();
  const live = new Set<number>([1, 2, 3]);
  let epoch = 1;
  let core = new ControllerCore();
  const stats: Stats = { elections: 0, unclean: 0, failovers: 0, resyncs: 0, preferred: 0 };
  // Checked on what is persisted: a decision whose write failed never happened.
  const persisted = new Map<string, LeaderAndIsr>(); // by topic incarnation and partition
  const leaderAt = new Map<string, number>(); // by incarnation, partition and leader epoch
  const behindTheBack = new Set<string>(); // partitions written without the controller

  /** What the driver does: perform the writes in order; on a failed write, re-read and re-decide. */
  const drive = (input: ControllerInput): { out: StepOutput; failed: boolean } => {
    const out = core.step(input);
    let next: StepOutput | undefined = out;
    let failed = false;
    for (let attempt = 0; next; attempt++) {
      invariant(attempt < 5, `seed ${seed}: writes keep failing after re-reads`);
      const batches = next.writes;
      next = undefined;
      for (const batch of batches) {
        try {
          store.apply(batch);
        } catch {
          failed = true;
          stats.resyncs++;
          next = core.step({ type: 'Resynced', snapshot: store.snapshot([...live]) });
          break;
        }
      }
    }
    return { out, failed };
  };

  const check = (what: string): void => {
    const ctx = `seed ${seed}, ${what}`;
    for (const name of store.children('/brokers/topics')) {
      const incarnation = `${name}@${store.nodes.get(topicPath(name))!.czxid}`;
      const configs = decodeTopicConfig(name, store.nodes.get(topicConfigPath(name))!.data);
      const replicas = decodeTopicAssignment(name, store.nodes.get(topicPath(name))!.data);
      replicas.forEach((r, partition) => {
        const key = `${incarnation}-${partition}`;
        const stored = store.nodes.get(partitionStatePath(name, partition));
        const view = core.topic(name)?.partitions[partition];
        if (!stored) {
          invariant(view?.state === undefined, `${ctx}: core has state for unstored ${key}`);
          return;
        }
        const s = decodePartitionState(name, partition, stored.data);
        // The core agrees with what is stored, unless a leader wrote behind its back (it finds out
        // when its next write to that partition fails).
        if (view?.stateZkVersion === stored.version) {
          invariant(
            isDeepStrictEqual(view.state, s),
            `${ctx}: core view of ${key} is ${JSON.stringify(view.state)}, store ${JSON.stringify(s)}`,
          );
          behindTheBack.delete(key);
        } else {
          invariant(
            behindTheBack.has(key),
            `${ctx}: core has version ${view?.stateZkVersion} of ${key}, store ${stored.version}`,
          );
        }
        // Transitions: epochs never go back, one leader per epoch, no unclean election unless enabled.
        const before = persisted.get(key);
        if (before) {
          invariant(s.leaderEpoch >= before.leaderEpoch, `${ctx}: leader epoch went back for ${key}`);
          if (s.leader !== before.leader && s.leader !== -1) {
            stats.elections++;
            if (!before.isr.includes(s.leader)) {
              invariant(configs[UNCLEAN] === 'true', `${ctx}: unclean election of ${s.leader} for ${key}`);
              stats.unclean++;
            }
          }
        }
        persisted.set(key, s);
        const seen = leaderAt.get(`${key}@${s.leaderEpoch}`);
        invariant(seen === undefined || seen === s.leader, `${ctx}: two leaders in epoch ${s.leaderEpoch} of ${key}`);
        leaderAt.set(`${key}@${s.leaderEpoch}`, s.leader);
        // The state itself.
        invariant(s.isr.length > 0, `${ctx}: empty ISR`);
        invariant(
          s.isr.every((x) => r.includes(x)),
          `${ctx}: ISR outside the replicas of ${key}`,
        );
        if (s.leader !== -1) {
          invariant(live.has(s.leader), `${ctx}: leader ${s.leader} of ${key} is dead`);
          invariant(s.isr.includes(s.leader), `${ctx}: leader outside ISR`);
          invariant(
            s.isr.every((x) => live.has(x)),
            `${ctx}: dead broker in ISR with a live leader`,
          );
        } else {
          // Leaderless only when no ISR member is alive, and then an unclean topic has no live replica.
          invariant(!s.isr.some((x) => live.has(x)), `${ctx}: leaderless with a live ISR member`);
          invariant(
            configs[UNCLEAN] !== 'true' || !r.some((x) => live.has(x)),
            `${ctx}: unclean topic left leaderless`,
          );
        }
      });
    }
    invariant(isDeepStrictEqual(store.children('/brokers/topics').sort(), core.knownTopics()), `${ctx}: topics differ`);
  };

  drive({ type: 'ControllerElected', controllerEpoch: epoch, snapshot: store.snapshot([...live]) });
  check('elected');
  for (let i = 0; i < steps; i++) {
    const r = rand();
    const randomPartition = () => {
      const name = core.knownTopics().length ? pick(core.knownTopics()) : undefined;
      return name ? pick(core.topic(name)!.partitions) : undefined;
    };
    if (r < 0.22) {
      const id = pick(BROKERS);
      if (live.has(id)) live.delete(id);
      else live.add(id);
      drive({ type: 'BrokersChanged', liveBrokerIds: [...live] });
      check(`step ${i}: broker ${id} toggled`);
    } else if (r < 0.42) {
      const topic = pick(TOPICS);
      const rf = 1 + Math.floor(rand() * 4);
      const configs: Record<string, string> = rand() < 0.3 ? { [UNCLEAN]: 'true' } : {};
      const existed = core.topic(topic) !== undefined;
      const { out, failed } = drive({
        type: 'CreateTopic',
        topic,
        numPartitions: 1 + Math.floor(rand() * 4),
        replicationFactor: rf,
        configs,
        seed: Math.floor(rand() * 1000),
        topicId: `${topic}-${i}`,
      });
      const expected = existed
        ? ErrorCodes.TOPIC_ALREADY_EXISTS
        : rf > live.size
          ? ErrorCodes.INVALID_REPLICATION_FACTOR
          : ErrorCodes.NONE;
      invariant(
        out.results[0]!.error === expected && !failed,
        `seed ${seed}, step ${i}: create ${topic} answered ${out.results[0]!.error.name}`,
      );
      check(`step ${i}: create ${topic}`);
    } else if (r < 0.5) {
      // Another broker auto-creates a topic: it writes config and assignment; the controller sees the child.
      const topic = pick(TOPICS);
      const rf = 1 + Math.floor(rand() * 2);
      if (store.nodes.has(topicPath(topic)) || rf > live.size) continue;
      const replicas = assignReplicas([...live], 1 + Math.floor(rand() * 3), rf, Math.floor(rand() * 1000));
      store.apply({
        reason: 'auto-create',
        ops: [
          { op: 'create', path: topicConfigPath(topic), data: encodeTopicConfig({}) },
          { op: 'create', path: topicPath(topic), data: encodeTopicAssignment(replicas) },
        ],
      });
      const snapshot = store.snapshot([...live]);
      drive({
        type: 'TopicZnodesChanged',
        current: store.children('/brokers/topics'),
        loaded: snapshot.topics.filter((t) => t.name === topic),
      });
      check(`step ${i}: auto-create ${topic}`);
    } else if (r < 0.58) {
      drive({ type: 'DeleteTopic', topic: pick(TOPICS), adminRequest: false });
      check(`step ${i}: delete`);
    } else if (r < 0.75) {
      // A leader proposes an ISR through the controller: drop followers or add live replicas.
      const p = randomPartition();
      if (!p?.state || p.state.leader === -1) continue;
      const candidates = p.replicas.filter((x) => live.has(x) && x !== p.state!.leader);
      const isr = [p.state.leader, ...candidates.filter(() => rand() < 0.5)];
      const { out } = drive({
        type: 'AlterIsr',
        topic: p.topic,
        partition: p.partition,
        leaderId: p.state.leader,
        leaderEpoch: p.state.leaderEpoch,
        stateZkVersion: p.stateZkVersion,
        newIsr: isr,
      });
      invariant(
        out.results[0]!.error === ErrorCodes.NONE,
        `seed ${seed}, step ${i}: AlterIsr answered ${out.results[0]!.error.name}`,
      );
      check(`step ${i}: alter ISR`);
    } else if (r < 0.88) {
      // A leader shrinks its ISR in the store directly (Kafka's pre-AlterIsr scheme), behind the
      // controller's back: the controller's next write to that partition fails its version check.
      const p = randomPartition();
      const stored = p && store.nodes.get(partitionStatePath(p.topic, p.partition));
      if (!p || !stored) continue;
      const s = decodePartitionState(p.topic, p.partition, stored.data);
      if (s.leader === -1) continue;
      const isr = [s.leader, ...s.isr.filter((x) => x !== s.leader && rand() < 0.5)];
      store.apply({
        reason: 'leader ISR shrink',
        ops: [
          {
            op: 'set',
            path: partitionStatePath(p.topic, p.partition),
            data: encodePartitionState({ ...s, isr }),
            expectedVersion: stored.version,
          },
        ],
      });
      behindTheBack.add(`${p.topic}@${store.nodes.get(topicPath(p.topic))!.czxid}-${p.partition}`);
      check(`step ${i}: ISR shrink behind the controller's back`);
    } else if (r < 0.94) {
      // Preferred leader election: some partitions by name, or the periodic imbalance check.
      // Named: mostly partitions led by another replica than their first, where an election can happen.
      const displaced = core
        .knownTopics()
        .flatMap((t) => core.topic(t)!.partitions)
        .filter((p) => p.state && p.state.leader !== -1 && p.state.leader !== p.replicas[0]);
      // Often the first replica has caught up since: its leader takes it back into the ISR first.
      const behind = displaced.filter((p) => live.has(p.replicas[0]!) && !p.state!.isr.includes(p.replicas[0]!));
      if (behind.length > 0 && rand() < 0.7) {
        const p = pick(behind);
        drive({
          type: 'AlterIsr',
          topic: p.topic,
          partition: p.partition,
          leaderId: p.state!.leader,
          leaderEpoch: p.state!.leaderEpoch,
          stateZkVersion: p.stateZkVersion,
          newIsr: [...p.state!.isr, p.replicas[0]!],
        });
        check(`step ${i}: first replica back in the ISR`);
      }
      const named = rand() < 0.5;
      const input: ControllerInput = named
        ? {
            type: 'ElectPreferredLeaders',
            partitions: Array.from({ length: 1 + Math.floor(rand() * 3) }, () =>
              displaced.length > 0 && rand() < 0.8 ? pick(displaced) : randomPartition(),
            )
              .filter((p) => p !== undefined)
              .map((p) => ({ topic: p.topic, partition: p.partition })),
          }
        : { type: 'ElectPreferredLeaders', partitions: 'imbalanced', imbalancePercentage: pick([0, 10, 50]) };
      const { out, failed } = drive(input);
      for (const c of out.changes) {
        const preferred = core.topic(c.topic)?.partitions[c.partition]?.replicas[0];
        invariant(
          c.after.leader === preferred && !c.unclean && isDeepStrictEqual(c.after.isr, c.before?.isr),
          `seed ${seed}, step ${i}: preferred election of ${c.topic}-${c.partition} gave ${JSON.stringify(c.after)}`,
        );
      }
      for (const res of out.results) {
        const view = core.topic(res.topic)?.partitions[res.partition!];
        if (res.error === ErrorCodes.NONE && !failed)
          invariant(
            view?.state?.leader === view?.replicas[0],
            `seed ${seed}, step ${i}: elected ${res.topic}-${res.partition} is not led by its preferred replica`,
          );
        if (res.error === ErrorCodes.ELECTION_NOT_NEEDED)
          invariant(
            view?.state?.leader === view?.replicas[0],
            `seed ${seed}, step ${i}: ElectionNotNeeded for ` +
              `${res.topic}-${res.partition} led by ${view?.state?.leader}`,
          );
      }
      if (!failed) stats.preferred += out.changes.length;
      check(`step ${i}: preferred leader election`);
    } else {
      // Controller failover: a new core loads what the old one wrote, with a higher epoch.
      stats.failovers++;
      core = new ControllerCore();
      drive({ type: 'ControllerElected', controllerEpoch: ++epoch, snapshot: store.snapshot([...live]) });
      check(`step ${i}: failover`);
    }
  }
  return stats;
}

describe('ControllerCore: seeded random schedules', () => {
  const only = process.env.SIM_SEED;
  const seeds = only ? [Number(only)] : Array.from({ length: 100 }, (_, i) => i + 1);
  it(`holds the invariants for ${seeds.length} seeds x 300 steps`, () => {
    const total: Stats = { elections: 0, unclean: 0, failovers: 0, resyncs: 0, preferred: 0 };
    for (const seed of seeds) {
      const s = runSchedule(seed, 300);
      total.elections += s.elections;
      total.unclean += s.unclean;
      total.failovers += s.failovers;
      total.resyncs += s.resyncs;
      total.preferred += s.preferred;
    }
    // The schedules must actually exercise elections, unclean elections and failovers.
    expect(total.elections).toBeGreaterThan(100);
    expect(total.unclean).toBeGreaterThan(5);
    expect(total.failovers).toBeGreaterThan(100);
    expect(total.resyncs).toBeGreaterThan(50);
    expect(total.preferred).toBeGreaterThan(100);
  });
});
