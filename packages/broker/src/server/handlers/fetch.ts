import { AFTER_SERIALIZE, ErrorCodes, SamsaError, type FetchResponseWithHook, type v1 } from '@samsa/protocol';
import type { BrokerContext } from '../context.js';
import { OffsetOutOfRangeError, ReadBufferPool } from '../../storage/index.js';
import { NO_ERROR, toErrorFields } from '../errors.js';
import { addLeaderHints } from './leader-hints.js';
import type { HostedPartition } from '../partitions.js';
import {
  groupByTopic,
  longPollDeadline,
  partitionLimit,
  readPartitions,
  recordBytes,
  waitForPartitions,
} from './long-poll.js';

/** FetchRequest.isolation_level: read only what ended committed or aborted (up to the last stable offset). */
const READ_COMMITTED = 1;

/** Kafka's fetch.max.bytes default: what a request may ask for when it names no limit. */
const DEFAULT_FETCH_MAX_BYTES = 50 * 1024 * 1024;

/**
 * Consumer reads go into reused buffers: the response serializer copies the records into the gRPC
 * message and then (AFTER_SERIALIZE) hands the buffers back. Reads a long poll discards go back at
 * once. Nothing else holds these bytes: the responses are built here and dropped once serialized.
 */
const readBuffers = new ReadBufferPool();

interface PartitionRead {
  readonly topic: string;
  readonly partition: number;
  readonly response: v1.FetchPartitionResponse;
  readonly hosted: HostedPartition | undefined;
}

/**
 * Fetch for consumers: stored batches exactly as they are on disk, from the one holding the fetch
 * offset up to the high watermark (read_committed: up to the last stable offset, with the aborted
 * transactions among them). A long poll answers once `minBytes` are available, or at
 * `maxWaitMs`, or when a partition hits an error.
 */
export async function handleFetch(
  ctx: BrokerContext,
  request: v1.FetchRequest__Output,
  signal: AbortSignal,
): Promise<v1.FetchResponse> {
  const deadline = longPollDeadline(request.maxWaitMs);
  const maxBytes = request.maxBytes > 0 ? request.maxBytes : DEFAULT_FETCH_MAX_BYTES;
  for (;;) {
    const committed = request.isolationLevel === READ_COMMITTED;
    const reads = await readPartitions(request.topics, maxBytes, (topic, p, budget, first) =>
      readPartition(ctx, topic, p, budget, first, committed),
    );
    const bytes = recordBytes(reads);
    const failed = reads.some((r) => r.response.errorCode !== 0);
    const remainingMs = deadline - Date.now();
    if (bytes >= Math.max(request.minBytes, 1) || failed || remainingMs <= 0 || signal.aborted) {
      const topics = groupByTopic(reads);
      const nodeEndpoints = failed ? addLeaderHints(ctx, topics) : [];
      const response: FetchResponseWithHook = nodeEndpoints.length > 0 ? { topics, nodeEndpoints } : { topics };
      response[AFTER_SERIALIZE] = () => releaseAll(reads);
      return response;
    }
    releaseAll(reads);
    await waitForChange(ctx, reads, remainingMs, signal);
  }
}

async function readPartition(
  ctx: BrokerContext,
  topic: string,
  p: v1.FetchPartition__Output,
  budget: number,
  first: boolean,
  readCommitted: boolean,
): Promise<PartitionRead> {
  const base = { partition: p.partition, highWatermark: -1, logStartOffset: -1, records: Buffer.alloc(0) };
  let hosted: HostedPartition | undefined;
  try {
    hosted = ctx.partitions.leaderOf(topic, p.partition, ctx.knowsPartition(topic, p.partition));
    checkLeaderEpoch(hosted, p.currentLeaderEpoch ?? -1);
    const highWatermark = hosted.highWatermark;
    const lastStableOffset = hosted.log.lastStableOffset(highWatermark);
    const readUpTo = readCommitted ? lastStableOffset : highWatermark;
    const limit = partitionLimit(p.partitionMaxBytes, budget);
    const { logStartOffset, logEndOffset } = hosted.log;
    if (p.fetchOffset < logStartOffset || p.fetchOffset > logEndOffset)
      throw new OffsetOutOfRangeError(p.fetchOffset, logStartOffset, logEndOffset);
    let records: Buffer = Buffer.alloc(0);
    if (limit > 0 || first) {
      const read = await hosted.log.read(p.fetchOffset, limit, { maxOffset: readUpTo, buffers: readBuffers });
      // Only the first non-empty partition may exceed the budget (so a consumer always progresses).
      if (first || read.bytes.length <= limit) records = read.bytes;
      else readBuffers.release(read.bytes);
    }
    const abortedTransactions =
      readCommitted && records.length > 0
        ? hosted.log
            .abortedTransactions(p.fetchOffset, readUpTo)
            .map((a) => ({ producerId: a.producerId, firstOffset: a.firstOffset }))
        : [];
    return {
      topic,
      partition: p.partition,
      hosted,
      response: {
        ...base,
        ...NO_ERROR,
        highWatermark,
        lastStableOffset,
        logStartOffset: hosted.log.logStartOffset,
        records,
        abortedTransactions,
      },
    };
  } catch (err) {
    return {
      topic,
      partition: p.partition,
      hosted,
      response: { ...base, ...toErrorFields(err, ctx.logger, { topic, partition: p.partition }) },
    };
  }
}

function releaseAll(reads: readonly PartitionRead[]): void {
  for (const read of reads) readBuffers.release(read.response.records as Buffer);
}

/** A request naming an older leader epoch is fenced; a newer one means this broker is behind. */
export function checkLeaderEpoch(hosted: HostedPartition, requestEpoch: number): void {
  if (requestEpoch < 0 || requestEpoch === hosted.leaderEpoch) return;
  if (requestEpoch < hosted.leaderEpoch) {
    throw new SamsaError(
      ErrorCodes.FENCED_LEADER_EPOCH,
      `leader epoch ${requestEpoch} is older than ${hosted.leaderEpoch}`,
    );
  }
  throw new SamsaError(
    ErrorCodes.UNKNOWN_LEADER_EPOCH,
    `leader epoch ${requestEpoch} is newer than ${hosted.leaderEpoch}`,
  );
}

/** Parks until one of the partitions has new committed data or changes hands, or the time is up. */
function waitForChange(
  ctx: BrokerContext,
  reads: readonly PartitionRead[],
  timeoutMs: number,
  signal: AbortSignal,
): Promise<void> {
  // The high watermark only moves forward, so any change means newly committed data.
  const changed = (): boolean =>
    reads.some((r) => {
      const now = ctx.partitions.get(r.topic, r.partition);
      return (
        now !== r.hosted ||
        (now !== undefined && (now.role !== 'leader' || now.highWatermark !== r.response.highWatermark))
      );
    });
  return waitForPartitions(ctx, reads, changed, timeoutMs, signal);
}
