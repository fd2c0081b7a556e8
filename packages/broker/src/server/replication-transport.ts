/**
 * The replication drivers' transport over gRPC (ReplicationTransport, ../replication/replica.ts):
 * follower fetches on one ReplicaFetch stream per leader, ISR proposals as AlterPartition calls to
 * the controller. Peers are found in the metadata and reached on the inter-broker listener.
 */
import type * as grpc from '@grpc/grpc-js';
import { recordsEndOffset, trace, type v1 } from '@samsa/protocol';
import type { MetadataImage } from '../cluster/metadata.js';
import type { BrokerEndpoint } from '../listeners.js';
import type {
  AlterPartitionRequest,
  FetchSession,
  ReplicaFetchRequest,
  ReplicaFetchResponse,
  ReplicationTransport,
} from '../replication/index.js';
import type { PeerClients, ReplicationClient } from './peer-clients.js';

export class GrpcReplicationTransport implements ReplicationTransport {
  constructor(
    private readonly peers: PeerClients,
    private readonly metadata: () => MetadataImage,
  ) {}

  openFetchSession(leaderId: number): FetchSession {
    return new GrpcFetchSession(leaderId, this.peers, this.metadata);
  }

  alterPartition(
    request: AlterPartitionRequest,
    timeoutMs: number,
  ): Promise<{ errorCode: number; errorMessage: string }> {
    const image = this.metadata();
    const controller = image.brokers.get(image.controllerId);
    if (!controller) return Promise.reject(new Error('no controller is known'));
    let client: ReplicationClient;
    try {
      client = this.peers.forBroker(controller);
    } catch (err) {
      return Promise.reject(err);
    }
    return new Promise((resolve, reject) => {
      client.AlterPartition(request, { deadline: Date.now() + timeoutMs }, (err, response) => {
        if (err || !response) reject(err ?? new Error('AlterPartition answered nothing'));
        else resolve({ errorCode: response.errorCode, errorMessage: response.errorMessage });
      });
    });
  }
}

/** Fetches from one leader over a ReplicaFetch stream, opened on the first fetch and again after one fails. */
class GrpcFetchSession implements FetchSession {
  private stream: FetchStream | undefined;
  private closed = false;
  private lastLeader: BrokerEndpoint | undefined;
  private lastClient: ReplicationClient | undefined;

  constructor(
    private readonly leaderId: number,
    private readonly peers: PeerClients,
    private readonly metadata: () => MetadataImage,
  ) {}

  fetch(request: ReplicaFetchRequest, timeoutMs: number): Promise<ReplicaFetchResponse> {
    if (this.closed) return Promise.reject(new Error('replica fetch session closed'));
    const leader = this.metadata().brokers.get(this.leaderId);
    if (!leader) return Promise.reject(new Error(`leader ${this.leaderId} is not registered`));
    // The same registration as the last fetch's (metadata replaces a broker's entry when it changes):
    // its client, without finding the listener and building the address again on every fetch.
    let client = leader === this.lastLeader ? this.lastClient : undefined;
    if (client === undefined) {
      try {
        client = this.peers.forBroker(leader); // on the inter-broker listener
      } catch (err) {
        return Promise.reject(err);
      }
      this.lastLeader = leader;
      this.lastClient = client;
    }
    // A leader that moved to another address (restarted elsewhere) gets a new stream.
    if (this.stream === undefined || this.stream.closed || this.stream.client !== client) {
      this.stream?.close(new Error('the leader moved'));
      this.stream = new FetchStream(client);
    }
    return this.stream.request(request, timeoutMs);
  }

  close(reason: Error): void {
    this.closed = true;
    this.stream?.close(reason);
  }
}

/**
 * One ReplicaFetch stream to a leader: one request outstanding at a time, answered in order. A
 * failure, the leader ending the stream, or a request unanswered within its time closes the stream
 * for good (the request fails); the session then opens a new one. The time is kept by one timer per
 * stream that looks at the outstanding request's deadline when it fires, not one per request: a
 * follower sends a fetch for every append it copies, and nearly all are answered long before theirs.
 */
class FetchStream {
  closed = false;
  private readonly call: grpc.ClientDuplexStream<v1.ReplicaFetchRequest, v1.ReplicaFetchResponse__Output>;
  private pending:
    | {
        resolve: (response: v1.ReplicaFetchResponse__Output) => void;
        reject: (err: Error) => void;
        deadlineMs: number;
        timeoutMs: number;
      }
    | undefined;
  private timer: NodeJS.Timeout | undefined;
  private timerAtMs = Number.POSITIVE_INFINITY;

  constructor(readonly client: ReplicationClient) {
    this.call = client.ReplicaFetch();
    this.call.on('data', (response: v1.ReplicaFetchResponse__Output) => {
      const pending = this.pending;
      if (pending === undefined) {
        this.close(new Error('the leader answered a replica fetch that was not asked'));
        return;
      }
      this.pending = undefined;
      if (trace) for (const t of response.topics) for (const p of t.partitions) traceReceived(p);
      pending.resolve(response);
    });
    this.call.on('error', (err: Error) => this.close(err));
    this.call.on('end', () => this.close(new Error('the leader ended the replica fetch stream')));
  }

  request(request: v1.ReplicaFetchRequest, timeoutMs: number): Promise<v1.ReplicaFetchResponse__Output> {
    if (this.closed) return Promise.reject(new Error('replica fetch stream closed'));
    if (this.pending !== undefined)
      return Promise.reject(new Error('a replica fetch is already outstanding on this stream'));
    return new Promise((resolve, reject) => {
      // On the monotonic clock: a wall clock set back would keep an unanswered fetch waiting that much longer.
      const deadlineMs = performance.now() + timeoutMs;
      this.pending = { resolve, reject, deadlineMs, timeoutMs };
      if (deadlineMs < this.timerAtMs) this.arm(deadlineMs);
      this.call.write(request);
      if (trace) for (const t of request.topics ?? []) for (const p of t.partitions ?? []) traceSent(p);
    });
  }

  private arm(atMs: number): void {
    clearTimeout(this.timer);
    this.timerAtMs = atMs;
    this.timer = setTimeout(() => this.checkDeadline(), Math.max(0, atMs - performance.now()));
  }

  /** The timer fired: closes the stream if the request outstanding now is past its deadline, else waits on. */
  private checkDeadline(): void {
    this.timer = undefined;
    this.timerAtMs = Number.POSITIVE_INFINITY;
    const pending = this.pending;
    if (pending === undefined || this.closed) return;
    if (pending.deadlineMs > performance.now()) this.arm(pending.deadlineMs);
    else this.close(new Error(`no answer to a replica fetch within ${pending.timeoutMs} ms`));
  }

  close(reason: Error): void {
    if (!this.closed) {
      this.closed = true;
      this.call.cancel();
    }
    clearTimeout(this.timer);
    this.timer = undefined;
    this.timerAtMs = Number.POSITIVE_INFINITY;
    const pending = this.pending;
    this.pending = undefined;
    pending?.reject(reason);
  }
}

/** The request timeline (@samsa/protocol's trace): a follower's fetch sent, and what the answer carries. */
function traceSent(p: v1.ReplicaFetchPartition): void {
  trace?.('f.send', p.partition ?? -1, Number(p.fetchOffset));
}

function traceReceived(p: v1.ReplicaFetchPartitionResponse__Output): void {
  trace?.('f.recv', p.partition, recordsEndOffset(p.records, -1));
}
