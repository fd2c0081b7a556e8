import * as grpc from '@grpc/grpc-js';
import { loadReplicationProto, type v1 } from '@samsa/protocol';
import { endpointOn, grpcAddress, type BrokerEndpoint } from '../listeners.js';
import { FLOW_CONTROL_WINDOW_BYTES } from './flow-control.js';

export type ReplicationClient = grpc.Client & {
  AlterPartition(
    req: v1.AlterPartitionRequest,
    opts: grpc.CallOptions,
    cb: (err: grpc.ServiceError | null, res?: v1.AlterPartitionResponse__Output) => void,
  ): grpc.ClientUnaryCall;
  ReplicaFetch(
    opts?: grpc.CallOptions,
  ): grpc.ClientDuplexStream<v1.ReplicaFetchRequest, v1.ReplicaFetchResponse__Output>;
};

/**
 * Broker-to-broker gRPC clients, one channel per peer address. Peers are reached on the
 * inter-broker listener (inter.broker.listener.name), whatever listener clients use.
 */
export class PeerClients {
  private readonly clients = new Map<string, ReplicationClient>();

  constructor(readonly interBrokerListenerName: string) {}

  /** The client for `broker`'s inter-broker listener; throws when the broker does not advertise it. */
  forBroker(broker: BrokerEndpoint): ReplicationClient {
    const endpoint = endpointOn(broker, this.interBrokerListenerName);
    if (!endpoint)
      throw new Error(
        `broker ${broker.id} does not advertise the inter-broker listener ${this.interBrokerListenerName}`,
      );
    return this.get(grpcAddress(endpoint));
  }

  get(address: string): ReplicationClient {
    let client = this.clients.get(address);
    if (!client) {
      const Replication = loadReplicationProto().Replication;
      client = new Replication(address, grpc.credentials.createInsecure(), {
        'grpc.max_receive_message_length': -1,
        // Replica fetches carry up to 10 MiB: a 64 KiB HTTP/2 window would make each wait on window updates.
        'grpc-node.flow_control_window': FLOW_CONTROL_WINDOW_BYTES,
        'grpc.initial_reconnect_backoff_ms': 100,
        'grpc.max_reconnect_backoff_ms': 1000,
        // channelz (grpc-js's introspection, which nothing here serves) counts and time-stamps every message.
        'grpc.enable_channelz': 0,
      }) as unknown as ReplicationClient;
      this.clients.set(address, client);
    }
    return client;
  }

  close(): void {
    for (const client of this.clients.values()) client.close();
    this.clients.clear();
  }
}
