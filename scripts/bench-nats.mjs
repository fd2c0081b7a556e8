#!/usr/bin/env node
// NATS JetStream beside Samsa, for bench-cluster.mjs's one-record-at-a-time comparison: a cluster of
// Debian's `nats-server` processes (JetStream on, file storage, one store directory each) and a
// client process that publishes one message at a time, each awaited until its stream acknowledges it
// (a PubAck: stored by the stream's quorum for R3), the same loop as `samsa bench produce
// --one-at-a-time`. Nothing here fsyncs per message, as Samsa's default flush policy does not.
//   node scripts/bench-nats.mjs client --servers nats://127.0.0.1:P --replicas 3 --records N --warmup-records W
// prints the figures as JSON (the shape of `samsa bench produce --json`). Imported, it starts servers.
import { execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import hdr from 'hdr-histogram-js';

/** The nats-server binary on PATH (or in /usr/sbin, where Debian puts it), or undefined. */
export function natsServerPath() {
  for (const candidate of ['nats-server', '/usr/sbin/nats-server', '/usr/local/bin/nats-server']) {
    try {
      execFileSync(candidate, ['--version'], { stdio: 'ignore' });
      return candidate;
    } catch {
      // not this one
    }
  }
  return undefined;
}

/**
 * Starts `count` clustered JetStream servers on the given ports (client ports and cluster ports) with
 * their stores under `dir`. Resolves with their client URLs and a stop function once every server
 * accepts connections; the JetStream meta leader may take a moment more (createStream retries).
 */
export async function startNatsCluster({ binary, count, clientPorts, clusterPorts, dir, waitForPort }) {
  const children = [];
  const routes = clusterPorts.map((p) => `nats://127.0.0.1:${p}`).join(',');
  for (let i = 0; i < count; i++) {
    const args = [
      '-a',
      '127.0.0.1',
      '-p',
      String(clientPorts[i]),
      '-js',
      '-sd',
      join(dir, `nats-${i + 1}`),
      '--server_name',
      `n${i + 1}`,
    ];
    if (count > 1)
      args.push('--cluster_name', 'bench', '--cluster', `nats://127.0.0.1:${clusterPorts[i]}`, '--routes', routes);
    const child = spawn(binary, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    // Its log goes to stderr: keep the last of it, to say why a server that exits at start did.
    let tail = '';
    child.stderr.on('data', (data) => {
      tail = (tail + data).slice(-2000);
    });
    child.logTail = () => tail;
    children.push(child);
  }
  for (let i = 0; i < count; i++) {
    try {
      await waitForPort(clientPorts[i], children[i], `nats-server ${i + 1}`);
    } catch (err) {
      for (const child of children) child.kill('SIGKILL'); // none is left behind
      throw new Error(`${err.message}: ${children[i].logTail().trim().split('\n').slice(-3).join(' | ')}`);
    }
  }
  return {
    children,
    servers: clientPorts.map((p) => `nats://127.0.0.1:${p}`),
    async stop() {
      for (const child of children) {
        child.kill('SIGTERM');
        await new Promise((r) => (child.exitCode !== null ? r() : child.once('exit', r)));
      }
    },
  };
}

/** The stream manager and a new stream; a fresh cluster elects its JetStream meta leader after the servers are up. */
async function createStream(nc, name, replicas) {
  const deadline = Date.now() + 30_000;
  for (;;) {
    try {
      const jsm = await nc.jetstreamManager();
      await jsm.streams.add({ name, subjects: [name], num_replicas: replicas, storage: 'file' });
      return jsm;
    } catch (err) {
      // A fresh cluster elects its JetStream meta leader after the servers are up.
      if (Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, 250));
    }
  }
}

function figures(histogram, records, seconds, recordSize) {
  const ms = (p) => Math.min(histogram.getValueAtPercentile(p), histogram.maxValue) / 1000;
  return {
    records,
    seconds,
    recordsPerSec: records / seconds,
    mbPerSec: (records * recordSize) / 1e6 / seconds,
    p50Ms: ms(50),
    p99Ms: ms(99),
    p999Ms: ms(99.9),
    maxMs: histogram.maxValue / 1000,
  };
}

/** One message at a time on a new stream of `replicas` replicas; the first `warmup` left out of the steady state. */
async function publishOneAtATime({ servers, replicas, records, warmup, recordSize }) {
  const { connect } = await import('nats');
  const nc = await connect({ servers });
  try {
    const name = `bench_r${replicas}_${Date.now()}`;
    const jsm = await createStream(nc, name, replicas);
    const js = nc.jetstream();
    const payload = randomBytes(recordSize);
    const build = () =>
      hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: 3_600_000_000, numberOfSignificantValueDigits: 3 });
    const whole = build();
    const steady = build();
    const start = performance.now();
    let steadyStart = start;
    for (let i = 0; i < records; i++) {
      const t0 = performance.now();
      if (i === warmup) steadyStart = t0;
      await js.publish(name, payload);
      const us = Math.max(1, Math.round((performance.now() - t0) * 1000));
      whole.recordValue(us);
      if (i >= warmup) steady.recordValue(us);
    }
    const end = performance.now();
    const result = figures(whole, records, (end - start) / 1000, recordSize);
    if (warmup > 0) result.steadyState = figures(steady, records - warmup, (end - steadyStart) / 1000, recordSize);
    await jsm.streams.delete(name);
    return result;
  } finally {
    await nc.close();
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href && process.argv[2] === 'client') {
  const { values } = parseArgs({
    args: process.argv.slice(3),
    options: {
      servers: { type: 'string' },
      replicas: { type: 'string', default: '3' },
      records: { type: 'string', default: '5000' },
      'warmup-records': { type: 'string', default: '1000' },
      'record-size': { type: 'string', default: '100' },
    },
  });
  const result = await publishOneAtATime({
    servers: values.servers.split(','),
    replicas: Number(values.replicas),
    records: Number(values.records),
    warmup: Number(values['warmup-records']),
    recordSize: Number(values['record-size']),
  });
  process.stdout.write(`${JSON.stringify(result)}\n`);
}
