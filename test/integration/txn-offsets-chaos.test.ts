/**
 * Exactly-once consume-transform-produce under faults (issue 18's proof), on real processes: two job
 * processes (test/helpers/txn-job.mjs) in one group read an input topic and write each record to an
 * output topic in transactions that commit the consumed offsets (sendOffsets). The jobs are SIGKILLed
 * and restarted mid-transaction (a restart fences the killed incarnation; a kill that outlasts the
 * session moves its partitions to the other member), while brokers, the group and transaction
 * coordinators' among them, are SIGKILLed and restarted. A read_committed reader of the output then
 * checks that every input record appears exactly once, none from a transaction a job saw abort, in input
 * order per partition. Prints attempted, committed, aborted, lost, duplicated and aborted-read counts.
 */
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import { loadBrokerProto, type v1 } from '@samsa/protocol';
import { type ConsumedMessage, Samsa } from '@samsa/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LocalCluster } from '../helpers/cluster.js';
import { REPO_ROOT } from '../helpers/coordinator.js';
import { type SpawnedProcess, spawnProcess } from '../helpers/process.js';
import { readUntilQuiet } from '../helpers/read-until-quiet.js';
import { waitFor } from '../helpers/wait.js';

const JOB = fileURLToPath(new URL('../helpers/txn-job.mjs', import.meta.url));
const IN = 'eos-in';
const OUT = 'eos-out';
const PARTITIONS = 2;
/** Input written before the jobs start; more is written while they run. */
const PER_PARTITION = 150;
const GROUP = 'eos-job';
/** How long jobs and brokers are killed; then the jobs finish what is left without faults. */
const CHAOS_MS = 25_000;

interface JobEvent {
  event: string;
  txn?: string;
  partition?: number;
  from?: number;
  to?: number;
  message?: string;
}

let cluster: LocalCluster;
let samsa: Samsa;

class Job {
  process: SpawnedProcess | undefined;
  /** Output of every incarnation so far. */
  private readonly outputs: string[] = [];
  kills = 0;

  constructor(readonly name: string) {}

  start(): void {
    // Kept for a post-mortem with SAMSA_KEEP_TEMP=1: every incarnation's whole event stream, next to the
    // brokers' data directories and logs (job-A.log: assignments, batches handed out, statuses, commits).
    const keep = process.env.SAMSA_KEEP_TEMP === '1';
    const logFile = keep ? join(dirname(cluster.brokers[0]!.dataDir), `job-${this.name}.log`) : undefined;
    this.process = spawnProcess({
      logFile,
      name: `job-${this.name}`,
      command: process.execPath,
      args: [
        JOB,
        '--bootstrap',
        cluster.bootstrap.join(','),
        '--input',
        IN,
        '--output',
        OUT,
        '--group',
        GROUP,
        '--name',
        this.name,
        '--session-timeout-ms',
        '4000',
        '--abort-every',
        '7',
        '--max-records',
        '10',
      ],
      cwd: REPO_ROOT,
      maxOutputBytes: 16 * 1024 * 1024,
    });
  }

  async kill(): Promise<void> {
    const p = this.process;
    if (!p) return;
    await p.kill();
    this.outputs.push(p.output());
    this.process = undefined;
    this.kills++;
  }

  async stop(): Promise<void> {
    const p = this.process;
    if (!p) return;
    await p.stop(15_000);
    this.outputs.push(p.output());
    this.process = undefined;
  }

  events(): JobEvent[] {
    const texts = [...this.outputs, ...(this.process ? [this.process.output()] : [])];
    const out: JobEvent[] = [];
    for (const text of texts)
      for (const line of text.split('\n'))
        if (line.startsWith('{')) {
          try {
            out.push(JSON.parse(line) as JobEvent);
          } catch {
            // a line cut by the kill
          }
        }
    return out;
  }
}

beforeAll(async () => {
  cluster = await LocalCluster.start({
    brokers: 3,
    brokerSettings: {
      'transaction.state.log.num.partitions': '4',
      'offsets.topic.num.partitions': '4',
      'zookeeper.session.timeout.ms': '4000',
      'group.consumer.session.timeout.ms': '4000',
      'group.consumer.heartbeat.interval.ms': '500',
    },
  });
  samsa = new Samsa({
    brokers: cluster.bootstrap,
    retry: { retries: 100, initialRetryTimeMs: 50, maxRetryTimeMs: 500 },
  });
  const configs = { 'min.insync.replicas': '2' };
  await samsa.admin().createTopics([
    { topic: IN, numPartitions: PARTITIONS, replicationFactor: 3, configs },
    { topic: OUT, numPartitions: PARTITIONS, replicationFactor: 3, configs },
  ]);
  const producer = samsa.producer();
  await Promise.all(
    Array.from({ length: PARTITIONS * PER_PARTITION }, (_, i) =>
      producer.send({ topic: IN, partition: i % PARTITIONS, value: `in-${i}` }),
    ),
  );
  await producer.close();
}, 90_000);

afterAll(async () => {
  await samsa?.close();
  await cluster?.close();
});

/** What each running broker's metadata says leads each output partition (diagnostics). */
async function leadersByBroker(): Promise<Record<number, unknown>> {
  const out: Record<number, unknown> = {};
  for (const b of cluster.brokers.filter((x) => x.isRunning())) {
    const client = new (loadBrokerProto().Broker)(b.address, grpc.credentials.createInsecure()) as unknown as {
      Metadata: (
        r: unknown,
        o: grpc.CallOptions,
        cb: (e: Error | null, r: v1.MetadataResponse__Output) => void,
      ) => void;
      close(): void;
    };
    out[b.id] = await new Promise((resolve) =>
      client.Metadata({ topics: [OUT, IN] }, { deadline: Date.now() + 5000 }, (err, res) =>
        resolve(err ? String(err) : res.topics.map((t) => ({ t: t.name, p: t.partitions.map((p) => p.leader) }))),
      ),
    );
    client.close();
  }
  return out;
}

/** Every record of the output a read_committed reader sees, once it has been quiet for a while. */
function readOutput(expectedAtLeast: number): Promise<ConsumedMessage[]> {
  return readUntilQuiet(samsa, OUT, {
    isolationLevel: 'read_committed',
    expectedAtLeast,
    quietMs: 2000,
    giveUpMs: 30_000,
  });
}

describe('exactly-once consume-transform-produce under kills', () => {
  it('every input record once in the output, none aborted, in order, through job and broker kills', async () => {
    const jobs = [new Job('A'), new Job('B')];
    for (const job of jobs) job.start();
    const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
    let chaos = true;
    const jobNemesis = (async () => {
      for (let i = 0; chaos; i++) {
        await sleep(3000);
        if (!chaos) break;
        const job = jobs[i % jobs.length]!;
        await job.kill();
        // Every other time the job stays down past its session: its partitions move to the other member.
        await sleep(i % 2 === 0 ? 500 : 5000);
        job.start();
      }
    })();
    let brokerKills = 0;
    const brokerNemesis = (async () => {
      await sleep(2000);
      for (let i = 0; chaos; i++) {
        const victim = cluster.brokers[i % cluster.brokers.length]!;
        await cluster.killBroker(victim.id);
        brokerKills++;
        await sleep(2000);
        await cluster.startBroker(victim.id);
        await sleep(4000);
      }
    })();
    // More input while the faults go on (idempotent acks=all: each record once, whatever the retries).
    const inputProducer = samsa.producer();
    let written = 0;
    const feeding = (async () => {
      for (let i = 0; chaos; i++) {
        await inputProducer
          .send({ topic: IN, partition: i % PARTITIONS, value: `live-${i}` })
          .then(() => written++)
          .catch(() => undefined);
        await sleep(20);
      }
    })();
    await sleep(CHAOS_MS);
    chaos = false;
    await Promise.all([jobNemesis, brokerNemesis, feeding]);
    await inputProducer.close();
    // The input as it is (a send that failed may still have been written): what the output must hold.
    const inputEnd = new Map((await samsa.admin().fetchTopicOffsets(IN)).map((p) => [p.partition, p.high]));
    for (const job of jobs) if (!job.process) job.start();

    // Without faults the jobs finish the input: every partition's committed ranges reach its end.
    const committedUpTo = () => {
      const reached = new Map<number, number>();
      for (const e of jobs.flatMap((j) => j.events()))
        if (e.event === 'committed') reached.set(e.partition!, Math.max(reached.get(e.partition!) ?? 0, e.to!));
      return reached;
    };
    const finished = () =>
      [...Array(PARTITIONS).keys()].every((p) => (committedUpTo().get(p) ?? 0) >= inputEnd.get(p)!);
    try {
      await waitFor(finished, { timeoutMs: 60_000, description: 'the jobs to finish the input' });
    } catch (err) {
      const recent = jobs.map((j) => ({ job: j.name, last: j.events().slice(-12) }));
      console.log(`leaders by broker: ${JSON.stringify(await leadersByBroker())}`);
      console.log(`stuck: ${JSON.stringify({ inputEnd: [...inputEnd], reached: [...committedUpTo()], recent })}`);
      throw err;
    }
    for (const job of jobs) await job.stop();

    const events = jobs.flatMap((j) => j.events());
    const committedTxns = new Set(events.filter((e) => e.event === 'committed').map((e) => e.txn!));
    const abortedTxns = new Set(events.filter((e) => e.event === 'aborted').map((e) => e.txn!));
    const attemptedTxns = new Set([...committedTxns, ...abortedTxns]);
    const inputRecords = [...inputEnd.values()].reduce((n, end) => n + end, 0);
    const seen = await readOutput(inputRecords);

    const counts = new Map<string, number>();
    /** Per input record, where each copy of it in the output came from (for a failure's diagnostics). */
    const copies = new Map<string, string[]>();
    let abortedRead = 0;
    let outOfOrder = 0;
    const lastOffset = new Map<number, number>();
    for (const m of seen) {
      const v = JSON.parse(m.value!.toString()) as { txn: string; partition: number; offset: number };
      const key = `${v.partition}:${v.offset}`;
      counts.set(key, (counts.get(key) ?? 0) + 1);
      copies.set(key, [...(copies.get(key) ?? []), `${v.txn}@${m.partition}:${m.offset}`]);
      if (abortedTxns.has(v.txn)) abortedRead++;
      if (v.partition !== m.partition) outOfOrder++;
      if (v.offset <= (lastOffset.get(m.partition) ?? -1)) outOfOrder++;
      lastOffset.set(m.partition, v.offset);
    }
    let lost = 0;
    for (let p = 0; p < PARTITIONS; p++)
      for (let o = 0; o < inputEnd.get(p)!; o++) if (!counts.has(`${p}:${o}`)) lost++;
    const duplicated = [...counts.values()].reduce((n, c) => n + (c - 1), 0);
    const tally = {
      inputRecords,
      liveInputAcknowledged: written,
      attempted: attemptedTxns.size,
      committed: committedTxns.size,
      aborted: abortedTxns.size,
      jobKills: jobs.reduce((n, j) => n + j.kills, 0),
      brokerKills,
      recordsRead: seen.length,
      lost,
      duplicated,
      abortedRead,
      outOfOrder,
    };
    console.log(`exactly-once job chaos: ${JSON.stringify(tally)}`);
    if (process.env.SAMSA_KEEP_TEMP === '1')
      console.log(`kept: ${dirname(cluster.brokers[0]!.dataDir)} (job-A.log, job-B.log, broker logs and data)`);
    if (duplicated > 0 || outOfOrder > 0) {
      // Each copy's transaction (job-pid-n) and output offset, and what the jobs said about those transactions.
      const twice = [...copies].filter(([, c]) => c.length > 1);
      const txns = new Set(twice.flatMap(([, c]) => c.map((x) => x.split('@')[0]!)));
      console.log(`copies: ${JSON.stringify(twice)}`);
      console.log(`their transactions: ${JSON.stringify(events.filter((e) => e.txn && txns.has(e.txn)))}`);
    }
    expect(brokerKills).toBeGreaterThan(1);
    // Both kinds of job kill (the nemesis alternates a short one and one past the member's session); a
    // third fits in CHAOS_MS only when kills are quick, and on a loaded machine they are not (2 in one run).
    expect(tally.jobKills).toBeGreaterThanOrEqual(2);
    expect(tally.aborted).toBeGreaterThan(0);
    expect({ lost, duplicated, abortedRead, outOfOrder }).toEqual({
      lost: 0,
      duplicated: 0,
      abortedRead: 0,
      outOfOrder: 0,
    });
  }, 240_000);
});
