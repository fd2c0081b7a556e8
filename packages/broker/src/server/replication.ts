import { ErrorCodes, SamsaError, type v1 } from '@samsa/protocol';
import type { Logger } from 'pino';
import type { MetadataImage, PartitionInfo } from '../cluster/metadata.js';
import { LeaderState, saveEpochCache, type IsrProposal, type LeaderOutput } from '../replication/index.js';
import type { DelayedOperations } from './delayed.js';
import { partitionKey, type HostedPartition, type ReplicaRole } from './partitions.js';
import type { PeerClients, ReplicationClient } from './peer-clients.js';

export interface LeadershipOptions {
  readonly brokerId: number;
  readonly replicaLagTimeMaxMs: number;
  readonly waiters: DelayedOperations;
  readonly peers: PeerClients;
  readonly metadata: () => MetadataImage;
  readonly logger: Logger;
  /** The broker's clock (tests may inject one). */
  readonly now?: () => number;
}

/**
 * Drives each led partition's pure LeaderState (../replication/leader.ts): feeds it appends, follower
 * fetches, committed ISR states and time; carries out its outputs (advance the high watermark and wake
 * waiters, send AlterPartition to the controller).
 *
 * Ordering rules enforced here:
 * - the high watermark a partition exposes is the LeaderState's, which advances only from ISR
 *   positions and only while the ISR has min.insync.replicas members;
 * - acks=all producers are answered from acksAllStatus, never from the local append alone.
 */
export class Leadership {
  private readonly now: () => number;
  private readonly inFlightProposals = new Set<HostedPartition>();
  private ticker: NodeJS.Timeout | undefined;
  private readonly led = new Set<HostedPartition>();

  constructor(private readonly options: LeadershipOptions) {
    this.now = options.now ?? Date.now;
  }

  start(): void {
    // Kafka checks for lagging followers every replica.lag.time.max.ms / 2.
    const periodMs = Math.max(50, Math.floor(this.options.replicaLagTimeMaxMs / 2));
    this.ticker = setInterval(() => this.tick(), periodMs);
    this.ticker.unref();
  }

  stop(): void {
    if (this.ticker) clearInterval(this.ticker);
    this.led.clear();
  }

  /** This broker leads `hosted` in a new epoch: record the epoch's start offset and start a term. */
  async becomeLeader(hosted: HostedPartition, change: ReplicaRole): Promise<void> {
    const epochStartOffset = hosted.log.logEndOffset;
    // The epoch starts at the current log end: every record this leader appends carries the epoch.
    if (hosted.epochCache.assign(change.leaderEpoch, epochStartOffset))
      await saveEpochCache(hosted.log.dir, hosted.epochCache);
    // The partition already answers as leader, so acks=0/1 produces may have appended (in this epoch)
    // while the cache was saved: the term starts from the log end as it is now, or those records would
    // sit above a high watermark that nothing moves until the next append.
    const logEndOffset = hosted.log.logEndOffset;
    const info = this.partitionInfo(hosted);
    hosted.leaderState = new LeaderState({
      localBrokerId: this.options.brokerId,
      leaderEpoch: change.leaderEpoch,
      replicas: change.replicas,
      isr: change.isr,
      isrZkVersion: info?.leaderEpoch === change.leaderEpoch ? info.stateZkVersion : -1,
      minInsyncReplicas: hosted.settings['min.insync.replicas'] as number,
      replicaLagTimeMaxMs: this.options.replicaLagTimeMaxMs,
      logEndOffset,
      highWatermark: Math.min(hosted.highWatermark, logEndOffset),
      epochStartOffset,
      nowMs: this.now(),
    });
    this.led.add(hosted);
    this.apply(hosted, { highWatermark: hosted.leaderState.highWatermark });
  }

  resign(hosted: HostedPartition): void {
    hosted.leaderState = undefined;
    this.led.delete(hosted);
    this.options.waiters.notify(partitionKey(hosted.topic, hosted.partition));
  }

  /** acks=all is refused before appending while the ISR is below min.insync.replicas. */
  checkEnoughReplicas(hosted: HostedPartition): void {
    const state = this.leaderStateOf(hosted);
    if (!state.canAcceptAcksAll()) throw state.notEnoughReplicasError(false);
  }

  onLeaderAppend(hosted: HostedPartition): void {
    const state = hosted.leaderState;
    if (state) this.apply(hosted, state.onLocalAppend(hosted.log.logEndOffset, this.now()));
    // Followers long-polling for new records wake up.
    this.options.waiters.notify(partitionKey(hosted.topic, hosted.partition));
  }

  /** A follower's accepted fetch: its position acknowledges everything below it. */
  onFollowerFetch(hosted: HostedPartition, replicaId: number, fetchOffset: number): void {
    const state = hosted.leaderState;
    if (state) this.apply(hosted, state.onFollowerFetch(replicaId, fetchOffset, this.now()));
  }

  /** New metadata: committed ISR states of led partitions feed their LeaderStates. */
  onMetadata(): void {
    for (const hosted of this.led) {
      const state = hosted.leaderState;
      const info = this.partitionInfo(hosted);
      if (!state || !info || info.leaderEpoch !== state.leaderEpoch) continue;
      if (info.stateZkVersion > state.isrZkVersion)
        this.apply(hosted, state.onIsrCommitted(info.isr, info.stateZkVersion));
    }
  }

  /**
   * Resolves once every in-sync replica holds offsets below `requiredOffset`; rejects with
   * NotEnoughReplicasAfterAppend if the ISR fell below the minimum, NotLeaderOrFollower if the term
   * ended, RequestTimedOut after `timeoutMs`, NetworkException if the producer went away.
   */
  waitForIsr(hosted: HostedPartition, requiredOffset: number, timeoutMs: number, signal: AbortSignal): Promise<void> {
    const state = this.leaderStateOf(hosted);
    return new Promise((resolve, reject) => {
      const check = (): boolean => {
        if (hosted.leaderState !== state) {
          reject(
            new SamsaError(
              ErrorCodes.NOT_LEADER_OR_FOLLOWER,
              `leadership of ${hosted.topic}-${hosted.partition} moved while waiting for replicas`,
            ),
          );
          return true;
        }
        const status = state.acksAllStatus(requiredOffset);
        if (status === 'committed') resolve();
        else if (status === 'notEnoughReplicas') reject(state.notEnoughReplicasError(true));
        return status !== 'waiting';
      };
      this.options.waiters.park(
        {
          tryComplete: check,
          onExpire: () =>
            reject(
              new SamsaError(
                ErrorCodes.REQUEST_TIMED_OUT,
                `the in-sync replicas did not acknowledge within ${timeoutMs} ms`,
              ),
            ),
          // The producer went away: stop waiting (the append itself stands, as in Kafka).
          onAbort: () => reject(new SamsaError(ErrorCodes.NETWORK_EXCEPTION, 'the producer disconnected')),
        },
        [partitionKey(hosted.topic, hosted.partition)],
        timeoutMs,
        signal,
      );
    });
  }

  private leaderStateOf(hosted: HostedPartition): LeaderState {
    if (!hosted.leaderState)
      throw new SamsaError(ErrorCodes.NOT_LEADER_OR_FOLLOWER, `not the leader of ${hosted.topic}-${hosted.partition}`);
    return hosted.leaderState;
  }

  private partitionInfo(hosted: HostedPartition): PartitionInfo | undefined {
    return this.options.metadata().topics.get(hosted.topic)?.partitions[hosted.partition];
  }

  private tick(): void {
    const now = this.now();
    for (const hosted of this.led) {
      const state = hosted.leaderState;
      if (!state) continue;
      this.apply(hosted, state.onTick(now));
      // A proposal whose answer never came (controller moved, connection lost) is sent again as it is.
      const pending = state.pendingIsrProposal;
      if (pending && !this.inFlightProposals.has(hosted)) this.propose(hosted, state, pending);
    }
  }

  private apply(hosted: HostedPartition, out: LeaderOutput): void {
    let changed = false;
    if (out.highWatermark !== undefined && out.highWatermark > hosted.highWatermark) {
      hosted.highWatermark = out.highWatermark;
      changed = true;
    }
    if (out.isr) {
      hosted.isr = out.isr;
      changed = true;
    }
    if (changed) this.options.waiters.notify(partitionKey(hosted.topic, hosted.partition));
    if (out.isrProposal && hosted.leaderState) this.propose(hosted, hosted.leaderState, out.isrProposal);
  }

  /** Sends an ISR change to the controller; the committed result arrives through metadata. */
  private propose(hosted: HostedPartition, state: LeaderState, proposal: IsrProposal): void {
    const image = this.options.metadata();
    const controller = image.brokers.get(image.controllerId);
    if (!controller) return; // no controller right now: the tick resends
    let client: ReplicationClient;
    try {
      client = this.options.peers.forBroker(controller);
    } catch (err) {
      this.options.logger.warn(
        { err, topic: hosted.topic, partition: hosted.partition },
        'cannot reach the controller; the tick resends',
      );
      return;
    }
    this.inFlightProposals.add(hosted);
    const request: v1.AlterPartitionRequest = {
      brokerId: this.options.brokerId,
      topic: hosted.topic,
      partition: hosted.partition,
      leaderEpoch: proposal.leaderEpoch,
      newIsr: [...proposal.isr],
      partitionZkVersion: proposal.zkVersion,
    };
    this.options.logger.info(
      {
        topic: hosted.topic,
        partition: hosted.partition,
        kind: proposal.kind,
        isr: proposal.isr,
        changed: proposal.changed,
      },
      'proposing an ISR change',
    );
    client.AlterPartition(request, { deadline: Date.now() + 10_000 }, (err, response) => {
      this.inFlightProposals.delete(hosted);
      if (hosted.leaderState !== state) return;
      if (err || !response) return; // unanswered: resent by the tick
      const code = response.errorCode;
      if (code === 0 || code === ErrorCodes.NOT_CONTROLLER.code) return; // committed state comes through metadata; or resend
      const stale = [
        ErrorCodes.INVALID_UPDATE_VERSION,
        ErrorCodes.FENCED_LEADER_EPOCH,
        ErrorCodes.UNKNOWN_LEADER_EPOCH,
        ErrorCodes.NOT_LEADER_OR_FOLLOWER,
      ].some((e) => e.code === code);
      this.options.logger.warn(
        { topic: hosted.topic, partition: hosted.partition, code, message: response.errorMessage },
        'ISR change refused',
      );
      this.apply(hosted, state.onIsrRejected(proposal, stale ? 'stale' : 'invalid', this.now()));
    });
  }
}
