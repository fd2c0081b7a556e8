#!/usr/bin/env node
// Kafka listener vs gRPC, in one run on one cluster: kcat (librdkafka) producing and consuming 100-byte
// records through the Kafka listener, and `samsa bench produce|consume` (the Samsa SDK over gRPC) on
// a topic of the same shape. Usage (after npx tsc -b):
//   node scripts/bench-kafka.mjs [--records N] [--rounds R]
// Starts `samsa dev --brokers 3` on free ports in a temporary directory; RF 1 acks=1 and RF 3 acks=all
// (min.insync.replicas=2), one partition each; then per-record latency at 10k records/s (RF 3 acks=all) of
// librdkafka (confluent-kafka-python) and of kafka-latency-probe.mjs (a minimal Node client shaped like the
// SDK's producer) over the Kafka listener, and of the SDK over gRPC. Prints one line per
// run and the medians. Needs kcat and python3-confluent-kafka (Debian's packages, as .ci/run installs).
import { execFileSync, spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { freePort, killOnExit, stopProcess, tempDir } from './bench-processes.mjs';

const { values } = parseArgs({
  options: { records: { type: 'string', default: '1000000' }, rounds: { type: 'string', default: '3' } },
});
const records = Number(values.records);
const rounds = Number(values.rounds);
const cli = new URL('../packages/cli/dist/main.js', import.meta.url).pathname;
const latencyScript = new URL('../test/kafka/librdkafka-latency.py', import.meta.url).pathname;
const probeScript = new URL('./kafka-latency-probe.mjs', import.meta.url).pathname;
// Removed on any exit, as `samsa dev` is killed (its members stop when it dies: it supervises them).
const dir = tempDir('bench-kafka-');

const portFree = (port) =>
  new Promise((resolve) => {
    const s = createServer()
      .once('error', () => resolve(false))
      .listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
  });

// gRPC ports base..base+2 and Kafka ports base+10000..: pick a base whose six ports are free.
let base;
do base = 20000 + Math.floor(Math.random() * 20000);
while (!(await Promise.all([0, 1, 2, 10000, 10001, 10002].map((d) => portFree(base + d)))).every(Boolean));
const coordinatorPort = await freePort();
const devArgs = ['dev', '--brokers', '3', '--base-port', String(base), '--coordinator-port', String(coordinatorPort)];
devArgs.push('--data-dir', join(dir, 'data'));
const dev = killOnExit(spawn(process.execPath, [cli, ...devArgs], { stdio: ['ignore', 'pipe', 'pipe'] }));
let devOutput = '';
dev.stdout.on('data', (d) => {
  devOutput += d;
});
dev.stderr.on('data', (d) => {
  devOutput += d;
});
const started = Date.now();
while (!devOutput.includes('Kafka clients bootstrap')) {
  if (Date.now() - started > 60_000 || dev.exitCode !== null) throw new Error(`samsa dev did not start:\n${devOutput}`);
  await new Promise((r) => setTimeout(r, 200));
}
const grpc = `127.0.0.1:${base}`;
const kafka = `127.0.0.1:${base + 10000}`;

const input = join(dir, 'records.txt');
// kcat -P sends one record per line, without the newline: 100-byte values like samsa bench's.
writeFileSync(input, `${'x'.repeat(100)}\n`.repeat(records));

function samsa(...args) {
  return execFileSync(process.execPath, [cli, ...args, '--bootstrap-server', grpc], { encoding: 'utf8' });
}

function timed(command, args) {
  const t0 = process.hrtime.bigint();
  execFileSync(command, args, { stdio: ['ignore', 'ignore', 'inherit'] });
  return Number(process.hrtime.bigint() - t0) / 1e9;
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const results = {};
const record = (name, rate) => {
  results[name] ??= [];
  results[name].push(rate);
  console.log(`${name}: ${Math.round(rate).toLocaleString('en')} records/s`);
};

try {
  for (let round = 1; round <= rounds; round++) {
    for (const [label, rf, acks] of [
      ['RF 1 acks=1', 1, '1'],
      ['RF 3 acks=all', 3, 'all'],
    ]) {
      const configs = rf === 3 ? ['--config', 'min.insync.replicas=2'] : [];
      const kTopic = `kcat-${rf}-${round}`;
      const gTopic = `grpc-${rf}-${round}`;
      for (const t of [kTopic, gTopic])
        samsa('topics', 'create', '--topic', t, '--partitions', '1', '--replication-factor', String(rf), ...configs);
      const produce = timed('kcat', [
        '-b',
        kafka,
        '-P',
        '-t',
        kTopic,
        '-p',
        '0',
        '-X',
        `acks=${acks === 'all' ? 'all' : acks}`,
        '-l',
        input,
      ]);
      record(`${label} produce, kcat over the Kafka listener`, records / produce);
      const consume = timed('sh', [
        '-c',
        `kcat -b ${kafka} -C -t ${kTopic} -p 0 -o beginning -c ${records} -q > /dev/null`,
      ]);
      record(`${label} consume, kcat over the Kafka listener`, records / consume);
      const out = JSON.parse(
        samsa(
          'bench',
          'produce',
          '--topic',
          gTopic,
          '--num-records',
          String(records),
          '--record-size',
          '100',
          '--acks',
          acks,
          '--json',
        )
          .trim()
          .split('\n')
          .pop(),
      );
      record(`${label} produce, samsa bench over gRPC`, out.recordsPerSec);
      const cout = JSON.parse(
        samsa('bench', 'consume', '--topic', gTopic, '--num-records', String(records), '--json')
          .trim()
          .split('\n')
          .pop(),
      );
      record(`${label} consume, samsa bench over gRPC`, cout.recordsPerSec);
    }
  }
  // Per-record latency at 10k records/s (produce call to acknowledgement), RF 3 acks=all: librdkafka
  // (confluent-kafka-python) over the Kafka listener vs the SDK over gRPC, both with linger.ms 1.
  const latency = {};
  const paced = Math.min(records, 100_000);
  for (let round = 1; round <= rounds; round++) {
    const kTopic = `lat-kafka-${round}`;
    const gTopic = `lat-grpc-${round}`;
    const pTopic = `lat-probe-${round}`;
    for (const t of [kTopic, gTopic, pTopic])
      samsa(
        'topics',
        'create',
        '--topic',
        t,
        '--partitions',
        '1',
        '--replication-factor',
        '3',
        '--config',
        'min.insync.replicas=2',
      );
    const k = JSON.parse(
      execFileSync('/usr/bin/python3', [latencyScript, kafka, kTopic, '10000', String(paced), 'all'], {
        encoding: 'utf8',
      }),
    );
    const probe = JSON.parse(
      execFileSync(process.execPath, [probeScript, kafka, pTopic, '10000', String(paced)], { encoding: 'utf8' }),
    );
    const g = JSON.parse(
      samsa(
        'bench',
        'produce',
        '--topic',
        gTopic,
        '--num-records',
        String(paced),
        '--record-size',
        '100',
        '--acks',
        'all',
        '--throughput',
        '10000',
        '--json',
      )
        .trim()
        .split('\n')
        .pop(),
    );
    for (const [name, f] of [
      ['librdkafka over the Kafka listener', k],
      ['a minimal SDK-shaped Node client over the Kafka listener', probe],
      ['samsa bench over gRPC', g],
    ]) {
      latency[name] ??= [];
      latency[name].push(f);
      console.log(`10k records/s RF 3 acks=all, ${name}: p50 ${f.p50Ms.toFixed(1)} ms, p99 ${f.p99Ms.toFixed(1)} ms`);
    }
  }
  console.log(`\nmedians over ${rounds} round(s), ${records.toLocaleString('en')} records of 100 bytes:`);
  for (const [name, rates] of Object.entries(results))
    console.log(`  ${name}: ${Math.round(median(rates)).toLocaleString('en')} records/s`);
  for (const [name, figures] of Object.entries(latency)) {
    const p50 = median(figures.map((f) => f.p50Ms)).toFixed(1);
    const p99 = median(figures.map((f) => f.p99Ms)).toFixed(1);
    console.log(`  latency at 10k records/s, RF 3 acks=all, ${name}: p50 ${p50} ms, p99 ${p99} ms`);
  }
} finally {
  // samsa dev stops its members; the temp dir goes when this process exits.
  await stopProcess(dev, 60_000);
}
