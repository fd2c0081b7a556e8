import { ErrorCodes, SamsaError } from '@samsa/protocol';
import type { TopicPartitions } from '../group/partitions.js';

/**
 * The records of __transaction_state. As Kafka's, one record per transactional id: the key names the
 * id, the value is everything the coordinator knows about it; a later record replaces the earlier one
 * and a null value (tombstone) forgets the id, so a compacted log keeps the same state. The core
 * (core.ts) changes its state only by applying these records, at run time and when loading alike.
 */
export type TxnState =
  | 'Empty'
  | 'Ongoing'
  | 'PrepareCommit'
  | 'PrepareAbort'
  | 'CompleteCommit'
  | 'CompleteAbort'
  | 'Dead';

export const TXN_STATES: readonly TxnState[] = [
  'Empty',
  'Ongoing',
  'PrepareCommit',
  'PrepareAbort',
  'CompleteCommit',
  'CompleteAbort',
  'Dead',
];

export interface TxnValue {
  readonly producerId: number;
  /**
   * The epoch the producer uses, except in PrepareCommit/PrepareAbort: there it is the epoch the markers
   * carry, one above the producer's (KIP-890 part 2), so a write the producer still had in flight is
   * fenced by every partition the marker reaches.
   */
  readonly producerEpoch: number;
  /**
   * The producer's epoch before the last bump (-1 when none): a retried EndTxn carries it, and so does
   * the InitProducerId of a producer recovering after a timeout or its own abort (not after `fenced`).
   */
  readonly lastProducerEpoch: number;
  /**
   * Set in a Prepare state when the markers take the last epoch: the producer continues with this id at
   * epoch 0 once the transaction completes.
   */
  readonly nextProducerId: number;
  /** The producer id before a rotation to nextProducerId (-1 when none): a retried EndTxn may carry it. */
  readonly previousProducerId: number;
  readonly timeoutMs: number;
  readonly state: TxnState;
  /** The partitions written in the open (or ending) transaction, __consumer_offsets ones included. */
  readonly partitions: TopicPartitions;
  /** When the transaction began (its first AddPartitionsToTxn), -1 when none is open. */
  readonly txnStartTimestampMs: number;
  readonly lastUpdateTimestampMs: number;
  /** Set when the coordinator aborted the transaction because it outlived its timeout. */
  readonly timedOut: boolean;
  /**
   * Set when a new incarnation's InitProducerId aborted the transaction (the bump fences the producer
   * for good): the epoch before that bump may not recover (KIP-360); after a timeout or its own abort
   * it may. Absent in records written before it existed (false).
   */
  readonly fenced?: boolean;
  /**
   * Kafka's ClientTransactionVersion: 2 when every commit or abort of the producer bumps its epoch (the
   * SDK: InitProducerId through the gRPC API, or an EndTxn with the bump), 1 when its transactions end
   * at the same epoch (Kafka clients below EndTxn v5). Only at 2 may a partition leader add a partition
   * for a Produce (KIP-890 part 2). Absent in records written before it existed: 2 when the record's
   * last transaction completed with an epoch bump, else 1 (core.ts, clientVersionOf).
   */
  readonly clientTransactionVersion?: ClientTransactionVersion;
}

export type ClientTransactionVersion = 1 | 2;

export interface TxnRecord {
  readonly transactionalId: string;
  readonly value: TxnValue | null;
}

const KEY_VERSION = 0;
const VALUE_VERSION = 0;
/** Longer than any transactional id we accept (MAX_TRANSACTIONAL_ID_LENGTH in core.ts). */
const MAX_KEY_STRING_BYTES = 32 * 1024;

function corrupt(detail: string): SamsaError {
  return new SamsaError(ErrorCodes.CORRUPT_MESSAGE, `__transaction_state record: ${detail}`);
}

/** The key: int16 version, then the transactional id as an int16-length-prefixed UTF-8 string (Kafka's layout). */
export function encodeKey(record: TxnRecord): Buffer {
  const id = Buffer.from(record.transactionalId, 'utf8');
  if (id.length > MAX_KEY_STRING_BYTES) throw corrupt(`transactional id of ${id.length} bytes`);
  const key = Buffer.alloc(4 + id.length);
  key.writeInt16BE(KEY_VERSION, 0);
  key.writeInt16BE(id.length, 2);
  id.copy(key, 4);
  return key;
}

/** The value: int16 version, then UTF-8 JSON; null for a tombstone. */
export function encodeValue(record: TxnRecord): Buffer | null {
  if (record.value === null) return null;
  const json = Buffer.from(JSON.stringify(record.value), 'utf8');
  const value = Buffer.alloc(2 + json.length);
  value.writeInt16BE(VALUE_VERSION, 0);
  json.copy(value, 2);
  return value;
}

export function decodeRecord(key: Uint8Array, value: Uint8Array | null): TxnRecord {
  const k = Buffer.from(key.buffer, key.byteOffset, key.byteLength);
  if (k.length < 4) throw corrupt('key too short');
  if (k.readInt16BE(0) !== KEY_VERSION) throw corrupt(`unknown key version ${k.readInt16BE(0)}`);
  const length = k.readInt16BE(2);
  if (length < 0 || 4 + length !== k.length) throw corrupt('key has a bad length');
  const transactionalId = k.toString('utf8', 4);
  if (value === null) return { transactionalId, value: null };
  const v = Buffer.from(value.buffer, value.byteOffset, value.byteLength);
  if (v.length < 2) throw corrupt('value too short');
  if (v.readInt16BE(0) !== VALUE_VERSION) throw corrupt(`unknown value version ${v.readInt16BE(0)}`);
  let parsed: unknown;
  try {
    parsed = JSON.parse(v.toString('utf8', 2));
  } catch (err) {
    throw corrupt(`value is not JSON (${(err as Error).message})`);
  }
  const state = (parsed as { state?: unknown }).state;
  if (!TXN_STATES.includes(state as TxnState)) throw corrupt(`unknown state ${String(state)}`);
  return { transactionalId, value: parsed as TxnValue };
}
