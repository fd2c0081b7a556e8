/**
 * A transactional producer whose transaction outlived transactionTimeoutMs, on a real broker (KIP-360,
 * KIP-588): the coordinator aborts the transaction and bumps the epoch; the producer's next write or
 * commit is refused as TransactionAbortable, its abort re-initializes with InitProducerId naming its id
 * and epoch, and the same producer commits the next transaction. A producer that a newer incarnation
 * fenced is refused that re-initialization and stays fenced. read_committed readers never see a record
 * of a timed-out or fenced transaction, and see every committed one once.
 */
import { ErrorCodes } from '@samsa/protocol';
import { Samsa, type TransactionalProducer } from '@samsa/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LocalCluster } from '../helpers/cluster.js';
import { readUntilQuiet } from '../helpers/read-until-quiet.js';
import { waitFor } from '../helpers/wait.js';

const TIMEOUT_MS = 1000;
let cluster: LocalCluster;
let samsa: Samsa;

beforeAll(async () => {
  cluster = await LocalCluster.start({
    brokers: 1,
    brokerSettings: {
      'transaction.state.log.num.partitions': '2',
      'transaction.abort.timed.out.transaction.cleanup.interval.ms': '100',
    },
  });
  samsa = new Samsa({
    brokers: cluster.bootstrap,
    retry: { retries: 50, initialRetryTimeMs: 50, maxRetryTimeMs: 300 },
  });
}, 60_000);

afterAll(async () => {
  await samsa?.close();
  await cluster?.close();
});

async function topic(name: string): Promise<string> {
  await samsa.admin().createTopics([{ topic: name, numPartitions: 2, replicationFactor: 1 }]);
  return name;
}

/** Waits until the coordinator has aborted the transaction of `transactionalId` at its timeout. */
async function abortedByTimeout(transactionalId: string): Promise<void> {
  await waitFor(async () => (await samsa.admin().describeTransaction(transactionalId)).state === 'CompleteAbort', {
    timeoutMs: 15_000,
    description: `the coordinator aborting the transaction of ${transactionalId} at its timeout`,
  });
}

/** The values a read_committed reader sees in `name`, per partition, in order. */
async function committedValues(name: string, expectedAtLeast: number): Promise<string[][]> {
  const seen = await readUntilQuiet(samsa, name, {
    isolationLevel: 'read_committed',
    expectedAtLeast,
    quietMs: 500,
    giveUpMs: 15_000,
  });
  const byPartition: string[][] = [[], []];
  for (const m of seen) byPartition[m.partition]!.push(m.value!.toString());
  return byPartition;
}

const refusedAs = (code: number) => expect.objectContaining({ code });

describe('a transaction past its timeout (KIP-360, KIP-588)', () => {
  it('is refused as abortable; the same producer aborts and commits the next transaction', async () => {
    const name = await topic('txn-timeout-writes');
    const producer: TransactionalProducer = samsa.producer({
      transactionalId: 'tx-timeout-writes',
      transactionTimeoutMs: TIMEOUT_MS,
    });
    await producer.begin();
    await producer.send({ topic: name, partition: 0, value: 'timed-out-1' });
    const before = producer.producerIdentity;
    await abortedByTimeout('tx-timeout-writes');

    // Partition 0 has the abort marker (a newer epoch); partition 1's leader would add it to the
    // transaction, which the coordinator refuses. Both say: abort.
    const abortable = refusedAs(ErrorCodes.TRANSACTION_ABORTABLE.code);
    await expect(producer.send({ topic: name, partition: 0, value: 'timed-out-2' })).rejects.toEqual(abortable);
    await expect(producer.send({ topic: name, partition: 1, value: 'timed-out-3' })).rejects.toEqual(abortable);
    await expect(producer.commit()).rejects.toEqual(abortable);
    await producer.abort();
    expect(producer.producerIdentity.producerId).toBe(before.producerId);
    expect(producer.producerIdentity.producerEpoch).toBeGreaterThan(before.producerEpoch + 1);

    await producer.transaction(async (tx) => {
      await tx.send({ topic: name, partition: 0, value: 'next-1' });
      await tx.send({ topic: name, partition: 1, value: 'next-2' });
    });
    await producer.close();
    expect(await committedValues(name, 2)).toEqual([['next-1'], ['next-2']]);
  }, 60_000);

  it('refuses the commit as abortable; transaction() aborts it and the next transaction() commits', async () => {
    const name = await topic('txn-timeout-commit');
    const producer = samsa.producer({ transactionalId: 'tx-timeout-commit', transactionTimeoutMs: TIMEOUT_MS });
    const outcome = await producer
      .transaction(async (tx) => {
        await tx.send({ topic: name, partition: 0, value: 'timed-out-1' });
        await tx.send({ topic: name, partition: 1, value: 'timed-out-2' });
        await abortedByTimeout('tx-timeout-commit');
      })
      .catch((err: unknown) => err);
    expect(outcome).toEqual(refusedAs(ErrorCodes.TRANSACTION_ABORTABLE.code));
    await producer.transaction(async (tx) => {
      await tx.send({ topic: name, partition: 0, value: 'next-1' });
      await tx.send({ topic: name, partition: 1, value: 'next-2' });
    });
    await producer.close();
    expect(await committedValues(name, 2)).toEqual([['next-1'], ['next-2']]);
  }, 60_000);

  it('stays fenced when a newer incarnation fenced it: its abort is refused ProducerFenced', async () => {
    const name = await topic('txn-fenced');
    const zombie = samsa.producer({ transactionalId: 'tx-fenced' });
    await zombie.begin();
    await zombie.send({ topic: name, partition: 0, value: 'zombie-1' });
    const successor = samsa.producer({ transactionalId: 'tx-fenced' });
    await successor.init();

    // The partition's leader asks the coordinator to add it again (the abort marker ended the zombie's
    // transaction there), which answers ProducerFenced; a partition could also answer a newer epoch
    // (TransactionAbortable): the abort then asks the coordinator, which refuses.
    const mustStop = [ErrorCodes.TRANSACTION_ABORTABLE.code, ErrorCodes.PRODUCER_FENCED.code];
    const write = await zombie.send({ topic: name, partition: 0, value: 'zombie-2' }).catch((err: unknown) => err);
    expect(mustStop).toContain((write as { code?: number }).code);
    const commit = await zombie.commit().catch((err: unknown) => err);
    expect(mustStop).toContain((commit as { code?: number }).code);
    const fenced = refusedAs(ErrorCodes.PRODUCER_FENCED.code);
    await expect(zombie.abort()).rejects.toEqual(fenced);
    await expect(zombie.begin()).rejects.toEqual(fenced);

    await successor.transaction(async (tx) => {
      await tx.send({ topic: name, partition: 0, value: 'successor-1' });
      await tx.send({ topic: name, partition: 1, value: 'successor-2' });
    });
    await successor.close();
    await zombie.close();
    expect(await committedValues(name, 2)).toEqual([['successor-1'], ['successor-2']]);
  }, 60_000);
});
