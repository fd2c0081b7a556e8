/**
 * A transactional producer whose transaction outlived transactionTimeoutMs, on a real broker (KIP-360,
 * KIP-588): the coordinator aborts the transaction and bumps the epoch; the producer's next write or
 * commit is refused as TransactionAbortable, its abort re-initializes with InitProducerId naming its id
 * and epoch, and the same producer commits the next transaction. A producer that a newer incarnation
 * fenced is refused that re-initialization and stays fenced. read_committed readers never see a record
 * of a timed-out or fenced transaction, and see every committed one once. On the Kafka listener, the
 * same decision with Kafka's codes: a timed-out producer's coordinator requests answered as fenced (by
 * version), its InitProducerId v3+ naming its id and epoch accepted, a fenced one's refused.
 */
import { connect } from 'node:net';
import { ErrorCodes } from '@samsa/protocol';
import { kafka } from '@samsa/protocol/kafka';
import { Samsa, type TransactionalProducer } from '@samsa/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LocalCluster } from '../helpers/cluster.js';
import { KafkaTestClient } from '../helpers/kafka-client.js';
import { freePort } from '../helpers/ports.js';
import { readUntilQuiet } from '../helpers/read-until-quiet.js';
import { waitFor } from '../helpers/wait.js';

const TIMEOUT_MS = 1000;
let cluster: LocalCluster;
let samsa: Samsa;
let kafkaPort: number;

beforeAll(async () => {
  kafkaPort = await freePort();
  cluster = await LocalCluster.start({
    brokers: 1,
    brokerSettings: {
      'transaction.state.log.num.partitions': '2',
      'transaction.abort.timed.out.transaction.cleanup.interval.ms': '100',
    },
    brokerSettingsFor: (b) => ({ listeners: `PLAINTEXT://${b.address},KAFKA://127.0.0.1:${kafkaPort}` }),
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

  it('on the Kafka listener: fenced by version until InitProducerId names the producer (KIP-360)', async () => {
    const name = await topic('txn-timeout-kafka');
    const { ApiKey } = kafka;
    const socket = connect({ host: '127.0.0.1', port: kafkaPort });
    await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
    const c = new KafkaTestClient(socket);
    try {
      const init = async (transactionalId: string, producerId: number, producerEpoch: number, version = 4) => {
        let answer: kafka.InitProducerIdResponseData | undefined;
        await waitFor(
          async () => {
            answer = await c.send<kafka.InitProducerIdResponseData>(ApiKey.InitProducerId, version, {
              transactionalId,
              transactionTimeoutMs: TIMEOUT_MS,
              producerId,
              producerEpoch,
            });
            return answer.errorCode !== ErrorCodes.CONCURRENT_TRANSACTIONS.code;
          },
          { description: `InitProducerId v${version} for ${transactionalId}` },
        );
        return answer!;
      };
      const openTransaction = async (transactionalId: string, producerId: number, producerEpoch: number) => {
        const added = await c.send<kafka.AddPartitionsToTxnResponseData>(ApiKey.AddPartitionsToTxn, 3, {
          transactionalId,
          producerId,
          producerEpoch,
          topics: [{ name, partitions: [0] }],
        });
        expect(added.results[0]!.results[0]!.partitionErrorCode).toBe(0);
      };
      const end = (transactionalId: string, producerId: number, producerEpoch: number, version: number) =>
        c.send<kafka.EndTxnResponseData>(ApiKey.EndTxn, version, {
          transactionalId,
          producerId,
          producerEpoch,
          committed: true,
        });

      // Timed out: its commit is refused as fenced (what each version knows), its InitProducerId naming
      // its id and epoch recovers it at a newer epoch, and its next transaction commits.
      const first = await init('tx-kafka-timeout', -1, -1);
      expect(first.errorCode).toBe(0);
      await openTransaction('tx-kafka-timeout', first.producerId, first.producerEpoch);
      await abortedByTimeout('tx-kafka-timeout');
      const { producerId, producerEpoch } = first;
      expect((await end('tx-kafka-timeout', producerId, producerEpoch, 1)).errorCode).toBe(
        ErrorCodes.INVALID_PRODUCER_EPOCH.code,
      );
      expect((await end('tx-kafka-timeout', producerId, producerEpoch, 4)).errorCode).toBe(
        ErrorCodes.PRODUCER_FENCED.code,
      );
      const recovered = await init('tx-kafka-timeout', producerId, producerEpoch);
      expect(recovered).toMatchObject({ errorCode: 0, producerId });
      expect(recovered.producerEpoch).toBeGreaterThan(producerEpoch + 1);
      await openTransaction('tx-kafka-timeout', producerId, recovered.producerEpoch);
      expect((await end('tx-kafka-timeout', producerId, recovered.producerEpoch, 4)).errorCode).toBe(0);

      // Fenced by a newer incarnation: InitProducerId naming its id and epoch is refused (v4: PRODUCER_FENCED,
      // v3: INVALID_PRODUCER_EPOCH, KIP-588).
      const zombie = await init('tx-kafka-fenced', -1, -1);
      await openTransaction('tx-kafka-fenced', zombie.producerId, zombie.producerEpoch);
      const successor = await init('tx-kafka-fenced', -1, -1);
      expect(successor.errorCode).toBe(0);
      expect((await init('tx-kafka-fenced', zombie.producerId, zombie.producerEpoch)).errorCode).toBe(
        ErrorCodes.PRODUCER_FENCED.code,
      );
      expect((await init('tx-kafka-fenced', zombie.producerId, zombie.producerEpoch, 3)).errorCode).toBe(
        ErrorCodes.INVALID_PRODUCER_EPOCH.code,
      );
    } finally {
      socket.destroy();
    }
  }, 60_000);
});
