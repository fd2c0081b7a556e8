/**
 * A small in-memory cluster that drives the real replication cores (LeaderState, the epoch cache,
 * validateFollowerFetch, followerTruncation) the way the broker will: brokers with logs as arrays,
 * a controller that elects from the ISR and commits ISR changes with version checks, a network
 * that delays, reorders and drops, crashes, restarts, isolation and expired sessions, and a clock.
 *
 * `checkInvariants()` is run after every step; it throws an InvariantViolation naming the rule.
 * Logs are durable across crashes (a process crash, not a power loss: the page cache survives), and
 * the leader-epoch cache is either kept (as checkpointed) or rebuilt from the log on restart.
 */
import { ErrorCodes } from '@samsa/protocol';
import {
  LeaderEpochCache,
  LeaderState,
  followerHighWatermark,
  followerTruncation,
  validateFollowerFetch,
  type EpochEndOffset,
  type IsrProposal,
  type IsrRejection,
  type LeaderOutput,
} from '../../../src/replication/index.js';
import { Rng } from './rng.js';

export interface Entry {
  readonly offset: number;
  readonly epoch: number;
  readonly value: string;
}

export interface PartitionState {
  readonly leader: number;
  readonly leaderEpoch: number;
  readonly isr: readonly number[];
  readonly zkVersion: number;
}

export interface SimOptions {
  readonly brokers?: number;
  readonly minInsyncReplicas?: number;
  readonly replicaLagTimeMaxMs?: number;
  /** Off by default (and in every random run): the Jepsen test turns it on to show the hazard. */
  readonly uncleanLeaderElection?: boolean;
  /** The model controller by default; pass coreController (core-controller.ts) to run the real one. */
  readonly controller?: ControllerFactory;
  readonly maxFetchRecords?: number;
  /** Follower fetch and AlterIsr resend timeouts (simulated ms). */
  readonly requestTimeoutMs?: number;
}

export class InvariantViolation extends Error {
  constructor(rule: string, detail: string) {
    super(`${rule}: ${detail}`);
    this.name = 'InvariantViolation';
  }
}

type Message =
  | {
      readonly kind: 'fetch';
      readonly from: number;
      readonly to: number;
      readonly id: number;
      readonly currentLeaderEpoch: number;
      readonly fetchOffset: number;
      readonly lastFetchedEpoch: number;
    }
  | {
      readonly kind: 'fetchResponse';
      readonly from: number;
      readonly to: number;
      readonly id: number;
      readonly fetchOffset: number;
      readonly outcome: 'ok' | 'diverging' | 'outOfRange' | 'error';
      readonly logStartOffset: number;
      readonly records: ReadonlyArray<Entry | undefined>;
      readonly highWatermark: number;
      readonly divergingEpoch?: EpochEndOffset;
    }
  | {
      readonly kind: 'alterIsr';
      readonly from: number;
      readonly to: 'controller';
      readonly term: number;
      readonly proposal: IsrProposal;
    }
  | {
      readonly kind: 'alterIsrResponse';
      readonly from: 'controller';
      readonly to: number;
      readonly term: number;
      readonly proposal: IsrProposal;
      readonly ok: boolean;
      readonly reason?: IsrRejection;
      readonly isr?: readonly number[];
      readonly zkVersion?: number;
    };

interface PendingAck {
  readonly offset: number;
  readonly value: string;
  readonly term: number;
}

class Broker {
  alive = true;
  isolated = false;
  /** Index = offset; offsets below logStart were deleted by retention (holes). */
  log: Array<Entry | undefined> = [];
  logStart = 0;
  cache = new LeaderEpochCache();
  highWatermark = 0;
  hwCheckpoint = 0;
  known: PartitionState | undefined;
  metadataStale = true;
  leader: LeaderState | undefined;
  /** Unique id of the current LeaderState (a "term" of this broker's leadership). */
  term = 0;
  alterIsrSentAtMs = 0;
  following: { leader: number; epoch: number } | undefined;
  fetch: { id: number; sentAtMs: number } | undefined;
  pendingAcks: PendingAck[] = [];

  constructor(readonly id: number) {}

  get logEndOffset(): number {
    return this.log.length;
  }
}

/** What the simulation needs from a controller: the model below, or the real ControllerCore (core-controller.ts). */
export interface SimController {
  readonly state: PartitionState;
  /** The brokers whose sessions the controller sees. */
  readonly live: ReadonlySet<number>;
  /** leader epoch -> the leader the controller elected for it. */
  readonly epochLeaders: ReadonlyMap<number, number>;
  /** Elections of a leader from outside the ISR. */
  readonly uncleanElections: number;
  brokerDown(id: number): void;
  brokerUp(id: number): void;
  alterIsr(from: number, p: IsrProposal): { ok: true; state: PartitionState } | { ok: false; reason: IsrRejection };
}

export type ControllerFactory = (
  replicas: readonly number[],
  unclean: boolean,
  onChange: (state: PartitionState) => void,
) => SimController;

/** A small model of ControllerCore's rules (see its file comment). */
class ModelController implements SimController {
  state: PartitionState;
  readonly live: Set<number>;
  readonly epochLeaders = new Map<number, number>();
  uncleanElections = 0;

  constructor(
    readonly replicas: readonly number[],
    private readonly unclean: boolean,
    private readonly onChange: (state: PartitionState) => void,
  ) {
    this.live = new Set(replicas);
    this.state = { leader: replicas[0]!, leaderEpoch: 0, isr: [...replicas], zkVersion: 0 };
    this.epochLeaders.set(0, replicas[0]!);
  }

  brokerDown(id: number): void {
    if (!this.live.delete(id)) return;
    this.reconcile();
  }

  brokerUp(id: number): void {
    if (this.live.has(id)) return;
    this.live.add(id);
    this.reconcile();
  }

  /** Mirrors ControllerCore.reconcile's election rule. */
  private reconcile(): void {
    const s = this.state;
    const liveIsr = s.isr.filter((r) => this.live.has(r));
    if (s.leader !== -1 && this.live.has(s.leader)) {
      if (liveIsr.length !== s.isr.length) this.bump(s.leader, liveIsr);
      return;
    }
    const clean = this.replicas.find((r) => this.live.has(r) && liveIsr.includes(r));
    if (clean !== undefined) {
      this.bump(clean, liveIsr);
      return;
    }
    const unclean = this.replicas.find((r) => this.live.has(r));
    if (unclean !== undefined && this.unclean) {
      this.uncleanElections++;
      this.bump(unclean, [unclean]);
      return;
    }
    if (s.leader !== -1) this.bump(-1, s.isr);
  }

  private bump(leader: number, isr: readonly number[]): void {
    const leaderEpoch = this.state.leaderEpoch + 1;
    if (leader !== -1) {
      if (!isr.includes(leader)) throw new InvariantViolation('controller', `leader ${leader} outside ISR [${isr}]`);
      this.epochLeaders.set(leaderEpoch, leader);
    }
    this.write({ leader, leaderEpoch, isr: [...isr], zkVersion: this.state.zkVersion + 1 });
  }

  private write(state: PartitionState): void {
    this.state = state;
    this.onChange(state);
  }

  /** AlterIsr, fenced like ControllerCore.alterIsr. */
  alterIsr(from: number, p: IsrProposal): { ok: true; state: PartitionState } | { ok: false; reason: IsrRejection } {
    const s = this.state;
    if (from !== s.leader || p.leaderEpoch !== s.leaderEpoch || p.zkVersion !== s.zkVersion)
      return { ok: false, reason: 'stale' };
    if (!p.isr.includes(from) || !p.isr.every((r) => this.live.has(r) && this.replicas.includes(r)))
      return { ok: false, reason: 'invalid' };
    this.write({ ...s, isr: [...p.isr], zkVersion: s.zkVersion + 1 });
    return { ok: true, state: this.state };
  }
}

export interface SimStats {
  steps: number;
  produced: number;
  acked: number;
  failedAcks: number;
  elections: number;
  truncations: number;
  isrChanges: number;
  crashes: number;
  retentions: number;
}

export class SimCluster {
  readonly brokers: Broker[];
  readonly controller: SimController;
  readonly rng: Rng;
  nowMs = 0;
  readonly minInsyncReplicas: number;
  readonly replicaLagTimeMaxMs: number;
  private readonly maxFetchRecords: number;
  private readonly requestTimeoutMs: number;
  private network: Message[] = [];
  private storm = false;
  private nextId = 1;
  private nextValue = 1;
  /** offset -> the record committed there (below some leader's HW). */
  readonly committed = new Map<number, Entry>();
  readonly acked: Entry[] = [];
  readonly failedAcks: Entry[] = [];
  /** leader epoch -> broker that held a LeaderState for it. */
  private readonly termEpochs = new Map<number, number>();
  private readonly termHighWatermarks = new Map<number, number>();
  private readonly termCommittedUpTo = new Map<number, number>();
  private lastControllerEpoch = 0;
  private readonly uncleanAllowed: boolean;
  readonly trace: string[] = [];
  readonly stats: SimStats = {
    steps: 0,
    produced: 0,
    acked: 0,
    failedAcks: 0,
    elections: 0,
    truncations: 0,
    isrChanges: 0,
    crashes: 0,
    retentions: 0,
  };

  constructor(seed: number, options: SimOptions = {}) {
    this.rng = new Rng(seed);
    const n = options.brokers ?? 3;
    this.minInsyncReplicas = options.minInsyncReplicas ?? 2;
    this.replicaLagTimeMaxMs = options.replicaLagTimeMaxMs ?? 2000;
    this.maxFetchRecords = options.maxFetchRecords ?? 5;
    this.requestTimeoutMs = options.requestTimeoutMs ?? 500;
    this.brokers = Array.from({ length: n }, (_, i) => new Broker(i));
    this.uncleanAllowed = options.uncleanLeaderElection ?? false;
    this.controller = (options.controller ?? ((r, u, c) => new ModelController(r, u, c)))(
      this.brokers.map((b) => b.id),
      options.uncleanLeaderElection ?? false,
      (state) => {
        this.log(
          `controller: leader ${state.leader} epoch ${state.leaderEpoch} isr [${state.isr}] v${state.zkVersion}`,
        );
        for (const b of this.brokers) b.metadataStale = true;
      },
    );
    for (const b of this.brokers) this.readMetadata(b);
  }

  // ---- actions (each is one step of a schedule) ----

  /** A client produces to `brokerId` if it thinks it leads. Returns the entry, or why not. */
  produce(
    brokerId: number,
    acks: 'all' | 1 = 'all',
    value = `v${this.nextValue++}`,
  ): Entry | 'notLeader' | 'notEnoughReplicas' {
    const b = this.brokers[brokerId]!;
    if (!b.alive || !b.leader) return 'notLeader';
    // acks=all is refused before appending below min.insync.replicas (NotEnoughReplicas).
    if (acks === 'all' && !b.leader.canAcceptAcksAll()) return 'notEnoughReplicas';
    const entry: Entry = { offset: b.logEndOffset, epoch: b.leader.leaderEpoch, value };
    b.log.push(entry);
    b.cache.assign(entry.epoch, entry.offset);
    this.stats.produced++;
    this.log(`b${b.id} append ${value}@${entry.offset} e${entry.epoch} acks=${acks}`);
    this.handleLeaderOutput(b, b.leader.onLocalAppend(b.logEndOffset, this.nowMs));
    if (acks === 'all') b.pendingAcks.push({ offset: entry.offset, value, term: b.term });
    this.resolveAcks(b);
    return entry;
  }

  /** A follower with no fetch outstanding sends one to the leader it follows. */
  sendFetch(brokerId: number): boolean {
    const b = this.brokers[brokerId]!;
    if (!b.alive || !b.following || b.following.leader < 0 || b.fetch) return false;
    const id = this.nextId++;
    b.fetch = { id, sentAtMs: this.nowMs };
    this.send({
      kind: 'fetch',
      from: b.id,
      to: b.following.leader,
      id,
      currentLeaderEpoch: b.following.epoch,
      fetchOffset: b.logEndOffset,
      lastFetchedEpoch: b.cache.latestEpoch,
    });
    return true;
  }

  /** Delivers the in-flight message at `index` (a random one by default). */
  deliver(index = this.rng.int(0, this.network.length - 1)): boolean {
    const [msg] = this.network.splice(index, 1);
    if (!msg) return false;
    const endpoints = [msg.from, msg.to].filter((e): e is number => e !== 'controller');
    if (endpoints.some((e) => this.brokers[e]!.isolated)) return this.dropped(msg);
    if (msg.to !== 'controller' && !this.brokers[msg.to]!.alive) return this.dropped(msg);
    switch (msg.kind) {
      case 'fetch':
        this.onFetch(msg);
        break;
      case 'fetchResponse':
        this.onFetchResponse(msg);
        break;
      case 'alterIsr':
        this.onAlterIsr(msg);
        break;
      case 'alterIsrResponse':
        this.onAlterIsrResponse(msg);
        break;
    }
    return true;
  }

  /** Delivers the first in-flight message matching `pred` (for scripted scenarios). */
  deliverWhere(
    pred: (m: { kind: Message['kind']; from: number | 'controller'; to: number | 'controller' }) => boolean,
  ): boolean {
    const index = this.network.findIndex(pred);
    return index >= 0 && this.deliver(index);
  }

  /** The kinds of the messages in flight, oldest first. */
  inFlightKinds(): Array<Message['kind']> {
    return this.network.map((m) => m.kind);
  }

  drop(index = this.rng.int(0, this.network.length - 1)): boolean {
    const [msg] = this.network.splice(index, 1);
    return msg ? this.dropped(msg) : false;
  }

  /** The broker re-reads the partition state znode (a watch fired). */
  readMetadata(b: Broker): void {
    if (!b.alive || b.isolated) return;
    b.metadataStale = false;
    this.applyState(b, this.controller.state);
  }

  deliverMetadata(brokerId: number): boolean {
    const b = this.brokers[brokerId]!;
    if (!b.metadataStale || !b.alive || b.isolated) return false;
    this.readMetadata(b);
    return true;
  }

  /** Time passes: leaders check for lagging followers and resend unanswered proposals; fetches time out. */
  advance(ms: number): void {
    this.nowMs += ms;
    for (const b of this.brokers) {
      if (!b.alive) continue;
      if (b.fetch && this.nowMs - b.fetch.sentAtMs > this.requestTimeoutMs) b.fetch = undefined;
      if (!b.leader) continue;
      this.handleLeaderOutput(b, b.leader.onTick(this.nowMs));
      const pending = b.leader.pendingIsrProposal;
      // The AlterIsr manager resends until answered (a resent duplicate may lose to the first copy).
      if (pending && this.nowMs - b.alterIsrSentAtMs > this.requestTimeoutMs) this.sendAlterIsr(b, pending);
      this.resolveAcks(b);
    }
  }

  /** The broker's HW checkpoint is written (Kafka does it every replica.high.watermark.checkpoint.interval.ms). */
  checkpoint(brokerId: number): void {
    const b = this.brokers[brokerId]!;
    if (b.alive) b.hwCheckpoint = b.highWatermark;
  }

  /**
   * The process dies. By default the controller sees its session end; `unnoticed` models a restart
   * quicker than the session timeout that the controller does not detect as a bounce.
   */
  crash(brokerId: number, options: { unnoticed?: boolean } = {}): void {
    const b = this.brokers[brokerId]!;
    if (!b.alive) return;
    this.log(`b${b.id} CRASH`);
    this.stats.crashes++;
    b.alive = false;
    this.failAcks(b);
    b.leader = undefined;
    b.following = undefined;
    b.fetch = undefined;
    b.known = undefined;
    // The controller sees the session end.
    if (!options.unnoticed) this.controller.brokerDown(b.id);
  }

  restart(brokerId: number): void {
    const b = this.brokers[brokerId]!;
    if (b.alive) return;
    b.alive = true;
    b.isolated = false;
    // Recovery: the log is intact; the HW comes from its checkpoint; the epoch cache is either the
    // checkpointed one or rebuilt from the batches' epochs.
    if (this.rng.chance(0.5)) {
      b.cache = new LeaderEpochCache();
      for (const e of b.log) if (e) b.cache.assign(e.epoch, e.offset);
    } else {
      b.cache.truncateFromEnd(b.logEndOffset);
    }
    b.highWatermark = Math.max(b.logStart, Math.min(b.hwCheckpoint, b.logEndOffset));
    this.log(`b${b.id} RESTART leo ${b.logEndOffset} hw ${b.highWatermark}`);
    this.controller.brokerUp(b.id);
    this.readMetadata(b);
  }

  isolate(brokerId: number): void {
    const b = this.brokers[brokerId]!;
    if (!b.alive || b.isolated) return;
    this.log(`b${b.id} ISOLATED`);
    b.isolated = true;
  }

  heal(brokerId: number): void {
    const b = this.brokers[brokerId]!;
    if (!b.isolated) return;
    this.log(`b${b.id} HEALED`);
    b.isolated = false;
    b.metadataStale = true;
  }

  /** The controller loses the broker's session while the process keeps running (a zombie). */
  expireSession(brokerId: number): void {
    if (!this.controller.live.has(brokerId)) return;
    this.log(`b${brokerId} SESSION EXPIRED`);
    this.controller.brokerDown(brokerId);
  }

  /** A running broker whose session expired registers again. */
  reregister(brokerId: number): void {
    const b = this.brokers[brokerId]!;
    if (!b.alive || b.isolated || this.controller.live.has(brokerId)) return;
    this.log(`b${brokerId} RE-REGISTERED`);
    this.controller.brokerUp(brokerId);
    this.readMetadata(b);
  }

  get inFlight(): number {
    return this.network.length;
  }

  /** One random step of a schedule. */
  randomStep(): void {
    const r = this.rng;
    const ids = this.brokers.map((b) => b.id);
    // Schedules alternate between storms (many faults) and calm stretches where the ISR can recover.
    if (r.chance(0.03)) this.storm = !this.storm;
    const f = this.storm ? 2 : 0.25;
    const action = r.weighted({
      produce: 20,
      deliver: this.network.length > 0 ? 40 : 0,
      fetch: 25,
      metadata: 8,
      tick: 8,
      drop: this.network.length > 0 ? 2 * f : 0,
      checkpoint: 3,
      retain: 1.5,
      crash: 1 * f,
      restart: 2,
      isolate: 0.7 * f,
      heal: 2,
      expire: 0.7 * f,
      reregister: 3,
    });
    this.stats.steps++;
    switch (action) {
      case 'produce': {
        const leaders = this.brokers.filter((b) => b.alive && b.leader).map((b) => b.id);
        const target = r.chance(0.9) ? r.pick(leaders) : r.pick(ids);
        if (target !== undefined) this.produce(target, r.chance(0.8) ? 'all' : 1);
        break;
      }
      case 'deliver':
        this.deliver();
        break;
      case 'fetch':
        this.sendFetch(r.pick(ids)!);
        break;
      case 'metadata':
        this.deliverMetadata(r.pick(ids)!);
        break;
      case 'tick':
        this.advance(r.int(10, 300));
        break;
      case 'drop':
        this.drop();
        break;
      case 'checkpoint':
        this.checkpoint(r.pick(ids)!);
        break;
      case 'retain':
        this.retain(r.pick(ids)!);
        break;
      case 'crash':
        this.crash(r.pick(ids)!);
        break;
      case 'restart':
        this.restart(r.pick(this.brokers.filter((b) => !b.alive).map((b) => b.id)) ?? 0);
        break;
      case 'isolate':
        this.isolate(r.pick(ids)!);
        break;
      case 'heal':
        this.heal(r.pick(this.brokers.filter((b) => b.isolated).map((b) => b.id)) ?? 0);
        break;
      case 'expire':
        this.expireSession(r.pick(ids)!);
        break;
      case 'reregister':
        this.reregister(r.pick(ids.filter((id) => !this.controller.live.has(id))) ?? 0);
        break;
    }
    this.checkInvariants();
  }

  /**
   * A fair schedule without ending any fault: each round every broker reads pending metadata and
   * fetches, every message is delivered in order (or lost to a fault), and `stepMs` pass.
   */
  settle(rounds: number, stepMs = 50): void {
    for (let round = 0; round < rounds; round++) {
      for (const b of this.brokers) this.deliverMetadata(b.id);
      for (const b of this.brokers) this.sendFetch(b.id);
      while (this.network.length > 0) this.deliver(0);
      this.advance(stepMs);
      this.checkInvariants();
    }
  }

  /**
   * Ends all faults and runs a fair schedule until every replica holds the leader's log and the ISR
   * is full (or `maxRounds` pass). Returns whether it converged.
   */
  healAndSettle(maxRounds = 200): boolean {
    for (const b of this.brokers) {
      this.heal(b.id);
      this.restart(b.id);
      this.reregister(b.id);
    }
    for (let round = 0; round < maxRounds; round++) {
      this.settle(1);
      if (this.converged()) return true;
    }
    return false;
  }

  converged(): boolean {
    const s = this.controller.state;
    if (s.leader < 0) return false;
    const leader = this.brokers[s.leader]!;
    if (!leader.leader || leader.leader.leaderEpoch !== s.leaderEpoch) return false;
    return (
      s.isr.length === this.brokers.length &&
      this.brokers.every(
        (b) => !b.metadataStale && b.logEndOffset === leader.logEndOffset && b.highWatermark === leader.logEndOffset,
      )
    );
  }

  // ---- message handlers (the broker's fetch handler, fetcher loop and AlterIsr manager) ----

  private onFetch(msg: Extract<Message, { kind: 'fetch' }>): void {
    const l = this.brokers[msg.to]!;
    const reply = (
      outcome: 'ok' | 'diverging' | 'outOfRange' | 'error',
      records: ReadonlyArray<Entry | undefined> = [],
      divergingEpoch?: EpochEndOffset,
    ): void =>
      this.send({
        kind: 'fetchResponse',
        from: l.id,
        to: msg.from,
        id: msg.id,
        fetchOffset: msg.fetchOffset,
        outcome,
        records,
        highWatermark: l.highWatermark,
        logStartOffset: l.logStart,
        ...(divergingEpoch && { divergingEpoch }),
      });
    if (!l.leader) {
      reply('error');
      return;
    }
    const check = validateFollowerFetch(msg, {
      leaderEpoch: l.leader.leaderEpoch,
      epochCache: l.cache,
      logStartOffset: l.logStart,
      logEndOffset: l.logEndOffset,
    });
    if (check.kind === 'error') {
      reply(check.error.code === ErrorCodes.OFFSET_OUT_OF_RANGE.code ? 'outOfRange' : 'error');
      return;
    }
    if (check.kind === 'diverging') {
      reply('diverging', [], check.divergingEpoch);
      return;
    }
    // Accepted: the follower acknowledges everything below its fetch offset.
    this.handleLeaderOutput(l, l.leader.onFollowerFetch(msg.from, msg.fetchOffset, this.nowMs));
    this.resolveAcks(l);
    reply('ok', l.log.slice(msg.fetchOffset, msg.fetchOffset + this.maxFetchRecords));
  }

  private onFetchResponse(msg: Extract<Message, { kind: 'fetchResponse' }>): void {
    const b = this.brokers[msg.to]!;
    if (!b.fetch || b.fetch.id !== msg.id || !b.following) return; // stale (timed out, role changed, restarted)
    b.fetch = undefined;
    if (msg.outcome === 'error') return;
    if (msg.outcome === 'outOfRange') {
      // Behind the leader's log start (retention): start over there (Kafka's truncateFullyAndStartAt).
      if (msg.fetchOffset <= msg.logStartOffset && b.logEndOffset === msg.fetchOffset)
        this.restartLogAt(b, msg.logStartOffset);
      return;
    }
    if (msg.outcome === 'diverging') {
      const decision = followerTruncation(msg.divergingEpoch!, {
        epochCache: b.cache,
        logEndOffset: b.logEndOffset,
        highWatermark: b.highWatermark,
      });
      this.truncate(b, decision.truncateTo);
      return;
    }
    if (b.logEndOffset !== msg.fetchOffset) return;
    for (const e of msg.records) {
      if (!e || e.offset !== b.logEndOffset)
        throw new InvariantViolation('fetch', `b${b.id} got ${show(e)} at log end ${b.logEndOffset}`);
      b.log.push(e);
      b.cache.assign(e.epoch, e.offset);
    }
    // The leader's log start first: below it the epochs cannot place a divergence any more (the
    // leader answered "your epoch ends at my log start"), so records there may differ; drop them
    // before the HW covers them (Kafka's follower does the same, KIP-107).
    if (msg.logStartOffset > b.logStart) this.deletePrefix(b, msg.logStartOffset);
    b.highWatermark = followerHighWatermark(b.highWatermark, msg.highWatermark, b.logEndOffset);
  }

  private truncate(b: Broker, offset: number): void {
    // A replica never truncates records below its HW: those are committed.
    if (offset < b.highWatermark) {
      throw new InvariantViolation(
        'no truncation of committed records',
        `b${b.id} truncates to ${offset} below its HW ${b.highWatermark}`,
      );
    }
    if (offset < b.logEndOffset) {
      this.stats.truncations++;
      this.log(`b${b.id} truncate ${b.logEndOffset} -> ${offset}`);
    }
    b.log.length = Math.min(b.log.length, offset);
    b.cache.truncateFromEnd(offset);
    b.highWatermark = Math.min(b.highWatermark, b.logEndOffset);
  }

  /** The follower's whole log is behind the leader's start: empty it and continue from `offset`. */
  private restartLogAt(b: Broker, offset: number): void {
    this.log(`b${b.id} log restarts at ${offset} (was [${b.logStart}, ${b.logEndOffset}))`);
    this.stats.truncations++;
    b.log = new Array<Entry | undefined>(offset);
    b.logStart = offset;
    b.cache.clear();
    b.highWatermark = offset;
  }

  /** Retention on `brokerId`: delete a prefix of its log below its HW (Kafka never deletes above it). */
  retain(brokerId: number): void {
    const b = this.brokers[brokerId]!;
    if (!b.alive || b.highWatermark <= b.logStart) return;
    this.deletePrefix(b, this.rng.int(b.logStart + 1, b.highWatermark));
    this.stats.retentions++;
  }

  private deletePrefix(b: Broker, start: number): void {
    for (let o = b.logStart; o < start; o++) b.log[o] = undefined;
    b.logStart = start;
    b.cache.truncateFromStart(start);
    b.highWatermark = Math.max(b.highWatermark, start);
    this.log(`b${b.id} log start ${start}`);
  }

  private onAlterIsr(msg: Extract<Message, { kind: 'alterIsr' }>): void {
    const result = this.controller.alterIsr(msg.from, msg.proposal);
    this.log(
      `controller AlterIsr from b${msg.from} [${msg.proposal.isr}] ` +
        `v${msg.proposal.zkVersion}: ${result.ok ? 'ok' : result.reason}`,
    );
    if (result.ok) this.stats.isrChanges++;
    this.send(
      result.ok
        ? {
            kind: 'alterIsrResponse',
            from: 'controller',
            to: msg.from,
            term: msg.term,
            proposal: msg.proposal,
            ok: true,
            isr: result.state.isr,
            zkVersion: result.state.zkVersion,
          }
        : {
            kind: 'alterIsrResponse',
            from: 'controller',
            to: msg.from,
            term: msg.term,
            proposal: msg.proposal,
            ok: false,
            reason: result.reason,
          },
    );
  }

  private onAlterIsrResponse(msg: Extract<Message, { kind: 'alterIsrResponse' }>): void {
    const b = this.brokers[msg.to]!;
    if (!b.leader || b.term !== msg.term) return;
    const out = msg.ok
      ? b.leader.onIsrCommitted(msg.isr!, msg.zkVersion!)
      : b.leader.onIsrRejected(msg.proposal, msg.reason, this.nowMs);
    this.handleLeaderOutput(b, out);
    this.resolveAcks(b);
  }

  // ---- role changes (the broker's reaction to a partition state read) ----

  private applyState(b: Broker, s: PartitionState): void {
    if (b.known && s.zkVersion <= b.known.zkVersion) return;
    b.known = s;
    if (s.leader === b.id) {
      if (b.leader && b.leader.leaderEpoch === s.leaderEpoch) {
        this.handleLeaderOutput(b, b.leader.onIsrCommitted(s.isr, s.zkVersion));
        this.resolveAcks(b);
        return;
      }
      this.becomeLeader(b, s);
      return;
    }
    if (b.following && b.following.leader === s.leader && b.following.epoch === s.leaderEpoch) return;
    this.failAcks(b);
    b.leader = undefined;
    b.following = { leader: s.leader, epoch: s.leaderEpoch };
    b.fetch = undefined;
    this.log(`b${b.id} follows b${s.leader} epoch ${s.leaderEpoch}`);
  }

  private becomeLeader(b: Broker, s: PartitionState): void {
    this.failAcks(b);
    // At most one leader per epoch.
    const holder = this.termEpochs.get(s.leaderEpoch);
    if (holder !== undefined && holder !== b.id) {
      throw new InvariantViolation('one leader per epoch', `b${b.id} and b${holder} both lead epoch ${s.leaderEpoch}`);
    }
    this.termEpochs.set(s.leaderEpoch, b.id);
    this.stats.elections++;
    b.cache.assign(s.leaderEpoch, b.logEndOffset);
    b.term = this.nextId++;
    b.following = undefined;
    b.fetch = undefined;
    b.leader = new LeaderState({
      localBrokerId: b.id,
      leaderEpoch: s.leaderEpoch,
      replicas: this.brokers.map((x) => x.id),
      isr: s.isr,
      isrZkVersion: s.zkVersion,
      minInsyncReplicas: this.minInsyncReplicas,
      replicaLagTimeMaxMs: this.replicaLagTimeMaxMs,
      logEndOffset: b.logEndOffset,
      highWatermark: Math.min(b.highWatermark, b.logEndOffset),
      epochStartOffset: b.logEndOffset,
      nowMs: this.nowMs,
    });
    b.highWatermark = b.leader.highWatermark;
    this.recordCommitted(b);
    this.log(`b${b.id} LEADS epoch ${s.leaderEpoch} isr [${s.isr}] leo ${b.logEndOffset} hw ${b.highWatermark}`);
    // Every committed record is in every future leader's log, at the same offset.
    this.checkHoldsCommitted(b, `new leader b${b.id} of epoch ${s.leaderEpoch}`);
  }

  private handleLeaderOutput(b: Broker, out: LeaderOutput): void {
    if (out.highWatermark !== undefined) {
      b.highWatermark = out.highWatermark;
      this.recordCommitted(b);
    }
    if (out.isrProposal) this.sendAlterIsr(b, out.isrProposal);
  }

  private sendAlterIsr(b: Broker, proposal: IsrProposal): void {
    b.alterIsrSentAtMs = this.nowMs;
    this.send({ kind: 'alterIsr', from: b.id, to: 'controller', term: b.term, proposal });
  }

  /** acks=all producers: answered once the HW covers their record, or failed. */
  private resolveAcks(b: Broker): void {
    if (!b.leader) return;
    const leader = b.leader;
    b.pendingAcks = b.pendingAcks.filter((p) => {
      const status = p.term === b.term ? leader.acksAllStatus(p.offset + 1) : 'notEnoughReplicas';
      if (status === 'waiting') return true;
      const entry: Entry = b.log[p.offset] ?? { offset: p.offset, epoch: -1, value: p.value };
      if (status === 'committed') {
        this.acked.push(entry);
        this.stats.acked++;
        this.log(`b${b.id} ACK ${p.value}@${p.offset}`);
      } else {
        this.failedAcks.push(entry);
        this.stats.failedAcks++;
      }
      return false;
    });
  }

  private failAcks(b: Broker): void {
    for (const p of b.pendingAcks) {
      this.failedAcks.push({ offset: p.offset, epoch: -1, value: p.value });
      this.stats.failedAcks++;
    }
    b.pendingAcks = [];
  }

  private send(msg: Message): void {
    this.network.push(msg);
  }

  private dropped(msg: Message): boolean {
    if (msg.kind === 'fetch' || msg.kind === 'fetchResponse') {
      const requester = this.brokers[msg.kind === 'fetch' ? msg.from : msg.to]!;
      // The requester notices through its timeout; model it as noticing at once half the time.
      if (requester.fetch?.id === msg.id && this.rng.chance(0.5)) requester.fetch = undefined;
    }
    return true;
  }

  private log(line: string): void {
    this.trace.push(`[t=${this.nowMs} step=${this.stats.steps}] ${line}`);
    if (this.trace.length > 60) this.trace.shift();
  }

  // ---- invariants ----

  checkInvariants(): void {
    const c = this.controller;
    // Controller: elections are clean (unless enabled for a demonstration), epochs only grow.
    if (c.state.leader !== -1 && !c.state.isr.includes(c.state.leader)) {
      throw new InvariantViolation('clean election', `leader ${c.state.leader} is not in ISR [${c.state.isr}]`);
    }
    if (!this.uncleanAllowed && c.uncleanElections > 0) {
      throw new InvariantViolation(
        'clean election',
        `the controller elected a leader from outside the ISR (epoch ${c.state.leaderEpoch})`,
      );
    }
    if (c.state.leaderEpoch < this.lastControllerEpoch)
      throw new InvariantViolation('epochs grow', `${c.state.leaderEpoch} < ${this.lastControllerEpoch}`);
    this.lastControllerEpoch = c.state.leaderEpoch;
    for (const [epoch, broker] of this.termEpochs) {
      const elected = c.epochLeaders.get(epoch);
      if (elected !== broker)
        throw new InvariantViolation(
          'one leader per epoch',
          `b${broker} led epoch ${epoch}, the controller elected ${elected}`,
        );
    }

    for (const b of this.brokers) {
      if (b.highWatermark > b.logEndOffset)
        throw new InvariantViolation('HW within log', `b${b.id} HW ${b.highWatermark} > LEO ${b.logEndOffset}`);
      if (b.alive && b.leader) {
        // HW never decreases within a leader term.
        const previous = this.termHighWatermarks.get(b.term) ?? 0;
        if (b.leader.highWatermark < previous) {
          throw new InvariantViolation(
            'HW never decreases',
            `b${b.id} epoch ${b.leader.leaderEpoch} HW ${previous} -> ${b.leader.highWatermark}`,
          );
        }
        this.termHighWatermarks.set(b.term, b.leader.highWatermark);
        this.recordCommitted(b);
      }
    }
    // Replicas agree below their HWs: every record below a replica's HW is the committed one.
    for (const b of this.brokers) {
      for (let o = b.logStart; o < b.highWatermark; o++) {
        const known = this.committed.get(o);
        const mine = b.log[o];
        if (!known || !mine || !sameEntry(known, mine)) {
          throw new InvariantViolation(
            'replicas agree below their HW',
            `b${b.id} offset ${o} (HW ${b.highWatermark}) holds ${show(b.log[o])}, committed ${show(known)}`,
          );
        }
      }
    }
    // No acknowledged write lost: each acked record is committed, and the current leader holds it.
    for (const a of this.acked) {
      const known = this.committed.get(a.offset);
      if (!known || known.value !== a.value) {
        throw new InvariantViolation(
          'no acknowledged write lost',
          `acked ${a.value}@${a.offset} but committed there: ${show(known)}`,
        );
      }
    }
    const s = c.state;
    const current = s.leader >= 0 ? this.brokers[s.leader]! : undefined;
    if (current?.alive && current.leader?.leaderEpoch === s.leaderEpoch) {
      this.checkHoldsCommitted(current, `leader b${current.id} of epoch ${s.leaderEpoch}`);
      // The HW waits for every replica the controller counts as in sync (the maximal-ISR rule).
      const maximal = current.leader.maximalIsr;
      if (!s.isr.every((r) => maximal.includes(r))) {
        throw new InvariantViolation(
          'HW covers the controller ISR',
          `controller ISR [${s.isr}] v${s.zkVersion}, leader b${current.id} waits for [${maximal}]`,
        );
      }
    }
    // Any ISR member may be elected next: each holds every committed record.
    for (const id of s.isr) this.checkHoldsCommitted(this.brokers[id]!, `ISR member b${id} (epoch ${s.leaderEpoch})`);
  }

  /**
   * Records below a leader's HW are committed: record them (as soon as the HW moves), and they must
   * agree with every record any leader ever committed at that offset.
   */
  private recordCommitted(b: Broker): void {
    if (!b.leader) return;
    const from = this.termCommittedUpTo.get(b.term) ?? 0;
    for (let o = Math.max(from, b.logStart); o < b.leader.highWatermark; o++) {
      const entry = b.log[o];
      if (!entry)
        throw new InvariantViolation(
          'HW within log',
          `b${b.id} has no record at ${o} below its HW ${b.leader.highWatermark}`,
        );
      const known = this.committed.get(o);
      if (!known) this.committed.set(o, entry);
      else if (!sameEntry(known, entry)) {
        throw new InvariantViolation(
          'committed records are final',
          `offset ${o}: committed ${show(known)}, b${b.id} (epoch ${b.leader.leaderEpoch}) committed ${show(entry)}`,
        );
      }
    }
    this.termCommittedUpTo.set(b.term, Math.max(from, b.leader.highWatermark));
  }

  private checkHoldsCommitted(b: Broker, who: string): void {
    for (const [offset, entry] of this.committed) {
      if (offset < b.logStart) continue; // deleted by retention, not lost
      const mine = b.log[offset];
      if (!mine || !sameEntry(mine, entry)) {
        const acked = this.acked.some((a) => a.offset === offset && a.value === entry.value);
        throw new InvariantViolation(
          acked ? 'no acknowledged write lost' : 'committed records survive elections',
          `${who} lacks ${acked ? 'acknowledged' : 'committed'} record ${show(entry)}, holds ${show(mine)}`,
        );
      }
    }
  }
}

function sameEntry(a: Entry, b: Entry): boolean {
  return a.offset === b.offset && a.epoch === b.epoch && a.value === b.value;
}

function show(e: Entry | undefined): string {
  return e ? `${e.value}@${e.offset}(e${e.epoch})` : 'nothing';
}
