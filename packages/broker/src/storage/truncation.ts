import type { Durability } from './durability.js';
import { KafkaStorageError } from './errors.js';
import type { LogContext } from './log-context.js';
import type { ProducerStates } from './producer-states.js';
import { IndexMismatchError } from './segment.js';
import type { SegmentSet } from './segment-set.js';
import type { LogTail } from './tail.js';

/**
 * Removing from the end of a log: a follower cutting what diverged from its leader, or starting again
 * at the leader's log start. Runs on the append chain after the background fsyncs (see
 * append-chain.ts), cuts memory before files so readers never see past the new end, and leaves the
 * recovery point at or below the new end. Files go newest first, so a crash part way leaves a prefix
 * of the log, never a hole; emptying it saves the new start first (truncateFullyAndStartAt).
 */
export interface TruncationParts {
  readonly ctx: LogContext;
  readonly segments: SegmentSet;
  readonly tail: LogTail;
  readonly durability: Durability;
  readonly producers: ProducerStates;
}

/**
 * Removes everything at or after `offset` (replica divergence): later segments are deleted and the
 * segment holding `offset` is cut before the batch that contains it, so the new log end offset is
 * that batch's base offset. At or below the log start the log is emptied and restarts at `offset`;
 * above a start inside the batch that is cut, it is emptied and restarts at its start, which stays
 * (a crash after the cut reopens the same: recovery empties a log whose saved start is past its end).
 */
export async function truncateTo(parts: TruncationParts, offset: number): Promise<void> {
  const { ctx, segments, durability } = parts;
  ctx.ensureOnline();
  if (offset >= segments.endOffset) return;
  await durability.settled();
  ctx.ensureOnline();
  const activeLog = segments.active.paths.log;
  try {
    if (offset <= segments.startOffset) await truncateFullyAndStartAt(parts, offset);
    else {
      await truncateWithin(parts, offset);
      // The cut removed the batch holding a start inside it (DeleteRecords, a reset follower's restart
      // below its start): what is left lies below the start, so the log is the empty one at that start.
      // The start stays: moving it back to the batch's base would have a follower state a lower saved
      // start than it had (no record comes back, but the leader's low watermark would count it).
      if (segments.startOffset > segments.endOffset) await truncateFullyAndStartAt(parts, segments.startOffset);
    }
  } catch (err) {
    if (err instanceof KafkaStorageError) throw err;
    throw ctx.goOffline(err, activeLog, undefined);
  }
  await durability.saveRecoveryPoint(Math.min(durability.recoveryPoint, segments.endOffset));
  durability.resetUnflushed();
  await parts.producers.rebuild();
  ctx.logger.info({ offset, logEndOffset: segments.endOffset }, 'truncated log');
}

/**
 * Empties the log and restarts it at `offset`: a follower whose position fell below the leader's log
 * start (retention deleted what it still needed) starts again from there, as Kafka's
 * truncateFullyAndStartAt does.
 */
export async function resetTo(parts: TruncationParts, offset: number): Promise<void> {
  const { ctx, segments, durability } = parts;
  ctx.ensureOnline();
  await durability.settled();
  ctx.ensureOnline();
  const activeLog = segments.active.paths.log;
  try {
    await truncateFullyAndStartAt(parts, offset);
  } catch (err) {
    if (err instanceof KafkaStorageError) throw err;
    throw ctx.goOffline(err, activeLog, undefined);
  }
  await durability.saveRecoveryPoint(offset);
  durability.resetUnflushed();
  ctx.logger.info({ offset }, 'emptied the log and restarted it');
}

/**
 * A follower whose log is empty at its start `logStart` (it was reset to its leader's start) is sent
 * the batch that holds that start, from the batch's base: DeleteRecords, retention or compaction left
 * the leader's start inside a batch. Its log restarts at the batch's base with its start kept, as the
 * leader's is (the records below the start are there and unreadable), so the batch can be appended
 * (Kafka's Partition.appendRecordsToFollowerOrFutureReplica). Returns false, doing nothing, unless the
 * log is still empty at `logStart` and the batch holds it.
 *
 * Crash-safe: the log-start file already says `logStart` (the reset saved it), so a crash after the
 * new segment is created and before the batch is written reopens with a start past the end, which
 * recovery empties at that start again (recovery.ts): the log a crash before the restart left.
 */
export async function restartBelowStart(
  parts: TruncationParts,
  batchBase: number,
  batchLast: number,
): Promise<boolean> {
  const { ctx, segments, durability } = parts;
  ctx.ensureOnline();
  const logStart = segments.startOffset;
  if (segments.endOffset !== logStart || batchBase >= logStart || batchLast < logStart) return false;
  await durability.settled();
  ctx.ensureOnline();
  if (segments.endOffset !== logStart) return false;
  const activeLog = segments.active.paths.log;
  try {
    parts.tail.clear();
    const doomed = [...segments.all];
    await parts.producers.clear();
    if (segments.savedStartOffset !== logStart) await segments.writeStartOffset(logStart);
    await segments.deleteFiles(doomed.reverse());
    segments.replaceAll([await segments.createSegment(batchBase)], logStart);
  } catch (err) {
    if (err instanceof KafkaStorageError) throw err;
    throw ctx.goOffline(err, activeLog, undefined);
  }
  // Below the old one: the batch's segment must be recovered from its base after a crash.
  await durability.saveRecoveryPoint(batchBase);
  durability.resetUnflushed();
  ctx.logger.info(
    { batchBase, logStartOffset: logStart },
    'restarted the empty log at the base of the batch holding its start',
  );
  return true;
}

async function truncateWithin({ ctx, segments, tail }: TruncationParts, offset: number): Promise<void> {
  tail.clear();
  const keep = segments.indexFor(offset);
  const target = segments.all[keep]!;
  await segments.ensureIndexes(target);
  // On the chain already, so a bad index is rebuilt here rather than through withSegment.
  const cut = await target.cutFor(offset).catch(async (err: unknown) => {
    if (!(err instanceof IndexMismatchError)) throw err;
    await segments.rebuildIndexes(target);
    return target.cutFor(offset);
  });
  // From here the log shrinks: memory first (readers see the new end at once), then the files.
  const doomed = segments.removeAfter(keep);
  target.cutInMemory(cut.position, cut.baseOffset ?? offset);
  await segments.deleteFiles(doomed.reverse()); // newest first: a crash leaves a prefix, never a hole
  await target.finishTruncation();
  await target.writeIndexes();
  await (await target.handle()).datasync();
  target.createdMs = ctx.clock();
}

/**
 * Crash-safe in this order; every state a crash leaves reopens as the old log, what is left of it from
 * its start, or the empty log at `offset` (recovery.ts: a saved start past the end empties the log):
 * 1. producer snapshots and transaction indexes go: a crash here rebuilds producer state from the log;
 * 2. the start offset is saved, the commit point, when saving it cannot bring back records a
 *    DeleteRecords removed (it is at or past the start, or the start is the first segment's base);
 * 3. the segment files go, newest first, so a crash never leaves a hole in the log;
 * 4. otherwise (truncation to below a start inside the first segment) the start is saved now: a crash
 *    before it reopens the empty log at the old start;
 * 5. the new segment.
 */
async function truncateFullyAndStartAt({ segments, tail, producers }: TruncationParts, offset: number): Promise<void> {
  tail.clear();
  const startFirst = offset >= segments.startOffset || segments.startOffset <= segments.all[0]!.baseOffset;
  // Kept in the set until the new segment replaces them: readers of one deleted meanwhile get OffsetOutOfRange.
  const doomed = [...segments.all];
  await producers.clear();
  if (startFirst) await segments.writeStartOffset(offset);
  await segments.deleteFiles(doomed.reverse());
  if (!startFirst) await segments.writeStartOffset(offset);
  segments.replaceAll([await segments.createSegment(offset)], offset);
}
