import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import type { ProtoGrpcType as BrokerProto } from './gen/broker.js';

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

let brokerProto: BrokerProto['samsa']['v1'] | undefined;

/** Loads samsa.v1 (once per process): the client-facing Broker service and its messages. */
export function loadBrokerProto(): BrokerProto['samsa']['v1'] {
  if (!brokerProto) {
    const definition = protoLoader.loadSync('samsa/v1/broker.proto', { ...PROTO_LOADER_OPTIONS, includeDirs: [PROTO_DIR] });
    brokerProto = (grpc.loadPackageDefinition(definition) as unknown as BrokerProto).samsa.v1;
  }
  return brokerProto;
}
