/**
 * On-disk encodings (pure): transaction log records and snapshots.
 *
 * Log record: int32 payloadLength, uint32 crc32(payload), payload = zxid, time, sessionId, op.
 * A record whose length runs past the end of the file or whose checksum does not match marks a torn
 * tail: recovery keeps everything before it and truncates the rest.
 *
 * Snapshot: "SMZS", int32 format version, the state, then uint32 crc32 of everything before it.
 */
import { crc32 } from 'node:zlib';
import type { SnapshotData, Txn, TxnOp, ZNode } from './core.js';
import { JuteError, Reader, Writer } from './jute.js';

const OpTag = {
  createSession: 1,
  closeSession: 2,
  create: 3,
  delete: 4,
  setData: 5,
  setACL: 6,
  check: 7,
  error: 8,
  multi: 9,
} as const;

/**
 * The largest log record we accept when reading back (a multi of many 1 MiB ops cannot exceed the frame cap by much).
 */
export const MAX_RECORD_BYTES = 64 * 1024 * 1024;

function writeOp(w: Writer, op: TxnOp): void {
  switch (op.type) {
    case 'createSession':
      w.int(OpTag.createSession).int(op.timeoutMs).buffer(op.passwd);
      return;
    case 'closeSession':
      w.int(OpTag.closeSession);
      return;
    case 'create':
      w.int(OpTag.create)
        .string(op.path)
        .buffer(op.data)
        .acls(op.acl)
        .bigLong(op.ephemeralOwner)
        .int(op.parentCversion);
      return;
    case 'delete':
      w.int(OpTag.delete).string(op.path);
      return;
    case 'setData':
      w.int(OpTag.setData).string(op.path).buffer(op.data).int(op.version);
      return;
    case 'setACL':
      w.int(OpTag.setACL).string(op.path).acls(op.acl).int(op.aversion);
      return;
    case 'check':
      w.int(OpTag.check).string(op.path);
      return;
    case 'error':
      w.int(OpTag.error).int(op.err);
      return;
    case 'multi':
      w.int(OpTag.multi).int(op.ops.length);
      for (const sub of op.ops) writeOp(w, sub);
      return;
  }
}

function readOp(r: Reader, depth = 0): TxnOp {
  const tag = r.int();
  switch (tag) {
    case OpTag.createSession:
      return { type: 'createSession', timeoutMs: r.int(), passwd: r.buffer() };
    case OpTag.closeSession:
      return { type: 'closeSession' };
    case OpTag.create:
      return {
        type: 'create',
        path: r.string(),
        data: r.bufferOrNull(),
        acl: r.acls(),
        ephemeralOwner: r.bigLong(),
        parentCversion: r.int(),
      };
    case OpTag.delete:
      return { type: 'delete', path: r.string() };
    case OpTag.setData:
      return { type: 'setData', path: r.string(), data: r.bufferOrNull(), version: r.int() };
    case OpTag.setACL:
      return { type: 'setACL', path: r.string(), acl: r.acls(), aversion: r.int() };
    case OpTag.check:
      return { type: 'check', path: r.string() };
    case OpTag.error:
      return { type: 'error', err: r.int() };
    case OpTag.multi: {
      if (depth > 0) throw new JuteError('nested multi');
      const n = r.vectorLength(4);
      const ops: TxnOp[] = [];
      for (let i = 0; i < n; i++) ops.push(readOp(r, depth + 1));
      return { type: 'multi', ops };
    }
    default:
      throw new JuteError(`unknown txn op tag ${tag}`);
  }
}

/** Appends one framed, checksummed log record to `w`. */
export function writeTxnRecord(w: Writer, txn: Txn): void {
  const at = w.beginFrame();
  w.int(0); // crc placeholder
  const payloadStart = w.length;
  w.long(txn.zxid).long(txn.timeMs).bigLong(txn.sessionId);
  writeOp(w, txn.op);
  const view = w.view();
  view.writeInt32BE(w.length - payloadStart, at);
  view.writeUInt32BE(crc32(view.subarray(payloadStart, w.length)), at + 4);
}

export function encodeTxnRecord(txn: Txn): Buffer {
  const w = new Writer(128);
  writeTxnRecord(w, txn);
  return w.take();
}

export interface LogScan {
  txns: Txn[];
  /** Bytes of well-formed records from the start of the buffer. */
  validBytes: number;
  /** Why scanning stopped before the end, if it did. */
  tornReason: string | null;
}

/** Reads records until the end or the first torn/corrupt one. Never throws on bad bytes. */
export function scanLog(buf: Buffer): LogScan {
  const txns: Txn[] = [];
  let off = 0;
  while (off < buf.length) {
    if (buf.length - off < 8) return { txns, validBytes: off, tornReason: 'truncated record header' };
    const len = buf.readInt32BE(off);
    const crc = buf.readUInt32BE(off + 4);
    if (len < 24 || len > MAX_RECORD_BYTES) return { txns, validBytes: off, tornReason: `bad record length ${len}` };
    if (buf.length - off - 8 < len) return { txns, validBytes: off, tornReason: 'truncated record' };
    const payload = buf.subarray(off + 8, off + 8 + len);
    if (crc32(payload) !== crc) return { txns, validBytes: off, tornReason: 'checksum mismatch' };
    try {
      const r = new Reader(payload);
      const zxid = r.long();
      const timeMs = r.long();
      const sessionId = r.bigLong();
      const op = readOp(r);
      if (r.remaining !== 0) throw new JuteError('trailing bytes in record');
      txns.push({ zxid, timeMs, sessionId, op });
    } catch (err) {
      if (!(err instanceof JuteError)) throw err;
      return { txns, validBytes: off, tornReason: `undecodable record: ${err.message}` };
    }
    off += 8 + len;
  }
  return { txns, validBytes: off, tornReason: null };
}

const SNAPSHOT_MAGIC = 0x534d5a53; // "SMZS"
const SNAPSHOT_VERSION = 1;

/**
 * Encodes a snapshot in parts of about `nodesPerPart` nodes, so that a writer can yield to the event
 * loop between parts; the concatenation of the parts is the snapshot file. The nodes must not change
 * while the parts are produced (the core never modifies a ZNode object once it is in its map).
 */
export function* encodeSnapshotParts(snap: SnapshotData, nodesPerPart = 5000): Generator<Buffer> {
  const w = new Writer(1 << 16);
  let crc = 0;
  const emit = () => {
    const part = w.take();
    crc = crc32(part, crc);
    return part;
  };
  w.int(SNAPSHOT_MAGIC).int(SNAPSHOT_VERSION).long(snap.zxid).bigLong(snap.highestSessionId);
  w.int(snap.sessions.length);
  for (const s of snap.sessions) w.bigLong(s.id).int(s.timeoutMs).buffer(s.passwd);
  w.int(snap.nodes.length);
  let inPart = 0;
  for (const { path, node: n } of snap.nodes) {
    w.string(path).buffer(n.data).acls(n.acl);
    w.long(n.czxid).long(n.mzxid).long(n.pzxid).long(n.ctime).long(n.mtime);
    w.int(n.version).int(n.cversion).int(n.aversion).bigLong(n.ephemeralOwner);
    if (++inPart >= nodesPerPart) {
      inPart = 0;
      yield emit();
    }
  }
  yield emit();
  const trailer = Buffer.alloc(4);
  trailer.writeUInt32BE(crc >>> 0);
  yield trailer;
}

export function encodeSnapshot(snap: SnapshotData): Buffer {
  return Buffer.concat([...encodeSnapshotParts(snap)]);
}

/** Decodes a snapshot; throws JuteError if it is truncated or its checksum does not match. */
export function decodeSnapshot(buf: Buffer): SnapshotData {
  if (buf.length < 4) throw new JuteError('snapshot too short');
  const body = buf.subarray(0, buf.length - 4);
  if (crc32(body) !== buf.readUInt32BE(buf.length - 4)) throw new JuteError('snapshot checksum mismatch');
  const r = new Reader(body);
  if (r.int() !== SNAPSHOT_MAGIC) throw new JuteError('not a snapshot');
  const version = r.int();
  if (version !== SNAPSHOT_VERSION) throw new JuteError(`unsupported snapshot version ${version}`);
  const zxid = r.long();
  const highestSessionId = r.bigLong();
  const sessions: SnapshotData['sessions'] = [];
  const ns = r.vectorLength(16);
  for (let i = 0; i < ns; i++) sessions.push({ id: r.bigLong(), timeoutMs: r.int(), passwd: r.buffer() });
  const nodes: SnapshotData['nodes'] = [];
  const nn = r.vectorLength(64);
  for (let i = 0; i < nn; i++) {
    const path = r.string();
    const node: ZNode = {
      data: r.bufferOrNull(),
      acl: r.acls(),
      czxid: r.long(),
      mzxid: r.long(),
      pzxid: r.long(),
      ctime: r.long(),
      mtime: r.long(),
      version: r.int(),
      cversion: r.int(),
      aversion: r.int(),
      ephemeralOwner: r.bigLong(),
      children: new Set(),
    };
    nodes.push({ path, node });
  }
  if (r.remaining !== 0) throw new JuteError('trailing bytes in snapshot');
  return { zxid, highestSessionId, sessions, nodes };
}
