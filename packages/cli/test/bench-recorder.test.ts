import { describe, expect, it } from 'vitest';
import { LatencyRecorder } from '../src/commands/bench-client.js';

describe('LatencyRecorder', () => {
  it('records each figure once, and the whole run adds the warm-up and the steady state', () => {
    const recorder = new LatencyRecorder({ numRecords: 100, warmupRecords: 40, recordSize: 10 }, 'sent');
    try {
      recorder.sent(0, 0);
      recorder.record(0, 40, 9); // the warm-up's 40 records: 9 ms each
      recorder.sent(40, 1);
      recorder.record(40, 60, 2); // the steady state's 60: 2 ms each
      recorder.request({ queueTimeMs: 0.5, requestLatencyMs: 1, batches: 1, records: 60, answered: true });
      recorder.acknowledged(0, 40, 8);
      recorder.acknowledged(40, 60, 1);
      recorder.receivedAfterAck(0, 40, 0.5);
      recorder.receivedAfterAck(40, 60, undefined);
    } finally {
      recorder.stop();
    }
    const f = recorder.figures();
    expect(f.records).toBe(100);
    expect(f.p50Ms).toBeCloseTo(2, 1);
    expect(f.p99Ms).toBeCloseTo(9, 1);
    expect(f.maxMs).toBeCloseTo(9, 1);
    expect(f.requests).toBe(1);
    expect(f.acknowledgedP99Ms).toBeCloseTo(8, 1);
    expect(f.receivedBeforeAck).toBeCloseTo(0.6, 5);
    expect(f.clientCpuUsPerRecord).toBeGreaterThanOrEqual(0);
    const steady = f.steadyState!;
    expect(steady.records).toBe(60);
    expect(steady.maxMs).toBeCloseTo(2, 1);
    expect(steady.requests).toBe(1);
    expect(steady.acknowledgedP99Ms).toBeCloseTo(1, 1);
    expect(steady.receivedBeforeAck).toBe(1);
  });

  it('without a warm-up, the whole run only', () => {
    const recorder = new LatencyRecorder({ numRecords: 10, warmupRecords: 0, recordSize: 10 }, 'sent');
    recorder.record(0, 10, 3);
    recorder.stop();
    const f = recorder.figures();
    expect(f.maxMs).toBeCloseTo(3, 1);
    expect(f.steadyState).toBeUndefined();
  });
});
