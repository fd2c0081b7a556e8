/**
 * Seeded random schedules of broker failures and returns, topic creation and deletion, leader ISR
 * proposals and controller failovers, checked against invariants after every step. The writes are
 * applied to an in-memory znode store with ZooKeeper's version and parent rules, and failover
 * controllers load their snapshot from it. A failing seed reproduces: run with SIM_SEED=<seed>.
 */
import { ErrorCodes } from '@samsa/protocol';
import { describe, expect, it } from 'vitest';
import { ControllerCore, type StepOutput, type WriteBatch } from '../../src/controller/core.js';
import type { ClusterSnapshot, LeaderAndIsr, LoadedTopic } from '../../src/controller/types.js';
import {
  decodePartitionState,
  decodeTopicAssignment,
  decodeTopicConfig,
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
  readonly nodes = new Map<string, { data: string; version: number }>();
  constructor() {
    for (const p of ['/brokers', '/brokers/topics', '/config', '/config/topics', '/admin', '/admin/delete_topics']) this.nodes.set(p, { data: '', version: 0 });
  }
  private parent(path: string): string {
    return path.slice(0, path.lastIndexOf('/'));
  }
  children(path: string): string[] {
    const prefix = `${path}/`;
    return [...this.nodes.keys()].filter((k) => k.startsWith(prefix) && !k.slice(prefix.length).includes('/')).map((k) => k.slice(prefix.length));
  }
  /** Atomic like multi(): all ops or none. */
  apply(batch: WriteBatch): void {
    const copy = new Map(this.nodes);
    for (const op of batch.ops) {
      const cur = copy.get(op.path);
      if (op.op === 'create') {
        if (cur) throw new Error(`NODE_EXISTS ${op.path} (${batch.reason})`);
        if (!copy.has(this.parent(op.path))) throw new Error(`NO_NODE parent of ${op.path}`);
        copy.set(op.path, { data: op.data, version: 0 });
      } else if (op.op === 'set') {
        if (!cur) throw new Error(`NO_NODE ${op.path}`);
        if (op.expectedVersion !== -1 && op.expectedVersion !== cur.version) throw new Error(`BAD_VERSION ${op.path} ${op.expectedVersion} != ${cur.version}`);
        copy.set(op.path, { data: op.data, version: cur.version + 1 });
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

const BROKERS = [1, 2, 3, 4, 5];
const TOPICS = ['a', 'b', 'c', 'd'];

function runSchedule(seed: number, steps: number): { elections: number; unclean: number; failovers: number } {
  const rand = mulberry32(seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!;
  const store = new FakeZnodeStore();
  const live = new Set<number>([1, 2, 3]);
  let epoch = 1;
  let core = new ControllerCore();
  const stats = { elections: 0, unclean: 0, failovers: 0 };
  // Per topic incarnation: leader by epoch, last epoch seen.
  let incarnation = 0;
  const incarnationOf = new Map<string, number>();
  const leaderAt = new Map<string, number>();
  const lastEpoch = new Map<string, number>();

  const check = (out: StepOutput, what: string): void => {
    const ctx = `seed ${seed}, ${what}`;
    for (const w of out.writes) store.apply(w);
    for (const c of out.changes) {
      const key = `${incarnationOf.get(c.topic)}/${c.topic}-${c.partition}`;
      const s = c.after;
      const prevEpoch = lastEpoch.get(key) ?? -1;
      expect(s.leaderEpoch, `${ctx}: leader epoch went back for ${key}`).toBeGreaterThanOrEqual(prevEpoch);
      lastEpoch.set(key, s.leaderEpoch);
      const seen = leaderAt.get(`${key}@${s.leaderEpoch}`);
      if (seen !== undefined) expect(s.leader, `${ctx}: two leaders in epoch ${s.leaderEpoch} of ${key}`).toBe(seen);
      leaderAt.set(`${key}@${s.leaderEpoch}`, s.leader);
      if (c.before && s.leader !== c.before.leader && s.leader !== -1) {
        stats.elections++;
        const uncleanAllowed = core.topic(c.topic)!.configs['unclean.leader.election.enable'] === 'true';
        if (!c.before.isr.includes(s.leader)) {
          expect(uncleanAllowed && c.unclean, `${ctx}: unclean election of ${s.leader} for ${key}`).toBe(true);
          stats.unclean++;
        }
      }
    }
    // State invariants over the whole cluster, and the store agrees with the core.
    for (const name of core.knownTopics()) {
      for (const p of core.topic(name)!.partitions) {
        const s: LeaderAndIsr | undefined = p.state;
        const stored = store.nodes.get(partitionStatePath(name, p.partition));
        if (!s) {
          expect(stored, `${ctx}: ${name}-${p.partition} stored without state`).toBeUndefined();
          continue;
        }
        expect(decodePartitionState(name, p.partition, stored!.data)).toEqual(s);
        expect(stored!.version).toBe(p.stateZkVersion);
        expect(s.isr.length, `${ctx}: empty ISR`).toBeGreaterThan(0);
        expect(s.isr.every((r) => p.replicas.includes(r))).toBe(true);
        if (s.leader !== -1) {
          expect(live.has(s.leader), `${ctx}: leader ${s.leader} of ${name}-${p.partition} is dead`).toBe(true);
          expect(s.isr, `${ctx}: leader outside ISR`).toContain(s.leader);
          expect(s.isr.every((r) => live.has(r)), `${ctx}: dead broker in ISR with a live leader`).toBe(true);
        } else {
          // Leaderless only when no ISR member is alive (and unclean election is off or impossible).
          expect(s.isr.some((r) => live.has(r)), `${ctx}: leaderless with a live ISR member`).toBe(false);
        }
      }
    }
    expect(store.children('/brokers/topics').sort()).toEqual(core.knownTopics());
  };

  check(core.step({ type: 'ControllerElected', controllerEpoch: epoch, snapshot: store.snapshot([...live]) }), 'elected');
  for (let i = 0; i < steps; i++) {
    const r = rand();
    if (r < 0.25) {
      const id = pick(BROKERS);
      if (live.has(id)) live.delete(id);
      else live.add(id);
      check(core.step({ type: 'BrokersChanged', liveBrokerIds: [...live] }), `step ${i}: broker ${id} toggled`);
    } else if (r < 0.5) {
      const topic = pick(TOPICS);
      const rf = 1 + Math.floor(rand() * 4);
      const configs: Record<string, string> = rand() < 0.3 ? { 'unclean.leader.election.enable': 'true' } : {};
      const existed = core.topic(topic) !== undefined;
      const out = core.step({ type: 'CreateTopic', topic, numPartitions: 1 + Math.floor(rand() * 4), replicationFactor: rf, configs, seed: Math.floor(rand() * 1000) });
      const expected = existed ? ErrorCodes.TOPIC_ALREADY_EXISTS : rf > live.size ? ErrorCodes.INVALID_REPLICATION_FACTOR : ErrorCodes.NONE;
      expect(out.results[0]!.error).toBe(expected);
      if (expected === ErrorCodes.NONE) incarnationOf.set(topic, ++incarnation);
      check(out, `step ${i}: create ${topic}`);
    } else if (r < 0.6) {
      check(core.step({ type: 'DeleteTopic', topic: pick(TOPICS), adminRequest: false }), `step ${i}: delete`);
    } else if (r < 0.85) {
      // A leader proposes an ISR: drop a follower or add a live replica.
      const name = core.knownTopics().length ? pick(core.knownTopics()) : undefined;
      const p = name ? pick(core.topic(name)!.partitions) : undefined;
      if (!p?.state || p.state.leader === -1) continue;
      const candidates = p.replicas.filter((x) => live.has(x) && x !== p.state!.leader);
      const isr = [p.state.leader, ...candidates.filter(() => rand() < 0.5)];
      const out = core.step({ type: 'AlterIsr', topic: p.topic, partition: p.partition, leaderId: p.state.leader, leaderEpoch: p.state.leaderEpoch, stateZkVersion: p.stateZkVersion, newIsr: isr });
      expect(out.results[0]!.error).toBe(ErrorCodes.NONE);
      check(out, `step ${i}: alter ISR`);
    } else {
      // Controller failover: a new core loads what the old one wrote, with a higher epoch.
      stats.failovers++;
      core = new ControllerCore();
      check(core.step({ type: 'ControllerElected', controllerEpoch: ++epoch, snapshot: store.snapshot([...live]) }), `step ${i}: failover`);
    }
  }
  return stats;
}

describe('ControllerCore: seeded random schedules', () => {
  const only = process.env.SIM_SEED;
  const seeds = only ? [Number(only)] : Array.from({ length: 80 }, (_, i) => i + 1);
  it(`holds the invariants for ${seeds.length} seeds x 300 steps`, () => {
    const total = { elections: 0, unclean: 0, failovers: 0 };
    for (const seed of seeds) {
      const s = runSchedule(seed, 300);
      total.elections += s.elections;
      total.unclean += s.unclean;
      total.failovers += s.failovers;
    }
    // The schedules must actually exercise elections, unclean elections and failovers.
    expect(total.elections).toBeGreaterThan(100);
    expect(total.unclean).toBeGreaterThan(5);
    expect(total.failovers).toBeGreaterThan(100);
  });
});
