import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BATCH_HEADER_SIZE, BatchField, LOG_OVERHEAD, MAGIC_V2, writeBatchCrc } from '@samsa/protocol';

export interface TestBatchOptions {
  /** Records in the batch (default 1). */
  readonly count?: number;
  /** Value bytes per record (default 10). */
  readonly valueSize?: number;
  /** Timestamp of the first record (default 1_000). */
  readonly baseTimestamp?: number;
  /** Per-record timestamps; defaults to baseTimestamp for every record. */
  readonly timestamps?: readonly number[];
  readonly attributes?: number;
  /** Base offset and leader epoch written into the batch (a producer sends 0 and -1). */
  readonly baseOffset?: number;
  readonly leaderEpoch?: number;
  /** Fill byte for the values, so batches can be told apart. */
  readonly fill?: number;
}

/**
 * A valid Kafka v2 batch of uncompressed records with no key, `valueSize`-byte values and real
 * per-record timestamp deltas. Storage never decodes records; the time lookup reads their timestamps.
 */
export function makeBatch(options: TestBatchOptions = {}): Buffer {
  const count = options.count ?? 1;
  const valueSize = options.valueSize ?? 10;
  const baseTimestamp = options.baseTimestamp ?? 1_000;
  const timestamps = options.timestamps ?? Array.from({ length: count }, () => baseTimestamp);
  const first = timestamps[0] ?? baseTimestamp;
  const records = timestamps.map((ts, i) => {
    const body = Buffer.concat([
      Buffer.from([0]),
      varint(ts - first),
      varint(i),
      varint(-1),
      varint(valueSize),
      Buffer.alloc(valueSize, options.fill ?? 0x61 + (i % 26)),
      varint(0),
    ]);
    return Buffer.concat([varint(body.length), body]);
  });
  const header = Buffer.alloc(BATCH_HEADER_SIZE);
  const buf = Buffer.concat([header, ...records]);
  buf.writeBigInt64BE(BigInt(options.baseOffset ?? 0), BatchField.baseOffset);
  buf.writeInt32BE(buf.length - LOG_OVERHEAD, BatchField.batchLength);
  buf.writeInt32BE(options.leaderEpoch ?? -1, BatchField.partitionLeaderEpoch);
  buf.writeInt8(MAGIC_V2, BatchField.magic);
  buf.writeInt16BE(options.attributes ?? 0, BatchField.attributes);
  buf.writeInt32BE(count - 1, BatchField.lastOffsetDelta);
  buf.writeBigInt64BE(BigInt(first), BatchField.baseTimestamp);
  buf.writeBigInt64BE(BigInt(Math.max(first, ...timestamps)), BatchField.maxTimestamp);
  buf.writeBigInt64BE(-1n, BatchField.producerId);
  buf.writeInt16BE(-1, BatchField.producerEpoch);
  buf.writeInt32BE(-1, BatchField.baseSequence);
  buf.writeInt32BE(count, BatchField.recordCount);
  writeBatchCrc(buf, 0, { batchLength: buf.length - LOG_OVERHEAD });
  return buf;
}

function varint(value: number): Buffer {
  let zigzag = value >= 0 ? value * 2 : -value * 2 - 1;
  const bytes: number[] = [];
  while (zigzag >= 0x80) {
    bytes.push((zigzag & 0x7f) | 0x80);
    zigzag = Math.floor(zigzag / 128);
  }
  bytes.push(zigzag);
  return Buffer.from(bytes);
}

/** A temporary directory per test; remove() deletes it. */
export async function tempDir(prefix = 'samsa-storage-'): Promise<{ path: string; remove: () => Promise<void> }> {
  const path = await mkdtemp(join(tmpdir(), prefix));
  return { path, remove: () => rm(path, { recursive: true, force: true }) };
}

/** A manual clock for rolls, retention and flush.ms. */
export class ManualClock {
  constructor(public nowMs = 1_700_000_000_000) {}
  readonly now = (): number => this.nowMs;
  advance(ms: number): void {
    this.nowMs += ms;
  }
}
