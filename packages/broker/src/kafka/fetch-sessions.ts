// tidy: pure
import { ErrorCodes } from '@samsa/protocol';

/**
 * Incremental fetch sessions (KIP-227), the broker's side. A consumer opens a session with a full
 * fetch at epoch 0; afterwards it sends only the partitions whose fetch position changed (and those
 * it forgets), and the broker answers only the partitions with something new: records, a moved high
 * watermark, last stable offset or log start offset, or an error. Sessions are in memory, bounded (the least recently
 * used one goes when a new one needs room), and a client whose session is gone gets
 * FETCH_SESSION_ID_NOT_FOUND and starts over with a full fetch. Pure: ids come from an injected
 * source, and nothing here reads a clock.
 */

export const FETCH_SESSION_ID_NOT_FOUND = ErrorCodes.FETCH_SESSION_ID_NOT_FOUND.code;
export const INVALID_FETCH_SESSION_EPOCH = ErrorCodes.INVALID_FETCH_SESSION_EPOCH.code;
/** A full fetch that opens a session. */
const INITIAL_EPOCH = 0;
/** A full fetch without a session (and, with a session id, one that closes it). */
const FINAL_EPOCH = -1;

/** What a fetch request asks for one partition. */
export interface PartitionFetch {
  readonly topic: string;
  readonly partition: number;
  readonly fetchOffset: number;
  readonly partitionMaxBytes: number;
  readonly currentLeaderEpoch: number;
  /**
   * v13+: the topic id the client named the topic by. A session keeps it, so that a partition whose topic
   * was deleted and created again under the same name is not read under the old id (see fetch.ts).
   */
  readonly topicId?: string;
}

/** What the last response told the client of a partition (-1 before any). */
interface Sent {
  highWatermark: number;
  lastStableOffset: number;
  logStartOffset: number;
}

interface Session {
  readonly id: number;
  /** The epoch the next request must carry. */
  epoch: number;
  /** In the order the client added them. */
  readonly partitions: Map<string, { fetch: PartitionFetch; sent: Sent }>;
}

/** What answering one request takes. */
export type SessionContext =
  | { readonly kind: 'error'; readonly errorCode: number }
  /** Fetch `partitions`; answer every one of them with session id `sessionId` (0: no session). */
  | { readonly kind: 'full'; readonly sessionId: number; readonly partitions: readonly PartitionFetch[] }
  /** Fetch every partition of the session; answer only those with news (see `changed`). */
  | { readonly kind: 'incremental'; readonly sessionId: number; readonly partitions: readonly PartitionFetch[] };

/** What the response says of a partition, to decide what is news and to remember what was sent. */
export interface PartitionOutcome {
  readonly topic: string;
  readonly partition: number;
  readonly errorCode: number;
  readonly highWatermark: number;
  readonly lastStableOffset: number;
  readonly logStartOffset: number;
  readonly recordBytes: number;
}

const key = (topic: string, partition: number): string => `${topic}\u0000${partition}`;

export class FetchSessions {
  /** Least recently used first (a Map keeps insertion order; a used session is moved to the end). */
  private readonly sessions = new Map<number, Session>();

  /**
   * @param maxSessions Kafka's max.incremental.fetch.session.cache.slots.
   * @param nextId a source of candidate ids (the low 31 bits are used; 0 and ids in use are skipped).
   */
  constructor(
    private readonly maxSessions: number,
    private readonly nextId: () => number,
  ) {}

  get size(): number {
    return this.sessions.size;
  }

  /** Starts serving a request: which partitions to fetch and how to answer. */
  open(request: {
    sessionId: number;
    sessionEpoch: number;
    partitions: readonly PartitionFetch[];
    forgotten: readonly { topic: string; partition: number }[];
    /** v13+: partitions forgotten by a topic id the broker no longer knows (the topic is gone). */
    forgottenIds?: readonly { topicId: string; partition: number }[];
  }): SessionContext {
    const { sessionId, sessionEpoch } = request;
    if (sessionEpoch === FINAL_EPOCH || sessionEpoch === INITIAL_EPOCH) {
      if (sessionId !== 0) this.sessions.delete(sessionId);
      if (sessionEpoch === FINAL_EPOCH || this.maxSessions === 0)
        return { kind: 'full', sessionId: 0, partitions: request.partitions };
      const session = this.create(request.partitions);
      return { kind: 'full', sessionId: session.id, partitions: request.partitions };
    }
    const session = this.sessions.get(sessionId);
    if (!session) return { kind: 'error', errorCode: FETCH_SESSION_ID_NOT_FOUND };
    if (session.epoch !== sessionEpoch) return { kind: 'error', errorCode: INVALID_FETCH_SESSION_EPOCH };
    session.epoch = nextEpoch(session.epoch);
    this.sessions.delete(sessionId); // most recently used now
    this.sessions.set(sessionId, session);
    for (const p of request.partitions) {
      const existing = session.partitions.get(key(p.topic, p.partition));
      if (existing) existing.fetch = p;
      else
        session.partitions.set(key(p.topic, p.partition), {
          fetch: p,
          sent: { highWatermark: -1, lastStableOffset: -1, logStartOffset: -1 },
        });
    }
    for (const f of request.forgotten) session.partitions.delete(key(f.topic, f.partition));
    for (const f of request.forgottenIds ?? [])
      for (const [k, e] of session.partitions)
        if (e.fetch.topicId === f.topicId && e.fetch.partition === f.partition) session.partitions.delete(k);
    return { kind: 'incremental', sessionId, partitions: [...session.partitions.values()].map((e) => e.fetch) };
  }

  /**
   * Records what a response carries and says which partitions it must include: all of a full
   * response, and of an incremental one those with records, an error, or a moved high watermark, last
   * stable offset or log start offset since the last response that included them.
   */
  answered(context: SessionContext, outcomes: readonly PartitionOutcome[]): PartitionOutcome[] {
    if (context.kind === 'error') return [];
    const session = context.sessionId === 0 ? undefined : this.sessions.get(context.sessionId);
    if (!session) return [...outcomes];
    const included: PartitionOutcome[] = [];
    for (const o of outcomes) {
      const entry = session.partitions.get(key(o.topic, o.partition));
      const news =
        context.kind === 'full' ||
        entry === undefined ||
        o.errorCode !== 0 ||
        o.recordBytes > 0 ||
        o.highWatermark !== entry.sent.highWatermark ||
        o.lastStableOffset !== entry.sent.lastStableOffset ||
        o.logStartOffset !== entry.sent.logStartOffset;
      if (!news) continue;
      included.push(o);
      if (!entry) continue;
      entry.sent = {
        highWatermark: o.highWatermark,
        lastStableOffset: o.lastStableOffset,
        logStartOffset: o.logStartOffset,
      };
      // Partitions that just returned records go last next time, so a fetch's byte budget reaches
      // the others too (Kafka rotates its session partitions the same way).
      if (o.recordBytes > 0) {
        session.partitions.delete(key(o.topic, o.partition));
        session.partitions.set(key(o.topic, o.partition), entry);
      }
    }
    return included;
  }

  private create(partitions: readonly PartitionFetch[]): Session {
    if (this.sessions.size >= this.maxSessions) {
      const oldest = this.sessions.keys().next().value;
      if (oldest !== undefined) this.sessions.delete(oldest);
    }
    let id = this.nextId() & 0x7fffffff;
    while (id === 0 || this.sessions.has(id)) id = this.nextId() & 0x7fffffff;
    const session: Session = { id, epoch: 1, partitions: new Map() };
    for (const p of partitions)
      session.partitions.set(key(p.topic, p.partition), {
        fetch: p,
        sent: { highWatermark: -1, lastStableOffset: -1, logStartOffset: -1 },
      });
    this.sessions.set(id, session);
    return session;
  }
}

/** Epochs count up from 1 and wrap to 1, never to the special 0 and -1. */
function nextEpoch(epoch: number): number {
  return epoch >= 0x7fffffff ? 1 : epoch + 1;
}
