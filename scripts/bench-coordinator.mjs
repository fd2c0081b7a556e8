#!/usr/bin/env node
/**
 * Coordinator benchmark: Apache ZooKeeper 3.8 versus Samsa's embedded coordinator, in the same run, with
 * the same client (node-zookeeper-client) and the same load.
 *
 *   npx tsc -b && node scripts/bench-coordinator.mjs [--clients 8] [--duration-ms 4000 | --ops N]
 *       [--data-bytes 100] [--warmup-ms 1500] [--targets zookeeper,embedded] [--json]
 *
 * Each server runs as its own process (ZooKeeper through zkServer.sh start-foreground with forceSync=yes,
 * the coordinator through packages/coordinator/dist/main.js; both fsync every write before
 * acknowledging), one after the other so that they do not compete for CPU. For each, N clients (one
 * session each, one request in flight each) run three phases: create, setData, getData; each phase runs
 * for a fixed duration (or a fixed count per client). Printed per operation: throughput (ops/s), p50 and
 * p99 latency (nearest-rank percentiles of every request), and the ratio embedded/ZooKeeper.
 * Targets: writes within 2x of ZooKeeper's throughput, reads at least as fast.
 *
 * If the coordinator is not built, ZooKeeper runs alone and the report says so; if ZooKeeper (or Java)
 * is missing, the coordinator runs alone. The ZooKeeper launcher mirrors test/helpers/zookeeper.ts
 * (which tests use); it is repeated here because plain Node cannot import that TypeScript module.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import zookeeper from 'node-zookeeper-client';
import { freePort } from './bench-processes.mjs';

const REPO = fileURLToPath(new URL('..', import.meta.url));
const COORDINATOR_MAIN = join(REPO, 'packages/coordinator/dist/main.js');
const ZK_HOME = process.env.SAMSA_ZK_HOME ?? '/usr/share/zookeeper';
const ZK_SERVER_SH = join(ZK_HOME, 'bin/zkServer.sh');
const OPERATIONS = ['create', 'setData', 'getData'];

const { values: flags } = parseArgs({
  options: {
    clients: { type: 'string', default: '8' },
    'duration-ms': { type: 'string', default: '4000' },
    ops: { type: 'string' },
    'data-bytes': { type: 'string', default: '100' },
    'warmup-ms': { type: 'string', default: '1500' },
    targets: { type: 'string', default: 'zookeeper,embedded' },
    json: { type: 'boolean', default: false },
    help: { type: 'boolean', default: false },
  },
});
if (flags.help) {
  process.stdout.write(
    'node scripts/bench-coordinator.mjs [--clients 8] [--duration-ms 4000 | --ops N] ' +
      '[--data-bytes 100] [--warmup-ms 1500] [--targets zookeeper,embedded] [--json]\n',
  );
  process.exit(0);
}
const config = {
  clients: positiveInt('clients', flags.clients),
  durationMs: positiveInt('duration-ms', flags['duration-ms']),
  opsPerClient: flags.ops === undefined ? undefined : positiveInt('ops', flags.ops),
  dataBytes: positiveInt('data-bytes', flags['data-bytes'], true),
  warmupMs: positiveInt('warmup-ms', flags['warmup-ms'], true),
  targets: flags.targets.split(',').map((t) => t.trim()),
};

function positiveInt(name, value, allowZero = false) {
  const n = Number(value);
  if (!Number.isInteger(n) || n < (allowZero ? 0 : 1)) {
    process.stderr.write(
      `error: --${name} must be a ${allowZero ? 'non-negative' : 'positive'} integer, got ${JSON.stringify(value)}\n`,
    );
    process.exit(2);
  }
  return n;
}

// ---------------------------------------------------------------------------------------------------
// Servers

const children = new Set();
process.on('exit', () => {
  for (const child of children) killGroup(child, 'SIGKILL');
});
for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => process.exit(130));

function killGroup(child, signal) {
  try {
    process.kill(-child.pid, signal);
  } catch {
    // Gone already.
  }
}

function spawnServer(name, command, args, env, cwd) {
  const child = spawn(command, args, { cwd, env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(child);
  let output = '';
  const keep = (chunk) => {
    output = (output + chunk.toString()).slice(-64 * 1024);
  };
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  const exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  exited.then(() => children.delete(child));
  return {
    name,
    child,
    exited,
    output: () => output,
    async stop() {
      killGroup(child, 'SIGTERM');
      const timer = setTimeout(() => killGroup(child, 'SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
    },
  };
}

function fourLetterWord(port, word) {
  return new Promise((resolve) => {
    let reply = '';
    const socket = connect({ host: '127.0.0.1', port }, () => socket.write(word));
    socket.setTimeout(1_000, () => socket.destroy());
    socket.on('data', (chunk) => (reply += chunk));
    socket.on('error', () => {});
    socket.on('close', () => resolve(reply));
  });
}

async function waitUntil(probe, server, timeoutMs, what) {
  const deadline = Date.now() + timeoutMs;
  let exited = false;
  server.exited.then(() => (exited = true));
  while (Date.now() < deadline) {
    if (exited) throw new Error(`${server.name} exited while starting:\n${server.output().slice(-4000)}`);
    if (await probe()) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`timed out waiting for ${what}`);
}

function zookeeperUnavailable() {
  if (!existsSync(ZK_SERVER_SH)) return `${ZK_SERVER_SH} not found (Debian package 'zookeeper', or SAMSA_ZK_HOME)`;
  const java = spawnSync(process.env.JAVA ?? 'java', ['-version'], { stdio: 'ignore' });
  if (java.error || java.status !== 0) return 'java not found; ZooKeeper needs it';
  return undefined;
}

function coordinatorUnavailable() {
  if (!existsSync(COORDINATOR_MAIN)) return `${COORDINATOR_MAIN} not found (build with: npx tsc -b)`;
  return undefined;
}

async function startZooKeeper(workDir) {
  const port = await freePort();
  const dataDir = join(workDir, 'zookeeper-data');
  const config = join(workDir, 'zoo.cfg');
  writeFileSync(
    config,
    [
      'tickTime=2000',
      `dataDir=${dataDir}`,
      `clientPort=${port}`,
      'clientPortAddress=127.0.0.1',
      'admin.enableServer=false',
      '4lw.commands.whitelist=*',
      'forceSync=yes',
      'maxClientCnxns=0',
      '',
    ].join('\n'),
  );
  const env = {
    ...process.env,
    JMXDISABLE: 'true',
    ZOO_LOG_DIR: workDir,
    JVMFLAGS: `-Xmx512m -Dzookeeper.log.dir=${workDir}`,
    ZOOPIDFILE: join(workDir, 'zk.pid'),
  };
  const server = spawnServer('zookeeper', ZK_SERVER_SH, ['start-foreground', config], env, workDir);
  await waitUntil(
    async () => (await fourLetterWord(port, 'srvr')).includes('Mode:'),
    server,
    60_000,
    'ZooKeeper to serve',
  );
  return {
    ...server,
    connectString: `127.0.0.1:${port}`,
    version: (await fourLetterWord(port, 'srvr')).split('\n')[0],
  };
}

async function startEmbedded(workDir) {
  const port = await freePort();
  const dataDir = join(workDir, 'coordinator-data');
  const server = spawnServer(
    'embedded',
    process.execPath,
    [COORDINATOR_MAIN, '--port', String(port), '--data-dir', dataDir, '--host', '127.0.0.1'],
    process.env,
    REPO,
  );
  await waitUntil(
    async () => /listening/i.test(server.output()) && (await fourLetterWord(port, 'ruok')) === 'imok',
    server,
    30_000,
    'the coordinator to listen',
  );
  return { ...server, connectString: `127.0.0.1:${port}`, version: 'samsa coordinator (dist/main.js)' };
}

// ---------------------------------------------------------------------------------------------------
// Load

function connectClient(connectString) {
  return new Promise((resolve, reject) => {
    const client = zookeeper.createClient(connectString, { sessionTimeout: 30_000, spinDelay: 100, retries: 0 });
    const timer = setTimeout(() => reject(new Error(`no session from ${connectString}`)), 15_000);
    client.once('connected', () => {
      clearTimeout(timer);
      resolve(client);
    });
    client.connect();
  });
}

function call(fn) {
  return new Promise((resolve, reject) => fn((error, result) => (error ? reject(error) : resolve(result))));
}

const operations = {
  create: (client, path, data) => call((cb) => client.create(path, data, cb)),
  setData: (client, path, data) => call((cb) => client.setData(path, data, -1, cb)),
  getData: (client, path) => call((cb) => client.getData(path, cb)),
};

/** Growable array of latencies in nanoseconds. */
class Samples {
  constructor() {
    this.values = new Float64Array(1 << 14);
    this.length = 0;
  }
  push(value) {
    if (this.length === this.values.length) {
      const grown = new Float64Array(this.values.length * 2);
      grown.set(this.values);
      this.values = grown;
    }
    this.values[this.length++] = value;
  }
  sorted() {
    return this.values.slice(0, this.length).sort();
  }
}

/** Nearest-rank percentile of sorted values: the smallest value with at least q of all values at or below it. */
function percentile(sorted, q) {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))];
}

/**
 * One phase: every client issues `op` back to back (one in flight each) until the deadline or its count.
 * create makes new nodes under the client's own parent; setData and getData cycle over those nodes.
 */
async function runPhase(clients, op, parents, nodesPerClient, data, { durationMs, opsPerClient }) {
  const samples = new Samples();
  const deadline = performance.now() + durationMs;
  const started = performance.now();
  await Promise.all(
    clients.map(async (client, c) => {
      for (let i = 0; opsPerClient === undefined ? performance.now() < deadline : i < opsPerClient; i++) {
        const path =
          op === 'create'
            ? `${parents[c]}/n${nodesPerClient[c]++}`
            : `${parents[c]}/n${i % Math.max(1, nodesPerClient[c])}`;
        const t0 = process.hrtime.bigint();
        await operations[op](client, path, data);
        samples.push(Number(process.hrtime.bigint() - t0));
      }
    }),
  );
  const elapsedMs = performance.now() - started;
  const sorted = samples.sorted();
  return {
    ops: sorted.length,
    opsPerSec: (sorted.length / elapsedMs) * 1000,
    p50Ms: percentile(sorted, 0.5) / 1e6,
    p99Ms: percentile(sorted, 0.99) / 1e6,
  };
}

async function benchTarget(name, server) {
  const clients = await Promise.all(Array.from({ length: config.clients }, () => connectClient(server.connectString)));
  const data = Buffer.alloc(config.dataBytes, 0x61);
  try {
    const root = `/bench-${Date.now()}`;
    await operations.create(clients[0], root, Buffer.alloc(0));
    const parents = clients.map((_, c) => `${root}/c${c}`);
    for (const parent of parents) await operations.create(clients[0], parent, Buffer.alloc(0));
    if (config.warmupMs > 0) {
      const warm = Array(config.clients).fill(0);
      const warmParents = parents.map((p) => `${p}-warmup`);
      for (const parent of warmParents) await operations.create(clients[0], parent, Buffer.alloc(0));
      for (const op of OPERATIONS)
        await runPhase(clients, op, warmParents, warm, data, {
          durationMs: config.warmupMs / 3,
          opsPerClient: undefined,
        });
    }
    const nodesPerClient = Array(config.clients).fill(0);
    const results = {};
    for (const op of OPERATIONS) {
      results[op] = await runPhase(clients, op, parents, nodesPerClient, data, config);
      if (!config.json) process.stderr.write(`  ${name} ${op}: ${formatRate(results[op].opsPerSec)} ops/s\n`);
    }
    return results;
  } finally {
    for (const client of clients) client.close();
  }
}

// ---------------------------------------------------------------------------------------------------
// Report

function formatRate(value) {
  return Number.isFinite(value) ? Math.round(value).toLocaleString('en-US') : '-';
}

function formatMs(value) {
  return Number.isFinite(value) ? value.toFixed(2) : '-';
}

function ratio(a, b) {
  return Number.isFinite(a) && Number.isFinite(b) && b > 0 ? `${(a / b).toFixed(2)}x` : '-';
}

function table(rows) {
  const widths = rows[0].map((_, i) => Math.max(...rows.map((row) => String(row[i]).length)));
  return rows
    .map((row) =>
      row.map((cell, i) => (i === 0 ? String(cell).padEnd(widths[i]) : String(cell).padStart(widths[i]))).join('  '),
    )
    .join('\n');
}

function report(results, notes, servers) {
  const zk = results.zookeeper;
  const em = results.embedded;
  const header = [
    'op',
    'zk ops/s',
    'zk p50 ms',
    'zk p99 ms',
    'emb ops/s',
    'emb p50 ms',
    'emb p99 ms',
    'ops/s emb/zk',
    'p50 emb/zk',
    'p99 emb/zk',
  ];
  const rows = [header];
  for (const op of OPERATIONS) {
    const z = zk?.[op] ?? {};
    const e = em?.[op] ?? {};
    rows.push([
      op,
      ...[z, e].flatMap((r) => [formatRate(r.opsPerSec), formatMs(r.p50Ms), formatMs(r.p99Ms)]),
      ratio(e.opsPerSec, z.opsPerSec),
      ratio(e.p50Ms, z.p50Ms),
      ratio(e.p99Ms, z.p99Ms),
    ]);
  }
  const load =
    config.opsPerClient === undefined
      ? `${config.durationMs} ms per phase`
      : `${config.opsPerClient} ops per client per phase`;
  const lines = [
    '',
    `Coordinator benchmark: ${config.clients} clients (one request in flight ` +
      `each), ${config.dataBytes}-byte data, ${load}, warmup ${config.warmupMs} ms`,
    ...servers.map((s) => `  ${s.name}: ${s.version}`),
    '',
    table(rows),
    '',
  ];
  if (zk && em) {
    const writesOk = ['create', 'setData'].every((op) => em[op].opsPerSec * 2 >= zk[op].opsPerSec);
    const readsOk = em.getData.opsPerSec >= zk.getData.opsPerSec;
    lines.push(`target: writes within 2x of ZooKeeper's throughput: ${writesOk ? 'MET' : 'NOT MET'}`);
    lines.push(`target: reads at least as fast as ZooKeeper:        ${readsOk ? 'MET' : 'NOT MET'}`);
  }
  for (const note of notes) lines.push(`note: ${note}`);
  process.stdout.write(`${lines.join('\n')}\n`);
}

// ---------------------------------------------------------------------------------------------------

const workDir = mkdtempSync(join(tmpdir(), 'samsa-bench-coordinator-'));
const notes = [];
const results = {};
const servers = [];
try {
  for (const target of config.targets) {
    if (target !== 'zookeeper' && target !== 'embedded')
      throw new Error(`unknown target ${target} (zookeeper, embedded)`);
    const unavailable = target === 'zookeeper' ? zookeeperUnavailable() : coordinatorUnavailable();
    if (unavailable) {
      notes.push(`${target} did not run: ${unavailable}`);
      if (!config.json) process.stderr.write(`skipping ${target}: ${unavailable}\n`);
      continue;
    }
    if (!config.json) process.stderr.write(`starting ${target}...\n`);
    const server = target === 'zookeeper' ? await startZooKeeper(workDir) : await startEmbedded(workDir);
    servers.push(server);
    try {
      results[target] = await benchTarget(target, server);
    } finally {
      await server.stop();
    }
  }
  if (config.json) process.stdout.write(`${JSON.stringify({ config, results, notes }, null, 2)}\n`);
  else report(results, notes, servers);
} finally {
  rmSync(workDir, { recursive: true, force: true });
}
process.exit(0);
