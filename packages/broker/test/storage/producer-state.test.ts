import { Attribute, type BatchHeader, ErrorCodes } from '@samsa/protocol';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  CorruptSnapshotError,
  decodeSnapshot,
  encodeSnapshot,
  snapshotFileName,
  snapshotOffsetOf,
} from '../../src/storage/producer-snapshot.js';
import {
  ControlType,
  lastSequenceOf,
  PRODUCER_BATCHES_RETAINED,
  ProducerStateTable,
} from '../../src/storage/producer-state.js';

interface BatchSpec {
  pid: number;
  epoch: number;
  seq: number;
  count: number;
  base?: number;
  transactional?: boolean;
  control?: boolean;
  timestamp?: number;
}

function header(spec: BatchSpec): BatchHeader {
  const attributes = (spec.transactional ? Attribute.transactional : 0) | (spec.control ? Attribute.control : 0);
  return {
    baseOffset: spec.base ?? 0,
    batchLength: 100,
    partitionLeaderEpoch: 0,
    magic: 2,
    crc: 0,
    attributes,
    lastOffsetDelta: spec.count - 1,
    baseTimestamp: spec.timestamp ?? 1000,
    maxTimestamp: spec.timestamp ?? 1000,
    producerId: spec.pid,
    producerEpoch: spec.epoch,
    baseSequence: spec.seq,
    recordCount: spec.count,
  };
}

/** A tiny log: analyzes, then appends at the end and applies, as the partition log's driver does. */
class TinyLog {
  readonly table = new ProducerStateTable();
  readonly batches: BatchHeader[] = [];
  end = 0;

  produce(spec: BatchSpec): ReturnType<ProducerStateTable['analyze']> & { firstOffset?: number } {
    const candidate = header(spec);
    const verdict = this.table.analyze([candidate]);
    if (verdict.kind !== 'append') return verdict;
    const stamped = { ...candidate, baseOffset: this.end };
    this.end += spec.count;
    this.batches.push(stamped);
    this.table.apply(stamped);
    return { ...verdict, firstOffset: stamped.baseOffset };
  }
}

describe('producer state', () => {
  it('answers a retried batch with its original offsets instead of appending it again', () => {
    const log = new TinyLog();
    expect(log.produce({ pid: 7, epoch: 0, seq: 0, count: 3 })).toMatchObject({ kind: 'append', firstOffset: 0 });
    expect(log.produce({ pid: 7, epoch: 0, seq: 3, count: 2 })).toMatchObject({ kind: 'append', firstOffset: 3 });
    expect(log.produce({ pid: 7, epoch: 0, seq: 0, count: 3 })).toEqual({
      kind: 'duplicate',
      firstOffset: 0,
      lastOffset: 2,
    });
    expect(log.produce({ pid: 7, epoch: 0, seq: 3, count: 2 })).toEqual({
      kind: 'duplicate',
      firstOffset: 3,
      lastOffset: 4,
    });
    expect(log.end).toBe(5);
  });

  it('remembers the last PRODUCER_BATCHES_RETAINED batches per producer', () => {
    const log = new TinyLog();
    const n = PRODUCER_BATCHES_RETAINED;
    for (let i = 0; i <= n; i++) log.produce({ pid: 1, epoch: 0, seq: i, count: 1 });
    expect(log.table.entry(1)?.batches.map((b) => b.firstSeq)).toEqual(Array.from({ length: n }, (_, i) => i + 1));
    expect(log.produce({ pid: 1, epoch: 0, seq: 1, count: 1 }).kind).toBe('duplicate');
    // The oldest is forgotten: its retry is out of order, never a second copy.
    expect(log.produce({ pid: 1, epoch: 0, seq: 0, count: 1 })).toMatchObject({
      kind: 'rejected',
      error: ErrorCodes.OUT_OF_ORDER_SEQUENCE_NUMBER,
    });
  });

  it('refuses a gap, an old epoch and a new epoch that does not start at 0', () => {
    const log = new TinyLog();
    log.produce({ pid: 1, epoch: 3, seq: 0, count: 2 });
    expect(log.produce({ pid: 1, epoch: 3, seq: 5, count: 1 })).toMatchObject({
      error: ErrorCodes.OUT_OF_ORDER_SEQUENCE_NUMBER,
    });
    expect(log.produce({ pid: 1, epoch: 2, seq: 2, count: 1 })).toMatchObject({
      error: ErrorCodes.INVALID_PRODUCER_EPOCH,
    });
    expect(log.produce({ pid: 1, epoch: 4, seq: 2, count: 1 })).toMatchObject({
      error: ErrorCodes.OUT_OF_ORDER_SEQUENCE_NUMBER,
    });
    expect(log.produce({ pid: 1, epoch: 4, seq: 0, count: 1 }).kind).toBe('append');
    expect(log.table.entry(1)?.epoch).toBe(4);
  });

  it('lets a producer it does not know start at any sequence (its state expired or was deleted)', () => {
    const log = new TinyLog();
    expect(log.produce({ pid: 9, epoch: 0, seq: 1234, count: 1 }).kind).toBe('append');
    expect(log.produce({ pid: 9, epoch: 0, seq: 1235, count: 1 }).kind).toBe('append');
  });

  it('wraps sequences at 2^31 - 1', () => {
    expect(lastSequenceOf({ baseSequence: 0x7ffffffe, lastOffsetDelta: 2 })).toBe(0);
    const log = new TinyLog();
    log.produce({ pid: 2, epoch: 0, seq: 0x7ffffffe, count: 2 });
    expect(log.produce({ pid: 2, epoch: 0, seq: 0, count: 1 }).kind).toBe('append');
  });

  it('recognises a repeated request of several batches, however the first copy was grouped', () => {
    const table = new ProducerStateTable();
    // The first copy: three batches appended as one request (offsets 0-5), then one more batch.
    for (const [seq, base] of [
      [0, 0],
      [2, 2],
      [4, 4],
      [6, 6],
    ] as const) {
      table.apply(header({ pid: 1, epoch: 0, seq, count: 2, base }));
    }
    const retry = [0, 2, 4].map((seq) => header({ pid: 1, epoch: 0, seq, count: 2 }));
    expect(table.analyze(retry)).toEqual({ kind: 'duplicate', firstOffset: 0, lastOffset: 5 });
    expect(table.analyze([header({ pid: 1, epoch: 0, seq: 2, count: 6 })])).toMatchObject({ kind: 'duplicate' });
    expect(table.analyze([header({ pid: 1, epoch: 0, seq: 3, count: 2 })])).toMatchObject({ kind: 'rejected' });
    expect(table.analyze([header({ pid: 1, epoch: 0, seq: 8, count: 1 })])).toEqual({ kind: 'append' });
  });

  it('refuses a repeated request of which a new leader holds only a prefix; its batches alone pass', () => {
    // The first copy ([0-1], [2-3]) was appended by the old leader; this follower's fetch ended between them.
    const table = new ProducerStateTable();
    table.apply(header({ pid: 1, epoch: 0, seq: 0, count: 2, base: 0 }));
    const retry = [0, 2].map((seq) => header({ pid: 1, epoch: 0, seq, count: 2 }));
    // Neither a duplicate nor in sequence: why the SDK retries a failed request one batch at a time.
    expect(table.analyze(retry)).toMatchObject({
      kind: 'rejected',
      error: { code: ErrorCodes.OUT_OF_ORDER_SEQUENCE_NUMBER.code },
    });
    expect(table.analyze([retry[0]!])).toEqual({ kind: 'duplicate', firstOffset: 0, lastOffset: 1 });
    expect(table.analyze([retry[1]!])).toEqual({ kind: 'append' });
  });

  it('checks the batches of one request against each other', () => {
    const table = new ProducerStateTable();
    expect(
      table.analyze([header({ pid: 1, epoch: 0, seq: 0, count: 2 }), header({ pid: 1, epoch: 0, seq: 2, count: 1 })]),
    ).toEqual({ kind: 'append' });
    expect(
      table.analyze([header({ pid: 1, epoch: 0, seq: 0, count: 2 }), header({ pid: 1, epoch: 0, seq: 3, count: 1 })]),
    ).toMatchObject({ error: ErrorCodes.OUT_OF_ORDER_SEQUENCE_NUMBER });
  });

  it('refuses control batches from clients and leaves batches without a producer id alone', () => {
    const table = new ProducerStateTable();
    expect(table.analyze([header({ pid: 1, epoch: 0, seq: 0, count: 1, control: true })])).toMatchObject({
      error: ErrorCodes.INVALID_RECORD,
    });
    expect(table.analyze([header({ pid: -1, epoch: -1, seq: -1, count: 5 })])).toEqual({ kind: 'append' });
    table.apply(header({ pid: -1, epoch: -1, seq: -1, count: 5 }));
    expect(table.size).toBe(0);
  });

  it('tracks open transactions for the last stable offset and ends them with a marker', () => {
    const table = new ProducerStateTable();
    table.apply(header({ pid: 1, epoch: 0, seq: 0, count: 2, base: 10, transactional: true }));
    table.apply(header({ pid: 2, epoch: 0, seq: 0, count: 1, base: 12, transactional: true }));
    table.apply(header({ pid: 1, epoch: 0, seq: 2, count: 1, base: 13, transactional: true }));
    expect(table.firstUnstableOffset()).toBe(10);
    const ended = table.apply(header({ pid: 1, epoch: 0, seq: -1, count: 1, base: 14, control: true }), {
      type: ControlType.abort,
      coordinatorEpoch: 3,
    });
    expect(ended).toEqual({ producerId: 1, firstOffset: 10, lastOffset: 14, aborted: true });
    expect(table.firstUnstableOffset()).toBe(12);
    expect(table.entry(1)?.coordinatorEpoch).toBe(3);
    const committed = table.apply(header({ pid: 2, epoch: 0, seq: -1, count: 1, base: 15, control: true }), {
      type: ControlType.commit,
      coordinatorEpoch: 3,
    });
    expect(committed?.aborted).toBe(false);
    expect(table.firstUnstableOffset()).toBeUndefined();
  });

  it('forgets idle producers after producer.id.expiration.ms, but not one with an open transaction', () => {
    const table = new ProducerStateTable();
    table.apply(header({ pid: 1, epoch: 0, seq: 0, count: 1, timestamp: 1_000 }));
    table.apply(header({ pid: 2, epoch: 0, seq: 0, count: 1, timestamp: 1_000, transactional: true }));
    table.apply(header({ pid: 3, epoch: 0, seq: 0, count: 1, timestamp: 50_000 }));
    expect(table.removeExpired(60_000, 30_000)).toEqual([1]);
    expect(table.all().map((e) => e.producerId)).toEqual([2, 3]);
  });

  it('drops what only deleted batches taught', () => {
    const table = new ProducerStateTable();
    table.apply(header({ pid: 1, epoch: 0, seq: 0, count: 5, base: 0 }));
    table.apply(header({ pid: 2, epoch: 0, seq: 0, count: 5, base: 5 }));
    table.removeBatchesBefore(5);
    expect(table.all().map((e) => e.producerId)).toEqual([2]);
  });
});

describe('producer state snapshots', () => {
  it('names files by offset', () => {
    expect(snapshotFileName(42)).toBe('00000000000000000042.snapshot');
    expect(snapshotOffsetOf('00000000000000000042.snapshot')).toBe(42);
    expect(snapshotOffsetOf('00000000000000000042.log')).toBeUndefined();
  });

  it('round-trips the table; one rebuilt from a snapshot plus the later batches equals one built from scratch', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.record({
            pid: fc.integer({ min: 0, max: 4 }),
            epochBump: fc.boolean(),
            count: fc.integer({ min: 1, max: 4 }),
            transactional: fc.boolean(),
            marker: fc.constantFrom(undefined, ControlType.abort, ControlType.commit),
          }),
          { maxLength: 60 },
        ),
        fc.nat(),
        (steps, cut) => {
          const batches: Array<{ h: BatchHeader; control?: { type: number; coordinatorEpoch: number } }> = [];
          const next = new Map<number, { epoch: number; seq: number }>();
          let offset = 0;
          for (const step of steps) {
            const state = next.get(step.pid) ?? { epoch: 0, seq: 0 };
            if (step.epochBump) next.set(step.pid, { epoch: state.epoch + 1, seq: 0 });
            const cur = next.get(step.pid) ?? state;
            if (step.marker !== undefined) {
              batches.push({
                h: header({ pid: step.pid, epoch: cur.epoch, seq: -1, count: 1, base: offset, control: true }),
                control: { type: step.marker, coordinatorEpoch: 1 },
              });
              offset += 1;
              continue;
            }
            const h = header({ ...step, epoch: cur.epoch, seq: cur.seq, base: offset, timestamp: offset });
            batches.push({ h });
            next.set(step.pid, { epoch: cur.epoch, seq: cur.seq + step.count });
            offset += step.count;
          }
          const full = new ProducerStateTable();
          for (const b of batches) full.apply(b.h, b.control);
          const at = batches.length === 0 ? 0 : cut % batches.length;
          const partial = new ProducerStateTable();
          for (const b of batches.slice(0, at)) partial.apply(b.h, b.control);
          const snapshotOffset = batches[at]?.h.baseOffset ?? offset;
          const decoded = decodeSnapshot(encodeSnapshot({ offset: snapshotOffset, entries: partial.all() }));
          expect(decoded.offset).toBe(snapshotOffset);
          const rebuilt = new ProducerStateTable(decoded.entries);
          for (const b of batches.slice(at)) rebuilt.apply(b.h, b.control);
          expect(rebuilt.all()).toEqual(full.all());
        },
      ),
      { numRuns: 300 },
    );
  });

  it('decoding is total: damaged bytes are a CorruptSnapshotError, never a crash or a wrong table', () => {
    const table = new ProducerStateTable();
    table.apply(header({ pid: 1, epoch: 0, seq: 0, count: 3 }));
    table.apply(header({ pid: 2, epoch: 1, seq: 0, count: 1, base: 3, transactional: true }));
    const good = encodeSnapshot({ offset: 4, entries: table.all() });
    fc.assert(
      fc.property(fc.nat(good.length - 1), fc.integer({ min: 1, max: 255 }), fc.nat(good.length), (at, xor, cut) => {
        const flipped = Buffer.from(good);
        flipped[at]! ^= xor;
        expect(() => decodeSnapshot(flipped)).toThrow(CorruptSnapshotError);
        if (cut < good.length) expect(() => decodeSnapshot(good.subarray(0, cut))).toThrow(CorruptSnapshotError);
      }),
    );
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => {
        try {
          decodeSnapshot(Buffer.from(bytes));
        } catch (error) {
          expect(error).toBeInstanceOf(CorruptSnapshotError);
        }
      }),
    );
  });
});

describe('exactly once through retries (seeded)', () => {
  it('a producer with five requests in flight over a lossy link writes every sequence once, in order', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 2 ** 31 - 1 }), (seed) => {
        let state = seed >>> 0;
        const random = () => {
          // mulberry32
          state = (state + 0x6d2b79f5) >>> 0;
          let t = Math.imul(state ^ (state >>> 15), state | 1);
          t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
          return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
        };
        const log = new TinyLog();
        const ranges = Array.from({ length: 40 }, (_, i) => ({ seq: i * 2, count: 2 }));
        let acked = 0;
        for (let round = 0; round < 2_000 && acked < ranges.length; round++) {
          // One connection's life. TCP delivers requests in order: a connection that breaks loses the
          // rest of the window. Responses come back in order too, and a lost one means the connection
          // broke after the broker appended: those batches landed but are retried as if they had not.
          const window = ranges.slice(acked, acked + 5);
          const delivered = window.findIndex(() => random() < 0.2);
          let answered = true;
          for (const range of delivered < 0 ? window : window.slice(0, delivered)) {
            const verdict = log.produce({ pid: 5, epoch: 0, seq: range.seq, count: range.count });
            expect(verdict.kind).not.toBe('rejected');
            if (random() < 0.2) answered = false;
            if (answered) acked++;
          }
        }
        expect(acked).toBe(ranges.length);
        expect(log.batches.map((b) => b.baseSequence)).toEqual(ranges.map((r) => r.seq));
      }),
      { numRuns: 200 },
    );
  });
});
