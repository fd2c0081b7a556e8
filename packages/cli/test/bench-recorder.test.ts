import { describe, expect, it, vi } from 'vitest';
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

  it("prints each interval's records and their latency percentiles, then starts the next interval afresh", () => {
    vi.useFakeTimers();
    const lines: string[] = [];
    const write = vi.spyOn(process.stderr, 'write').mockImplementation((chunk) => {
      lines.push(String(chunk));
      return true;
    });
    const recorder = new LatencyRecorder({ numRecords: 200, warmupRecords: 0, recordSize: 100 }, 'sent');
    try {
      recorder.record(0, 99, 1); // 99 records at 1 ms and one at 20 ms in the first interval
      recorder.record(99, 1, 20);
      vi.advanceTimersByTime(2000);
      recorder.record(100, 100, 3); // the second interval's: 3 ms each
      vi.advanceTimersByTime(2000);
    } finally {
      recorder.stop();
      write.mockRestore();
      vi.useRealTimers();
    }
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatch(
      /^100 records sent, 50 records\/sec \(0\.01 MB\/sec\), latency p50 1\.00 ms, p99 1\.00 ms, max 20\.0 ms\n$/,
    );
    expect(lines[1]).toMatch(
      /^100 records sent, 50 records\/sec \(0\.01 MB\/sec\), latency p50 3\.00 ms, p99 3\.00 ms, max 3\.0 ms\n$/,
    );
  });
});
