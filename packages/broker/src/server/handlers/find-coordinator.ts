import { ErrorCodes, type v1 } from '@samsa/protocol';
import { validateGroupId } from '../../group/core.js';
import { OFFSETS_TOPIC, offsetsTopicSpec } from '../../group/offsets-topic.js';
import { endpointOn } from '../../listeners.js';
import type { BrokerContext } from '../context.js';
import { errorFields, NO_ERROR, toErrorFields } from '../errors.js';

const GROUP_KEY_TYPE = 0;

/**
 * FindCoordinator: the leader of each group's __consumer_offsets partition, at its address on the
 * listener the request came in on. The first request creates the topic (Kafka's settings; the
 * controller elects its leaders) and is answered CoordinatorNotAvailable until the leader is known.
 */
export async function handleFindCoordinator(
  ctx: BrokerContext,
  request: v1.FindCoordinatorRequest__Output,
): Promise<v1.FindCoordinatorResponse> {
  const none = { nodeId: -1, host: '', port: -1 };
  if (request.keyType !== GROUP_KEY_TYPE)
    return {
      coordinators: request.keys.map((key) => ({
        key,
        ...none,
        ...errorFields(ErrorCodes.INVALID_REQUEST, `key type ${request.keyType} is not supported (0: group)`),
      })),
    };
  const image = ctx.member.metadata.image;
  const topic = image.topics.get(OFFSETS_TOPIC);
  if (!topic) {
    const created = await ctx.member.autoCreateTopic(
      offsetsTopicSpec(
        {
          numPartitions: ctx.settings['offsets.topic.num.partitions'] as number,
          replicationFactor: ctx.settings['offsets.topic.replication.factor'] as number,
          segmentBytes: ctx.settings['offsets.topic.segment.bytes'] as number,
        },
        image.brokers.size,
      ),
    );
    const detail =
      created.errorCode === 0 || created.errorCode === ErrorCodes.TOPIC_ALREADY_EXISTS.code
        ? `${OFFSETS_TOPIC} is being created`
        : `${OFFSETS_TOPIC} cannot be created yet: ${created.errorMessage}`;
    return {
      coordinators: request.keys.map((key) => ({
        key,
        ...none,
        ...errorFields(ErrorCodes.COORDINATOR_NOT_AVAILABLE, detail),
      })),
    };
  }
  return {
    coordinators: request.keys.map((key) => {
      try {
        validateGroupId(key);
        const partition = ctx.groups.partitionFor(key);
        const leader = topic.partitions[partition]?.leader ?? -1;
        const broker = image.brokers.get(leader);
        const endpoint = broker && endpointOn(broker, ctx.listenerName);
        if (!endpoint)
          return {
            key,
            ...none,
            ...errorFields(
              ErrorCodes.COORDINATOR_NOT_AVAILABLE,
              `${OFFSETS_TOPIC}-${partition} has no reachable leader`,
            ),
          };
        return { key, nodeId: leader, host: endpoint.host, port: endpoint.port, ...NO_ERROR };
      } catch (err) {
        return { key, ...none, ...toErrorFields(err, ctx.logger, { key }) };
      }
    }),
  };
}
