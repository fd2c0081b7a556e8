import { ErrorCodes, SamsaError } from '@samsa/protocol';
import type { DelayedOperations } from './delayed.js';
import { partitionKey, type HostedPartition, type PartitionRegistry } from './partitions.js';

/**
 * Decides when a leader's appends are committed and answers acks=all producers.
 *
 * Ordering rule: the high watermark is the smallest log end offset among the in-sync replicas, and
 * advances only from their positions. While the ISR is the leader alone, that is the leader's own log
 * end. Follower positions arrive with replication (follower fetches); until then a partition whose ISR
 * names other replicas does not advance, so acks=all never claims copies that do not exist.
 */
export class CommitTracker {
  constructor(
    private readonly brokerId: number,
    private readonly partitions: PartitionRegistry,
    private readonly waiters: DelayedOperations,
  ) {}

  /** acks=all is refused before appending when the ISR is below min.insync.replicas. */
  checkEnoughReplicas(hosted: HostedPartition): void {
    const min = hosted.settings['min.insync.replicas'] as number;
    if (hosted.isr.length < min) {
      throw new SamsaError(ErrorCodes.NOT_ENOUGH_REPLICAS, `${hosted.topic}-${hosted.partition} has ${hosted.isr.length} in-sync replica(s), min.insync.replicas is ${min}`);
    }
  }

  onLeaderAppend(hosted: HostedPartition): void {
    if (hosted.isr.length === 1 && hosted.isr[0] === this.brokerId) {
      this.partitions.advanceHighWatermark(hosted, hosted.log.logEndOffset);
    }
  }

  /**
   * Resolves once the high watermark reaches `offset` (every in-sync replica has the batch). Rejects
   * with NotEnoughReplicasAfterAppend if the ISR shrank below the minimum meanwhile, NotLeaderOrFollower
   * if leadership moved, RequestTimedOut after `timeoutMs`.
   */
  waitForIsr(hosted: HostedPartition, offset: number, timeoutMs: number, signal: AbortSignal): Promise<void> {
    const epoch = hosted.leaderEpoch;
    return new Promise((resolve, reject) => {
      const check = (): boolean => {
        const current = this.partitions.get(hosted.topic, hosted.partition);
        if (current !== hosted || hosted.role !== 'leader' || hosted.leaderEpoch !== epoch) {
          reject(new SamsaError(ErrorCodes.NOT_LEADER_OR_FOLLOWER, `leadership of ${hosted.topic}-${hosted.partition} moved while waiting for replicas`));
          return true;
        }
        if (hosted.highWatermark >= offset) {
          resolve();
          return true;
        }
        if (hosted.isr.length < (hosted.settings['min.insync.replicas'] as number)) {
          reject(new SamsaError(ErrorCodes.NOT_ENOUGH_REPLICAS_AFTER_APPEND, `the ISR of ${hosted.topic}-${hosted.partition} shrank below min.insync.replicas`));
          return true;
        }
        return false;
      };
      const cancel = this.waiters.park(
        { tryComplete: check, onExpire: () => reject(new SamsaError(ErrorCodes.REQUEST_TIMED_OUT, `replicas did not acknowledge within ${timeoutMs} ms`)) },
        [partitionKey(hosted.topic, hosted.partition)],
        timeoutMs,
      );
      // The producer went away: stop waiting (the append itself stands, as in Kafka).
      signal.addEventListener('abort', () => {
        cancel();
        reject(new SamsaError(ErrorCodes.NETWORK_EXCEPTION, 'the producer disconnected'));
      }, { once: true });
    });
  }
}
