// Preloaded into the processes of a benchmark cluster (`NODE_OPTIONS=--require .../bench-probe.cjs`,
// as bench-ab.mjs --probe does) to say where a run's tail went: the event loop's delay (how late a
// 10 ms timer fires, perf_hooks.monitorEventLoopDelay: a 1 ms timer would wake every process a
// thousand times a second and itself add CPU load) and the GC pauses (count, total, longest) of this
// process. SIGUSR2 ends a period: one JSON line of its figures is appended to
// $SAMSA_BENCH_PROBE_DIR/<pid>.jsonl and a new period starts (the first signal starts the first).
// A process that is idle during the run (the coordinator) is the witness of the machine itself:
// what it sees is the scheduling every process got, not anything the benchmark did.
//
// With SAMSA_BENCH_TRACE=1 as well, it collects the request timeline: it installs the hook that
// @samsa/protocol's `trace` calls at each step of a produce request's path (packages/protocol/src/trace.ts)
// and stamps every event with process.hrtime (CLOCK_MONOTONIC, shared by every process on the machine),
// the main thread's CPU time (process.threadCpuUsage) and its time spent runnable but waiting for a CPU
// (the second field of /proc/thread-self/schedstat), and keeps every GC pause on the same clock. Each
// SIGUSR2 writes the period's events to $SAMSA_BENCH_PROBE_DIR/<pid>.trace.json (a process that is not
// signalled writes at exit); scripts/bench-timeline.mjs joins the files. SAMSA_BENCH_ROLE names the process.
// Memory is bounded: a period keeps at most SAMSA_BENCH_TRACE_MAX_EVENTS events (default 1,000,000, about
// 85 MB; a traced broker makes ~12k a second, ~1 MB/s) and as many GC pauses. A process left tracing with
// no period signal keeps its first events, drops the rest, says so once on stderr, and writes the count
// dropped in its file (`dropped`), which bench-timeline.mjs reports.
const { appendFileSync, openSync, readSync, writeFileSync } = require('node:fs');
const { join } = require('node:path');
const { PerformanceObserver, monitorEventLoopDelay } = require('node:perf_hooks');

const dir = process.env.SAMSA_BENCH_PROBE_DIR;
const RESOLUTION_MS = 10;
const hrNowNs = () => Number(process.hrtime.bigint());

/** The timeline's collector: columns of events and GC pauses, written out per period. */
function startTrace() {
  const schedstat = openSync('/proc/thread-self/schedstat', 'r'); // opened on the main thread: its own
  const buf = Buffer.alloc(128);
  const runQueueWaitNs = () => {
    const n = readSync(schedstat, buf, 0, buf.length, 0);
    const text = buf.toString('latin1', 0, n);
    return Number(text.slice(text.indexOf(' ') + 1, text.lastIndexOf(' ')));
  };
  const cpuUs = () => {
    const usage = process.threadCpuUsage();
    return usage.user + usage.system;
  };
  const maxEvents = traceMaxEvents();
  const fresh = () => ({ event: [], tNs: [], p: [], a: [], b: [], c: [], cpuUs: [], runQueueNs: [], gc: [] });
  let columns = fresh();
  let dropped = 0;
  const drop = () => {
    if (dropped++ > 0) return;
    process.stderr.write(
      `bench-probe: pid ${process.pid} holds ${maxEvents} trace events since its last period signal (SIGUSR2); ` +
        'dropping the rest of this period (SAMSA_BENCH_TRACE_MAX_EVENTS)\n',
    );
  };
  globalThis[Symbol.for('samsa.trace')] = (event, p, a = 0, b = 0, c = 0) => {
    if (columns.event.length >= maxEvents) return drop();
    columns.event.push(event);
    columns.tNs.push(hrNowNs());
    columns.p.push(p);
    columns.a.push(a);
    columns.b.push(b);
    columns.c.push(c);
    columns.cpuUs.push(cpuUs());
    columns.runQueueNs.push(runQueueWaitNs());
  };
  // performance's clock is hrtime's from another origin: the offset turns a GC entry's start into hrtime.
  const originNs = hrNowNs() - performance.now() * 1e6;
  new PerformanceObserver((list) => {
    for (const entry of list.getEntries())
      if (columns.gc.length < maxEvents)
        columns.gc.push([Math.round(originNs + entry.startTime * 1e6), entry.duration, entry.detail?.kind ?? 0]);
  }).observe({ entryTypes: ['gc'] });
  const write = () => {
    const role = process.env.SAMSA_BENCH_ROLE ?? 'process';
    // A last sample closes the period, so a step after the process's last event still has an end.
    const end = { tNs: hrNowNs(), cpuUs: cpuUs(), runQueueNs: runQueueWaitNs() };
    const file = join(dir, `${process.pid}.trace.json`);
    writeFileSync(file, JSON.stringify({ pid: process.pid, role, end, dropped, ...columns }));
    columns = fresh();
    dropped = 0;
  };
  process.on('SIGUSR2', write);
  process.on('exit', () => {
    if (columns.event.length > 0) write();
  });
}

/** The bound on a period's trace events: SAMSA_BENCH_TRACE_MAX_EVENTS, a positive integer. */
function traceMaxEvents() {
  const value = process.env.SAMSA_BENCH_TRACE_MAX_EVENTS;
  if (value === undefined || value === '') return 1_000_000;
  const n = Number(value);
  if (!Number.isSafeInteger(n) || n < 1)
    throw new Error(`SAMSA_BENCH_TRACE_MAX_EVENTS must be a positive integer, not '${value}'`);
  return n;
}

if (dir && process.env.SAMSA_BENCH_TRACE === '1') startTrace();

// With SAMSA_BENCH_HEAP_PROFILE=1, V8's sampling heap profiler runs for each period, counting objects that
// the young and old generation's collections freed as well (what a scavenge costs is what was allocated),
// and each SIGUSR2 writes the period's profile to $SAMSA_BENCH_PROBE_DIR/<pid>.heapprofile.
if (dir && process.env.SAMSA_BENCH_HEAP_PROFILE === '1') {
  const { Session } = require('node:inspector');
  const session = new Session();
  session.connect();
  const start = () =>
    session.post('HeapProfiler.startSampling', {
      samplingInterval: 8192,
      includeObjectsCollectedByMajorGC: true,
      includeObjectsCollectedByMinorGC: true,
    });
  start();
  process.on('SIGUSR2', () => {
    session.post('HeapProfiler.stopSampling', (err, result) => {
      if (!err) writeFileSync(join(dir, `${process.pid}.heapprofile`), JSON.stringify(result.profile));
      start();
    });
  });
}

if (dir) {
  const delay = monitorEventLoopDelay({ resolution: RESOLUTION_MS });
  delay.enable();
  let gc = { count: 0, totalMs: 0, maxMs: 0 };
  new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) {
      gc.count++;
      gc.totalMs += entry.duration;
      gc.maxMs = Math.max(gc.maxMs, entry.duration);
    }
  }).observe({ entryTypes: ['gc'] });
  // The histogram holds the whole interval between two ticks: how late a tick was is the rest.
  const ms = (ns) => Math.max(0, Math.round((ns - RESOLUTION_MS * 1e6) / 1e4) / 100);
  process.on('SIGUSR2', () => {
    const figures = {
      pid: process.pid,
      loopDelayP50Ms: ms(delay.percentile(50)),
      loopDelayP99Ms: ms(delay.percentile(99)),
      loopDelayMaxMs: ms(delay.max),
      gcCount: gc.count,
      gcTotalMs: Math.round(gc.totalMs * 100) / 100,
      gcMaxMs: Math.round(gc.maxMs * 100) / 100,
    };
    appendFileSync(join(dir, `${process.pid}.jsonl`), `${JSON.stringify(figures)}\n`);
    delay.reset();
    gc = { count: 0, totalMs: 0, maxMs: 0 };
  });
}
