import { ErrorCodes, type ErrorSpec, SamsaError } from '@samsa/protocol';
import * as tp from '../group/partitions.js';
import type { TopicPartitions } from '../group/partitions.js';
import type { ClientTransactionVersion, TxnRecord, TxnState, TxnValue } from './records.js';

/**
 * The transaction coordinator's state machine for the transactional ids of one __transaction_state
 * partition (KIP-98, with KIP-360's producer recovery and KIP-890's epoch bump per transaction).
 * Pure: time and fresh producer ids are inputs; operations return the records to append, which the
 * core has already applied to itself through `apply`, the same function that rebuilds it from the log.
 *
 * Epochs. A producer writes its transaction with epoch e. Ending it (EndTxn, a timeout, or a new
 * incarnation's InitProducerId) moves to PrepareCommit/PrepareAbort with epoch e+1: the markers carry
 * e+1, so a write of epoch e still in flight is refused by every partition a marker reached. After
 * EndTxn the producer continues with e+1 (the response says so); when e+1 is the last epoch the
 * producer moves to a fresh producer id at epoch 0 once the transaction completes.
 *
 * Kafka clients that do not learn of the bump (EndTxn below v5: KafkaJS, librdkafka, Kafka's
 * transaction version 1) end their transactions without it: the markers carry e and the producer goes
 * on with e. Their Prepare state has producerEpoch === lastProducerEpoch, which is how markers, retries
 * and a reloaded coordinator know it. Fencing (InitProducerId) and timeouts bump as before.
 */

export interface TxnCoreConfig {
  /** transaction.max.timeout.ms */
  readonly maxTimeoutMs: number;
  /** transactional.id.expiration.ms: an idle id with no open transaction is forgotten after this. */
  readonly transactionalIdExpirationMs: number;
}

export const DEFAULT_TXN_CORE_CONFIG: TxnCoreConfig = Object.freeze({
  maxTimeoutMs: 900_000,
  transactionalIdExpirationMs: 7 * 24 * 60 * 60 * 1000,
});

/** Producer epochs are int16; markers may take the last one, producers stay below it. */
export const MAX_EPOCH = 32_767;
export const MAX_TRANSACTIONAL_ID_LENGTH = 255;

export interface TxnOutcome<T> {
  readonly records: TxnRecord[];
  readonly result: T;
}

export interface ProducerIdentity {
  readonly producerId: number;
  readonly producerEpoch: number;
}

/** InitProducerId's answer: the identity, or "an abort is under way, ask again" (CONCURRENT_TRANSACTIONS). */
export type InitResult = ({ readonly ok: true } & ProducerIdentity) | { readonly ok: false; readonly error: ErrorSpec };

export interface InitInput {
  readonly transactionalId: string;
  readonly timeoutMs: number;
  /** -1/-1 for a new incarnation; the producer's own id and epoch to recover it (KIP-360). */
  readonly producerId: number;
  readonly producerEpoch: number;
  /**
   * 2 when the producer's every commit or abort will bump its epoch (the gRPC API's clients), 1 (the
   * default) for Kafka clients that keep it (see TxnValue.clientTransactionVersion).
   */
  readonly clientTransactionVersion?: ClientTransactionVersion;
}

export interface TxnRequest {
  readonly transactionalId: string;
  readonly producerId: number;
  readonly producerEpoch: number;
}

/** The markers a Prepare state asks for: written to every partition, then the transaction completes. */
export interface MarkerJob {
  readonly transactionalId: string;
  readonly producerId: number;
  /** The epoch the markers carry (one above the producer's, or the producer's own with `sameEpoch`). */
  readonly producerEpoch: number;
  readonly commit: boolean;
  /** Ended without an epoch bump (transaction version 1: a Kafka client's EndTxn below v5). */
  readonly sameEpoch: boolean;
  /** When the transaction started: strictly increasing per transactional id, so it names the transaction. */
  readonly txnStartMs: number;
  readonly partitions: TopicPartitions;
}

export interface TxnDescription {
  readonly transactionalId: string;
  readonly producerId: number;
  readonly producerEpoch: number;
  readonly state: TxnState;
  readonly timeoutMs: number;
  readonly partitions: TopicPartitions;
  readonly txnStartTimestampMs: number;
  readonly lastUpdateTimestampMs: number;
}

export function validateTransactionalId(id: string): void {
  if (id === '' || id.length > MAX_TRANSACTIONAL_ID_LENGTH) {
    throw new SamsaError(
      ErrorCodes.INVALID_REQUEST,
      `transactional id must be 1 to ${MAX_TRANSACTIONAL_ID_LENGTH} characters`,
    );
  }
}

function refuse(error: ErrorSpec, message: string): never {
  throw new SamsaError(error, message);
}

function isPrepare(state: TxnState): boolean {
  return state === 'PrepareCommit' || state === 'PrepareAbort';
}

/** No transaction open or ending. */
function isIdle(state: TxnState): boolean {
  return state === 'CompleteCommit' || state === 'CompleteAbort' || state === 'Empty';
}

export class TxnCoordinatorCore {
  private readonly txns = new Map<string, TxnValue>();

  constructor(readonly config: TxnCoreConfig = DEFAULT_TXN_CORE_CONFIG) {}

  apply(record: TxnRecord): void {
    if (record.value === null) this.txns.delete(record.transactionalId);
    else this.txns.set(record.transactionalId, record.value);
  }

  get(transactionalId: string): TxnValue | undefined {
    return this.txns.get(transactionalId);
  }

  private write(transactionalId: string, value: TxnValue | null): TxnRecord {
    const record = { transactionalId, value };
    this.apply(record);
    return record;
  }

  /** Whether `initProducerId` (or `endTxn` when `ending`) needs a fresh producer id from the caller. */
  needsProducerId(transactionalId: string, ending = false, bumpEpoch = true): boolean {
    const meta = this.txns.get(transactionalId);
    if (ending) return bumpEpoch && meta?.state === 'Ongoing' && meta.producerEpoch + 1 >= MAX_EPOCH;
    if (meta === undefined || meta.state === 'Dead') return true;
    return isIdle(meta.state) && meta.producerEpoch + 1 >= MAX_EPOCH;
  }

  /**
   * A producer (re)starts: a new incarnation fences every older one by the epoch bump; an open
   * transaction is aborted first (the caller retries on CONCURRENT_TRANSACTIONS until it completed).
   */
  initProducerId(input: InitInput, nowMs: number, newProducerId?: number): TxnOutcome<InitResult> {
    validateTransactionalId(input.transactionalId);
    if (input.timeoutMs <= 0 || input.timeoutMs > this.config.maxTimeoutMs) {
      refuse(
        ErrorCodes.INVALID_TRANSACTION_TIMEOUT,
        `transaction timeout ${input.timeoutMs} ms is not in 1..${this.config.maxTimeoutMs} ` +
          '(transaction.max.timeout.ms)',
      );
    }
    if (input.producerId < 0 !== input.producerEpoch < 0) {
      refuse(ErrorCodes.INVALID_REQUEST, 'producer id and epoch must both be set or both be -1');
    }
    const meta = this.txns.get(input.transactionalId);
    if (meta === undefined || meta.state === 'Dead') {
      if (input.producerId >= 0) {
        refuse(ErrorCodes.PRODUCER_FENCED, `transactional id ${input.transactionalId} has no producer to recover`);
      }
      return this.fresh(input, nowMs, newProducerId);
    }
    if (input.producerId >= 0 && !this.isCurrentOrLast(meta, input.producerId, input.producerEpoch)) {
      refuse(
        ErrorCodes.PRODUCER_FENCED,
        `producer ${input.producerId} epoch ${input.producerEpoch} was fenced by a newer incarnation of ` +
          input.transactionalId,
      );
    }
    // A new incarnation (no producer id) fences the producer for good; the producer's own InitProducerId
    // (its abort after an error, KIP-360) aborts and bumps as a timeout does, and may ask again.
    const recovering = input.producerId >= 0;
    if (isPrepare(meta.state)) return { records: [], result: concurrent() };
    if (meta.state === 'Ongoing') {
      const value: TxnValue = { ...prepared(meta, false, nowMs, false), fenced: !recovering };
      return { records: [this.write(input.transactionalId, value)], result: concurrent() };
    }
    const bumped = meta.producerEpoch + 1;
    if (bumped >= MAX_EPOCH) return this.fresh(input, nowMs, newProducerId, meta.producerId);
    const value: TxnValue = {
      ...empty(meta.producerId, bumped, input.timeoutMs, nowMs, versionOf(input)),
      ...recoveredFrom(input, meta.producerId),
    };
    const record = this.write(input.transactionalId, value);
    return { records: [record], result: { ok: true, producerId: value.producerId, producerEpoch: bumped } };
  }

  private fresh(input: InitInput, nowMs: number, newProducerId: number | undefined, previous = -1) {
    if (newProducerId === undefined || newProducerId < 0) {
      throw new Error(`initProducerId for ${input.transactionalId} needs a fresh producer id (driver bug)`);
    }
    const value: TxnValue = {
      ...empty(newProducerId, 0, input.timeoutMs, nowMs, versionOf(input)),
      previousProducerId: previous,
      ...recoveredFrom(input, newProducerId),
    };
    const record = this.write(input.transactionalId, value);
    return { records: [record], result: { ok: true as const, producerId: newProducerId, producerEpoch: 0 } };
  }

  /**
   * The producer's current identity, or its identity before the last bump (a retry, a recovery after a
   * timeout or after its own abort), unless a new incarnation made that bump.
   */
  private isCurrentOrLast(meta: TxnValue, producerId: number, epoch: number): boolean {
    if (!isPrepare(meta.state) && producerId === meta.producerId && epoch === meta.producerEpoch) return true;
    return meta.fenced !== true && isLastIdentity(meta, producerId, epoch);
  }

  /**
   * Checks a request's producer id and epoch against the current producer; throws the fencing error.
   * While the markers of its last transaction are written, the producer may name its epoch before the
   * bump or after it (it got the EndTxn answer): both are told to wait.
   */
  private checkProducer(meta: TxnValue | undefined, request: TxnRequest): TxnValue {
    const id = request.transactionalId;
    if (meta === undefined || meta.state === 'Dead') {
      refuse(ErrorCodes.INVALID_PRODUCER_ID_MAPPING, `unknown transactional id ${id}`);
    }
    if (isPrepare(meta.state) && request.producerId === meta.nextProducerId && request.producerEpoch === 0) {
      refuse(ErrorCodes.CONCURRENT_TRANSACTIONS, `the last transaction of ${id} is still completing`);
    }
    if (isTimedOutIdentity(meta, request.producerId, request.producerEpoch)) {
      refuse(
        ErrorCodes.TRANSACTION_ABORTABLE,
        `the transaction of ${id} outlived its timeout (${meta.timeoutMs} ms) and was aborted: abort, then go on`,
      );
    }
    if (request.producerId !== meta.producerId) {
      refuse(
        ErrorCodes.INVALID_PRODUCER_ID_MAPPING,
        `transactional id ${id} belongs to producer ${meta.producerId}, not ${request.producerId}`,
      );
    }
    const oldest = isPrepare(meta.state) ? meta.lastProducerEpoch : meta.producerEpoch;
    if (request.producerEpoch < oldest) {
      refuse(
        ErrorCodes.PRODUCER_FENCED,
        `producer ${request.producerId} epoch ${request.producerEpoch} is fenced (current epoch ${meta.producerEpoch})`,
      );
    }
    if (request.producerEpoch > meta.producerEpoch) {
      refuse(
        ErrorCodes.INVALID_PRODUCER_EPOCH,
        `producer ${request.producerId} epoch ${request.producerEpoch} is ahead of the coordinator's ` +
          String(meta.producerEpoch),
      );
    }
    if (isPrepare(meta.state)) {
      refuse(ErrorCodes.CONCURRENT_TRANSACTIONS, `the last transaction of ${id} is still completing`);
    }
    if (request.producerEpoch >= MAX_EPOCH) {
      // A timeout (or a retried abort's answer after one) left the producer at the last epoch, which
      // markers alone may take: a transaction there could not be ended. It moves to a fresh producer id.
      refuse(
        ErrorCodes.TRANSACTION_ABORTABLE,
        `producer ${request.producerId} of ${id} is at the last epoch (${MAX_EPOCH}): abort, and InitProducerId ` +
          'naming it gives it a fresh producer id',
      );
    }
    return meta;
  }

  /**
   * AddPartitionsToTxn (and AddOffsetsToTxn, with the group's __consumer_offsets partition). With
   * `forProduce`, a partition leader adds the partition of a write (KIP-890 part 2): only for a producer
   * whose every commit or abort bumps the epoch, since with one that keeps it a late write of an ended
   * transaction, at the same epoch, would join the next transaction.
   */
  addPartitions(request: TxnRequest, partitions: TopicPartitions, nowMs: number, forProduce = false): TxnOutcome<void> {
    validateTransactionalId(request.transactionalId);
    const meta = this.checkProducer(this.txns.get(request.transactionalId), request);
    const version = clientVersionOf(meta);
    if (forProduce && version !== 2) {
      refuse(
        ErrorCodes.INVALID_TXN_STATE,
        `producer ${request.producerId} of ${request.transactionalId} ends its transactions without an epoch ` +
          'bump (transaction version 1): a partition leader may not add its partitions (add_partitions_to_txn); ' +
          'add them with AddPartitionsToTxn first',
      );
    }
    if (meta.state === 'Ongoing' && tp.equal(tp.union(meta.partitions, partitions), meta.partitions)) {
      return { records: [], result: undefined };
    }
    const value: TxnValue = {
      ...meta,
      state: 'Ongoing',
      partitions: tp.union(meta.state === 'Ongoing' ? meta.partitions : tp.EMPTY, partitions),
      // Strictly after the previous transaction's last update: the start time names the transaction
      // (a same-epoch marker says which one it ends, see MarkerJob).
      txnStartTimestampMs:
        meta.state === 'Ongoing' ? meta.txnStartTimestampMs : Math.max(nowMs, meta.lastUpdateTimestampMs + 1),
      lastUpdateTimestampMs: nowMs,
      lastProducerEpoch: -1,
      previousProducerId: -1,
      timedOut: false,
      fenced: false,
      ...(version === undefined ? {} : { clientTransactionVersion: version }),
    };
    return { records: [this.write(request.transactionalId, value)], result: undefined };
  }

  /**
   * KIP-890 part 1: a partition leader asks, before the first transactional write of a producer,
   * whether the partition belongs to the producer's open transaction. Undefined means it does.
   */
  verifyPartition(
    request: TxnRequest,
    topic: string,
    partition: number,
  ): { error: ErrorSpec; message: string } | undefined {
    const id = request.transactionalId;
    const meta = this.txns.get(id);
    if (meta === undefined || meta.producerId !== request.producerId) {
      return {
        error: ErrorCodes.INVALID_PRODUCER_ID_MAPPING,
        message: `producer ${request.producerId} is not ${id}'s`,
      };
    }
    if (request.producerEpoch < meta.producerEpoch) {
      return { error: ErrorCodes.INVALID_PRODUCER_EPOCH, message: `producer epoch ${request.producerEpoch} is fenced` };
    }
    if (meta.state !== 'Ongoing' || request.producerEpoch !== meta.producerEpoch) {
      return {
        error: ErrorCodes.INVALID_TXN_STATE,
        message: `${id} has no open transaction at epoch ${request.producerEpoch}`,
      };
    }
    if (!tp.contains(meta.partitions, topic, partition)) {
      return {
        error: ErrorCodes.INVALID_TXN_STATE,
        message: `${topic}-${partition} was not added to the transaction of ${id}`,
      };
    }
    return undefined;
  }

  /**
   * EndTxn: commit or abort the open transaction (PrepareCommit/PrepareAbort; the driver writes the
   * markers). Answers the identity the producer continues with. A retry of an EndTxn that already
   * took effect gets the same answer.
   */
  endTxn(
    request: TxnRequest,
    commit: boolean,
    nowMs: number,
    newProducerId?: number,
    bumpEpoch = true,
  ): TxnOutcome<ProducerIdentity> {
    validateTransactionalId(request.transactionalId);
    const before = this.txns.get(request.transactionalId);
    if (before !== undefined) {
      const retry = this.retriedEnd(before, request, commit);
      if (retry !== undefined) return { records: [], result: retry };
    }
    const meta = this.checkProducer(before, request);
    if (meta.state !== 'Ongoing') {
      refuse(ErrorCodes.INVALID_TXN_STATE, `${request.transactionalId} has no open transaction to end`);
    }
    // The producer says here whether its transactions bump the epoch (Kafka records the client's
    // transaction version at EndTxn too): one that did not may not have leaders add its partitions.
    const value: TxnValue = {
      ...prepared(meta, commit, nowMs, false, newProducerId, bumpEpoch),
      clientTransactionVersion: bumpEpoch ? 2 : 1,
    };
    if (value.producerEpoch >= MAX_EPOCH && value.nextProducerId < 0) {
      throw new Error(`endTxn for ${request.transactionalId} needs a fresh producer id (driver bug)`);
    }
    return { records: [this.write(request.transactionalId, value)], result: identityAfter(value) };
  }

  private retriedEnd(meta: TxnValue, request: TxnRequest, commit: boolean): ProducerIdentity | undefined {
    if (meta.state === 'Ongoing' || meta.state === 'Empty' || meta.state === 'Dead') return undefined;
    if (request.producerEpoch !== meta.lastProducerEpoch) return undefined;
    if (request.producerId !== meta.producerId && request.producerId !== meta.previousProducerId) return undefined;
    if (meta.fenced === true) {
      refuse(
        ErrorCodes.PRODUCER_FENCED,
        `a newer incarnation of ${request.transactionalId} aborted the transaction of producer ` +
          `${request.producerId} epoch ${request.producerEpoch}`,
      );
    }
    const committed = meta.state === 'PrepareCommit' || meta.state === 'CompleteCommit';
    if (committed !== commit) {
      refuse(
        meta.timedOut ? ErrorCodes.TRANSACTION_ABORTABLE : ErrorCodes.INVALID_TXN_STATE,
        `the transaction of ${request.transactionalId} was ${committed ? 'committed' : 'aborted'}` +
          (meta.timedOut ? ' (it outlived its timeout)' : ''),
      );
    }
    return identityAfter(meta);
  }

  /** The markers of `job` are all written: the transaction completes. Stale jobs change nothing. */
  completeTxn(job: MarkerJob, nowMs: number): TxnOutcome<void> {
    const meta = this.txns.get(job.transactionalId);
    const state = job.commit ? 'PrepareCommit' : 'PrepareAbort';
    if (meta === undefined || meta.state !== state || meta.producerId !== job.producerId) {
      return { records: [], result: undefined };
    }
    if (meta.producerEpoch !== job.producerEpoch) return { records: [], result: undefined };
    const rotate = meta.nextProducerId >= 0;
    const value: TxnValue = {
      ...meta,
      state: job.commit ? 'CompleteCommit' : 'CompleteAbort',
      partitions: tp.EMPTY,
      txnStartTimestampMs: -1,
      lastUpdateTimestampMs: nowMs,
      producerId: rotate ? meta.nextProducerId : meta.producerId,
      producerEpoch: rotate ? 0 : meta.producerEpoch,
      previousProducerId: rotate ? meta.producerId : meta.previousProducerId,
      nextProducerId: -1,
    };
    return { records: [this.write(job.transactionalId, value)], result: undefined };
  }

  /** Every transaction waiting for its markers (after a load, and for retries). */
  markerJobs(): MarkerJob[] {
    const jobs: MarkerJob[] = [];
    for (const [transactionalId, meta] of this.txns) {
      if (isPrepare(meta.state)) jobs.push(markerJobOf(transactionalId, meta));
    }
    return jobs;
  }

  markerJob(transactionalId: string): MarkerJob | undefined {
    const meta = this.txns.get(transactionalId);
    return meta !== undefined && isPrepare(meta.state) ? markerJobOf(transactionalId, meta) : undefined;
  }

  /**
   * Timers: aborts transactions open longer than their timeout (the producer vanished), fencing
   * the producer by the epoch bump; forgets ids idle past transactional.id.expiration.ms.
   */
  tick(nowMs: number): TxnOutcome<void> {
    const records: TxnRecord[] = [];
    for (const [id, meta] of [...this.txns]) {
      if (meta.state === 'Ongoing' && nowMs - meta.txnStartTimestampMs > meta.timeoutMs) {
        records.push(this.write(id, prepared(meta, false, nowMs, true)));
      } else if (
        (isIdle(meta.state) || meta.state === 'Dead') &&
        nowMs - meta.lastUpdateTimestampMs >= this.config.transactionalIdExpirationMs
      ) {
        records.push(this.write(id, null));
      }
    }
    return { records, result: undefined };
  }

  describe(transactionalId: string): TxnDescription | undefined {
    const meta = this.txns.get(transactionalId);
    return meta === undefined ? undefined : describeOf(transactionalId, meta);
  }

  list(): TxnDescription[] {
    return [...this.txns].map(([id, meta]) => describeOf(id, meta));
  }
}

/** The producer's identity before the last bump (in a Prepare or Complete state, or after a recovery). */
function isLastIdentity(meta: TxnValue, producerId: number, epoch: number): boolean {
  if (meta.lastProducerEpoch < 0 || epoch !== meta.lastProducerEpoch) return false;
  return producerId === meta.producerId || producerId === meta.previousProducerId;
}

/** A request of the producer whose transaction timed out: it must abort, then may go on. */
function isTimedOutIdentity(meta: TxnValue, producerId: number, epoch: number): boolean {
  if (!meta.timedOut || meta.fenced === true || meta.state === 'Ongoing') return false;
  return isLastIdentity(meta, producerId, epoch);
}

/**
 * A recovering InitProducerId (naming its producer) leaves the identity it named as the last one, so
 * that a retry whose answer was lost (the same request again, maybe at a new coordinator that loaded
 * the record) is this producer's and not a fenced one's: across a fresh producer id at the last epoch
 * too, and across repeated retries.
 */
function recoveredFrom(input: InitInput, producerId: number): Partial<TxnValue> {
  if (input.producerId < 0) return {};
  return {
    lastProducerEpoch: input.producerEpoch,
    ...(input.producerId === producerId ? {} : { previousProducerId: input.producerId }),
  };
}

function concurrent(): InitResult {
  return { ok: false, error: ErrorCodes.CONCURRENT_TRANSACTIONS };
}

/**
 * The client transaction version of the id's producer. A record written before the field was (a broker
 * upgraded since) says it only by how its last transaction ended: a completed one whose markers took
 * the epoch after the producer's was ended by an EndTxn that bumped (the SDK's; a timeout's or a new
 * incarnation's bump leaves no producer at that epoch to ask a leader to add a partition), so an SDK
 * producer's first transaction after the upgrade is not refused its leaders' adds. Otherwise unknown:
 * leaders may not add partitions until an InitProducerId or EndTxn says.
 */
function clientVersionOf(meta: TxnValue): ClientTransactionVersion | undefined {
  if (meta.clientTransactionVersion !== undefined) return meta.clientTransactionVersion;
  const completed = meta.state === 'CompleteCommit' || meta.state === 'CompleteAbort';
  if (completed && meta.lastProducerEpoch >= 0 && meta.producerEpoch === meta.lastProducerEpoch + 1) return 2;
  return undefined;
}

function versionOf(input: InitInput): ClientTransactionVersion {
  return input.clientTransactionVersion ?? 1;
}

function empty(
  producerId: number,
  producerEpoch: number,
  timeoutMs: number,
  nowMs: number,
  clientTransactionVersion: ClientTransactionVersion = 1,
): TxnValue {
  return {
    producerId,
    producerEpoch,
    lastProducerEpoch: -1,
    nextProducerId: -1,
    previousProducerId: -1,
    timeoutMs,
    state: 'Empty',
    partitions: tp.EMPTY,
    txnStartTimestampMs: -1,
    lastUpdateTimestampMs: nowMs,
    timedOut: false,
    fenced: false,
    clientTransactionVersion,
  };
}

/** The Prepare state ending `meta`'s open transaction: markers one epoch above the producer's (unless not `bump`). */
function prepared(
  meta: TxnValue,
  commit: boolean,
  nowMs: number,
  timedOut: boolean,
  nextProducerId = -1,
  bump = true,
): TxnValue {
  const markerEpoch = bump ? meta.producerEpoch + 1 : meta.producerEpoch;
  return {
    ...meta,
    state: commit ? 'PrepareCommit' : 'PrepareAbort',
    producerEpoch: markerEpoch,
    lastProducerEpoch: meta.producerEpoch,
    nextProducerId: markerEpoch >= MAX_EPOCH ? nextProducerId : -1,
    lastUpdateTimestampMs: nowMs,
    timedOut,
  };
}

/** Who the producer is once the transaction `meta` ends (in a Prepare or Complete state). */
function identityAfter(meta: TxnValue): ProducerIdentity {
  if (isPrepare(meta.state) && meta.nextProducerId >= 0) return { producerId: meta.nextProducerId, producerEpoch: 0 };
  return { producerId: meta.producerId, producerEpoch: meta.producerEpoch };
}

function markerJobOf(transactionalId: string, meta: TxnValue): MarkerJob {
  return {
    transactionalId,
    producerId: meta.producerId,
    producerEpoch: meta.producerEpoch,
    commit: meta.state === 'PrepareCommit',
    partitions: meta.partitions,
    sameEpoch: meta.producerEpoch === meta.lastProducerEpoch,
    txnStartMs: meta.txnStartTimestampMs,
  };
}

function describeOf(transactionalId: string, meta: TxnValue): TxnDescription {
  return {
    transactionalId,
    producerId: meta.producerId,
    producerEpoch: meta.producerEpoch,
    state: meta.state,
    timeoutMs: meta.timeoutMs,
    partitions: meta.partitions,
    txnStartTimestampMs: meta.txnStartTimestampMs,
    lastUpdateTimestampMs: meta.lastUpdateTimestampMs,
  };
}
