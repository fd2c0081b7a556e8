/**
 * The transaction coordinator's driver on an in-memory __transaction_state partition whose high
 * watermark moves when the test says so: what it appends, in which batches, and when it answers.
 * The seeded simulation (simulation.test.ts) checks the guarantees; this checks the round trips.
 */
import { ErrorCodes } from '@samsa/protocol';
import { describe, expect, it, vi } from 'vitest';
import * as tp from '../../src/group/partitions.js';
import { DEFAULT_TXN_CORE_CONFIG, type MarkerJob } from '../../src/txn/core.js';
import { type TxnLog, TxnCoordinator } from '../../src/txn/driver.js';
import { decodeRecord, encodeKey, encodeValue, type TxnRecord } from '../../src/txn/records.js';
import { SimInternalLog } from '../helpers/sim-internal-log.js';

class MemoryLog extends SimInternalLog<TxnRecord> implements TxnLog {
  constructor() {
    super([], 0, (r) => decodeRecord(encodeKey(r), encodeValue(r)));
  }
}

/** Marker writes the test answers itself, one at a time. */
class HeldMarkers {
  readonly jobs: { job: MarkerJob; answer: (remaining: tp.TopicPartitions) => void }[] = [];

  write(job: MarkerJob): Promise<tp.TopicPartitions> {
    return new Promise((answer) => this.jobs.push({ job, answer }));
  }
}

const ID = 'tx';
const partitions = (...ps: number[]) => tp.fromKeys(ps.map((p) => tp.tpKey('out', p)));

async function started() {
  const log = new MemoryLog();
  const markers = new HeldMarkers();
  let nextPid = 1000;
  const coordinator = new TxnCoordinator({
    config: DEFAULT_TXN_CORE_CONFIG,
    numPartitions: 1,
    offsetsPartitions: () => 1,
    nowMs: () => 1_000_000,
    newProducerId: async () => nextPid++,
    markers,
  });
  await coordinator.becomeLeader(0, log, 1);
  /** Resolves `promise` by advancing the high watermark as it waits on it. */
  const committing = async <T>(promise: Promise<T>): Promise<T> => {
    let settled = false;
    const done = promise.finally(() => (settled = true));
    await vi.waitFor(() => {
      log.advance();
      if (!settled) throw new Error('not answered yet');
    });
    return done;
  };
  const init = await committing(
    coordinator.initProducerId({ transactionalId: ID, timeoutMs: 60_000, producerId: -1, producerEpoch: -1 }),
  );
  return { log, markers, coordinator, committing, identity: { transactionalId: ID, ...init } };
}

describe('transaction coordinator driver', () => {
  it("writes the next transaction's AddPartitionsToTxn in one batch with the last one's Complete record", async () => {
    const { log, markers, coordinator, committing, identity } = await started();
    await committing(coordinator.addPartitions(identity, partitions(0, 1)));
    const next = await committing(coordinator.endTxn(identity, true));
    await vi.waitFor(() => expect(markers.jobs).toHaveLength(1));
    // The producer starts its next transaction while the markers are being written: the add waits.
    const added = coordinator.addPartitions({ transactionalId: ID, ...next }, partitions(1, 2));
    let answered = false;
    void added.then(() => (answered = true));
    const before = log.batches.length;
    markers.jobs[0]!.answer(tp.EMPTY);
    await vi.waitFor(() => expect(log.batches.length).toBe(before + 1));
    const batch = log.batches[before]!;
    expect(batch.map((r) => [r.value?.state, tp.toKeys(r.value?.partitions ?? tp.EMPTY)])).toEqual([
      ['CompleteCommit', []],
      ['Ongoing', ['out\u00001', 'out\u00002']],
    ]);
    expect(answered).toBe(false); // not before the high watermark passes it
    await committing(added);
    expect(log.batches.length).toBe(before + 1);
  });

  it('an add still waiting when the coordinator resigns is answered NotCoordinator', async () => {
    const { markers, coordinator, committing, identity } = await started();
    await committing(coordinator.addPartitions(identity, partitions(0)));
    const next = await committing(coordinator.endTxn(identity, false));
    await vi.waitFor(() => expect(markers.jobs).toHaveLength(1));
    const added = coordinator.addPartitions({ transactionalId: ID, ...next }, partitions(0));
    // Refused with ConcurrentTransactions and parked: all of it within this turn of the event loop.
    await new Promise((resolve) => setImmediate(resolve));
    coordinator.resign(0);
    await expect(added).rejects.toMatchObject({ code: ErrorCodes.NOT_COORDINATOR.code });
  });
});
