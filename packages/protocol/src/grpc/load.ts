import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { encodeFetchResponse, encodeFetchStreamResponse, encodeReplicaFetchResponse } from './fetch-response.js';
import { MessageCodec } from './message-codec.js';
import type { ProtoGrpcType as BrokerProto } from './gen/broker.js';
import type { ProtoGrpcType as GroupProto } from './gen/group.js';
import type { FetchResponse } from './gen/samsa/v1/FetchResponse.js';
import type { FetchStreamResponse } from './gen/samsa/v1/FetchStreamResponse.js';
import type { ProtoGrpcType as ReplicationProto } from './gen/replication.js';
import type { ProtoGrpcType as TxnProto } from './gen/txn.js';

/**
 * Loader options shared by every side of a gRPC conversation. Keep them in step with the generator
 * flags in scripts/gen-proto.mjs, or the generated types stop describing what is loaded.
 */
export const PROTO_LOADER_OPTIONS: protoLoader.Options = Object.freeze({
  keepCase: false,
  longs: Number,
  enums: String,
  defaults: true,
  oneofs: true,
});

/** The repository's proto/ directory (this file sits at packages/protocol/{src,dist}/grpc/). */
export const PROTO_DIR = fileURLToPath(new URL('../../../../proto/', import.meta.url));

const loaded = new Map<string, unknown>();

function load<T>(file: string): T {
  let proto = loaded.get(file);
  if (!proto) {
    const definition = protoLoader.loadSync(file, { ...PROTO_LOADER_OPTIONS, includeDirs: [PROTO_DIR] });
    // Before the client classes are made: they take their serializers from the definition then.
    useMessageCodecs(definition);
    proto = grpc.loadPackageDefinition(definition);
    if (file === BROKER_PROTO) useFastFetchSerializer(proto as BrokerProto);
    if (file === REPLICATION_PROTO) useFastReplicaFetchSerializer(proto as ReplicationProto);
    loaded.set(file, proto);
  }
  return proto as T;
}

/**
 * The methods whose messages every record crosses (produce, consumer and follower fetches): their
 * requests and responses go through MessageCodec (message-codec.ts) instead of proto-loader's generic
 * codec, both ways and on both sides (clients and servers share these method definitions).
 */
const HOT_METHODS: Readonly<Record<string, readonly string[]>> = {
  'samsa.v1.Broker': ['Produce', 'ProduceStream', 'Fetch', 'FetchStream'],
  'samsa.v1.Replication': ['ReplicaFetch'],
};

interface MethodCodecs {
  requestType: { type: { name: string } };
  responseType: { type: { name: string } };
  requestSerialize: (value: object) => Buffer;
  requestDeserialize: (bytes: Buffer) => object;
  responseSerialize: (value: object) => Buffer;
  responseDeserialize: (bytes: Buffer) => object;
}

function useMessageCodecs(definition: protoLoader.PackageDefinition): void {
  for (const [serviceName, methods] of Object.entries(HOT_METHODS)) {
    const service = definition[serviceName] as Record<string, MethodCodecs> | undefined;
    if (service === undefined) continue; // another file's service
    const pkg = serviceName.slice(0, serviceName.lastIndexOf('.'));
    for (const name of methods) {
      const method = service[name];
      if (method === undefined) continue;
      const request = MessageCodec.fromDefinition(definition, `${pkg}.${method.requestType.type.name}`);
      const response = MessageCodec.fromDefinition(definition, `${pkg}.${method.responseType.type.name}`);
      if (request) {
        const [serialize, deserialize] = [method.requestSerialize, method.requestDeserialize];
        method.requestSerialize = (value) => request.encode(value) ?? serialize(value);
        method.requestDeserialize = (bytes) => request.decode(bytes) ?? deserialize(bytes);
      }
      if (response) {
        const [serialize, deserialize] = [method.responseSerialize, method.responseDeserialize];
        method.responseSerialize = (value) => response.encode(value) ?? serialize(value);
        method.responseDeserialize = (bytes) => response.decode(bytes) ?? deserialize(bytes);
      }
    }
  }
}

const BROKER_PROTO = 'samsa/v1/broker.proto';
const REPLICATION_PROTO = 'samsa/v1/replication.proto';
const GROUP_PROTO = 'samsa/v1/group.proto';
const TXN_PROTO = 'samsa/v1/txn.proto';

/**
 * A Fetch response may carry a function under this key: it runs once the response has been
 * serialized, that is once its records are copied into the outgoing message, so the broker can
 * reuse the buffers they were read into.
 */
export const AFTER_SERIALIZE: unique symbol = Symbol('samsa.afterSerialize');

/** A Fetch response with an optional AFTER_SERIALIZE hook. */
export type FetchResponseWithHook = FetchResponse & { [AFTER_SERIALIZE]?: () => void };

/** An answer on a FetchStream, whose response's hook runs once the answer is serialized. */
export type FetchStreamResponseWithHook = Omit<FetchStreamResponse, 'response'> & {
  response?: FetchResponseWithHook | null;
};

/**
 * Fetch responses carry the bulk of a consumer's bytes: serialize them with the hand-written encoder
 * (one copy less than protobufjs, see fetch-response.ts), protobufjs for whatever it does not cover.
 */
function useFastFetchSerializer(proto: BrokerProto): void {
  const fetch = proto.samsa.v1.Broker.service.Fetch;
  const generic = fetch.responseSerialize;
  fetch.responseSerialize = (response: FetchResponseWithHook) => {
    const bytes = encodeFetchResponse(response) ?? generic(response);
    response[AFTER_SERIALIZE]?.();
    return bytes;
  };
  const stream = proto.samsa.v1.Broker.service.FetchStream;
  const genericStream = stream.responseSerialize;
  stream.responseSerialize = (message: FetchStreamResponseWithHook) => {
    const bytes = encodeFetchStreamResponse(message) ?? genericStream(message);
    message.response?.[AFTER_SERIALIZE]?.();
    return bytes;
  };
}

/**
 * Responses to followers carry every replicated byte: the same hand-written encoder, protobufjs for what it does not
 * cover.
 */
function useFastReplicaFetchSerializer(proto: ReplicationProto): void {
  const replicaFetch = proto.samsa.v1.Replication.service.ReplicaFetch;
  const generic = replicaFetch.responseSerialize;
  replicaFetch.responseSerialize = (response) => encodeReplicaFetchResponse(response) ?? generic(response);
}

/** samsa.v1 client-facing API (once per process): the Broker service and its messages. */
export function loadBrokerProto(): BrokerProto['samsa']['v1'] {
  return load<BrokerProto>(BROKER_PROTO).samsa.v1;
}

/** samsa.v1 broker-to-broker API: the Replication service (follower fetch, ISR changes). */
export function loadReplicationProto(): ReplicationProto['samsa']['v1'] {
  return load<ReplicationProto>(REPLICATION_PROTO).samsa.v1;
}

/** samsa.v1 consumer-group API: the GroupCoordinator service (FindCoordinator, heartbeat, offsets). */
export function loadGroupProto(): GroupProto['samsa']['v1'] {
  return load<GroupProto>(GROUP_PROTO).samsa.v1;
}

/** samsa.v1 transaction API: the TransactionCoordinator service (AddPartitionsToTxn, EndTxn, markers). */
export function loadTxnProto(): TxnProto['samsa']['v1'] {
  return load<TxnProto>(TXN_PROTO).samsa.v1;
}
