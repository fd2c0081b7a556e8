#!/usr/bin/env node
// What an append's write costs the event loop, written two ways, by size: a synchronous positional
// write (fs.writeSync, as the append chain writes runs of at most log.inline.write.max.bytes) and
// FileHandle.write on the libuv thread pool (larger runs). For each size, --rounds alternating blocks
// of --writes appends to a new file (each write extends it, as a log does): the event loop's time in
// the call (for the pool, until the request is handed over) and the round trip until the write is
// done, p50 and p99 in µs. The pool's completion also runs a callback and a promise on the loop,
// which this does not count. Used to pick the threshold (packages/broker/README.md, the hot path).
//   flock /tmp/samsa-bench.lock node scripts/bench-append-write.mjs [--sizes 1024,4096,...] [--writes 400]
import { mkdtempSync, rmSync, writeSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: {
    sizes: { type: 'string', default: '1024,4096,16384,32768,65536,131072' },
    writes: { type: 'string', default: '400' },
    rounds: { type: 'string', default: '3' },
  },
});
const sizes = values.sizes.split(',').map(Number);
const writes = Number(values.writes);
const rounds = Number(values.rounds);
const dir = mkdtempSync(join(tmpdir(), 'samsa-bench-append-write-'));
const fh = await open(join(dir, 'segment.log'), 'w+');
let position = 0;

const quantile = (samples, q) => [...samples].sort((a, b) => a - b)[Math.floor(q * (samples.length - 1))];
const micros = (from, to) => Number(to - from) / 1e3;

async function block(mode, buffer, into) {
  for (let i = 0; i < writes; i++) {
    const start = process.hrtime.bigint();
    if (mode === 'sync') {
      writeSync(fh.fd, buffer, 0, buffer.length, position);
      const end = process.hrtime.bigint();
      into.loop.push(micros(start, end));
      into.roundTrip.push(micros(start, end));
    } else {
      const written = fh.write(buffer, 0, buffer.length, position);
      into.loop.push(micros(start, process.hrtime.bigint()));
      await written;
      into.roundTrip.push(micros(start, process.hrtime.bigint()));
    }
    position += buffer.length;
    // A fresh file now and then, so that the page cache does not grow for the whole run.
    if (position > 256 << 20) {
      await fh.truncate(0);
      position = 0;
    }
  }
}

const rows = [];
try {
  for (const size of sizes) {
    const buffer = Buffer.alloc(size, 0x61);
    const samples = { sync: { loop: [], roundTrip: [] }, pool: { loop: [], roundTrip: [] } };
    for (let r = 0; r < rounds; r++) for (const mode of ['sync', 'pool']) await block(mode, buffer, samples[mode]);
    const row = { bytes: size };
    for (const mode of ['sync', 'pool']) {
      const { loop, roundTrip } = samples[mode];
      row[`${mode} loop p50/p99 µs`] = `${quantile(loop, 0.5).toFixed(1)} / ${quantile(loop, 0.99).toFixed(1)}`;
      if (mode === 'pool')
        row['pool round trip p50/p99 µs'] =
          `${quantile(roundTrip, 0.5).toFixed(1)} / ${quantile(roundTrip, 0.99).toFixed(1)}`;
    }
    rows.push(row);
  }
} finally {
  await fh.close();
  rmSync(dir, { recursive: true, force: true });
}
console.table(rows);
console.log(
  `load average ${loadavg()
    .map((l) => l.toFixed(2))
    .join(' ')}`,
);
