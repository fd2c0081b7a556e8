/**
 * A minimal ZooKeeper wire-protocol (jute over TCP) client for what node-zookeeper-client cannot do:
 * `sync`, paths the library would reject before sending, exact per-frame order of replies and watch
 * notifications, and dropping a connection without closing its session.
 *
 * Frames are a 4-byte big-endian length and a body; the first exchange is ConnectRequest/ConnectResponse,
 * then RequestHeader(xid, type) + request / ReplyHeader(xid, zxid, err) + response.
 */
import { connect, type Socket } from 'node:net';
import { deferred, withTimeout, type Deferred } from './wait.js';

export const OpCode = {
  notification: 0,
  create: 1,
  delete: 2,
  exists: 3,
  getData: 4,
  setData: 5,
  getACL: 6,
  setACL: 7,
  getChildren: 8,
  sync: 9,
  ping: 11,
  getChildren2: 12,
  check: 13,
  multi: 14,
  create2: 15,
  setWatches: 101,
  closeSession: -11,
} as const;

const XID_NOTIFICATION = -1;
const XID_PING = -2;
/** The xid real clients use for SetWatches after a reconnect. */
export const XID_SET_WATCHES = -8;
/** Refuse frames above ZooKeeper's default jute.maxbuffer. */
const MAX_FRAME_BYTES = 1024 * 1024 + 1024;

export interface WireStat {
  czxid: bigint;
  mzxid: bigint;
  ctime: bigint;
  mtime: bigint;
  version: number;
  cversion: number;
  aversion: number;
  ephemeralOwner: bigint;
  dataLength: number;
  numChildren: number;
  pzxid: bigint;
}

export interface WireReply {
  xid: number;
  zxid: bigint;
  err: number;
  body: Buffer;
}

export interface WireNotification {
  type: number;
  state: number;
  path: string;
  /** The zxid in the notification's reply header. */
  zxid: bigint;
}

/** Everything received, in arrival order: replies and notifications interleaved. */
export type WireFrame = { kind: 'reply'; reply: WireReply } | { kind: 'notification'; event: WireNotification };

export interface WireConnectOptions {
  sessionTimeoutMs?: number;
  /** Reattach to this session (0n = new session). */
  sessionId?: bigint;
  password?: Buffer;
  lastZxidSeen?: bigint;
  timeoutMs?: number;
  /** Append the readOnly flag to the ConnectRequest, as the Java client does. */
  readOnlyFlag?: boolean;
  /** Send pings to keep the session alive (default true). */
  ping?: boolean;
}

export type WireMultiOp =
  | { op: 'create'; path: string; data?: Buffer | null; flags?: number }
  | { op: 'delete'; path: string; version?: number }
  | { op: 'setData'; path: string; data: Buffer | null; version?: number }
  | { op: 'check'; path: string; version: number };

export interface WireMultiResult {
  /** The error code in the reply header. */
  err: number;
  zxid: bigint;
  /** One entry per op: its result type (OpCode, or -1 for an error result) and error code. */
  results: { type: number; err: number; path?: string | null; stat?: WireStat }[];
}

export interface WireAcl {
  perms: number;
  scheme: string;
  id: string;
}

export class JuteWriter {
  private readonly chunks: Buffer[] = [];

  int(value: number): this {
    const buffer = Buffer.alloc(4);
    buffer.writeInt32BE(value);
    this.chunks.push(buffer);
    return this;
  }

  long(value: bigint): this {
    const buffer = Buffer.alloc(8);
    buffer.writeBigInt64BE(value);
    this.chunks.push(buffer);
    return this;
  }

  bool(value: boolean): this {
    this.chunks.push(Buffer.from([value ? 1 : 0]));
    return this;
  }

  buffer(value: Buffer | null): this {
    if (value === null) return this.int(-1);
    this.int(value.length);
    this.chunks.push(value);
    return this;
  }

  string(value: string): this {
    return this.buffer(Buffer.from(value, 'utf8'));
  }

  /** The world:anyone ACL with all permissions, as a one-element vector. */
  openAcl(): this {
    return this.int(1).int(31).string('world').string('anyone');
  }

  acl(entries: WireAcl[]): this {
    this.int(entries.length);
    for (const entry of entries) this.int(entry.perms).string(entry.scheme).string(entry.id);
    return this;
  }

  strings(values: string[]): this {
    this.int(values.length);
    for (const value of values) this.string(value);
    return this;
  }

  toBuffer(): Buffer {
    return Buffer.concat(this.chunks);
  }
}

export class JuteReader {
  private offset = 0;

  constructor(private readonly data: Buffer) {}

  int(): number {
    const value = this.data.readInt32BE(this.offset);
    this.offset += 4;
    return value;
  }

  long(): bigint {
    const value = this.data.readBigInt64BE(this.offset);
    this.offset += 8;
    return value;
  }

  bool(): boolean {
    return this.data[this.offset++] !== 0;
  }

  buffer(): Buffer | null {
    const length = this.int();
    if (length < 0) return null;
    const value = this.data.subarray(this.offset, this.offset + length);
    this.offset += length;
    return Buffer.from(value);
  }

  string(): string | null {
    const value = this.buffer();
    return value === null ? null : value.toString('utf8');
  }

  stat(): WireStat {
    return {
      czxid: this.long(),
      mzxid: this.long(),
      ctime: this.long(),
      mtime: this.long(),
      version: this.int(),
      cversion: this.int(),
      aversion: this.int(),
      ephemeralOwner: this.long(),
      dataLength: this.int(),
      numChildren: this.int(),
      pzxid: this.long(),
    };
  }

  remaining(): number {
    return this.data.length - this.offset;
  }
}

export interface WireSession {
  id: bigint;
  password: Buffer;
  /** The negotiated timeout; 0 when the server refused the session. */
  timeoutMs: number;
  /** The server answered with a zero timeout (an expired or unknown session, a bad password). */
  expired: boolean;
  /** The server closed the connection without answering the ConnectRequest at all. */
  refused: boolean;
  readOnly: boolean;
  /** Whether the ConnectResponse carried the trailing readOnly byte (ZooKeeper 3.4+ always sends it). */
  hasReadOnlyByte: boolean;
}

export class WireClient {
  /** Replies and notifications in arrival order. */
  readonly frames: WireFrame[] = [];
  readonly closed: Promise<void>;
  /** The highest zxid seen in a reply header, as a client would send it when reconnecting. */
  lastZxid = 0n;
  private readonly pending = new Map<number, Deferred<WireReply>>();
  private nextXid = 1;
  private pingTimer: NodeJS.Timeout | undefined;
  private isClosed = false;

  private constructor(
    private readonly socket: Socket,
    /** The session as the server answered; `expired` when it refused to (re)attach it. */
    readonly session: WireSession,
    closed: Promise<void>,
    ping = true,
  ) {
    this.closed = closed;
    if (!session.expired && ping) {
      this.pingTimer = setInterval(() => this.ping(), Math.max(100, Math.floor(session.timeoutMs / 3)));
      this.pingTimer.unref();
    }
  }

  static async connect(host: string, port: number, options: WireConnectOptions = {}): Promise<WireClient> {
    const socket = connect({ host, port });
    socket.setNoDelay(true);
    const frames = frameReader(socket);
    const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
    socket.on('error', () => {});
    const writer = new JuteWriter()
      .int(0)
      .long(options.lastZxidSeen ?? 0n)
      .int(options.sessionTimeoutMs ?? 10_000)
      .long(options.sessionId ?? 0n)
      .buffer(options.password ?? Buffer.alloc(16));
    if (options.readOnlyFlag) writer.bool(false);
    const request = writer.toBuffer();
    socket.write(frame(request));
    const first = await withTimeout(
      frames.next(),
      options.timeoutMs ?? 10_000,
      `a ConnectResponse from ${host}:${port}`,
    );
    if (first === null) {
      // ZooKeeper closes the socket instead of answering some refusals.
      return new WireClient(
        socket,
        {
          id: 0n,
          password: Buffer.alloc(0),
          timeoutMs: 0,
          expired: true,
          refused: true,
          readOnly: false,
          hasReadOnlyByte: false,
        },
        closed,
      );
    }
    const reader = new JuteReader(first);
    reader.int(); // protocol version
    const timeoutMs = reader.int();
    const id = reader.long();
    const password = reader.buffer() ?? Buffer.alloc(0);
    const hasReadOnlyByte = reader.remaining() > 0;
    const readOnly = hasReadOnlyByte ? reader.bool() : false;
    const session = { id, password, timeoutMs, expired: timeoutMs <= 0, refused: false, readOnly, hasReadOnlyByte };
    const client = new WireClient(socket, session, closed, options.ping ?? true);
    void client.pump(frames);
    void closed.then(() => client.onClosed());
    return client;
  }

  /** Sends one request and resolves with its reply (whatever its error code). */
  request(type: number, body: Buffer = Buffer.alloc(0), xid = this.nextXid++): Promise<WireReply> {
    if (this.isClosed) return Promise.reject(new Error('connection closed'));
    const reply = deferred<WireReply>();
    this.pending.set(xid, reply);
    this.socket.write(frame(Buffer.concat([new JuteWriter().int(xid).int(type).toBuffer(), body])));
    return withTimeout(reply.promise, 10_000, `the reply to op ${type} (xid ${xid})`);
  }

  async create(
    path: string,
    data: Buffer | null,
    flags = 0,
    acl?: WireAcl[],
  ): Promise<{ err: number; zxid: bigint; path: string | null }> {
    const writer = new JuteWriter().string(path).buffer(data);
    if (acl) writer.acl(acl);
    else writer.openAcl();
    const reply = await this.request(OpCode.create, writer.int(flags).toBuffer());
    return { err: reply.err, zxid: reply.zxid, path: reply.err === 0 ? new JuteReader(reply.body).string() : null };
  }

  /** create2: like create, and the reply carries the new node's stat. */
  async create2(
    path: string,
    data: Buffer | null,
    flags = 0,
  ): Promise<{ err: number; zxid: bigint; path: string | null; stat: WireStat | null }> {
    const reply = await this.request(
      OpCode.create2,
      new JuteWriter().string(path).buffer(data).openAcl().int(flags).toBuffer(),
    );
    if (reply.err !== 0) return { err: reply.err, zxid: reply.zxid, path: null, stat: null };
    const reader = new JuteReader(reply.body);
    return { err: 0, zxid: reply.zxid, path: reader.string(), stat: reader.stat() };
  }

  async setACL(path: string, acl: WireAcl[], version = -1): Promise<{ err: number; stat: WireStat | null }> {
    const reply = await this.request(OpCode.setACL, new JuteWriter().string(path).acl(acl).int(version).toBuffer());
    return { err: reply.err, stat: reply.err === 0 ? new JuteReader(reply.body).stat() : null };
  }

  /** getChildren (op 8): names only, no stat. */
  async getChildrenNoStat(
    path: string,
    watch = false,
  ): Promise<{ err: number; children: string[]; trailingBytes: number }> {
    const reply = await this.request(OpCode.getChildren, new JuteWriter().string(path).bool(watch).toBuffer());
    if (reply.err !== 0) return { err: reply.err, children: [], trailingBytes: 0 };
    const reader = new JuteReader(reply.body);
    const count = reader.int();
    const children: string[] = [];
    for (let i = 0; i < count; i++) children.push(reader.string() ?? '');
    return { err: 0, children, trailingBytes: reader.remaining() };
  }

  /** SetWatches, as a client sends it after reconnecting: watches to restore, relative to a zxid. */
  async setWatches(
    relativeZxid: bigint,
    watches: { data?: string[]; exist?: string[]; child?: string[] },
  ): Promise<WireReply> {
    const body = new JuteWriter()
      .long(relativeZxid)
      .strings(watches.data ?? [])
      .strings(watches.exist ?? [])
      .strings(watches.child ?? [])
      .toBuffer();
    return this.request(OpCode.setWatches, body, XID_SET_WATCHES);
  }

  async getData(path: string, watch = false): Promise<{ err: number; data: Buffer | null; stat: WireStat | null }> {
    const reply = await this.request(OpCode.getData, new JuteWriter().string(path).bool(watch).toBuffer());
    if (reply.err !== 0) return { err: reply.err, data: null, stat: null };
    const reader = new JuteReader(reply.body);
    return { err: 0, data: reader.buffer(), stat: reader.stat() };
  }

  async exists(path: string, watch = false): Promise<{ err: number; stat: WireStat | null }> {
    const reply = await this.request(OpCode.exists, new JuteWriter().string(path).bool(watch).toBuffer());
    return { err: reply.err, stat: reply.err === 0 ? new JuteReader(reply.body).stat() : null };
  }

  async setData(path: string, data: Buffer | null, version = -1): Promise<{ err: number; stat: WireStat | null }> {
    const reply = await this.request(
      OpCode.setData,
      new JuteWriter().string(path).buffer(data).int(version).toBuffer(),
    );
    return { err: reply.err, stat: reply.err === 0 ? new JuteReader(reply.body).stat() : null };
  }

  async delete(path: string, version = -1): Promise<{ err: number }> {
    const reply = await this.request(OpCode.delete, new JuteWriter().string(path).int(version).toBuffer());
    return { err: reply.err };
  }

  async getChildren(path: string, watch = false): Promise<{ err: number; children: string[] }> {
    const reply = await this.request(OpCode.getChildren2, new JuteWriter().string(path).bool(watch).toBuffer());
    if (reply.err !== 0) return { err: reply.err, children: [] };
    const reader = new JuteReader(reply.body);
    const count = reader.int();
    const children: string[] = [];
    for (let i = 0; i < count; i++) children.push(reader.string() ?? '');
    return { err: 0, children };
  }

  async multi(ops: WireMultiOp[]): Promise<WireMultiResult> {
    const writer = new JuteWriter();
    for (const op of ops) {
      const type = OpCode[op.op];
      writer.int(type).bool(false).int(-1);
      if (op.op === 'create')
        writer
          .string(op.path)
          .buffer(op.data ?? null)
          .openAcl()
          .int(op.flags ?? 0);
      else if (op.op === 'delete') writer.string(op.path).int(op.version ?? -1);
      else if (op.op === 'setData')
        writer
          .string(op.path)
          .buffer(op.data)
          .int(op.version ?? -1);
      else writer.string(op.path).int(op.version);
    }
    writer.int(-1).bool(true).int(-1);
    const reply = await this.request(OpCode.multi, writer.toBuffer());
    const results: WireMultiResult['results'] = [];
    if (reply.body.length > 0) {
      const reader = new JuteReader(reply.body);
      for (;;) {
        const type = reader.int();
        const done = reader.bool();
        const err = reader.int();
        if (done) break;
        if (type === OpCode.create) results.push({ type, err, path: reader.string() });
        else if (type === OpCode.setData) results.push({ type, err, stat: reader.stat() });
        else if (type === -1) results.push({ type, err: reader.int() });
        else results.push({ type, err });
      }
    }
    return { err: reply.err, zxid: reply.zxid, results };
  }

  async sync(path: string): Promise<{ err: number; path: string | null }> {
    const reply = await this.request(OpCode.sync, new JuteWriter().string(path).toBuffer());
    return { err: reply.err, path: reply.err === 0 ? new JuteReader(reply.body).string() : null };
  }

  /** Closes the session (ephemerals go) and waits for the server to close the connection. */
  async closeSession(): Promise<{ err: number }> {
    const reply = await this.request(OpCode.closeSession);
    await withTimeout(this.closed, 5_000, 'the server to close the connection after closeSession');
    return { err: reply.err };
  }

  /** Drops the TCP connection and leaves the session to expire. */
  abandon(): void {
    this.stopPinging();
    this.socket.destroy();
  }

  connectionClosed(): boolean {
    return this.isClosed;
  }

  private ping(): void {
    if (this.isClosed) return;
    this.socket.write(frame(new JuteWriter().int(XID_PING).int(OpCode.ping).toBuffer()));
  }

  private stopPinging(): void {
    if (this.pingTimer) clearInterval(this.pingTimer);
    this.pingTimer = undefined;
  }

  private async pump(frames: FrameReader): Promise<void> {
    for (;;) {
      const body = await frames.next();
      if (body === null) return;
      const reader = new JuteReader(body);
      const xid = reader.int();
      const zxid = reader.long();
      const err = reader.int();
      if (xid === XID_PING) continue;
      if (xid === XID_NOTIFICATION) {
        const rest = new JuteReader(body.subarray(16));
        this.frames.push({
          kind: 'notification',
          event: { type: rest.int(), state: rest.int(), path: rest.string() ?? '', zxid },
        });
        continue;
      }
      const reply: WireReply = { xid, zxid, err, body: Buffer.from(body.subarray(16)) };
      if (zxid > this.lastZxid) this.lastZxid = zxid;
      this.frames.push({ kind: 'reply', reply });
      this.pending.get(xid)?.resolve(reply);
      this.pending.delete(xid);
    }
  }

  private onClosed(): void {
    this.isClosed = true;
    this.stopPinging();
    for (const waiting of this.pending.values()) waiting.reject(new Error('connection closed'));
    this.pending.clear();
  }
}

function frame(body: Buffer): Buffer {
  const length = Buffer.alloc(4);
  length.writeInt32BE(body.length);
  return Buffer.concat([length, body]);
}

interface FrameReader {
  /** The next frame body, or null once the socket has closed. */
  next(): Promise<Buffer | null>;
}

function frameReader(socket: Socket): FrameReader {
  let buffered = Buffer.alloc(0);
  let ended = false;
  const ready: Buffer[] = [];
  let waiter: Deferred<Buffer | null> | undefined;
  const deliver = () => {
    if (!waiter) return;
    const next = ready.shift();
    if (next) {
      const w = waiter;
      waiter = undefined;
      w.resolve(next);
    } else if (ended) {
      const w = waiter;
      waiter = undefined;
      w.resolve(null);
    }
  };
  socket.on('data', (chunk: Buffer) => {
    buffered = Buffer.concat([buffered, chunk]);
    while (buffered.length >= 4) {
      const length = buffered.readInt32BE(0);
      if (length < 0 || length > MAX_FRAME_BYTES) {
        socket.destroy(new Error(`bad frame length ${length}`));
        return;
      }
      if (buffered.length < 4 + length) break;
      ready.push(Buffer.from(buffered.subarray(4, 4 + length)));
      buffered = buffered.subarray(4 + length);
    }
    deliver();
  });
  socket.once('close', () => {
    ended = true;
    deliver();
  });
  return {
    next() {
      const next = ready.shift();
      if (next) return Promise.resolve(next);
      if (ended) return Promise.resolve(null);
      waiter = deferred<Buffer | null>();
      return waiter.promise;
    },
  };
}
