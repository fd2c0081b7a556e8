/**
 * What the replication drivers (leader-driver.ts, follower-driver.ts, driver.ts) work on and talk
 * through, as interfaces: a partition replica and its log, the waiters parked on it, and the
 * transport between brokers. The broker passes its PartitionLog, DelayedOperations and gRPC peers;
 * the seeded simulation (test/replication/sim/) passes an in-memory log and a simulated network, and
 * so runs these drivers as they run in production.
 */
import type { EpochEndOffset } from './epoch-cache.js';
import type { LeaderEpochCache } from './epoch-cache.js';
import type { LeaderState } from './leader.js';

/** The log operations replication uses (storage's PartitionLog has them). */
export interface ReplicaLog {
  /** The first readable offset, as in memory now. */
  readonly logStartOffset: number;
  /**
   * The log start that holds now and after a crash (at most logStartOffset): a start moved in
   * memory counts once it is saved. A follower states this one (rule 12), and a leader counts its
   * own by it, so DeleteRecords is answered only when no crash can bring the records back.
   */
  readonly savedLogStartOffset: number;
  /** The written end: what this replica's own log holds (a leader's LEO for the high watermark). */
  readonly logEndOffset: number;
  /**
   * What a leader's followers may copy (readForFollower): at least logEndOffset, and past it the
   * appends whose CRCs passed and whose write is under way.
   */
  readonly exposedEndOffset: number;
  /** Only an 'online' log is fetched for. */
  readonly state: string;
  /**
   * A leader's append: stamps offsets and `leaderEpoch` into the batches; `onExposed` is told when
   * followers may copy it, which may be before the promise resolves (its write completed).
   */
  append(
    batches: Buffer,
    options: { leaderEpoch?: number; onExposed?: () => void },
  ): Promise<{
    readonly baseOffset: number;
    readonly lastOffset: number;
    readonly logAppendTimeMs: number | undefined;
  }>;
  /**
   * Resolves once every append queued before the call is written or refused: a leader taking a new
   * epoch starts it after every batch stamped with an older one.
   */
  appendsSettled(): Promise<void>;
  /** A follower's append: the leader's batches as they are (offsets and epochs kept). */
  appendAsFollower(batches: Buffer): Promise<unknown>;
  /**
   * For a follower: whole batches from the one holding `fromOffset` up to exposedEndOffset, at most
   * `maxBytes` except the first.
   */
  readForFollower(fromOffset: number, maxBytes: number): Promise<{ readonly bytes: Buffer }>;
  /**
   * readForFollower's answer when it needs no I/O, at once (throws as readForFollower rejects);
   * undefined when it does. A log without it is always read with readForFollower.
   */
  readForFollowerNow?(fromOffset: number, maxBytes: number): { readonly bytes: Buffer } | undefined;
  /** Removes everything at or after `offset`. */
  truncateTo(offset: number): Promise<void>;
  /** Empties the log and restarts it at `offset`. */
  resetTo(offset: number): Promise<void>;
  /**
   * Moves the log start up to `offset` (DeleteRecords; a follower adopting its leader's start):
   * offsets below it become unreadable. Resolves once the new start is durable: savedLogStartOffset
   * reaches `offset` (also when the start in memory was there already).
   */
  deleteRecordsBefore(offset: number): Promise<unknown>;
}

/** One partition replica as replication drives it (the broker's HostedPartition is one). */
export interface Replica {
  readonly topic: string;
  readonly partition: number;
  readonly log: ReplicaLog;
  /** Leader epoch -> start offset of this replica's log. */
  readonly epochCache: LeaderEpochCache;
  /** The current leadership term's state machine; undefined on followers. */
  leaderState: LeaderState | undefined;
  role: 'leader' | 'follower';
  leaderEpoch: number;
  leader: number;
  isr: readonly number[];
  replicas: readonly number[];
  /** Offsets below it are committed: a leader's from its LeaderState, a follower's from the leader. */
  highWatermark: number;
}

/** A leader or follower role as metadata announces it (the metadata cache's RoleChange is one). */
export interface ReplicaRoleChange {
  readonly kind: 'leader' | 'follower';
  readonly leader: number;
  readonly leaderEpoch: number;
  readonly isr: readonly number[];
  readonly replicas: readonly number[];
}

/** A partition's committed state as this broker last read it (state znode: epoch, ISR, version). */
export interface CommittedPartitionState {
  readonly leaderEpoch: number;
  readonly isr: readonly number[];
  readonly stateZkVersion: number;
}

/** Each topic's partition keys made so far, by partition (see partitionKey). */
const keysByTopic = new Map<string, string[]>();
/** Topics whose keys partitionKey keeps (all are dropped past it: a bound, not a working set). */
const KEYED_TOPICS_KEPT = 10_000;

/**
 * The key requests on a partition wait under (long polls, acks=all producers). A leader parks and
 * notifies under it several times per request: the same string each time, not one built anew, so no
 * allocation, and the Map lookups with it hash it once (a string caches its hash).
 */
export function partitionKey(topic: string, partition: number): string {
  let keys = keysByTopic.get(topic);
  if (keys === undefined) {
    if (keysByTopic.size >= KEYED_TOPICS_KEPT) keysByTopic.clear();
    keys = [];
    keysByTopic.set(topic, keys);
  }
  // Partitions past any real topic's (a request's bad number) are not kept: a sparse array of them.
  if (!(partition >= 0 && partition < 1 << 16)) return `${topic}\u0000${partition}`;
  let key = keys[partition];
  if (key === undefined) {
    key = `${topic}\u0000${partition}`;
    keys[partition] = key;
  }
  return key;
}

/**
 * The records of every answer that carries none: one shared buffer, as nothing can be written into a
 * zero-length one (a leader's answers to its followers' fetches are mostly empty on their first pass).
 */
export const EMPTY_RECORDS: Buffer = Buffer.alloc(0);

/** A request waiting on partitions (server/delayed.ts's DelayedOperations keeps them). */
export interface ParkedOperation {
  /** Returns true when the operation completed (and has answered its caller). */
  tryComplete(): boolean;
  onExpire(): void;
  onAbort?(): void;
}

export interface Waiters {
  /** Returns the operation's handle: cancel() takes it out without completing it. */
  park(op: ParkedOperation, keys: readonly string[], timeoutMs: number, signal?: AbortSignal): { cancel(): void };
  /** Something changed on `key`: parked operations re-check. */
  notify(key: string): void;
}

// ---- the wire between brokers (shaped like proto/samsa/v1/replication.proto's messages) ----

export interface ReplicaFetchPartition {
  readonly partition: number;
  readonly fetchOffset: number;
  readonly currentLeaderEpoch: number;
  readonly lastFetchedEpoch: number;
  readonly partitionMaxBytes: number;
  /**
   * The follower's saved log start offset (ReplicaLog.savedLogStartOffset): the leader's low
   * watermark waits for it (DeleteRecords). Undefined from a follower built before it was sent
   * (unknown: it neither holds nor speeds anything up).
   */
  readonly logStartOffset?: number | undefined;
  /**
   * The follower's start when it is past logStartOffset, its save under way: the leader does not
   * answer at once to announce a start the follower has (it counts only the saved one).
   */
  readonly unsavedLogStartOffset?: number | undefined;
}

export interface ReplicaFetchRequest {
  readonly replicaId: number;
  readonly maxWaitMs: number;
  readonly minBytes: number;
  readonly maxBytes: number;
  readonly topics: Array<{ readonly name: string; readonly partitions: ReplicaFetchPartition[] }>;
}

export interface ReplicaFetchPartitionResponse {
  readonly partition: number;
  readonly errorCode: number;
  readonly errorMessage: string;
  readonly highWatermark: number;
  readonly logStartOffset: number;
  /** Present only when the follower's log diverged (its value may be UNDEFINED -1/-1). */
  readonly divergingEpoch?: EpochEndOffset | null;
  readonly records: Buffer;
}

export interface ReplicaFetchResponse {
  readonly topics: ReadonlyArray<{
    readonly name: string;
    readonly partitions: readonly ReplicaFetchPartitionResponse[];
  }>;
}

/** A follower's connection to one leader: one fetch outstanding at a time, answered in order. */
export interface FetchSession {
  /** Rejects when the leader is unreachable or does not answer within `timeoutMs`. */
  fetch(request: ReplicaFetchRequest, timeoutMs: number): Promise<ReplicaFetchResponse>;
  /** Ends the session; an outstanding fetch rejects. */
  close(reason: Error): void;
}

export interface AlterPartitionRequest {
  readonly brokerId: number;
  readonly topic: string;
  readonly partition: number;
  readonly leaderEpoch: number;
  readonly newIsr: number[];
  readonly partitionZkVersion: number;
}

export interface ReplicationTransport {
  openFetchSession(leaderId: number): FetchSession;
  /**
   * Sends an ISR proposal to the controller. Resolves with its answer; rejects when nobody answered
   * (no controller known, unreachable, `timeoutMs` passed): the leader then sends it again.
   */
  alterPartition(
    request: AlterPartitionRequest,
    timeoutMs: number,
  ): Promise<{ readonly errorCode: number; readonly errorMessage: string }>;
}
