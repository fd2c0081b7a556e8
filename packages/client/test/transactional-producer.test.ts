/**
 * The transactional producer's sending, against the in-process test cluster playing a transaction
 * coordinator: how a transaction's records leave (batched as the idempotent producer's, every ready
 * partition of a broker in one Produce request, each leader adding its partition to the transaction),
 * under which identity, and what a failed write does.
 * The protocol itself (markers, fencing, read_committed) is tested on real brokers
 * (test/integration/transactions.test.ts).
 */
import { Samsa, SamsaClientError } from '@samsa/client';
import * as grpc from '@grpc/grpc-js';
import { ErrorCodes, splitBatches, type v1 } from '@samsa/protocol';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { TestCluster } from './support/test-cluster.js';

const fastRetry = { retries: 5, initialRetryTimeMs: 10, maxRetryTimeMs: 50 };
const TRANSACTIONAL = 0x10;

/** Plays the transaction coordinator: bumps the epoch at every EndTxn (KIP-890); adds are counted. */
function playCoordinator(cluster: TestCluster) {
  const port = cluster.brokers[0]!.port;
  const state = { epoch: 0, added: [] as string[][], ended: [] as boolean[] };
  cluster.groups = {
    FindCoordinator: (r: v1.FindCoordinatorRequest__Output) => ({
      coordinators: r.keys.map((k) => ({ key: k, nodeId: 0, host: '127.0.0.1', port, errorCode: 0 })),
    }),
  };
  cluster.txn = {
    AddPartitionsToTxn: (r: v1.AddPartitionsToTxnRequest__Output) => {
      state.added.push(r.topics.flatMap((t) => t.partitions.map((p) => `${t.name}-${p}`)));
      return { errorCode: 0, errorMessage: '' };
    },
    EndTxn: (r: v1.EndTxnRequest__Output) => {
      state.ended.push(r.committed);
      state.epoch = r.producerEpoch + 1;
      return { errorCode: 0, errorMessage: '', producerId: r.producerId, producerEpoch: state.epoch };
    },
  };
  return state;
}

/** Every Produce request: its transactional id, and per partition the batches' identity and sequences. */
function produceRequests(cluster: TestCluster) {
  return cluster.requestsOf<v1.ProduceRequest__Output>('Produce').map(({ broker, request }) => ({
    broker,
    transactionalId: request.transactionalId,
    addPartitionsToTxn: request.addPartitionsToTxn,
    partitions: request.topics.flatMap((t) =>
      t.partitions.map((p) => ({
        partition: p.partition,
        batches: splitBatches(p.records).map(({ header }) => ({
          producerId: header.producerId,
          epoch: header.producerEpoch,
          sequence: header.baseSequence,
          count: header.recordCount,
          transactional: (header.attributes & TRANSACTIONAL) !== 0,
        })),
      })),
    ),
  }));
}

describe('transactional producer: sending', () => {
  let cluster: TestCluster;
  let samsa: Samsa;

  beforeEach(async () => {
    cluster = await TestCluster.start({ brokers: 2 });
    samsa = new Samsa({ brokers: cluster.bootstrap, retry: fastRetry });
  });

  afterEach(async () => {
    await samsa.close();
    await cluster.stop();
  });

  it('one Produce request per broker, its leader adding each partition; sequences from 0 per transaction', async () => {
    cluster.createTopic('t', 4); // leaders 0, 1, 0, 1
    const coordinator = playCoordinator(cluster);
    const producer = samsa.producer({ transactionalId: 'tx' });
    for (let round = 0; round < 2; round++) {
      await producer.transaction(async (tx) => {
        await Promise.all(
          Array.from({ length: 20 }, (_, i) => tx.send({ topic: 't', partition: i % 4, value: `r${round}-${i}` })),
        );
      });
    }
    // KIP-890 part 2: the records go at once, their leaders add the partitions.
    expect(coordinator.added).toEqual([]);
    expect(coordinator.ended).toEqual([true, true]);
    // Only the coordinator's InitProducerId: the producer never asks for an id of its own.
    expect(cluster.requestsOf('InitProducerId')).toHaveLength(1);
    const requests = produceRequests(cluster);
    // Per transaction, the records waiting for their partitions leave together: one request per broker.
    expect(requests).toHaveLength(4);
    for (const request of requests) {
      expect(request.transactionalId).toBe('tx');
      expect(request.addPartitionsToTxn).toBe(true);
      expect(request.partitions.map((p) => p.partition).sort()).toEqual(request.broker === 0 ? [0, 2] : [1, 3]);
    }
    for (const [round, epoch] of [0, 1].entries()) {
      for (const request of requests.slice(2 * round, 2 * round + 2)) {
        for (const p of request.partitions) {
          expect(p.batches).toEqual([{ producerId: 1000, epoch, sequence: 0, count: 5, transactional: true }]);
        }
      }
    }
    for (let partition = 0; partition < 4; partition++) {
      expect(cluster.partition('t', partition).records.map((r) => r.value?.toString())).toEqual([
        ...[0, 1, 2, 3, 4].map((i) => `r0-${partition + 4 * i}`),
        ...[0, 1, 2, 3, 4].map((i) => `r1-${partition + 4 * i}`),
      ]);
    }
  });

  it('a commit waits for every record sent before it, and refuses records and a second commit meanwhile', async () => {
    cluster.createTopic('t', 1);
    const coordinator = playCoordinator(cluster);
    const producer = samsa.producer({ transactionalId: 'tx' });
    await producer.begin();
    // Sent before the topic's metadata is known: the commit waits for it too.
    const sent = producer.send({ topic: 't', value: 'in' });
    const committing = producer.commit();
    // Sent now, it could reach its leader after EndTxn and land in the next transaction.
    await expect(producer.send({ topic: 't', value: 'late' })).rejects.toMatchObject({
      code: ErrorCodes.INVALID_TXN_STATE.code,
    });
    await expect(producer.commit()).rejects.toMatchObject({ code: ErrorCodes.INVALID_TXN_STATE.code });
    await sent;
    await committing;
    expect(coordinator.ended).toEqual([true]);
    expect(cluster.partition('t', 0).records.map((r) => r.value?.toString())).toEqual(['in']);
    await producer.transaction((tx) => tx.send({ topic: 't', value: 'next' }));
    expect(cluster.partition('t', 0).records.map((r) => r.value?.toString())).toEqual(['in', 'next']);
  });

  it('a record for a topic that cannot be found fails the transaction; a partition out of range does not', async () => {
    cluster.createTopic('t', 1);
    const coordinator = playCoordinator(cluster);
    const impatient = new Samsa({ brokers: cluster.bootstrap, retry: fastRetry, defaultApiTimeoutMs: 200 });
    try {
      const producer = impatient.producer({ transactionalId: 'tx' });
      await producer.begin();
      await expect(producer.send({ topic: 't', partition: 1, value: 'x' })).rejects.toMatchObject({
        code: ErrorCodes.UNKNOWN_TOPIC_OR_PARTITION.code,
      });
      await producer.commit(); // nothing was written: nothing to end
      expect(coordinator.ended).toEqual([]);
      await producer.begin();
      await expect(producer.send({ topic: 'missing', value: 'x' })).rejects.toMatchObject({
        code: ErrorCodes.UNKNOWN_TOPIC_OR_PARTITION.code,
      });
      await expect(producer.commit()).rejects.toMatchObject({ message: /abort it/ });
      await producer.abort();
    } finally {
      await impatient.close();
    }
  });

  it('an abort finding nothing open still bumps the epoch: a failed write cannot join the next', async () => {
    cluster.createTopic('t', 1);
    const coordinator = playCoordinator(cluster);
    const endTxn = cluster.txn.EndTxn as (r: v1.EndTxnRequest__Output) => unknown;
    // The real coordinator's answer to an abort before any leader added a partition: nothing open.
    cluster.txn.EndTxn = (r: v1.EndTxnRequest__Output) =>
      r.committed ? endTxn(r) : { errorCode: ErrorCodes.INVALID_TXN_STATE.code, errorMessage: 'nothing open' };
    const producer = samsa.producer({ transactionalId: 'tx' });
    await producer.begin();
    // The call is cancelled here while the request could still be on its way to the leader, or waiting
    // there for the coordinator: the write fails, yet its leader may add the partition later.
    cluster.inject({ method: 'Produce', grpcStatus: grpc.status.CANCELLED });
    await expect(producer.send({ topic: 't', partition: 0, value: 'failed' })).rejects.toMatchObject({
      message: /cancelled/,
    });
    await producer.abort();
    const failed = produceRequests(cluster)[0]!.partitions[0]!.batches[0]!;
    await producer.transaction((tx) => tx.send({ topic: 't', partition: 0, value: 'next' }));
    expect(coordinator.ended).toEqual([true]);
    const next = produceRequests(cluster).at(-1)!.partitions[0]!.batches[0]!;
    // Under the failed write's identity, the next transaction's sequence 0 is the failed write's too:
    // its late copy would open that transaction (or be taken for this record, a duplicate).
    expect({ producerId: next.producerId, epoch: next.epoch }).not.toEqual({
      producerId: failed.producerId,
      epoch: failed.epoch,
    });
    expect(cluster.requestsOf('InitProducerId')).toHaveLength(2);
  });

  it('after an EndTxn with no answer, the next begin() names the producer: a fenced one stays fenced', async () => {
    cluster.createTopic('t', 1);
    const coordinator = playCoordinator(cluster);
    const endTxn = cluster.txn.EndTxn as (r: v1.EndTxnRequest__Output) => unknown;
    // Refused as the coordinator refuses a producer whose id a newer incarnation replaced (the outcome
    // is unknown to the producer: it may have been fenced, or its transaction may have ended).
    cluster.txn.EndTxn = () => ({ errorCode: ErrorCodes.INVALID_PRODUCER_ID_MAPPING.code, errorMessage: 'gone' });
    const producer = samsa.producer({ transactionalId: 'tx' });
    await producer.begin();
    await producer.send({ topic: 't', partition: 0, value: 'a' });
    await expect(producer.commit()).rejects.toMatchObject({ code: ErrorCodes.INVALID_PRODUCER_ID_MAPPING.code });
    const identity = producer.producerIdentity;
    // Not fenced: the coordinator decides, and here the transaction had ended; the producer goes on.
    cluster.txn.EndTxn = endTxn;
    await producer.transaction((tx) => tx.send({ topic: 't', partition: 0, value: 'b' }));
    const inits = cluster.requestsOf<v1.InitProducerIdRequest__Output>('InitProducerId').map((r) => r.request);
    expect(inits).toHaveLength(2);
    expect(inits[1]).toMatchObject({ producerId: identity.producerId, producerEpoch: identity.producerEpoch });
    expect(coordinator.ended).toEqual([true]);
    // Again, and this time a newer incarnation fenced it: its recovery is refused, and it stays fenced
    // (a fresh InitProducerId would have fenced the newer incarnation instead).
    cluster.txn.EndTxn = () => ({ errorCode: ErrorCodes.INVALID_PRODUCER_ID_MAPPING.code, errorMessage: 'gone' });
    await producer.begin();
    await producer.send({ topic: 't', partition: 0, value: 'c' });
    await expect(producer.commit()).rejects.toMatchObject({ code: ErrorCodes.INVALID_PRODUCER_ID_MAPPING.code });
    cluster.inject({ method: 'InitProducerId', errorCode: ErrorCodes.PRODUCER_FENCED.code });
    await expect(producer.begin()).rejects.toMatchObject({ code: ErrorCodes.PRODUCER_FENCED.code });
    await expect(producer.begin()).rejects.toMatchObject({ code: ErrorCodes.PRODUCER_FENCED.code });
    const last = cluster.requestsOf<v1.InitProducerIdRequest__Output>('InitProducerId').at(-1)!.request;
    expect(last.producerId).toBeGreaterThanOrEqual(0);
  });

  it('transaction() aborts when its commit is refused for a record the callback did not wait for', async () => {
    cluster.createTopic('t', 1);
    const coordinator = playCoordinator(cluster);
    const producer = samsa.producer({ transactionalId: 'tx' });
    cluster.inject({ method: 'Produce', topic: 't', partition: 0, errorCode: ErrorCodes.INVALID_RECORD.code });
    await expect(
      producer.transaction(async (tx) => {
        void tx.send({ topic: 't', partition: 0, value: 'refused' }).catch(() => undefined);
      }),
    ).rejects.toMatchObject({ code: ErrorCodes.INVALID_TXN_STATE.code, message: /abort it/ });
    // Left open, it would hold read_committed readers back until its timeout, and refuse the next one.
    expect(coordinator.ended).toEqual([false]);
    await producer.transaction((tx) => tx.send({ topic: 't', partition: 0, value: 'next' }));
    expect(coordinator.ended).toEqual([false, true]);
  });

  it('a write refused for good fails the transaction: commit refuses, abort ends it', async () => {
    cluster.createTopic('t', 2);
    const coordinator = playCoordinator(cluster);
    const producer = samsa.producer({ transactionalId: 'tx' });
    await producer.begin();
    cluster.inject({ method: 'Produce', topic: 't', partition: 1, errorCode: ErrorCodes.INVALID_TXN_STATE.code });
    const ok = producer.send({ topic: 't', partition: 0, value: 'a' });
    const refused = producer.send({ topic: 't', partition: 1, value: 'b' });
    await expect(ok).resolves.toMatchObject({ partition: 0, offset: 0 });
    await expect(refused).rejects.toMatchObject({ code: ErrorCodes.INVALID_TXN_STATE.code });
    const commit = await producer.commit().catch((err: SamsaClientError) => err);
    expect(commit).toMatchObject({ code: ErrorCodes.INVALID_TXN_STATE.code, message: /abort it/ });
    expect(coordinator.ended).toEqual([]);
    await producer.abort();
    expect(coordinator.ended).toEqual([false]);
    // The next transaction goes on under the new epoch.
    await producer.transaction((tx) => tx.send({ topic: 't', partition: 1, value: 'c' }));
    expect(coordinator.ended).toEqual([false, true]);
    expect(cluster.partition('t', 1).records.map((r) => r.value?.toString())).toEqual(['c']);
  });

  it('offsets the consumer refuses (records of a lost assignment) fail the transaction: commit refuses', async () => {
    cluster.createTopic('t', 1);
    const coordinator = playCoordinator(cluster);
    const producer = samsa.producer({ transactionalId: 'tx' });
    const asked: unknown[] = [];
    const consumer = {
      offsetsForTransaction: (offsets?: readonly unknown[]): never => {
        asked.push(offsets);
        throw new SamsaClientError(ErrorCodes.STALE_MEMBER_EPOCH, 'handed out under an assignment since lost', {
          retriable: false,
        });
      },
    };
    await producer.begin();
    await producer.send({ topic: 't', partition: 0, value: 'a' });
    const offsets = [{ topic: 'in', partition: 0, offset: 10 }];
    // Even if the application goes on after the refusal, the output cannot commit without its offsets.
    await expect(producer.sendOffsets({ consumer, offsets })).rejects.toMatchObject({
      code: ErrorCodes.STALE_MEMBER_EPOCH.code,
    });
    expect(asked).toEqual([offsets]);
    await expect(producer.commit()).rejects.toMatchObject({ code: ErrorCodes.INVALID_TXN_STATE.code });
    expect(coordinator.ended).toEqual([]);
    await producer.abort();
    expect(coordinator.ended).toEqual([false]);
  });

  it('an assignment that changed while the offsets were on their way fails the transaction', async () => {
    cluster.createTopic('t', 1);
    const coordinator = playCoordinator(cluster);
    cluster.txn.AddOffsetsToTxn = () => ({ errorCode: 0, errorMessage: '' });
    let current = true;
    const epochs: number[] = [];
    cluster.groups.TxnOffsetCommit = (r: v1.TxnOffsetCommitRequest__Output) => {
      epochs.push(r.generationIdOrMemberEpoch);
      const answer = {
        errorCode: 0,
        topics: r.topics.map((t) => ({ name: t.name, partitions: t.partitions.map((p) => ({ ...p, errorCode: 0 })) })),
      };
      // Accepted (a member rejoining an unchanged group has its old epoch back), but the member was fenced.
      if (epochs.length === 2) current = false;
      return answer;
    };
    const group = { groupId: 'g', memberId: 'm', memberEpoch: 3, groupInstanceId: undefined, state: 'stable' };
    const consumer = { offsetsForTransaction: () => ({ group, offsets: [], stillCurrent: () => current }) };
    const offsets = [{ topic: 'in', partition: 0, offset: 10 }];
    const producer = samsa.producer({ transactionalId: 'tx' });
    await producer.transaction(async (tx) => {
      await tx.send({ topic: 't', partition: 0, value: 'a' });
      await tx.sendOffsets({ consumer, offsets });
    });
    expect(coordinator.ended).toEqual([true]);
    await producer.begin();
    await producer.send({ topic: 't', partition: 0, value: 'b' });
    await expect(producer.sendOffsets({ consumer, offsets })).rejects.toMatchObject({
      code: ErrorCodes.STALE_MEMBER_EPOCH.code,
    });
    await expect(producer.commit()).rejects.toMatchObject({ code: ErrorCodes.INVALID_TXN_STATE.code });
    await producer.abort();
    expect(coordinator.ended).toEqual([true, false]);
    expect(epochs).toEqual([3, 3]);
  });
});
