import {
  ErrorCodes,
  decodeBatches,
  type RecordBatch,
  type RecordFactory,
  type RecordHeader,
  type v1,
} from '@samsa/protocol';
import type { Cluster } from './cluster.js';
import {
  AbortError,
  ClosedError,
  CommitFailedError,
  LogTruncationError,
  OffsetOutOfRangeError,
  SamsaClientError,
  errorFromCode,
  needsMetadataRefresh,
  topicNameError,
} from './errors.js';
import type { Logger } from './logger.js';
import {
  EARLIEST_TIMESTAMP,
  LATEST_TIMESTAMP,
  listOffsets,
  type OffsetAnswer,
  type PartitionOffset,
  type TopicPartition,
} from './offsets.js';
import { backoffMs, type RetryOptions } from './retry.js';
import type { BrokerConnection, CorrelatedStream, FetchOnStream } from './transport.js';
import { Wakeup } from './wakeup.js';
import { GroupRequiredError } from './errors.js';
import type { CommitCheck, CommitOffset, CommittedOffset } from './group/offsets.js';
import {
  type GroupConsumerHost,
  type GroupMetadata,
  type GroupOptions,
  GroupSession,
  type RebalanceListener,
} from './group/session.js';

export interface ConsumerOptions extends GroupOptions {
  /** Long poll: how long the broker may hold a Fetch waiting for minBytes (Kafka's fetch.max.wait.ms, 500). */
  maxWaitMs?: number;
  /** Kafka's fetch.min.bytes, 1. */
  minBytes?: number;
  /** Bytes per Fetch response (Kafka's fetch.max.bytes, 50 MiB). */
  maxBytes?: number;
  /** Bytes per partition per Fetch (Kafka's max.partition.fetch.bytes, 1 MiB). */
  maxPartitionFetchBytes?: number;
  /**
   * Where to start when a partition has no position, or its position is out of range:
   * 'latest' (Kafka's default), 'earliest', or 'none' (throw OffsetOutOfRangeError / refuse to start).
   */
  autoOffsetReset?: 'earliest' | 'latest' | 'none';
  /** Deadline of each Fetch on top of maxWaitMs; defaults to the client's requestTimeoutMs. */
  requestTimeoutMs?: number;
  /**
   * Kafka's isolation.level. 'read_uncommitted' (the default) reads up to the high watermark, records of
   * open and aborted transactions included; 'read_committed' reads up to the last stable offset and
   * skips the records of aborted transactions. Control records (transaction markers) are never returned.
   */
  isolationLevel?: 'read_uncommitted' | 'read_committed';
}

type FetchOptions = Pick<
  ConsumerOptions,
  | 'maxWaitMs'
  | 'minBytes'
  | 'maxBytes'
  | 'maxPartitionFetchBytes'
  | 'autoOffsetReset'
  | 'requestTimeoutMs'
  | 'isolationLevel'
>;

export interface ConsumedMessage {
  readonly topic: string;
  readonly partition: number;
  readonly offset: number;
  /** ms since the epoch (create time, or log append time if the topic uses it). */
  readonly timestamp: number;
  readonly key: Buffer | null;
  readonly value: Buffer | null;
  readonly headers: readonly RecordHeader[];
}

/** The records of one partition from one fetch, as `batches()` yields them. */
export interface ConsumedBatch {
  readonly topic: string;
  readonly partition: number;
  readonly messages: readonly ConsumedMessage[];
  /** The partition's high watermark when fetched. */
  readonly highWatermark: number;
  /**
   * The partition's last stable offset when fetched: below it every transaction has ended (the high
   * watermark when none is open). A read_committed consumer reads no further.
   */
  readonly lastStableOffset: number;
  /**
   * Records after this batch the consumer could read when it was fetched (Kafka's records-lag): the high
   * watermark minus the position after the batch, for read_committed the last stable offset minus it
   * (an open transaction's records are not readable until it ends).
   */
  readonly lag: number;
  /**
   * The leader epoch the partition's log had after this batch (that of its last record batch, skipped
   * control or aborted ones included; Kafka's ConsumerRecord.leaderEpoch, KIP-320). An application that
   * keeps its positions elsewhere stores it with the offset after the batch and gives both back to seek(),
   * so that the position is validated against the leader's log before the consumer reads from it.
   */
  readonly leaderEpoch: number;
}

export type AssignmentSpec = TopicPartition | { topic: string; partition?: undefined };

/** A partition's fetch and commit state, kept by the consumer. */
class PartitionState {
  /** Next offset handed to the application; undefined until reset by policy or seek. */
  position: number | undefined;
  /**
   * The leader epoch of the record before `position` (its batch's partitionLeaderEpoch), -1 when unknown
   * (a position from seek, autoOffsetReset or the group's committed offset).
   */
  positionEpoch = -1;
  /** Next offset to fetch (ahead of position while a chunk is buffered). */
  fetchOffset = 0;
  /**
   * The leader epoch of the record before `fetchOffset` (of the last batch fetched), -1 when unknown: after
   * a leader change, the new leader is asked where that epoch ends in its log before the next fetch (KIP-320).
   */
  fetchEpoch = -1;
  /**
   * The leader epoch (as the metadata had it) the fetch position is known to be good under: that of the
   * last fetch sent, or of the last validation. A newer one in the metadata is a leader change: the
   * position is validated (validateFrom) before the partition is fetched again.
   */
  checkedEpoch = -1;
  /** An OffsetForLeaderEpoch is on its way for the partition (validateFrom): it is not fetched meanwhile. */
  validating = false;
  /** Bumped by seek: buffered and in-flight data of an older generation is dropped. */
  generation = 0;
  buffered = false;
  inFlight = false;
  resetting = false;
  retryAtMs = 0;
  attempts = 0;
  /**
   * The leader epoch (as the metadata had it) of the partition's last fetch, -1 before one: a backoff is
   * for the leader of that epoch, so a newer one in the metadata ends it (see leaderMovedSince).
   */
  lastFetchEpoch = -1;
  /**
   * Backing off after a failure that suggests its leader moved (unreachable, refused, none known): the
   * metadata is polled until it names a new one (pollMetadataForLeader).
   */
  awaitsLeader = false;
  /** Bumped by each fetch sent and by giving one up: the answer to an older fetch is dropped. */
  fetchSeq = 0;
  /** When the fetch in flight was sent (Date.now()). */
  fetchSentAtMs = 0;
  /** As the partition's last successful fetch answered them (-1 before one). */
  highWatermark = -1;
  lastStableOffset = -1;
  /** Out of range with autoOffsetReset 'none': stopped until seek. */
  stopped = false;
  /** Not fetched: being revoked, or assigned and waiting for the application's onPartitionsAssigned. */
  paused = false;
  /**
   * Offset after the last message the application has finished with (it asked for the next one):
   * what auto-commit commits. `position` is ahead of it by the message in hand.
   */
  consumed: number | undefined;
  /** The leader epoch of the record before `consumed` (as positionEpoch for position): committed with it. */
  consumedEpoch = -1;
  /** The last offset this consumer committed for the partition (auto-commit only moves it forward). */
  committed: number | undefined;
  /** The position fell out of the log: autoOffsetReset decides, not the group's committed offset. */
  outOfRange = false;
  /** Some of its records were handed to the application (the consumer's handedOut names it). */
  handedOut = false;
  /**
   * A transaction was refused this partition's offsets because an earlier assignment's records may be in
   * it (offsetsForTransaction): that transaction aborts with them, so its positions go into later ones.
   */
  oldRecordsAborted = false;

  constructor(
    readonly topic: string,
    readonly partition: number,
  ) {}
}

/** One partition's records from one fetch, waiting to be handed out. */
interface Chunk {
  readonly state: PartitionState;
  readonly generation: number;
  /** Built by the decoder as messages (messageFactory): handed to the application as they are. */
  readonly records: ConsumedMessage[];
  /** Where the partition's position goes once the chunk is consumed. */
  readonly nextOffset: number;
  /** The leader epochs of the records (of the last batch, for nextOffset). */
  readonly epochs: ChunkEpochs;
  readonly highWatermark: number;
  readonly lastStableOffset: number;
}

/**
 * What MessageIterator and the group session do to a consumer. The consumer builds it over private
 * methods and hands it only to them, so none of it is part of the consumer's public face.
 */
interface ConsumerInternals extends GroupConsumerHost {
  beginIteration(): void;
  endIteration(): void;
  hold(state: PartitionState): void;
  release(done: boolean): void;
  resumeAfter(chunk: Chunk): void;
  nextChunk(signal: AbortSignal | undefined): Promise<Chunk | undefined>;
  awaitsValidation(state: PartitionState): boolean;
  validation(state: PartitionState, signal: AbortSignal | undefined): Promise<boolean>;
}

const tpKey = (topic: string, partition: number) => `${topic}\0${partition}`;

/** gRPC's UNIMPLEMENTED status: the broker does not know the method. */
const GRPC_UNIMPLEMENTED = 12;

function isUnimplemented(err: unknown): boolean {
  return err instanceof SamsaClientError && (err.cause as { code?: unknown } | undefined)?.code === GRPC_UNIMPLEMENTED;
}

/** The refusals that may carry a KIP-951 leader hint. */
const HINTED_ERRORS: ReadonlySet<number> = new Set([
  ErrorCodes.NOT_LEADER_OR_FOLLOWER.code,
  ErrorCodes.FENCED_LEADER_EPOCH.code,
]);

/**
 * A fetch unanswered this long past its maxWaitMs is stalled (the broker paused or cut off?): the consumer
 * looks for a new leader in the metadata (the cluster's STALLED_REQUEST_MS, for other requests).
 */
const STALLED_FETCH_MS = 1000;

/** seekToTimestamp's fallback when not even the end could be listed. */
const NO_OFFSET = { offset: 0, leaderEpoch: -1 } as const;

/** Kafka's consumer close timeout. */
const DEFAULT_CLOSE_TIMEOUT_MS = 30_000;

/** Decoded records become messages directly: one object per record, not a record and a copy. */
function messageFactory(topic: string, partition: number): RecordFactory {
  // The object is both a KafkaRecord (what the decoder returns) and a ConsumedMessage.
  return (key, value, headers, timestamp, offset) => ({ topic, partition, offset, timestamp, key, value, headers });
}

/**
 * An assignment-based consumer. A background fetcher keeps at most one Fetch in flight and at most one
 * undelivered chunk per partition: while the application works through one chunk, the next is being
 * fetched (pipelining), and prefetched memory stays bounded (maxPartitionFetchBytes per partition,
 * maxBytes per response).
 */
export class Consumer implements AsyncIterable<ConsumedMessage>, AsyncDisposable {
  private readonly options: Required<FetchOptions>;
  private readonly partitions = new Map<string, PartitionState>();
  private readonly chunks: Chunk[] = [];
  private readonly controller = new AbortController();
  private readonly topicsOfInterest = new Set<string>();
  private errors: unknown[] = [];
  private waiter: (() => void) | undefined;
  private iterating = false;
  private started = false;
  private tickScheduled = false;
  private readonly wakeup = new Wakeup(() => this.tick());
  /** Unsubscribes from the cluster's metadata updates (a new leader ends a partition's backoff). */
  private readonly stopWatchingMetadata: () => void;
  /** Metadata polls while a fetch is stalled (pollMetadataWhileStalled): the count sets the gap to the next. */
  private stallPolls = 0;
  private nextStallPollMs = 0;
  /** When the metadata may be asked again for partitions awaiting a new leader (pollMetadataForLeader). */
  private nextLeaderPollMs = 0;
  private closed = false;
  private closing: Promise<void> | undefined;
  private mode: 'none' | 'assign' | 'subscribe' = 'none';
  /** The group's membership and offsets; undefined without a groupId. */
  private readonly group: GroupSession | undefined;
  private readonly internals: ConsumerInternals;
  /** The partition of the message (or batch) the application holds: handed out, not yet finished with. */
  private held: PartitionState | undefined;
  private releaseWaiters: Array<() => void> = [];
  /** How many times a message or batch was handed to the application: the poll timer sees it move. */
  private handOuts = 0;
  /**
   * Per partition, the assignment (its PartitionState) whose records were last handed to the application.
   * A transaction may commit a partition's offsets only while that assignment is still the member's: one
   * dropped and made again (fenced and rejoined, revoked and assigned back) reads from the committed offset
   * again, so the records handed out before are being handed out twice (see offsetsForTransaction).
   */
  private readonly handedOut = new Map<string, PartitionState>();
  /**
   * This consumer's FetchStream to each broker it fetches from: a fetch is a message on it rather than
   * a call of its own (an HTTP/2 stream, headers and a deadline per fetch). Closed with the consumer, so
   * its long polls end then; a broken one is replaced on the next fetch.
   */
  private readonly fetchStreams = new Map<
    BrokerConnection,
    { stream: CorrelatedStream<'FetchStream'>; fetch: FetchOnStream }
  >();
  /** Connections to brokers that do not serve FetchStream (older ones): a unary Fetch call per fetch there. */
  private readonly unaryFetch = new WeakSet<BrokerConnection>();

  constructor(
    private readonly cluster: Cluster,
    options: ConsumerOptions,
    private readonly retry: RetryOptions,
    private readonly logger: Logger,
    private readonly onClose: (consumer: Consumer) => void,
  ) {
    this.options = {
      maxWaitMs: options.maxWaitMs ?? 500,
      minBytes: options.minBytes ?? 1,
      maxBytes: options.maxBytes ?? 52_428_800,
      maxPartitionFetchBytes: options.maxPartitionFetchBytes ?? 1_048_576,
      autoOffsetReset: options.autoOffsetReset ?? 'latest',
      requestTimeoutMs: options.requestTimeoutMs ?? cluster.options.requestTimeoutMs,
      isolationLevel: options.isolationLevel ?? 'read_uncommitted',
    };
    this.internals = this.makeInternals();
    this.stopWatchingMetadata = cluster.onUpdate(() => this.tick());
    if (options.groupId !== undefined) this.group = new GroupSession(this.internals, cluster, options, retry, logger);
  }

  /** The machinery MessageIterator and the group session drive; users never see it. */
  private makeInternals(): ConsumerInternals {
    const mode = () => this.mode;
    return {
      get assignMode() {
        return mode() === 'assign';
      },
      pausePartitions: (tps) => this.pausePartitions(tps),
      releaseOf: (states) => this.releaseOf(states),
      applicationProbe: () => ({ holding: this.held !== undefined, handOuts: this.handOuts }),
      addPartitions: (tps, paused) => this.addPartitions(tps, paused),
      resumePartitions: (tps) => this.resumePartitions(tps),
      removePartitions: (tps) => this.removePartitions(tps),
      offsetsToCommit: (which, only) => this.offsetsToCommit(which, only),
      assignmentCheck: (list) =>
        this.assignmentCheck(
          list,
          list.map((o) => o.state as PartitionState),
        ),
      reportError: (err) => this.fail(err),
      beginIteration: () => this.beginIteration(),
      endIteration: () => this.endIteration(),
      hold: (state) => this.hold(state),
      release: (done) => this.release(done),
      resumeAfter: (chunk) => this.resumeAfter(chunk),
      nextChunk: (signal) => this.nextChunk(signal),
      awaitsValidation: (state) => this.awaitsValidation(state),
      validation: (state, signal) => this.validation(state, signal),
    };
  }

  /** The consumer group, or a GroupRequiredError naming what needed it. */
  private requireGroup(operation: string): GroupSession {
    if (this.group === undefined) throw new GroupRequiredError(operation);
    return this.group;
  }

  /**
   * Joins the consumer group and consumes the partitions it assigns to this member, of `topics` or of
   * every topic whose whole name matches `pattern` (JavaScript syntax; flags are ignored), including
   * topics created later. Partitions start at the group's committed offsets (autoOffsetReset where
   * there are none). `listener` is told of partitions assigned, revoked (commit there if you commit
   * yourself) and lost. Calling it again changes the subscription. Needs a groupId.
   */
  subscribe(topics: readonly string[] | RegExp, listener: RebalanceListener = {}): void {
    this.checkOpen();
    const group = this.requireGroup('subscribe()');
    if (this.mode === 'assign')
      throw new SamsaClientError(ErrorCodes.INVALID_REQUEST, 'subscribe() after assign(): use one or the other', {
        retriable: false,
      });
    if (!(topics instanceof RegExp)) {
      for (const topic of topics) {
        const invalid = topicNameError(topic);
        if (invalid) throw invalid;
      }
    }
    this.mode = 'subscribe';
    group.subscribe(topics, listener);
  }

  /**
   * Commits offsets to the group: `offsets` as given (the next offset to read, i.e. the last
   * processed record's offset + 1), or without them the position of every partition, which counts
   * the message in hand as processed. Resolves once the commit is replicated; rejects with the
   * coordinator's error (e.g. UnknownMemberId after the member was expelled), or with CommitFailedError
   * (StaleMemberEpoch) when a partition's records were handed out under an assignment this member no
   * longer has: it was fenced and rejoined, or the partition was revoked or lost, before the commit was
   * sent or while it was on its way. Nothing is committed then; those records come again from the
   * committed offset to the partition's owner (maybe this member), so go on consuming.
   *
   * Each offset carries the leader epoch of the record before it (KIP-320): the position's, or for an
   * explicit offset its `leaderEpoch`, else the partition's position's or finished-with offset's epoch
   * when it is one of them. A member starting from the committed offset validates it with that epoch.
   */
  async commit(offsets?: readonly CommitOffset[]): Promise<void> {
    // Allowed while closing: the listener's onPartitionsRevoked commits during close().
    if (this.closed) throw new ClosedError('consumer');
    const group = this.requireGroup('commit()');
    const list = offsets === undefined ? this.offsetsToCommit('position') : this.withEpochs(offsets);
    const owners = this.checkHandedOut(list, offsets === undefined);
    await group.offsets.commit(list, this.controller.signal, this.assignmentCheck(list, owners));
    list.forEach((o, i) => {
      const state = owners[i];
      if (state !== undefined && this.partitions.get(tpKey(o.topic, o.partition)) === state) state.committed = o.offset;
    });
  }

  /**
   * A group member's commit must be of records handed out under the partitions' current assignment: one
   * dropped and made again (fenced and rejoined, revoked and assigned back) reads from the committed
   * offset again, and the member's epoch has moved on, so the coordinator would take such a commit under
   * the new epoch. Throws CommitFailedError for the first such partition (or, with `held`, when the
   * message in hand is one); returns the assignment (PartitionState) each offset is committed under.
   */
  private checkHandedOut(list: readonly CommitOffset[], held: boolean): Array<PartitionState | undefined> {
    const owners = list.map((o) => this.partitions.get(tpKey(o.topic, o.partition)));
    if (this.mode !== 'subscribe') return owners;
    const heldState = held ? this.held : undefined;
    const stale =
      list.find((o) => this.staleOffset(o, false)) ??
      (heldState !== undefined && this.handedOutElsewhere(heldState.topic, heldState.partition)
        ? heldState
        : undefined);
    if (stale !== undefined)
      throw new CommitFailedError(
        stale.topic,
        stale.partition,
        'its records were handed out under an assignment this member no longer has (fenced, revoked or lost since)',
      );
    return owners;
  }

  /**
   * The check a commit runs before each attempt: every partition is still under `owners[i]`, the
   * assignment its offsets belong to. A StaleMemberEpoch retry under the member's newer epoch is then
   * legitimate (the epoch moved for another reason: a partition assigned elsewhere, another member
   * joined); after a fence and rejoin, a revocation or a loss it would commit stale offsets.
   */
  private assignmentCheck(
    list: readonly TopicPartition[],
    owners: readonly (PartitionState | undefined)[],
  ): CommitCheck | undefined {
    if (this.mode !== 'subscribe') return undefined;
    return () => {
      const moved = list.find((o, i) => this.partitions.get(tpKey(o.topic, o.partition)) !== owners[i]);
      if (moved === undefined) return undefined;
      return new CommitFailedError(
        moved.topic,
        moved.partition,
        'its assignment changed while the commit was on its way (fenced and rejoined, revoked or lost)',
      );
    };
  }

  /** Group, member id and epoch of this member (Kafka's groupMetadata()); needs a groupId. */
  groupMetadata(): GroupMetadata {
    return this.requireGroup('groupMetadata()').metadata();
  }

  /**
   * What a transactional producer's `sendOffsets(consumer)` commits in its transaction: this member's
   * group metadata and `offsets`, or without them the position of every partition it has one for (the
   * message in hand counts as processed, as with commit()). Exactly-once needs `enableAutoCommit: false`
   * (the offsets are the transaction's to commit) and `isolationLevel: 'read_committed'` (no aborted
   * input, stable offsets): a consumer set up otherwise is refused with InvalidConfig.
   *
   * The member epoch fences the commit, so it must be the one the records were handed out under (Kafka's
   * consumer changes its assignment only inside poll(); this one's membership runs in the background).
   * A partition whose records were handed out under an assignment the member no longer has (it was fenced
   * and rejoined, or the partition was revoked or lost, maybe assigned back and read again from the
   * committed offset) is refused with StaleMemberEpoch, as is any commit while the application holds
   * such records: the transaction must abort, and the records are processed again by their new owner.
   * The partition's position under its new assignment goes into the transactions after that abort.
   */
  offsetsForTransaction(offsets?: readonly CommitOffset[]): {
    readonly group: GroupMetadata;
    readonly offsets: CommitOffset[];
    readonly stillCurrent: () => boolean;
  } {
    const group = this.requireGroup('sendOffsets()');
    if (group.autoCommitEnabled || this.options.isolationLevel !== 'read_committed')
      throw new SamsaClientError(
        ErrorCodes.INVALID_CONFIG,
        'a consumer whose offsets a transaction commits needs enableAutoCommit: false and ' +
          "isolationLevel: 'read_committed'",
        { retriable: false },
      );
    const list: CommitOffset[] =
      offsets === undefined
        ? this.offsetsToCommit('position').map(({ topic, partition, offset, leaderEpoch }) => ({
            topic,
            partition,
            offset,
            leaderEpoch,
          }))
        : this.withEpochs(offsets);
    const held = this.held;
    const stale = list.find((o) => this.staleOffset(o, true));
    const staleHeld = held !== undefined && this.handedOutElsewhere(held.topic, held.partition) ? held : undefined;
    const where = stale ?? staleHeld;
    if (where !== undefined) {
      // The refusal aborts the transaction, and with it any of the old records it held: the positions of
      // partitions that have handed nothing out since may go into the next one (else an idle partition,
      // given back with nothing new to read, would refuse every transaction).
      for (const o of list) {
        const current = this.partitions.get(tpKey(o.topic, o.partition));
        if (current !== undefined && current.position === o.offset) current.oldRecordsAborted = true;
      }
      throw new SamsaClientError(
        ErrorCodes.STALE_MEMBER_EPOCH,
        `${where.topic}-${where.partition}: its records were handed out under an assignment this member ` +
          'no longer has (fenced, revoked or lost since); abort the transaction',
        { topic: where.topic, partition: where.partition, retriable: false },
      );
    }
    // The metadata is taken with the check. A fence while the offsets are on their way is not always
    // refused by the coordinator (older ones gave a member rejoining an unchanged group its old epoch
    // number back), and the partition's next assignment may have read the committed offset before they
    // arrived: sendOffsets asks stillCurrent() once they are in, and fails the transaction if not.
    const states = list.map((o) => this.partitions.get(tpKey(o.topic, o.partition)));
    const stillCurrent = () => list.every((o, i) => this.partitions.get(tpKey(o.topic, o.partition)) === states[i]);
    return { group: group.metadata(), offsets: list, stillCurrent };
  }

  /**
   * An offset to commit that may cover records handed out under an earlier assignment of its partition.
   * One at the current assignment's position is that assignment's own (it has handed nothing out yet, and
   * hands the old records out again from there): a plain commit of it loses nothing. A transaction may
   * still hold the old records' output, so it is refused there until a refusal has aborted one.
   */
  private staleOffset(o: CommitOffset, transaction: boolean): boolean {
    if (!this.handedOutElsewhere(o.topic, o.partition)) return false;
    const current = this.partitions.get(tpKey(o.topic, o.partition));
    if (current === undefined || current.position !== o.offset) return true;
    return transaction && !current.oldRecordsAborted;
  }

  /** Records of the partition were handed out under an assignment other than its current one (or none). */
  private handedOutElsewhere(topic: string, partition: number): boolean {
    const key = tpKey(topic, partition);
    const handed = this.handedOut.get(key);
    return handed !== undefined && this.partitions.get(key) !== handed;
  }

  /**
   * The group's committed offsets of `partitions` (default: this consumer's), with the leader epoch each
   * was committed with; offset (and epoch) -1 where there is none.
   */
  async committed(partitions?: readonly TopicPartition[]): Promise<CommittedOffset[]> {
    if (this.closed) throw new ClosedError('consumer');
    const group = this.requireGroup('committed()');
    return group.offsets.fetch(partitions ?? this.assignment(), this.controller.signal);
  }

  /**
   * Offsets given to commit, each without a leaderEpoch taking that of the partition's position (or of
   * what was finished with) when it is that offset: the epoch of the record before it is then known.
   */
  private withEpochs(offsets: readonly CommitOffset[]): CommitOffset[] {
    return offsets.map((o) => {
      if (o.leaderEpoch !== undefined) return o;
      const state = this.partitions.get(tpKey(o.topic, o.partition));
      if (state === undefined) return o;
      if (state.position === o.offset) return { ...o, leaderEpoch: state.positionEpoch };
      if (state.consumed === o.offset) return { ...o, leaderEpoch: state.consumedEpoch };
      return o;
    });
  }

  /** Offsets of partitions with a position: their position, or what was finished with. */
  private offsetsToCommit(
    which: 'position' | 'consumed',
    only?: ReadonlySet<object>,
  ): Array<CommitOffset & { leaderEpoch: number; state: PartitionState }> {
    const list: Array<CommitOffset & { leaderEpoch: number; state: PartitionState }> = [];
    for (const state of this.partitions.values()) {
      if (only !== undefined && !only.has(state)) continue;
      const offset = which === 'position' ? state.position : state.consumed;
      if (offset === undefined) continue;
      // Auto-commit never moves an offset back behind one committed here (seek resets that).
      if (which === 'consumed' && state.committed !== undefined && offset <= state.committed) continue;
      // KIP-320: the epoch of the last record before the offset goes with it.
      const leaderEpoch = which === 'position' ? state.positionEpoch : state.consumedEpoch;
      list.push({ topic: state.topic, partition: state.partition, offset, leaderEpoch, state });
    }
    return list;
  }

  /** Stops fetching `tps` at once (buffered data dropped); they stay assigned until removed. */
  private pausePartitions(tps: readonly TopicPartition[]): Set<PartitionState> {
    const states = new Set<PartitionState>();
    for (const tp of tps) {
      const state = this.partitions.get(tpKey(tp.topic, tp.partition));
      if (!state) continue;
      state.paused = true;
      state.generation++;
      state.buffered = false;
      states.add(state);
    }
    // An iterator waiting for one of them to be validated goes on to other partitions.
    this.notify();
    return states;
  }

  /** Resolves once the application is done with the message it holds, if it is from `states` (or any). */
  private releaseOf(states: ReadonlySet<object> | undefined): Promise<void> {
    if (this.held === undefined || (states !== undefined && !states.has(this.held)) || this.closed)
      return Promise.resolve();
    return new Promise((resolve) => this.releaseWaiters.push(resolve));
  }

  /** The application finished with the message it held (`done`), or let it go unfinished. */
  private release(done: boolean): void {
    const held = this.held;
    if (held === undefined) return;
    this.held = undefined;
    if (done) {
      held.consumed = held.position;
      held.consumedEpoch = held.positionEpoch;
    }
    if (this.releaseWaiters.length > 0) for (const resolve of this.releaseWaiters.splice(0)) resolve();
  }

  private hold(state: PartitionState): void {
    this.held = state;
    this.handOuts++;
    if (!state.handedOut) {
      state.handedOut = true;
      this.handedOut.set(tpKey(state.topic, state.partition), state);
    }
  }

  /** Adds partitions paused (the application's onPartitionsAssigned may seek), then resumes them. */
  private addPartitions(tps: readonly TopicPartition[], paused: boolean): void {
    for (const { topic, partition } of tps) {
      const key = tpKey(topic, partition);
      const state = this.partitions.get(key) ?? new PartitionState(topic, partition);
      state.paused = paused;
      this.partitions.set(key, state);
    }
    this.updateInterest();
    this.tick();
  }

  private resumePartitions(tps: readonly TopicPartition[]): void {
    for (const tp of tps) {
      const state = this.partitions.get(tpKey(tp.topic, tp.partition));
      if (state) state.paused = false;
    }
    this.tick();
  }

  /** Removes partitions (all without `tps`) from the assignment; returns what was removed. */
  private removePartitions(tps?: readonly TopicPartition[]): TopicPartition[] {
    const removed: TopicPartition[] = [];
    const keys = tps ? tps.map((tp) => tpKey(tp.topic, tp.partition)) : [...this.partitions.keys()];
    for (const key of keys) {
      const state = this.partitions.get(key);
      if (!state) continue;
      state.generation++;
      this.partitions.delete(key);
      removed.push({ topic: state.topic, partition: state.partition });
    }
    this.notify();
    this.updateInterest();
    return removed;
  }

  /** Keeps metadata fresh for the topics of the assignment (reference counted in the cluster). */
  private updateInterest(): void {
    const topics = new Set([...this.partitions.values()].map((s) => s.topic));
    for (const topic of topics) if (!this.topicsOfInterest.has(topic)) this.cluster.addInterest(topic);
    for (const topic of this.topicsOfInterest) if (!topics.has(topic)) this.cluster.removeInterest(topic);
    this.topicsOfInterest.clear();
    for (const topic of topics) this.topicsOfInterest.add(topic);
  }

  /**
   * Replaces the assignment. `{ topic }` without a partition means every partition of the topic (as the
   * metadata says now: it waits for a topic that does not exist yet, up to the client's
   * defaultApiTimeoutMs or until `signal` aborts). Partitions kept keep their positions; new ones
   * start per autoOffsetReset. A name no topic can have is InvalidTopic at once.
   */
  async assign(specs: readonly AssignmentSpec[], options: { signal?: AbortSignal } = {}): Promise<void> {
    this.checkOpen();
    if (this.mode === 'subscribe')
      throw new SamsaClientError(ErrorCodes.INVALID_REQUEST, 'assign() after subscribe(): use one or the other', {
        retriable: false,
      });
    this.mode = 'assign';
    for (const spec of specs) {
      const invalid = topicNameError(spec.topic);
      if (invalid) throw invalid;
    }
    const wanted: TopicPartition[] = [];
    for (const spec of specs) {
      if (spec.partition !== undefined) {
        wanted.push({ topic: spec.topic, partition: spec.partition });
      } else {
        const info = await this.cluster.topic(spec.topic, undefined, options.signal);
        for (let p = 0; p < info.partitions.length; p++) wanted.push({ topic: spec.topic, partition: p });
      }
    }
    const next = new Map<string, PartitionState>();
    for (const { topic, partition } of wanted) {
      const key = tpKey(topic, partition);
      next.set(key, this.partitions.get(key) ?? new PartitionState(topic, partition));
    }
    for (const [key, state] of this.partitions) if (!next.has(key)) state.generation++;
    this.notify();
    this.partitions.clear();
    for (const [key, state] of next) this.partitions.set(key, state);
    this.updateInterest();
    this.group?.startAutoCommit();
    this.tick();
  }

  assignment(): TopicPartition[] {
    return [...this.partitions.values()].map(({ topic, partition }) => ({ topic, partition }));
  }

  /** Next offset the application will receive from this partition; undefined before it is known. */
  position(tp: TopicPartition): number | undefined {
    return this.state(tp).position;
  }

  /**
   * Moves the position; the next message from this partition is the one at `offset` (or the first after it).
   * With `leaderEpoch` (the epoch of the record before `offset`, as a ConsumedBatch gave it), the position
   * is validated against the leader's log before the consumer reads from it (KIP-320): records stored
   * elsewhere that the log no longer has are reported as after a leader change (LogTruncationError with
   * autoOffsetReset 'none', otherwise the position moves back to where the logs diverge).
   */
  seek(target: TopicPartition & { offset: number; leaderEpoch?: number }): void {
    const state = this.state(target);
    const epoch = target.leaderEpoch ?? -1;
    if (!Number.isSafeInteger(target.offset) || target.offset < 0 || !Number.isSafeInteger(epoch) || epoch < -1) {
      const what = Number.isSafeInteger(epoch) && epoch >= -1 ? `offset ${target.offset}` : `leader epoch ${epoch}`;
      throw new SamsaClientError(ErrorCodes.INVALID_REQUEST, `cannot seek to ${what}`, {
        topic: target.topic,
        partition: target.partition,
        retriable: false,
      });
    }
    state.generation++;
    state.position = target.offset;
    state.consumed = target.offset;
    state.committed = undefined;
    state.fetchOffset = target.offset;
    // Without an epoch the position is not validated after a leader change; with one, at once (checkedEpoch).
    state.positionEpoch = state.fetchEpoch = state.consumedEpoch = epoch;
    if (epoch >= 0) state.checkedEpoch = -1;
    state.buffered = false;
    state.stopped = false;
    state.retryAtMs = 0;
    this.tick();
  }

  /**
   * Seeks to the log start offset of the given (default: all assigned) partitions; resolves with the
   * offset of each, naming its partition, in the order asked.
   */
  seekToBeginning(tps?: readonly TopicPartition[]): Promise<PartitionOffset[]> {
    return this.seekToListed(tps, EARLIEST_TIMESTAMP);
  }

  /**
   * Seeks past the last record (the high watermark; for a read_committed consumer the last stable offset,
   * so an open transaction's records are received once it commits): only records from now on are received.
   */
  seekToEnd(tps?: readonly TopicPartition[]): Promise<PartitionOffset[]> {
    return this.seekToListed(tps, LATEST_TIMESTAMP);
  }

  /**
   * Seeks to the first record with a timestamp at or after `timestampMs` (the end if there is none);
   * resolves with each partition's new position, naming the partition (as Kafka's offsetsForTimes).
   */
  seekToTimestamp(timestampMs: number, tps?: readonly TopicPartition[]): Promise<PartitionOffset[]> {
    if (!Number.isSafeInteger(timestampMs) || timestampMs < 0) {
      throw new SamsaClientError(ErrorCodes.INVALID_REQUEST, `invalid timestamp ${timestampMs}`, { retriable: false });
    }
    return this.seekToListed(tps, timestampMs);
  }

  private async seekToListed(
    tps: readonly TopicPartition[] | undefined,
    timestamp: number,
  ): Promise<PartitionOffset[]> {
    this.checkOpen();
    const targets = tps ?? this.assignment();
    for (const tp of targets) this.state(tp);
    const answers = await listOffsets(
      this.cluster,
      targets.map((tp) => ({ ...tp, timestamp })),
      this.controller.signal,
      this.options.isolationLevel,
    );
    let needEnd: TopicPartition[] = answers.filter((a) => a.offset < 0);
    const ends =
      needEnd.length > 0
        ? await listOffsets(
            this.cluster,
            needEnd.map((tp) => ({ ...tp, timestamp: LATEST_TIMESTAMP })),
            this.controller.signal,
            this.options.isolationLevel,
          )
        : [];
    needEnd = [];
    const endByKey = new Map(ends.map((a) => [tpKey(a.topic, a.partition), a]));
    return answers.map((a) => {
      const { offset, leaderEpoch } = a.offset >= 0 ? a : (endByKey.get(tpKey(a.topic, a.partition)) ?? NO_OFFSET);
      this.seek({ topic: a.topic, partition: a.partition, offset });
      this.listedEpoch(this.state(a), leaderEpoch);
      return { topic: a.topic, partition: a.partition, offset };
    });
  }

  /**
   * A position from ListOffsets: the leader's epoch it came with (latest's; -1 otherwise) is the position's,
   * and the position is good under it, so it is validated after a later leader change (KIP-320).
   */
  private listedEpoch(state: PartitionState, leaderEpoch: number): void {
    if (leaderEpoch < 0) return;
    state.positionEpoch = state.fetchEpoch = state.consumedEpoch = leaderEpoch;
    state.checkedEpoch = leaderEpoch;
  }

  private state(tp: TopicPartition): PartitionState {
    const state = this.partitions.get(tpKey(tp.topic, tp.partition));
    if (!state)
      throw new SamsaClientError(
        ErrorCodes.INVALID_REQUEST,
        `${tp.topic}-${tp.partition} is not assigned to this consumer`,
        { ...tp, retriable: false },
      );
    return state;
  }

  private checkOpen(): void {
    if (this.closed || this.closing) throw new ClosedError('consumer');
  }

  [Symbol.asyncIterator](): AsyncIterableIterator<ConsumedMessage> {
    return this.messages();
  }

  /**
   * Messages in offset order per partition. Ends when the consumer closes; throws AbortError when
   * `signal` aborts, and OffsetOutOfRangeError (autoOffsetReset 'none') or a non-retriable error
   * when fetching cannot go on. One iterator at a time.
   */
  messages(options: { signal?: AbortSignal } = {}): AsyncIterableIterator<ConsumedMessage> {
    return new MessageIterator(this.internals, options.signal);
  }

  /** Like messages(), one partition's fetched records at a time: cheaper when handling records in bulk. */
  async *batches(options: { signal?: AbortSignal } = {}): AsyncGenerator<ConsumedBatch, void, undefined> {
    const signal = options.signal;
    this.beginIteration();
    try {
      for (;;) {
        const chunk = await this.nextChunk(signal);
        if (chunk === undefined) return;
        const { state, records: messages } = chunk;
        state.position = chunk.nextOffset;
        state.positionEpoch = chunk.epochs.last;
        if (messages.length > 0) {
          this.hold(state);
          const { highWatermark, lastStableOffset, nextOffset } = chunk;
          const lag = Math.max(0, this.readableEnd(highWatermark, lastStableOffset) - nextOffset);
          const { topic, partition } = state;
          const leaderEpoch = chunk.epochs.last;
          yield { topic, partition, messages, highWatermark, lastStableOffset, lag, leaderEpoch };
          this.release(true);
        } else {
          state.consumed = state.position;
          state.consumedEpoch = state.positionEpoch;
        }
        if (signal?.aborted) throw new AbortError(signal);
      }
    } finally {
      this.release(false);
      this.iterating = false;
    }
  }

  /**
   * Kafka's currentLag (KIP-695): how many records of the partition after its position the consumer could
   * read as of the partition's last fetch: the high watermark minus the position, for read_committed the
   * last stable offset minus it (an open transaction's records are not readable yet). undefined until the
   * partition has a position and a fetch of it was answered.
   */
  currentLag(tp: TopicPartition): number | undefined {
    const { position, highWatermark, lastStableOffset } = this.state(tp);
    const end = this.readableEnd(highWatermark, lastStableOffset);
    return position === undefined || end < 0 ? undefined : Math.max(0, end - position);
  }

  /** Where this consumer's reads of a partition end: its isolation level's end of the log. */
  private readableEnd(highWatermark: number, lastStableOffset: number): number {
    return this.options.isolationLevel === 'read_committed' ? lastStableOffset : highWatermark;
  }

  /** Runs on the first next(), so an iterator never used holds nothing. */
  private beginIteration(): void {
    this.checkOpen();
    if (this.iterating)
      throw new SamsaClientError(ErrorCodes.INVALID_REQUEST, 'this consumer is already being iterated', {
        retriable: false,
      });
    this.iterating = true;
    this.started = true;
  }

  private endIteration(): void {
    this.iterating = false;
  }

  /** Leaves a chunk unfinished: its partition resumes right after the last message handed out. */
  private resumeAfter(chunk: Chunk): void {
    const { state, generation } = chunk;
    if (
      state.generation === generation &&
      state.position !== undefined &&
      this.partitions.get(tpKey(state.topic, state.partition)) === state
    ) {
      // Only the position moves back; what was finished with (and committed) stays as it was.
      const { consumed, consumedEpoch, committed, positionEpoch } = state;
      this.seek({ topic: state.topic, partition: state.partition, offset: state.position });
      state.consumed = consumed;
      state.consumedEpoch = consumedEpoch;
      state.committed = committed;
      state.positionEpoch = state.fetchEpoch = positionEpoch;
    }
  }

  /** The next current chunk, releasing its partition for the next fetch (pipelining). */
  private async nextChunk(signal: AbortSignal | undefined): Promise<Chunk | undefined> {
    this.tick();
    for (;;) {
      if (signal?.aborted) throw new AbortError(signal);
      if (this.errors.length > 0) throw this.errors.shift();
      if (this.closed) return undefined;
      const chunk = this.takeChunk();
      if (chunk !== undefined) {
        chunk.state.buffered = false;
        this.tick();
        return chunk;
      }
      await this.changed(signal);
    }
  }

  /** The first chunk that may be handed out: stale ones are dropped, ones awaiting validation stay queued. */
  private takeChunk(): Chunk | undefined {
    for (let i = 0; i < this.chunks.length; ) {
      const chunk = this.chunks[i] as Chunk;
      if (chunk.generation !== chunk.state.generation) this.chunks.splice(i, 1);
      else if (this.awaitsValidation(chunk.state)) i++;
      else return this.chunks.splice(i, 1)[0];
    }
    return undefined;
  }

  /**
   * KIP-320: the partition's position is being validated after a leader change, or will be at the next
   * tick. None of its fetched records is handed out meanwhile (as Kafka's consumer returns none from a
   * partition awaiting validation): they may be records the new leader never had, and truncated() drops
   * them.
   */
  private awaitsValidation(state: PartitionState): boolean {
    return state.validating || this.needsValidation(state);
  }

  /**
   * Waits until the partition's validation is over or its records are dropped (a seek, a revocation): true;
   * false once the consumer closes. Throws what the consumer fails with meanwhile (LogTruncationError, say)
   * and AbortError.
   */
  private async validation(state: PartitionState, signal: AbortSignal | undefined): Promise<boolean> {
    const generation = state.generation;
    this.tick();
    for (;;) {
      if (signal?.aborted) throw new AbortError(signal);
      if (this.errors.length > 0) throw this.errors.shift();
      if (this.closed) return false;
      if (state.generation !== generation || !this.awaitsValidation(state)) return true;
      await this.changed(signal);
    }
  }

  /** Until notify() (a chunk, an error, a validation done, close) or `signal` aborts. */
  private async changed(signal: AbortSignal | undefined): Promise<void> {
    await new Promise<void>((resolve) => {
      const onAbort = () => resolve();
      this.waiter = () => {
        signal?.removeEventListener('abort', onAbort);
        resolve();
      };
      signal?.addEventListener('abort', onAbort, { once: true });
    });
    this.waiter = undefined;
  }

  private notify(): void {
    this.waiter?.();
  }

  private tick(): void {
    if (this.tickScheduled || this.closed || !this.started) return;
    this.tickScheduled = true;
    queueMicrotask(() => {
      this.tickScheduled = false;
      this.fetchReady();
    });
  }

  /**
   * Starts one Fetch per broker for the fetchable partitions it leads: those with a position, no fetch
   * in flight and no undelivered chunk. Fetches are per partition set, not one per broker at a time, so
   * a long poll on idle partitions never holds up a busy partition whose chunk was just handed out.
   */
  private fetchReady(): void {
    if (this.closed) return;
    const now = Date.now();
    const toReset: PartitionState[] = [];
    const byLeader = new Map<number, PartitionState[]>();
    const toValidate = new Map<number, PartitionState[]>();
    let needMetadata = false;
    let stalled = false;
    const stalledBeforeMs = now - this.options.maxWaitMs - STALLED_FETCH_MS;
    for (const state of this.partitions.values()) {
      if (state.inFlight) {
        if (!this.leaderMovedSince(state)) {
          if (state.fetchSentAtMs <= stalledBeforeMs) stalled = true;
          // A timer may fire a little before Date.now() reaches its time: look again then.
          else this.wakeup.at(state.fetchSentAtMs + this.options.maxWaitMs + STALLED_FETCH_MS);
          continue;
        }
        this.abandonFetch(state);
      }
      if (state.resetting || state.validating || state.stopped || state.paused) continue;
      if (state.retryAtMs > now && !this.leaderMovedSince(state)) {
        if (!state.buffered) {
          this.wakeup.at(state.retryAtMs);
          needMetadata ||= state.awaitsLeader;
        }
        continue;
      }
      if (state.position === undefined) {
        if (!state.buffered) toReset.push(state);
        continue;
      }
      // A buffered partition is validated too (its chunk may hold records the new leader does not have).
      const validate = this.needsValidation(state);
      if (state.buffered && !validate) continue;
      const leader = this.cluster.leaderOf(state.topic, state.partition);
      if (leader < 0 || !this.cluster.brokers.has(leader)) {
        needMetadata = true;
        this.backOff(state, true);
        continue;
      }
      const into = validate ? toValidate : byLeader;
      let list = into.get(leader);
      if (!list) {
        list = [];
        into.set(leader, list);
      }
      list.push(state);
    }
    if (needMetadata) this.pollMetadataForLeader(now);
    if (stalled) this.pollMetadataWhileStalled(now);
    else this.stallPolls = 0;
    if (toReset.length > 0) void this.resetPositions(toReset);
    for (const [leader, states] of toValidate) void this.validateFrom(leader, states);
    for (const [leader, states] of byLeader) void this.fetchFrom(leader, states);
  }

  /**
   * KIP-320: the metadata names a leader epoch newer than the one the partition's fetch position is known to
   * be good under (a leader change, seen in the metadata or a refusal's hint), and the position's epoch is
   * known: the new leader may not have the records the old one gave out (acks=1 writes, an unclean
   * election), so it is asked where that epoch ends in its log before the partition is fetched again.
   */
  private needsValidation(state: PartitionState): boolean {
    if (state.fetchEpoch < 0) return false;
    const epoch = this.cluster.topics.get(state.topic)?.partitions[state.partition]?.leaderEpoch ?? -1;
    return epoch > state.checkedEpoch;
  }

  /**
   * OffsetForLeaderEpoch to the partitions' new leader, with their fetch positions' epochs (Kafka's
   * consumer validates its positions so after a leader change). A position past the end of its epoch in
   * the leader's log was truncated away: see truncated(). A broker without the RPC (an older one) leaves
   * positions unvalidated, as Kafka's consumer does with a broker too old for it. It is asked again at the
   * next leader change, not remembered as old: a rolling upgrade gives it the RPC under the same
   * connection object (the pool keeps one per address), and validation is rare enough to afford the ask.
   */
  private async validateFrom(leader: number, states: PartitionState[]): Promise<void> {
    const connection = this.cluster.connection(leader);
    if (!connection) {
      for (const state of states) this.backOff(state, true);
      this.tick();
      this.notify();
      return;
    }
    const asked = states.map((state) => ({
      state,
      generation: state.generation,
      fetchOffset: state.fetchOffset,
      fetchEpoch: state.fetchEpoch,
      currentLeaderEpoch: this.cluster.topics.get(state.topic)?.partitions[state.partition]?.leaderEpoch ?? -1,
    }));
    const topics = new Map<string, v1.OffsetForLeaderEpochPartition[]>();
    for (const a of asked) {
      a.state.validating = true;
      a.state.lastFetchEpoch = a.currentLeaderEpoch;
      const list = topics.get(a.state.topic) ?? [];
      list.push({ partition: a.state.partition, currentLeaderEpoch: a.currentLeaderEpoch, leaderEpoch: a.fetchEpoch });
      topics.set(a.state.topic, list);
    }
    try {
      const response = await connection.call(
        'OffsetForLeaderEpoch',
        { topics: [...topics].map(([name, partitions]) => ({ name, partitions })) },
        { timeoutMs: this.options.requestTimeoutMs, signal: this.controller.signal },
      );
      const byKey = new Map<string, v1.OffsetForLeaderEpochPartitionResponse__Output>();
      for (const t of response.topics) for (const p of t.partitions) byKey.set(tpKey(t.name, p.partition), p);
      for (const a of asked) {
        const answer = byKey.get(tpKey(a.state.topic, a.state.partition));
        // A seek (or a reassignment) meanwhile: the answer is about a position the partition no longer has.
        if (a.state.generation !== a.generation || a.state.fetchOffset !== a.fetchOffset) continue;
        if (answer === undefined) this.backOff(a.state);
        else this.validated(a.state, a.currentLeaderEpoch, answer);
      }
    } catch (err) {
      if (this.closed) return;
      if (isUnimplemented(err)) {
        this.logger.info({ broker: leader }, 'broker has no OffsetForLeaderEpoch; positions are not validated there');
        for (const a of asked) this.skipValidation(a.state);
        return;
      }
      this.logger.debug({ broker: leader, err }, 'position validation failed');
      if (!(err instanceof SamsaClientError && err.retriable)) this.fail(err);
      const stale = err instanceof SamsaClientError && needsMetadataRefresh(err.code);
      if (stale) this.cluster.requestRefresh();
      for (const a of asked) this.backOff(a.state, stale);
    } finally {
      for (const a of asked) a.state.validating = false;
      this.tick();
      // Records held back while it validated (awaitsValidation) may be handed out now.
      this.notify();
    }
  }

  /** No validation to be had: fetching goes on from the position as it is (the leader's epoch is taken). */
  private skipValidation(state: PartitionState): void {
    state.retryAtMs = 0;
    state.checkedEpoch = this.cluster.topics.get(state.topic)?.partitions[state.partition]?.leaderEpoch ?? -1;
  }

  /** The leader's answer to a validation asked under `leaderEpoch` (its epoch as the metadata had it then). */
  private validated(
    state: PartitionState,
    leaderEpoch: number,
    answer: v1.OffsetForLeaderEpochPartitionResponse__Output,
  ): void {
    if (answer.errorCode !== 0) {
      const err = errorFromCode(answer.errorCode, answer.errorMessage || undefined, {
        topic: state.topic,
        partition: state.partition,
      });
      if (!err.retriable) {
        state.stopped = true;
        this.fail(err);
        return;
      }
      const stale = needsMetadataRefresh(answer.errorCode);
      if (stale) this.cluster.requestRefresh();
      this.backOff(state, stale);
      return;
    }
    // The new leader answered: a backoff from a failure at the old one is over.
    state.attempts = 0;
    state.retryAtMs = 0;
    if (answer.endOffset < 0 || answer.leaderEpoch < 0) {
      // The leader knows no epoch at or below the position's (its log starts later, or is empty): as Kafka
      // does, the position is reset by autoOffsetReset.
      this.outOfRange(state, state.fetchOffset);
      return;
    }
    state.checkedEpoch = leaderEpoch;
    if (answer.endOffset < state.fetchOffset) this.truncated(state, answer.endOffset, answer.leaderEpoch);
  }

  /**
   * The leader's log diverges from what the partition fetched at `divergentOffset` (its records end there
   * in the fetch position's epoch). Buffered records past it are dropped. If the application was handed
   * none of them, fetching goes on from its position; otherwise autoOffsetReset 'none' stops the partition
   * with a LogTruncationError, and the others move the position back to `divergentOffset` (as Kafka's
   * consumer does: the new leader's records from there are read, none skipped) and log it.
   */
  private truncated(state: PartitionState, divergentOffset: number, divergentEpoch: number): void {
    const { topic, partition } = state;
    const position = state.position as number;
    state.generation++;
    state.buffered = false;
    const context = { topic, partition, position, positionEpoch: state.positionEpoch, divergentOffset };
    if (position <= divergentOffset) {
      this.logger.info(
        { ...context, fetchOffset: state.fetchOffset },
        'dropped fetched records the new leader has not',
      );
      state.fetchOffset = position;
      state.fetchEpoch = state.positionEpoch;
      return;
    }
    if (this.options.autoOffsetReset === 'none') {
      state.stopped = true;
      this.fail(new LogTruncationError(topic, partition, position, divergentOffset));
      return;
    }
    this.logger.warn(context, 'log truncation detected: moving the position back to where the logs diverge');
    state.position = state.consumed = state.fetchOffset = divergentOffset;
    state.positionEpoch = state.fetchEpoch = state.consumedEpoch = divergentEpoch;
    state.committed = undefined;
  }

  /**
   * While a partition backs off after a failure that suggests its leader moved (unreachable, refused,
   * none elected yet), the metadata is asked every initialRetryTimeMs (once per interval for the whole
   * consumer) rather than only at the partition's own growing retry times: a leader elected meanwhile
   * ends the backoff (leaderMovedSince) as soon as the metadata names it, as the producer does.
   */
  private pollMetadataForLeader(now: number): void {
    if (now >= this.nextLeaderPollMs) {
      this.cluster.requestRefresh();
      this.nextLeaderPollMs = now + this.retry.initialRetryTimeMs;
    }
    this.wakeup.at(this.nextLeaderPollMs);
  }

  /**
   * A fetch unanswered for maxWaitMs + STALLED_FETCH_MS is held by a broker that stopped answering (paused,
   * cut off) without closing its connection, or one that is slow: the metadata is asked at once and then
   * at gaps from initialRetryTimeMs doubling up to maxRetryTimeMs while it lasts, so that a leader elected
   * meanwhile ends the wait (fetchReady gives the fetch up) instead of the fetch's whole request timeout.
   */
  private pollMetadataWhileStalled(now: number): void {
    if (now >= this.nextStallPollMs) {
      this.cluster.requestRefresh();
      this.nextStallPollMs = now + backoffMs(this.stallPolls++, this.retry);
    }
    this.wakeup.at(this.nextStallPollMs);
  }

  /**
   * Gives up the partition's fetch in flight to a leader the metadata no longer names: the partition is
   * fetched from the new one, from the same offset, and the old fetch's answer, if it ever comes, is dropped.
   */
  private abandonFetch(state: PartitionState): void {
    this.logger.debug(
      { topic: state.topic, partition: state.partition, leaderEpoch: state.lastFetchEpoch },
      'leader moved while fetching: fetching from the new one',
    );
    state.fetchSeq++;
    state.inFlight = false;
  }

  /**
   * Whether the metadata names a leader for the partition, reachable, in an epoch newer than its last
   * fetch's: a partition backing off after that fetch failed (its leader died, refused, was unknown) is
   * fetched from the new leader at once rather than after the backoff, as the producer retries at a new
   * leader. Only a newer epoch counts, so a partition whose fetches keep failing is not fetched in a loop.
   */
  private leaderMovedSince(state: PartitionState): boolean {
    const info = this.cluster.topics.get(state.topic)?.partitions[state.partition];
    if (info === undefined || info.leader < 0 || !this.cluster.brokers.has(info.leader)) return false;
    return info.leaderEpoch > state.lastFetchEpoch;
  }

  /** Positions from autoOffsetReset for partitions that have none. */
  private async resetPositions(states: PartitionState[]): Promise<void> {
    for (const state of states) state.resetting = true;
    const generations = states.map((s) => s.generation);
    const stillWanted = (state: PartitionState, i: number) =>
      state.generation === generations[i] && state.position === undefined;
    try {
      let byPolicy = states;
      // A group's partitions start at its committed offsets; only an out-of-range position skips them.
      const fromGroup = this.group ? states.filter((s) => !s.outOfRange) : [];
      if (this.group && fromGroup.length > 0) {
        const committed = await this.group.offsets.fetch(fromGroup, this.controller.signal);
        fromGroup.forEach((state, i) => {
          const { offset, leaderEpoch } = committed[i] as CommittedOffset;
          if (offset < 0 || !stillWanted(state, states.indexOf(state))) return;
          state.position = state.consumed = state.committed = state.fetchOffset = offset;
          // KIP-320: a committed epoch validates the offset against the leader's log before it is read
          // from (as a seek with an epoch): records the group consumed may have been truncated away since.
          state.positionEpoch = state.fetchEpoch = state.consumedEpoch = leaderEpoch;
          if (leaderEpoch >= 0) state.checkedEpoch = -1;
        });
        byPolicy = states.filter((s, i) => stillWanted(s, i));
      }
      if (byPolicy.length > 0)
        await this.resetByPolicy(
          byPolicy,
          byPolicy.map((s) => generations[states.indexOf(s)] as number),
        );
    } catch (err) {
      if (!this.closed) this.fail(err);
    } finally {
      for (const state of states) state.resetting = false;
      this.tick();
    }
  }

  /** Positions from autoOffsetReset: the earliest or latest offset, or an error with 'none'. */
  private async resetByPolicy(states: PartitionState[], generations: number[]): Promise<void> {
    const policy = this.options.autoOffsetReset;
    if (policy === 'none') {
      for (const state of states) state.stopped = true;
      throw new SamsaClientError(
        ErrorCodes.OFFSET_OUT_OF_RANGE,
        `no position for ${states.map((s) => `${s.topic}-${s.partition}`).join(', ')} ` +
          `and autoOffsetReset is 'none': seek first`,
        { retriable: false },
      );
    }
    const answers = await listOffsets(
      this.cluster,
      states.map((s) => ({
        topic: s.topic,
        partition: s.partition,
        timestamp: policy === 'earliest' ? EARLIEST_TIMESTAMP : LATEST_TIMESTAMP,
      })),
      this.controller.signal,
      this.options.isolationLevel,
    );
    states.forEach((state, i) => {
      if (state.generation !== generations[i] || state.position !== undefined) return;
      const answer = answers[i] as OffsetAnswer;
      state.position = state.consumed = state.fetchOffset = answer.offset;
      state.positionEpoch = state.fetchEpoch = state.consumedEpoch = -1;
      this.listedEpoch(state, answer.leaderEpoch);
      state.outOfRange = false;
    });
  }

  private fail(err: unknown): void {
    this.errors.push(err);
    this.notify();
  }

  private async fetchFrom(leader: number, states: PartitionState[]): Promise<void> {
    const connection = this.cluster.connection(leader);
    if (!connection) {
      for (const state of states) this.backOff(state);
      this.cluster.requestRefresh();
      return;
    }
    const generations = states.map((s) => s.generation);
    const offsets = states.map((s) => s.fetchOffset);
    const sentAtMs = Date.now();
    const seqs = states.map((s) => ++s.fetchSeq);
    /** The partitions of this fetch that were not given up (abandonFetch) meanwhile. */
    const current = () => states.filter((s, i) => s.fetchSeq === seqs[i]);
    for (const state of states) {
      state.inFlight = true;
      state.fetchSentAtMs = sentAtMs;
      state.awaitsLeader = false;
    }
    this.wakeup.at(sentAtMs + this.options.maxWaitMs + STALLED_FETCH_MS);
    const topics = new Map<string, v1.FetchPartition[]>();
    for (const state of states) {
      let list = topics.get(state.topic);
      if (!list) {
        list = [];
        topics.set(state.topic, list);
      }
      const epoch = this.cluster.topics.get(state.topic)?.partitions[state.partition]?.leaderEpoch;
      state.lastFetchEpoch = epoch ?? -1;
      state.checkedEpoch = epoch ?? -1;
      list.push({
        partition: state.partition,
        fetchOffset: state.fetchOffset,
        partitionMaxBytes: this.options.maxPartitionFetchBytes,
        currentLeaderEpoch: epoch ?? -1,
      });
    }
    const request: v1.FetchRequest = {
      maxWaitMs: this.options.maxWaitMs,
      minBytes: this.options.minBytes,
      maxBytes: this.options.maxBytes,
      topics: [...topics].map(([name, partitions]) => ({ name, partitions })),
      isolationLevel: this.options.isolationLevel === 'read_committed' ? 1 : 0,
    };
    try {
      const timeoutMs = this.options.requestTimeoutMs + this.options.maxWaitMs;
      const response = this.unaryFetch.has(connection)
        ? await connection.call('Fetch', request, { timeoutMs, signal: this.controller.signal })
        : await this.fetchStream(connection)(request, timeoutMs);
      const byKey = new Map<string, v1.FetchPartitionResponse__Output>();
      for (const t of response.topics) for (const p of t.partitions) byKey.set(tpKey(t.name, p.partition), p);
      states.forEach((state, i) => {
        const result = byKey.get(tpKey(state.topic, state.partition));
        if (result && state.generation === generations[i] && state.fetchSeq === seqs[i])
          this.handlePartition(state, offsets[i] as number, result, response.nodeEndpoints);
      });
    } catch (err) {
      if (this.closed) return;
      if (isUnimplemented(err) && !this.unaryFetch.has(connection)) {
        // A broker from before FetchStream: the same fetch again at once, as a unary call.
        this.logger.info({ broker: leader }, 'broker has no FetchStream; fetching with a call per fetch');
        this.unaryFetch.add(connection);
        return;
      }
      // Given up for another leader (abandonFetch): its failure is no longer any partition's.
      if (current().length === 0) return;
      const retriable = err instanceof SamsaClientError && err.retriable;
      this.logger.debug({ broker: leader, err }, 'fetch failed');
      if (!retriable) this.fail(err);
      const stale = err instanceof SamsaClientError && needsMetadataRefresh(err.code);
      if (stale) this.cluster.requestRefresh();
      for (const state of current()) this.backOff(state, stale);
    } finally {
      for (const state of current()) state.inFlight = false;
      this.tick();
    }
  }

  /** The consumer's open FetchStream to `connection`'s broker, opened on first use and after it broke. */
  private fetchStream(connection: BrokerConnection): FetchOnStream {
    let open = this.fetchStreams.get(connection);
    if (open === undefined || open.stream.closed) {
      for (const [c, o] of this.fetchStreams) if (o.stream.closed) this.fetchStreams.delete(c);
      open = connection.openFetchStream();
      this.fetchStreams.set(connection, open);
    }
    return open.fetch;
  }

  /** `awaitsLeader`: the failure suggests the leader moved (pollMetadataForLeader polls until it is named). */
  private backOff(state: PartitionState, awaitsLeader = false): void {
    state.awaitsLeader = awaitsLeader;
    state.retryAtMs = Date.now() + backoffMs(state.attempts++, this.retry);
    this.wakeup.at(state.retryAtMs);
  }

  private handlePartition(
    state: PartitionState,
    fetchOffset: number,
    result: v1.FetchPartitionResponse__Output,
    endpoints: readonly v1.BrokerInfo__Output[],
  ): void {
    if (result.errorCode !== 0) {
      this.handlePartitionError(state, fetchOffset, result, endpoints);
      return;
    }
    state.attempts = 0;
    state.highWatermark = result.highWatermark;
    state.lastStableOffset = result.lastStableOffset;
    if (result.records.length === 0) return;
    let batches: RecordBatch[];
    try {
      batches = decodeBatches(result.records, {
        allowPartialTrailingBatch: true,
        recordFactory: messageFactory(state.topic, state.partition),
      });
    } catch (err) {
      // Corrupt bytes are retriable in the table: fetch again, maybe from another replica later.
      this.logger.warn({ topic: state.topic, partition: state.partition, fetchOffset, err }, 'corrupt fetch data');
      this.backOff(state);
      return;
    }
    if (batches.length === 0) return;
    const records: ConsumedMessage[] = [];
    const epochs = new ChunkEpochs();
    const aborted = new AbortedTransactions(result.abortedTransactions);
    for (const batch of batches) {
      if (aborted.skips(batch)) continue;
      // messageFactory made them.
      for (const message of batch.records as unknown as ConsumedMessage[])
        if (message.offset >= fetchOffset) records.push(message);
      epochs.add(records.length, batch.header.partitionLeaderEpoch);
    }
    const last = batches[batches.length - 1]!.header;
    const nextOffset = Math.max(fetchOffset, last.baseOffset + last.lastOffsetDelta + 1);
    // Skipped batches (control, aborted) count: the next fetch starts after them, in their epoch.
    epochs.last = last.partitionLeaderEpoch;
    state.fetchOffset = nextOffset;
    state.fetchEpoch = last.partitionLeaderEpoch;
    state.buffered = true;
    const { highWatermark, lastStableOffset } = result;
    const generation = state.generation;
    this.chunks.push({ state, generation, records, nextOffset, epochs, highWatermark, lastStableOffset });
    this.notify();
  }

  /** The fetch position is outside the leader's log: autoOffsetReset decides. */
  private outOfRange(state: PartitionState, fetchOffset: number): void {
    if (this.options.autoOffsetReset === 'none') {
      state.stopped = true;
      this.fail(new OffsetOutOfRangeError(state.topic, state.partition, fetchOffset));
    } else {
      this.logger.info(
        { topic: state.topic, partition: state.partition, fetchOffset, reset: this.options.autoOffsetReset },
        'offset out of range, resetting',
      );
      state.generation++;
      state.position = undefined;
      state.outOfRange = true;
    }
  }

  private handlePartitionError(
    state: PartitionState,
    fetchOffset: number,
    result: v1.FetchPartitionResponse__Output,
    endpoints: readonly v1.BrokerInfo__Output[],
  ): void {
    const err = errorFromCode(result.errorCode, result.errorMessage || undefined, {
      topic: state.topic,
      partition: state.partition,
    });
    if (result.errorCode === ErrorCodes.OFFSET_OUT_OF_RANGE.code) {
      this.outOfRange(state, fetchOffset);
      return;
    }
    if (!err.retriable) {
      state.stopped = true;
      this.fail(err);
      return;
    }
    // The partition is fetched again at once, from the leader the refusal named (tick() after the response).
    if (this.tookLeaderHint(state, result, endpoints)) return;
    const stale = needsMetadataRefresh(result.errorCode);
    if (stale) this.cluster.requestRefresh();
    this.backOff(state, stale);
  }

  /**
   * KIP-951: a refusal because this broker does not lead the partition (NotLeaderOrFollower,
   * FencedLeaderEpoch) may name the leader it knows of, its epoch and its address. Taken when its epoch
   * is newer than the metadata's (Cluster.applyLeaderHint: never back in epoch, and a broker the client
   * does not know only with its address): the next fetch goes there without a metadata request or a
   * backoff, from the same position. A hint that moves nothing leaves the refusal to the usual refresh
   * and backoff, so a partition whose leaders keep refusing is not fetched in a tight loop.
   */
  private tookLeaderHint(
    state: PartitionState,
    result: v1.FetchPartitionResponse__Output,
    endpoints: readonly v1.BrokerInfo__Output[],
  ): boolean {
    const { currentLeader, errorCode } = result;
    if (currentLeader === null || !HINTED_ERRORS.has(errorCode)) return false;
    return this.cluster.applyLeaderHint(state.topic, state.partition, currentLeader, endpoints);
  }

  /**
   * Stops fetching and ends any iteration (the iterator finishes normally). In a group, first commits
   * what was consumed (auto-commit), tells the listener its partitions are revoked and leaves the group
   * at once, so they move to other members without waiting for the session timeout; a static member
   * (groupInstanceId) leaves only for its session, to get them back when it restarts. A member closed
   * while fenced still leaves under the member id the coordinator knows. `timeoutMs`
   * (30000) bounds the commit and the leave.
   */
  close(options: { timeoutMs?: number } = {}): Promise<void> {
    if (this.closed) return Promise.resolve();
    this.closing ??= (async () => {
      // The message in hand is not finished with; a close() from inside the loop must not wait for it.
      this.release(false);
      if (this.group) await this.group.close(options.timeoutMs ?? DEFAULT_CLOSE_TIMEOUT_MS);
      this.closed = true;
      this.controller.abort();
      for (const { stream } of this.fetchStreams.values()) stream.fail(new ClosedError('consumer'));
      this.fetchStreams.clear();
      this.wakeup.stop();
      this.stopWatchingMetadata();
      for (const topic of this.topicsOfInterest) this.cluster.removeInterest(topic);
      this.chunks.length = 0;
      for (const resolve of this.releaseWaiters.splice(0)) resolve();
      this.notify();
      this.onClose(this);
    })();
    return this.closing;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}

const DONE: IteratorReturnResult<undefined> = Object.freeze({ done: true, value: undefined });

/**
 * messages(): a hand-written iterator rather than an async generator, because a generator costs
 * several promise turns per message; this one resolves at once while the current chunk lasts.
 * Position moves as the application receives; a seek while handling a message wins.
 */
class MessageIterator implements AsyncIterableIterator<ConsumedMessage> {
  private chunk: Chunk | undefined;
  private index = 0;
  private started = false;
  private finished = false;
  /** The application holds a message from this iterator (finished with when it asks for the next). */
  private holding = false;

  constructor(
    private readonly consumer: ConsumerInternals,
    private readonly signal: AbortSignal | undefined,
  ) {}

  [Symbol.asyncIterator](): this {
    return this;
  }

  next(): Promise<IteratorResult<ConsumedMessage, undefined>> {
    if (this.finished) return Promise.resolve(DONE);
    if (!this.started) {
      try {
        this.consumer.beginIteration();
      } catch (err) {
        this.finished = true;
        return Promise.reject(err);
      }
      this.started = true;
    }
    if (this.holding) {
      this.holding = false;
      this.consumer.release(true);
    }
    if (this.signal?.aborted) return this.fail(new AbortError(this.signal));
    const chunk = this.chunk;
    if (chunk !== undefined) {
      const { state, generation, records } = chunk;
      if (state.generation === generation && this.index < records.length) {
        if (this.consumer.awaitsValidation(state)) return this.afterValidation(state);
        const message = records[this.index++] as ConsumedMessage;
        state.position = message.offset + 1;
        state.positionEpoch = chunk.epochs.of(this.index - 1);
        this.consumer.hold(state);
        this.holding = true;
        return Promise.resolve({ done: false, value: message });
      }
      if (state.generation === generation) {
        state.position = state.consumed = chunk.nextOffset;
        state.positionEpoch = state.consumedEpoch = chunk.epochs.last;
      }
      this.chunk = undefined;
    }
    return this.nextChunk();
  }

  /** The chunk in hand waits for its partition's validation (KIP-320); then it goes on, or it was dropped. */
  private async afterValidation(state: PartitionState): Promise<IteratorResult<ConsumedMessage, undefined>> {
    try {
      if (!(await this.consumer.validation(state, this.signal))) return this.return();
    } catch (err) {
      return this.fail(err);
    }
    return this.next();
  }

  private async nextChunk(): Promise<IteratorResult<ConsumedMessage, undefined>> {
    let chunk: Chunk | undefined;
    try {
      chunk = await this.consumer.nextChunk(this.signal);
    } catch (err) {
      return this.fail(err);
    }
    if (chunk === undefined) return this.return();
    this.chunk = chunk;
    this.index = 0;
    return this.next();
  }

  private fail(err: unknown): Promise<never> {
    void this.return();
    return Promise.reject(err);
  }

  /** `break` lands here: an unfinished chunk makes its partition resume after the last message received. */
  return(): Promise<IteratorResult<ConsumedMessage, undefined>> {
    if (!this.finished) {
      this.finished = true;
      if (this.holding) {
        // Left with a message in hand (break, an exception): it does not count as finished with.
        this.holding = false;
        this.consumer.release(false);
      }
      if (this.chunk !== undefined && this.index < this.chunk.records.length) this.consumer.resumeAfter(this.chunk);
      this.chunk = undefined;
      if (this.started) this.consumer.endIteration();
    }
    return Promise.resolve(DONE);
  }

  throw(err?: unknown): Promise<IteratorResult<ConsumedMessage, undefined>> {
    void this.return();
    return Promise.reject(err);
  }
}

/**
 * Skips the batches of aborted transactions (read_committed), as Kafka's consumer does: the broker names
 * each aborted transaction by producer id and first offset; walking the batches in offset order, a
 * producer's transactional batches are aborted from that offset until its next control batch (the
 * abort marker, which always comes before any later transaction of the producer in the same response).
 * Control batches are skipped too: they are never handed to the application.
 */
class AbortedTransactions {
  private readonly pending: { producerId: number; firstOffset: number }[];
  private readonly active = new Set<number>();

  constructor(list: readonly { producerId: number; firstOffset: number }[]) {
    this.pending = [...list].sort((a, b) => a.firstOffset - b.firstOffset);
  }

  skips(batch: RecordBatch): boolean {
    const { producerId, baseOffset, lastOffsetDelta } = batch.header;
    while (this.pending.length > 0 && this.pending[0]!.firstOffset <= baseOffset + lastOffsetDelta) {
      this.active.add(this.pending.shift()!.producerId);
    }
    if (batch.control) {
      this.active.delete(producerId);
      return true;
    }
    return batch.transactional && this.active.has(producerId);
  }
}

/**
 * The leader epochs of a chunk's records: one run of records per epoch (batches in a row of one epoch
 * share a run), looked up in order as the records are handed out.
 */
class ChunkEpochs {
  /** Record index where each run ends (exclusive), and its epoch. */
  private readonly ends: number[] = [];
  private readonly epochs: number[] = [];
  private cursor = 0;
  /** The epoch of the chunk's last batch (skipped ones included): the position's once the chunk is consumed. */
  last = -1;

  /** The records up to index `end` (exclusive) not in an earlier run are of `epoch`. */
  add(end: number, epoch: number): void {
    if (this.epochs.at(-1) === epoch) this.ends[this.ends.length - 1] = end;
    else {
      this.ends.push(end);
      this.epochs.push(epoch);
    }
  }

  /** The epoch of the record at `index`; indexes must not go back between calls. */
  of(index: number): number {
    while (this.cursor < this.ends.length - 1 && index >= (this.ends[this.cursor] as number)) this.cursor++;
    return this.epochs[this.cursor] ?? this.last;
  }
}
