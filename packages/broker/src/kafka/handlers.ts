import { ErrorCodes } from '@samsa/protocol';
import { kafka } from '@samsa/protocol/kafka';
import type { BrokerContext } from '../server/context.js';
import { createTopics, deleteTopics, describeCluster, initProducerId } from './admin.js';
import {
  alterPartitionReassignments,
  alterConfigs,
  createPartitions,
  incrementalAlterConfigs,
  describeProducers,
  describeTransactions,
  electLeaders,
  listPartitionReassignments,
  listTransactions,
} from './admin-ops.js';
import type { Served } from './connection.js';
import { consumerGroupDescribe, consumerGroupHeartbeat } from './consumer-groups.js';
import { deleteRecords } from './delete-records.js';
import { describeConfigs } from './describe-configs.js';
import { fetch } from './fetch.js';
import * as groups from './groups.js';
import { metadata } from './metadata.js';
import { listOffsets, offsetForLeaderEpoch } from './offsets.js';
import { produce } from './produce.js';
import type { Handler, KafkaListenerState, Reply } from './reply.js';
import { addOffsetsToTxn, addPartitionsToTxn, endTxn, txnOffsetCommit } from './transactions.js';

export type { KafkaListenerState } from './reply.js';

/**
 * Kafka requests served by the handlers the gRPC server uses: each function maps a decoded request
 * onto the internal one and the internal answer back onto Kafka's response for the request's version.
 * Records are never decoded for v2-batch versions: produce appends the client's bytes, fetch hands out
 * the stored ones.
 */

const { ApiKey } = kafka;

const HANDLERS = new Map<number, Handler>([
  [ApiKey.ApiVersions, apiVersions as Handler],
  [ApiKey.SaslHandshake, saslHandshake as Handler],
  [ApiKey.SaslAuthenticate, saslAuthenticate as Handler],
  [ApiKey.Metadata, metadata as Handler],
  [ApiKey.Produce, produce as Handler],
  [ApiKey.Fetch, fetch as Handler],
  [ApiKey.ListOffsets, listOffsets as Handler],
  [ApiKey.OffsetForLeaderEpoch, offsetForLeaderEpoch as Handler],
  [ApiKey.CreateTopics, createTopics as Handler],
  [ApiKey.DeleteTopics, deleteTopics as Handler],
  [ApiKey.DeleteRecords, deleteRecords as Handler],
  [ApiKey.DescribeCluster, describeCluster as Handler],
  [ApiKey.CreatePartitions, createPartitions as Handler],
  [ApiKey.AlterConfigs, alterConfigs as Handler],
  [ApiKey.IncrementalAlterConfigs, incrementalAlterConfigs as Handler],
  [ApiKey.ElectLeaders, electLeaders as Handler],
  [ApiKey.AlterPartitionReassignments, alterPartitionReassignments as Handler],
  [ApiKey.ListPartitionReassignments, listPartitionReassignments as Handler],
  [ApiKey.DescribeProducers, describeProducers as Handler],
  [ApiKey.DescribeTransactions, describeTransactions as Handler],
  [ApiKey.ListTransactions, listTransactions as Handler],
  [ApiKey.InitProducerId, initProducerId as Handler],
  [ApiKey.AddPartitionsToTxn, addPartitionsToTxn as Handler],
  [ApiKey.AddOffsetsToTxn, addOffsetsToTxn as Handler],
  [ApiKey.EndTxn, endTxn as Handler],
  [ApiKey.TxnOffsetCommit, txnOffsetCommit as Handler],
  [ApiKey.FindCoordinator, groups.findCoordinator as Handler],
  [
    ApiKey.JoinGroup,
    ((ctx, v, request: kafka.JoinGroupRequestData, _signal, state, header) =>
      groups.joinGroup(ctx, v, request, {
        clientId: header.clientId ?? '',
        clientHost: state.clientHost ?? '',
      })) as Handler,
  ],
  [ApiKey.SyncGroup, groups.syncGroup as Handler],
  [ApiKey.Heartbeat, groups.heartbeat as Handler],
  [ApiKey.LeaveGroup, groups.leaveGroup as Handler],
  [ApiKey.OffsetCommit, groups.offsetCommit as Handler],
  [ApiKey.OffsetFetch, groups.offsetFetch as Handler],
  [ApiKey.ListGroups, groups.listGroups as Handler],
  [ApiKey.DescribeGroups, groups.describeGroups as Handler],
  [ApiKey.DeleteGroups, groups.deleteGroups as Handler],
  [ApiKey.OffsetDelete, groups.offsetDelete as Handler],
  [
    ApiKey.ConsumerGroupHeartbeat,
    ((ctx, v, request: kafka.ConsumerGroupHeartbeatRequestData, _signal, state, header) =>
      consumerGroupHeartbeat(ctx, v, request, {
        clientId: header.clientId ?? '',
        clientHost: state.clientHost ?? '',
      })) as Handler,
  ],
  [ApiKey.ConsumerGroupDescribe, consumerGroupDescribe as Handler],
  [
    ApiKey.DescribeConfigs,
    ((ctx, _v, request: kafka.DescribeConfigsRequestData) => ({
      body: describeConfigs(ctx, request),
    })) as Handler,
  ],
]);

/** The APIs this broker serves on a Kafka listener, with the versions ApiVersions advertises. */
export const SERVED_APIS: ReadonlyMap<number, kafka.ApiCodec> = new Map(
  [...kafka.KAFKA_APIS].filter(([key]) => HANDLERS.has(key)),
);

export function supportedApi(apiKey: number): kafka.ApiCodec | undefined {
  return SERVED_APIS.get(apiKey);
}

/** Serves one decoded request and encodes its response. */
export async function serveKafkaRequest(
  ctx: BrokerContext,
  state: KafkaListenerState,
  request: kafka.DecodedRequest,
  signal: AbortSignal,
): Promise<Served> {
  const { header } = request;
  if (request.kind === 'api-versions-unsupported') {
    // Kafka's answer to an ApiVersions version it does not know: v0, UNSUPPORTED_VERSION, and the
    // versions it does know, so the client can retry with one of them.
    const api = SERVED_APIS.get(ApiKey.ApiVersions)!;
    const body = { errorCode: ErrorCodes.UNSUPPORTED_VERSION.code, apiKeys: apiVersionRanges() };
    return { chunks: kafka.encodeResponse(api, 0, header.correlationId, body) };
  }
  const handler = HANDLERS.get(header.apiKey)!;
  const reply = await handler(ctx, header.apiVersion, request.body as never, signal, state, header);
  if (reply.body === null)
    return {
      chunks: null,
      ...(reply.release ? { release: reply.release } : {}),
      ...(reply.closeConnection ? { closeConnection: true } : {}),
    };
  try {
    const chunks = kafka.encodeResponse(request.api, header.apiVersion, header.correlationId, reply.body);
    return { chunks, ...(reply.release ? { release: reply.release } : {}) };
  } catch (err) {
    reply.release?.();
    throw err;
  }
}

function apiVersionRanges(): kafka.ApiVersionRange[] {
  return [...SERVED_APIS.values()].map((a) => ({ apiKey: a.key, minVersion: a.minVersion, maxVersion: a.maxVersion }));
}

function apiVersions(): Reply {
  return {
    body: { errorCode: 0, apiKeys: apiVersionRanges(), throttleTimeMs: 0 } satisfies kafka.ApiVersionsResponseData,
  };
}

/**
 * SASL on a PLAINTEXT listener, as Kafka's broker answers it: ILLEGAL_SASL_STATE, no mechanisms. A client
 * configured for SASL_PLAINTEXT learns that this listener does not authenticate; without the API it fell
 * back to unframed SASL tokens (librdkafka) that closed the connection, and retried that forever.
 */
function saslHandshake(): Reply {
  return {
    body: {
      errorCode: ErrorCodes.ILLEGAL_SASL_STATE.code,
      mechanisms: [],
    } satisfies kafka.SaslHandshakeResponseData,
  };
}

function saslAuthenticate(): Reply {
  return {
    body: {
      errorCode: ErrorCodes.ILLEGAL_SASL_STATE.code,
      errorMessage: 'this listener does not authenticate (security protocol PLAINTEXT)',
      authBytes: Buffer.alloc(0),
      sessionLifetimeMs: 0,
    } satisfies kafka.SaslAuthenticateResponseData,
  };
}
