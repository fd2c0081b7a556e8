import { ErrorCodes, SamsaError } from '@samsa/protocol';
import { describe, expect, it } from 'vitest';
import * as tp from '../../src/group/partitions.js';
import { ControlType, ProducerStateTable } from '../../src/storage/producer-state.js';
import { MAX_EPOCH, TxnCoordinatorCore } from '../../src/txn/core.js';
import { decodeRecord, encodeKey, encodeValue, type TxnRecord } from '../../src/txn/records.js';

const ID = 'app-1';
const parts = (...ps: number[]) => tp.fromKeys(ps.map((p) => tp.tpKey('out', p)));

function codeOf(f: () => unknown): number {
  try {
    f();
  } catch (err) {
    if (err instanceof SamsaError) return err.code;
    throw err;
  }
  return 0;
}

function started(core = new TxnCoordinatorCore()) {
  const r = core.initProducerId({ transactionalId: ID, timeoutMs: 60_000, producerId: -1, producerEpoch: -1 }, 0, 7);
  if (!r.result.ok) throw new Error('init failed');
  return { core, pid: r.result.producerId, epoch: r.result.producerEpoch };
}

describe('transaction coordinator core', () => {
  it('round-trips records through the codec, tombstones included', () => {
    const { core } = started();
    const record: TxnRecord = { transactionalId: ID, value: core.get(ID)! };
    expect(decodeRecord(encodeKey(record), encodeValue(record))).toEqual(record);
    expect(decodeRecord(encodeKey({ transactionalId: ID, value: null }), null)).toEqual({
      transactionalId: ID,
      value: null,
    });
  });

  it('runs a transaction: add, commit with an epoch bump, markers, complete', () => {
    const { core, pid, epoch } = started();
    core.addPartitions({ transactionalId: ID, producerId: pid, producerEpoch: epoch }, parts(0, 1), 1);
    expect(core.get(ID)!.state).toBe('Ongoing');
    const end = core.endTxn({ transactionalId: ID, producerId: pid, producerEpoch: epoch }, true, 2);
    expect(end.result).toEqual({ producerId: pid, producerEpoch: epoch + 1 });
    const job = core.markerJob(ID)!;
    expect(job).toMatchObject({ producerEpoch: epoch + 1, commit: true, partitions: parts(0, 1) });
    // A retried EndTxn gets the same answer; the other decision is refused.
    const req = { transactionalId: ID, producerId: pid, producerEpoch: epoch };
    expect(core.endTxn(req, true, 3).result).toEqual(end.result);
    expect(codeOf(() => core.endTxn(req, false, 3))).toBe(ErrorCodes.INVALID_TXN_STATE.code);
    core.completeTxn(job, 4);
    expect(core.get(ID)!.state).toBe('CompleteCommit');
    expect(core.endTxn(req, true, 5).result).toEqual(end.result);
  });

  it("ends a Kafka client's transaction without an epoch bump (transaction version 1)", () => {
    const { core, pid, epoch } = started();
    const req = { transactionalId: ID, producerId: pid, producerEpoch: epoch };
    for (const commit of [true, false]) {
      core.addPartitions(req, parts(0, 1), 1);
      const end = core.endTxn(req, commit, 2, undefined, false);
      expect(end.result).toEqual({ producerId: pid, producerEpoch: epoch });
      const job = core.markerJob(ID)!;
      expect(job).toMatchObject({ producerEpoch: epoch, commit, sameEpoch: true });
      // While its markers are written the next transaction waits; a retried EndTxn is answered the same.
      expect(codeOf(() => core.addPartitions(req, parts(2), 3))).toBe(ErrorCodes.CONCURRENT_TRANSACTIONS.code);
      expect(core.endTxn(req, commit, 3, undefined, false).result).toEqual(end.result);
      core.completeTxn(job, 4);
      expect(core.get(ID)!.state).toBe(commit ? 'CompleteCommit' : 'CompleteAbort');
    }
    // A new incarnation still fences this one by a bump.
    const init = core.initProducerId({ transactionalId: ID, timeoutMs: 60_000, producerId: -1, producerEpoch: -1 }, 5);
    expect(init.result).toEqual({ ok: true, producerId: pid, producerEpoch: epoch + 1 });
    expect(codeOf(() => core.addPartitions(req, parts(0), 6))).toBe(ErrorCodes.PRODUCER_FENCED.code);
    // The gRPC path's transactions bump: their markers do not carry sameEpoch.
    const next = { ...req, producerEpoch: epoch + 1 };
    core.addPartitions(next, parts(0), 7);
    core.endTxn(next, true, 8);
    expect(core.markerJob(ID)).toMatchObject({ producerEpoch: epoch + 2, sameEpoch: false });
  });

  it('refuses bad input with typed errors and no records', () => {
    const { core, pid, epoch } = started();
    const unknown = { transactionalId: 'nobody', producerId: pid, producerEpoch: epoch };
    expect(codeOf(() => core.endTxn(unknown, true, 1))).toBe(ErrorCodes.INVALID_PRODUCER_ID_MAPPING.code);
    const wrongPid = { transactionalId: ID, producerId: pid + 1, producerEpoch: epoch };
    expect(codeOf(() => core.addPartitions(wrongPid, parts(0), 1))).toBe(ErrorCodes.INVALID_PRODUCER_ID_MAPPING.code);
    const ahead = { transactionalId: ID, producerId: pid, producerEpoch: epoch + 1 };
    expect(codeOf(() => core.addPartitions(ahead, parts(0), 1))).toBe(ErrorCodes.INVALID_PRODUCER_EPOCH.code);
    const current = { transactionalId: ID, producerId: pid, producerEpoch: epoch };
    expect(codeOf(() => core.endTxn(current, true, 1))).toBe(ErrorCodes.INVALID_TXN_STATE.code);
    expect(
      codeOf(() => core.initProducerId({ transactionalId: ID, timeoutMs: 0, producerId: -1, producerEpoch: -1 }, 1)),
    ).toBe(ErrorCodes.INVALID_TRANSACTION_TIMEOUT.code);
    expect(core.verifyPartition(current, 'out', 0)?.error).toBe(ErrorCodes.INVALID_TXN_STATE);
    core.addPartitions(current, parts(0), 1);
    expect(core.verifyPartition(current, 'out', 0)).toBeUndefined();
    expect(core.verifyPartition(current, 'out', 1)?.error).toBe(ErrorCodes.INVALID_TXN_STATE);
  });

  it('fences a zombie: a new incarnation aborts its transaction and bumps the epoch', () => {
    const { core, pid, epoch } = started();
    const zombie = { transactionalId: ID, producerId: pid, producerEpoch: epoch };
    core.addPartitions(zombie, parts(0), 1);
    const init = core.initProducerId({ transactionalId: ID, timeoutMs: 60_000, producerId: -1, producerEpoch: -1 }, 2);
    expect(init.result).toEqual({ ok: false, error: ErrorCodes.CONCURRENT_TRANSACTIONS });
    expect(core.get(ID)!.state).toBe('PrepareAbort');
    core.completeTxn(core.markerJob(ID)!, 3);
    const again = core.initProducerId({ transactionalId: ID, timeoutMs: 60_000, producerId: -1, producerEpoch: -1 }, 4);
    expect(again.result).toEqual({ ok: true, producerId: pid, producerEpoch: epoch + 2 });
    expect(codeOf(() => core.endTxn(zombie, true, 5))).toBe(ErrorCodes.PRODUCER_FENCED.code);
    expect(codeOf(() => core.addPartitions(zombie, parts(1), 5))).toBe(ErrorCodes.PRODUCER_FENCED.code);
  });

  it('aborts a transaction past its timeout; the producer may recover its id (KIP-360)', () => {
    const { core, pid, epoch } = started();
    core.addPartitions({ transactionalId: ID, producerId: pid, producerEpoch: epoch }, parts(0), 1000);
    expect(core.tick(60_000).records).toHaveLength(0);
    expect(core.tick(61_001).records).toHaveLength(1);
    expect(core.get(ID)).toMatchObject({ state: 'PrepareAbort', timedOut: true });
    core.completeTxn(core.markerJob(ID)!, 61_002);
    const req = { transactionalId: ID, producerId: pid, producerEpoch: epoch };
    expect(codeOf(() => core.endTxn(req, true, 61_003))).toBe(ErrorCodes.TRANSACTION_ABORTABLE.code);
    const recovered = core.initProducerId(
      { transactionalId: ID, timeoutMs: 60_000, producerId: pid, producerEpoch: epoch },
      1,
    );
    expect(recovered.result).toEqual({ ok: true, producerId: pid, producerEpoch: epoch + 2 });
  });

  describe('InitProducerId naming its producer (KIP-360, KIP-588)', () => {
    const init = (producerId: number, producerEpoch: number) => ({
      transactionalId: ID,
      timeoutMs: 1000,
      producerId,
      producerEpoch,
    });
    const codeOfInit = (core: TxnCoordinatorCore, producerId: number, producerEpoch: number) =>
      codeOf(() => core.initProducerId(init(producerId, producerEpoch), 10_000, 99));

    it('accepts the current epoch: an open transaction is aborted first, then the epoch is bumped', () => {
      const { core, pid, epoch } = started();
      core.addPartitions({ transactionalId: ID, producerId: pid, producerEpoch: epoch }, parts(0), 1);
      expect(core.initProducerId(init(pid, epoch), 2).result).toEqual({
        ok: false,
        error: ErrorCodes.CONCURRENT_TRANSACTIONS,
      });
      expect(core.get(ID)).toMatchObject({ state: 'PrepareAbort', producerEpoch: epoch + 1, fenced: false });
      core.completeTxn(core.markerJob(ID)!, 3);
      expect(core.initProducerId(init(pid, epoch), 4).result).toEqual({
        ok: true,
        producerId: pid,
        producerEpoch: epoch + 2,
      });
      // Its answer lost, the same request again is still this producer's, not a fenced one's.
      expect(core.initProducerId(init(pid, epoch), 5).result).toMatchObject({ ok: true, producerId: pid });
    });

    it('accepts the epoch before a timeout bump, and answers that epoch TransactionAbortable meanwhile', () => {
      const { core, pid, epoch } = started();
      const req = { transactionalId: ID, producerId: pid, producerEpoch: epoch };
      core.addPartitions(req, parts(0), 1);
      core.tick(70_000);
      expect(core.get(ID)).toMatchObject({ state: 'PrepareAbort', timedOut: true, producerEpoch: epoch + 1 });
      // While the markers are written: told to abort, and its abort waits for them.
      expect(codeOf(() => core.addPartitions(req, parts(1), 70_001))).toBe(ErrorCodes.TRANSACTION_ABORTABLE.code);
      expect(core.initProducerId(init(pid, epoch), 70_001).result).toEqual({
        ok: false,
        error: ErrorCodes.CONCURRENT_TRANSACTIONS,
      });
      core.completeTxn(core.markerJob(ID)!, 70_002);
      expect(codeOf(() => core.addPartitions(req, parts(1), 70_003))).toBe(ErrorCodes.TRANSACTION_ABORTABLE.code);
      expect(codeOf(() => core.endTxn(req, true, 70_003))).toBe(ErrorCodes.TRANSACTION_ABORTABLE.code);
      expect(core.initProducerId(init(pid, epoch), 70_004).result).toEqual({
        ok: true,
        producerId: pid,
        producerEpoch: epoch + 2,
      });
      // The next transaction runs at the new epoch; the old one is fenced now.
      const next = { ...req, producerEpoch: epoch + 2 };
      core.addPartitions(next, parts(1), 70_005);
      expect(core.endTxn(next, true, 70_006).result).toEqual({ producerId: pid, producerEpoch: epoch + 3 });
      expect(codeOf(() => core.addPartitions(req, parts(2), 70_007))).toBe(ErrorCodes.PRODUCER_FENCED.code);
    });

    it('refuses the epoch before a new incarnation fenced it, while its markers are written and after', () => {
      const { core, pid, epoch } = started();
      const zombie = { transactionalId: ID, producerId: pid, producerEpoch: epoch };
      core.addPartitions(zombie, parts(0), 1);
      core.initProducerId(init(-1, -1), 2);
      expect(core.get(ID)).toMatchObject({ state: 'PrepareAbort', fenced: true });
      expect(codeOfInit(core, pid, epoch)).toBe(ErrorCodes.PRODUCER_FENCED.code);
      expect(codeOf(() => core.endTxn(zombie, false, 3))).toBe(ErrorCodes.PRODUCER_FENCED.code);
      core.completeTxn(core.markerJob(ID)!, 3);
      expect(codeOfInit(core, pid, epoch)).toBe(ErrorCodes.PRODUCER_FENCED.code);
      expect(codeOf(() => core.endTxn(zombie, false, 4))).toBe(ErrorCodes.PRODUCER_FENCED.code);
      expect(core.initProducerId(init(-1, -1), 5).result).toEqual({
        ok: true,
        producerId: pid,
        producerEpoch: epoch + 2,
      });
      expect(codeOfInit(core, pid, epoch)).toBe(ErrorCodes.PRODUCER_FENCED.code);
      expect(codeOfInit(core, pid, epoch + 1)).toBe(ErrorCodes.PRODUCER_FENCED.code);
    });

    it('refuses the epoch before a timeout bump once a new incarnation followed it', () => {
      const { core, pid, epoch } = started();
      core.addPartitions({ transactionalId: ID, producerId: pid, producerEpoch: epoch }, parts(0), 1);
      core.tick(70_000);
      core.completeTxn(core.markerJob(ID)!, 70_001);
      expect(core.initProducerId(init(-1, -1), 70_002).result).toMatchObject({ ok: true, producerEpoch: epoch + 2 });
      expect(codeOfInit(core, pid, epoch)).toBe(ErrorCodes.PRODUCER_FENCED.code);
    });

    it('recovers across the epochs running out: a retry whose answer was lost is still this producer', () => {
      const core = new TxnCoordinatorCore();
      const pid = 5;
      const epoch = MAX_EPOCH - 1;
      core.apply({
        transactionalId: ID,
        value: {
          producerId: pid,
          producerEpoch: epoch,
          lastProducerEpoch: -1,
          nextProducerId: -1,
          previousProducerId: -1,
          timeoutMs: 1000,
          state: 'Ongoing',
          partitions: parts(0),
          txnStartTimestampMs: 0,
          lastUpdateTimestampMs: 0,
          timedOut: false,
        },
      });
      core.tick(2000);
      core.completeTxn(core.markerJob(ID)!, 2001);
      expect(core.get(ID)).toMatchObject({ state: 'CompleteAbort', producerEpoch: MAX_EPOCH, timedOut: true });
      expect(core.needsProducerId(ID)).toBe(true);
      expect(core.initProducerId(init(pid, epoch), 2002, 9).result).toEqual({
        ok: true,
        producerId: 9,
        producerEpoch: 0,
      });
      // The answer lost, the producer asks again under the identity it still has.
      expect(core.initProducerId(init(pid, epoch), 2003, 10).result).toMatchObject({ ok: true, producerId: 9 });
      expect(core.initProducerId(init(pid, epoch), 2003, 10).result).toMatchObject({ ok: true, producerId: 9 });
      // A new incarnation still fences it.
      expect(core.initProducerId(init(-1, -1), 2004, 11).result).toMatchObject({ ok: true, producerId: 9 });
      expect(codeOfInit(core, pid, epoch)).toBe(ErrorCodes.PRODUCER_FENCED.code);
    });

    it('never opens a transaction at the last epoch, where a timeout left the producer; it moves to a fresh id', () => {
      const core = new TxnCoordinatorCore();
      const pid = 5;
      const epoch = MAX_EPOCH - 1;
      core.apply({
        transactionalId: ID,
        value: {
          producerId: pid,
          producerEpoch: epoch,
          lastProducerEpoch: -1,
          nextProducerId: -1,
          previousProducerId: -1,
          timeoutMs: 1000,
          state: 'Ongoing',
          partitions: parts(0),
          txnStartTimestampMs: 0,
          lastUpdateTimestampMs: 0,
          timedOut: false,
          clientTransactionVersion: 2,
        },
      });
      core.tick(2000);
      core.completeTxn(core.markerJob(ID)!, 2001);
      // The producer's abort, as a retry of the timeout's: answered with the epoch the markers took.
      const req = { transactionalId: ID, producerId: pid, producerEpoch: epoch };
      expect(core.endTxn(req, false, 2002).result).toEqual({ producerId: pid, producerEpoch: MAX_EPOCH });
      const atLast = { ...req, producerEpoch: MAX_EPOCH };
      // Its next transaction would end with markers past the last epoch (or not at all): refused.
      expect(codeOf(() => core.addPartitions(atLast, parts(1), 2003, true))).toBe(
        ErrorCodes.TRANSACTION_ABORTABLE.code,
      );
      expect(codeOf(() => core.addPartitions(atLast, parts(1), 2003))).toBe(ErrorCodes.TRANSACTION_ABORTABLE.code);
      expect(core.get(ID)).toMatchObject({ state: 'CompleteAbort' });
      expect(core.needsProducerId(ID)).toBe(true);
      expect(core.initProducerId(init(pid, MAX_EPOCH), 2004, 9).result).toEqual({
        ok: true,
        producerId: 9,
        producerEpoch: 0,
      });
    });

    it('refuses an unknown producer id, and any id for a transactional id it does not know', () => {
      const { core, pid, epoch } = started();
      expect(codeOfInit(core, pid + 1, epoch)).toBe(ErrorCodes.PRODUCER_FENCED.code);
      expect(codeOfInit(core, pid, epoch + 1)).toBe(ErrorCodes.PRODUCER_FENCED.code);
      const other = { ...init(pid, epoch), transactionalId: 'nobody' };
      expect(codeOf(() => core.initProducerId(other, 1, 99))).toBe(ErrorCodes.PRODUCER_FENCED.code);
    });
  });

  it('lets a partition leader add partitions only for producers whose transactions bump the epoch', () => {
    const core = new TxnCoordinatorCore();
    const init = (clientTransactionVersion?: 1 | 2) =>
      core.initProducerId(
        {
          transactionalId: ID,
          timeoutMs: 60_000,
          producerId: -1,
          producerEpoch: -1,
          ...(clientTransactionVersion === undefined ? {} : { clientTransactionVersion }),
        },
        0,
        7,
      ).result as { producerId: number; producerEpoch: number };
    // A Kafka client's producer (no version: 1) adds its partitions itself; a leader's add is refused.
    let id = init();
    let req = { transactionalId: ID, ...id };
    expect(codeOf(() => core.addPartitions(req, parts(0), 1, true))).toBe(ErrorCodes.INVALID_TXN_STATE.code);
    expect(core.get(ID)!.state).toBe('Empty');
    core.addPartitions(req, parts(0), 1);
    expect(codeOf(() => core.addPartitions(req, parts(1), 2, true))).toBe(ErrorCodes.INVALID_TXN_STATE.code);
    // The SDK's (version 2), once the open transaction is aborted: a leader adds them, also into an open
    // transaction.
    init(2);
    core.completeTxn(core.markerJob(ID)!, 3);
    id = init(2);
    req = { transactionalId: ID, ...id };
    core.addPartitions(req, parts(0), 4, true);
    core.addPartitions(req, parts(1), 4, true);
    expect(core.get(ID)).toMatchObject({ state: 'Ongoing', partitions: parts(0, 1) });
    // An EndTxn without the bump says the producer keeps its epoch: no more leader adds (the next
    // transaction would be open at the same epoch an ended transaction's late write names).
    core.endTxn(req, true, 5, undefined, false);
    core.completeTxn(core.markerJob(ID)!, 6);
    expect(codeOf(() => core.addPartitions(req, parts(2), 7, true))).toBe(ErrorCodes.INVALID_TXN_STATE.code);
    // One with the bump says it bumps: the next epoch is fresh, leaders may add again.
    core.addPartitions(req, parts(2), 8);
    const next = { ...req, ...core.endTxn(req, false, 9).result };
    core.completeTxn(core.markerJob(ID)!, 10);
    core.addPartitions(next, parts(2), 11, true);
    expect(core.get(ID)).toMatchObject({ state: 'Ongoing', clientTransactionVersion: 2 });
  });

  it("lets leaders add partitions for an SDK producer whose record predates the client's version", () => {
    // Written by a broker before clientTransactionVersion: the SDK's last EndTxn bumped the epoch.
    const old = (producerEpoch: number, lastProducerEpoch: number) => ({
      transactionalId: ID,
      value: {
        producerId: 5,
        producerEpoch,
        lastProducerEpoch,
        nextProducerId: -1,
        previousProducerId: -1,
        timeoutMs: 60_000,
        state: 'CompleteCommit' as const,
        partitions: tp.EMPTY,
        txnStartTimestampMs: -1,
        lastUpdateTimestampMs: 0,
        timedOut: false,
      },
    });
    const sdk = new TxnCoordinatorCore();
    sdk.apply(old(4, 3));
    const req = { transactionalId: ID, producerId: 5, producerEpoch: 4 };
    sdk.addPartitions(req, parts(0), 1, true);
    // The transaction's next leader add, from the Ongoing state: still known.
    sdk.addPartitions(req, parts(1), 2, true);
    expect(sdk.get(ID)).toMatchObject({ state: 'Ongoing', clientTransactionVersion: 2 });
    // A Kafka client's (EndTxn below v5 kept the epoch): still refused.
    const kafka = new TxnCoordinatorCore();
    kafka.apply(old(3, 3));
    const kafkaReq = { ...req, producerEpoch: 3 };
    expect(codeOf(() => kafka.addPartitions(kafkaReq, parts(0), 1, true))).toBe(ErrorCodes.INVALID_TXN_STATE.code);
    kafka.addPartitions(kafkaReq, parts(0), 1);
    expect(codeOf(() => kafka.addPartitions(kafkaReq, parts(1), 2, true))).toBe(ErrorCodes.INVALID_TXN_STATE.code);
  });

  it('moves to a fresh producer id when the epochs run out', () => {
    const core = new TxnCoordinatorCore();
    core.apply({
      transactionalId: ID,
      value: {
        producerId: 5,
        producerEpoch: MAX_EPOCH - 1,
        lastProducerEpoch: -1,
        nextProducerId: -1,
        previousProducerId: -1,
        timeoutMs: 1000,
        state: 'Ongoing',
        partitions: parts(0),
        txnStartTimestampMs: 0,
        lastUpdateTimestampMs: 0,
        timedOut: false,
      },
    });
    expect(core.needsProducerId(ID, true)).toBe(true);
    const end = core.endTxn({ transactionalId: ID, producerId: 5, producerEpoch: MAX_EPOCH - 1 }, true, 1, 9);
    expect(end.result).toEqual({ producerId: 9, producerEpoch: 0 });
    expect(core.markerJob(ID)).toMatchObject({ producerId: 5, producerEpoch: MAX_EPOCH });
    core.completeTxn(core.markerJob(ID)!, 2);
    expect(core.get(ID)).toMatchObject({ producerId: 9, producerEpoch: 0, state: 'CompleteCommit' });
  });
});

describe('transaction markers at a partition leader', () => {
  const header = (pid: number, epoch: number, offset: number, control: boolean) => ({
    baseOffset: offset,
    batchLength: 0,
    partitionLeaderEpoch: 0,
    magic: 2,
    crc: 0,
    attributes: 0x10 | (control ? 0x20 : 0),
    lastOffsetDelta: 0,
    baseTimestamp: 0,
    maxTimestamp: 0,
    producerId: pid,
    producerEpoch: epoch,
    baseSequence: control ? -1 : 0,
    recordCount: 1,
  });

  it('ends a transaction only with a marker above its epoch, fences old coordinators, answers retries', () => {
    const table = new ProducerStateTable();
    table.apply(header(1, 3, 0, false));
    expect(table.firstUnstableOffset()).toBe(0);
    expect(table.analyzeMarker(1, 3, 0).kind).toBe('rejected');
    expect(table.analyzeMarker(1, 4, 0).kind).toBe('append');
    const done = table.apply(header(1, 4, 1, true), { type: ControlType.abort, coordinatorEpoch: 2 });
    expect(done).toEqual({ producerId: 1, firstOffset: 0, lastOffset: 1, aborted: true });
    expect(table.analyzeMarker(1, 4, 2).kind).toBe('duplicate');
    expect(table.analyzeMarker(1, 5, 1)).toMatchObject({ error: ErrorCodes.TRANSACTION_COORDINATOR_FENCED });
    // A late write of the aborted transaction's epoch is fenced by the marker's.
    expect(table.analyze([header(1, 3, 2, false)])).toMatchObject({ error: ErrorCodes.INVALID_PRODUCER_EPOCH });
  });
  it('lets a same-epoch marker (transaction version 1) end a transaction open at its epoch', () => {
    const table = new ProducerStateTable();
    table.apply(header(1, 3, 0, false));
    expect(table.analyzeMarker(1, 3, 0, true).kind).toBe('append');
    expect(table.analyzeMarker(1, 2, 0, true).kind).toBe('rejected');
    table.apply(header(1, 3, 1, true), { type: ControlType.commit, coordinatorEpoch: 0 });
    expect(table.firstUnstableOffset()).toBeUndefined();
    expect(table.analyzeMarker(1, 3, 0, true).kind).toBe('duplicate');
    // The producer's next transaction goes on at the same epoch.
    const next = { ...header(1, 3, 2, false), baseSequence: 1 };
    expect(table.analyze([next]).kind).toBe('append');
  });

  it('takes a same-epoch marker naming another transaction than the one verified for a late copy', () => {
    const table = new ProducerStateTable();
    // Transaction started at 100 verified and written, ended by its marker.
    table.noteVerified(1, 100);
    table.apply(header(1, 3, 0, false));
    expect(table.analyzeMarker(1, 3, 0, true, 100).kind).toBe('append');
    table.apply(header(1, 3, 1, true), { type: ControlType.commit, coordinatorEpoch: 0 });
    // The next one (started at 250) writes here; a late copy of the first one's marker must not end it.
    table.noteVerified(1, 250);
    table.apply({ ...header(1, 3, 2, false), baseSequence: 1 });
    expect(table.analyzeMarker(1, 3, 0, true, 100).kind).toBe('duplicate');
    expect(table.firstUnstableOffset()).toBe(2);
    expect(table.analyzeMarker(1, 3, 0, true, 250).kind).toBe('append');
    // Nothing verified here (a new leader): the marker is taken, as before.
    const fresh = new ProducerStateTable();
    fresh.apply(header(1, 3, 0, false));
    expect(fresh.analyzeMarker(1, 3, 0, true, 100).kind).toBe('append');
  });
});
