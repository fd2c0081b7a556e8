import { ErrorCodes, SamsaError } from '@samsa/protocol';
import { kafka } from '@samsa/protocol/kafka';
import { encodeAssignment, encodeSubscription } from '../group/consumer-protocol.js';
import type { GroupDescription } from '../group/core.js';
import type { TopicPartitions } from '../group/partitions.js';
import type { BrokerContext } from '../server/context.js';
import { authorizedOperations } from './authorized-operations.js';
import { kafkaTopicId } from './metadata.js';
import type { Reply } from './reply.js';

/**
 * KIP-848's APIs on the Kafka listener, on the coordinator the gRPC API uses: ConsumerGroupHeartbeat (68)
 * and ConsumerGroupDescribe (69). Partitions travel by topic id (Samsa's topic ids, the ones Metadata
 * v10+ gives); an owned partition of a topic id the broker does not know is left out, as Kafka does.
 */

/** Topic id <-> name from the broker's metadata image. */
function topicIds(ctx: BrokerContext): { idOf: (name: string) => string; nameOf: (id: string) => string | undefined } {
  const topics = [...ctx.member.metadata.image.topics.values()];
  const byId = new Map(topics.map((t) => [kafkaTopicId(t.id), t.name]));
  byId.delete(kafka.ZERO_UUID);
  const byName = new Map(topics.map((t) => [t.name, kafkaTopicId(t.id)]));
  return { idOf: (name) => byName.get(name) ?? kafka.ZERO_UUID, nameOf: (id) => byId.get(id) };
}

function errorFields(ctx: BrokerContext, err: unknown, groupId: string): { errorCode: number; errorMessage: string } {
  if (err instanceof SamsaError) return { errorCode: err.code, errorMessage: err.detail || err.message };
  ctx.logger.error({ err, groupId }, 'unexpected error while handling a Kafka consumer group request');
  return { errorCode: ErrorCodes.UNKNOWN_SERVER_ERROR.code, errorMessage: String(err) };
}

/**
 * Kafka 4's checks of who a ConsumerGroupHeartbeat speaks for (throwIfConsumerGroupHeartbeatRequestIsInvalid),
 * made before the coordinator sees it, all INVALID_REQUEST: the member id, from v1 (KIP-1082: the member
 * generates it, so a join names it too) and on any heartbeat but a join or a static leave; the group id
 * (the gRPC API answers InvalidGroupId); an empty instance id; a static leave (-2) without one.
 */
function checkHeartbeatRequest(version: number, request: kafka.ConsumerGroupHeartbeatRequestData): void {
  const invalid = (detail: string) => new SamsaError(ErrorCodes.INVALID_REQUEST, detail);
  if ((version >= 1 || request.memberEpoch > 0 || request.memberEpoch === -1) && request.memberId === '')
    throw invalid(`the member id is empty (ConsumerGroupHeartbeat v${version}, epoch ${request.memberEpoch})`);
  if (request.groupId === '') throw invalid('the group id is empty');
  if (request.instanceId === '') throw invalid('the instance id is empty');
  if (request.memberEpoch === -2 && request.instanceId === null)
    throw invalid('a static member leaving with epoch -2 names its instance id');
}

export async function consumerGroupHeartbeat(
  ctx: BrokerContext,
  version: number,
  request: kafka.ConsumerGroupHeartbeatRequestData,
  client: { readonly clientId: string; readonly clientHost: string },
): Promise<Reply> {
  const ids = topicIds(ctx);
  try {
    checkHeartbeatRequest(version, request);
    const owned = request.topicPartitions?.flatMap((t) => {
      const topic = ids.nameOf(t.topicId);
      return topic === undefined ? [] : [{ topic, partitions: t.partitions }];
    });
    const result = await ctx.groups.heartbeat({
      groupId: request.groupId,
      memberId: request.memberId,
      memberEpoch: request.memberEpoch,
      instanceId: request.instanceId ?? undefined,
      rackId: request.rackId ?? undefined,
      rebalanceTimeoutMs: request.rebalanceTimeoutMs,
      subscribedTopicNames: request.subscribedTopicNames ?? undefined,
      subscribedTopicRegex: request.subscribedTopicRegex ?? undefined,
      serverAssignor: request.serverAssignor ?? undefined,
      ownedTopicPartitions: owned,
      clientId: client.clientId,
      clientHost: client.clientHost,
    });
    const assignment =
      result.assignment === undefined
        ? null
        : {
            topicPartitions: Object.entries(result.assignment).map(([topic, partitions]) => ({
              topicId: ids.idOf(topic),
              partitions: [...partitions],
            })),
          };
    const body: kafka.ConsumerGroupHeartbeatResponseData = {
      throttleTimeMs: 0,
      errorCode: 0,
      errorMessage: null,
      memberId: result.memberId,
      memberEpoch: result.memberEpoch,
      heartbeatIntervalMs: result.heartbeatIntervalMs,
      assignment,
    };
    return { body };
  } catch (err) {
    const body: kafka.ConsumerGroupHeartbeatResponseData = {
      throttleTimeMs: 0,
      ...errorFields(ctx, err, request.groupId),
      memberId: null,
      memberEpoch: -1,
      heartbeatIntervalMs: 0,
      assignment: null,
    };
    return { body };
  }
}

const MEMBER_TYPE_CLASSIC = 0;
const MEMBER_TYPE_CONSUMER = 1;

/** Kafka's ConsumerGroupDescribe states (lower case): empty, assigning, reconciling, stable, dead. */
function stateName(state: GroupDescription['state']): string {
  return state.toLowerCase();
}

export async function consumerGroupDescribe(
  ctx: BrokerContext,
  _version: number,
  request: kafka.ConsumerGroupDescribeRequestData,
): Promise<Reply> {
  const ids = topicIds(ctx);
  const assignmentOf = (tps: TopicPartitions): kafka.DescribedAssignment => ({
    topicPartitions: Object.entries(tps).map(([topicName, partitions]) => ({
      topicId: ids.idOf(topicName),
      topicName,
      partitions: [...partitions],
    })),
  });
  const groups = await Promise.all(
    request.groupIds.map(async (groupId): Promise<kafka.DescribedConsumerGroup> => {
      const none = { groupId, groupState: '', groupEpoch: -1, assignmentEpoch: -1, assignorName: '', members: [] };
      const common = {
        errorMessage: null,
        authorizedOperations: authorizedOperations(request.includeAuthorizedOperations, 'group'),
      };
      try {
        // Group id "" is taken by the offset APIs and DescribeGroups only (validateGroupId), not here: as Kafka's.
        if (groupId === '') throw new SamsaError(ErrorCodes.INVALID_GROUP_ID, 'the group id is empty');
        // A classic group is not a consumer group (Kafka: GROUP_ID_NOT_FOUND; DescribeGroups describes it).
        if (ctx.groups.describeClassic(groupId))
          throw new SamsaError(ErrorCodes.GROUP_ID_NOT_FOUND, `group ${groupId} is a classic group`);
        const group = await ctx.groups.describeGroup(groupId);
        if (!group) throw new SamsaError(ErrorCodes.GROUP_ID_NOT_FOUND, `group ${groupId} does not exist`);
        return {
          ...common,
          errorCode: 0,
          groupId,
          groupState: stateName(group.state),
          groupEpoch: group.epoch,
          assignmentEpoch: group.epoch,
          assignorName: group.assignor,
          members: group.members.map((m) => ({
            memberId: m.memberId,
            instanceId: m.member.instanceId,
            rackId: m.member.rackId,
            memberEpoch: m.current.memberEpoch,
            clientId: m.member.clientId,
            clientHost: m.member.clientHost,
            subscribedTopicNames: [...m.member.subscribedTopicNames],
            subscribedTopicRegex: m.member.subscribedTopicRegex,
            assignment: assignmentOf(m.current.assigned),
            targetAssignment: assignmentOf(m.target),
            memberType: m.member.classic ? MEMBER_TYPE_CLASSIC : MEMBER_TYPE_CONSUMER,
          })),
        };
      } catch (err) {
        return { ...none, ...common, ...errorFields(ctx, err, groupId) };
      }
    }),
  );
  return { body: { throttleTimeMs: 0, groups } satisfies kafka.ConsumerGroupDescribeResponseData };
}

/**
 * DescribeGroups (the classic API) for a consumer group: its members as a classic group's would look,
 * a subscription and an assignment in the consumer protocol each (a classic member's own metadata), so
 * Kafka's admin tools show who owns what in a mixed group.
 */
export function consumerGroupAsClassic(group: GroupDescription): kafka.DescribedGroupMember[] {
  return group.members.map((m) => {
    const own = m.member.classic?.protocols[0];
    return {
      memberId: m.memberId,
      groupInstanceId: m.member.instanceId,
      clientId: m.member.clientId,
      clientHost: m.member.clientHost,
      memberMetadata: own ? Buffer.from(own.metadata, 'base64') : encodeSubscription(m.member.subscribedTopicNames),
      memberAssignment: encodeAssignment(m.current.assigned),
    };
  });
}
