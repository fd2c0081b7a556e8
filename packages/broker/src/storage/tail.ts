import { batchSize, type BatchSpan } from '@samsa/protocol';
import { TailBudget, type TailToken } from './tail-budget.js';

/**
 * Bound on what a log keeps of its latest leader appends in memory (`LogTail`), counted by the buffers
 * the appended bytes are views of (a produce request's message). Followers fetch at the log end, so
 * what they ask for is almost always the last append or two: served from here, without a read
 * through the thread pool and a fresh buffer per fetch.
 */
const TAIL_MAX_BYTES = 1024 * 1024;

/** Bound on the tails of all the logs of a broker together: see TailBudget. */
export const BROKER_TAIL_MAX_BYTES = 64 * 1024 * 1024;

/** One leader append, exactly the bytes written: whole batches from baseOffset to lastOffset. */
interface TailEntry {
  /** Its share of the broker-wide tail budget. */
  readonly token: TailToken;
  readonly bytes: Buffer;
  /** Its batches (sizes and offset deltas; the base offsets in these headers are the producer's). */
  readonly spans: readonly BatchSpan[];
  readonly baseOffset: number;
  readonly lastOffset: number;
  /** What keeping it holds in memory (its underlying buffer). */
  readonly retained: number;
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
    append: { readonly follower: boolean; readonly bytes: Buffer; readonly spans: readonly BatchSpan[] },
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
    const token: TailToken = { retained, dropped: false };
    this.entries.push({
      token,
      bytes: append.bytes,
      spans: append.spans,
      baseOffset: written.baseOffset,
      lastOffset: written.lastOffset,
      retained,
    });
    this.retained += retained;
    while (this.retained > TAIL_MAX_BYTES) this.dropOldest();
    this.budget.add(token, () => this.evict(token));
  }

  clear(): void {
    for (const entry of this.entries) this.budget.release(entry.token);
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
      let next = entry.baseOffset;
      let end = 0;
      for (const span of entry.spans) {
        const bytes = batchSize(span.header);
        const last = next + span.header.lastOffsetDelta;
        if (last >= upperBound || (size + end > 0 && size + end + bytes > maxBytes)) {
          full = true;
          break;
        }
        end = span.position + bytes;
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
    this.budget.release(oldest.token);
  }

  /** The broker-wide budget wants this entry's memory back: it is this log's oldest (see TailBudget). */
  private evict(token: TailToken): void {
    const index = this.entries.findIndex((e) => e.token === token);
    if (index < 0) return;
    for (let i = 0; i <= index; i++) this.dropOldest();
  }
}
