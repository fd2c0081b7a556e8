// Preloaded into the processes of a benchmark cluster (`NODE_OPTIONS=--require .../bench-probe.cjs`,
// as bench-ab.mjs --probe does) to say where a run's tail went: the event loop's delay (how late a
// 10 ms timer fires, perf_hooks.monitorEventLoopDelay: a 1 ms timer would wake every process a
// thousand times a second and itself add CPU load) and the GC pauses (count, total, longest) of this
// process. SIGUSR2 ends a period: one JSON line of its figures is appended to
// $SAMSA_BENCH_PROBE_DIR/<pid>.jsonl and a new period starts (the first signal starts the first).
// A process that is idle during the run (the coordinator) is the witness of the machine itself:
// what it sees is the scheduling every process got, not anything the benchmark did.
const { appendFileSync } = require('node:fs');
const { join } = require('node:path');
const { PerformanceObserver, monitorEventLoopDelay } = require('node:perf_hooks');

const dir = process.env.SAMSA_BENCH_PROBE_DIR;
const RESOLUTION_MS = 10;
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
