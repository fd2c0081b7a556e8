/**
 * The transactional producer (KIP-98): records sent between begin and commit become visible to
 * read_committed consumers all together, or (abort) never. One transactional id is one producer at a
 * time: InitProducerId fences every older incarnation, which then gets ProducerFenced. Records go
 * through a Producer (producer.ts) as an idempotent producer's do: batched per partition, one request
 * per partition at a time (so in order), every ready partition of a broker in one Produce request,
 * retried under the same sequences (the broker answers a retry it already appended). Each partition
 * joins the transaction with its first write: its leader adds it at the coordinator before appending
 * (KIP-890 part 2; no AddPartitionsToTxn from here). The coordinator bumps the producer epoch at every
 * commit or abort (KIP-890), so sequences start at 0 in every transaction, and a late write of an
 * ended transaction, naming the old epoch, cannot be added to the next one.
 *
 * A transaction the coordinator aborted at its timeout (transaction.timeout.ms) bumped the epoch too:
 * the producer's next write or commit is refused (InvalidProducerEpoch at a partition, TransactionAbortable
 * at the coordinator), the application sees TransactionAbortable, and abort() re-initializes with
 * InitProducerId naming this producer's id and epoch (KIP-360, KIP-588). The coordinator accepts that
 * after a timeout and refuses it (ProducerFenced) when a newer incarnation fenced this one, which is
 * the one case where the producer is done.
 */
import { ErrorCodes, kafkaPartitionForKey, type v1 } from '@samsa/protocol';
import type { RecordMetadata } from './accumulator.js';
import { brokerAddress, type Cluster, type TopicInfo } from './cluster.js';
import { SamsaClientError, errorFromCode, isConnectionFailure, needsMetadataRefresh } from './errors.js';
import type { Logger } from './logger.js';
import { Producer, type ProducerRecord } from './producer.js';
import { type RetryOptions, withRetries } from './retry.js';
import type { BrokerRpcs, RpcName } from './transport.js';
import { GroupCoordinators, groupErrorCode } from './group/coordinator.js';
import { type CommitOffset, committedEpochOf } from './group/offsets.js';
import type { GroupMetadata } from './group/session.js';

export interface TransactionalProducerOptions {
  /** Kafka's transactional.id: one live producer per id; a new one fences the old. */
  transactionalId: string;
  /** Kafka's transaction.timeout.ms (60000): the coordinator aborts a transaction open longer than this. */
  transactionTimeoutMs?: number;
  /** Largest Produce request, and largest record (the producer's maxRequestSize, Kafka's max.request.size, 1 MiB). */
  maxBatchBytes?: number;
  /** Deadline of each request; defaults to the client's requestTimeoutMs. */
  requestTimeoutMs?: number;
}

/**
 * The consumer side of sendOffsets: a Consumer (its offsetsForTransaction()). It names the group
 * metadata that fences the commit, and refuses offsets it cannot vouch for (records handed out under an
 * assignment the member no longer has): the transaction then cannot commit.
 */
export interface TransactionOffsetsSource {
  offsetsForTransaction(offsets?: readonly CommitOffset[]): {
    readonly group: GroupMetadata;
    readonly offsets: readonly CommitOffset[];
    /** Whether the assignment the offsets were checked against is still the member's (asked once they are in). */
    readonly stillCurrent?: () => boolean;
  };
}

/** sendOffsets' argument: a consumer (its positions), or a consumer and the offsets to commit. */
export type SendOffsetsInput =
  | TransactionOffsetsSource
  | { readonly consumer: TransactionOffsetsSource; readonly offsets: readonly CommitOffset[] };

/** What a transaction's callback may do. */
export interface Transaction {
  send(record: ProducerRecord): Promise<RecordMetadata>;
  /**
   * Commits the consumer's offsets in this transaction (Kafka's sendOffsetsToTransaction): they
   * become the group's committed offsets when the transaction commits, never if it aborts.
   */
  sendOffsets(input: SendOffsetsInput): Promise<void>;
}

/** FindCoordinator key type of transactional ids. */
const TXN_KEY_TYPE = 1;

/** Answers that mean "ask again, maybe elsewhere": the coordinator moved, loads, or finishes the last transaction. */
const COORDINATOR_RETRY = new Set<number>([
  ErrorCodes.NOT_COORDINATOR.code,
  ErrorCodes.COORDINATOR_NOT_AVAILABLE.code,
  ErrorCodes.COORDINATOR_LOAD_IN_PROGRESS.code,
  ErrorCodes.CONCURRENT_TRANSACTIONS.code,
]);

/** Refusals that end the open transaction but not the producer, unless its re-initialization is refused. */
const ABORT_WITH_NEW_EPOCH = new Set<number>([
  ErrorCodes.INVALID_PRODUCER_EPOCH.code,
  ErrorCodes.TRANSACTION_ABORTABLE.code,
]);

/**
 * What the application sees for a refusal it can only abort after: TransactionAbortable, whatever said it
 * (a partition's InvalidProducerEpoch is the same news as the coordinator's TransactionAbortable).
 */
function abortableError(err: unknown): unknown {
  if (!(err instanceof SamsaClientError) || !ABORT_WITH_NEW_EPOCH.has(err.code)) return err;
  return err.code === ErrorCodes.TRANSACTION_ABORTABLE.code ? err : mustAbort(err);
}

function mustAbort(cause: unknown): SamsaClientError {
  const where = cause instanceof SamsaClientError ? { topic: cause.topic, partition: cause.partition } : {};
  return new SamsaClientError(
    ErrorCodes.TRANSACTION_ABORTABLE,
    'the transaction cannot be committed: its coordinator aborted it at its timeout (transactionTimeoutMs), ' +
      'or a newer producer fenced this one; abort() it, and the producer goes on unless it was fenced' +
      (cause instanceof Error ? ` (${cause.message})` : ''),
    { cause, retriable: false, ...where },
  );
}

type State = 'uninitialized' | 'ready' | 'in-transaction' | 'fenced' | 'closed';

export class TransactionalProducer implements Transaction, AsyncDisposable {
  private state: State = 'uninitialized';
  private identity = { producerId: -1, producerEpoch: -1 };
  private coordinator: string | undefined;
  /** Sends the records, under the identity the coordinator gave for the open transaction. */
  private readonly sender: Producer;
  /** A record was sent in the open transaction (its leader may have added its partition even if it failed). */
  private written = false;
  /**
   * commit() or abort() is under way: no more records or offsets join the transaction (a record sent
   * now could reach its leader after EndTxn and join the next transaction instead).
   */
  private ending = false;
  /** Records sent before their topic's metadata was known, until they are handed to the producer. */
  private readonly awaitingMetadata = new Set<Promise<unknown>>();
  /** Groups whose offsets this transaction commits (AddOffsetsToTxn sent), and the commits in flight. */
  private readonly offsetGroups = new Map<string, Promise<void>>();
  private readonly offsetCommits = new Set<Promise<void>>();
  private readonly groupCoordinators: GroupCoordinators;
  /** The first failed write of the open transaction: commit refuses, abort is the way out. */
  private failure: unknown;
  /**
   * The open transaction met a newer epoch than ours (its coordinator aborted it at its timeout, or a
   * newer incarnation fenced us): abort re-initializes with InitProducerId naming this producer.
   */
  private epochBumpNeeded = false;
  private roundRobin = 0;
  private readonly timeoutMs: number;
  private readonly requestTimeoutMs: number;

  constructor(
    private readonly cluster: Cluster,
    private readonly options: TransactionalProducerOptions,
    private readonly retry: RetryOptions,
    private readonly logger: Logger,
    private readonly onClose: (p: TransactionalProducer) => void,
  ) {
    if (!options.transactionalId) {
      throw new SamsaClientError(ErrorCodes.INVALID_CONFIG, 'transactionalId must be a non-empty string', {
        retriable: false,
      });
    }
    this.timeoutMs = options.transactionTimeoutMs ?? 60_000;
    this.requestTimeoutMs = options.requestTimeoutMs ?? cluster.options.requestTimeoutMs;
    this.groupCoordinators = new GroupCoordinators(cluster);
    // The producer keeps the topics written in the client's metadata refreshes until close(). Without
    // that, a client whose consumer has topics of interest refreshes only those, and a leader move of
    // an output partition is never learnt (the producer retried a deposed leader for ever).
    this.sender = new Producer(
      cluster,
      {
        acks: -1,
        idempotent: true,
        requestTimeoutMs: this.requestTimeoutMs,
        ...(options.maxBatchBytes === undefined ? {} : { maxRequestSize: options.maxBatchBytes }),
      },
      retry,
      logger,
      () => {},
      { transactionalId: options.transactionalId, onFailure: (err) => this.writeFailed(err) },
    );
  }

  get transactionalId(): string {
    return this.options.transactionalId;
  }

  /** The producer id and epoch in use (for tools and tests). */
  get producerIdentity(): { producerId: number; producerEpoch: number } {
    return { ...this.identity };
  }

  /**
   * Registers this producer as the transactional id's one live producer (Kafka's initTransactions):
   * older incarnations are fenced and their open transaction aborted. Called by the first begin().
   */
  async init(): Promise<void> {
    this.checkUsable();
    const response = await this.coordinatorCall('InitProducerId', () => ({
      transactionalId: this.options.transactionalId,
      transactionTimeoutMs: this.timeoutMs,
      producerId: -1,
      producerEpoch: -1,
    }));
    this.identity = { producerId: response.producerId, producerEpoch: response.producerEpoch };
    this.sender.useTransactionIdentity(this.identity);
    this.state = 'ready';
    this.logger.debug({ transactionalId: this.transactionalId, ...this.identity }, 'transactional producer ready');
  }

  /**
   * The first begin() after an EndTxn whose outcome is unknown: InitProducerId naming this producer
   * (KIP-360) lets its coordinator complete or abort that transaction and bump the epoch, unless a newer
   * incarnation fenced this producer meanwhile: then ProducerFenced, and it stays fenced. A fresh
   * InitProducerId (init()) would fence that newer incarnation instead, bringing this zombie back.
   */
  private async recover(): Promise<void> {
    this.checkUsable();
    const response = await this.reinitialize();
    this.identity = { producerId: response.producerId, producerEpoch: response.producerEpoch };
    this.sender.useTransactionIdentity(this.identity);
    this.state = 'ready';
    this.logger.debug({ transactionalId: this.transactionalId, ...this.identity }, 'transactional producer recovered');
  }

  async begin(): Promise<void> {
    if (this.state === 'uninitialized') await (this.identity.producerId >= 0 ? this.recover() : this.init());
    this.checkUsable();
    if (this.state === 'in-transaction') {
      throw new SamsaClientError(ErrorCodes.INVALID_TXN_STATE, 'a transaction is already open', { retriable: false });
    }
    this.state = 'in-transaction';
    this.failure = undefined;
  }

  /** Sends a record in the open transaction; resolves with its offset once every in-sync replica has it. */
  send(record: ProducerRecord): Promise<RecordMetadata> {
    if (this.state !== 'in-transaction' || this.ending) {
      return Promise.reject(
        new SamsaClientError(
          ErrorCodes.INVALID_TXN_STATE,
          this.ending ? 'send() while the transaction commits or aborts' : 'send() needs an open transaction (begin())',
          { retriable: false },
        ),
      );
    }
    const info = this.cluster.topics.get(record.topic);
    if (info !== undefined && info.partitions.length > 0) return this.sendTo(record, info);
    // commit() waits for the lookup too: the record was sent before it. A record that cannot be sent
    // fails the transaction, as a refused write does.
    const lookup = this.cluster.topic(record.topic);
    this.awaitingMetadata.add(lookup);
    const sent = lookup.then((known) => this.sendTo(record, known));
    void lookup.then(
      () => this.awaitingMetadata.delete(lookup),
      (err: unknown) => {
        this.awaitingMetadata.delete(lookup);
        this.failure ??= err;
      },
    );
    return sent;
  }

  /** Picks the partition (the key's, or round robin) and hands the record to the producer. */
  private sendTo(record: ProducerRecord, info: TopicInfo): Promise<RecordMetadata> {
    const count = info.partitions.length;
    const key = record.key === undefined || record.key === null ? null : toBytes(record.key);
    let partition = record.partition;
    if (partition === undefined) {
      partition = key !== null ? kafkaPartitionForKey(key, count) : this.roundRobin++ % count;
    } else if (!(Number.isInteger(partition) && partition >= 0 && partition < count)) {
      return Promise.reject(
        new SamsaClientError(
          ErrorCodes.UNKNOWN_TOPIC_OR_PARTITION,
          `partition ${partition} does not exist; ${record.topic} has ${count}`,
          { topic: record.topic, partition, retriable: false },
        ),
      );
    }
    this.written = true;
    return this.sender.send({ ...record, key, partition }).catch((err: unknown) => {
      throw abortableError(err);
    });
  }

  /**
   * Commits a consumer's offsets in the open transaction (KIP-98, KIP-447): the group's
   * __consumer_offsets partition joins the transaction (AddOffsetsToTxn), then the group coordinator
   * takes the offsets (TxnOffsetCommit) fenced by the consumer's member id and epoch, so a member that
   * lost its partitions to a rebalance cannot commit them. Without `offsets`, the consumer's
   * positions. A refusal fails the transaction (abort it); ProducerFenced fences this producer.
   */
  async sendOffsets(input: SendOffsetsInput): Promise<void> {
    if (this.state !== 'in-transaction' || this.ending) {
      throw new SamsaClientError(ErrorCodes.INVALID_TXN_STATE, 'sendOffsets() needs an open transaction (begin())', {
        retriable: false,
      });
    }
    const explicit = 'consumer' in input ? input.offsets : undefined;
    for (const o of explicit ?? [])
      if (!Number.isSafeInteger(o.offset) || o.offset < 0)
        throw new SamsaClientError(ErrorCodes.INVALID_REQUEST, `cannot commit offset ${o.offset}`, {
          topic: o.topic,
          partition: o.partition,
          retriable: false,
        });
    const source = 'consumer' in input ? input.consumer : input;
    let group: GroupMetadata;
    let offsets: readonly CommitOffset[];
    let stillCurrent: (() => boolean) | undefined;
    try {
      // The source checks explicit offsets too; they are what is committed.
      const answer = source.offsetsForTransaction(explicit);
      group = answer.group;
      offsets = explicit === undefined ? answer.offsets : withSourceEpochs(explicit, answer.offsets);
      stillCurrent = answer.stillCurrent;
    } catch (err) {
      // The records whose output this transaction holds cannot have their offsets committed: it must abort.
      this.failure ??= err;
      throw err;
    }
    if (offsets.length === 0) return;
    const commit = this.commitOffsetsInTxn(group, offsets);
    this.offsetCommits.add(commit);
    try {
      await commit;
      // The assignment changed while they were on their way: its next owner (this member again, maybe
      // under the same epoch number) may have read the committed offset before they arrived.
      if (stillCurrent !== undefined && !stillCurrent())
        throw new SamsaClientError(
          ErrorCodes.STALE_MEMBER_EPOCH,
          `the consumer's assignment changed while the offsets of group ${group.groupId} were being sent; ` +
            'abort the transaction',
          { retriable: false },
        );
    } catch (err) {
      this.failure ??= err;
      throw err;
    } finally {
      this.offsetCommits.delete(commit);
    }
  }

  private async commitOffsetsInTxn(group: GroupMetadata, offsets: readonly CommitOffset[]): Promise<void> {
    let added = this.offsetGroups.get(group.groupId);
    if (added === undefined) {
      added = this.coordinatorCall('AddOffsetsToTxn', () => ({
        transactionalId: this.transactionalId,
        ...this.identity,
        groupId: group.groupId,
      })).then(() => undefined);
      this.offsetGroups.set(group.groupId, added);
      added.catch(() => this.offsetGroups.delete(group.groupId));
    }
    await added;
    const deadline = Date.now() + this.cluster.options.defaultApiTimeoutMs;
    const response = await withRetries(
      async () => {
        const answer = await this.groupCoordinators.callWithRetries(
          group.groupId,
          'TxnOffsetCommit',
          () => txnOffsetCommitRequest(this.transactionalId, this.identity, group, offsets),
          groupErrorCode,
          { deadline },
        );
        const failure = firstTxnCommitFailure(answer);
        if (failure === undefined) return answer;
        this.noteRefusal(failure.code);
        const error = errorFromCode(failure.code, `TxnOffsetCommit for group ${group.groupId}: ${failure.message}`);
        // Retriable: the transaction coordinator could not verify the partition yet, or moved.
        if (error.retriable) throw error;
        throw abortableError(new SamsaClientError(error, error.detail, { retriable: false }));
      },
      { retry: { ...this.retry, retries: Number.MAX_SAFE_INTEGER }, deadline },
    );
    this.logger.debug(
      { transactionalId: this.transactionalId, groupId: group.groupId, partitions: response.topics.length },
      'offsets sent to the transaction',
    );
  }

  /** Waits for every record sent, then commits the transaction (all its records become visible together). */
  async commit(): Promise<void> {
    await this.endTransaction(true);
  }

  /** Waits for the records in flight, then aborts the transaction (read_committed consumers never see them). */
  async abort(): Promise<void> {
    await this.endTransaction(false);
  }

  /**
   * Runs `work` in a transaction: commits when it resolves, aborts when it throws (and rethrows).
   * Returns what `work` returned.
   */
  async transaction<T>(work: (tx: Transaction) => Promise<T>): Promise<T> {
    await this.begin();
    let result: T;
    try {
      result = await work(this);
    } catch (err) {
      await this.abortAfterFailure();
      throw err;
    }
    try {
      await this.commit();
    } catch (err) {
      // Refused before EndTxn (a record of it failed): left open, it would hold read_committed readers
      // back until its timeout and refuse the next begin(). An EndTxn with no answer is not retried here.
      if (this.state === 'in-transaction') await this.abortAfterFailure();
      throw err;
    }
    return result;
  }

  private async abortAfterFailure(): Promise<void> {
    await this.abort().catch((abortErr: unknown) =>
      this.logger.warn({ err: abortErr, transactionalId: this.transactionalId }, 'abort after a failure failed'),
    );
  }

  async close(): Promise<void> {
    if (this.state === 'closed') return;
    if (this.state === 'in-transaction') await this.abort().catch(() => undefined);
    this.state = 'closed';
    await this.sender.close();
    this.onClose(this);
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  private checkUsable(): void {
    if (this.state === 'closed') throw new SamsaClientError(ErrorCodes.INVALID_TXN_STATE, 'producer closed');
    if (this.state === 'fenced') {
      throw new SamsaClientError(
        ErrorCodes.PRODUCER_FENCED,
        `a newer producer with transactional id ${this.transactionalId} fenced this one`,
        { retriable: false },
      );
    }
  }

  private async endTransaction(commit: boolean): Promise<void> {
    this.checkUsable();
    if (this.state !== 'in-transaction') {
      throw new SamsaClientError(ErrorCodes.INVALID_TXN_STATE, 'no open transaction', { retriable: false });
    }
    if (this.ending) {
      throw new SamsaClientError(ErrorCodes.INVALID_TXN_STATE, 'the transaction is already committing or aborting', {
        retriable: false,
      });
    }
    this.ending = true;
    try {
      await this.endOpenTransaction(commit);
    } finally {
      this.ending = false;
    }
  }

  private async endOpenTransaction(commit: boolean): Promise<void> {
    await Promise.allSettled([...this.awaitingMetadata, ...this.offsetGroups.values(), ...this.offsetCommits]);
    // Every record sent goes out now, whole batches or not, and is answered before EndTxn.
    await this.sender.flush();
    if (commit && this.epochBumpNeeded) throw mustAbort(this.failure);
    if (commit && this.failure !== undefined) {
      throw new SamsaClientError(ErrorCodes.INVALID_TXN_STATE, 'a record of this transaction failed: abort it', {
        cause: this.failure,
        retriable: false,
      });
    }
    try {
      let next: { producerId: number; producerEpoch: number } | undefined;
      if (this.epochBumpNeeded) next = await this.reinitialize();
      else if (this.written || this.offsetGroups.size > 0) {
        next = await this.endTxn({ transactionalId: this.transactionalId, ...this.identity, committed: commit });
      }
      if (next !== undefined) {
        this.identity = { producerId: next.producerId, producerEpoch: next.producerEpoch };
        this.sender.useTransactionIdentity(this.identity);
      }
      this.epochBumpNeeded = false;
      if (this.state === 'in-transaction') this.state = 'ready';
    } catch (err) {
      // The outcome is unknown (all or nothing, either way): the next begin() starts over with
      // InitProducerId naming this producer (recover), which waits for the transaction to complete, or
      // aborts it. A commit refused as abortable (the coordinator aborted it at its timeout) stays open
      // for abort().
      if (this.state === 'in-transaction' && !this.epochBumpNeeded) this.state = 'uninitialized';
      throw abortableError(err);
    } finally {
      this.written = false;
      this.offsetGroups.clear();
    }
  }

  /**
   * EndTxn. An abort answered InvalidTxnState found nothing open: no leader has added a partition of
   * the transaction yet. That is not "never will": a write that failed here (timed out) may still be
   * on its way, and its leader would add its partition at this epoch and append it in the next
   * transaction, sequence 0 again (joining it, or standing for its first record as a duplicate). So
   * the epoch is bumped all the same (InitProducerId naming this producer, KIP-360): such a late
   * write is then refused, or the transaction it opened is aborted first.
   */
  private async endTxn(request: BrokerRpcs['EndTxn'][0]): Promise<{ producerId: number; producerEpoch: number }> {
    try {
      return await this.coordinatorCall('EndTxn', () => request);
    } catch (err) {
      const nothingOpen = err instanceof SamsaClientError && err.code === ErrorCodes.INVALID_TXN_STATE.code;
      if (request.committed || !nothingOpen || this.offsetGroups.size > 0) throw err;
      return this.reinitialize();
    }
  }

  /**
   * InitProducerId naming this producer (KIP-360): aborts its open transaction, if the coordinator still
   * has one, and bumps the epoch. After a timeout the coordinator accepts the epoch before its own bump;
   * after a newer incarnation's it answers ProducerFenced, and this producer is fenced for good.
   */
  private reinitialize(): Promise<{ producerId: number; producerEpoch: number }> {
    return this.coordinatorCall('InitProducerId', () => ({
      transactionalId: this.options.transactionalId,
      transactionTimeoutMs: this.timeoutMs,
      ...this.identity,
    }));
  }

  /** A write failed for good: commit refuses, abort is the way out; a fenced producer is done. */
  private writeFailed(err: unknown): void {
    this.failure ??= err;
    if (err instanceof SamsaClientError) this.noteRefusal(err.code);
  }

  /**
   * ProducerFenced comes from the coordinator alone, which knows a newer incarnation fenced us. A newer
   * epoch at a partition (InvalidProducerEpoch) or an abortable refusal may be a timeout's: the abort
   * asks the coordinator (reinitialize).
   */
  private noteRefusal(code: number): void {
    if (code === ErrorCodes.PRODUCER_FENCED.code) this.state = 'fenced';
    else if (ABORT_WITH_NEW_EPOCH.has(code)) this.epochBumpNeeded = true;
  }

  /** A call to the transaction coordinator, finding it again while it moves, loads or is busy. */
  private async coordinatorCall<M extends 'InitProducerId' | 'AddPartitionsToTxn' | 'AddOffsetsToTxn' | 'EndTxn'>(
    method: M,
    request: () => BrokerRpcs[M][0],
  ): Promise<BrokerRpcs[M][1]> {
    const deadline = Date.now() + this.cluster.options.defaultApiTimeoutMs;
    return withRetries(
      async () => {
        const address = this.coordinator ?? (await this.findCoordinator());
        let response: BrokerRpcs[M][1];
        try {
          response = (await this.cluster.options.pool
            .get(address)
            .call(method as RpcName, request() as never, { timeoutMs: this.requestTimeoutMs })) as BrokerRpcs[M][1];
        } catch (err) {
          if (isConnectionFailure(err)) this.coordinator = undefined;
          throw err;
        }
        const code = (response as { errorCode: number }).errorCode;
        if (code === 0) return response;
        if (code !== ErrorCodes.CONCURRENT_TRANSACTIONS.code && COORDINATOR_RETRY.has(code))
          this.coordinator = undefined;
        this.noteRefusal(code);
        const message = (response as { errorMessage?: string }).errorMessage;
        const error = errorFromCode(code, `${method} for ${this.transactionalId}: ${message || 'refused'}`);
        if (COORDINATOR_RETRY.has(code)) throw error;
        throw new SamsaClientError(error, error.detail, { retriable: false });
      },
      { retry: { ...this.retry, retries: Number.MAX_SAFE_INTEGER }, deadline },
    );
  }

  private async findCoordinator(): Promise<string> {
    const response = await this.cluster.callAny('FindCoordinator', {
      keyType: TXN_KEY_TYPE,
      keys: [this.transactionalId],
    });
    const answer = response.coordinators[0];
    if (answer?.errorCode !== 0) {
      throw errorFromCode(
        answer?.errorCode ?? ErrorCodes.COORDINATOR_NOT_AVAILABLE.code,
        `no coordinator for transactional id ${this.transactionalId}: ${answer?.errorMessage ?? ''}`,
      );
    }
    this.coordinator = brokerAddress(answer.host, answer.port);
    return this.coordinator;
  }
}

/**
 * Explicit offsets as they are committed, each without a leaderEpoch taking the one the source gave it
 * back with (a consumer fills in its position's epoch, KIP-320), if the source answered them in order.
 */
function withSourceEpochs(explicit: readonly CommitOffset[], answered: readonly CommitOffset[]): CommitOffset[] {
  return explicit.map((o, i) => {
    const a = answered[i];
    const same = a !== undefined && a.topic === o.topic && a.partition === o.partition && a.offset === o.offset;
    return o.leaderEpoch !== undefined || !same || a.leaderEpoch === undefined
      ? o
      : { ...o, leaderEpoch: a.leaderEpoch };
  });
}

function txnOffsetCommitRequest(
  transactionalId: string,
  identity: { producerId: number; producerEpoch: number },
  group: GroupMetadata,
  offsets: readonly CommitOffset[],
): BrokerRpcs['TxnOffsetCommit'][0] {
  const byTopic = new Map<string, v1.OffsetCommitPartition[]>();
  for (const o of offsets) {
    const list = byTopic.get(o.topic) ?? [];
    byTopic.set(o.topic, list);
    list.push({
      partition: o.partition,
      committedOffset: o.offset,
      committedLeaderEpoch: committedEpochOf(o),
      committedMetadata: o.metadata ?? '',
    });
  }
  return {
    transactionalId,
    groupId: group.groupId,
    ...identity,
    memberId: group.memberId,
    generationIdOrMemberEpoch: group.memberEpoch,
    ...(group.groupInstanceId !== undefined ? { groupInstanceId: group.groupInstanceId } : {}),
    topics: [...byTopic].map(([name, partitions]) => ({ name, partitions })),
  };
}

function firstTxnCommitFailure(
  response: BrokerRpcs['TxnOffsetCommit'][1],
): { code: number; message: string } | undefined {
  if (response.errorCode !== 0) return { code: response.errorCode, message: response.errorMessage || 'refused' };
  for (const t of response.topics)
    for (const p of t.partitions)
      if (p.errorCode !== 0) return { code: p.errorCode, message: `${t.name}-${p.partition}: ${p.errorMessage}` };
  return undefined;
}

function toBytes(value: Uint8Array | string | null | undefined): Buffer | null {
  if (value === null || value === undefined) return null;
  return typeof value === 'string'
    ? Buffer.from(value, 'utf8')
    : Buffer.from(value.buffer, value.byteOffset, value.byteLength);
}

export interface TransactionListing {
  readonly transactionalId: string;
  readonly producerId: number;
  /** Empty, Ongoing, PrepareCommit, PrepareAbort, CompleteCommit, CompleteAbort or Dead. */
  readonly state: string;
}

export interface TransactionDescription extends TransactionListing {
  readonly producerEpoch: number;
  readonly transactionTimeoutMs: number;
  /** -1 when no transaction is open. */
  readonly transactionStartTimeMs: number;
  readonly partitions: readonly { topic: string; partition: number }[];
}

/** A producer as a partition's leader keeps it (Kafka's DescribeProducers). */
export interface ProducerState {
  readonly producerId: number;
  readonly producerEpoch: number;
  /** -1: no batch since the last epoch bump. */
  readonly lastSequence: number;
  readonly lastTimestampMs: number;
  /** -1: no marker written for this producer yet. */
  readonly coordinatorEpoch: number;
  /** -1: no transaction open on the partition. */
  readonly currentTransactionStartOffset: number;
}

/** States in which a coordinator still ends the transaction itself. */
const OPEN_AT_COORDINATOR = new Set(['Ongoing', 'PrepareCommit', 'PrepareAbort']);

/** Kafka's Admin listTransactions, describeTransactions, describeProducers, abortTransaction (kafka-transactions). */
export class TransactionAdmin {
  constructor(private readonly cluster: Cluster) {}

  /** Every broker's transactions (each answers for the __transaction_state partitions it leads). */
  async listTransactions(options: { states?: readonly string[] } = {}): Promise<TransactionListing[]> {
    await this.cluster.refresh([], true);
    const answers = await Promise.all(
      [...this.cluster.brokers.values()].map((b) =>
        this.cluster.options.pool
          .get(b.address)
          .call(
            'ListTransactions',
            { stateFilters: [...(options.states ?? [])] },
            { timeoutMs: this.cluster.options.requestTimeoutMs },
          ),
      ),
    );
    const out = new Map<string, TransactionListing>();
    for (const answer of answers) {
      if (answer.errorCode !== 0) throw errorFromCode(answer.errorCode, answer.errorMessage || undefined);
      for (const t of answer.transactions) out.set(t.transactionalId, { ...t });
    }
    return [...out.values()].sort((a, b) => a.transactionalId.localeCompare(b.transactionalId));
  }

  /** The producers the leader of `topic`-`partition` keeps state for. */
  async describeProducers(topic: string, partition: number): Promise<ProducerState[]> {
    const answer = await this.atLeader(topic, partition, (connection) =>
      connection.call('DescribeProducers', { topic, partition }, { timeoutMs: this.cluster.options.requestTimeoutMs }),
    );
    return answer.producers.map((p) => ({
      producerId: p.producerId,
      producerEpoch: p.producerEpoch,
      lastSequence: p.lastSequence,
      lastTimestampMs: p.lastTimestampMs,
      coordinatorEpoch: p.coordinatorEpoch,
      currentTransactionStartOffset: p.currentTxnStartOffset,
    }));
  }

  /**
   * Ends a hanging transaction (kafka-transactions.sh abort): the producer whose open transaction on
   * `topic`-`partition` starts at `startOffset` gets an abort marker there, written by the partition's
   * leader, one epoch above the producer's (so its later writes at that epoch are refused). A transaction
   * its coordinator still has open (Ongoing, Prepare*) is refused unless `force`: the coordinator ends
   * it itself, and aborting one it commits would tear it. Resolves with the producer aborted.
   */
  async abortTransaction(options: {
    topic: string;
    partition: number;
    startOffset: number;
    force?: boolean;
  }): Promise<ProducerState> {
    const { topic, partition, startOffset } = options;
    const producers = await this.describeProducers(topic, partition);
    const hanging = producers.find((p) => p.currentTransactionStartOffset === startOffset);
    if (hanging === undefined)
      throw new SamsaClientError(
        ErrorCodes.INVALID_TXN_STATE,
        `no open transaction on ${topic}-${partition} starts at offset ${startOffset}`,
        { retriable: false },
      );
    if (!options.force) await this.refuseIfOpenAtCoordinator(hanging.producerId, topic, partition);
    const marker = {
      producerId: hanging.producerId,
      producerEpoch: hanging.producerEpoch + 1,
      committed: false,
      coordinatorEpoch: hanging.coordinatorEpoch,
      topics: [{ name: topic, partitions: [partition] }],
    };
    await this.atLeader(topic, partition, async (connection) => {
      const answer = await connection.call(
        'WriteTxnMarkers',
        { markers: [marker] },
        { timeoutMs: this.cluster.options.requestTimeoutMs },
      );
      const result = answer.markers[0]?.partitions[0];
      return result ?? { errorCode: ErrorCodes.UNKNOWN_SERVER_ERROR.code, errorMessage: 'no answer for the partition' };
    });
    return hanging;
  }

  private async refuseIfOpenAtCoordinator(producerId: number, topic: string, partition: number): Promise<void> {
    for (const listed of await this.listTransactions()) {
      if (listed.producerId !== producerId || !OPEN_AT_COORDINATOR.has(listed.state)) continue;
      const described = await this.describeTransaction(listed.transactionalId).catch(() => undefined);
      if (described?.partitions.some((p) => p.topic === topic && p.partition === partition))
        throw new SamsaClientError(
          ErrorCodes.INVALID_TXN_STATE,
          `the transaction of ${listed.transactionalId} (producer ${producerId}) is ${listed.state} at its ` +
            'coordinator, which ends it (or aborts it at its timeout): not hanging (force to abort it anyway)',
          { retriable: false },
        );
    }
  }

  /** Runs `call` on the partition's leader, once more after a metadata refresh if it moved. */
  private async atLeader<T extends { errorCode: number; errorMessage: string }>(
    topic: string,
    partition: number,
    call: (connection: NonNullable<ReturnType<Cluster['connection']>>) => Promise<T>,
  ): Promise<T> {
    await this.cluster.topic(topic);
    for (let attempt = 0; ; attempt++) {
      const connection = this.cluster.connection(this.cluster.leaderOf(topic, partition));
      const answer = connection
        ? await call(connection)
        : ({ errorCode: ErrorCodes.LEADER_NOT_AVAILABLE.code, errorMessage: 'no leader' } as T);
      if (answer.errorCode === 0) return answer;
      if (attempt >= 3 || !needsMetadataRefresh(answer.errorCode))
        throw errorFromCode(answer.errorCode, `${topic}-${partition}: ${answer.errorMessage || 'refused'}`);
      await this.cluster.refresh([topic]);
    }
  }

  /** Describes one transactional id at its coordinator; TransactionalIdNotFound when it has none. */
  async describeTransaction(transactionalId: string): Promise<TransactionDescription> {
    const response = await this.cluster.callAny('FindCoordinator', { keyType: TXN_KEY_TYPE, keys: [transactionalId] });
    const c = response.coordinators[0];
    if (c?.errorCode !== 0) {
      throw errorFromCode(c?.errorCode ?? ErrorCodes.COORDINATOR_NOT_AVAILABLE.code, c?.errorMessage || undefined);
    }
    const answer = await this.cluster.options.pool.get(brokerAddress(c.host, c.port)).call(
      'DescribeTransactions',
      { transactionalIds: [transactionalId] },
      {
        timeoutMs: this.cluster.options.requestTimeoutMs,
      },
    );
    const d = answer.transactions[0];
    if (d === undefined || d.errorCode !== 0) {
      throw errorFromCode(d?.errorCode ?? ErrorCodes.UNKNOWN_SERVER_ERROR.code, d?.errorMessage || undefined);
    }
    return {
      transactionalId: d.transactionalId,
      producerId: d.producerId,
      producerEpoch: d.producerEpoch,
      state: d.state,
      transactionTimeoutMs: d.transactionTimeoutMs,
      transactionStartTimeMs: d.transactionStartTimeMs,
      partitions: d.topics.flatMap((t) => t.partitions.map((partition) => ({ topic: t.name, partition }))),
    };
  }
}
