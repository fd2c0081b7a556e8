import { ErrorCodes, SamsaError } from '@samsa/protocol';
import type { kafka } from '@samsa/protocol/kafka';
import type { BrokerContext } from '../server/context.js';
import { authorizedOperations } from './authorized-operations.js';
import { consumerGroupAsClassic } from './consumer-groups.js';
import { OFFSETS_TOPIC } from '../group/offsets-topic.js';
import { handleFindCoordinator } from '../server/handlers/find-coordinator.js';
import type { Reply } from './reply.js';

/**
 * Kafka's group APIs on the group coordinator the gRPC API uses (Kafka 4's model): classic members
 * (JoinGroup/SyncGroup/Heartbeat/LeaveGroup) are a classic group's, kept beside the KIP-848 groups in
 * the same __consumer_offsets partitions; offsets are the same offsets whichever protocol committed them.
 */

/** Who sent a request: the header's client id and the connection's address, as DescribeGroups shows them. */
export interface ClientInfo {
  readonly clientId: string;
  readonly clientHost: string;
}

/** The error code a coordinator refusal travels as (NotCoordinator, CoordinatorLoadInProgress, ...). */
function codeOf(ctx: BrokerContext, err: unknown, context: Record<string, unknown>): number {
  if (err instanceof SamsaError) return err.code;
  ctx.logger.error({ err, ...context }, 'unexpected error while handling a Kafka group request');
  return ErrorCodes.UNKNOWN_SERVER_ERROR.code;
}

export async function findCoordinator(
  ctx: BrokerContext,
  version: number,
  request: kafka.FindCoordinatorRequestData,
): Promise<Reply> {
  const keys = version >= 4 ? request.coordinatorKeys : [request.key];
  const answer = await handleFindCoordinator(ctx, { keyType: request.keyType, keys } as never);
  const coordinators = (answer.coordinators ?? []).map((c) => ({
    key: c.key ?? '',
    nodeId: c.nodeId ?? -1,
    host: c.host ?? '',
    port: c.port ?? -1,
    errorCode: c.errorCode ?? 0,
    errorMessage: c.errorCode ? (c.errorMessage ?? null) : null,
  }));
  if (version >= 4) return { body: { throttleTimeMs: 0, coordinators } };
  const first = coordinators[0]!;
  return {
    body: {
      throttleTimeMs: 0,
      errorCode: first.errorCode,
      errorMessage: first.errorMessage,
      nodeId: first.nodeId,
      host: first.host,
      port: first.port,
    } satisfies kafka.FindCoordinatorResponseData,
  };
}

export async function joinGroup(
  ctx: BrokerContext,
  version: number,
  request: kafka.JoinGroupRequestData,
  client: ClientInfo,
): Promise<Reply> {
  try {
    const answer = await ctx.groups.joinGroup({
      groupId: request.groupId,
      memberId: request.memberId,
      groupInstanceId: request.groupInstanceId,
      protocolType: request.protocolType,
      protocols: request.protocols,
      sessionTimeoutMs: request.sessionTimeoutMs,
      // v0 has no rebalance timeout: Kafka uses the session timeout.
      rebalanceTimeoutMs: version >= 1 ? request.rebalanceTimeoutMs : request.sessionTimeoutMs,
      clientId: client.clientId,
      clientHost: client.clientHost,
      requireKnownMemberId: version >= 4 && request.groupInstanceId === null,
    });
    const body: kafka.JoinGroupResponseData = {
      throttleTimeMs: 0,
      ...answer,
      protocolName: answer.protocolName ?? (version >= 7 ? null : ''),
      skipAssignment: false,
      members: answer.members.map((m) => ({ ...m })),
    };
    return { body };
  } catch (err) {
    const errorCode = codeOf(ctx, err, { groupId: request.groupId });
    return { body: { throttleTimeMs: 0, errorCode, generationId: -1, protocolName: version >= 7 ? null : '' } };
  }
}

export async function syncGroup(
  ctx: BrokerContext,
  _version: number,
  request: kafka.SyncGroupRequestData,
): Promise<Reply> {
  try {
    const answer = await ctx.groups.syncGroup(request);
    return { body: { throttleTimeMs: 0, ...answer } satisfies kafka.SyncGroupResponseData };
  } catch (err) {
    return { body: { throttleTimeMs: 0, errorCode: codeOf(ctx, err, { groupId: request.groupId }) } };
  }
}

export function heartbeat(ctx: BrokerContext, _version: number, request: kafka.HeartbeatRequestData): Reply {
  let errorCode: number;
  try {
    errorCode = ctx.groups.classicHeartbeat(request);
  } catch (err) {
    errorCode = codeOf(ctx, err, { groupId: request.groupId });
  }
  return { body: { throttleTimeMs: 0, errorCode } satisfies kafka.HeartbeatResponseData };
}

export async function leaveGroup(
  ctx: BrokerContext,
  version: number,
  request: kafka.LeaveGroupRequestData,
): Promise<Reply> {
  const members = version >= 3 ? request.members : [{ memberId: request.memberId, groupInstanceId: null }];
  try {
    const codes = await ctx.groups.leaveGroup(
      request.groupId,
      members.map((m) => ({ memberId: m.memberId, instanceId: m.groupInstanceId })),
    );
    const body: kafka.LeaveGroupResponseData = {
      throttleTimeMs: 0,
      // v0-2 name one member: its error is the response's.
      errorCode: version >= 3 ? 0 : codes[0]!,
      members: members.map((m, i) => ({
        memberId: m.memberId,
        groupInstanceId: m.groupInstanceId,
        errorCode: codes[i]!,
      })),
    };
    return { body };
  } catch (err) {
    return { body: { throttleTimeMs: 0, errorCode: codeOf(ctx, err, { groupId: request.groupId }), members: [] } };
  }
}

export async function offsetCommit(
  ctx: BrokerContext,
  version: number,
  request: kafka.OffsetCommitRequestData,
): Promise<Reply> {
  const generationId = version >= 1 ? request.generationIdOrMemberEpoch : -1;
  try {
    const results = await ctx.groups.commitKafkaOffsets({
      groupId: request.groupId,
      memberId: request.memberId,
      memberEpoch: generationId,
      generationId,
      groupInstanceId: version >= 7 ? request.groupInstanceId : null,
      topics: request.topics.map((t) => ({
        name: t.name,
        partitions: t.partitions.map((p) => ({
          partition: p.partitionIndex,
          offset: p.committedOffset,
          leaderEpoch: p.committedLeaderEpoch,
          metadata: p.committedMetadata ?? '',
        })),
      })),
    });
    const topics = results.map((t) => ({
      name: t.name,
      partitions: t.partitions.map((p) => ({ partitionIndex: p.partition, errorCode: p.errorCode })),
    }));
    return { body: { throttleTimeMs: 0, topics } satisfies kafka.OffsetCommitResponseData };
  } catch (err) {
    const errorCode = codeOf(ctx, err, { groupId: request.groupId });
    const topics = request.topics.map((t) => ({
      name: t.name,
      partitions: t.partitions.map((p) => ({ partitionIndex: p.partitionIndex, errorCode })),
    }));
    return { body: { throttleTimeMs: 0, topics } };
  }
}

/** One group's committed offsets in Kafka's shape, or the group's error code. */
async function fetchGroupOffsets(
  ctx: BrokerContext,
  groupId: string,
  topics: readonly kafka.OffsetFetchTopicRequest[] | null,
  member: { memberId: string | null; memberEpoch: number },
  requireStable = false,
): Promise<{ topics: kafka.OffsetFetchTopicData[]; errorCode: number }> {
  try {
    // Classic members' fetches are not fenced (Kafka checks only KIP-848 member epochs, OffsetFetch v9+).
    const fetched = await ctx.groups.fetchOffsets({
      groupId,
      memberId: member.memberId ?? '',
      memberEpoch: member.memberId ? member.memberEpoch : -1,
      topics: (topics ?? []).map((t) => ({ name: t.name, partitions: t.partitionIndexes })),
      // KIP-447 (v7+): UnstableOffsetCommit where a transaction's offsets are pending.
      requireStable,
    });
    return {
      errorCode: 0,
      topics: fetched.map((t) => ({
        name: t.name,
        partitions: t.partitions.map((p) => ({
          partitionIndex: p.partition,
          committedOffset: p.offset,
          committedLeaderEpoch: p.leaderEpoch,
          metadata: p.metadata,
          errorCode: p.errorCode,
        })),
      })),
    };
  } catch (err) {
    return { topics: [], errorCode: codeOf(ctx, err, { groupId }) };
  }
}

export async function offsetFetch(
  ctx: BrokerContext,
  version: number,
  request: kafka.OffsetFetchRequestData,
): Promise<Reply> {
  if (version >= 8) {
    const groups = await Promise.all(
      request.groups.map(async (g) => ({
        groupId: g.groupId,
        ...(await fetchGroupOffsets(ctx, g.groupId, g.topics, g, request.requireStable)),
      })),
    );
    return { body: { throttleTimeMs: 0, groups } satisfies Partial<kafka.OffsetFetchResponseData> };
  }
  const answer = await fetchGroupOffsets(
    ctx,
    request.groupId,
    request.topics,
    { memberId: null, memberEpoch: -1 },
    request.requireStable,
  );
  if (answer.errorCode !== 0 && version < 2) {
    // v0-1 have no top-level error: every asked partition carries it.
    const topics = (request.topics ?? []).map((t) => ({
      name: t.name,
      partitions: t.partitionIndexes.map((p) => ({
        partitionIndex: p,
        committedOffset: -1,
        committedLeaderEpoch: -1,
        metadata: '',
        errorCode: answer.errorCode,
      })),
    }));
    return { body: { throttleTimeMs: 0, topics, errorCode: answer.errorCode } };
  }
  return { body: { throttleTimeMs: 0, topics: answer.topics, errorCode: answer.errorCode } };
}

/**
 * Whether a `__consumer_offsets` partition this broker leads has not finished loading its groups: Kafka's
 * ListGroups then answers the groups it has with COORDINATOR_LOAD_IN_PROGRESS, and clients ask again.
 */
function loadingGroups(ctx: BrokerContext): boolean {
  const count = ctx.member.metadata.image.topics.get(OFFSETS_TOPIC)?.partitions.length ?? 0;
  for (let p = 0; p < count; p++)
    if (ctx.partitions.get(OFFSETS_TOPIC, p)?.role === 'leader' && !ctx.groups.isLoaded(p)) return true;
  return false;
}

export function listGroups(ctx: BrokerContext, _version: number, request: kafka.ListGroupsRequestData): Reply {
  const states = new Set(request.statesFilter.map((s) => s.toLowerCase()));
  const types = new Set(request.typesFilter.map((s) => s.toLowerCase()));
  const groups = ctx.groups
    .classicGroups()
    .filter((g) => states.size === 0 || states.has(g.state.toLowerCase()))
    .filter((g) => types.size === 0 || types.has(g.type))
    .map((g) => ({ groupId: g.groupId, protocolType: g.protocolType, groupState: g.state, groupType: g.type }));
  const errorCode = loadingGroups(ctx) ? ErrorCodes.COORDINATOR_LOAD_IN_PROGRESS.code : 0;
  return { body: { throttleTimeMs: 0, errorCode, groups } satisfies kafka.ListGroupsResponseData };
}

export async function describeGroups(
  ctx: BrokerContext,
  version: number,
  request: kafka.DescribeGroupsRequestData,
): Promise<Reply> {
  const operations = authorizedOperations(version >= 3 && request.includeAuthorizedOperations, 'group');
  const groups = await Promise.all(
    request.groups.map(async (groupId): Promise<kafka.DescribedGroup> => {
      const none = { groupId, groupState: '', protocolType: '', protocolData: '', members: [] };
      try {
        const classic = ctx.groups.describeClassic(groupId);
        if (classic)
          return {
            errorCode: 0,
            groupId,
            groupState: classic.state,
            protocolType: classic.protocolType,
            protocolData: classic.protocolName,
            members: classic.members.map((m) => ({
              memberId: m.memberId,
              groupInstanceId: m.instanceId,
              clientId: m.clientId,
              clientHost: m.clientHost,
              memberMetadata: m.metadata,
              memberAssignment: m.assignment,
            })),
          };
        // A KIP-848 group (ConsumerGroupDescribe describes it fully): its members in the consumer protocol.
        const group = await ctx.groups.describeGroup(groupId);
        if (!group) return { errorCode: 0, ...none, groupState: 'Dead' };
        const members = consumerGroupAsClassic(group);
        return { errorCode: 0, ...none, groupState: group.state, protocolType: 'consumer', members };
      } catch (err) {
        return { errorCode: codeOf(ctx, err, { groupId }), ...none };
      }
    }),
  );
  const described = groups.map((g) => ({ ...g, authorizedOperations: operations }));
  return { body: { throttleTimeMs: 0, groups: described } satisfies kafka.DescribeGroupsResponseData };
}

export async function deleteGroups(
  ctx: BrokerContext,
  _version: number,
  request: kafka.DeleteGroupsRequestData,
): Promise<Reply> {
  const results = await Promise.all(
    request.groupsNames.map(async (groupId) => {
      try {
        return { groupId, errorCode: (await ctx.groups.deleteGroup(groupId)).errorCode };
      } catch (err) {
        return { groupId, errorCode: codeOf(ctx, err, { groupId }) };
      }
    }),
  );
  return { body: { throttleTimeMs: 0, results } satisfies kafka.DeleteGroupsResponseData };
}

export async function offsetDelete(
  ctx: BrokerContext,
  _version: number,
  request: kafka.OffsetDeleteRequestData,
): Promise<Reply> {
  try {
    const results = await ctx.groups.deleteOffsets({
      groupId: request.groupId,
      topics: request.topics.map((t) => ({ name: t.name, partitions: t.partitions.map((p) => p.partitionIndex) })),
    });
    const topics = results.map((t) => ({
      name: t.name,
      partitions: t.partitions.map((p) => ({ partitionIndex: p.partition, errorCode: p.errorCode })),
    }));
    return { body: { errorCode: 0, throttleTimeMs: 0, topics } satisfies kafka.OffsetDeleteResponseData };
  } catch (err) {
    return { body: { errorCode: codeOf(ctx, err, { groupId: request.groupId }), throttleTimeMs: 0, topics: [] } };
  }
}
