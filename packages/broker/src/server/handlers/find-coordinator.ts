import { ErrorCodes, type v1 } from '@samsa/protocol';
import { validateGroupId } from '../../group/core.js';
import { OFFSETS_TOPIC, offsetsTopicSpec } from '../../group/offsets-topic.js';
import { endpointOn } from '../../listeners.js';
import { validateTransactionalId } from '../../txn/core.js';
import { TRANSACTION_STATE_TOPIC } from '../../txn/driver.js';
import { transactionStateTopicSpec } from '../../txn/state-topic.js';
import type { BrokerContext } from '../context.js';
import { errorFields, NO_ERROR, toErrorFields } from '../errors.js';

const GROUP_KEY_TYPE = 0;
const TRANSACTION_KEY_TYPE = 1;

/** Where the keys of a key type live: the internal topic, how it is created, which partition holds a key. */
function keyTypeOf(ctx: BrokerContext, keyType: number, liveBrokers: number) {
  if (keyType === TRANSACTION_KEY_TYPE) {
    return {
      topic: TRANSACTION_STATE_TOPIC,
      spec: () =>
        transactionStateTopicSpec(
          {
            numPartitions: ctx.settings['transaction.state.log.num.partitions'] as number,
            replicationFactor: ctx.settings['transaction.state.log.replication.factor'] as number,
            minIsr: ctx.settings['transaction.state.log.min.isr'] as number,
            segmentBytes: ctx.settings['transaction.state.log.segment.bytes'] as number,
          },
          liveBrokers,
        ),
      partitionFor: (key: string) => {
        validateTransactionalId(key);
        return ctx.txns.partitionFor(key);
      },
    };
  }
  return {
    topic: OFFSETS_TOPIC,
    spec: () =>
      offsetsTopicSpec(
        {
          numPartitions: ctx.settings['offsets.topic.num.partitions'] as number,
          replicationFactor: ctx.settings['offsets.topic.replication.factor'] as number,
          segmentBytes: ctx.settings['offsets.topic.segment.bytes'] as number,
        },
        liveBrokers,
      ),
    partitionFor: (key: string) => {
      // Kafka finds a coordinator for group id "" too: old clients commit offsets under it.
      validateGroupId(key, true);
      return ctx.groups.partitionFor(key);
    },
  };
}

/**
 * FindCoordinator: the leader of each group's __consumer_offsets partition (key type 0), or of each
 * transactional id's __transaction_state partition (key type 1), at its address on the
 * listener the request came in on. The first request creates the topic (Kafka's settings; the
 * controller elects its leaders) and is answered CoordinatorNotAvailable until the leader is known.
 */
export async function handleFindCoordinator(
  ctx: BrokerContext,
  request: v1.FindCoordinatorRequest__Output,
): Promise<v1.FindCoordinatorResponse> {
  const none = { nodeId: -1, host: '', port: -1 };
  if (request.keyType !== GROUP_KEY_TYPE && request.keyType !== TRANSACTION_KEY_TYPE)
    return {
      coordinators: request.keys.map((key) => ({
        key,
        ...none,
        ...errorFields(
          ErrorCodes.INVALID_REQUEST,
          `key type ${request.keyType} is not supported (0: group, 1: transaction)`,
        ),
      })),
    };
  const image = ctx.member.metadata.image;
  const kind = keyTypeOf(ctx, request.keyType, image.brokers.size);
  const topic = image.topics.get(kind.topic);
  if (!topic) {
    const created = await ctx.member.autoCreateTopic(kind.spec());
    const detail =
      created.errorCode === 0 || created.errorCode === ErrorCodes.TOPIC_ALREADY_EXISTS.code
        ? `${kind.topic} is being created`
        : `${kind.topic} cannot be created yet: ${created.errorMessage}`;
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
        const partition = kind.partitionFor(key);
        const leader = topic.partitions[partition]?.leader ?? -1;
        const broker = image.brokers.get(leader);
        const endpoint = broker && endpointOn(broker, ctx.listenerName);
        if (!endpoint)
          return {
            key,
            ...none,
            ...errorFields(ErrorCodes.COORDINATOR_NOT_AVAILABLE, `${kind.topic}-${partition} has no reachable leader`),
          };
        return { key, nodeId: leader, host: endpoint.host, port: endpoint.port, ...NO_ERROR };
      } catch (err) {
        return { key, ...none, ...toErrorFields(err, ctx.logger, { key }) };
      }
    }),
  };
}
