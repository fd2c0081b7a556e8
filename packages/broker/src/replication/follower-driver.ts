/**
 * The follower's side of replication: one fetch loop per leader broker, asking that leader for every
 * partition this broker follows there, appending the leader's batches as they are (offsets and epochs
 * kept) and truncating where the leader says our log diverged. The fetch position is the log end
 * offset: it is what acknowledges our copy to the leader. Generic over its I/O (transport, clock,
 * epoch-cache persistence), so the seeded simulation runs this code as the broker does.
 */
import { ErrorCodes } from '@samsa/protocol';
import type { Logger } from 'pino';
import type { Clock } from '../clock.js';
import { assignEpochsFromBatches } from './batches.js';
import { followerHighWatermark, followerTruncation } from './follower.js';
import { adoptedLogStart, moveLogStart } from './log-start.js';
import {
  type FetchSession,
  partitionKey,
  type Replica,
  type ReplicaFetchPartition,
  type ReplicaFetchPartitionResponse,
  type ReplicaFetchRequest,
  type ReplicaFetchResponse,
  type ReplicationTransport,
  type Waiters,
} from './replica.js';

export interface FollowerDriverOptions<R extends Replica> {
  readonly brokerId: number;
  readonly clock: Clock;
  readonly transport: Pick<ReplicationTransport, 'openFetchSession'>;
  /**
   * Told when an adopted start's save moved the low watermark of a term this replica leads by then
   * (the save does not hold the role change): DeleteRecords waiters re-check.
   */
  readonly waiters?: Pick<Waiters, 'notify'>;
  /** Persists the replica's leader-epoch cache (leader-epoch-checkpoint). */
  readonly saveEpochCache: (replica: R) => Promise<void>;
  readonly logger: Logger;
  /** replica.fetch.wait.max.ms (Kafka: 500). */
  readonly maxWaitMs?: number;
  /** replica.fetch.max.bytes per partition (Kafka: 1 MiB) and replica.fetch.response.max.bytes (10 MiB). */
  readonly partitionMaxBytes?: number;
  readonly responseMaxBytes?: number;
  /**
   * replica.fetch.backoff.ms (Kafka: 1000; shorter here so failover tests and users wait less): how long
   * a partition whose answer failed (a refusal, a write to our own log that failed) is left out of the
   * fetches while the others go on, and how long the whole loop waits after a fetch that failed (the
   * leader unreachable, the stream refused or cut, no answer in time).
   */
  readonly backoffMs?: number;
  /**
   * How long a partition is left out after the leader this replica's metadata names refused it as if its
   * own metadata lagged (NOT_LEADER_OR_FOLLOWER, UNKNOWN_LEADER_EPOCH, UNKNOWN_TOPIC_OR_PARTITION: a
   * leader elected a moment ago whose broker has not heard yet). Default 5, doubled on each refusal of
   * that partition in a row, for at most `leaderStartRetries` (default 5) retries, then backoffMs as for
   * any other failure.
   */
  readonly leaderStartRetryMs?: number;
  readonly leaderStartRetries?: number;
  /** A fetch unanswered this long after its long poll ends is given up (a paused or cut-off leader). */
  readonly requestTimeoutMs?: number;
  /**
   * The first long poll asked for while a log start this loop adopted is being saved (default 1),
   * doubled on each fetch until the save ends (at most replica.fetch.wait.max.ms): the leader learns
   * the saved start on the fetch after the save, soon after a quick save, with a few fetches more
   * during a slow one (a DeleteRecords waits for it).
   */
  readonly startSavePollMs?: number;
}

export class FollowerDriver<R extends Replica = Replica> {
  private readonly loops = new Map<number, FetchLoop<R>>();
  /**
   * The fetch answer being applied to each replica (at most one: a replica is in one loop at a time),
   * undefined once done. Weak, and never deleted from: a Map that empties at every answer replaces
   * its table each time, and those tables are promoted to the old generation (see bag.ts).
   */
  private readonly applying = new WeakMap<R, Promise<void> | undefined>();

  constructor(private readonly options: FollowerDriverOptions<R>) {}

  /**
   * Settles once the fetch answer being applied to `replica` is done, or undefined when none is. A role
   * change waits for it after unfollow: a truncation or copy started as a follower changes the log and
   * then the epoch cache, and must not do the second half after the replica leads (it would delete the
   * new epoch's entry) or while another loop fetches for it.
   */
  inFlight(replica: R): Promise<void> | undefined {
    return this.applying.get(replica);
  }

  /** Starts (or moves) following `replica` from its current leader. */
  follow(replica: R): void {
    this.unfollow(replica);
    if (replica.leader < 0 || replica.leader === this.options.brokerId) return;
    let loop = this.loops.get(replica.leader);
    if (!loop) {
      loop = new FetchLoop(replica.leader, this.options, this);
      this.loops.set(replica.leader, loop);
    }
    loop.add(replica);
  }

  unfollow(replica: R): void {
    for (const [leader, loop] of this.loops) {
      if (loop.remove(replica) && loop.isEmpty()) {
        void loop.stop();
        this.loops.delete(leader);
      }
    }
  }

  async close(): Promise<void> {
    await Promise.all([...this.loops.values()].map((loop) => loop.stop()));
    this.loops.clear();
  }

  /**
   * Notes the answer being applied to `replica` (`work` never rejects), until `applied`: no promises or
   * closures of its own, as a follower applies an answer per append it copies.
   */
  startApplying(replica: R, work: Promise<unknown>): void {
    this.applying.set(replica, work as Promise<void>);
  }

  /** `work` is done: unless a later answer is being applied to `replica`, none is. */
  applied(replica: R, work: Promise<unknown>): void {
    if (this.applying.get(replica) === work) this.applying.set(replica, undefined);
  }
}

/**
 * What one partition's answer left to do: nothing (applied), fetch it again soon (refused by a leader
 * whose term has not reached its broker's metadata yet), or leave it out for the backoff (any other
 * failure of that partition).
 */
type Outcome = 'applied' | 'leaderStarting' | 'failed';

/** A leader's refusals that mean its broker's metadata lags this follower's (it does not know the term yet). */
const LEADER_LAGS: ReadonlySet<number> = new Set([
  ErrorCodes.NOT_LEADER_OR_FOLLOWER.code,
  ErrorCodes.UNKNOWN_LEADER_EPOCH.code,
  ErrorCodes.UNKNOWN_TOPIC_OR_PARTITION.code,
]);

/**
 * A followed replica, one per add (made once, not per fetch): a fetch's answer for it is applied only
 * if it is still the replica's latest add when the answer comes.
 */
interface Fetching<R> {
  readonly replica: R;
}

/** A partition's log context (made only when something is logged). */
function contextOf(replica: Replica): { topic: string; partition: number } {
  return { topic: replica.topic, partition: replica.partition };
}

class FetchLoop<R extends Replica> {
  /** Followed replicas, each with its latest add: an answer to a fetch sent before is dropped. */
  private readonly partitions = new Map<R, Fetching<R>>();
  private running = true;
  private wake: (() => void) | undefined;
  private readonly done: Promise<void>;
  private readonly log: Logger;
  private readonly session: FetchSession;
  /**
   * Log starts adopted from the leader whose save is under way, per replica (the latest adoption).
   * The fetches meanwhile state the saved start, as ever, and this one as unsaved: no fetch waits
   * for a save, so one partition's slow save (behind retention's file deletions) holds no other.
   */
  private readonly startSaves = new Map<R, { readonly target: number; readonly done: Promise<void> }>();
  /** The long poll of the last fetch sent while a start was being saved (0: none was); see startSavePollMs. */
  private savePollMs = 0;
  /**
   * Partitions left out of the fetches until their timer fires, after a failure of their own (Kafka's
   * delayed partitions in AbstractFetcherThread): the others are fetched meanwhile, as often as ever.
   * `untilMs` is on `now()` below. Empty but for failures: no per-fetch churn.
   */
  private readonly delayed = new Map<R, { readonly untilMs: number; readonly cancel: () => void }>();
  /** Quick retries of each partition since it last applied an answer (or was added); see leaderStartRetryMs. */
  private readonly quickRetries = new Map<R, number>();
  /** Ends the wait of a loop with nothing to fetch (a delay ended); unlike `wake`, not a backoff's sleep. */
  private idle: (() => void) | undefined;

  constructor(
    private readonly leaderId: number,
    private readonly options: FollowerDriverOptions<R>,
    /** Told of the answers being applied (FollowerDriver.inFlight). */
    private readonly tracker: Pick<FollowerDriver<R>, 'startApplying' | 'applied'>,
  ) {
    this.log = options.logger.child({ fetchingFrom: leaderId });
    this.session = options.transport.openFetchSession(leaderId);
    this.done = this.run();
  }

  add(replica: R): void {
    this.partitions.set(replica, { replica });
    // A new role: fetched at once, and its leader may be starting a term.
    this.undelay(replica);
    this.quickRetries.delete(replica);
    this.wake?.();
  }

  remove(replica: R): boolean {
    this.undelay(replica);
    this.quickRetries.delete(replica);
    return this.partitions.delete(replica);
  }

  isEmpty(): boolean {
    return this.partitions.size === 0;
  }

  stop(): Promise<void> {
    this.running = false;
    for (const replica of [...this.delayed.keys()]) this.undelay(replica);
    this.session.close(new Error('replica fetcher stopped'));
    this.wake?.();
    return this.done;
  }

  private async run(): Promise<void> {
    const backoffMs = this.options.backoffMs ?? 200;
    while (this.running) {
      const batch = this.fetchable();
      if (batch.length === 0) {
        // Nothing followed here, or every partition delayed: an add, a stop or a delay's end goes on.
        await new Promise<void>((resolve) => {
          this.wake = resolve;
          this.idle = resolve;
        });
        this.wake = undefined;
        this.idle = undefined;
        continue;
      }
      try {
        const response = await this.fetch(batch);
        await this.applyAll(batch, response);
      } catch (err) {
        // stop() closed the session under the fetch: not a failure, and nothing to wait for.
        if (!this.running) break;
        // The whole request failed (the leader unreachable, its stream refused or cut, no answer in
        // time): every partition waits, as Kafka's fetcher backs off on a connection-level failure.
        this.log.debug({ err }, 'replica fetch failed; backing off');
        await this.sleep(backoffMs);
      }
    }
  }

  /**
   * What a partition's failed answer costs it: after a leader refused us because its broker has not
   * heard of its term yet (a follower that learnt of an election first), a few milliseconds, doubling,
   * a bounded number of times: an acks=all write to the new leader waits for this follower, and a leader
   * whose metadata names it parks the fetch until its term has started. Otherwise (and once those
   * retries are spent) the backoff.
   */
  private retryDelayMs(replica: R, outcome: Outcome): number {
    const backoffMs = this.options.backoffMs ?? 200;
    const retries = this.quickRetries.get(replica) ?? 0;
    if (outcome !== 'leaderStarting' || retries >= (this.options.leaderStartRetries ?? 5)) return backoffMs;
    this.quickRetries.set(replica, retries + 1);
    return Math.min((this.options.leaderStartRetryMs ?? 5) * 2 ** retries, backoffMs);
  }

  /** What a partition's answer leaves for its next fetch: sent with the next request, or after a delay. */
  private settle(fetched: Fetching<R>, outcome: Outcome): void {
    const replica = fetched.replica;
    if (outcome === 'applied') {
      if (this.quickRetries.size > 0) this.quickRetries.delete(replica);
      return;
    }
    // Followed anew while its answer was applied: the new role is fetched at once. Stopped meanwhile:
    // nothing more is fetched, and a delay's timer would only outlive the loop (by up to the backoff).
    if (!this.running || this.partitions.get(replica) !== fetched) return;
    this.delay(replica, this.retryDelayMs(replica, outcome));
  }

  /**
   * Leaves `replica` out of the fetches for `delayMs`. The long poll of every fetch meanwhile ends by
   * then (see fetch()), so the partition is asked for again about on time although the loop went on.
   */
  private delay(replica: R, delayMs: number): void {
    this.undelay(replica);
    const entry = {
      untilMs: this.now() + delayMs,
      cancel: this.options.clock.schedule(delayMs, () => {
        if (this.delayed.get(replica) !== entry) return;
        this.delayed.delete(replica);
        this.idle?.(); // not `wake`: a delay's end does not cut the loop's backoff short
      }),
    };
    this.delayed.set(replica, entry);
  }

  private undelay(replica: R): void {
    if (this.delayed.size === 0) return;
    this.delayed.get(replica)?.cancel();
    this.delayed.delete(replica);
  }

  /** Delays' time: the timers' own clock where there is one (`now()` may be set back). */
  private now(): number {
    const clock = this.options.clock;
    return clock.monotonicNow ? clock.monotonicNow() : clock.now();
  }

  /** The long poll that ends when the first delayed partition may be fetched again (at least 1 ms). */
  private untilFirstDelayEndsMs(longPollMs: number): number {
    let untilMs = Number.POSITIVE_INFINITY;
    for (const { untilMs: at } of this.delayed.values()) untilMs = Math.min(untilMs, at);
    return Math.min(longPollMs, Math.max(1, Math.ceil(untilMs - this.now())));
  }

  /**
   * The replicas to fetch now, in the order the request lists them (by topic, as fetch() groups them),
   * each with the token of its latest add. Built once per fetch and read by index: a follower sends a
   * fetch for every append it copies, so no per-fetch maps or partition-key strings.
   */
  private fetchable(): Fetching<R>[] {
    const list: Fetching<R>[] = [];
    let oneTopic = true;
    for (const fetching of this.partitions.values()) {
      const replica = fetching.replica;
      if (replica.role !== 'follower' || replica.leader !== this.leaderId || replica.log.state !== 'online') continue;
      if (this.delayed.size > 0 && this.delayed.has(replica)) continue;
      if (list.length > 0 && (list[0] as Fetching<R>).replica.topic !== replica.topic) oneTopic = false;
      list.push(fetching);
    }
    if (oneTopic) return list;
    const byTopic = new Map<string, Fetching<R>[]>();
    for (const fetching of list) {
      const same = byTopic.get(fetching.replica.topic);
      if (same) same.push(fetching);
      else byTopic.set(fetching.replica.topic, [fetching]);
    }
    return [...byTopic.values()].flat();
  }

  /**
   * Applies each partition's answer, and delays the partitions whose answer failed. Partitions are
   * independent logs: applied concurrently, so one slow write does not hold back the next fetch (which
   * is what acknowledges the others to the leader). The leader answers in request order; an answer out
   * of it is matched by name.
   */
  private async applyAll(batch: readonly Fetching<R>[], response: ReplicaFetchResponse): Promise<void> {
    // The usual answer is one partition's: no arrays for it.
    let first: Fetching<R> | undefined;
    let firstWork: Promise<Outcome> | undefined;
    let work: Promise<Outcome>[] | undefined;
    let applying: Fetching<R>[] | undefined;
    let next = 0;
    for (const topic of response.topics) {
      for (const p of topic.partitions) {
        let fetched: Fetching<R> | undefined = batch[next];
        if (fetched === undefined || fetched.replica.topic !== topic.name || fetched.replica.partition !== p.partition)
          fetched = batch.find((f) => f.replica.topic === topic.name && f.replica.partition === p.partition);
        else next++;
        // Fenced: a replica unfollowed (or followed anew) since the fetch was sent is not touched.
        if (fetched === undefined || this.partitions.get(fetched.replica) !== fetched) continue;
        const handled = this.handle(fetched.replica, p);
        this.tracker.startApplying(fetched.replica, handled);
        if (first === undefined) {
          first = fetched;
          firstWork = handled;
        } else {
          work ??= [firstWork as Promise<Outcome>];
          applying ??= [first];
          work.push(handled);
          applying.push(fetched);
        }
      }
    }
    if (work === undefined || applying === undefined) {
      if (first === undefined) return;
      const outcome = await (firstWork as Promise<Outcome>);
      this.tracker.applied(first.replica, firstWork as Promise<Outcome>);
      this.settle(first, outcome);
      return;
    }
    const outcomes = await Promise.all(work);
    for (let i = 0; i < outcomes.length; i++) {
      this.tracker.applied((applying[i] as Fetching<R>).replica, work[i] as Promise<Outcome>);
      this.settle(applying[i] as Fetching<R>, outcomes[i] as Outcome);
    }
  }

  private fetch(batch: readonly Fetching<R>[]): Promise<ReplicaFetchResponse> {
    const topics: { name: string; partitions: ReplicaFetchPartition[] }[] = [];
    const partitionMaxBytes = this.options.partitionMaxBytes ?? 1024 * 1024;
    let saving = false;
    for (const { replica: r } of batch) {
      const partition: { -readonly [K in keyof ReplicaFetchPartition]: ReplicaFetchPartition[K] } = {
        partition: r.partition,
        fetchOffset: r.log.logEndOffset,
        currentLeaderEpoch: r.leaderEpoch,
        lastFetchedEpoch: r.epochCache.latestEpoch,
        partitionMaxBytes,
        // The saved start, not the one in memory: the leader counts it for DeleteRecords, and a crash
        // before the save would bring the records back (REPLICATION.md, rule 12).
        logStartOffset: r.log.savedLogStartOffset,
      };
      const unsaved = this.unsavedStart(r);
      if (unsaved !== undefined) partition.unsavedLogStartOffset = unsaved;
      const last = topics[topics.length - 1];
      if (last?.name === r.topic) last.partitions.push(partition);
      else topics.push({ name: r.topic, partitions: [partition] });
      if (this.startSaves.size > 0 && (this.startSaves.get(r)?.target ?? -1) > r.log.savedLogStartOffset) saving = true;
    }
    // While a start is saved, poll briefly, then longer: the fetch after the save tells the leader the new start.
    const longPollMs = this.options.maxWaitMs ?? 500;
    this.savePollMs = !saving
      ? 0
      : Math.min(longPollMs, this.savePollMs === 0 ? (this.options.startSavePollMs ?? 1) : this.savePollMs * 2);
    let maxWaitMs = saving ? this.savePollMs : longPollMs;
    // A delayed partition joins the fetch after its delay, not after a long poll of the others.
    if (this.delayed.size > 0) maxWaitMs = this.untilFirstDelayEndsMs(maxWaitMs);
    const request: ReplicaFetchRequest = {
      replicaId: this.options.brokerId,
      maxWaitMs,
      minBytes: 1,
      maxBytes: this.options.responseMaxBytes ?? 10 * 1024 * 1024,
      topics,
    };
    // A paused or cut-off leader does not answer: give up after the long poll plus the request timeout.
    return this.session.fetch(request, maxWaitMs + (this.options.requestTimeoutMs ?? 10_000));
  }

  /** Applies one partition's answer. */
  private async handle(replica: R, p: ReplicaFetchPartitionResponse): Promise<Outcome> {
    const log = replica.log;
    try {
      if (p.errorCode === ErrorCodes.OFFSET_OUT_OF_RANGE.code && log.logEndOffset <= p.logStartOffset) {
        // Retention on the leader removed what we still lacked: start again at the leader's log start.
        this.log.warn(
          { ...contextOf(replica), logEndOffset: log.logEndOffset, leaderLogStartOffset: p.logStartOffset },
          "behind the leader's log start; restarting the log there",
        );
        // The log first, then its cleared cache (as Kafka): a crash between reopens the empty log, whose
        // cache is trimmed at open to the old log's last epoch clamped to the start (trimToLog), a history
        // the leader checks (an older one than the leader's is reset again, rule 10).
        await log.resetTo(p.logStartOffset);
        this.startSaves.delete(replica); // the reset waited for the saves; its start replaces theirs
        replica.epochCache.clear(); // none of its epochs' records are left here
        await this.options.saveEpochCache(replica);
        return 'applied';
      }
      if (p.errorCode !== ErrorCodes.NONE.code) {
        this.log.debug({ ...contextOf(replica), code: p.errorCode, message: p.errorMessage }, 'replica fetch refused');
        // The leader our metadata names, for the epoch we fetched with (the token fenced any role change
        // since), does not know its term yet: it will soon. Anything else (a fenced epoch: ours is
        // older) leaves this partition out for the backoff, or until metadata brings the new role,
        // whose add() has it fetched at once; the loop fetches the others meanwhile.
        const leaderLags =
          LEADER_LAGS.has(p.errorCode) && replica.role === 'follower' && replica.leader === this.leaderId;
        return leaderLags ? 'leaderStarting' : 'failed';
      }
      // The leader sets diverging_epoch only when our log diverged (its value may be UNDEFINED -1/-1).
      const diverging = p.divergingEpoch;
      if (diverging) {
        const decision = followerTruncation(diverging, {
          epochCache: replica.epochCache,
          logEndOffset: log.logEndOffset,
          highWatermark: replica.highWatermark,
        });
        this.log.info(
          { ...contextOf(replica), divergingEpoch: diverging, truncateTo: decision.truncateTo },
          'log diverged from the leader; truncating',
        );
        await log.truncateTo(decision.truncateTo);
        // As the reset: a start it moved back is not one being saved. One that truncated nothing did not
        // wait for the save, which goes on (forgotten, the fetches asked for full long polls meanwhile).
        const saving = this.startSaves.get(replica);
        if (saving && log.logStartOffset < saving.target) this.startSaves.delete(replica);
        replica.epochCache.truncateFromEnd(decision.truncateTo);
        await this.options.saveEpochCache(replica);
        replica.highWatermark = Math.min(replica.highWatermark, log.logEndOffset);
        return 'applied';
      }
      if (p.records.length > 0) {
        // After a reset to a start inside a batch, the leader sends that batch from its base, and the log
        // restarts there with its start kept (PartitionLog.appendAsFollower): the epoch's entry is
        // clamped up to the start, as the cache never points below the log start. The saved start: one
        // being saved (adopted, not awaited) is not clamped to before its save, or the cache saved here
        // would leave the records below it without an epoch after a crash (log-start.ts).
        await log.appendAsFollower(p.records);
        const assigned = assignEpochsFromBatches(replica.epochCache, p.records);
        const clamped = replica.epochCache.truncateFromStart(log.savedLogStartOffset);
        if (assigned || clamped) await this.options.saveEpochCache(replica);
      }
      replica.highWatermark = followerHighWatermark(replica.highWatermark, p.highWatermark, log.logEndOffset);
      // Records the leader deleted (DeleteRecords, retention) go here too, or electing us would bring them back.
      this.adoptLogStart(replica, p.logStartOffset);
      return 'applied';
    } catch (err) {
      this.log.warn({ ...contextOf(replica), err }, 'could not apply a replica fetch');
      return 'failed';
    }
  }

  /**
   * The start the follower has moved to and not saved yet, when past the saved one: adopted by this
   * loop (moved on the log's chain, maybe not yet in memory) or moved by retention.
   */
  private unsavedStart(r: R): number | undefined {
    const unsaved = Math.max(r.log.logStartOffset, this.startSaves.get(r)?.target ?? -1);
    return unsaved > r.log.savedLogStartOffset ? unsaved : undefined;
  }

  /**
   * Adopts the leader's start (bounded by our HW, past the saved start and any adoption under way)
   * without waiting for its save: the next fetch goes out at once and states the saved start until
   * the save ends (rule 12: a follower states only a start that survives its crash). A start only
   * retention moved is saved here too (deleteRecordsBefore at or below the start waits for its save).
   */
  private adoptLogStart(replica: R, leaderLogStart: number): void {
    const own = Math.max(replica.log.savedLogStartOffset, this.startSaves.get(replica)?.target ?? -1);
    const target = adoptedLogStart(own, leaderLogStart, replica.highWatermark);
    if (target === undefined) return;
    const done: Promise<void> = moveLogStart(replica, target, this.options.saveEpochCache).then(
      (lowWatermarkMoved) => {
        if (this.startSaves.get(replica)?.done === done) this.startSaves.delete(replica);
        if (lowWatermarkMoved) this.options.waiters?.notify(partitionKey(replica.topic, replica.partition));
      },
      (err: unknown) => {
        if (this.startSaves.get(replica)?.done === done) this.startSaves.delete(replica);
        const context = { topic: replica.topic, partition: replica.partition, logStartOffset: target };
        this.log.warn({ ...context, err }, "could not adopt the leader's log start");
      },
    );
    this.startSaves.set(replica, { target, done });
    this.savePollMs = 0; // a new save: poll briefly again
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const cancel = this.options.clock.schedule(ms, resolve);
      this.wake = () => {
        cancel();
        resolve();
      };
    });
  }
}
