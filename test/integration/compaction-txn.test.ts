/**
 * Log compaction of a topic written in transactions, on real processes: a TransactionalProducer
 * writes the same keys round after round into a compacted topic, committing most rounds and
 * aborting every third. The broker's cleaner must remove the aborted rounds' records, keep each key's
 * last committed value, and remove the markers once their transactions' records are gone and
 * delete.retention.ms has passed, so the partition stays bounded. A read_committed consumer reading
 * from the start sees every key's last committed value and nothing aborted, before and after a
 * SIGKILL and restart of the broker (producer state rebuilt from the cleaned log: the last stable
 * offset is not held back by a transaction whose marker went).
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dumpSegment } from '@samsa/broker';
import { Samsa } from '@samsa/client';
import { LocalCluster } from '../helpers/cluster.js';

const KEYS = 40;
const DELETE_RETENTION_MS = 1500;

describe('log compaction of transactional data on a running broker', () => {
  let cluster: LocalCluster;
  let samsa: Samsa;

  beforeAll(async () => {
    cluster = await LocalCluster.start({
      brokers: 1,
      brokerSettings: { 'log.cleaner.backoff.ms': '200' },
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

  it('drops aborted records and spent markers, keeps the last committed values, read_committed intact', async () => {
    const topic = `compacted-txn-${Date.now()}`;
    await samsa.admin().createTopics([
      {
        topic,
        numPartitions: 1,
        replicationFactor: 1,
        configs: {
          'cleanup.policy': 'compact',
          'segment.bytes': String(8 * 1024),
          'min.cleanable.dirty.ratio': '0.1',
          'delete.retention.ms': String(DELETE_RETENTION_MS),
        },
      },
    ]);
    const producer = samsa.producer({ transactionalId: `compacted-txn-writer-${Date.now()}` });
    const last = new Map<string, string>();
    let round = 0;
    let aborted = 0;
    const writeRound = async (): Promise<void> => {
      const abort = round % 3 === 2;
      const values = Array.from({ length: KEYS }, (_, k) => [
        `key-${k}`,
        `${abort ? 'aborted' : 'committed'}-${round}`,
      ]);
      await producer.begin();
      await Promise.all(values.map(([key, value]) => producer.send({ topic, partition: 0, key: key!, value: value! })));
      if (abort) {
        await producer.abort();
        aborted++;
      } else {
        await producer.commit();
        for (const [key, value] of values) last.set(key!, value!);
      }
      round++;
    };
    for (let i = 0; i < 30; i++) await writeRound();
    const dir = join(cluster.broker(1).dataDir, `${topic}-0`);

    // Writing goes on until the cleaner has removed every aborted record outside the active segment
    // and most markers (two passes each, delete.retention.ms after the last records they covered).
    const deadline = Date.now() + 90_000;
    let view = await readDirectory(dir);
    for (;;) {
      if (view.abortedOutsideActive === 0 && view.markers < round / 3) break;
      if (Date.now() > deadline) throw new Error(`not cleaned after 90 s: ${JSON.stringify(view)}, ${round} rounds`);
      await writeRound();
      await new Promise((resolve) => setTimeout(resolve, 100));
      view = await readDirectory(dir);
    }
    // Bounded: far fewer records than were written, far fewer markers than transactions.
    expect(view.records).toBeLessThan((round * KEYS) / 3);
    expect(aborted).toBeGreaterThan(5);

    while ((round - 1) % 3 === 2) await writeRound(); // end on a committed round (see readCommitted)
    await producer.close();
    expect(await readCommitted(samsa, topic)).toEqual(new Map(last));
    // After a SIGKILL the broker rebuilds producer state from the cleaned log: nothing is left open.
    await cluster.killBroker(1);
    await cluster.startBroker(1);
    expect(await readCommitted(samsa, topic)).toEqual(new Map(last));
  }, 240_000);
});

interface DirectoryView {
  readonly records: number;
  readonly markers: number;
  readonly abortedOutsideActive: number;
}

/** What the partition directory holds; read again when a cleaner swap renamed a file meanwhile. */
async function readDirectory(dir: string): Promise<DirectoryView> {
  for (;;) {
    try {
      let records = 0;
      let markers = 0;
      const abortedByFile = new Map<string, number>();
      for await (const entry of dumpSegment(dir, { printRecords: true })) {
        if (entry.kind === 'error') throw new Error(`${entry.file}: ${entry.reason}`);
        if (entry.isControl) {
          markers++;
          continue;
        }
        for (const r of entry.records ?? []) {
          records++;
          if (r.value?.toString().startsWith('aborted')) {
            abortedByFile.set(entry.file, (abortedByFile.get(entry.file) ?? 0) + 1);
          }
        }
      }
      const files = [...abortedByFile.keys()].sort();
      const active = files.length > 0 ? files[files.length - 1] : undefined;
      // The newest file holding aborted records may be the active segment, which is never cleaned.
      const abortedOutsideActive = [...abortedByFile]
        .filter(([file]) => file !== active)
        .reduce((n, [, c]) => n + c, 0);
      return { records, markers, abortedOutsideActive };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
  }
}

/** Every key's last value as a read_committed consumer reading from the start sees it; nothing aborted. */
async function readCommitted(samsa: Samsa, topic: string): Promise<Map<string, string>> {
  const [offsets] = await samsa.admin().fetchTopicOffsets(topic);
  const end = offsets!.high;
  const consumer = samsa.consumer({ autoOffsetReset: 'earliest', maxWaitMs: 50, isolationLevel: 'read_committed' });
  const out = new Map<string, string>();
  try {
    await consumer.assign([{ topic, partition: 0 }]);
    // The last committed record is below the end: the end itself may be a marker.
    for await (const m of consumer.messages({ signal: AbortSignal.timeout(30_000) })) {
      const value = m.value!.toString();
      expect(value.startsWith('aborted'), `offset ${m.offset}: ${value}`).toBe(false);
      out.set(m.key!.toString(), value);
      if (m.offset >= end - 2) break;
    }
  } finally {
    await consumer.close();
  }
  return out;
}
