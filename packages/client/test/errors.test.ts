import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import * as grpc from '@grpc/grpc-js';
import { ErrorCodes, SamsaError, encodeBatch } from '@samsa/protocol';
import { AbortError, ClosedError, Samsa, SamsaClientError, TimeoutError } from '@samsa/client';
import { connectionReason, errorFromCode, errorFromGrpc, needsMetadataRefresh } from '../src/errors.js';
import { backoffMs } from '../src/retry.js';
import { BrokerConnection } from '../src/transport.js';
import { TestCluster, waitFor } from './support/test-cluster.js';

function grpcError(code: grpc.status, details: string): grpc.ServiceError {
  return Object.assign(new Error(`${code} ${grpc.status[code]}: ${details}`), {
    code,
    details,
    metadata: new grpc.Metadata(),
  });
}

describe('error mapping', () => {
  it('maps gRPC statuses to typed errors from the one table', () => {
    const unavailable = errorFromGrpc(
      grpcError(grpc.status.UNAVAILABLE, 'No connection established. Last error: connect ECONNREFUSED 127.0.0.1:9092'),
      '127.0.0.1:9092',
      'Produce',
    );
    expect(unavailable).toBeInstanceOf(SamsaClientError);
    expect(unavailable).toBeInstanceOf(SamsaError);
    expect(unavailable).toMatchObject({
      code: ErrorCodes.NETWORK_EXCEPTION.code,
      errorName: 'NetworkException',
      retriable: true,
    });
    expect(unavailable.message).toContain('(connect ECONNREFUSED)');
    expect(unavailable.cause).toBeInstanceOf(Error);

    const deadline = errorFromGrpc(grpcError(grpc.status.DEADLINE_EXCEEDED, 'Deadline exceeded'), 'b:1', 'Fetch');
    expect(deadline).toBeInstanceOf(TimeoutError);
    expect(deadline).toMatchObject({ code: ErrorCodes.REQUEST_TIMED_OUT.code, retriable: true });

    expect(errorFromGrpc(grpcError(grpc.status.RESOURCE_EXHAUSTED, 'too big'), 'b:1', 'Produce')).toMatchObject({
      errorName: 'MessageTooLarge',
      retriable: false,
    });
    expect(errorFromGrpc(grpcError(grpc.status.INVALID_ARGUMENT, 'bad'), 'b:1', 'Produce')).toMatchObject({
      errorName: 'InvalidRequest',
      retriable: false,
    });
    expect(errorFromGrpc(grpcError(grpc.status.UNIMPLEMENTED, ''), 'b:1', 'Produce').message).toMatch(
      /does not implement Produce/,
    );
    expect(errorFromGrpc(grpcError(grpc.status.INTERNAL, 'boom'), 'b:1', 'Produce')).toMatchObject({
      errorName: 'UnknownServerError',
      retriable: false,
    });
  });

  it('maps wire error codes, unknown ones to UnknownServerError', () => {
    expect(errorFromCode(6, undefined, { topic: 't', partition: 2 })).toMatchObject({
      errorName: 'NotLeaderOrFollower',
      retriable: true,
      topic: 't',
      partition: 2,
    });
    expect(errorFromCode(6, undefined, { topic: 't', partition: 2 }).message).toMatch(/\(t-2\)$/);
    expect(errorFromCode(9999)).toMatchObject({ code: -1, errorName: 'UnknownServerError' });
    expect(needsMetadataRefresh(ErrorCodes.NOT_LEADER_OR_FOLLOWER.code)).toBe(true);
    expect(needsMetadataRefresh(ErrorCodes.LEADER_NOT_AVAILABLE.code)).toBe(true);
    expect(needsMetadataRefresh(ErrorCodes.NOT_ENOUGH_REPLICAS.code)).toBe(false);
  });

  it('names the low-level connection failure briefly', () => {
    expect(
      connectionReason(
        new Error('14 UNAVAILABLE: No connection established. Last error: connect ECONNREFUSED 127.0.0.1:1'),
      ),
    ).toBe('connect ECONNREFUSED');
    expect(connectionReason(new Error('getaddrinfo ENOTFOUND nowhere.invalid'))).toBe('getaddrinfo ENOTFOUND');
    expect(connectionReason(new Error('14 UNAVAILABLE: something else'))).toBe('something else');
  });

  it('backs off exponentially with jitter, capped', () => {
    const retry = { retries: 10, initialRetryTimeMs: 100, maxRetryTimeMs: 1000 };
    expect(backoffMs(0, retry, () => 0.5)).toBe(100);
    expect(backoffMs(2, retry, () => 0.5)).toBe(400);
    expect(backoffMs(9, retry, () => 0.5)).toBe(1000);
    expect(backoffMs(1, retry, () => 0)).toBe(160);
    expect(backoffMs(1, retry, () => 0.999999)).toBe(240);
  });
});

describe('client lifecycle and timeouts', () => {
  let cluster: TestCluster;

  beforeEach(async () => {
    cluster = await TestCluster.start();
  });

  afterEach(async () => {
    await cluster.stop();
  });

  it('times a request out after requestTimeoutMs with a retriable TimeoutError', async () => {
    const samsa = new Samsa({ brokers: cluster.bootstrap, requestTimeoutMs: 100, retry: { retries: 0 } });
    const release = cluster.hold('DescribeCluster');
    const err = await samsa
      .admin()
      .describeCluster()
      .catch((e: unknown) => e);
    release();
    await samsa.close();
    expect(err).toBeInstanceOf(TimeoutError);
    expect(err).toMatchObject({ retriable: true, code: ErrorCodes.REQUEST_TIMED_OUT.code });
    expect((err as Error).message).toMatch(/DescribeCluster to 127.0.0.1:\d+ timed out/);
  });

  it('refreshes metadata once it is older than metadataMaxAgeMs, sharing concurrent refreshes', async () => {
    cluster.createTopic('t', 1);
    const samsa = new Samsa({ brokers: cluster.bootstrap, metadataMaxAgeMs: 50 });
    const producer = samsa.producer({ lingerMs: 0 });
    await producer.send({ topic: 't', value: 'a' });
    const before = cluster.requestsOf('Metadata').length;
    await waitFor(
      () => {
        void producer.send({ topic: 't', value: 'b' });
        return cluster.requestsOf('Metadata').length > before;
      },
      5000,
      'a periodic refresh',
    );
    await producer.flush();
    const afterPeriodic = cluster.requestsOf('Metadata').length;
    await Promise.all([samsa.connect(), samsa.connect(), samsa.connect()]);
    expect(cluster.requestsOf('Metadata').length - afterPeriodic).toBeLessThanOrEqual(2);
    await samsa[Symbol.asyncDispose]();
    expect(() => samsa.producer()).toThrow(ClosedError);
  });

  it('aborts an admin call with an AbortSignal', async () => {
    const samsa = new Samsa({ brokers: cluster.bootstrap });
    const release = cluster.hold('DescribeCluster');
    const controller = new AbortController();
    const pending = samsa.admin().describeCluster({ signal: controller.signal });
    await waitFor(() => cluster.requestsOf('DescribeCluster').length === 1, 5000, 'the request');
    controller.abort();
    await expect(pending).rejects.toBeInstanceOf(AbortError);
    release();
    await samsa.close();
  });

  it('keeps up to maxInFlightRequests Produce requests outstanding per broker', async () => {
    cluster.createTopic('t', 3);
    const samsa = new Samsa({ brokers: cluster.bootstrap });
    await samsa.connect();
    const producer = samsa.producer({ lingerMs: 0, maxInFlightRequests: 2 });
    const release = cluster.hold('Produce');
    const sends = [producer.send({ topic: 't', value: 'x', partition: 0 })];
    await waitFor(() => cluster.requestsOf('Produce').length === 1, 5000, 'one request in flight');
    sends.push(producer.send({ topic: 't', value: 'x', partition: 1 }));
    await waitFor(() => cluster.requestsOf('Produce').length === 2, 5000, 'two requests in flight');
    sends.push(producer.send({ topic: 't', value: 'x', partition: 2 }));
    // A negative check needs some time: the third request must not show up while two are held.
    await expect(waitFor(() => cluster.requestsOf('Produce').length > 2, 100, 'a third request')).rejects.toThrow(
      /timed out/,
    );
    release();
    await Promise.all(sends);
    expect(cluster.requestsOf('Produce')).toHaveLength(3);
    await samsa.close();
  });

  it('a Produce unanswered in time closes its stream: the others fail retriable, the next opens another', async () => {
    cluster.createTopic('t', 1);
    const connection = new BrokerConnection(cluster.bootstrap[0]!, 'stream-test');
    const request = {
      acks: 1,
      timeoutMs: 10_000,
      topics: [
        {
          name: 't',
          partitions: [
            {
              partition: 0,
              records: encodeBatch([{ key: null, value: Buffer.from('x'), headers: [] }], { now: Date.now() }),
            },
          ],
        },
      ],
    };
    try {
      const release = cluster.hold('Produce');
      const patient = connection.produce(request, { timeoutMs: 10_000 }).catch((e: unknown) => e);
      const hasty = connection.produce(request, { timeoutMs: 150 }).catch((e: unknown) => e);
      expect(await hasty).toMatchObject({
        name: 'TimeoutError',
        retriable: true,
        code: ErrorCodes.REQUEST_TIMED_OUT.code,
      });
      // The other request on that stream fails at once, retriable, rather than after its own 10 s.
      expect(await patient).toMatchObject({ code: ErrorCodes.NETWORK_EXCEPTION.code, retriable: true });
      release();
      const answered = await connection.produce(request, { timeoutMs: 5000 });
      expect(answered.topics[0]!.partitions[0]!.errorCode).toBe(0);
    } finally {
      connection.close();
    }
  });

  it('times a request on a stream on the monotonic clock: a wall clock set back does not hold it', async () => {
    cluster.createTopic('t', 1);
    const connection = new BrokerConnection(cluster.bootstrap[0]!, 'stream-test');
    const records = encodeBatch([{ key: null, value: Buffer.from('x'), headers: [] }], { now: Date.now() });
    const request = { acks: 1, timeoutMs: 10_000, topics: [{ name: 't', partitions: [{ partition: 0, records }] }] };
    try {
      await connection.produce(request, { timeoutMs: 5_000 }); // the stream is open
      const release = cluster.hold('Produce');
      const answer = connection.produce(request, { timeoutMs: 200 }).catch((e: unknown) => e);
      const realNow = Date.now.bind(Date);
      const setBack = vi.spyOn(Date, 'now').mockImplementation(() => realNow() - 3_600_000);
      try {
        expect(await answer).toMatchObject({ name: 'TimeoutError', code: ErrorCodes.REQUEST_TIMED_OUT.code });
      } finally {
        setBack.mockRestore();
        release();
      }
    } finally {
      connection.close();
    }
  }, 10_000);

  it('times a Produce on a stream from its own send, whatever was answered on the stream before it', async () => {
    cluster.createTopic('t', 1);
    const connection = new BrokerConnection(cluster.bootstrap[0]!, 'stream-test');
    const records = encodeBatch([{ key: null, value: Buffer.from('x'), headers: [] }], { now: Date.now() });
    const request = { acks: 1, timeoutMs: 10_000, topics: [{ name: 't', partitions: [{ partition: 0, records }] }] };
    const timeoutMs = 300;
    try {
      // Answered requests first, for half the time: the stream's timer was armed for the first one's deadline.
      const firstSentMs = Date.now();
      while (Date.now() - firstSentMs < timeoutMs / 2) await connection.produce(request, { timeoutMs });
      const release = cluster.hold('Produce');
      const sentMs = Date.now();
      const err = await connection.produce(request, { timeoutMs }).catch((e: unknown) => e);
      release();
      expect(err).toMatchObject({ name: 'TimeoutError', code: ErrorCodes.REQUEST_TIMED_OUT.code });
      expect(Date.now() - sentMs).toBeGreaterThanOrEqual(timeoutMs - 1);
    } finally {
      connection.close();
    }
  });
});
