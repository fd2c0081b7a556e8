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

/** The common verdict, one object for all of them. */
const APPEND: AppendAnalysis = Object.freeze({ kind: 'append' });

const itself = (header: BatchHeader): BatchHeader => header;

/** A retained batch's fields in its BatchLog slot, in this order. */
const FIRST_SEQ = 0;
const LAST_SEQ = 1;
const FIRST_OFFSET = 2;
const LAST_OFFSET = 3;
const MAX_TIMESTAMP = 4;
const FIELDS = 5;
/** Slots of a log grown full: one new log (a copy of the last PRODUCER_BATCHES_RETAINED - 1) per 65 appends. */
const LOG_CAPACITY = 2 * PRODUCER_BATCHES_RETAINED;
const FIRST_CAPACITY = 4;

/**
 * One producer's retained batches, shared by the versions of its entry. An entry is never changed: an
 * append makes a new version, and an undo (a run whose CRC check failed) puts the version before it
 * back. Copying the batches into each version cost an array of up to 64 per append (the largest of
 * the broker's own allocations per record, docs/performance-log.md). Here a version is a range
 * [from, to) of slots in its producer's log; slots are written once, in order (at `used`), and never
 * changed, so every version keeps what it held however many appends follow. An append to a version
 * that is not the last one written (one put back by an undo) or to a full log starts a new log with the
 * version's batches. The batches are numbers in one Float64Array: no object per batch for the young
 * generation to trace and promote (they live for 64 appends).
 */
class BatchLog {
  used = 0;
  constructor(readonly data: Float64Array) {}

  get capacity(): number {
    return this.data.length / FIELDS;
  }
}

const EMPTY_LOG = new BatchLog(new Float64Array(0));

/** A version of a producer's entry: its batches are slots [from, to) of `log`. */
class Entry implements ProducerEntry {
  private view: readonly ProducerBatch[] | undefined;

  constructor(
    readonly producerId: number,
    readonly epoch: number,
    readonly lastTimestampMs: number,
    readonly coordinatorEpoch: number,
    readonly currentTxnFirstOffset: number,
    readonly log: BatchLog,
    readonly from: number,
    readonly to: number,
    /** The write (ProducerStateTable.beginWrite) that made this version. */
    readonly write: number,
  ) {}

  /** As objects, made on first use (snapshots, tools; the append path reads the slots). */
  get batches(): readonly ProducerBatch[] {
    if (this.view === undefined) {
      const view: ProducerBatch[] = [];
      for (let i = this.from; i < this.to; i++) {
        view.push({
          firstSeq: this.field(i, FIRST_SEQ),
          lastSeq: this.field(i, LAST_SEQ),
          firstOffset: this.field(i, FIRST_OFFSET),
          lastOffset: this.field(i, LAST_OFFSET),
          maxTimestampMs: this.field(i, MAX_TIMESTAMP),
        });
      }
      this.view = view;
    }
    return this.view;
  }

  field(slot: number, field: number): number {
    return this.log.data[slot * FIELDS + field] as number;
  }

  lastSeq(): number {
    return this.to > this.from ? this.field(this.to - 1, LAST_SEQ) : NO_SEQUENCE;
  }
}

/** An entry from outside (a snapshot, a test) as a version with a log of its own. */
function toEntry(entry: ProducerEntry, write: number): Entry {
  if (entry instanceof Entry) return entry;
  const count = entry.batches.length;
  const log = new BatchLog(new Float64Array(Math.max(FIRST_CAPACITY, count) * FIELDS));
  entry.batches.forEach((b, i) => {
    log.data.set([b.firstSeq, b.lastSeq, b.firstOffset, b.lastOffset, b.maxTimestampMs], i * FIELDS);
  });
  log.used = count;
  const { producerId, epoch, lastTimestampMs, coordinatorEpoch, currentTxnFirstOffset } = entry;
  return new Entry(producerId, epoch, lastTimestampMs, coordinatorEpoch, currentTxnFirstOffset, log, 0, count, write);
}

export class ProducerStateTable {
  private readonly entries = new Map<number, Entry>();
  /**
   * The leader's memory (not replicated, not in snapshots) of the transaction the coordinator verified
   * for each producer's open transaction here: its start time, which names it (see analyzeMarker).
   */
  private readonly verifiedTxnStart = new Map<number, number>();
  /** The write in progress (beginWrite); versions it made carry its number. */
  private write = 0;
  private writing = false;
  /** The entries as they were before the write's applies (undefined: none), by producer: see abortWrite. */
  private readonly undoIds: number[] = [];
  private readonly undoEntries: (Entry | undefined)[] = [];
  private undoCount = 0;

  constructor(entries: Iterable<ProducerEntry> = []) {
    for (const entry of entries) this.entries.set(entry.producerId, toEntry(entry, -1));
  }

  get size(): number {
    return this.entries.size;
  }

  entry(producerId: number): ProducerEntry | undefined {
    return this.entries.get(producerId);
  }

  /** Every entry, in producer id order (snapshots are deterministic), as plain objects. */
  all(): ProducerEntry[] {
    return [...this.entries.values()]
      .sort((a, b) => a.producerId - b.producerId)
      .map((e) => ({
        producerId: e.producerId,
        epoch: e.epoch,
        batches: e.batches,
        lastTimestampMs: e.lastTimestampMs,
        coordinatorEpoch: e.coordinatorEpoch,
        currentTxnFirstOffset: e.currentTxnFirstOffset,
      }));
  }

  /**
   * Checks the batches of one produce request against the state (not changing it). Batches are
   * checked in order, each against the state the earlier ones would leave. A duplicate is answered
   * only for a request of one batch, as Kafka does: a retried request repeats its batches exactly.
   */
  analyze(batches: readonly BatchHeader[]): AppendAnalysis {
    return this.analyzeEach(batches, itself);
  }

  /** analyze over the headers `headerOf` gives of `items` (the append chain's spans, without a copy). */
  analyzeEach<T>(items: readonly T[], headerOf: (item: T) => BatchHeader): AppendAnalysis {
    // What the batches before leave, per producer: the common request is one producer's, kept in two
    // numbers; a Map only from a second producer on.
    let pid = NO_PRODUCER_ID;
    let pidEpoch = NO_PRODUCER_EPOCH;
    let pidLastSeq = NO_SEQUENCE;
    let others: Map<number, { epoch: number; lastSeq: number }> | undefined;
    for (let i = 0; i < items.length; i++) {
      const batch = headerOf(items[i] as T);
      if (!hasProducerId(batch)) continue;
      if ((batch.attributes & Attribute.control) !== 0) {
        return rejected(ErrorCodes.INVALID_RECORD, 'clients may not write control batches');
      }
      const known = this.entries.get(batch.producerId);
      if (i === 0 && known !== undefined) {
        const duplicate = findDuplicate(known, items, headerOf);
        if (duplicate !== undefined) return duplicate;
      }
      let verdict: AppendAnalysis | undefined;
      if (batch.producerId === pid) verdict = checkSequence(known, true, pidEpoch, pidLastSeq, batch);
      else {
        const before = others?.get(batch.producerId);
        verdict = checkSequence(known, before !== undefined, before?.epoch ?? 0, before?.lastSeq ?? 0, batch);
      }
      if (verdict !== undefined) return verdict;
      if (pid === NO_PRODUCER_ID || batch.producerId === pid) {
        pid = batch.producerId;
        pidEpoch = batch.producerEpoch;
        pidLastSeq = lastSequenceOf(batch);
      } else {
        others ??= new Map();
        others.set(batch.producerId, { epoch: batch.producerEpoch, lastSeq: lastSequenceOf(batch) });
      }
    }
    return APPEND;
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
   * Records an appended batch. For a control batch `controlType` says whether it commits or aborts, and
   * `coordinatorEpoch` which coordinator wrote it; the transaction it ends is returned. The batch's
   * offsets and timestamp are `baseOffset` and `maxTimestamp` (the header's unless given: the append
   * chain stamps them in the bytes, not in the header it decoded).
   */
  apply(
    batch: BatchHeader,
    control?: { readonly type: number; readonly coordinatorEpoch: number },
    baseOffset = batch.baseOffset,
    maxTimestamp = batch.maxTimestamp,
  ): CompletedTxn | undefined {
    if (!hasProducerId(batch)) return undefined;
    const producerId = batch.producerId;
    const known = this.entries.get(producerId);
    if (this.writing && known?.write !== this.write) this.saveForUndo(producerId, known);
    const firstOffset = baseOffset;
    const lastOffset = baseOffset + batch.lastOffsetDelta;
    const epoch = batch.producerEpoch;
    const sameEpoch = known !== undefined && known.epoch === epoch;
    const lastTimestampMs = Math.max(known?.lastTimestampMs ?? 0, maxTimestamp);
    const openTxn = known?.currentTxnFirstOffset ?? -1;
    // A version of the same log: the same batches (same epoch), or none (from the end).
    let log = known?.log ?? EMPTY_LOG;
    let to = known?.to ?? 0;
    let from = sameEpoch ? known.from : to;
    if ((batch.attributes & Attribute.control) !== 0) {
      this.verifiedTxnStart.delete(producerId);
      const coordinatorEpoch = control?.coordinatorEpoch ?? known?.coordinatorEpoch ?? -1;
      this.entries.set(
        producerId,
        new Entry(producerId, epoch, lastTimestampMs, coordinatorEpoch, -1, log, from, to, this.write),
      );
      if (openTxn < 0) return undefined;
      return { producerId, firstOffset: openTxn, lastOffset, aborted: control?.type !== ControlType.commit };
    }
    if (to !== log.used || to === log.capacity) {
      // Not the last version written (an undo put it back), or the log is full: a new log.
      const keep = Math.min(to - from, PRODUCER_BATCHES_RETAINED - 1);
      const capacity = Math.min(LOG_CAPACITY, Math.max(FIRST_CAPACITY, 2 * (keep + 1)));
      const next = new BatchLog(new Float64Array(capacity * FIELDS));
      next.data.set(log.data.subarray((to - keep) * FIELDS, to * FIELDS));
      next.used = keep;
      log = next;
      from = 0;
      to = keep;
    }
    const at = to * FIELDS;
    const data = log.data;
    data[at + FIRST_SEQ] = batch.baseSequence;
    data[at + LAST_SEQ] = lastSequenceOf(batch);
    data[at + FIRST_OFFSET] = firstOffset;
    data[at + LAST_OFFSET] = lastOffset;
    data[at + MAX_TIMESTAMP] = maxTimestamp;
    to++;
    log.used = to;
    if (to - from > PRODUCER_BATCHES_RETAINED) from = to - PRODUCER_BATCHES_RETAINED;
    const transactional = (batch.attributes & Attribute.transactional) !== 0;
    const txnFirstOffset = transactional && openTxn < 0 ? firstOffset : openTxn;
    const coordinatorEpoch = known?.coordinatorEpoch ?? -1;
    this.entries.set(
      producerId,
      new Entry(producerId, epoch, lastTimestampMs, coordinatorEpoch, txnFirstOffset, log, from, to, this.write),
    );
    return undefined;
  }

  /**
   * From here to commitWrite/abortWrite, applies can be undone (a run whose CRC check failed): the
   * entry each producer had before the write's first apply of it is kept.
   */
  beginWrite(): void {
    this.releaseUndo();
    this.write++;
    this.writing = true;
  }

  commitWrite(): void {
    this.releaseUndo();
    this.writing = false;
  }

  /** Puts back every entry the write changed as it was before (or its absence). */
  abortWrite(): void {
    for (let i = 0; i < this.undoCount; i++) this.restore(this.undoIds[i] as number, this.undoEntries[i]);
    this.releaseUndo();
    this.writing = false;
  }

  private saveForUndo(producerId: number, entry: Entry | undefined): void {
    this.undoIds[this.undoCount] = producerId;
    this.undoEntries[this.undoCount] = entry;
    this.undoCount++;
  }

  /** Between beginWrite and commitWrite/abortWrite. */
  get inWrite(): boolean {
    return this.writing;
  }

  private releaseUndo(): void {
    for (let i = 0; i < this.undoCount; i++) this.undoEntries[i] = undefined;
    this.undoCount = 0;
  }

  /** Puts back an entry as it was (or its absence). */
  restore(producerId: number, entry: ProducerEntry | undefined): void {
    if (entry === undefined) this.entries.delete(producerId);
    else this.entries.set(producerId, toEntry(entry, -1));
  }

  /** Replaces the whole table (a snapshot loaded, or nothing after the log was emptied). */
  reset(entries: Iterable<ProducerEntry> = []): void {
    this.entries.clear();
    this.verifiedTxnStart.clear();
    for (const entry of entries) this.entries.set(entry.producerId, toEntry(entry, -1));
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

  /**
   * Drops what only batches below `offset` taught (retention deleted them): Kafka's truncateHead. An
   * entry's batches are in offset order, so what is left of them is a suffix.
   */
  removeBatchesBefore(offset: number): void {
    for (const entry of [...this.entries.values()]) {
      let from = entry.from;
      while (from < entry.to && entry.field(from, LAST_OFFSET) < offset) from++;
      if (from === entry.from) continue;
      if (from === entry.to && entry.currentTxnFirstOffset < 0) this.entries.delete(entry.producerId);
      else {
        const { producerId, epoch, lastTimestampMs, coordinatorEpoch, currentTxnFirstOffset, log, to } = entry;
        this.entries.set(
          producerId,
          new Entry(producerId, epoch, lastTimestampMs, coordinatorEpoch, currentTxnFirstOffset, log, from, to, -1),
        );
      }
    }
  }
}

/**
 * The offsets a repeated request got the first time: its batches (all of one producer and epoch)
 * cover exactly a run of the retained batches, from one's first sequence to another's last.
 */
function findDuplicate<T>(
  entry: Entry,
  items: readonly T[],
  headerOf: (item: T) => BatchHeader,
): AppendAnalysis | undefined {
  const first = headerOf(items[0] as T);
  if (entry.epoch !== first.producerEpoch) return undefined;
  for (let i = 1; i < items.length; i++) {
    const b = headerOf(items[i] as T);
    if (b.producerId !== first.producerId || b.producerEpoch !== first.producerEpoch) return undefined;
  }
  let start = entry.from;
  while (start < entry.to && entry.field(start, FIRST_SEQ) !== first.baseSequence) start++;
  if (start === entry.to) return undefined;
  const lastSeq = lastSequenceOf(headerOf(items[items.length - 1] as T));
  for (let i = start; i < entry.to; i++) {
    if (entry.field(i, LAST_SEQ) === lastSeq) {
      return {
        kind: 'duplicate',
        firstOffset: entry.field(start, FIRST_OFFSET),
        lastOffset: entry.field(i, LAST_OFFSET),
      };
    }
  }
  return undefined;
}

/** `pending`: an earlier batch of the request is this producer's, and left `pendingEpoch` and `pendingLastSeq`. */
function checkSequence(
  known: Entry | undefined,
  pending: boolean,
  pendingEpoch: number,
  pendingLastSeq: number,
  batch: BatchHeader,
): AppendAnalysis | undefined {
  const currentEpoch = pending ? pendingEpoch : (known?.epoch ?? NO_PRODUCER_EPOCH);
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
  const lastSeq = pending ? pendingLastSeq : (known?.lastSeq() ?? NO_SEQUENCE);
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
