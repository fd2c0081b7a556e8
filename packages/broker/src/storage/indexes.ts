/**
 * In-memory images of a segment's two sparse indexes. The files are written from these images on
 * roll, flush and close; after an unclean shutdown they are rebuilt from the log, so the hot path
 * never touches the index files.
 *
 *   .index      8-byte entries: relative offset int32, file position int32 (offset -> position)
 *   .timeindex 12-byte entries: timestamp int64, relative offset int32 (Kafka's layout)
 */
export const OFFSET_INDEX_ENTRY_SIZE = 8;
export const TIME_INDEX_ENTRY_SIZE = 12;

/** Thrown when an index file is inconsistent; the caller rebuilds the index from the log. */
export class IndexCorruptError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'IndexCorruptError';
  }
}

function grow(array: Int32Array<ArrayBuffer>, needed: number): Int32Array<ArrayBuffer> {
  if (needed <= array.length) return array;
  const next = new Int32Array(Math.max(needed, array.length * 2, 16));
  next.set(array);
  return next;
}

function growFloat(array: Float64Array<ArrayBuffer>, needed: number): Float64Array<ArrayBuffer> {
  if (needed <= array.length) return array;
  const next = new Float64Array(Math.max(needed, array.length * 2, 16));
  next.set(array);
  return next;
}

export class OffsetIndex {
  private relOffsets: Int32Array<ArrayBuffer> = new Int32Array(16);
  private positions: Int32Array<ArrayBuffer> = new Int32Array(16);
  private count = 0;

  get entries(): number {
    return this.count;
  }

  get sizeInBytes(): number {
    return this.count * OFFSET_INDEX_ENTRY_SIZE;
  }

  lastRelOffset(): number {
    return this.count === 0 ? -1 : this.relOffsets[this.count - 1]!;
  }

  lastPosition(): number {
    return this.count === 0 ? 0 : this.positions[this.count - 1]!;
  }

  /** Entries must arrive in increasing offset and position order. */
  append(relOffset: number, position: number): void {
    if (
      this.count > 0 &&
      (relOffset <= this.relOffsets[this.count - 1]! || position <= this.positions[this.count - 1]!)
    ) {
      throw new Error(
        `offset index entries must increase: (${relOffset}, ${position}) ` +
          `after (${this.lastRelOffset()}, ${this.lastPosition()})`,
      );
    }
    this.relOffsets = grow(this.relOffsets, this.count + 1);
    this.positions = grow(this.positions, this.count + 1);
    this.relOffsets[this.count] = relOffset;
    this.positions[this.count] = position;
    this.count++;
  }

  /** The entry with the largest relative offset <= target, or {relOffset: -1, position: 0}. */
  lookup(targetRelOffset: number): { relOffset: number; position: number } {
    let lo = 0;
    let hi = this.count - 1;
    let found = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      if (this.relOffsets[mid]! <= targetRelOffset) {
        found = mid;
        lo = mid + 1;
      } else {
        hi = mid - 1;
      }
    }
    return found < 0
      ? { relOffset: -1, position: 0 }
      : { relOffset: this.relOffsets[found]!, position: this.positions[found]! };
  }

  /** Drops every entry at or after `relOffset` or pointing at or past `position`. */
  truncate(relOffset: number, position: number): void {
    while (
      this.count > 0 &&
      (this.relOffsets[this.count - 1]! >= relOffset || this.positions[this.count - 1]! >= position)
    )
      this.count--;
  }

  truncateToEntries(count: number): void {
    this.count = Math.min(this.count, count);
  }

  toBuffer(): Buffer {
    const buf = Buffer.allocUnsafe(this.count * OFFSET_INDEX_ENTRY_SIZE);
    for (let i = 0; i < this.count; i++) {
      buf.writeInt32BE(this.relOffsets[i]!, i * OFFSET_INDEX_ENTRY_SIZE);
      buf.writeInt32BE(this.positions[i]!, i * OFFSET_INDEX_ENTRY_SIZE + 4);
    }
    return buf;
  }

  /** Parses and checks an index file: strictly increasing entries inside the segment's bounds. */
  static fromBuffer(buf: Buffer, logSize: number, maxRelOffset: number): OffsetIndex {
    if (buf.length % OFFSET_INDEX_ENTRY_SIZE !== 0)
      throw new IndexCorruptError(`offset index size ${buf.length} is not a multiple of ${OFFSET_INDEX_ENTRY_SIZE}`);
    const index = new OffsetIndex();
    const n = buf.length / OFFSET_INDEX_ENTRY_SIZE;
    index.relOffsets = new Int32Array(Math.max(n, 16));
    index.positions = new Int32Array(Math.max(n, 16));
    let prevRel = -1;
    let prevPos = -1;
    for (let i = 0; i < n; i++) {
      const rel = buf.readInt32BE(i * OFFSET_INDEX_ENTRY_SIZE);
      const pos = buf.readInt32BE(i * OFFSET_INDEX_ENTRY_SIZE + 4);
      if (rel <= prevRel || pos <= prevPos || rel > maxRelOffset || pos >= logSize) {
        throw new IndexCorruptError(`offset index entry ${i} (${rel}, ${pos}) is out of order or out of bounds`);
      }
      index.relOffsets[i] = rel;
      index.positions[i] = pos;
      prevRel = rel;
      prevPos = pos;
    }
    index.count = n;
    return index;
  }
}

export class TimeIndex {
  private timestamps: Float64Array<ArrayBuffer> = new Float64Array(16);
  private relOffsets: Int32Array<ArrayBuffer> = new Int32Array(16);
  private count = 0;

  get entries(): number {
    return this.count;
  }

  lastTimestamp(): number {
    return this.count === 0 ? -1 : this.timestamps[this.count - 1]!;
  }

  lastRelOffset(): number {
    return this.count === 0 ? -1 : this.relOffsets[this.count - 1]!;
  }

  /** Appends only when the timestamp grows: entries are (max timestamp so far, its offset). */
  maybeAppend(timestamp: number, relOffset: number): void {
    if (timestamp <= this.lastTimestamp()) return;
    if (relOffset < this.lastRelOffset()) return;
    this.timestamps = growFloat(this.timestamps, this.count + 1);
    this.relOffsets = grow(this.relOffsets, this.count + 1);
    this.timestamps[this.count] = timestamp;
    this.relOffsets[this.count] = relOffset;
    this.count++;
  }

  /**
   * The relative offset of the last entry whose timestamp is strictly below `target`: every record
   * up to and including it is older than target, so a search may start after it. -1 if none.
   */
  lastRelOffsetBefore(target: number): number {
    let lo = 0;
    let hi = this.count - 1;
    let found = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      if (this.timestamps[mid]! < target) {
        found = mid;
        lo = mid + 1;
      } else {
        hi = mid - 1;
      }
    }
    return found < 0 ? -1 : this.relOffsets[found]!;
  }

  /** Drops entries for offsets at or after `relOffset`. */
  truncate(relOffset: number): void {
    while (this.count > 0 && this.relOffsets[this.count - 1]! >= relOffset) this.count--;
  }

  truncateToEntries(count: number): void {
    this.count = Math.min(this.count, count);
  }

  toBuffer(): Buffer {
    const buf = Buffer.allocUnsafe(this.count * TIME_INDEX_ENTRY_SIZE);
    for (let i = 0; i < this.count; i++) {
      buf.writeBigInt64BE(BigInt(this.timestamps[i]!), i * TIME_INDEX_ENTRY_SIZE);
      buf.writeInt32BE(this.relOffsets[i]!, i * TIME_INDEX_ENTRY_SIZE + 8);
    }
    return buf;
  }

  static fromBuffer(buf: Buffer, maxRelOffset: number): TimeIndex {
    if (buf.length % TIME_INDEX_ENTRY_SIZE !== 0)
      throw new IndexCorruptError(`time index size ${buf.length} is not a multiple of ${TIME_INDEX_ENTRY_SIZE}`);
    const index = new TimeIndex();
    const n = buf.length / TIME_INDEX_ENTRY_SIZE;
    index.timestamps = new Float64Array(Math.max(n, 16));
    index.relOffsets = new Int32Array(Math.max(n, 16));
    let prevTs = -Infinity;
    let prevRel = -1;
    for (let i = 0; i < n; i++) {
      const ts = Number(buf.readBigInt64BE(i * TIME_INDEX_ENTRY_SIZE));
      const rel = buf.readInt32BE(i * TIME_INDEX_ENTRY_SIZE + 8);
      if (!Number.isSafeInteger(ts) || ts <= prevTs || rel < prevRel || rel > maxRelOffset) {
        throw new IndexCorruptError(`time index entry ${i} (${ts}, ${rel}) is out of order or out of bounds`);
      }
      index.timestamps[i] = ts;
      index.relOffsets[i] = rel;
      prevTs = ts;
      prevRel = rel;
    }
    index.count = n;
    return index;
  }
}
