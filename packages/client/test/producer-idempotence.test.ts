import * as grpc from '@grpc/grpc-js';
import { Samsa, SamsaClientError } from '@samsa/client';
import { ErrorCodes, splitBatches, type v1 } from '@samsa/protocol';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { TestCluster } from './support/test-cluster.js';

const fastRetry = { retries: 5, initialRetryTimeMs: 10, maxRetryTimeMs: 50 };
type Produce = v1.ProduceRequest__Output;

/** Every batch sent to `partition` of `topic`, in send order: producer id, epoch, base sequence, record count. */
function sentBatches(cluster: TestCluster, topic: string, partition: number) {
  return cluster
    .requestsOf<Produce>('Produce')
    .flatMap((r) => r.request.topics.filter((t) => t.name === topic))
    .flatMap((t) => t.partitions.filter((p) => p.partition === partition))
    .flatMap((p) => splitBatches(p.records))
    .map(({ header }) => ({
      producerId: header.producerId,
      epoch: header.producerEpoch,
      sequence: header.baseSequence,
      count: header.recordCount,
    }));
}

describe('idempotent producer', () => {
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

  it('is on by default with acks=all: one producer id, sequences counted per partition from 0', async () => {
    cluster.createTopic('t', 2);
    const producer = samsa.producer({ batchSize: 200 });
    for (let round = 0; round < 3; round++) {
      await producer.sendBatch({
        topic: 't',
        messages: Array.from({ length: 10 }, (_, i) => ({ value: `r${round}-${i}`, partition: i % 2 })),
      });
    }
    expect(cluster.requestsOf('InitProducerId')).toHaveLength(1);
    for (const partition of [0, 1]) {
      const batches = sentBatches(cluster, 't', partition);
      expect(batches.length).toBeGreaterThan(1);
      let expected = 0;
      for (const b of batches) {
        expect(b).toMatchObject({ producerId: 1000, epoch: 0, sequence: expected });
        expected += b.count;
      }
      expect(expected).toBe(15);
    }
  });

  it('retries a batch whose answer was lost with the same producer id and sequence', async () => {
    cluster.createTopic('t', 1);
    const producer = samsa.producer();
    await producer.send({ topic: 't', value: 'first' });
    cluster.inject({ method: 'Produce', grpcStatus: grpc.status.UNAVAILABLE, afterHandling: true });
    await producer.send({ topic: 't', value: 'second' });
    const batches = sentBatches(cluster, 't', 0);
    expect(batches).toEqual([
      { producerId: 1000, epoch: 0, sequence: 0, count: 1 },
      { producerId: 1000, epoch: 0, sequence: 1, count: 1 },
      { producerId: 1000, epoch: 0, sequence: 1, count: 1 },
    ]);
  });

  /** Sends 12 records in several batches while `faults` hit the first requests; each request's base sequences. */
  async function retried(faults: Parameters<TestCluster['inject']>[0][]): Promise<number[][]> {
    cluster.createTopic('t', 1);
    const producer = samsa.producer({ batchSize: 100 });
    await producer.send({ topic: 't', value: 'warm-up' }); // has its producer id: the next request goes at once
    cluster.requests.length = 0;
    for (const fault of faults) cluster.inject(fault);
    const first = producer.sendBatch({
      topic: 't',
      messages: Array.from({ length: 12 }, (_, i) => ({ value: `a${i}` })),
    });
    await new Promise((resolve) => setImmediate(resolve)); // the first request is on its way
    const second = producer.sendBatch({
      topic: 't',
      messages: Array.from({ length: 12 }, (_, i) => ({ value: `b${i}` })),
    });
    await Promise.all([first, second]);
    return cluster
      .requestsOf<Produce>('Produce')
      .map((r) => splitBatches(r.request.topics[0]!.partitions[0]!.records).map((b) => b.header.baseSequence));
  }

  // A new leader may hold only the first batches of the failed request (its fetch ended between two):
  // the request repeated whole would be neither a duplicate nor in sequence there, and the producer would
  // start over under a new producer id, writing those batches twice. One at a time, each is either.
  it('retries the batches of the failed request one at a time, not the ones queued since', async () => {
    const lost = { method: 'Produce', grpcStatus: grpc.status.UNAVAILABLE, afterHandling: true } as const;
    const requests = await retried([lost]);
    const failed = requests[0]!;
    expect(failed.length).toBeGreaterThan(1);
    expect(requests.slice(1, 1 + failed.length)).toEqual(failed.map((sequence) => [sequence]));
    expect(requests.slice(1 + failed.length).flat()[0]).toBe(13);
  });

  it('keeps retrying the failed request one batch at a time after a retry fails too', async () => {
    const lost = { method: 'Produce', grpcStatus: grpc.status.UNAVAILABLE, afterHandling: true } as const;
    const requests = await retried([lost, { method: 'Produce', grpcStatus: grpc.status.UNAVAILABLE }]);
    const failed = requests[0]!;
    expect(failed.length).toBeGreaterThan(1);
    // The first batch twice (its retry failed), then the others alone, then the batches queued since.
    expect(requests.slice(1, 2 + failed.length)).toEqual([[failed[0]], ...failed.map((sequence) => [sequence])]);
    expect(requests.slice(2 + failed.length).flat()[0]).toBe(13);
  });

  it('starts the partition over under a new producer id when the broker lost its sequences', async () => {
    cluster.createTopic('t', 2);
    const producer = samsa.producer();
    await producer.send({ topic: 't', value: 'a', partition: 0 });
    await producer.send({ topic: 't', value: 'b', partition: 1 });
    cluster.inject({
      method: 'Produce',
      topic: 't',
      partition: 0,
      errorCode: ErrorCodes.UNKNOWN_PRODUCER_ID.code,
    });
    expect(await producer.send({ topic: 't', value: 'c', partition: 0 })).toMatchObject({ partition: 0 });
    await producer.send({ topic: 't', value: 'd', partition: 1 });
    expect(sentBatches(cluster, 't', 0).map((b) => [b.producerId, b.sequence])).toEqual([
      [1000, 0],
      [1000, 1],
      [1001, 0],
    ]);
    // The other partition keeps its producer id and goes on counting.
    expect(sentBatches(cluster, 't', 1).map((b) => [b.producerId, b.sequence])).toEqual([
      [1000, 0],
      [1000, 1],
    ]);
  });

  it('waits for a producer id and retries InitProducerId after a failure', async () => {
    cluster.createTopic('t', 1);
    cluster.inject({ method: 'InitProducerId', errorCode: ErrorCodes.COORDINATOR_NOT_AVAILABLE.code, times: 2 });
    const producer = samsa.producer();
    expect(await producer.send({ topic: 't', value: 'x' })).toMatchObject({ offset: 0 });
    expect(cluster.requestsOf('InitProducerId').length).toBeGreaterThanOrEqual(3);
    expect(sentBatches(cluster, 't', 0)).toEqual([{ producerId: 1000, epoch: 0, sequence: 0, count: 1 }]);
  });

  it('is off with acks 0 or 1, and refused there when asked for', async () => {
    cluster.createTopic('t', 1);
    await samsa.producer({ acks: 1 }).send({ topic: 't', value: 'x' });
    expect(cluster.requestsOf('InitProducerId')).toHaveLength(0);
    expect(sentBatches(cluster, 't', 0)).toEqual([{ producerId: -1, epoch: -1, sequence: -1, count: 1 }]);
    expect(() => samsa.producer({ acks: 1, idempotent: true })).toThrow(SamsaClientError);
  });
});
