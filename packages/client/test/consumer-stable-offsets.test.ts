/**
 * The consumer side of exactly-once (KIP-447) against the in-process test cluster: a read_committed
 * member asks for stable offsets and waits while a transaction's offsets are pending; what
 * sendOffsets(consumer) takes from a consumer, and the consumers it refuses.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ErrorCodes, encodeBatch, type v1 } from '@samsa/protocol';
import { type ConsumerOptions, Samsa, SamsaClientError } from '@samsa/client';
import { TestCluster, waitFor } from './support/test-cluster.js';

const fastRetry = { retries: 5, initialRetryTimeMs: 10, maxRetryTimeMs: 50 };

describe('a read_committed group member and pending transactional offsets', () => {
  let cluster: TestCluster;
  let samsa: Samsa;
  const fetches: v1.OffsetFetchRequest__Output[] = [];
  /** How many more OffsetFetch answers say the offset is unstable. */
  let unstable = 0;

  beforeEach(async () => {
    cluster = await TestCluster.start();
    cluster.createTopic('t', 1);
    cluster.append(
      't',
      0,
      encodeBatch(Array.from({ length: 10 }, (_, i) => ({ key: null, value: Buffer.from(`v${i}`), timestamp: i }))),
    );
    fetches.length = 0;
    const port = cluster.brokers[0]!.port;
    cluster.groups = {
      FindCoordinator: (r: v1.FindCoordinatorRequest__Output) => ({
        coordinators: r.keys.map((k) => ({ key: k, nodeId: 0, host: '127.0.0.1', port, errorCode: 0 })),
      }),
      ConsumerGroupHeartbeat: (r: v1.ConsumerGroupHeartbeatRequest__Output) =>
        r.memberEpoch === -1
          ? { errorCode: 0, memberId: r.memberId, memberEpoch: -1 }
          : {
              errorCode: 0,
              memberId: 'member-1',
              memberEpoch: 1,
              heartbeatIntervalMs: 50,
              assignment: { topicPartitions: [{ topic: 't', partitions: [0] }] },
            },
      OffsetFetch: (r: v1.OffsetFetchRequest__Output) => {
        fetches.push(r);
        const pending = unstable > 0;
        if (pending) unstable--;
        return {
          errorCode: 0,
          topics: r.topics.map((t) => ({
            name: t.name,
            partitions: t.partitions.map((partition) => ({
              partition,
              committedOffset: pending ? 2 : 6,
              errorCode: pending ? ErrorCodes.UNSTABLE_OFFSET_COMMIT.code : 0,
            })),
          })),
        };
      },
    };
    samsa = new Samsa({ brokers: cluster.bootstrap, retry: fastRetry });
  });

  afterEach(async () => {
    await samsa.close();
    await cluster.stop();
  });

  const member = (options: Partial<ConsumerOptions> = {}) =>
    samsa.consumer({
      groupId: 'g',
      autoOffsetReset: 'earliest',
      maxWaitMs: 20,
      enableAutoCommit: false,
      isolationLevel: 'read_committed',
      ...options,
    });

  it('asks for stable offsets and starts only once the transaction has ended', async () => {
    unstable = 3;
    const consumer = member();
    consumer.subscribe(['t']);
    const iterator = consumer.messages();
    const first = await iterator.next();
    expect(first.value?.offset).toBe(6);
    expect(fetches.length).toBe(4);
    expect(fetches.every((f) => f.requireStable)).toBe(true);
    await iterator.return?.();
  });

  it('a read_uncommitted member does not ask for stable offsets', async () => {
    const consumer = member({ isolationLevel: 'read_uncommitted' });
    consumer.subscribe(['t']);
    const iterator = consumer.messages();
    await iterator.next();
    expect(fetches.map((f) => f.requireStable)).toEqual([false]);
    await iterator.return?.();
  });

  it('offsetsForTransaction: the member and its positions; refused with auto-commit or read_uncommitted', async () => {
    const consumer = member();
    consumer.subscribe(['t']);
    const iterator = consumer.messages();
    await iterator.next(); // offset 6 in hand: counted as processed
    await waitFor(() => consumer.groupMetadata().memberEpoch === 1, 5_000, 'the member epoch');
    expect(consumer.offsetsForTransaction()).toMatchObject({
      group: { groupId: 'g', memberId: 'member-1', memberEpoch: 1 },
      offsets: [{ topic: 't', partition: 0, offset: 7 }],
    });
    await iterator.return?.();
    for (const options of [{ enableAutoCommit: true }, { isolationLevel: 'read_uncommitted' as const }]) {
      const refused = member(options);
      let error: unknown;
      try {
        refused.offsetsForTransaction();
      } catch (err) {
        error = err;
      }
      expect(error).toBeInstanceOf(SamsaClientError);
      expect((error as SamsaClientError).code).toBe(ErrorCodes.INVALID_CONFIG.code);
    }
  });
});
