/**
 * A consumer's life in its group: the membership (heartbeats through the coordinator, reconciliation
 * of the assignment onto the consumer's fetch set), the committed offsets, auto-commit, the
 * application's rebalance listener, and the final commit and leave on close.
 */
import { randomUUID } from 'node:crypto';
import { ErrorCodes } from '@samsa/protocol';
import type { Cluster } from '../cluster.js';
import { SamsaClientError } from '../errors.js';
import type { Logger } from '../logger.js';
import { systemClock } from '../clock.js';
import type { TopicPartition } from '../offsets.js';
import type { RetryOptions } from '../retry.js';
import { GroupCoordinators, fromTopicPartitions, groupErrorCode, toTopicPartitions } from './coordinator.js';
import { type AssignmentHost, type GroupTransport, type HeartbeatOutcome, MembershipDriver } from './driver.js';
import { type ApplicationProbe, type GroupPartition, type HeartbeatRequest, Membership } from './membership.js';
import { type CommitCheck, GroupOffsets, type MemberIdentity } from './offsets.js';

/**
 * Told of changes to the partitions a group member consumes. Each may be async; the rebalance waits
 * for it (within the rebalance timeout). Errors thrown are passed to the application's iterator.
 */
export interface RebalanceListener {
  /** These partitions are now this member's; seek here to start elsewhere than the committed offset. */
  onPartitionsAssigned?(partitions: TopicPartition[]): void | Promise<void>;
  /**
   * These partitions go to another member: no more of their messages will be handed out. Commit here
   * (`consumer.commit()`) when committing yourself; auto-commit has already committed what was consumed.
   */
  onPartitionsRevoked?(partitions: TopicPartition[]): void | Promise<void>;
  /**
   * These partitions were taken from the member without a revocation (it was expelled, or cut off
   * from the coordinator for a session): another member may own them already, so commits would fail.
   * From the moment the member knew, none of their records was handed out and their commits were
   * refused; this runs once the application is done with the records it held, and the member rejoins
   * after it.
   */
  onPartitionsLost?(partitions: TopicPartition[]): void | Promise<void>;
}

/** The consumer options of a group member (ConsumerOptions extends them). */
export interface GroupOptions {
  /**
   * group.id: the consumer group this consumer belongs to. Needed by subscribe(), commit() and
   * committed(); with assign(), positions start from the group's committed offsets.
   */
  groupId?: string;
  /** group.instance.id: a static member, which keeps its partitions across a restart within its session. */
  groupInstanceId?: string;
  /** Commit consumed offsets every autoCommitIntervalMs, before partitions are revoked, and on close (true). */
  enableAutoCommit?: boolean;
  /** Kafka's auto.commit.interval.ms, 5000. */
  autoCommitIntervalMs?: number;
  /**
   * Without an answered heartbeat for this long, the member counts its partitions as lost and stops
   * consuming them (the coordinator expels it after its group.consumer.session.timeout.ms); 45000.
   */
  sessionTimeoutMs?: number;
  /**
   * max.poll.interval.ms (300000): the longest the application may hold the same records. messages()
   * hands out one message at a time: from the moment next() resolves with a message until the next call
   * of next() (or the loop ends). batches() hands out a batch: from the moment it is yielded until the loop
   * asks for the next one. Waiting for records inside next() does not count. A rebalance callback counts
   * from its call until it returns (Kafka runs them inside poll()). Past it, the member leaves
   * the group (a warning is logged): its partitions go to other members, onPartitionsLost runs once the
   * application is back, its commits of those records fail with CommitFailedError, and it joins again.
   * Also the rebalance timeout the member sends (the time it has to give partitions back).
   */
  maxPollIntervalMs?: number;
  /** The rebalance timeout sent to the coordinator; maxPollIntervalMs when left out, as Kafka sends. */
  rebalanceTimeoutMs?: number;
  /** Kafka's group.remote.assignor: 'uniform' or 'range'; the broker's default when left out. */
  groupRemoteAssignor?: 'uniform' | 'range';
}

/** A member's identity in its group, as consumer.groupMetadata() returns it. */
export interface GroupMetadata {
  readonly groupId: string;
  /** '' until the coordinator has answered the first heartbeat. */
  readonly memberId: string;
  /** 0 while joining; commits are fenced by it. */
  readonly memberEpoch: number;
  readonly groupInstanceId: string | undefined;
  /**
   * unsubscribed, joining, stable, reconciling, acknowledging, fenced, stale (left the group when the
   * application held records, or a rebalance callback ran, past maxPollIntervalMs; joins again once it is
   * back), leaving, left, fatal (e.g. FencedInstanceId, or UnreleasedInstanceId refused for a session).
   */
  readonly state: string;
}

/** A partition's commit bookkeeping, kept by the consumer. */
export interface CommitState {
  /** The last offset this consumer committed for the partition (auto-commit only moves it forward). */
  committed: number | undefined;
}

/** What the session does to its consumer (the consumer hands it an implementation; imports stay one way). */
export interface GroupConsumerHost {
  /** Whether assign() is in use: commits then come from outside the group. */
  readonly assignMode: boolean;
  /** Stops fetching `tps` at once (buffered data dropped); they stay assigned until removed. */
  pausePartitions(tps: readonly TopicPartition[]): ReadonlySet<CommitState>;
  /** Whether the application holds records now, and how many hand-outs so far (the poll timer's input). */
  applicationProbe(): ApplicationProbe;
  /** Resolves once the application is done with the message it holds, if it is from `states` (or any). */
  releaseOf(states: ReadonlySet<CommitState> | undefined): Promise<void>;
  addPartitions(tps: readonly TopicPartition[], paused: boolean): void;
  resumePartitions(tps: readonly TopicPartition[]): void;
  /** Removes partitions (all without `tps`); returns what was removed. */
  removePartitions(tps?: readonly TopicPartition[]): TopicPartition[];
  /** What the application has finished with, where that moved past the last commit (of `only`, or all). */
  offsetsToCommit(
    which: 'consumed',
    only?: ReadonlySet<CommitState>,
  ): Array<{ topic: string; partition: number; offset: number; leaderEpoch: number; state: CommitState }>;
  /**
   * The check a commit of `offsets` (as offsetsToCommit listed them) runs before each attempt: refused
   * once a partition is no longer under the assignment (`state`) its offsets were taken from.
   */
  assignmentCheck(
    offsets: ReadonlyArray<{ topic: string; partition: number; state: CommitState }>,
  ): CommitCheck | undefined;
  reportError(err: unknown): void;
}

const DEFAULTS = {
  enableAutoCommit: true,
  autoCommitIntervalMs: 5_000,
  sessionTimeoutMs: 45_000,
  maxPollIntervalMs: 300_000,
};

export class GroupSession implements AssignmentHost {
  readonly groupId: string;
  readonly offsets: GroupOffsets;
  private readonly coordinators: GroupCoordinators;
  private readonly membership: Membership;
  private driver: MembershipDriver | undefined;
  private listener: RebalanceListener = {};
  private readonly autoCommit: boolean;
  private readonly autoCommitIntervalMs: number;
  private readonly heartbeatTimeoutMs: number;
  private autoCommitTimer: NodeJS.Timeout | undefined;
  private readonly instanceId: string | undefined;
  /**
   * Set from markLost until lose() has told the application: the partitions dropped at the loss. Host
   * work the membership queued before the loss (an abandoned reconciliation) does nothing meanwhile.
   */
  private lostPartitions: TopicPartition[] | undefined;
  /** Rebalance callbacks started so far, and whether one runs now: the poll timer counts their time. */
  private callbacksStarted = 0;
  private inCallback = false;

  constructor(
    private readonly consumer: GroupConsumerHost,
    private readonly cluster: Cluster,
    options: GroupOptions & { readonly isolationLevel?: 'read_uncommitted' | 'read_committed' },
    retry: RetryOptions,
    private readonly logger: Logger,
  ) {
    const groupId = options.groupId;
    if (typeof groupId !== 'string' || groupId.length === 0)
      throw new SamsaClientError(ErrorCodes.INVALID_GROUP_ID, 'groupId must be a non-empty string', {
        retriable: false,
      });
    this.groupId = groupId;
    this.instanceId = options.groupInstanceId;
    this.autoCommit = options.enableAutoCommit ?? DEFAULTS.enableAutoCommit;
    this.autoCommitIntervalMs = positive(
      'autoCommitIntervalMs',
      options.autoCommitIntervalMs,
      DEFAULTS.autoCommitIntervalMs,
    );
    const sessionTimeoutMs = positive('sessionTimeoutMs', options.sessionTimeoutMs, DEFAULTS.sessionTimeoutMs);
    const maxPollIntervalMs = positive('maxPollIntervalMs', options.maxPollIntervalMs, DEFAULTS.maxPollIntervalMs);
    // A paused coordinator costs at most half a session before the member tries again elsewhere.
    this.heartbeatTimeoutMs = Math.min(cluster.options.requestTimeoutMs, Math.ceil(sessionTimeoutMs / 2));
    this.membership = new Membership({
      // Chosen here (KIP-1082): a join whose answer is lost is sent again as the same member.
      memberId: randomUUID(),
      instanceId: this.instanceId,
      rebalanceTimeoutMs: positive('rebalanceTimeoutMs', options.rebalanceTimeoutMs, maxPollIntervalMs),
      maxPollIntervalMs,
      sessionTimeoutMs,
      serverAssignor: options.groupRemoteAssignor,
      retryBackoffMs: retry.initialRetryTimeMs,
      retryBackoffMaxMs: retry.maxRetryTimeMs,
    });
    this.coordinators = new GroupCoordinators(cluster);
    const requireStable = options.isolationLevel === 'read_committed';
    this.offsets = new GroupOffsets(this.coordinators, groupId, () => this.identity(), retry, requireStable);
  }

  /** Who commits: the member with its epoch, or (assign) a commit from outside the group. */
  private identity(): MemberIdentity {
    if (this.driver === undefined) return { memberId: '', memberEpoch: -1, instanceId: undefined };
    return {
      memberId: this.membership.memberId,
      memberEpoch: this.membership.memberEpoch,
      instanceId: this.instanceId,
    };
  }

  subscribe(topics: readonly string[] | RegExp, listener: RebalanceListener): void {
    if (topics instanceof RegExp) {
      if (topics.source.length === 0)
        throw new SamsaClientError(ErrorCodes.INVALID_REQUEST, 'an empty pattern', { retriable: false });
    } else if (!Array.isArray(topics) || topics.length === 0 || topics.some((t) => typeof t !== 'string' || t === '')) {
      throw new SamsaClientError(ErrorCodes.INVALID_REQUEST, 'subscribe() needs topic names or a RegExp', {
        retriable: false,
      });
    }
    this.listener = listener;
    this.driver ??= new MembershipDriver(
      this.membership,
      this.transport(),
      systemClock,
      this,
      this.logger,
      this.groupId,
      () => this.applicationProbe(),
    );
    this.driver.subscribe(
      topics instanceof RegExp ? { kind: 'regex', source: topics.source } : { kind: 'topics', topics: [...topics] },
    );
    this.scheduleAutoCommit();
  }

  /** The consumer's hand-outs, and the rebalance callback running now (max.poll.interval.ms counts both). */
  private applicationProbe(): ApplicationProbe {
    const probe = this.consumer.applicationProbe();
    return this.inCallback ? { ...probe, callback: this.callbacksStarted } : probe;
  }

  /** Runs a listener callback; while it runs, the poll timer counts it (as Kafka's poll() that runs it). */
  private async callback(run: () => void | Promise<void>): Promise<void> {
    this.callbacksStarted++;
    this.inCallback = true;
    try {
      await run();
    } finally {
      this.inCallback = false;
    }
  }

  /** Whether consumed offsets are committed automatically (enableAutoCommit). */
  get autoCommitEnabled(): boolean {
    return this.autoCommit;
  }

  /** Who this member is in its group now (Kafka's groupMetadata()). */
  metadata(): GroupMetadata {
    return {
      groupId: this.groupId,
      memberId: this.membership.memberId,
      memberEpoch: this.membership.memberEpoch,
      groupInstanceId: this.instanceId,
      state: this.membership.state,
    };
  }

  private transport(): GroupTransport {
    return {
      heartbeat: async (request: HeartbeatRequest): Promise<HeartbeatOutcome> => {
        const response = await this.coordinators.call(
          this.groupId,
          'ConsumerGroupHeartbeat',
          {
            groupId: this.groupId,
            memberId: request.memberId,
            memberEpoch: request.memberEpoch,
            ...(request.instanceId !== undefined ? { instanceId: request.instanceId } : {}),
            rebalanceTimeoutMs: request.rebalanceTimeoutMs,
            subscribedTopicNames:
              request.subscribedTopicNames !== undefined ? { names: [...request.subscribedTopicNames] } : null,
            ...(request.subscribedTopicRegex !== undefined
              ? { subscribedTopicRegex: request.subscribedTopicRegex }
              : {}),
            ...(request.serverAssignor !== undefined ? { serverAssignor: request.serverAssignor } : {}),
            ownedTopicPartitions: { topicPartitions: toTopicPartitions(request.ownedPartitions) },
            clientId: this.cluster.options.pool.clientId,
          },
          groupErrorCode,
          { timeoutMs: this.heartbeatTimeoutMs },
        );
        if (response.errorCode !== 0) return { errorCode: response.errorCode, errorMessage: response.errorMessage };
        return {
          errorCode: 0,
          memberId: response.memberId,
          memberEpoch: response.memberEpoch,
          heartbeatIntervalMs: response.heartbeatIntervalMs,
          assignment: response.assignment ? fromTopicPartitions(response.assignment.topicPartitions) : undefined,
        };
      },
    };
  }

  // ---- AssignmentHost: what reconciliation does to the consumer ----

  async revoke(partitions: readonly GroupPartition[]): Promise<void> {
    // A reconciliation the membership abandoned at a loss: its partitions are the loss's to report.
    if (this.lostPartitions !== undefined) return;
    const states = this.consumer.pausePartitions(partitions);
    try {
      // The message the application holds from one of them is finished first (Kafka revokes in poll()).
      await this.consumer.releaseOf(states);
      if (this.lostPartitions !== undefined) return;
      if (this.autoCommit) await this.commitConsumed(states);
      const listener = this.listener;
      if (listener.onPartitionsRevoked) await this.callback(() => listener.onPartitionsRevoked?.(partitions.map(copy)));
    } finally {
      this.consumer.removePartitions(partitions);
    }
  }

  async assign(partitions: readonly GroupPartition[]): Promise<void> {
    if (this.lostPartitions !== undefined) return;
    this.consumer.addPartitions(partitions, true);
    try {
      const listener = this.listener;
      if (listener.onPartitionsAssigned)
        await this.callback(() => listener.onPartitionsAssigned?.(partitions.map(copy)));
    } finally {
      this.consumer.resumePartitions(partitions);
    }
  }

  /**
   * The partitions are dropped at once: their fetched records are not handed out (the rest of a chunk
   * included), and a commit of their offsets is refused (CommitFailedError) from now on.
   */
  markLost(): void {
    this.lostPartitions = [...(this.lostPartitions ?? []), ...this.consumer.removePartitions()];
  }

  /**
   * onPartitionsLost runs once the application is done with the records it holds, as Kafka's consumer
   * runs it inside poll(), and the member rejoins only after it: the application hears of the loss
   * after its last record of those partitions, never while it still works on one.
   */
  async lose(): Promise<void> {
    try {
      await this.consumer.releaseOf(undefined);
      const lost = this.lostPartitions ?? [];
      this.lostPartitions = [];
      if (lost.length > 0) await this.listener.onPartitionsLost?.(lost);
    } finally {
      this.lostPartitions = undefined;
    }
  }

  fail(error: Error): void {
    this.consumer.reportError(error);
  }

  // ---- commits ----

  /** Commits what the application has finished with, where that moved since the last commit. */
  private async commitConsumed(only?: ReadonlySet<CommitState>): Promise<void> {
    const list = this.consumer.offsetsToCommit('consumed', only);
    if (list.length === 0) return;
    try {
      // A retry under a newer epoch only while the partitions are still under the assignment the
      // offsets were taken from: not after a fence and rejoin, a revocation or a loss.
      await this.offsets.commit(
        list.map(({ topic, partition, offset, leaderEpoch }) => ({ topic, partition, offset, leaderEpoch })),
        undefined,
        this.consumer.assignmentCheck(list),
      );
      for (const { state, offset } of list)
        if (state.committed === undefined || state.committed < offset) state.committed = offset;
    } catch (err) {
      this.logger.warn({ groupId: this.groupId, err }, 'auto-commit failed');
    }
  }

  private scheduleAutoCommit(): void {
    if (!this.autoCommit || this.autoCommitTimer !== undefined) return;
    const run = () => {
      const due = this.driver === undefined ? this.consumer.assignMode : this.membership.isMember;
      void (due ? this.commitConsumed() : Promise.resolve()).finally(() => {
        if (this.autoCommitTimer !== undefined)
          this.autoCommitTimer = setTimeout(run, this.autoCommitIntervalMs).unref();
      });
    };
    this.autoCommitTimer = setTimeout(run, this.autoCommitIntervalMs).unref();
  }

  /** assign() with a group: auto-commit runs on the same timer. */
  startAutoCommit(): void {
    this.scheduleAutoCommit();
  }

  /** Final commit and leave (bounded by `timeoutMs`), then nothing more is sent. */
  async close(timeoutMs: number): Promise<void> {
    clearTimeout(this.autoCommitTimer);
    this.autoCommitTimer = undefined;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, timeoutMs);
    });
    try {
      const work =
        this.driver !== undefined
          ? this.driver.leave({ temporary: this.instanceId !== undefined })
          : this.autoCommit && this.consumer.assignMode
            ? this.commitConsumed()
            : Promise.resolve();
      await Promise.race([work, timeout]);
    } finally {
      clearTimeout(timer);
      this.driver?.stop();
    }
  }
}

function positive(name: string, value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (!Number.isSafeInteger(value) || value <= 0)
    throw new SamsaClientError(ErrorCodes.INVALID_REQUEST, `${name} must be a positive integer of ms`, {
      retriable: false,
    });
  return value;
}

const copy = (tp: GroupPartition): TopicPartition => ({ topic: tp.topic, partition: tp.partition });
