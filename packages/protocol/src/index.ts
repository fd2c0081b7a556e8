export * from './errors.js';
export * from './batch-header.js';
export * from './grpc/load.js';
export type { ProtoGrpcType as BrokerProtoGrpcType } from './grpc/gen/broker.js';
export type * from './grpc/types.js';
