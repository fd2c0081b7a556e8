import { join } from 'node:path';
import { OffsetOutOfRangeError } from './errors.js';
import { LOG_START_OFFSET_FILE } from './files.js';
import type { Durability } from './durability.js';
import { type LogContext, noop } from './log-context.js';
import type { ProducerStates } from './producer-states.js';
import type { SegmentSet } from './segment-set.js';

/**
 * Removing from the front of a log: Kafka's DeleteRecords and time/size retention. Both delete whole
 * segments only, never the active one, and move the log start offset on the append chain (see
 * append-chain.ts); retention deletes the files beside it. Readers of a deleted segment finish with
 * OffsetOutOfRange.
 */
export interface RetentionParts {
  readonly ctx: LogContext;
  readonly segments: SegmentSet;
  readonly durability: Durability;
  readonly producers: ProducerStates;
}

/**
 * Kafka's DeleteRecords: offsets below `offset` become unreadable (OffsetOutOfRange) and whole
 * segments entirely below it are deleted; the new log start offset survives restarts. Returns the
 * log start offset once it is durable (savedStartOffset reaches it). On the chain, through
 * `onChain`, only memory changes (the start offset, the segments taken out of the log, producer
 * state); saving the start offset and deleting the files (each with its fsync) run beside the chain
 * on Durability's deletion queue, as retention's deletions do, so appends never wait for them. That
 * queue also runs a cleaner swap's renames in order, so a swap involving these segments finishes
 * before their files go. A crash before the start offset is saved leaves the old start and every
 * file: nothing was acknowledged.
 */
export async function deleteRecordsBefore(
  { ctx, segments, producers, durability }: RetentionParts,
  onChain: <T>(op: () => Promise<T>) => Promise<T>,
  offset: number,
): Promise<number> {
  let durable: Promise<void> = Promise.resolve();
  const start = await onChain(async () => {
    ctx.ensureOnline();
    if (!Number.isSafeInteger(offset) || offset > segments.endOffset)
      throw new OffsetOutOfRangeError(offset, segments.startOffset, segments.endOffset);
    // An earlier call, or retention, may have moved the start without saving it yet: answer once
    // it is saved (after the deletions queued before), and save it here if they did not.
    if (offset <= segments.startOffset) {
      const start = segments.startOffset;
      durable = durability.queueDeletion(async () => {
        if (segments.savedStartOffset < start) await saveStart(ctx, segments, start);
      });
      durable.catch(noop); // awaited below, once the chain has let go
      return start;
    }
    segments.setStartOffset(offset);
    const all = segments.all;
    let count = 0;
    while (count < all.length - 1 && all[count + 1]!.baseOffset <= offset) count++;
    const doomed = segments.removeOldest(count);
    segments.markDeleted(doomed);
    producers.table.removeBatchesBefore(offset);
    durable = durability.queueDeletion(async () => {
      await saveStart(ctx, segments, offset);
      if (doomed.length > 0) await segments.deleteFiles(doomed);
      ctx.logger.info({ logStartOffset: offset, deletedSegments: doomed.length }, 'deleted records');
    });
    durable.catch(noop); // awaited below, once the chain has let go
    return offset;
  });
  await durable;
  return start;
}

/**
 * Writes the log-start-offset file; a failure takes the log offline, as Kafka takes the log directory
 * offline. Left online, the log kept the start in memory and its segments out of the set with their
 * files still on disk, and retention, deleting the next segment, took the start past it as saved (the
 * first file left): a follower stated it, DeleteRecords counted it, and a restart found the records.
 */
async function saveStart(ctx: LogContext, segments: SegmentSet, offset: number): Promise<void> {
  try {
    await segments.writeStartOffset(offset);
  } catch (err) {
    throw ctx.goOffline(err, join(ctx.dir, LOG_START_OFFSET_FILE), undefined);
  }
}

/**
 * Deletes whole inactive segments beyond retention.ms (by largest timestamp) or retention.bytes,
 * oldest first, but only segments whose records all lie below `maxOffset` (the broker passes the
 * high watermark, as Kafka does: an uncommitted record is never deleted, and followers, which adopt
 * their leader's log start only up to their own HW, can follow). Returns how many were deleted,
 * once their files are gone. Which ones, and taking
 * them out of the log (and moving the log start offset), happens on the chain, through `onChain`;
 * deleting their files and fsyncing the directory happens beside it (Durability.queueDeletion), so
 * appends never wait for it.
 */
export async function deleteOldSegments(
  { ctx, segments, durability, producers }: RetentionParts,
  onChain: <T>(op: () => Promise<T>) => Promise<T>,
  producerIdExpirationMs: number,
  maxOffset = Number.POSITIVE_INFINITY,
): Promise<number> {
  let filesDeleted: Promise<void> = Promise.resolve();
  const count = await onChain(async () => {
    ctx.ensureOnline();
    const expired = expiredSegmentCount(ctx, segments, maxOffset);
    // Idle producers are forgotten at every retention check, as Kafka's expiration task does.
    if (expired === 0) {
      producers.table.removeExpired(ctx.clock(), producerIdExpirationMs);
      return 0;
    }
    const doomed = segments.removeOldest(expired);
    segments.setStartOffset(Math.max(segments.startOffset, segments.all[0]!.baseOffset));
    segments.markDeleted(doomed);
    const logStartOffset = segments.startOffset;
    producers.table.removeBatchesBefore(logStartOffset);
    producers.table.removeExpired(ctx.clock(), producerIdExpirationMs);
    const oldestBase = segments.all[0]!.baseOffset;
    filesDeleted = durability.queueDeletion(async () => {
      // Offline on failure, as a failed log-start save (saveStart): some files below the start stay,
      // and the next deletion would take the start past them as saved.
      await segments.deleteFiles(doomed).catch((err: unknown) => {
        throw ctx.goOffline(err, doomed[0]?.paths.log, undefined);
      });
      segments.startOffsetSaved(logStartOffset); // the first segment file left, or a start saved before
      await producers.deleteSnapshotsBefore(oldestBase);
      ctx.logger.info({ deleted: doomed.map((s) => s.baseOffset), logStartOffset }, 'deleted segments by retention');
    });
    filesDeleted.catch(noop); // awaited below, once the chain has let go
    return expired;
  });
  await filesDeleted;
  return count;
}

/**
 * How many of the oldest segments are past retention.ms or beyond retention.bytes; never the active
 * one, nor one holding an offset at or above `maxOffset` (its successor's base is the bound).
 */
function expiredSegmentCount(ctx: LogContext, segments: SegmentSet, maxOffset: number): number {
  const { retentionBytes, retentionMs } = ctx.config;
  if (ctx.config.cleanupPolicy === 'compact') return 0; // compacted, not cut: the cleaner keeps it small
  const now = ctx.clock();
  const all = segments.all;
  let excessBytes = retentionBytes >= 0 ? segments.sizeInBytes - retentionBytes : -1;
  let count = 0;
  while (count < all.length - 1 && all[count + 1]!.baseOffset <= maxOffset) {
    const segment = all[count]!;
    const expired = retentionMs >= 0 && now - segment.largestTimestamp > retentionMs;
    const oversize = excessBytes >= 0 && excessBytes - segment.size >= 0;
    if (!expired && !oversize) break;
    excessBytes -= segment.size;
    count++;
  }
  return count;
}
