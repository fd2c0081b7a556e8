import { ErrorCodes, type v1 } from '@samsa/protocol';
import { type MetadataImage, type TopicInfo, replicaKey } from '../../cluster/metadata.js';
import { validateTopicName } from '../../controller/assignment.js';
import { endpointOn, type BrokerEndpoint } from '../../listeners.js';
import type { BrokerContext } from '../context.js';
import { NO_ERROR, errorFields } from '../errors.js';

/**
 * Every live broker's address on `listener`, Kafka's rule: a client is told the addresses of the
 * listener its request arrived on (so a client outside a Docker network, on EXTERNAL, never gets the
 * INTERNAL names it cannot resolve). A broker without that listener is left out.
 */
export function brokersOn(brokers: ReadonlyMap<number, BrokerEndpoint>, listener: string): v1.BrokerInfo[] {
  const out: v1.BrokerInfo[] = [];
  for (const b of brokers.values()) {
    const endpoint = endpointOn(b, listener);
    if (endpoint) out.push({ id: b.id, host: endpoint.host, port: endpoint.port, rack: b.rack ?? '' });
  }
  return out;
}

/**
 * Metadata: brokers, controller and topics from this broker's metadata cache. A missing topic is
 * created with the broker's defaults when both the request and `auto.create.topics.enable` allow it;
 * it is then reported LeaderNotAvailable (retriable) until its leaders are elected, as Kafka does.
 */
export async function handleMetadata(
  ctx: BrokerContext,
  request: v1.MetadataRequest__Output,
): Promise<v1.MetadataResponse> {
  const image = ctx.member.metadata.image;
  const names = request.topics.length > 0 ? request.topics : [...image.topics.keys()].sort();
  const topics = await Promise.all(
    names.map(async (name): Promise<v1.TopicMetadata> => {
      const topic = image.topics.get(name);
      if (topic) return describeTopic(topic, image.brokers, ctx.listenerName, image.offlineReplicas);
      const invalid = validateTopicName(name);
      if (invalid) return { name, partitions: [], configs: {}, ...errorFields(invalid.error, invalid.message) };
      if (request.allowAutoTopicCreation && ctx.settings['auto.create.topics.enable']) {
        const created = await ctx.member.autoCreateTopic({
          name,
          numPartitions: ctx.settings['num.partitions'] as number,
          replicationFactor: ctx.settings['default.replication.factor'] as number,
        });
        if (created.errorCode === 0 || created.errorCode === ErrorCodes.TOPIC_ALREADY_EXISTS.code) {
          return {
            name,
            partitions: [],
            configs: {},
            ...errorFields(ErrorCodes.LEADER_NOT_AVAILABLE, `topic ${name} is being created`),
          };
        }
        return { name, partitions: [], configs: {}, errorCode: created.errorCode, errorMessage: created.errorMessage };
      }
      return {
        name,
        partitions: [],
        configs: {},
        ...errorFields(ErrorCodes.UNKNOWN_TOPIC_OR_PARTITION, `unknown topic ${name}`),
      };
    }),
  );
  return {
    brokers: brokersOn(image.brokers, ctx.listenerName),
    clusterId: image.clusterId ?? '',
    controllerId: image.controllerId,
    topics,
  };
}

/**
 * A topic's partitions. A leader that is not registered (its session expired and the controller has not
 * elected another yet) or is alive but lacks `listener` is reported as no leader (-1,
 * LeaderNotAvailable, retriable), as Kafka's metadata cache does: the client could not reach it, and
 * one told a dead broker leads would send it requests until the next refresh.
 */
export function describeTopic(
  topic: TopicInfo,
  brokers: ReadonlyMap<number, BrokerEndpoint>,
  listener: string,
  offline: MetadataImage['offlineReplicas'] = new Map(),
): v1.TopicMetadata {
  const reachable = (id: number) => {
    const b = brokers.get(id);
    return b !== undefined && endpointOn(b, listener) !== undefined;
  };
  return {
    name: topic.name,
    ...NO_ERROR,
    configs: { ...topic.configs },
    partitions: topic.partitions.map((p) => ({
      partition: p.partition,
      errorCode: reachable(p.leader) ? 0 : ErrorCodes.LEADER_NOT_AVAILABLE.code,
      leader: reachable(p.leader) ? p.leader : -1,
      leaderEpoch: p.leaderEpoch,
      replicas: [...p.replicas],
      isr: [...p.isr],
      // Not registered, or its broker reports that log offline (a full disk).
      offlineReplicas: p.replicas.filter(
        (id) => !brokers.has(id) || offline.get(id)?.has(replicaKey(topic.name, p.partition)),
      ),
      addingReplicas: [...p.addingReplicas],
      removingReplicas: [...p.removingReplicas],
    })),
  };
}
