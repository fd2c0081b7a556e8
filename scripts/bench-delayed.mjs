#!/usr/bin/env node
// The CPU the broker's purgatory (DelayedOperations) costs with many long polls parked: N idle long polls
// (a consumer's Fetch at the log end, 500 ms each, parked again when it expires, their parks spread over
// the timeout), the way a broker with many idle consumers holds them, for --seconds each way; builds
// alternate (A B A B ...). Prints the process's CPU as a share of one core per run.
//   node scripts/bench-delayed.mjs [--polls 1000] [--seconds 4] [--rounds 2] DIR...   (built checkouts)
import { pathToFileURL } from 'node:url';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    polls: { type: 'string', default: '1000' },
    seconds: { type: 'string', default: '4' },
    rounds: { type: 'string', default: '2' },
  },
});
const builds = positionals.length > 0 ? positionals : [resolve('.')];
const load = async (dir) =>
  (await import(pathToFileURL(join(resolve(dir), 'packages/broker/dist/server/delayed.js')).href)).DelayedOperations;

async function run(DelayedOperations) {
  const ops = new DelayedOperations();
  const polls = Number(values.polls);
  const timeoutMs = 500;
  let expired = 0;
  let stopping = false;
  const park = () => {
    if (stopping) return;
    const onExpire = () => {
      expired++;
      park();
    };
    ops.park({ tryComplete: () => false, onExpire }, ['idle-topic-0'], timeoutMs);
  };
  // Spread the first parks over the timeout, as polls that arrived at different times.
  for (let i = 0; i < polls; i++) setTimeout(park, (i * timeoutMs) / polls);
  await new Promise((r) => setTimeout(r, timeoutMs + 50));
  const before = process.cpuUsage();
  const startMs = performance.now();
  await new Promise((r) => setTimeout(r, Number(values.seconds) * 1000));
  const used = process.cpuUsage(before);
  const elapsedMs = performance.now() - startMs;
  stopping = true;
  ops.expireAll();
  return {
    corePercent: ((used.user + used.system) / 1000 / elapsedMs) * 100,
    expiredPerSec: expired / (elapsedMs / 1000),
  };
}

const classes = await Promise.all(builds.map(load));
for (let round = 0; round < Number(values.rounds); round++) {
  for (const [i, DelayedOperations] of classes.entries()) {
    const r = await run(DelayedOperations);
    console.log(`${builds[i]}: ${r.corePercent.toFixed(2)}% of a core, ${Math.round(r.expiredPerSec)} expiries/s`);
  }
}
