import type * as grpc from '@grpc/grpc-js';
import { ErrorCodes, type v1 } from '@samsa/protocol';
import type { Logger } from 'pino';
import type { MetadataImage } from '../cluster/metadata.js';
import {
  assignEpochsFromBatches,
  followerHighWatermark,
  followerTruncation,
  saveEpochCache,
} from '../replication/index.js';
import type { HostedPartition } from './partitions.js';
import type { PeerClients, ReplicationClient } from './peer-clients.js';

export interface FetcherOptions {
  readonly brokerId: number;
  readonly peers: PeerClients;
  readonly metadata: () => MetadataImage;
  readonly logger: Logger;
  /** replica.fetch.wait.max.ms (Kafka: 500). */
  readonly maxWaitMs?: number;
  /** replica.fetch.max.bytes per partition (Kafka: 1 MiB) and replica.fetch.response.max.bytes (10 MiB). */
  readonly partitionMaxBytes?: number;
  readonly responseMaxBytes?: number;
  /** replica.fetch.backoff.ms (Kafka: 1000; shorter here so failover tests and users wait less). */
  readonly backoffMs?: number;
}

/**
 * Follower side of replication: one fetch loop per leader broker, long-polling that leader for every
 * partition this broker follows there, appending the leader's batches as they are (offsets and epochs
 * kept) and truncating where the leader says our log diverged. The fetch position is the log end
 * offset: it is what acknowledges our copy to the leader.
 */
export class ReplicaFetchers {
  private readonly loops = new Map<number, FetchLoop>();

  constructor(private readonly options: FetcherOptions) {}

  /** Starts (or moves) following `hosted` from its current leader. */
  follow(hosted: HostedPartition): void {
    this.unfollow(hosted);
    if (hosted.leader < 0 || hosted.leader === this.options.brokerId) return;
    let loop = this.loops.get(hosted.leader);
    if (!loop) {
      loop = new FetchLoop(hosted.leader, this.options);
      this.loops.set(hosted.leader, loop);
    }
    loop.add(hosted);
  }

  unfollow(hosted: HostedPartition): void {
    for (const [leader, loop] of this.loops) {
      if (loop.remove(hosted) && loop.isEmpty()) {
        loop.stop();
        this.loops.delete(leader);
      }
    }
  }

  async close(): Promise<void> {
    await Promise.all([...this.loops.values()].map((loop) => loop.stop()));
    this.loops.clear();
  }
}

class FetchLoop {
  private readonly partitions = new Set<HostedPartition>();
  private running = true;
  private wake: (() => void) | undefined;
  private readonly done: Promise<void>;
  private readonly log: Logger;
  /** The stream to the leader, opened on the first fetch and again after it fails. */
  private stream: FetchStream | undefined;

  constructor(
    private readonly leaderId: number,
    private readonly options: FetcherOptions,
  ) {
    this.log = options.logger.child({ fetchingFrom: leaderId });
    this.done = this.run();
  }

  add(hosted: HostedPartition): void {
    this.partitions.add(hosted);
    this.wake?.();
  }

  remove(hosted: HostedPartition): boolean {
    return this.partitions.delete(hosted);
  }

  isEmpty(): boolean {
    return this.partitions.size === 0;
  }

  stop(): Promise<void> {
    this.running = false;
    this.stream?.close(new Error('replica fetcher stopped'));
    this.wake?.();
    return this.done;
  }

  private async run(): Promise<void> {
    while (this.running) {
      const batch = [...this.partitions].filter(
        (h) => h.role === 'follower' && h.leader === this.leaderId && h.log.state === 'online',
      );
      if (batch.length === 0) {
        await new Promise<void>((resolve) => (this.wake = resolve));
        this.wake = undefined;
        continue;
      }
      try {
        const response = await this.fetch(batch);
        const byKey = new Map(batch.map((h) => [`${h.topic}\u0000${h.partition}`, h]));
        // Partitions are independent logs: apply them concurrently, so one slow write does not hold
        // back the next fetch (which is what acknowledges the others to the leader).
        const applied = await Promise.all(
          response.topics.flatMap((topic) =>
            topic.partitions.map((p) => {
              const hosted = byKey.get(`${topic.name}\u0000${p.partition}`);
              return hosted && this.partitions.has(hosted) ? this.handle(hosted, p) : true;
            }),
          ),
        );
        if (applied.includes(false)) await this.sleep(this.options.backoffMs ?? 200);
      } catch (err) {
        this.log.debug({ err }, 'replica fetch failed; backing off');
        await this.sleep(this.options.backoffMs ?? 200);
      }
    }
  }

  private fetch(batch: HostedPartition[]): Promise<v1.ReplicaFetchResponse__Output> {
    const leader = this.options.metadata().brokers.get(this.leaderId);
    if (!leader) return Promise.reject(new Error(`leader ${this.leaderId} is not registered`));
    let client: ReplicationClient;
    try {
      client = this.options.peers.forBroker(leader); // on the inter-broker listener
    } catch (err) {
      return Promise.reject(err);
    }
    const topics = new Map<string, v1.ReplicaFetchPartition[]>();
    for (const h of batch) {
      const list = topics.get(h.topic) ?? [];
      list.push({
        partition: h.partition,
        fetchOffset: h.log.logEndOffset,
        currentLeaderEpoch: h.leaderEpoch,
        lastFetchedEpoch: h.epochCache.latestEpoch,
        partitionMaxBytes: this.options.partitionMaxBytes ?? 1024 * 1024,
      });
      topics.set(h.topic, list);
    }
    const maxWaitMs = this.options.maxWaitMs ?? 500;
    const request: v1.ReplicaFetchRequest = {
      replicaId: this.options.brokerId,
      maxWaitMs,
      minBytes: 1,
      maxBytes: this.options.responseMaxBytes ?? 10 * 1024 * 1024,
      topics: [...topics].map(([name, partitions]) => ({ name, partitions })),
    };
    // A leader that moved to another address (restarted elsewhere) gets a new stream.
    if (this.stream === undefined || this.stream.closed || this.stream.client !== client) {
      this.stream?.close(new Error('the leader moved'));
      this.stream = new FetchStream(client);
    }
    // A paused or cut-off leader does not answer: give up on the stream after the long poll plus 10 s.
    return this.stream.request(request, maxWaitMs + 10_000);
  }

  /** Applies one partition's answer; false when it failed and the loop should back off. */
  private async handle(hosted: HostedPartition, p: v1.ReplicaFetchPartitionResponse__Output): Promise<boolean> {
    const context = { topic: hosted.topic, partition: hosted.partition };
    try {
      if (p.errorCode === ErrorCodes.OFFSET_OUT_OF_RANGE.code && hosted.log.logEndOffset <= p.logStartOffset) {
        // Retention on the leader removed what we still lacked: start again at the leader's log start.
        this.log.warn(
          { ...context, logEndOffset: hosted.log.logEndOffset, leaderLogStartOffset: p.logStartOffset },
          "behind the leader's log start; restarting the log there",
        );
        await hosted.log.resetTo(p.logStartOffset);
        hosted.epochCache.truncateFromEnd(0); // none of its epochs' records are left here
        await saveEpochCache(hosted.log.dir, hosted.epochCache);
        return true;
      }
      if (p.errorCode !== 0) {
        // Fenced or unknown epochs, a leader that moved: metadata will bring the new role.
        this.log.debug({ ...context, code: p.errorCode, message: p.errorMessage }, 'replica fetch refused');
        return false; // back off rather than ask again at once until the new role arrives
      }
      // The leader sets diverging_epoch only when our log diverged (its value may be UNDEFINED -1/-1).
      const diverging = p.divergingEpoch;
      if (diverging) {
        const decision = followerTruncation(diverging, {
          epochCache: hosted.epochCache,
          logEndOffset: hosted.log.logEndOffset,
          highWatermark: hosted.highWatermark,
        });
        this.log.info(
          { ...context, divergingEpoch: diverging, truncateTo: decision.truncateTo },
          'log diverged from the leader; truncating',
        );
        await hosted.log.truncateTo(decision.truncateTo);
        hosted.epochCache.truncateFromEnd(decision.truncateTo);
        await saveEpochCache(hosted.log.dir, hosted.epochCache);
        hosted.highWatermark = Math.min(hosted.highWatermark, hosted.log.logEndOffset);
        return true;
      }
      if (p.records.length > 0) {
        await hosted.log.appendAsFollower(p.records);
        if (assignEpochsFromBatches(hosted.epochCache, p.records))
          await saveEpochCache(hosted.log.dir, hosted.epochCache);
      }
      hosted.highWatermark = followerHighWatermark(hosted.highWatermark, p.highWatermark, hosted.log.logEndOffset);
      return true;
    } catch (err) {
      this.log.warn({ ...context, err }, 'could not apply a replica fetch');
      return false;
    }
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, ms);
      this.wake = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }
}

/**
 * One ReplicaFetch stream to a leader: one request outstanding at a time, answered in order. A
 * failure, the leader ending the stream, or a request unanswered within its time closes the stream
 * for good (the request fails); the fetch loop then opens a new one.
 */
class FetchStream {
  closed = false;
  private readonly call: grpc.ClientDuplexStream<v1.ReplicaFetchRequest, v1.ReplicaFetchResponse__Output>;
  private pending:
    | {
        resolve: (response: v1.ReplicaFetchResponse__Output) => void;
        reject: (err: Error) => void;
        timer: NodeJS.Timeout;
      }
    | undefined;

  constructor(readonly client: ReplicationClient) {
    this.call = client.ReplicaFetch();
    this.call.on('data', (response: v1.ReplicaFetchResponse__Output) => {
      const pending = this.pending;
      if (pending === undefined) return this.close(new Error('the leader answered a replica fetch that was not asked'));
      this.pending = undefined;
      clearTimeout(pending.timer);
      pending.resolve(response);
    });
    this.call.on('error', (err: Error) => this.close(err));
    this.call.on('end', () => this.close(new Error('the leader ended the replica fetch stream')));
  }

  request(request: v1.ReplicaFetchRequest, timeoutMs: number): Promise<v1.ReplicaFetchResponse__Output> {
    if (this.closed) return Promise.reject(new Error('replica fetch stream closed'));
    if (this.pending !== undefined)
      return Promise.reject(new Error('a replica fetch is already outstanding on this stream'));
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => this.close(new Error(`no answer to a replica fetch within ${timeoutMs} ms`)),
        timeoutMs,
      );
      this.pending = { resolve, reject, timer };
      this.call.write(request);
    });
  }

  close(reason: Error): void {
    if (!this.closed) {
      this.closed = true;
      this.call.cancel();
    }
    const pending = this.pending;
    this.pending = undefined;
    if (pending !== undefined) {
      clearTimeout(pending.timer);
      pending.reject(reason);
    }
  }
}
