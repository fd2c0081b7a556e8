/**
 * Runs a Membership (the pure machine) against the world: sends its heartbeats through a transport,
 * carries out its reconciliations on a host (the consumer), and wakes it when its timers are due.
 * Generic over transport, clock and host, so the unit tests run this very driver with a fake
 * coordinator and a manual clock.
 */
import { ErrorCodes, errorSpecForCode } from '@samsa/protocol';
import type { Clock } from '../clock.js';
import { SamsaClientError } from '../errors.js';
import type { Logger } from '../logger.js';
import type {
  ApplicationProbe,
  GroupPartition,
  HeartbeatRequest,
  HeartbeatResponse,
  Membership,
  MembershipAction,
  Subscription,
} from './membership.js';

/** A heartbeat answer: errorCode 0 with the response's fields, or the coordinator's error. */
export type HeartbeatOutcome =
  | ({ readonly errorCode: 0 } & HeartbeatResponse)
  | { readonly errorCode: number; readonly errorMessage: string };

export interface GroupTransport {
  /** One heartbeat to the group's coordinator (found first if unknown). Rejects when it cannot be delivered. */
  heartbeat(request: HeartbeatRequest): Promise<HeartbeatOutcome>;
}

/** What a reconciliation does to the consumer; each resolves once done (callbacks included). */
export interface AssignmentHost {
  /** Stop consuming these partitions, commit what was consumed (auto-commit), tell the application. */
  revoke(partitions: readonly GroupPartition[]): Promise<void>;
  /** Start consuming these partitions (from their committed offsets), tell the application. */
  assign(partitions: readonly GroupPartition[]): Promise<void>;
  /**
   * Called the moment the member learns its partitions are lost (before any host work queued ahead of
   * the loss finishes): nothing more of them may be handed to the application or committed.
   */
  markLost(): void;
  /**
   * After markLost, in turn with the other host work: waits until the application is done with the
   * records it holds, then tells it which partitions were lost. Nothing is committed (the member's
   * epoch can no longer commit).
   */
  lose(reason: string): Promise<void>;
  /** The membership cannot go on: surface the error to the application. */
  fail(error: Error): void;
}

export class MembershipDriver {
  private cancelTimer: (() => void) | undefined;
  private timerAtMs = Infinity;
  /** Host work runs one task at a time, in the order the machine asked for it. */
  private hostWork: Promise<void> = Promise.resolve();
  private leftWaiters: Array<() => void> = [];
  private hasLeft = false;
  private stopped = false;

  constructor(
    readonly membership: Membership,
    private readonly transport: GroupTransport,
    private readonly clock: Clock,
    private readonly host: AssignmentHost,
    private readonly logger: Logger,
    private readonly groupId: string,
    /** What the application is doing, for the poll timer (max.poll.interval.ms); none: not watched. */
    private readonly probe?: () => ApplicationProbe,
  ) {}

  subscribe(subscription: Subscription): void {
    this.hasLeft = false;
    this.membership.subscribe(subscription, this.clock.nowMs());
    this.pump();
  }

  /** Gives every partition back and leaves; resolves once left (or the membership failed). */
  leave(options: { temporary?: boolean } = {}): Promise<void> {
    const left = new Promise<void>((resolve) => {
      if (this.hasLeft) resolve();
      else this.leftWaiters.push(resolve);
    });
    this.membership.leave(this.clock.nowMs(), options);
    this.pump();
    return left;
  }

  /** Stops every timer; nothing is sent after this. */
  stop(): void {
    this.stopped = true;
    this.cancelTimer?.();
    this.cancelTimer = undefined;
    this.resolveLeft();
  }

  /** Feeds the machine's due actions to their executors and arms the timer for the next ones. */
  pump(): void {
    if (this.stopped) return;
    const nowMs = this.clock.nowMs();
    if (this.probe !== undefined) this.membership.observeApplication(nowMs, this.probe());
    for (const action of this.membership.poll(nowMs)) this.execute(action);
    const wakeMs = this.membership.nextWakeMs();
    if (wakeMs === this.timerAtMs) return;
    this.cancelTimer?.();
    this.cancelTimer = undefined;
    this.timerAtMs = wakeMs;
    if (wakeMs === Infinity) return;
    this.cancelTimer = this.clock.setTimer(
      () => {
        this.cancelTimer = undefined;
        this.timerAtMs = Infinity;
        this.pump();
      },
      Math.max(0, wakeMs - nowMs),
    );
  }

  private execute(action: MembershipAction): void {
    switch (action.type) {
      case 'heartbeat':
        this.sendHeartbeat(action.seq, action.request);
        return;
      case 'reconcile':
        this.onHost(
          async () => {
            if (action.revoke.length > 0) await this.host.revoke(action.revoke);
            if (action.assign.length > 0) await this.host.assign(action.assign);
          },
          () => this.membership.reconciled(action.id),
          'reconciliation',
        );
        this.logger.info(
          {
            groupId: this.groupId,
            memberId: this.membership.memberId,
            memberEpoch: this.membership.memberEpoch,
            revoke: action.revoke.map(name),
            assign: action.assign.map(name),
          },
          'reconciling assignment',
        );
        return;
      case 'lose':
        this.logger.warn({ groupId: this.groupId, reason: action.reason }, 'partitions lost, rejoining the group');
        // At once, not in turn: a reconciliation ahead of it may wait on the application for a long time,
        // and records of partitions another member may own already must not be handed out meanwhile.
        this.host.markLost();
        this.onHost(
          () => this.host.lose(action.reason),
          () => this.membership.lost(action.id, this.clock.nowMs()),
          'losing partitions',
        );
        return;
      case 'poll-expired':
        // Kafka's consumer warns the same way: the setting to raise, or the work per hand-out to cut.
        this.logger.warn(
          {
            groupId: this.groupId,
            memberId: this.membership.memberId,
            cause: action.cause,
            heldMs: action.heldMs,
            maxPollIntervalMs: action.maxPollIntervalMs,
          },
          action.cause === 'callback'
            ? 'a rebalance callback (onPartitionsAssigned/onPartitionsRevoked) ran longer than ' +
                'maxPollIntervalMs: the member leaves the group, its partitions go to other members and its ' +
                'commits are refused; onPartitionsLost runs and the member joins again once the callback has ' +
                'returned. Raise maxPollIntervalMs, or make the callback return sooner'
            : 'the application held the same records longer than maxPollIntervalMs: the member leaves the ' +
                'group, its partitions go to other members and its commits are refused; it joins again when ' +
                'the application asks for more records. Raise maxPollIntervalMs, or spend less time per ' +
                'message or batch (a smaller maxPartitionFetchBytes makes batches smaller)',
        );
        return;
      case 'left':
        this.hostWork = this.hostWork.then(() => this.resolveLeft());
        return;
      case 'fatal': {
        const error = new SamsaClientError(
          errorSpecForCode(action.errorCode),
          `group ${this.groupId}: ${action.message}`,
          {
            retriable: false,
          },
        );
        this.hostWork = this.hostWork.then(() => {
          this.host.fail(error);
          this.resolveLeft();
        });
        return;
      }
    }
  }

  /** Host work after what is queued; its errors are the application's (callbacks), reported, not fatal. */
  private onHost(work: () => Promise<void>, done: () => void, what: string): void {
    this.hostWork = this.hostWork
      .then(work)
      .catch((err: unknown) => {
        this.logger.warn({ groupId: this.groupId, err }, `${what} failed`);
        this.host.fail(err instanceof Error ? err : new Error(String(err)));
      })
      .then(() => {
        done();
        this.pump();
      });
  }

  private sendHeartbeat(seq: number, request: HeartbeatRequest): void {
    this.transport.heartbeat(request).then(
      (outcome) => {
        const nowMs = this.clock.nowMs();
        if (outcome.errorCode === 0) {
          this.membership.heartbeatSucceeded(seq, outcome as HeartbeatResponse, nowMs);
        } else {
          const { errorCode, errorMessage } = outcome as { errorCode: number; errorMessage: string };
          this.logger.debug({ groupId: this.groupId, errorCode, errorMessage }, 'heartbeat refused');
          this.membership.heartbeatFailed(seq, errorCode, errorMessage || errorSpecForCode(errorCode).message, nowMs);
        }
        this.pump();
      },
      (err: unknown) => {
        // The machine decides by code: connection failures and coordinator moves are retried, a
        // refusal such as InvalidGroupId from FindCoordinator is fatal.
        const errorCode = err instanceof SamsaClientError ? err.code : ErrorCodes.UNKNOWN_SERVER_ERROR.code;
        this.logger.debug({ groupId: this.groupId, err }, 'heartbeat failed');
        this.membership.heartbeatFailed(
          seq,
          errorCode,
          err instanceof Error ? err.message : String(err),
          this.clock.nowMs(),
        );
        this.pump();
      },
    );
  }

  private resolveLeft(): void {
    this.hasLeft = true;
    for (const resolve of this.leftWaiters.splice(0)) resolve();
  }
}

function name(tp: GroupPartition): string {
  return `${tp.topic}-${tp.partition}`;
}
