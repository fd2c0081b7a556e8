/**
 * KIP-320 on the consumer's side, against the in-process test cluster: after a leader change the consumer
 * asks the new leader (OffsetForLeaderEpoch) where the epoch of its last records ends, before fetching
 * again. When the new leader's log ends that epoch before the consumer's position (records written with
 * acks=1 that no follower copied, an unclean election), autoOffsetReset 'none' throws LogTruncationError
 * and the other policies move the position back to where the logs diverge: no record of the new leader
 * is skipped, none of the old ones is read twice.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { v1 } from '@samsa/protocol';
import { type ConsumerOptions, LogTruncationError, OffsetOutOfRangeError, Samsa } from '@samsa/client';
import { TestCluster, waitFor } from './support/test-cluster.js';
import { range, take } from '../../../test/helpers/consumed.js';

type EpochQuery = v1.OffsetForLeaderEpochRequest__Output;
type ListOffsets = v1.ListOffsetsRequest__Output;

const fastRetry = { retries: 100, initialRetryTimeMs: 10, maxRetryTimeMs: 50 };

describe('consumer and log truncation (KIP-320)', () => {
  let cluster: TestCluster;
  let samsa: Samsa | undefined;

  beforeEach(async () => {
    cluster = await TestCluster.start({ brokers: 2 });
    cluster.createTopic('t', 1, { leaders: [0] });
  });

  afterEach(async () => {
    await samsa?.close();
    samsa = undefined;
    await cluster.stop();
  });

  /**
   * A consumer of t-0 that has received offsets 0-19 from broker 0 in epoch 0: 0-9 (a0..a9) are the
   * records every replica has, 10-19 (b0..b9) the ones only broker 0 took.
   */
  async function consumedTwenty(options: Partial<ConsumerOptions> = {}) {
    samsa = new Samsa({ brokers: cluster.bootstrap, retry: fastRetry });
    const consumer = samsa.consumer({ maxWaitMs: 50, autoOffsetReset: 'earliest', ...options });
    cluster.appendValues('t', 0, 'a', 10);
    cluster.appendValues('t', 0, 'b', 10);
    await consumer.assign([{ topic: 't' }]);
    consumer.seek({ topic: 't', partition: 0, offset: 0 });
    const iterator = consumer.messages();
    expect(await take(iterator, 20)).toEqual([...range(0, 'a', 10), ...range(10, 'b', 10)]);
    return { consumer, iterator };
  }

  it('moves the position back to where the logs diverge and reads the new leader from there', async () => {
    const { consumer, iterator } = await consumedTwenty();
    // Broker 1 never had b0..b9: it leads in epoch 1 from offset 10 and takes five records of its own.
    cluster.truncateAndMoveLeader('t', 0, 10, 1);
    cluster.appendValues('t', 0, 'c', 5);
    expect(await take(iterator, 5)).toEqual(range(10, 'c', 5));
    expect(consumer.position({ topic: 't', partition: 0 })).toBe(15);
    // Asked of the new leader, under its epoch, for the epoch of the last record received.
    const asked = cluster.requestsOf<EpochQuery>('OffsetForLeaderEpoch');
    expect(asked.map((r) => r.broker)).toEqual([1]);
    expect(asked[0]!.request.topics[0]!.partitions[0]).toMatchObject({ currentLeaderEpoch: 1, leaderEpoch: 0 });
    await iterator.return?.();
  }, 30_000);

  it("validates at the leader a refusal's hint names, without asking for metadata (KIP-951)", async () => {
    cluster.leaderHints = true;
    const { iterator } = await consumedTwenty();
    const from = cluster.requests.length;
    cluster.truncateAndMoveLeader('t', 0, 10, 1);
    cluster.appendValues('t', 0, 'c', 5);
    expect(await take(iterator, 5)).toEqual(range(10, 'c', 5));
    const after = cluster.requests.slice(from).map((r) => `${r.method}@${r.broker}`);
    expect(after.filter((r) => r.startsWith('Metadata'))).toEqual([]);
    // Refused by broker 0 with the hint, validated at broker 1, then fetched there.
    const at1 = after.filter((r) => r.endsWith('@1'));
    expect(at1.slice(0, 2)).toEqual(['OffsetForLeaderEpoch@1', 'Fetch@1']);
    await iterator.return?.();
  }, 30_000);

  it("throws LogTruncationError with autoOffsetReset 'none', naming position and divergent offset", async () => {
    const { consumer, iterator } = await consumedTwenty({ autoOffsetReset: 'none' });
    cluster.truncateAndMoveLeader('t', 0, 10, 1);
    cluster.appendValues('t', 0, 'c', 15);
    const err = await iterator.next().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(LogTruncationError);
    expect(err).toBeInstanceOf(OffsetOutOfRangeError);
    expect(err).toMatchObject({ topic: 't', partition: 0, offset: 20, divergentOffset: 10 });
    // The application decides: seek to the divergent offset reads the new leader's records from there.
    consumer.seek({ topic: 't', partition: 0, offset: (err as LogTruncationError).divergentOffset });
    expect(await take(consumer.messages(), 15)).toEqual(range(10, 'c', 15));
  }, 30_000);

  it('goes on from its position when the new leader has every record it read', async () => {
    const { iterator } = await consumedTwenty({ autoOffsetReset: 'none' });
    cluster.moveLeader('t', 0, 1);
    cluster.appendValues('t', 0, 'c', 3);
    expect(await take(iterator, 3)).toEqual(range(20, 'c', 3));
    const asked = cluster.requestsOf<EpochQuery>('OffsetForLeaderEpoch');
    expect(asked.length).toBe(1);
    await iterator.return?.();
  }, 30_000);

  it('drops prefetched records past the divergence that the application was not handed', async () => {
    const { consumer, iterator } = await consumedTwenty({ autoOffsetReset: 'none' });
    consumer.seek({ topic: 't', partition: 0, offset: 5 });
    // Offsets 5-9 are handed out (their epoch known), 10-19 wait in the chunk being iterated.
    expect(await take(iterator, 5)).toEqual(['5:a5', '6:a6', '7:a7', '8:a8', '9:a9']);
    cluster.truncateAndMoveLeader('t', 0, 10, 1);
    cluster.appendValues('t', 0, 'c', 2);
    // The consumer sees the move (its next fetch, from 20, is refused), validates and fetches from broker 1.
    await waitFor(() => cluster.requests.some((r) => r.method === 'Fetch' && r.broker === 1));
    // The chunk came from one fetch with offsets 5-19: what is left of it (b0..b9) was dropped when the
    // leader change was seen; no error, since the application has none of the lost records.
    expect(await take(iterator, 2)).toEqual(range(10, 'c', 2));
    await iterator.return?.();
  }, 30_000);

  // Kafka's consumer returns no record of a partition awaiting validation: one handed out meanwhile may be
  // one the new leader never had (LogTruncationError once the answer comes, with 'none').
  it.each([
    ['the rest of the chunk in hand', 1],
    ['a chunk fetched and waiting', 10],
  ])(
    'hands out none of its fetched records while a position is validated: %s',
    async (_, handedOut) => {
      samsa = new Samsa({ brokers: cluster.bootstrap, retry: fastRetry });
      // One batch per fetch: a0..a9 are one chunk, b0..b9 the next.
      const consumer = samsa.consumer({ maxWaitMs: 50, autoOffsetReset: 'none', maxPartitionFetchBytes: 1 });
      cluster.appendValues('t', 0, 'a', 10);
      await consumer.assign([{ topic: 't' }]);
      consumer.seek({ topic: 't', partition: 0, offset: 0 });
      const iterator = consumer.messages();
      expect(await take(iterator, handedOut)).toEqual(range(0, 'a', handedOut));
      cluster.appendValues('t', 0, 'b', 10);
      // The fetch from 10 was answered (high watermark 20): b0..b9 are buffered.
      await waitFor(() => consumer.currentLag({ topic: 't', partition: 0 }) === 20 - handedOut);
      // Broker 1 never had b0..b9; the consumer hears of it from the metadata and asks broker 1, which waits.
      const release = cluster.hold('OffsetForLeaderEpoch', 1);
      cluster.truncateAndMoveLeader('t', 0, 10, 1);
      cluster.appendValues('t', 0, 'c', 5);
      await samsa.connect();
      await waitFor(() => cluster.requestsOf('OffsetForLeaderEpoch').length === 1);
      const next = iterator.next();
      const early = await Promise.race([next, new Promise((resolve) => setImmediate(() => resolve('waiting')))]);
      expect(early).toBe('waiting');
      release();
      const rest = [...range(0, 'a', 10).slice(handedOut), ...range(10, 'c', 5)];
      const first = await next;
      expect(`${first.value?.offset}:${first.value?.value}`).toBe(rest[0]);
      expect(await take(iterator, rest.length - 1)).toEqual(rest.slice(1));
      await iterator.return?.();
    },
    30_000,
  );

  it('validates a position reset to the end, with the epoch ListOffsets gave it, before reading anything', async () => {
    samsa = new Samsa({ brokers: cluster.bootstrap, retry: fastRetry });
    const consumer = samsa.consumer({ maxWaitMs: 50, autoOffsetReset: 'earliest' });
    cluster.appendValues('t', 0, 'a', 10);
    cluster.appendValues('t', 0, 'b', 10);
    await consumer.assign([{ topic: 't' }]);
    expect(await consumer.seekToEnd()).toEqual([{ topic: 't', partition: 0, offset: 20 }]);
    const iterator = consumer.messages();
    // The consumer long-polls at 20 and has read nothing when broker 0 is replaced by one without b0..b9,
    // which takes fifteen new records: a fetch from 20 would skip ten of them.
    const polling = iterator.next();
    await waitFor(() => cluster.requestsOf('Fetch').length > 0);
    cluster.truncateAndMoveLeader('t', 0, 10, 1);
    cluster.appendValues('t', 0, 'c', 15);
    const first = await polling;
    expect(`${first.value?.offset}:${first.value?.value}`).toBe('10:c0');
    expect(await take(iterator, 14)).toEqual(range(10, 'c', 15).slice(1));
    const asked = cluster.requestsOf<EpochQuery>('OffsetForLeaderEpoch');
    expect(asked[0]!.request.topics[0]!.partitions[0]).toMatchObject({ currentLeaderEpoch: 1, leaderEpoch: 0 });
    await iterator.return?.();
  }, 30_000);

  it('validates a position given to seek with its leader epoch (kept elsewhere) before reading from it', async () => {
    samsa = new Samsa({ brokers: cluster.bootstrap, retry: fastRetry });
    cluster.appendValues('t', 0, 'a', 10);
    cluster.moveLeader('t', 0, 1);
    cluster.appendValues('t', 0, 'b', 10);
    // An application reads batches and keeps the position after each with the epoch it came with.
    const first = samsa.consumer({ maxWaitMs: 50 });
    await first.assign([{ topic: 't' }]);
    first.seek({ topic: 't', partition: 0, offset: 0 });
    const kept: Array<{ offset: number; leaderEpoch: number }> = [];
    for await (const batch of first.batches()) {
      kept.push({ offset: batch.messages.at(-1)!.offset + 1, leaderEpoch: batch.leaderEpoch });
      if (kept.at(-1)!.offset === 20) break;
    }
    expect(kept.at(-1)).toEqual({ offset: 20, leaderEpoch: 1 });
    await first.close();
    // Broker 0 leads again in epoch 2 without b0..b9 (offsets 10-19, epoch 1) and takes fifteen new records.
    cluster.truncateAndMoveLeader('t', 0, 10, 0);
    cluster.appendValues('t', 0, 'c', 15);
    const restarted = samsa.consumer({ maxWaitMs: 50, autoOffsetReset: 'none' });
    await restarted.assign([{ topic: 't' }]);
    restarted.seek({ topic: 't', partition: 0, ...kept.at(-1)! });
    const err = await restarted
      .messages()
      .next()
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    expect(err).toMatchObject({ name: 'LogTruncationError', offset: 20, divergentOffset: 10 });
    // Without the epoch the position is taken as it is: the fetch from 20 skips c0..c9.
    restarted.seek({ topic: 't', partition: 0, offset: 20 });
    expect(await take(restarted.messages(), 1)).toEqual(['20:c10']);
    expect(() => restarted.seek({ topic: 't', partition: 0, offset: 20, leaderEpoch: -2 })).toThrow(/leader epoch -2/);
  }, 30_000);

  it('does not validate against brokers without OffsetForLeaderEpoch, and keeps fetching', async () => {
    await cluster.stop();
    cluster = await TestCluster.start({ brokers: 2, offsetForLeaderEpoch: false });
    cluster.createTopic('t', 1, { leaders: [0] });
    const { iterator } = await consumedTwenty({ autoOffsetReset: 'none' });
    cluster.moveLeader('t', 0, 1);
    cluster.appendValues('t', 0, 'c', 3);
    expect(await take(iterator, 3)).toEqual(range(20, 'c', 3));
    await iterator.return?.();
  }, 30_000);

  it('validates at a broker that had no OffsetForLeaderEpoch once it has it (upgraded, rolling)', async () => {
    const { iterator } = await consumedTwenty({ autoOffsetReset: 'none' });
    // Broker 1 is still the old version when it first leads: the position goes on unvalidated there.
    cluster.inject({ method: 'OffsetForLeaderEpoch', broker: 1, grpcStatus: 12 }); // UNIMPLEMENTED
    cluster.moveLeader('t', 0, 1);
    cluster.appendValues('t', 0, 'c', 3);
    expect(await take(iterator, 3)).toEqual(range(20, 'c', 3));
    cluster.moveLeader('t', 0, 0);
    cluster.appendValues('t', 0, 'd', 3);
    expect(await take(iterator, 3)).toEqual(range(23, 'd', 3));
    // Broker 1, upgraded and restarted meanwhile, leads again uncleanly without d0..d2 (offsets 23-25): the
    // consumer (position 26) asks it, and learns that the records it was handed are gone.
    cluster.truncateAndMoveLeader('t', 0, 23, 1);
    cluster.appendValues('t', 0, 'e', 5);
    const err = await iterator.next().then(
      (r) => r.value,
      (e: unknown) => e,
    );
    expect(err).toMatchObject({ name: 'LogTruncationError', offset: 26, divergentOffset: 23 });
    expect(cluster.requestsOf('OffsetForLeaderEpoch').map((r) => r.broker)).toEqual([1, 0, 1]);
  }, 30_000);

  it('ListOffsets names the leader epoch the metadata has', async () => {
    samsa = new Samsa({ brokers: cluster.bootstrap, retry: fastRetry });
    cluster.moveLeader('t', 0, 1);
    const consumer = samsa.consumer({});
    await consumer.assign([{ topic: 't' }]);
    await consumer.seekToEnd();
    const asked = cluster.requestsOf<ListOffsets>('ListOffsets');
    expect(asked.at(-1)!.request.topics[0]!.partitions[0]).toMatchObject({ timestamp: -1, currentLeaderEpoch: 1 });
  }, 30_000);
});

/**
 * The group half of KIP-320: commits carry the leader epoch of the last record consumed before the
 * committed offset, and a consumer starting from a committed offset with an epoch validates it first.
 */
describe('committed offsets and their leader epoch (KIP-320)', () => {
  let cluster: TestCluster;
  let samsa: Samsa | undefined;
  /** The fake coordinator's committed offsets of t-0 and what each OffsetCommit carried. */
  let stored: { offset: number; leaderEpoch?: number } | undefined;
  let commits: Array<{ offset: number; leaderEpoch: number | undefined }>;
  let txnCommits: Array<{ offset: number; leaderEpoch: number | undefined }>;

  beforeEach(async () => {
    cluster = await TestCluster.start({ brokers: 2 });
    cluster.createTopic('t', 1, { leaders: [0] });
    stored = undefined;
    commits = [];
    txnCommits = [];
    const port = cluster.brokers[0]!.port;
    const answer = (r: { topics: { name: string; partitions: { partition: number }[] }[] }) => ({
      errorCode: 0,
      topics: r.topics.map((t) => ({
        name: t.name,
        partitions: t.partitions.map((p) => ({ partition: p.partition, errorCode: 0 })),
      })),
    });
    cluster.groups = {
      FindCoordinator: (r: v1.FindCoordinatorRequest__Output) => ({
        coordinators: r.keys.map((k) => ({ key: k, nodeId: 0, host: '127.0.0.1', port, errorCode: 0 })),
      }),
      OffsetCommit: (r: v1.OffsetCommitRequest__Output) => {
        for (const t of r.topics)
          for (const p of t.partitions) {
            commits.push({ offset: Number(p.committedOffset), leaderEpoch: p.committedLeaderEpoch });
            stored = { offset: Number(p.committedOffset), leaderEpoch: p.committedLeaderEpoch };
          }
        return answer(r);
      },
      OffsetFetch: (r: v1.OffsetFetchRequest__Output) => ({
        errorCode: 0,
        topics: r.topics.map((t) => ({
          name: t.name,
          partitions: t.partitions.map((partition) => ({
            partition,
            committedOffset: stored?.offset ?? -1,
            // Absent, as from a broker before KIP-320's group half, when the test stores none.
            ...(stored?.leaderEpoch !== undefined ? { committedLeaderEpoch: stored.leaderEpoch } : {}),
            errorCode: 0,
          })),
        })),
      }),
      TxnOffsetCommit: (r: v1.TxnOffsetCommitRequest__Output) => {
        for (const t of r.topics)
          for (const p of t.partitions)
            txnCommits.push({ offset: Number(p.committedOffset), leaderEpoch: p.committedLeaderEpoch });
        return answer(r);
      },
    };
    cluster.txn = {
      AddOffsetsToTxn: () => ({ errorCode: 0, errorMessage: '' }),
      EndTxn: (r: v1.EndTxnRequest__Output) => ({
        errorCode: 0,
        errorMessage: '',
        producerId: r.producerId,
        producerEpoch: r.producerEpoch + 1,
      }),
    };
  });

  afterEach(async () => {
    await samsa?.close();
    samsa = undefined;
    await cluster.stop();
  });

  /** Ten records in epoch 0 (a0..a9), the leader moves to broker 1, ten in epoch 1 (b0..b9). */
  function twoEpochs(): void {
    cluster.appendValues('t', 0, 'a', 10);
    cluster.moveLeader('t', 0, 1);
    cluster.appendValues('t', 0, 'b', 10);
  }

  it('commits the epoch of the last record before the offset: commit(), explicit offsets, auto-commit', async () => {
    samsa = new Samsa({ brokers: cluster.bootstrap, retry: fastRetry });
    twoEpochs();
    const consumer = samsa.consumer({
      groupId: 'g',
      maxWaitMs: 50,
      autoOffsetReset: 'earliest',
      enableAutoCommit: false,
    });
    await consumer.assign([{ topic: 't' }]);
    const iterator = consumer.messages();
    expect(await take(iterator, 5)).toEqual(range(0, 'a', 5));
    await consumer.commit(); // position 5, after a4 (epoch 0)
    expect(await take(iterator, 10)).toEqual([...range(0, 'a', 10).slice(5), ...range(10, 'b', 5)]);
    await consumer.commit(); // position 15, after b4 (epoch 1)
    // Explicit offsets: the position's epoch where the offset is the position, unknown elsewhere, or given.
    await consumer.commit([{ topic: 't', partition: 0, offset: 15 }]);
    await consumer.commit([{ topic: 't', partition: 0, offset: 12 }]);
    await consumer.commit([{ topic: 't', partition: 0, offset: 12, leaderEpoch: 1 }]);
    expect(commits).toEqual([
      { offset: 5, leaderEpoch: 0 },
      { offset: 15, leaderEpoch: 1 },
      { offset: 15, leaderEpoch: 1 },
      { offset: 12, leaderEpoch: -1 },
      { offset: 12, leaderEpoch: 1 },
    ]);
    await iterator.return?.();
    await consumer.close();
    // Auto-commit commits what was finished with, with its epoch.
    commits = [];
    const auto = samsa.consumer({ groupId: 'g', maxWaitMs: 50, enableAutoCommit: true, autoCommitIntervalMs: 20 });
    await auto.assign([{ topic: 't' }]);
    auto.seek({ topic: 't', partition: 0, offset: 8 });
    const autoIterator = auto.messages();
    expect(await take(autoIterator, 12)).toEqual([...range(0, 'a', 10).slice(8), ...range(10, 'b', 10)]);
    await waitFor(() => commits.some((c) => c.offset >= 19));
    expect(commits.filter((c) => c.offset >= 11).every((c) => c.leaderEpoch === 1)).toBe(true);
    await autoIterator.return?.();
    await auto.close();
  }, 30_000);

  /**
   * The group committed 20 after b9 (epoch 1); then broker 0 leads again in epoch 2 without b0..b9 and
   * takes fifteen new records (c0..c14 at offsets 10-24).
   */
  function committedThenTruncated(leaderEpoch: number | undefined): void {
    twoEpochs();
    stored = { offset: 20, ...(leaderEpoch !== undefined ? { leaderEpoch } : {}) };
    cluster.truncateAndMoveLeader('t', 0, 10, 0);
    cluster.appendValues('t', 0, 'c', 15);
  }

  it("a member starting from a committed offset with an epoch validates it: 'none' throws", async () => {
    samsa = new Samsa({ brokers: cluster.bootstrap, retry: fastRetry });
    committedThenTruncated(1);
    const consumer = samsa.consumer({ groupId: 'g', maxWaitMs: 50, autoOffsetReset: 'none' });
    await consumer.assign([{ topic: 't' }]);
    expect(await consumer.committed()).toEqual([
      { topic: 't', partition: 0, offset: 20, leaderEpoch: 1, metadata: '' },
    ]);
    const err = await consumer
      .messages()
      .next()
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    expect(err).toBeInstanceOf(LogTruncationError);
    expect(err).toMatchObject({ topic: 't', partition: 0, offset: 20, divergentOffset: 10 });
    const asked = cluster.requestsOf<EpochQuery>('OffsetForLeaderEpoch');
    expect(asked[0]!.request.topics[0]!.partitions[0]).toMatchObject({ currentLeaderEpoch: 2, leaderEpoch: 1 });
  }, 30_000);

  it("with 'earliest' it reads the new leader's records from the divergent offset, none skipped", async () => {
    samsa = new Samsa({ brokers: cluster.bootstrap, retry: fastRetry });
    committedThenTruncated(1);
    const consumer = samsa.consumer({ groupId: 'g', maxWaitMs: 50, autoOffsetReset: 'earliest' });
    await consumer.assign([{ topic: 't' }]);
    expect(await take(consumer.messages(), 15)).toEqual(range(10, 'c', 15));
  }, 30_000);

  it('a committed offset without an epoch (an older broker, a Kafka client) is taken as it is', async () => {
    samsa = new Samsa({ brokers: cluster.bootstrap, retry: fastRetry });
    committedThenTruncated(undefined);
    const consumer = samsa.consumer({ groupId: 'g', maxWaitMs: 50, autoOffsetReset: 'none' });
    await consumer.assign([{ topic: 't' }]);
    expect((await consumer.committed())[0]!.leaderEpoch).toBe(-1);
    // Nothing to validate with: the fetch from 20 skips c0..c9, as before KIP-320.
    expect(await take(consumer.messages(), 1)).toEqual(['20:c10']);
    expect(cluster.requestsOf('OffsetForLeaderEpoch')).toEqual([]);
  }, 30_000);

  it("a transaction's sendOffsets commits the epochs too, positions and explicit offsets alike", async () => {
    samsa = new Samsa({ brokers: cluster.bootstrap, retry: fastRetry });
    twoEpochs();
    const consumer = samsa.consumer({
      groupId: 'g',
      maxWaitMs: 50,
      autoOffsetReset: 'earliest',
      isolationLevel: 'read_committed',
      enableAutoCommit: false,
    });
    await consumer.assign([{ topic: 't' }]);
    const iterator = consumer.messages();
    expect(await take(iterator, 12)).toEqual([...range(0, 'a', 10), ...range(10, 'b', 2)]);
    const producer = samsa.producer({ transactionalId: 'tx' });
    await producer.transaction(async (tx) => {
      await tx.sendOffsets(consumer); // position 12, after b1 (epoch 1)
      await tx.sendOffsets({ consumer, offsets: [{ topic: 't', partition: 0, offset: 12 }] });
      await tx.sendOffsets({ consumer, offsets: [{ topic: 't', partition: 0, offset: 3 }] });
    });
    expect(txnCommits).toEqual([
      { offset: 12, leaderEpoch: 1 },
      { offset: 12, leaderEpoch: 1 },
      { offset: 3, leaderEpoch: -1 },
    ]);
    await iterator.return?.();
  }, 30_000);
});
