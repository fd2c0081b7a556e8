/**
 * An in-process stand-in for a Samsa cluster, for the client's unit tests only: N gRPC servers
 * implementing samsa.v1.Broker over a tiny in-memory log, sharing one cluster state, with knobs to
 * inject errors, move leaders and the controller, and hold requests. The real broker is tested elsewhere.
 */
import { EventEmitter } from 'node:events';
import * as grpc from '@grpc/grpc-js';
import {
  ErrorCodes,
  batchSize,
  decodeBatches,
  encodeBatch,
  lastOffsetOf,
  loadBrokerProto,
  loadGroupProto,
  loadTxnProto,
  splitBatches,
  stampBatch,
  type KafkaRecord,
  type v1,
} from '@samsa/protocol';

type Method =
  | 'Metadata'
  | 'DescribeCluster'
  | 'CreateTopics'
  | 'DeleteTopics'
  | 'ElectLeaders'
  | 'Produce'
  | 'Fetch'
  | 'ListOffsets'
  | 'OffsetForLeaderEpoch'
  | 'InitProducerId'
  | GroupMethod
  | TxnMethod;

/** samsa.v1.GroupCoordinator: answered by `TestCluster.groups` when a test sets it. */
export type GroupMethod =
  | 'FindCoordinator'
  | 'ConsumerGroupHeartbeat'
  | 'OffsetCommit'
  | 'OffsetFetch'
  | 'ListGroups'
  | 'DescribeGroups'
  | 'DeleteGroups'
  | 'OffsetDelete'
  | 'TxnOffsetCommit';

/** samsa.v1.TransactionCoordinator's client-facing RPCs: answered by `TestCluster.txn` when a test sets it. */
export type TxnMethod = 'AddPartitionsToTxn' | 'AddOffsetsToTxn' | 'EndTxn';

/** A test's transaction coordinator: one function per RPC it serves (the others fail). */
export type TxnService = Partial<Record<TxnMethod, (request: never, brokerId: number) => unknown>>;

/** A test's group coordinator: one function per RPC it serves (the others fail with UNIMPLEMENTED). */
export type GroupService = Partial<Record<GroupMethod, (request: never, brokerId: number) => unknown>>;

export interface StoredBatch {
  baseOffset: number;
  lastOffset: number;
  /** The leader epoch it was stamped with. */
  leaderEpoch: number;
  bytes: Buffer;
}

export interface TestPartition {
  leader: number;
  leaderEpoch: number;
  replicas: number[];
  logStartOffset: number;
  nextOffset: number;
  batches: StoredBatch[];
  records: KafkaRecord[];
  /**
   * The first offset of the oldest transaction still open, if a test opened one: the last stable offset,
   * where read_committed fetches stop (the records need not be transactional here).
   */
  openTransactionAt?: number;
}

export interface TestTopic {
  name: string;
  partitions: TestPartition[];
  configs: Record<string, string>;
}

export interface Fault {
  method: Method;
  broker?: number;
  topic?: string;
  partition?: number;
  /** A per-partition (or per-topic) error code in the response. */
  errorCode?: number;
  /** Fail the whole call with this gRPC status instead. */
  grpcStatus?: grpc.status;
  /**
   * With grpcStatus: handle the request first, then fail the call (a lost answer: the client may retry and duplicate).
   */
  afterHandling?: boolean;
  /** How many matching requests (or partitions) it hits; default 1. */
  times?: number;
}

export interface RequestLogEntry {
  broker: number;
  method: Method;
  request: unknown;
  at: number;
  /** A unary call, or a message on a ProduceStream / FetchStream (the stream's number on its broker). */
  stream?: number;
}

interface TestBroker {
  id: number;
  port: number;
  address: string;
  server: grpc.Server;
}

export class TestCluster {
  readonly brokers: TestBroker[] = [];
  readonly topics = new Map<string, TestTopic>();
  readonly requests: RequestLogEntry[] = [];
  readonly faults: Fault[] = [];
  /** ProduceStreams and FetchStreams open now, on all brokers. */
  openStreams = 0;
  /** The group coordinator's answers, when a test plays one. */
  groups: GroupService = {};
  /** The transaction coordinator's answers, when a test plays one. */
  txn: TxnService = {};
  controllerId = 0;
  controllerEpoch = 1;
  /** Produce answers list topics and partitions in the reverse of the request's order (legal, if unusual). */
  reverseProduceAnswers = false;
  /**
   * KIP-951: a Produce or Fetch refused with NOT_LEADER_OR_FOLLOWER names the current leader and (with
   * leaderHintEndpoints) its address.
   */
  leaderHints = false;
  leaderHintEndpoints = true;
  /** Brokers the Metadata answers leave out (not registered yet, as for a broker restarting). */
  readonly unlistedBrokers = new Set<number>();
  /** Handlers of these methods wait for this promise before answering (set by hold()). */
  private readonly gates = new Map<string, Promise<void>>();
  private readonly appended = new EventEmitter();

  /** `fetchStream: false`: brokers without FetchStream (as before it), which answer it UNIMPLEMENTED. */
  /** `offsetForLeaderEpoch: false`: brokers without OffsetForLeaderEpoch (as before it): UNIMPLEMENTED. */
  static async start(
    options: { brokers?: number; fetchStream?: boolean; offsetForLeaderEpoch?: boolean } = {},
  ): Promise<TestCluster> {
    const cluster = new TestCluster();
    const count = options.brokers ?? 1;
    for (let id = 0; id < count; id++)
      await cluster.startBroker(id, options.fetchStream ?? true, options.offsetForLeaderEpoch ?? true);
    cluster.appended.setMaxListeners(0);
    return cluster;
  }

  get bootstrap(): string[] {
    return this.brokers.map((b) => b.address);
  }

  private async startBroker(id: number, fetchStream: boolean, offsetForLeaderEpoch: boolean): Promise<void> {
    const server = new grpc.Server({
      'grpc.max_receive_message_length': 256 * 1024 * 1024,
      'grpc.max_send_message_length': 256 * 1024 * 1024,
    });
    /** One request, gates and injected faults included: the response, or the status the call fails with. */
    const serve = async <Req, Res>(
      method: Method,
      request: Req,
      fn: (request: Req, brokerId: number) => Promise<Res> | Res,
      stream?: number,
    ): Promise<{ response: Res } | { code: grpc.status; details: string }> => {
      this.requests.push({ broker: id, method, request, at: Date.now(), ...(stream === undefined ? {} : { stream }) });
      try {
        await this.gates.get(method);
        await this.gates.get(`${method}@${id}`);
        const fault = this.takeFault({ method, broker: id }, (f) => f.grpcStatus !== undefined);
        if (fault && !fault.afterHandling)
          return {
            code: fault.grpcStatus as grpc.status,
            details: `injected ${grpc.status[fault.grpcStatus as grpc.status]}`,
          };
        const response = await fn(request, id);
        if (fault)
          return {
            code: fault.grpcStatus as grpc.status,
            details: `injected ${grpc.status[fault.grpcStatus as grpc.status]} after handling`,
          };
        return { response };
      } catch (err) {
        return { code: grpc.status.INTERNAL, details: String(err) };
      }
    };
    const handler = <Req, Res>(method: Method, fn: (request: Req, brokerId: number) => Promise<Res> | Res) => {
      return (call: grpc.ServerUnaryCall<Req, Res>, callback: grpc.sendUnaryData<Res>) => {
        void serve(method, call.request, fn).then((outcome) =>
          'response' in outcome ? callback(null, outcome.response) : callback(outcome),
        );
      };
    };
    let streams = 0;
    // The SDK's producer uses ProduceStream and its consumer FetchStream: each message is served like
    // the unary call, and a status the call would have failed with is the message's answer instead.
    const correlatedStream =
      <Req, Res>(method: Method, fn: (request: Req, brokerId: number) => Promise<Res> | Res) =>
      (
        call: grpc.ServerDuplexStream<
          { correlationId: number; request: Req | null },
          { correlationId: number; response?: Res; statusCode?: number; statusMessage?: string }
        >,
      ) => {
        let outstanding = 0;
        let ended = false;
        const stream = ++streams;
        this.openStreams++;
        let open = true;
        const closed = (): void => {
          if (open) this.openStreams--;
          open = false;
        };
        call.on('cancelled', closed);
        call.on('finish', closed);
        call.on('data', (message: { correlationId: number; request: Req | null }) => {
          outstanding++;
          void serve(method, message.request as Req, fn, stream).then((outcome) => {
            if (call.cancelled) return;
            if ('response' in outcome) call.write({ correlationId: message.correlationId, response: outcome.response });
            else
              call.write({
                correlationId: message.correlationId,
                statusCode: outcome.code,
                statusMessage: outcome.details,
              });
            if (--outstanding === 0 && ended) call.end();
          });
        });
        call.on('end', () => {
          ended = true;
          if (outstanding === 0) call.end();
        });
      };
    server.addService(loadBrokerProto().Broker.service, {
      Metadata: handler('Metadata', (r: v1.MetadataRequest__Output) => this.metadata(r)),
      DescribeCluster: handler('DescribeCluster', () => this.describeCluster()),
      CreateTopics: handler('CreateTopics', (r: v1.CreateTopicsRequest__Output, b) => this.createTopics(r, b)),
      DeleteTopics: handler('DeleteTopics', (r: v1.DeleteTopicsRequest__Output, b) => this.deleteTopics(r, b)),
      ElectLeaders: handler('ElectLeaders', (r: v1.ElectLeadersRequest__Output, b) => this.electLeaders(r, b)),
      Produce: handler('Produce', (r: v1.ProduceRequest__Output, b) => this.produce(r, b)),
      ProduceStream: correlatedStream('Produce', (r: v1.ProduceRequest__Output, b) => this.produce(r, b)),
      Fetch: handler('Fetch', (r: v1.FetchRequest__Output, b) => this.fetch(r, b)),
      ...(fetchStream
        ? { FetchStream: correlatedStream('Fetch', (r: v1.FetchRequest__Output, b) => this.fetch(r, b)) }
        : {}),
      ListOffsets: handler('ListOffsets', (r: v1.ListOffsetsRequest__Output, b) => this.listOffsets(r, b)),
      ...(offsetForLeaderEpoch
        ? {
            OffsetForLeaderEpoch: handler('OffsetForLeaderEpoch', (r: v1.OffsetForLeaderEpochRequest__Output, b) =>
              this.offsetForLeaderEpoch(r, b),
            ),
          }
        : {}),
      InitProducerId: handler('InitProducerId', (_r: v1.InitProducerIdRequest__Output, b) => this.initProducerId(b)),
    });
    const groupMethods: GroupMethod[] = [
      'FindCoordinator',
      'ConsumerGroupHeartbeat',
      'OffsetCommit',
      'OffsetFetch',
      'ListGroups',
      'DescribeGroups',
      'DeleteGroups',
      'OffsetDelete',
      'TxnOffsetCommit',
    ];
    server.addService(
      loadGroupProto().GroupCoordinator.service,
      Object.fromEntries(
        groupMethods.map((m) => [
          m,
          handler(m, (r: never, b) => {
            const fn = this.groups[m];
            if (!fn) throw new Error(`no ${m} in this test`);
            return fn(r, b);
          }),
        ]),
      ) as grpc.UntypedServiceImplementation,
    );
    const txnMethods: TxnMethod[] = ['AddPartitionsToTxn', 'AddOffsetsToTxn', 'EndTxn'];
    server.addService(
      loadTxnProto().TransactionCoordinator.service,
      Object.fromEntries(
        txnMethods.map((m) => [
          m,
          handler(m, (r: never, b) => {
            const fn = this.txn[m];
            if (!fn) throw new Error(`no ${m} in this test`);
            return fn(r, b);
          }),
        ]),
      ) as grpc.UntypedServiceImplementation,
    );
    const port = await new Promise<number>((resolve, reject) =>
      server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) =>
        err ? reject(err) : resolve(p),
      ),
    );
    this.brokers.push({ id, port, address: `127.0.0.1:${port}`, server });
  }

  async stop(): Promise<void> {
    await Promise.all(this.brokers.map((b) => new Promise<void>((resolve) => b.server.tryShutdown(() => resolve()))));
    for (const b of this.brokers) b.server.forceShutdown();
  }

  // ---- knobs ----

  createTopic(
    name: string,
    numPartitions: number,
    options: { replicationFactor?: number; leaders?: number[]; configs?: Record<string, string> } = {},
  ): TestTopic {
    const n = this.brokers.length;
    const rf = Math.min(options.replicationFactor ?? n, n);
    const partitions: TestPartition[] = [];
    for (let p = 0; p < numPartitions; p++) {
      const leader = options.leaders?.[p] ?? p % n;
      const replicas = [leader, ...Array.from({ length: rf - 1 }, (_, i) => (leader + i + 1) % n)];
      partitions.push({ leader, leaderEpoch: 0, replicas, logStartOffset: 0, nextOffset: 0, batches: [], records: [] });
    }
    const topic = { name, partitions, configs: { ...options.configs } };
    this.topics.set(name, topic);
    return topic;
  }

  partition(topic: string, partition: number): TestPartition {
    const p = this.topics.get(topic)?.partitions[partition];
    if (!p) throw new Error(`no ${topic}-${partition}`);
    return p;
  }

  /**
   * The leader's broker is no longer registered (its session expired) and no other is elected yet: the
   * metadata names no leader (-1, LEADER_NOT_AVAILABLE, as the brokers answer) and the old leader refuses.
   */
  dropLeader(topic: string, partition: number): void {
    this.partition(topic, partition).leader = -1;
  }

  /** Leadership moves (an election): the new leader has a higher epoch; the old one answers NotLeaderOrFollower. */
  moveLeader(topic: string, partition: number, to: number): void {
    const p = this.partition(topic, partition);
    p.leader = to;
    p.leaderEpoch++;
    if (!p.replicas.includes(to)) p.replicas.push(to);
  }

  /**
   * An unclean election (or a leader that took acks=1 writes no follower copied, then died): broker `to`
   * leads in a new epoch, and the partition's log ends at `keepUpTo`, where `to`'s copy ended; the
   * records after it are gone (whole batches: `keepUpTo` must be a batch boundary).
   */
  truncateAndMoveLeader(topic: string, partition: number, keepUpTo: number, to: number): void {
    const p = this.partition(topic, partition);
    if (p.batches.some((b) => b.baseOffset < keepUpTo && b.lastOffset >= keepUpTo))
      throw new Error(`offset ${keepUpTo} is inside a batch`);
    p.batches = p.batches.filter((b) => b.baseOffset < keepUpTo);
    p.records = p.records.filter((r) => r.offset < keepUpTo);
    p.nextOffset = keepUpTo;
    this.moveLeader(topic, partition, to);
  }

  /** A transaction opens at the partition's end: read_committed fetches stop there until endTransaction(). */
  openTransaction(topic: string, partition: number): void {
    this.partition(topic, partition).openTransactionAt = this.partition(topic, partition).nextOffset;
  }

  /** The open transaction ends: its records become readable to read_committed fetches (long polls wake). */
  endTransaction(topic: string, partition: number): void {
    this.partition(topic, partition).openTransactionAt = undefined;
    this.appended.emit('append');
  }

  inject(fault: Fault): void {
    this.faults.push({ times: 1, ...fault });
  }

  /** Requests of `method` (to `broker` only, if given) wait until the returned function is called. */
  hold(method: Method, broker?: number): () => void {
    const key = broker === undefined ? method : `${method}@${broker}`;
    let release!: () => void;
    this.gates.set(key, new Promise<void>((resolve) => (release = resolve)));
    return () => {
      this.gates.delete(key);
      release();
    };
  }

  requestsOf<T>(method: Method): (RequestLogEntry & { request: T })[] {
    return this.requests.filter((r) => r.method === method) as (RequestLogEntry & { request: T })[];
  }

  /** Appends records directly (as if produced by someone else). */
  append(topic: string, partition: number, batch: Buffer): number {
    return this.appendBatch(this.partition(topic, partition), batch);
  }

  /** Appends `count` keyless records valued `<prefix>0`, `<prefix>1`, ... (timestamps 0, 1, ...) as one batch. */
  appendValues(topic: string, partition: number, prefix: string, count: number): number {
    const records = Array.from({ length: count }, (_, i) => ({
      key: null,
      value: Buffer.from(`${prefix}${i}`),
      timestamp: i,
    }));
    return this.append(topic, partition, encodeBatch(records));
  }

  private takeFault(
    where: { method: Method; broker: number; topic?: string; partition?: number },
    kind: (f: Fault) => boolean,
  ): Fault | undefined {
    const at = this.faults.findIndex(
      (f) =>
        kind(f) &&
        f.method === where.method &&
        (f.broker === undefined || f.broker === where.broker) &&
        (f.topic === undefined || f.topic === where.topic) &&
        (f.partition === undefined || f.partition === where.partition),
    );
    if (at < 0) return undefined;
    const fault = this.faults[at] as Fault;
    fault.times = (fault.times ?? 1) - 1;
    if (fault.times <= 0) this.faults.splice(at, 1);
    return fault;
  }

  private partitionError(method: Method, broker: number, topic: string, partition: number): number {
    const fault = this.takeFault({ method, broker, topic, partition }, (f) => f.errorCode !== undefined);
    if (fault) return fault.errorCode as number;
    const p = this.topics.get(topic)?.partitions[partition];
    if (!p) return ErrorCodes.UNKNOWN_TOPIC_OR_PARTITION.code;
    if (p.leader !== broker) return ErrorCodes.NOT_LEADER_OR_FOLLOWER.code;
    return 0;
  }

  // ---- handlers ----

  private brokerInfos(): v1.BrokerInfo[] {
    return this.brokers.map((b) => ({ id: b.id, host: '127.0.0.1', port: b.port, rack: '' }));
  }

  private metadata(request: v1.MetadataRequest__Output): v1.MetadataResponse {
    const names = request.topics.length > 0 ? request.topics : [...this.topics.keys()];
    return {
      brokers: this.brokerInfos().filter((b) => !this.unlistedBrokers.has(b.id ?? -1)),
      clusterId: 'test-cluster',
      controllerId: this.controllerId,
      topics: names.map((name) => {
        const t = this.topics.get(name);
        if (!t)
          return {
            name,
            errorCode: ErrorCodes.UNKNOWN_TOPIC_OR_PARTITION.code,
            errorMessage: 'unknown topic',
            partitions: [],
          };
        return {
          name,
          errorCode: 0,
          configs: t.configs,
          partitions: t.partitions.map((p, i) => ({
            errorCode: p.leader < 0 ? ErrorCodes.LEADER_NOT_AVAILABLE.code : 0,
            partition: i,
            leader: p.leader,
            leaderEpoch: p.leaderEpoch,
            replicas: p.replicas,
            isr: p.replicas,
            offlineReplicas: [],
          })),
        };
      }),
    };
  }

  private describeCluster(): v1.DescribeClusterResponse {
    return {
      clusterId: 'test-cluster',
      controllerId: this.controllerId,
      controllerEpoch: this.controllerEpoch,
      brokers: this.brokerInfos(),
    };
  }

  private createTopics(request: v1.CreateTopicsRequest__Output, broker: number): v1.CreateTopicsResponse {
    return {
      topics: request.topics.map((t) => {
        const fault = this.takeFault(
          { method: 'CreateTopics', broker, topic: t.name },
          (f) => f.errorCode !== undefined,
        );
        if (fault) return { name: t.name, errorCode: fault.errorCode as number };
        if (broker !== this.controllerId)
          return {
            name: t.name,
            errorCode: ErrorCodes.NOT_CONTROLLER.code,
            errorMessage: `broker ${broker} is not the controller`,
          };
        if (this.topics.has(t.name))
          return {
            name: t.name,
            errorCode: ErrorCodes.TOPIC_ALREADY_EXISTS.code,
            errorMessage: `topic ${t.name} already exists`,
          };
        if (!request.validateOnly) {
          this.createTopic(t.name, t.numPartitions < 0 ? 1 : t.numPartitions, {
            ...(t.replicationFactor > 0 ? { replicationFactor: t.replicationFactor } : {}),
            configs: t.configs,
          });
        }
        return { name: t.name, errorCode: 0 };
      }),
    };
  }

  private deleteTopics(request: v1.DeleteTopicsRequest__Output, broker: number): v1.DeleteTopicsResponse {
    return {
      topics: request.topics.map((name) => {
        if (broker !== this.controllerId) return { name, errorCode: ErrorCodes.NOT_CONTROLLER.code };
        if (!this.topics.delete(name))
          return {
            name,
            errorCode: ErrorCodes.UNKNOWN_TOPIC_OR_PARTITION.code,
            errorMessage: `topic ${name} does not exist`,
          };
        return { name, errorCode: 0 };
      }),
    };
  }

  /** Preferred leader election as the real controller answers it; every replica counts as in sync here. */
  private electLeaders(request: v1.ElectLeadersRequest__Output, broker: number): v1.ElectLeadersResponse {
    if (broker !== this.controllerId)
      return {
        errorCode: ErrorCodes.NOT_CONTROLLER.code,
        errorMessage: `broker ${broker} is not the controller`,
        results: [],
      };
    const targets =
      request.topics.length > 0 ? request.topics : [...this.topics.keys()].map((topic) => ({ topic, partitions: [] }));
    const results = targets.flatMap(({ topic, partitions }) => {
      const t = this.topics.get(topic);
      if (!t)
        return [
          {
            topic,
            partition: -1,
            errorCode: ErrorCodes.UNKNOWN_TOPIC_OR_PARTITION.code,
            errorMessage: `Topic '${topic}' does not exist`,
          },
        ];
      return (partitions.length > 0 ? partitions : t.partitions.map((_, i) => i)).map((partition) => {
        const p = t.partitions[partition];
        if (!p)
          return {
            topic,
            partition,
            errorCode: ErrorCodes.UNKNOWN_TOPIC_OR_PARTITION.code,
            errorMessage: `${topic}-${partition} does not exist`,
          };
        if (p.leader === p.replicas[0])
          return {
            topic,
            partition,
            errorCode: ErrorCodes.ELECTION_NOT_NEEDED.code,
            errorMessage: `broker ${p.leader} already leads ${topic}-${partition}`,
          };
        p.leader = p.replicas[0]!;
        p.leaderEpoch += 1;
        return { topic, partition, errorCode: 0, errorMessage: '' };
      });
    });
    return { errorCode: 0, errorMessage: '', results };
  }

  private appendBatch(p: TestPartition, bytes: Buffer): number {
    const first = p.nextOffset;
    for (const span of splitBatches(bytes)) {
      const copy = Buffer.from(bytes.subarray(span.position, span.position + 12 + span.header.batchLength));
      stampBatch(copy, 0, p.nextOffset, p.leaderEpoch);
      const last = lastOffsetOf({ baseOffset: p.nextOffset, lastOffsetDelta: span.header.lastOffsetDelta });
      p.batches.push({ baseOffset: p.nextOffset, lastOffset: last, leaderEpoch: p.leaderEpoch, bytes: copy });
      for (const batch of decodeBatches(copy)) p.records.push(...batch.records);
      p.nextOffset = last + 1;
    }
    this.appended.emit('append');
    return first;
  }

  private produce(request: v1.ProduceRequest__Output, broker: number): v1.ProduceResponse {
    const response = this.answerProduce(request, broker);
    if (this.reverseProduceAnswers) {
      response.topics?.reverse();
      for (const t of response.topics ?? []) t.partitions?.reverse();
    }
    return response;
  }

  private answerProduce(request: v1.ProduceRequest__Output, broker: number): v1.ProduceResponse {
    const hinted = new Set<number>();
    const response: v1.ProduceResponse = {
      topics: request.topics.map((t) => ({
        name: t.name,
        partitions: t.partitions.map((pd) => {
          const errorCode = this.partitionError('Produce', broker, t.name, pd.partition);
          const current = this.topics.get(t.name)?.partitions[pd.partition];
          if (errorCode === ErrorCodes.NOT_LEADER_OR_FOLLOWER.code && this.leaderHints && current) {
            hinted.add(current.leader);
            const currentLeader = { leaderId: current.leader, leaderEpoch: current.leaderEpoch };
            return { partition: pd.partition, errorCode, baseOffset: -1, currentLeader };
          }
          if (errorCode !== 0) return { partition: pd.partition, errorCode, baseOffset: -1 };
          const p = this.partition(t.name, pd.partition);
          try {
            // As the broker: a batch above the topic's max.message.bytes refuses the partition's whole part, appending
            // nothing.
            const maxMessageBytes = Number(this.topics.get(t.name)?.configs['max.message.bytes'] ?? Infinity);
            for (const span of splitBatches(pd.records)) {
              const size = batchSize(span.header);
              if (size > maxMessageBytes) {
                return {
                  partition: pd.partition,
                  errorCode: ErrorCodes.MESSAGE_TOO_LARGE.code,
                  errorMessage: `batch of ${size} bytes exceeds max.message.bytes ${maxMessageBytes}`,
                  baseOffset: -1,
                };
              }
            }
            const baseOffset = this.appendBatch(p, pd.records);
            return {
              partition: pd.partition,
              errorCode: 0,
              baseOffset,
              logAppendTimeMs: -1,
              logStartOffset: p.logStartOffset,
            };
          } catch (err) {
            return {
              partition: pd.partition,
              errorCode: ErrorCodes.CORRUPT_MESSAGE.code,
              errorMessage: String(err),
              baseOffset: -1,
            };
          }
        }),
      })),
    };
    response.nodeEndpoints = this.hintEndpoints(hinted);
    return response;
  }

  /** The addresses of the brokers leader hints named, unless a test leaves them out. */
  private hintEndpoints(hinted: ReadonlySet<number>): v1.BrokerInfo[] {
    return this.leaderHintEndpoints ? this.brokerInfos().filter((b) => hinted.has(b.id ?? -1)) : [];
  }

  private async fetch(request: v1.FetchRequest__Output, broker: number): Promise<v1.FetchResponse> {
    const deadline = Date.now() + request.maxWaitMs;
    for (;;) {
      let bytes = 0;
      let anyError = false;
      const hinted = new Set<number>();
      const topics = request.topics.map((t) => ({
        name: t.name,
        partitions: t.partitions.map((fp): v1.FetchPartitionResponse => {
          const errorCode = this.partitionError('Fetch', broker, t.name, fp.partition);
          if (errorCode !== 0) {
            anyError = true;
            const refused = { partition: fp.partition, errorCode, highWatermark: -1, logStartOffset: -1 };
            const current = this.topics.get(t.name)?.partitions[fp.partition];
            if (errorCode !== ErrorCodes.NOT_LEADER_OR_FOLLOWER.code || !this.leaderHints || !current) return refused;
            hinted.add(current.leader);
            return { ...refused, currentLeader: { leaderId: current.leader, leaderEpoch: current.leaderEpoch } };
          }
          const p = this.partition(t.name, fp.partition);
          if (fp.fetchOffset < p.logStartOffset || fp.fetchOffset > p.nextOffset) {
            anyError = true;
            return {
              partition: fp.partition,
              errorCode: ErrorCodes.OFFSET_OUT_OF_RANGE.code,
              highWatermark: p.nextOffset,
              logStartOffset: p.logStartOffset,
            };
          }
          const chosen: Buffer[] = [];
          let size = 0;
          const lastStableOffset = Math.min(p.nextOffset, p.openTransactionAt ?? p.nextOffset);
          const readUpTo = request.isolationLevel === 1 ? lastStableOffset : p.nextOffset;
          for (const b of p.batches) {
            if (b.lastOffset < fp.fetchOffset) continue;
            if (b.lastOffset >= readUpTo) break;
            if (chosen.length > 0 && size + b.bytes.length > fp.partitionMaxBytes) break;
            chosen.push(b.bytes);
            size += b.bytes.length;
          }
          bytes += size;
          return {
            partition: fp.partition,
            errorCode: 0,
            highWatermark: p.nextOffset,
            lastStableOffset,
            logStartOffset: p.logStartOffset,
            records: Buffer.concat(chosen),
          };
        }),
      }));
      const wait = deadline - Date.now();
      if (anyError || bytes >= Math.max(1, request.minBytes) || wait <= 0)
        return { topics, nodeEndpoints: this.hintEndpoints(hinted) };
      await new Promise<void>((resolve) => {
        const done = () => {
          clearTimeout(timer);
          this.appended.off('append', done);
          resolve();
        };
        const timer = setTimeout(done, wait);
        this.appended.on('append', done);
      });
    }
  }

  /** Producer ids handed out so far (a new one per InitProducerId, at epoch 0). */
  producerIdsIssued = 0;

  private initProducerId(broker: number): v1.InitProducerIdResponse {
    const fault = this.takeFault({ method: 'InitProducerId', broker }, (f) => f.errorCode !== undefined);
    if (fault) return { errorCode: fault.errorCode!, errorMessage: 'injected', producerId: -1, producerEpoch: -1 };
    return { errorCode: 0, errorMessage: '', producerId: 1000 + this.producerIdsIssued++, producerEpoch: 0 };
  }

  /**
   * As the broker's epoch cache answers: the largest epoch at or below the one asked for that wrote here,
   * and where its records end (the first batch of a later epoch; the log end when none came after).
   */
  private offsetForLeaderEpoch(
    request: v1.OffsetForLeaderEpochRequest__Output,
    broker: number,
  ): v1.OffsetForLeaderEpochResponse {
    return {
      topics: request.topics.map((t) => ({
        name: t.name,
        partitions: t.partitions.map((op) => {
          const errorCode = this.partitionError('OffsetForLeaderEpoch', broker, t.name, op.partition);
          if (errorCode !== 0) return { partition: op.partition, errorCode, leaderEpoch: -1, endOffset: -1 };
          const p = this.partition(t.name, op.partition);
          if (op.leaderEpoch > p.leaderEpoch || op.leaderEpoch < 0)
            return { partition: op.partition, errorCode: 0, leaderEpoch: -1, endOffset: -1 };
          const later = p.batches.find((b) => b.leaderEpoch > op.leaderEpoch);
          const earlier = p.batches.filter((b) => b.leaderEpoch <= op.leaderEpoch).at(-1);
          return {
            partition: op.partition,
            errorCode: 0,
            leaderEpoch: earlier?.leaderEpoch ?? op.leaderEpoch,
            endOffset: later?.baseOffset ?? p.nextOffset,
          };
        }),
      })),
    };
  }

  private listOffsets(request: v1.ListOffsetsRequest__Output, broker: number): v1.ListOffsetsResponse {
    return {
      topics: request.topics.map((t) => ({
        name: t.name,
        partitions: t.partitions.map((lp) => {
          const errorCode = this.partitionError('ListOffsets', broker, t.name, lp.partition);
          if (errorCode !== 0) return { partition: lp.partition, errorCode, offset: -1, timestamp: -1 };
          const p = this.partition(t.name, lp.partition);
          if (lp.timestamp === -2)
            return { partition: lp.partition, errorCode: 0, offset: p.logStartOffset, timestamp: -1 };
          if (lp.timestamp === -1)
            return {
              partition: lp.partition,
              errorCode: 0,
              offset: p.nextOffset,
              timestamp: -1,
              leaderEpoch: p.leaderEpoch,
            };
          const found = p.records.find((r) => r.offset >= p.logStartOffset && r.timestamp >= lp.timestamp);
          return {
            partition: lp.partition,
            errorCode: 0,
            offset: found ? found.offset : -1,
            timestamp: found ? found.timestamp : -1,
          };
        }),
      })),
    };
  }
}

/** Polls `predicate` (every few ms) until it holds; tests wait on conditions, never on fixed sleeps. */
export async function waitFor(predicate: () => boolean, timeoutMs = 5000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}
