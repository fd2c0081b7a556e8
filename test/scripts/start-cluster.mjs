// A benchmark script in miniature for bench-processes.test.ts: starts a cluster with
// scripts/bench-processes.mjs, prints one JSON line (its data dir, the pids of its processes), then
// does what argv[2] says: `stop` (stop it and print whether the dir is left), `throw` (an uncaught
// error), `wait` (idle until signalled), `bad` (a broker setting that does not exist: print the error).
// argv[3] is the number of brokers; argv[4], if given, the data dir.
import { existsSync } from 'node:fs';
import { startCluster } from '../../scripts/bench-processes.mjs';

const [mode, brokers = '1', dir] = process.argv.slice(2);
const options = {
  brokers: Number(brokers),
  name: 'test',
  dir,
  overrides: { 'log.cleaner.backoff.ms': '100' },
  logLevel: 'warn',
  // NODE_OPTIONS given as a script's own (bench-ab's probe preload): nodeOptions adds to it.
  env: { SAMSA_TEST_ALL: 'all', NODE_OPTIONS: '--no-warnings' },
  brokerEnv: { SAMSA_TEST_BROKERS: 'brokers' },
  nodeOptions: '--max-old-space-size=300',
  // Which brokers' stdout came as a pipe (the script must read it).
  brokerStdout: (child, id) => {
    piped.push(id);
    child.stdout.resume();
  },
};
const piped = [];
if (mode === 'bad') options.overrides = { 'no.such.setting': '1' };
try {
  const c = await startCluster(options);
  const pids = [c.coordinator.child.pid, ...c.brokers.map((b) => b.child.pid)];
  console.log(JSON.stringify({ dir: c.dir, pids, bootstrap: c.bootstrap, piped }));
  if (mode === 'stop') {
    await c.stop();
    console.log(JSON.stringify({ stopped: true, dirLeft: existsSync(c.dir) }));
  } else if (mode === 'throw') {
    throw new Error('the benchmark failed');
  } else {
    setInterval(() => {}, 1000);
  }
} catch (err) {
  if (mode !== 'bad') throw err;
  console.log(JSON.stringify({ error: err.message }));
  setInterval(() => {}, 1000);
}
