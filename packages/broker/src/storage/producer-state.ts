/**
 * Producer state of one partition: for every producer id that wrote to it, its epoch, the sequence
 * and offset ranges of its last batches, and its open transaction. This is what makes retries
 * harmless (a batch whose sequences were already appended is answered with its original offsets
 * instead of being written twice) and what the last stable offset is computed from.
 *
 * Pure: no I/O, no clock. The driver (the partition log) calls `analyze` inside its append chain,
 * appends, then `apply`s the stamped headers, so the table always describes exactly the log's prefix.
 * Followers and recovery `apply` the batches they copy or rescan, unvalidated: the leader already
 * validated them. After a truncation the driver rebuilds the table from a snapshot taken at or below
 * the new end, replaying the batches after it (ProducerStateSnapshot in producer-snapshot.ts).
 *
 * Rules, as Kafka's ProducerStateManager:
 *  - a lower epoch than the one known is fenced (InvalidProducerEpoch);
 *  - a new epoch starts at sequence 0 (unless the producer was unknown);
 *  - within an epoch each batch's first sequence follows the last one's (wrapping at 2^31 - 1);
 *  - a producer with no state (new, expired, or its records deleted) may start at any sequence;
 *  - a request whose epoch and sequence range match a run of retained batches (from the first
 *    sequence of one to the last of another) is a duplicate: it was appended before, in full.
 */
import {
  Attribute,
  BATCH_HEADER_SIZE,
  type BatchHeader,
  ByteReader,
  ErrorCodes,
  type ErrorSpec,
  lastOffsetOf,
} from '@samsa/protocol';

export const NO_PRODUCER_ID = -1;
export const NO_PRODUCER_EPOCH = -1;
export const NO_SEQUENCE = -1;
/**
 * How many batches per producer are remembered for duplicate detection. Kafka keeps five (five
 * requests in flight, one batch each). The Samsa SDK keeps one request in flight per partition but
 * sends up to IDEMPOTENT_BATCHES_PER_REQUEST of its batches in it, and retries them one at a time (a new
 * leader may hold only a prefix of them): each must still be remembered when its retry arrives.
 */
export const PRODUCER_BATCHES_RETAINED = 64;
const INT32_MAX = 0x7fffffff;

export interface ProducerBatch {
  readonly firstSeq: number;
  readonly lastSeq: number;
  readonly firstOffset: number;
  readonly lastOffset: number;
  readonly maxTimestampMs: number;
}

export interface ProducerEntry {
  readonly producerId: number;
  readonly epoch: number;
  /** Oldest first; at most PRODUCER_BATCHES_RETAINED. Empty after an epoch bump by a marker. */
  readonly batches: readonly ProducerBatch[];
  readonly lastTimestampMs: number;
  /** The coordinator epoch of the last transaction marker written for this producer (fences zombie coordinators). */
  readonly coordinatorEpoch: number;
  /** First offset of the open transaction, or -1. */
  readonly currentTxnFirstOffset: number;
}

/** A transaction that a commit or abort marker ended; aborted ones go into the aborted-transaction index. */
export interface CompletedTxn {
  readonly producerId: number;
  readonly firstOffset: number;
  /** Offset of the marker. */
  readonly lastOffset: number;
  readonly aborted: boolean;
}

export type AppendAnalysis =
  | { readonly kind: 'append' }
  | { readonly kind: 'duplicate'; readonly firstOffset: number; readonly lastOffset: number }
  | { readonly kind: 'rejected'; readonly error: ErrorSpec; readonly message: string };

export const ControlType = Object.freeze({ abort: 0, commit: 1 });

/** What a marker append is checked with: its coordinator's epoch; may it end a transaction at the data's epoch. */
export interface MarkerCheck {
  readonly coordinatorEpoch: number;
  /**
   * A transaction of a Kafka client that does not learn of epoch bumps (EndTxn below v5, Kafka's
   * transaction version 1): its marker carries the epoch its data was written with.
   */
  readonly sameEpoch?: boolean;
  /** The start time of the transaction a same-epoch marker ends (0 or less: unknown). */
  readonly txnStartMs?: number;
}

/** The last sequence of a batch: its base sequence plus its last offset delta, wrapping as Kafka's do. */
export function lastSequenceOf(header: Pick<BatchHeader, 'baseSequence' | 'lastOffsetDelta'>): number {
  const { baseSequence, lastOffsetDelta } = header;
  if (baseSequence > INT32_MAX - lastOffsetDelta) return lastOffsetDelta - (INT32_MAX - baseSequence) - 1;
  return baseSequence + lastOffsetDelta;
}

function inSequence(lastSeq: number, nextSeq: number): boolean {
  return nextSeq === lastSeq + 1 || (nextSeq === 0 && lastSeq === INT32_MAX);
}

export function hasProducerId(header: Pick<BatchHeader, 'producerId'>): boolean {
  return header.producerId >= 0;
}

function rejected(error: ErrorSpec, message: string): AppendAnalysis {
  return { kind: 'rejected', error, message };
}

export class ProducerStateTable {
  private readonly entries = new Map<number, ProducerEntry>();
  /**
   * The leader's memory (not replicated, not in snapshots) of the transaction the coordinator verified
   * for each producer's open transaction here: its start time, which names it (see analyzeMarker).
   */
  private readonly verifiedTxnStart = new Map<number, number>();

  constructor(entries: Iterable<ProducerEntry> = []) {
    for (const entry of entries) this.entries.set(entry.producerId, entry);
  }

  get size(): number {
    return this.entries.size;
  }

  entry(producerId: number): ProducerEntry | undefined {
    return this.entries.get(producerId);
  }

  /** Every entry, in producer id order (snapshots are deterministic). */
  all(): ProducerEntry[] {
    return [...this.entries.values()].sort((a, b) => a.producerId - b.producerId);
  }

  /**
   * Checks the batches of one produce request against the state (not changing it). Batches are
   * checked in order, each against the state the earlier ones would leave. A duplicate is answered
   * only for a request of one batch, as Kafka does: a retried request repeats its batches exactly.
   */
  analyze(batches: readonly BatchHeader[]): AppendAnalysis {
    const pending = new Map<number, { epoch: number; lastSeq: number }>();
    for (const batch of batches) {
      if (!hasProducerId(batch)) continue;
      if ((batch.attributes & Attribute.control) !== 0) {
        return rejected(ErrorCodes.INVALID_RECORD, 'clients may not write control batches');
      }
      const known = this.entries.get(batch.producerId);
      if (batch === batches[0] && known !== undefined) {
        const duplicate = findDuplicate(known, batches);
        if (duplicate !== undefined) return { kind: 'duplicate', ...duplicate };
      }
      const before = pending.get(batch.producerId);
      const verdict = checkSequence(known, before, batch);
      if (verdict !== undefined) return verdict;
      pending.set(batch.producerId, { epoch: batch.producerEpoch, lastSeq: lastSequenceOf(batch) });
    }
    return { kind: 'append' };
  }

  /**
   * Checks a transaction marker the coordinator asks this leader to write (WriteTxnMarkers). A marker
   * carries an epoch above the one its transaction's data was written with (KIP-890 part 2), so:
   *  - with a transaction open, the marker's epoch must be above the data's: a late copy of the previous
   *    transaction's marker (same epoch as this one's data) must not end it;
   *  - with none open, a marker at the epoch already recorded is a retry of one written (answered, not
   *    written again), one below it is stale;
   *  - a marker from a coordinator older than the last one heard from is a deposed (zombie) coordinator's.
   * `sameEpoch` (transaction version 1, Kafka clients that keep their epoch across transactions) lets a
   * marker at the data's epoch end the open transaction. Then the epoch cannot tell a late copy of the
   * previous transaction's marker from this one's: the start time can. A same-epoch marker naming
   * another transaction than the one verified here is such a copy, answered as written (it was: the
   * coordinator completes a transaction only once every partition acknowledged its marker). A new leader
   * has not verified anything yet and takes the marker (the hole KIP-890 part 2 closes with the bump).
   */
  analyzeMarker(
    producerId: number,
    markerEpoch: number,
    coordinatorEpoch: number,
    sameEpoch = false,
    txnStartMs = 0,
  ): AppendAnalysis {
    const known = this.entries.get(producerId);
    if (known === undefined) return { kind: 'append' };
    if (coordinatorEpoch < known.coordinatorEpoch) {
      return rejected(
        ErrorCodes.TRANSACTION_COORDINATOR_FENCED,
        `marker for producer ${producerId} from coordinator epoch ${coordinatorEpoch}, ` +
          `already heard from ${known.coordinatorEpoch}`,
      );
    }
    const open = known.currentTxnFirstOffset >= 0;
    const verified = this.verifiedTxnStart.get(producerId);
    if (open && sameEpoch && txnStartMs > 0 && verified !== undefined && verified > 0 && verified !== txnStartMs) {
      return { kind: 'duplicate', firstOffset: -1, lastOffset: -1 };
    }
    if (open && !sameEpoch ? markerEpoch > known.epoch : markerEpoch >= known.epoch) {
      if (!open && markerEpoch === known.epoch) return { kind: 'duplicate', firstOffset: -1, lastOffset: -1 };
      return { kind: 'append' };
    }
    return rejected(
      ErrorCodes.INVALID_PRODUCER_EPOCH,
      `marker epoch ${markerEpoch} for producer ${producerId} is stale (epoch ${known.epoch}` +
        `${open ? ', transaction open' : ''})`,
    );
  }

  /** The coordinator verified a write of the producer's transaction started at `txnStartMs` (leader only). */
  noteVerified(producerId: number, txnStartMs: number): void {
    this.verifiedTxnStart.set(producerId, txnStartMs);
  }

  /**
   * Records an appended batch (stamped with its offsets). For a control batch `controlType` says
   * whether it commits or aborts, and `coordinatorEpoch` which coordinator wrote it; the transaction
   * it ends is returned.
   */
  apply(
    batch: BatchHeader,
    control?: { readonly type: number; readonly coordinatorEpoch: number },
  ): CompletedTxn | undefined {
    if (!hasProducerId(batch)) return undefined;
    const known = this.entries.get(batch.producerId);
    const firstOffset = batch.baseOffset;
    const lastOffset = lastOffsetOf(batch);
    const sameEpoch = known !== undefined && known.epoch === batch.producerEpoch;
    if ((batch.attributes & Attribute.control) !== 0) {
      this.verifiedTxnStart.delete(batch.producerId);
      const openTxn = known?.currentTxnFirstOffset ?? -1;
      this.entries.set(batch.producerId, {
        producerId: batch.producerId,
        epoch: batch.producerEpoch,
        batches: sameEpoch ? known.batches : [],
        lastTimestampMs: Math.max(known?.lastTimestampMs ?? 0, batch.maxTimestamp),
        coordinatorEpoch: control?.coordinatorEpoch ?? known?.coordinatorEpoch ?? -1,
        currentTxnFirstOffset: -1,
      });
      if (openTxn < 0) return undefined;
      return {
        producerId: batch.producerId,
        firstOffset: openTxn,
        lastOffset,
        aborted: control?.type !== ControlType.commit,
      };
    }
    const added: ProducerBatch = {
      firstSeq: batch.baseSequence,
      lastSeq: lastSequenceOf(batch),
      firstOffset,
      lastOffset,
      maxTimestampMs: batch.maxTimestamp,
    };
    // One new array per append (the copy an undo needs: restore puts back the entry before it), not two.
    const batches = sameEpoch ? known.batches.slice(-(PRODUCER_BATCHES_RETAINED - 1)) : [];
    batches.push(added);
    const transactional = (batch.attributes & Attribute.transactional) !== 0;
    const openTxn = known?.currentTxnFirstOffset ?? -1;
    this.entries.set(batch.producerId, {
      producerId: batch.producerId,
      epoch: batch.producerEpoch,
      batches,
      lastTimestampMs: Math.max(known?.lastTimestampMs ?? 0, batch.maxTimestamp),
      coordinatorEpoch: known?.coordinatorEpoch ?? -1,
      currentTxnFirstOffset: transactional && openTxn < 0 ? firstOffset : openTxn,
    });
    return undefined;
  }

  /** Puts back an entry as it was (or its absence): undoes applies whose write failed. */
  restore(producerId: number, entry: ProducerEntry | undefined): void {
    if (entry === undefined) this.entries.delete(producerId);
    else this.entries.set(producerId, entry);
  }

  /** Replaces the whole table (a snapshot loaded, or nothing after the log was emptied). */
  reset(entries: Iterable<ProducerEntry> = []): void {
    this.entries.clear();
    this.verifiedTxnStart.clear();
    for (const entry of entries) this.entries.set(entry.producerId, entry);
  }

  /** The first offset of the oldest open transaction: the last stable offset cannot pass it. */
  firstUnstableOffset(): number | undefined {
    let first: number | undefined;
    for (const entry of this.entries.values()) {
      const offset = entry.currentTxnFirstOffset;
      if (offset >= 0 && (first === undefined || offset < first)) first = offset;
    }
    return first;
  }

  /**
   * Forgets producers idle for longer than `expirationMs` (producer.id.expiration.ms) at `nowMs`,
   * except those with an open transaction. Returns the ids removed.
   */
  removeExpired(nowMs: number, expirationMs: number): number[] {
    const removed: number[] = [];
    for (const entry of this.entries.values()) {
      if (entry.currentTxnFirstOffset < 0 && nowMs - entry.lastTimestampMs >= expirationMs) {
        removed.push(entry.producerId);
      }
    }
    for (const id of removed) this.entries.delete(id);
    return removed;
  }

  /** Drops what only batches below `offset` taught (retention deleted them): Kafka's truncateHead. */
  removeBatchesBefore(offset: number): void {
    for (const entry of [...this.entries.values()]) {
      const batches = entry.batches.filter((b) => b.lastOffset >= offset);
      if (batches.length === entry.batches.length) continue;
      if (batches.length === 0 && entry.currentTxnFirstOffset < 0) this.entries.delete(entry.producerId);
      else this.entries.set(entry.producerId, { ...entry, batches });
    }
  }
}

/**
 * The offsets a repeated request got the first time: its batches (all of one producer and epoch)
 * cover exactly a run of the retained batches, from one's first sequence to another's last.
 */
function findDuplicate(
  entry: ProducerEntry,
  batches: readonly BatchHeader[],
): { firstOffset: number; lastOffset: number } | undefined {
  const first = batches[0]!;
  if (entry.epoch !== first.producerEpoch) return undefined;
  if (batches.some((b) => b.producerId !== first.producerId || b.producerEpoch !== first.producerEpoch)) {
    return undefined;
  }
  const start = entry.batches.findIndex((b) => b.firstSeq === first.baseSequence);
  if (start < 0) return undefined;
  const lastSeq = lastSequenceOf(batches.at(-1)!);
  for (let i = start; i < entry.batches.length; i++) {
    if (entry.batches[i]!.lastSeq === lastSeq) {
      return { firstOffset: entry.batches[start]!.firstOffset, lastOffset: entry.batches[i]!.lastOffset };
    }
  }
  return undefined;
}

function checkSequence(
  known: ProducerEntry | undefined,
  pending: { epoch: number; lastSeq: number } | undefined,
  batch: BatchHeader,
): AppendAnalysis | undefined {
  const currentEpoch = pending?.epoch ?? known?.epoch ?? NO_PRODUCER_EPOCH;
  const pid = batch.producerId;
  if (batch.producerEpoch < currentEpoch) {
    return rejected(
      ErrorCodes.INVALID_PRODUCER_EPOCH,
      `producer ${pid} epoch ${batch.producerEpoch} is older than the current epoch ${currentEpoch}`,
    );
  }
  if (batch.baseSequence < 0) {
    return rejected(ErrorCodes.INVALID_RECORD, `producer ${pid} sent base sequence ${batch.baseSequence}`);
  }
  if (currentEpoch === NO_PRODUCER_EPOCH) return undefined;
  if (batch.producerEpoch > currentEpoch) {
    if (batch.baseSequence === 0) return undefined;
    return rejected(
      ErrorCodes.OUT_OF_ORDER_SEQUENCE_NUMBER,
      `producer ${pid}: a new epoch ${batch.producerEpoch} must start at sequence 0, not ${batch.baseSequence}`,
    );
  }
  const lastSeq = pending?.lastSeq ?? known?.batches.at(-1)?.lastSeq ?? NO_SEQUENCE;
  // After a marker bumped the epoch there are no batches yet: the next one starts the sequence at 0.
  if (lastSeq === NO_SEQUENCE) {
    if (batch.baseSequence === 0) return undefined;
  } else if (inSequence(lastSeq, batch.baseSequence)) {
    return undefined;
  }
  return rejected(
    ErrorCodes.OUT_OF_ORDER_SEQUENCE_NUMBER,
    `producer ${pid} epoch ${batch.producerEpoch}: expected sequence ` +
      `${lastSeq === NO_SEQUENCE ? 0 : (lastSeq + 1) % (INT32_MAX + 1)}, got ${batch.baseSequence}`,
  );
}

/**
 * The commit/abort type of a control batch: the key of its first record (int16 version, int16 type).
 * Control batches are never compressed. Throws CorruptRecordError on malformed bytes.
 */
export function controlTypeOf(batch: Buffer): number {
  return controlRecordOf(batch).type;
}

/**
 * The control record of a control batch: its type (key: int16 version, int16 type) and, for a
 * commit/abort marker, the coordinator epoch in its value (int16 version, int32 coordinator epoch;
 * -1 when the value is shorter). Throws CorruptRecordError on malformed bytes.
 */
export function controlRecordOf(batch: Buffer): { type: number; coordinatorEpoch: number } {
  const reader = new ByteReader(batch, BATCH_HEADER_SIZE);
  reader.readVarint('record length');
  reader.readInt8('record attributes');
  reader.readVarlong('timestamp delta');
  reader.readVarint('offset delta');
  const keyLength = reader.readVarint('control key length');
  if (keyLength < 4) throw reader.corrupt(`control record key of ${keyLength} bytes`);
  const key = reader.readBytes(keyLength, 'control key');
  const valueLength = reader.readVarint('control value length');
  const value = valueLength >= 6 ? reader.readBytes(valueLength, 'control value') : undefined;
  return { type: key.readInt16BE(2), coordinatorEpoch: value === undefined ? -1 : value.readInt32BE(2) };
}
