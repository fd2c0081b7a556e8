import { readdir } from 'node:fs/promises';
import { encodeBatch, ErrorCodes, type SamsaError } from '@samsa/protocol';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { dumpSegment, formatDumpedBatch, openPartitionLog, type PartitionLog } from '@samsa/broker/internal';
import { decodeAbortedTxns, encodeAbortedTxn } from '../../src/storage/txn-index.js';
import { encodeMarker } from '../../src/txn/state-topic.js';
import { tempDir } from './helpers.js';

function txnBatch(producerId: number, epoch: number, baseSequence: number, tag: string): Buffer {
  return encodeBatch([{ value: Buffer.from(tag) }], {
    now: 1_000,
    producerId,
    producerEpoch: epoch,
    baseSequence,
    transactional: true,
  });
}

function marker(producerId: number, producerEpoch: number, commit: boolean, coordinatorEpoch = 0): Buffer {
  return encodeMarker({ producerId, producerEpoch, commit, coordinatorEpoch, nowMs: 1_000 });
}

describe('partition log: transactions (last stable offset, aborted-transaction index)', () => {
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

  it('round-trips index entries; a torn last entry is ignored', () => {
    const entry = { producerId: 7, firstOffset: 3, lastOffset: 9, lastStableOffset: 10 };
    const bytes = Buffer.concat([encodeAbortedTxn(entry), encodeAbortedTxn(entry).subarray(0, 20)]);
    expect(decodeAbortedTxns(bytes)).toEqual([entry]);
  });

  it('holds the LSO at an open transaction and indexes aborts, across reopen and truncation', async () => {
    await log.append(txnBatch(1, 0, 0, 'a')); // 0: producer 1, aborted below
    await log.append(txnBatch(2, 0, 0, 'b')); // 1: producer 2, committed below
    expect(log.lastStableOffset(2)).toBe(0);
    await log.appendMarker(marker(1, 1, false), { leaderEpoch: 0, coordinatorEpoch: 0 }); // 2
    expect(log.lastStableOffset(3)).toBe(1);
    await log.appendMarker(marker(2, 1, true), { leaderEpoch: 0, coordinatorEpoch: 0 }); // 3
    expect(log.lastStableOffset(4)).toBe(4);
    expect(log.abortedTransactions(0, 4)).toEqual([
      { producerId: 1, firstOffset: 0, lastOffset: 2, lastStableOffset: 1 },
    ]);
    expect(log.abortedTransactions(3, 4)).toEqual([]);
    expect((await readdir(dir.path)).filter((n) => n.endsWith('.txnindex'))).toHaveLength(1);
    // A retried marker writes nothing; a stale one and a deposed coordinator's are refused.
    expect((await log.appendMarker(marker(1, 1, false), { leaderEpoch: 0, coordinatorEpoch: 0 })).lastOffset).toBe(-1);
    const stale = await log.appendMarker(marker(1, 0, false), { leaderEpoch: 0, coordinatorEpoch: 0 }).catch((e) => e);
    expect((stale as SamsaError).code).toBe(ErrorCodes.INVALID_PRODUCER_EPOCH.code);
    await log.append(txnBatch(1, 1, 0, 'c')); // 4
    const fenced = await log.appendMarker(marker(1, 2, true), { leaderEpoch: 0, coordinatorEpoch: -1 }).catch((e) => e);
    expect((fenced as SamsaError).code).toBe(ErrorCodes.TRANSACTION_COORDINATOR_FENCED.code);
    // A client may not write control batches.
    const forged = await log.append(marker(1, 2, true)).catch((e) => e);
    expect((forged as SamsaError).code).toBe(ErrorCodes.INVALID_RECORD.code);

    await log.close();
    log = await openPartitionLog({ dir: dir.path });
    expect(log.abortedTransactions(0, 10)).toHaveLength(1);
    expect(log.lastStableOffset(5)).toBe(4);
    await log.truncateTo(2);
    expect(log.abortedTransactions(0, 10)).toEqual([]);
    expect(log.lastStableOffset(2)).toBe(0);
    expect((await readdir(dir.path)).filter((n) => n.endsWith('.txnindex'))).toHaveLength(0);
  });

  it('an abort replayed by a truncation is not indexed again after the log is reset', async () => {
    await log.append(txnBatch(1, 0, 0, 'a')); // 0
    await log.appendMarker(marker(1, 1, false), { leaderEpoch: 0, coordinatorEpoch: 0 }); // 1
    await log.append(encodeBatch([{ value: Buffer.from('x') }], { now: 1_000 })); // 2
    // The truncation rebuilds producer state from the log, the abort at 1 included (it stays indexed).
    await log.truncateTo(2);
    expect(log.abortedTransactions(0, 2)).toEqual([
      { producerId: 1, firstOffset: 0, lastOffset: 1, lastStableOffset: 2 },
    ]);
    // Emptied and restarted past it (a follower behind its leader's log start), then appended to.
    await log.resetTo(100);
    await log.append(encodeBatch([{ value: Buffer.from('y') }], { now: 1_000 }));
    expect(log.abortedTransactions(0, 200)).toEqual([]);
    expect((await readdir(dir.path)).filter((n) => n.endsWith('.txnindex'))).toEqual([]);
  });

  it('log dump shows producer id, epoch, sequence and the markers', async () => {
    await log.append(txnBatch(5, 2, 0, 'x'));
    await log.appendMarker(marker(5, 3, true, 7), { leaderEpoch: 0, coordinatorEpoch: 7 });
    const lines: string[] = [];
    const [segment] = (await readdir(dir.path)).filter((n) => n.endsWith('.log'));
    for await (const entry of dumpSegment(`${dir.path}/${segment}`, { printRecords: true })) {
      lines.push(formatDumpedBatch(entry));
    }
    const text = lines.join('\n');
    expect(text).toContain('producerId: 5 producerEpoch: 2 baseSequence: 0');
    expect(text).toContain('isControl: true');
    expect(text).toContain('| offset: 1 endTxnMarker: COMMIT coordinatorEpoch: 7');
  });
});
