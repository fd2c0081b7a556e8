import { describe, expect, it } from 'vitest';
import { Attribute } from '@samsa/protocol';
import {
  AbortedTransactions,
  MarkerTracker,
  MarkerType,
  OffsetMap,
  chooseLogToClean,
  cleanableSection,
  groupSegments,
  retainRecord,
} from '@samsa/broker/internal';

const seg = (baseOffset: number, endOffset: number, sizeBytes = 100, largestTimestampMs = 1000) => ({
  baseOffset,
  endOffset,
  sizeBytes,
  largestTimestampMs,
});
const lags = { minCompactionLagMs: 0, maxCompactionLagMs: Number.MAX_SAFE_INTEGER };

describe('cleaner planner', () => {
  it('never cleans the active segment, nor past the stable offset or min.compaction.lag.ms', () => {
    const segments = [seg(0, 10), seg(10, 20), seg(20, 30, 100, 5000), seg(30, 35)];
    const all = cleanableSection(segments, { checkpoint: 0, logStartOffset: 0, stableOffset: 100 }, lags, 6000);
    expect(all).toMatchObject({ firstUncleanableOffset: 30, uncleanableIndex: 3, dirtyBytes: 300, dirtyRatio: 1 });
    const belowHw = cleanableSection(segments, { checkpoint: 0, logStartOffset: 0, stableOffset: 19 }, lags, 6000);
    expect(belowHw).toMatchObject({ firstUncleanableOffset: 10, dirtyBytes: 100 });
    const lagged = cleanableSection(
      segments,
      { checkpoint: 10, logStartOffset: 0, stableOffset: 100 },
      { ...lags, minCompactionLagMs: 2000 },
      6000,
    );
    expect(lagged).toMatchObject({
      firstDirtyOffset: 10,
      firstUncleanableOffset: 20,
      cleanBytes: 100,
      dirtyBytes: 100,
    });
  });

  it('picks overdue logs first, then the dirtiest above its ratio', () => {
    const section = (dirtyRatio: number, overdue = false) => ({
      ...cleanableSection([seg(0, 1), seg(1, 2)], { checkpoint: 0, logStartOffset: 0, stableOffset: 9 }, lags, 0),
      dirtyRatio,
      overdue,
    });
    const a = { section: section(0.6), minRatio: 0.5 };
    const b = { section: section(0.9), minRatio: 0.5 };
    const c = { section: section(0.2, true), minRatio: 0.5 };
    const d = { section: section(0.95), minRatio: 0.99 };
    expect(chooseLogToClean([a, b, d])).toBe(b);
    expect(chooseLogToClean([a, b, c])).toBe(c);
    expect(chooseLogToClean([d])).toBeUndefined();
  });

  it('groups segments within segment.bytes', () => {
    const groups = groupSegments([seg(0, 10, 400), seg(10, 20, 400), seg(20, 30, 400), seg(30, 40, 900)], 1000);
    expect(groups.map((g) => g.map((s) => s.baseOffset))).toEqual([[0, 10], [20], [30]]);
  });

  it('keeps the newest record per key; drops expired tombstones only where the map covers them', () => {
    const map = new OffsetMap(1 << 20);
    map.put(Buffer.from('a'), 5);
    map.put(Buffer.from('t'), 6);
    const record = (key: string | null, offset: number, tombstone = false) => ({
      offset,
      key: key === null ? null : Buffer.from(key),
      tombstone,
      start: 0,
      end: 0,
    });
    const fresh = { map, tombstonesExpired: false };
    const expired = { map, tombstonesExpired: true };
    expect(retainRecord(record('a', 3), fresh)).toBe(false);
    expect(retainRecord(record('a', 5), fresh)).toBe(true);
    expect(retainRecord(record('b', 1), fresh)).toBe(true);
    expect(retainRecord(record(null, 1), fresh)).toBe(false);
    expect(retainRecord(record('t', 6, true), fresh)).toBe(true);
    expect(retainRecord(record('t', 6, true), expired)).toBe(false);
    // Beyond the map's end an older value of the key may still be in the log: the tombstone stays.
    expect(retainRecord(record('u', 9, true), expired)).toBe(true);
  });

  it('answers as a Map of the last offset per key would, across its tables growing and clear()', () => {
    let state = 12345;
    // The high bits of the 32-bit LCG: its low bits repeat with short periods (the lowest alternates).
    const random = (n: number): number => {
      state = (Math.imul(state, 1103515245) + 12345) >>> 0;
      return Math.floor((state / 2 ** 32) * n);
    };
    const map = new OffsetMap(1 << 30);
    for (let pass = 0; pass < 3; pass++) {
      const model = new Map<string, number>();
      map.clear();
      for (let offset = 0; offset < 20_000; offset++) {
        // Keys of 0 to 40 bytes, some sharing prefixes, some binary.
        const key =
          random(4) === 0
            ? Buffer.from([random(256), random(256)])
            : Buffer.from(`k${random(5000)}`.repeat(1 + random(4)));
        const bytes = Buffer.concat([Buffer.from('xx'), key, Buffer.from('yy')]); // a key inside a larger buffer
        expect(map.putRange(bytes, 2, 2 + key.length, offset)).toBe(true);
        model.set(key.toString('latin1'), offset);
      }
      expect(map.size).toBe(model.size);
      expect(map.endOffset).toBe(20_000);
      for (const [key, offset] of model) expect(map.latest(Buffer.from(key, 'latin1'))).toBe(offset);
      expect(map.latest(Buffer.from('not-a-key'))).toBeUndefined();
      expect(map.latest(Buffer.alloc(0))).toBe(model.get(''));
    }
  });

  it('bounds the map by bytes and always takes a first key', () => {
    const map = new OffsetMap(10);
    expect(map.put(Buffer.from('a-long-key'), 1)).toBe(true);
    expect(map.put(Buffer.from('b'), 2)).toBe(false);
    expect(map.put(Buffer.from('a-long-key'), 3)).toBe(true);
    expect(map.latest(Buffer.from('a-long-key'))).toBe(3);
  });

  it('tells aborted transactional batches by their producer and the index ranges', () => {
    const aborted = new AbortedTransactions([{ producerId: 7, firstOffset: 10, lastOffset: 20 }]);
    const batch = (producerId: number, baseOffset: number, attributes: number = Attribute.transactional) => ({
      producerId,
      baseOffset,
      attributes,
    });
    expect(aborted.contains(batch(7, 10))).toBe(true);
    expect(aborted.contains(batch(7, 19))).toBe(true);
    expect(aborted.contains(batch(7, 9))).toBe(false); // an earlier transaction of the producer
    expect(aborted.contains(batch(7, 21))).toBe(false); // a later one
    expect(aborted.contains(batch(8, 12))).toBe(false); // another producer
    expect(aborted.contains(batch(7, 12, 0))).toBe(false); // not transactional
    expect(aborted.contains(batch(7, 20, Attribute.transactional | Attribute.control))).toBe(false); // the marker
  });

  it('removes a marker only with no data of its transaction in the pass, past the horizon, not the last', () => {
    const data = { producerId: 7, attributes: Attribute.transactional };
    const marker = { producerId: 7 };
    const commit = { type: MarkerType.commit, pastHorizon: true, lastOfProducer: false };
    const tracker = new MarkerTracker();
    tracker.onData(data);
    expect(tracker.markerRemovable(marker, commit)).toBe(false); // its data was there: a pass later
    expect(tracker.markerRemovable(marker, commit)).toBe(true); // the next marker of 7 had none
    expect(tracker.markerRemovable(marker, { ...commit, type: MarkerType.abort })).toBe(true);
    expect(tracker.markerRemovable(marker, { ...commit, pastHorizon: false })).toBe(false);
    expect(tracker.markerRemovable(marker, { ...commit, lastOfProducer: true })).toBe(false);
    expect(tracker.markerRemovable(marker, { ...commit, type: 5 })).toBe(false); // not a marker we know
    tracker.onData({ producerId: 8, attributes: Attribute.transactional });
    tracker.onData({ producerId: 7, attributes: 0 }); // non-transactional data is not the transaction's
    expect(tracker.markerRemovable(marker, commit)).toBe(true);
    expect(tracker.markerRemovable({ producerId: 8 }, commit)).toBe(false);
  });
});
