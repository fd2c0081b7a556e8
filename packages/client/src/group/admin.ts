/**
 * Group administration (Kafka's AdminClient group calls): list, describe, delete groups; read, set and
 * delete their committed offsets from outside the group. ListGroups asks every broker (each answers
 * for the groups it coordinates); the rest go to each group's coordinator.
 */
import { ErrorCodes, type v1 } from '@samsa/protocol';
import type { Cluster } from '../cluster.js';
import { type SamsaClientError, errorFromCode } from '../errors.js';
import type { TopicPartition } from '../offsets.js';
import { GroupCoordinators, fromTopicPartitions, groupErrorCode } from './coordinator.js';
import { type CommitOffset, type CommittedOffset, GroupOffsets } from './offsets.js';

export interface GroupListing {
  groupId: string;
  /** Empty, Reconciling, Stable (Assigning, Dead). */
  state: string;
  /** 'consumer'. */
  type: string;
}

export interface GroupMemberDescription {
  memberId: string;
  /** '' for a dynamic member. */
  instanceId: string;
  clientId: string;
  clientHost: string;
  memberEpoch: number;
  /** Stable, UnrevokedPartitions, UnreleasedPartitions. */
  state: string;
  subscribedTopics: string[];
  subscribedTopicRegex: string;
  /** What the member owns now. */
  assignment: TopicPartition[];
  /** What it is asked to give back. */
  pendingRevocation: TopicPartition[];
  /** What the assignor wants it to have. */
  targetAssignment: TopicPartition[];
}

export interface GroupDescription {
  groupId: string;
  state: string;
  groupEpoch: number;
  assignmentEpoch: number;
  assignor: string;
  members: GroupMemberDescription[];
}

export class GroupAdmin {
  private readonly coordinators: GroupCoordinators;

  constructor(private readonly cluster: Cluster) {
    this.coordinators = new GroupCoordinators(cluster);
  }

  findCoordinator(groupId: string, signal?: AbortSignal): Promise<{ nodeId: number; address: string }> {
    this.coordinators.forget(groupId);
    return this.coordinators.find(groupId, signal);
  }

  /** Every group of the cluster (optionally only those in `states`), sorted by id. */
  async listGroups(options: { states?: readonly string[]; signal?: AbortSignal } = {}): Promise<GroupListing[]> {
    await this.cluster.refresh([], true);
    const brokers = [...this.cluster.brokers.values()];
    const answers = await Promise.all(
      brokers.map((b) =>
        this.cluster.options.pool
          .get(b.address)
          .call(
            'ListGroups',
            { statesFilter: [...(options.states ?? [])] },
            { timeoutMs: this.cluster.options.requestTimeoutMs, signal: options.signal },
          ),
      ),
    );
    const groups = new Map<string, GroupListing>();
    for (const answer of answers) {
      if (answer.errorCode !== 0) throw errorFromCode(answer.errorCode, answer.errorMessage || undefined);
      for (const g of answer.groups)
        groups.set(g.groupId, { groupId: g.groupId, state: g.groupState, type: g.groupType });
    }
    return [...groups.values()].sort((a, b) => a.groupId.localeCompare(b.groupId));
  }

  /** Describes groups; a group no coordinator knows rejects with GroupIdNotFound. */
  async describeGroups(
    groupIds: readonly string[],
    options: { signal?: AbortSignal } = {},
  ): Promise<GroupDescription[]> {
    return Promise.all(
      groupIds.map(async (groupId) => {
        const response = await this.coordinators.callWithRetries(
          groupId,
          'DescribeGroups',
          () => ({ groupIds: [groupId] }),
          (r) => r.groups[0]?.errorCode ?? 0,
          options,
        );
        const group = response.groups.find((g) => g.groupId === groupId) ?? response.groups[0];
        if (!group) throw errorFromCode(ErrorCodes.GROUP_ID_NOT_FOUND.code, `group ${groupId} does not exist`);
        if (group.errorCode !== 0)
          throw errorFromCode(group.errorCode, `group ${groupId}: ${group.errorMessage || 'cannot describe'}`);
        return describeGroup(group);
      }),
    );
  }

  /** Deletes empty groups with their offsets; rejects with the first failure (NonEmptyGroup, GroupIdNotFound). */
  async deleteGroups(groupIds: readonly string[], options: { signal?: AbortSignal } = {}): Promise<void> {
    const failures: SamsaClientError[] = [];
    await Promise.all(
      groupIds.map(async (groupId) => {
        const response = await this.coordinators.callWithRetries(
          groupId,
          'DeleteGroups',
          () => ({ groupIds: [groupId] }),
          (r) => r.results[0]?.errorCode ?? 0,
          options,
        );
        const result = response.results[0];
        if (result && result.errorCode !== 0)
          failures.push(errorFromCode(result.errorCode, `group ${groupId}: ${result.errorMessage || 'not deleted'}`));
      }),
    );
    if (failures.length > 0) throw failures[0];
  }

  /** The group's committed offsets: of `partitions`, or every partition it has one for. */
  async fetchOffsets(
    groupId: string,
    partitions?: readonly TopicPartition[],
    options: { signal?: AbortSignal } = {},
  ): Promise<CommittedOffset[]> {
    if (partitions !== undefined) return this.outsider(groupId).fetch(partitions, options.signal);
    const response = await this.coordinators.callWithRetries(
      groupId,
      'OffsetFetch',
      () => ({ groupId, memberId: '', memberEpoch: -1, topics: [] }),
      groupErrorCode,
      options,
    );
    if (response.errorCode !== 0)
      throw errorFromCode(response.errorCode, `group ${groupId}: ${response.errorMessage || 'offset fetch refused'}`);
    return response.topics
      .flatMap((t) =>
        t.partitions.map((p) => ({
          topic: t.name,
          partition: p.partition,
          offset: Number(p.committedOffset),
          leaderEpoch: p.committedLeaderEpoch ?? -1,
          metadata: p.metadata,
        })),
      )
      .filter((o) => o.offset >= 0)
      .sort((a, b) => a.topic.localeCompare(b.topic) || a.partition - b.partition);
  }

  /** Sets committed offsets from outside the group: refused (UnknownMemberId) while it has members. */
  alterOffsets(
    groupId: string,
    offsets: readonly CommitOffset[],
    options: { signal?: AbortSignal } = {},
  ): Promise<void> {
    return this.outsider(groupId).commit(offsets, options.signal);
  }

  /** Deletes committed offsets; refused per partition (GroupSubscribedToTopic) for topics members subscribe to. */
  async deleteOffsets(
    groupId: string,
    partitions: readonly TopicPartition[],
    options: { signal?: AbortSignal } = {},
  ): Promise<void> {
    const byTopic = new Map<string, number[]>();
    for (const { topic, partition } of partitions) byTopic.set(topic, [...(byTopic.get(topic) ?? []), partition]);
    const response = await this.coordinators.callWithRetries(
      groupId,
      'OffsetDelete',
      () => ({ groupId, topics: [...byTopic].map(([name, list]) => ({ name, partitions: list })) }),
      groupErrorCode,
      options,
    );
    if (response.errorCode !== 0)
      throw errorFromCode(response.errorCode, `group ${groupId}: ${response.errorMessage || 'offset delete refused'}`);
    for (const t of response.topics)
      for (const p of t.partitions)
        if (p.errorCode !== 0)
          throw errorFromCode(p.errorCode, p.errorMessage || undefined, { topic: t.name, partition: p.partition });
  }

  private outsider(groupId: string): GroupOffsets {
    return new GroupOffsets(
      this.coordinators,
      groupId,
      () => ({ memberId: '', memberEpoch: -1, instanceId: undefined }),
      this.cluster.options.retry,
    );
  }
}

function describeGroup(g: v1.DescribedGroup__Output): GroupDescription {
  return {
    groupId: g.groupId,
    state: g.groupState,
    groupEpoch: g.groupEpoch,
    assignmentEpoch: g.assignmentEpoch,
    assignor: g.assignorName,
    members: g.members.map((m) => ({
      memberId: m.memberId,
      instanceId: m.instanceId,
      clientId: m.clientId,
      clientHost: m.clientHost,
      memberEpoch: m.memberEpoch,
      state: m.memberState,
      subscribedTopics: [...m.subscribedTopicNames],
      subscribedTopicRegex: m.subscribedTopicRegex,
      assignment: fromTopicPartitions(m.assignment),
      pendingRevocation: fromTopicPartitions(m.pendingRevocation),
      targetAssignment: fromTopicPartitions(m.targetAssignment),
    })),
  };
}
