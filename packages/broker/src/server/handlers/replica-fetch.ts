import { ErrorCodes, recordsEndOffset, trace, type v1 } from '@samsa/protocol';
import { EMPTY_RECORDS, ReplicationThrottle, listsReplica, partitionKey } from '../../replication/index.js';
import type { BrokerContext } from '../context.js';
import { toErrorFields } from '../errors.js';
import { awaitLeadership, ledHere } from '../leadership.js';
import type { HostedPartition } from '../partitions.js';
import type { DelayedOperation } from '../delayed.js';
import { groupByTopic, longPollDeadline, partitionLimit } from './long-poll.js';

interface ReplicaRead {
  readonly topic: string;
  readonly partition: number;
  readonly hosted: HostedPartition | undefined;
  readonly fetchOffset: number;
  readonly response: v1.ReplicaFetchPartitionResponse;
  /** The reassignment throttle held this partition's records back this time. */
  readonly throttled?: boolean;
  /**
   * The log start the follower has taken, saved or not (undefined from a follower too old to state
   * it): what it needs to be told.
   */
  readonly followerLogStartOffset: number | undefined;
}

/**
 * The leader's log start is past the follower's, as far as the follower can adopt it (its HW bounds
 * it): answered at once, not after the long poll, so a DeleteRecords waiting for it is not held.
 * The follower's start here counts its unsaved one: a follower saving the start it was told would
 * otherwise be answered at once, over and over, until its save ended.
 */
function startBehind(hosted: HostedPartition, followerLogStartOffset: number | undefined): boolean {
  // A follower that does not state its start would be answered at once on every fetch, in a loop.
  if (followerLogStartOffset === undefined) return false;
  return Math.min(hosted.log.logStartOffset, hosted.highWatermark) > followerLogStartOffset;
}

/** The start a follower has taken: its saved one, or the one it is saving (see startBehind). */
function takenLogStart(p: v1.ReplicaFetchPartition__Output): number | undefined {
  if (p.logStartOffset === undefined) return undefined;
  return Math.max(p.logStartOffset, p.unsavedLogStartOffset ?? -1);
}

/** Each broker's leader-side reassignment throttle (see replication/throttle.ts). */
const throttles = new WeakMap<BrokerContext, ReplicationThrottle>();

/**
 * What the throttle lets the fetch take of this partition now: undefined when the follower is not a
 * throttled replica of it, or is in the ISR.
 */
function throttleAllowance(
  ctx: BrokerContext,
  hosted: HostedPartition,
  replicaId: number,
  nowMs: number,
): number | undefined {
  const configs = ctx.member.metadata.image.topics.get(hosted.topic)?.configs;
  if (!configs) return undefined;
  const throttled =
    listsReplica(configs['leader.replication.throttled.replicas'], hosted.partition, ctx.brokerId) ||
    listsReplica(configs['follower.replication.throttled.replicas'], hosted.partition, replicaId);
  if (!throttled || hosted.leaderState?.isr.includes(replicaId)) return undefined;
  const rate = Number(
    configs['leader.replication.throttled.rate'] ?? ctx.settings['leader.replication.throttled.rate'],
  );
  if (!(rate > 0) || rate >= Number.MAX_SAFE_INTEGER) return undefined;
  let throttle = throttles.get(ctx);
  if (!throttle) {
    throttle = new ReplicationThrottle();
    throttles.set(ctx, throttle);
  }
  return throttle.allowance(hosted.topic, rate, nowMs);
}

/**
 * ReplicaFetch, on the leader: checks the follower's epochs (fencing and divergence), counts its
 * position as its acknowledgement (which may advance the high watermark and grow the ISR), and
 * returns stored batches from that position up to the log end, exactly as stored. Long polls while
 * there is nothing new.
 */
export async function handleReplicaFetch(
  ctx: BrokerContext,
  request: v1.ReplicaFetchRequest__Output,
  signal: AbortSignal,
): Promise<v1.ReplicaFetchResponse> {
  const deadline = longPollDeadline(request.maxWaitMs);
  const maxBytes = request.maxBytes > 0 ? request.maxBytes : 10 * 1024 * 1024;
  if (trace)
    for (const t of request.topics)
      for (const p of t.partitions) trace('l.fin', p.partition, request.replicaId, p.fetchOffset);
  let awaitedTerms = false;
  for (;;) {
    const read = readAll(ctx, request, maxBytes);
    const reads = read instanceof Promise ? await read : read;
    const remainingMs = deadline - Date.now();
    // A follower that heard of the election before this broker's term started (its epoch-cache save) is
    // parked until it has, within its long poll, rather than refused into replica.fetch.backoff.ms: an
    // acks=all write to the new leader waits for that follower.
    if (!awaitedTerms && remainingMs > 0 && !signal.aborted) {
      const starting = termsStarting(ctx, reads);
      if (starting !== undefined) {
        awaitedTerms = true;
        const waitMs = Math.min(remainingMs, ctx.settings['leadership.wait.ms'] as number);
        await awaitLeadership(ctx, starting, signal, waitMs);
        continue;
      }
    }
    if (readBytes(reads) >= Math.max(request.minBytes, 1) || answerNow(reads) || remainingMs <= 0 || signal.aborted) {
      if (trace) traceAnswer(request.replicaId, reads);
      return { topics: answerTopics(reads) };
    }
    if (reads.some(isThrottled)) {
      // Records are there but the throttle holds them back: wait for its bucket, not for new data.
      const throttle = throttles.get(ctx);
      const held = reads.filter(isThrottled);
      const refillMs = Math.min(...held.map((r) => throttle?.refillMs(r.topic, Date.now()) ?? 0));
      await pause(Math.max(1, Math.min(remainingMs, refillMs)), signal);
      continue;
    }
    await waitForData(ctx, reads, remainingMs, signal);
  }
}

const isThrottled = (r: ReplicaRead): boolean => r.throttled === true;

/**
 * Partitions refused as not led here whose leader, in this broker's metadata, is this broker: a term
 * starting. Undefined when none is (no array for the usual fetch).
 */
function termsStarting(
  ctx: BrokerContext,
  reads: readonly ReplicaRead[],
): { topic: string; partition: number }[] | undefined {
  let starting: { topic: string; partition: number }[] | undefined;
  for (const r of reads) {
    if (r.response.errorCode !== ErrorCodes.NOT_LEADER_OR_FOLLOWER.code || ledHere(ctx, r.topic, r.partition)) continue;
    const known = ctx.member.metadata.image.topics.get(r.topic)?.partitions[r.partition];
    if (known?.leader !== ctx.brokerId) continue;
    starting ??= [];
    starting.push({ topic: r.topic, partition: r.partition });
  }
  return starting;
}

/** The records' bytes in `reads` (long-poll.ts's recordBytes, without a closure per fetch). */
function readBytes(reads: readonly ReplicaRead[]): number {
  let bytes = 0;
  for (const r of reads) bytes += (r.response.records as Buffer).length;
  return bytes;
}

/**
 * The answers grouped by topic, in request order (groupByTopic); for the usual fetch of one topic's
 * partitions, one array and one topic without closures.
 */
function answerTopics(
  reads: readonly ReplicaRead[],
): { name: string; partitions: v1.ReplicaFetchPartitionResponse[] }[] {
  const first = reads[0];
  if (first === undefined) return [];
  for (let i = 1; i < reads.length; i++)
    if ((reads[i] as ReplicaRead).topic !== first.topic) return groupByTopic(reads);
  const partitions: v1.ReplicaFetchPartitionResponse[] = [];
  for (const r of reads) partitions.push(r.response);
  return [{ name: first.topic, partitions }];
}

/** A partition's answer that cannot wait for records: an error, a divergence, or a log start to tell. */
function answerNow(reads: readonly ReplicaRead[]): boolean {
  for (const r of reads) {
    if (r.response.errorCode !== 0 || r.response.divergingEpoch) return true;
    if (r.hosted !== undefined && startBehind(r.hosted, r.followerLogStartOffset)) return true;
  }
  return false;
}

/** The request timeline (@samsa/protocol's trace): the end of what each partition's answer carries. */
function traceAnswer(replicaId: number, reads: readonly ReplicaRead[]): void {
  for (const r of reads)
    trace?.('l.fout', r.partition, replicaId, recordsEndOffset(r.response.records as Uint8Array, r.fetchOffset));
}

/**
 * Reads the request's partitions in order within `maxBytes`, as readPartitions does (the first
 * non-empty one may exceed it), without a promise while each partition is answered at once (the
 * usual case: a follower at the log end, or records in the tail); from the first that is not, the
 * rest are awaited in turn.
 */
function readAll(
  ctx: BrokerContext,
  request: v1.ReplicaFetchRequest__Output,
  maxBytes: number,
): ReplicaRead[] | Promise<ReplicaRead[]> {
  const reads: ReplicaRead[] = [];
  const topics = request.topics;
  let budget = maxBytes;
  for (let t = 0; t < topics.length; t++) {
    const topic = topics[t]!;
    for (let i = 0; i < topic.partitions.length; i++) {
      const read = readOne(ctx, request.replicaId, topic.name, topic.partitions[i]!, budget, budget === maxBytes);
      if (read instanceof Promise) return finishReads(ctx, request, maxBytes, reads, budget, [t, i], read);
      budget -= (read.response.records as Buffer).length;
      reads.push(read);
    }
  }
  return reads;
}

/** readAll from the partition at `[t, i]` on, whose read is `pending`. */
async function finishReads(
  ctx: BrokerContext,
  request: v1.ReplicaFetchRequest__Output,
  maxBytes: number,
  reads: ReplicaRead[],
  budgetLeft: number,
  [topicAt, partitionAt]: [number, number],
  pending: Promise<ReplicaRead>,
): Promise<ReplicaRead[]> {
  const topics = request.topics;
  let budget = budgetLeft;
  let read = await pending;
  for (let t = topicAt, i = partitionAt; ; ) {
    budget -= (read.response.records as Buffer).length;
    reads.push(read);
    i++;
    while (t < topics.length && i >= topics[t]!.partitions.length) {
      t++;
      i = 0;
    }
    if (t >= topics.length) return reads;
    const topic = topics[t]!;
    read = await readOne(ctx, request.replicaId, topic.name, topic.partitions[i]!, budget, budget === maxBytes);
  }
}

/** One partition's read: at once when the leader answers at once (answerFetchNow), else a promise. */
function readOne(
  ctx: BrokerContext,
  replicaId: number,
  topic: string,
  p: v1.ReplicaFetchPartition__Output,
  budget: number,
  first: boolean,
): ReplicaRead | Promise<ReplicaRead> {
  let hosted: HostedPartition | undefined;
  try {
    hosted = ctx.partitions.leaderOf(topic, p.partition, ctx.knowsPartition(topic, p.partition));
    const allowance = throttleAllowance(ctx, hosted, replicaId, Date.now());
    if (allowance !== undefined) return throttledRead(ctx, replicaId, topic, p, hosted, budget, allowance);
    const limit = partitionLimit(p.partitionMaxBytes, budget);
    const answer = ctx.replication.leaders.answerFetchNow(hosted, replicaId, p, limit, first);
    if (!(answer instanceof Promise)) return replicaRead(topic, p, hosted, answer);
    const leader = hosted;
    return answer.then(
      (response) => replicaRead(topic, p, leader, response),
      (err: unknown) => failedRead(ctx, replicaId, topic, p, leader, err),
    );
  } catch (err) {
    return failedRead(ctx, replicaId, topic, p, hosted, err);
  }
}

/**
 * Throttled: nothing while the bucket is empty (the fetch still acknowledges the follower's
 * position), else up to what is left, at least one batch.
 */
async function throttledRead(
  ctx: BrokerContext,
  replicaId: number,
  topic: string,
  p: v1.ReplicaFetchPartition__Output,
  hosted: HostedPartition,
  budget: number,
  allowance: number,
): Promise<ReplicaRead> {
  try {
    const limit = allowance > 0 ? partitionLimit(p.partitionMaxBytes, Math.min(budget, allowance)) : 0;
    const response = await ctx.replication.leaders.answerFetch(hosted, replicaId, p, limit, allowance > 0);
    throttles.get(ctx)?.consumed(topic, response.records.length);
    const heldBack = allowance <= 0 && hosted.log.exposedEndOffset > p.fetchOffset;
    return { ...replicaRead(topic, p, hosted, response), throttled: heldBack };
  } catch (err) {
    return failedRead(ctx, replicaId, topic, p, hosted, err);
  }
}

/** A partition whose read failed (not led here, the log offline or out of range): its error answer. */
function failedRead(
  ctx: BrokerContext,
  replicaId: number,
  topic: string,
  p: v1.ReplicaFetchPartition__Output,
  hosted: HostedPartition | undefined,
  err: unknown,
): ReplicaRead {
  const base = { partition: p.partition, highWatermark: -1, logStartOffset: -1, records: EMPTY_RECORDS };
  return replicaRead(topic, p, hosted, {
    ...base,
    ...(hosted ? { logStartOffset: hosted.log.logStartOffset } : {}),
    ...toErrorFields(err, ctx.logger, { topic, partition: p.partition, replicaId }),
  });
}

function replicaRead(
  topic: string,
  p: v1.ReplicaFetchPartition__Output,
  hosted: HostedPartition | undefined,
  response: v1.ReplicaFetchPartitionResponse,
): ReplicaRead {
  const followerLogStartOffset = takenLogStart(p);
  return { topic, partition: p.partition, hosted, fetchOffset: p.fetchOffset, response, followerLogStartOffset };
}

function pause(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    function done(): void {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}

/**
 * A follower fetch parked until a partition's log grows past the follower's position or changes hands
 * (long-poll.ts's waitForPartitions, as one object: a leader parks every follower fetch at the log end,
 * one per append it replicates, and closures per park were most of what a park cost).
 */
class DataWait implements DelayedOperation {
  resolve: () => void = noop;

  constructor(
    private readonly ctx: BrokerContext,
    private readonly reads: readonly ReplicaRead[],
  ) {}

  tryComplete(): boolean {
    if (!this.changed()) return false;
    this.resolve();
    return true;
  }

  onExpire(): void {
    this.resolve();
  }

  onAbort(): void {
    this.resolve();
  }

  private changed(): boolean {
    for (const r of this.reads) {
      const now = this.ctx.partitions.get(r.topic, r.partition);
      if (
        now !== r.hosted ||
        now === undefined ||
        now.leaderState === undefined ||
        now.log.exposedEndOffset > r.fetchOffset ||
        startBehind(now, r.followerLogStartOffset)
      )
        return true;
    }
    return false;
  }
}

const noop = (): void => {};

/** Parks until a partition's log grows past the follower's position or changes hands. */
function waitForData(
  ctx: BrokerContext,
  reads: readonly ReplicaRead[],
  timeoutMs: number,
  signal: AbortSignal,
): Promise<void> {
  const wait = new DataWait(ctx, reads);
  const keys =
    reads.length === 1
      ? [partitionKey(reads[0]!.topic, reads[0]!.partition)]
      : reads.map((r) => partitionKey(r.topic, r.partition));
  return new Promise((resolve) => {
    wait.resolve = resolve;
    ctx.waiters.park(wait, keys, timeoutMs, signal);
  });
}

/** AlterPartition, on the controller: a leader's ISR proposal, fenced by leader epoch and state version. */
export async function handleAlterPartition(
  ctx: BrokerContext,
  request: v1.AlterPartitionRequest__Output,
): Promise<v1.AlterPartitionResponse> {
  const result = await ctx.member.alterIsr({
    topic: request.topic,
    partition: request.partition,
    leaderId: request.brokerId,
    leaderEpoch: request.leaderEpoch,
    stateZkVersion: request.partitionZkVersion,
    newIsr: request.newIsr,
  });
  return { errorCode: result.errorCode, errorMessage: result.errorMessage };
}
