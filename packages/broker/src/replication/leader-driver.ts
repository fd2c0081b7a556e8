/**
 * The leader's side of replication for every partition this broker leads: feeds each term's pure
 * LeaderState (leader.ts) appends, follower fetches, committed ISR states and time, and carries out
 * its outputs (expose the high watermark and wake waiters, send AlterPartition, answer acks=all).
 * Generic over its I/O: the clock, the transport to the controller, the waiters and the logs come
 * in through LeaderDriverOptions, so the seeded simulation runs this code as the broker does.
 *
 * Ordering rules enforced here:
 *  - the high watermark a partition exposes is its LeaderState's, which advances only from ISR
 *    positions and only while the ISR has min.insync.replicas members;
 *  - acks=all producers are answered from acksAllStatus, never from the local append alone;
 *  - a follower fetch counts as an acknowledgement only after validateFollowerFetch accepted it;
 *  - followers may copy an append once exposed (its CRCs passed, its write under way), but the
 *    leader's LEO in its LeaderState, which bounds the HW, is the written end only.
 */
import { ErrorCodes, SamsaError, trace } from '@samsa/protocol';
import type { Logger } from 'pino';
import type { Clock } from '../clock.js';
import { validateFollowerFetch } from './follower.js';
import { type AcksAllStatus, type IsrProposal, isrRejectionFor, type LeaderOutput, LeaderState } from './leader.js';
import {
  type CommittedPartitionState,
  EMPTY_RECORDS,
  partitionKey,
  type Replica,
  type ReplicaFetchPartition,
  type ReplicaFetchPartitionResponse,
  type ReplicaRoleChange,
  type ReplicationTransport,
  type Waiters,
} from './replica.js';

export interface LeaderDriverOptions<R extends Replica> {
  readonly brokerId: number;
  readonly replicaLagTimeMaxMs: number;
  readonly clock: Clock;
  readonly transport: Pick<ReplicationTransport, 'alterPartition'>;
  readonly waiters: Waiters;
  /** The partition's committed state as last read from the coordinator, if known. */
  readonly committedState: (topic: string, partition: number) => CommittedPartitionState | undefined;
  readonly minInsyncReplicas: (replica: R) => number;
  /** Persists the replica's leader-epoch cache (leader-epoch-checkpoint). */
  readonly saveEpochCache: (replica: R) => Promise<void>;
  readonly logger: Logger;
  /** How long an AlterPartition may go unanswered before the next tick sends it again. */
  readonly isrRequestTimeoutMs?: number;
  /**
   * replica.fetch.unwritten.enable (default false): produce appends are exposed to followers once
   * their CRCs passed, while this leader's write still runs (ReplicaLog.append's onExposed), and the
   * parked follower fetches are woken then. The HW waits for the write either way (LeaderState).
   */
  readonly exposeUnwrittenAppends?: boolean;
}

const DEFAULT_ISR_REQUEST_TIMEOUT_MS = 10_000;

export class LeaderDriver<R extends Replica = Replica> {
  private readonly inFlightProposals = new Set<R>();
  private cancelTick: (() => void) | undefined;
  private readonly led = new Set<R>();
  /** Replicas whose new epoch's start offset is not recorded yet: this driver's appends wait for it. */
  private readonly epochStarts = new Map<R, Promise<void>>();
  /** Replicas in becomeLeader: acks=all producers of their previous term wait for the new one. */
  private readonly starting = new Set<R>();
  /** Each replica's onExposed callback (exposedCallback). */
  private readonly exposedCallbacks = new WeakMap<R, () => void>();
  /** Bumped by every resign: a term that started before it must not take effect. */
  private readonly generations = new WeakMap<R, number>();

  constructor(private readonly options: LeaderDriverOptions<R>) {}

  start(): void {
    // Kafka checks for lagging followers every replica.lag.time.max.ms / 2.
    const periodMs = Math.max(50, Math.floor(this.options.replicaLagTimeMaxMs / 2));
    const next = (): void => {
      this.cancelTick = this.options.clock.schedule(periodMs, () => {
        this.tick();
        next();
      });
    };
    next();
  }

  stop(): void {
    this.cancelTick?.();
    this.cancelTick = undefined;
    this.led.clear();
  }

  /**
   * This broker leads `replica` in a new epoch (`replica.leaderEpoch` already says so, so appends
   * from here on are stamped with it): record the epoch's start offset and start a term.
   * `previousWork` is what the replica's previous role still had in flight (a follower's fetch
   * being applied); the term starts after it.
   */
  async becomeLeader(replica: R, change: ReplicaRoleChange, previousWork?: Promise<void>): Promise<void> {
    const generation = this.generationOf(replica);
    let resolve!: () => void;
    const epochAssigned = new Promise<void>((r) => {
      resolve = r;
    });
    // Leaves the map as it resolves: appends waiting on it look again and must not find it.
    const assigned = (): void => {
      if (this.epochStarts.get(replica) === epochAssigned) this.epochStarts.delete(replica);
      resolve();
    };
    this.epochStarts.set(replica, epochAssigned);
    this.starting.add(replica);
    try {
      await this.startTerm(replica, change, generation, assigned, previousWork);
    } finally {
      assigned();
      this.starting.delete(replica);
      // acks=all producers of the previous term re-check: the new one answers them, or nobody will.
      this.notify(replica);
    }
  }

  /**
   * This broker stays leader of `replica` in a new epoch: called before the old term is resigned, so
   * that its acks=all producers wait for the new term (becomeLeader) instead of failing.
   */
  keepLeading(replica: R): void {
    this.starting.add(replica);
  }

  private async startTerm(
    replica: R,
    change: ReplicaRoleChange,
    generation: number,
    assigned: () => void,
    previousWork: Promise<void> | undefined,
  ): Promise<void> {
    const current = (): boolean =>
      this.generationOf(replica) === generation &&
      replica.role === 'leader' &&
      replica.leaderEpoch === change.leaderEpoch;
    // Ordering rule: the epoch starts after every batch stamped with an older epoch. Appends queued
    // before the bump (this leader's previous term, or a copy from the previous leader) may still be
    // on the log's chain: reading the log end now would start the epoch at an offset that then holds
    // an old-epoch batch, and every follower fetch would diverge there. Kafka assigns the epoch under
    // the log's lock; here the log says when the appends queued before now have settled, and this
    // driver's own appends wait for the assignment (append), so none of the new epoch lands below it.
    await (previousWork ? previousWork.then(() => replica.log.appendsSettled()) : replica.log.appendsSettled());
    if (!current()) return;
    const epochStartOffset = replica.log.logEndOffset;
    const changed = replica.epochCache.assign(change.leaderEpoch, epochStartOffset);
    assigned();
    if (changed) await this.options.saveEpochCache(replica);
    if (!current()) return;
    // Appends made while the cache was saved (markers, internal topics writing to the log directly)
    // count: the term starts from the log end as it is now, or those records would sit above a
    // high watermark that nothing moves until the next append.
    const logEndOffset = replica.log.logEndOffset;
    const committed = this.options.committedState(replica.topic, replica.partition);
    replica.leaderState = new LeaderState({
      localBrokerId: this.options.brokerId,
      leaderEpoch: change.leaderEpoch,
      replicas: change.replicas,
      isr: change.isr,
      isrZkVersion: committed?.leaderEpoch === change.leaderEpoch ? committed.stateZkVersion : -1,
      minInsyncReplicas: this.options.minInsyncReplicas(replica),
      replicaLagTimeMaxMs: this.options.replicaLagTimeMaxMs,
      logEndOffset,
      highWatermark: Math.min(replica.highWatermark, logEndOffset),
      epochStartOffset,
      nowMs: this.options.clock.now(),
      // Saved only: a start moved in memory counts once saved (afterLogStartMoved tells the term then).
      logStartOffset: replica.log.savedLogStartOffset,
    });
    this.led.add(replica);
    this.apply(replica, { highWatermark: replica.leaderState.highWatermark });
  }

  resign(replica: R): void {
    // A term still starting (becomeLeader awaiting the log) is abandoned.
    this.generations.set(replica, this.generationOf(replica) + 1);
    replica.leaderState = undefined;
    this.led.delete(replica);
    this.notify(replica);
  }

  /** acks=all is refused before appending while the ISR is below min.insync.replicas. */
  checkEnoughReplicas(replica: R): void {
    const state = this.leaderStateOf(replica);
    if (!state.canAcceptAcksAll()) throw state.notEnoughReplicasError(false);
  }

  /**
   * A produce on the leader: appends with this term's epoch and, for acks=all (-1), resolves once
   * every in-sync replica holds the records (see waitForIsr).
   */
  async append(
    replica: R,
    batches: Buffer,
    acks: number,
    timeoutMs: number,
    signal: AbortSignal,
  ): Promise<{ baseOffset: number; lastOffset: number; logAppendTimeMs: number | undefined }> {
    // A new epoch is starting: its first batch must not land below the offset it will be said to start at.
    for (let starting = this.epochStarts.get(replica); starting; starting = this.epochStarts.get(replica))
      await starting;
    if (acks === -1) {
      if (!replica.leaderState && this.starting.has(replica)) await this.termStart(replica, timeoutMs, signal);
      this.checkEnoughReplicas(replica);
    }
    // With exposeUnwrittenAppends, followers parked at the log end are woken as soon as the append is
    // exposed (its CRCs passed), so they copy it while this leader writes it; the HW still waits for
    // the write (onLeaderAppend). Without, they are woken once it is written (onLeaderAppend).
    const onExposed = this.options.exposeUnwrittenAppends ? this.exposedCallback(replica) : undefined;
    const appended = await replica.log.append(batches, { leaderEpoch: replica.leaderEpoch, onExposed });
    trace?.('l.app', replica.partition, appended.baseOffset, appended.lastOffset);
    this.onLeaderAppend(replica);
    if (acks === -1) await this.waitForIsr(replica, appended.lastOffset + 1, timeoutMs, signal);
    return appended;
  }

  /**
   * Waits while `replica`'s new term is starting (its epoch saved to the cache: an fsync) for an acks=all
   * append, which needs the term's LeaderState: a producer that got past the server's wait for the term
   * (awaitLeadership) just before this leader was given a new epoch (a follower left the ISR) would
   * otherwise be refused NotLeaderOrFollower by its own leader. Ends with the term started or abandoned
   * (the caller's check then answers), after `timeoutMs` (the same), or when the producer goes away.
   */
  private termStart(replica: R, timeoutMs: number, signal: AbortSignal): Promise<void> {
    return new Promise((resolve, reject) => {
      this.options.waiters.park(
        {
          tryComplete: () => {
            const over = replica.leaderState !== undefined || !this.starting.has(replica);
            if (over) resolve();
            return over;
          },
          onExpire: () => resolve(),
          onAbort: () => reject(new SamsaError(ErrorCodes.NETWORK_EXCEPTION, 'the producer disconnected')),
        },
        [partitionKey(replica.topic, replica.partition)],
        timeoutMs,
        signal,
      );
    });
  }

  /**
   * While a new epoch of `replica` is starting, what to wait for before appending to its log directly
   * (markers, internal topics): check again after each wait, then append without awaiting in between,
   * so nothing stamped with the new epoch lands below the start offset it is about to be given.
   */
  epochStarting(replica: R): Promise<void> | undefined {
    return this.epochStarts.get(replica);
  }

  /** One per replica, not one per append. */
  private exposedCallback(replica: R): () => void {
    let callback = this.exposedCallbacks.get(replica);
    if (callback === undefined) {
      callback = () => this.notify(replica);
      this.exposedCallbacks.set(replica, callback);
    }
    return callback;
  }

  onLeaderAppend(replica: R): void {
    const state = replica.leaderState;
    if (state) this.apply(replica, state.onLocalAppend(replica.log.logEndOffset, this.options.clock.now()));
    // Followers long-polling for new records wake up.
    this.notify(replica);
  }

  /**
   * A follower's accepted fetch: its position acknowledges everything below it. The log's written end
   * goes to the LeaderState first (an append whose write completed while the fetch was read), since
   * the state's LEO, which bounds the HW, moves only with what this leader has written: the follower
   * may hold more (exposed records, see answerFetch).
   */
  onFollowerFetch(replica: R, replicaId: number, fetchOffset: number, logStartOffset?: number): void {
    const state = replica.leaderState;
    if (!state) return;
    const now = this.options.clock.now();
    const written = replica.log.logEndOffset;
    if (written > state.logEndOffset) this.apply(replica, state.onLocalAppend(written, now));
    this.apply(replica, state.onFollowerFetch(replicaId, fetchOffset, now, logStartOffset));
  }

  /**
   * One partition of a follower's fetch: checks its epochs (fencing and divergence), counts its
   * position as its acknowledgement, and reads up to `maxBytes` from there (the first batch whole
   * when `first`). Failures of the log itself (OffsetOutOfRange, offline) are thrown.
   */
  async answerFetch(
    replica: R,
    replicaId: number,
    p: ReplicaFetchPartition,
    maxBytes: number,
    first: boolean,
  ): Promise<ReplicaFetchPartitionResponse> {
    return this.answerFetchNow(replica, replicaId, p, maxBytes, first);
  }

  /**
   * answerFetch, answered at once when the log's memory holds what to read (the tail, or nothing to
   * read: a fetch at the log end), else a promise; a failure of the log is thrown, not rejected. A
   * leader answers each follower fetch twice (when it parks and when an append wakes it): no async
   * step for either in the usual case.
   */
  answerFetchNow(
    replica: R,
    replicaId: number,
    p: ReplicaFetchPartition,
    maxBytes: number,
    first: boolean,
  ): ReplicaFetchPartitionResponse | Promise<ReplicaFetchPartitionResponse> {
    // Every answer is one object literal of one shape (no spreads of a base): a leader makes two per
    // follower fetch, the first when the fetch parks.
    const partition = p.partition;
    const state = replica.leaderState;
    if (!state?.isReplica(replicaId)) {
      const error = ErrorCodes.NOT_LEADER_OR_FOLLOWER;
      const message = this.refusal(replica, replicaId, state !== undefined);
      const records = EMPTY_RECORDS;
      return {
        partition,
        highWatermark: -1,
        logStartOffset: -1,
        records,
        errorCode: error.code,
        errorMessage: message,
      };
    }
    const log = replica.log;
    const validation = validateFollowerFetch(
      { fetchOffset: p.fetchOffset, currentLeaderEpoch: p.currentLeaderEpoch, lastFetchedEpoch: p.lastFetchedEpoch },
      {
        leaderEpoch: state.leaderEpoch,
        epochCache: replica.epochCache,
        logStartOffset: log.logStartOffset,
        // Range and divergence: what followers may hold, exposed records included (the HW counts
        // only the written end, see onFollowerFetch).
        logEndOffset: log.exposedEndOffset,
      },
    );
    if (validation.kind !== 'ok') {
      const highWatermark = replica.highWatermark;
      const logStartOffset = log.logStartOffset;
      const records = EMPTY_RECORDS;
      if (validation.kind === 'error') {
        const { error, message } = validation;
        return { partition, highWatermark, logStartOffset, records, errorCode: error.code, errorMessage: message };
      }
      // A diverging fetch acknowledges nothing: the follower must truncate first.
      const divergingEpoch = validation.divergingEpoch;
      return { partition, highWatermark, logStartOffset, records, errorCode: 0, errorMessage: '', divergingEpoch };
    }
    this.onFollowerFetch(replica, replicaId, p.fetchOffset, p.logStartOffset);
    if (!(maxBytes > 0 || first)) return fetchAnswer(replica, partition, EMPTY_RECORDS);
    const now = log.readForFollowerNow?.(p.fetchOffset, maxBytes);
    if (now !== undefined) return fetchAnswer(replica, partition, kept(now.bytes, first, maxBytes));
    return log
      .readForFollower(p.fetchOffset, maxBytes)
      .then((read) => fetchAnswer(replica, partition, kept(read.bytes, first, maxBytes)));
  }

  /**
   * Why a follower's fetch is refused NOT_LEADER_OR_FOLLOWER: not a replica of the term, or no term yet (the
   * role is set and the epoch being saved to the cache, or the role is going). The replica fetch handler
   * parks a fetch while the term starts; this is what a fetch gets when that wait ends first.
   */
  private refusal(replica: R, replicaId: number, inTerm: boolean): string {
    const name = `${replica.topic}-${replica.partition}`;
    if (inTerm) return `broker ${replicaId} is not a replica of ${name}`;
    const broker = this.options.brokerId;
    if (this.starting.has(replica))
      return `broker ${broker}'s term as leader of ${name} (epoch ${replica.leaderEpoch}) has not started yet`;
    return `broker ${broker} has no term as leader of ${name}`;
  }

  /** New metadata: committed ISR states of led partitions feed their LeaderStates. */
  onMetadata(): void {
    for (const replica of this.led) {
      const state = replica.leaderState;
      const committed = this.options.committedState(replica.topic, replica.partition);
      if (!state || !committed || committed.leaderEpoch !== state.leaderEpoch) continue;
      if (committed.stateZkVersion > state.isrZkVersion)
        this.apply(replica, state.onIsrCommitted(committed.isr, committed.stateZkVersion));
    }
  }

  /**
   * Resolves once every in-sync replica holds offsets below `requiredOffset`; rejects with
   * NotEnoughReplicasAfterAppend if the ISR fell below the minimum, NotLeaderOrFollower if the term
   * ended, RequestTimedOut after `timeoutMs`, NetworkException if the producer went away.
   */
  waitForIsr(replica: R, requiredOffset: number, timeoutMs: number, signal: AbortSignal): Promise<void> {
    const wait = new IsrWait(this, replica, this.leaderStateOf(replica), requiredOffset, timeoutMs);
    return new Promise((resolve, reject) => {
      wait.resolve = resolve;
      wait.reject = reject;
      this.options.waiters.park(wait, [partitionKey(replica.topic, replica.partition)], timeoutMs, signal);
    });
  }

  /** An acks=all producer's wait (IsrWait) checks again after a change on its partition; true once answered. */
  checkIsrWait(wait: IsrWait<R>): boolean {
    const replica = wait.replica;
    if (replica.leaderState !== wait.state) {
      // A new epoch of this same leader (the controller bumped it: a follower left the ISR, the
      // replica set changed) answers the wait, as Kafka's DelayedProduce does: the records are in
      // this log, which a leader never truncates, and the new term's HW counts only its own ISR.
      const next = replica.leaderState;
      if (!next && this.starting.has(replica)) return false;
      if (!next || next.leaderEpoch <= wait.state.leaderEpoch) {
        const detail = `leadership of ${replica.topic}-${replica.partition} moved while waiting for replicas`;
        wait.reject(new SamsaError(ErrorCodes.NOT_LEADER_OR_FOLLOWER, detail));
        return true;
      }
      wait.state = next;
    }
    const status = this.acksAllStatus(wait.state, wait.requiredOffset);
    if (status === 'committed') wait.resolve();
    else if (status === 'notEnoughReplicas') wait.reject(wait.state.notEnoughReplicasError(true));
    return status !== 'waiting';
  }

  /**
   * Whether an acks=all producer waiting for offsets below `requiredOffset` is answered. The one
   * place that decides it (a test overrides it to check that the simulation catches a wrong answer).
   */
  protected acksAllStatus(state: LeaderState, requiredOffset: number): AcksAllStatus {
    return state.acksAllStatus(requiredOffset);
  }

  private generationOf(replica: R): number {
    return this.generations.get(replica) ?? 0;
  }

  private leaderStateOf(replica: R): LeaderState {
    if (!replica.leaderState)
      throw new SamsaError(
        ErrorCodes.NOT_LEADER_OR_FOLLOWER,
        `not the leader of ${replica.topic}-${replica.partition}`,
      );
    return replica.leaderState;
  }

  private notify(replica: R): void {
    this.options.waiters.notify(partitionKey(replica.topic, replica.partition));
  }

  private tick(): void {
    const now = this.options.clock.now();
    for (const replica of this.led) {
      const state = replica.leaderState;
      if (!state) continue;
      this.apply(replica, state.onTick(now));
      // A proposal whose answer never came (controller moved, connection lost) is sent again as it is.
      const pending = state.pendingIsrProposal;
      if (pending && !this.inFlightProposals.has(replica)) this.propose(replica, state, pending);
    }
  }

  private apply(replica: R, out: LeaderOutput): void {
    let changed = false;
    if (out.highWatermark !== undefined && out.highWatermark > replica.highWatermark) {
      replica.highWatermark = out.highWatermark;
      trace?.('l.hw', replica.partition, out.highWatermark);
      changed = true;
    }
    if (out.isr) {
      replica.isr = out.isr;
      changed = true;
    }
    if (changed || out.lowWatermark !== undefined) this.notify(replica);
    if (out.isrProposal && replica.leaderState) this.propose(replica, replica.leaderState, out.isrProposal);
  }

  /** Sends an ISR change to the controller; the committed result arrives through metadata. */
  private propose(replica: R, state: LeaderState, proposal: IsrProposal): void {
    const context = { topic: replica.topic, partition: replica.partition };
    this.inFlightProposals.add(replica);
    this.options.logger.info(
      { ...context, kind: proposal.kind, isr: proposal.isr, changed: proposal.changed },
      'proposing an ISR change',
    );
    const request = {
      brokerId: this.options.brokerId,
      topic: replica.topic,
      partition: replica.partition,
      leaderEpoch: proposal.leaderEpoch,
      newIsr: [...proposal.isr],
      partitionZkVersion: proposal.zkVersion,
    };
    const timeoutMs = this.options.isrRequestTimeoutMs ?? DEFAULT_ISR_REQUEST_TIMEOUT_MS;
    this.options.transport.alterPartition(request, timeoutMs).then(
      (response) => {
        this.inFlightProposals.delete(replica);
        if (replica.leaderState !== state) return;
        const code = response.errorCode;
        // Accepted: the committed state comes through metadata. No controller here: the tick resends.
        if (code === ErrorCodes.NONE.code || code === ErrorCodes.NOT_CONTROLLER.code) return;
        this.options.logger.warn({ ...context, code, message: response.errorMessage }, 'ISR change refused');
        this.apply(replica, state.onIsrRejected(proposal, isrRejectionFor(code), this.options.clock.now()));
      },
      (err: unknown) => {
        this.inFlightProposals.delete(replica);
        this.options.logger.debug({ ...context, err }, 'ISR change unanswered; the tick resends');
      },
    );
  }
}

/** A follower fetch's answer with `records`: the positions as they are when it is made. */
function fetchAnswer(replica: Replica, partition: number, records: Buffer): ReplicaFetchPartitionResponse {
  const highWatermark = replica.highWatermark;
  return {
    partition,
    highWatermark,
    logStartOffset: replica.log.logStartOffset,
    records,
    errorCode: 0,
    errorMessage: '',
  };
}

/**
 * An acks=all producer's wait for the in-sync replicas (waitForIsr), parked as one object: a leader
 * parks one per acks=all produce, and its closures were most of what a park cost.
 */
class IsrWait<R extends Replica> {
  resolve: () => void = noop;
  reject: (err: unknown) => void = noop;

  constructor(
    private readonly driver: LeaderDriver<R>,
    readonly replica: R,
    /** The term the wait counts acknowledgements in (a new epoch of the same leader replaces it). */
    public state: LeaderState,
    readonly requiredOffset: number,
    private readonly timeoutMs: number,
  ) {}

  tryComplete(): boolean {
    return this.driver.checkIsrWait(this);
  }

  onExpire(): void {
    const timedOut = `the in-sync replicas did not acknowledge within ${this.timeoutMs} ms`;
    this.reject(new SamsaError(ErrorCodes.REQUEST_TIMED_OUT, timedOut));
  }

  /** The producer went away: stop waiting (the append itself stands, as in Kafka). */
  onAbort(): void {
    this.reject(new SamsaError(ErrorCodes.NETWORK_EXCEPTION, 'the producer disconnected'));
  }
}

const noop = (): void => {};

/** What a read may return: all of it for the first partition of a fetch (progress), else within `maxBytes`. */
function kept(bytes: Buffer, first: boolean, maxBytes: number): Buffer {
  return first || bytes.length <= maxBytes ? bytes : EMPTY_RECORDS;
}
