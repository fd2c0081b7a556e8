/**
 * Committed offsets of a group: OffsetCommit (one at a time, in call order, so an older commit never
 * lands after a newer one) and OffsetFetch, on the group's coordinator, fenced by the member's epoch.
 */
import { ErrorCodes, type v1 } from '@samsa/protocol';
import { SamsaClientError, errorFromCode } from '../errors.js';
import type { RetryOptions } from '../retry.js';
import { backoffMs, sleep } from '../retry.js';
import { type GroupCoordinators, groupErrorCode } from './coordinator.js';

export interface CommitOffset {
  readonly topic: string;
  readonly partition: number;
  /** The next offset to consume: the last processed record's offset + 1. */
  readonly offset: number;
  /** Stored with the offset, at most 4096 bytes (offset.metadata.max.bytes). */
  readonly metadata?: string;
  /**
   * The leader epoch of the last record before `offset` (KIP-320; a ConsumedBatch's leaderEpoch), stored
   * with the offset so that a member starting from it validates it against the leader's log. -1 or
   * absent: unknown (the consumer fills it in for an offset at a partition's position).
   */
  readonly leaderEpoch?: number;
}

export interface CommittedOffset {
  readonly topic: string;
  readonly partition: number;
  /** -1 when the group has no offset for the partition. */
  readonly offset: number;
  /** The leader epoch committed with the offset (KIP-320); -1 when unknown or when there is no offset. */
  readonly leaderEpoch: number;
  readonly metadata: string;
}

/** A commit's leader epoch as sent: absent or negative is -1, unknown. */
export function committedEpochOf(o: CommitOffset): number {
  const epoch = o.leaderEpoch ?? -1;
  return Number.isSafeInteger(epoch) && epoch >= 0 ? epoch : -1;
}

export interface MemberIdentity {
  readonly memberId: string;
  /** -1 for a commit from outside the group (an `assign` consumer, a tool). */
  readonly memberEpoch: number;
  readonly instanceId: string | undefined;
}

/**
 * Run before each attempt of a commit (the first and every retry): an error when the commit must not be
 * sent (or sent again), because a partition's records were handed out under an assignment the member no
 * longer has; undefined to go on.
 */
export type CommitCheck = () => SamsaClientError | undefined;

/** UnstableOffsetCommit: a transaction's offsets are pending; ask again until it has ended. */
const UNSTABLE = ErrorCodes.UNSTABLE_OFFSET_COMMIT.code;

/**
 * StaleMemberEpoch: the epoch moved on while the commit travelled; try again with the new one, if the
 * commit's check says its partitions are still under the assignment their records came from.
 */
const STALE_EPOCH_RETRIES = 3;

export class GroupOffsets {
  private queue: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly coordinators: GroupCoordinators,
    readonly groupId: string,
    private readonly identity: () => MemberIdentity,
    private readonly retry: RetryOptions,
    /**
     * KIP-447 (read_committed consumers): fetches ask for stable offsets only, and a partition whose
     * committed offset an open transaction is about to replace is asked again until that transaction
     * has ended, so a member taking it over never starts from an offset about to be replaced.
     */
    private readonly requireStable = false,
  ) {}

  /**
   * Commits `offsets` after every commit asked for before; rejects with the first partition's error, or
   * with `check`'s when it refuses an attempt (the first one, or a retry with a newer epoch).
   */
  commit(offsets: readonly CommitOffset[], signal?: AbortSignal, check?: CommitCheck): Promise<void> {
    for (const o of offsets) {
      if (!Number.isSafeInteger(o.offset) || o.offset < 0)
        throw new SamsaClientError(ErrorCodes.INVALID_REQUEST, `cannot commit offset ${o.offset}`, {
          topic: o.topic,
          partition: o.partition,
          retriable: false,
        });
    }
    const run = this.queue.then(() => this.commitNow(offsets, signal, check));
    this.queue = run.catch(() => {});
    return run;
  }

  private async commitNow(
    offsets: readonly CommitOffset[],
    signal: AbortSignal | undefined,
    check: CommitCheck | undefined,
  ): Promise<void> {
    if (offsets.length === 0) return;
    await this.withEpochRetries(async (member) => {
      // Taken with the identity: a retry under a newer epoch is for records of the same assignment only.
      const refused = check?.();
      if (refused !== undefined) throw refused;
      const response = await this.coordinators.callWithRetries(
        this.groupId,
        'OffsetCommit',
        () => commitRequest(this.groupId, member, offsets),
        groupErrorCode,
        { signal },
      );
      const failure = firstFailure(response);
      if (failure === undefined) return undefined;
      return errorFromCode(failure.code, `commit to group ${this.groupId} refused: ${failure.message}`, failure.where);
    }, signal);
  }

  /**
   * Runs `attempt` with the member's identity; a StaleMemberEpoch is tried again once the member's
   * epoch has moved on (its heartbeat answer was still travelling). An epoch that stays put means the
   * partition was revoked: the error stands.
   */
  private async withEpochRetries<T>(
    attempt: (member: MemberIdentity) => Promise<SamsaClientError | T>,
    signal: AbortSignal | undefined,
  ): Promise<T> {
    for (let n = 0; ; n++) {
      const member = this.identity();
      const outcome = await attempt(member);
      if (!(outcome instanceof SamsaClientError)) return outcome;
      if (outcome.code !== ErrorCodes.STALE_MEMBER_EPOCH.code || member.memberEpoch < 0 || n >= STALE_EPOCH_RETRIES)
        throw outcome;
      await sleep(backoffMs(n, this.retry), signal);
      if (this.identity().memberEpoch === member.memberEpoch) throw outcome;
    }
  }

  /** The group's committed offsets of `partitions`, asked as the member (fenced like commits) or as a tool. */
  async fetch(
    partitions: readonly { topic: string; partition: number }[],
    signal?: AbortSignal,
  ): Promise<CommittedOffset[]> {
    if (partitions.length === 0) return [];
    const byTopic = new Map<string, number[]>();
    for (const { topic, partition } of partitions) {
      let list = byTopic.get(topic);
      if (!list) {
        list = [];
        byTopic.set(topic, list);
      }
      list.push(partition);
    }
    for (let attempt = 0; ; attempt++) {
      const fetched = await this.fetchOnce(byTopic, partitions, signal);
      if (fetched !== undefined) return fetched;
      await sleep(backoffMs(Math.min(attempt, 10), this.retry), signal);
    }
  }

  private async fetchOnce(
    byTopic: ReadonlyMap<string, number[]>,
    partitions: readonly { topic: string; partition: number }[],
    signal: AbortSignal | undefined,
  ): Promise<CommittedOffset[] | undefined /* unstable: ask again */> {
    const response = await this.withEpochRetries(async (member) => {
      const answer = await this.coordinators.callWithRetries(
        this.groupId,
        'OffsetFetch',
        () => ({
          groupId: this.groupId,
          memberId: member.memberId,
          memberEpoch: member.memberEpoch,
          topics: [...byTopic].map(([name, list]) => ({ name, partitions: list })),
          requireStable: this.requireStable,
        }),
        groupErrorCode,
        { signal },
      );
      if (answer.errorCode === 0) return answer;
      return errorFromCode(answer.errorCode, `group ${this.groupId}: ${answer.errorMessage || 'offset fetch refused'}`);
    }, signal);
    const found = new Map<string, v1.OffsetFetchPartitionResponse__Output>();
    for (const t of response.topics) for (const p of t.partitions) found.set(`${t.name}\0${p.partition}`, p);
    if ([...found.values()].some((p) => p.errorCode === UNSTABLE)) return undefined;
    return partitions.map(({ topic, partition }) => {
      const p = found.get(`${topic}\0${partition}`);
      if (p && p.errorCode !== 0) throw errorFromCode(p.errorCode, p.errorMessage || undefined, { topic, partition });
      const offset = p ? Number(p.committedOffset) : -1;
      // An older broker may leave the epoch out: unknown.
      const leaderEpoch = offset >= 0 ? (p?.committedLeaderEpoch ?? -1) : -1;
      return { topic, partition, offset, leaderEpoch, metadata: p?.metadata ?? '' };
    });
  }
}

function commitRequest(
  groupId: string,
  member: MemberIdentity,
  offsets: readonly CommitOffset[],
): v1.OffsetCommitRequest {
  const byTopic = new Map<string, v1.OffsetCommitPartition[]>();
  for (const o of offsets) {
    let list = byTopic.get(o.topic);
    if (!list) {
      list = [];
      byTopic.set(o.topic, list);
    }
    list.push({
      partition: o.partition,
      committedOffset: o.offset,
      committedLeaderEpoch: committedEpochOf(o),
      committedMetadata: o.metadata ?? '',
    });
  }
  return {
    groupId,
    memberId: member.memberId,
    memberEpoch: member.memberEpoch,
    ...(member.instanceId !== undefined ? { groupInstanceId: member.instanceId } : {}),
    topics: [...byTopic].map(([name, partitions]) => ({ name, partitions })),
  };
}

function firstFailure(
  response: v1.OffsetCommitResponse__Output,
): { code: number; message: string; where: { topic?: string; partition?: number } } | undefined {
  if (response.errorCode !== 0)
    return { code: response.errorCode, message: response.errorMessage || 'refused', where: {} };
  for (const t of response.topics)
    for (const p of t.partitions)
      if (p.errorCode !== 0)
        return {
          code: p.errorCode,
          message: p.errorMessage || 'refused',
          where: { topic: t.name, partition: p.partition },
        };
  return undefined;
}
