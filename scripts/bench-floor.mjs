#!/usr/bin/env node
// The floor under an acks=all latency figure: what this machine gives a pipeline with the shape of
// Samsa's replication and none of its code. Three replica processes each lead one partition and follow
// the other two, as in bench:cluster; a producer process paces chunks of 1000 records as
// `samsa bench produce --throughput` does, one request in flight per partition. A leader appends a
// request to its file, sends it to both followers over raw TCP, and answers once both have appended it.
// No gRPC, no protobuf, no record format, no garbage to speak of: the time left is the machine's.
//
// --write new     append to a new file, as a log does (the default)
// --write cached  overwrite a region of the file written before the run, so no page is new
// --write none    send and acknowledge, write nothing
// --cpu-us-per-kb N  every process spends N µs of CPU per KB it handles, to stand in for the work of
//                    a real implementation (0 by default)
// --busy-percent P   instead of a fixed N: after a run with none, find the N that keeps the machine
//                    P% busy (a few short trial runs), and run with it
// --writeback-bytes B  fdatasync a file beside its writes every B bytes, as the broker does
//                      (log.writeback.interval.bytes, default 8 MiB); 0 leaves writeback to the kernel
//
// Usage: node scripts/bench-floor.mjs [--rate R] [--seconds S] [--warmup-seconds W] [--record-size B] [--write MODE]
//                                     [--cpu-us-per-kb N | --busy-percent P] [--writeback-bytes B] [--json]
// Also used by bench-cluster.mjs, through runFloor() and runFloorAtLoad().
import { fork } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, open, rm } from 'node:fs/promises';
import { connect, createServer } from 'node:net';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { killOnExit } from './bench-processes.mjs';

const RECORDS_PER_CHUNK = 1000;
// A v2 record with a 100-byte value and no key or headers takes about 10 more bytes than its value.
const RECORD_OVERHEAD = 10;
const CACHED_REGION = 16 << 20;
/** The broker's default log.writeback.interval.bytes. */
const DEFAULT_WRITEBACK_BYTES = 8 << 20;
const Kind = { produce: 1, replicate: 2, ack: 3, answer: 4 };
const HEADER = 17; // length u32, kind u8, partition u32, value f64 (end offset or request number)

function send(socket, kind, partition, value, payload) {
  const header = Buffer.allocUnsafe(HEADER);
  header.writeUInt32BE(HEADER - 4 + (payload?.length ?? 0), 0);
  header.writeUInt8(kind, 4);
  header.writeUInt32BE(partition, 5);
  header.writeDoubleBE(value, 9);
  if (!payload) return void socket.write(header);
  socket.cork();
  socket.write(header);
  socket.write(payload);
  socket.uncork();
}

/** Calls onFrame(kind, partition, value, payload) for each whole frame; copies only to join pieces. */
function frames(socket, onFrame) {
  let pieces = [];
  let have = 0;
  let need = 4;
  let framed = false;
  socket.on('data', (data) => {
    pieces.push(data);
    have += data.length;
    while (have >= need) {
      let buf = pieces.length === 1 ? pieces[0] : Buffer.concat(pieces, have);
      pieces = [buf];
      if (!framed) {
        need = 4 + buf.readUInt32BE(0);
        framed = true;
        if (have < need) break;
      }
      const frame = buf.subarray(4, need);
      buf = buf.subarray(need);
      have = buf.length;
      pieces = have > 0 ? [buf] : [];
      need = 4;
      framed = false;
      onFrame(frame.readUInt8(0), frame.readUInt32BE(1), frame.readDoubleBE(5), frame.subarray(HEADER - 4));
    }
  });
}

/** CPU time this process has used, in µs: exact on Linux, unlike the user and system parts of it. */
function cpuTimeUs() {
  const used = process.cpuUsage();
  return used.user + used.system;
}

/**
 * Stands in for per-byte work: spins until the process has used N µs of CPU time per KB. Like real
 * work it takes longer when the process waits for a CPU, and costs the same.
 */
function work(bytes, usPerKb) {
  if (usPerKb <= 0) return;
  const until = cpuTimeUs() + (bytes / 1024) * usPerKb;
  while (cpuTimeUs() < until);
}

function listen(server) {
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server.address().port)));
}

async function dial(port) {
  const socket = connect(port, '127.0.0.1');
  socket.setNoDelay(true);
  await new Promise((resolve, reject) => socket.once('connect', resolve).once('error', reject));
  return socket;
}

/** One replica process: leads partition `id`, follows the others. Driven over IPC by runFloor. */
async function replica(id, dir, write, usPerKb, writebackBytes) {
  const logs = new Map();
  async function append(partition, bytes) {
    let log = logs.get(partition);
    if (!log) {
      log = {
        file: await open(join(dir, `replica-${id}-partition-${partition}.log`), 'w+'),
        end: 0,
        unsynced: 0,
        syncing: false,
      };
      if (write === 'cached') await log.file.write(Buffer.alloc(CACHED_REGION), 0, CACHED_REGION, 0);
      logs.set(partition, log);
    }
    const at = log.end;
    log.end += bytes.length;
    if (write === 'new') await log.file.write(bytes, 0, bytes.length, at);
    else if (write === 'cached')
      await log.file.write(bytes, 0, bytes.length, at % Math.max(1, CACHED_REGION - bytes.length));
    // Early writeback, as the partition log does (log.writeback.interval.bytes): nothing waits for it.
    log.unsynced += bytes.length;
    if (writebackBytes > 0 && write !== 'none' && log.unsynced >= writebackBytes && !log.syncing) {
      log.unsynced = 0;
      log.syncing = true;
      void log.file.datasync().finally(() => (log.syncing = false));
    }
    return log.end;
  }
  // Leader side: both followers' acknowledged ends; requests wait for the smaller.
  const followers = [];
  const acked = [0, 0];
  const waiting = [];
  let leaderEnd = 0;
  let producer;
  function answer() {
    const committed = Math.min(acked[0], acked[1], leaderEnd);
    while (waiting.length > 0 && waiting[0].end <= committed) send(producer, Kind.answer, id, waiting.shift().request);
  }
  const server = createServer((socket) => {
    socket.setNoDelay(true);
    frames(socket, async (kind, partition, value, payload) => {
      work(payload.length, usPerKb);
      if (kind === Kind.produce) {
        producer = socket;
        const end = await append(partition, payload);
        leaderEnd = Math.max(leaderEnd, end);
        waiting.push({ end, request: value });
        for (const follower of followers) send(follower, Kind.replicate, partition, end, payload);
        answer();
      } else if (kind === Kind.replicate) {
        send(socket, Kind.ack, partition, await append(partition, payload));
      }
    });
  });
  // A replica never outlives the benchmark, however it ends (SIGKILL included: the channel closes then).
  process.once('disconnect', () => process.exit(0));
  process.send({ port: await listen(server) });
  process.on('message', async (message) => {
    if (message.followers) {
      for (const [index, port] of message.followers.entries()) {
        const socket = await dial(port);
        frames(socket, (kind, _partition, end) => {
          if (kind !== Kind.ack) return;
          acked[index] = Math.max(acked[index], end);
          answer();
        });
        followers.push(socket);
      }
      process.send({ ready: true });
    } else if (message.cpu) {
      const used = process.cpuUsage();
      process.send({ cpuMs: (used.user + used.system) / 1000 });
    }
  });
}

/** Busy and total CPU time of the whole machine so far (/proc/stat, in clock ticks). */
function machineCpu() {
  const fields = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
  const idle = fields[3] + (fields[4] ?? 0);
  const total = fields.reduce((a, b) => a + b, 0);
  return { busy: total - idle, total };
}

/** The share of the machine's CPU time that was busy between two machineCpu() readings, in %. */
function busyPercentBetween(first, last) {
  return last.total > first.total ? (100 * (last.busy - first.busy)) / (last.total - first.total) : NaN;
}

/**
 * Reads machineCpu() every `intervalMs` until stopped; busyPercent(fromMs, toMs) is the machine's
 * load between two performance.now() times (to the nearest readings inside the window).
 */
export function sampleMachineCpu(intervalMs = 100) {
  const samples = [];
  const take = () => samples.push({ at: performance.now(), ...machineCpu() });
  take();
  const timer = setInterval(take, intervalMs);
  return {
    busyPercent(fromMs, toMs) {
      take();
      const first = samples.find((s) => s.at >= fromMs) ?? samples.at(-1);
      const last = samples.findLast((s) => s.at <= toMs) ?? samples.at(-1);
      return busyPercentBetween(first, last);
    },
    stop: () => clearInterval(timer),
  };
}

/**
 * Runs the floor with busy work that brings the machine to `targetBusyPercent`, given `bare`, the
 * figures of a run with none. The work needed is found by short trial runs, since it does not add
 * load linearly: part of it replaces time the processes spent idle, part competes with log writes.
 */
export async function runFloorAtLoad({ targetBusyPercent, bare, trials = 2, ...run }) {
  const idle = bare.machineBusyPercent;
  const kbPerSec = (run.rate * ((run.recordSize ?? 100) + RECORD_OVERHEAD)) / 1024;
  // First guess: the extra CPU spread over the four processes that handle each byte.
  let cpuUsPerKb = (((targetBusyPercent - idle) / 100) * cpus().length * 1e6) / (4 * kbPerSec);
  if (!(cpuUsPerKb > 0)) return { ...bare, cpuUsPerKb: 0 };
  for (let trial = 0; trial < trials; trial++) {
    const busy = (await runFloor({ ...run, seconds: 3, warmupSeconds: 1, cpuUsPerKb })).machineBusyPercent;
    if (busy > idle) cpuUsPerKb *= (targetBusyPercent - idle) / (busy - idle);
  }
  return { ...(await runFloor({ ...run, cpuUsPerKb })), cpuUsPerKb };
}

function nextMessage(child) {
  return new Promise((resolve, reject) => {
    child.once('message', resolve);
    child.once('exit', (code) => reject(new Error(`floor replica exited with code ${code}`)));
  });
}

/**
 * Runs the floor pipeline for `seconds` at `rate` records/s and returns per-record latency
 * percentiles (ms) of the records sent after the warm-up, each process's CPU share, and how busy the
 * whole machine was over the run.
 */
export async function runFloor({
  rate,
  seconds,
  warmupSeconds = 1,
  recordSize = 100,
  write = 'new',
  cpuUsPerKb = 0,
  writebackBytes = DEFAULT_WRITEBACK_BYTES,
}) {
  if (!['new', 'cached', 'none'].includes(write)) throw new Error(`--write must be new, cached or none, not ${write}`);
  const dir = await mkdtemp(join(tmpdir(), 'samsa-floor-'));
  const replicas = [];
  try {
    const ports = [];
    for (let id = 0; id < 3; id++) {
      const args = [
        '--replica',
        String(id),
        '--dir',
        dir,
        '--write',
        write,
        '--cpu-us-per-kb',
        String(cpuUsPerKb),
        '--writeback-bytes',
        String(writebackBytes),
      ];
      const child = killOnExit(fork(fileURLToPath(import.meta.url), args));
      replicas.push(child);
      ports.push((await nextMessage(child)).port);
    }
    for (const [id, child] of replicas.entries()) {
      child.send({ followers: ports.filter((_, other) => other !== id) });
      await nextMessage(child);
    }
    const chunkBytes = RECORDS_PER_CHUNK * (recordSize + RECORD_OVERHEAD);
    const leaders = await Promise.all(ports.map(dial));
    const queued = leaders.map(() => []);
    const inFlight = leaders.map(() => null);
    const latencies = [];
    let requests = 0;
    const start = performance.now();
    const steadyFrom = start + warmupSeconds * 1000;
    const flush = (partition) => {
      if (inFlight[partition] || queued[partition].length === 0) return;
      inFlight[partition] = queued[partition];
      queued[partition] = [];
      send(
        leaders[partition],
        Kind.produce,
        partition,
        requests++,
        Buffer.allocUnsafe(inFlight[partition].length * chunkBytes),
      );
    };
    for (const [partition, socket] of leaders.entries()) {
      frames(socket, () => {
        const now = performance.now();
        for (const sentAt of inFlight[partition]) if (sentAt >= steadyFrom) latencies.push(now - sentAt);
        inFlight[partition] = null;
        flush(partition);
      });
    }
    const cpuBefore = process.cpuUsage();
    const machineBefore = machineCpu();
    const total = Math.round(rate * seconds);
    let partition = 0;
    for (let sent = 0; sent < total; sent += RECORDS_PER_CHUNK) {
      const waitMs = start + (sent / rate) * 1000 - performance.now();
      if (waitMs > 1) await new Promise((resolve) => setTimeout(resolve, waitMs));
      const sentAt = performance.now();
      work(chunkBytes, cpuUsPerKb);
      queued[partition].push(sentAt);
      flush(partition);
      partition = (partition + 1) % leaders.length;
    }
    while (inFlight.some(Boolean)) await new Promise((resolve) => setTimeout(resolve, 5));
    const elapsedMs = performance.now() - start;
    const machineBusyPercent = busyPercentBetween(machineBefore, machineCpu());
    const producerCpu = process.cpuUsage(cpuBefore);
    const replicaCpuMs = [];
    for (const child of replicas) {
      child.send({ cpu: true });
      replicaCpuMs.push((await nextMessage(child)).cpuMs);
    }
    for (const socket of leaders) socket.destroy();
    latencies.sort((a, b) => a - b);
    const at = (q) => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))];
    return {
      rate,
      write,
      cpuUsPerKb,
      recordsPerSec: total / (elapsedMs / 1000),
      p50Ms: at(0.5),
      p99Ms: at(0.99),
      p999Ms: at(0.999),
      maxMs: latencies.at(-1),
      machineBusyPercent,
      // replicas' CPU includes their start-up, a few tens of milliseconds
      cpuPercent: {
        producer: ((producerCpu.user + producerCpu.system) / 1000 / elapsedMs) * 100,
        replicas: replicaCpuMs.map((ms) => (ms / elapsedMs) * 100),
      },
    };
  } finally {
    for (const child of replicas) child.kill('SIGKILL');
    await rm(dir, { recursive: true, force: true });
  }
}

async function main() {
  const { values } = parseArgs({
    options: {
      replica: { type: 'string' },
      dir: { type: 'string' },
      rate: { type: 'string', default: '300000' },
      seconds: { type: 'string', default: '30' },
      'warmup-seconds': { type: 'string', default: '5' },
      'record-size': { type: 'string', default: '100' },
      write: { type: 'string', default: 'new' },
      'cpu-us-per-kb': { type: 'string', default: '0' },
      'busy-percent': { type: 'string' },
      'writeback-bytes': { type: 'string', default: String(DEFAULT_WRITEBACK_BYTES) },
      json: { type: 'boolean', default: false },
    },
  });
  if (values.replica !== undefined) {
    return replica(
      Number(values.replica),
      values.dir,
      values.write,
      Number(values['cpu-us-per-kb']),
      Number(values['writeback-bytes']),
    );
  }
  const run = {
    rate: Number(values.rate),
    seconds: Number(values.seconds),
    warmupSeconds: Number(values['warmup-seconds']),
    recordSize: Number(values['record-size']),
    write: values.write,
    writebackBytes: Number(values['writeback-bytes']),
  };
  // Otherwise no record is in the steady state and there are no figures to print.
  if (!(run.warmupSeconds < run.seconds)) throw new Error('--warmup-seconds (default 5) must be under --seconds');
  const figures =
    values['busy-percent'] === undefined
      ? await runFloor({ ...run, cpuUsPerKb: Number(values['cpu-us-per-kb']) })
      : await runFloorAtLoad({ ...run, bare: await runFloor(run), targetBusyPercent: Number(values['busy-percent']) });
  if (values.json) return console.log(JSON.stringify(figures));
  const ms = (v) => v.toFixed(1);
  const cpu = figures.cpuPercent;
  console.log(
    `floor, ${figures.write} writes, ${figures.cpuUsPerKb.toFixed(1)} µs/KB of work, ` +
      `${Math.round(figures.recordsPerSec)} records/s: p50 ${ms(figures.p50Ms)} ms, p99 ${ms(figures.p99Ms)} ms, ` +
      `p99.9 ${ms(figures.p999Ms)} ms, max ${ms(figures.maxMs)} ms; CPU producer ` +
      `${cpu.producer.toFixed(0)}%, replicas ${cpu.replicas.map((p) => `${p.toFixed(0)}%`).join(' ')}, ` +
      `machine ${figures.machineBusyPercent.toFixed(0)}% busy`,
  );
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  main().catch((err) => {
    console.error(`bench-floor: ${err.message}`);
    process.exit(1);
  });
}
