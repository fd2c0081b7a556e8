/**
 * The coordinator's pure core: the data tree, sessions and watches.
 *
 * No sockets, timers, clocks or files: every input carries the time (`nowMs`), and every call returns
 * the outputs in the order they must happen: transactions to make durable, then the replies, watch
 * events and connection closes that depend on them. The edge appends each `txn` output to the log
 * and must not deliver any later output before that txn is fsynced ("persist before acknowledging").
 *
 * Writes are validated against the current tree, turned into a `Txn` (the same record the log holds),
 * and applied with `applyTxn`, the function recovery replays, so a replayed log rebuilds exactly the
 * tree the clients saw. Failed writes consume a zxid and log an error txn, as ZooKeeper does.
 */
import {
  type Acl,
  type ConnectRequest,
  type ConnectResponse,
  type CreateRequest,
  type Id,
  type MultiOp,
  type MultiReadResult,
  type MultiResult,
  type Request,
  type ResponseBody,
  type Stat,
  type WatchSet,
  NO_BODY,
} from './jute.js';
import { childName, invalidPathReason, parentOf } from './paths.js';
import { checkAcl, digestId, fixupAcl } from './acl.js';
import { CONTAINER_OWNER, CreateFlags, ErrorCode, EventType, KeeperError, OpCode, Perms, Xid } from './protocol.js';
import { TABLES_BY_WATCHER_TYPE, WatchMode, WatchRegistry, type Trigger } from './watches.js';

export interface CoreOptions {
  minSessionTimeoutMs: number;
  maxSessionTimeoutMs: number;
  /** 16 fresh random bytes per session (an input so tests stay deterministic). */
  newPassword: () => Buffer;
  /** First session id to hand out (ZooKeeper derives it from the clock at startup). */
  sessionIdBase: bigint;
  /** How often `tick` deletes empty containers that once had children (ZooKeeper: 60 s). */
  containerCheckIntervalMs?: number;
  /**
   * ZooKeeper's tickTime: session deadlines are rounded up to the next multiple of it (its expiry
   * buckets), so a session expires between its timeout and one tick later. Omitted: exact deadlines.
   */
  tickTimeMs?: number;
}

export type TxnOp =
  | { type: 'createSession'; timeoutMs: number; passwd: Buffer }
  | { type: 'closeSession' }
  | { type: 'create'; path: string; data: Buffer | null; acl: Acl[]; ephemeralOwner: bigint; parentCversion: number }
  | { type: 'delete'; path: string }
  | { type: 'setData'; path: string; data: Buffer | null; version: number }
  | { type: 'setACL'; path: string; acl: Acl[]; aversion: number }
  | { type: 'check'; path: string }
  | { type: 'error'; err: number }
  | { type: 'multi'; ops: TxnOp[] };

export interface Txn {
  zxid: number;
  timeMs: number;
  sessionId: bigint;
  op: TxnOp;
}

export type Output =
  | { kind: 'txn'; txn: Txn }
  | { kind: 'connected'; connId: number; rsp: ConnectResponse }
  | { kind: 'reply'; connId: number; xid: number; zxid: number; err: number; body: ResponseBody; opcode: number }
  | { kind: 'event'; connId: number; type: number; path: string }
  | { kind: 'close'; connId: number; reason: string };

export interface ZNode {
  /** null and empty are different to clients (getData returns null or an empty buffer). */
  data: Buffer | null;
  acl: Acl[];
  czxid: number;
  mzxid: number;
  pzxid: number;
  ctime: number;
  mtime: number;
  version: number;
  /**
   * ZooKeeper stores the number of child creations and reports 2 * that - numChildren as the Stat's
   * cversion (so a delete shows as a change too); sequential suffixes use the stored count.
   */
  cversion: number;
  aversion: number;
  ephemeralOwner: bigint;
  children: Set<string>;
}

export interface SessionState {
  id: bigint;
  timeoutMs: number;
  passwd: Buffer;
  expiresAtMs: number;
  connId: number | null;
  ephemerals: Set<string>;
}

export interface SnapshotData {
  zxid: number;
  highestSessionId: bigint;
  sessions: Array<{ id: bigint; timeoutMs: number; passwd: Buffer }>;
  nodes: Array<{ path: string; node: ZNode }>;
}

interface ConnState {
  sessionId: bigint;
  authIds: Id[];
}

export { KeeperError };

const OPEN_ACL: Acl[] = [{ perms: Perms.ALL, id: { scheme: 'world', id: 'anyone' } }];
const SPECIAL_PATHS: ReadonlySet<string> = new Set(['/', '/zookeeper', '/zookeeper/quota', '/zookeeper/config']);

function newNode(partial: Partial<ZNode>): ZNode {
  return {
    data: null,
    acl: OPEN_ACL,
    czxid: 0,
    mzxid: 0,
    pzxid: 0,
    ctime: 0,
    mtime: 0,
    version: 0,
    cversion: 0,
    aversion: 0,
    ephemeralOwner: 0n,
    children: new Set(),
    ...partial,
  };
}

export function statOf(n: ZNode): Stat {
  return {
    czxid: n.czxid,
    mzxid: n.mzxid,
    ctime: n.ctime,
    mtime: n.mtime,
    version: n.version,
    cversion: (2 * n.cversion - n.children.size) | 0,
    aversion: n.aversion,
    ephemeralOwner: n.ephemeralOwner === CONTAINER_OWNER ? 0n : n.ephemeralOwner,
    dataLength: n.data === null ? 0 : n.data.length,
    numChildren: n.children.size,
    pzxid: n.pzxid,
  };
}

function checkVersion(current: number, expected: number): number {
  if (expected !== -1 && expected !== current) throw new KeeperError(ErrorCode.BADVERSION);
  return (current + 1) | 0;
}

function bufferEquals(a: Buffer, b: Buffer): boolean {
  return a.length === b.length && a.equals(b);
}

export class CoordinatorCore {
  private readonly nodes = new Map<string, ZNode>();
  private readonly sessions = new Map<bigint, SessionState>();
  private readonly conns = new Map<number, ConnState>();
  private readonly watches = new WatchRegistry();
  private lastZxid = 0;
  /** Nodes share ACL lists (like ZooKeeper's ACL cache); bounded so odd clients cannot grow it forever. */
  private readonly aclCache = new Map<string, Acl[]>();
  private readonly containers = new Set<string>();
  private nextContainerCheckMs = 0;
  private highestSessionId = 0n;
  private nextSessionId: bigint;

  constructor(private readonly options: CoreOptions) {
    this.nextSessionId = options.sessionIdBase;
    // The tree a fresh ZooKeeper 3.8 starts with (its system nodes were not created by txns).
    this.nodes.set('/', newNode({ children: new Set(['zookeeper']) }));
    this.nodes.set('/zookeeper', newNode({ children: new Set(['config', 'quota']) }));
    this.nodes.set('/zookeeper/quota', newNode({}));
    this.nodes.set(
      '/zookeeper/config',
      newNode({
        data: Buffer.alloc(0),
        aversion: -1,
        acl: [{ perms: Perms.READ, id: { scheme: 'world', id: 'anyone' } }],
      }),
    );
  }

  // ---------------------------------------------------------------------------------------------
  // Introspection (for the edge, four-letter words and tests)

  get zxid(): number {
    return this.lastZxid;
  }
  get nodeCount(): number {
    return this.nodes.size;
  }
  get sessionCount(): number {
    return this.sessions.size;
  }
  get connectionCount(): number {
    return this.conns.size;
  }
  get watchCount(): number {
    return this.watches.count;
  }
  get ephemeralCount(): number {
    let n = 0;
    for (const s of this.sessions.values()) n += s.ephemerals.size;
    return n;
  }
  approximateDataSize(): number {
    let n = 0;
    for (const [path, node] of this.nodes) n += path.length + (node.data?.length ?? 0);
    return n;
  }
  /** Watched paths per connection (data and child watches together), for `wchc`/`wchp`/`wchs`. */
  watchesByConnection(): Array<{ connId: number; sessionId: bigint; paths: string[] }> {
    const out: Array<{ connId: number; sessionId: bigint; paths: string[] }> = [];
    for (const [connId, paths] of this.watches.pathsByConnection()) {
      const c = this.conns.get(connId);
      if (c) out.push({ connId, sessionId: c.sessionId, paths });
    }
    return out;
  }
  /** Ephemeral paths per session, for `dump`. */
  ephemeralsBySession(): Array<{ sessionId: bigint; paths: string[]; expiresAtMs: number }> {
    return [...this.sessions.values()].map((s) => ({
      sessionId: s.id,
      paths: [...s.ephemerals],
      expiresAtMs: s.expiresAtMs,
    }));
  }
  getNode(path: string): ZNode | undefined {
    return this.nodes.get(path);
  }
  getSession(id: bigint): Readonly<SessionState> | undefined {
    return this.sessions.get(id);
  }
  sessionOf(connId: number): bigint | undefined {
    return this.conns.get(connId)?.sessionId;
  }

  // ---------------------------------------------------------------------------------------------
  // Inputs

  /** The first frame of a connection. */
  connect(connId: number, req: ConnectRequest, nowMs: number, clientIp?: string): Output[] {
    const out: Output[] = [];
    if (this.conns.has(connId)) throw new Error(`connection ${connId} connected twice`);
    if (req.lastZxidSeen > this.lastZxid) {
      out.push({ kind: 'close', connId, reason: `client has seen zxid ${req.lastZxidSeen}, ours is ${this.lastZxid}` });
      return out;
    }
    const timeoutMs = Math.min(
      Math.max(req.timeOutMs, this.options.minSessionTimeoutMs),
      this.options.maxSessionTimeoutMs,
    );
    if (req.sessionId === 0n) {
      let id = this.nextSessionId > this.highestSessionId ? this.nextSessionId : this.highestSessionId + 1n;
      while (this.sessions.has(id)) id++;
      this.nextSessionId = id + 1n;
      const passwd = this.options.newPassword();
      const txn = this.newTxn(id, nowMs, { type: 'createSession', timeoutMs, passwd });
      out.push({ kind: 'txn', txn });
      this.applyTxn(txn, null);
      const s = this.sessions.get(id)!;
      s.expiresAtMs = this.deadline(nowMs, timeoutMs);
      this.attach(connId, s, clientIp);
      out.push({
        kind: 'connected',
        connId,
        rsp: { timeOutMs: timeoutMs, sessionId: id, passwd, readOnly: req.readOnly },
      });
      return out;
    }
    const s = this.sessions.get(req.sessionId);
    if (!s || !bufferEquals(s.passwd, req.passwd)) {
      out.push({
        kind: 'connected',
        connId,
        rsp: { timeOutMs: 0, sessionId: 0n, passwd: Buffer.alloc(16), readOnly: req.readOnly },
      });
      out.push({ kind: 'close', connId, reason: s ? 'wrong session password' : 'session expired' });
      return out;
    }
    if (s.connId !== null && s.connId !== connId) {
      const old = s.connId;
      this.detach(old);
      out.push({ kind: 'close', connId: old, reason: 'session moved to a new connection' });
    }
    s.timeoutMs = timeoutMs;
    s.expiresAtMs = this.deadline(nowMs, timeoutMs);
    this.attach(connId, s, clientIp);
    out.push({
      kind: 'connected',
      connId,
      rsp: { timeOutMs: timeoutMs, sessionId: s.id, passwd: s.passwd, readOnly: req.readOnly },
    });
    return out;
  }

  /** The TCP connection went away: its watches go, its session lives on until it times out. */
  disconnect(connId: number): void {
    this.detach(connId);
  }

  /** Expires sessions whose timeout has passed: their ephemerals are deleted and watches fire. */
  tick(nowMs: number): Output[] {
    const out: Output[] = [];
    if (nowMs >= this.nextContainerCheckMs) {
      this.nextContainerCheckMs = nowMs + (this.options.containerCheckIntervalMs ?? 60_000);
      // ZooKeeper's ContainerManager: a container that has had children and has none now goes.
      for (const path of [...this.containers]) {
        const node = this.nodes.get(path);
        if (node && node.children.size === 0 && node.cversion > 0)
          this.write(out, 0n, nowMs, () => ({ type: 'delete', path }));
      }
    }
    const expired: SessionState[] = [];
    for (const s of this.sessions.values()) if (s.expiresAtMs <= nowMs) expired.push(s);
    for (const s of expired) {
      const connId = s.connId;
      this.write(out, s.id, nowMs, () => ({ type: 'closeSession' }));
      if (connId !== null) {
        this.detach(connId);
        out.push({ kind: 'close', connId, reason: 'session expired' });
      }
    }
    return out;
  }

  private deadline(nowMs: number, timeoutMs: number): number {
    const tick = this.options.tickTimeMs;
    if (!tick) return nowMs + timeoutMs;
    return (Math.floor((nowMs + timeoutMs) / tick) + 1) * tick;
  }

  /** Restarts every session's timeout clock, e.g. after recovery. */
  touchAllSessions(nowMs: number): void {
    for (const s of this.sessions.values()) s.expiresAtMs = this.deadline(nowMs, s.timeoutMs);
  }

  /** The earliest time at which `tick` has work: a session deadline or a container check (Infinity if none). */
  nextExpiryMs(): number {
    let t = this.containers.size > 0 ? this.nextContainerCheckMs : Infinity;
    for (const s of this.sessions.values()) if (s.expiresAtMs < t) t = s.expiresAtMs;
    return t;
  }

  /** A request from a connected client. */
  handle(connId: number, req: Request, nowMs: number): Output[] {
    const out: Output[] = [];
    const conn = this.conns.get(connId);
    const session = conn ? this.sessions.get(conn.sessionId) : undefined;
    if (!conn || !session) {
      out.push({
        kind: 'reply',
        connId,
        xid: req.xid,
        zxid: this.lastZxid,
        err: ErrorCode.SESSIONEXPIRED,
        body: NO_BODY,
        opcode: req.body.type,
      });
      out.push({ kind: 'close', connId, reason: 'request without a live session' });
      return out;
    }
    session.expiresAtMs = this.deadline(nowMs, session.timeoutMs);
    const b = req.body;
    const reply = (zxid: number, err: number, body: ResponseBody = NO_BODY): Output[] => {
      out.push({ kind: 'reply', connId, xid: req.xid, zxid, err, body, opcode: b.type });
      return out;
    };
    switch (b.type) {
      case OpCode.ping:
        reply(this.lastZxid, 0);
        return out;
      case OpCode.auth:
        return this.auth(out, connId, conn, b.scheme, b.auth);
      case OpCode.whoAmI:
        // ClientInfo(authScheme, user): the digest user is the name before the colon.
        return reply(this.lastZxid, 0, {
          kind: 'ids',
          ids: [
            ...conn.authIds.filter((id) => id.scheme !== 'ip'),
            ...conn.authIds.filter((id) => id.scheme === 'ip'),
          ].map((id) => ({
            scheme: id.scheme,
            id: id.scheme === 'digest' ? (id.id.split(':')[0] ?? '') : id.id,
          })),
        });
      case OpCode.closeSession: {
        const zxid = this.write(out, session.id, nowMs, () => ({ type: 'closeSession' }));
        reply(zxid, 0);
        this.detach(connId);
        out.push({ kind: 'close', connId, reason: 'session closed by client' });
        return out;
      }
      case OpCode.create:
      case OpCode.create2:
      case OpCode.createContainer: {
        if (b.type === OpCode.createContainer && b.flags !== CreateFlags.container) {
          const zxid = this.write(out, session.id, nowMs, () => {
            throw new KeeperError(ErrorCode.BADARGUMENTS);
          });
          return reply(zxid, ErrorCode.BADARGUMENTS);
        }
        let created: TxnOp | null = null;
        const zxid = this.write(out, session.id, nowMs, () => (created = this.prepareCreate(session.id, conn, b)));
        const err = this.lastWriteError;
        if (err !== 0 || created === null) return reply(zxid, err);
        const path = (created as { path: string }).path;
        if (b.type === OpCode.create) reply(zxid, 0, { kind: 'path', path });
        else reply(zxid, 0, { kind: 'pathStat', path, stat: statOf(this.nodes.get(path)!) });
        return out;
      }
      case OpCode.delete: {
        const zxid = this.write(out, session.id, nowMs, () => this.prepareDelete(conn, b.path, b.version));
        reply(zxid, this.lastWriteError);
        return out;
      }
      case OpCode.setData: {
        const zxid = this.write(out, session.id, nowMs, () => this.prepareSetData(conn, b.path, b.data, b.version));
        const err = this.lastWriteError;
        reply(zxid, err, err === 0 ? { kind: 'stat', stat: statOf(this.nodes.get(b.path)!) } : NO_BODY);
        return out;
      }
      case OpCode.setACL: {
        const zxid = this.write(out, session.id, nowMs, () => this.prepareSetACL(conn, b.path, b.acl, b.version));
        const err = this.lastWriteError;
        reply(zxid, err, err === 0 ? { kind: 'stat', stat: statOf(this.nodes.get(b.path)!) } : NO_BODY);
        return out;
      }
      case OpCode.check: {
        const zxid = this.write(out, session.id, nowMs, () => this.prepareCheck(conn, b.path, b.version));
        reply(zxid, this.lastWriteError);
        return out;
      }
      case OpCode.multi:
        return this.multi(out, session.id, conn, connId, req.xid, b.ops, nowMs);
      case OpCode.multiRead: {
        const results: MultiReadResult[] = b.ops.map((op) => {
          try {
            const body = this.read(connId, conn, session, {
              type: op.type === OpCode.getData ? OpCode.getData : OpCode.getChildren,
              path: op.path,
              watch: op.watch,
            });
            if (body.kind === 'data') return { type: OpCode.getData, data: body.data, stat: body.stat };
            if (body.kind === 'children') return { type: OpCode.getChildren, children: body.children };
            throw new Error(`unexpected ${body.kind}`);
          } catch (err) {
            if (!(err instanceof KeeperError)) throw err;
            return { type: OpCode.error, err: err.code };
          }
        });
        return reply(this.lastZxid, 0, { kind: 'multiRead', results });
      }
      case OpCode.setWatches:
      case OpCode.setWatches2:
        this.setWatches(out, connId, b.relativeZxid, b);
        return reply(this.lastZxid, 0);
      case OpCode.addWatch:
        try {
          this.addPersistentWatch(b.path, b.mode, connId);
        } catch (err) {
          if (!(err instanceof KeeperError)) throw err;
          return reply(this.lastZxid, err.code);
        }
        return reply(this.lastZxid, 0, { kind: 'count', count: 0 });
      case OpCode.removeWatches:
      case OpCode.checkWatches:
        try {
          this.removeOrCheckWatches(connId, b.path, b.watcherType, b.type === OpCode.removeWatches);
        } catch (err) {
          if (!(err instanceof KeeperError)) throw err;
          return reply(this.lastZxid, err.code);
        }
        return reply(this.lastZxid, 0);
      default:
        try {
          reply(this.lastZxid, 0, this.read(connId, conn, session, b));
        } catch (err) {
          if (!(err instanceof KeeperError)) throw err;
          reply(this.lastZxid, err.code);
        }
        return out;
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Reads

  private read(connId: number, conn: ConnState, session: SessionState, b: Request['body']): ResponseBody {
    switch (b.type) {
      case OpCode.exists: {
        if (b.path.includes('\0')) throw new KeeperError(ErrorCode.BADARGUMENTS);
        // ZooKeeper registers the watch before looking: an exists watch on a missing node waits for its creation.
        if (b.watch) this.watches.add('data', b.path, connId, WatchMode.standard);
        const node = this.nodes.get(b.path);
        if (!node) throw new KeeperError(ErrorCode.NONODE);
        return { kind: 'stat', stat: statOf(node) };
      }
      case OpCode.getData: {
        const node = this.mustGet(b.path);
        this.checkAcl(node, Perms.READ, conn);
        if (b.watch) this.watches.add('data', b.path, connId, WatchMode.standard);
        return { kind: 'data', data: node.data, stat: statOf(node) };
      }
      case OpCode.getChildren:
      case OpCode.getChildren2: {
        const node = this.mustGet(b.path);
        this.checkAcl(node, Perms.READ, conn);
        if (b.watch) this.watches.add('child', b.path, connId, WatchMode.standard);
        const children = [...node.children];
        return b.type === OpCode.getChildren
          ? { kind: 'children', children }
          : { kind: 'children2', children, stat: statOf(node) };
      }
      case OpCode.getACL: {
        const node = this.mustGet(b.path);
        this.checkAcl(node, Perms.READ | Perms.ADMIN, conn);
        // As ZooKeeper: without ADMIN, digest ids are shown as user:x (the hash is a password stand-in).
        const acl = this.hasPerm(node, Perms.ADMIN, conn)
          ? node.acl
          : node.acl.map((a) =>
              a.id.scheme === 'digest' ? { ...a, id: { ...a.id, id: a.id.id.replace(/:.*/s, ':x') } } : a,
            );
        return { kind: 'acl', acl, stat: statOf(node) };
      }
      case OpCode.sync:
        return { kind: 'path', path: b.path };
      case OpCode.getAllChildrenNumber: {
        this.mustGet(b.path);
        const prefix = b.path === '/' ? '/' : `${b.path}/`;
        let count = 0;
        for (const p of this.nodes.keys()) if (p !== b.path && p.startsWith(prefix)) count++;
        return { kind: 'count', count };
      }
      case OpCode.getEphemerals: {
        const strings = [...session.ephemerals].filter((p) => p.startsWith(b.path));
        return { kind: 'strings', strings };
      }
      default:
        throw new Error(`opcode ${b.type} is not a read`);
    }
  }

  private mustGet(path: string): ZNode {
    const node = this.nodes.get(path);
    if (!node) throw new KeeperError(ErrorCode.NONODE);
    return node;
  }

  private checkAcl(node: ZNode, perm: number, conn: ConnState): void {
    checkAcl(node.acl, perm, conn.authIds);
  }

  private hasPerm(node: ZNode, perm: number, conn: ConnState): boolean {
    try {
      checkAcl(node.acl, perm, conn.authIds);
      return true;
    } catch (err) {
      if (err instanceof KeeperError) return false;
      throw err;
    }
  }

  private auth(out: Output[], connId: number, conn: ConnState, scheme: string, auth: Buffer): Output[] {
    const reply = (err: number) =>
      out.push({ kind: 'reply', connId, xid: Xid.auth, zxid: 0, err, body: NO_BODY, opcode: OpCode.auth });
    if (scheme === 'digest') {
      const id = digestId(auth.toString('utf8'));
      if (!conn.authIds.some((a) => a.scheme === 'digest' && a.id === id)) conn.authIds.push({ scheme: 'digest', id });
      reply(0);
    } else if (scheme === 'world') {
      reply(0);
    } else {
      reply(ErrorCode.AUTHFAILED);
      out.push({ kind: 'close', connId, reason: `unsupported auth scheme ${scheme}` });
    }
    return out;
  }

  // ---------------------------------------------------------------------------------------------
  // Writes: prepare (validate against the tree, may throw KeeperError) then apply.

  private lastWriteError = 0;

  /** Assigns a zxid, prepares the txn (an error txn if preparation fails), logs, applies, fires watches. */
  private write(out: Output[], sessionId: bigint, nowMs: number, prepare: () => TxnOp): number {
    const zxid = this.lastZxid + 1;
    let op: TxnOp;
    this.lastWriteError = 0;
    try {
      op = prepare();
    } catch (err) {
      if (!(err instanceof KeeperError)) throw err;
      op = { type: 'error', err: err.code };
      this.lastWriteError = err.code;
    }
    const txn: Txn = { zxid, timeMs: nowMs, sessionId, op };
    out.push({ kind: 'txn', txn });
    const triggers: Trigger[] = [];
    this.applyTxn(txn, triggers);
    this.fire(out, triggers);
    return zxid;
  }

  private newTxn(sessionId: bigint, nowMs: number, op: TxnOp): Txn {
    return { zxid: this.lastZxid + 1, timeMs: nowMs, sessionId, op };
  }

  private internAcl(acl: Acl[]): Acl[] {
    const key = acl.map((a) => `${a.perms}:${a.id.scheme}:${a.id.id}`).join('\n');
    const cached = this.aclCache.get(key);
    if (cached) return cached;
    if (this.aclCache.size < 1024) this.aclCache.set(key, acl);
    return acl;
  }

  private fixupAcl(acl: Acl[], conn: ConnState): Acl[] {
    return fixupAcl(acl, conn.authIds);
  }

  private prepareCreate(sessionId: bigint, conn: ConnState, req: CreateRequest): TxnOp {
    const { flags } = req;
    // TTL modes (5, 6) are an extended type a default ZooKeeper leaves off and answers UNIMPLEMENTED.
    if (flags === 5 || flags === 6) throw new KeeperError(ErrorCode.UNIMPLEMENTED);
    if (flags < CreateFlags.persistent || flags > CreateFlags.container) throw new KeeperError(ErrorCode.BADARGUMENTS);
    const lastSlash = req.path.lastIndexOf('/');
    if (lastSlash === -1 || req.path.includes('\0')) throw new KeeperError(ErrorCode.BADARGUMENTS);
    const acl = this.fixupAcl(req.acl, conn);
    const parentPath = lastSlash === 0 ? '/' : req.path.slice(0, lastSlash);
    const parent = this.nodes.get(parentPath);
    if (!parent) throw new KeeperError(ErrorCode.NONODE);
    this.checkAcl(parent, Perms.CREATE, conn);
    const sequential = flags === CreateFlags.persistentSequential || flags === CreateFlags.ephemeralSequential;
    const path = sequential ? req.path + sequenceSuffix(parent.cversion) : req.path;
    if (invalidPathReason(path) !== null) throw new KeeperError(ErrorCode.BADARGUMENTS);
    if (this.nodes.has(path)) throw new KeeperError(ErrorCode.NODEEXISTS);
    if (parent.ephemeralOwner !== 0n && parent.ephemeralOwner !== CONTAINER_OWNER)
      throw new KeeperError(ErrorCode.NOCHILDRENFOREPHEMERALS);
    const ephemeral = flags === CreateFlags.ephemeral || flags === CreateFlags.ephemeralSequential;
    const owner = ephemeral ? sessionId : flags === CreateFlags.container ? CONTAINER_OWNER : 0n;
    return {
      type: 'create',
      path,
      data: req.data,
      acl,
      ephemeralOwner: owner,
      parentCversion: (parent.cversion + 1) | 0,
    };
  }

  private prepareDelete(conn: ConnState, path: string, version: number): TxnOp {
    const lastSlash = path.lastIndexOf('/');
    if (lastSlash === -1 || path.includes('\0') || SPECIAL_PATHS.has(path))
      throw new KeeperError(ErrorCode.BADARGUMENTS);
    const parent = this.nodes.get(parentOf(path));
    if (!parent) throw new KeeperError(ErrorCode.NONODE);
    this.checkAcl(parent, Perms.DELETE, conn);
    const node = this.mustGet(path);
    checkVersion(node.version, version);
    if (node.children.size > 0) throw new KeeperError(ErrorCode.NOTEMPTY);
    return { type: 'delete', path };
  }

  private prepareSetData(conn: ConnState, path: string, data: Buffer | null, version: number): TxnOp {
    if (invalidPathReason(path) !== null) throw new KeeperError(ErrorCode.BADARGUMENTS);
    const node = this.mustGet(path);
    this.checkAcl(node, Perms.WRITE, conn);
    return { type: 'setData', path, data, version: checkVersion(node.version, version) };
  }

  private prepareSetACL(conn: ConnState, path: string, acl: Acl[], version: number): TxnOp {
    if (invalidPathReason(path) !== null) throw new KeeperError(ErrorCode.BADARGUMENTS);
    const node = this.mustGet(path);
    this.checkAcl(node, Perms.ADMIN, conn);
    const fixed = this.fixupAcl(acl, conn);
    return { type: 'setACL', path, acl: fixed, aversion: checkVersion(node.aversion, version) };
  }

  private prepareCheck(conn: ConnState, path: string, version: number): TxnOp {
    if (invalidPathReason(path) !== null) throw new KeeperError(ErrorCode.BADARGUMENTS);
    const node = this.mustGet(path);
    this.checkAcl(node, Perms.READ, conn);
    checkVersion(node.version, version);
    return { type: 'check', path };
  }

  /**
   * Multi: each op is prepared against the tree as the ops before it left it (they are applied as we go,
   * with an undo log). On the first failure everything is undone and, as ZooKeeper reports it, the ops
   * before the failure answer OK, the failing one its error and the ones after RUNTIMEINCONSISTENCY.
   */
  private multi(
    out: Output[],
    sessionId: bigint,
    conn: ConnState,
    connId: number,
    xid: number,
    ops: MultiOp[],
    nowMs: number,
  ): Output[] {
    const zxid = this.lastZxid + 1;
    const undo: Array<() => void> = [];
    const triggers: Trigger[] = [];
    const txnOps: TxnOp[] = [];
    const results: MultiResult[] = [];
    let failedAt = -1;
    let failCode = 0;
    for (let i = 0; i < ops.length; i++) {
      const op = ops[i]!;
      let txnOp: TxnOp;
      try {
        switch (op.type) {
          case OpCode.create:
          case OpCode.create2:
            txnOp = this.prepareCreate(sessionId, conn, op);
            break;
          case OpCode.delete:
            txnOp = this.prepareDelete(conn, op.path, op.version);
            break;
          case OpCode.setData:
            txnOp = this.prepareSetData(conn, op.path, op.data, op.version);
            break;
          case OpCode.check:
            txnOp = this.prepareCheck(conn, op.path, op.version);
            break;
        }
      } catch (err) {
        if (!(err instanceof KeeperError)) throw err;
        failedAt = i;
        failCode = err.code;
        break;
      }
      this.applyOp(zxid, nowMs, sessionId, txnOp, triggers, undo);
      txnOps.push(txnOp);
      results.push(this.multiResult(op, txnOp));
    }
    let txn: Txn;
    if (failedAt >= 0) {
      for (let i = undo.length - 1; i >= 0; i--) undo[i]!();
      results.length = 0;
      const errOps: TxnOp[] = [];
      for (let i = 0; i < ops.length; i++) {
        const err = i < failedAt ? ErrorCode.OK : i === failedAt ? failCode : ErrorCode.RUNTIMEINCONSISTENCY;
        results.push({ type: OpCode.error, err });
        errOps.push({ type: 'error', err });
      }
      txn = { zxid, timeMs: nowMs, sessionId, op: { type: 'multi', ops: errOps } };
    } else {
      txn = { zxid, timeMs: nowMs, sessionId, op: { type: 'multi', ops: txnOps } };
    }
    // The ops are already applied (or undone); this records the txn and advances the zxid.
    this.lastZxid = zxid;
    out.push({ kind: 'txn', txn });
    if (failedAt < 0) this.fire(out, triggers);
    out.push({ kind: 'reply', connId, xid, zxid, err: 0, body: { kind: 'multi', results }, opcode: OpCode.multi });
    return out;
  }

  private multiResult(op: MultiOp, txnOp: TxnOp): MultiResult {
    switch (op.type) {
      case OpCode.create: {
        const path = (txnOp as { path: string }).path;
        return { type: OpCode.create, path };
      }
      case OpCode.create2: {
        const path = (txnOp as { path: string }).path;
        return { type: OpCode.create2, path, stat: statOf(this.nodes.get(path)!) };
      }
      case OpCode.setData:
        return { type: OpCode.setData, stat: statOf(this.nodes.get(op.path)!) };
      case OpCode.delete:
      case OpCode.check:
        return { type: op.type };
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Apply: the only code that mutates the tree. Also used to replay the log on recovery.
  // ZNode objects are never modified once in the map (only the shared `children` sets are): a change
  // installs a new object, so a snapshot can capture the map's entries and serialize them later.

  /** Applies a logged txn. `triggers` collects watch triggers (null during recovery). */
  applyTxn(txn: Txn, triggers: Trigger[] | null): void {
    if (txn.zxid <= this.lastZxid) throw new Error(`txn zxid ${txn.zxid} is not after ${this.lastZxid}`);
    this.applyOp(txn.zxid, txn.timeMs, txn.sessionId, txn.op, triggers, null);
    this.lastZxid = txn.zxid;
  }

  private applyOp(
    zxid: number,
    timeMs: number,
    sessionId: bigint,
    op: TxnOp,
    triggers: Trigger[] | null,
    undo: Array<() => void> | null,
  ): void {
    switch (op.type) {
      case 'createSession': {
        this.sessions.set(sessionId, {
          id: sessionId,
          timeoutMs: op.timeoutMs,
          passwd: op.passwd,
          expiresAtMs: this.deadline(timeMs, op.timeoutMs),
          connId: null,
          ephemerals: new Set(),
        });
        if (sessionId > this.highestSessionId) this.highestSessionId = sessionId;
        return;
      }
      case 'closeSession': {
        const s = this.sessions.get(sessionId);
        if (!s) return;
        for (const path of [...s.ephemerals])
          this.applyOp(zxid, timeMs, sessionId, { type: 'delete', path }, triggers, null);
        this.sessions.delete(sessionId);
        return;
      }
      case 'create': {
        const parentPath = parentOf(op.path);
        const parent = this.nodes.get(parentPath);
        if (!parent || this.nodes.has(op.path)) throw new Error(`inconsistent create of ${op.path} at zxid ${zxid}`);
        const node = newNode({
          data: op.data,
          acl: this.internAcl(op.acl),
          czxid: zxid,
          mzxid: zxid,
          pzxid: zxid,
          ctime: timeMs,
          mtime: timeMs,
          ephemeralOwner: op.ephemeralOwner,
        });
        this.nodes.set(op.path, node);
        const name = childName(op.path);
        parent.children.add(name);
        // Copy-on-write: a snapshot being written holds the old parent object.
        this.nodes.set(parentPath, { ...parent, cversion: op.parentCversion, pzxid: zxid });
        const owner = op.ephemeralOwner !== 0n ? this.sessions.get(op.ephemeralOwner) : undefined;
        owner?.ephemerals.add(op.path);
        if (op.ephemeralOwner === CONTAINER_OWNER) this.containers.add(op.path);
        undo?.push(() => {
          this.containers.delete(op.path);
          this.nodes.delete(op.path);
          parent.children.delete(name);
          this.nodes.set(parentPath, parent);
          owner?.ephemerals.delete(op.path);
        });
        triggers?.push({ table: 'data', path: op.path, type: EventType.NodeCreated });
        triggers?.push({ table: 'child', path: parentPath, type: EventType.NodeChildrenChanged });
        return;
      }
      case 'delete': {
        const node = this.nodes.get(op.path);
        const parentPath = parentOf(op.path);
        const parent = this.nodes.get(parentPath);
        if (!node || !parent) throw new Error(`inconsistent delete of ${op.path} at zxid ${zxid}`);
        this.nodes.delete(op.path);
        const name = childName(op.path);
        parent.children.delete(name);
        if (zxid > parent.pzxid) this.nodes.set(parentPath, { ...parent, pzxid: zxid });
        const owner = node.ephemeralOwner !== 0n ? this.sessions.get(node.ephemeralOwner) : undefined;
        owner?.ephemerals.delete(op.path);
        const wasContainer = this.containers.delete(op.path);
        undo?.push(() => {
          if (wasContainer) this.containers.add(op.path);
          this.nodes.set(op.path, node);
          parent.children.add(name);
          this.nodes.set(parentPath, parent);
          owner?.ephemerals.add(op.path);
        });
        if (triggers) {
          triggers.push({ table: 'data', path: op.path, type: EventType.NodeDeleted });
          triggers.push({ table: 'child', path: op.path, type: EventType.NodeDeleted, dedupWith: triggers.length - 1 });
          triggers.push({ table: 'child', path: parentPath, type: EventType.NodeChildrenChanged });
        }
        return;
      }
      case 'setData': {
        const node = this.nodes.get(op.path);
        if (!node) throw new Error(`inconsistent setData of ${op.path} at zxid ${zxid}`);
        this.nodes.set(op.path, { ...node, data: op.data, version: op.version, mzxid: zxid, mtime: timeMs });
        undo?.push(() => this.nodes.set(op.path, node));
        triggers?.push({ table: 'data', path: op.path, type: EventType.NodeDataChanged });
        return;
      }
      case 'setACL': {
        const node = this.nodes.get(op.path);
        if (!node) throw new Error(`inconsistent setACL of ${op.path} at zxid ${zxid}`);
        this.nodes.set(op.path, { ...node, acl: this.internAcl(op.acl), aversion: op.aversion });
        undo?.push(() => this.nodes.set(op.path, node));
        return;
      }
      case 'multi':
        for (const sub of op.ops) this.applyOp(zxid, timeMs, sessionId, sub, triggers, undo);
        return;
      case 'check':
      case 'error':
        return;
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Watches: one-shot, per connection, at most one event per connection per trigger.

  private fire(out: Output[], triggers: Trigger[]): void {
    for (const e of this.watches.fire(triggers))
      out.push({ kind: 'event', connId: e.connId, type: e.type, path: e.path });
  }

  /** Re-registers a reconnecting client's watches, firing at once for what changed after relativeZxid. */
  private setWatches(out: Output[], connId: number, relativeZxid: number, w: WatchSet): void {
    for (const path of w.dataWatches) {
      const node = this.nodes.get(path);
      if (!node) out.push({ kind: 'event', connId, type: EventType.NodeDeleted, path });
      else if (node.mzxid > relativeZxid) out.push({ kind: 'event', connId, type: EventType.NodeDataChanged, path });
      else this.watches.add('data', path, connId, WatchMode.standard);
    }
    for (const path of w.existWatches) {
      if (this.nodes.has(path)) out.push({ kind: 'event', connId, type: EventType.NodeCreated, path });
      else this.watches.add('data', path, connId, WatchMode.standard);
    }
    for (const path of w.childWatches) {
      const node = this.nodes.get(path);
      if (!node) out.push({ kind: 'event', connId, type: EventType.NodeDeleted, path });
      else if (node.pzxid > relativeZxid)
        out.push({ kind: 'event', connId, type: EventType.NodeChildrenChanged, path });
      else this.watches.add('child', path, connId, WatchMode.standard);
    }
    // Persistent watches are re-added as they are, without catch-up events (as ZooKeeper does).
    for (const path of w.persistentWatches ?? []) this.addPersistentWatch(path, 0, connId);
    for (const path of w.persistentRecursiveWatches ?? []) this.addPersistentWatch(path, 1, connId);
  }

  /** addWatch modes: 0 PERSISTENT, 1 PERSISTENT_RECURSIVE; each registers in both tables. */
  private addPersistentWatch(path: string, mode: number, connId: number): void {
    if (mode === 0) {
      this.watches.add('data', path, connId, WatchMode.persistent);
      this.watches.add('child', path, connId, WatchMode.persistent);
    } else if (mode === 1) {
      // Both tables, as ZooKeeper 3.8 does: in the child table a recursive watch only ever sees the
      // NodeDeleted of descendants (and it replaces any child watch the connection had there).
      this.watches.add('data', path, connId, WatchMode.recursive);
      this.watches.add('child', path, connId, WatchMode.recursive);
    } else throw new KeeperError(ErrorCode.MARSHALLINGERROR);
  }

  /** removeWatches (remove = true) and checkWatches: NOWATCHER unless the connection has a watch of that type there. */
  private removeOrCheckWatches(connId: number, path: string, watcherType: number, remove: boolean): void {
    const tables = TABLES_BY_WATCHER_TYPE[watcherType];
    if (!tables) throw new KeeperError(ErrorCode.MARSHALLINGERROR);
    let found = false;
    for (const name of tables) {
      if (remove) found = this.watches.remove(name, path, connId) || found;
      else found ||= this.watches.has(name, path, connId);
    }
    if (!found) throw new KeeperError(ErrorCode.NOWATCHER);
  }

  private attach(connId: number, s: SessionState, clientIp: string | undefined): void {
    s.connId = connId;
    // As ZooKeeper does, every connection is authenticated as its client address (scheme ip).
    const authIds: Id[] = clientIp ? [{ scheme: 'ip', id: clientIp.replace(/^::ffff:(?=\d+\.)/, '') }] : [];
    this.conns.set(connId, { sessionId: s.id, authIds });
  }

  private detach(connId: number): void {
    const conn = this.conns.get(connId);
    if (!conn) return;
    this.conns.delete(connId);
    this.watches.dropConnection(connId);
    const s = this.sessions.get(conn.sessionId);
    if (s && s.connId === connId) s.connId = null;
  }

  // ---------------------------------------------------------------------------------------------
  // Snapshots

  snapshot(): SnapshotData {
    const sessions = [...this.sessions.values()].map((s) => ({ id: s.id, timeoutMs: s.timeoutMs, passwd: s.passwd }));
    const nodes = [...this.nodes].map(([path, node]) => ({ path, node }));
    return { zxid: this.lastZxid, highestSessionId: this.highestSessionId, sessions, nodes };
  }

  /** Replaces the state with a snapshot's (at startup, before any connection). */
  restore(snap: SnapshotData, nowMs: number): void {
    if (this.conns.size > 0) throw new Error('restore with live connections');
    this.nodes.clear();
    this.sessions.clear();
    this.containers.clear();
    for (const { path, node } of snap.nodes)
      this.nodes.set(path, { ...node, acl: this.internAcl(node.acl), children: new Set() });
    for (const path of this.nodes.keys()) {
      if (path === '/') continue;
      const parent = this.nodes.get(parentOf(path));
      if (!parent) throw new Error(`snapshot has ${path} without its parent`);
      parent.children.add(childName(path));
    }
    for (const s of snap.sessions) {
      this.sessions.set(s.id, {
        ...s,
        expiresAtMs: this.deadline(nowMs, s.timeoutMs),
        connId: null,
        ephemerals: new Set(),
      });
    }
    for (const [path, node] of this.nodes) {
      if (node.ephemeralOwner === CONTAINER_OWNER) this.containers.add(path);
      else if (node.ephemeralOwner !== 0n) this.sessions.get(node.ephemeralOwner)?.ephemerals.add(path);
    }
    this.lastZxid = snap.zxid;
    this.highestSessionId = snap.highestSessionId;
  }
}

/** ZooKeeper's %010d of the parent's cversion (negative values keep their sign, as Java prints them). */
export function sequenceSuffix(cversion: number): string {
  return cversion < 0 ? `-${String(-cversion).padStart(9, '0')}` : String(cversion).padStart(10, '0');
}
