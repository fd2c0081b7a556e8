/**
 * A full disk under a real broker: broker 1's data directory is a 64 MB tmpfs, brokers 2 and 3 are on
 * the ordinary disk. A filler file takes the tmpfs's last byte while producers write, then is
 * deleted. Checked on real processes: the broker takes the partition offline and tells the
 * controller; `topics describe` shows it offline on broker 1; an RF 3 partition (acks=all,
 * min.insync.replicas 2) gets a new leader that takes the writes; an RF 1 partition answers
 * producers with a retriable error at once and the console consumer with a clear one; a topic
 * created while the disk is full comes up once it has room; when space returns broker 1 reopens its
 * logs without a restart (leading the RF 1 partitions again, rejoining the RF 3 ISR); nothing
 * acknowledged is lost; no file handle is left to the garbage collector. Needs root for `mount`:
 * without it the suite is skipped with a notice.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, unlinkSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Samsa, type PartitionDescription } from '@samsa/client';
import { ErrorCodes } from '@samsa/protocol';
import { runSamsa } from '../helpers/cli.js';
import { LocalCluster } from '../helpers/cluster.js';
import { createTempDir, type TempDir } from '../helpers/temp.js';
import { waitFor } from '../helpers/wait.js';
import { RawBroker } from './grpc.js';

const FS_BYTES = 64 * 1024 * 1024;
/** Larger than a page, so the first append after the filler finds no room even in a file's last page. */
const VALUE = 'x'.repeat(8192);

const temp: TempDir = createTempDir('disk-full');
const mountPoint = join(temp.path, 'small-fs');
const mounted = tryMount();

function tryMount(): boolean {
  mkdirSync(mountPoint, { recursive: true });
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${FS_BYTES}`, 'tmpfs', mountPoint], { stdio: 'pipe' });
    return true;
  } catch (err) {
    console.warn(`disk-full tests SKIPPED: cannot mount a tmpfs (needs root): ${(err as Error).message}`);
    return false;
  }
}

let cluster: LocalCluster;
let samsa: Samsa;
/** The background writer's switch (turned off in afterAll too, should the test fail half way). */
let writing = true;
const filler = join(mountPoint, 'filler');

beforeAll(async () => {
  if (!mounted) return;
  cluster = await LocalCluster.start({
    brokers: 3,
    dataDirs: { 1: join(mountPoint, 'broker-1') },
    brokerSettings: {
      'replica.lag.time.max.ms': '3000',
      'log.offline.retry.backoff.ms': '200',
      'log.offline.retry.backoff.max.ms': '1000',
      // Small segments, so rolls (new files) also meet the full disk.
      'log.segment.bytes': String(1024 * 1024),
    },
  });
  samsa = new Samsa({
    brokers: cluster.bootstrap,
    requestTimeoutMs: 5000,
    retry: { retries: 100, initialRetryTimeMs: 50, maxRetryTimeMs: 250 },
  });
}, 90_000);

afterAll(async () => {
  writing = false;
  await samsa?.close();
  await cluster?.close();
  if (mounted) execFileSync('umount', ['-l', mountPoint]);
  temp.remove();
});

/**
 * Writes a file until the filesystem refuses (ENOSPC), without blocking the event loop (the writer's
 * acknowledgements keep their real times); the last pages in pieces smaller than a page.
 */
async function fillDisk(): Promise<void> {
  const fh = await open(filler, 'w');
  try {
    for (const size of [1024 * 1024, 512]) {
      const chunk = Buffer.alloc(size, 1);
      try {
        for (;;) await fh.appendFile(chunk);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOSPC') throw err;
      }
    }
  } finally {
    await fh.close();
  }
}

async function describePartition(topic: string, partition: number): Promise<PartitionDescription> {
  const [t] = await samsa.admin().describeTopics([topic]);
  return t!.partitions[partition]!;
}

/** The partition of `topic` whose first (preferred, initial leader) replica is `brokerId`. */
async function partitionLedBy(topic: string, brokerId: number): Promise<number> {
  return waitFor(
    async () => {
      const [t] = await samsa.admin().describeTopics([topic]);
      return t!.partitions.find((p) => p.replicas[0] === brokerId && p.leader === brokerId)?.partition;
    },
    { description: `a partition of ${topic} led by broker ${brokerId}` },
  );
}

/** Every value in the partition, read from its leader from the start until `count` were read (or 20 s passed). */
async function readBack(topic: string, partition: number, count: number): Promise<Set<string>> {
  const consumer = samsa.consumer({ autoOffsetReset: 'earliest' });
  const seen = new Set<string>();
  try {
    await consumer.assign([{ topic, partition }]);
    for await (const m of consumer.messages({ signal: AbortSignal.timeout(20_000) })) {
      seen.add(m.value!.toString().slice(0, 40));
      if (seen.size >= count) break;
    }
  } catch (err) {
    if ((err as Error).name !== 'AbortError' && !String(err).includes('abort')) throw err;
  } finally {
    await consumer.close();
  }
  return seen;
}

/** When broker 1 logged that the partition's log went offline (pino's `time`), if it did. */
function offlineTime(topic: string, partition: number): number | undefined {
  for (const line of cluster.broker(1).process!.output().split('\n')) {
    if (!line.includes('"msg":"partition log is offline"')) continue;
    if (!line.includes(`"topic":"${topic}","partition":${partition}`)) continue;
    const time = /"time":(\d+)/.exec(line)?.[1];
    if (time !== undefined) return Number(time);
  }
  return undefined;
}

const value = (tag: string): Buffer => Buffer.from(`${tag.padEnd(40, ' ')}${VALUE}`);

describe.skipIf(!mounted)('a full disk under a real broker', () => {
  it('takes partitions offline cluster-wide, moves leaders, brings logs back when space returns', async () => {
    const rf3 = `full3-${process.pid}`;
    const rf1 = `full1-${process.pid}`;
    const admin = samsa.admin();
    await admin.createTopics([
      { topic: rf3, numPartitions: 3, replicationFactor: 3, configs: { 'min.insync.replicas': '2' } },
      { topic: rf1, numPartitions: 3, replicationFactor: 1 },
    ]);
    const p3 = await partitionLedBy(rf3, 1);
    const p1 = await partitionLedBy(rf1, 1);
    await waitFor(async () => (await describePartition(rf3, p3)).isr.length === 3, { description: 'a full ISR' });

    const producer = samsa.producer({ acks: 'all', lingerMs: 0 });
    const acked3: string[] = [];
    const acked1: string[] = [];
    for (let i = 0; i < 50; i++) {
      await producer.send({ topic: rf3, partition: p3, value: value(`rf3-${i}`) });
      acked3.push(`rf3-${i}`);
      await producer.send({ topic: rf1, partition: p1, value: value(`rf1-${i}`) });
      acked1.push(`rf1-${i}`);
    }

    // A writer on the RF 3 partition through the fill: acks=all, each record awaited.
    const acks: Array<{ sentAt: number; ackedAt: number }> = [];
    const writer = (async () => {
      for (let i = 50; writing; i++) {
        const sentAt = Date.now();
        await producer.send({ topic: rf3, partition: p3, value: value(`rf3-${i}`) });
        acked3.push(`rf3-${i}`);
        acks.push({ sentAt, ackedAt: Date.now() });
      }
    })();
    await waitFor(() => acks.length > 5, { description: 'the writer running' });

    await fillDisk();
    const filledAt = Date.now();

    // RF 3: the controller moves leadership off broker 1, which shows as offline there; writes go on.
    const moved = await waitFor(
      async () => {
        const p = await describePartition(rf3, p3);
        return p.leader !== 1 && p.leader >= 0 && p.offlineReplicas.includes(1) && !p.isr.includes(1) && p;
      },
      { timeoutMs: 30_000, description: `${rf3}-${p3} led elsewhere, offline on broker 1` },
    );
    // Broker 1 may meet the full disk before the filler does: time from its log's failure to the
    // acknowledgement of a record sent after it (acks=all answers of records appended before it
    // still come in after it, from followers' fetches).
    const failedAt = Math.min(filledAt, offlineTime(rf3, p3) ?? filledAt);
    const firstAckAfter = await waitFor(() => acks.find((a) => a.sentAt >= failedAt)?.ackedAt, {
      timeoutMs: 30_000,
      description: 'an acknowledged write sent after the disk filled',
    });
    console.log(
      `disk full -> new leader (broker ${moved.leader}) takes acks=all writes: ${firstAckAfter - failedAt} ms`,
    );
    // A few hundred more, then stop: broker 1 copies everything the new leader took once it is back,
    // and an unbounded writer would fill the small filesystem again while broker 1 is away.
    await waitFor(() => acks.filter((a) => a.sentAt >= failedAt).length >= 200, {
      timeoutMs: 30_000,
      description: '200 writes at the new leader',
    });
    writing = false;
    await writer;

    // RF 1: no replica elsewhere. The partition has no leader and shows offline on broker 1; the
    // broker answers a producer with KafkaStorageError (retriable) at once rather than hanging it.
    await waitFor(
      async () => {
        const raw = new RawBroker(cluster.broker(1).address);
        try {
          const answer = await raw.produce(rf1, p1, Buffer.alloc(0), 1);
          return answer.errorCode !== 0 && answer;
        } finally {
          raw.close();
        }
      },
      { description: 'a produce refused' },
    );
    const sent = await samsa
      .producer({ acks: 'all', retries: 0 })
      .send({ topic: rf1, partition: p1, value: value('rf1-refused') })
      .then(
        () => undefined,
        (err: { code?: number; retriable?: boolean }) => err,
      );
    // The append fails on the full disk, or the partition is already offline / leaderless.
    expect([
      ErrorCodes.KAFKA_STORAGE_ERROR.code,
      ErrorCodes.LEADER_NOT_AVAILABLE.code,
      ErrorCodes.NOT_LEADER_OR_FOLLOWER.code,
    ]).toContain(sent?.code);
    expect(sent?.retriable).toBe(true);
    await waitFor(
      async () => {
        const p = await describePartition(rf1, p1);
        return p.leader === -1 && p.offlineReplicas.includes(1) && p;
      },
      { timeoutMs: 30_000, description: `${rf1}-${p1} leaderless and offline on broker 1` },
    );
    const described = await runSamsa([
      'topics',
      'describe',
      '--topic',
      rf1,
      '--bootstrap-server',
      cluster.bootstrap[1]!,
    ]);
    expect(described.stdout).toMatch(new RegExp(`Partition: ${p1}\\tLeader: (none|-1).*Offline: 1`));

    // The console consumer says why it reads nothing, and fails, instead of an empty exit 0.
    const consumed = await runSamsa([
      'consume',
      '--topic',
      rf1,
      '--partition',
      String(p1),
      '--offset',
      'earliest',
      '--timeout-ms',
      '6000',
      '--bootstrap-server',
      cluster.bootstrap[1]!,
    ]);
    expect(consumed.code).not.toBe(0);
    expect(consumed.stderr).toMatch(
      new RegExp(`${rf1}-${p1} has no leader \\(offline on broker 1\\); nothing can be read`),
    );
    expect(consumed.stderr).toMatch(/LeaderNotAvailable: no broker can serve .* \(offline on broker 1\)/);

    // The console producer says why its sends wait, and gives up at its delivery timeout.
    const produced = await runSamsa(
      [
        'produce',
        '--topic',
        rf1,
        '--partition',
        String(p1),
        '--producer-property',
        'delivery.timeout.ms=6500',
        '--bootstrap-server',
        cluster.bootstrap[1]!,
      ],
      'lost-in-the-full-disk\n',
    );
    expect(produced.code).not.toBe(0);
    // Either the broker's refusal (retried, and said so) or the missing leader, named at the timeout.
    expect(produced.stderr).toMatch(/1 of 1 records failed/);
    expect(produced.stderr).toMatch(/offline/);
    // While it waits, it says which partition has no leader and where its log is offline.
    expect(produced.stderr).toMatch(new RegExp(`${rf1}-${p1} has no leader \\(offline on broker 1\\)`));

    // A topic created while the disk is full: its partition on broker 1 cannot be opened.
    const during = `during-${process.pid}`;
    await admin.createTopics([{ topic: during, numPartitions: 3, replicationFactor: 1 }]);
    // The broker asked may learn of the topic a moment after the controller answered CreateTopics.
    const pd = await waitFor(
      async () => (await admin.describeTopics([during]))[0]!.partitions.find((p) => p.replicas[0] === 1)?.partition,
      { description: `${during}'s partition on broker 1 in metadata` },
    );
    await waitFor(
      async () => {
        const p = await describePartition(during, pd);
        return p.leader === -1 && p.offlineReplicas.includes(1);
      },
      { timeoutMs: 30_000, description: `${during}-${pd} offline on broker 1` },
    );

    // Space returns: broker 1 reopens its logs without a restart.
    unlinkSync(filler);
    const freedAt = Date.now();
    const servedAt = await waitFor(
      async () => {
        const p = await describePartition(rf1, p1);
        if (p.leader !== 1 || p.offlineReplicas.length > 0) return false;
        await producer.send({ topic: rf1, partition: p1, value: value('rf1-after') });
        acked1.push('rf1-after');
        return Date.now();
      },
      { timeoutMs: 30_000, description: `${rf1}-${p1} led by broker 1 again and taking writes` },
    );
    console.log(`space freed -> broker 1 serves the RF 1 partition again: ${servedAt - freedAt} ms`);
    const rejoinedAt = await waitFor(
      async () => {
        const p = await describePartition(rf3, p3);
        return p.isr.includes(1) && p.offlineReplicas.length === 0 && Date.now();
      },
      { timeoutMs: 30_000, description: `broker 1 back in the ISR of ${rf3}-${p3}` },
    ).catch((err: unknown) => {
      for (const id of [1, 2, 3]) {
        const lines = cluster
          .broker(id)
          .process!.output()
          .split('\n')
          .filter((l) => l.includes(rf3));
        console.log(`broker ${id}:\n${lines.slice(-30).join('\n')}`);
      }
      throw err;
    });
    console.log(`space freed -> broker 1 back in the RF 3 ISR: ${rejoinedAt - freedAt} ms`);

    // The topic created while the disk was full works now, with broker 1 leading its partition.
    await waitFor(async () => (await describePartition(during, pd)).leader === 1, {
      timeoutMs: 30_000,
      description: `${during}-${pd} led by broker 1`,
    });
    const meta = await producer.send({ topic: during, partition: pd, value: value('during-0') });
    expect(meta.offset).toBe(0);

    // Nothing acknowledged is lost.
    const back3 = await readBack(rf3, p3, acked3.length);
    expect(acked3.filter((v) => !back3.has(v.padEnd(40, ' ')))).toEqual([]);
    const back1 = await readBack(rf1, p1, acked1.length);
    expect(acked1.filter((v) => !back1.has(v.padEnd(40, ' ')))).toEqual([]);
    expect((await readBack(during, pd, 1)).size).toBe(1);

    const output = cluster.broker(1).process!.output();
    expect(cluster.broker(1).isRunning()).toBe(true);
    expect(output).not.toMatch(/Closing file descriptor \d+ on garbage collection/);
    expect(output).toMatch(/partition log is back online/);
  }, 240_000);
});
