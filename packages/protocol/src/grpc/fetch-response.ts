import type { FetchResponse } from './gen/samsa/v1/FetchResponse.js';
import type { FetchStreamResponse } from './gen/samsa/v1/FetchStreamResponse.js';
import type { ReplicaFetchResponse } from './gen/samsa/v1/ReplicaFetchResponse.js';
import { varintSize, writeVarint } from './proto-varint.js';

/**
 * Hand-written protobuf encoders for the two messages that carry bulk data: samsa.v1.FetchResponse
 * (to consumers) and samsa.v1.ReplicaFetchResponse (to followers). They write into a reused scratch
 * buffer and return a view of it, where protobufjs would allocate a fresh buffer per response: a
 * broker sending at 100+ MB/s otherwise allocates (and the garbage collector reclaims) one extra
 * copy of everything it sends, and on Node every 64 MB of such buffers starts a full collection.
 *
 * The view is only valid until the next call. That is safe where it is used, as a gRPC
 * `responseSerialize`: grpc-js copies the serialized message into its length-prefixed frame
 * synchronously (`serializeMessage`), before anything else can serialize. Anything else that keeps
 * the result must copy it.
 *
 * Field numbers follow proto/samsa/v1/broker.proto and replication.proto: both partition messages
 * number partition, error_code, error_message, high_watermark and log_start_offset 1 to 5; records
 * is 6 in a FetchPartitionResponse and 7 in a ReplicaFetchPartitionResponse (6 is diverging_epoch).
 * Default values (0, '', empty bytes) are left out as proto3 does, so decoders see the same message.
 * Inputs the fast path does not know (string records, string or Long 64-bit values, a diverging
 * epoch) return undefined: the caller falls back to protobufjs.
 */

/** Larger responses get a buffer of their own, so an occasional 50 MB fetch does not pin 50 MB. */
const MAX_SCRATCH_BYTES = 8 * 1024 * 1024;
let scratch = Buffer.allocUnsafeSlow(64 * 1024);

/**
 * Pass 1's sizes, read by pass 2 in the same order: each topic's body, then each of its partitions'
 * body and error message bytes. Reused (the encoder is synchronous and never re-entered): no arrays
 * or records per response.
 */
const sizes: number[] = [];

function isPlainInteger(value: unknown): value is number | undefined {
  return value === undefined || value === null || (typeof value === 'number' && Number.isSafeInteger(value));
}

/** Field tag bytes: (field number << 3) | wire type; every tag here fits one byte. */
const TAG = {
  topics: (1 << 3) | 2,
  topicName: (1 << 3) | 2,
  topicPartitions: (2 << 3) | 2,
  partition: (1 << 3) | 0,
  errorCode: (2 << 3) | 0,
  errorMessage: (3 << 3) | 2,
  highWatermark: (4 << 3) | 0,
  logStartOffset: (5 << 3) | 0,
  /** FetchPartitionResponse only (7 is records in a ReplicaFetchPartitionResponse). */
  lastStableOffset: (7 << 3) | 0,
} as const;

/** FetchStreamResponse's fields around the response. */
const STREAM_TAG = { correlationId: (1 << 3) | 0, response: (2 << 3) | 2 } as const;

/** The records field's number in the partition message. */
type RecordsField = 6 | 7;

/** What the two partition messages have in common, as the fast path reads them. */
interface RecordsPartition {
  partition?: number;
  errorCode?: number;
  errorMessage?: string;
  highWatermark?: FetchResponsePartitionOffset;
  logStartOffset?: FetchResponsePartitionOffset;
  records?: Buffer | Uint8Array | string;
  lastStableOffset?: FetchResponsePartitionOffset;
  abortedTransactions?: readonly unknown[];
  /** KIP-951's hint in a refusal (FetchPartitionResponse only): the fast path leaves it to protobufjs. */
  currentLeader?: unknown;
}
type FetchResponsePartitionOffset = NonNullable<
  NonNullable<FetchResponse['topics']>[number]['partitions']
>[number]['highWatermark'];

interface RecordsTopic {
  name?: string;
  partitions?: readonly RecordsPartition[];
}

function writeIntField(buf: Buffer, pos: number, tag: number, value: number): number {
  buf[pos] = tag;
  return writeVarint(buf, pos + 1, value);
}

function intFieldSize(value: number | undefined | null): number {
  return value ? 1 + varintSize(value) : 0;
}

function bytesFieldSize(length: number): number {
  return length > 0 ? 1 + varintSize(length) + length : 0;
}

const NO_TOPICS: readonly RecordsTopic[] = [];
const NO_PARTITIONS: readonly RecordsPartition[] = [];

/** Serializes a FetchResponse, or returns undefined for inputs only protobufjs handles. */
export function encodeFetchResponse(response: FetchResponse): Buffer | undefined {
  return encodeRecordsResponse(response, 6);
}

/**
 * Serializes a FetchStreamResponse that carries a response (correlation_id 1, response 2), the
 * response written as encodeFetchResponse writes it; undefined for a failure or what only protobufjs
 * handles.
 */
export function encodeFetchStreamResponse(message: FetchStreamResponse): Buffer | undefined {
  const { correlationId, response } = message;
  if (!response || message.statusCode || message.statusMessage || !isPlainInteger(correlationId)) return undefined;
  return encodeRecordsResponse(response, 6, correlationId ?? 0);
}

/**
 * Serializes a ReplicaFetchResponse, or returns undefined for inputs only protobufjs handles (a diverging epoch among
 * them).
 */
export function encodeReplicaFetchResponse(response: ReplicaFetchResponse): Buffer | undefined {
  const topics = response.topics;
  if (topics)
    for (const topic of topics) for (const p of topic.partitions ?? []) if (p.divergingEpoch) return undefined;
  return encodeRecordsResponse(response, 7);
}

/** With `correlationId`, the response is wrapped as field 2 of a FetchStreamResponse that carries the id. */
function encodeRecordsResponse(
  response: { topics?: readonly RecordsTopic[]; nodeEndpoints?: readonly unknown[] },
  recordsField: RecordsField,
  correlationId?: number,
): Buffer | undefined {
  const recordsTag = (recordsField << 3) | 2;
  // A refusal naming the current leader (KIP-951, rare) goes through protobufjs.
  if ((response.nodeEndpoints?.length ?? 0) > 0) return undefined;
  const topics = response.topics ?? NO_TOPICS;
  // Pass 1: sizes (and the fast path's preconditions).
  let sized = 0;
  let total = 0;
  for (const topic of topics) {
    const nameBytes = topic.name ? Buffer.byteLength(topic.name, 'utf8') : 0;
    let body = bytesFieldSize(nameBytes);
    const topicAt = sized++;
    for (const p of topic.partitions ?? NO_PARTITIONS) {
      const { records, errorMessage, highWatermark, logStartOffset, partition, errorCode } = p;
      if (typeof records === 'string' || !isPlainInteger(highWatermark) || !isPlainInteger(logStartOffset))
        return undefined;
      // Aborted transactions (read_committed, rare) go through protobufjs; so does any LSO of a replica fetch.
      if ((p.abortedTransactions?.length ?? 0) > 0 || !isPlainInteger(p.lastStableOffset)) return undefined;
      if (p.currentLeader) return undefined;
      const lastStableOffset = recordsField === 6 ? (p.lastStableOffset as number | undefined) : undefined;
      if (recordsField !== 6 && p.lastStableOffset) return undefined;
      if (!isPlainInteger(partition) || !isPlainInteger(errorCode)) return undefined;
      const messageBytes = errorMessage ? Buffer.byteLength(errorMessage, 'utf8') : 0;
      const partBody =
        intFieldSize(partition) +
        intFieldSize(errorCode) +
        bytesFieldSize(messageBytes) +
        intFieldSize(highWatermark) +
        intFieldSize(logStartOffset) +
        bytesFieldSize(records?.length ?? 0) +
        intFieldSize(lastStableOffset);
      sizes[sized++] = partBody;
      sizes[sized++] = messageBytes;
      body += 1 + varintSize(partBody) + partBody;
    }
    sizes[topicAt] = body;
    total += 1 + varintSize(body) + body;
  }
  const inner = total;
  if (correlationId !== undefined) total += intFieldSize(correlationId) + 1 + varintSize(inner);
  let buf: Buffer;
  if (total <= scratch.length) buf = scratch;
  else if (total <= MAX_SCRATCH_BYTES)
    buf = scratch = Buffer.allocUnsafeSlow(Math.max(total, Math.min(2 * scratch.length, MAX_SCRATCH_BYTES)));
  else buf = Buffer.allocUnsafeSlow(total);
  // Pass 2: bytes.
  let pos = 0;
  if (correlationId !== undefined) {
    if (correlationId) pos = writeIntField(buf, pos, STREAM_TAG.correlationId, correlationId);
    buf[pos++] = STREAM_TAG.response;
    pos = writeVarint(buf, pos, inner);
  }
  let at = 0;
  for (const topic of topics) {
    buf[pos++] = TAG.topics;
    pos = writeVarint(buf, pos, sizes[at++] as number);
    if (topic.name) {
      buf[pos++] = TAG.topicName;
      pos = writeVarint(buf, pos, Buffer.byteLength(topic.name, 'utf8'));
      pos += buf.write(topic.name, pos, 'utf8');
    }
    for (const p of topic.partitions ?? NO_PARTITIONS) {
      const body = sizes[at++] as number;
      const messageBytes = sizes[at++] as number;
      buf[pos++] = TAG.topicPartitions;
      pos = writeVarint(buf, pos, body);
      if (p.partition) pos = writeIntField(buf, pos, TAG.partition, p.partition);
      if (p.errorCode) pos = writeIntField(buf, pos, TAG.errorCode, p.errorCode);
      if (p.errorMessage) {
        buf[pos++] = TAG.errorMessage;
        pos = writeVarint(buf, pos, messageBytes);
        pos += buf.write(p.errorMessage, pos, 'utf8');
      }
      if (p.highWatermark) pos = writeIntField(buf, pos, TAG.highWatermark, p.highWatermark as number);
      if (p.logStartOffset) pos = writeIntField(buf, pos, TAG.logStartOffset, p.logStartOffset as number);
      const records = p.records as Uint8Array | undefined;
      if (records && records.length > 0) {
        buf[pos++] = recordsTag;
        pos = writeVarint(buf, pos, records.length);
        buf.set(records, pos);
        pos += records.length;
      }
      if (recordsField === 6 && p.lastStableOffset) {
        pos = writeIntField(buf, pos, TAG.lastStableOffset, p.lastStableOffset as number);
      }
    }
  }
  // A size mismatch would send uninitialised scratch bytes: an encoder bug, never a peer's fault.
  if (pos !== total) throw new Error(`response encoder wrote ${pos} bytes, expected ${total}`);
  return buf.subarray(0, total);
}
