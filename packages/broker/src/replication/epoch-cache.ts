/**
 * The leader-epoch cache (Kafka's LeaderEpochFileCache, KIP-101): for every leader epoch that wrote to
 * this log, the offset of its first record. Followers use it to find where their log diverges from
 * the leader's; leaders use it to answer that question. Pure and in memory; `loadEpochCache` and
 * `saveEpochCache` in ./epoch-checkpoint.ts are the I/O edge.
 *
 * Invariant: entries are strictly increasing in both epoch and start offset. An epoch that never
 * wrote a record before the next one started is dropped (same start offset: the later epoch wins).
 */

/** Kafka's UNDEFINED_EPOCH and UNDEFINED_EPOCH_OFFSET. */
export const UNDEFINED_EPOCH = -1;
export const UNDEFINED_EPOCH_OFFSET = -1;

export interface EpochEntry {
  readonly epoch: number;
  readonly startOffset: number;
}

/** The answer to "where does epoch E end?" (OffsetsForLeaderEpoch, a diverging-epoch fetch). */
export interface EpochEndOffset {
  readonly epoch: number;
  readonly endOffset: number;
}

export const UNDEFINED_EPOCH_END_OFFSET: EpochEndOffset = Object.freeze({
  epoch: UNDEFINED_EPOCH,
  endOffset: UNDEFINED_EPOCH_OFFSET,
});

/** The read side, which is all that the truncation and fetch-validation helpers need. */
export interface EpochLookup {
  readonly latestEpoch: number;
  readonly earliestEpoch: number;
  endOffsetFor(requestedEpoch: number, logEndOffset: number): EpochEndOffset;
}

export class LeaderEpochCache implements EpochLookup {
  private entries: EpochEntry[];

  /** `entries` must already be strictly increasing in epoch and start offset (checked). */
  constructor(entries: readonly EpochEntry[] = []) {
    this.entries = [];
    for (const entry of entries) {
      const last = this.entries.at(-1);
      if (!isNonNegativeInteger(entry.epoch) || !isNonNegativeInteger(entry.startOffset)) {
        throw new RangeError(`epoch cache entry (${entry.epoch}, ${entry.startOffset}) must be non-negative integers`);
      }
      if (last && (entry.epoch <= last.epoch || entry.startOffset <= last.startOffset)) {
        throw new RangeError(
          `epoch cache entries must increase: (${last.epoch}, ` +
            `${last.startOffset}) then (${entry.epoch}, ${entry.startOffset})`,
        );
      }
      this.entries.push({ epoch: entry.epoch, startOffset: entry.startOffset });
    }
  }

  /** A copy of the entries, oldest first. */
  get epochEntries(): readonly EpochEntry[] {
    return [...this.entries];
  }

  get size(): number {
    return this.entries.length;
  }

  /** The newest epoch, UNDEFINED_EPOCH (-1) when empty. */
  get latestEpoch(): number {
    return this.entries.at(-1)?.epoch ?? UNDEFINED_EPOCH;
  }

  /** The first epoch still in the log, UNDEFINED_EPOCH (-1) when empty. */
  get earliestEpoch(): number {
    return this.entries[0]?.epoch ?? UNDEFINED_EPOCH;
  }

  /** The start offset of `epoch` if the cache has exactly that epoch. */
  startOffsetOf(epoch: number): number | undefined {
    return this.entries.find((e) => e.epoch === epoch)?.startOffset;
  }

  /**
   * Records that `epoch` starts at `startOffset`: called by a new leader with its log end offset, and
   * for every appended batch whose epoch is newer than the latest (leader and follower appends alike).
   * Returns whether the cache changed (the caller then checkpoints it).
   *
   * An epoch at or below the latest is ignored (every batch of the current epoch calls this). A newer
   * epoch starting before the latest one is impossible once the log was truncated to the divergence
   * point first, so it throws. A newer epoch starting at the same offset replaces the latest entry:
   * that epoch wrote nothing.
   */
  assign(epoch: number, startOffset: number): boolean {
    if (!isNonNegativeInteger(epoch) || !isNonNegativeInteger(startOffset)) {
      throw new RangeError(`leader epoch ${epoch} at offset ${startOffset}: both must be non-negative integers`);
    }
    const last = this.entries.at(-1);
    if (last && epoch <= last.epoch) return false;
    if (last && startOffset < last.startOffset) {
      throw new RangeError(
        `leader epoch ${epoch} would start at ${startOffset}, before epoch ${last.epoch} ` +
          `at ${last.startOffset}: the log was not truncated before appending`,
      );
    }
    if (last && startOffset === last.startOffset) this.entries.pop();
    this.entries.push({ epoch, startOffset });
    return true;
  }

  /**
   * Kafka's endOffsetFor: the largest epoch <= `requestedEpoch`, and the start offset of the next
   * higher epoch, which is where that epoch's records end (exclusive).
   *  - requested == the latest epoch: (latest, logEndOffset), the epoch is still being written;
   *  - requested older than every entry (its records were deleted by retention): (requested, start
   *    offset of the first entry), so a follower truncates to where the leader's history begins;
   *  - requested newer than the latest, requested == UNDEFINED_EPOCH, or an empty cache: UNDEFINED
   *    (-1, -1).
   */
  endOffsetFor(requestedEpoch: number, logEndOffset: number): EpochEndOffset {
    if (requestedEpoch === UNDEFINED_EPOCH || this.entries.length === 0) return UNDEFINED_EPOCH_END_OFFSET;
    if (requestedEpoch === this.latestEpoch) return { epoch: requestedEpoch, endOffset: logEndOffset };
    // Index of the first entry with epoch > requested.
    const higher = this.entries.findIndex((e) => e.epoch > requestedEpoch);
    if (higher === -1) return UNDEFINED_EPOCH_END_OFFSET;
    const next = this.entries[higher]!;
    if (higher === 0) return { epoch: requestedEpoch, endOffset: next.startOffset };
    return { epoch: this.entries[higher - 1]!.epoch, endOffset: next.startOffset };
  }

  /** The log was truncated to `offset` (exclusive end): forget epochs that started at or after it. */
  truncateFromEnd(offset: number): boolean {
    const keep = this.entries.filter((e) => e.startOffset < offset);
    const changed = keep.length !== this.entries.length;
    this.entries = keep;
    return changed;
  }

  /**
   * The log start moved to `offset` (retention, DeleteRecords): drop epochs that ended before it and
   * clamp the start of the epoch that covers it, so the first entry never points below the log start.
   */
  truncateFromStart(offset: number): boolean {
    // The last entry starting at or before `offset` covers it; everything before that entry is gone.
    let covering = -1;
    for (let i = 0; i < this.entries.length && this.entries[i]!.startOffset <= offset; i++) covering = i;
    if (covering === -1) return false;
    const kept = this.entries.slice(covering);
    const changed = covering > 0 || kept[0]!.startOffset !== offset;
    kept[0] = { epoch: kept[0]!.epoch, startOffset: offset };
    this.entries = kept;
    return changed;
  }

  /**
   * At open: the cache may describe only the records the log holds, [logStartOffset, logEndOffset),
   * and the epoch covering the start: entries past the end go (a torn tail cut by recovery), then the
   * start is clamped (truncateFromStart), as Kafka's log loader does. An empty log keeps one entry, the
   * epoch covering its start, clamped to it (DeleteRecords or retention up to the log end, a crash after
   * a follower's reset and before its cleared cache was saved): its history, which a fetch states and
   * the leader checks (a follower whose epoch predates the leader's history is reset, rule 10). Until
   * 2026-12-07 the start was clamped first, and the clamped entry, at the end, went too: an empty cache.
   */
  trimToLog(logStartOffset: number, logEndOffset: number): boolean {
    // An entry at the start of an empty log is not past its end: it is the epoch its next record continues.
    const fromEnd = this.truncateFromEnd(Math.max(logEndOffset, logStartOffset + 1));
    return this.truncateFromStart(logStartOffset) || fromEnd;
  }

  /** Forget everything (the log was deleted and restarted from a new offset). */
  clear(): boolean {
    const changed = this.entries.length > 0;
    this.entries = [];
    return changed;
  }
}

function isNonNegativeInteger(n: number): boolean {
  return Number.isSafeInteger(n) && n >= 0;
}
