import * as tp from './partitions.js';
import type { TopicPartitions } from './partitions.js';

/**
 * Kafka's consumer protocol: the bytes a classic (JoinGroup/SyncGroup) consumer puts in its protocol
 * metadata (ConsumerProtocolSubscription) and reads from its SyncGroup answer (ConsumerProtocolAssignment).
 * The coordinator never looks inside them for a classic group (the leader's client-side assignor does);
 * it does when a classic member is in a KIP-848 group, where the server assigns.
 */

/** One protocol a classic member supports (a client-side assignor name) with its metadata. */
export interface ClassicProtocol {
  readonly name: string;
  readonly metadata: Buffer;
}

export interface ConsumerSubscription {
  readonly topics: readonly string[];
  /** v1+ (cooperative clients); eager clients revoke everything before they join, so none is an empty set. */
  readonly ownedPartitions: TopicPartitions;
  readonly rackId: string | null;
}

/** A bounded reader: any read past the end throws, so malformed bytes are refused, never misread. */
class Reader {
  private at = 0;
  constructor(private readonly bytes: Buffer) {}
  get done(): boolean {
    return this.at >= this.bytes.length;
  }
  int16(): number {
    const v = this.bytes.readInt16BE(this.at);
    this.at += 2;
    return v;
  }
  int32(): number {
    const v = this.bytes.readInt32BE(this.at);
    this.at += 4;
    return v;
  }
  string(): string | null {
    const length = this.int16();
    if (length < 0) return null;
    if (this.at + length > this.bytes.length) throw new RangeError('string past the end');
    const s = this.bytes.toString('utf8', this.at, this.at + length);
    this.at += length;
    return s;
  }
  skipBytes(): void {
    const length = this.int32();
    if (length > 0) {
      if (this.at + length > this.bytes.length) throw new RangeError('bytes past the end');
      this.at += length;
    }
  }
  count(): number {
    const n = this.int32();
    if (n < 0) return 0;
    // Each element takes at least 2 bytes: a count past that is garbage, not a reason to loop.
    if (n > this.bytes.length) throw new RangeError(`count ${n} past the end`);
    return n;
  }
  topicPartitions(): TopicPartitions {
    const keys: string[] = [];
    for (let i = this.count(); i > 0; i--) {
      const topic = this.string() ?? '';
      for (let j = this.count(); j > 0; j--) keys.push(tp.tpKey(topic, this.int32()));
    }
    return tp.fromKeys(keys);
  }
}

/** ConsumerProtocolSubscription v0-3; throws RangeError on malformed bytes. */
export function decodeSubscription(bytes: Buffer): ConsumerSubscription {
  const r = new Reader(bytes);
  const version = r.int16();
  const topics: string[] = [];
  for (let i = r.count(); i > 0; i--) topics.push(r.string() ?? '');
  r.skipBytes(); // user data: the client-side assignor's, nothing the server assignor uses
  const ownedPartitions = version >= 1 && !r.done ? r.topicPartitions() : tp.EMPTY;
  if (version >= 2 && !r.done) r.int32(); // generation id
  const rackId = version >= 3 && !r.done ? r.string() : null;
  return { topics, ownedPartitions, rackId };
}

/** ConsumerProtocolAssignment v0 (every version reads it): the partitions, no user data. */
export function encodeAssignment(partitions: TopicPartitions): Buffer {
  const topics = Object.entries(partitions).map(([topic, ps]) => [Buffer.from(topic, 'utf8'), ps] as const);
  const size = 2 + 4 + topics.reduce((n, [name, ps]) => n + 2 + name.length + 4 + 4 * ps.length, 0) + 4;
  const out = Buffer.alloc(size);
  let at = out.writeInt16BE(0, 0);
  at = out.writeInt32BE(topics.length, at);
  for (const [name, ps] of topics) {
    at = out.writeInt16BE(name.length, at);
    at += name.copy(out, at);
    at = out.writeInt32BE(ps.length, at);
    for (const p of ps) at = out.writeInt32BE(p, at);
  }
  out.writeInt32BE(-1, at); // null user data
  return out;
}

/** ConsumerProtocolAssignment: the partitions; throws RangeError on malformed bytes. */
export function decodeAssignment(bytes: Buffer): TopicPartitions {
  if (bytes.length === 0) return tp.EMPTY;
  const r = new Reader(bytes);
  r.int16();
  return r.topicPartitions();
}

/** ConsumerProtocolSubscription v1 (topics, no user data, owned partitions): what DescribeGroups shows for a member. */
export function encodeSubscription(topics: readonly string[], ownedPartitions: TopicPartitions = tp.EMPTY): Buffer {
  const names = topics.map((t) => Buffer.from(t, 'utf8'));
  const owned = Object.entries(ownedPartitions).map(([topic, ps]) => [Buffer.from(topic, 'utf8'), ps] as const);
  const size =
    2 +
    4 +
    names.reduce((n, b) => n + 2 + b.length, 0) +
    4 +
    4 +
    owned.reduce((n, [b, ps]) => n + 6 + b.length + 4 * ps.length, 0);
  const out = Buffer.alloc(size);
  let at = out.writeInt16BE(1, 0);
  at = out.writeInt32BE(names.length, at);
  for (const b of names) {
    at = out.writeInt16BE(b.length, at);
    at += b.copy(out, at);
  }
  at = out.writeInt32BE(-1, at); // null user data
  at = out.writeInt32BE(owned.length, at);
  for (const [b, ps] of owned) {
    at = out.writeInt16BE(b.length, at);
    at += b.copy(out, at);
    at = out.writeInt32BE(ps.length, at);
    for (const p of ps) at = out.writeInt32BE(p, at);
  }
  return out;
}
