import { ErrorCodes, SamsaError } from '@samsa/protocol';
import { kafka } from '@samsa/protocol/kafka';
import * as grpc from '@grpc/grpc-js';
import { loadBrokerProto, type v1 } from '@samsa/protocol';
import { ALTER_CONFIG_DELETE, ALTER_CONFIG_SET, listenerConfig, topicConfigChanges } from '../config.js';
import { endpointOn, grpcAddress } from '../listeners.js';
import type { BrokerContext } from '../server/context.js';
import { toErrorFields } from '../server/errors.js';
import {
  handleAlterPartitionReassignments,
  handleCreatePartitions,
  handleElectLeaders,
} from '../server/handlers/admin.js';
import { handleDescribeTransactions } from '../server/handlers/txn-requests.js';
import { TXN_STATES } from '../txn/records.js';
import { awaitLeadership } from './partitions.js';
import type { Reply } from './reply.js';

/**
 * Admin APIs of the Kafka listener mapped onto the gRPC API's handlers: CreatePartitions and
 * ElectLeaders on the controller, DescribeTransactions and ListTransactions on the transaction
 * coordinators, DescribeProducers on the partition leaders' producer state.
 */

const message = (m: string | undefined) => (m ? m : null);

/** CreatePartitions: on the controller (NOT_CONTROLLER elsewhere); no manual replica assignment. */
export async function createPartitions(
  ctx: BrokerContext,
  _version: number,
  request: kafka.CreatePartitionsRequestData,
): Promise<Reply> {
  const manual = request.topics.filter((t) => t.assignments !== null && t.assignments.length > 0);
  const answer = await handleCreatePartitions(ctx, {
    topics: request.topics.filter((t) => !manual.includes(t)).map((t) => ({ name: t.name, count: t.count })),
    timeoutMs: request.timeoutMs,
    validateOnly: request.validateOnly,
  });
  const results = [
    ...(answer.topics ?? []).map((r) => ({
      name: r.name ?? '',
      errorCode: r.errorCode ?? 0,
      errorMessage: message(r.errorMessage),
    })),
    ...manual.map((t) => ({
      name: t.name,
      errorCode: ErrorCodes.INVALID_REQUEST.code,
      errorMessage: 'manual replica assignment is not supported',
    })),
  ];
  return { body: { throttleTimeMs: 0, results } satisfies kafka.CreatePartitionsResponseData };
}

/**
 * ElectLeaders: preferred elections on the controller (null partitions: every partition). Unclean
 * elections are not offered here (a topic's `unclean.leader.election.enable` does that).
 */
export async function electLeaders(
  ctx: BrokerContext,
  version: number,
  request: kafka.ElectLeadersRequestData,
): Promise<Reply> {
  const wanted = request.topicPartitions ?? [];
  if (request.electionType !== kafka.ELECTION_TYPE_PREFERRED) {
    const replicaElectionResults = wanted.map((t) => ({
      topic: t.topic,
      partitionResult: t.partitions.map((partitionId) => ({
        partitionId,
        errorCode: ErrorCodes.INVALID_REQUEST.code,
        errorMessage: 'only preferred leader elections are supported',
      })),
    }));
    return { body: { throttleTimeMs: 0, errorCode: 0, replicaElectionResults } };
  }
  const answer = await handleElectLeaders(ctx, {
    topics: wanted.map((t) => ({ topic: t.topic, partitions: t.partitions })),
    timeoutMs: request.timeoutMs,
  });
  const byTopic = new Map<string, kafka.ElectLeadersResponseData['replicaElectionResults'][number]>();
  for (const r of answer.results ?? []) {
    const topic = r.topic ?? '';
    const entry = byTopic.get(topic) ?? { topic, partitionResult: [] };
    entry.partitionResult.push({
      partitionId: r.partition ?? -1,
      errorCode: r.errorCode ?? 0,
      errorMessage: message(r.errorMessage),
    });
    byTopic.set(topic, entry);
  }
  const errorCode = answer.errorCode ?? 0;
  if (errorCode !== 0 && version === 0) {
    // v0 has no top-level error: every asked partition carries it.
    const replicaElectionResults = wanted.map((t) => ({
      topic: t.topic,
      partitionResult: t.partitions.map((partitionId) => ({
        partitionId,
        errorCode,
        errorMessage: message(answer.errorMessage),
      })),
    }));
    return { body: { throttleTimeMs: 0, errorCode, replicaElectionResults } };
  }
  const body = { throttleTimeMs: 0, errorCode, replicaElectionResults: [...byTopic.values()] };
  return { body: body satisfies kafka.ElectLeadersResponseData };
}

export async function describeTransactions(
  ctx: BrokerContext,
  _version: number,
  request: kafka.DescribeTransactionsRequestData,
): Promise<Reply> {
  const answer = await handleDescribeTransactions(ctx, { transactionalIds: request.transactionalIds });
  const transactionStates = (answer.transactions ?? []).map((t) => ({
    errorCode: t.errorCode ?? 0,
    transactionalId: t.transactionalId ?? '',
    transactionState: t.state ?? '',
    transactionTimeoutMs: t.transactionTimeoutMs ?? 0,
    transactionStartTimeMs: Number(t.transactionStartTimeMs ?? -1),
    producerId: Number(t.producerId ?? -1),
    producerEpoch: t.producerEpoch ?? -1,
    topics: (t.topics ?? []).map((topic) => ({ topic: topic.name ?? '', partitions: topic.partitions ?? [] })),
  }));
  return { body: { throttleTimeMs: 0, transactionStates } satisfies kafka.DescribeTransactionsResponseData };
}

const KNOWN_STATES: ReadonlySet<string> = new Set([...TXN_STATES, 'PrepareEpochFence']);

/**
 * ListTransactions: the transactions this broker coordinates (ask every broker, as Kafka's tools do),
 * by state, producer id and (v1) how long they have been open.
 */
export function listTransactions(
  ctx: BrokerContext,
  version: number,
  request: kafka.ListTransactionsRequestData,
): Reply {
  const states = new Set(request.stateFilters);
  const producerIds = new Set(request.producerIdFilters);
  const minDurationMs = version >= 1 ? request.durationFilter : -1;
  const nowMs = Date.now();
  const transactionStates = ctx.txns
    .list()
    .filter((t) => states.size === 0 || states.has(t.state))
    .filter((t) => producerIds.size === 0 || producerIds.has(t.producerId))
    .filter((t) => minDurationMs < 0 || (t.txnStartTimestampMs >= 0 && nowMs - t.txnStartTimestampMs >= minDurationMs))
    .map((t) => ({ transactionalId: t.transactionalId, producerId: t.producerId, transactionState: t.state }));
  const body: kafka.ListTransactionsResponseData = {
    throttleTimeMs: 0,
    errorCode: 0,
    unknownStateFilters: request.stateFilters.filter((s) => !KNOWN_STATES.has(s)),
    transactionStates,
  };
  return { body };
}

/**
 * DescribeProducers: the producer state of partitions this broker leads (NOT_LEADER_OR_FOLLOWER elsewhere),
 * after waiting for a role about to be taken, as the other leader APIs do.
 */
export async function describeProducers(
  ctx: BrokerContext,
  _version: number,
  request: kafka.DescribeProducersRequestData,
  signal: AbortSignal,
): Promise<Reply> {
  await awaitLeadership(
    ctx,
    request.topics.flatMap((t) => t.partitionIndexes.map((partition) => ({ topic: t.name, partition }))),
    signal,
  );
  const topics = request.topics.map((t) => ({
    name: t.name,
    partitions: t.partitionIndexes.map((partitionIndex) => {
      try {
        const hosted = ctx.partitions.leaderOf(t.name, partitionIndex, ctx.knowsPartition(t.name, partitionIndex));
        const activeProducers = hosted.log.activeProducers().map((p) => ({
          producerId: p.producerId,
          producerEpoch: p.epoch,
          lastSequence: p.batches.at(-1)?.lastSeq ?? -1,
          lastTimestamp: p.lastTimestampMs,
          coordinatorEpoch: p.coordinatorEpoch,
          currentTxnStartOffset: p.currentTxnFirstOffset,
        }));
        return { partitionIndex, errorCode: 0, errorMessage: null, activeProducers };
      } catch (err) {
        const { errorCode, errorMessage } = toErrorFields(err, ctx.logger, {
          topic: t.name,
          partition: partitionIndex,
        });
        return { partitionIndex, errorCode, errorMessage: message(errorMessage), activeProducers: [] };
      }
    }),
  }));
  return { body: { throttleTimeMs: 0, topics } satisfies kafka.DescribeProducersResponseData };
}

/**
 * AlterPartitionReassignments (KIP-455) on the controller (NOT_CONTROLLER elsewhere): the moves start,
 * the answer does not wait for them to finish (ListPartitionReassignments and Metadata show them).
 * Null replicas cancel a partition's move; an empty list is not a replica set (INVALID_REPLICA_ASSIGNMENT).
 */
export async function alterPartitionReassignments(
  ctx: BrokerContext,
  _version: number,
  request: kafka.AlterPartitionReassignmentsRequestData,
): Promise<Reply> {
  const asked = request.topics.flatMap((t) =>
    t.partitions.map((p) => ({ topic: t.name, partition: p.partitionIndex, replicas: p.replicas })),
  );
  const empty = asked.filter((p) => p.replicas !== null && p.replicas.length === 0);
  const answer = await handleAlterPartitionReassignments(ctx, {
    partitions: asked.filter((p) => !empty.includes(p)).map((p) => ({ ...p, replicas: p.replicas ?? [] })),
    throttleBytesPerSec: 0,
    clearThrottleTopics: [],
  });
  const results = new Map<string, { errorCode: number; errorMessage: string | null }>();
  for (const r of answer.results ?? [])
    results.set(`${r.topic}/${r.partition}`, { errorCode: r.errorCode ?? 0, errorMessage: message(r.errorMessage) });
  const invalid = { errorCode: ErrorCodes.INVALID_REPLICA_ASSIGNMENT.code, errorMessage: 'no replicas' };
  const responses = request.topics.map((t) => ({
    name: t.name,
    partitions: t.partitions.map((p) => {
      const key = `${t.name}/${p.partitionIndex}`;
      const result = p.replicas !== null && p.replicas.length === 0 ? invalid : results.get(key);
      return {
        partitionIndex: p.partitionIndex,
        ...(result ?? { errorCode: answer.errorCode ?? 0, errorMessage: null }),
      };
    }),
  }));
  const body: kafka.AlterPartitionReassignmentsResponseData = {
    throttleTimeMs: 0,
    errorCode: answer.errorCode ?? 0,
    errorMessage: message(answer.errorMessage),
    responses,
  };
  return { body };
}

/** ListPartitionReassignments: the moves in progress in this broker's metadata (null topics: all of them). */
export function listPartitionReassignments(
  ctx: BrokerContext,
  _version: number,
  request: kafka.ListPartitionReassignmentsRequestData,
): Reply {
  const image = ctx.member.metadata.image;
  const wanted =
    request.topics ??
    [...image.topics.values()].map((t) => ({ name: t.name, partitionIndexes: t.partitions.map((p) => p.partition) }));
  const topics = wanted
    .map((t) => ({
      name: t.name,
      partitions: t.partitionIndexes
        .map((i) => image.topics.get(t.name)?.partitions[i])
        .filter((p) => p !== undefined && (p.addingReplicas.length > 0 || p.removingReplicas.length > 0))
        .map((p) => ({
          partitionIndex: p!.partition,
          replicas: [...p!.replicas],
          addingReplicas: [...p!.addingReplicas],
          removingReplicas: [...p!.removingReplicas],
        })),
    }))
    .filter((t) => t.partitions.length > 0);
  const body: kafka.ListPartitionReassignmentsResponseData = {
    throttleTimeMs: 0,
    errorCode: 0,
    errorMessage: null,
    topics,
  };
  return { body };
}

type ConfigResource = { resourceType: number; resourceName: string };

/**
 * IncrementalAlterConfigs (SET and DELETE per name) and AlterConfigs (the resource's configs replaced
 * by the ones given) on topics, answered by the controller; another broker forwards the change there.
 * Broker resources are refused: a broker's settings are static here.
 */
async function alterConfigResources<R extends ConfigResource>(
  ctx: BrokerContext,
  resources: readonly R[],
  validateOnly: boolean,
  replace: boolean,
  opsOf: (resource: R) => { name: string; op: number; value: string | null }[],
): Promise<Reply> {
  const responses = await Promise.all(
    resources.map(async (r) => {
      const answer = (errorCode: number, errorMessage: string | null) => ({
        errorCode,
        errorMessage,
        resourceType: r.resourceType,
        resourceName: r.resourceName,
      });
      if (r.resourceType !== kafka.RESOURCE_TYPE_TOPIC)
        return answer(
          ErrorCodes.INVALID_REQUEST.code,
          'only topic configs can be altered (broker settings are static)',
        );
      let changes: ReturnType<typeof topicConfigChanges>;
      try {
        changes = topicConfigChanges(opsOf(r));
      } catch (err) {
        if (!(err instanceof SamsaError)) throw err;
        return answer(err.code, err.detail);
      }
      let result = await ctx.member.alterTopicConfigs({ topic: r.resourceName, ...changes, replace, validateOnly });
      // Kafka's Java AdminClient sends it to any broker: this one passes it on to the controller.
      if (result.errorCode === ErrorCodes.NOT_CONTROLLER.code) {
        const ops = [
          ...Object.entries(changes.set).map(([name, value]) => ({ name, op: ALTER_CONFIG_SET, value })),
          ...changes.remove.map((name) => ({ name, op: ALTER_CONFIG_DELETE, value: '' })),
        ];
        result = await forwardToController(ctx, { resources: [{ topic: r.resourceName, ops }], validateOnly, replace })
          .then((a) => a.topics[0] ?? result)
          .catch(() => result);
      }
      return answer(result.errorCode ?? 0, message(result.errorMessage));
    }),
  );
  return { body: { throttleTimeMs: 0, responses } satisfies kafka.AlterConfigsResponseData };
}

/** Sends an AlterConfigs to the controller's inter-broker listener (a one-off channel: admin requests are rare). */
async function forwardToController(
  ctx: BrokerContext,
  request: v1.AlterConfigsRequest,
): Promise<v1.AlterConfigsResponse__Output> {
  const image = ctx.member.metadata.image;
  const controller = image.brokers.get(image.controllerId);
  const endpoint = controller && endpointOn(controller, listenerConfig(ctx.settings).interBrokerListenerName);
  if (!endpoint) throw new SamsaError(ErrorCodes.NOT_CONTROLLER, 'no controller known');
  type Client = grpc.Client & {
    AlterConfigs(
      req: v1.AlterConfigsRequest,
      opts: grpc.CallOptions,
      cb: (err: grpc.ServiceError | null, res?: v1.AlterConfigsResponse__Output) => void,
    ): grpc.ClientUnaryCall;
  };
  const Broker = loadBrokerProto().Broker;
  const client = new Broker(grpcAddress(endpoint), grpc.credentials.createInsecure()) as unknown as Client;
  try {
    return await new Promise((resolve, reject) =>
      client.AlterConfigs(request, { deadline: Date.now() + FORWARD_TIMEOUT_MS }, (err, res) =>
        err || !res ? reject(err ?? new Error('no answer')) : resolve(res),
      ),
    );
  } finally {
    client.close();
  }
}

const FORWARD_TIMEOUT_MS = 30_000;

export function incrementalAlterConfigs(
  ctx: BrokerContext,
  _version: number,
  request: kafka.IncrementalAlterConfigsRequestData,
): Promise<Reply> {
  return alterConfigResources(ctx, request.resources, request.validateOnly, false, (r) =>
    r.configs.map((c) => ({ name: c.name, op: c.configOperation, value: c.value })),
  );
}

export function alterConfigs(
  ctx: BrokerContext,
  _version: number,
  request: kafka.AlterConfigsRequestData,
): Promise<Reply> {
  return alterConfigResources(ctx, request.resources, request.validateOnly, true, (r) =>
    r.configs.filter((c) => c.value !== null).map((c) => ({ name: c.name, op: ALTER_CONFIG_SET, value: c.value })),
  );
}
