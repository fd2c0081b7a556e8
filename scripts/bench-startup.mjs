#!/usr/bin/env node
// Start-up cost of the SDK and the CLI, A/B: for each built checkout DIR (its packages' dist/ and
// node_modules), alternating the order every round, runs
//   node -e "import('@samsa/client')"          the import's wall time and the process's CPU (process.cpuUsage)
//   samsa --help                               wall and CPU (/usr/bin/time)
//   samsa topics list --bootstrap-server B     wall and CPU (/usr/bin/time), against a running cluster
// and prints p50 (p10, p90) of each per checkout. Through the benchmark lock:
//   flock /tmp/samsa-bench.lock node scripts/bench-startup.mjs --runs 20 --bootstrap 127.0.0.1:9092 DIR_A DIR_B
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

const { values, positionals: dirs } = parseArgs({
  options: { runs: { type: 'string', default: '20' }, bootstrap: { type: 'string', default: '127.0.0.1:9092' } },
  allowPositionals: true,
});
const IMPORT_CLIENT =
  "const t0 = performance.now(); import('@samsa/client').then(() => { const c = process.cpuUsage();" +
  ' console.log(JSON.stringify({ importMs: performance.now() - t0, cpuMs: (c.user + c.system) / 1000 })); })';

/** Wall and CPU milliseconds of `node ARGS` in `cwd`, from /usr/bin/time (10 ms resolution). */
function timed(cwd, args) {
  const run = spawnSync('/usr/bin/time', ['-f', '%e %U %S', process.execPath, ...args], { cwd, encoding: 'utf8' });
  if (run.status !== 0) throw new Error(`${args.join(' ')} in ${cwd}: ${run.stderr}`);
  const [elapsed, user, system] = run.stderr.trim().split('\n').at(-1).split(' ').map(Number);
  return { wallMs: elapsed * 1000, cpuMs: (user + system) * 1000 };
}

const figures = new Map(dirs.map((dir) => [dir, {}]));
const add = (dir, name, value) => {
  const f = figures.get(dir);
  if (!f[name]) f[name] = [];
  f[name].push(value);
};
for (let round = 0; round < Number(values.runs); round++) {
  for (const dir of round % 2 === 0 ? dirs : [...dirs].reverse()) {
    const run = spawnSync(process.execPath, ['-e', IMPORT_CLIENT], { cwd: dir, encoding: 'utf8' });
    if (run.status !== 0) throw new Error(`import in ${dir}: ${run.stderr}`);
    const { importMs, cpuMs } = JSON.parse(run.stdout);
    add(dir, 'import @samsa/client: ms', importMs);
    add(dir, 'import @samsa/client: process CPU ms', cpuMs);
    const cli = join('packages', 'cli', 'bin', 'samsa.js');
    const help = timed(dir, [cli, '--help']);
    add(dir, 'samsa --help: ms', help.wallMs);
    add(dir, 'samsa --help: CPU ms', help.cpuMs);
    const list = timed(dir, [cli, 'topics', 'list', '--bootstrap-server', values.bootstrap]);
    add(dir, 'samsa topics list: ms', list.wallMs);
    add(dir, 'samsa topics list: CPU ms', list.cpuMs);
  }
}
const quantile = (xs, q) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(q * xs.length))];
for (const [dir, f] of figures) {
  console.log(dir);
  for (const [name, xs] of Object.entries(f))
    console.log(
      `  ${name.padEnd(38)} p50 ${quantile(xs, 0.5).toFixed(0)} (p10 ${quantile(xs, 0.1).toFixed(0)},` +
        ` p90 ${quantile(xs, 0.9).toFixed(0)})`,
    );
}
