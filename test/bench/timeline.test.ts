import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { encodeBatch, recordsEndOffset } from '@samsa/protocol';
import { afterEach, describe, expect, it } from 'vitest';
// @ts-expect-error: a plain .mjs script without types
import { analyse, droppedLines, readTraces } from '../../scripts/bench-timeline.mjs';

const PROBE = fileURLToPath(new URL('../../scripts/bench-probe.cjs', import.meta.url));

let dir: string | undefined;
afterEach(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
  dir = undefined;
});

describe('recordsEndOffset', () => {
  it('is the offset after the last of batches stamped back to back', () => {
    const batch = (baseOffset: number, n: number) => {
      const buf = encodeBatch(
        Array.from({ length: n }, () => ({ value: Buffer.from('v') })),
        { now: 1 },
      );
      buf.writeBigInt64BE(BigInt(baseOffset), 0);
      return buf;
    };
    expect(recordsEndOffset(Buffer.concat([batch(10, 3), batch(13, 5)]), -1)).toBe(18);
    expect(recordsEndOffset(Buffer.alloc(0), 7)).toBe(7);
  });
});

describe('the trace collector (bench-probe.cjs, SAMSA_BENCH_TRACE=1)', () => {
  it('stamps each event with the monotonic clock, CPU and run-queue wait, and writes them at exit', () => {
    dir = mkdtempSync(join(tmpdir(), 'samsa-trace-'));
    const script = "const t = globalThis[Symbol.for('samsa.trace')]; t('l.pin', 2, 7); t('l.pout', 2, 7, 40);";
    const run = spawnSync(process.execPath, ['--require', PROBE, '-e', script], {
      env: { ...process.env, SAMSA_BENCH_PROBE_DIR: dir, SAMSA_BENCH_TRACE: '1', SAMSA_BENCH_ROLE: 'broker-2' },
    });
    expect(run.status).toBe(0);
    const [file] = readdirSync(dir).filter((f) => f.endsWith('.trace.json'));
    const trace = JSON.parse(readFileSync(join(dir, file as string), 'utf8'));
    expect(trace.role).toBe('broker-2');
    expect(trace.event).toEqual(['l.pin', 'l.pout']);
    expect(trace.p).toEqual([2, 2]);
    expect(trace.b).toEqual([0, 40]);
    expect(trace.tNs[1]).toBeGreaterThanOrEqual(trace.tNs[0]);
    expect(trace.end.tNs).toBeGreaterThanOrEqual(trace.tNs[1]);
    expect(trace.cpuUs[0]).toBeGreaterThan(0);
    expect(Number.isFinite(trace.runQueueNs[0])).toBe(true);
  });

  it('keeps at most SAMSA_BENCH_TRACE_MAX_EVENTS events a period, says once that it drops, and counts them', () => {
    dir = mkdtempSync(join(tmpdir(), 'samsa-trace-'));
    const script =
      "const t = globalThis[Symbol.for('samsa.trace')]; for (let i = 0; i < 10; i++) t('l.pin', 0, i);" +
      // A period signal starts a new period with room again (this listener runs after the probe's write).
      'const keep = setInterval(() => {}, 1000);' +
      "process.on('SIGUSR2', () => { t('l.pout', 0, 99); clearInterval(keep); });" +
      "process.kill(process.pid, 'SIGUSR2');";
    const run = spawnSync(process.execPath, ['--require', PROBE, '-e', script], {
      env: {
        ...process.env,
        SAMSA_BENCH_PROBE_DIR: dir,
        SAMSA_BENCH_TRACE: '1',
        SAMSA_BENCH_TRACE_MAX_EVENTS: '4',
        SAMSA_BENCH_ROLE: 'broker-1',
      },
      encoding: 'utf8',
    });
    expect(run.status).toBe(0);
    expect(run.stderr.match(/dropping the rest of this period/g)).toHaveLength(1);
    const [file] = readdirSync(dir).filter((f) => f.endsWith('.trace.json'));
    // The exit's write replaced the signal's: the second period, one event, nothing dropped.
    const last = JSON.parse(readFileSync(join(dir, file as string), 'utf8'));
    expect(last.event).toEqual(['l.pout']);
    expect(last.dropped).toBe(0);
  });

  it("writes the first period's kept events and the count it dropped", () => {
    dir = mkdtempSync(join(tmpdir(), 'samsa-trace-'));
    const script = "const t = globalThis[Symbol.for('samsa.trace')]; for (let i = 0; i < 10; i++) t('l.pin', 0, i);";
    const run = spawnSync(process.execPath, ['--require', PROBE, '-e', script], {
      env: {
        ...process.env,
        SAMSA_BENCH_PROBE_DIR: dir,
        SAMSA_BENCH_TRACE: '1',
        SAMSA_BENCH_TRACE_MAX_EVENTS: '4',
        SAMSA_BENCH_ROLE: 'broker-1',
      },
    });
    expect(run.status).toBe(0);
    const traces = readTraces(dir);
    expect(traces[0].a).toEqual([0, 1, 2, 3]);
    expect(traces[0].dropped).toBe(6);
    expect(droppedLines(traces)).toEqual([expect.stringMatching(/^warning: broker-1 .* dropped 6 trace events/)]);
  });

  it('installs no hook without the switch', () => {
    const script = "process.exit(globalThis[Symbol.for('samsa.trace')] === undefined ? 0 : 1)";
    const run = spawnSync(process.execPath, ['--require', PROBE, '-e', script], {
      env: { ...process.env, SAMSA_BENCH_PROBE_DIR: tmpdir(), SAMSA_BENCH_TRACE: '' },
    });
    expect(run.status).toBe(0);
  });
});

/** One process's trace from [event, tMs, partition, a, b] rows; CPU and run-queue wait as given per row. */
function traceOf(
  role: string,
  rows: [string, number, number, number?, number?][],
  options: { gc?: [number, number][]; cpuMsAt?: number[]; runQueueMsAt?: number[] } = {},
) {
  const ns = (ms: number) => Math.round(ms * 1e6);
  const last = rows.length - 1;
  return {
    role,
    event: rows.map((r) => r[0]),
    tNs: rows.map((r) => ns(r[1])),
    p: rows.map((r) => r[2]),
    a: rows.map((r) => r[3] ?? 0),
    b: rows.map((r) => r[4] ?? 0),
    c: rows.map(() => 0),
    cpuUs: rows.map((_, i) => (options.cpuMsAt?.[i] ?? 0) * 1000),
    runQueueNs: rows.map((_, i) => ns(options.runQueueMsAt?.[i] ?? 0)),
    gc: (options.gc ?? []).map(([startMs, durationMs]) => [ns(startMs), durationMs, 1]),
    end: {
      tNs: ns((rows[last]?.[1] ?? 0) + 1),
      cpuUs: (options.cpuMsAt?.[last] ?? 0) * 1000,
      runQueueNs: ns(options.runQueueMsAt?.[last] ?? 0),
    },
  };
}

describe('analyse (bench-timeline.mjs)', () => {
  it("joins an acks=all request's steps across the client, the leader and the follower that moved the HW", () => {
    // Partition 0 led by broker 1, followed by 2 (fast) and 3 (slow); one request of 10 records, offsets 0-9.
    const client = traceOf('client', [
      ['c.send', 10, 0, 10, 0.5],
      ['c.ack', 20, 0, 0],
    ]);
    const leader = traceOf(
      'broker-1',
      [
        ['l.pin', 10.2, 0, 1],
        ['l.app', 10.4, 0, 0, 9],
        ['l.fout', 10.5, 0, 2, 10],
        ['l.fout', 10.6, 0, 3, 10],
        ['l.fin', 11.0, 0, 2, 10],
        ['l.fin', 18.0, 0, 3, 10],
        ['l.hw', 18.1, 0, 10],
        ['l.pout', 18.2, 0, 1, 0],
      ],
      { gc: [[12, 3]] },
    );
    const fast = traceOf('broker-2', [
      ['f.recv', 10.7, 0, 10],
      ['f.send', 10.8, 0, 10],
    ]);
    const slow = traceOf(
      'broker-3',
      [
        ['f.send', 5, 0, 0],
        ['f.recv', 16.6, 0, 10],
        ['f.send', 17.0, 0, 10],
      ],
      { gc: [[12, 2]], cpuMsAt: [0, 0.5, 0.7], runQueueMsAt: [0, 5, 5] },
    );
    const { requests, slow: slowest } = analyse([client, leader, fast, slow], { warmupShare: 0 });
    expect(requests).toHaveLength(1);
    const [r] = requests;
    expect(r.steps.queue).toBeCloseTo(0.5);
    expect(r.steps.toLeader).toBeCloseTo(0.2);
    expect(r.steps.append).toBeCloseTo(0.2);
    expect(r.steps.wake).toBeCloseTo(0.2); // written -> broker 3's answer out
    expect(r.steps.toFollower).toBeCloseTo(6.0); // the slow follower's, not the fast one's 0.2
    expect(r.steps.copy).toBeCloseTo(0.4);
    expect(r.steps.back).toBeCloseTo(1.0);
    expect(r.steps.hw).toBeCloseTo(0.1);
    expect(r.steps.answer).toBeCloseTo(0.1);
    expect(r.steps.toClient).toBeCloseTo(1.8);
    expect(r.holders.toFollower).toBe(3);
    expect(r.latencyMs).toBeCloseTo(10.5);
    // The one request is the slowest: its step to follower 3 had that follower's 2 ms GC pause in it, and
    // 5 of the 11.6 ms between the follower's events around it waiting for a CPU.
    expect(slowest).toHaveLength(1);
    expect(r.longest).toBe('toFollower');
    expect(r.held.toFollower.gcMs).toBeCloseTo(2);
    expect(r.held.toFollower.runQueueMs).toBeCloseTo(5);
    expect(r.held.toFollower.cpuMs).toBeCloseTo(0.5);
    expect(r.held.toFollower.spanMs).toBeCloseTo(11.6);
  });

  it('passes over a request that failed (sent, never answered) when pairing sends with answers', () => {
    const client = traceOf('client', [
      ['c.send', 1, 0, 3, 0], // failed: no answer
      ['c.send', 5, 0, 3, 0],
      ['c.ack', 6, 0, 0],
    ]);
    const leader = traceOf('broker-1', [
      ['l.pin', 5.2, 0, 1],
      ['l.app', 5.4, 0, 0, 2],
      ['l.pout', 5.5, 0, 1, 0],
    ]);
    const { requests } = analyse([client, leader], { warmupShare: 0 });
    expect(requests).toHaveLength(1);
    expect(requests[0].sendNs).toBe(5e6);
    expect(requests[0].steps.toLeader).toBeCloseTo(0.2);
  });

  it('splits an acks=1 request into the hop, the append and the answer', () => {
    const client = traceOf('client', [
      ['c.send', 1, 4, 3, 0],
      ['c.ack', 2, 4, 100],
    ]);
    const leader = traceOf('broker-2', [
      ['l.pin', 1.3, 4, 9],
      ['l.app', 1.5, 4, 100, 102],
      ['l.pout', 1.6, 4, 9, 100],
    ]);
    const { requests } = analyse([client, leader], { warmupShare: 0 });
    expect(requests).toHaveLength(1);
    const [r] = requests;
    expect(r.steps.toLeader).toBeCloseTo(0.3);
    expect(r.steps.append).toBeCloseTo(0.2);
    expect(r.steps.answer).toBeCloseTo(0.1);
    expect(r.steps.toClient).toBeCloseTo(0.4);
    expect(r.steps.wake).toBeUndefined();
  });
});
