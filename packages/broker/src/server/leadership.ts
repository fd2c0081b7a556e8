import { setTimeout as sleep } from 'node:timers/promises';
import { topicNameProblem } from '@samsa/protocol';
import type { BrokerContext } from './context.js';

const ROLE_POLL_MS = 10;
/**
 * How long the coordinator's partition count of a topic (undefined: no such topic) is reused: a client
 * hammering a mistyped name costs one coordinator read a second, and a topic created (or grown) since is
 * waited for again at most this much later.
 */
const EXISTENCE_TTL_MS = 1000;
/** Bound on the topics remembered; the oldest answers are dropped first. */
const EXISTENCE_MAX_TOPICS = 1024;

type Named = { topic: string; partition: number };

/**
 * Metadata names a new leader (a created topic, an election) a moment before that broker has taken up
 * the role: each broker learns its roles from the coordinator on its own. Kafka clients that do not
 * retry NOT_LEADER_OR_FOLLOWER on every call (sarama's ListOffsets when it starts a partition
 * consumer, KafkaJS's admin offsets) would fail in that window, so a request for partitions this
 * broker's metadata says it leads, does not know yet, or knows without a first leader yet (a replica
 * here, its state not written: leader and epoch -1), waits up to `leadership.wait.ms` (5 s) for the
 * roles (the window is milliseconds on an idle machine; 1 s was too short on a loaded one). A partition
 * known to be led elsewhere is answered at once (the client's metadata is stale). So is one the
 * coordinator does not have either (a mistyped topic, a partition past the topic's count): Kafka answers
 * UNKNOWN_TOPIC_OR_PARTITION at once, and a client should not wait 5 s to learn of its typo. Every API
 * answered by a partition's leader waits so: Produce, Fetch, ListOffsets, OffsetForLeaderEpoch,
 * DeleteRecords, DescribeProducers. So does the gRPC Produce, within its request's timeout (`waitMs`):
 * an election's new leader has its role in metadata, then its role set while the term saves its epoch.
 */
export async function awaitLeadership(
  ctx: BrokerContext,
  partitions: readonly Named[],
  signal: AbortSignal,
  waitMs = ctx.settings['leadership.wait.ms'] as number,
): Promise<void> {
  const deadline = Date.now() + waitMs;
  const unknownHere = partitions.filter(
    (p) =>
      !ledHere(ctx, p.topic, p.partition) &&
      ctx.member.metadata.image.topics.get(p.topic)?.partitions[p.partition] === undefined,
  );
  const absent = unknownHere.length === 0 ? new Set<Named>() : await absentAtCoordinator(ctx, unknownHere, deadline);
  const awaited = partitions.filter((p) => !absent.has(p));
  const becoming = () =>
    awaited.some((p) => {
      if (ledHere(ctx, p.topic, p.partition)) return false;
      const known = ctx.member.metadata.image.topics.get(p.topic)?.partitions[p.partition];
      if (known === undefined || known.leader === ctx.brokerId) return true;
      // A created topic's partition before its first election (no state yet: epoch -1) that this broker
      // may lead; a partition with a state and no leader (offline) is answered at once.
      return known.leaderEpoch < 0 && known.replicas.includes(ctx.brokerId);
    });
  while (becoming() && Date.now() < deadline && !signal.aborted) await sleep(ROLE_POLL_MS);
}

/**
 * In effect once its term has started (leaderState), not when the role is set: in between the broker
 * saves the new epoch to its cache (an fsync), and acks=all writes were refused then.
 */
export function ledHere(ctx: BrokerContext, topic: string, partition: number): boolean {
  const hosted = ctx.partitions.get(topic, partition);
  return hosted?.role === 'leader' && hosted.leaderState !== undefined;
}

/**
 * Of partitions this broker's metadata does not know, those the coordinator does not have either: one
 * read of each topic's znode (shared and reused for EXISTENCE_TTL_MS). A read that fails or does not
 * answer by the deadline (no coordinator session) counts as "maybe there": the request waits as before.
 *
 * The read is not preceded by a ZooKeeper `sync`, so an ensemble member that lags the leader can say
 * "absent" for a topic created elsewhere a few milliseconds before (the answer is then reused for a
 * second). That is Kafka's behaviour too: its broker answers from a metadata cache that the controller
 * updates asynchronously, and UNKNOWN_TOPIC_OR_PARTITION is retriable. A `sync` is not to be had here:
 * node-zookeeper-client 1.1.3 has no sync call (no SyncRequest in its jute specification, and its reply
 * dispatch drops the connection for an op code it does not know), and the one barrier it can send, a
 * multi of a single check, is a quorum write, an fsync of every member's log per cache miss, which a client
 * repeating a mistyped name would turn into load on the ensemble. The embedded coordinator is one server
 * and never lags.
 */
async function absentAtCoordinator(ctx: BrokerContext, unknown: readonly Named[], deadline: number) {
  const absent = new Set<Named>();
  const timer = new AbortController();
  const late = sleep(Math.max(0, deadline - Date.now()), 'late' as const, { signal: timer.signal }).catch(
    () => 'late' as const,
  );
  try {
    await Promise.all(
      unknown.map(async (p) => {
        // A name no topic can have is answered at once (INVALID_TOPIC_EXCEPTION), without a coordinator read.
        if (topicNameProblem(p.topic) !== undefined) return absent.add(p);
        const count = await Promise.race([existence(ctx).partitionCount(ctx, p.topic), late]);
        if (count !== 'late' && count !== 'maybe' && (count === undefined || p.partition >= count)) absent.add(p);
      }),
    );
  } finally {
    timer.abort();
  }
  return absent;
}

/** Each broker's recent coordinator answers, keyed by its cluster member. */
const caches = new WeakMap<object, TopicExistence>();

function existence(ctx: BrokerContext): TopicExistence {
  const cache = caches.get(ctx.member) ?? new TopicExistence();
  caches.set(ctx.member, cache);
  return cache;
}

/** The coordinator's partition counts by topic (undefined: no such topic), each kept EXISTENCE_TTL_MS. */
class TopicExistence {
  private readonly answers = new Map<string, { count: Promise<number | undefined | 'maybe'>; expiresAtMs: number }>();

  partitionCount(ctx: BrokerContext, topic: string): Promise<number | undefined | 'maybe'> {
    const nowMs = Date.now();
    const cached = this.answers.get(topic);
    if (cached && cached.expiresAtMs > nowMs) return cached.count;
    this.answers.delete(topic);
    if (this.answers.size >= EXISTENCE_MAX_TOPICS) this.answers.delete(this.answers.keys().next().value!);
    const count = ctx.member.topicPartitionCount(topic).catch((err: unknown) => {
      ctx.logger.warn({ topic, err }, 'could not ask the coordinator whether a topic exists; waiting for it');
      this.answers.delete(topic);
      return 'maybe' as const;
    });
    this.answers.set(topic, { count, expiresAtMs: nowMs + EXISTENCE_TTL_MS });
    return count;
  }
}
