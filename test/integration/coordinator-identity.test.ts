/**
 * What ties a broker's data directory to the coordinator's state, on real processes:
 * - meta.properties: a broker pointed at a coordinator that lost its data (or at another cluster's)
 *   refuses to join instead of deleting every log that coordinator does not know as stray;
 * - topic ids: a topic's id is written into its znode at creation (and by the controller into a topic
 *   written without one), so copying the znodes into a new ensemble (where every czxid differs)
 *   keeps the logs the topics' own.
 */
import { existsSync } from 'node:fs';
import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Samsa } from '@samsa/client';
import { LocalCluster } from '../helpers/cluster.js';
import { startCoordinatorProcess } from '../helpers/coordinator.js';
import { ZkTestClient, long } from '../helpers/zk-client.js';

let cluster: LocalCluster | undefined;

afterEach(async () => {
  await cluster?.close();
  cluster = undefined;
});

const OLD = Array.from({ length: 10 }, (_, i) => `old-${i}`);

/**
 * A one-broker cluster with topic `t` holding OLD; the broker is stopped afterwards. With `legacy`,
 * also a topic `legacy` (same records) whose znodes are written as before topic ids: no `topic_id`.
 */
async function clusterWithRecords(options: { legacy?: boolean } = {}): Promise<LocalCluster> {
  const c = await LocalCluster.start({ brokers: 1 });
  const samsa = new Samsa({ brokers: c.bootstrap, requestTimeoutMs: 4000 });
  try {
    await samsa.admin().createTopics([{ topic: 't', numPartitions: 1, replicationFactor: 1 }]);
    const topics = ['t'];
    if (options.legacy) {
      const zk = await ZkTestClient.connect(c.coordinator.connectString);
      try {
        const written = await zk.multi((tx) => {
          tx.create('/config/topics/legacy', Buffer.from('{"version":1,"config":{}}'));
          tx.create('/brokers/topics/legacy', Buffer.from('{"version":1,"partitions":{"0":[1]}}'));
        });
        if (written.error) throw written.error;
      } finally {
        await zk.close();
      }
      topics.push('legacy');
    }
    const producer = samsa.producer({ acks: 'all' });
    for (const topic of topics) await producer.sendBatch({ topic, messages: OLD.map((value) => ({ value })) });
    await producer.close();
  } finally {
    await samsa.close();
  }
  await c.stopBroker(1);
  return c;
}

/** Every persistent znode under `path` (data only), in creation order: parents first. */
async function copyTree(from: ZkTestClient, to: ZkTestClient, path: string): Promise<void> {
  for (const child of (await from.getChildren(path)).children.sort()) {
    const childPath = path === '/' ? `/${child}` : `${path}/${child}`;
    if (childPath === '/zookeeper') continue;
    const { data, stat } = await from.getData(childPath);
    if (long(stat.ephemeralOwner) !== 0n) continue;
    await to.create(childPath, data);
    await copyTree(from, to, childPath);
  }
}

async function readAll(samsa: Samsa, topic: string, count: number): Promise<string[]> {
  const consumer = samsa.consumer({ autoOffsetReset: 'earliest', maxWaitMs: 100 });
  await consumer.assign([{ topic, partition: 0 }]);
  const out: string[] = [];
  try {
    for await (const m of consumer.messages({ signal: AbortSignal.timeout(15_000) })) {
      out.push(m.value!.toString());
      if (out.length >= count) break;
    }
  } finally {
    await consumer.close();
  }
  return out;
}

describe('coordinator identity', () => {
  it('a broker pointed at a coordinator that lost its data refuses to join and keeps its logs', async () => {
    cluster = await clusterWithRecords();
    const dataDir = cluster.broker(1).dataDir;
    const log = join(dataDir, 't-0', '00000000000000000000.log');
    const logBytes = (await readFile(log)).length;
    expect(await readFile(join(dataDir, 'meta.properties'), 'utf8')).toMatch(/^cluster\.id=\S+$/m);

    const { port } = cluster.coordinator;
    await cluster.coordinator.stop();
    const coordinatorDir = join(dataDir, '..', 'coordinator');
    await rm(coordinatorDir, { recursive: true, force: true });
    cluster.coordinator = await startCoordinatorProcess({ dataDir: coordinatorDir, port, tickTimeMs: 500 });

    await expect(cluster.startBroker(1)).rejects.toThrow(/does not match cluster id .* stored in .*meta\.properties/);
    expect((await readFile(log)).length).toBe(logBytes);
  }, 90_000);

  it('a broker refuses a data directory that belongs to another broker id', async () => {
    cluster = await clusterWithRecords();
    const samsaDir = cluster.broker(1).dataDir;
    // Broker 2 of a fresh cluster member list, given broker 1's directory.
    cluster.brokers.push({ ...cluster.broker(1), id: 2, process: undefined, dataDir: samsaDir });
    await expect(cluster.startBroker(2)).rejects.toThrow(/Configured broker id 2 does not match broker id 1 stored in/);
    expect(existsSync(join(samsaDir, 't-0'))).toBe(true);
  }, 90_000);

  it('znodes copied into a new ensemble (every czxid differs) still name the same topics: logs are kept', async () => {
    cluster = await clusterWithRecords({ legacy: true });
    const old = await ZkTestClient.connect(cluster.coordinator.connectString);
    const oldCzxid = long((await old.exists('/brokers/topics/t'))!.czxid);
    // The controller gave the topic written without an id the one brokers knew it by: its czxid.
    const legacy = await old.getData('/brokers/topics/legacy');
    expect(JSON.parse(legacy.data!.toString()).topic_id).toBe(long(legacy.stat.czxid).toString(16).padStart(16, '0'));
    const moved = await startCoordinatorProcess({
      dataDir: join(cluster.broker(1).dataDir, '..', 'coordinator-2'),
      tickTimeMs: 500,
    });
    const target = await ZkTestClient.connect(moved.connectString);
    try {
      for (let i = 0; i < 50; i++) await target.create(`/padding-${i}`); // shifts every zxid of the copy
      await copyTree(old, target, '/');
      expect(long((await target.exists('/brokers/topics/t'))!.czxid)).not.toBe(oldCzxid);
    } finally {
      await Promise.all([old.close(), target.close()]);
    }
    await cluster.coordinator.stop();
    cluster.coordinator = moved;
    await cluster.startBroker(1);
    const samsa = new Samsa({ brokers: cluster.bootstrap, requestTimeoutMs: 4000 });
    try {
      expect(await readAll(samsa, 't', 10)).toEqual(OLD);
      expect(await readAll(samsa, 'legacy', 10)).toEqual(OLD);
    } finally {
      await samsa.close();
    }
  }, 90_000);
});
