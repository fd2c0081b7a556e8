/**
 * The replication driver of one broker: the leader side (leader-driver.ts) and the follower fetch
 * loops (follower-driver.ts) behind one face, and the role changes that move a partition between
 * them. Generic over its I/O (ReplicationDriverOptions: clock, transport, waiters, epoch-cache
 * persistence; the logs come with the replicas): the broker passes gRPC peers, the system clock and
 * PartitionLogs; the seeded simulation (test/replication/sim/) passes a simulated network and clock
 * and in-memory logs, and so checks this code, not a copy of it.
 */
import type { Logger } from 'pino';
import type { Clock } from '../clock.js';
import { FollowerDriver } from './follower-driver.js';
import { LeaderDriver, type LeaderDriverOptions } from './leader-driver.js';
import {
  type CommittedPartitionState,
  partitionKey,
  type Replica,
  type ReplicaRoleChange,
  type ReplicationTransport,
  type Waiters,
} from './replica.js';

export interface ReplicationDriverOptions<R extends Replica> {
  readonly brokerId: number;
  /** replica.lag.time.max.ms. */
  readonly replicaLagTimeMaxMs: number;
  /** replica.fetch.unwritten.enable: see LeaderDriverOptions. */
  readonly exposeUnwrittenAppends?: boolean;
  readonly clock: Clock;
  readonly transport: ReplicationTransport;
  readonly waiters: Waiters;
  readonly committedState: (topic: string, partition: number) => CommittedPartitionState | undefined;
  readonly minInsyncReplicas: (replica: R) => number;
  readonly saveEpochCache: (replica: R) => Promise<void>;
  readonly logger: Logger;
  /** Follower fetch settings (replica.fetch.*) and request timeouts; Kafka's defaults when absent. */
  readonly fetch?: {
    readonly maxWaitMs?: number;
    readonly partitionMaxBytes?: number;
    readonly responseMaxBytes?: number;
    readonly backoffMs?: number;
    readonly requestTimeoutMs?: number;
    readonly startSavePollMs?: number;
  };
  readonly isrRequestTimeoutMs?: number;
  /** Builds the leader side (a test passes a subclass with a deliberate bug, to prove the simulation finds it). */
  readonly leaderDriver?: (options: LeaderDriverOptions<R>) => LeaderDriver<R>;
}

export class ReplicationDriver<R extends Replica = Replica> {
  readonly leaders: LeaderDriver<R>;
  readonly followers: FollowerDriver<R>;

  constructor(private readonly options: ReplicationDriverOptions<R>) {
    const leaderOptions: LeaderDriverOptions<R> = {
      brokerId: options.brokerId,
      replicaLagTimeMaxMs: options.replicaLagTimeMaxMs,
      clock: options.clock,
      transport: options.transport,
      waiters: options.waiters,
      committedState: options.committedState,
      minInsyncReplicas: options.minInsyncReplicas,
      saveEpochCache: options.saveEpochCache,
      logger: options.logger,
      ...(options.isrRequestTimeoutMs !== undefined && { isrRequestTimeoutMs: options.isrRequestTimeoutMs }),
      ...(options.exposeUnwrittenAppends !== undefined && { exposeUnwrittenAppends: options.exposeUnwrittenAppends }),
    };
    this.leaders = options.leaderDriver?.(leaderOptions) ?? new LeaderDriver(leaderOptions);
    this.followers = new FollowerDriver({
      brokerId: options.brokerId,
      clock: options.clock,
      transport: options.transport,
      waiters: options.waiters,
      saveEpochCache: options.saveEpochCache,
      logger: options.logger,
      ...options.fetch,
    });
  }

  /** Starts the periodic ISR checks. */
  start(): void {
    this.leaders.start();
  }

  /** Stops leading and following everything. */
  async close(): Promise<void> {
    this.leaders.stop();
    await this.followers.close();
  }

  /**
   * Puts `replica` in the role metadata announced: a new leader term, or following the announced
   * leader. Returns false when that term is already in effect (announced again), and does nothing then.
   */
  async applyRole(replica: R, change: ReplicaRoleChange): Promise<boolean> {
    if (
      replica.role === change.kind &&
      replica.leaderEpoch === change.leaderEpoch &&
      replica.leader === change.leader
    ) {
      // The same term with a changed replica set (a reassignment's znodes read in the other order).
      replica.replicas = change.replicas;
      replica.leaderState?.setReplicas(change.replicas);
      return false;
    }
    // A new epoch of the same leader: acks=all producers of the old term wait for the new one.
    if (change.kind === 'leader' && replica.role === 'leader' && replica.leader === change.leader)
      this.leaders.keepLeading(replica);
    this.stepDown(replica);
    // A fetch answer the follower role was applying finishes before the new role reads the log.
    const previousWork = this.followers.inFlight(replica);
    replica.role = change.kind;
    replica.leaderEpoch = change.leaderEpoch;
    replica.leader = change.leader;
    replica.isr = change.isr;
    replica.replicas = change.replicas;
    if (change.kind === 'leader') await this.leaders.becomeLeader(replica, change, previousWork);
    else {
      if (previousWork) await previousWork;
      // Another role may have been applied meanwhile (it follows, or not, itself).
      const current = replica.role === 'follower' && replica.leaderEpoch === change.leaderEpoch;
      if (current && replica.leader === change.leader) this.followers.follow(replica);
    }
    // Requests parked on this partition must re-check: they may now get NotLeaderOrFollower.
    this.options.waiters.notify(partitionKey(replica.topic, replica.partition));
    return true;
  }

  /** The partition stops being led or followed here (role change, removal, shutdown). */
  stepDown(replica: R): void {
    this.leaders.resign(replica);
    this.followers.unfollow(replica);
  }

  /** New metadata: committed ISR states of led partitions. */
  onMetadata(): void {
    this.leaders.onMetadata();
  }
}
