/**
 * The consumer side of a consumer group (KIP-848): a pure state machine. It keeps the member's id and
 * epoch, the heartbeat schedule, the partitions it owns and the assignment the coordinator wants it to
 * have, and decides when to heartbeat, what to revoke and assign, when its partitions are lost and
 * when it has left. Time is an input (`nowMs` on every call); it never awaits, sleeps or talks to the
 * network. Its outputs are actions, taken with `poll()`, that a driver carries out and reports back.
 *
 * Ordering rules it keeps:
 * - A partition leaves `owned` only after the driver reports it revoked (fetching stopped, offsets
 *   committed), and the heartbeat that reports it gone is what lets the coordinator give it to another
 *   member: no partition is consumed by two members at once.
 * - One heartbeat in flight at a time; a response to an older one is ignored.
 * - A fenced member gives up everything it owns (lost, no commit: its epoch can no longer commit)
 *   before it rejoins with epoch 0.
 * - The poll timer (max.poll.interval.ms, KIP-62): an application holding the same records for longer,
 *   or a rebalance callback running for longer, makes the member leave (epoch -1, or -2 for a static
 *   member) and lose its partitions at once; it rejoins once the application is back (the loss reported)
 *   and the leave answered.
 */
import { ErrorCodes, errorSpecForCode } from '@samsa/protocol';

export interface GroupPartition {
  readonly topic: string;
  readonly partition: number;
}

export type Subscription =
  | { readonly kind: 'topics'; readonly topics: readonly string[] }
  | { readonly kind: 'regex'; readonly source: string };

export interface MembershipConfig {
  /**
   * The id this member joins under until the coordinator knows it by one (KIP-1082's member id chosen by
   * the client, a UUID): a join whose answer was lost is sent again under the same id, so the coordinator
   * takes it for the same member rather than a second one. '' (or left out): the coordinator picks it.
   */
  readonly memberId?: string | undefined;
  /** group.instance.id: a static member keeps its partitions across a restart within its session. */
  readonly instanceId?: string | undefined;
  /** Time the member has to revoke partitions, sent to the coordinator (Kafka sends max.poll.interval.ms). */
  readonly rebalanceTimeoutMs: number;
  /**
   * max.poll.interval.ms: the longest the application may hold the same records (handed out, not yet
   * finished with) before the member leaves the group; undefined: no limit. Watched through
   * observeApplication().
   */
  readonly maxPollIntervalMs?: number | undefined;
  /**
   * Without a successful heartbeat for this long, the coordinator has expelled the member: it stops
   * consuming (its partitions are lost) and rejoins, rather than read partitions others own now.
   */
  readonly sessionTimeoutMs: number;
  /** 'uniform' or 'range'; undefined leaves the choice to the group. */
  readonly serverAssignor?: string | undefined;
  /** Backoff after a failed heartbeat, doubled per consecutive failure up to the maximum. */
  readonly retryBackoffMs: number;
  readonly retryBackoffMaxMs: number;
}

/** What the member tells the coordinator; the driver adds the group id and client id. */
export interface HeartbeatRequest {
  readonly memberId: string;
  /** 0 to join, the current epoch to stay, -1 to leave, -2 for a static member leaving to restart. */
  readonly memberEpoch: number;
  readonly instanceId: string | undefined;
  readonly rebalanceTimeoutMs: number;
  readonly subscribedTopicNames: readonly string[] | undefined;
  readonly subscribedTopicRegex: string | undefined;
  readonly serverAssignor: string | undefined;
  readonly ownedPartitions: readonly GroupPartition[];
}

export interface HeartbeatResponse {
  readonly memberId: string;
  readonly memberEpoch: number;
  readonly heartbeatIntervalMs: number;
  /** The partitions the member may own now; undefined: unchanged. */
  readonly assignment: readonly GroupPartition[] | undefined;
}

/**
 * What the application is doing, as the consumer counts it (cheap enough for every record): whether it
 * holds records now, and how many times records were handed to it so far.
 */
export interface ApplicationProbe {
  readonly holding: boolean;
  readonly handOuts: number;
  /**
   * While a rebalance callback (onPartitionsAssigned/Revoked) runs: how many had started so far, so a new
   * one is told from a long one; undefined when none runs. Kafka's consumer runs them inside poll(), so
   * their time counts against max.poll.interval.ms; here they run beside the application, and count too.
   */
  readonly callback?: number | undefined;
}

export type MembershipAction =
  /** Send this heartbeat; report the outcome with heartbeatSucceeded/heartbeatFailed(seq, ...). */
  | { readonly type: 'heartbeat'; readonly seq: number; readonly request: HeartbeatRequest }
  /**
   * Stop consuming `revoke` (commit what was consumed if auto-commit is on, tell the application),
   * then start `assign` (positions from committed offsets); report with reconciled(id).
   */
  | {
      readonly type: 'reconcile';
      readonly id: number;
      readonly revoke: readonly GroupPartition[];
      readonly assign: readonly GroupPartition[];
    }
  /** Every partition the member holds is lost: stop consuming them without committing; report lost(id). */
  | { readonly type: 'lose'; readonly id: number; readonly reason: string }
  /**
   * The application held the same records (`cause` records), or a rebalance callback ran (`callback`), for
   * `heldMs`, past max.poll.interval.ms: the member leaves the group (a 'lose' follows); the driver warns.
   */
  | {
      readonly type: 'poll-expired';
      readonly cause: 'records' | 'callback';
      readonly heldMs: number;
      readonly maxPollIntervalMs: number;
    }
  /** The member has left the group (or never joined); close() can finish. */
  | { readonly type: 'left' }
  /** The member cannot go on (e.g. FencedInstanceId, UnsupportedAssignor); the iterator throws it. */
  | { readonly type: 'fatal'; readonly errorCode: number; readonly message: string };

export type MemberStateName =
  | 'unsubscribed'
  | 'joining'
  | 'stable'
  | 'reconciling'
  | 'acknowledging'
  | 'fenced'
  | 'stale'
  | 'leaving'
  | 'left'
  | 'fatal';

/**
 * stale: left the group because the poll timer ran out; waits for the leave's answer and for the
 * application to come back (the loss reported) before it joins again.
 */
type Phase = 'unsubscribed' | 'joining' | 'member' | 'fenced' | 'stale' | 'leaving' | 'left' | 'fatal';

const LEAVE_EPOCH = -1;
const STATIC_LEAVE_EPOCH = -2;

const key = (topic: string, partition: number) => `${topic}\0${partition}`;

/** Errors after which the heartbeat is sent again later (to the coordinator found anew, if it moved). */
const RETRY_HEARTBEAT = new Set<number>([
  ErrorCodes.COORDINATOR_NOT_AVAILABLE.code,
  ErrorCodes.NOT_COORDINATOR.code,
  ErrorCodes.COORDINATOR_LOAD_IN_PROGRESS.code,
  ErrorCodes.NETWORK_EXCEPTION.code,
  ErrorCodes.REQUEST_TIMED_OUT.code,
  // The previous holder of our instance id has not left yet; it will once its session expires (bounded:
  // see unreleasedSinceMs).
  ErrorCodes.UNRELEASED_INSTANCE_ID.code,
]);

/** Errors that mean the coordinator no longer counts us as a member with this epoch. */
const FENCED = new Set<number>([ErrorCodes.FENCED_MEMBER_EPOCH.code, ErrorCodes.UNKNOWN_MEMBER_ID.code]);

export class Membership {
  private phase: Phase = 'unsubscribed';
  private memberIdValue = '';
  private memberEpochValue = 0;
  /** Until the coordinator says otherwise: Kafka's group.consumer.heartbeat.interval.ms default. */
  private heartbeatIntervalMs = 5000;
  private subscription: Subscription | undefined;
  /** What the member owns: what it consumes (or is still revoking) and reports in heartbeats. */
  private readonly ownedByKey = new Map<string, GroupPartition>();
  /** The coordinator's latest assignment for this member; undefined before the first. */
  private target: Map<string, GroupPartition> | undefined;
  private reconciliation: { id: number; next: Map<string, GroupPartition> } | undefined;
  private losing: number | undefined;
  private nextActionId = 1;
  private inFlight: { seq: number; leaving: boolean; sentMs: number } | undefined;
  private nextSeq = 1;
  /** A heartbeat is wanted as soon as possible (join, acknowledgement, new subscription). */
  private sendNow = false;
  private nextHeartbeatAtMs = 0;
  private retryAtMs = 0;
  private failures = 0;
  /**
   * When the last answered heartbeat was sent: the coordinator heard from the member at or after it,
   * so its session there lasts at least until seenSinceMs + sessionTimeoutMs, and the member gives up
   * its partitions no later than the coordinator could give them away.
   */
  private seenSinceMs = 0;
  private leaveAsStatic = false;
  /**
   * When a join was first refused with UnreleasedInstanceId, in the current run of refusals (any other
   * answer or failure ends a run). Kafka's consumer gives up at the first; this one waits, so a crashed
   * static member's restart gets in once the crashed process's session ends on the coordinator. Refused for
   * a session timeout and one heartbeat interval more, the holder is alive (it heartbeats): the join fails
   * for good, as Kafka's does.
   */
  private unreleasedSinceMs: number | undefined;
  /**
   * The poll timer: the hand-out count the application held at the last observation, -1 when it held
   * nothing, and when that count was first seen held. The records were handed out before that, so the
   * held time is never overstated (at most one observation interval understated).
   */
  private heldHandOuts = -1;
  private heldSeenMs = 0;
  /** The same for rebalance callbacks: the callback number seen running (-1: none), and since when. */
  private callbackSeen = -1;
  private callbackSeenMs = 0;
  /** undefined until the driver first shows the application: nothing to look at again before that. */
  private observedAtMs: number | undefined;
  /** In phase stale: whether the leave was answered, the loss reported, close() asked for meanwhile. */
  private stale: { leaveDone: boolean; lostDone: boolean; closing: boolean } | undefined;
  private readonly actions: MembershipAction[] = [];

  constructor(private readonly config: MembershipConfig) {}

  get memberId(): string {
    return this.memberIdValue;
  }

  get memberEpoch(): number {
    return this.memberEpochValue;
  }

  /** The partitions the member owns now. */
  owned(): GroupPartition[] {
    return [...this.ownedByKey.values()];
  }

  /** Whether the member is in the group with an epoch it can commit with. */
  get isMember(): boolean {
    return this.phase === 'member' || (this.phase === 'leaving' && this.memberEpochValue > 0);
  }

  get state(): MemberStateName {
    switch (this.phase) {
      case 'member':
        if (this.reconciliation !== undefined || this.needsReconciliation()) return 'reconciling';
        return this.sendNow ? 'acknowledging' : 'stable';
      default:
        return this.phase;
    }
  }

  /** Subscribes (or changes the subscription): joins the group, or tells the coordinator at once. */
  subscribe(subscription: Subscription, nowMs: number): void {
    this.subscription = subscription;
    if (this.phase === 'leaving' || this.phase === 'fatal' || this.phase === 'fenced' || this.phase === 'stale') return;
    if (this.phase === 'unsubscribed' || this.phase === 'left') this.startJoining(nowMs);
    this.sendNow = true;
  }

  /**
   * Leaves the group: gives every partition back (revoked, so offsets are committed first), then sends
   * the leave heartbeat: epoch -1, or -2 for a static member with `temporary` (it keeps its
   * partitions for the session timeout, to come back to them after a restart).
   */
  leave(nowMs: number, options: { temporary?: boolean } = {}): void {
    switch (this.phase) {
      case 'unsubscribed':
      case 'left':
      case 'fatal':
        this.phase = this.phase === 'fatal' ? 'fatal' : 'left';
        this.actions.push({ type: 'left' });
        return;
      case 'leaving':
        return;
      case 'stale':
        // Already left: it ends there once the application is back, instead of joining again.
        if (this.stale) this.stale.closing = true;
        return;
      default:
        break;
    }
    this.leaveAsStatic = options.temporary === true && this.config.instanceId !== undefined;
    // Nothing to tell a coordinator that never answered us: no member id, nothing owned.
    if (
      this.memberIdValue === '' &&
      this.ownedByKey.size === 0 &&
      this.inFlight === undefined &&
      this.losing === undefined
    ) {
      this.finishLeaving();
      return;
    }
    this.phase = 'leaving';
    this.target = new Map();
    this.seenSinceMs = nowMs;
  }

  /** The actions due at `nowMs`, in order. Call after every input and when nextWakeMs() comes. */
  poll(nowMs: number): MembershipAction[] {
    this.checkSession(nowMs);
    this.checkPollTimer(nowMs);
    this.maybeReconcile();
    this.maybeHeartbeat(nowMs);
    return this.actions.splice(0);
  }

  /** When poll() has something to do without any other input; Infinity when nothing is scheduled. */
  nextWakeMs(): number {
    let wake = Infinity;
    if (this.canHeartbeat()) {
      const due = this.sendNow || this.phase === 'joining' || this.leaveReady() ? 0 : this.nextHeartbeatAtMs;
      wake = Math.max(due, this.retryAtMs);
    }
    if ((this.phase === 'member' || this.phase === 'leaving') && this.ownedByKey.size > 0)
      wake = Math.min(wake, this.seenSinceMs + this.config.sessionTimeoutMs);
    const maxPollMs = this.config.maxPollIntervalMs;
    if (this.phase === 'member' && maxPollMs !== undefined && this.observedAtMs !== undefined) {
      // Looked at again every eighth of the interval: a hand-out is seen at most that late.
      wake = Math.min(wake, this.observedAtMs + Math.ceil(maxPollMs / 8));
      if (this.heldHandOuts >= 0) wake = Math.min(wake, this.heldSeenMs + maxPollMs);
      if (this.callbackSeen >= 0) wake = Math.min(wake, this.callbackSeenMs + maxPollMs);
    }
    return wake;
  }

  /**
   * What the application is doing now (the driver looks before every poll()). The poll timer runs while
   * it holds the same hand-out; a new hand-out (it asked for more) or holding nothing stops it. It runs
   * as well while the same rebalance callback runs (Kafka's consumer runs them inside poll()).
   */
  observeApplication(nowMs: number, probe: ApplicationProbe): void {
    this.observedAtMs = nowMs;
    if (!probe.holding) this.heldHandOuts = -1;
    else if (probe.handOuts !== this.heldHandOuts) {
      this.heldHandOuts = probe.handOuts;
      this.heldSeenMs = nowMs;
    }
    if (probe.callback === undefined) this.callbackSeen = -1;
    else if (probe.callback !== this.callbackSeen) {
      this.callbackSeen = probe.callback;
      this.callbackSeenMs = nowMs;
    }
  }

  heartbeatSucceeded(seq: number, response: HeartbeatResponse, nowMs: number): void {
    if (this.inFlight?.seq !== seq) return;
    const { leaving, sentMs } = this.inFlight;
    this.inFlight = undefined;
    this.failures = 0;
    this.retryAtMs = 0;
    this.seenSinceMs = sentMs;
    this.unreleasedSinceMs = undefined;
    if (leaving) {
      this.leaveAnswered(nowMs);
      return;
    }
    if (this.phase !== 'joining' && this.phase !== 'member' && this.phase !== 'leaving') return;
    if (response.memberId !== '') this.memberIdValue = response.memberId;
    this.memberEpochValue = response.memberEpoch;
    if (response.heartbeatIntervalMs > 0) this.heartbeatIntervalMs = response.heartbeatIntervalMs;
    this.nextHeartbeatAtMs = nowMs + this.heartbeatIntervalMs;
    if (this.phase === 'joining') this.phase = 'member';
    if (this.phase === 'member' && response.assignment !== undefined) {
      this.target = new Map(response.assignment.map((tp) => [key(tp.topic, tp.partition), tp]));
    }
  }

  /** A heartbeat failed: `errorCode` from the response, or the transport's (NetworkException, RequestTimedOut). */
  heartbeatFailed(seq: number, errorCode: number, message: string, nowMs: number): void {
    if (this.inFlight?.seq !== seq) return;
    const { leaving } = this.inFlight;
    this.inFlight = undefined;
    if (FENCED.has(errorCode)) {
      if (leaving) this.leaveAnswered(nowMs);
      else this.fence(`${message} (code ${errorCode})`, errorCode === ErrorCodes.UNKNOWN_MEMBER_ID.code);
      return;
    }
    // Any other failure ends a run of refusals: the coordinator may have moved (NotCoordinator, or it went
    // away with its connection), and the new one starts every member's session when it loads the group,
    // a crashed holder's too, so the wait for it starts again.
    if (errorCode !== ErrorCodes.UNRELEASED_INSTANCE_ID.code) this.unreleasedSinceMs = undefined;
    else if (!leaving) {
      this.unreleasedSinceMs ??= nowMs;
      const refusedMs = nowMs - this.unreleasedSinceMs;
      if (refusedMs >= this.config.sessionTimeoutMs + this.heartbeatIntervalMs) {
        this.failFatally(
          errorCode,
          `${message} (code ${errorCode}): refused for ${refusedMs} ms, longer than a session of the member ` +
            'holding the instance: it is alive (another process with the same groupInstanceId)',
        );
        return;
      }
    }
    if (RETRY_HEARTBEAT.has(errorCode) || (errorCode !== 0 && errorSpecForCode(errorCode).retriable)) {
      this.retryAtMs = nowMs + this.backoffMs();
      this.failures++;
      return;
    }
    if (leaving) {
      this.leaveAnswered(nowMs);
      return;
    }
    this.failFatally(errorCode, message);
  }

  /** The driver finished reconciliation `id`: revoked partitions are stopped (and committed), new ones started. */
  reconciled(id: number): void {
    const reconciliation = this.reconciliation;
    if (reconciliation?.id !== id) return;
    this.reconciliation = undefined;
    this.ownedByKey.clear();
    for (const [k, tp] of reconciliation.next) this.ownedByKey.set(k, tp);
    // The coordinator learns of the change only from a heartbeat, so send one now (acknowledge).
    this.sendNow = true;
  }

  /**
   * The driver stopped every partition after a `lose` action; the member rejoins with epoch 0. A member
   * leaving meanwhile (close() while fenced) sends its leave now instead, under the member id the
   * coordinator may still know it by: a leave is taken whatever the epoch, so the partitions the
   * coordinator still counts as its own move at once rather than when its session ends.
   */
  lost(id: number, nowMs: number): void {
    if (this.losing !== id) return;
    this.losing = undefined;
    this.ownedByKey.clear();
    if (this.phase === 'stale' && this.stale) {
      this.stale.lostDone = true;
      this.endStale(nowMs);
      return;
    }
    if (this.phase === 'fenced') {
      this.startJoining(nowMs);
      this.retryAtMs = nowMs + this.backoffMs();
    }
  }

  /** The answer to a leave (any answer: a member the coordinator no longer knows has left too). */
  private leaveAnswered(nowMs: number): void {
    if (this.phase !== 'stale' || !this.stale) {
      this.finishLeaving();
      return;
    }
    this.stale.leaveDone = true;
    this.endStale(nowMs);
  }

  /** Stale, left and the application back: joins again (epoch 0, same member id), or is done if closing. */
  private endStale(nowMs: number): void {
    const stale = this.stale;
    if (!stale?.leaveDone || !stale.lostDone) return;
    this.stale = undefined;
    this.heldHandOuts = -1;
    this.callbackSeen = -1;
    if (stale.closing) this.finishLeaving();
    else this.startJoining(nowMs);
  }

  /**
   * The application held the same records past max.poll.interval.ms: as Kafka's consumer (KIP-62, and
   * KIP-848's leave on poll timer expiry), the member leaves at once, so its partitions go to others
   * rather than wait on an application that may never come back, and treats them as lost (no commit: its
   * epoch is given up). A running reconciliation is abandoned, as at a fence. A rebalance callback running
   * that long counts the same (Kafka's poll() that runs it does not return meanwhile): the member leaves,
   * and the loss is told once the callback has returned.
   */
  private checkPollTimer(nowMs: number): void {
    const maxPollMs = this.config.maxPollIntervalMs;
    if (maxPollMs === undefined || this.phase !== 'member') return;
    const recordsMs = this.heldHandOuts >= 0 ? nowMs - this.heldSeenMs : -1;
    const callbackMs = this.callbackSeen >= 0 ? nowMs - this.callbackSeenMs : -1;
    const heldMs = Math.max(recordsMs, callbackMs);
    if (heldMs < 0 || heldMs < maxPollMs) return;
    const cause = callbackMs >= maxPollMs ? 'callback' : 'records';
    this.actions.push({ type: 'poll-expired', cause, heldMs, maxPollIntervalMs: maxPollMs });
    this.reconciliation = undefined;
    this.target = undefined;
    this.inFlight = undefined;
    this.sendNow = false;
    this.retryAtMs = 0;
    this.memberEpochValue = 0;
    this.phase = 'stale';
    this.stale = { leaveDone: false, lostDone: false, closing: false };
    const id = this.nextActionId++;
    this.losing = id;
    this.actions.push({
      type: 'lose',
      id,
      reason:
        cause === 'callback'
          ? `a rebalance callback ran for ${heldMs} ms, over maxPollIntervalMs (${maxPollMs})`
          : `the application held records for ${heldMs} ms, over maxPollIntervalMs (${maxPollMs})`,
    });
  }

  private startJoining(nowMs: number): void {
    this.phase = 'joining';
    this.memberEpochValue = 0;
    this.target = undefined;
    this.sendNow = true;
    this.retryAtMs = 0;
    this.failures = 0;
    this.nextHeartbeatAtMs = nowMs;
    this.seenSinceMs = nowMs;
  }

  private fence(reason: string, forgetMemberId: boolean): void {
    if (this.phase === 'fatal' || this.phase === 'left') return;
    // A reconciliation still running is abandoned: its completion is ignored, and the driver's lose
    // (queued behind it) gives up whatever it started.
    this.reconciliation = undefined;
    this.target = undefined;
    // A late answer to a heartbeat sent before is about the old epoch: ignored.
    this.inFlight = undefined;
    if (forgetMemberId) this.memberIdValue = '';
    this.memberEpochValue = 0;
    if (this.phase !== 'leaving') this.phase = 'fenced';
    const id = this.nextActionId++;
    this.losing = id;
    this.actions.push({ type: 'lose', id, reason });
  }

  private failFatally(errorCode: number, message: string): void {
    const hadPartitions = this.ownedByKey.size > 0 || this.reconciliation !== undefined;
    this.reconciliation = undefined;
    this.target = undefined;
    if (hadPartitions) this.actions.push({ type: 'lose', id: this.nextActionId++, reason: message });
    this.ownedByKey.clear();
    this.phase = 'fatal';
    this.actions.push({ type: 'fatal', errorCode, message });
  }

  private finishLeaving(): void {
    this.phase = 'left';
    this.memberIdValue = '';
    this.memberEpochValue = 0;
    this.target = undefined;
    this.reconciliation = undefined;
    this.sendNow = false;
    this.actions.push({ type: 'left' });
  }

  /**
   * A member cut off from its coordinator for a whole session has been expelled: stop consuming. So has one
   * leaving while it still gives partitions back (another member may have them already).
   */
  private checkSession(nowMs: number): void {
    if ((this.phase !== 'member' && this.phase !== 'leaving') || this.losing !== undefined) return;
    if (this.ownedByKey.size === 0 && this.reconciliation === undefined) return;
    if (nowMs - this.seenSinceMs < this.config.sessionTimeoutMs) return;
    this.fence(`no heartbeat answered for ${nowMs - this.seenSinceMs} ms (the session timeout)`, false);
  }

  private needsReconciliation(): boolean {
    const target = this.target;
    if (target === undefined) return false;
    if (target.size !== this.ownedByKey.size) return true;
    for (const k of target.keys()) if (!this.ownedByKey.has(k)) return true;
    return false;
  }

  private maybeReconcile(): void {
    if (this.phase !== 'member' && this.phase !== 'leaving') return;
    if (this.reconciliation !== undefined || this.losing !== undefined || this.target === undefined) return;
    if (!this.needsReconciliation()) return;
    const next = new Map(this.target);
    const revoke = [...this.ownedByKey].filter(([k]) => !next.has(k)).map(([, tp]) => tp);
    const assign = [...next].filter(([k]) => !this.ownedByKey.has(k)).map(([, tp]) => tp);
    const id = this.nextActionId++;
    this.reconciliation = { id, next };
    this.actions.push({ type: 'reconcile', id, revoke, assign });
  }

  private canHeartbeat(): boolean {
    if (this.inFlight !== undefined) return false;
    switch (this.phase) {
      case 'joining':
      case 'member':
        return true;
      case 'stale':
        return this.stale !== undefined && !this.stale.leaveDone;
      case 'leaving':
        // Until every partition is given back, heartbeats go on at the interval (as Kafka's consumer's do
        // while it prepares to leave): a revocation may take up to the rebalance timeout, and a member
        // silent for its session is expelled and its partitions given away while it still works on them.
        return this.losing === undefined;
      default:
        return false;
    }
  }

  /** Leaving, and every partition is given back: the leave heartbeat goes now. */
  private leaveReady(): boolean {
    if (this.phase === 'stale') return true;
    return (
      this.phase === 'leaving' &&
      this.reconciliation === undefined &&
      this.losing === undefined &&
      !this.needsReconciliation()
    );
  }

  private maybeHeartbeat(nowMs: number): void {
    if (!this.canHeartbeat() || nowMs < this.retryAtMs) return;
    const leaving = this.leaveReady();
    if (!leaving && !this.sendNow && this.phase !== 'joining' && nowMs < this.nextHeartbeatAtMs) return;
    // A join never answered is not followed by a leave (close() stays quick when the coordinator cannot
    // be reached); if the coordinator took it, that member's session ends it.
    if (leaving && this.memberIdValue === '') {
      this.leaveAnswered(nowMs);
      return;
    }
    const memberId = this.memberIdValue !== '' ? this.memberIdValue : (this.config.memberId ?? '');
    const seq = this.nextSeq++;
    this.inFlight = { seq, leaving, sentMs: nowMs };
    this.sendNow = false;
    const subscription = this.subscription;
    // Left on the poll timer: a static member keeps its instance (-2), as Kafka's leaveGroupEpoch().
    const staticLeave = this.phase === 'stale' ? this.config.instanceId !== undefined : this.leaveAsStatic;
    this.actions.push({
      type: 'heartbeat',
      seq,
      request: {
        memberId,
        memberEpoch: leaving ? (staticLeave ? STATIC_LEAVE_EPOCH : LEAVE_EPOCH) : this.memberEpochValue,
        instanceId: this.config.instanceId,
        rebalanceTimeoutMs: this.config.rebalanceTimeoutMs,
        subscribedTopicNames: subscription?.kind === 'topics' ? subscription.topics : undefined,
        subscribedTopicRegex: subscription?.kind === 'regex' ? subscription.source : undefined,
        serverAssignor: this.config.serverAssignor,
        ownedPartitions: this.owned(),
      },
    });
  }

  private backoffMs(): number {
    return Math.min(this.config.retryBackoffMaxMs, this.config.retryBackoffMs * 2 ** Math.min(this.failures, 20));
  }
}
