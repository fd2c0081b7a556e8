import { ErrorCodes } from '@samsa/protocol';
import type { AssignorName } from './assignors.js';
import type { ClassicMemberRequest, GroupDescription } from './core.js';
import * as tp from './partitions.js';
import type { TopicPartitions } from './partitions.js';
import type { ClassicGroupRecord, ClassicGroupValue, ClassicMemberValue } from './records.js';

/**
 * Kafka's classic group protocol (JoinGroup, SyncGroup, Heartbeat, LeaveGroup) for the groups of one
 * __consumer_offsets partition, as a pure state machine beside the KIP-848 core. The coordinator only
 * collects the members and their protocol metadata, picks a protocol all of them support, names a
 * leader, and hands out the assignment the leader's client-side assignor computed; eager and
 * cooperative rebalancing are the clients' business.
 *
 * JoinGroup and SyncGroup answers wait for other members: operations return the answers they complete
 * (`completed`), the driver holds the waiting requests. Time is an input. The group (generation,
 * protocol, leader, members with metadata and assignments) is written as one `classic` record when a
 * generation's assignment is in place, when the group empties and when it is deleted, as Kafka writes
 * its GroupMetadata record; a loaded group is Stable (or Empty) at its stored generation and its
 * members' session timers start again.
 */

export interface ClassicConfig {
  /** group.min.session.timeout.ms */
  readonly minSessionTimeoutMs: number;
  /** group.max.session.timeout.ms */
  readonly maxSessionTimeoutMs: number;
  /** group.initial.rebalance.delay.ms: how long the first rebalance of an empty group waits for more members. */
  readonly initialRebalanceDelayMs: number;
  /** group.max.size */
  readonly maxGroupSize: number;
  /**
   * group.consumer.migration.policy: whether a classic group becomes a KIP-848 group when a KIP-848 member
   * joins it (upgrade), and back when only classic members are left (downgrade).
   */
  readonly migrationPolicy: MigrationPolicy;
}

export const MIGRATION_POLICIES = ['bidirectional', 'upgrade', 'downgrade', 'disabled'] as const;
export type MigrationPolicy = (typeof MIGRATION_POLICIES)[number];

export const DEFAULT_CLASSIC_CONFIG: ClassicConfig = Object.freeze({
  minSessionTimeoutMs: 6_000,
  maxSessionTimeoutMs: 1_800_000,
  initialRebalanceDelayMs: 3_000,
  maxGroupSize: 2 ** 31 - 1,
  migrationPolicy: 'bidirectional',
});

export type ClassicState = 'Empty' | 'PreparingRebalance' | 'CompletingRebalance' | 'Stable';

export interface ClassicProtocol {
  readonly name: string;
  readonly metadata: Buffer;
}

export interface JoinInput {
  readonly groupId: string;
  readonly memberId: string;
  readonly groupInstanceId: string | null;
  readonly protocolType: string;
  readonly protocols: readonly ClassicProtocol[];
  readonly sessionTimeoutMs: number;
  readonly rebalanceTimeoutMs: number;
  readonly clientId: string;
  readonly clientHost: string;
  /** JoinGroup v4+: a new member first gets MEMBER_ID_REQUIRED with its id, and joins again with it. */
  readonly requireKnownMemberId: boolean;
}

export interface JoinAnswer {
  readonly errorCode: number;
  readonly generationId: number;
  readonly protocolType: string | null;
  readonly protocolName: string | null;
  readonly leader: string;
  readonly memberId: string;
  /** The members with their metadata of the chosen protocol: for the leader only. */
  readonly members: readonly { memberId: string; groupInstanceId: string | null; metadata: Buffer }[];
}

export interface LeavingMember {
  readonly memberId: string;
  readonly instanceId: string | null;
}

export interface SyncInput {
  readonly groupId: string;
  readonly memberId: string;
  readonly generationId: number;
  /** SyncGroup v3+: a static member names its instance (a stale incarnation is fenced by it). */
  readonly groupInstanceId?: string | null;
  /** SyncGroup v5+: checked against the generation's (INCONSISTENT_GROUP_PROTOCOL), when given. */
  readonly protocolType?: string | null;
  readonly protocolName?: string | null;
  readonly assignments: readonly { memberId: string; assignment: Buffer }[];
}

export interface SyncAnswer {
  readonly errorCode: number;
  readonly protocolType: string | null;
  readonly protocolName: string | null;
  readonly assignment: Buffer;
}

/** An answer to a request that was waiting: the driver resolves the member's pending JoinGroup or SyncGroup. */
export type Completed =
  | { readonly kind: 'join'; readonly groupId: string; readonly memberId: string; readonly answer: JoinAnswer }
  | { readonly kind: 'sync'; readonly groupId: string; readonly memberId: string; readonly answer: SyncAnswer };

export interface ClassicOutcome<T> {
  readonly records: ClassicGroupRecord[];
  /** Undefined: the request waits for an entry of `completed` (now or from a later operation). */
  readonly result: T | undefined;
  readonly completed: Completed[];
}

interface Member {
  readonly memberId: string;
  instanceId: string | null;
  clientId: string;
  clientHost: string;
  sessionTimeoutMs: number;
  rebalanceTimeoutMs: number;
  protocols: readonly ClassicProtocol[];
  assignment: Buffer;
  lastSeenMs: number;
  /** Joined the rebalance in progress (its JoinGroup is waiting or answered). */
  joined: boolean;
  /** Its SyncGroup waits for the leader's. */
  syncWaiting: boolean;
  joinWaiting: boolean;
}

interface Group {
  readonly id: string;
  state: ClassicState;
  generationId: number;
  protocolType: string | null;
  protocolName: string | null;
  leader: string | null;
  readonly members: Map<string, Member>;
  /** Member ids handed out with MEMBER_ID_REQUIRED and not joined yet. */
  readonly pendingIds: Set<string>;
  rebalanceDeadlineMs: number;
  /** group.initial.rebalance.delay.ms: the first join phase of a group that was empty lasts at least until then. */
  delayUntilMs: number;
}

const errorJoin = (code: number, memberId: string): JoinAnswer => ({
  errorCode: code,
  generationId: -1,
  protocolType: null,
  protocolName: null,
  leader: '',
  memberId,
  members: [],
});
const errorSync = (code: number): SyncAnswer => ({
  errorCode: code,
  protocolType: null,
  protocolName: null,
  assignment: Buffer.alloc(0),
});

export class ClassicGroups {
  private readonly groups = new Map<string, Group>();

  constructor(private readonly config: ClassicConfig = DEFAULT_CLASSIC_CONFIG) {}

  /** Applies a record (at load and at run time alike). */
  apply(record: ClassicGroupRecord): void {
    if (record.value === null) {
      this.groups.delete(record.group);
      return;
    }
    const v = record.value;
    const group: Group = {
      id: record.group,
      state: v.members.length > 0 ? 'Stable' : 'Empty',
      generationId: v.generationId,
      protocolType: v.protocolType,
      protocolName: v.protocolName,
      leader: v.leader,
      members: new Map(),
      pendingIds: new Set(),
      rebalanceDeadlineMs: 0,
      delayUntilMs: 0,
    };
    for (const m of v.members) group.members.set(m.memberId, memberFromValue(m));
    // Records are applied at load only (the live state wrote them): a later record replaces an earlier one.
    this.groups.set(record.group, group);
  }

  /** After loading: every member's session starts now. */
  finishLoad(nowMs: number): void {
    for (const g of this.groups.values()) for (const m of g.members.values()) m.lastSeenMs = nowMs;
  }

  /** The group as its record would hold it now. */
  valueOf(groupId: string): ClassicGroupValue | undefined {
    const group = this.groups.get(groupId);
    return group ? this.record(group).value! : undefined;
  }

  hasMembers(groupId: string): boolean {
    return (this.groups.get(groupId)?.members.size ?? 0) > 0;
  }

  has(groupId: string): boolean {
    return this.groups.has(groupId);
  }

  join(input: JoinInput, nowMs: number, newMemberId: string): ClassicOutcome<JoinAnswer> {
    const { sessionTimeoutMs } = input;
    if (sessionTimeoutMs < this.config.minSessionTimeoutMs || sessionTimeoutMs > this.config.maxSessionTimeoutMs)
      return done(errorJoin(ErrorCodes.INVALID_SESSION_TIMEOUT.code, input.memberId));
    if (input.protocolType === '' || input.protocols.length === 0)
      return done(errorJoin(ErrorCodes.INCONSISTENT_GROUP_PROTOCOL.code, input.memberId));
    const group = this.groups.get(input.groupId) ?? this.newGroup(input.groupId);
    if (!compatible(group, input)) {
      this.dropIfUnused(group);
      return done(errorJoin(ErrorCodes.INCONSISTENT_GROUP_PROTOCOL.code, input.memberId));
    }
    const incarnation = input.groupInstanceId === null ? undefined : this.staticMember(group, input.groupInstanceId);
    if (incarnation && input.memberId !== '' && input.memberId !== incarnation.memberId)
      return done(errorJoin(ErrorCodes.FENCED_INSTANCE_ID.code, input.memberId));
    if (incarnation && input.memberId === '') return this.replaceStatic(group, incarnation, newMemberId, input, nowMs);
    if (input.memberId === '') {
      if (group.members.size >= this.config.maxGroupSize)
        return done(errorJoin(ErrorCodes.GROUP_MAX_SIZE_REACHED.code, ''));
      if (input.requireKnownMemberId) {
        group.pendingIds.add(newMemberId);
        return done(errorJoin(ErrorCodes.MEMBER_ID_REQUIRED.code, newMemberId));
      }
      return this.addMember(group, newMemberId, input, nowMs);
    }
    const member = group.members.get(input.memberId);
    if (!member) {
      if (!group.pendingIds.delete(input.memberId)) {
        this.dropIfUnused(group);
        return done(errorJoin(ErrorCodes.UNKNOWN_MEMBER_ID.code, input.memberId));
      }
      return this.addMember(group, input.memberId, input, nowMs);
    }
    return this.rejoin(group, member, input, nowMs);
  }

  private staticMember(group: Group, instanceId: string): Member | undefined {
    for (const m of group.members.values()) if (m.instanceId === instanceId) return m;
    return undefined;
  }

  /**
   * A request naming an instance id another member id holds now comes from an earlier incarnation of that
   * static member: FENCED_INSTANCE_ID, fatal in Kafka's clients (ClassicGroup.validateMember). Told
   * UNKNOWN_MEMBER_ID, the client would join again with the instance id and no member id, take the
   * instance back, and the two processes would take the partitions from each other for ever.
   */
  private fencedInstance(group: Group, memberId: string, instanceId: string | null | undefined): boolean {
    if (instanceId === null || instanceId === undefined) return false;
    const holder = this.staticMember(group, instanceId);
    return holder !== undefined && holder.memberId !== memberId;
  }

  /**
   * Static membership (KIP-345): a member restarting with its group.instance.id takes the place of its
   * previous incarnation under a new member id, with its assignment; the group does not rebalance unless
   * its protocols changed or it leads the group. The old id is fenced from then on (UNKNOWN_MEMBER_ID).
   */
  private replaceStatic(
    group: Group,
    old: Member,
    memberId: string,
    input: JoinInput,
    nowMs: number,
  ): ClassicOutcome<JoinAnswer> {
    const order = [...group.members.keys()];
    const completed = this.remove(group, old.memberId);
    const member: Member = {
      ...old,
      memberId,
      clientId: input.clientId,
      clientHost: input.clientHost,
      lastSeenMs: nowMs,
      joinWaiting: false,
      syncWaiting: false,
    };
    // The new incarnation keeps its predecessor's place (the leader's assignor sees the same order).
    const others = new Map(group.members);
    group.members.clear();
    for (const id of order)
      group.members.set(id === old.memberId ? memberId : id, id === old.memberId ? member : others.get(id)!);
    const wasLeader = group.leader === old.memberId;
    if (wasLeader) group.leader = memberId;
    if (!wasLeader && sameProtocols(old.protocols, input.protocols) && group.state === 'Stable')
      return { records: [this.record(group)], result: this.joinAnswer(group, memberId), completed };
    const rejoined = this.rejoin(group, member, { ...input, memberId }, nowMs);
    return { ...rejoined, completed: [...completed, ...rejoined.completed] };
  }

  private newGroup(groupId: string): Group {
    const group: Group = {
      id: groupId,
      state: 'Empty',
      generationId: 0,
      protocolType: null,
      protocolName: null,
      leader: null,
      members: new Map(),
      pendingIds: new Set(),
      rebalanceDeadlineMs: 0,
      delayUntilMs: 0,
    };
    this.groups.set(groupId, group);
    return group;
  }

  /** A group created by a join that was refused, never written: forget it. */
  private dropIfUnused(group: Group): void {
    if (group.members.size === 0 && group.generationId === 0 && group.pendingIds.size === 0)
      this.groups.delete(group.id);
  }

  private addMember(group: Group, memberId: string, input: JoinInput, nowMs: number): ClassicOutcome<JoinAnswer> {
    const member: Member = {
      memberId,
      instanceId: input.groupInstanceId,
      clientId: input.clientId,
      clientHost: input.clientHost,
      sessionTimeoutMs: input.sessionTimeoutMs,
      rebalanceTimeoutMs: input.rebalanceTimeoutMs > 0 ? input.rebalanceTimeoutMs : input.sessionTimeoutMs,
      protocols: input.protocols,
      assignment: Buffer.alloc(0),
      lastSeenMs: nowMs,
      joined: true,
      syncWaiting: false,
      joinWaiting: true,
    };
    const wasEmpty = group.members.size === 0;
    group.members.set(memberId, member);
    if (group.protocolType === null) group.protocolType = input.protocolType;
    const completed = this.prepareRebalance(group, nowMs, wasEmpty);
    return { records: [], result: undefined, completed: [...completed, ...this.maybeCompleteJoin(group, nowMs)] };
  }

  private rejoin(group: Group, member: Member, input: JoinInput, nowMs: number): ClassicOutcome<JoinAnswer> {
    member.lastSeenMs = nowMs;
    const sameMetadata = sameProtocols(member.protocols, input.protocols);
    member.protocols = input.protocols;
    member.sessionTimeoutMs = input.sessionTimeoutMs;
    if (input.rebalanceTimeoutMs > 0) member.rebalanceTimeoutMs = input.rebalanceTimeoutMs;
    // A follower that joins again with what it had while the group is settled gets the generation as is.
    if (sameMetadata && group.leader !== member.memberId && group.state !== 'PreparingRebalance')
      return done(this.joinAnswer(group, member.memberId));
    member.joined = true;
    member.joinWaiting = true;
    const completed = this.prepareRebalance(group, nowMs, false);
    return { records: [], result: undefined, completed: [...completed, ...this.maybeCompleteJoin(group, nowMs)] };
  }

  /** Starts a rebalance (if none is running): every member must join again; waiting syncs are told. */
  private prepareRebalance(group: Group, nowMs: number, initial: boolean): Completed[] {
    if (group.state === 'PreparingRebalance') return [];
    const completed: Completed[] = [];
    for (const m of group.members.values()) {
      if (m.syncWaiting) {
        m.syncWaiting = false;
        completed.push({
          kind: 'sync',
          groupId: group.id,
          memberId: m.memberId,
          answer: errorSync(ErrorCodes.REBALANCE_IN_PROGRESS.code),
        });
      }
    }
    group.state = 'PreparingRebalance';
    const rebalanceTimeoutMs = Math.max(...[...group.members.values()].map((m) => m.rebalanceTimeoutMs));
    group.rebalanceDeadlineMs = nowMs + rebalanceTimeoutMs;
    group.delayUntilMs = initial ? nowMs + Math.min(this.config.initialRebalanceDelayMs, rebalanceTimeoutMs) : 0;
    return completed;
  }

  /** Ends the join phase once every member joined (not while a group that was empty waits for more members). */
  private maybeCompleteJoin(group: Group, nowMs: number): Completed[] {
    if (group.state !== 'PreparingRebalance' || nowMs < group.delayUntilMs) return [];
    if (![...group.members.values()].every((m) => m.joined)) return [];
    return this.completeJoin(group);
  }

  private completeJoin(group: Group): Completed[] {
    for (const m of [...group.members.values()]) if (!m.joined) group.members.delete(m.memberId);
    group.generationId++;
    if (group.members.size === 0) {
      group.state = 'Empty';
      group.leader = null;
      group.protocolName = null;
      return [];
    }
    group.protocolName = chooseProtocol([...group.members.values()]);
    if (group.leader === null || !group.members.has(group.leader)) group.leader = group.members.keys().next().value!;
    group.state = 'CompletingRebalance';
    const completed: Completed[] = [];
    for (const m of group.members.values()) {
      // The assignment stays the last one handed out until the leader's SyncGroup replaces it: a
      // cooperative member keeps consuming it meanwhile, and an upgrade (takeForUpgrade) must know that.
      m.joined = false;
      if (!m.joinWaiting) continue;
      m.joinWaiting = false;
      completed.push({
        kind: 'join',
        groupId: group.id,
        memberId: m.memberId,
        answer: this.joinAnswer(group, m.memberId),
      });
    }
    return completed;
  }

  private joinAnswer(group: Group, memberId: string): JoinAnswer {
    const leader = group.leader ?? '';
    return {
      errorCode: 0,
      generationId: group.generationId,
      protocolType: group.protocolType,
      protocolName: group.protocolName,
      leader,
      memberId,
      members:
        memberId === leader
          ? [...group.members.values()].map((m) => ({
              memberId: m.memberId,
              groupInstanceId: m.instanceId,
              metadata: m.protocols.find((p) => p.name === group.protocolName)?.metadata ?? Buffer.alloc(0),
            }))
          : [],
    };
  }

  sync(input: SyncInput, nowMs: number): ClassicOutcome<SyncAnswer> {
    const group = this.groups.get(input.groupId);
    const member = group?.members.get(input.memberId);
    if (group && this.fencedInstance(group, input.memberId, input.groupInstanceId))
      return done(errorSync(ErrorCodes.FENCED_INSTANCE_ID.code));
    if (!group || !member) return done(errorSync(ErrorCodes.UNKNOWN_MEMBER_ID.code));
    member.lastSeenMs = nowMs;
    if (input.generationId !== group.generationId) return done(errorSync(ErrorCodes.ILLEGAL_GENERATION.code));
    const otherProtocol =
      (input.protocolType != null && input.protocolType !== group.protocolType) ||
      (input.protocolName != null && input.protocolName !== group.protocolName);
    if (otherProtocol) return done(errorSync(ErrorCodes.INCONSISTENT_GROUP_PROTOCOL.code));
    if (group.state === 'PreparingRebalance') return done(errorSync(ErrorCodes.REBALANCE_IN_PROGRESS.code));
    if (group.state === 'Stable') return done(this.syncAnswer(group, member));
    member.syncWaiting = true;
    if (member.memberId !== group.leader) return { records: [], result: undefined, completed: [] };
    const given = new Map(input.assignments.map((a) => [a.memberId, a.assignment]));
    for (const m of group.members.values()) m.assignment = given.get(m.memberId) ?? Buffer.alloc(0);
    group.state = 'Stable';
    const completed: Completed[] = [];
    for (const m of group.members.values()) {
      if (!m.syncWaiting) continue;
      m.syncWaiting = false;
      completed.push({ kind: 'sync', groupId: group.id, memberId: m.memberId, answer: this.syncAnswer(group, m) });
    }
    return { records: [this.record(group)], result: undefined, completed };
  }

  private syncAnswer(group: Group, member: Member): SyncAnswer {
    return {
      errorCode: 0,
      protocolType: group.protocolType,
      protocolName: group.protocolName,
      assignment: member.assignment,
    };
  }

  heartbeat(input: ClassicMemberRequest, nowMs: number): number {
    const group = this.groups.get(input.groupId);
    const member = group?.members.get(input.memberId);
    if (group && this.fencedInstance(group, input.memberId, input.groupInstanceId))
      return ErrorCodes.FENCED_INSTANCE_ID.code;
    if (!group || !member) return ErrorCodes.UNKNOWN_MEMBER_ID.code;
    member.lastSeenMs = nowMs;
    if (input.generationId !== group.generationId) return ErrorCodes.ILLEGAL_GENERATION.code;
    if (group.state === 'PreparingRebalance') return ErrorCodes.REBALANCE_IN_PROGRESS.code;
    return 0;
  }

  /** LeaveGroup for some members: per member, its error code. */
  leave(groupId: string, leaving: readonly LeavingMember[], nowMs: number): ClassicOutcome<number[]> {
    const group = this.groups.get(groupId);
    const codes: number[] = [];
    const completed: Completed[] = [];
    let left = false;
    for (const { memberId, instanceId } of leaving) {
      // KIP-345: a static member may be named by its instance id alone (an admin removing it).
      const incarnation = group && instanceId ? this.staticMember(group, instanceId) : undefined;
      // An instance id nobody holds names no member, whatever the member id (ClassicGroup.validateMember).
      if (instanceId && !incarnation) {
        codes.push(ErrorCodes.UNKNOWN_MEMBER_ID.code);
        continue;
      }
      if (incarnation && memberId !== '' && memberId !== incarnation.memberId) {
        codes.push(ErrorCodes.FENCED_INSTANCE_ID.code);
        continue;
      }
      const id = incarnation?.memberId ?? memberId;
      if (!group?.members.has(id)) {
        codes.push(ErrorCodes.UNKNOWN_MEMBER_ID.code);
        continue;
      }
      completed.push(...this.remove(group, id));
      codes.push(0);
      left = true;
    }
    if (!group || !left) return { records: [], result: codes, completed };
    completed.push(...this.afterRemoval(group, nowMs));
    return { records: group.members.size === 0 ? [this.record(group)] : [], result: codes, completed };
  }

  /** Removes a member; its waiting requests are answered UNKNOWN_MEMBER_ID. */
  private remove(group: Group, memberId: string): Completed[] {
    const m = group.members.get(memberId)!;
    group.members.delete(memberId);
    const completed: Completed[] = [];
    if (m.joinWaiting)
      completed.push({
        kind: 'join',
        groupId: group.id,
        memberId,
        answer: errorJoin(ErrorCodes.UNKNOWN_MEMBER_ID.code, memberId),
      });
    if (m.syncWaiting)
      completed.push({
        kind: 'sync',
        groupId: group.id,
        memberId,
        answer: errorSync(ErrorCodes.UNKNOWN_MEMBER_ID.code),
      });
    return completed;
  }

  private afterRemoval(group: Group, nowMs: number): Completed[] {
    if (group.members.size === 0) {
      group.state = 'Empty';
      group.generationId++;
      group.leader = null;
      group.protocolName = null;
      return [];
    }
    if (group.leader !== null && !group.members.has(group.leader)) group.leader = null;
    const completed = this.prepareRebalance(group, nowMs, false);
    return [...completed, ...this.maybeCompleteJoin(group, nowMs)];
  }

  /**
   * Timers: expels members whose session ran out (named in `expired`), ends join phases whose time is
   * up.
   */
  tick(nowMs: number): {
    records: ClassicGroupRecord[];
    completed: Completed[];
    expired: { groupId: string; memberId: string }[];
  } {
    const records: ClassicGroupRecord[] = [];
    const completed: Completed[] = [];
    const expired: { groupId: string; memberId: string }[] = [];
    for (const group of [...this.groups.values()]) {
      let removed = false;
      for (const m of [...group.members.values()]) {
        // A member whose JoinGroup or SyncGroup waits is alive: its session restarts when it is answered.
        if (m.joinWaiting || m.syncWaiting || nowMs - m.lastSeenMs < m.sessionTimeoutMs) continue;
        completed.push(...this.remove(group, m.memberId));
        expired.push({ groupId: group.id, memberId: m.memberId });
        removed = true;
      }
      if (removed) {
        completed.push(...this.afterRemoval(group, nowMs));
        if (group.members.size === 0) records.push(this.record(group));
      }
      if (group.state !== 'PreparingRebalance') continue;
      if (nowMs >= group.rebalanceDeadlineMs) {
        const wasMembers = group.members.size;
        completed.push(...this.completeJoin(group));
        if (wasMembers > 0 && group.members.size === 0) records.push(this.record(group));
      } else completed.push(...this.maybeCompleteJoin(group, nowMs));
    }
    return { records, completed, expired };
  }

  /**
   * Commits from classic members are fenced by member id, generation and (OffsetCommit v7+) instance id; -1
   * with no member id is a simple commit.
   */
  checkCommit(groupId: string, memberId: string, generationId: number, instanceId: string | null = null): number {
    const group = this.groups.get(groupId);
    if (group && this.fencedInstance(group, memberId, instanceId)) return ErrorCodes.FENCED_INSTANCE_ID.code;
    if (generationId < 0 && memberId === '')
      return group && group.members.size > 0 ? ErrorCodes.UNKNOWN_MEMBER_ID.code : 0;
    if (!group?.members.has(memberId)) return ErrorCodes.UNKNOWN_MEMBER_ID.code;
    if (generationId !== group.generationId) return ErrorCodes.ILLEGAL_GENERATION.code;
    if (group.state === 'PreparingRebalance') return ErrorCodes.REBALANCE_IN_PROGRESS.code;
    return 0;
  }

  /**
   * Upgrade to a KIP-848 group: the group leaves this state machine whole (its tombstone, and the value the
   * core adopts); requests waiting in a join phase are answered REBALANCE_IN_PROGRESS, so their members
   * join again, into the KIP-848 group.
   */
  takeForUpgrade(groupId: string): { value: ClassicGroupValue; tombstone: ClassicGroupRecord; completed: Completed[] } {
    const group = this.groups.get(groupId)!;
    const value = this.record(group).value!;
    const completed: Completed[] = [];
    for (const m of group.members.values()) {
      if (m.joinWaiting)
        completed.push({
          kind: 'join',
          groupId,
          memberId: m.memberId,
          answer: errorJoin(ErrorCodes.REBALANCE_IN_PROGRESS.code, m.memberId),
        });
      if (m.syncWaiting)
        completed.push({
          kind: 'sync',
          groupId,
          memberId: m.memberId,
          answer: errorSync(ErrorCodes.REBALANCE_IN_PROGRESS.code),
        });
    }
    this.groups.delete(groupId);
    return { value, tombstone: { type: 'classic', group: groupId, value: null }, completed };
  }

  /**
   * Downgrade from a KIP-848 group: its classic members become this group, which starts a rebalance at
   * once (every member must join again; the generation is new to all of them). Returns the group's record.
   */
  adoptFromConsumerGroup(groupId: string, value: ClassicGroupValue, nowMs: number): ClassicGroupRecord {
    const record: ClassicGroupRecord = { type: 'classic', group: groupId, value };
    this.apply(record);
    const group = this.groups.get(groupId)!;
    for (const m of group.members.values()) m.lastSeenMs = nowMs;
    if (group.members.size > 0) this.prepareRebalance(group, nowMs, false);
    return record;
  }

  /** DeleteGroups: a group with members is refused. */
  delete(groupId: string): { records: ClassicGroupRecord[]; errorCode: number } {
    const group = this.groups.get(groupId);
    if (!group) return { records: [], errorCode: ErrorCodes.GROUP_ID_NOT_FOUND.code };
    if (group.members.size > 0) return { records: [], errorCode: ErrorCodes.NON_EMPTY_GROUP.code };
    this.groups.delete(groupId);
    return { records: [{ type: 'classic', group: groupId, value: null }], errorCode: 0 };
  }

  list(): { groupId: string; state: ClassicState; protocolType: string }[] {
    return [...this.groups.values()]
      .map((g) => ({ groupId: g.id, state: g.state, protocolType: g.protocolType ?? '' }))
      .sort((a, b) => (a.groupId < b.groupId ? -1 : a.groupId > b.groupId ? 1 : 0));
  }

  describe(groupId: string): ClassicDescription | undefined {
    const g = this.groups.get(groupId);
    if (!g) return undefined;
    return {
      groupId,
      state: g.state,
      generationId: g.generationId,
      protocolType: g.protocolType ?? '',
      protocolName: g.protocolName ?? '',
      leader: g.leader,
      members: [...g.members.values()].map((m) => ({
        memberId: m.memberId,
        instanceId: m.instanceId,
        clientId: m.clientId,
        clientHost: m.clientHost,
        metadata: m.protocols.find((p) => p.name === g.protocolName)?.metadata ?? Buffer.alloc(0),
        assignment: m.assignment,
      })),
    };
  }

  private record(group: Group): ClassicGroupRecord {
    const value: ClassicGroupValue = {
      generationId: group.generationId,
      protocolType: group.protocolType,
      protocolName: group.protocolName,
      leader: group.leader,
      members: [...group.members.values()].map(memberValue),
    };
    return { type: 'classic', group: group.id, value };
  }
}

export interface ClassicDescription {
  readonly groupId: string;
  readonly state: ClassicState;
  readonly generationId: number;
  readonly protocolType: string;
  readonly protocolName: string;
  readonly leader: string | null;
  readonly members: readonly {
    memberId: string;
    instanceId: string | null;
    clientId: string;
    clientHost: string;
    metadata: Buffer;
    assignment: Buffer;
  }[];
}

function done<T>(result: T): ClassicOutcome<T> {
  return { records: [], result, completed: [] };
}

/** A joining member fits the group when its protocol type matches and it shares a protocol with every member. */
function compatible(group: Group, input: JoinInput): boolean {
  if (group.members.size === 0) return true;
  if (group.protocolType !== input.protocolType) return false;
  const others = [...group.members.values()].filter((m) => m.memberId !== input.memberId);
  return input.protocols.some((p) => others.every((m) => m.protocols.some((q) => q.name === p.name)));
}

/** The protocol every member supports that most members list first (Kafka's vote), ties by first appearance. */
function chooseProtocol(members: readonly Member[]): string {
  const candidates = members[0]!.protocols
    .map((p) => p.name)
    .filter((name) => members.every((m) => m.protocols.some((p) => p.name === name)));
  const votes = new Map(candidates.map((c) => [c, 0]));
  for (const m of members) {
    const pick = m.protocols.find((p) => votes.has(p.name));
    if (pick) votes.set(pick.name, votes.get(pick.name)! + 1);
  }
  let best = candidates[0]!;
  for (const c of candidates) if (votes.get(c)! > votes.get(best)!) best = c;
  return best;
}

function sameProtocols(a: readonly ClassicProtocol[], b: readonly ClassicProtocol[]): boolean {
  return a.length === b.length && a.every((p, i) => p.name === b[i]!.name && p.metadata.equals(b[i]!.metadata));
}

function memberValue(m: Member): ClassicMemberValue {
  return {
    memberId: m.memberId,
    instanceId: m.instanceId,
    clientId: m.clientId,
    clientHost: m.clientHost,
    sessionTimeoutMs: m.sessionTimeoutMs,
    rebalanceTimeoutMs: m.rebalanceTimeoutMs,
    protocols: m.protocols.map((p) => ({ name: p.name, metadata: p.metadata.toString('base64') })),
    assignment: m.assignment.toString('base64'),
  };
}

function memberFromValue(v: ClassicMemberValue): Member {
  return {
    memberId: v.memberId,
    instanceId: v.instanceId,
    clientId: v.clientId,
    clientHost: v.clientHost,
    sessionTimeoutMs: v.sessionTimeoutMs,
    rebalanceTimeoutMs: v.rebalanceTimeoutMs,
    protocols: v.protocols.map((p) => ({ name: p.name, metadata: Buffer.from(p.metadata, 'base64') })),
    assignment: Buffer.from(v.assignment, 'base64'),
    lastSeenMs: 0,
    joined: false,
    syncWaiting: false,
    joinWaiting: false,
  };
}

/**
 * A classic group in the shape the gRPC DescribeGroups (and `samsa consumer-groups`) shows: the members'
 * subscriptions and assignments read from Kafka's consumer protocol (protocol type `consumer`), the
 * generation as epoch, the chosen protocol (the client-side assignor) as assignor.
 */
export function classicDescription(g: ClassicDescription): GroupDescription {
  return {
    groupId: g.groupId,
    state: g.state === 'Empty' ? 'Empty' : g.state === 'Stable' ? 'Stable' : 'Reconciling',
    epoch: g.generationId,
    assignor: g.protocolName as AssignorName,
    members: g.members.map((m) => {
      const consumer = g.protocolType === 'consumer';
      const assigned = consumer ? decodeConsumerAssignment(m.assignment) : tp.EMPTY;
      return {
        memberId: m.memberId,
        member: {
          instanceId: m.instanceId,
          rackId: null,
          clientId: m.clientId,
          clientHost: m.clientHost,
          subscribedTopicNames: consumer ? decodeConsumerSubscription(m.metadata) : [],
          subscribedTopicRegex: null,
          serverAssignor: null,
          rebalanceTimeoutMs: 0,
        },
        current: {
          memberEpoch: g.generationId,
          previousMemberEpoch: -1,
          state: 'Stable',
          assigned,
          pendingRevocation: tp.EMPTY,
        },
        target: assigned,
      };
    }),
  };
}

/** Kafka's ConsumerProtocolAssignment: int16 version, then [topic: string, partitions: [int32]], then user data. */
export function decodeConsumerAssignment(bytes: Buffer): TopicPartitions {
  const keys: string[] = [];
  try {
    let at = 2;
    const topics = bytes.readInt32BE(at);
    at += 4;
    for (let i = 0; i < topics; i++) {
      const length = bytes.readInt16BE(at);
      const topic = bytes.toString('utf8', at + 2, at + 2 + length);
      at += 2 + length;
      const count = bytes.readInt32BE(at);
      at += 4;
      for (let j = 0; j < count; j++, at += 4) keys.push(tp.tpKey(topic, bytes.readInt32BE(at)));
    }
  } catch {
    return tp.EMPTY; // empty (no partitions) or not the consumer protocol
  }
  return tp.fromKeys(keys);
}

/** Kafka's ConsumerProtocolSubscription: int16 version, then [topic: string], then more we do not need. */
export function decodeConsumerSubscription(bytes: Buffer): string[] {
  const topics: string[] = [];
  try {
    let at = 2;
    const count = bytes.readInt32BE(at);
    at += 4;
    for (let i = 0; i < count; i++) {
      const length = bytes.readInt16BE(at);
      topics.push(bytes.toString('utf8', at + 2, at + 2 + length));
      at += 2 + length;
    }
  } catch {
    return [];
  }
  return topics;
}
