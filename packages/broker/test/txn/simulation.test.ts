/**
 * Seeded simulation of transactions end to end: the production TxnCoordinator driver and core over an
 * in-memory __transaction_state partition whose high watermark advances when the schedule says so, and
 * three output partitions, each with the production ProducerStateTable deciding what its leader appends
 * (sequence and epoch checks, markers). Producers of one transactional id run transactions; new
 * incarnations fence old ones, which go on as zombies; transactions outlive their timeout; the
 * coordinator fails over (keeping or losing its uncommitted records) in every state; markers and data
 * writes are delayed in the network and delivered late (a deposed coordinator's markers included), or
 * their acknowledgements are lost; half the incarnations keep their epoch across transactions, as Kafka
 * clients do (transaction version 1). After a calm phase every transaction is complete and:
 * - atomicity: each transaction's records are committed on every partition it wrote, or on none;
 * - no acknowledged commit is lost, no aborted or zombie transaction is committed;
 * - no transaction hangs: no partition has an open transaction left;
 * - a producer fenced by a newer incarnation never commits;
 * - no partition is added to a transaction by a leader (add_partitions_to_txn) for a producer that keeps
 *   its epoch: such producers' late writes ask for it, and must be refused.
 * Producers meeting a fenced or abortable refusal re-initialize naming their id and epoch (KIP-360), and
 * the coordinator decides whether they go on.
 * A second run fails some transactions' first write while its request is still in the network (the
 * abort finds nothing open; the write reaches its leader after it).
 * A third run loses answers: a producer asks again with EndTxn or InitProducerId (its recovery) under the
 * identity it still has, maybe at a new coordinator that loaded the record the first one wrote, and must
 * get the same answer unless a newer incarnation exists; its transactional id starts a few epochs below
 * the last one, so producers move to a fresh producer id (also in a recovery, and in a timed-out one).
 * A failing seed prints itself; reproduce it with TXN_SIM_SEED=<seed>.
 */
import { Attribute, type BatchHeader, ErrorCodes, SamsaError } from '@samsa/protocol';
import { describe, expect, it } from 'vitest';
import * as tp from '../../src/group/partitions.js';
import { ControlType, ProducerStateTable } from '../../src/storage/producer-state.js';
import { DEFAULT_TXN_CORE_CONFIG, MAX_EPOCH, type MarkerJob, type ProducerIdentity } from '../../src/txn/core.js';
import { type MarkerWriter, type TxnLog, TxnCoordinator } from '../../src/txn/driver.js';
import { decodeRecord, encodeKey, encodeValue, type TxnRecord } from '../../src/txn/records.js';
import { SimInternalLog } from '../helpers/sim-internal-log.js';
import { seededRandom } from '../replication/sim/rng.js';

class Violation extends Error {}

/** One partition of the coordinator's topic in memory; records go through the real codec. */
class SimLog extends SimInternalLog<TxnRecord> implements TxnLog {
  constructor(batches: TxnRecord[][], hw: number) {
    super(batches, hw, (r) => decodeRecord(encodeKey(r), encodeValue(r)));
  }
}

type Entry =
  | { kind: 'data'; pid: number; epoch: number; tag: string }
  | { kind: 'marker'; pid: number; epoch: number; commit: boolean };

/** An output partition: its log and the production producer state table its leader keeps. */
class SimPartition {
  readonly log: Entry[] = [];
  readonly table = new ProducerStateTable();

  header(pid: number, epoch: number, seq: number, control: boolean): BatchHeader {
    return {
      baseOffset: this.log.length,
      batchLength: 0,
      partitionLeaderEpoch: 0,
      magic: 2,
      crc: 0,
      attributes: Attribute.transactional | (control ? Attribute.control : 0),
      lastOffsetDelta: 0,
      baseTimestamp: 0,
      maxTimestamp: 0,
      producerId: pid,
      producerEpoch: epoch,
      baseSequence: control ? -1 : seq,
      recordCount: 1,
    };
  }

  appendData(pid: number, epoch: number, seq: number, tag: string): void {
    const header = this.header(pid, epoch, seq, false);
    const verdict = this.table.analyze([header]);
    if (verdict.kind === 'rejected') throw new SamsaError(verdict.error, verdict.message);
    if (verdict.kind === 'duplicate') return;
    this.table.apply(header);
    this.log.push({ kind: 'data', pid, epoch, tag });
  }

  appendMarker(pid: number, epoch: number, commit: boolean, coordinatorEpoch: number, job: MarkerJob): void {
    const verdict = this.table.analyzeMarker(pid, epoch, coordinatorEpoch, job.sameEpoch, job.txnStartMs);
    if (verdict.kind === 'rejected') throw new SamsaError(verdict.error, verdict.message);
    if (verdict.kind === 'duplicate') return;
    this.table.apply(this.header(pid, epoch, -1, true), {
      type: commit ? ControlType.commit : ControlType.abort,
      coordinatorEpoch,
    });
    this.log.push({ kind: 'marker', pid, epoch, commit });
  }

  /** Tags of committed data, and of aborted data, as a read_committed reader decides. */
  outcome(): { committed: string[]; aborted: string[]; open: string[] } {
    const pending = new Map<number, string[]>();
    const committed: string[] = [];
    const aborted: string[] = [];
    for (const e of this.log) {
      if (e.kind === 'data') {
        const list = pending.get(e.pid) ?? [];
        list.push(e.tag);
        pending.set(e.pid, list);
      } else {
        (e.commit ? committed : aborted).push(...(pending.get(e.pid) ?? []));
        pending.delete(e.pid);
      }
    }
    return { committed, aborted, open: [...pending.values()].flat() };
  }
}

const TXN_ID = 'tx';
/**
 * TXN_SIM_KEEPS_EPOCH=none|some|all: producers that end their transactions without the epoch bump, as
 * Kafka clients below EndTxn v5 do (transaction version 1); by default half the incarnations.
 */
const KEEPS_EPOCH = process.env.TXN_SIM_KEEPS_EPOCH ?? 'some';
/**
 * Their markers carry the data's epoch, so only the transaction's start time, which the partition
 * learns when the coordinator verifies the transaction's first write there, tells a late copy of the
 * previous transaction's marker from this one's. TXN_SIM_FORGET_VERIFIED=1 plays a partition that does
 * not remember it (as a new leader): late copies then tear transactions (seed 9 with TXN_SIM_KEEPS_EPOCH=all).
 */
const FORGET_VERIFIED = process.env.TXN_SIM_FORGET_VERIFIED === '1';
/**
 * The SDK's abort when a transaction's only write failed before a leader added its partition (the
 * coordinator has nothing open): it bumps the epoch with InitProducerId. TXN_SIM_ABORT_KEEPS_EPOCH=1
 * plays the old rule, going on at the same epoch: the failed write, still in the network, then opens
 * the next transaction with an aborted record (the second test below fails).
 */
const ABORT_KEEPS_EPOCH = process.env.TXN_SIM_ABORT_KEEPS_EPOCH === '1';
const PARTITIONS = 3;
const TIMEOUT_MS = 20_000;

type TxnRequestShape = { transactionalId: string; producerId: number; producerEpoch: number };

interface Incarnation {
  readonly n: number;
  pid: number;
  epoch: number;
  stopped: boolean;
  /** Sequences per partition at the current epoch. */
  seqs: Map<number, number>;
  /** A Kafka client below EndTxn v5: keeps its epoch (and sequences) from one transaction to the next. */
  readonly keepsEpoch: boolean;
  /** World.freshInitsDone when the call that gave the current identity started. */
  freshInitsBefore: number;
}

class World {
  private readonly rng: () => number;
  nowMs = 1_000_000;
  step = 0;
  log = new SimLog([], 0);
  coordinatorEpoch = 0;
  coordinator: TxnCoordinator;
  readonly zombies: TxnCoordinator[] = [];
  readonly partitions = Array.from({ length: PARTITIONS }, () => new SimPartition());
  private nextPid = 1000;
  private stepWaiters: (() => void)[] = [];
  /** Delayed deliveries (markers, data writes), run at a later step. */
  private network: (() => void)[] = [];
  incarnations: Incarnation[] = [];
  /** Transaction tag -> what the client learned: committed (EndTxn ok), aborted, or unknown. */
  readonly txnOutcome = new Map<string, 'commit' | 'abort' | 'unknown' | 'open'>();
  /** Per transaction tag: the partitions it wrote with acknowledgement. */
  readonly acked = new Map<string, Set<number>>();
  /** The incarnation whose InitProducerId succeeded last: every other one is fenced. */
  latestInit = -1;
  zombieCommits: string[] = [];
  /** New incarnations' InitProducerId calls answered (or refused) so far, and those under way. */
  freshInitsDone = 0;
  freshInitsPending = 0;
  failovers = 0;
  commits = 0;

  /**
   * With `failedWrites`, some transactions' first write fails while its request is still on its way.
   * With `lostAnswers`, some EndTxn and recovering InitProducerId answers are lost (asked again), and the
   * transactional id starts near the last epoch.
   */
  constructor(
    readonly seed: number,
    private readonly failedWrites = false,
    private readonly lostAnswers = false,
  ) {
    this.rng = seededRandom(seed);
    if (lostAnswers) this.log = new SimLog([[nearLastEpoch()]], 1);
    this.coordinator = this.newCoordinator();
  }

  chance(p: number): boolean {
    return this.rng() < p;
  }

  fail(message: string): never {
    throw new Violation(`seed ${this.seed}, step ${this.step}: ${message}`);
  }

  private newCoordinator(): TxnCoordinator {
    const markers: MarkerWriter = { write: (job, epoch) => this.writeMarkers(job, epoch) };
    return new TxnCoordinator({
      config: { ...DEFAULT_TXN_CORE_CONFIG, maxTimeoutMs: 60_000 },
      numPartitions: 1,
      offsetsPartitions: () => 1,
      nowMs: () => this.nowMs,
      newProducerId: async () => this.nextPid++,
      markers,
      markerRetryBackoffMs: 500,
      wait: () => this.nextStep(),
    });
  }

  /** The leaders of the job's partitions: each marker may be lost, delayed (delivered later), or written. */
  private async writeMarkers(job: MarkerJob, coordinatorEpoch: number): Promise<tp.TopicPartitions> {
    await this.nextStep();
    const remaining: string[] = [];
    for (const key of tp.toKeys(job.partitions)) {
      const { partition } = tp.fromKey(key);
      const write = () =>
        this.partitions[partition]!.appendMarker(job.producerId, job.producerEpoch, job.commit, coordinatorEpoch, job);
      if (this.chance(0.15)) {
        remaining.push(key);
        if (this.chance(0.5)) this.network.push(() => swallow(write)); // delivered late, answer lost
        continue;
      }
      try {
        write();
        if (this.chance(0.1)) remaining.push(key); // written, acknowledgement lost
      } catch (err) {
        if (!(err instanceof SamsaError)) throw err;
        remaining.push(key);
      }
    }
    return tp.fromKeys(remaining);
  }

  nextStep(): Promise<void> {
    return new Promise((resolve) => this.stepWaiters.push(resolve));
  }

  async start(): Promise<void> {
    await this.coordinator.becomeLeader(0, this.log, this.coordinatorEpoch);
  }

  failover(): void {
    this.failovers++;
    const keep = this.chance(0.5) ? this.log.batches.length : this.log.hw;
    this.log.kill();
    this.zombies.push(this.coordinator);
    this.log = new SimLog(this.log.batches.slice(0, keep), keep);
    this.coordinator = this.newCoordinator();
    this.coordinatorEpoch++;
    void this.coordinator.becomeLeader(0, this.log, this.coordinatorEpoch);
  }

  /** One producer incarnation's life: init, then transactions until fenced or stopped. */
  async runProducer(inc: Incarnation): Promise<void> {
    for (;;) {
      if (inc.stopped) return;
      const before = this.freshInitsDone;
      this.freshInitsPending++;
      try {
        const id = await this.coordinator.initProducerId({
          transactionalId: TXN_ID,
          timeoutMs: TIMEOUT_MS,
          producerId: -1,
          producerEpoch: -1,
          clientTransactionVersion: inc.keepsEpoch ? 1 : 2,
        });
        inc.pid = id.producerId;
        inc.epoch = id.producerEpoch;
        inc.freshInitsBefore = before;
        this.latestInit = inc.n;
        break;
      } catch (err) {
        if (!retriable(err)) throw err;
        await this.nextStep();
      } finally {
        this.freshInitsPending--;
        this.freshInitsDone++;
      }
    }
    for (let t = 0; !inc.stopped && t < 1000; t++) {
      const tag = `i${inc.n}t${t}`;
      try {
        await this.transaction(inc, tag);
      } catch (err) {
        if (!(err instanceof SamsaError)) throw err;
        if (MUST_ABORT.has(err.code)) {
          // Timed out, or fenced by a newer incarnation: the producer cannot tell, so it asks to recover
          // its id (KIP-360, as the SDK's abort does) and the coordinator decides.
          if (inc.stopped || !(await this.recover(inc))) return;
          continue;
        }
        if (err.code === ErrorCodes.INVALID_PRODUCER_ID_MAPPING.code) return;
        await this.nextStep();
      }
    }
  }

  private async recover(inc: Incarnation): Promise<boolean> {
    for (;;) {
      if (inc.stopped) return false;
      const before = this.freshInitsDone;
      try {
        const id = await this.coordinator.initProducerId({
          transactionalId: TXN_ID,
          timeoutMs: TIMEOUT_MS,
          producerId: inc.pid,
          producerEpoch: inc.epoch,
          clientTransactionVersion: inc.keepsEpoch ? 1 : 2,
        });
        if (this.lostAnswers && this.chance(0.2)) {
          // The answer is lost: the producer asks again under the identity it still has.
          for (let i = 0; i < 3; i++) await this.nextStep();
          continue;
        }
        inc.pid = id.producerId;
        inc.epoch = id.producerEpoch;
        inc.freshInitsBefore = before;
        inc.seqs = new Map();
        return true;
      } catch (err) {
        if (!(err instanceof SamsaError)) throw err;
        if (!err.retriable) {
          if (this.lostAnswers && !this.hasNewerIncarnation(inc)) {
            this.fail(`incarnation ${inc.n}, the newest, was refused its recovery: ${err.message}`);
          }
          return false;
        }
        await this.nextStep();
      }
    }
  }

  /**
   * Whether a new incarnation may have fenced `inc`: one's InitProducerId was under way, or answered,
   * since the call that gave `inc` its identity started.
   */
  private hasNewerIncarnation(inc: Incarnation): boolean {
    return this.freshInitsPending > 0 || this.freshInitsDone > inc.freshInitsBefore;
  }

  /**
   * EndTxn's answer was lost: the producer asks again (maybe at a new coordinator) and must get the same
   * answer, unless a newer incarnation fenced it meanwhile.
   */
  private async endAgain(
    inc: Incarnation,
    req: TxnRequestShape,
    commit: boolean,
    first: ProducerIdentity,
  ): Promise<ProducerIdentity> {
    for (let i = 0; i < 3; i++) await this.nextStep();
    try {
      const again = await this.retry(inc, () => this.coordinator.endTxn(req, commit, !inc.keepsEpoch));
      if (again.producerId !== first.producerId || again.producerEpoch !== first.producerEpoch) {
        this.fail(`a retried EndTxn got ${JSON.stringify(again)}, the first ${JSON.stringify(first)}`);
      }
      return again;
    } catch (err) {
      if (err instanceof Violation || !(err instanceof SamsaError) || inc.stopped) throw err;
      // Fenced; across a fresh producer id the id it names is no longer the transactional id's at all.
      const fenced =
        err.code === ErrorCodes.PRODUCER_FENCED.code || err.code === ErrorCodes.INVALID_PRODUCER_ID_MAPPING.code;
      if (fenced && this.hasNewerIncarnation(inc)) throw err;
      this.fail(`incarnation ${inc.n}'s retried EndTxn (${commit ? 'commit' : 'abort'}) was refused: ${err.message}`);
    }
  }

  private async retry<T>(inc: Incarnation, op: () => Promise<T>): Promise<T> {
    for (;;) {
      try {
        return await op();
      } catch (err) {
        if (!retriable(err) || inc.stopped) throw err;
        await this.nextStep();
      }
    }
  }

  private async transaction(inc: Incarnation, tag: string): Promise<void> {
    const parts = [0, 1, 2].filter(() => this.chance(0.6));
    if (parts.length === 0) parts.push(0);
    const request = () => ({ transactionalId: TXN_ID, producerId: inc.pid, producerEpoch: inc.epoch });
    // KIP-890 part 2 (the SDK): each write's leader adds its partition; only for producers whose every
    // transaction bumps the epoch.
    const implicit = !inc.keepsEpoch && this.chance(0.5);
    this.txnOutcome.set(tag, 'open');
    if (implicit && this.failedWrites && this.chance(0.2)) return this.failedFirstWrite(inc, parts[0]!, tag);
    if (!implicit) {
      await this.retry(inc, () =>
        this.coordinator.addPartitions(request(), tp.fromKeys(parts.map((p) => tp.tpKey('out', p)))),
      );
    }
    const wrote = new Set<number>();
    this.acked.set(tag, wrote);
    for (const p of parts) {
      await this.produce(inc, p, tag, implicit);
      wrote.add(p);
    }
    const ended = { ...request() };
    // Sometimes a write to a partition not added: must be refused (KIP-890 part 1).
    if (!implicit && this.chance(0.05)) {
      const others = [0, 1, 2].filter((p) => !parts.includes(p));
      if (others.length > 0) {
        try {
          await this.produce(inc, others[0]!, `${tag}-unadded`, false);
          this.fail(`a write to unadded partition ${others[0]} of ${tag} was accepted`);
        } catch (err) {
          if (err instanceof Violation) throw err;
        }
      }
    }
    if (this.chance(0.1)) {
      // The producer stalls here: the transaction may outlive its timeout (with lost answers, mostly does).
      for (let i = 0; i < (this.lostAnswers ? 35 : 5); i++) await this.nextStep();
    }
    const commit = this.chance(0.7);
    this.txnOutcome.set(tag, 'unknown');
    const fencedBefore = this.latestInit !== inc.n;
    const initsBefore = this.freshInitsDone;
    try {
      let next = await this.retry(inc, () => this.coordinator.endTxn(request(), commit, !inc.keepsEpoch));
      if (this.lostAnswers && this.chance(0.15)) next = await this.endAgain(inc, ended, commit, next);
      if (implicit && this.chance(0.2)) {
        // A write of the transaction that reaches a leader only after EndTxn was answered (sent by a
        // zombie, or stuck in the network): its partition must never join a later transaction.
        const p = Math.floor(this.rng() * PARTITIONS);
        this.network.push(() => void this.lateWrite(ended, p, tag));
      }
      if (inc.keepsEpoch && this.chance(0.2)) {
        // A client that keeps its epoch across transactions asking a leader to add its partition (any
        // gRPC client may): a late write of this transaction would join the next one, at the same epoch.
        const p = Math.floor(this.rng() * PARTITIONS);
        this.network.push(() => void this.leaderAddOfKeptEpoch(ended, p, tag));
      }
      if (commit && (fencedBefore || this.latestInit !== inc.n)) this.zombieCommits.push(tag);
      this.txnOutcome.set(tag, commit ? 'commit' : 'abort');
      if (commit) this.commits++;
      if (next.producerId !== inc.pid || next.producerEpoch !== inc.epoch) inc.seqs = new Map();
      inc.pid = next.producerId;
      inc.epoch = next.producerEpoch;
      inc.freshInitsBefore = initsBefore;
    } catch (err) {
      if (!commit && err instanceof SamsaError) this.txnOutcome.set(tag, 'abort');
      throw err;
    }
  }

  /**
   * A transactional write as the partition's leader handles it: verify first, or with `implicit` add the
   * partition (unless already in the transaction).
   */
  private async produce(inc: Incarnation, p: number, tag: string, implicit: boolean): Promise<void> {
    const partition = this.partitions[p]!;
    const req = { transactionalId: TXN_ID, producerId: inc.pid, producerEpoch: inc.epoch };
    const seq = inc.seqs.get(p) ?? 0;
    await this.retry(inc, async () => {
      const entry = partition.table.entry(inc.pid);
      if (!(entry !== undefined && entry.currentTxnFirstOffset >= 0 && entry.epoch === inc.epoch)) {
        const txnStartMs = implicit
          ? await this.coordinator.addPartitions(req, tp.fromKeys([tp.tpKey('out', p)]), true)
          : await this.coordinator.verifyPartition(req, 'out', p);
        if (!FORGET_VERIFIED) partition.table.noteVerified(req.producerId, txnStartMs);
      }
      // The append may reach the log later than the verification: markers can come in between.
      if (this.chance(0.2)) await this.nextStep();
      partition.appendData(req.producerId, req.producerEpoch, seq, tag);
    });
    inc.seqs.set(p, seq + 1);
  }

  /**
   * The transaction's first write fails at the producer (its answer lost, or timed out) while the request
   * is still on its way to the leader, which has not added the partition yet: the abort finds nothing
   * open. The request reaches the leader later and does what a leader does: adds the partition at its
   * epoch, appends at sequence 0. It must never be added (the epoch was bumped), or the aborted record
   * would be committed with the next transaction, or taken for that one's first record there.
   */
  private async failedFirstWrite(inc: Incarnation, p: number, tag: string): Promise<void> {
    const failed = { transactionalId: TXN_ID, producerId: inc.pid, producerEpoch: inc.epoch };
    this.txnOutcome.set(tag, 'abort');
    try {
      const next = await this.retry(inc, () => this.coordinator.endTxn(failed, false, true));
      inc.pid = next.producerId;
      inc.epoch = next.producerEpoch;
    } catch (err) {
      if (!(err instanceof SamsaError) || err.code !== ErrorCodes.INVALID_TXN_STATE.code) throw err;
      if (!ABORT_KEEPS_EPOCH) {
        const id = await this.retry(inc, () =>
          this.coordinator.initProducerId({
            ...failed,
            timeoutMs: TIMEOUT_MS,
            transactionalId: TXN_ID,
            clientTransactionVersion: 2,
          }),
        );
        inc.pid = id.producerId;
        inc.epoch = id.producerEpoch;
      }
    }
    inc.seqs = new Map();
    this.network.push(() => void this.lateFirstWrite(failed, p, tag));
  }

  private async lateFirstWrite(req: TxnRequestShape, p: number, tag: string): Promise<void> {
    const partition = this.partitions[p]!;
    try {
      const entry = partition.table.entry(req.producerId);
      if (!(entry !== undefined && entry.currentTxnFirstOffset >= 0 && entry.epoch === req.producerEpoch)) {
        partition.table.noteVerified(
          req.producerId,
          await this.coordinator.addPartitions(req, tp.fromKeys([tp.tpKey('out', p)]), true),
        );
      }
      partition.appendData(req.producerId, req.producerEpoch, 0, tag);
    } catch (err) {
      if (err instanceof Violation) this.violation = err;
      else if (!(err instanceof SamsaError)) this.violation = err as Error;
    }
  }

  /**
   * A write of a transaction reaching its leader after EndTxn was answered (one try, its next sequence):
   * appended to the transaction where that is still open (the marker has not come), never added to it
   * (or to a later one) anywhere else.
   */
  private async lateWrite(req: TxnRequestShape, p: number, tag: string): Promise<void> {
    const partition = this.partitions[p]!;
    try {
      const entry = partition.table.entry(req.producerId);
      const openHere = entry !== undefined && entry.currentTxnFirstOffset >= 0 && entry.epoch === req.producerEpoch;
      if (!openHere) {
        await this.coordinator.addPartitions(req, tp.fromKeys([tp.tpKey('out', p)]), true);
        this.fail(`${tag}: partition ${p} added to an ended transaction by a late write`);
      }
      const last = entry?.epoch === req.producerEpoch ? entry.batches[entry.batches.length - 1] : undefined;
      partition.appendData(req.producerId, req.producerEpoch, last === undefined ? 0 : last.lastSeq + 1, tag);
    } catch (err) {
      if (err instanceof Violation) this.violation = err;
      else if (!(err instanceof SamsaError)) this.violation = err as Error;
    }
  }

  /**
   * A leader's add (Produce with add_partitions_to_txn) for a producer that keeps its epoch, reaching the
   * leader after EndTxn: the coordinator must refuse it whatever its state (the next transaction may be
   * open at that epoch already), or the ended transaction's write would join a later one.
   */
  private async leaderAddOfKeptEpoch(req: TxnRequestShape, p: number, tag: string): Promise<void> {
    const entry = this.partitions[p]!.table.entry(req.producerId);
    if (entry !== undefined && entry.currentTxnFirstOffset >= 0 && entry.epoch === req.producerEpoch) return;
    try {
      await this.coordinator.addPartitions(req, tp.fromKeys([tp.tpKey('out', p)]), true);
      // The leader would now append it: in whatever transaction is open at that epoch, or will be.
      this.fail(`${tag}: a late write of a producer that keeps its epoch had partition ${p} added after EndTxn`);
    } catch (err) {
      if (err instanceof Violation) this.violation = err;
      else if (!(err instanceof SamsaError)) this.violation = err as Error;
    }
  }

  async runStep(calm: boolean): Promise<void> {
    this.step++;
    this.nowMs += calm ? 1000 : Math.floor(this.rng() * 1500);
    if (this.chance(calm ? 1 : 0.6)) this.log.advance();
    if (!calm && this.chance(0.02)) this.failover();
    if (!calm && this.chance(0.015)) this.newIncarnation();
    if (this.chance(0.3) && this.network.length > 0) {
      const i = Math.floor(this.rng() * this.network.length);
      this.network.splice(i, 1)[0]!();
    }
    if (this.chance(0.5)) this.coordinator.tick();
    for (const z of this.zombies) if (this.chance(0.2)) z.tick();
    const waiters = this.stepWaiters;
    this.stepWaiters = [];
    for (const w of waiters) w();
    for (let i = 0; i < 5; i++) await new Promise((resolve) => setImmediate(resolve));
  }

  newIncarnation(): void {
    for (const inc of this.incarnations) if (this.chance(0.5)) inc.stopped = true; // the rest are zombies
    const inc: Incarnation = {
      n: this.incarnations.length,
      pid: -1,
      epoch: -1,
      stopped: false,
      seqs: new Map(),
      freshInitsBefore: 0,
      keepsEpoch: KEEPS_EPOCH === 'all' || (KEEPS_EPOCH === 'some' && this.chance(0.5)),
    };
    this.incarnations.push(inc);
    void this.runProducer(inc).catch((err: unknown) => {
      if (err instanceof Violation) this.violation = err;
      else if (!(err instanceof SamsaError)) this.violation = err as Error;
    });
  }

  violation: Error | undefined;

  /** How many producer ids the coordinator handed out (more than one: the epochs ran out). */
  freshIds(): number {
    return this.nextPid - 1000;
  }

  check(): void {
    if (this.violation) throw this.violation;
    const committed = new Map<string, Set<number>>();
    const aborted = new Map<string, Set<number>>();
    for (const [p, partition] of this.partitions.entries()) {
      const o = partition.outcome();
      if (o.open.length > 0) this.fail(`partition ${p} has a hanging transaction: ${o.open.join(',')}`);
      if (partition.table.firstUnstableOffset() !== undefined) this.fail(`partition ${p} has an unstable offset`);
      for (const tag of o.committed) (committed.get(tag) ?? committed.set(tag, new Set()).get(tag)!).add(p);
      for (const tag of o.aborted) (aborted.get(tag) ?? aborted.set(tag, new Set()).get(tag)!).add(p);
    }
    for (const [tag, parts] of committed) {
      if (tag.endsWith('-unadded')) this.fail(`${tag} was written`);
      if (aborted.has(tag))
        this.fail(`transaction ${tag} is committed on ${[...parts]} and aborted on ${[...aborted.get(tag)!]}`);
      const outcome = this.txnOutcome.get(tag);
      if (outcome !== 'commit' && outcome !== 'unknown') this.fail(`transaction ${tag} (${outcome}) was committed`);
      for (const p of this.acked.get(tag) ?? []) {
        if (!parts.has(p)) this.fail(`transaction ${tag} lost its write to partition ${p}`);
      }
    }
    for (const [tag, outcome] of this.txnOutcome) {
      if (outcome !== 'commit') continue;
      for (const p of this.acked.get(tag) ?? []) {
        if (!committed.get(tag)?.has(p)) this.fail(`acknowledged commit ${tag} is missing on partition ${p}`);
      }
    }
    if (this.zombieCommits.length > 0) this.fail(`fenced producers committed ${this.zombieCommits.join(',')}`);
    const core = this.coordinator.coreOf(0);
    const state = core?.get(TXN_ID)?.state;
    if (state === 'PrepareCommit' || state === 'PrepareAbort') this.fail(`the transaction is stuck in ${state}`);
  }
}

/** Refusals after which a producer aborts by InitProducerId naming itself (refused again if it was fenced). */
const MUST_ABORT = new Set([
  ErrorCodes.PRODUCER_FENCED.code,
  ErrorCodes.INVALID_PRODUCER_EPOCH.code,
  ErrorCodes.TRANSACTION_ABORTABLE.code,
]);

function retriable(err: unknown): boolean {
  return err instanceof SamsaError && err.retriable;
}

function swallow(f: () => void): void {
  try {
    f();
  } catch (err) {
    if (!(err instanceof SamsaError)) throw err;
  }
}

async function runSeed(
  seed: number,
  failedWrites = false,
  lostAnswers = false,
): Promise<{ failovers: number; commits: number; freshIds: number }> {
  const world = new World(seed, failedWrites, lostAnswers);
  await world.start();
  world.newIncarnation();
  for (let round = 0; round < 3; round++) {
    for (let i = 0; i < 150; i++) await world.runStep(false);
  }
  for (const inc of world.incarnations) inc.stopped = true;
  for (let i = 0; i < 120; i++) await world.runStep(true);
  world.check();
  return { failovers: world.failovers, commits: world.commits, freshIds: world.freshIds() };
}

/** The id's record before the first incarnation: a producer a few epochs below the last one. */
function nearLastEpoch(): TxnRecord {
  return {
    transactionalId: TXN_ID,
    value: {
      producerId: 999,
      producerEpoch: MAX_EPOCH - 6,
      lastProducerEpoch: -1,
      nextProducerId: -1,
      previousProducerId: -1,
      timeoutMs: TIMEOUT_MS,
      state: 'CompleteCommit',
      partitions: tp.EMPTY,
      txnStartTimestampMs: -1,
      lastUpdateTimestampMs: 0,
      timedOut: false,
      fenced: false,
      clientTransactionVersion: 2,
    },
  };
}

// TXN_SIM_SEED=<n> runs one seed; TXN_SIM_SEEDS=<count> runs more than CI's 40 (seeds 1..count).
const SEEDS = process.env.TXN_SIM_SEED
  ? [Number(process.env.TXN_SIM_SEED)]
  : Array.from({ length: Number(process.env.TXN_SIM_SEEDS ?? 100) }, (_, i) => i + 1);

// The failed-first-write schedules run apart (their own 30 seeds), so the seeds named above keep their schedules.
const FAILED_WRITE_SEEDS = process.env.TXN_SIM_SEED || process.env.TXN_SIM_SEEDS ? SEEDS : SEEDS.slice(0, 30);

describe('transaction simulation', () => {
  it(
    `keeps its invariants over ${SEEDS.length} seeded schedules`,
    async () => {
      let failovers = 0;
      let commits = 0;
      for (const seed of SEEDS) {
        try {
          const r = await runSeed(seed);
          failovers += r.failovers;
          commits += r.commits;
        } catch (err) {
          console.error(`transaction simulation failed: reproduce with TXN_SIM_SEED=${seed}`);
          throw err;
        }
      }
      expect(failovers).toBeGreaterThan(SEEDS.length === 1 ? -1 : SEEDS.length / 2);
      expect(commits).toBeGreaterThan(0);
    },
    Math.max(30_000, SEEDS.length * 300),
  );

  it(
    `keeps them when a transaction's first write fails and arrives late, over ${FAILED_WRITE_SEEDS.length} schedules`,
    async () => {
      let commits = 0;
      for (const seed of FAILED_WRITE_SEEDS) {
        try {
          commits += (await runSeed(seed, true)).commits;
        } catch (err) {
          console.error(`transaction simulation failed: reproduce with TXN_SIM_SEED=${seed}`);
          throw err;
        }
      }
      expect(commits).toBeGreaterThan(0);
    },
    Math.max(30_000, FAILED_WRITE_SEEDS.length * 300),
  );

  it(
    `keeps them when EndTxn and recovery answers are lost near the last epoch, over ${FAILED_WRITE_SEEDS.length} seeds`,
    async () => {
      let commits = 0;
      let freshIds = 0;
      for (const seed of FAILED_WRITE_SEEDS) {
        try {
          const r = await runSeed(seed, false, true);
          commits += r.commits;
          freshIds += r.freshIds;
        } catch (err) {
          console.error(`transaction simulation (lost answers) failed: reproduce with TXN_SIM_SEED=${seed}`);
          throw err;
        }
      }
      expect(commits).toBeGreaterThan(0);
      // The epochs ran out (a fresh producer id) in most schedules.
      expect(freshIds).toBeGreaterThanOrEqual(FAILED_WRITE_SEEDS.length / 2);
    },
    Math.max(30_000, FAILED_WRITE_SEEDS.length * 300),
  );
});
