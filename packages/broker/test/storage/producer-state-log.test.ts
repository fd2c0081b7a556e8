import { cp, readdir } from 'node:fs/promises';
import { encodeBatch, ErrorCodes, SamsaError } from '@samsa/protocol';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openPartitionLog, type PartitionLog } from '@samsa/broker/internal';
import { tempDir } from './helpers.js';

/** A producer's batch as the SDK builds it: producer id, epoch and base sequence in the header. */
function idempotent(producerId: number, epoch: number, baseSequence: number, count = 2, tag = 'v'): Buffer {
  const records = Array.from({ length: count }, (_, i) => ({ value: Buffer.from(`${tag}${baseSequence + i}`) }));
  return encodeBatch(records, { now: 1_000, producerId, producerEpoch: epoch, baseSequence });
}

async function rejection(promise: Promise<unknown>): Promise<SamsaError> {
  const error = await promise.then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(error).toBeInstanceOf(SamsaError);
  return error as SamsaError;
}

describe('partition log: producer state', () => {
  let dir: { path: string; remove: () => Promise<void> };
  let log: PartitionLog;
  beforeEach(async () => {
    dir = await tempDir();
    log = await openPartitionLog({ dir: dir.path });
  });
  afterEach(async () => {
    await log.close();
    await dir.remove();
  });

  it('answers a retried batch with its first offsets and writes nothing', async () => {
    expect(await log.append(idempotent(10, 0, 0))).toMatchObject({ baseOffset: 0, lastOffset: 1 });
    expect(await log.append(idempotent(10, 0, 2))).toMatchObject({ baseOffset: 2, lastOffset: 3 });
    const sizeBefore = log.sizeInBytes;
    expect(await log.append(idempotent(10, 0, 0))).toMatchObject({ baseOffset: 0, lastOffset: 1 });
    expect(await log.append(idempotent(10, 0, 2))).toMatchObject({ baseOffset: 2, lastOffset: 3 });
    expect(log.logEndOffset).toBe(4);
    expect(log.sizeInBytes).toBe(sizeBefore);
  });

  it('refuses a sequence gap and a fenced epoch with their Kafka errors, appending nothing', async () => {
    await log.append(idempotent(10, 3, 0));
    expect((await rejection(log.append(idempotent(10, 3, 7)))).code).toBe(ErrorCodes.OUT_OF_ORDER_SEQUENCE_NUMBER.code);
    expect((await rejection(log.append(idempotent(10, 2, 2)))).code).toBe(ErrorCodes.INVALID_PRODUCER_EPOCH.code);
    expect(log.logEndOffset).toBe(2);
    // The log goes on: the next batch in sequence is taken.
    expect(await log.append(idempotent(10, 3, 2))).toMatchObject({ baseOffset: 2 });
  });

  it('checks appends queued together in queue order: five in flight and a retry among them', async () => {
    const results = await Promise.all([
      log.append(idempotent(1, 0, 0)),
      log.append(idempotent(1, 0, 2)),
      log.append(idempotent(1, 0, 0)),
      log.append(idempotent(1, 0, 4)),
      log.append(idempotent(1, 0, 6)),
    ]);
    expect(results.map((r) => r.baseOffset)).toEqual([0, 2, 0, 4, 6]);
    expect(log.logEndOffset).toBe(8);
  });

  for (const [how, config] of [
    ['on the event loop', {}],
    ['through the thread pool', { inlineWriteMaxBytes: 0 }],
    ['across a roll mid-drain', { segmentBytes: 200 }],
  ] as const) {
    it(`undoes a run with a bad CRC and its retry's answer, then takes both again in order (${how})`, async () => {
      await log.close();
      log = await openPartitionLog({ dir: dir.path, config });
      await log.append(idempotent(1, 0, 0));
      const bad = idempotent(2, 0, 0);
      bad[bad.length - 2]! ^= 0x01;
      // One drain: the second batch of producer 1, a retry of it, a corrupt batch of producer 2, the next of 1.
      const settled = await Promise.allSettled([
        log.append(idempotent(1, 0, 2)),
        log.append(idempotent(1, 0, 2)),
        log.append(bad),
        log.append(idempotent(1, 0, 4)),
      ]);
      expect(settled.map((s) => s.status)).toEqual(['fulfilled', 'fulfilled', 'rejected', 'fulfilled']);
      const offsets = settled.map((s) => (s.status === 'fulfilled' ? s.value.baseOffset : -1));
      expect(offsets).toEqual([2, 2, -1, 4]);
      expect(log.logEndOffset).toBe(6);
      // Producer 2's apply was undone: its first batch is taken at sequence 0; producer 1's state is its log's.
      expect(await log.append(idempotent(2, 0, 0))).toMatchObject({ baseOffset: 6 });
      expect(await log.append(idempotent(1, 0, 4))).toMatchObject({ baseOffset: 4, lastOffset: 5 });
      expect(log.producerState(1)?.batches.map((b) => [b.firstSeq, b.firstOffset])).toEqual([
        [0, 0],
        [2, 2],
        [4, 4],
      ]);
      // What is in the files agrees: a restart rebuilds the same state.
      await log.close();
      log = await openPartitionLog({ dir: dir.path, config });
      expect(log.producerState(1)?.batches.map((b) => [b.firstSeq, b.firstOffset])).toEqual([
        [0, 0],
        [2, 2],
        [4, 4],
      ]);
      expect(await log.append(idempotent(1, 0, 2))).toMatchObject({ baseOffset: 2 });
    });
  }

  it('remembers producers across a clean restart (a snapshot at close) and a crash (a replay)', async () => {
    await log.append(idempotent(7, 0, 0));
    await log.append(idempotent(7, 0, 2));
    // A crash: the directory as it stands, with no clean-shutdown marker and no snapshot.
    const crashed = await tempDir();
    await cp(dir.path, crashed.path, { recursive: true });
    await log.close();
    expect((await readdir(dir.path)).filter((n) => n.endsWith('.snapshot'))).toEqual(['00000000000000000004.snapshot']);
    for (const path of [dir.path, crashed.path]) {
      const reopened = await openPartitionLog({ dir: path });
      try {
        expect(await reopened.append(idempotent(7, 0, 2))).toMatchObject({ baseOffset: 2, lastOffset: 3 });
        expect(await reopened.append(idempotent(7, 0, 4))).toMatchObject({ baseOffset: 4 });
      } finally {
        await reopened.close();
      }
    }
    await crashed.remove();
    log = await openPartitionLog({ dir: dir.path });
  });

  it('writes a snapshot at every roll, and truncation rebuilds from the newest one below the cut', async () => {
    await log.close();
    log = await openPartitionLog({ dir: dir.path, config: { segmentBytes: 200 } });
    for (let seq = 0; seq < 20; seq += 2) await log.append(idempotent(3, 0, seq));
    await log.flush();
    const snapshots = (await readdir(dir.path)).filter((n) => n.endsWith('.snapshot'));
    expect(snapshots.length).toBeGreaterThan(1);
    expect(log.producerState(3)?.batches.at(-1)?.lastSeq).toBe(19);
    // A follower cut back to offset 10: the producer's state is what the first ten records taught.
    await log.truncateTo(10);
    expect(log.producerState(3)?.batches.at(-1)?.lastSeq).toBe(9);
    expect((await readdir(dir.path)).filter((n) => n.endsWith('.snapshot')).every((n) => Number(n.slice(0, 20)) <= 10));
    // So the batch at sequence 10 is new again (the leader's copy will be appended), not a duplicate.
    expect(await log.append(idempotent(3, 0, 10))).toMatchObject({ baseOffset: 10 });
  });

  it('keeps the state of batches a follower copies, so it answers retries once it leads', async () => {
    const leader = await tempDir();
    const leaderLog = await openPartitionLog({ dir: leader.path });
    try {
      await leaderLog.append(idempotent(5, 1, 0));
      await leaderLog.append(idempotent(5, 1, 2));
      const copied = await leaderLog.read(0, 1 << 20);
      await log.appendAsFollower(Buffer.from(copied.bytes));
      expect(await log.append(idempotent(5, 1, 2))).toMatchObject({ baseOffset: 2, lastOffset: 3 });
      expect(log.logEndOffset).toBe(4);
    } finally {
      await leaderLog.close();
      await leader.remove();
    }
  });

  it('refuses control batches from producers', async () => {
    const control = encodeBatch([{ key: Buffer.from([0, 0, 0, 1]), value: null }], {
      now: 1,
      producerId: 9,
      producerEpoch: 0,
      baseSequence: 0,
      control: true,
      transactional: true,
    });
    expect((await rejection(log.append(control))).code).toBe(ErrorCodes.INVALID_RECORD.code);
    expect(log.logEndOffset).toBe(0);
  });
});
