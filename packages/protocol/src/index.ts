export * from './errors.js';
export * from './batch-header.js';
export * from './grpc/load.js';
export type { ProtoGrpcType as BrokerProtoGrpcType } from './grpc/gen/broker.js';
export type { ProtoGrpcType as GroupProtoGrpcType } from './grpc/gen/group.js';
export type { ProtoGrpcType as TxnProtoGrpcType } from './grpc/gen/txn.js';
export type * from './grpc/types.js';
export {
  INT32_MAX,
  INT32_MIN,
  MAX_VARINT_BYTES,
  MAX_VARLONG_BYTES,
  sizeOfVarint,
  sizeOfVarlong,
  writeVarint,
  writeVarlong,
} from './varint.js';
export { ByteReader } from './byte-reader.js';
export type { KafkaRecord, KafkaRecordInput, RecordFactory, RecordHeader, RecordHeaderInput } from './record.js';
export { DEFAULT_MAX_UNCOMPRESSED_BYTES, compress, decompress, type DecompressOptions } from './compression.js';
export {
  decodeBatch,
  decodeBatches,
  encodeBatch,
  type DecodeBatchOptions,
  type DecodeBatchesOptions,
  type EncodeBatchOptions,
  type RecordBatch,
  type TimestampTypeName,
} from './record-batch.js';
export { kafkaPartitionForKey, murmur2, toPositive } from './murmur2.js';
/** CRC-32C (Castagnoli), the checksum of record batches, also used for the broker's own binary files. */
export { crc32c } from '@node-rs/crc32';
export { MAX_PARTITIONS_PER_TOPIC, MAX_TOPIC_NAME_LENGTH, checkTopicName, topicNameProblem } from './topic-name.js';
export { recordsEndOffset, trace, type TraceHook } from './trace.js';
