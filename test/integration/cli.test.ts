/** The `samsa` command end to end against real processes: what a user types, what a user sees. */
import { spawn } from 'node:child_process';
import { connect } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import hdr from 'hdr-histogram-js';
import { runSamsa } from '../helpers/cli.js';
import { CLI_MAIN, LocalCluster } from '../helpers/cluster.js';
import { freePort } from '../helpers/ports.js';
import { createTempDir } from '../helpers/temp.js';
import { waitFor } from '../helpers/wait.js';

let cluster: LocalCluster;
let bootstrap: string;

const samsa = runSamsa;

beforeAll(async () => {
  cluster = await LocalCluster.start({ brokers: 1 });
  bootstrap = cluster.bootstrap[0]!;
}, 60_000);

afterAll(async () => {
  await cluster?.close();
});

describe('samsa CLI', () => {
  it('round trip: stdin lines in, the same lines out, keys included', async () => {
    const topic = `cli-${process.pid}`;
    const created = await samsa([
      'topics',
      'create',
      '--topic',
      topic,
      '--partitions',
      '1',
      '--replication-factor',
      '1',
      '--config',
      'retention.ms=600000',
      '--bootstrap-server',
      bootstrap,
    ]);
    expect(created).toMatchObject({ code: 0, stdout: `Created topic ${topic}.\n` });
    const lines = Array.from({ length: 200 }, (_, i) => `key-${i % 7}:value ${i} with spaces and ünïcode`);
    const produced = await samsa(
      ['produce', '--topic', topic, '--key-separator', ':', '--acks', 'all', '--bootstrap-server', bootstrap],
      `${lines.join('\n')}\n`,
    );
    expect(produced).toMatchObject({ code: 0, stderr: '' });
    const consumed = await samsa([
      'consume',
      '--topic',
      topic,
      '--from-beginning',
      '--max-messages',
      '200',
      '--print-key',
      '--key-separator',
      ':',
      '--bootstrap-server',
      bootstrap,
    ]);
    expect(consumed.code).toBe(0);
    expect(consumed.stdout.trimEnd().split('\n')).toEqual(lines);

    const described = await samsa(['topics', 'describe', '--topic', topic, '--bootstrap-server', bootstrap]);
    expect(described.stdout).toMatch(
      new RegExp(`Topic: ${topic}\\tPartitionCount: 1\\tReplicationFactor: 1\\tConfigs: retention.ms=600000`),
    );
    expect(described.stdout).toMatch(/Partition: 0\tLeader: 1\tLeaderEpoch: 0\tReplicas: 1\tIsr: 1/);
  });

  it('an unreachable cluster is one line on stderr and a non-zero exit', async () => {
    const port = await freePort();
    const run = await samsa(['topics', 'list', '--bootstrap-server', `127.0.0.1:${port}`]);
    expect(run.code).not.toBe(0);
    expect(run.stderr.trim().split('\n')).toEqual([
      `samsa: cannot reach any broker at 127.0.0.1:${port} (connect ECONNREFUSED)`,
    ]);
    expect(run.stdout).toBe('');
  });

  it('usage errors and failed records are reported without a stack trace', async () => {
    const bad = await samsa(['topics', 'create', '--topic', 'bad name!', '--bootstrap-server', bootstrap]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/^samsa: InvalidTopic/);
    expect(bad.stderr).not.toMatch(/\n\s+at /);

    const topic = `cli-small-${process.pid}`;
    await samsa([
      'topics',
      'create',
      '--topic',
      topic,
      '--config',
      'max.message.bytes=200',
      '--bootstrap-server',
      bootstrap,
    ]);
    const produced = await samsa(
      ['produce', '--topic', topic, '--bootstrap-server', bootstrap],
      `small\n${'x'.repeat(1000)}\nsmall again\n`,
    );
    expect(produced.code).toBe(1);
    expect(produced.stderr).toMatch(
      /^samsa: 1 of 3 records failed:\n {2}line 2: MessageTooLarge: batch of \d+ bytes[^\n]*\n?$/,
    );
  });

  it('log dump reads the segments a broker wrote', async () => {
    const topic = `cli-dump-${process.pid}`;
    await samsa(['topics', 'create', '--topic', topic, '--bootstrap-server', bootstrap]);
    await samsa(['produce', '--topic', topic, '--bootstrap-server', bootstrap], 'one\ntwo\nthree\n');
    const dir = join(cluster.broker(1).dataDir, `${topic}-0`);
    const dumped = await samsa(['log', 'dump', dir, '--print-records']);
    expect(dumped.code).toBe(0);
    expect(dumped.stdout).toMatch(/crcValid: true/);
    expect(dumped.stdout.match(/payload: "(one|two|three)"/g)).toHaveLength(3);
    expect(dumped.stdout).toMatch(/3 records\n$/);
  });

  it('bench produce reports the whole run and, after --warmup-records, the steady state on its own', async () => {
    const topic = `cli-bench-${process.pid}`;
    const args = [
      'bench',
      'produce',
      '--topic',
      topic,
      '--num-records',
      '5000',
      '--record-size',
      '50',
      '--acks',
      'all',
      '--bootstrap-server',
      bootstrap,
    ];
    const json = await samsa([...args, '--warmup-records', '2000', '--json']);
    expect(json.code).toBe(0);
    const figures = JSON.parse(json.stdout.trim().split('\n').at(-1)!) as {
      records: number;
      mbPerSec: number;
      recordsPerSec: number;
      p99Ms: number;
      requests: number;
      latencyHistogram: string;
      steadyState: {
        latencyHistogram: string;
        records: number;
        recordsPerSec: number;
        p50Ms: number;
        p99Ms: number;
        maxMs: number;
        requests: number;
        queueTimeP50Ms: number;
        requestLatencyP50Ms: number;
        requestLatencyP99Ms: number;
        clientCpuUsPerRecord: number;
      };
    };
    expect(figures.records).toBe(5000);
    // The bench process's own CPU per record (process.cpuUsage over the steady state).
    expect(figures.steadyState.clientCpuUsPerRecord).toBeGreaterThan(0);
    expect(figures.steadyState.records).toBe(3000);
    // The producer's requests: how long their batches waited in it, and their round trips.
    expect(figures.steadyState.requests).toBeGreaterThan(0);
    expect(figures.steadyState.requests).toBeLessThanOrEqual(figures.requests);
    expect(figures.steadyState.queueTimeP50Ms).toBeGreaterThanOrEqual(0);
    expect(figures.steadyState.requestLatencyP50Ms).toBeGreaterThan(0);
    expect(figures.steadyState.requestLatencyP99Ms).toBeGreaterThanOrEqual(figures.steadyState.requestLatencyP50Ms);
    expect(figures.steadyState.recordsPerSec).toBeGreaterThan(0);
    expect(figures.steadyState.p50Ms).toBeGreaterThan(0);
    expect(figures.steadyState.p99Ms).toBeLessThanOrEqual(figures.steadyState.maxMs);
    // Each record's latency, in a histogram a script can pool with other runs'.
    expect(hdr.decodeFromCompressedBase64(figures.latencyHistogram).totalCount).toBe(5000);
    const steady = hdr.decodeFromCompressedBase64(figures.steadyState.latencyHistogram);
    expect(steady.totalCount).toBe(3000);
    // (to the histogram's precision: three significant digits)
    expect(Math.abs(steady.maxValue / 1000 / figures.steadyState.maxMs - 1)).toBeLessThan(0.002);
    // Every record was written, warm-up included.
    const consumed = await samsa([
      'bench',
      'consume',
      '--topic',
      topic,
      '--num-records',
      '5000',
      '--timeout-ms',
      '20000',
      '--json',
      '--bootstrap-server',
      bootstrap,
    ]);
    expect(JSON.parse(consumed.stdout.trim())).toMatchObject({ records: 5000 });

    const text = await samsa([...args, '--num-records', '1000', '--warmup-records', '400']);
    expect(text.code).toBe(0);
    const lines = text.stdout.trim().split('\n');
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatch(/^1000 records sent, \d+ records\/sec \([\d.]+ MB\/sec\), latency p50 [\d.]+ ms, /);
    expect(lines[0]).toMatch(
      /, p99 [\d.]+ ms, p99\.9 [\d.]+ ms, max [\d.]+ ms; \d+ requests: queue time p50 [\d.]+ ms, /,
    );
    expect(lines[0]).toMatch(/, request latency p50 [\d.]+ ms, p99 [\d.]+ ms; client CPU [\d.]+ µs\/record$/);
    expect(lines[1]).toMatch(/^steady state after 400 warm-up records: 600 records sent, \d+ records\/sec/);

    const without = await samsa([...args, '--num-records', '300', '--json']);
    expect(JSON.parse(without.stdout.trim())).not.toHaveProperty('steadyState');

    const bad = await samsa([...args, '--num-records', '100', '--warmup-records', '100']);
    expect(bad.code).toBe(2);
    expect(bad.stderr.trim().split('\n')).toEqual([
      'samsa: --warmup-records (100) must be less than --num-records (100)',
    ]);
  });

  it('bench end-to-end times records from send to a consumer, paced and one at a time', async () => {
    const topic = `cli-e2e-${process.pid}`;
    const args = ['bench', 'end-to-end', '--topic', topic, '--acks', 'all', '--json', '--bootstrap-server', bootstrap];
    for (const mode of [['--throughput', '2000'], ['--one-at-a-time']]) {
      const run = await samsa([...args, ...mode, '--num-records', '400', '--warmup-records', '100']);
      expect(run.code).toBe(0);
      const f = JSON.parse(run.stdout.trim().split('\n').at(-1)!) as {
        records: number;
        p50Ms: number;
        maxMs: number;
        latencyHistogram: string;
        steadyState: { records: number; p99Ms: number; maxMs: number; latencyHistogram: string };
        acknowledgedP50Ms: number;
        afterAckP99Ms: number;
        receivedBeforeAck: number;
      };
      expect(f.records).toBe(400);
      expect(f.p50Ms).toBeGreaterThan(0);
      expect(f.steadyState.records).toBe(300);
      expect(f.steadyState.p99Ms).toBeLessThanOrEqual(f.steadyState.maxMs);
      // Every record received counted once (a step's records are recorded as one run).
      expect(hdr.decodeFromCompressedBase64(f.latencyHistogram).totalCount).toBe(400);
      expect(hdr.decodeFromCompressedBase64(f.steadyState.latencyHistogram).totalCount).toBe(300);
      // The split: the produce path's share and the consumer's after it.
      expect(f.acknowledgedP50Ms).toBeGreaterThan(0);
      expect(f.afterAckP99Ms).toBeGreaterThan(0);
      expect(f.receivedBeforeAck).toBeGreaterThanOrEqual(0);
      expect(f.receivedBeforeAck).toBeLessThanOrEqual(1);
    }
    // Paced per record: a bench produce at 2000 records/s takes about its 0.2 s, not one burst.
    const paced = await samsa([
      'bench',
      'produce',
      '--topic',
      topic,
      '--num-records',
      '400',
      '--throughput',
      '2000',
      '--json',
      '--bootstrap-server',
      bootstrap,
    ]);
    expect(JSON.parse(paced.stdout.trim().split('\n').at(-1)!).seconds).toBeGreaterThan(0.19);
  });

  it('servers log at --log-level or SAMSA_LOG_LEVEL; a bad level is one line and a non-zero exit', async () => {
    const bad = await samsa(['coordinator', 'start', '--data-dir', 'unused', '--log-level', 'loud']);
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toMatch(/--log-level must be one of trace, debug, info, warn, error, fatal, silent/);
    const badEnv = await samsa(['broker', 'start', '--id', '1', '--data-dir', 'unused'], '', {
      SAMSA_LOG_LEVEL: 'loud',
    });
    expect(badEnv.code).not.toBe(0);
    expect(badEnv.stderr.trim().split('\n')).toEqual([
      "samsa: SAMSA_LOG_LEVEL must be one of trace, debug, info, warn, error, fatal, silent, not 'loud'",
    ]);

    // At warn, a coordinator that starts and stops cleanly says nothing (its info lines are suppressed).
    const dir = createTempDir('log-level');
    const port = await freePort();
    const child = spawn(process.execPath, [
      CLI_MAIN,
      'coordinator',
      'start',
      '--port',
      String(port),
      '--data-dir',
      dir.path,
      '--log-level',
      'warn',
    ]);
    let stdout = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    const closed = new Promise((resolve) => child.on('close', resolve));
    await waitFor(
      () =>
        new Promise<boolean>((resolve) => {
          const socket = connect(port, '127.0.0.1', () => {
            socket.destroy();
            resolve(true);
          });
          socket.on('error', () => resolve(false));
        }),
      { description: 'the coordinator to listen' },
    );
    child.kill('SIGTERM');
    await closed;
    dir.remove();
    expect(stdout).toBe('');
  });
});
