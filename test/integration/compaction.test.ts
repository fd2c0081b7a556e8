/**
 * Log compaction on real processes: a compacted topic (RF 3) written with repeated keys and
 * tombstones by an acks=all producer while a consumer reads it from the start. The cleaners of all
 * three brokers compact it as it grows; one broker is SIGKILLed in the middle of a cleaning pass and
 * restarted. Afterwards every key's last value is in the log of every broker, deleted keys are gone
 * once delete.retention.ms has passed, the partition's size on disk stays bounded under a steady key
 * set, and no cleaner file is left behind.
 */
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dumpSegment } from '@samsa/broker';
import { Samsa } from '@samsa/client';
import { LocalCluster } from '../helpers/cluster.js';
import { waitFor } from '../helpers/wait.js';

const KEYS = 150;
const DELETED = 15;
const DELETE_RETENTION_MS = 3000;

describe('log compaction on a running cluster', () => {
  let cluster: LocalCluster;
  let samsa: Samsa;

  beforeAll(async () => {
    cluster = await LocalCluster.start({
      brokers: 3,
      brokerSettings: {
        'log.cleaner.backoff.ms': '200',
        // Every key fits in a map (several passes per dirty section are the model test's part).
        'log.cleaner.dedupe.buffer.size': String(64 * 1024),
        // Passes take long enough for a SIGKILL to land in one.
        'log.cleaner.io.max.bytes.per.second': String(2 * 1024 * 1024),
        'replica.lag.time.max.ms': '5000',
      },
    });
    samsa = new Samsa({
      brokers: cluster.bootstrap,
      retry: { retries: 50, initialRetryTimeMs: 50, maxRetryTimeMs: 500 },
    });
  }, 60_000);

  afterAll(async () => {
    await samsa?.close();
    await cluster?.close();
  });

  it('keeps every last value, forgets deleted keys, stays bounded and survives a SIGKILL mid-clean', async () => {
    const topic = `compacted-${Date.now()}`;
    await samsa.admin().createTopics([
      {
        topic,
        numPartitions: 1,
        replicationFactor: 3,
        configs: {
          'cleanup.policy': 'compact',
          'segment.bytes': String(24 * 1024),
          'min.cleanable.dirty.ratio': '0.2',
          'delete.retention.ms': String(DELETE_RETENTION_MS),
          'min.insync.replicas': '2',
        },
      },
    ]);
    await waitFor(async () => (await samsa.admin().describeTopics([topic]))[0]!.partitions[0]!.isr.length === 3, {
      timeoutMs: 20_000,
      description: 'all replicas in sync',
    });
    const last = new Map<string, string | null>();
    const producer = samsa.producer({ acks: 'all', compression: 'gzip', lingerMs: 2 });
    let round = 0;
    let deleted = false;
    const writeRound = async (tombstones: boolean): Promise<void> => {
      if (tombstones) deleted = true;
      // Once deleted, the first keys get their tombstones and nothing after.
      const keys = Array.from({ length: KEYS }, (_, k) => k).filter((k) => tombstones || !deleted || k >= DELETED);
      const messages = keys.map((k) => ({
        key: `key-${k}`,
        value: tombstones && k < DELETED ? null : `round-${round}-key-${k}-`.padEnd(120, 'x'),
      }));
      await producer.sendBatch({ topic, messages });
      for (const m of messages) last.set(m.key, m.value);
      round++;
    };

    // A consumer reads from the start the whole time, across compactions.
    const consumer = samsa.consumer({ autoOffsetReset: 'earliest', maxWaitMs: 100 });
    await consumer.assign([{ topic, partition: 0 }]);
    let consumed = 0;
    let previousOffset = -1;
    const stopConsuming = new AbortController();
    const consuming = (async () => {
      for await (const m of consumer.messages({ signal: stopConsuming.signal })) {
        expect(m.offset).toBeGreaterThan(previousOffset);
        previousOffset = m.offset;
        consumed++;
      }
    })().catch((err: unknown) => {
      if (!stopConsuming.signal.aborted) throw err;
    });

    for (let i = 0; i < 40; i++) await writeRound(false);
    // The cleaner of broker 2 is SIGKILLed inside a pass, while the producer goes on.
    const broker2 = cluster.broker(2).process!;
    const cleaningLines = (): number => broker2.output().split('"msg":"cleaning log"').length;
    const before = cleaningLines();
    const writing = (async () => {
      for (let i = 0; i < 20; i++) await writeRound(false);
    })();
    await waitFor(() => cleaningLines() > before, { timeoutMs: 30_000, description: 'broker 2 cleaning' });
    await cluster.killBroker(2);
    await writing;
    await cluster.startBroker(2);
    await writeRound(true); // tombstones for the first keys
    const sizes: number[] = [];
    for (let i = 0; i < 60; i++) {
      await writeRound(false);
      if (i % 20 === 19) sizes.push(await partitionBytes(cluster.broker(1).dataDir, topic));
    }

    // Deleted keys disappear once delete.retention.ms has passed and writing went on.
    const deadline = Date.now() + 60_000;
    for (;;) {
      await writeRound(false);
      const records = await readFromLeader(samsa, topic);
      if (records.every((r) => !isDeleted(r.key))) break;
      if (Date.now() > deadline) throw new Error('tombstones still there after 60 s');
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
    await producer.close();
    stopConsuming.abort();
    await consuming;
    await consumer.close();
    expect(consumed).toBeGreaterThan(KEYS);

    // The log on every broker holds every key's last value and nothing of the deleted keys.
    await waitFor(async () => (await samsa.admin().describeTopics([topic]))[0]!.partitions[0]!.isr.length === 3, {
      timeoutMs: 30_000,
      description: 'broker 2 back in sync',
    });
    const expected = [...last].filter(([, v]) => v !== null);
    const leaderView = await readFromLeader(samsa, topic);
    checkLastValues(leaderView, expected, 'leader');
    await samsa.close();
    for (const broker of cluster.brokers) await cluster.stopBroker(broker.id);
    for (const broker of cluster.brokers) {
      const dir = join(broker.dataDir, `${topic}-0`);
      const records = await readDirectory(dir);
      // A follower's cleaner may not have caught up with the last rounds: its newest value per key must be the last.
      checkLastValues(records, expected, `broker ${broker.id}`);
      const leftovers = (await readdir(dir)).filter((n) => /\.(cleaned|swap|deleted)$/.test(n));
      expect(leftovers, `broker ${broker.id}`).toEqual([]);
    }
    // Bounded: a steady key set keeps the partition near a few segments, however much is written.
    const roundBytes = KEYS * 150;
    for (const size of sizes) expect(size).toBeLessThan(roundBytes * 8);
    expect(round * roundBytes).toBeGreaterThan(roundBytes * 100);
  }, 240_000);
});

interface ReadRecord {
  readonly offset: number;
  readonly key: string;
  readonly value: string | null;
}

const isDeleted = (key: string): boolean => Number(key.slice('key-'.length)) < DELETED;

function checkLastValues(
  records: readonly ReadRecord[],
  expected: ReadonlyArray<[string, string | null]>,
  who: string,
) {
  const newest = new Map<string, ReadRecord>();
  for (const r of records) newest.set(r.key, r);
  for (const [key, value] of expected) expect(newest.get(key)?.value, `${who}: ${key}`).toBe(value);
  for (const key of newest.keys())
    expect(isDeleted(key) && newest.get(key)!.value !== null, `${who}: ${key}`).toBe(false);
}

async function readFromLeader(samsa: Samsa, topic: string): Promise<ReadRecord[]> {
  const [offsets] = await samsa.admin().fetchTopicOffsets(topic);
  const end = offsets!.high;
  const consumer = samsa.consumer({ autoOffsetReset: 'earliest', maxWaitMs: 50 });
  const out: ReadRecord[] = [];
  try {
    await consumer.assign([{ topic, partition: 0 }]);
    if (end === 0) return out;
    for await (const m of consumer.messages({ signal: AbortSignal.timeout(30_000) })) {
      out.push({ offset: m.offset, key: m.key!.toString(), value: m.value?.toString() ?? null });
      if (m.offset >= end - 1) break;
    }
  } finally {
    await consumer.close();
  }
  return out;
}

async function readDirectory(dir: string): Promise<ReadRecord[]> {
  const out: ReadRecord[] = [];
  for await (const entry of dumpSegment(dir, { printRecords: true })) {
    if (entry.kind === 'error') throw new Error(`${entry.file}: ${entry.reason}`);
    for (const r of entry.records ?? []) {
      out.push({ offset: r.offset, key: r.key!.toString(), value: r.value?.toString() ?? null });
    }
  }
  return out;
}

/** Bytes of the partition's segments; measured again when a cleaner swap renamed a file meanwhile. */
async function partitionBytes(dataDir: string, topic: string): Promise<number> {
  const dir = join(dataDir, `${topic}-0`);
  for (;;) {
    try {
      let total = 0;
      for (const name of await readdir(dir)) if (name.endsWith('.log')) total += (await stat(join(dir, name))).size;
      return total;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
  }
}
