/**
 * The producer state of one partition log, kept beside it: the pure table (producer-state.ts) plus
 * its snapshot files and its rebuild from the log. The append chain asks it about every leader append
 * with a producer id and tells it about every batch written; all of that happens on the chain, so the
 * table always describes exactly the log's prefix up to its end.
 *
 * Snapshots are written at every roll (at the new segment's base offset, beside the chain with the
 * roll's flush) and on clean close (at the log end). Opening the log, and truncating it, start from
 * the newest snapshot at or below the log end and replay the batches after it; snapshots above the
 * end describe a history that is gone and are deleted first.
 */
import { open, readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Attribute, type BatchHeader, type BatchSpan, batchSize, ErrorCodes, lastOffsetOf } from '@samsa/protocol';
import { unlinkIfExists, writeFileAtomic } from './files.js';
import type { LogContext } from './log-context.js';
import {
  CorruptSnapshotError,
  decodeSnapshot,
  encodeSnapshot,
  snapshotFileName,
  snapshotOffsetOf,
} from './producer-snapshot.js';
import {
  type AppendAnalysis,
  type CompletedTxn,
  controlRecordOf,
  type MarkerCheck,
  ProducerStateTable,
} from './producer-state.js';
import { scanBatches } from './scan.js';

const APPEND: AppendAnalysis = Object.freeze({ kind: 'append' });
const headerOf = (span: BatchSpan): BatchHeader => span.header;
import type { SegmentSet } from './segment-set.js';
import { type AbortedTxn, AbortedTxnIndex } from './txn-index.js';

/** Kafka's producer.id.expiration.ms default: a producer idle for a day is forgotten. */
export const DEFAULT_PRODUCER_ID_EXPIRATION_MS = 24 * 60 * 60 * 1000;

export class ProducerStates {
  readonly table = new ProducerStateTable();
  readonly aborted: AbortedTxnIndex;
  private abortedLoaded = false;
  /** Aborted transactions of the write in progress: indexed once it is written (commitWrite). */
  private pendingAborted: { entry: AbortedTxn; segmentBase: number }[] = [];

  constructor(
    private readonly ctx: LogContext,
    private readonly segments: SegmentSet,
  ) {
    this.aborted = new AbortedTxnIndex(ctx.dir);
  }

  /** Checks a leader append; batches without a producer id pass untouched. */
  analyze(spans: readonly BatchSpan[]): AppendAnalysis {
    for (const span of spans) if (span.header.producerId >= 0) return this.table.analyzeEach(spans, headerOf);
    return APPEND;
  }

  /** Checks a transaction marker: one control batch of a producer, from the coordinator `marker` names. */
  analyzeMarker(spans: readonly BatchSpan[], marker: MarkerCheck): AppendAnalysis {
    const header = spans[0]?.header;
    const control = Attribute.control | Attribute.transactional;
    if (
      spans.length !== 1 ||
      header === undefined ||
      (header.attributes & control) !== control ||
      header.producerId < 0
    ) {
      return {
        kind: 'rejected',
        error: ErrorCodes.INVALID_RECORD,
        message: 'a transaction marker is one transactional control batch of a producer',
      };
    }
    return this.table.analyzeMarker(
      header.producerId,
      header.producerEpoch,
      marker.coordinatorEpoch,
      marker.sameEpoch,
      marker.txnStartMs,
    );
  }

  /** From here to commitWrite/abortWrite, applies can be undone (a run whose CRC check failed). */
  beginWrite(): void {
    this.table.beginWrite();
  }

  /**
   * Records a batch as written at the offsets in `header` (stamped). `bytes` is the whole batch, in the
   * segment starting at `segmentBase` (the active one unless replaying). An abort marker's transaction
   * goes into the aborted-transaction index once the write is done (at once when replaying).
   */
  applyBatch(
    header: BatchHeader,
    bytes: Buffer,
    segmentBase = this.segments.active.baseOffset,
  ): CompletedTxn | undefined {
    return this.applyStamped(header, bytes, 0, header.baseOffset, header.maxTimestamp, segmentBase);
  }

  /**
   * applyBatch for a batch at `position` in `bytes` that the append chain stamped with `baseOffset` and
   * `maxTimestamp` (its header, decoded before, has the producer's): no copy of the header or the bytes.
   */
  applyStamped(
    header: BatchHeader,
    bytes: Buffer,
    position: number,
    baseOffset: number,
    maxTimestamp: number,
    segmentBase = this.segments.active.baseOffset,
  ): CompletedTxn | undefined {
    if (header.producerId < 0) return undefined;
    const isControl = (header.attributes & Attribute.control) !== 0;
    const control = isControl ? controlRecordOf(bytes.subarray(position, position + batchSize(header))) : undefined;
    const completed = this.table.apply(header, control, baseOffset, maxTimestamp);
    if (completed?.aborted) {
      const lastStableOffset = this.table.firstUnstableOffset() ?? completed.lastOffset + 1;
      const entry = {
        producerId: completed.producerId,
        firstOffset: completed.firstOffset,
        lastOffset: completed.lastOffset,
        lastStableOffset,
      };
      if (this.table.inWrite) this.pendingAborted.push({ entry, segmentBase });
      else this.aborted.add([{ ...entry, segmentBase }]);
    }
    return completed;
  }

  commitWrite(): void {
    this.table.commitWrite();
    if (this.pendingAborted.length > 0) {
      this.aborted.add(this.pendingAborted.map((p) => ({ ...p.entry, segmentBase: p.segmentBase })));
      this.pendingAborted = [];
    }
  }

  abortWrite(): void {
    this.table.abortWrite();
    this.pendingAborted = [];
  }

  /** The snapshot bytes of the table as it stands, for the segment starting at `offset`. */
  snapshotAt(offset: number): Buffer {
    return encodeSnapshot({ offset, entries: this.table.all() });
  }

  /** Saves a snapshot, after the aborted-transaction entries below it (AbortedTxnIndex.sync). */
  async writeSnapshot(offset: number, bytes: Buffer = this.snapshotAt(offset)): Promise<void> {
    await this.aborted.sync();
    await writeFileAtomic(join(this.ctx.dir, snapshotFileName(offset)), bytes, this.ctx.dir);
  }

  /**
   * Rebuilds the table from the newest readable snapshot at or below the log end and the batches
   * after it; deletes snapshots above the end. Runs at open and after truncation, on the chain.
   */
  async rebuild(): Promise<void> {
    const end = this.segments.endOffset;
    const offsets = await this.snapshotOffsets();
    for (const offset of offsets.filter((o) => o > end)) {
      await unlinkIfExists(join(this.ctx.dir, snapshotFileName(offset)));
    }
    if (!this.abortedLoaded) {
      await this.aborted.load();
      this.abortedLoaded = true;
    }
    await this.aborted.truncateTo(end);
    let from = this.segments.startOffset;
    this.table.reset();
    for (const offset of offsets.filter((o) => o <= end).reverse()) {
      try {
        const snapshot = decodeSnapshot(await readFile(join(this.ctx.dir, snapshotFileName(offset))));
        this.table.reset(snapshot.entries);
        from = Math.max(from, snapshot.offset);
        break;
      } catch (err) {
        if (!(err instanceof CorruptSnapshotError)) throw err;
        this.ctx.logger.warn({ offset, reason: err.message }, 'ignoring unreadable producer state snapshot');
      }
    }
    await this.replayFrom(from);
    this.table.removeBatchesBefore(this.segments.startOffset);
  }

  /** The log was emptied: no producer state survives, and no snapshot either. */
  async clear(): Promise<void> {
    this.table.reset();
    await this.aborted.clear();
    this.abortedLoaded = true;
    for (const offset of await this.snapshotOffsets()) {
      await unlinkIfExists(join(this.ctx.dir, snapshotFileName(offset)));
    }
  }

  /**
   * Snapshot files below `offset` (the oldest segment's base once retention deleted segments), except
   * the newest snapshot. Runs beside the chain with retention's file deletions: a roll's snapshot is
   * never below the oldest segment, and truncation waits for deletions first.
   */
  async deleteSnapshotsBefore(offset: number): Promise<void> {
    await this.aborted.deleteBefore(offset);
    const offsets = await this.snapshotOffsets();
    for (const old of offsets.slice(0, -1).filter((o) => o < offset)) {
      await unlinkIfExists(join(this.ctx.dir, snapshotFileName(old)));
    }
  }

  /**
   * The snapshots of segments a cleaner swap merged away (their bases are no segment's any more),
   * except the newest snapshot: without this a compacted log, which retention never shortens, keeps
   * one file per roll forever. A later rebuild starts from the merged segment's own snapshot.
   */
  async deleteSnapshotsAt(offsets: readonly number[]): Promise<void> {
    const newest = (await this.snapshotOffsets()).at(-1);
    for (const offset of offsets) {
      if (offset !== newest) await unlinkIfExists(join(this.ctx.dir, snapshotFileName(offset)));
    }
  }

  private async snapshotOffsets(): Promise<number[]> {
    const names = await readdir(this.ctx.dir);
    return names
      .map((name) => snapshotOffsetOf(name))
      .filter((o): o is number => o !== undefined)
      .sort((a, b) => a - b);
  }

  /** Applies every batch of the log ending at or after `from`, reading the segments sequentially. */
  private async replayFrom(from: number): Promise<void> {
    const all = this.segments.all;
    for (const [i, segment] of all.entries()) {
      const nextBase = all[i + 1]?.baseOffset ?? Number.MAX_SAFE_INTEGER;
      if (nextBase <= from || segment.size === 0) continue;
      const fh = await open(segment.paths.log, 'r');
      try {
        for await (const item of scanBatches(fh, 0, segment.size, { verifyCrc: false })) {
          if (item.kind === 'error') break; // recovery already cut or refused damage; nothing valid follows
          if (lastOffsetOf(item.header) < from) continue;
          this.applyBatch(item.header, item.bytes, segment.baseOffset);
        }
      } finally {
        await fh.close();
      }
    }
  }
}
