/**
 * The jute codec: ZooKeeper's big-endian binary records, as pure functions.
 *
 * Decoding never trusts a length field: every read is bounds-checked against the frame, vector and
 * buffer lengths are capped by the bytes that remain, and any violation throws `JuteError` (and only
 * that), so a malformed frame can be answered or dropped without risking the process.
 */
import { OpCode } from './protocol.js';

export class JuteError extends Error {
  override readonly name = 'JuteError';
}

export interface Id {
  scheme: string;
  id: string;
}
export interface Acl {
  perms: number;
  id: Id;
}

/** Stat as it travels on the wire; zxids and times are plain numbers (exact below 2^53). */
export interface Stat {
  czxid: number;
  mzxid: number;
  ctime: number;
  mtime: number;
  version: number;
  cversion: number;
  aversion: number;
  ephemeralOwner: bigint;
  dataLength: number;
  numChildren: number;
  pzxid: number;
}

const MAX_STRING_BYTES = 1 << 20;

export class Reader {
  private offset: number;
  constructor(
    private readonly buf: Buffer,
    start = 0,
    private readonly end = buf.length,
  ) {
    this.offset = start;
  }
  get remaining(): number {
    return this.end - this.offset;
  }
  get position(): number {
    return this.offset;
  }
  private need(n: number): void {
    if (this.end - this.offset < n)
      throw new JuteError(`truncated record: need ${n} bytes, have ${this.end - this.offset}`);
  }
  int(): number {
    this.need(4);
    const v = this.buf.readInt32BE(this.offset);
    this.offset += 4;
    return v;
  }
  long(): number {
    this.need(8);
    const hi = this.buf.readInt32BE(this.offset);
    const lo = this.buf.readUInt32BE(this.offset + 4);
    this.offset += 8;
    return hi * 0x1_0000_0000 + lo;
  }
  bigLong(): bigint {
    this.need(8);
    const v = this.buf.readBigInt64BE(this.offset);
    this.offset += 8;
    return v;
  }
  bool(): boolean {
    this.need(1);
    const v = this.buf[this.offset]!;
    this.offset += 1;
    return v !== 0;
  }
  /** A jute buffer; length -1 (null) reads as an empty buffer. The bytes are copied. */
  buffer(): Buffer {
    return this.bufferOrNull() ?? Buffer.alloc(0);
  }
  /** A jute buffer, keeping null (length -1) apart from empty: ZooKeeper stores and returns either. */
  bufferOrNull(): Buffer | null {
    const len = this.int();
    if (len === -1) return null;
    if (len < 0) throw new JuteError(`negative buffer length ${len}`);
    this.need(len);
    const out = Buffer.from(this.buf.subarray(this.offset, this.offset + len));
    this.offset += len;
    return out;
  }
  /** A jute ustring; length -1 (null) reads as null. */
  stringOrNull(): string | null {
    const len = this.int();
    if (len === -1) return null;
    if (len < 0 || len > MAX_STRING_BYTES) throw new JuteError(`bad string length ${len}`);
    this.need(len);
    const s = this.buf.toString('utf8', this.offset, this.offset + len);
    this.offset += len;
    return s;
  }
  string(): string {
    const s = this.stringOrNull();
    if (s === null) throw new JuteError('unexpected null string');
    return s;
  }
  /** Vector length; -1 (null) reads as 0. Each element takes at least `minElementBytes`. */
  vectorLength(minElementBytes: number): number {
    const len = this.int();
    if (len === -1) return 0;
    if (len < 0) throw new JuteError(`negative vector length ${len}`);
    if (len * minElementBytes > this.remaining) throw new JuteError(`vector length ${len} exceeds the record`);
    return len;
  }
  strings(): string[] {
    const n = this.vectorLength(4);
    const out: string[] = [];
    for (let i = 0; i < n; i++) out.push(this.string());
    return out;
  }
  acls(): Acl[] {
    const n = this.vectorLength(12);
    const out: Acl[] = [];
    for (let i = 0; i < n; i++) {
      const perms = this.int();
      const scheme = this.string();
      const id = this.string();
      out.push({ perms, id: { scheme, id } });
    }
    return out;
  }
  stat(): Stat {
    return {
      czxid: this.long(),
      mzxid: this.long(),
      ctime: this.long(),
      mtime: this.long(),
      version: this.int(),
      cversion: this.int(),
      aversion: this.int(),
      ephemeralOwner: this.bigLong(),
      dataLength: this.int(),
      numChildren: this.int(),
      pzxid: this.long(),
    };
  }
}

/** A growable big-endian writer. Frames are written with a placeholder length patched by `endFrame`. */
export class Writer {
  private buf: Buffer;
  private offset = 0;
  constructor(initialBytes = 256) {
    this.buf = Buffer.allocUnsafe(initialBytes);
  }
  get length(): number {
    return this.offset;
  }
  private ensure(n: number): void {
    if (this.offset + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.offset + n) size *= 2;
    const next = Buffer.allocUnsafe(size);
    this.buf.copy(next, 0, 0, this.offset);
    this.buf = next;
  }
  int(v: number): this {
    this.ensure(4);
    this.buf.writeInt32BE(v, this.offset);
    this.offset += 4;
    return this;
  }
  long(v: number): this {
    this.ensure(8);
    const hi = Math.floor(v / 0x1_0000_0000);
    this.buf.writeInt32BE(hi | 0, this.offset);
    this.buf.writeUInt32BE(v - hi * 0x1_0000_0000, this.offset + 4);
    this.offset += 8;
    return this;
  }
  bigLong(v: bigint): this {
    this.ensure(8);
    this.buf.writeBigInt64BE(BigInt.asIntN(64, v), this.offset);
    this.offset += 8;
    return this;
  }
  bool(v: boolean): this {
    this.ensure(1);
    this.buf[this.offset++] = v ? 1 : 0;
    return this;
  }
  buffer(v: Buffer | null): this {
    if (v === null) return this.int(-1);
    this.int(v.length);
    this.ensure(v.length);
    v.copy(this.buf, this.offset);
    this.offset += v.length;
    return this;
  }
  raw(v: Buffer): this {
    this.ensure(v.length);
    v.copy(this.buf, this.offset);
    this.offset += v.length;
    return this;
  }
  string(v: string | null): this {
    if (v === null) return this.int(-1);
    const len = Buffer.byteLength(v);
    this.int(len);
    this.ensure(len);
    this.buf.write(v, this.offset, len, 'utf8');
    this.offset += len;
    return this;
  }
  strings(v: readonly string[]): this {
    this.int(v.length);
    for (const s of v) this.string(s);
    return this;
  }
  acls(v: readonly Acl[]): this {
    this.int(v.length);
    for (const a of v) this.int(a.perms).string(a.id.scheme).string(a.id.id);
    return this;
  }
  stat(s: Stat): this {
    return this.long(s.czxid)
      .long(s.mzxid)
      .long(s.ctime)
      .long(s.mtime)
      .int(s.version)
      .int(s.cversion)
      .int(s.aversion)
      .bigLong(s.ephemeralOwner)
      .int(s.dataLength)
      .int(s.numChildren)
      .long(s.pzxid);
  }
  /** Reserves the 4-byte frame length; returns its position for `endFrame`. */
  beginFrame(): number {
    const at = this.offset;
    this.int(0);
    return at;
  }
  endFrame(at: number): void {
    this.buf.writeInt32BE(this.offset - at - 4, at);
  }
  /** The bytes written so far (a copy), and resets the writer for reuse. */
  take(): Buffer {
    const out = Buffer.from(this.buf.subarray(0, this.offset));
    this.offset = 0;
    return out;
  }
  /** A view of the bytes written so far (valid until the next write). */
  view(): Buffer {
    return this.buf.subarray(0, this.offset);
  }
}

// ---------------------------------------------------------------------------------------------
// Connect handshake

export interface ConnectRequest {
  protocolVersion: number;
  lastZxidSeen: number;
  timeOutMs: number;
  sessionId: bigint;
  passwd: Buffer;
  /** Present when the client sent the trailing readOnly byte (then the response carries one too). */
  readOnly: boolean | null;
}

export function decodeConnectRequest(frame: Buffer): ConnectRequest {
  const r = new Reader(frame);
  const protocolVersion = r.int();
  const lastZxidSeen = r.long();
  const timeOutMs = r.int();
  const sessionId = r.bigLong();
  const passwd = r.buffer();
  if (passwd.length > 16) throw new JuteError(`password of ${passwd.length} bytes`);
  const readOnly = r.remaining >= 1 ? r.bool() : null;
  return { protocolVersion, lastZxidSeen, timeOutMs, sessionId, passwd, readOnly };
}

export interface ConnectResponse {
  timeOutMs: number;
  sessionId: bigint;
  passwd: Buffer;
  readOnly: boolean | null;
}

export function encodeConnectResponse(w: Writer, rsp: ConnectResponse): void {
  const at = w.beginFrame();
  w.int(0).int(rsp.timeOutMs).bigLong(rsp.sessionId).buffer(rsp.passwd);
  if (rsp.readOnly !== null) w.bool(false);
  w.endFrame(at);
}

export function encodeConnectRequest(w: Writer, req: ConnectRequest): void {
  const at = w.beginFrame();
  w.int(req.protocolVersion).long(req.lastZxidSeen).int(req.timeOutMs).bigLong(req.sessionId).buffer(req.passwd);
  if (req.readOnly !== null) w.bool(req.readOnly);
  w.endFrame(at);
}

// ---------------------------------------------------------------------------------------------
// Requests

export type CreateRequest = { path: string; data: Buffer | null; acl: Acl[]; flags: number };
export type MultiOp =
  | ({ type: typeof OpCode.create | typeof OpCode.create2 } & CreateRequest)
  | { type: typeof OpCode.delete; path: string; version: number }
  | { type: typeof OpCode.setData; path: string; data: Buffer | null; version: number }
  | { type: typeof OpCode.check; path: string; version: number };

export type MultiReadOp = { type: typeof OpCode.getData | typeof OpCode.getChildren; path: string; watch: boolean };

export type RequestBody =
  | { type: typeof OpCode.ping | typeof OpCode.closeSession | typeof OpCode.whoAmI }
  | ({ type: typeof OpCode.create | typeof OpCode.create2 | typeof OpCode.createContainer } & CreateRequest)
  | { type: typeof OpCode.delete; path: string; version: number }
  | {
      type: typeof OpCode.exists | typeof OpCode.getData | typeof OpCode.getChildren | typeof OpCode.getChildren2;
      path: string;
      watch: boolean;
    }
  | { type: typeof OpCode.setData; path: string; data: Buffer | null; version: number }
  | {
      type:
        | typeof OpCode.getACL
        | typeof OpCode.sync
        | typeof OpCode.getAllChildrenNumber
        | typeof OpCode.getEphemerals;
      path: string;
    }
  | { type: typeof OpCode.setACL; path: string; acl: Acl[]; version: number }
  | { type: typeof OpCode.check; path: string; version: number }
  | { type: typeof OpCode.multi; ops: MultiOp[] }
  | { type: typeof OpCode.multiRead; ops: MultiReadOp[] }
  | { type: typeof OpCode.auth; authType: number; scheme: string; auth: Buffer }
  | ({ type: typeof OpCode.setWatches | typeof OpCode.setWatches2; relativeZxid: number } & WatchSet)
  | { type: typeof OpCode.addWatch; path: string; mode: number }
  | { type: typeof OpCode.removeWatches | typeof OpCode.checkWatches; path: string; watcherType: number };

/** The watches a reconnecting client re-registers (SetWatches; SetWatches2 adds the persistent ones). */
export interface WatchSet {
  dataWatches: string[];
  existWatches: string[];
  childWatches: string[];
  persistentWatches?: string[];
  persistentRecursiveWatches?: string[];
}

export interface Request {
  xid: number;
  body: RequestBody;
}

/** Thrown for a well-formed header carrying an opcode this server does not implement. */
export class UnknownOpcodeError extends JuteError {
  constructor(
    readonly xid: number,
    readonly opcode: number,
  ) {
    super(`unknown opcode ${opcode}`);
  }
}

/** Thrown when the header decodes but the body does not: the request can still be answered. */
export class BodyError extends JuteError {
  constructor(
    readonly xid: number,
    readonly opcode: number,
    cause: unknown,
  ) {
    super(`malformed body for opcode ${opcode}: ${cause instanceof Error ? cause.message : String(cause)}`);
  }
}

function readCreate(r: Reader): CreateRequest {
  const path = r.string();
  const data = r.bufferOrNull();
  const acl = r.acls();
  const flags = r.int();
  return { path, data, acl, flags };
}

function readMulti(r: Reader): MultiOp[] {
  const ops: MultiOp[] = [];
  for (;;) {
    const type = r.int();
    const done = r.bool();
    r.int(); // err, always -1 in requests
    if (done) return ops;
    switch (type) {
      case OpCode.create:
      case OpCode.create2:
        ops.push({ type, ...readCreate(r) });
        break;
      case OpCode.delete:
        ops.push({ type, path: r.string(), version: r.int() });
        break;
      case OpCode.setData:
        ops.push({ type, path: r.string(), data: r.bufferOrNull(), version: r.int() });
        break;
      case OpCode.check:
        ops.push({ type, path: r.string(), version: r.int() });
        break;
      default:
        throw new JuteError(`unsupported multi op type ${type}`);
    }
    if (ops.length > 100_000) throw new JuteError('too many multi ops');
  }
}

function readMultiRead(r: Reader): MultiReadOp[] {
  const ops: MultiReadOp[] = [];
  for (;;) {
    const type = r.int();
    const done = r.bool();
    r.int();
    if (done) return ops;
    if (type !== OpCode.getData && type !== OpCode.getChildren)
      throw new JuteError(`unsupported multiRead op type ${type}`);
    ops.push({ type, path: r.string(), watch: r.bool() });
    if (ops.length > 100_000) throw new JuteError('too many multiRead ops');
  }
}

function readBody(type: number, r: Reader): RequestBody {
  switch (type) {
    case OpCode.ping:
    case OpCode.closeSession:
    case OpCode.whoAmI:
      return { type };
    case OpCode.create:
    case OpCode.create2:
    case OpCode.createContainer:
      return { type, ...readCreate(r) };
    case OpCode.delete:
      return { type, path: r.string(), version: r.int() };
    case OpCode.exists:
    case OpCode.getData:
    case OpCode.getChildren:
    case OpCode.getChildren2:
      return { type, path: r.string(), watch: r.bool() };
    case OpCode.setData:
      return { type, path: r.string(), data: r.bufferOrNull(), version: r.int() };
    case OpCode.getACL:
    case OpCode.sync:
    case OpCode.getAllChildrenNumber:
    case OpCode.getEphemerals:
      return { type, path: r.string() };
    case OpCode.setACL:
      return { type, path: r.string(), acl: r.acls(), version: r.int() };
    case OpCode.check:
      return { type, path: r.string(), version: r.int() };
    case OpCode.multi:
      return { type, ops: readMulti(r) };
    case OpCode.multiRead:
      return { type, ops: readMultiRead(r) };
    case OpCode.auth:
      return { type, authType: r.int(), scheme: r.string(), auth: r.buffer() };
    case OpCode.setWatches:
      return {
        type,
        relativeZxid: r.long(),
        dataWatches: r.strings(),
        existWatches: r.strings(),
        childWatches: r.strings(),
      };
    case OpCode.setWatches2:
      return {
        type,
        relativeZxid: r.long(),
        dataWatches: r.strings(),
        existWatches: r.strings(),
        childWatches: r.strings(),
        persistentWatches: r.strings(),
        persistentRecursiveWatches: r.strings(),
      };
    case OpCode.addWatch:
      return { type, path: r.string(), mode: r.int() };
    case OpCode.removeWatches:
    case OpCode.checkWatches:
      return { type, path: r.string(), watcherType: r.int() };
    default:
      throw new Error('unreachable');
  }
}

const KNOWN_OPCODES: ReadonlySet<number> = new Set([
  OpCode.ping,
  OpCode.closeSession,
  OpCode.whoAmI,
  OpCode.create,
  OpCode.create2,
  OpCode.createContainer,
  OpCode.delete,
  OpCode.exists,
  OpCode.getData,
  OpCode.getChildren,
  OpCode.getChildren2,
  OpCode.setData,
  OpCode.getACL,
  OpCode.sync,
  OpCode.getAllChildrenNumber,
  OpCode.getEphemerals,
  OpCode.setACL,
  OpCode.check,
  OpCode.multi,
  OpCode.multiRead,
  OpCode.auth,
  OpCode.setWatches,
  OpCode.setWatches2,
  OpCode.addWatch,
  OpCode.removeWatches,
  OpCode.checkWatches,
]);

/**
 * Decodes one request frame (without its length prefix). Throws `JuteError` if even the header is
 * unreadable, `UnknownOpcodeError` for an unknown opcode and `BodyError` for a malformed body.
 * Trailing bytes after a well-formed body are ignored, as ZooKeeper does.
 */
export function decodeRequest(frame: Buffer): Request {
  const r = new Reader(frame);
  const xid = r.int();
  const type = r.int();
  if (!KNOWN_OPCODES.has(type)) throw new UnknownOpcodeError(xid, type);
  try {
    return { xid, body: readBody(type, r) };
  } catch (err) {
    if (err instanceof JuteError) throw new BodyError(xid, type, err);
    throw err;
  }
}

/** Encodes a request frame (used by tests and tools that act as a client). */
export function encodeRequest(w: Writer, req: Request): void {
  const at = w.beginFrame();
  const b = req.body;
  w.int(req.xid).int(b.type);
  switch (b.type) {
    case OpCode.ping:
    case OpCode.closeSession:
    case OpCode.whoAmI:
      break;
    case OpCode.create:
    case OpCode.create2:
    case OpCode.createContainer:
      w.string(b.path).buffer(b.data).acls(b.acl).int(b.flags);
      break;
    case OpCode.delete:
    case OpCode.check:
      w.string(b.path).int(b.version);
      break;
    case OpCode.exists:
    case OpCode.getData:
    case OpCode.getChildren:
    case OpCode.getChildren2:
      w.string(b.path).bool(b.watch);
      break;
    case OpCode.setData:
      w.string(b.path).buffer(b.data).int(b.version);
      break;
    case OpCode.getACL:
    case OpCode.sync:
    case OpCode.getAllChildrenNumber:
    case OpCode.getEphemerals:
      w.string(b.path);
      break;
    case OpCode.setACL:
      w.string(b.path).acls(b.acl).int(b.version);
      break;
    case OpCode.multi:
      for (const op of b.ops) {
        w.int(op.type).bool(false).int(-1);
        if (op.type === OpCode.create || op.type === OpCode.create2)
          w.string(op.path).buffer(op.data).acls(op.acl).int(op.flags);
        else if (op.type === OpCode.setData) w.string(op.path).buffer(op.data).int(op.version);
        else if (op.type === OpCode.delete || op.type === OpCode.check) w.string(op.path).int(op.version);
      }
      w.int(-1).bool(true).int(-1);
      break;
    case OpCode.multiRead:
      for (const op of b.ops) w.int(op.type).bool(false).int(-1).string(op.path).bool(op.watch);
      w.int(-1).bool(true).int(-1);
      break;
    case OpCode.auth:
      w.int(b.authType).string(b.scheme).buffer(b.auth);
      break;
    case OpCode.setWatches:
      w.long(b.relativeZxid).strings(b.dataWatches).strings(b.existWatches).strings(b.childWatches);
      break;
    case OpCode.setWatches2:
      w.long(b.relativeZxid).strings(b.dataWatches).strings(b.existWatches).strings(b.childWatches);
      w.strings(b.persistentWatches ?? []).strings(b.persistentRecursiveWatches ?? []);
      break;
    case OpCode.addWatch:
      w.string(b.path).int(b.mode);
      break;
    case OpCode.removeWatches:
    case OpCode.checkWatches:
      w.string(b.path).int(b.watcherType);
      break;
  }
  w.endFrame(at);
}

// ---------------------------------------------------------------------------------------------
// Responses

export type MultiResult =
  | { type: typeof OpCode.create; path: string }
  | { type: typeof OpCode.create2; path: string; stat: Stat }
  | { type: typeof OpCode.delete | typeof OpCode.check }
  | { type: typeof OpCode.setData; stat: Stat }
  | { type: typeof OpCode.error; err: number };

export type ResponseBody =
  | { kind: 'none' }
  | { kind: 'path'; path: string }
  | { kind: 'pathStat'; path: string; stat: Stat }
  | { kind: 'stat'; stat: Stat }
  | { kind: 'data'; data: Buffer | null; stat: Stat }
  | { kind: 'children'; children: string[] }
  | { kind: 'children2'; children: string[]; stat: Stat }
  | { kind: 'acl'; acl: Acl[]; stat: Stat }
  | { kind: 'count'; count: number }
  | { kind: 'strings'; strings: string[] }
  | { kind: 'multi'; results: MultiResult[] }
  | { kind: 'multiRead'; results: MultiReadResult[] }
  | { kind: 'ids'; ids: Id[] };

export type MultiReadResult =
  | { type: typeof OpCode.getChildren; children: string[] }
  | { type: typeof OpCode.getData; data: Buffer | null; stat: Stat }
  | { type: typeof OpCode.error; err: number };

export const NO_BODY: ResponseBody = { kind: 'none' };

/** Encodes a reply frame: ReplyHeader(xid, zxid, err), then the body when err is 0. */
export function encodeReply(w: Writer, xid: number, zxid: number, err: number, body: ResponseBody): void {
  const at = w.beginFrame();
  w.int(xid).long(zxid).int(err);
  if (err === 0) writeBody(w, body);
  w.endFrame(at);
}

function writeBody(w: Writer, body: ResponseBody): void {
  switch (body.kind) {
    case 'none':
      return;
    case 'path':
      w.string(body.path);
      return;
    case 'pathStat':
      w.string(body.path).stat(body.stat);
      return;
    case 'stat':
      w.stat(body.stat);
      return;
    case 'data':
      w.buffer(body.data).stat(body.stat);
      return;
    case 'children':
      w.strings(body.children);
      return;
    case 'children2':
      w.strings(body.children).stat(body.stat);
      return;
    case 'acl':
      w.acls(body.acl).stat(body.stat);
      return;
    case 'count':
      w.int(body.count);
      return;
    case 'strings':
      w.strings(body.strings);
      return;
    case 'multi':
      for (const res of body.results) {
        w.int(res.type)
          .bool(false)
          .int(res.type === OpCode.error ? res.err : 0);
        switch (res.type) {
          case OpCode.create:
            w.string(res.path);
            break;
          case OpCode.create2:
            w.string(res.path).stat(res.stat);
            break;
          case OpCode.setData:
            w.stat(res.stat);
            break;
          case OpCode.error:
            w.int(res.err);
            break;
          default:
            break;
        }
      }
      w.int(-1).bool(true).int(-1);
      return;
    case 'ids':
      w.int(body.ids.length);
      for (const id of body.ids) w.string(id.scheme).string(id.id);
      return;
    case 'multiRead':
      for (const res of body.results) {
        w.int(res.type)
          .bool(false)
          .int(res.type === OpCode.error ? res.err : 0);
        if (res.type === OpCode.getChildren) w.strings(res.children);
        else if (res.type === OpCode.getData) w.buffer(res.data).stat(res.stat);
        else w.int(res.err);
      }
      w.int(-1).bool(true).int(-1);
      return;
  }
}

/** Encodes a watch notification: ReplyHeader(-1, -1, 0) then WatcherEvent(type, state, path). */
export function encodeWatchEvent(w: Writer, type: number, state: number, path: string): void {
  const at = w.beginFrame();
  w.int(-1).long(-1).int(0).int(type).int(state).string(path);
  w.endFrame(at);
}

// ---------------------------------------------------------------------------------------------
// Framing

/**
 * Splits a byte stream into length-prefixed frames. `push` returns the complete frames; a length
 * that is negative or above `maxFrameBytes` throws `JuteError` (the connection must be closed).
 */
export class FrameDecoder {
  private pending: Buffer = Buffer.alloc(0);
  constructor(private readonly maxFrameBytes: number) {}

  get bufferedBytes(): number {
    return this.pending.length;
  }

  push(chunk: Buffer): Buffer[] {
    const buf = this.pending.length === 0 ? chunk : Buffer.concat([this.pending, chunk]);
    const frames: Buffer[] = [];
    let off = 0;
    while (buf.length - off >= 4) {
      const len = buf.readInt32BE(off);
      if (len < 0 || len > this.maxFrameBytes) {
        this.pending = Buffer.alloc(0);
        throw new JuteError(`frame length ${len} outside [0, ${this.maxFrameBytes}]`);
      }
      if (buf.length - off - 4 < len) break;
      frames.push(buf.subarray(off + 4, off + 4 + len));
      off += 4 + len;
    }
    this.pending = off === buf.length ? Buffer.alloc(0) : Buffer.from(buf.subarray(off));
    return frames;
  }
}
