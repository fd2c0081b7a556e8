import { ErrorCodes, SamsaError } from '@samsa/protocol';
import type { TopicPartitions } from './partitions.js';

/**
 * The records of __consumer_offsets. Like Kafka's, each has a key naming what it describes (a group, a
 * member of a group, a committed partition) and a value; a later record with an equal key replaces the
 * earlier one, a null value (tombstone) deletes it, so a compacted log keeps the same state. The core
 * changes its state only by applying these records (core.ts), at run time and when loading alike.
 */
export type GroupRecord =
  | OffsetRecord
  | GroupMetadataRecord
  | MemberRecord
  | TargetRecord
  | CurrentRecord
  | ClassicGroupRecord;

export interface OffsetValue {
  readonly offset: number;
  /**
   * The leader epoch of the last record consumed before `offset` (KIP-320), -1 when unknown. A value
   * written without it (by a committer that did not know it) reads as -1.
   */
  readonly leaderEpoch: number;
  readonly metadata: string;
  readonly commitTimestampMs: number;
}
export interface OffsetRecord {
  readonly type: 'offset';
  readonly group: string;
  readonly topic: string;
  readonly partition: number;
  readonly value: OffsetValue | null;
}

export interface GroupMetadataValue {
  /** The group epoch; the target assignment is computed at once, so it is also the assignment epoch. */
  readonly epoch: number;
  /** Partition counts of the subscribed topics the target assignment was computed from. */
  readonly topics: Readonly<Record<string, number>>;
}
export interface GroupMetadataRecord {
  readonly type: 'group';
  readonly group: string;
  readonly value: GroupMetadataValue | null;
}

export interface MemberValue {
  readonly instanceId: string | null;
  readonly rackId: string | null;
  readonly clientId: string;
  readonly clientHost: string;
  readonly subscribedTopicNames: readonly string[];
  readonly subscribedTopicRegex: string | null;
  readonly serverAssignor: string | null;
  readonly rebalanceTimeoutMs: number;
  /**
   * Set for a member that speaks Kafka's classic protocol (JoinGroup/SyncGroup) in this KIP-848 group
   * (Kafka's ClassicMemberMetadata): its own session timeout and the protocols it joined with.
   */
  readonly classic?: ClassicMemberMetadata;
}
export interface ClassicMemberMetadata {
  readonly sessionTimeoutMs: number;
  /** Protocol name and metadata (base64), as the member sent them in its JoinGroup. */
  readonly protocols: readonly { readonly name: string; readonly metadata: string }[];
}
export interface MemberRecord {
  readonly type: 'member';
  readonly group: string;
  readonly memberId: string;
  readonly value: MemberValue | null;
}

export interface TargetRecord {
  readonly type: 'target';
  readonly group: string;
  readonly memberId: string;
  readonly value: { readonly partitions: TopicPartitions } | null;
}

export type MemberState = 'Stable' | 'UnrevokedPartitions' | 'UnreleasedPartitions';

export interface CurrentValue {
  /** -2: a static member that left to restart; previousMemberEpoch then holds the epoch it had. */
  readonly memberEpoch: number;
  readonly previousMemberEpoch: number;
  readonly state: MemberState;
  /** Partitions the member owns and keeps. */
  readonly assigned: TopicPartitions;
  /** Partitions the member still owns but was asked to give back. */
  readonly pendingRevocation: TopicPartitions;
  /**
   * The epoch since which the member has owned exactly these partitions (assigned and pending revocation)
   * in this incarnation (KIP-1251's assignment epoch, per member): a commit under any epoch from it to
   * memberEpoch comes from the assignment the member still has. Absent (records written before it): the
   * member epoch.
   */
  readonly assignmentEpoch?: number;
}
export interface CurrentRecord {
  readonly type: 'current';
  readonly group: string;
  readonly memberId: string;
  readonly value: CurrentValue | null;
}

/** A classic-protocol group (JoinGroup/SyncGroup members), written whole as Kafka's GroupMetadata record is. */
export interface ClassicMemberValue {
  readonly memberId: string;
  readonly instanceId: string | null;
  readonly clientId: string;
  readonly clientHost: string;
  readonly sessionTimeoutMs: number;
  readonly rebalanceTimeoutMs: number;
  /** Protocol metadata, base64. */
  readonly protocols: readonly { readonly name: string; readonly metadata: string }[];
  /** The assignment the leader gave the member, base64. */
  readonly assignment: string;
}
export interface ClassicGroupValue {
  readonly generationId: number;
  readonly protocolType: string | null;
  readonly protocolName: string | null;
  readonly leader: string | null;
  readonly members: readonly ClassicMemberValue[];
}
export interface ClassicGroupRecord {
  readonly type: 'classic';
  readonly group: string;
  readonly value: ClassicGroupValue | null;
}

const TYPE_CODES = { offset: 0, group: 1, member: 2, target: 3, current: 4, classic: 5 } as const;
const TYPE_BY_CODE = ['offset', 'group', 'member', 'target', 'current', 'classic'] as const;
const VALUE_VERSION = 0;
/** No key field is this long (group ids are capped at 255 characters, member ids are UUIDs). */
const MAX_KEY_STRING_BYTES = 32 * 1024;

function corrupt(detail: string): SamsaError {
  return new SamsaError(ErrorCodes.CORRUPT_MESSAGE, `__consumer_offsets record: ${detail}`);
}

/** The key: int16 type, then the type's fields as int16-length-prefixed UTF-8 strings and an int32 partition. */
export function encodeKey(record: GroupRecord): Buffer {
  const strings: string[] = [record.group];
  if (record.type === 'offset') strings.push(record.topic);
  else if (record.type !== 'group' && record.type !== 'classic') strings.push(record.memberId);
  const encoded = strings.map((s) => Buffer.from(s, 'utf8'));
  const size = 2 + encoded.reduce((n, b) => n + 2 + b.length, 0) + (record.type === 'offset' ? 4 : 0);
  const key = Buffer.alloc(size);
  let at = key.writeInt16BE(TYPE_CODES[record.type], 0);
  for (const b of encoded) {
    if (b.length > MAX_KEY_STRING_BYTES) throw corrupt(`key field of ${b.length} bytes`);
    at = key.writeInt16BE(b.length, at);
    at += b.copy(key, at);
  }
  if (record.type === 'offset') key.writeInt32BE(record.partition, at);
  return key;
}

/** The value: int16 version, then UTF-8 JSON; null for a tombstone. */
export function encodeValue(record: GroupRecord): Buffer | null {
  if (record.value === null) return null;
  const json = Buffer.from(JSON.stringify(record.value), 'utf8');
  const value = Buffer.alloc(2 + json.length);
  value.writeInt16BE(VALUE_VERSION, 0);
  json.copy(value, 2);
  return value;
}

export function decodeRecord(key: Uint8Array, value: Uint8Array | null): GroupRecord {
  const k = Buffer.from(key.buffer, key.byteOffset, key.byteLength);
  if (k.length < 2) throw corrupt('key too short');
  const type = TYPE_BY_CODE[k.readInt16BE(0)];
  if (type === undefined) throw corrupt(`unknown key type ${k.readInt16BE(0)}`);
  let at = 2;
  const readString = (): string => {
    if (at + 2 > k.length) throw corrupt('key truncated');
    const length = k.readInt16BE(at);
    if (length < 0 || at + 2 + length > k.length) throw corrupt('key string truncated');
    const s = k.toString('utf8', at + 2, at + 2 + length);
    at += 2 + length;
    return s;
  };
  const group = readString();
  const decoded = value === null ? null : decodeValue(value);
  switch (type) {
    case 'offset': {
      const topic = readString();
      if (at + 4 !== k.length) throw corrupt('offset key has a bad length');
      return { type, group, topic, partition: k.readInt32BE(at), value: offsetValue(decoded) };
    }
    case 'group':
      return { type, group, value: decoded as GroupMetadataValue | null };
    case 'classic':
      return { type, group, value: decoded as ClassicGroupValue | null };
    case 'member':
      return { type, group, memberId: readString(), value: decoded as MemberValue | null };
    case 'target':
      return { type, group, memberId: readString(), value: decoded as TargetRecord['value'] };
    case 'current':
      return { type, group, memberId: readString(), value: decoded as CurrentValue | null };
  }
}

/** An offset value, its leader epoch -1 where the record has none (or not a valid one). */
function offsetValue(decoded: unknown): OffsetValue | null {
  if (decoded === null) return null;
  const value = decoded as OffsetValue;
  const epoch = value.leaderEpoch;
  return Number.isSafeInteger(epoch) && epoch >= 0 ? value : { ...value, leaderEpoch: -1 };
}

function decodeValue(value: Uint8Array): unknown {
  const v = Buffer.from(value.buffer, value.byteOffset, value.byteLength);
  if (v.length < 2) throw corrupt('value too short');
  const version = v.readInt16BE(0);
  if (version !== VALUE_VERSION) throw corrupt(`unknown value version ${version}`);
  try {
    return JSON.parse(v.toString('utf8', 2));
  } catch (err) {
    throw corrupt(`value is not JSON (${(err as Error).message})`);
  }
}
