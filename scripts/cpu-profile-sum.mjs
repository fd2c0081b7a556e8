#!/usr/bin/env node
// Sums V8 CPU profiles (`node --cpu-prof`, e.g. a cluster's brokers started by bench-ab.mjs with
// --broker-env-b "NODE_OPTIONS=--cpu-prof --cpu-prof-dir=DIR --cpu-prof-interval 200") by function,
// over each profile's steady state: start-up (the first --skip-ms) is left out, and so is the idle
// tail, by keeping the span from the first to the last 250 ms slice whose busy time is at least 30%
// of the busiest slice's. Self time by default; --inclusive counts a function once per sample in
// whose stack it is. --match keeps the rows whose name or file contains the text.
//   node scripts/cpu-profile-sum.mjs [--inclusive] [--top 60] [--skip-ms 3000] [--match TEXT] FILE...
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    inclusive: { type: 'boolean', default: false },
    top: { type: 'string', default: '60' },
    'skip-ms': { type: 'string', default: '3000' },
    match: { type: 'string' },
  },
});
const SLICE_US = 250_000;

const PACKAGE_PATH = /.*\/(node_modules|packages)\//;
const keyOf = (frame) =>
  `${frame.functionName || '(anonymous)'} ${frame.url.replace(PACKAGE_PATH, '')}:${frame.lineNumber + 1}`;

/** Per sample: its node and the time it stands for (the delta to the next sample), in µs from the start. */
function samplesOf(profile) {
  const out = [];
  let at = 0;
  for (let i = 0; i < profile.samples.length - 1; i++) {
    at += profile.timeDeltas[i];
    out.push({ node: profile.samples[i], at, us: profile.timeDeltas[i + 1] });
  }
  return out;
}

const totals = new Map();
let busyUs = 0;
for (const file of positionals) {
  const profile = JSON.parse(readFileSync(file, 'utf8'));
  const nodes = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map();
  for (const n of profile.nodes) for (const child of n.children ?? []) parent.set(child, n.id);
  const idle = (id) => nodes.get(id).callFrame.functionName === '(idle)';
  const samples = samplesOf(profile).filter((s) => s.at >= Number(values['skip-ms']) * 1000);
  const slices = new Map();
  for (const s of samples) {
    if (idle(s.node)) continue;
    const slice = Math.floor(s.at / SLICE_US);
    slices.set(slice, (slices.get(slice) ?? 0) + s.us);
  }
  const peak = Math.max(0, ...slices.values());
  const busySlices = [...slices].filter(([, us]) => us >= 0.3 * peak).map(([slice]) => slice);
  const from = Math.min(...busySlices);
  const to = Math.max(...busySlices);
  console.error(`${file}: ${((to - from + 1) * SLICE_US) / 1e6} s of steady state`);
  for (const s of samples) {
    const slice = Math.floor(s.at / SLICE_US);
    if (slice < from || slice > to || idle(s.node)) continue;
    busyUs += s.us;
    if (!values.inclusive) {
      const key = keyOf(nodes.get(s.node).callFrame);
      totals.set(key, (totals.get(key) ?? 0) + s.us);
      continue;
    }
    const seen = new Set();
    for (let id = s.node; id !== undefined; id = parent.get(id)) seen.add(keyOf(nodes.get(id).callFrame));
    for (const key of seen) totals.set(key, (totals.get(key) ?? 0) + s.us);
  }
}
console.log(`busy: ${(busyUs / 1000).toFixed(0)} ms`);
const rows = [...totals].filter(([key]) => values.match === undefined || key.includes(values.match));
rows.sort((a, b) => b[1] - a[1]);
for (const [key, us] of rows.slice(0, Number(values.top)))
  console.log(`${(us / 1000).toFixed(1).padStart(9)} ms ${((100 * us) / busyUs).toFixed(1).padStart(5)}%  ${key}`);
