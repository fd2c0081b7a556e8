import { ErrorCodes, SamsaError, type ErrorSpec } from '@samsa/protocol';
import { ASSIGNOR_NAMES, type AssignorName, assignorFor } from './assignors.js';
import { type ClassicProtocol, decodeAssignment, decodeSubscription, encodeAssignment } from './consumer-protocol.js';
import * as tp from './partitions.js';
import type { TopicPartitions } from './partitions.js';
import type {
  ClassicGroupValue,
  ClassicMemberMetadata,
  CurrentValue,
  GroupMetadataValue,
  GroupRecord,
  MemberState,
  MemberValue,
  OffsetValue,
} from './records.js';

/**
 * The group coordinator's state machine for the groups of one __consumer_offsets partition, after
 * KIP-848: members, subscriptions, member epochs, the group epoch, the target assignment and each
 * member's current and pending-revocation partitions. Pure: time, topic metadata and fresh member ids
 * are inputs; operations return the records to append, which the core has already applied to itself
 * through `apply`, the same function that rebuilds it from the log. Session and revocation deadlines
 * are soft state, restarted by `finishLoad`.
 */

export interface GroupCoreConfig {
  /** group.consumer.session.timeout.ms */
  readonly sessionTimeoutMs: number;
  /** group.consumer.heartbeat.interval.ms */
  readonly heartbeatIntervalMs: number;
  /** group.consumer.max.size */
  readonly maxGroupSize: number;
  /** group.consumer.assignors: the first is the default. */
  readonly assignors: readonly AssignorName[];
  /** offset.metadata.max.bytes */
  readonly offsetMetadataMaxBytes: number;
  /** offsets.retention.minutes, in ms */
  readonly offsetsRetentionMs: number;
  /** offsets.retention.check.interval.ms */
  readonly offsetsRetentionCheckIntervalMs: number;
}

export const DEFAULT_GROUP_CORE_CONFIG: GroupCoreConfig = Object.freeze({
  sessionTimeoutMs: 45_000,
  heartbeatIntervalMs: 5_000,
  maxGroupSize: 2 ** 31 - 1,
  assignors: ['uniform', 'range'] as const,
  offsetMetadataMaxBytes: 4096,
  offsetsRetentionMs: 7 * 24 * 60 * 60 * 1000,
  offsetsRetentionCheckIntervalMs: 600_000,
});

export const MAX_GROUP_ID_LENGTH = 255;
/** Member ids handed out with MEMBER_ID_REQUIRED that a group remembers until they join (oldest forgotten first). */
const PENDING_CLASSIC_IDS_MAX = 1000;
/** Kafka's max.poll.interval.ms, what a member that does not say gets as rebalance timeout. */
export const DEFAULT_REBALANCE_TIMEOUT_MS = 300_000;
export const LEAVE_EPOCH = -1;
export const STATIC_LEAVE_EPOCH = -2;

/** Topic name -> partition count: the broker's metadata, an input of every operation that assigns. */
export type TopicsView = ReadonlyMap<string, number>;

export interface HeartbeatInput {
  readonly groupId: string;
  readonly memberId: string;
  readonly memberEpoch: number;
  readonly instanceId?: string | undefined;
  readonly rackId?: string | undefined;
  readonly rebalanceTimeoutMs: number;
  readonly subscribedTopicNames?: readonly string[] | undefined;
  readonly subscribedTopicRegex?: string | undefined;
  readonly serverAssignor?: string | undefined;
  readonly ownedTopicPartitions?: readonly { topic: string; partitions: readonly number[] }[] | undefined;
  readonly clientId: string;
  readonly clientHost: string;
  /** Set when the member is a classic (JoinGroup) member: see classicJoin. */
  readonly classic?: ClassicMemberMetadata | undefined;
}

export interface ClassicJoinInput {
  readonly groupId: string;
  readonly memberId: string;
  readonly instanceId: string | null;
  readonly protocolType: string;
  readonly protocols: readonly ClassicProtocol[];
  readonly sessionTimeoutMs: number;
  readonly rebalanceTimeoutMs: number;
  readonly clientId: string;
  readonly clientHost: string;
  /** JoinGroup v4+ without an instance id: a new member first gets MEMBER_ID_REQUIRED with its id. */
  readonly requireKnownMemberId: boolean;
}

export interface ClassicJoinResult {
  readonly errorCode: number;
  readonly memberId: string;
  /** The member epoch. */
  readonly generationId: number;
  readonly protocolName: string | null;
}

/** A classic member's Heartbeat or SyncGroup: the instance id (v3+) fences an earlier incarnation. */
export interface ClassicMemberRequest {
  readonly groupId: string;
  readonly memberId: string;
  readonly generationId: number;
  readonly groupInstanceId?: string | null | undefined;
}

export interface ClassicSyncResult {
  readonly errorCode: number;
  readonly protocolName: string | null;
  /** ConsumerProtocolAssignment bytes. */
  readonly assignment: Buffer;
}

export interface HeartbeatResult {
  readonly memberId: string;
  readonly memberEpoch: number;
  readonly heartbeatIntervalMs: number;
  /** Undefined once the member has left. */
  readonly assignment: TopicPartitions | undefined;
}

export interface OpContext {
  readonly nowMs: number;
  readonly topics: TopicsView;
}

export interface Outcome<T> {
  readonly records: GroupRecord[];
  readonly result: T;
}

export interface PartitionError {
  readonly errorCode: number;
  readonly errorMessage: string;
}
const NONE: PartitionError = Object.freeze({ errorCode: 0, errorMessage: '' });
const partitionError = (spec: ErrorSpec, message: string): PartitionError => ({
  errorCode: spec.code,
  errorMessage: message,
});
/** A committed leader epoch as stored: any negative (or missing) one is -1, unknown (Kafka's Optional.empty). */
const epochOf = (p: { readonly leaderEpoch?: number }): number =>
  Number.isSafeInteger(p.leaderEpoch) && (p.leaderEpoch as number) >= 0 ? (p.leaderEpoch as number) : -1;

export interface CommitInput {
  readonly groupId: string;
  readonly memberId: string;
  readonly memberEpoch: number;
  /**
   * TxnOffsetCommit from a Kafka client predating KIP-447 (below v3: no member id, generation -1): not
   * fenced by member, whether or not the group has members, as Kafka accepts it.
   */
  readonly memberless?: boolean;
  readonly topics: readonly {
    readonly name: string;
    readonly partitions: readonly {
      readonly partition: number;
      readonly offset: number;
      readonly leaderEpoch: number;
      readonly metadata: string;
    }[];
  }[];
}

export type PartitionResults = { name: string; partitions: ({ partition: number } & PartitionError)[] }[];

export interface FetchedOffset {
  readonly partition: number;
  readonly offset: number;
  readonly leaderEpoch: number;
  readonly metadata: string;
}

export type GroupState = 'Empty' | 'Reconciling' | 'Stable';

export interface MemberDescription {
  readonly memberId: string;
  readonly member: MemberValue;
  readonly current: CurrentValue;
  readonly target: TopicPartitions;
}

export interface GroupDescription {
  readonly groupId: string;
  readonly state: GroupState;
  readonly epoch: number;
  readonly assignor: AssignorName;
  readonly members: readonly MemberDescription[];
}

interface Member {
  meta: MemberValue;
  current: CurrentValue;
  target: TopicPartitions;
}

interface Group {
  readonly id: string;
  meta: GroupMetadataValue;
  readonly members: Map<string, Member>;
  readonly offsets: Map<string, { topic: string; partition: number; value: OffsetValue }>;
  /** Partition key -> the member holding it (assigned or pending revocation): at most one, by construction. */
  readonly owners: Map<string, string>;
}

const EMPTY_CURRENT: CurrentValue = Object.freeze({
  memberEpoch: 0,
  previousMemberEpoch: -1,
  state: 'Stable',
  assigned: tp.EMPTY,
  pendingRevocation: tp.EMPTY,
});

function fail(spec: ErrorSpec, message?: string): never {
  throw new SamsaError(spec, message);
}

/**
 * A group id is 1 to 255 characters; `allowEmpty` where Kafka takes the empty one too, for old clients
 * that commit and fetch offsets with group id "" and no membership: OffsetCommit, OffsetFetch,
 * DescribeGroups, DeleteGroups and FindCoordinator (key type 0), at every version (Kafka's
 * GroupCoordinatorService refuses only a null id there; the membership APIs, TxnOffsetCommit and
 * OffsetDelete refuse "").
 */
export function validateGroupId(groupId: string, allowEmpty = false): void {
  if (groupId.length === 0 && !allowEmpty) fail(ErrorCodes.INVALID_GROUP_ID, 'the group id is empty');
  if (groupId.length > MAX_GROUP_ID_LENGTH)
    fail(
      ErrorCodes.INVALID_GROUP_ID,
      `the group id is ${groupId.length} characters long (at most ${MAX_GROUP_ID_LENGTH})`,
    );
}

/** A subscription regex matches whole topic names; internal topics (`__*`) never match. */
export function compileSubscriptionRegex(source: string): RegExp {
  const unsafe = backtrackingHazard(source);
  if (unsafe) fail(ErrorCodes.INVALID_REGULAR_EXPRESSION, `${JSON.stringify(source.slice(0, 100))}: ${unsafe}`);
  try {
    return new RegExp(`^(?:${source})$`);
  } catch (err) {
    return fail(ErrorCodes.INVALID_REGULAR_EXPRESSION, `${JSON.stringify(source)}: ${(err as Error).message}`);
  }
}

export const MAX_SUBSCRIPTION_REGEX_LENGTH = 1024;
/** How often an unchanged commit is written again anyway (see isRecentRepeat). */
export const REPEAT_REFRESH_MS = 60 * 60 * 1000;

/**
 * JavaScript's regex engine backtracks, and a client's pattern runs on the broker's event loop:
 * a repeated group that itself repeats or alternates (`(a+)+`, `(a|aa)*`) or a backreference can take
 * exponential time on a 249-character topic name. Kafka uses RE2 (linear time); refusing those shapes
 * keeps the same guarantee. Returns why a pattern is refused, or undefined.
 */
export function backtrackingHazard(source: string): string | undefined {
  if (source.length > MAX_SUBSCRIPTION_REGEX_LENGTH) return `longer than ${MAX_SUBSCRIPTION_REGEX_LENGTH} characters`;
  const groups: boolean[] = []; // per open group: whether it repeats or alternates inside
  let lastClosedRisky = false;
  for (let i = 0; i < source.length; i++) {
    const c = source[i]!;
    const justClosed = lastClosedRisky;
    lastClosedRisky = false;
    if (c === '\\') {
      if (/[1-9k]/.test(source[i + 1] ?? '')) return 'backreferences are not supported';
      i++;
    } else if (c === '[') {
      for (i++; i < source.length && source[i] !== ']'; i++) if (source[i] === '\\') i++;
    } else if (c === '(') {
      groups.push(false);
    } else if (c === ')') {
      const risky = groups.pop() ?? false;
      if (risky && groups.length > 0) groups[groups.length - 1] = true;
      lastClosedRisky = risky;
    } else if (c === '*' || c === '+' || c === '{') {
      if (justClosed) return 'a repeated group that repeats or alternates inside can take exponential time';
      if (groups.length > 0) groups[groups.length - 1] = true;
    } else if (c === '|') {
      if (groups.length > 0) groups[groups.length - 1] = true;
    }
  }
  return undefined;
}

export class GroupCoordinatorCore {
  private readonly groups = new Map<string, Group>();
  /** groupId -> memberId -> time the member is expelled unless heard from. */
  private readonly sessionDeadlines = new Map<string, Map<string, number>>();
  /** groupId -> memberId -> time a member that has not acknowledged a revocation is expelled. */
  private readonly revocationDeadlines = new Map<string, Map<string, number>>();
  /**
   * groupId -> memberId -> time a classic member is expelled unless it sends the SyncGroup that follows its
   * JoinGroup, or the JoinGroup it was asked for with REBALANCE_IN_PROGRESS (its rebalance timeout).
   */
  private readonly classicDeadlines = new Map<string, Map<string, number>>();
  /**
   * groupId -> classic members whose classicDeadlines entry is for a JoinGroup asked with REBALANCE_IN_PROGRESS
   * (not a SyncGroup that follows a JoinGroup): dropped with the deadline when the need goes away.
   */
  private readonly classicRejoinAsked = new Map<string, Set<string>>();
  /** groupId -> member ids handed out with MEMBER_ID_REQUIRED and not joined yet (soft: lost at a failover). */
  private readonly pendingClassicIds = new Map<string, Set<string>>();
  private readonly regexCache = new Map<string, RegExp>();
  private nextRetentionCheckMs = 0;
  /** Set by a heartbeat that changed a member's subscription or assignor preference. */
  private subscriptionEdited = false;
  /** Set by a heartbeat of a KIP-848 member the group knows, joining again with epoch 0 (a new incarnation). */
  private rejoined = false;
  /** Set by a join that took a static member's place (the same instance id): a new incarnation too. */
  private replacedStatic = false;

  constructor(readonly config: GroupCoreConfig = DEFAULT_GROUP_CORE_CONFIG) {}

  // ---- Applying records (the only way state changes) ----

  apply(record: GroupRecord): void {
    if (record.type === 'classic') return; // classic-protocol groups are ClassicGroups' (classic.ts)
    if (record.type === 'group') {
      if (record.value === null) this.dropGroup(record.group);
      else this.groupFor(record.group).meta = record.value;
      return;
    }
    if (record.type === 'offset') {
      const key = tp.tpKey(record.topic, record.partition);
      if (record.value === null) this.groups.get(record.group)?.offsets.delete(key);
      else
        this.groupFor(record.group).offsets.set(key, {
          topic: record.topic,
          partition: record.partition,
          value: record.value,
        });
      return;
    }
    const group = record.value === null ? this.groups.get(record.group) : this.groupFor(record.group);
    if (!group) return;
    if (record.type === 'member') {
      if (record.value === null) {
        this.setCurrent(group, record.memberId, null);
        group.members.delete(record.memberId);
        for (const table of this.deadlineTables()) table.get(group.id)?.delete(record.memberId);
        this.classicRejoinAsked.get(group.id)?.delete(record.memberId);
      } else {
        const member = group.members.get(record.memberId);
        if (member) member.meta = record.value;
        else group.members.set(record.memberId, { meta: record.value, current: EMPTY_CURRENT, target: tp.EMPTY });
      }
    } else if (record.type === 'target') {
      const member = group.members.get(record.memberId);
      if (member) member.target = record.value?.partitions ?? tp.EMPTY;
    } else {
      this.setCurrent(group, record.memberId, record.value);
    }
  }

  /** Called once the log is replayed: every member's session (and revocation) timer starts now. */
  finishLoad(nowMs: number): void {
    for (const group of this.groups.values())
      for (const [memberId, member] of group.members) {
        this.deadlines(this.sessionDeadlines, group.id).set(memberId, nowMs + this.sessionTimeoutOf(member.meta));
        if (member.current.state === 'UnrevokedPartitions')
          this.deadlines(this.revocationDeadlines, group.id).set(memberId, nowMs + member.meta.rebalanceTimeoutMs);
      }
    this.nextRetentionCheckMs = nowMs;
  }

  private groupFor(groupId: string): Group {
    let group = this.groups.get(groupId);
    if (!group) {
      group = {
        id: groupId,
        meta: { epoch: 0, topics: {} },
        members: new Map(),
        offsets: new Map(),
        owners: new Map(),
      };
      this.groups.set(groupId, group);
    }
    return group;
  }

  private dropGroup(groupId: string): void {
    this.groups.delete(groupId);
    this.pendingClassicIds.delete(groupId);
    this.classicRejoinAsked.delete(groupId);
    for (const table of this.deadlineTables()) table.delete(groupId);
  }

  private deadlineTables(): Map<string, Map<string, number>>[] {
    return [this.sessionDeadlines, this.revocationDeadlines, this.classicDeadlines];
  }

  /** A classic member's session timeout is its own (JoinGroup's session_timeout_ms), as in Kafka. */
  private sessionTimeoutOf(meta: MemberValue): number {
    return meta.classic?.sessionTimeoutMs ?? this.config.sessionTimeoutMs;
  }

  private setCurrent(group: Group, memberId: string, value: CurrentValue | null): void {
    const member = group.members.get(memberId);
    if (!member) return;
    for (const key of [...tp.toKeys(member.current.assigned), ...tp.toKeys(member.current.pendingRevocation)])
      if (group.owners.get(key) === memberId) group.owners.delete(key);
    member.current = value ?? EMPTY_CURRENT;
    for (const key of [...tp.toKeys(member.current.assigned), ...tp.toKeys(member.current.pendingRevocation)]) {
      const holder = group.owners.get(key);
      if (holder !== undefined && holder !== memberId)
        throw new Error(`group ${group.id}: ${key.replace('\u0000', '-')} held by ${holder} and ${memberId}`);
      group.owners.set(key, memberId);
    }
  }

  private deadlines(table: Map<string, Map<string, number>>, groupId: string): Map<string, number> {
    const forGroup = table.get(groupId) ?? new Map<string, number>();
    table.set(groupId, forGroup);
    return forGroup;
  }

  /** Applies records as they are produced, collecting them for the log. */
  private writer(): { records: GroupRecord[]; write: (record: GroupRecord) => void } {
    const records: GroupRecord[] = [];
    return {
      records,
      write: (record) => {
        this.apply(record);
        records.push(record);
      },
    };
  }

  // ---- ConsumerGroupHeartbeat ----

  heartbeat(input: HeartbeatInput, ctx: OpContext & { newMemberId: string }): Outcome<HeartbeatResult> {
    validateGroupId(input.groupId);
    if (input.memberEpoch < STATIC_LEAVE_EPOCH)
      fail(ErrorCodes.INVALID_REQUEST, `member epoch ${input.memberEpoch} is not valid`);
    const { records, write } = this.writer();
    const groupId = input.groupId;
    const existing = this.groups.get(groupId);
    if (input.memberEpoch === LEAVE_EPOCH || input.memberEpoch === STATIC_LEAVE_EPOCH) {
      const member = this.leavingMember(existing, input);
      const result = {
        memberId: input.memberId,
        memberEpoch: input.memberEpoch,
        heartbeatIntervalMs: 0,
        assignment: undefined,
      };
      if (input.memberEpoch === STATIC_LEAVE_EPOCH && member.meta.instanceId !== null) {
        // Keeps its partitions for the session timeout, waiting for the same instance to come back.
        const epoch =
          member.current.memberEpoch === STATIC_LEAVE_EPOCH
            ? member.current.previousMemberEpoch
            : member.current.memberEpoch;
        write({
          type: 'current',
          group: groupId,
          memberId: input.memberId,
          value: { ...member.current, memberEpoch: STATIC_LEAVE_EPOCH, previousMemberEpoch: epoch },
        });
      } else {
        this.removeMember(existing!, input.memberId, write);
        this.rebalance(existing!, ctx.topics, write);
      }
      return { records, result };
    }
    const memberId = this.upsert(input, ctx, write);
    const now = this.groups.get(groupId)!.members.get(memberId)!.current;
    return {
      records,
      result: {
        memberId,
        memberEpoch: now.memberEpoch,
        heartbeatIntervalMs: this.config.heartbeatIntervalMs,
        assignment: now.assigned,
      },
    };
  }

  /**
   * The member a leave (epoch -1 or -2) names, whatever its epoch (a member fenced on its side may still
   * leave at once). As Kafka's consumerGroupLeave: a group that does not exist is GroupIdNotFound, a member
   * id it does not know UnknownMemberId (a leave answered before, or a member expelled: either way not a
   * member, and the SDK counts both answers as left); an instance id, when named, must be the member's
   * (FencedInstanceId for an earlier incarnation, UnknownMemberId when no member holds it).
   */
  private leavingMember(group: Group | undefined, input: HeartbeatInput): Member {
    if (!group) fail(ErrorCodes.GROUP_ID_NOT_FOUND, `group ${input.groupId} does not exist`);
    const member = group.members.get(input.memberId);
    if (input.instanceId !== undefined) {
      const holder = this.staticMember(group, input.instanceId);
      if (!holder)
        fail(ErrorCodes.UNKNOWN_MEMBER_ID, `no member of group ${group.id} has instance id ${input.instanceId}`);
      if (holder.memberId !== input.memberId)
        fail(
          ErrorCodes.FENCED_INSTANCE_ID,
          `instance ${input.instanceId} is member ${holder.memberId} now, not ${input.memberId}`,
        );
    }
    if (!member) fail(ErrorCodes.UNKNOWN_MEMBER_ID, `member ${input.memberId} is not in group ${group.id}`);
    return member;
  }

  /** A heartbeat that is not a leave (or a classic JoinGroup): join or check the member, then one reconciliation. */
  private upsert(input: HeartbeatInput, ctx: OpContext & { newMemberId: string }, write: (r: GroupRecord) => void) {
    const groupId = input.groupId;
    this.subscriptionEdited = false;
    this.rejoined = false;
    this.replacedStatic = false;
    const memberId = this.resolveMember(input, ctx, write);
    const group = this.groups.get(groupId)!;
    const member = group.members.get(memberId)!;
    this.deadlines(this.sessionDeadlines, groupId).set(memberId, ctx.nowMs + this.sessionTimeoutOf(member.meta));
    // A rejoin bumps the group epoch as a join does, so the member's new epoch is one no earlier
    // incarnation of it had: their commits, still on their way, are refused by epoch.
    if (this.rejoined || this.subscriptionEdited || this.subscriptionChanged(group, ctx.topics))
      this.rebalance(group, ctx.topics, write);
    // So does a static member's takeover, but without asking the assignor: nobody's partitions move.
    else if (this.replacedStatic) this.bumpEpoch(group, write);
    const newIncarnation = this.rejoined || this.replacedStatic;
    let owned = input.ownedTopicPartitions ? ownedFrom(input.ownedTopicPartitions) : undefined;
    // Joining with epoch 0, the member starts over: it owns only what it says it owns.
    if (newIncarnation) owned ??= tp.EMPTY;
    const next = this.reconcile(group, memberId, owned, newIncarnation);
    if (next !== member.current) {
      write({ type: 'current', group: groupId, memberId, value: next });
      const revocations = this.deadlines(this.revocationDeadlines, groupId);
      if (next.state === 'UnrevokedPartitions') {
        if (!revocations.has(memberId)) revocations.set(memberId, ctx.nowMs + member.meta.rebalanceTimeoutMs);
      } else revocations.delete(memberId);
    }
    return memberId;
  }

  /**
   * Joins, takes over (static membership), or checks the epoch of a member already in the group, and
   * records subscription changes. Returns the member id the heartbeat is about.
   */
  private resolveMember(
    input: HeartbeatInput,
    ctx: OpContext & { newMemberId: string },
    write: (r: GroupRecord) => void,
  ): string {
    const group = this.groups.get(input.groupId);
    if (input.memberEpoch === 0) return this.join(input, ctx, write);
    const member = group?.members.get(input.memberId);
    if (!group || !member) {
      // Replaced by a new incarnation of its instance (static membership): fenced for good, as Kafka's
      // FencedInstanceId. Told UnknownMemberId it would join again and take the instance back, and the
      // two would take the partitions from each other for ever, each consuming them until told.
      const replacement = input.instanceId !== undefined && group && this.staticMember(group, input.instanceId);
      if (replacement)
        fail(
          ErrorCodes.FENCED_INSTANCE_ID,
          `instance ${input.instanceId} is member ${replacement.memberId} now, not ${input.memberId}`,
        );
      fail(ErrorCodes.UNKNOWN_MEMBER_ID, `member ${input.memberId} is not in group ${input.groupId}`);
    }
    if (member.meta.classic && !input.classic)
      fail(ErrorCodes.UNKNOWN_MEMBER_ID, `member ${input.memberId} uses the classic protocol (JoinGroup)`);
    const current = member.current;
    if (current.memberEpoch === STATIC_LEAVE_EPOCH)
      fail(ErrorCodes.UNKNOWN_MEMBER_ID, `member ${input.memberId} left the group; rejoin with epoch 0`);
    if (input.memberEpoch > current.memberEpoch)
      fail(
        ErrorCodes.FENCED_MEMBER_EPOCH,
        `epoch ${input.memberEpoch} is ahead of the member's ${current.memberEpoch}`,
      );
    if (input.memberEpoch < current.memberEpoch) {
      // The response that moved the member to its current epoch may have been lost: its previous epoch
      // is fine as long as it claims no partition beyond what it has now.
      const owned = input.ownedTopicPartitions ? ownedFrom(input.ownedTopicPartitions) : undefined;
      if (input.memberEpoch !== current.previousMemberEpoch || !owned || !tp.isEmpty(tp.minus(owned, current.assigned)))
        fail(
          ErrorCodes.FENCED_MEMBER_EPOCH,
          `epoch ${input.memberEpoch} is behind the member's ${current.memberEpoch}`,
        );
    }
    this.updateMember(group, input.memberId, member.meta, input, write);
    return input.memberId;
  }

  private join(
    input: HeartbeatInput,
    ctx: OpContext & { newMemberId: string },
    write: (r: GroupRecord) => void,
  ): string {
    const group = this.groups.get(input.groupId);
    const memberId = input.memberId === '' ? ctx.newMemberId : input.memberId;
    const existing = group?.members.get(memberId);
    if (existing && group) {
      if (Boolean(existing.meta.classic) !== Boolean(input.classic))
        fail(ErrorCodes.UNKNOWN_MEMBER_ID, `member ${memberId} uses the other group protocol`);
      this.updateMember(group, memberId, existing.meta, input, write);
      // A KIP-848 member joins with epoch 0 only to start over (fenced on its side, e.g. cut off for a
      // session, or its last join's answer lost); a classic member's every JoinGroup comes here.
      if (!input.classic) this.rejoined = true;
      return memberId;
    }
    if (!input.subscribedTopicNames?.length && input.subscribedTopicRegex === undefined)
      fail(ErrorCodes.INVALID_REQUEST, 'a joining member needs subscribed_topic_names or subscribed_topic_regex');
    const meta = this.memberValue(undefined, input);
    const previous = input.instanceId !== undefined && group ? this.staticMember(group, input.instanceId) : undefined;
    // KIP-848 (GroupMetadataManager's throwIfInstanceIdIsUnreleased): between members of this protocol, a
    // new incarnation takes the instance over only from a member that left with epoch -2. Otherwise the
    // holder may be alive (the instance id configured twice, or an old process back from a pause that
    // found its session over on its side), and taking it over would fence a healthy newer process; the
    // joiner waits (UnreleasedInstanceId) until the holder leaves or its session ends here. A member
    // joining again under its own id is the holder itself, handled above as any member starting over.
    if (previous && !input.classic && !previous.member.meta.classic) {
      if (previous.member.current.memberEpoch !== STATIC_LEAVE_EPOCH)
        fail(
          ErrorCodes.UNRELEASED_INSTANCE_ID,
          `instance ${input.instanceId} is held by member ${previous.memberId}, which has not left`,
        );
    }
    if (!previous && group && group.members.size >= this.config.maxGroupSize)
      fail(ErrorCodes.GROUP_MAX_SIZE_REACHED, `group ${input.groupId} has ${group.members.size} members already`);
    if (!group) write({ type: 'group', group: input.groupId, value: { epoch: 0, topics: {} } });
    write({ type: 'member', group: input.groupId, memberId, value: meta });
    if (previous) {
      // Static membership: the new incarnation takes over the old one's partitions at once, and (upsert
      // bumps the group epoch) moves to an epoch no earlier incarnation of the instance had, so their
      // commits still on their way are refused by epoch even when it joins under an old member id (a
      // process that was not dead after all taking its instance back). KIP-848's coordinator gives it the
      // group's epoch, which can be the old member's.
      const old = previous.member.current;
      const epoch = old.memberEpoch === STATIC_LEAVE_EPOCH ? old.previousMemberEpoch : old.memberEpoch;
      const target = previous.member.target;
      this.removeMember(this.groups.get(input.groupId)!, previous.memberId, write);
      write({ type: 'target', group: input.groupId, memberId, value: { partitions: target } });
      // Its own assignment epoch (reconcile moves it to the new one): the earlier incarnation's are not its.
      const value = { ...old, memberEpoch: epoch, assignmentEpoch: epoch };
      write({ type: 'current', group: input.groupId, memberId, value });
      this.replacedStatic = true;
      const was = previous.member.meta;
      this.subscriptionEdited ||=
        JSON.stringify([was.subscribedTopicNames, was.subscribedTopicRegex, was.serverAssignor]) !==
        JSON.stringify([meta.subscribedTopicNames, meta.subscribedTopicRegex, meta.serverAssignor]);
    } else {
      this.rebalance(this.groups.get(input.groupId)!, ctx.topics, write);
    }
    return memberId;
  }

  /** Another member id holds `instanceId` now: `memberId` is an earlier incarnation of that static member. */
  private replacedInstance(group: Group, memberId: string, instanceId: string | null): boolean {
    if (instanceId === null) return false;
    const holder = this.staticMember(group, instanceId);
    return holder !== undefined && holder.memberId !== memberId;
  }

  private staticMember(group: Group, instanceId: string): { memberId: string; member: Member } | undefined {
    for (const [memberId, member] of group.members)
      if (member.meta.instanceId === instanceId) return { memberId, member };
    return undefined;
  }

  private memberValue(old: MemberValue | undefined, input: HeartbeatInput): MemberValue {
    if (input.serverAssignor !== undefined && !(ASSIGNOR_NAMES as readonly string[]).includes(input.serverAssignor))
      fail(
        ErrorCodes.UNSUPPORTED_ASSIGNOR,
        `assignor ${JSON.stringify(input.serverAssignor)} (supported: ${ASSIGNOR_NAMES.join(', ')})`,
      );
    if (input.subscribedTopicRegex !== undefined) this.regex(input.subscribedTopicRegex);
    const names = input.subscribedTopicNames ? [...new Set(input.subscribedTopicNames)].sort() : undefined;
    return {
      instanceId: input.instanceId ?? old?.instanceId ?? null,
      rackId: input.rackId ?? old?.rackId ?? null,
      clientId: input.clientId,
      clientHost: input.clientHost,
      subscribedTopicNames: names ?? old?.subscribedTopicNames ?? [],
      // Names and a regex exclude each other: sending one replaces the other.
      subscribedTopicRegex:
        input.subscribedTopicRegex ?? (names !== undefined ? null : (old?.subscribedTopicRegex ?? null)),
      serverAssignor: input.serverAssignor ?? old?.serverAssignor ?? null,
      rebalanceTimeoutMs:
        input.rebalanceTimeoutMs > 0
          ? input.rebalanceTimeoutMs
          : (old?.rebalanceTimeoutMs ?? DEFAULT_REBALANCE_TIMEOUT_MS),
      ...(input.classic ? { classic: input.classic } : {}),
    };
  }

  private updateMember(
    group: Group,
    memberId: string,
    old: MemberValue,
    input: HeartbeatInput,
    write: (r: GroupRecord) => void,
  ): void {
    const next = this.memberValue(old, input);
    if (input.subscribedTopicNames && input.subscribedTopicRegex !== undefined && next.subscribedTopicNames.length > 0)
      fail(ErrorCodes.INVALID_REQUEST, 'subscribe to topic names or to a regex, not both');
    if (JSON.stringify(next) === JSON.stringify(old)) return;
    this.subscriptionEdited ||=
      JSON.stringify(next.subscribedTopicNames) !== JSON.stringify(old.subscribedTopicNames) ||
      next.subscribedTopicRegex !== old.subscribedTopicRegex ||
      next.serverAssignor !== old.serverAssignor;
    write({ type: 'member', group: group.id, memberId, value: next });
  }

  private regex(source: string): RegExp {
    let re = this.regexCache.get(source);
    if (!re) {
      re = compileSubscriptionRegex(source);
      if (this.regexCache.size > 1000) this.regexCache.clear();
      this.regexCache.set(source, re);
    }
    return re;
  }

  private removeMember(group: Group, memberId: string, write: (r: GroupRecord) => void): void {
    write({ type: 'current', group: group.id, memberId, value: null });
    write({ type: 'target', group: group.id, memberId, value: null });
    write({ type: 'member', group: group.id, memberId, value: null });
  }

  // ---- Classic members (Kafka's JoinGroup/SyncGroup/Heartbeat/LeaveGroup) in a KIP-848 group ----

  /**
   * JoinGroup of a classic member into a group with KIP-848 members (Kafka 4's mixed consumer group): the
   * member's subscription and owned partitions come from its ConsumerProtocolSubscription, the server's
   * assignor gives it partitions, and it moves one reconciliation step as a heartbeat would. It is told no
   * leader and no member list, so its client assigns nothing; its generation is its member epoch.
   */
  classicJoin(input: ClassicJoinInput, ctx: OpContext & { newMemberId: string }): Outcome<ClassicJoinResult> {
    validateGroupId(input.groupId);
    const refused = (spec: ErrorSpec, memberId = input.memberId): Outcome<ClassicJoinResult> => ({
      records: [],
      result: { errorCode: spec.code, memberId, generationId: -1, protocolName: null },
    });
    if (input.protocolType !== 'consumer' || input.protocols.length === 0)
      return refused(ErrorCodes.INCONSISTENT_GROUP_PROTOCOL);
    let subscription: ReturnType<typeof decodeSubscription>;
    try {
      subscription = decodeSubscription(input.protocols[0]!.metadata);
    } catch {
      return refused(ErrorCodes.INCONSISTENT_GROUP_PROTOCOL);
    }
    const group = this.groups.get(input.groupId);
    // A process whose instance another member id holds now is an earlier incarnation: FENCED_INSTANCE_ID
    // (fatal in Kafka's clients). Told UNKNOWN_MEMBER_ID it would join again with no member id, take the
    // instance back, and the two processes would take the partitions from each other for ever.
    if (input.memberId !== '' && group && this.replacedInstance(group, input.memberId, input.instanceId))
      return refused(ErrorCodes.FENCED_INSTANCE_ID);
    const known = input.memberId !== '' && group?.members.has(input.memberId);
    if (known && !group!.members.get(input.memberId)!.meta.classic) return refused(ErrorCodes.UNKNOWN_MEMBER_ID);
    // An id the group does not know is one it handed out, or one it expelled: that member starts again.
    const pending = this.pendingClassicIds.get(input.groupId);
    if (input.memberId !== '' && !known && !pending?.has(input.memberId)) return refused(ErrorCodes.UNKNOWN_MEMBER_ID);
    const isStaticReturn = input.instanceId !== null && group && this.staticMember(group, input.instanceId);
    if (!known && !isStaticReturn && group && group.members.size >= this.config.maxGroupSize)
      return refused(ErrorCodes.GROUP_MAX_SIZE_REACHED);
    if (input.memberId === '' && input.requireKnownMemberId) {
      const ids = this.pendingClassicIds.get(input.groupId) ?? new Set<string>();
      if (ids.size >= PENDING_CLASSIC_IDS_MAX) ids.delete(ids.values().next().value!);
      this.pendingClassicIds.set(input.groupId, ids.add(ctx.newMemberId));
      return refused(ErrorCodes.MEMBER_ID_REQUIRED, ctx.newMemberId);
    }
    pending?.delete(input.memberId);
    const { records, write } = this.writer();
    const memberId = this.upsert(
      {
        groupId: input.groupId,
        memberId: input.memberId === '' ? ctx.newMemberId : input.memberId,
        memberEpoch: 0,
        instanceId: input.instanceId ?? undefined,
        rackId: subscription.rackId ?? undefined,
        rebalanceTimeoutMs: input.rebalanceTimeoutMs,
        subscribedTopicNames: subscription.topics,
        ownedTopicPartitions: Object.entries(subscription.ownedPartitions).map(([topic, partitions]) => ({
          topic,
          partitions,
        })),
        clientId: input.clientId,
        clientHost: input.clientHost,
        classic: {
          sessionTimeoutMs: input.sessionTimeoutMs,
          protocols: input.protocols.map((p) => ({ name: p.name, metadata: p.metadata.toString('base64') })),
        },
      },
      ctx,
      write,
    );
    const member = this.groups.get(input.groupId)!.members.get(memberId)!;
    // Its SyncGroup must follow within its rebalance timeout.
    this.deadlines(this.classicDeadlines, input.groupId).set(memberId, ctx.nowMs + member.meta.rebalanceTimeoutMs);
    this.classicRejoinAsked.get(input.groupId)?.delete(memberId);
    return {
      records,
      result: {
        errorCode: 0,
        memberId,
        generationId: member.current.memberEpoch,
        protocolName: input.protocols[0]!.name,
      },
    };
  }

  /** The classic member a SyncGroup or Heartbeat names, at the generation it names, or an error code. */
  private classicMember(input: ClassicMemberRequest, nowMs: number): { group: Group; member: Member } | number {
    const group = this.groups.get(input.groupId);
    const member = group?.members.get(input.memberId);
    // An earlier incarnation of a static member (see classicJoin): fenced for good.
    if (group && this.replacedInstance(group, input.memberId, input.groupInstanceId ?? null))
      return ErrorCodes.FENCED_INSTANCE_ID.code;
    if (!group || !member?.meta.classic) return ErrorCodes.UNKNOWN_MEMBER_ID.code;
    this.deadlines(this.sessionDeadlines, group.id).set(input.memberId, nowMs + this.sessionTimeoutOf(member.meta));
    if (input.generationId !== member.current.memberEpoch) return ErrorCodes.ILLEGAL_GENERATION.code;
    return { group, member };
  }

  /**
   * Whether a classic member must join again: the group moved past its epoch and its partitions are to
   * change (classicBehind), or partitions it waits for are free now. A move of the group epoch that leaves
   * it holding exactly its target does not make it join. The JoinGroup must come within its rebalance timeout.
   */
  private classicMustRejoin(group: Group, memberId: string, member: Member, nowMs: number): boolean {
    const current = member.current;
    const behind = classicBehind(group, member);
    const released =
      current.state === 'UnreleasedPartitions' &&
      tp.toKeys(tp.minus(member.target, current.assigned)).some((key) => !group.owners.has(key));
    const asked = this.classicRejoinAsked.get(group.id) ?? new Set<string>();
    if (!behind && !released) {
      // Asked to join again, and no longer needs to (its target is what it holds again, see classicBehind):
      // no JoinGroup is due, so it is not expelled for not sending one (say the answer that asked was lost).
      if (asked.delete(memberId)) this.classicDeadlines.get(group.id)?.delete(memberId);
      return false;
    }
    const deadlines = this.deadlines(this.classicDeadlines, group.id);
    if (!deadlines.has(memberId)) {
      deadlines.set(memberId, nowMs + member.meta.rebalanceTimeoutMs);
      this.classicRejoinAsked.set(group.id, asked.add(memberId));
    }
    return true;
  }

  /** SyncGroup of a classic member: its assigned partitions (not those pending revocation), consumer protocol bytes. */
  classicSync(input: ClassicMemberRequest, nowMs: number): ClassicSyncResult {
    const found = this.classicMember(input, nowMs);
    if (typeof found === 'number') return { errorCode: found, protocolName: null, assignment: Buffer.alloc(0) };
    const { group, member } = found;
    this.classicDeadlines.get(group.id)?.delete(input.memberId);
    this.classicRejoinAsked.get(group.id)?.delete(input.memberId);
    if (classicBehind(group, member)) {
      this.classicMustRejoin(group, input.memberId, member, nowMs);
      return { errorCode: ErrorCodes.REBALANCE_IN_PROGRESS.code, protocolName: null, assignment: Buffer.alloc(0) };
    }
    const protocolName = member.meta.classic!.protocols[0]?.name ?? null;
    return { errorCode: 0, protocolName, assignment: encodeAssignment(member.current.assigned) };
  }

  /** Heartbeat of a classic member: an error code; REBALANCE_IN_PROGRESS makes it join again. */
  classicHeartbeat(input: ClassicMemberRequest, nowMs: number): number {
    const found = this.classicMember(input, nowMs);
    if (typeof found === 'number') return found;
    const { group, member } = found;
    return this.classicMustRejoin(group, input.memberId, member, nowMs) ? ErrorCodes.REBALANCE_IN_PROGRESS.code : 0;
  }

  /**
   * LeaveGroup in a KIP-848 group: removes the members it names, classic or KIP-848 (Kafka's
   * classicGroupLeaveToConsumerGroup checks no protocol since KAFKA-18188, as a KIP-848 leave does not: a
   * member id is its holder's secret, so either API ends the membership). A static member may be named by
   * its instance id alone (KIP-345's admin removal); an instance id no member holds is UnknownMemberId.
   */
  classicLeave(
    groupId: string,
    leaving: readonly { memberId: string; instanceId: string | null }[],
    ctx: OpContext,
  ): Outcome<number[]> {
    const { records, write } = this.writer();
    const group = this.groups.get(groupId);
    const codes = leaving.map(({ memberId, instanceId }) => {
      const byInstance = group && instanceId !== null ? this.staticMember(group, instanceId) : undefined;
      if (instanceId !== null && !byInstance) return ErrorCodes.UNKNOWN_MEMBER_ID.code;
      if (byInstance && memberId !== '' && memberId !== byInstance.memberId) return ErrorCodes.FENCED_INSTANCE_ID.code;
      const id = byInstance?.memberId ?? memberId;
      if (!group?.members.has(id)) return ErrorCodes.UNKNOWN_MEMBER_ID.code;
      this.removeMember(group, id, write);
      return 0;
    });
    if (group && records.length > 0) this.rebalance(group, ctx.topics, write);
    return { records, result: codes };
  }

  hasMembers(groupId: string): boolean {
    return (this.groups.get(groupId)?.members.size ?? 0) > 0;
  }

  /** Every member of the group speaks the classic protocol (and there is at least one): it can become classic again. */
  onlyClassicMembers(groupId: string): boolean {
    const members = [...(this.groups.get(groupId)?.members.values() ?? [])];
    return members.length > 0 && members.every((m) => m.meta.classic !== undefined);
  }

  /**
   * Upgrade (Kafka's group.consumer.migration.policy): a classic group a KIP-848 member joins becomes a group
   * of this core. Each classic member keeps its generation as member epoch, and as current and target
   * assignment the partitions of its last assignment plus those its last JoinGroup said it owned (decoded
   * from the consumer protocol): all a cooperative client may still consume. The group epoch is at least
   * the generation. The joining member's heartbeat then bumps the epoch; the classic members whose partitions
   * are to change are told REBALANCE_IN_PROGRESS on their next heartbeat (see classicBehind). A partition
   * named by two members (a client assignor's fault) goes to the first. Throws InconsistentGroupProtocol
   * when a member's bytes do not parse.
   */
  adoptClassicGroup(groupId: string, classic: ClassicGroupValue, ctx: OpContext): GroupRecord[] {
    const members = classic.members.map((m) => {
      const protocols = m.protocols.map((p) => ({ name: p.name, metadata: Buffer.from(p.metadata, 'base64') }));
      const chosen = protocols.find((p) => p.name === classic.protocolName) ?? protocols[0];
      try {
        const subscription = decodeSubscription(chosen?.metadata ?? Buffer.alloc(0));
        // What it still owns from before its last join (cooperative metadata) may not be handed back yet.
        const assigned = tp.union(decodeAssignment(Buffer.from(m.assignment, 'base64')), subscription.ownedPartitions);
        return { m, subscription, assigned };
      } catch {
        return fail(
          ErrorCodes.INCONSISTENT_GROUP_PROTOCOL,
          `member ${m.memberId}'s consumer protocol bytes do not parse`,
        );
      }
    });
    const { records, write } = this.writer();
    const existing = this.groups.get(groupId);
    const epoch = Math.max(existing?.meta.epoch ?? 0, classic.generationId);
    write({
      type: 'group',
      group: groupId,
      value: {
        epoch,
        topics: this.countsOf(
          members.map((x) => x.subscription.topics),
          ctx.topics,
        ),
      },
    });
    const taken = new Set<string>();
    for (const { m, subscription, assigned } of members) {
      const mine = tp.toKeys(assigned).filter((key) => !taken.has(key));
      for (const key of mine) taken.add(key);
      const partitions = tp.fromKeys(mine);
      write({
        type: 'member',
        group: groupId,
        memberId: m.memberId,
        value: {
          instanceId: m.instanceId,
          rackId: subscription.rackId,
          clientId: m.clientId,
          clientHost: m.clientHost,
          subscribedTopicNames: [...new Set(subscription.topics)].sort(),
          subscribedTopicRegex: null,
          serverAssignor: null,
          rebalanceTimeoutMs: m.rebalanceTimeoutMs,
          classic: { sessionTimeoutMs: m.sessionTimeoutMs, protocols: m.protocols },
        },
      });
      write({ type: 'target', group: groupId, memberId: m.memberId, value: { partitions } });
      const current: CurrentValue = {
        memberEpoch: classic.generationId,
        previousMemberEpoch: -1,
        state: 'Stable',
        assigned: partitions,
        pendingRevocation: tp.EMPTY,
      };
      write({ type: 'current', group: groupId, memberId: m.memberId, value: current });
      this.deadlines(this.sessionDeadlines, groupId).set(m.memberId, ctx.nowMs + m.sessionTimeoutMs);
    }
    return records;
  }

  /**
   * Downgrade: the members of a group whose last KIP-848 member left leave this core (its offsets stay),
   * and the classic group to start in their place is returned: a generation past every member epoch (so
   * each member's next heartbeat is refused and it joins again), their protocols, and as assignment what
   * each still holds (assigned or pending revocation), which is never less than what its client consumes.
   */
  releaseToClassic(groupId: string): Outcome<ClassicGroupValue> {
    const group = this.groups.get(groupId);
    if (!group) fail(ErrorCodes.GROUP_ID_NOT_FOUND, `group ${groupId} does not exist`);
    const { records, write } = this.writer();
    const members = [...group.members].map(([memberId, m]) => ({
      memberId,
      instanceId: m.meta.instanceId,
      clientId: m.meta.clientId,
      clientHost: m.meta.clientHost,
      sessionTimeoutMs: m.meta.classic?.sessionTimeoutMs ?? this.config.sessionTimeoutMs,
      rebalanceTimeoutMs: m.meta.rebalanceTimeoutMs,
      protocols: m.meta.classic?.protocols ?? [],
      assignment: encodeAssignment(tp.union(m.current.assigned, m.current.pendingRevocation)).toString('base64'),
    }));
    for (const memberId of [...group.members.keys()]) this.removeMember(group, memberId, write);
    const result: ClassicGroupValue = {
      generationId: group.meta.epoch + 1,
      protocolType: 'consumer',
      protocolName: members[0]?.protocols[0]?.name ?? null,
      leader: null,
      members,
    };
    return { records, result };
  }

  // ---- Assignment ----

  /** The existing topics a member subscribes to. */
  private memberTopics(meta: MemberValue, topics: TopicsView): string[] {
    const out = new Set<string>();
    for (const name of meta.subscribedTopicNames) if (topics.has(name)) out.add(name);
    if (meta.subscribedTopicRegex !== null) {
      const re = this.regex(meta.subscribedTopicRegex);
      for (const name of topics.keys()) if (!name.startsWith('__') && re.test(name)) out.add(name);
    }
    return [...out].sort();
  }

  private subscribedCounts(group: Group, topics: TopicsView): Record<string, number> {
    return this.countsOf(
      [...group.members.values()].map((member) => this.memberTopics(member.meta, topics)),
      topics,
    );
  }

  private countsOf(subscriptions: readonly (readonly string[])[], topics: TopicsView): Record<string, number> {
    const names = new Set<string>();
    for (const list of subscriptions) for (const t of list) if (topics.has(t)) names.add(t);
    const counts: Record<string, number> = {};
    for (const name of [...names].sort()) counts[name] = topics.get(name)!;
    return counts;
  }

  private subscriptionChanged(group: Group, topics: TopicsView): boolean {
    return JSON.stringify(this.subscribedCounts(group, topics)) !== JSON.stringify(group.meta.topics);
  }

  private groupAssignor(group: Group): AssignorName {
    const votes = new Map<string, number>();
    for (const m of group.members.values())
      if (m.meta.serverAssignor !== null) votes.set(m.meta.serverAssignor, (votes.get(m.meta.serverAssignor) ?? 0) + 1);
    let best: AssignorName = this.config.assignors[0] ?? 'uniform';
    let bestVotes = 0;
    for (const name of this.config.assignors) {
      const n = votes.get(name) ?? 0;
      if (n > bestVotes) [best, bestVotes] = [name, n];
    }
    return best;
  }

  /** Bumps the group epoch and computes the new target assignment at once (no Assigning state). */
  private rebalance(group: Group, topics: TopicsView, write: (r: GroupRecord) => void): void {
    const counts = this.subscribedCounts(group, topics);
    const memberIds = [...group.members.keys()].sort();
    const target = assignorFor(this.groupAssignor(group))({
      members: memberIds.map((memberId) => ({
        memberId,
        topics: this.memberTopics(group.members.get(memberId)!.meta, topics),
      })),
      partitionCounts: new Map(Object.entries(counts)),
      previous: new Map(memberIds.map((id) => [id, group.members.get(id)!.target])),
    });
    for (const memberId of memberIds) {
      const partitions = target.get(memberId) ?? tp.EMPTY;
      if (!tp.equal(partitions, group.members.get(memberId)!.target))
        write({ type: 'target', group: group.id, memberId, value: { partitions } });
    }
    write({ type: 'group', group: group.id, value: { epoch: group.meta.epoch + 1, topics: counts } });
  }

  /** A new group epoch with the target assignment as it is (members at the old one move up on their next heartbeat). */
  private bumpEpoch(group: Group, write: (r: GroupRecord) => void): void {
    write({ type: 'group', group: group.id, value: { ...group.meta, epoch: group.meta.epoch + 1 } });
  }

  /**
   * One step of the member towards its target (KIP-848's current assignment builder). It first gives
   * up what it must (kept at its epoch until it reports them gone), then moves to the target epoch
   * with the target partitions nobody else holds; the others follow as their holders release them.
   */
  private reconcile(
    group: Group,
    memberId: string,
    owned: TopicPartitions | undefined,
    rejoined = false,
  ): CurrentValue {
    const member = group.members.get(memberId)!;
    const current = member.current;
    const targetEpoch = group.meta.epoch;
    if (current.state === 'UnrevokedPartitions') {
      if (!owned || !tp.isEmpty(tp.intersect(owned, current.pendingRevocation))) return current;
    } else if (current.state === 'Stable' && current.memberEpoch === targetEpoch) {
      return current;
    }
    const target = member.target;
    const keep = tp.intersect(current.assigned, target);
    const revoke = tp.minus(current.assigned, target);
    // A classic member says in its JoinGroup what it still owns (nothing, for an eager one: it gave all up
    // before joining), as does a KIP-848 member rejoining with epoch 0: what it no longer owns needs no
    // revocation round (Kafka's CurrentAssignmentBuilder).
    const alreadyGone =
      (member.meta.classic !== undefined || rejoined) && owned && tp.isEmpty(tp.intersect(revoke, owned));
    if (!tp.isEmpty(revoke) && !alreadyGone)
      return next(current, {
        memberEpoch: current.memberEpoch,
        previousMemberEpoch: current.previousMemberEpoch,
        state: 'UnrevokedPartitions',
        assigned: keep,
        pendingRevocation: revoke,
        assignmentEpoch: assignmentEpochOf(current),
      });
    const wanted = tp.toKeys(tp.minus(target, current.assigned));
    const free = wanted.filter((key) => {
      const holder = group.owners.get(key);
      return holder === undefined || holder === memberId;
    });
    const epochs =
      current.memberEpoch === targetEpoch
        ? { memberEpoch: current.memberEpoch, previousMemberEpoch: current.previousMemberEpoch }
        : { memberEpoch: targetEpoch, previousMemberEpoch: current.memberEpoch };
    const state: MemberState = free.length < wanted.length ? 'UnreleasedPartitions' : 'Stable';
    const assigned = tp.union(keep, tp.fromKeys(free));
    // An epoch-only move (a takeover, or a join or leave elsewhere that leaves this member's partitions as
    // they were) keeps the assignment epoch: the member's commits sent before it heard of its new epoch
    // still come from the assignment it has. A new incarnation starts its own.
    const unchanged =
      !rejoined && tp.equal(assigned, tp.union(current.assigned, current.pendingRevocation)) && current.memberEpoch > 0;
    return next(current, {
      ...epochs,
      state,
      assigned,
      pendingRevocation: tp.EMPTY,
      assignmentEpoch: unchanged ? assignmentEpochOf(current) : epochs.memberEpoch,
    });
  }

  // ---- Timers ----

  /** Expels members whose session or revocation deadline passed; expires offsets of empty groups. */
  tick(ctx: OpContext): GroupRecord[] {
    const { records, write } = this.writer();
    for (const table of this.deadlineTables())
      for (const [groupId, members] of table)
        for (const [memberId, deadline] of members) {
          if (deadline > ctx.nowMs) continue;
          const group = this.groups.get(groupId);
          members.delete(memberId);
          if (!group?.members.has(memberId)) continue;
          this.removeMember(group, memberId, write);
          this.rebalance(group, ctx.topics, write);
        }
    if (ctx.nowMs >= this.nextRetentionCheckMs) {
      this.nextRetentionCheckMs = ctx.nowMs + this.config.offsetsRetentionCheckIntervalMs;
      this.expireOffsets(ctx.nowMs, write);
    }
    return records;
  }

  private expireOffsets(nowMs: number, write: (r: GroupRecord) => void): void {
    for (const group of [...this.groups.values()]) {
      if (group.members.size > 0) continue;
      for (const { topic, partition, value } of [...group.offsets.values()])
        if (value.commitTimestampMs + this.config.offsetsRetentionMs <= nowMs)
          write({ type: 'offset', group: group.id, topic, partition, value: null });
      if (group.offsets.size === 0) write({ type: 'group', group: group.id, value: null });
    }
  }

  /** The earliest time `tick` has something to do. */
  nextDeadlineMs(): number {
    let next = this.nextRetentionCheckMs;
    for (const table of this.deadlineTables())
      for (const members of table.values()) for (const deadline of members.values()) next = Math.min(next, deadline);
    return next;
  }

  // ---- Offsets ----

  commitOffsets(input: CommitInput, ctx: OpContext): Outcome<PartitionResults> {
    validateGroupId(input.groupId, true);
    const group = this.groups.get(input.groupId);
    const admin = input.memberEpoch < 0;
    let memberId: string | undefined;
    if (admin) {
      if (group && group.members.size > 0)
        fail(ErrorCodes.UNKNOWN_MEMBER_ID, `group ${input.groupId} has members: only they can commit`);
    } else {
      this.checkMember(group, input.groupId, input.memberId, input.memberEpoch);
      memberId = input.memberId;
    }
    const { records, write } = this.writer();
    const result = input.topics.map((topic) => ({
      name: topic.name,
      partitions: topic.partitions.map((p) => {
        const error = this.commitError(group, memberId, topic.name, p, ctx.topics);
        if (error.errorCode === 0 && !this.isRecentRepeat(group, topic.name, p, ctx.nowMs)) {
          if (!this.groups.has(input.groupId))
            write({ type: 'group', group: input.groupId, value: { epoch: 0, topics: {} } });
          write({
            type: 'offset',
            group: input.groupId,
            topic: topic.name,
            partition: p.partition,
            value: { offset: p.offset, leaderEpoch: epochOf(p), metadata: p.metadata, commitTimestampMs: ctx.nowMs },
          });
        }
        return { partition: p.partition, ...error };
      }),
    }));
    return { records, result };
  }

  /**
   * TxnOffsetCommit (KIP-98, KIP-447): the offset records of a producer's transaction, checked as a
   * commit is (member id and epoch, ownership, offset and metadata) but NOT applied: they stay pending
   * (txn-offsets.ts) until the transaction's marker reaches the partition. A stale member epoch is
   * IllegalGeneration, as Kafka answers TxnOffsetCommit (it has no StaleMemberEpoch).
   */
  txnCommitRecords(input: CommitInput, ctx: OpContext): Outcome<PartitionResults> {
    validateGroupId(input.groupId);
    const group = this.groups.get(input.groupId);
    let memberId: string | undefined;
    if (input.memberEpoch < 0) {
      if (group && group.members.size > 0 && !input.memberless)
        fail(ErrorCodes.UNKNOWN_MEMBER_ID, `group ${input.groupId} has members: only they can commit`);
    } else {
      if (!group) fail(ErrorCodes.GROUP_ID_NOT_FOUND, `group ${input.groupId} does not exist`);
      try {
        this.checkMember(group, input.groupId, input.memberId, input.memberEpoch);
      } catch (err) {
        if (err instanceof SamsaError && err.code === ErrorCodes.STALE_MEMBER_EPOCH.code)
          fail(ErrorCodes.ILLEGAL_GENERATION, err.detail);
        throw err;
      }
      memberId = input.memberId;
    }
    const records: GroupRecord[] = [];
    const result = input.topics.map((topic) => ({
      name: topic.name,
      partitions: topic.partitions.map((p) => {
        const error = this.commitError(group, memberId, topic.name, p, ctx.topics);
        if (error.errorCode === 0) {
          const value = {
            offset: p.offset,
            leaderEpoch: epochOf(p),
            metadata: p.metadata,
            commitTimestampMs: ctx.nowMs,
          };
          records.push({ type: 'offset', group: input.groupId, topic: topic.name, partition: p.partition, value });
        }
        return { partition: p.partition, ...error };
      }),
    }));
    return { records, result };
  }

  /**
   * An idle consumer commits the same offsets every auto-commit interval; writing each would grow the
   * log (and the load after a failover) with nothing new. A commit equal to the stored one, written
   * less than REPEAT_REFRESH_MS (at most a hundredth of the retention) ago, is acknowledged without a
   * record: the stored record is already replicated (the answer waits for the high watermark to pass
   * everything written), and the retention clock is refreshed at that interval.
   */
  private isRecentRepeat(
    group: Group | undefined,
    topic: string,
    p: CommitInput['topics'][number]['partitions'][number],
    nowMs: number,
  ): boolean {
    const stored = group?.offsets.get(tp.tpKey(topic, p.partition))?.value;
    if (!stored || stored.offset !== p.offset || stored.leaderEpoch !== epochOf(p) || stored.metadata !== p.metadata)
      return false;
    const refreshMs = Math.min(REPEAT_REFRESH_MS, this.config.offsetsRetentionMs / 100);
    return nowMs - stored.commitTimestampMs < refreshMs;
  }

  private commitError(
    group: Group | undefined,
    memberId: string | undefined,
    topic: string,
    p: CommitInput['topics'][number]['partitions'][number],
    topics: TopicsView,
  ): PartitionError {
    if (!Number.isSafeInteger(p.offset) || p.offset < 0)
      return partitionError(ErrorCodes.INVALID_REQUEST, `committed offset ${p.offset} is negative`);
    if (Buffer.byteLength(p.metadata, 'utf8') > this.config.offsetMetadataMaxBytes)
      return partitionError(
        ErrorCodes.OFFSET_METADATA_TOO_LARGE,
        `metadata is over ${this.config.offsetMetadataMaxBytes} bytes`,
      );
    if (memberId !== undefined) {
      if (group?.owners.get(tp.tpKey(topic, p.partition)) !== memberId)
        return partitionError(
          group?.members.get(memberId)?.meta.classic ? ErrorCodes.ILLEGAL_GENERATION : ErrorCodes.STALE_MEMBER_EPOCH,
          `${topic}-${p.partition} is not assigned to member ${memberId}`,
        );
    } else if (!(p.partition >= 0 && p.partition < (topics.get(topic) ?? 0))) {
      return partitionError(ErrorCodes.UNKNOWN_TOPIC_OR_PARTITION, `${topic}-${p.partition} does not exist`);
    }
    return NONE;
  }

  /**
   * A member's commit or fetch: the member must be in the group at this epoch, or (a KIP-848 member) at an
   * earlier one since which its partitions have not changed (KIP-1251): an epoch-only move, such as the
   * group epoch a static member's takeover or a join elsewhere bumps, does not fail the commits the member
   * sent before it heard of its new epoch. A classic member's generation must be exact.
   */
  private checkMember(group: Group | undefined, groupId: string, memberId: string, memberEpoch: number): void {
    const member = group?.members.get(memberId);
    if (!member) fail(ErrorCodes.UNKNOWN_MEMBER_ID, `member ${memberId} is not in group ${groupId}`);
    const current = member.current;
    if (current.memberEpoch === STATIC_LEAVE_EPOCH)
      fail(ErrorCodes.UNKNOWN_MEMBER_ID, `member ${memberId} left group ${groupId}`);
    const since = member.meta.classic ? current.memberEpoch : assignmentEpochOf(current);
    if (memberEpoch < since || memberEpoch > current.memberEpoch)
      fail(
        // A classic member's epoch is its generation: ILLEGAL_GENERATION is what its client understands.
        member.meta.classic ? ErrorCodes.ILLEGAL_GENERATION : ErrorCodes.STALE_MEMBER_EPOCH,
        `epoch ${memberEpoch} is not the member's current epoch ${member.current.memberEpoch}`,
      );
  }

  fetchOffsets(input: {
    groupId: string;
    memberId: string;
    memberEpoch: number;
    topics: readonly { name: string; partitions: readonly number[] }[];
  }): { name: string; partitions: FetchedOffset[] }[] {
    validateGroupId(input.groupId, true);
    const group = this.groups.get(input.groupId);
    if (input.memberEpoch >= 0) this.checkMember(group, input.groupId, input.memberId, input.memberEpoch);
    const lookup = (topic: string, partition: number): FetchedOffset => {
      const found = group?.offsets.get(tp.tpKey(topic, partition))?.value;
      return found
        ? { partition, offset: found.offset, leaderEpoch: found.leaderEpoch, metadata: found.metadata }
        : { partition, offset: -1, leaderEpoch: -1, metadata: '' };
    };
    if (input.topics.length > 0)
      return input.topics.map((t) => ({ name: t.name, partitions: t.partitions.map((p) => lookup(t.name, p)) }));
    const byTopic = new Map<string, FetchedOffset[]>();
    for (const { topic, partition } of group?.offsets.values() ?? []) {
      const list = byTopic.get(topic) ?? [];
      byTopic.set(topic, list);
      list.push(lookup(topic, partition));
    }
    return [...byTopic.keys()].sort().map((name) => ({
      name,
      partitions: byTopic.get(name)!.sort((a, b) => a.partition - b.partition),
    }));
  }

  deleteOffsets(
    input: {
      groupId: string;
      topics: readonly { name: string; partitions: readonly number[] }[];
    },
    ctx: OpContext,
  ): Outcome<PartitionResults> {
    validateGroupId(input.groupId);
    const group = this.groups.get(input.groupId);
    if (!group) fail(ErrorCodes.GROUP_ID_NOT_FOUND, `group ${input.groupId} does not exist`);
    const subscribed = new Set<string>();
    for (const m of group.members.values()) for (const t of this.memberTopics(m.meta, ctx.topics)) subscribed.add(t);
    for (const m of group.members.values()) for (const t of m.meta.subscribedTopicNames) subscribed.add(t);
    const { records, write } = this.writer();
    const result = input.topics.map((t) => ({
      name: t.name,
      partitions: t.partitions.map((partition) => {
        if (subscribed.has(t.name))
          return {
            partition,
            ...partitionError(ErrorCodes.GROUP_SUBSCRIBED_TO_TOPIC, `a member of ${group.id} reads ${t.name}`),
          };
        if (group.offsets.has(tp.tpKey(t.name, partition)))
          write({ type: 'offset', group: group.id, topic: t.name, partition, value: null });
        return { partition, ...NONE };
      }),
    }));
    return { records, result };
  }

  // ---- Groups ----

  deleteGroups(groupIds: readonly string[]): Outcome<{ groupId: string; error: PartitionError }[]> {
    const { records, write } = this.writer();
    const result = groupIds.map((groupId) => {
      try {
        validateGroupId(groupId, true);
        const group = this.groups.get(groupId);
        if (!group) fail(ErrorCodes.GROUP_ID_NOT_FOUND, `group ${groupId} does not exist`);
        if (group.members.size > 0)
          fail(ErrorCodes.NON_EMPTY_GROUP, `group ${groupId} has ${group.members.size} members`);
        for (const { topic, partition } of [...group.offsets.values()])
          write({ type: 'offset', group: groupId, topic, partition, value: null });
        write({ type: 'group', group: groupId, value: null });
        return { groupId, error: NONE };
      } catch (err) {
        if (!(err instanceof SamsaError)) throw err;
        return { groupId, error: { errorCode: err.code, errorMessage: err.detail } };
      }
    });
    return { records, result };
  }

  groupState(groupId: string): GroupState | undefined {
    const group = this.groups.get(groupId);
    if (!group) return undefined;
    if (group.members.size === 0) return 'Empty';
    for (const m of group.members.values())
      if (
        m.current.state !== 'Stable' ||
        (m.current.memberEpoch !== group.meta.epoch &&
          m.current.memberEpoch !== STATIC_LEAVE_EPOCH &&
          !classicSettled(m))
      )
        return 'Reconciling';
    return 'Stable';
  }

  listGroups(): { groupId: string; state: GroupState }[] {
    return [...this.groups.keys()].sort().map((groupId) => ({ groupId, state: this.groupState(groupId)! }));
  }

  describeGroup(groupId: string): GroupDescription | undefined {
    const group = this.groups.get(groupId);
    if (!group) return undefined;
    return {
      groupId,
      state: this.groupState(groupId)!,
      epoch: group.meta.epoch,
      assignor: this.groupAssignor(group),
      members: [...group.members.keys()].sort().map((memberId) => {
        const m = group.members.get(memberId)!;
        return { memberId, member: m.meta, current: m.current, target: m.target };
      }),
    };
  }

  hasGroup(groupId: string): boolean {
    return this.groups.has(groupId);
  }

  /** For invariant checks: partition key -> holder, per group. */
  ownersOf(groupId: string): ReadonlyMap<string, string> {
    return this.groups.get(groupId)?.owners ?? new Map();
  }

  /** For invariant checks and tests: a committed offset as the core has it. */
  committedOffset(groupId: string, topic: string, partition: number): number | undefined {
    return this.groups.get(groupId)?.offsets.get(tp.tpKey(topic, partition))?.value.offset;
  }
}

/**
 * A classic member whose partitions the group epoch's moves left as they were: it holds its whole target and
 * nothing else. It stays at its epoch (its generation) rather than join again, which would cost an eager
 * client a stop of everything it consumes for nothing (a KIP-848 member's rejoin, a static takeover, a
 * change elsewhere in the group).
 */
function classicSettled(member: Member): boolean {
  const current = member.current;
  return (
    member.meta.classic !== undefined &&
    current.state === 'Stable' &&
    tp.isEmpty(current.pendingRevocation) &&
    tp.equal(current.assigned, member.target)
  );
}

/**
 * A classic member must join again to move: the group epoch moved past its epoch and its partitions are
 * to change (unless it is giving partitions up, which its client finishes with a JoinGroup of its own).
 */
function classicBehind(group: Group, member: Member): boolean {
  const current = member.current;
  return current.memberEpoch < group.meta.epoch && current.state !== 'UnrevokedPartitions' && !classicSettled(member);
}

function ownedFrom(list: readonly { topic: string; partitions: readonly number[] }[]): TopicPartitions {
  const keys: string[] = [];
  for (const { topic, partitions } of list) for (const p of partitions) keys.push(tp.tpKey(topic, p));
  return tp.fromKeys(keys);
}

/** The member's next state, or the same object when nothing changed (so no record is written). */
function next(current: CurrentValue, proposed: CurrentValue): CurrentValue {
  const same =
    current.memberEpoch === proposed.memberEpoch &&
    current.previousMemberEpoch === proposed.previousMemberEpoch &&
    current.state === proposed.state &&
    tp.equal(current.assigned, proposed.assigned) &&
    tp.equal(current.pendingRevocation, proposed.pendingRevocation) &&
    assignmentEpochOf(current) === assignmentEpochOf(proposed);
  return same ? current : proposed;
}

/** The epoch from which the member's commits are its current assignment's (records before it: its epoch). */
function assignmentEpochOf(current: CurrentValue): number {
  return current.assignmentEpoch ?? current.memberEpoch;
}
