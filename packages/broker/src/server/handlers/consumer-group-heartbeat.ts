import type { v1 } from '@samsa/protocol';
import type { BrokerContext } from '../context.js';
import { NO_ERROR, toErrorFields } from '../errors.js';
import { toTopicPartitionsList } from './group-fields.js';

/**
 * ConsumerGroupHeartbeat: join (epoch 0), stay (current epoch), leave (-1, or -2 for a static member
 * restarting). Answered once the group's records are replicated (see packages/broker/GROUPS.md).
 */
export async function handleConsumerGroupHeartbeat(
  ctx: BrokerContext,
  request: v1.ConsumerGroupHeartbeatRequest__Output,
): Promise<v1.ConsumerGroupHeartbeatResponse> {
  try {
    const result = await ctx.groups.heartbeat({
      groupId: request.groupId,
      memberId: request.memberId,
      memberEpoch: request.memberEpoch,
      instanceId: request.instanceId,
      rackId: request.rackId,
      rebalanceTimeoutMs: request.rebalanceTimeoutMs,
      subscribedTopicNames: request.subscribedTopicNames?.names,
      subscribedTopicRegex: request.subscribedTopicRegex,
      serverAssignor: request.serverAssignor,
      ownedTopicPartitions: request.ownedTopicPartitions?.topicPartitions,
      clientId: request.clientId,
      clientHost: '',
    });
    return {
      ...NO_ERROR,
      memberId: result.memberId,
      memberEpoch: result.memberEpoch,
      heartbeatIntervalMs: result.heartbeatIntervalMs,
      ...(result.assignment !== undefined && { assignment: toTopicPartitionsList(result.assignment) }),
    };
  } catch (err) {
    return {
      ...toErrorFields(err, ctx.logger, { groupId: request.groupId, memberId: request.memberId }),
      memberId: request.memberId,
      memberEpoch: request.memberEpoch,
      heartbeatIntervalMs: 0,
    };
  }
}
