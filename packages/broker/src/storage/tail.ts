import { BatchField, LOG_OVERHEAD } from '@samsa/protocol';
import { TailBudget, type TailToken } from './tail-budget.js';

/**
 * Bound on what a log keeps of its latest leader appends in memory (`LogTail`), counted by the buffers
 * the appended bytes are views of (a produce request's message). Followers fetch at the log end, so
 * what they ask for is almost always the last append or two: served from here, without a read
 * through the thread pool and a fresh buffer per fetch.
 */
const TAIL_MAX_BYTES = 1024 * 1024;

/**
 * Bound on the entries a log keeps in its tail. A follower at the log end asks for the last append or
 * two and a consumer at the end for the last few; older ones are read from the files. Each entry holds
 * its request's whole buffer (often an 8 KiB pool slab), and held for more than a young collection or
 * two (~30 ms at 10k records/s) those buffers were promoted to the old generation: a broker's external
 * memory then grew ~2 MB/s, and V8 collects fully at every 64 MB of it (docs/performance-log.md, the
 * seventeenth look). Eight appends are gone in about 25 ms at that rate.
 */
const TAIL_MAX_ENTRIES = 8;

/** Bound on the tails of all the logs of a broker together: see TailBudget. */
export const BROKER_TAIL_MAX_BYTES = 64 * 1024 * 1024;

const NO_BYTES = Buffer.alloc(0);

/**
 * One leader append, exactly the bytes written: whole batches from baseOffset to lastOffset. It is its
 * own budget token, and keeps no more than its bytes and offsets (its batches' boundaries are read from
 * the bytes when needed): an entry may outlive a young collection or two (the budget holds a dropped
 * one until it compacts), and every object an entry held (a token, the budget's record and closure,
 * the batch headers) was promoted with it and waited for a full collection (docs/performance-log.md,
 * the seventeenth look).
 */
class TailEntry implements TailToken {
  dropped = false;
  constructor(
    private readonly tail: LogTail,
    /** The bytes; none once the entry has left its tail (the budget may hold it a while longer). */
    public bytes: Buffer,
    readonly baseOffset: number,
    readonly lastOffset: number,
    /** What keeping it holds in memory (its underlying buffer). */
    readonly retained: number,
  ) {}

  evict(): void {
    this.tail.evict(this);
  }
}

/**
 * The latest leader appends of one log, contiguous, oldest first, kept as the caller's buffers (no
 * copy). The append chain adds to it once an append's CRCs passed and its write started; the last
 * entries may therefore not be written yet, and every read bounds itself by an upper offset (the
 * written end, or for a leader's followers the exposed end). Anything that changes the log other
 * than at its end (truncation, reset, close, going offline) clears it.
 */
export class LogTail {
  private entries: TailEntry[] = [];
  /** One past the last offset of the entries dropped (not cleared) since the last clear(), or -1. */
  private droppedEnd = -1;
  private retained = 0;

  constructor(private readonly budget: TailBudget = new TailBudget(TAIL_MAX_BYTES)) {}

  /** Bytes this log keeps in its tail (for tests and metrics). */
  get retainedBytes(): number {
    return this.retained;
  }

  /**
   * One past the last offset the tail holds or dropped since it was last cleared, or -1. Dropping an
   * entry (its own limit, the broker-wide budget) must not lower it: an exposed append may be dropped
   * before its write completes, and a leader whose exposed end fell back would answer a follower that
   * copied it with a divergence while still counting that follower's earlier fetch of it for the HW.
   */
  get endOffset(): number {
    const last = this.entries[this.entries.length - 1];
    return Math.max(last ? last.lastOffset + 1 : -1, this.droppedEnd);
  }

  /**
   * A leader append joins the tail (once its CRCs passed: exposed to followers while its write runs,
   * see append-chain.ts) if it follows the tail's last entry.
   */
  remember(
    append: { readonly follower: boolean; readonly bytes: Buffer },
    written: { readonly baseOffset: number; readonly lastOffset: number },
  ): void {
    const last = this.entries[this.entries.length - 1];
    if (append.follower || (last && last.lastOffset + 1 !== written.baseOffset)) {
      this.clear();
      if (append.follower) return;
    }
    const retained = append.bytes.buffer.byteLength;
    if (retained > TAIL_MAX_BYTES) {
      this.clear();
      return;
    }
    const entry = new TailEntry(this, append.bytes, written.baseOffset, written.lastOffset, retained);
    this.entries.push(entry);
    this.retained += retained;
    while (this.retained > TAIL_MAX_BYTES || this.entries.length > TAIL_MAX_ENTRIES) this.dropOldest();
    this.budget.add(entry);
  }

  clear(): void {
    for (const entry of this.entries) this.release(entry);
    this.entries = [];
    this.retained = 0;
    this.droppedEnd = -1;
  }

  /**
   * What a read returns, from the tail, batch by batch as a file read would (first batch whole, the
   * next ones within `maxBytes`, all below `upperBound`): only when `fromOffset` starts a tail entry
   * in the active segment, the one at `activeBaseOffset` (a file read stops at the end of a segment);
   * otherwise undefined.
   */
  read(
    fromOffset: number,
    maxBytes: number,
    upperBound: number,
    activeBaseOffset: number,
  ): { bytes: Buffer; firstOffset: number; lastOffset: number } | undefined {
    const tail = this.entries;
    if (
      tail.length === 0 ||
      fromOffset < tail[0]!.baseOffset ||
      fromOffset > tail[tail.length - 1]!.baseOffset ||
      fromOffset < activeBaseOffset
    )
      return undefined;
    let i = tail.length - 1;
    while (i > 0 && tail[i]!.baseOffset > fromOffset) i--;
    if (tail[i]!.baseOffset !== fromOffset) return undefined;
    const parts: Buffer[] = [];
    let size = 0;
    let lastOffset = -1;
    let full = false;
    for (; i < tail.length && !full; i++) {
      const entry = tail[i]!;
      const data = entry.bytes;
      let next = entry.baseOffset;
      let end = 0;
      // Whole batches, back to back: each one's size and last offset are in its header.
      while (end < data.length) {
        const bytes = LOG_OVERHEAD + data.readInt32BE(end + BatchField.batchLength);
        const last = next + data.readInt32BE(end + BatchField.lastOffsetDelta);
        if (last >= upperBound || (size + end > 0 && size + end + bytes > maxBytes)) {
          full = true;
          break;
        }
        end += bytes;
        lastOffset = last;
        next = last + 1;
      }
      if (end > 0) parts.push(end === entry.bytes.length ? entry.bytes : entry.bytes.subarray(0, end));
      size += end;
    }
    if (parts.length === 0) return undefined;
    return { bytes: parts.length === 1 ? parts[0]! : Buffer.concat(parts, size), firstOffset: fromOffset, lastOffset };
  }

  private dropOldest(): void {
    const oldest = this.entries.shift()!;
    this.droppedEnd = Math.max(this.droppedEnd, oldest.lastOffset + 1);
    this.retained -= oldest.retained;
    this.release(oldest);
  }

  /** An entry leaves the tail: the budget stops counting it, and it stops holding its bytes. */
  private release(entry: TailEntry): void {
    this.budget.release(entry);
    entry.bytes = NO_BYTES;
  }

  /** The broker-wide budget wants this entry's memory back: it is this log's oldest (see TailBudget). */
  evict(entry: TailEntry): void {
    const index = this.entries.indexOf(entry);
    if (index < 0) return;
    for (let i = 0; i <= index; i++) this.dropOldest();
  }
}
