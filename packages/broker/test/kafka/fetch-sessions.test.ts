import { describe, expect, it } from 'vitest';
import {
  FETCH_SESSION_ID_NOT_FOUND,
  FetchSessions,
  INVALID_FETCH_SESSION_EPOCH,
  type PartitionFetch,
  type PartitionOutcome,
} from '../../src/kafka/fetch-sessions.js';

const p = (partition: number, fetchOffset = 0, topic = 't'): PartitionFetch => ({
  topic,
  partition,
  fetchOffset,
  partitionMaxBytes: 1024,
  currentLeaderEpoch: -1,
});

const outcome = (
  partition: number,
  highWatermark: number,
  recordBytes = 0,
  errorCode = 0,
  lastStableOffset = highWatermark,
): PartitionOutcome => ({
  topic: 't',
  partition,
  errorCode,
  highWatermark,
  lastStableOffset,
  logStartOffset: 0,
  recordBytes,
});

function sessions(max = 10): FetchSessions {
  let next = 100;
  return new FetchSessions(max, () => next++);
}

describe('FetchSessions (KIP-227)', () => {
  it('epoch -1 is a full fetch without a session; epoch 0 opens one', () => {
    const s = sessions();
    expect(s.open({ sessionId: 0, sessionEpoch: -1, partitions: [p(0)], forgotten: [] })).toEqual({
      kind: 'full',
      sessionId: 0,
      partitions: [p(0)],
    });
    const opened = s.open({ sessionId: 0, sessionEpoch: 0, partitions: [p(0), p(1)], forgotten: [] });
    expect(opened).toMatchObject({ kind: 'full', sessionId: 100 });
    expect(s.answered(opened, [outcome(0, 5, 10), outcome(1, 3)])).toHaveLength(2);
  });

  it('an incremental fetch reads every session partition, updated and forgotten, and answers only news', () => {
    const s = sessions();
    const opened = s.open({ sessionId: 0, sessionEpoch: 0, partitions: [p(0), p(1), p(2)], forgotten: [] });
    s.answered(opened, [outcome(0, 5, 10), outcome(1, 3, 10), outcome(2, 7, 10)]);
    const next = s.open({
      sessionId: 100,
      sessionEpoch: 1,
      partitions: [p(0, 5), p(3)],
      forgotten: [{ topic: 't', partition: 2 }],
    });
    expect(next).toEqual({ kind: 'incremental', sessionId: 100, partitions: [p(0, 5), p(1), p(3)] });
    // 0: nothing new; 1: the high watermark moved; 3: new in the session.
    const included = s.answered(next, [outcome(0, 5), outcome(1, 4), outcome(3, 0)]);
    expect(included.map((o) => o.partition)).toEqual([1, 3]);
    const third = s.open({ sessionId: 100, sessionEpoch: 2, partitions: [], forgotten: [] });
    expect(s.answered(third, [outcome(0, 5), outcome(1, 4), outcome(3, 0, 0, 6)]).map((o) => o.partition)).toEqual([3]);
  });

  it('a moved last stable offset is news (a transaction ended: its records became readable)', () => {
    const s = sessions();
    const opened = s.open({ sessionId: 0, sessionEpoch: 0, partitions: [p(0)], forgotten: [] });
    s.answered(opened, [outcome(0, 10, 10, 0, 4)]);
    const same = s.open({ sessionId: 100, sessionEpoch: 1, partitions: [], forgotten: [] });
    expect(s.answered(same, [outcome(0, 10, 0, 0, 4)])).toEqual([]);
    const moved = s.open({ sessionId: 100, sessionEpoch: 2, partitions: [], forgotten: [] });
    expect(s.answered(moved, [outcome(0, 10, 0, 0, 10)]).map((o) => o.lastStableOffset)).toEqual([10]);
  });

  it('partitions that returned records are read last next time', () => {
    const s = sessions();
    const opened = s.open({ sessionId: 0, sessionEpoch: 0, partitions: [p(0), p(1), p(2)], forgotten: [] });
    s.answered(opened, [outcome(0, 5, 10), outcome(1, 0), outcome(2, 0)]);
    const next = s.open({ sessionId: 100, sessionEpoch: 1, partitions: [], forgotten: [] });
    expect(next.kind === 'incremental' && next.partitions.map((x) => x.partition)).toEqual([1, 2, 0]);
  });

  it('refuses unknown sessions and wrong epochs; epoch -1 closes a session', () => {
    const s = sessions();
    s.open({ sessionId: 0, sessionEpoch: 0, partitions: [p(0)], forgotten: [] });
    expect(s.open({ sessionId: 999, sessionEpoch: 1, partitions: [], forgotten: [] })).toEqual({
      kind: 'error',
      errorCode: FETCH_SESSION_ID_NOT_FOUND,
    });
    expect(s.open({ sessionId: 100, sessionEpoch: 5, partitions: [], forgotten: [] })).toEqual({
      kind: 'error',
      errorCode: INVALID_FETCH_SESSION_EPOCH,
    });
    expect(s.open({ sessionId: 100, sessionEpoch: -1, partitions: [p(0)], forgotten: [] })).toMatchObject({
      sessionId: 0,
    });
    expect(s.size).toBe(0);
  });

  it('keeps at most maxSessions, dropping the least recently used', () => {
    const s = sessions(2);
    s.open({ sessionId: 0, sessionEpoch: 0, partitions: [p(0)], forgotten: [] }); // 100
    s.open({ sessionId: 0, sessionEpoch: 0, partitions: [p(0)], forgotten: [] }); // 101
    s.open({ sessionId: 100, sessionEpoch: 1, partitions: [], forgotten: [] }); // 100 used last
    s.open({ sessionId: 0, sessionEpoch: 0, partitions: [p(0)], forgotten: [] }); // 102 evicts 101
    expect(s.size).toBe(2);
    expect(s.open({ sessionId: 101, sessionEpoch: 1, partitions: [], forgotten: [] })).toMatchObject({ kind: 'error' });
    expect(s.open({ sessionId: 100, sessionEpoch: 2, partitions: [], forgotten: [] })).toMatchObject({
      kind: 'incremental',
    });
    expect(sessions(0).open({ sessionId: 0, sessionEpoch: 0, partitions: [p(0)], forgotten: [] })).toMatchObject({
      sessionId: 0,
    });
  });
});
