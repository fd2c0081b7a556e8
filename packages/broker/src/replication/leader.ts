/**
 * The leader's side of one partition's replication, as a pure state machine (Kafka's Partition and
 * Replica state on the leader). One instance per leadership term: construct it when this broker
 * becomes leader of an epoch, drop it when the role or the epoch changes. Inputs are method calls
 * with the time as an argument; outputs say what the driver must do (wake waiters, send AlterIsr).
 * No I/O, no timers, no clock.
 *
 * The rules, each stated again where it is enforced:
 *  1. The high watermark (HW) is the smallest log end offset (LEO) among the in-sync replicas, the
 *     leader included, and never decreases.
 *  2. The HW does not advance while the committed ISR is smaller than min.insync.replicas: a record
 *     is committed only once at least that many replicas hold it (KAFKA-15583). So an ISR of the
 *     leader alone cannot commit anything unless min.insync.replicas is 1 (the Jepsen 2013 loss).
 *  3. The HW is computed over the union of the committed ISR and every ISR proposed on top of it
 *     that the controller may still apply (Kafka's "maximal ISR"): the controller may already count
 *     a proposed member as in sync, or not yet have removed a shrunk one, and either may become the
 *     next leader. A proposal stays in that union until a newer committed version is read, even
 *     after a refusal: a resent copy of it may still reach the controller and win.
 *  4. A follower is out of sync when it has not caught up to the leader's LEO within
 *     replica.lag.time.max.ms; out-of-sync followers are removed (shrink). The leader never is. An
 *     out-of-sync replica that is only in a refused proposal is removed by re-proposing the committed
 *     ISR, whose commit (a newer version) retires the refused proposals.
 *  5. A follower outside the ISR rejoins (expand) once its LEO reaches both the HW and the start of
 *     this leader's epoch: it then holds every committed record and has truncated any divergent tail.
 *     A follower that states its log start must also have deleted what this leader deleted (its start
 *     at least min(this leader's start, HW)), or an election could bring deleted records back.
 *  6. At most one ISR proposal awaits an answer; after a version conflict nothing is proposed until
 *     a newer ISR state is read; after a refusal, nothing for isrRetryBackoffMs.
 *  7. The low watermark (DeleteRecords) is the smallest log start offset among the leader and the
 *     maximal ISR, a follower that has not fetched in this term counting as unknown (-1): records
 *     below it are deleted on every replica that can be elected, so no election brings them back.
 */
import { ErrorCodes, SamsaError } from '@samsa/protocol';

export interface LeaderStateOptions {
  readonly localBrokerId: number;
  readonly leaderEpoch: number;
  /** The assignment (preferred leader first). */
  readonly replicas: readonly number[];
  /** The ISR as committed in the coordinator's state znode for this epoch. */
  readonly isr: readonly number[];
  /** The state znode's version: an AlterIsr proposal names it (compare-and-set). */
  readonly isrZkVersion: number;
  /** min.insync.replicas (>= 1). */
  readonly minInsyncReplicas: number;
  /** replica.lag.time.max.ms (Kafka's default: 30000). */
  readonly replicaLagTimeMaxMs: number;
  readonly logEndOffset: number;
  /** From the high-watermark checkpoint (or the follower's HW before the promotion); never above the LEO. */
  readonly highWatermark: number;
  /** This leader's first offset in its epoch: the log end offset at election. */
  readonly epochStartOffset: number;
  readonly nowMs: number;
  /** After a proposal the controller refused as invalid (not a version conflict), wait this long. */
  readonly isrRetryBackoffMs?: number;
  /** The leader's own log start offset (default 0); onLocalLogStart moves it. */
  readonly logStartOffset?: number;
}

/** An AlterIsr request to send to the controller. */
export interface IsrProposal {
  readonly leaderEpoch: number;
  readonly isr: readonly number[];
  /** The committed state's version the change is based on (the controller's compare-and-set). */
  readonly zkVersion: number;
  readonly kind: 'shrink' | 'expand';
  /** The replicas leaving (shrink) or joining (expand). */
  readonly changed: readonly number[];
}

/** What the driver must do after an input. Absent fields mean "nothing". */
export interface LeaderOutput {
  /** Set only when the HW advanced: wake parked fetches and acks=all producers; checkpoint lazily. */
  readonly highWatermark?: number;
  /** Send this AlterIsr to the controller; feed the answer to onIsrCommitted or onIsrRejected(proposal, ...). */
  readonly isrProposal?: IsrProposal;
  /** Set when the committed ISR changed: wake acks=all producers (they may now fail), update metadata. */
  readonly isr?: readonly number[];
  /** Set when the low watermark changed (rule 7): wake DeleteRecords requests waiting for it. */
  readonly lowWatermark?: number;
}

/**
 * How the controller refused a proposal. Either way the proposal stays in the maximal ISR until a
 * newer committed version is read: a resent copy of it may still reach the controller and be applied.
 *  - 'stale': the state moved on (version conflict, fenced or unknown leader epoch, not the leader).
 *    Nothing is proposed until onIsrCommitted brings the newer state.
 *  - 'invalid': the controller refused the change at the current version (e.g. a proposed member is
 *    not alive). Proposals resume after isrRetryBackoffMs.
 */
export type IsrRejection = 'stale' | 'invalid';

const STALE_ISR_ERROR_CODES: ReadonlySet<number> = new Set([
  ErrorCodes.FENCED_LEADER_EPOCH.code,
  ErrorCodes.UNKNOWN_LEADER_EPOCH.code,
  ErrorCodes.NOT_LEADER_OR_FOLLOWER.code,
  ErrorCodes.INVALID_UPDATE_VERSION.code,
]);

/**
 * Maps an AlterPartition error code to the rejection LeaderState expects: 'stale' when a newer
 * state exists and will be read (fenced or unknown leader epoch, not the leader, stale version),
 * 'invalid' for anything else (e.g. InvalidRequest for an ineligible replica). Either keeps the
 * proposal in the maximal ISR, so an unexpected code is safe; 'invalid' also retries later.
 */
export function isrRejectionFor(errorCode: number): IsrRejection {
  return STALE_ISR_ERROR_CODES.has(errorCode) ? 'stale' : 'invalid';
}

/** The outcome of an acks=all produce whose last offset + 1 is `requiredOffset`. */
export type AcksAllStatus = 'committed' | 'waiting' | 'notEnoughReplicas';

/** What the leader knows about one follower (Kafka's ReplicaState). */
export interface FollowerSnapshot {
  readonly replicaId: number;
  /** The follower's LEO as of its last accepted fetch; -1 until its first fetch in this term. */
  readonly logEndOffset: number;
  readonly lastCaughtUpTimeMs: number;
  readonly lastFetchTimeMs: number;
  /** The leader's LEO when that fetch arrived; -1 until the first fetch. */
  readonly lastFetchLeaderLogEndOffset: number;
  /** The follower's log start offset as of its last accepted fetch; -1 until its first fetch in this term. */
  readonly logStartOffset: number;
}

const UNKNOWN_OFFSET = -1;
const DEFAULT_ISR_RETRY_BACKOFF_MS = 1000;

interface FollowerState {
  logEndOffset: number;
  lastCaughtUpTimeMs: number;
  lastFetchTimeMs: number;
  lastFetchLeaderLogEndOffset: number;
  logStartOffset: number;
}

/** A follower nothing is known of yet (a new term, or a replica just added). */
function unknownFollower(lastCaughtUpTimeMs: number): FollowerState {
  return {
    logEndOffset: UNKNOWN_OFFSET,
    lastCaughtUpTimeMs,
    lastFetchTimeMs: 0,
    lastFetchLeaderLogEndOffset: UNKNOWN_OFFSET,
    logStartOffset: UNKNOWN_OFFSET,
  };
}

export class LeaderState {
  readonly localBrokerId: number;
  readonly leaderEpoch: number;
  /** Changes within a term only when a reassignment does (setReplicas). */
  replicas: readonly number[];
  /** The replica set metadata last gave this term (setReplicas); undefined: unchanged since it began. */
  private assigned: readonly number[] | undefined;
  /** min.insync.replicas: from the topic's settings when the term began, then setMinInsyncReplicas. */
  private minIsr: number;
  readonly replicaLagTimeMaxMs: number;
  readonly epochStartOffset: number;
  private readonly isrRetryBackoffMs: number;

  private leo: number;
  private hw: number;
  private nowMs: number;
  private committedIsr: readonly number[];
  private committedZkVersion: number;
  /** Proposals made on top of the committed version; any one of them may still be applied. */
  private proposed: IsrProposal[] = [];
  /** The proposal awaiting an answer (also in `proposed`). */
  private awaiting: IsrProposal | undefined;
  /** A version conflict happened: wait for a newer committed state before proposing. */
  private awaitingNewState = false;
  private retryAtMs = 0;
  private readonly followers = new Map<number, FollowerState>();
  private localLogStart: number;
  /** The low watermark last reported in an output (rule 7). */
  private reportedLowWatermark: number;

  constructor(options: LeaderStateOptions) {
    const { localBrokerId, replicas, isr } = options;
    check(replicas.includes(localBrokerId), `leader ${localBrokerId} is not a replica (${replicas.join(',')})`);
    check(isr.includes(localBrokerId), `leader ${localBrokerId} is not in the ISR (${isr.join(',')})`);
    check(
      isr.every((r) => replicas.includes(r)) && new Set(isr).size === isr.length,
      `ISR ${isr.join(',')} must be distinct replicas`,
    );
    check(
      Number.isSafeInteger(options.minInsyncReplicas) && options.minInsyncReplicas >= 1,
      `min.insync.replicas ${options.minInsyncReplicas} must be >= 1`,
    );
    check(options.replicaLagTimeMaxMs > 0, `replica.lag.time.max.ms ${options.replicaLagTimeMaxMs} must be > 0`);
    check(
      0 <= options.highWatermark && options.highWatermark <= options.logEndOffset,
      `high watermark ${options.highWatermark} must lie in [0, log end ${options.logEndOffset}]`,
    );
    check(
      options.epochStartOffset <= options.logEndOffset,
      `epoch start ${options.epochStartOffset} is past the log end ${options.logEndOffset}`,
    );
    this.localBrokerId = localBrokerId;
    this.leaderEpoch = options.leaderEpoch;
    this.replicas = [...replicas];
    this.minIsr = options.minInsyncReplicas;
    this.replicaLagTimeMaxMs = options.replicaLagTimeMaxMs;
    this.epochStartOffset = options.epochStartOffset;
    this.isrRetryBackoffMs = options.isrRetryBackoffMs ?? DEFAULT_ISR_RETRY_BACKOFF_MS;
    this.leo = options.logEndOffset;
    this.hw = options.highWatermark;
    this.nowMs = options.nowMs;
    this.committedIsr = [...isr];
    this.committedZkVersion = options.isrZkVersion;
    for (const id of replicas) {
      if (id === localBrokerId) continue;
      // A new term knows nothing of the followers' logs (their LEO is unknown until they fetch, so the
      // HW waits for every ISR member). ISR members get a full lag period to show up before a shrink.
      this.followers.set(id, unknownFollower(isr.includes(id) ? options.nowMs : 0));
    }
    this.localLogStart = options.logStartOffset ?? 0;
    this.reportedLowWatermark = this.lowWatermark;
    // Alone in the ISR with min.insync.replicas = 1, the whole log is committed at once.
    this.maybeAdvanceHighWatermark();
  }

  /**
   * A reassignment changed the replica set within this term (the leader stays, so the controller
   * keeps its epoch). New replicas are followers from now on, not in the ISR until they catch up.
   * Removed ones are forgotten once out of the committed ISR (the controller takes them out in the
   * same write, which may be read later), with any proposal naming them: the controller refuses a
   * non-replica, so such a proposal can never apply, and kept in the maximal ISR it would hold the
   * HW back until the removed replica lagged out.
   */
  get minInsyncReplicas(): number {
    return this.minIsr;
  }

  /**
   * The topic's min.insync.replicas changed within the term (AlterConfigs): acks=all writes are
   * accepted or refused by the new value from now on, and the high watermark follows it at the next
   * fetch or append.
   */
  setMinInsyncReplicas(value: number): void {
    check(Number.isSafeInteger(value) && value >= 1, `min.insync.replicas ${value} must be >= 1`);
    this.minIsr = value;
  }

  setReplicas(replicas: readonly number[]): void {
    this.assigned = [...replicas];
    for (const id of replicas) {
      if (this.replicas.includes(id)) continue;
      this.replicas = [...this.replicas, id];
      this.followers.set(id, unknownFollower(0));
    }
    this.forgetRemovedReplicas();
  }

  private forgetRemovedReplicas(): void {
    const assigned = this.assigned;
    if (!assigned) return;
    const removed = this.replicas.filter(
      (id) => !assigned.includes(id) && !this.committedIsr.includes(id) && id !== this.localBrokerId,
    );
    if (removed.length === 0) return;
    this.replicas = this.replicas.filter((id) => !removed.includes(id));
    for (const id of removed) this.followers.delete(id);
    this.proposed = this.proposed.filter((p) => !p.isr.some((id) => removed.includes(id)));
    if (this.awaiting && !this.proposed.includes(this.awaiting)) this.awaiting = undefined;
  }

  // ---- reads ----

  get highWatermark(): number {
    return this.hw;
  }

  get logEndOffset(): number {
    return this.leo;
  }

  /** The ISR as committed in the coordinator (what elections use). */
  get isr(): readonly number[] {
    return this.committedIsr;
  }

  get isrZkVersion(): number {
    return this.committedZkVersion;
  }

  /** The committed ISR plus any proposed members: the replicas the HW waits for. */
  get maximalIsr(): readonly number[] {
    if (this.proposed.length === 0) return this.committedIsr;
    return [...new Set([...this.committedIsr, ...this.proposed.flatMap((p) => p.isr)])];
  }

  /**
   * Rule 7, Kafka's lowWatermarkIfLeader over the replicas that can be elected: the smallest log
   * start offset among the leader and the maximal ISR; -1 while an ISR member has not fetched in
   * this term. A DeleteRecords request is answered once it reaches the request's offset.
   */
  get lowWatermark(): number {
    let low = this.localLogStart;
    for (const id of this.maximalIsr) {
      if (id === this.localBrokerId) continue;
      low = Math.min(low, this.followers.get(id)?.logStartOffset ?? UNKNOWN_OFFSET);
    }
    return low;
  }

  /** The proposal awaiting an answer (resend it, unchanged, if the answer does not come). */
  get pendingIsrProposal(): IsrProposal | undefined {
    return this.awaiting;
  }

  /** acks=all may be accepted (before appending): the committed ISR has min.insync.replicas members. */
  canAcceptAcksAll(): boolean {
    return this.committedIsr.length >= this.minInsyncReplicas;
  }

  /**
   * The answer for an acks=all producer waiting for offsets below `requiredOffset` (its last offset
   * + 1). 'notEnoughReplicas' is Kafka's NotEnoughReplicasAfterAppend: the records were written but
   * the ISR shrank below the minimum, so they cannot be committed now (they may be later).
   * Call it whenever an output carries `highWatermark` or `isr`.
   */
  acksAllStatus(requiredOffset: number): AcksAllStatus {
    if (this.hw >= requiredOffset) return 'committed';
    return this.canAcceptAcksAll() ? 'waiting' : 'notEnoughReplicas';
  }

  /** The error an acks=all producer gets for 'notEnoughReplicas', or before appending. */
  notEnoughReplicasError(afterAppend: boolean): SamsaError {
    const detail =
      `the ISR [${this.committedIsr.join(',')}] has fewer than ` +
      `min.insync.replicas=${this.minInsyncReplicas} members`;
    return new SamsaError(
      afterAppend ? ErrorCodes.NOT_ENOUGH_REPLICAS_AFTER_APPEND : ErrorCodes.NOT_ENOUGH_REPLICAS,
      detail,
    );
  }

  isReplica(replicaId: number): boolean {
    return this.replicas.includes(replicaId);
  }

  follower(replicaId: number): FollowerSnapshot | undefined {
    const f = this.followers.get(replicaId);
    return f && { replicaId, ...f };
  }

  // ---- inputs ----

  /** The local log grew to `logEndOffset` (a produce was appended with this leader's epoch). */
  onLocalAppend(logEndOffset: number, nowMs: number): LeaderOutput {
    this.advanceTime(nowMs);
    // A leader never truncates its log within a term.
    check(logEndOffset >= this.leo, `leader log end moved back from ${this.leo} to ${logEndOffset}`);
    this.leo = logEndOffset;
    return this.output(this.maybeAdvanceHighWatermark());
  }

  /**
   * The leader's log start moved (DeleteRecords, retention) to `logStartOffset`. A start that does
   * not move forward is ignored: the log start never moves back within a term.
   */
  onLocalLogStart(logStartOffset: number): LeaderOutput {
    this.localLogStart = Math.max(this.localLogStart, logStartOffset);
    return this.output(undefined);
  }

  /**
   * A follower's fetch was accepted: `fetchOffset` is its log end offset, so it acknowledges holding
   * every offset below. The fetch handler must have validated it first (validateFollowerFetch: right
   * epoch, not diverging, not past what this log exposes) and must not call this for a diverging
   * fetch; it may be past this state's LEO (records exposed before their write completed), and the
   * handler should first report the log's written end (onLocalAppend). Fetches from non-replicas are
   * ignored. `logStartOffset` is the follower's log start as the fetch states it (-1: not given: it then
   * counts as unknown in the low watermark, and rule 5 does not check it).
   */
  onFollowerFetch(
    replicaId: number,
    fetchOffset: number,
    nowMs: number,
    logStartOffset = UNKNOWN_OFFSET,
  ): LeaderOutput {
    this.advanceTime(nowMs);
    check(replicaId !== this.localBrokerId, `leader ${replicaId} cannot fetch from itself`);
    const f = this.followers.get(replicaId);
    if (!f) return {};
    check(
      Number.isSafeInteger(fetchOffset) && fetchOffset >= 0,
      `fetch offset ${fetchOffset} from replica ${replicaId} is not an offset`,
    );
    // A follower may hold more than this leader has written: the leader hands its followers an
    // append as soon as its CRCs passed, while its own write is still under way. Its LEO here moves
    // only with onLocalAppend (the written end), so the HW (rule 1) never passes a record the
    // leader's own log does not hold yet.
    // Kafka's lastCaughtUpTime: caught up now if the fetch reached the leader's current LEO; caught
    // up as of the previous fetch if it reached the LEO the leader had then.
    if (fetchOffset >= this.leo) {
      f.lastCaughtUpTimeMs = Math.max(f.lastCaughtUpTimeMs, this.nowMs);
    } else if (f.lastFetchLeaderLogEndOffset !== UNKNOWN_OFFSET && fetchOffset >= f.lastFetchLeaderLogEndOffset) {
      f.lastCaughtUpTimeMs = Math.max(f.lastCaughtUpTimeMs, f.lastFetchTimeMs);
    }
    f.logEndOffset = fetchOffset;
    f.logStartOffset = logStartOffset;
    f.lastFetchLeaderLogEndOffset = this.leo;
    f.lastFetchTimeMs = this.nowMs;
    const highWatermark = this.maybeAdvanceHighWatermark();
    return this.output(highWatermark, this.maybeExpand(replicaId));
  }

  /** Periodic check (Kafka runs it every replica.lag.time.max.ms / 2): shrink the ISR if needed. */
  onTick(nowMs: number): LeaderOutput {
    this.advanceTime(nowMs);
    return this.output(undefined, this.maybeShrink());
  }

  /**
   * A committed ISR state of this epoch: the controller accepted a proposal (its new version), or the
   * state znode was read. States not newer than the one held are ignored: only a newer version can
   * end an outstanding proposal without risking that the controller holds it while we forget it.
   */
  onIsrCommitted(isr: readonly number[], zkVersion: number): LeaderOutput {
    if (zkVersion <= this.committedZkVersion) return {};
    // The controller changes a live leader's ISR within its epoch only through this leader's own
    // proposals, and never removes the leader: anything else is a driver bug (a new epoch needs a
    // new LeaderState).
    check(
      isr.includes(this.localBrokerId),
      `committed ISR [${isr.join(',')}] (version ${zkVersion}) lacks leader ${this.localBrokerId}`,
    );
    check(
      isr.every((r) => this.replicas.includes(r)),
      `committed ISR [${isr.join(',')}] names non-replicas`,
    );
    const changed = !sameMembers(isr, this.committedIsr);
    this.committedIsr = [...isr];
    this.committedZkVersion = zkVersion;
    // A newer version retires every proposal made on top of the older one: none can apply any more.
    this.proposed = [];
    this.awaiting = undefined;
    this.awaitingNewState = false;
    this.forgetRemovedReplicas();
    const highWatermark = this.maybeAdvanceHighWatermark();
    return { ...this.output(highWatermark), ...(changed && { isr: this.committedIsr }) };
  }

  /**
   * The controller refused `proposal` (see IsrRejection). Only the proposal awaiting an answer is
   * affected: the refusal of an older or resent copy (another base version or ISR) is ignored, since
   * the version it was based on is already superseded or it was already answered.
   */
  onIsrRejected(
    proposal: Pick<IsrProposal, 'isr' | 'zkVersion'>,
    reason: IsrRejection = 'stale',
    nowMs?: number,
  ): LeaderOutput {
    if (nowMs !== undefined) this.advanceTime(nowMs);
    const awaited = this.awaiting;
    if (!awaited || awaited.zkVersion !== proposal.zkVersion || !sameMembers(awaited.isr, proposal.isr)) return {};
    // The proposal stays in `proposed` (the maximal ISR): another copy of it may still be applied.
    this.awaiting = undefined;
    if (reason === 'stale') this.awaitingNewState = true;
    else this.retryAtMs = this.nowMs + this.isrRetryBackoffMs;
    return {};
  }

  // ---- rules ----

  /**
   * Rules 1-3: HW = min LEO over the maximal ISR, only when the committed ISR has at least
   * min.insync.replicas members, never backwards. Returns the new HW when it advanced.
   */
  private maybeAdvanceHighWatermark(): number | undefined {
    // Rule 2: below min.insync.replicas nothing new is committed.
    if (this.committedIsr.length < this.minInsyncReplicas) return undefined;
    // Rules 1 and 3: every member of the maximal ISR must hold the offsets below the HW; a member
    // that has not fetched in this term (LEO unknown) holds the HW where it is.
    let candidate = this.leo;
    for (const id of this.maximalIsr) {
      if (id === this.localBrokerId) continue;
      candidate = Math.min(candidate, this.followers.get(id)?.logEndOffset ?? UNKNOWN_OFFSET);
    }
    // Rule 1: the HW never decreases.
    if (candidate <= this.hw) return undefined;
    this.hw = candidate;
    return candidate;
  }

  private canPropose(): boolean {
    // Rule 6: one proposal at a time; none after a conflict until a newer state; back off after a refusal.
    return !this.awaiting && !this.awaitingNewState && this.nowMs >= this.retryAtMs;
  }

  /** Rule 4. */
  private maybeShrink(): IsrProposal | undefined {
    if (!this.canPropose()) return undefined;
    // Over the maximal ISR: a lagging replica that only a refused proposal added holds the HW too.
    // Dropping it means proposing the committed ISR without the laggards, possibly unchanged: its
    // commit bumps the version and so retires the refused proposal.
    const outOfSync = this.maximalIsr.filter((id) => id !== this.localBrokerId && !this.isCaughtUp(id));
    if (outOfSync.length === 0) return undefined;
    return this.propose(
      'shrink',
      this.committedIsr.filter((id) => !outOfSync.includes(id)),
      outOfSync,
    );
  }

  /** Rule 5, for the replica that just fetched. */
  private maybeExpand(replicaId: number): IsrProposal | undefined {
    if (!this.canPropose() || this.committedIsr.includes(replicaId)) return undefined;
    const f = this.followers.get(replicaId)!;
    if (f.logEndOffset < this.hw || f.logEndOffset < this.epochStartOffset) return undefined;
    // It adopts this leader's start from the answer to this very fetch (bounded by its HW), and
    // states it in the next one: join then.
    const deleted = Math.min(this.localLogStart, this.hw);
    if (f.logStartOffset !== UNKNOWN_OFFSET && f.logStartOffset < deleted) return undefined;
    return this.propose('expand', [...this.committedIsr, replicaId], [replicaId]);
  }

  private propose(kind: IsrProposal['kind'], isr: readonly number[], changed: readonly number[]): IsrProposal {
    const proposal: IsrProposal = {
      leaderEpoch: this.leaderEpoch,
      isr,
      zkVersion: this.committedZkVersion,
      kind,
      changed,
    };
    // Retrying a refused change re-sends the same ISR: remember it once.
    if (!this.proposed.some((p) => sameMembers(p.isr, isr))) this.proposed.push(proposal);
    this.awaiting = proposal;
    return proposal;
  }

  /** Kafka's isCaughtUp: at the leader's LEO, or caught up within the last replica.lag.time.max.ms. */
  private isCaughtUp(replicaId: number): boolean {
    const f = this.followers.get(replicaId);
    if (!f) return false;
    return f.logEndOffset >= this.leo || this.nowMs - f.lastCaughtUpTimeMs <= this.replicaLagTimeMaxMs;
  }

  private advanceTime(nowMs: number): void {
    // Time is an input; a clock that steps back is treated as standing still.
    this.nowMs = Math.max(this.nowMs, nowMs);
  }

  private output(highWatermark: number | undefined, isrProposal?: IsrProposal): LeaderOutput {
    const lowWatermark = this.lowWatermark;
    const lowWatermarkChanged = lowWatermark !== this.reportedLowWatermark;
    this.reportedLowWatermark = lowWatermark;
    return {
      ...(highWatermark !== undefined && { highWatermark }),
      ...(isrProposal && { isrProposal }),
      ...(lowWatermarkChanged && { lowWatermark }),
    };
  }
}

function sameMembers(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((x) => b.includes(x));
}

/** An impossible state: a crash with a clear message (house rule 2), never a silent fix. */
function check(condition: boolean, message: string): asserts condition {
  if (!condition) throw new Error(`replication invariant violated: ${message}`);
}
