import type { Http2Server, ServerHttp2Session } from 'node:http2';
import { createServer, type Server as NetServer, type Socket } from 'node:net';
import * as grpc from '@grpc/grpc-js';
import {
  SamsaError,
  loadBrokerProto,
  loadGroupProto,
  loadReplicationProto,
  loadTxnProto,
  type v1,
} from '@samsa/protocol';
import type { Logger } from 'pino';
import { grpcAddress } from '../listeners.js';
import type { BrokerContext } from './context.js';
import { FLOW_CONTROL_WINDOW_BYTES } from './flow-control.js';
import {
  handleAlterConfigs,
  handleCreatePartitions,
  handleCreateTopics,
  handleDeleteTopics,
  handleDescribeCluster,
  handleAlterPartitionReassignments,
  handleElectLeaders,
} from './handlers/admin.js';
import { handleInitProducerId } from './handlers/init-producer-id.js';
import { handleFetch } from './handlers/fetch.js';
import { handleConsumerGroupHeartbeat } from './handlers/consumer-group-heartbeat.js';
import { handleDeleteGroups } from './handlers/delete-groups.js';
import { handleDescribeGroups } from './handlers/describe-groups.js';
import { handleFindCoordinator } from './handlers/find-coordinator.js';
import { handleListGroups } from './handlers/list-groups.js';
import {
  handleAddOffsetsToTxn,
  handleDescribeProducers,
  handleAddPartitionsToTxn,
  handleDescribeTransactions,
  handleEndTxn,
  handleListTransactions,
  handleWriteTxnMarkers,
} from './handlers/txn-requests.js';
import { handleOffsetCommit } from './handlers/offset-commit.js';
import { handleOffsetDelete } from './handlers/offset-delete.js';
import { handleOffsetFetch } from './handlers/offset-fetch.js';
import { handleTxnOffsetCommit } from './handlers/txn-offset-commit.js';
import { handleListOffsets } from './handlers/list-offsets.js';
import { handleOffsetForLeaderEpoch } from './handlers/offset-for-leader-epoch.js';
import { handleDeleteRecords } from './handlers/delete-records.js';
import { handleMetadata } from './handlers/metadata.js';
import { handleGrpcProduce } from './handlers/produce.js';
import { handleAlterPartition, handleReplicaFetch } from './handlers/replica-fetch.js';

/** Trailer naming the error table entry when a whole request fails with a SamsaError. */
export const ERROR_CODE_METADATA_KEY = 'samsa-error-code';

type Handler<Req, Res> = (ctx: BrokerContext, request: Req, signal: AbortSignal) => Promise<Res> | Res;

/** The answer while the broker has no context yet (still starting). */
const STARTING: Partial<grpc.StatusObject> = { code: grpc.status.UNAVAILABLE, details: 'broker is starting' };

/**
 * The status a failed request gets: an expected failure (SamsaError) its error code in the trailers,
 * anything unexpected logged and INTERNAL; the broker stays up either way.
 */
function failureStatus(err: unknown, logger: Logger, rpc: string): Partial<grpc.StatusObject> {
  if (err instanceof SamsaError) {
    const metadata = new grpc.Metadata();
    metadata.set(ERROR_CODE_METADATA_KEY, String(err.code));
    return {
      code: err.retriable ? grpc.status.UNAVAILABLE : grpc.status.FAILED_PRECONDITION,
      details: err.detail,
      metadata,
    };
  }
  logger.error({ err, rpc }, 'request failed unexpectedly');
  return { code: grpc.status.INTERNAL, details: err instanceof Error ? err.message : String(err) };
}

/**
 * Adapts a handler to a gRPC unary method: the call's cancellation becomes an AbortSignal (a client
 * that vanishes mid-request stops long polls and waits), and a failure its status (failureStatus).
 */
function unary<Req, Res>(
  getContext: () => BrokerContext | undefined,
  logger: Logger,
  name: string,
  handler: Handler<Req, Res>,
): grpc.handleUnaryCall<Req, Res> {
  return (call, callback) => {
    const ctx = getContext();
    if (!ctx) {
      callback(STARTING);
      return;
    }
    const abort = new AbortController();
    call.on('cancelled', () => abort.abort());
    Promise.resolve()
      .then(() => handler(ctx, call.request, abort.signal))
      .then((response) => callback(null, response))
      .catch((err: unknown) => callback(failureStatus(err, logger, name)));
  };
}

/**
 * Adapts a handler to a bidirectional stream on which the peer sends one request at a time: each
 * request is answered by one response, in order. The stream's cancellation aborts the request being
 * served. A failure ends the stream with its status (failureStatus); the peer opens a new stream.
 */
function requestStream<Req, Res>(
  getContext: () => BrokerContext | undefined,
  logger: Logger,
  name: string,
  handler: Handler<Req, Res>,
): grpc.handleBidiStreamingCall<Req, Res> {
  return (call) => {
    const abort = new AbortController();
    let failed = false;
    const fail = (status: Partial<grpc.StatusObject>): void => {
      if (failed) return;
      failed = true;
      abort.abort();
      call.emit('error', status);
    };
    call.on('cancelled', () => abort.abort());
    call.on('error', () => abort.abort());
    let served: Promise<void> = Promise.resolve();
    call.on('data', (request: Req) => {
      served = served.then(async () => {
        if (failed || abort.signal.aborted) return;
        const ctx = getContext();
        if (!ctx) return fail(STARTING);
        try {
          const response = await handler(ctx, request, abort.signal);
          if (!failed && !abort.signal.aborted) call.write(response);
        } catch (err) {
          fail(failureStatus(err, logger, name));
        }
      });
    });
    call.on('end', () => {
      void served.then(() => {
        if (!failed) call.end();
      });
    });
  };
}

/** What a correlated stream answers for a request that failed as a whole: the unary call's status. */
function statusFields(status: Partial<grpc.StatusObject>): { statusCode: number; statusMessage: string } {
  return { statusCode: status.code ?? grpc.status.UNKNOWN, statusMessage: status.details ?? '' };
}

/**
 * Adapts a handler to a bidirectional stream of correlated requests (ProduceStream, FetchStream): each message is
 * handed to the handler as it arrives, so requests start in arrival order, and answered when it
 * completes, in any order, with the request's correlation id. A request that fails as a whole is
 * answered with the status a unary call would have ended with; the stream goes on. Cancelling the
 * stream aborts every request on it; the peer ending its side ends ours once all are answered.
 */
function correlatedStream<Req, Res>(
  getContext: () => BrokerContext | undefined,
  logger: Logger,
  name: string,
  handler: Handler<Req, Res>,
): grpc.handleBidiStreamingCall<
  { correlationId: number; request: Req | null },
  { correlationId: number; response?: Res; statusCode?: number; statusMessage?: string }
> {
  return (call) => {
    const abort = new AbortController();
    let outstanding = 0;
    let peerEnded = false;
    const maybeEnd = (): void => {
      if (peerEnded && outstanding === 0 && !abort.signal.aborted) call.end();
    };
    call.on('cancelled', () => abort.abort());
    call.on('error', () => abort.abort());
    call.on('data', (message: { correlationId: number; request: Req | null }) => {
      const { correlationId, request } = message;
      outstanding++;
      const answer = (fields: { response: Res } | { statusCode: number; statusMessage: string }): void => {
        outstanding--;
        if (!abort.signal.aborted) call.write({ correlationId, ...fields });
        maybeEnd();
      };
      const ctx = getContext();
      if (!ctx) return answer(statusFields(STARTING));
      if (request === null)
        return answer({ statusCode: grpc.status.INVALID_ARGUMENT, statusMessage: `a ${name} message needs a request` });
      let handled: Promise<Res>;
      try {
        handled = Promise.resolve(handler(ctx, request, abort.signal)); // started now, in arrival order
      } catch (err) {
        handled = Promise.reject(err);
      }
      handled.then(
        (response) => answer({ response }),
        (err: unknown) => answer(statusFields(failureStatus(err, logger, name))),
      );
    });
    call.on('end', () => {
      peerEnded = true;
      maybeEnd();
    });
  };
}

export interface BrokerServer {
  readonly port: number;
  /** Stops accepting calls; calls in flight get `graceMs` to finish before they are cut. */
  close(graceMs: number): Promise<void>;
}

/**
 * One listener's gRPC server. A broker runs one per listener, all with the same handlers; the context
 * getter hands them the listener's name (Metadata answers with the addresses of that listener).
 */
export async function startGrpcServer(options: {
  listenerName: string;
  host: string;
  port: number;
  maxRequestBytes: number;
  logger: Logger;
  context: () => BrokerContext | undefined;
}): Promise<BrokerServer> {
  const { context } = options;
  const logger = options.logger.child({ listener: options.listenerName });
  const server = new grpc.Server({
    'grpc.max_receive_message_length': options.maxRequestBytes,
    'grpc.max_send_message_length': -1,
    // Followers hold ReplicaFetch streams open for good: ping idle connections so a peer that vanished
    // without closing its socket (a host gone, a cut network) has its session and parked polls ended.
    'grpc.keepalive_time_ms': 30_000,
    'grpc.keepalive_timeout_ms': 10_000,
    // channelz (grpc-js's introspection service, which nothing here serves) counts and time-stamps every
    // message of every call when on, its default.
    'grpc.enable_channelz': 0,
  });
  server.addService(loadBrokerProto().Broker.service, {
    Metadata: unary<v1.MetadataRequest__Output, v1.MetadataResponse>(context, logger, 'Metadata', handleMetadata),
    InitProducerId: unary<v1.InitProducerIdRequest__Output, v1.InitProducerIdResponse>(
      context,
      logger,
      'InitProducerId',
      handleInitProducerId,
    ),
    DescribeCluster: unary<v1.DescribeClusterRequest__Output, v1.DescribeClusterResponse>(
      context,
      logger,
      'DescribeCluster',
      (ctx) => handleDescribeCluster(ctx),
    ),
    CreateTopics: unary<v1.CreateTopicsRequest__Output, v1.CreateTopicsResponse>(
      context,
      logger,
      'CreateTopics',
      handleCreateTopics,
    ),
    AlterConfigs: unary<v1.AlterConfigsRequest__Output, v1.AlterConfigsResponse>(
      context,
      logger,
      'AlterConfigs',
      handleAlterConfigs,
    ),
    CreatePartitions: unary<v1.CreatePartitionsRequest__Output, v1.CreatePartitionsResponse>(
      context,
      logger,
      'CreatePartitions',
      handleCreatePartitions,
    ),
    DeleteTopics: unary<v1.DeleteTopicsRequest__Output, v1.DeleteTopicsResponse>(
      context,
      logger,
      'DeleteTopics',
      handleDeleteTopics,
    ),
    ElectLeaders: unary<v1.ElectLeadersRequest__Output, v1.ElectLeadersResponse>(
      context,
      logger,
      'ElectLeaders',
      handleElectLeaders,
    ),
    AlterPartitionReassignments: unary<
      v1.AlterPartitionReassignmentsRequest__Output,
      v1.AlterPartitionReassignmentsResponse
    >(context, logger, 'AlterPartitionReassignments', handleAlterPartitionReassignments),
    Produce: unary<v1.ProduceRequest__Output, v1.ProduceResponse>(context, logger, 'Produce', handleGrpcProduce),
    ProduceStream: correlatedStream<v1.ProduceRequest__Output, v1.ProduceResponse>(
      context,
      logger,
      'Produce',
      handleGrpcProduce,
    ),
    Fetch: unary<v1.FetchRequest__Output, v1.FetchResponse>(context, logger, 'Fetch', handleFetch),
    // Each answer's pooled read buffers go back once it is serialized (the FetchStream serializer runs
    // its response's AFTER_SERIALIZE hook), as the unary Fetch's do.
    FetchStream: correlatedStream<v1.FetchRequest__Output, v1.FetchResponse>(context, logger, 'Fetch', handleFetch),
    ListOffsets: unary<v1.ListOffsetsRequest__Output, v1.ListOffsetsResponse>(
      context,
      logger,
      'ListOffsets',
      handleListOffsets,
    ),
    OffsetForLeaderEpoch: unary<v1.OffsetForLeaderEpochRequest__Output, v1.OffsetForLeaderEpochResponse>(
      context,
      logger,
      'OffsetForLeaderEpoch',
      handleOffsetForLeaderEpoch,
    ),
    DeleteRecords: unary<v1.DeleteRecordsRequest__Output, v1.DeleteRecordsResponse>(
      context,
      logger,
      'DeleteRecords',
      handleDeleteRecords,
    ),
  });
  server.addService(loadReplicationProto().Replication.service, {
    ReplicaFetch: requestStream<v1.ReplicaFetchRequest__Output, v1.ReplicaFetchResponse>(
      context,
      logger,
      'ReplicaFetch',
      handleReplicaFetch,
    ),
    AlterPartition: unary<v1.AlterPartitionRequest__Output, v1.AlterPartitionResponse>(
      context,
      logger,
      'AlterPartition',
      handleAlterPartition,
    ),
  });
  server.addService(loadGroupProto().GroupCoordinator.service, {
    FindCoordinator: unary<v1.FindCoordinatorRequest__Output, v1.FindCoordinatorResponse>(
      context,
      logger,
      'FindCoordinator',
      handleFindCoordinator,
    ),
    ConsumerGroupHeartbeat: unary<v1.ConsumerGroupHeartbeatRequest__Output, v1.ConsumerGroupHeartbeatResponse>(
      context,
      logger,
      'ConsumerGroupHeartbeat',
      handleConsumerGroupHeartbeat,
    ),
    OffsetCommit: unary<v1.OffsetCommitRequest__Output, v1.OffsetCommitResponse>(
      context,
      logger,
      'OffsetCommit',
      handleOffsetCommit,
    ),
    TxnOffsetCommit: unary<v1.TxnOffsetCommitRequest__Output, v1.TxnOffsetCommitResponse>(
      context,
      logger,
      'TxnOffsetCommit',
      handleTxnOffsetCommit,
    ),
    OffsetFetch: unary<v1.OffsetFetchRequest__Output, v1.OffsetFetchResponse>(
      context,
      logger,
      'OffsetFetch',
      handleOffsetFetch,
    ),
    ListGroups: unary<v1.ListGroupsRequest__Output, v1.ListGroupsResponse>(
      context,
      logger,
      'ListGroups',
      handleListGroups,
    ),
    DescribeGroups: unary<v1.DescribeGroupsRequest__Output, v1.DescribeGroupsResponse>(
      context,
      logger,
      'DescribeGroups',
      handleDescribeGroups,
    ),
    DeleteGroups: unary<v1.DeleteGroupsRequest__Output, v1.DeleteGroupsResponse>(
      context,
      logger,
      'DeleteGroups',
      handleDeleteGroups,
    ),
    OffsetDelete: unary<v1.OffsetDeleteRequest__Output, v1.OffsetDeleteResponse>(
      context,
      logger,
      'OffsetDelete',
      handleOffsetDelete,
    ),
  });
  server.addService(loadTxnProto().TransactionCoordinator.service, {
    AddPartitionsToTxn: unary<v1.AddPartitionsToTxnRequest__Output, v1.AddPartitionsToTxnResponse>(
      context,
      logger,
      'AddPartitionsToTxn',
      handleAddPartitionsToTxn,
    ),
    AddOffsetsToTxn: unary<v1.AddOffsetsToTxnRequest__Output, v1.AddOffsetsToTxnResponse>(
      context,
      logger,
      'AddOffsetsToTxn',
      handleAddOffsetsToTxn,
    ),
    EndTxn: unary<v1.EndTxnRequest__Output, v1.EndTxnResponse>(context, logger, 'EndTxn', handleEndTxn),
    ListTransactions: unary<v1.ListTransactionsRequest__Output, v1.ListTransactionsResponse>(
      context,
      logger,
      'ListTransactions',
      handleListTransactions,
    ),
    DescribeTransactions: unary<v1.DescribeTransactionsRequest__Output, v1.DescribeTransactionsResponse>(
      context,
      logger,
      'DescribeTransactions',
      handleDescribeTransactions,
    ),
    WriteTxnMarkers: unary<v1.WriteTxnMarkersRequest__Output, v1.WriteTxnMarkersResponse>(
      context,
      logger,
      'WriteTxnMarkers',
      handleWriteTxnMarkers,
    ),
    DescribeProducers: unary<v1.DescribeProducersRequest__Output, v1.DescribeProducersResponse>(
      context,
      logger,
      'DescribeProducers',
      handleDescribeProducers,
    ),
  });
  // grpc-js leaves Nagle's algorithm on for the connections its own listener accepts: a response
  // written as several HTTP/2 frames can then wait for the client's delayed ACK (up to 40 ms). So the
  // broker accepts the sockets itself, with TCP_NODELAY, and hands them to grpc-js.
  const injector = server.createConnectionInjector(grpc.ServerCredentials.createInsecure());
  widenFlowControlWindow(server, logger);
  const sockets = new Set<Socket>();
  const listener = createServer({ noDelay: true }, (socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    injector.injectConnection(socket);
  });
  let port: number;
  try {
    port = await listen(listener, options.host, options.port);
  } catch (err) {
    server.forceShutdown();
    throw err;
  }
  // After listening, errors (EMFILE on accept, say) are the kind to log, not to crash on.
  listener.on('error', (err) => logger.warn({ err }, 'listener error'));
  return {
    port,
    close: (graceMs) =>
      new Promise<void>((resolve) => {
        listener.close();
        const force = setTimeout(() => {
          server.forceShutdown();
          for (const socket of sockets) socket.destroy();
        }, graceMs);
        server.tryShutdown(() => {
          clearTimeout(force);
          resolve();
        });
      }),
  };
}

/**
 * HTTP/2's default 64 KiB receive window makes a large produce request wait for window updates from
 * the broker mid-request (a round trip through its event loop). grpc-js applies its
 * 'grpc-node.flow_control_window' option to client connections only, so the broker raises the window
 * on the HTTP/2 server behind the injector just made (grpc-js keeps it in a private map): the
 * stream-level window in the settings every new session advertises, the connection-level one per session.
 */
function widenFlowControlWindow(server: grpc.Server, logger: Logger): void {
  const servers = (server as unknown as { http2Servers?: Map<Http2Server, unknown> }).http2Servers;
  const http2Server = servers instanceof Map ? [...servers.keys()].at(-1) : undefined;
  if (http2Server === undefined || typeof http2Server.updateSettings !== 'function') {
    logger.warn('cannot widen the HTTP/2 receive window (grpc-js internals changed); large requests will be slower');
    return;
  }
  http2Server.updateSettings({ initialWindowSize: FLOW_CONTROL_WINDOW_BYTES });
  http2Server.on('session', (session: ServerHttp2Session) => session.setLocalWindowSize(FLOW_CONTROL_WINDOW_BYTES));
}

function listen(listener: NetServer, host: string, port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const onError = (err: Error): void =>
      reject(new Error(`cannot listen on ${grpcAddress({ host, port })}: ${err.message}`, { cause: err }));
    listener.once('error', onError);
    listener.listen({ host, port }, () => {
      listener.off('error', onError);
      resolve((listener.address() as { port: number }).port);
    });
  });
}
