import { ErrorCodes, SamsaError } from '@samsa/protocol';
import { describe, expect, it } from 'vitest';
import { DEFAULT_GROUP_CORE_CONFIG } from '../../src/group/core.js';
import { type CoordinatorLog, GroupCoordinator, type LoggedBatch, type TxnProducer } from '../../src/group/driver.js';
import type { GroupRecord } from '../../src/group/records.js';

/**
 * A log that keeps batches with their producer and markers, checks producer epochs as a partition's
 * producer state does (a batch of an epoch below the producer's is refused), and replays all of it.
 */
class TxnLog implements CoordinatorLog {
  readonly batches: LoggedBatch[] = [];
  readonly epochs = new Map<number, number>();
  appendGate: Promise<void> = Promise.resolve();
  /** What waitCommitted waits for: the high watermark catching up. */
  commitGate: Promise<void> = Promise.resolve();

  async append(records: readonly GroupRecord[], txn?: TxnProducer): Promise<number> {
    await this.appendGate;
    if (txn !== undefined) {
      const known = this.epochs.get(txn.producerId);
      if (known !== undefined && known > txn.producerEpoch)
        return Promise.reject(new SamsaError(ErrorCodes.INVALID_PRODUCER_EPOCH, 'fenced'));
      this.epochs.set(txn.producerId, txn.producerEpoch);
    }
    this.batches.push({ records, producerId: txn?.producerId ?? -1, transactional: txn !== undefined });
    return Promise.resolve(this.batches.length);
  }
  marker(producerId: number, producerEpoch: number, commit: boolean): Promise<number> {
    this.epochs.set(producerId, producerEpoch);
    this.batches.push({ records: [], producerId, transactional: true, marker: { commit } });
    return Promise.resolve(this.batches.length);
  }
  waitCommitted(): Promise<void> {
    return this.commitGate;
  }
  endOffset(): number {
    return this.batches.length;
  }
  async *read(): AsyncIterable<readonly GroupRecord[]> {
    for (const b of this.batches) if (b.marker === undefined) yield b.records;
  }
  async *readBatches(): AsyncIterable<LoggedBatch> {
    for (const b of this.batches) yield b;
  }
  producerEpoch(producerId: number): number | undefined {
    return this.epochs.get(producerId);
  }
}

const topics = new Map([['orders', 4]]);

function coordinator() {
  let ids = 0;
  return new GroupCoordinator({
    config: DEFAULT_GROUP_CORE_CONFIG,
    numPartitions: 1,
    nowMs: () => 1_000,
    topics: () => topics,
    newMemberId: () => `m${++ids}`,
  });
}

const join = (c: GroupCoordinator, memberId = '', memberEpoch = 0) =>
  c.heartbeat({
    groupId: 'g',
    memberId,
    memberEpoch,
    rebalanceTimeoutMs: -1,
    subscribedTopicNames: ['orders'],
    ownedTopicPartitions: [],
    clientId: 'c',
    clientHost: 'h',
  });

const verified = () => Promise.resolve();

function txnCommit(
  c: GroupCoordinator,
  member: { memberId: string; memberEpoch: number },
  offset: number,
  producer: TxnProducer = { producerId: 7, producerEpoch: 0 },
  verify: (partition: number) => Promise<void> = verified,
) {
  return c.txnCommitOffsets(
    {
      groupId: 'g',
      ...member,
      ...producer,
      topics: [{ name: 'orders', partitions: [{ partition: 0, offset, leaderEpoch: -1, metadata: '' }] }],
    },
    verify,
  );
}

async function fetched(c: GroupCoordinator, requireStable: boolean) {
  const [topic] = await c.fetchOffsets({
    groupId: 'g',
    memberId: '',
    memberEpoch: -1,
    topics: [{ name: 'orders', partitions: [0] }],
    requireStable,
  });
  return topic!.partitions[0]!;
}

async function codeOf(p: Promise<unknown>): Promise<number> {
  try {
    await p;
  } catch (err) {
    if (err instanceof SamsaError) return err.code;
    throw err;
  }
  return 0;
}

/** A member owning all of `orders` (one member gets every partition at once). */
async function member(c: GroupCoordinator) {
  const joined = await join(c);
  return { memberId: joined.memberId, memberEpoch: joined.memberEpoch };
}

describe('transactional offset commits (TxnOffsetCommit)', () => {
  it('keeps offsets pending until the commit marker, unstable for require_stable fetches meanwhile', async () => {
    const c = coordinator();
    const log = new TxnLog();
    await c.becomeLeader(0, log);
    const m = await member(c);
    await c.commitOffsets({
      groupId: 'g',
      ...m,
      topics: [{ name: 'orders', partitions: [{ partition: 0, offset: 5, leaderEpoch: -1, metadata: '' }] }],
    });
    const result = await txnCommit(c, m, 10);
    expect(result[0]!.partitions[0]!.errorCode).toBe(0);
    expect(log.batches.at(-1)).toMatchObject({ producerId: 7, transactional: true });
    expect(await fetched(c, false)).toMatchObject({ offset: 5, errorCode: 0 });
    expect(await fetched(c, true)).toMatchObject({ errorCode: ErrorCodes.UNSTABLE_OFFSET_COMMIT.code });
    expect(c.pendingTxnProducers(0)).toEqual([7]);

    await c.writeTxnMarker(0, { producerId: 7, commit: true }, () => log.marker(7, 1, true));
    expect(await fetched(c, true)).toMatchObject({ offset: 10, errorCode: 0 });
    expect(c.pendingTxnProducers(0)).toEqual([]);
  });

  it('drops pending offsets on the abort marker', async () => {
    const c = coordinator();
    const log = new TxnLog();
    await c.becomeLeader(0, log);
    const m = await member(c);
    await txnCommit(c, m, 10);
    await c.writeTxnMarker(0, { producerId: 7, commit: false }, () => log.marker(7, 1, false));
    expect(await fetched(c, true)).toMatchObject({ offset: -1, errorCode: 0 });
  });

  it('a require_stable fetch never answers the offset from before a marker that lands while it waits', async () => {
    // The core's offset and the pending check are one snapshot: an answer that read the old offset and
    // then found the transaction ended (its marker applied while waiting on the high watermark) would
    // send a consumer back over records its committed transaction already processed.
    const c = coordinator();
    const log = new TxnLog();
    await c.becomeLeader(0, log);
    const m = await member(c);
    await c.commitOffsets({
      groupId: 'g',
      ...m,
      topics: [{ name: 'orders', partitions: [{ partition: 0, offset: 5, leaderEpoch: -1, metadata: '' }] }],
    });
    await txnCommit(c, m, 10);
    let release!: () => void;
    log.commitGate = new Promise((resolve) => {
      release = resolve;
    });
    const answer = fetched(c, true);
    await c.writeTxnMarker(0, { producerId: 7, commit: true }, () => log.marker(7, 1, true));
    release();
    const p = await answer;
    expect(p.errorCode === ErrorCodes.UNSTABLE_OFFSET_COMMIT.code || p.offset === 10).toBe(true);
    expect(await fetched(c, true)).toMatchObject({ offset: 10, errorCode: 0 });
  });

  it('rebuilds pending offsets, commits and aborts from the log after a failover', async () => {
    const c = coordinator();
    const log = new TxnLog();
    await c.becomeLeader(0, log);
    const m = await member(c);
    await txnCommit(c, m, 10, { producerId: 7, producerEpoch: 0 });
    await c.writeTxnMarker(0, { producerId: 7, commit: true }, () => log.marker(7, 1, true));
    await txnCommit(c, m, 20, { producerId: 8, producerEpoch: 0 });
    await c.writeTxnMarker(0, { producerId: 8, commit: false }, () => log.marker(8, 1, false));
    await txnCommit(c, m, 30, { producerId: 9, producerEpoch: 0 });

    const next = coordinator();
    await next.becomeLeader(0, log);
    expect(await fetched(next, false)).toMatchObject({ offset: 10 });
    expect(await fetched(next, true)).toMatchObject({ errorCode: ErrorCodes.UNSTABLE_OFFSET_COMMIT.code });
    expect(next.pendingTxnProducers(0)).toEqual([9]);
    await next.writeTxnMarker(0, { producerId: 9, commit: true }, () => log.marker(9, 1, true));
    expect(await fetched(next, true)).toMatchObject({ offset: 30, errorCode: 0 });
  });

  it('fences stale members, unknown groups, old epochs and unverified transactions, writing nothing', async () => {
    const c = coordinator();
    const log = new TxnLog();
    await c.becomeLeader(0, log);
    const unknownGroup = await codeOf(txnCommit(c, { memberId: 'nobody', memberEpoch: 1 }, 1));
    expect(unknownGroup).toBe(ErrorCodes.GROUP_ID_NOT_FOUND.code);
    const m = await member(c);
    const before = log.batches.length;
    expect(await codeOf(txnCommit(c, { memberId: 'nobody', memberEpoch: 1 }, 1))).toBe(
      ErrorCodes.UNKNOWN_MEMBER_ID.code,
    );
    expect(await codeOf(txnCommit(c, { ...m, memberEpoch: m.memberEpoch - 1 }, 1))).toBe(
      ErrorCodes.ILLEGAL_GENERATION.code,
    );
    expect(await codeOf(txnCommit(c, { memberId: '', memberEpoch: -1 }, 1))).toBe(ErrorCodes.UNKNOWN_MEMBER_ID.code);
    const notAdded = () => Promise.reject(new SamsaError(ErrorCodes.INVALID_TXN_STATE, 'not in the transaction'));
    expect(await codeOf(txnCommit(c, m, 1, undefined, notAdded))).toBe(ErrorCodes.INVALID_TXN_STATE.code);
    // The partition has seen a later epoch of the producer (a marker passed): refused before anything runs.
    log.epochs.set(7, 3);
    expect(await codeOf(txnCommit(c, m, 1, { producerId: 7, producerEpoch: 2 }))).toBe(
      ErrorCodes.INVALID_PRODUCER_EPOCH.code,
    );
    expect(log.batches.length).toBe(before);
    expect(c.pendingTxnProducers(0)).toEqual([]);
  });

  it('accepts a memberless commit (a Kafka client below TxnOffsetCommit v3) in a group with members', async () => {
    const c = coordinator();
    const log = new TxnLog();
    await c.becomeLeader(0, log);
    await member(c);
    const none = { memberId: '', memberEpoch: -1 };
    expect(await codeOf(txnCommit(c, none, 5))).toBe(ErrorCodes.UNKNOWN_MEMBER_ID.code);
    const [topic] = await c.txnCommitOffsets(
      {
        groupId: 'g',
        ...none,
        memberless: true,
        producerId: 7,
        producerEpoch: 0,
        topics: [{ name: 'orders', partitions: [{ partition: 0, offset: 5, leaderEpoch: -1, metadata: '' }] }],
      },
      verified,
    );
    expect(topic!.partitions[0]!.errorCode).toBe(0);
    expect(c.pendingTxnProducers(0)).toEqual([7]);
  });

  it('a marker logged before a late transactional write makes the write fail and the core reload', async () => {
    const c = coordinator();
    const log = new TxnLog();
    await c.becomeLeader(0, log);
    const m = await member(c);
    // The transaction was aborted (say, timed out) while the commit was on its way: the marker's
    // epoch is above the write's, so the log refuses the write and the core is rebuilt without it.
    let open = () => {};
    log.appendGate = new Promise((resolve) => {
      open = resolve;
    });
    const late = txnCommit(c, m, 10, { producerId: 7, producerEpoch: 0 });
    await expect.poll(() => c.pendingTxnProducers(0)).toEqual([7]);
    await log.marker(7, 1, false);
    open();
    expect(await codeOf(late)).toBe(ErrorCodes.COORDINATOR_LOAD_IN_PROGRESS.code);
    await expect.poll(() => c.isLoaded(0)).toBe(true);
    expect(c.pendingTxnProducers(0)).toEqual([]);
    expect(await fetched(c, true)).toMatchObject({ offset: -1, errorCode: 0 });
  });

  it('a replay of the log equals the live core, whatever the order of commits, txn commits and markers', async () => {
    for (let seed = 1; seed <= 30; seed++) {
      // mulberry32: the LCG this used, state * 1103515245 in doubles, lost its low bits past 2^53, so
      // state % n came out even nearly always (the choices below drew few of their cases).
      let state = seed;
      const random = (n: number) => {
        state = (state + 0x6d2b79f5) | 0;
        let t = Math.imul(state ^ (state >>> 15), 1 | state);
        t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
        return Math.floor((((t ^ (t >>> 14)) >>> 0) / 4294967296) * n);
      };
      const c = coordinator();
      const log = new TxnLog();
      await c.becomeLeader(0, log);
      const m = await member(c);
      const epochs = new Map<number, number>();
      for (let step = 0; step < 40; step++) {
        const producerId = 7 + random(3);
        const producerEpoch = epochs.get(producerId) ?? 0;
        const partition = random(2);
        const offset = random(1000);
        const choice = random(3);
        const offsets = [{ partition, offset, leaderEpoch: -1, metadata: '' }];
        if (choice === 0) {
          await c.commitOffsets({ groupId: 'g', ...m, topics: [{ name: 'orders', partitions: offsets }] });
        } else if (choice === 1) {
          await c.txnCommitOffsets(
            { groupId: 'g', ...m, producerId, producerEpoch, topics: [{ name: 'orders', partitions: offsets }] },
            verified,
          );
        } else {
          const commit = random(2) === 0;
          epochs.set(producerId, producerEpoch + 1);
          await c.writeTxnMarker(0, { producerId, commit }, () => log.marker(producerId, producerEpoch + 1, commit));
        }
      }
      const replayed = coordinator();
      await replayed.becomeLeader(0, log);
      for (const requireStable of [false, true]) {
        const live = await c.fetchOffsets({ groupId: 'g', memberId: '', memberEpoch: -1, topics: [], requireStable });
        const fromLog = await replayed.fetchOffsets({
          groupId: 'g',
          memberId: '',
          memberEpoch: -1,
          topics: [{ name: 'orders', partitions: [0, 1] }],
          requireStable,
        });
        const asked = await c.fetchOffsets({
          groupId: 'g',
          memberId: '',
          memberEpoch: -1,
          topics: [{ name: 'orders', partitions: [0, 1] }],
          requireStable,
        });
        expect(fromLog, `seed ${seed}`).toEqual(asked);
        expect(live.length).toBeLessThanOrEqual(1);
      }
      expect(replayed.pendingTxnProducers(0).sort(), `seed ${seed}`).toEqual(c.pendingTxnProducers(0).sort());
    }
  });

  it('refuses a marker while the partition loads (the transaction coordinator retries it)', async () => {
    const c = coordinator();
    const log = new TxnLog();
    expect(() => c.writeTxnMarker(0, { producerId: 7, commit: true }, () => log.marker(7, 1, true))).toThrow(
      /does not lead/,
    );
  });
});
