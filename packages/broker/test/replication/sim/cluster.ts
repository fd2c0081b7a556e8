/**
 * A small in-memory cluster that runs the broker's own replication driver (ReplicationDriver:
 * src/replication/driver.ts, leader-driver.ts, follower-driver.ts, over the pure cores) on one
 * partition, with everything around it simulated: in-memory logs of real batches (memory-log.ts), a
 * network that delays, reorders and drops replica fetches and AlterPartition requests and cuts
 * brokers off, a clock that moves only when the schedule says (clock.ts), crashes, restarts,
 * expired sessions and retention, and a controller that elects from the ISR (a model of
 * ControllerCore's rules, or the real one: core-controller.ts).
 *
 * The simulation only decides what happens next; the driver decides what a broker does about it.
 * `checkInvariants()` runs after every step and throws an InvariantViolation naming the rule.
 * Logs survive crashes (a process crash: the page cache keeps them); the leader-epoch cache comes
 * back from its checkpoint or is rebuilt from the log; the high watermark from its checkpoint.
 */
import { encodeBatch, ErrorCodes, SamsaError } from '@samsa/protocol';
import {
  type AlterPartitionRequest,
  type CommittedPartitionState,
  type EpochEntry,
  type FetchSession,
  LeaderEpochCache,
  type LeaderState,
  moveLogStart,
  afterLogStartMoved,
  type ReplicaFetchPartitionResponse,
  type ReplicaFetchRequest,
  type ReplicaFetchResponse,
  ReplicationDriver,
  type ReplicationDriverOptions,
  type ReplicationTransport,
  type Waiters,
} from '../../../src/replication/index.js';
import { DelayedOperations } from '../../../src/server/delayed.js';
import { SimClock, settleMicrotasks } from './clock.js';
import { type Entry, MemoryLog } from './memory-log.js';
import { Rng } from './rng.js';
import { type TraceLine, traceLogger } from './trace-logger.js';

export type { Entry } from './memory-log.js';

const TOPIC = 'sim';
/** What a producer waits for acks=all (Kafka's request.timeout.ms); a timeout is a failed write. */
const PRODUCE_TIMEOUT_MS = 30_000;
/** The size of one simulated batch (one short record): fetch limits are counted in these. */
const BATCH_BYTES_ESTIMATE = 75;

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
  /** Records a follower fetch returns at most. */
  readonly maxFetchRecords?: number;
  /** Follower fetch and AlterPartition timeouts (simulated ms). */
  readonly requestTimeoutMs?: number;
  /**
   * Logs queue appends and truncations until a step drains them (MemoryLog.queueing), so roles change
   * while a leader's old-epoch appends or a follower's truncation are still queued.
   */
  readonly queuedLogs?: boolean;
  /**
   * Leaders expose their appends to followers before writing them (replica.fetch.unwritten.enable);
   * with queuedLogs, an exposed append waits a drain before it is written, and a crash loses it.
   */
  readonly exposeUnwrittenAppends?: boolean;
  /**
   * Leaders delete records (DeleteRecords) below their HW, through the broker's moveLogStart; a
   * deletion is answered once the leader's low watermark reaches it. Off by default, so the other
   * configurations keep their schedules.
   */
  readonly deleteRecords?: boolean;
  /**
   * A moved log start is saved only at its log's next drain (MemoryLog.deferStartSaves), as
   * PartitionLog saves it beside its append chain; a crash in between brings the records back.
   */
  readonly deferStartSaves?: boolean;
  /**
   * Records per produced batch (1 by default): above 1, DeleteRecords and retention move log starts
   * inside batches, and a follower reset to such a start must copy the batch from its base.
   */
  readonly batchRecords?: number;
  /** Builds each broker's leader side: a test passes a deliberately broken one (mutation testing). */
  readonly leaderDriver?: ReplicationDriverOptions<SimReplica>['leaderDriver'];
}

export class InvariantViolation extends Error {
  constructor(rule: string, detail: string) {
    super(`${rule}: ${detail}`);
    this.name = 'InvariantViolation';
  }
}

/** The controller's answer to an AlterPartition: an error code from the protocol's table. */
export type AlterIsrAnswer = { readonly errorCode: number; readonly errorMessage: string };

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
  alterIsr(request: AlterPartitionRequest): AlterIsrAnswer;
}

export type ControllerFactory = (
  replicas: readonly number[],
  unclean: boolean,
  onChange: (state: PartitionState) => void,
) => SimController;

const answer = (spec: { code: number; message: string }, detail = spec.message): AlterIsrAnswer => ({
  errorCode: spec.code,
  errorMessage: detail,
});

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

  /** AlterPartition, fenced like ControllerCore.alterIsr, answered with its error codes. */
  alterIsr(r: AlterPartitionRequest): AlterIsrAnswer {
    const s = this.state;
    if (r.brokerId !== s.leader) return answer(ErrorCodes.NOT_LEADER_OR_FOLLOWER);
    if (r.leaderEpoch !== s.leaderEpoch) return answer(ErrorCodes.FENCED_LEADER_EPOCH);
    if (r.partitionZkVersion !== s.zkVersion) return answer(ErrorCodes.INVALID_UPDATE_VERSION);
    if (!r.newIsr.includes(r.brokerId) || !r.newIsr.every((x) => this.live.has(x) && this.replicas.includes(x)))
      return answer(ErrorCodes.INVALID_REQUEST, `ISR [${r.newIsr}] names a replica that is not alive`);
    this.write({ ...s, isr: [...r.newIsr], zkVersion: s.zkVersion + 1 });
    return answer(ErrorCodes.NONE);
  }
}

/** The partition replica each broker incarnation drives (the broker's HostedPartition, minus the files). */
export interface SimReplica {
  readonly topic: string;
  readonly partition: number;
  readonly log: MemoryLog;
  readonly epochCache: LeaderEpochCache;
  leaderState: LeaderState | undefined;
  role: 'leader' | 'follower';
  leaderEpoch: number;
  leader: number;
  isr: readonly number[];
  replicas: readonly number[];
  highWatermark: number;
}

interface Pending<T> {
  readonly resolve: (value: T) => void;
  readonly reject: (err: Error) => void;
}

interface PendingAck {
  /** Where the record landed (known at once unless logs queue: then when its append is written). */
  offset: number;
  readonly value: string;
  settled: boolean;
}

/** One broker: a process (an incarnation, replaced at every restart) around a log that survives it. */
class SimBroker {
  alive = true;
  isolated = false;
  readonly log: MemoryLog;
  /** The leader-epoch cache as last saved (leader-epoch-checkpoint). */
  epochCheckpoint: readonly EpochEntry[] = [];
  hwCheckpoint = 0;
  /** The partition state this broker last read, and whether a newer one is waiting for it. */
  known: PartitionState | undefined;
  metadataStale = true;
  /** The current process: its identity owns its timers and requests. */
  incarnation: object = {};
  replica!: SimReplica;
  driver!: ReplicationDriver<SimReplica>;
  readonly requests = new Map<number, Pending<never>>();
  pendingAcks: PendingAck[] = [];
  /** The role changes this process applies, one after the other. */
  roleChanges: Promise<void> = Promise.resolve();

  constructor(
    readonly id: number,
    recordValue: (crc: number) => string,
  ) {
    this.log = new MemoryLog(recordValue);
  }

  /** The current leadership term's state machine, if this broker leads. */
  get leader(): LeaderState | undefined {
    return this.alive ? this.replica.leaderState : undefined;
  }

  get highWatermark(): number {
    return this.replica.highWatermark;
  }

  get logEndOffset(): number {
    return this.log.logEndOffset;
  }

  get logStart(): number {
    return this.log.logStartOffset;
  }

  /** The log start a crash would leave (at most logStart). */
  get savedLogStart(): number {
    return this.log.savedLogStartOffset;
  }

  /** The values of the records held, oldest first. */
  values(): string[] {
    return this.log.entries().map((e) => e.value);
  }
}

type Endpoint = number | 'controller';

type Message =
  | {
      readonly kind: 'fetch';
      readonly from: number;
      readonly to: number;
      readonly id: number;
      readonly request: ReplicaFetchRequest;
    }
  | {
      readonly kind: 'fetchResponse';
      readonly from: number;
      readonly to: number;
      readonly id: number;
      readonly response: ReplicaFetchResponse;
    }
  | {
      readonly kind: 'alterIsr';
      readonly from: number;
      readonly to: 'controller';
      readonly id: number;
      readonly request: AlterPartitionRequest;
    }
  | {
      readonly kind: 'alterIsrResponse';
      readonly from: 'controller';
      readonly to: number;
      readonly id: number;
      readonly answer: AlterIsrAnswer;
    };

type InFlight = Message & { readonly round: number };

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
  /** DeleteRecords requests answered (the low watermark reached their offset). */
  deletions: number;
  /** Follower logs, reset to a start inside a batch, restarted at the batch's base (MemoryLog). */
  restartsBelowStart: number;
  /** Follower fetches sent while their log start's save was held (stating it as unsaved): none waits for it. */
  fetchesWhileSaving: number;
}

export class SimCluster {
  readonly brokers: SimBroker[];
  readonly controller: SimController;
  readonly rng: Rng;
  readonly clock = new SimClock();
  readonly minInsyncReplicas: number;
  readonly replicaLagTimeMaxMs: number;
  private readonly maxFetchRecords: number;
  private readonly requestTimeoutMs: number;
  private network: InFlight[] = [];
  /** settle() delivers, in a round, only the fetches sent before it (each follower one round trip). */
  private round = 0;
  private storm = false;
  private nextId = 1;
  private nextValue = 1;
  /** The record each produced batch carries, by the batch's CRC. */
  private readonly values = new Map<number, string>();
  /** offset -> the record committed there (below some leader's HW). */
  readonly committed = new Map<number, Entry>();
  readonly acked: Entry[] = [];
  readonly failedAcks: Entry[] = [];
  /** leader epoch -> the broker that held a LeaderState for it. */
  private readonly termEpochs = new Map<number, number>();
  /** Per leadership term: the highest HW seen, and how far its committed records were recorded. */
  private readonly terms = new Map<LeaderState, { broker: number; highWatermark: number; recordedUpTo: number }>();
  private lastControllerEpoch = 0;
  private readonly uncleanAllowed: boolean;
  private readonly options: SimOptions;
  /** A rule broken inside a driver call (which may catch what it throws): reported by checkInvariants. */
  private violation: Error | undefined;
  /** The last events (the simulation's and the drivers' log lines), formatted when read. */
  private readonly events: Array<{ readonly at: string; readonly line: string | TraceLine }> = [];
  private readonly logger = traceLogger((line) => this.traceLine(line));
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
    fetchesWhileSaving: 0,
    deletions: 0,
    restartsBelowStart: 0,
  };
  /** DeleteRecords requests waiting for their leader's low watermark. */
  private deletions: Array<{ readonly broker: number; readonly state: LeaderState; readonly offset: number }> = [];
  /**
   * The highest offset below which a leader the controller still counted as the leader answered a
   * DeleteRecords: every replica that can be elected has deleted below it, and keeps it deleted.
   */
  deletedBelow = 0;

  private constructor(seed: number, options: SimOptions) {
    this.options = options;
    this.rng = new Rng(seed);
    const n = options.brokers ?? 3;
    this.minInsyncReplicas = options.minInsyncReplicas ?? 2;
    this.replicaLagTimeMaxMs = options.replicaLagTimeMaxMs ?? 2000;
    this.maxFetchRecords = options.maxFetchRecords ?? 5;
    this.requestTimeoutMs = options.requestTimeoutMs ?? 500;
    const recordValue = (crc: number): string => this.values.get(crc) ?? `?${crc}`;
    this.brokers = Array.from({ length: n }, (_, i) => new SimBroker(i, recordValue));
    for (const b of this.brokers) {
      b.log.queueing = options.queuedLogs ?? false;
      b.log.deferStartSaves = options.deferStartSaves ?? false;
    }
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
  }

  /** A cluster whose brokers have all started and read the partition's state. */
  static async start(seed: number, options: SimOptions = {}): Promise<SimCluster> {
    const sim = new SimCluster(seed, options);
    for (const b of sim.brokers) sim.startProcess(b, new LeaderEpochCache(), 0);
    for (const b of sim.brokers) await sim.readMetadata(b);
    return sim;
  }

  // ---- actions (each is one step of a schedule; each runs until nothing more can happen without another) ----

  /**
   * A client produces to `brokerId` through the broker's own produce path (LeaderDriver.append):
   * returns the record appended, or why it was refused before appending. An acks=all write lands
   * in `acked` or `failedAcks` once the driver answers.
   */
  async produce(
    brokerId: number,
    acks: 'all' | 1 = 'all',
    value = `v${this.nextValue++}`,
  ): Promise<Entry | 'notLeader' | 'notEnoughReplicas'> {
    const b = this.brokers[brokerId]!;
    const replica = b.replica;
    if (!b.alive || replica.role !== 'leader' || !replica.leaderState) return 'notLeader';
    const records = Array.from({ length: this.options.batchRecords ?? 1 }, (_, i) => ({
      key: null,
      value: Buffer.from(i === 0 ? value : `${value}+${i}`),
      headers: [],
    }));
    const bytes = encodeBatch(records, { now: 0 });
    this.values.set(bytes.readUInt32BE(17), value);
    const queued = b.log.queueing;
    const offset = queued ? -1 : b.log.logEndOffset; // an unqueued memory log appends within the call
    const pending: PendingAck = { offset, value, settled: false };
    let refused = false;
    const signal = new AbortController().signal;
    b.driver.leaders.append(replica, bytes, acks === 'all' ? -1 : 1, PRODUCE_TIMEOUT_MS, signal).then(
      (appended) => {
        pending.offset = appended.baseOffset;
        if (acks === 'all') this.settleAck(b, pending, 'committed');
      },
      (err: unknown) => {
        if (err instanceof SamsaError && err.code === ErrorCodes.NOT_ENOUGH_REPLICAS.code) refused = true;
        else if (acks === 'all') this.settleAck(b, pending, 'failed');
        else this.log(`b${b.id} acks=1 produce failed: ${String(err)}`);
      },
    );
    if (acks === 'all') b.pendingAcks.push(pending);
    await settleMicrotasks();
    if (refused) {
      b.pendingAcks = b.pendingAcks.filter((p) => p !== pending);
      return 'notEnoughReplicas';
    }
    if (queued) {
      this.stats.produced++;
      this.log(`b${b.id} queue ${value} e${replica.leaderEpoch} acks=${acks}`);
      return { offset: -1, epoch: replica.leaderEpoch, value };
    }
    const entry = b.log.entryAt(offset);
    if (!entry || entry.value !== value) throw new Error(`b${b.id}: ${value} not appended at ${offset}`);
    this.stats.produced++;
    this.log(`b${b.id} append ${value}@${offset} e${entry.epoch} acks=${acks}`);
    return entry;
  }

  /** Delivers the in-flight message at `index` (a random one by default). */
  async deliver(index = this.rng.int(0, this.network.length - 1)): Promise<boolean> {
    const [msg] = this.network.splice(index, 1);
    if (!msg) return false;
    const endpoints = [msg.from, msg.to].filter((e): e is number => e !== 'controller');
    if (endpoints.some((e) => this.brokers[e]!.isolated)) return this.dropped(msg);
    if (msg.to !== 'controller' && !this.brokers[msg.to]!.alive) return this.dropped(msg);
    switch (msg.kind) {
      case 'fetch':
        await this.onFetch(msg);
        break;
      case 'alterIsr':
        this.onAlterIsr(msg);
        break;
      case 'fetchResponse':
        this.brokers[msg.to]!.requests.get(msg.id)?.resolve(msg.response as never);
        break;
      case 'alterIsrResponse':
        this.brokers[msg.to]!.requests.get(msg.id)?.resolve(msg.answer as never);
        break;
    }
    await settleMicrotasks();
    return true;
  }

  /** Writes what `brokerId`'s log has queued (its append chain's next drain). */
  async drainLog(brokerId: number): Promise<boolean> {
    const b = this.brokers[brokerId]!;
    if (!b.alive || b.log.queued === 0) return false;
    this.log(`b${b.id} drains ${b.log.queued} queued log operations`);
    b.log.drain();
    await settleMicrotasks();
    return true;
  }

  /** Delivers the first in-flight message matching `pred` (for scripted scenarios). */
  async deliverWhere(pred: (m: { kind: Message['kind']; from: Endpoint; to: Endpoint }) => boolean): Promise<boolean> {
    const index = this.network.findIndex(pred);
    return index >= 0 && this.deliver(index);
  }

  /** The kinds of the messages in flight, oldest first. */
  inFlightKinds(): Array<Message['kind']> {
    return this.network.map((m) => m.kind);
  }

  get inFlight(): number {
    return this.network.length;
  }

  async drop(index = this.rng.int(0, this.network.length - 1)): Promise<boolean> {
    const [msg] = this.network.splice(index, 1);
    if (!msg) return false;
    this.dropped(msg);
    await settleMicrotasks();
    return true;
  }

  /** The broker reads the partition's state znode (a watch fired) and its driver takes the role. */
  async readMetadata(b: SimBroker): Promise<void> {
    if (!b.alive || b.isolated) return;
    b.metadataStale = false;
    const s = this.controller.state;
    if (b.known && s.zkVersion <= b.known.zkVersion) return;
    b.known = s;
    // The metadata cache announces a role for every state with an epoch (a follower of -1 waits).
    const role = {
      kind: s.leader === b.id ? ('leader' as const) : ('follower' as const),
      leader: s.leader,
      leaderEpoch: s.leaderEpoch,
      isr: s.isr,
      replicas: this.brokers.map((x) => x.id),
    };
    const { driver, replica } = b;
    // One role change at a time, as on the broker's partition chain; one may wait for queued log
    // operations (a new epoch starts after them), which later steps drain.
    b.roleChanges = b.roleChanges.then(async () => {
      try {
        if (await driver.applyRole(replica, role))
          this.log(`b${b.id} ${role.kind} of epoch ${s.leaderEpoch} (leader ${s.leader}, isr [${s.isr}])`);
        driver.onMetadata();
      } catch (err) {
        this.violation ??= err as Error;
      }
    });
    await settleMicrotasks();
  }

  async deliverMetadata(brokerId: number): Promise<boolean> {
    const b = this.brokers[brokerId]!;
    if (!b.metadataStale || !b.alive || b.isolated) return false;
    await this.readMetadata(b);
    return true;
  }

  /** Time passes: the brokers' timers (ISR checks, request timeouts, fetch backoffs, produce timeouts) fire. */
  async advance(ms: number): Promise<void> {
    await this.clock.advance(ms);
  }

  /** The broker's HW checkpoint is written (Kafka does it every replica.high.watermark.checkpoint.interval.ms). */
  checkpoint(brokerId: number): void {
    const b = this.brokers[brokerId]!;
    if (b.alive) b.hwCheckpoint = b.replica.highWatermark;
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
    // Its producers see the connection drop; its timers and requests die with it.
    for (const p of b.pendingAcks) this.settleAck(b, p, 'failed');
    b.log.dropQueued();
    this.clock.cancelAll(b.incarnation);
    b.requests.clear();
    b.known = undefined;
    if (!options.unnoticed) this.controller.brokerDown(b.id);
  }

  async restart(brokerId: number): Promise<void> {
    const b = this.brokers[brokerId]!;
    if (b.alive) return;
    b.alive = true;
    b.isolated = false;
    // Recovery: the log is intact; the HW comes from its checkpoint; the epoch cache is either the
    // checkpointed one or rebuilt from the batches' epochs.
    let cache: LeaderEpochCache;
    if (this.rng.chance(0.5)) {
      cache = new LeaderEpochCache();
      for (const e of b.log.entries()) cache.assign(e.epoch, e.offset);
    } else {
      cache = new LeaderEpochCache(b.epochCheckpoint);
      cache.trimToLog(b.logStart, b.logEndOffset);
    }
    const highWatermark = Math.max(b.logStart, Math.min(b.hwCheckpoint, b.logEndOffset));
    this.startProcess(b, cache, highWatermark);
    this.log(`b${b.id} RESTART leo ${b.logEndOffset} hw ${highWatermark}`);
    this.controller.brokerUp(b.id);
    await this.readMetadata(b);
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
  async reregister(brokerId: number): Promise<void> {
    const b = this.brokers[brokerId]!;
    if (!b.alive || b.isolated || this.controller.live.has(brokerId)) return;
    this.log(`b${brokerId} RE-REGISTERED`);
    this.controller.brokerUp(brokerId);
    await this.readMetadata(b);
  }

  /**
   * Retention on `brokerId`: delete a prefix of its log below its HW (Kafka never deletes above it),
   * then, once that is saved, the broker's afterLogStartMoved (epoch cache, a leader's low watermark),
   * as PartitionRegistry's retention check does. `start` is random unless given.
   */
  async retain(brokerId: number, at?: number): Promise<void> {
    const b = this.brokers[brokerId]!;
    if (!b.alive || b.highWatermark <= b.logStart) return;
    const start = at ?? this.rng.int(b.logStart + 1, b.highWatermark);
    const replica = b.replica;
    b.log
      .deleteRecordsBefore(start)
      .then(() => afterLogStartMoved(replica, async (r) => this.saveEpochCheckpoint(b, r)))
      .catch((err: unknown) => {
        this.violation ??= err as Error;
      });
    this.stats.retentions++;
    this.log(`b${b.id} log start ${start}`);
    await settleMicrotasks();
  }

  /** The epoch cache's checkpoint, written by the process that owns `replica` (a dead one writes nothing). */
  private saveEpochCheckpoint(b: SimBroker, replica: SimReplica): void {
    if (b.alive && b.replica === replica) b.epochCheckpoint = [...replica.epochCache.epochEntries];
  }

  /**
   * DeleteRecords on `brokerId` if it leads: a random offset in (log start, HW], its log start moved
   * by the broker's own code (moveLogStart: log, then epoch cache); answered when checkInvariants sees
   * the leader's low watermark reach it (as the broker's handler waits for it). `offset` is random
   * unless given.
   */
  async deleteRecords(brokerId: number, below?: number): Promise<void> {
    const b = this.brokers[brokerId]!;
    const state = b.leader;
    if (!state || b.highWatermark <= b.logStart) return;
    const offset = below ?? this.rng.int(b.logStart + 1, b.highWatermark);
    this.log(`b${b.id} DeleteRecords below ${offset}`);
    // The handler waits for the low watermark once the move is saved (it may wait for a drain).
    moveLogStart(b.replica, offset, async (r) => this.saveEpochCheckpoint(b, r)).then(
      () => this.deletions.push({ broker: b.id, state, offset }),
      (err: unknown) => {
        this.violation ??= err as Error;
      },
    );
    await settleMicrotasks();
  }

  /** One random step of a schedule. */
  async randomStep(): Promise<void> {
    const r = this.rng;
    const ids = this.brokers.map((b) => b.id);
    // Schedules alternate between storms (many faults) and calm stretches where the ISR can recover.
    if (r.chance(0.03)) this.storm = !this.storm;
    const f = this.storm ? 2 : 0.25;
    const action = r.weighted({
      produce: 20,
      deliver: this.network.length > 0 ? 65 : 0,
      drainLog: this.brokers.some((b) => b.alive && b.log.queued > 0) ? 10 : 0,
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
      deleteRecords: this.options.deleteRecords ? 1.5 : 0,
      reregister: 3,
    });
    this.stats.steps++;
    switch (action) {
      case 'produce': {
        const leaders = this.brokers.filter((b) => b.leader).map((b) => b.id);
        const target = r.chance(0.9) ? r.pick(leaders) : r.pick(ids);
        if (target !== undefined) await this.produce(target, r.chance(0.8) ? 'all' : 1);
        break;
      }
      case 'deliver':
        await this.deliver();
        break;
      case 'drainLog':
        await this.drainLog(r.pick(this.brokers.filter((b) => b.alive && b.log.queued > 0).map((b) => b.id))!);
        break;
      case 'metadata':
        await this.deliverMetadata(r.pick(ids)!);
        break;
      case 'tick':
        await this.advance(r.int(10, 300));
        break;
      case 'drop':
        await this.drop();
        break;
      case 'checkpoint':
        this.checkpoint(r.pick(ids)!);
        break;
      case 'retain':
        await this.retain(r.pick(ids)!);
        break;
      case 'crash':
        this.crash(r.pick(ids)!);
        break;
      case 'restart':
        await this.restart(r.pick(this.brokers.filter((b) => !b.alive).map((b) => b.id)) ?? 0);
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
      case 'deleteRecords':
        await this.deleteRecords(r.pick(this.brokers.filter((b) => b.leader).map((b) => b.id)) ?? 0);
        break;
      case 'reregister':
        await this.reregister(r.pick(ids.filter((id) => !this.controller.live.has(id))) ?? 0);
        break;
    }
    this.checkInvariants();
  }

  /**
   * A fair schedule without ending any fault: each round every broker reads pending metadata, every
   * message in flight is delivered in order (or lost to a fault), each follower completing one fetch
   * round trip, and `stepMs` pass.
   */
  async settle(rounds: number, stepMs = 50): Promise<void> {
    for (let i = 0; i < rounds; i++) {
      this.round++;
      for (const b of this.brokers) await this.deliverMetadata(b.id);
      for (;;) {
        for (const b of this.brokers) await this.drainLog(b.id);
        const index = this.network.findIndex((m) => m.kind !== 'fetch' || m.round < this.round);
        if (index < 0) break;
        await this.deliver(index);
      }
      await this.advance(stepMs);
      this.checkInvariants();
    }
  }

  /**
   * Ends all faults and runs a fair schedule until every replica holds the leader's log and the ISR
   * is full (or `maxRounds` pass). Returns whether it converged.
   */
  async healAndSettle(maxRounds = 200): Promise<boolean> {
    for (const b of this.brokers) {
      this.heal(b.id);
      await this.restart(b.id);
      await this.reregister(b.id);
    }
    for (let round = 0; round < maxRounds; round++) {
      await this.settle(1);
      if (this.converged()) return true;
    }
    return false;
  }

  converged(): boolean {
    const s = this.controller.state;
    if (s.leader < 0) return false;
    const leader = this.brokers[s.leader]!;
    if (leader.leader?.leaderEpoch !== s.leaderEpoch) return false;
    return (
      s.isr.length === this.brokers.length &&
      this.brokers.every(
        (b) => !b.metadataStale && b.logEndOffset === leader.logEndOffset && b.highWatermark === leader.logEndOffset,
      )
    );
  }

  // ---- the brokers' processes and their I/O ----

  /** A new process for `b`: a replica over its surviving log, and the production driver around it. */
  private startProcess(b: SimBroker, epochCache: LeaderEpochCache, highWatermark: number): void {
    b.incarnation = {};
    b.roleChanges = Promise.resolve();
    b.requests.clear();
    b.pendingAcks = [];
    b.known = undefined;
    b.metadataStale = true;
    // A replica never truncates records below its HW: those are committed.
    b.log.onTruncate = (offset) => {
      if (offset < b.replica.highWatermark)
        this.violation ??= new InvariantViolation(
          'no truncation of committed records',
          `b${b.id} truncates to ${offset} below its HW ${b.replica.highWatermark}`,
        );
      else this.log(`b${b.id} truncate ${b.log.logEndOffset} -> ${offset}`);
    };
    b.replica = {
      topic: TOPIC,
      partition: 0,
      log: b.log,
      epochCache,
      leaderState: undefined,
      role: 'follower',
      leaderEpoch: -1,
      leader: -1,
      isr: [],
      replicas: this.brokers.map((x) => x.id),
      highWatermark,
    };
    const clock = this.clock.clockFor(b.incarnation);
    const logger = this.logger.child({ b: b.id });
    b.driver = new ReplicationDriver<SimReplica>({
      brokerId: b.id,
      replicaLagTimeMaxMs: this.replicaLagTimeMaxMs,
      exposeUnwrittenAppends: this.options.exposeUnwrittenAppends ?? false,
      clock,
      transport: this.transportFor(b, b.incarnation),
      waiters: this.observedWaiters(b, new DelayedOperations(clock)),
      committedState: (): CommittedPartitionState | undefined =>
        b.known && { leaderEpoch: b.known.leaderEpoch, isr: b.known.isr, stateZkVersion: b.known.zkVersion },
      minInsyncReplicas: () => this.minInsyncReplicas,
      saveEpochCache: async (replica) => {
        b.epochCheckpoint = [...replica.epochCache.epochEntries];
      },
      logger,
      fetch: {
        maxWaitMs: 0, // the simulated leader answers at once; the schedule decides when the answer arrives
        partitionMaxBytes: this.maxFetchRecords * BATCH_BYTES_ESTIMATE,
        requestTimeoutMs: this.requestTimeoutMs,
      },
      isrRequestTimeoutMs: this.requestTimeoutMs,
      ...(this.options.leaderDriver && { leaderDriver: this.options.leaderDriver }),
    });
    b.driver.start();
  }

  /**
   * The driver wakes waiters whenever a partition's HW or ISR changes: the moment to record what a
   * leader committed (so a commit is seen even if its leader dies before the step ends).
   */
  private observedWaiters(b: SimBroker, waiters: DelayedOperations): Waiters {
    return {
      park: (op, keys, timeoutMs, signal) => waiters.park(op, keys, timeoutMs, signal),
      notify: (key) => {
        const state = b.leader;
        try {
          if (state) this.checkTerm(b, state);
        } catch (err) {
          if (!(err instanceof InvariantViolation)) throw err;
          this.violation ??= err;
        }
        waiters.notify(key);
      },
    };
  }

  /** Broker `b`'s side of the simulated network: requests become messages, answers or timeouts settle them. */
  private transportFor(b: SimBroker, incarnation: object): ReplicationTransport {
    const clock = this.clock.clockFor(incarnation);
    const request = <T>(send: (id: number) => Message, timeoutMs: number): { id: number; promise: Promise<T> } => {
      const id = this.nextId++;
      const promise = new Promise<T>((resolve, reject) => {
        const cancel = clock.schedule(timeoutMs, () => {
          if (b.requests.delete(id)) reject(new Error(`no answer within ${timeoutMs} ms`));
        });
        const settle = (fn: () => void): void => {
          if (b.incarnation !== incarnation || !b.requests.delete(id)) return;
          cancel();
          fn();
        };
        b.requests.set(id, {
          resolve: (value: never) => settle(() => resolve(value as T)),
          reject: (err: Error) => settle(() => reject(err)),
        });
      });
      this.send(send(id));
      return { id, promise };
    };
    return {
      openFetchSession: (leaderId): FetchSession => {
        let closed = false;
        let current: number | undefined;
        return {
          fetch: (fetch, timeoutMs) => {
            if (closed) return Promise.reject(new Error('fetch session closed'));
            const sent = request<ReplicaFetchResponse>(
              (id) => ({ kind: 'fetch', from: b.id, to: leaderId, id, request: fetch }),
              timeoutMs,
            );
            current = sent.id;
            return sent.promise;
          },
          close: (reason) => {
            closed = true;
            if (current !== undefined) b.requests.get(current)?.reject(reason);
          },
        };
      },
      alterPartition: (alter, timeoutMs) =>
        request<AlterIsrAnswer>(
          (id) => ({ kind: 'alterIsr', from: b.id, to: 'controller', id, request: alter }),
          timeoutMs,
        ).promise,
    };
  }

  /** The leader's ReplicaFetch handler, as server/handlers/replica-fetch.ts runs it (without the long poll). */
  private async onFetch(msg: Extract<Message, { kind: 'fetch' }>): Promise<void> {
    const l = this.brokers[msg.to]!;
    const replica = l.replica;
    const driver = l.driver;
    const { replicaId, maxBytes } = msg.request;
    const topics = [];
    for (const topic of msg.request.topics) {
      const partitions: ReplicaFetchPartitionResponse[] = [];
      for (const p of topic.partitions) {
        const base = { partition: p.partition, highWatermark: -1, logStartOffset: -1, records: Buffer.alloc(0) };
        if ((p.unsavedLogStartOffset ?? -1) > (p.logStartOffset ?? -1)) this.stats.fetchesWhileSaving++;
        if (replica.role !== 'leader' || topic.name !== TOPIC) {
          const e = ErrorCodes.NOT_LEADER_OR_FOLLOWER;
          partitions.push({ ...base, errorCode: e.code, errorMessage: e.message });
          continue;
        }
        try {
          const limit = Math.min(p.partitionMaxBytes, maxBytes);
          partitions.push(await driver.leaders.answerFetch(replica, replicaId, p, limit, partitions.length === 0));
        } catch (err) {
          if (!(err instanceof SamsaError)) throw err;
          partitions.push({ ...base, logStartOffset: l.logStart, errorCode: err.code, errorMessage: err.detail });
        }
      }
      topics.push({ name: topic.name, partitions });
    }
    this.send({ kind: 'fetchResponse', from: l.id, to: msg.from, id: msg.id, response: { topics } });
  }

  private onAlterIsr(msg: Extract<Message, { kind: 'alterIsr' }>): void {
    const result = this.controller.alterIsr(msg.request);
    const ok = result.errorCode === ErrorCodes.NONE.code;
    const { newIsr, partitionZkVersion } = msg.request;
    this.log(
      `controller AlterPartition from b${msg.from} [${newIsr}] v${partitionZkVersion}: ${ok || result.errorCode}`,
    );
    if (ok) this.stats.isrChanges++;
    this.send({ kind: 'alterIsrResponse', from: 'controller', to: msg.from, id: msg.id, answer: result });
  }

  private send(msg: Message): void {
    this.network.push({ ...msg, round: this.round });
  }

  private dropped(msg: Message): boolean {
    // The requester notices through its timeout; model it as noticing at once (a reset connection) half the time.
    const requester = msg.from === 'controller' ? msg.to : msg.kind === 'fetchResponse' ? msg.to : msg.from;
    if (this.rng.chance(0.5)) this.brokers[requester]!.requests.get(msg.id)?.reject(new Error('connection reset'));
    return true;
  }

  private settleAck(b: SimBroker, p: PendingAck, outcome: 'committed' | 'failed'): void {
    if (p.settled) return;
    p.settled = true;
    b.pendingAcks = b.pendingAcks.filter((x) => x !== p);
    const entry: Entry = b.log.entryAt(p.offset) ?? { offset: p.offset, epoch: -1, value: p.value };
    if (outcome === 'committed' && entry.value === p.value) {
      this.acked.push(entry);
      this.stats.acked++;
      this.log(`b${b.id} ACK ${p.value}@${p.offset}`);
    } else {
      this.failedAcks.push({ offset: p.offset, epoch: -1, value: p.value });
      this.stats.failedAcks++;
    }
  }

  private log(line: string): void {
    this.traceLine(line);
  }

  private traceLine(line: string | TraceLine): void {
    this.events.push({ at: `[t=${this.clock.nowMs} step=${this.stats.steps}]`, line });
    if (this.events.length > 80) this.events.shift();
  }

  /** The last events, oldest first (printed with a failing seed). */
  get trace(): string[] {
    return this.events.map((e) => `${e.at} ${String(e.line)}`);
  }

  // ---- invariants ----

  checkInvariants(): void {
    if (this.violation) throw this.violation;
    this.stats.truncations = this.brokers.reduce((sum, b) => sum + b.log.truncations, 0);
    this.stats.restartsBelowStart = this.brokers.reduce((sum, b) => sum + b.log.restartsBelowStart, 0);
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

    for (const b of this.brokers) {
      if (!b.alive) continue;
      if (b.highWatermark > b.logEndOffset)
        throw new InvariantViolation('HW within log', `b${b.id} HW ${b.highWatermark} > LEO ${b.logEndOffset}`);
      const state = b.leader;
      if (state) this.checkTerm(b, state);
    }
    for (const [epoch, broker] of this.termEpochs) {
      const elected = c.epochLeaders.get(epoch);
      if (elected !== broker)
        throw new InvariantViolation(
          'one leader per epoch',
          `b${broker} led epoch ${epoch}, the controller elected ${elected}`,
        );
    }
    // Replicas agree below their HWs: every record below a replica's HW is the committed one.
    for (const b of this.brokers) {
      if (!b.alive) continue;
      for (let o = b.logStart; o < b.highWatermark; o++) {
        const known = this.committed.get(o);
        const mine = b.log.entryAt(o);
        if (!known || !mine || !sameEntry(known, mine)) {
          throw new InvariantViolation(
            'replicas agree below their HW',
            `b${b.id} offset ${o} (HW ${b.highWatermark}) holds ${show(mine)}, committed ${show(known)}`,
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
    const currentState = current?.leader;
    if (current && currentState?.leaderEpoch === s.leaderEpoch) {
      this.checkHoldsCommitted(current, `leader b${current.id} of epoch ${s.leaderEpoch}`);
      // The HW waits for every replica the controller counts as in sync (the maximal-ISR rule).
      const maximal = currentState.maximalIsr;
      if (!s.isr.every((r) => maximal.includes(r))) {
        throw new InvariantViolation(
          'HW covers the controller ISR',
          `controller ISR [${s.isr}] v${s.zkVersion}, leader b${current.id} waits for [${maximal}]`,
        );
      }
    }
    // Any ISR member may be elected next: each holds every committed record.
    for (const id of s.isr) this.checkHoldsCommitted(this.brokers[id]!, `ISR member b${id} (epoch ${s.leaderEpoch})`);
    this.checkDeletions();
    for (const b of this.brokers) if (b.alive) this.checkEpochCacheStart(b);
  }

  /**
   * An epoch cache never points below its log's saved start (log-start.ts): a leader would answer a
   * follower's epoch query with deleted offsets. A follower restarted at the base of a batch holding
   * its start clamps the batch's epoch up to the start (FollowerDriver).
   */
  private checkEpochCacheStart(b: SimBroker): void {
    const first = b.replica.epochCache.epochEntries[0];
    if (first && first.startOffset < b.log.savedLogStartOffset)
      throw new InvariantViolation(
        'an epoch cache starts at or past its log start',
        `b${b.id} starts at ${b.log.savedLogStartOffset}; ` +
          `its cache: ${JSON.stringify(b.replica.epochCache.epochEntries)}`,
      );
  }

  /**
   * DeleteRecords: a request is answered once its leader's low watermark reaches the offset (the
   * broker's handler), and fails if the term ends first. An answer from the leader the controller
   * counts as current means every replica it could elect has deleted below the offset, so that no
   * crash brings the records back (its saved log start is past it); a zombie leader's answer promises
   * nothing (as in Kafka).
   */
  private checkDeletions(): void {
    const s = this.controller.state;
    this.deletions = this.deletions.filter((d) => {
      const b = this.brokers[d.broker]!;
      if (b.leader !== d.state) return false; // NotLeaderOrFollower
      if (d.state.lowWatermark < d.offset) return true;
      this.stats.deletions++;
      if (s.leader !== d.broker || s.leaderEpoch !== d.state.leaderEpoch) return false;
      this.deletedBelow = Math.max(this.deletedBelow, d.offset);
      return false;
    });
    // From then on every replica the controller could elect starts past it, also after a crash.
    for (const id of s.isr) {
      const { logStart, savedLogStart } = this.brokers[id]!;
      if (Math.min(logStart, savedLogStart) < this.deletedBelow)
        throw new InvariantViolation(
          'deleted records stay deleted',
          `DeleteRecords below ${this.deletedBelow} was answered; ISR member b${id} starts at ${logStart}, ` +
            `saved ${savedLogStart}`,
        );
    }
    // Every leader of the controller's current term starts at or past every answered deletion.
    const current = s.leader >= 0 ? this.brokers[s.leader]! : undefined;
    if (current?.leader?.leaderEpoch === s.leaderEpoch && current.logStart < this.deletedBelow)
      throw new InvariantViolation(
        'deleted records stay deleted',
        `leader b${current.id} of epoch ${s.leaderEpoch} starts at ${current.logStart}, ` +
          `below the answered deletion at ${this.deletedBelow}`,
      );
  }

  /** A leadership term: one leader per epoch, holding every committed record; its HW never moves back. */
  private checkTerm(b: SimBroker, state: LeaderState): void {
    let term = this.terms.get(state);
    if (!term) {
      const holder = this.termEpochs.get(state.leaderEpoch);
      if (holder !== undefined && holder !== b.id)
        throw new InvariantViolation(
          'one leader per epoch',
          `b${b.id} and b${holder} both lead epoch ${state.leaderEpoch}`,
        );
      this.termEpochs.set(state.leaderEpoch, b.id);
      this.stats.elections++;
      // Every committed record is in every new leader's log, at the same offset.
      this.checkHoldsCommitted(b, `new leader b${b.id} of epoch ${state.leaderEpoch}`);
      term = { broker: b.id, highWatermark: 0, recordedUpTo: 0 };
      this.terms.set(state, term);
    }
    if (state.highWatermark < term.highWatermark)
      throw new InvariantViolation(
        'HW never decreases',
        `b${b.id} epoch ${state.leaderEpoch} HW ${term.highWatermark} -> ${state.highWatermark}`,
      );
    term.highWatermark = state.highWatermark;
    // Records below a leader's HW are committed: they must agree with every record any leader ever
    // committed at that offset.
    for (let o = Math.max(term.recordedUpTo, b.logStart); o < state.highWatermark; o++) {
      const entry = b.log.entryAt(o);
      if (!entry)
        throw new InvariantViolation(
          'HW within log',
          `b${b.id} has no record at ${o} below its HW ${state.highWatermark}`,
        );
      const known = this.committed.get(o);
      if (!known) this.committed.set(o, entry);
      else if (!sameEntry(known, entry))
        throw new InvariantViolation(
          'committed records are final',
          `offset ${o}: committed ${show(known)}, b${b.id} (epoch ${state.leaderEpoch}) committed ${show(entry)}`,
        );
    }
    term.recordedUpTo = Math.max(term.recordedUpTo, state.highWatermark);
    this.checkEpochStart(b, state.leaderEpoch);
  }

  /**
   * A leader's epoch cache ends with its own epoch, which starts after every batch of an older one and
   * at its own first batch. Otherwise a follower holding those batches is told it diverged on every
   * fetch (an old-epoch batch above the start), or gets an undefined diverging epoch (no entry).
   */
  private checkEpochStart(b: SimBroker, epoch: number): void {
    const cache = b.replica.epochCache;
    const start = cache.startOffsetOf(epoch);
    if (cache.latestEpoch !== epoch || start === undefined)
      throw new InvariantViolation(
        "a leader's epoch is its cache's latest",
        `b${b.id} leads epoch ${epoch}; its cache: ${JSON.stringify(cache.epochEntries)}`,
      );
    for (const e of b.log.entries())
      if (e.offset >= start !== (e.epoch === epoch))
        throw new InvariantViolation(
          'a leader epoch starts at its first batch',
          `b${b.id}: epoch ${epoch} starts at ${start}, but ${show(e)}`,
        );
  }

  private checkHoldsCommitted(b: SimBroker, who: string): void {
    for (const [offset, entry] of this.committed) {
      if (offset < b.logStart) continue; // deleted by retention, not lost
      const mine = b.log.entryAt(offset);
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
