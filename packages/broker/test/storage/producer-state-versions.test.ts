import { Attribute, type BatchHeader, lastOffsetOf } from '@samsa/protocol';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  ControlType,
  lastSequenceOf,
  PRODUCER_BATCHES_RETAINED,
  type ProducerBatch,
  type ProducerEntry,
  ProducerStateTable,
} from '../../src/storage/producer-state.js';

/**
 * The table shares one array of batches between the versions of a producer's entry (no copy per
 * append). Checked here against the plainest model: an entry copied at every apply, and an undo that
 * puts back the copies taken before a write, over many appends (several compactions of the shared
 * array), failed runs, epoch bumps, markers and retention, while versions handed out earlier must
 * keep what they held.
 */
interface ModelEntry {
  producerId: number;
  epoch: number;
  batches: ProducerBatch[];
  lastTimestampMs: number;
  coordinatorEpoch: number;
  currentTxnFirstOffset: number;
}

class Model {
  entries = new Map<number, ModelEntry>();
  private saved: Map<number, ModelEntry | undefined> | undefined;

  begin(): void {
    this.saved = new Map();
  }

  commit(): void {
    this.saved = undefined;
  }

  abort(): void {
    for (const [pid, entry] of this.saved ?? []) {
      if (entry === undefined) this.entries.delete(pid);
      else this.entries.set(pid, entry);
    }
    this.saved = undefined;
  }

  apply(h: BatchHeader, control?: { type: number; coordinatorEpoch: number }): void {
    const known = this.entries.get(h.producerId);
    if (this.saved !== undefined && !this.saved.has(h.producerId)) this.saved.set(h.producerId, known);
    const sameEpoch = known !== undefined && known.epoch === h.producerEpoch;
    const lastTimestampMs = Math.max(known?.lastTimestampMs ?? 0, h.maxTimestamp);
    if (control !== undefined) {
      this.entries.set(h.producerId, {
        producerId: h.producerId,
        epoch: h.producerEpoch,
        batches: sameEpoch ? known.batches : [],
        lastTimestampMs,
        coordinatorEpoch: control.coordinatorEpoch,
        currentTxnFirstOffset: -1,
      });
      return;
    }
    const batch = {
      firstSeq: h.baseSequence,
      lastSeq: lastSequenceOf(h),
      firstOffset: h.baseOffset,
      lastOffset: lastOffsetOf(h),
      maxTimestampMs: h.maxTimestamp,
    };
    const batches = [...(sameEpoch ? known.batches : []), batch].slice(-PRODUCER_BATCHES_RETAINED);
    const open = known?.currentTxnFirstOffset ?? -1;
    const transactional = (h.attributes & Attribute.transactional) !== 0;
    this.entries.set(h.producerId, {
      producerId: h.producerId,
      epoch: h.producerEpoch,
      batches,
      lastTimestampMs,
      coordinatorEpoch: known?.coordinatorEpoch ?? -1,
      currentTxnFirstOffset: transactional && open < 0 ? h.baseOffset : open,
    });
  }

  removeBatchesBefore(offset: number): void {
    for (const entry of [...this.entries.values()]) {
      const batches = entry.batches.filter((b) => b.lastOffset >= offset);
      if (batches.length === entry.batches.length) continue;
      if (batches.length === 0 && entry.currentTxnFirstOffset < 0) this.entries.delete(entry.producerId);
      else this.entries.set(entry.producerId, { ...entry, batches });
    }
  }

  all(): ModelEntry[] {
    return [...this.entries.values()].sort((a, b) => a.producerId - b.producerId);
  }
}

function header(pid: number, epoch: number, seq: number, count: number, base: number, attributes = 0): BatchHeader {
  return {
    baseOffset: base,
    batchLength: 100,
    partitionLeaderEpoch: 0,
    magic: 2,
    crc: 0,
    attributes,
    lastOffsetDelta: count - 1,
    baseTimestamp: base,
    maxTimestamp: base,
    producerId: pid,
    producerEpoch: epoch,
    baseSequence: seq,
    recordCount: count,
  };
}

const step = fc.record({
  pid: fc.integer({ min: 0, max: 2 }),
  count: fc.integer({ min: 1, max: 3 }),
  kind: fc.constantFrom('data', 'data', 'data', 'data', 'data', 'data', 'txn', 'bump', 'abort', 'commit'),
});
const write = fc.record({
  steps: fc.array(step, { minLength: 1, maxLength: 12 }),
  fails: fc.boolean(),
  retention: fc.nat({ max: 30 }),
  keep: fc.boolean(),
});

describe('producer state versions sharing one batch array', () => {
  it('match a table that copies per apply, over compactions, failed runs and retention', () => {
    fc.assert(
      fc.property(fc.array(write, { minLength: 20, maxLength: 120 }), (writes) => {
        const table = new ProducerStateTable();
        const model = new Model();
        const next = new Map<number, { epoch: number; seq: number }>();
        const kept: Array<{ entry: ProducerEntry; batches: ProducerBatch[] }> = [];
        let end = 0;
        for (const w of writes) {
          const before = { end, next: new Map(next) };
          table.beginWrite();
          model.begin();
          for (const s of w.steps) {
            const cur = next.get(s.pid) ?? { epoch: 0, seq: 0 };
            let h: BatchHeader;
            let control: { type: number; coordinatorEpoch: number } | undefined;
            if (s.kind === 'abort' || s.kind === 'commit') {
              const attributes = Attribute.control | Attribute.transactional;
              h = header(s.pid, cur.epoch + 1, -1, 1, end, attributes);
              control = { type: s.kind === 'abort' ? ControlType.abort : ControlType.commit, coordinatorEpoch: 1 };
              next.set(s.pid, { epoch: cur.epoch + 1, seq: 0 });
            } else {
              const epoch = s.kind === 'bump' ? cur.epoch + 1 : cur.epoch;
              const seq = s.kind === 'bump' ? 0 : cur.seq;
              h = header(s.pid, epoch, seq, s.count, end, s.kind === 'txn' ? Attribute.transactional : 0);
              next.set(s.pid, { epoch, seq: seq + s.count });
            }
            end = lastOffsetOf(h) + 1;
            table.apply(h, control);
            model.apply(h, control);
            // Read while the write is under way (a request reading the state while the run's write is on
            // the thread pool): this version must not change either, even once the run is undone.
            const version = table.entry(s.pid);
            const expected = model.entries.get(s.pid);
            if (w.keep && version !== undefined && expected) kept.push({ entry: version, batches: expected.batches });
          }
          if (w.fails) {
            table.abortWrite();
            model.abort();
            end = before.end;
            next.clear();
            for (const [pid, n] of before.next) next.set(pid, n);
          } else {
            table.commitWrite();
            model.commit();
          }
          if (w.retention === 0) {
            const offset = Math.max(0, end - 40);
            table.removeBatchesBefore(offset);
            model.removeBatchesBefore(offset);
          }
          expect(table.all()).toEqual(model.all());
          // The duplicate check and the next sequence read the shared array: ask as a retry would.
          for (const [pid, entry] of model.entries) {
            const last = entry.batches.at(-1);
            if (last === undefined) continue;
            const retry = header(pid, entry.epoch, last.firstSeq, last.lastSeq - last.firstSeq + 1, 0);
            expect(table.analyze([retry])).toEqual({
              kind: 'duplicate',
              firstOffset: last.firstOffset,
              lastOffset: last.lastOffset,
            });
          }
          if (w.keep) {
            // A version handed out now, its batches not read yet: later appends must not change them.
            for (const [pid, entry] of model.entries) {
              const version = table.entry(pid);
              if (version !== undefined) kept.push({ entry: version, batches: entry.batches });
            }
          }
        }
        for (const { entry, batches } of kept) expect(entry.batches).toEqual(batches);
      }),
      { numRuns: 150 },
    );
  });

  it('keeps exactly the last PRODUCER_BATCHES_RETAINED batches across many compactions', () => {
    const table = new ProducerStateTable();
    const n = PRODUCER_BATCHES_RETAINED * 7 + 3;
    for (let i = 0; i < n; i++) table.apply(header(1, 0, i, 1, i));
    const batches = table.entry(1)?.batches ?? [];
    expect(batches.map((b) => b.firstSeq)).toEqual(
      Array.from({ length: PRODUCER_BATCHES_RETAINED }, (_, i) => n - PRODUCER_BATCHES_RETAINED + i),
    );
    expect(table.analyze([header(1, 0, n, 1, 0)])).toEqual({ kind: 'append' });
    expect(table.analyze([header(1, 0, n - PRODUCER_BATCHES_RETAINED - 1, 1, 0)]).kind).toBe('rejected');
  });
});
