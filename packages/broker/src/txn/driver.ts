import { ErrorCodes, SamsaError } from '@samsa/protocol';
import type { Logger } from 'pino';
import { coordinatorError } from '../group/driver.js';
import { offsetsPartitionFor } from '../group/hash.js';
import * as tp from '../group/partitions.js';
import type { TopicPartitions } from '../group/partitions.js';
import {
  type InitInput,
  type MarkerJob,
  type ProducerIdentity,
  type TxnCoordinatorCore as Core,
  TxnCoordinatorCore,
  type TxnCoreConfig,
  type TxnDescription,
  type TxnOutcome,
  type TxnRequest,
  validateTransactionalId,
} from './core.js';
import type { TxnRecord } from './records.js';

/** One __transaction_state partition as its leader sees it (as the group coordinator's CoordinatorLog). */
export interface TxnLog {
  /** Appends the records of one operation as one batch; resolves with the log end offset after it. */
  append(records: readonly TxnRecord[]): Promise<number>;
  /** Throws when an append would be refused now (too few in-sync replicas). */
  checkWritable?(): void;
  /** Resolves once the high watermark has reached `offset` (acks=all); rejects when it cannot. */
  waitCommitted(offset: number): Promise<void>;
  endOffset(): number;
  read(): AsyncIterable<readonly TxnRecord[]>;
}

/**
 * Writes transaction markers (WriteTxnMarkers): a control batch on every partition of the job, by the
 * partitions' leaders, acks=all. Resolves with the partitions not written yet (empty once all are).
 */
export interface MarkerWriter {
  write(job: MarkerJob, coordinatorEpoch: number): Promise<TopicPartitions>;
}

export interface TxnCoordinatorOptions {
  readonly config: TxnCoreConfig;
  /** Partitions of __transaction_state (the topic's own count once it exists). */
  readonly numPartitions: number | (() => number);
  /** Partitions of __consumer_offsets, for AddOffsetsToTxn. */
  readonly offsetsPartitions: () => number;
  readonly nowMs: () => number;
  /** A producer id no one else has (the broker's block from the controller; a counter in the simulation). */
  readonly newProducerId: () => Promise<number>;
  readonly markers: MarkerWriter;
  /** Resolves after `ms` (the broker's timer; absent in the simulation, where completions wake waiters). */
  readonly wait?: (ms: number) => Promise<void>;
  /** Delay before a failed marker write is tried again. */
  readonly markerRetryBackoffMs?: number;
  readonly logger?: Logger;
}

interface Job {
  job: MarkerJob;
  inFlight: boolean;
  retryAtMs: number;
}

type Loaded = {
  readonly partition: number;
  readonly log: TxnLog;
  /** The leader epoch of the partition: markers carry it so a deposed coordinator's are refused. */
  readonly coordinatorEpoch: number;
  status: 'loading' | 'active';
  core: Core;
  appended: Promise<number>;
  readonly jobs: Map<string, Job>;
  /** InitProducerId requests waiting for a transactional id's markers to be written (see afterCompletion). */
  readonly settled: Map<string, (() => void)[]>;
  /** AddPartitionsToTxn requests waiting for those markers, run with the Complete record (see addPartitions). */
  readonly parked: Map<string, Parked[]>;
};

/** A request's core operation waiting for the previous transaction to complete, and how to answer it. */
interface Parked {
  readonly op: (core: Core) => TxnOutcome<unknown>;
  readonly settle: (outcome: Promise<unknown>) => void;
}

/** How long a request meeting a transaction still completing waits for it, then ConcurrentTransactions. */
const CONCURRENT_WAIT_MS = 1000;

export const TRANSACTION_STATE_TOPIC = '__transaction_state';

/**
 * The transaction coordinator of one broker: a core per __transaction_state partition it leads.
 * Operations run on the core at once, their records are appended in that order, and the answer waits
 * until the high watermark has passed everything written so far. Markers are written only for Prepare
 * states the high watermark has passed (so a failover never undoes a decision markers announced), and
 * retried until every partition has its marker; then the transaction completes.
 */
export class TxnCoordinator {
  private readonly partitions = new Map<number, Loaded>();

  constructor(private readonly options: TxnCoordinatorOptions) {}

  partitionFor(transactionalId: string): number {
    const n = this.options.numPartitions;
    return offsetsPartitionFor(transactionalId, typeof n === 'number' ? n : n());
  }

  isLoaded(partition: number): boolean {
    return this.partitions.get(partition)?.status === 'active';
  }

  async becomeLeader(partition: number, log: TxnLog, coordinatorEpoch: number): Promise<void> {
    const loading: Loaded = {
      partition,
      log,
      coordinatorEpoch,
      status: 'loading',
      core: new TxnCoordinatorCore(this.options.config),
      appended: Promise.resolve(0),
      jobs: new Map(),
      settled: new Map(),
      parked: new Map(),
    };
    const previous = this.partitions.get(partition);
    if (previous !== undefined) this.releaseWaiters(previous);
    this.partitions.set(partition, loading);
    let records = 0;
    for await (const batch of log.read()) {
      if (this.partitions.get(partition) !== loading) return;
      for (const record of batch) loading.core.apply(record);
      records += batch.length;
    }
    if (this.partitions.get(partition) !== loading) return;
    const end = log.endOffset();
    loading.appended = Promise.resolve(end);
    loading.status = 'active';
    this.options.logger?.info({ partition, records, coordinatorEpoch }, 'transaction coordinator loaded');
    // Decisions read from the log may be above the high watermark: markers wait until they are not.
    for (const job of loading.core.markerJobs()) this.startMarkers(loading, job, end);
  }

  resign(partition: number): void {
    const loaded = this.partitions.get(partition);
    if (loaded !== undefined) this.releaseWaiters(loaded);
    if (this.partitions.delete(partition)) this.options.logger?.info({ partition }, 'transaction coordinator unloaded');
  }

  /** The partition is unloaded or reloaded: waiting requests are woken (they find the coordinator gone). */
  private releaseWaiters(loaded: Loaded): void {
    for (const id of [...loaded.settled.keys()]) this.notifySettled(loaded, id);
    for (const id of [...loaded.parked.keys()]) {
      for (const parked of this.takeParked(loaded, id)) {
        parked.settle(Promise.reject(new SamsaError(ErrorCodes.NOT_COORDINATOR, 'the coordinator moved')));
      }
    }
  }

  resignAll(): void {
    for (const partition of [...this.partitions.keys()]) this.resign(partition);
  }

  private loadedFor(transactionalId: string): Loaded {
    validateTransactionalId(transactionalId);
    const loaded = this.partitions.get(this.partitionFor(transactionalId));
    if (!loaded) {
      throw new SamsaError(ErrorCodes.NOT_COORDINATOR, `this broker does not coordinate ${transactionalId}`);
    }
    if (loaded.status === 'loading') {
      throw new SamsaError(ErrorCodes.COORDINATOR_LOAD_IN_PROGRESS, `${transactionalId} is being loaded`);
    }
    return loaded;
  }

  /** Runs `op` on the core, appends its records, answers once the high watermark passed them. */
  private async run<T>(loaded: Loaded, op: (core: Core) => TxnOutcome<T>, writes = true): Promise<T> {
    if (writes) {
      try {
        loaded.log.checkWritable?.();
      } catch (err) {
        throw coordinatorError(err);
      }
    }
    const { records, result } = this.step(loaded, op);
    await this.committed(loaded, records.length > 0 ? this.append(loaded, records) : loaded.appended);
    return result;
  }

  /**
   * Runs `ops` on the core one after another and appends all their records as one batch, so they wait
   * for the high watermark together (one replication round trip); each answers on its own (an op the
   * core refuses fails alone).
   */
  private runTogether(loaded: Loaded, ops: readonly ((core: Core) => TxnOutcome<unknown>)[]): Promise<unknown>[] {
    const records: TxnRecord[] = [];
    const outcomes = ops.map((op) => {
      try {
        const outcome = this.step(loaded, op);
        records.push(...outcome.records);
        return { ok: true as const, result: outcome.result };
      } catch (err) {
        return { ok: false as const, err };
      }
    });
    const committed = this.committed(loaded, records.length > 0 ? this.append(loaded, records) : loaded.appended);
    // Observed through the answers below; when every op failed, nobody else would.
    committed.catch(() => undefined);
    return outcomes.map((o) => (o.ok ? committed.then(() => o.result) : Promise.reject(o.err)));
  }

  /** Waits for the append ending at `end` to be committed, as an answer must; the coordinator errors otherwise. */
  private async committed(loaded: Loaded, end: Promise<number>): Promise<void> {
    let offset: number;
    try {
      offset = await end;
    } catch {
      throw new SamsaError(
        ErrorCodes.COORDINATOR_LOAD_IN_PROGRESS,
        'the coordinator is reloading after a failed write',
      );
    }
    try {
      await loaded.log.waitCommitted(offset);
    } catch (err) {
      throw coordinatorError(err);
    }
    if (this.partitions.get(loaded.partition) !== loaded) {
      throw new SamsaError(ErrorCodes.NOT_COORDINATOR, 'the coordinator moved while the request was in flight');
    }
  }

  /** Appends after earlier appends; Prepare states among the records get their markers once committed. */
  private append(loaded: Loaded, records: readonly TxnRecord[]): Promise<number> {
    const appended = loaded.appended.then(() => loaded.log.append(records));
    loaded.appended = appended;
    appended.then(
      (offset) => {
        for (const record of records) {
          const job = record.value !== null ? loaded.core.markerJob(record.transactionalId) : undefined;
          if (job !== undefined && job.producerEpoch === record.value?.producerEpoch)
            this.startMarkers(loaded, job, offset);
        }
      },
      (err: unknown) => this.reload(loaded, err, 'append failed'),
    );
    return appended;
  }

  private step<T>(loaded: Loaded, op: (core: Core) => TxnOutcome<T>): TxnOutcome<T> {
    try {
      return op(loaded.core);
    } catch (err) {
      if (!(err instanceof SamsaError)) this.reload(loaded, err, 'the transaction core failed');
      throw err;
    }
  }

  private reload(loaded: Loaded, err: unknown, why: string): void {
    if (this.partitions.get(loaded.partition) !== loaded) return;
    this.options.logger?.error({ err, partition: loaded.partition }, `${why}: reloading the partition`);
    void this.becomeLeader(loaded.partition, loaded.log, loaded.coordinatorEpoch).catch((loadErr: unknown) => {
      this.options.logger?.error({ err: loadErr, partition: loaded.partition }, 'reload failed');
      this.resign(loaded.partition);
    });
  }

  /** Writes the markers of `job` once `committedAt` is below the high watermark; completes the transaction. */
  private startMarkers(loaded: Loaded, job: MarkerJob, committedAt: number): void {
    const existing = loaded.jobs.get(job.transactionalId);
    if (existing !== undefined && existing.job.producerEpoch === job.producerEpoch && existing.inFlight) return;
    const entry: Job =
      existing?.job.producerEpoch === job.producerEpoch ? existing : { job, inFlight: false, retryAtMs: 0 };
    entry.inFlight = true;
    loaded.jobs.set(job.transactionalId, entry);
    void this.writeMarkers(loaded, entry, committedAt);
  }

  private async writeMarkers(loaded: Loaded, entry: Job, committedAt: number): Promise<void> {
    const id = entry.job.transactionalId;
    const current = () => this.partitions.get(loaded.partition) === loaded && loaded.jobs.get(id) === entry;
    try {
      await loaded.log.waitCommitted(committedAt);
      if (!current()) return;
      const remaining = await this.options.markers.write(entry.job, loaded.coordinatorEpoch);
      if (!current()) return;
      if (!tp.isEmpty(remaining)) {
        entry.job = { ...entry.job, partitions: remaining };
        throw new Error(`markers not yet written to ${tp.count(remaining)} partitions`);
      }
      loaded.jobs.delete(id);
      try {
        await this.complete(loaded, entry.job);
      } finally {
        this.notifySettled(loaded, id);
      }
    } catch (err) {
      // A Complete record that could not be written leaves the transaction in its Prepare state: the
      // job goes back, to be tried again (its markers are answered as written).
      const stillPrepared = loaded.core.markerJob(id)?.producerEpoch === entry.job.producerEpoch;
      if (this.partitions.get(loaded.partition) === loaded && !loaded.jobs.has(id) && stillPrepared)
        loaded.jobs.set(id, entry);
      if (!current()) return;
      entry.inFlight = false;
      entry.retryAtMs = this.options.nowMs() + (this.options.markerRetryBackoffMs ?? 100);
      this.options.logger?.debug(
        { err, transactionalId: entry.job.transactionalId },
        'transaction markers will be retried',
      );
    }
  }

  /**
   * Every marker of `job` is written: its Complete record, and the AddPartitionsToTxn requests parked
   * behind it (the producer's next transaction), go in one append and one replication wait.
   */
  private async complete(loaded: Loaded, job: MarkerJob): Promise<void> {
    const parked = this.takeParked(loaded, job.transactionalId);
    try {
      loaded.log.checkWritable?.();
    } catch (err) {
      const refused = coordinatorError(err);
      for (const p of parked) p.settle(Promise.reject(refused));
      throw refused;
    }
    const [completed, ...answers] = this.runTogether(loaded, [
      (core) => core.completeTxn(job, this.options.nowMs()),
      ...parked.map((p) => p.op),
    ]);
    for (const [i, p] of parked.entries()) p.settle(answers[i] as Promise<unknown>);
    await completed;
  }

  /** Parks `op` until the previous transaction's markers are written (see complete), up to CONCURRENT_WAIT_MS. */
  private parkBehindMarkers(loaded: Loaded, transactionalId: string, op: Parked['op']): Promise<unknown> {
    return new Promise((resolve, reject) => {
      const parked: Parked = { op, settle: (outcome) => outcome.then(resolve, reject) };
      const waiting = loaded.parked.get(transactionalId) ?? [];
      waiting.push(parked);
      loaded.parked.set(transactionalId, waiting);
      this.options.wait?.(CONCURRENT_WAIT_MS).then(() => {
        const still = loaded.parked.get(transactionalId);
        const at = still?.indexOf(parked) ?? -1;
        if (still === undefined || at < 0) return;
        still.splice(at, 1);
        if (still.length === 0) loaded.parked.delete(transactionalId);
        reject(
          new SamsaError(
            ErrorCodes.CONCURRENT_TRANSACTIONS,
            `the last transaction of ${transactionalId} is still completing`,
          ),
        );
      });
    });
  }

  private takeParked(loaded: Loaded, transactionalId: string): Parked[] {
    const parked = loaded.parked.get(transactionalId) ?? [];
    loaded.parked.delete(transactionalId);
    return parked;
  }

  private notifySettled(loaded: Loaded, transactionalId: string): void {
    const waiters = loaded.settled.get(transactionalId);
    loaded.settled.delete(transactionalId);
    for (const wake of waiters ?? []) wake();
  }

  /**
   * Runs `attempt`; when it meets the previous transaction still completing (ConcurrentTransactions),
   * waits (at most CONCURRENT_WAIT_MS, on the clock-free side: woken by the completion or by a resign)
   * and tries once more, so a producer starting its next transaction right after a commit is not sent
   * into a backoff for what takes one round of markers.
   */
  private async afterCompletion<T>(transactionalId: string, attempt: () => Promise<T>): Promise<T> {
    try {
      return await attempt();
    } catch (err) {
      if (!(err instanceof SamsaError) || err.code !== ErrorCodes.CONCURRENT_TRANSACTIONS.code) throw err;
      const loaded = this.partitions.get(this.partitionFor(transactionalId));
      if (loaded === undefined || loaded.core.markerJob(transactionalId) === undefined) throw err;
      await new Promise<void>((resolve) => {
        const waiters = loaded.settled.get(transactionalId) ?? [];
        waiters.push(resolve);
        loaded.settled.set(transactionalId, waiters);
        this.options.wait?.(CONCURRENT_WAIT_MS).then(resolve);
      });
      return attempt();
    }
  }

  async initProducerId(input: InitInput): Promise<ProducerIdentity> {
    return this.afterCompletion(input.transactionalId, () => this.initOnce(input));
  }

  private async initOnce(input: InitInput): Promise<ProducerIdentity> {
    let loaded = this.loadedFor(input.transactionalId);
    const fresh = loaded.core.needsProducerId(input.transactionalId) ? await this.options.newProducerId() : undefined;
    loaded = this.loadedFor(input.transactionalId);
    const result = await this.run(loaded, (core) => {
      if (fresh === undefined && core.needsProducerId(input.transactionalId)) {
        throw new SamsaError(ErrorCodes.CONCURRENT_TRANSACTIONS, 'the producer id changed meanwhile: try again');
      }
      return core.initProducerId(input, this.options.nowMs(), fresh);
    });
    if (!result.ok)
      throw new SamsaError(result.error, `an open transaction of ${input.transactionalId} is being aborted`);
    return { producerId: result.producerId, producerEpoch: result.producerEpoch };
  }

  /**
   * AddPartitionsToTxn. One that meets the previous transaction's markers still being written
   * (ConcurrentTransactions) waits for them (at most CONCURRENT_WAIT_MS) and is then written in the
   * same append as that transaction's Complete record: the producer's next transaction starts one
   * replication round trip after the markers, not two. Resolves with the transaction's start time
   * (what its markers will name).
   */
  async addPartitions(request: TxnRequest, partitions: TopicPartitions, forProduce = false): Promise<number> {
    const id = request.transactionalId;
    const loaded = this.loadedFor(id);
    const op = (core: Core): TxnOutcome<number> => ({
      records: core.addPartitions(request, partitions, this.options.nowMs(), forProduce).records,
      result: core.get(id)?.txnStartTimestampMs ?? -1,
    });
    try {
      return await this.run(loaded, op);
    } catch (err) {
      if (!(err instanceof SamsaError) || err.code !== ErrorCodes.CONCURRENT_TRANSACTIONS.code) throw err;
      if (this.partitions.get(loaded.partition) !== loaded) throw err;
      // Completed meanwhile: the Complete record is written (committed or not), this one goes after it.
      if (loaded.core.markerJob(id) === undefined) return await this.run(loaded, op);
      return (await this.parkBehindMarkers(loaded, id, op)) as number;
    }
  }

  /** AddOffsetsToTxn: the group's __consumer_offsets partition joins the transaction. */
  async addOffsets(request: TxnRequest, groupId: string): Promise<void> {
    const partition = offsetsPartitionFor(groupId, this.options.offsetsPartitions());
    await this.addPartitions(request, tp.fromKeys([tp.tpKey('__consumer_offsets', partition)]));
  }

  /**
   * KIP-890 part 1: whether `topic-partition` belongs to the producer's open transaction (committed
   * state only). Resolves with the transaction's start time, which its markers will name.
   */
  async verifyPartition(request: TxnRequest, topic: string, partition: number): Promise<number> {
    const loaded = this.loadedFor(request.transactionalId);
    const { verdict, startMs } = await this.run(
      loaded,
      (core) => ({
        records: [],
        result: {
          verdict: core.verifyPartition(request, topic, partition),
          startMs: core.get(request.transactionalId)?.txnStartTimestampMs ?? -1,
        },
      }),
      false,
    );
    if (verdict !== undefined) throw new SamsaError(verdict.error, verdict.message);
    return startMs;
  }

  /** EndTxn; `bumpEpoch` false for Kafka clients that keep their epoch across transactions (see TxnCoordinatorCore). */
  async endTxn(request: TxnRequest, commit: boolean, bumpEpoch = true): Promise<ProducerIdentity> {
    let loaded = this.loadedFor(request.transactionalId);
    const fresh = loaded.core.needsProducerId(request.transactionalId, true, bumpEpoch)
      ? await this.options.newProducerId()
      : undefined;
    loaded = this.loadedFor(request.transactionalId);
    return this.run(loaded, (core) => {
      if (fresh === undefined && core.needsProducerId(request.transactionalId, true, bumpEpoch)) {
        throw new SamsaError(ErrorCodes.CONCURRENT_TRANSACTIONS, 'the producer epoch changed meanwhile: try again');
      }
      return core.endTxn(request, commit, this.options.nowMs(), fresh, bumpEpoch);
    });
  }

  async describe(transactionalId: string): Promise<TxnDescription | undefined> {
    const loaded = this.loadedFor(transactionalId);
    return this.run(loaded, (core) => ({ records: [], result: core.describe(transactionalId) }), false);
  }

  /** The transactions of every loaded partition (ListTransactions answers what this broker coordinates). */
  list(): TxnDescription[] {
    const out: TxnDescription[] = [];
    for (const loaded of this.partitions.values()) if (loaded.status === 'active') out.push(...loaded.core.list());
    return out.sort((a, b) =>
      a.transactionalId < b.transactionalId ? -1 : a.transactionalId > b.transactionalId ? 1 : 0,
    );
  }

  /** Timers: aborts transactions past their timeout, forgets idle ids, retries markers. Called periodically. */
  tick(): void {
    this.retryMarkers();
    const nowMs = this.options.nowMs();
    for (const loaded of this.partitions.values()) {
      if (loaded.status !== 'active') continue;
      try {
        loaded.log.checkWritable?.();
      } catch {
        continue;
      }
      let records: TxnRecord[];
      try {
        records = this.step(loaded, (core) => core.tick(nowMs)).records;
      } catch {
        continue;
      }
      if (records.length > 0) void this.append(loaded, records).catch(() => undefined);
    }
  }

  /** Starts again the marker writes whose backoff has passed. */
  retryMarkers(): void {
    const nowMs = this.options.nowMs();
    for (const loaded of this.partitions.values()) {
      if (loaded.status !== 'active') continue;
      for (const entry of loaded.jobs.values()) {
        if (!entry.inFlight && nowMs >= entry.retryAtMs) this.startMarkers(loaded, entry.job, 0);
      }
    }
  }

  /** For tests and the simulation. */
  coreOf(partition: number): Core | undefined {
    const loaded = this.partitions.get(partition);
    return loaded?.status === 'active' ? loaded.core : undefined;
  }
}
