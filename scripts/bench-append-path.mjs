#!/usr/bin/env node
// The storage half of one acks=all record, in one process and without the network: a leader
// PartitionLog appends a one-record batch, its follower's read takes it from the tail, a follower
// PartitionLog appends that copy, one record at a time. Prints wall-clock and CPU (user + system)
// µs per record for each built checkout named, alternating them --rounds times, so a change to the
// append path is compared on one load (packages/broker/README.md, the hot path).
//   flock /tmp/samsa-bench.lock node scripts/bench-append-path.mjs [--records 20000] [--rounds 2] BUILD...
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    records: { type: 'string', default: '20000' },
    rounds: { type: 'string', default: '2' },
    child: { type: 'boolean', default: false },
  },
});

async function measure(build, records) {
  const { openPartitionLog } = await import(join(build, 'packages/broker/dist/storage/index.js'));
  const { encodeBatch } = await import(join(build, 'packages/protocol/dist/index.js'));
  const dir = mkdtempSync(join(tmpdir(), 'samsa-bench-append-path-'));
  const leader = await openPartitionLog({ dir: join(dir, 'leader') });
  const follower = await openPartitionLog({ dir: join(dir, 'follower') });
  const value = Buffer.alloc(100, 0x61);
  const run = async (n) => {
    const startNs = process.hrtime.bigint();
    const cpu = process.cpuUsage();
    for (let i = 0; i < n; i++) {
      const { baseOffset } = await leader.append(encodeBatch([{ key: null, value }], { now: 1 }), { leaderEpoch: 0 });
      await follower.appendAsFollower((await leader.readForFollower(baseOffset, 1 << 20)).bytes);
    }
    const used = process.cpuUsage(cpu);
    return {
      wallUs: Number(process.hrtime.bigint() - startNs) / 1e3 / n,
      cpuUs: (used.user + used.system) / n,
    };
  };
  try {
    await run(Math.min(2000, records)); // warm-up: compiled code, a grown file
    return await run(records);
  } finally {
    await leader.close();
    await follower.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

if (values.child) {
  console.log(JSON.stringify(await measure(resolve(positionals[0]), Number(values.records))));
} else {
  if (positionals.length === 0) {
    console.error('bench-append-path: name one or more built checkouts');
    process.exit(2);
  }
  const self = fileURLToPath(import.meta.url);
  const rows = [];
  for (let round = 0; round < Number(values.rounds); round++) {
    for (const build of positionals) {
      // A fresh process per run: each build's modules, and no garbage from the other.
      const out = execFileSync(process.execPath, [self, '--child', '--records', values.records, build]);
      const { wallUs, cpuUs } = JSON.parse(out.toString());
      rows.push({ round, build, 'wall µs/record': wallUs.toFixed(1), 'CPU µs/record': cpuUs.toFixed(1) });
    }
  }
  console.table(rows);
  console.log(
    `load average ${loadavg()
      .map((l) => l.toFixed(2))
      .join(' ')}`,
  );
}
