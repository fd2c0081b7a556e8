import { ErrorCodes, SamsaError } from '@samsa/protocol';
import { describe, expect, it } from 'vitest';
import { DEFAULT_GROUP_CORE_CONFIG, type GroupCoordinatorCore } from '../../src/group/core.js';
import { type CoordinatorLog, GroupCoordinator } from '../../src/group/driver.js';
import type { GroupRecord } from '../../src/group/records.js';

/** A log whose high watermark moves only when told, and whose reads can be held (a slow load). */
class MemLog implements CoordinatorLog {
  readonly batches: (readonly GroupRecord[])[] = [];
  hw = 0;
  private waiters: { offset: number; resolve: () => void; reject: (e: Error) => void }[] = [];
  loadGate: Promise<void> = Promise.resolve();
  writable: SamsaError | undefined;

  checkWritable(): void {
    if (this.writable) throw this.writable;
  }
  append(records: readonly GroupRecord[]): Promise<number> {
    this.batches.push(records);
    return Promise.resolve(this.batches.length);
  }
  waitCommitted(offset: number): Promise<void> {
    if (this.hw >= offset) return Promise.resolve();
    return new Promise((resolve, reject) => this.waiters.push({ offset, resolve, reject }));
  }
  endOffset(): number {
    return this.batches.length;
  }
  async *read(): AsyncIterable<readonly GroupRecord[]> {
    await this.loadGate;
    for (const b of this.batches) yield b;
  }
  commit(): void {
    this.hw = this.batches.length;
    for (const w of this.waiters.splice(0)) w.resolve();
  }
  failWaiters(err: Error): void {
    for (const w of this.waiters.splice(0)) w.reject(err);
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

const join = (c: GroupCoordinator) =>
  c.heartbeat({
    groupId: 'g',
    memberId: '',
    memberEpoch: 0,
    rebalanceTimeoutMs: -1,
    subscribedTopicNames: ['orders'],
    ownedTopicPartitions: [],
    clientId: 'c',
    clientHost: 'h',
  });

async function codeOf(p: Promise<unknown>): Promise<number> {
  try {
    await p;
  } catch (err) {
    if (err instanceof SamsaError) return err.code;
    throw err;
  }
  return 0;
}

const flush = () => new Promise((resolve) => setImmediate(resolve));

describe('group coordinator driver', () => {
  it('answers NotCoordinator for partitions it does not lead and CoordinatorLoadInProgress while loading', async () => {
    const c = coordinator();
    expect(await codeOf(join(c))).toBe(ErrorCodes.NOT_COORDINATOR.code);
    const log = new MemLog();
    let open!: () => void;
    log.loadGate = new Promise((resolve) => {
      open = resolve;
    });
    const loading = c.becomeLeader(0, log);
    expect(await codeOf(join(c))).toBe(ErrorCodes.COORDINATOR_LOAD_IN_PROGRESS.code);
    open();
    await loading;
    c.resign(0);
    expect(await codeOf(join(c))).toBe(ErrorCodes.NOT_COORDINATOR.code);
  });

  it('answers only once the records are committed, and maps replication failures to coordinator errors', async () => {
    const c = coordinator();
    const log = new MemLog();
    await c.becomeLeader(0, log);
    let answered = false;
    const joined = join(c).then((r) => {
      answered = true;
      return r;
    });
    await flush();
    expect(log.batches.length).toBe(1);
    expect(answered).toBe(false);
    log.commit();
    expect((await joined).memberEpoch).toBe(1);

    const second = join(c);
    await flush();
    log.failWaiters(new SamsaError(ErrorCodes.NOT_ENOUGH_REPLICAS_AFTER_APPEND));
    expect(await codeOf(second)).toBe(ErrorCodes.COORDINATOR_NOT_AVAILABLE.code);
    log.writable = new SamsaError(ErrorCodes.NOT_ENOUGH_REPLICAS);
    const batches = log.batches.length;
    expect(await codeOf(join(c))).toBe(ErrorCodes.COORDINATOR_NOT_AVAILABLE.code);
    expect(log.batches.length).toBe(batches); // refused before the core changed
  });

  it('reloads a partition from its log when the core fails mid-operation', async () => {
    const c = coordinator();
    const log = new MemLog();
    await c.becomeLeader(0, log);
    const first = join(c);
    await flush();
    log.commit();
    await first;
    const core = c.coreOf(0)!;
    // A bug: the core applies a record and then throws, so it is ahead of the log.
    (core as { heartbeat: GroupCoordinatorCore['heartbeat'] }).heartbeat = () => {
      core.apply({ type: 'group', group: 'g', value: { epoch: 99, topics: {} } });
      throw new TypeError('bug');
    };
    await expect(join(c)).rejects.toThrow('bug');
    await flush();
    const reloaded = c.coreOf(0)!;
    expect(reloaded).not.toBe(core);
    expect(reloaded.describeGroup('g')!.epoch).toBe(1);
  });
  it('takes group id "" where Kafka does (offsets, describe, delete) and refuses it for membership', async () => {
    // Old clients commit and fetch offsets under group id "" with no membership (generation -1, member
    // id ""); Kafka's GroupCoordinatorService refuses only a null id for those APIs.
    const c = coordinator();
    const log = new MemLog();
    await c.becomeLeader(0, log);
    const committed = c.commitKafkaOffsets({
      groupId: '',
      memberId: '',
      memberEpoch: -1,
      generationId: -1,
      topics: [{ name: 'orders', partitions: [{ partition: 1, offset: 42, leaderEpoch: -1, metadata: 'm' }] }],
    });
    await flush();
    log.commit();
    expect((await committed)[0]!.partitions[0]!.errorCode).toBe(0);
    const fetched = await c.fetchOffsets({ groupId: '', memberId: '', memberEpoch: -1, topics: [] });
    expect(fetched).toEqual([
      {
        name: 'orders',
        partitions: [{ partition: 1, offset: 42, leaderEpoch: -1, metadata: 'm', errorCode: 0, errorMessage: '' }],
      },
    ]);
    expect(c.describeClassic('')).toBeUndefined();
    expect((await c.describeGroup(''))?.state).toBe('Empty');
    // The membership APIs, TxnOffsetCommit and OffsetDelete refuse it, as Kafka's do.
    const invalid = ErrorCodes.INVALID_GROUP_ID.code;
    const hb = { memberId: '', memberEpoch: 0, rebalanceTimeoutMs: -1, subscribedTopicNames: ['orders'] };
    expect(await codeOf(c.heartbeat({ ...hb, groupId: '', clientId: 'c', clientHost: 'h' }))).toBe(invalid);
    expect(await codeOf(c.leaveGroup('', [{ memberId: 'm', instanceId: null }]))).toBe(invalid);
    expect(await codeOf(c.deleteOffsets({ groupId: '', topics: [{ name: 'orders', partitions: [1] }] }))).toBe(invalid);
    expect(() => c.classicHeartbeat({ groupId: '', memberId: 'm', generationId: 1, groupInstanceId: null })).toThrow(
      /empty/,
    );
    expect(await codeOf(c.describeGroup('x'.repeat(256)))).toBe(invalid);
    const deleted = c.deleteGroup('');
    await flush();
    log.commit();
    expect((await deleted).errorCode).toBe(0);
    expect(await c.fetchOffsets({ groupId: '', memberId: '', memberEpoch: -1, topics: [] })).toEqual([]);
  });
});
