#!/usr/bin/env node
// The request timeline of a benchmark run: joins the trace files that scripts/bench-probe.cjs wrote with
// SAMSA_BENCH_TRACE=1 (the bench client's and every broker's, one run) into one timeline per produce
// request, each step stamped on the machine's monotonic clock, and says where the slow requests' time
// went and what the process holding it was doing meanwhile: running (its main thread's CPU time), GC
// (pauses overlapping the step), or runnable but waiting for a CPU (its run-queue wait, from schedstat).
// The CPU and run-queue figures are read at the holder's own trace events, so they cover the span between
// its events around the step (given beside them), not the step alone; GC overlap is exact.
//   node scripts/bench-timeline.mjs DIR [--warmup-share 0.1667] [--list 10] [--json]
// bench-ab.mjs --trace runs it after each run and pools the slow requests of all runs of a side.
// Steps of an acks=all request, with the process that holds each (c = the follower whose fetch moved the HW):
//   queue      batch opened -> request sent                     client
//   toLeader   request sent -> leader's handler has it          leader
//   append     handler -> written                               leader
//   wake       written -> fetch answer to follower c out        leader
//   toFollower answer out -> follower c has it                  follower c
//   copy       follower c has it -> its next fetch sent         follower c
//   back       next fetch sent -> leader's handler has it       leader
//   hw         leader has the fetch -> high watermark covers    leader
//   answer     high watermark -> Produce handler answers        leader (acks=1: written -> answers)
//   toClient   handler answers -> producer has the answer       client
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

export const STEPS = ['queue', 'toLeader', 'append', 'wake', 'toFollower', 'copy', 'back', 'hw', 'answer', 'toClient'];

/** Reads the trace files in `dir` (or those named in `files`). */
export function readTraces(dir, files) {
  const names = files ?? readdirSync(dir).filter((f) => f.endsWith('.trace.json'));
  return names.map((f) => JSON.parse(readFileSync(join(dir, f), 'utf8')));
}

/** A line per trace that dropped events past bench-probe's SAMSA_BENCH_TRACE_MAX_EVENTS (none when none did). */
export function droppedLines(traces) {
  return traces
    .filter((t) => t.dropped > 0)
    .map(
      (t) =>
        `warning: ${t.role} (pid ${t.pid}) dropped ${t.dropped} trace events past SAMSA_BENCH_TRACE_MAX_EVENTS: ` +
        'its timeline covers the start of its period only',
    );
}

/** A process's events as a list per kind and partition, in time order. */
function index(trace) {
  const byKey = new Map();
  for (let i = 0; i < trace.event.length; i++) {
    const key = `${trace.event[i]}/${trace.p[i]}`;
    let list = byKey.get(key);
    if (!list) {
      list = [];
      byKey.set(key, list);
    }
    list.push({ t: trace.tNs[i], a: trace.a[i], b: trace.b[i], c: trace.c[i] });
  }
  return { trace, get: (event, p) => byKey.get(`${event}/${p}`) ?? [] };
}

/** The first event of `list` at or after `t` for which `ok` holds. */
function firstAfter(list, t, ok) {
  let lo = 0;
  let hi = list.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (list[mid].t < t) lo = mid + 1;
    else hi = mid;
  }
  for (let i = lo; i < list.length; i++) if (ok(list[i])) return list[i];
  return undefined;
}

/** Joins the processes' events into one timeline per request (times in ns, steps in ms). */
export function requestsOf(traces) {
  const client = traces.find((t) => t.role === 'client');
  if (!client) throw new Error('no trace of the bench client (role client)');
  const brokers = new Map();
  for (const t of traces) {
    const m = /^broker-(\d+)$/.exec(t.role);
    if (m) brokers.set(Number(m[1]), index(t));
  }
  const c = index(client);
  const partitions = [...new Set(client.p.filter((_, i) => client.event[i] === 'c.send'))];
  const requests = [];
  for (const p of partitions) {
    const leaderEntry = [...brokers].find(([, b]) => b.get('l.pin', p).length > 0);
    if (!leaderEntry) continue;
    const [leaderId, leader] = leaderEntry;
    const followers = [...brokers].filter(([id, b]) => id !== leaderId && b.get('f.recv', p).length > 0);
    const pins = new Map(leader.get('l.pin', p).map((e) => [e.a, e.t]));
    const pouts = new Map(leader.get('l.pout', p).map((e) => [e.b, e]));
    const apps = new Map(leader.get('l.app', p).map((e) => [e.a, e]));
    const sends = c.get('c.send', p);
    const acks = c.get('c.ack', p);
    // One request in flight per partition: an answer is that of the last request sent before it (a
    // request that failed has no c.ack, and its send is passed over).
    let k = 0;
    for (const ack of acks) {
      while (k + 1 < sends.length && sends[k + 1].t <= ack.t) k++;
      const send = sends[k];
      if (send === undefined || send.t > ack.t || send.used) continue;
      send.used = true;
      const pout = pouts.get(ack.a);
      const app = apps.get(ack.a);
      if (!pout || !app) continue;
      const r = { partition: p, leaderId, records: send.a, baseOffset: ack.a, sendNs: send.t, ackNs: ack.t };
      r.queueMs = send.b;
      r.latencyMs = (ack.t - send.t) / 1e6 + send.b; // its oldest record's: opened -> answered
      const pin = pins.get(pout.a);
      const required = app.b + 1;
      const marks = { sent: send.t, pin, app: app.t, pout: pout.t, ack: ack.t };
      // The follower whose fetch at or past the request's end came last moved the high watermark.
      let critical;
      for (const [fid, f] of followers) {
        const out = firstAfter(leader.get('l.fout', p), app.t, (e) => e.a === fid && e.b >= required);
        const recv = out && firstAfter(f.get('f.recv', p), out.t, (e) => e.a >= required);
        const next = recv && firstAfter(f.get('f.send', p), recv.t, (e) => e.a >= required);
        const back = next && firstAfter(leader.get('l.fin', p), next.t, (e) => e.a === fid && e.b >= required);
        if (!back) continue;
        const chain = { fid, out: out.t, recv: recv.t, next: next.t, back: back.t };
        if (!critical || chain.back > critical.back) critical = chain;
      }
      const hw = firstAfter(leader.get('l.hw', p), app.t, (e) => e.a >= required);
      const steps = { queue: send.b };
      const ms = (from, to) => (from !== undefined && to !== undefined ? (to - from) / 1e6 : undefined);
      steps.toLeader = ms(send.t, pin);
      steps.append = ms(pin, app.t);
      const holders = { queue: 'client', toLeader: leaderId, append: leaderId, toClient: 'client' };
      const spans = { queue: [send.t - send.b * 1e6, send.t], toLeader: [send.t, pin], append: [pin, app.t] };
      if (critical && hw && hw.t <= pout.t) {
        Object.assign(steps, {
          wake: ms(app.t, critical.out),
          toFollower: ms(critical.out, critical.recv),
          copy: ms(critical.recv, critical.next),
          back: ms(critical.next, critical.back),
          hw: ms(critical.back, hw.t),
          answer: ms(hw.t, pout.t),
        });
        Object.assign(holders, {
          wake: leaderId,
          toFollower: critical.fid,
          copy: critical.fid,
          back: leaderId,
          hw: leaderId,
          answer: leaderId,
        });
        Object.assign(spans, {
          wake: [app.t, critical.out],
          toFollower: [critical.out, critical.recv],
          copy: [critical.recv, critical.next],
          back: [critical.next, critical.back],
          hw: [critical.back, hw.t],
          answer: [hw.t, pout.t],
        });
        Object.assign(marks, critical, { hw: hw.t });
      } else {
        steps.answer = ms(app.t, pout.t); // acks=1 (or a chain not found: the whole replication wait)
        holders.answer = leaderId;
        spans.answer = [app.t, pout.t];
      }
      steps.toClient = ms(pout.t, ack.t);
      spans.toClient = [pout.t, ack.t];
      Object.assign(r, { steps, holders, spans, marks });
      requests.push(r);
    }
  }
  requests.sort((x, y) => x.sendNs - y.sendNs);
  return { requests, processes: { client: c, ...Object.fromEntries(brokers) } };
}

/** What `proc` did over [t0, t1]: GC overlapping it; CPU and run-queue wait between its samples around it. */
function holderFigures(proc, t0, t1) {
  const { trace } = proc;
  let gcMs = 0;
  for (const [start, durationMs] of trace.gc) {
    const end = start + durationMs * 1e6;
    const overlap = Math.min(end, t1) - Math.max(start, t0);
    if (overlap > 0) gcMs += overlap / 1e6;
  }
  const t = trace.tNs;
  let lo = 0;
  let hi = t.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (t[mid] <= t0) lo = mid + 1;
    else hi = mid;
  }
  const i0 = Math.max(0, lo - 1);
  let i1 = i0;
  while (i1 < t.length && t[i1] < t1) i1++;
  const at = (i) => (i < t.length ? { tNs: t[i], cpuUs: trace.cpuUs[i], runQueueNs: trace.runQueueNs[i] } : trace.end);
  const a = at(i0);
  const b = at(i1);
  return {
    gcMs,
    spanMs: (b.tNs - a.tNs) / 1e6,
    cpuMs: (b.cpuUs - a.cpuUs) / 1e3,
    runQueueMs: (b.runQueueNs - a.runQueueNs) / 1e6,
  };
}

/**
 * Each GC pause of at least `minMs`, and what the process's main thread did during it, between its samples
 * around it: ran (CPU), waited for a CPU (run queue), or neither: blocked, which in a pause is waiting for
 * V8's helper threads (a parallel scavenge's) to be scheduled and finish their share.
 */
export function gcPauses(traces, minMs = 4) {
  const pauses = [];
  for (const trace of traces) {
    const t = trace.tNs;
    for (const [start, durationMs] of trace.gc) {
      if (durationMs < minMs) continue;
      const end = start + durationMs * 1e6;
      let i0 = -1;
      while (i0 + 1 < t.length && t[i0 + 1] <= start) i0++;
      if (i0 < 0) continue;
      let i1 = i0 + 1;
      while (i1 < t.length && t[i1] < end) i1++;
      const b = i1 < t.length ? { tNs: t[i1], cpuUs: trace.cpuUs[i1], runQueueNs: trace.runQueueNs[i1] } : trace.end;
      const spanMs = (b.tNs - t[i0]) / 1e6;
      const cpuMs = (b.cpuUs - trace.cpuUs[i0]) / 1e3;
      const runQueueMs = (b.runQueueNs - trace.runQueueNs[i0]) / 1e6;
      const blockedMs = spanMs - cpuMs - runQueueMs;
      const held = blockedMs > durationMs / 2 ? 'blocked' : runQueueMs > durationMs / 2 ? 'runQueue' : 'running';
      pauses.push({ role: trace.role, durationMs, spanMs, cpuMs, runQueueMs, blockedMs, held });
    }
  }
  return pauses;
}

function percentile(sorted, q) {
  if (sorted.length === 0) return undefined;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))];
}
const median = (xs) =>
  percentile(
    [...xs].sort((x, y) => x - y),
    0.5,
  );

/**
 * The steady state's requests (the first `warmupShare` of the records left out), the record-weighted p99
 * of their oldest records' latencies, and the requests at or above it with what held each step.
 */
export function analyse(traces, { warmupShare = 1 / 6 } = {}) {
  const { requests: all, processes } = requestsOf(traces);
  const total = all.reduce((n, r) => n + r.records, 0);
  let skipped = 0;
  const requests = all.filter((r) => {
    skipped += r.records;
    return skipped > total * warmupShare;
  });
  const byLatency = [...requests].sort((x, y) => x.latencyMs - y.latencyMs);
  const records = requests.reduce((n, r) => n + r.records, 0);
  let seen = 0;
  let p99Ms;
  for (const r of byLatency) {
    seen += r.records;
    if (seen >= records * 0.99) {
      p99Ms = r.latencyMs;
      break;
    }
  }
  // A stall leaves its records in few requests: the slowest 1% of requests count too, so that a run
  // has more than the one or two requests that carry its slowest records.
  const requestP99Ms = percentile(
    byLatency.map((r) => r.latencyMs),
    0.99,
  );
  const slow = requests.filter((r) => r.latencyMs >= Math.min(p99Ms, requestP99Ms));
  for (const r of slow) {
    r.held = {};
    for (const step of STEPS) {
      const holder = r.holders[step];
      const span = r.spans[step];
      if (holder === undefined || span === undefined || span[1] === undefined || span[0] === undefined) continue;
      r.held[step] = { ms: r.steps[step], holder, ...holderFigures(processes[holder], span[0], span[1]) };
    }
    r.longest = STEPS.filter((s) => r.steps[s] !== undefined).reduce((x, y) => (r.steps[y] > r.steps[x] ? y : x));
  }
  return { requests, slow, p99Ms, requestP99Ms, records, gc: gcPauses(traces) };
}

/** Per step: p50 / p99 over all requests, the median and share over the slow ones, and what held them. */
export function summarise(requests, slow) {
  const rows = [];
  const slowTotal = slow.reduce((n, r) => n + (r.latencyMs ?? 0), 0);
  for (const step of STEPS) {
    const xs = requests
      .map((r) => r.steps[step])
      .filter((x) => x !== undefined)
      .sort((x, y) => x - y);
    if (xs.length === 0) continue;
    const held = slow.map((r) => r.held?.[step]).filter(Boolean);
    const longest = slow.filter((r) => r.longest === step);
    const f = (x, d = 2) => (x === undefined ? '-' : x.toFixed(d));
    const sum = (key) => held.reduce((n, h) => n + h[key], 0);
    rows.push({
      step,
      'all p50 ms': f(percentile(xs, 0.5)),
      'all p99 ms': f(percentile(xs, 0.99)),
      'slow median ms': f(median(held.map((h) => h.ms))),
      'slow share': `${((100 * sum('ms')) / slowTotal).toFixed(0)}%`,
      'slow: longest in': longest.length,
      'holder GC ms (sum)': f(sum('gcMs'), 1),
      'holder CPU/span': sum('spanMs') > 0 ? `${((100 * sum('cpuMs')) / sum('spanMs')).toFixed(0)}%` : '-',
      'holder run-queue/span': sum('spanMs') > 0 ? `${((100 * sum('runQueueMs')) / sum('spanMs')).toFixed(0)}%` : '-',
    });
  }
  return rows;
}

/** One line on the GC pauses of at least 4 ms: how many, and what the main thread did in them. */
export function gcLine(pauses) {
  const of = (held) => pauses.filter((p) => p.held === held);
  const ms = (list) => list.reduce((n, p) => n + p.durationMs, 0).toFixed(0);
  const longest = pauses.reduce((m, p) => Math.max(m, p.durationMs), 0).toFixed(1);
  return (
    `GC pauses >= 4 ms: ${pauses.length} (${ms(pauses)} ms, longest ${longest}); main thread blocked ` +
    `(waiting for GC helper threads) ${of('blocked').length} (${ms(of('blocked'))} ms), waiting for a CPU ` +
    `${of('runQueue').length} (${ms(of('runQueue'))} ms), running ${of('running').length} (${ms(of('running'))} ms)`
  );
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      'warmup-share': { type: 'string', default: String(1 / 6) },
      json: { type: 'boolean', default: false },
      list: { type: 'string', default: '10' },
    },
  });
  const traces = readTraces(positionals[0]);
  for (const line of droppedLines(traces)) console.error(line);
  const { requests, slow, p99Ms, records } = analyse(traces, { warmupShare: Number(values['warmup-share']) });
  if (values.json) {
    console.log(JSON.stringify({ p99Ms, records, requests: requests.length, slow }));
  } else {
    console.log(`${requests.length} requests, ${records} records, p99 (oldest record of a request) ${p99Ms} ms`);
    console.table(summarise(requests, slow));
    console.log(gcLine(gcPauses(traces)));
    // The slowest requests one by one: each step's time, and the holder's GC / CPU / run-queue over its span.
    for (const r of [...slow].sort((x, y) => y.latencyMs - x.latencyMs).slice(0, Number(values.list))) {
      const steps = Object.entries(r.held).map(
        ([step, h]) =>
          `${step} ${h.ms.toFixed(2)} (${h.holder}: gc ${h.gcMs.toFixed(1)} cpu ${h.cpuMs.toFixed(1)} ` +
          `rq ${h.runQueueMs.toFixed(1)} of ${h.spanMs.toFixed(1)})`,
      );
      console.log(`p${r.partition} ${r.records} records ${r.latencyMs.toFixed(2)} ms: ${steps.join(', ')}`);
    }
  }
}
