import * as grpc from '@grpc/grpc-js';
import { ErrorCodes, loadBrokerProto, loadGroupProto, loadTxnProto, type v1 } from '@samsa/protocol';
import {
  AbortError,
  ClosedError,
  SamsaClientError,
  TimeoutError,
  errorFromGrpc,
  isConnectionFailure,
} from './errors.js';

/** The RPCs of samsa.v1.Broker with their request and response types. */
export interface BrokerRpcs {
  Metadata: [v1.MetadataRequest, v1.MetadataResponse__Output];
  DescribeCluster: [v1.DescribeClusterRequest, v1.DescribeClusterResponse__Output];
  CreateTopics: [v1.CreateTopicsRequest, v1.CreateTopicsResponse__Output];
  CreatePartitions: [v1.CreatePartitionsRequest, v1.CreatePartitionsResponse__Output];
  AlterConfigs: [v1.AlterConfigsRequest, v1.AlterConfigsResponse__Output];
  DeleteTopics: [v1.DeleteTopicsRequest, v1.DeleteTopicsResponse__Output];
  ElectLeaders: [v1.ElectLeadersRequest, v1.ElectLeadersResponse__Output];
  AlterPartitionReassignments: [v1.AlterPartitionReassignmentsRequest, v1.AlterPartitionReassignmentsResponse__Output];
  Produce: [v1.ProduceRequest, v1.ProduceResponse__Output];
  Fetch: [v1.FetchRequest, v1.FetchResponse__Output];
  ListOffsets: [v1.ListOffsetsRequest, v1.ListOffsetsResponse__Output];
  OffsetForLeaderEpoch: [v1.OffsetForLeaderEpochRequest, v1.OffsetForLeaderEpochResponse__Output];
  DeleteRecords: [v1.DeleteRecordsRequest, v1.DeleteRecordsResponse__Output];
  InitProducerId: [v1.InitProducerIdRequest, v1.InitProducerIdResponse__Output];
  FindCoordinator: [v1.FindCoordinatorRequest, v1.FindCoordinatorResponse__Output];
  ConsumerGroupHeartbeat: [v1.ConsumerGroupHeartbeatRequest, v1.ConsumerGroupHeartbeatResponse__Output];
  OffsetCommit: [v1.OffsetCommitRequest, v1.OffsetCommitResponse__Output];
  OffsetFetch: [v1.OffsetFetchRequest, v1.OffsetFetchResponse__Output];
  TxnOffsetCommit: [v1.TxnOffsetCommitRequest, v1.TxnOffsetCommitResponse__Output];
  ListGroups: [v1.ListGroupsRequest, v1.ListGroupsResponse__Output];
  DescribeGroups: [v1.DescribeGroupsRequest, v1.DescribeGroupsResponse__Output];
  DeleteGroups: [v1.DeleteGroupsRequest, v1.DeleteGroupsResponse__Output];
  OffsetDelete: [v1.OffsetDeleteRequest, v1.OffsetDeleteResponse__Output];
  AddPartitionsToTxn: [v1.AddPartitionsToTxnRequest, v1.AddPartitionsToTxnResponse__Output];
  AddOffsetsToTxn: [v1.AddOffsetsToTxnRequest, v1.AddOffsetsToTxnResponse__Output];
  EndTxn: [v1.EndTxnRequest, v1.EndTxnResponse__Output];
  ListTransactions: [v1.ListTransactionsRequest, v1.ListTransactionsResponse__Output];
  DescribeTransactions: [v1.DescribeTransactionsRequest, v1.DescribeTransactionsResponse__Output];
  DescribeProducers: [v1.DescribeProducersRequest, v1.DescribeProducersResponse__Output];
  WriteTxnMarkers: [v1.WriteTxnMarkersRequest, v1.WriteTxnMarkersResponse__Output];
}
export type RpcName = keyof BrokerRpcs;

/** The RPCs of samsa.v1.GroupCoordinator: served by the same brokers, on the same channel. */
const GROUP_RPCS = new Set<RpcName>([
  'FindCoordinator',
  'ConsumerGroupHeartbeat',
  'OffsetCommit',
  'OffsetFetch',
  'TxnOffsetCommit',
  'ListGroups',
  'DescribeGroups',
  'DeleteGroups',
  'OffsetDelete',
]);

/** The RPCs of samsa.v1.TransactionCoordinator: served by the same brokers, on the same channel. */
const TXN_RPCS = new Set<RpcName>([
  'AddPartitionsToTxn',
  'AddOffsetsToTxn',
  'EndTxn',
  'ListTransactions',
  'DescribeTransactions',
  'DescribeProducers',
  'WriteTxnMarkers',
]);

/**
 * The unary RPCs a broker answers from what it holds, or after a replicated write at most: one of them
 * unanswered for a second says the broker may be paused or cut off (hasStalledRequest). Not the ones
 * that wait by design: a Fetch's long poll, and the admin and transaction requests that wait for
 * elections, reassignments, replicas or markers.
 */
const PROMPT_RPCS = new Set<RpcName>([
  'Metadata',
  'DescribeCluster',
  'Produce',
  'ListOffsets',
  'FindCoordinator',
  'ConsumerGroupHeartbeat',
  'OffsetCommit',
  'OffsetFetch',
  'ListGroups',
  'DescribeGroups',
  'ListTransactions',
  'DescribeTransactions',
  'DescribeProducers',
]);

export interface CallOptions {
  timeoutMs: number;
  signal?: AbortSignal | undefined;
}

/** Largest message either way; Fetch responses can carry maxBytes (50 MiB by default) plus framing. */
const MAX_MESSAGE_BYTES = 256 * 1024 * 1024;

const CHANNEL_OPTIONS: grpc.ChannelOptions = {
  'grpc.max_receive_message_length': MAX_MESSAGE_BYTES,
  'grpc.max_send_message_length': MAX_MESSAGE_BYTES,
  // Kafka's reconnect.backoff.ms / reconnect.backoff.max.ms; grpc-js's own defaults (1 s .. 120 s) would
  // make retries after a broker restart fail fast for minutes without trying to connect.
  'grpc.initial_reconnect_backoff_ms': 50,
  'grpc.max_reconnect_backoff_ms': 1000,
  'grpc.keepalive_time_ms': 60_000,
  'grpc.enable_retries': 0,
  // grpc-js's introspection service, which counts and time-stamps every message when on (its default).
  'grpc.enable_channelz': 0,
  'grpc-node.flow_control_window': 64 * 1024 * 1024,
};

type UnaryMethod = (
  request: unknown,
  metadata: grpc.Metadata,
  options: grpc.CallOptions,
  callback: (err: grpc.ServiceError | null, response?: unknown) => void,
) => grpc.ClientUnaryCall;

interface Pending<Res> {
  resolve: (response: Res) => void;
  reject: (err: Error) => void;
  deadlineMs: number;
  /** performance.now() when it was sent. */
  sentAtMs: number;
}

/** The stream methods with correlated requests: the unary method each carries, and its types. */
interface CorrelatedRpcs {
  ProduceStream: { unary: 'Produce'; request: v1.ProduceRequest; response: v1.ProduceResponse__Output };
  FetchStream: { unary: 'Fetch'; request: v1.FetchRequest; response: v1.FetchResponse__Output };
}

/**
 * One stream of correlated requests to a broker (ProduceStream, FetchStream): requests go out as
 * messages with a correlation id, answers come back in any order. The stream fails every outstanding
 * request, as retriable network errors, when it breaks (the broker went away, or ended it) and when
 * any request is not answered within its time (a paused or cut-off broker); its owner then opens a new
 * one for the next request. The requests' times share one timer, armed for the earliest deadline and
 * looking at what is outstanding when it fires, instead of one made and cleared per request.
 */
export class CorrelatedStream<M extends keyof CorrelatedRpcs> {
  closed = false;
  private nextId = 1;
  private readonly pending = new Map<number, Pending<CorrelatedRpcs[M]['response']>>();
  private readonly call: grpc.ClientDuplexStream<
    { correlationId: number; request: CorrelatedRpcs[M]['request'] },
    { correlationId: number; response: CorrelatedRpcs[M]['response'] | null; statusCode: number; statusMessage: string }
  >;
  private readonly rpc: CorrelatedRpcs[M]['unary'];
  private timer: NodeJS.Timeout | undefined;
  private timerAtMs = Number.POSITIVE_INFINITY;

  constructor(
    client: grpc.Client,
    metadata: grpc.Metadata,
    private readonly address: string,
    method: M,
    private readonly onClosed?: () => void,
  ) {
    this.rpc = (method === 'ProduceStream' ? 'Produce' : 'Fetch') as CorrelatedRpcs[M]['unary'];
    const open = (client as unknown as Record<M, (metadata: grpc.Metadata) => CorrelatedStream<M>['call']>)[method];
    this.call = open.call(client, metadata);
    this.call.on('data', (message) => {
      const pending = this.pending.get(message.correlationId);
      if (pending === undefined) return; // answered after it timed out
      this.pending.delete(message.correlationId);
      if (message.statusCode === 0 && message.response) pending.resolve(message.response);
      else
        pending.reject(
          errorFromGrpc(
            Object.assign(new Error(message.statusMessage), {
              code: message.statusCode || grpc.status.INTERNAL,
              details: message.statusMessage,
            }),
            this.address,
            this.rpc,
          ),
        );
    });
    this.call.on('error', (err: Error) => this.fail(errorFromGrpc(err, this.address, this.rpc)));
    this.call.on('end', () =>
      this.fail(
        new SamsaClientError(
          ErrorCodes.NETWORK_EXCEPTION,
          `broker ${this.address} ended the ${this.rpc.toLowerCase()} stream`,
          { retriable: true },
        ),
      ),
    );
  }

  request(request: CorrelatedRpcs[M]['request'], timeoutMs: number): Promise<CorrelatedRpcs[M]['response']> {
    if (this.closed) return Promise.reject(new ClosedError(`${this.rpc.toLowerCase()} stream`));
    const correlationId = this.nextId++;
    return new Promise((resolve, reject) => {
      // On the monotonic clock: a wall clock set back would keep a timed-out request waiting that much longer.
      const sentAtMs = performance.now();
      const deadlineMs = sentAtMs + timeoutMs;
      this.pending.set(correlationId, { resolve, reject, deadlineMs, sentAtMs });
      if (deadlineMs < this.timerAtMs) this.arm(deadlineMs);
      this.call.write({ correlationId, request });
    });
  }

  private arm(atMs: number): void {
    clearTimeout(this.timer);
    this.timerAtMs = atMs;
    // Unreferenced: it may stay armed after the last answer, and the open stream holds the process anyway.
    this.timer = setTimeout(() => this.checkDeadlines(), Math.max(0, atMs - performance.now())).unref();
  }

  /** The timer fired: a request past its deadline times out (and closes the stream), else it waits on. */
  private checkDeadlines(): void {
    this.timer = undefined;
    this.timerAtMs = Number.POSITIVE_INFINITY;
    if (this.closed) return;
    const nowMs = performance.now();
    let earliest: [number, Pending<CorrelatedRpcs[M]['response']>] | undefined;
    for (const entry of this.pending)
      if (earliest === undefined || entry[1].deadlineMs < earliest[1].deadlineMs) earliest = entry;
    if (earliest === undefined) return;
    const [correlationId, pending] = earliest;
    if (pending.deadlineMs > nowMs) {
      this.arm(pending.deadlineMs);
      return;
    }
    this.pending.delete(correlationId);
    pending.reject(new TimeoutError(`${this.rpc} to ${this.address} timed out`, { retriable: true }));
    this.fail(
      new SamsaClientError(
        ErrorCodes.NETWORK_EXCEPTION,
        `${this.rpc.toLowerCase()} stream to ${this.address} closed after a request timed out`,
        { retriable: true },
      ),
    );
  }

  /** When the oldest request still unanswered was sent (performance.now()), Infinity when none is. */
  oldestPendingAtMs(): number {
    let oldest = Number.POSITIVE_INFINITY;
    for (const pending of this.pending.values()) if (pending.sentAtMs < oldest) oldest = pending.sentAtMs;
    return oldest;
  }

  /** Fails what is outstanding and closes the stream; later requests go to a new one. */
  fail(err: SamsaClientError): void {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.timer);
    this.timer = undefined;
    this.timerAtMs = Number.POSITIVE_INFINITY;
    for (const pending of this.pending.values()) pending.reject(err);
    this.pending.clear();
    this.call.cancel();
    this.onClosed?.();
  }
}

/** A Fetch request on a consumer's FetchStream, answered as `call('Fetch', ...)` is. */
export type FetchOnStream = (request: v1.FetchRequest, timeoutMs: number) => Promise<v1.FetchResponse__Output>;

/** One gRPC channel to one broker address, shared by every producer, consumer and admin of a client. */
export class BrokerConnection {
  readonly address: string;
  private readonly client: grpc.Client;
  private groupClient: grpc.Client | undefined;
  private txnClient: grpc.Client | undefined;
  private readonly metadata = new grpc.Metadata();
  private produceStream: CorrelatedStream<'ProduceStream'> | undefined;
  /** Consumers' open fetch streams, closed with the connection (each leaves the set as it closes). */
  private readonly fetchStreams = new Set<CorrelatedStream<'FetchStream'>>();
  private closed = false;
  /** When the last call failed to reach the broker or timed out; 0 after a success. */
  private lastFailureMs = 0;
  /** Unary calls of PROMPT_RPCS unanswered, by number: when each was made (performance.now()). */
  private readonly callsSentAtMs = new Map<number, number>();
  private nextCall = 0;

  constructor(address: string, clientId: string) {
    this.address = address;
    const Broker = loadBrokerProto().Broker;
    this.client = new Broker(address, grpc.credentials.createInsecure(), {
      ...CHANNEL_OPTIONS,
      'grpc.primary_user_agent': `samsa-client/${clientId}`,
    });
    this.metadata.set('x-client-id', clientId);
  }

  /** Calls one RPC; failures become typed errors (see errorFromGrpc), an aborted signal an AbortError. */
  call<M extends RpcName>(method: M, request: BrokerRpcs[M][0], options: CallOptions): Promise<BrokerRpcs[M][1]> {
    if (this.closed) return Promise.reject(new ClosedError('connection'));
    const signal = options.signal;
    if (signal?.aborted) return Promise.reject(new AbortError(signal));
    return new Promise((resolve, reject) => {
      const client = GROUP_RPCS.has(method)
        ? this.groupCoordinatorClient()
        : TXN_RPCS.has(method)
          ? this.txnCoordinatorClient()
          : this.client;
      const fn = (client as unknown as Record<string, UnaryMethod>)[method] as UnaryMethod;
      let onAbort: (() => void) | undefined;
      const callNumber = this.nextCall++;
      if (PROMPT_RPCS.has(method)) this.callsSentAtMs.set(callNumber, performance.now());
      let call: grpc.ClientUnaryCall;
      try {
        call = fn.call(
          client,
          request,
          this.metadata,
          { deadline: Date.now() + options.timeoutMs },
          (err, response) => {
            this.callsSentAtMs.delete(callNumber);
            if (onAbort) signal?.removeEventListener('abort', onAbort);
            if (signal?.aborted) reject(new AbortError(signal));
            else if (err) {
              const error = errorFromGrpc(err, this.address, method);
              if (isConnectionFailure(error)) this.lastFailureMs = Date.now();
              reject(error);
            } else {
              this.lastFailureMs = 0;
              resolve(response as BrokerRpcs[M][1]);
            }
          },
        );
      } catch (err) {
        // No callback will come (grpc-js throws when the request cannot be serialized or the channel
        // is shut down): an entry left here would count as stalled for ever.
        this.callsSentAtMs.delete(callNumber);
        throw err;
      }
      if (signal) {
        onAbort = () => call.cancel();
        signal.addEventListener('abort', onAbort, { once: true });
      }
    });
  }

  /** The TransactionCoordinator service's stub, on the broker stub's channel. */
  private txnCoordinatorClient(): grpc.Client {
    if (this.txnClient === undefined) {
      const TransactionCoordinator = loadTxnProto().TransactionCoordinator;
      this.txnClient = new TransactionCoordinator(this.address, grpc.credentials.createInsecure(), {
        channelOverride: this.client.getChannel(),
      });
    }
    return this.txnClient;
  }

  /** The GroupCoordinator service's stub, on the broker stub's channel (no second connection). */
  private groupCoordinatorClient(): grpc.Client {
    if (this.groupClient === undefined) {
      const GroupCoordinator = loadGroupProto().GroupCoordinator;
      this.groupClient = new GroupCoordinator(this.address, grpc.credentials.createInsecure(), {
        channelOverride: this.client.getChannel(),
      });
    }
    return this.groupClient;
  }

  /**
   * A Produce request on the connection's ProduceStream (opened on first use, and again after it
   * broke): the same answers and typed errors as `call('Produce', ...)`, without a call per request.
   */
  produce(request: v1.ProduceRequest, options: { timeoutMs: number }): Promise<v1.ProduceResponse__Output> {
    if (this.closed) return Promise.reject(new ClosedError('connection'));
    if (this.produceStream === undefined || this.produceStream.closed)
      this.produceStream = new CorrelatedStream(this.client, this.metadata, this.address, 'ProduceStream');
    return this.track(this.produceStream.request(request, options.timeoutMs));
  }

  /**
   * A FetchStream of the caller's own (a consumer keeps one per broker, so that closing it cancels
   * only its own long polls): Fetch requests as messages on one HTTP/2 stream. Requests through
   * `fetch` count towards recentlyFailed as calls do.
   */
  openFetchStream(): { stream: CorrelatedStream<'FetchStream'>; fetch: FetchOnStream } {
    if (this.closed) throw new ClosedError('connection');
    const stream: CorrelatedStream<'FetchStream'> = new CorrelatedStream(
      this.client,
      this.metadata,
      this.address,
      'FetchStream',
      () => this.fetchStreams.delete(stream),
    );
    this.fetchStreams.add(stream);
    const fetch: FetchOnStream = (request, timeoutMs) => this.track(stream.request(request, timeoutMs));
    return { stream, fetch };
  }

  /** Notes a request's outcome for recentlyFailed. */
  private track<T>(answer: Promise<T>): Promise<T> {
    return answer.then(
      (response) => {
        this.lastFailureMs = 0;
        return response;
      },
      (err: unknown) => {
        if (isConnectionFailure(err)) this.lastFailureMs = Date.now();
        throw err;
      },
    );
  }

  /**
   * A request any broker answers (Metadata) stayed unanswered here while another broker answered it
   * (Cluster's hedged call, which cancels this one): counts as a timeout for recentlyFailed.
   */
  noteSilent(now = Date.now()): void {
    if (!this.closed) this.lastFailureMs = now;
  }

  /**
   * Whether a call to this broker failed or timed out (or stayed silent while another broker answered,
   * noteSilent) within `windowMs` without a success since: a paused or partitioned broker keeps its TCP
   * connection, so only the timeouts tell, and requests that any broker can answer (metadata, a
   * producer id) should go elsewhere first.
   */
  recentlyFailed(windowMs: number, now = Date.now()): boolean {
    return this.lastFailureMs > 0 && now - this.lastFailureMs < windowMs;
  }

  /**
   * Whether a Produce or a unary call of PROMPT_RPCS (not a long poll, nor an admin request that waits
   * for an election) has waited `stalledMs` or more for its answer: the broker may be paused or cut off,
   * which only its timeouts would tell, much later. Kafka's clients send metadata requests to the least
   * loaded broker for the same reason.
   */
  hasStalledRequest(stalledMs: number): boolean {
    const before = performance.now() - stalledMs;
    if (this.produceStream !== undefined && this.produceStream.oldestPendingAtMs() <= before) return true;
    for (const sentAtMs of this.callsSentAtMs.values()) if (sentAtMs <= before) return true;
    return false;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.produceStream?.fail(new ClosedError('connection'));
    for (const stream of [...this.fetchStreams]) stream.fail(new ClosedError('connection'));
    this.client.close();
  }
}

/** Connections by address: one channel per broker, reused by everything that talks to it. */
export class ConnectionPool {
  private readonly connections = new Map<string, BrokerConnection>();
  private closed = false;

  constructor(readonly clientId: string) {}

  get isClosed(): boolean {
    return this.closed;
  }

  get(address: string): BrokerConnection {
    if (this.closed) throw new ClosedError('client');
    let connection = this.connections.get(address);
    if (!connection) {
      connection = new BrokerConnection(address, this.clientId);
      this.connections.set(address, connection);
    }
    return connection;
  }

  /** Addresses of the brokers this pool has a channel to. */
  addresses(): string[] {
    return [...this.connections.keys()];
  }

  close(): void {
    this.closed = true;
    for (const connection of this.connections.values()) connection.close();
    this.connections.clear();
  }
}
