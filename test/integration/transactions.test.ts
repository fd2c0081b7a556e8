/**
 * Transactions on real processes (3 brokers, __transaction_state with RF 3), driven with raw gRPC calls:
 * the coordinator found by FindCoordinator key type 1, InitProducerId with a transactional id, a write
 * to a partition not added refused (InvalidTxnState, nothing appended), a write adding its own
 * partition (KIP-890 part 2) and a late one of an ended transaction refused, commit markers on every
 * partition, a zombie fenced by a new incarnation, bad input answered with typed errors, and an open
 * transaction surviving a SIGKILL of its coordinator's broker.
 */
import { decodeBatches, encodeBatch, ErrorCodes } from '@samsa/protocol';
import { type ConsumedMessage, Samsa } from '@samsa/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runSamsa } from '../helpers/cli.js';
import { LocalCluster } from '../helpers/cluster.js';
import { waitFor } from '../helpers/wait.js';
import { RawTxn } from './txn-grpc.js';

const RETRIABLE = new Set([
  ErrorCodes.NOT_COORDINATOR.code,
  ErrorCodes.COORDINATOR_NOT_AVAILABLE.code,
  ErrorCodes.COORDINATOR_LOAD_IN_PROGRESS.code,
  ErrorCodes.CONCURRENT_TRANSACTIONS.code,
  ErrorCodes.NOT_LEADER_OR_FOLLOWER.code,
  ErrorCodes.NOT_ENOUGH_REPLICAS.code,
]);
const TOPIC = 'txn-out';
const READ_TOPIC = 'txn-read';
const SDK_TOPIC = 'txn-sdk';
const IMPLICIT_TOPIC = 'txn-implicit';

let cluster: LocalCluster;
let samsa: Samsa;
const clients = new Map<string, RawTxn>();

function at(address: string): RawTxn {
  let c = clients.get(address);
  if (!c) {
    c = new RawTxn(address);
    clients.set(address, c);
  }
  return c;
}

function live(): RawTxn[] {
  return cluster.brokers.filter((b) => b.isRunning()).map((b) => at(b.address));
}

async function coordinatorOf(id: string): Promise<{ nodeId: number; txn: RawTxn }> {
  return waitFor(
    async () => {
      for (const broker of live()) {
        const [c] = (await broker.findCoordinator(id)).coordinators;
        if (c?.errorCode === 0) return { nodeId: c.nodeId, txn: at(`${c.host}:${c.port}`) };
      }
      return undefined;
    },
    { timeoutMs: 30_000, description: `a transaction coordinator for ${id}` },
  );
}

async function withCoordinator<T extends { errorCode: number }>(
  id: string,
  call: (t: RawTxn) => Promise<T>,
): Promise<T> {
  return waitFor(
    async () => {
      const response = await call((await coordinatorOf(id)).txn);
      return RETRIABLE.has(response.errorCode) ? undefined : response;
    },
    { timeoutMs: 30_000, description: `an answer from the coordinator of ${id}` },
  );
}

async function leaderOf(partition: number, topic = TOPIC): Promise<RawTxn> {
  return waitFor(
    async () => {
      const [t] = await samsa.admin().describeTopics([topic]);
      const leader = t?.partitions.find((p) => p.partition === partition)?.leader ?? -1;
      const broker = cluster.brokers.find((b) => b.id === leader && b.isRunning());
      return broker && at(broker.address);
    },
    { timeoutMs: 30_000, description: `a leader for ${topic}-${partition}` },
  );
}

function batch(producerId: number, producerEpoch: number, baseSequence: number, value: string): Buffer {
  return encodeBatch([{ value: Buffer.from(value) }], {
    producerId,
    producerEpoch,
    baseSequence,
    transactional: true,
    now: Date.now(),
  });
}

async function produce(id: string, partition: number, records: Buffer, topic = TOPIC, addPartitionsToTxn = false) {
  return waitFor(
    async () => {
      const r = await (await leaderOf(partition, topic)).produce(topic, partition, records, id, addPartitionsToTxn);
      return RETRIABLE.has(r.errorCode) ? undefined : r;
    },
    { timeoutMs: 30_000, description: `a produce answer from ${TOPIC}-${partition}` },
  );
}

/** Every batch of a partition (up to the high watermark): data values and control markers. */
async function readAll(partition: number, topic = TOPIC): Promise<{ values: string[]; markers: number; hw: number }> {
  const r = await (await leaderOf(partition, topic)).fetch(topic, partition, 0);
  const values: string[] = [];
  let markers = 0;
  for (const b of decodeBatches(r.records)) {
    if (b.control) markers++;
    else for (const rec of b.records) values.push(Buffer.from(rec.value!).toString());
  }
  return { values, markers, hw: r.highWatermark };
}

beforeAll(async () => {
  cluster = await LocalCluster.start({
    brokers: 3,
    brokerSettings: {
      'transaction.state.log.num.partitions': '4',
      'zookeeper.session.timeout.ms': '4000',
    },
  });
  samsa = new Samsa({
    brokers: cluster.bootstrap,
    retry: { retries: 50, initialRetryTimeMs: 50, maxRetryTimeMs: 300 },
  });
  await samsa.admin().createTopics([
    { topic: TOPIC, numPartitions: 3, replicationFactor: 3 },
    { topic: READ_TOPIC, numPartitions: 1, replicationFactor: 3 },
    { topic: SDK_TOPIC, numPartitions: 3, replicationFactor: 3 },
    { topic: IMPLICIT_TOPIC, numPartitions: 3, replicationFactor: 3 },
  ]);
}, 60_000);

afterAll(async () => {
  for (const c of clients.values()) c.close();
  await samsa?.close();
  await cluster?.close();
});

describe('transactions', () => {
  it('commits across partitions; a partition not added is refused with nothing appended', async () => {
    const id = 'tx-commit';
    const init = await withCoordinator(id, (t) => t.initProducerId(id));
    expect(init.errorCode).toBe(0);
    const { producerId, producerEpoch } = init;
    const req = { transactionalId: id, producerId, producerEpoch };
    const added = await withCoordinator(id, (t) =>
      t.addPartitions({ ...req, topics: [{ name: TOPIC, partitions: [0, 1] }] }),
    );
    expect(added.errorCode).toBe(0);
    expect((await produce(id, 0, batch(producerId, producerEpoch, 0, 'a0'))).errorCode).toBe(0);
    expect((await produce(id, 1, batch(producerId, producerEpoch, 0, 'a1'))).errorCode).toBe(0);
    const before = await readAll(2);
    const refused = await produce(id, 2, batch(producerId, producerEpoch, 0, 'unadded'));
    expect(refused.errorCode).toBe(ErrorCodes.INVALID_TXN_STATE.code);
    expect(await readAll(2)).toEqual(before);
    const end = await withCoordinator(id, (t) => t.endTxn({ ...req, committed: true }));
    expect(end).toMatchObject({ errorCode: 0, producerId, producerEpoch: producerEpoch + 1 });
    for (const p of [0, 1]) {
      const seen = await waitFor(
        async () => {
          const r = await readAll(p);
          return r.markers === 1 ? r : undefined;
        },
        { timeoutMs: 20_000, description: `the commit marker on ${TOPIC}-${p}` },
      );
      expect(seen.values).toEqual([`a${p}`]);
    }
    const described = await waitFor(
      async () => {
        const d = (await (await coordinatorOf(id)).txn.describe([id])).transactions[0];
        return d?.state === 'CompleteCommit' ? d : undefined;
      },
      { timeoutMs: 20_000, description: 'the transaction to complete' },
    );
    expect(described.producerId).toBe(producerId);
  }, 90_000);

  it('KIP-890 part 2: a write adds its own partition; a late write of the ended transaction is refused', async () => {
    const id = 'tx-implicit';
    const init = await withCoordinator(id, (t) => t.initProducerId(id));
    expect(init.errorCode).toBe(0);
    const { producerId, producerEpoch } = init;
    const write = (p: number, epoch: number, seq: number, value: string) =>
      produce(id, p, batch(producerId, epoch, seq, value), IMPLICIT_TOPIC, true);
    expect((await write(0, producerEpoch, 0, 'i0')).errorCode).toBe(0);
    expect((await write(1, producerEpoch, 0, 'i1')).errorCode).toBe(0);
    const open = (await (await coordinatorOf(id)).txn.describe([id])).transactions[0];
    expect(open).toMatchObject({ state: 'Ongoing', topics: [{ name: IMPLICIT_TOPIC, partitions: [0, 1] }] });
    const end = await withCoordinator(id, (t) =>
      t.endTxn({ transactionalId: id, producerId, producerEpoch, committed: true }),
    );
    expect(end).toMatchObject({ errorCode: 0, producerEpoch: producerEpoch + 1 });
    for (const p of [0, 1]) {
      const seen = await waitFor(
        async () => {
          const r = await readAll(p, IMPLICIT_TOPIC);
          return r.markers === 1 ? r : undefined;
        },
        { timeoutMs: 20_000, description: `the commit marker on ${IMPLICIT_TOPIC}-${p}` },
      );
      expect(seen.values).toEqual([`i${p}`]);
    }
    // Writes of the ended transaction arriving late, on a partition it wrote and on one it did not: the
    // coordinator refuses to add them (an old epoch), nothing is appended.
    const before = await readAll(2, IMPLICIT_TOPIC);
    expect((await write(0, producerEpoch, 1, 'late0')).errorCode).toBe(ErrorCodes.PRODUCER_FENCED.code);
    expect((await write(2, producerEpoch, 0, 'late2')).errorCode).toBe(ErrorCodes.PRODUCER_FENCED.code);
    expect((await readAll(0, IMPLICIT_TOPIC)).values).toEqual(['i0']);
    expect(await readAll(2, IMPLICIT_TOPIC)).toEqual(before);
    // The next transaction (the epoch EndTxn answered) starts with a write, and commits.
    expect((await write(2, producerEpoch + 1, 0, 'next2')).errorCode).toBe(0);
    const next = await withCoordinator(id, (t) =>
      t.endTxn({ transactionalId: id, producerId, producerEpoch: producerEpoch + 1, committed: true }),
    );
    expect(next.errorCode).toBe(0);
    await waitFor(async () => ((await readAll(2, IMPLICIT_TOPIC)).markers === 1 ? true : undefined), {
      timeoutMs: 20_000,
      description: `the second commit marker on ${IMPLICIT_TOPIC}-2`,
    });
    expect((await readAll(2, IMPLICIT_TOPIC)).values).toEqual(['next2']);
  }, 90_000);

  it('fences a zombie: a new incarnation aborts its transaction, its commit is refused', async () => {
    const id = 'tx-zombie';
    const zombie = await withCoordinator(id, (t) => t.initProducerId(id));
    const zreq = { transactionalId: id, producerId: zombie.producerId, producerEpoch: zombie.producerEpoch };
    await withCoordinator(id, (t) => t.addPartitions({ ...zreq, topics: [{ name: TOPIC, partitions: [2] }] }));
    expect((await produce(id, 2, batch(zombie.producerId, zombie.producerEpoch, 0, 'zombie'))).errorCode).toBe(0);
    const successor = await withCoordinator(id, (t) => t.initProducerId(id));
    expect(successor).toMatchObject({ errorCode: 0, producerId: zombie.producerId });
    expect(successor.producerEpoch).toBeGreaterThan(zombie.producerEpoch + 1);
    const end = await withCoordinator(id, (t) => t.endTxn({ ...zreq, committed: true }));
    expect(end.errorCode).toBe(ErrorCodes.PRODUCER_FENCED.code);
    const late = await produce(id, 2, batch(zombie.producerId, zombie.producerEpoch, 1, 'late'));
    expect(late.errorCode).toBe(ErrorCodes.INVALID_PRODUCER_EPOCH.code);
    const r = await readAll(2);
    expect(r.values).not.toContain('late');
    expect(r.markers).toBe(1); // the abort marker
  }, 90_000);

  it('answers bad input with typed errors', async () => {
    const unknown = await withCoordinator('tx-nobody', (t) =>
      t.endTxn({ transactionalId: 'tx-nobody', producerId: 1, producerEpoch: 0, committed: true }),
    );
    expect(unknown.errorCode).toBe(ErrorCodes.INVALID_PRODUCER_ID_MAPPING.code);
    const id = 'tx-bad';
    const init = await withCoordinator(id, (t) => t.initProducerId(id));
    const wrongEpoch = await withCoordinator(id, (t) =>
      t.addPartitions({
        transactionalId: id,
        producerId: init.producerId,
        producerEpoch: init.producerEpoch + 5,
        topics: [{ name: TOPIC, partitions: [0] }],
      }),
    );
    expect(wrongEpoch.errorCode).toBe(ErrorCodes.INVALID_PRODUCER_EPOCH.code);
    const badTimeout = await withCoordinator(id, (t) => t.initProducerId(id, -1, -1, 3_600_000));
    expect(badTimeout.errorCode).toBe(ErrorCodes.INVALID_TRANSACTION_TIMEOUT.code);
    const noId = await (await leaderOf(0)).produce(TOPIC, 0, batch(init.producerId, init.producerEpoch, 0, 'x'), '');
    expect(noId.errorCode).toBe(ErrorCodes.INVALID_TXN_STATE.code);
  }, 90_000);

  it('keeps an open transaction across a SIGKILL of its coordinator', async () => {
    const id = 'tx-failover';
    const init = await withCoordinator(id, (t) => t.initProducerId(id));
    const req = { transactionalId: id, producerId: init.producerId, producerEpoch: init.producerEpoch };
    await withCoordinator(id, (t) => t.addPartitions({ ...req, topics: [{ name: TOPIC, partitions: [0, 1] }] }));
    expect((await produce(id, 0, batch(req.producerId, req.producerEpoch, 0, 'f0'))).errorCode).toBe(0);
    const { nodeId } = await coordinatorOf(id);
    await cluster.killBroker(nodeId);
    expect((await produce(id, 1, batch(req.producerId, req.producerEpoch, 0, 'f1'))).errorCode).toBe(0);
    const end = await withCoordinator(id, (t) => t.endTxn({ ...req, committed: true }));
    expect(end.errorCode).toBe(0);
    for (const p of [0, 1]) {
      const r = await waitFor(
        async () => {
          const x = await readAll(p);
          return x.values.includes(`f${p}`) && x.markers >= 2 ? x : undefined;
        },
        { timeoutMs: 30_000, description: `the commit marker of ${id} on ${TOPIC}-${p}` },
      );
      expect(r.values.filter((v) => v === `f${p}`)).toHaveLength(1);
    }
    await cluster.startBroker(nodeId);
  }, 120_000);

  it('read_committed reads up to the last stable offset and skips aborted transactions', async () => {
    const start = async (id: string) => {
      const init = await withCoordinator(id, (t) => t.initProducerId(id));
      const req = { transactionalId: id, producerId: init.producerId, producerEpoch: init.producerEpoch };
      await withCoordinator(id, (t) => t.addPartitions({ ...req, topics: [{ name: READ_TOPIC, partitions: [0] }] }));
      return req;
    };
    const write = (
      req: { transactionalId: string; producerId: number; producerEpoch: number },
      seq: number,
      v: string,
    ) => produce(req.transactionalId, 0, batch(req.producerId, req.producerEpoch, seq, v), READ_TOPIC);
    const committer = await start('tx-read-c');
    const aborter = await start('tx-read-a');
    expect((await write(committer, 0, 'c1')).errorCode).toBe(0);
    expect((await write(aborter, 0, 'a1')).errorCode).toBe(0);
    expect((await write(committer, 1, 'c2')).errorCode).toBe(0);
    expect((await write(aborter, 1, 'a2')).errorCode).toBe(0);
    await withCoordinator('tx-read-a', (t) => t.endTxn({ ...aborter, committed: false }));
    const next = await withCoordinator('tx-read-c', (t) => t.endTxn({ ...committer, committed: true }));
    // A transaction left open holds the last stable offset back.
    const open = await start('tx-read-o');
    const openAt = (await write(open, 0, 'o1')).baseOffset;
    const committer2 = { ...committer, producerEpoch: next.producerEpoch };
    await withCoordinator('tx-read-c', (t) =>
      t.addPartitions({ ...committer2, topics: [{ name: READ_TOPIC, partitions: [0] }] }),
    );
    expect((await write(committer2, 0, 'c3')).errorCode).toBe(0);
    await withCoordinator('tx-read-c', (t) => t.endTxn({ ...committer2, committed: true }));

    const read = async (isolationLevel: 'read_committed' | 'read_uncommitted', until: (v: string[]) => boolean) => {
      const consumer = samsa.consumer({ autoOffsetReset: 'earliest', maxWaitMs: 100, isolationLevel });
      await consumer.assign([{ topic: READ_TOPIC }]);
      const out: string[] = [];
      try {
        if (until(out)) return out;
        for await (const m of consumer.messages({
          signal: AbortSignal.timeout(20_000),
        }) as AsyncIterable<ConsumedMessage>) {
          out.push(m.value!.toString());
          if (until(out)) break;
        }
      } finally {
        await consumer.close();
      }
      return out;
    };
    const uncommitted = await read('read_uncommitted', (v) => v.includes('c3'));
    expect(uncommitted).toEqual(['c1', 'a1', 'c2', 'a2', 'o1', 'c3']);
    const lso = await waitFor(
      async () => {
        const leader = await leaderOf(0, READ_TOPIC);
        const r = await leader.fetch(READ_TOPIC, 0, 0);
        return r.lastStableOffset === openAt ? r : undefined;
      },
      { timeoutMs: 20_000, description: 'the last stable offset at the open transaction' },
    );
    expect(lso.highWatermark).toBeGreaterThan(openAt);
    const committed = await read('read_committed', (v) => v.length === 2);
    expect(committed).toEqual(['c1', 'c2']);
    await withCoordinator('tx-read-o', (t) => t.endTxn({ ...open, committed: false }));
    const after = await read('read_committed', (v) => v.includes('c3'));
    expect(after).toEqual(['c1', 'c2', 'c3']);
  }, 90_000);

  it('SDK: transaction() commits, a throwing callback aborts, a zombie is fenced', async () => {
    const producer = samsa.producer({ transactionalId: 'tx-sdk' });
    await producer.transaction(async (tx) => {
      await Promise.all(
        Array.from({ length: 30 }, (_, i) => tx.send({ topic: SDK_TOPIC, key: `k${i}`, value: `c${i}` })),
      );
    });
    await expect(
      producer.transaction(async (tx) => {
        await tx.send({ topic: SDK_TOPIC, key: 'k1', value: 'aborted' });
        throw new Error('boom');
      }),
    ).rejects.toThrow('boom');
    await producer.begin();
    await producer.send({ topic: SDK_TOPIC, partition: 0, value: 'c-explicit' });
    await producer.commit();
    const successor = samsa.producer({ transactionalId: 'tx-sdk' });
    await producer.begin();
    await producer.send({ topic: SDK_TOPIC, partition: 1, value: 'zombie' });
    await successor.init();
    await expect(producer.commit()).rejects.toMatchObject({ code: ErrorCodes.PRODUCER_FENCED.code });
    await successor.transaction(async (tx) => {
      await tx.send({ topic: SDK_TOPIC, partition: 2, value: 'c-successor' });
    });

    const consumer = samsa.consumer({ autoOffsetReset: 'earliest', maxWaitMs: 100, isolationLevel: 'read_committed' });
    await consumer.assign([{ topic: SDK_TOPIC }]);
    const seen: string[] = [];
    try {
      for await (const m of consumer.messages({
        signal: AbortSignal.timeout(20_000),
      }) as AsyncIterable<ConsumedMessage>) {
        seen.push(m.value!.toString());
        if (seen.length === 32) break;
      }
    } finally {
      await consumer.close();
    }
    expect(seen.sort()).toEqual([...Array.from({ length: 30 }, (_, i) => `c${i}`), 'c-explicit', 'c-successor'].sort());
    await producer.close();
    await successor.close();
  }, 90_000);

  it('samsa transactions list and describe', async () => {
    const producer = samsa.producer({ transactionalId: 'tx-cli' });
    await producer.begin();
    await producer.send({ topic: SDK_TOPIC, partition: 2, value: 'open' });
    const bootstrap = cluster.bootstrap.join(',');
    const list = await runSamsa(['transactions', 'list', '--bootstrap-server', bootstrap]);
    expect(list.stderr).toBe('');
    expect(list.stdout).toMatch(/tx-cli\s+\d+\s+Ongoing/);
    const described = await runSamsa([
      'transactions',
      'describe',
      '--bootstrap-server',
      bootstrap,
      '--transactional-id',
      'tx-cli',
    ]);
    expect(described.stdout).toContain(`${SDK_TOPIC}-2`);
    expect(described.stdout).toContain('Ongoing');
    await producer.abort();
    const unknown = await runSamsa([
      'transactions',
      'describe',
      '--bootstrap-server',
      bootstrap,
      '--transactional-id',
      'nope',
    ]);
    expect(unknown.code).not.toBe(0);
    await producer.close();
  }, 60_000);
});
