/**
 * The TCP edge: frames bytes into requests for the core, makes the core's txns durable, and delivers
 * replies and watch events strictly in the order the core produced them, none before the txns produced
 * ahead of it are fsynced. Output for each connection is batched into one socket write per turn.
 */
import { randomBytes } from 'node:crypto';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { createServer, type Server, type Socket } from 'node:net';
import { pino, type Logger } from 'pino';
import { CoordinatorCore, type Output } from './core.js';
import {
  BodyError,
  decodeConnectRequest,
  decodeRequest,
  encodeConnectResponse,
  encodeReply,
  encodeWatchEvent,
  FrameDecoder,
  JuteError,
  NO_BODY,
  UnknownOpcodeError,
  Writer,
} from './jute.js';
import { fourLetterWordReply, isFourLetterWord, type FourLetterState, type ServerStats } from './four-letter.js';
import { ErrorCode, KeeperState, UNSUPPORTED_ZOOKEEPER_OPCODES } from './protocol.js';
import { encodeSnapshotParts, writeTxnRecord } from './records.js';
import { lockDataDir, recover, TxnLog } from './storage.js';

export interface CoordinatorOptions {
  /** Interface to listen on (default 127.0.0.1). */
  host?: string;
  /** TCP port (default 2181; 0 picks a free one). */
  port?: number;
  dataDir: string;
  /** ZooKeeper's tickTime (default 2000). */
  tickTimeMs?: number;
  /** Default 2 * tickTimeMs. */
  minSessionTimeoutMs?: number;
  /** Default 20 * tickTimeMs. */
  maxSessionTimeoutMs?: number;
  /** Take a snapshot (and roll the log) after this many txns (default 100000). */
  snapshotEveryTxns?: number;
  /** Largest accepted request frame, like jute.maxbuffer (default 1 MiB). */
  maxFrameBytes?: number;
  logger?: Logger;
}

export interface RunningCoordinator {
  readonly host: string;
  readonly port: number;
  /** 'host:port', for ZooKeeper clients. */
  readonly connectString: string;
  close(): Promise<void>;
}

/** Pause reading from a client whose unread replies exceed this. */
const WRITE_HIGH_WATER_BYTES = 8 * 1024 * 1024;
/** A connection must send its ConnectRequest within this long (ZooKeeper's sessionless connection timeout). */
const HANDSHAKE_TIMEOUT_MS = 10_000;
/** Stop reading from every client while this many outputs wait for an fsync (like globalOutstandingLimit). */
const MAX_HELD_OUTPUTS = 50_000;

interface Conn {
  id: number;
  socket: Socket;
  remote: string;
  decoder: FrameDecoder;
  head: Buffer | null;
  handshaken: boolean;
  /** No more input is processed (a close is pending or done). */
  closing: boolean;
  /** We ended the socket: nothing more is written. */
  ended: boolean;
  closed: boolean;
  out: Writer;
  dirty: boolean;
  received: number;
  sent: number;
}

type Held = { seq: number; out: Output };

/** Starts a coordinator: recovers dataDir, then listens. Resolves once it accepts connections. */
export async function startCoordinator(options: CoordinatorOptions): Promise<RunningCoordinator> {
  const server = new CoordinatorServer(options);
  return server.start();
}

class CoordinatorServer {
  private readonly logger: Logger;
  private readonly tickTimeMs: number;
  private readonly maxFrameBytes: number;
  private readonly snapshotEveryTxns: number;
  private readonly minSessionTimeoutMs: number;
  private readonly maxSessionTimeoutMs: number;
  private readonly core: CoordinatorCore;
  private log!: TxnLog;
  private tcp: Server | null = null;
  private readonly conns = new Map<number, Conn>();
  private nextConnId = 1;
  private readonly held: Held[] = [];
  private heldHead = 0;
  private readonly dirty: Conn[] = [];
  private readonly recordWriter = new Writer(4096);
  private txnsSinceSnapshot = 0;
  private timer: NodeJS.Timeout | null = null;
  private readonly startedAtMs = Date.now();
  private fatal: Error | null = null;
  private throttled = false;
  private unlock: () => void = () => {};
  private readonly stats: ServerStats = { packetsReceived: 0, packetsSent: 0 };

  constructor(private readonly options: CoordinatorOptions) {
    this.logger = options.logger ?? pino({ level: 'silent' });
    this.tickTimeMs = options.tickTimeMs ?? 2000;
    this.maxFrameBytes = options.maxFrameBytes ?? 1024 * 1024;
    this.snapshotEveryTxns = options.snapshotEveryTxns ?? 100_000;
    const now = Date.now();
    this.minSessionTimeoutMs = options.minSessionTimeoutMs ?? 2 * this.tickTimeMs;
    this.maxSessionTimeoutMs = options.maxSessionTimeoutMs ?? 20 * this.tickTimeMs;
    this.core = new CoordinatorCore({
      minSessionTimeoutMs: this.minSessionTimeoutMs,
      maxSessionTimeoutMs: this.maxSessionTimeoutMs,
      tickTimeMs: this.tickTimeMs,
      newPassword: () => randomBytes(16),
      // ZooKeeper's scheme: the start time in the high bits, a counter below.
      sessionIdBase: BigInt.asIntN(64, BigInt.asUintN(64, BigInt(now) << 24n) >> 8n),
    });
  }

  async start(): Promise<RunningCoordinator> {
    const { dataDir } = this.options;
    this.unlock = await lockDataDir(dataDir);
    try {
      return await this.startLocked(dataDir);
    } catch (err) {
      this.unlock();
      throw err;
    }
  }

  private async startLocked(dataDir: string): Promise<RunningCoordinator> {
    const recovered = recover(dataDir, this.logger);
    const now = Date.now();
    if (recovered.snapshot) this.core.restore(recovered.snapshot, now);
    for (const txn of recovered.txns) this.core.applyTxn(txn, null);
    this.core.touchAllSessions(now);
    this.txnsSinceSnapshot = recovered.txns.length;
    this.log = await TxnLog.open(
      {
        dataDir,
        logger: this.logger,
        onDurable: (seq) => this.release(seq),
        onFatal: (err) => this.onFatal(err),
      },
      this.core.zxid,
    );
    const tcp = createServer({ noDelay: true }, (socket) => this.accept(socket));
    this.tcp = tcp;
    const host = this.options.host ?? '127.0.0.1';
    try {
      await new Promise<void>((resolve, reject) => {
        tcp.once('error', reject);
        tcp.listen(this.options.port ?? 2181, host, () => {
          tcp.off('error', reject);
          resolve();
        });
      });
    } catch (err) {
      this.tcp = null;
      await this.log.close();
      throw err;
    }
    tcp.on('error', (err) => this.logger.error({ err }, 'server socket error'));
    const address = tcp.address();
    const port = typeof address === 'object' && address ? address.port : (this.options.port ?? 2181);
    const tickEveryMs = Math.max(20, Math.min(500, Math.floor(this.tickTimeMs / 4)));
    this.timer = setInterval(() => this.tick(), tickEveryMs);
    this.logger.info(
      { host, port, dataDir, zxid: this.core.zxid, sessions: this.core.sessionCount },
      'coordinator listening',
    );
    return {
      host,
      port,
      connectString: `${host}:${port}`,
      close: () => this.close(),
    };
  }

  private async close(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    const tcp = this.tcp;
    this.tcp = null;
    if (!tcp) return;
    const closed = new Promise<void>((resolve) => tcp.close(() => resolve()));
    for (const conn of this.conns.values()) conn.socket.destroy();
    await this.log.close();
    await closed;
    this.unlock();
    this.logger.info({ zxid: this.core.zxid }, 'coordinator closed');
  }

  private onFatal(err: Error): void {
    // Nothing after the failed write may be acknowledged: drop every client; they will fail over or retry.
    this.fatal = err;
    for (const conn of this.conns.values()) conn.socket.destroy();
    this.tcp?.close();
  }

  // ---------------------------------------------------------------------------------------------

  private accept(socket: Socket): void {
    if (this.fatal) {
      socket.destroy();
      return;
    }
    const conn: Conn = {
      id: this.nextConnId++,
      socket,
      // Node leaves the address undefined when the peer has already gone (a port probe that connected and left).
      remote: socket.remoteAddress === undefined ? '(disconnected)' : `${socket.remoteAddress}:${socket.remotePort}`,
      decoder: new FrameDecoder(this.maxFrameBytes),
      head: Buffer.alloc(0),
      handshaken: false,
      closing: false,
      ended: false,
      closed: false,
      out: new Writer(1024),
      dirty: false,
      received: 0,
      sent: 0,
    };
    this.conns.set(conn.id, conn);
    if (this.throttled) socket.pause();
    const handshakeTimer = setTimeout(() => {
      if (!conn.handshaken && !conn.closed) {
        this.logger.debug({ conn: conn.id, remote: conn.remote }, 'closing connection: no handshake');
        conn.socket.destroy();
      }
    }, HANDSHAKE_TIMEOUT_MS);
    handshakeTimer.unref();
    socket.once('close', () => clearTimeout(handshakeTimer));
    socket.on('data', (chunk: Buffer) => this.onData(conn, chunk));
    socket.on('error', (err) => this.logger.debug({ conn: conn.id, err: err.message }, 'client socket error'));
    socket.on('close', () => this.onClose(conn));
    socket.on('drain', () => {
      if (!conn.closing && !this.throttled) socket.resume();
    });
  }

  private onClose(conn: Conn): void {
    conn.closed = true;
    this.conns.delete(conn.id);
    this.core.disconnect(conn.id);
  }

  private onData(conn: Conn, chunk: Buffer): void {
    if (conn.closing) return;
    if (conn.head !== null) {
      // The first 4 bytes decide between a four-letter word and the ZooKeeper protocol.
      const head = Buffer.concat([conn.head, chunk]);
      if (head.length < 4) {
        conn.head = head;
        return;
      }
      conn.head = null;
      const word = head.toString('latin1', 0, 4);
      if (isFourLetterWord(word)) {
        conn.closing = true;
        conn.ended = true;
        conn.socket.end(fourLetterWordReply(word, this.fourLetterState()));
        return;
      }
      chunk = head;
    }
    let frames: Buffer[];
    try {
      frames = conn.decoder.push(chunk);
    } catch (err) {
      if (!(err instanceof JuteError)) throw err;
      this.logger.warn({ conn: conn.id, remote: conn.remote, err: err.message }, 'closing connection: bad frame');
      this.closeNow(conn);
      return;
    }
    const now = Date.now();
    for (const frame of frames) {
      if (conn.closing) break;
      conn.received++;
      this.stats.packetsReceived++;
      try {
        this.handleFrame(conn, frame, now);
      } catch (err) {
        // A bug, not bad input: keep serving everyone else.
        this.logger.error({ conn: conn.id, err }, 'internal error handling a request; closing the connection');
        this.closeNow(conn);
      }
    }
    this.flushDirty();
  }

  private handleFrame(conn: Conn, frame: Buffer, nowMs: number): void {
    if (!conn.handshaken) {
      let req: ReturnType<typeof decodeConnectRequest>;
      try {
        req = decodeConnectRequest(frame);
      } catch (err) {
        if (!(err instanceof JuteError)) throw err;
        this.logger.warn(
          { conn: conn.id, remote: conn.remote, err: err.message },
          'closing connection: bad connect request',
        );
        this.closeNow(conn);
        return;
      }
      conn.handshaken = true;
      this.dispatch(this.core.connect(conn.id, req, nowMs, conn.socket.remoteAddress));
      return;
    }
    let req: ReturnType<typeof decodeRequest>;
    try {
      req = decodeRequest(frame);
    } catch (err) {
      if (err instanceof UnknownOpcodeError && UNSUPPORTED_ZOOKEEPER_OPCODES.has(err.opcode)) {
        this.logger.debug({ conn: conn.id, opcode: err.opcode }, 'unsupported opcode');
        this.dispatch([
          {
            kind: 'reply',
            connId: conn.id,
            xid: err.xid,
            zxid: this.core.zxid,
            err: ErrorCode.UNIMPLEMENTED,
            body: NO_BODY,
            opcode: err.opcode,
          },
        ]);
      } else if (err instanceof UnknownOpcodeError) {
        this.logger.warn({ conn: conn.id, opcode: err.opcode }, 'unknown opcode; closing connection');
        this.dispatch([
          // ZooKeeper's UnimplementedRequestProcessor answers with zxid -1, then closes.
          {
            kind: 'reply',
            connId: conn.id,
            xid: err.xid,
            zxid: -1,
            err: ErrorCode.UNIMPLEMENTED,
            body: NO_BODY,
            opcode: err.opcode,
          },
          { kind: 'close', connId: conn.id, reason: 'unknown opcode' },
        ]);
      } else if (err instanceof BodyError) {
        this.logger.warn({ conn: conn.id, err: err.message }, 'malformed request body');
        this.dispatch([
          {
            kind: 'reply',
            connId: conn.id,
            xid: err.xid,
            zxid: this.core.zxid,
            err: ErrorCode.MARSHALLINGERROR,
            body: NO_BODY,
            opcode: err.opcode,
          },
        ]);
      } else if (err instanceof JuteError) {
        this.logger.warn({ conn: conn.id, err: err.message }, 'closing connection: unreadable request header');
        this.closeNow(conn);
      } else throw err;
      return;
    }
    this.dispatch(this.core.handle(conn.id, req, nowMs));
  }

  private tick(): void {
    const now = Date.now();
    if (this.fatal || now < this.core.nextExpiryMs()) return;
    this.dispatch(this.core.tick(now));
    this.flushDirty();
  }

  // ---------------------------------------------------------------------------------------------
  // Output: txns go to the log; everything else waits for the txns before it to be durable.

  private dispatch(outputs: Output[]): void {
    let txns = 0;
    for (const o of outputs) {
      if (o.kind === 'txn') {
        writeTxnRecord(this.recordWriter, o.txn);
        this.log.append(this.recordWriter.take());
        txns++;
        continue;
      }
      if (o.kind === 'close') {
        const conn = this.conns.get(o.connId);
        if (conn && !conn.closing) {
          conn.closing = true;
          conn.socket.pause();
          this.logger.debug({ conn: o.connId, reason: o.reason }, 'closing connection');
        }
      }
      if (this.heldHead === this.held.length && this.log.durableSeq >= this.log.appendedSeq) this.deliver(o);
      else this.held.push({ seq: this.log.appendedSeq, out: o });
    }
    if (!this.throttled && this.held.length - this.heldHead > MAX_HELD_OUTPUTS) {
      this.throttled = true;
      for (const conn of this.conns.values()) conn.socket.pause();
    }
    if (txns > 0) {
      this.txnsSinceSnapshot += txns;
      // Checked first: capturing the tree is O(nodes), so never do it while a snapshot is still being written.
      if (this.txnsSinceSnapshot >= this.snapshotEveryTxns && this.log.canSnapshot) {
        this.log.snapshot(this.core.snapshot(), (snap) => encodeSnapshotParts(snap));
        this.txnsSinceSnapshot = 0;
      }
    }
  }

  private release(durableSeq: number): void {
    while (this.heldHead < this.held.length && this.held[this.heldHead]!.seq <= durableSeq) {
      this.deliver(this.held[this.heldHead]!.out);
      this.heldHead++;
    }
    if (this.heldHead === this.held.length) {
      this.held.length = 0;
      this.heldHead = 0;
    } else if (this.heldHead > 4096) {
      this.held.splice(0, this.heldHead);
      this.heldHead = 0;
    }
    this.flushDirty();
    if (this.throttled && this.held.length - this.heldHead < MAX_HELD_OUTPUTS / 2) {
      this.throttled = false;
      for (const conn of this.conns.values()) {
        if (!conn.closing && conn.socket.writableLength < WRITE_HIGH_WATER_BYTES) conn.socket.resume();
      }
    }
  }

  private deliver(o: Output): void {
    const conn = this.conns.get((o as { connId: number }).connId);
    if (!conn || conn.closed || conn.ended) return;
    switch (o.kind) {
      case 'connected':
        encodeConnectResponse(conn.out, o.rsp);
        break;
      case 'reply':
        encodeReply(conn.out, o.xid, o.zxid, o.err, o.body);
        break;
      case 'event':
        encodeWatchEvent(conn.out, o.type, KeeperState.SyncConnected, o.path);
        break;
      case 'close':
        this.flush(conn);
        this.closeNow(conn);
        return;
      case 'txn':
        return;
    }
    conn.sent++;
    this.stats.packetsSent++;
    if (!conn.dirty) {
      conn.dirty = true;
      this.dirty.push(conn);
    }
  }

  private flush(conn: Conn): void {
    conn.dirty = false;
    if (conn.out.length === 0 || conn.closed || conn.ended) return;
    const ok = conn.socket.write(conn.out.take());
    if (!ok && conn.socket.writableLength > WRITE_HIGH_WATER_BYTES) conn.socket.pause();
  }

  private flushDirty(): void {
    for (const conn of this.dirty) if (conn.dirty) this.flush(conn);
    this.dirty.length = 0;
  }

  private closeNow(conn: Conn): void {
    conn.closing = true;
    if (conn.closed || conn.ended) return;
    conn.ended = true;
    conn.socket.end();
    setTimeout(() => conn.socket.destroy(), 1000).unref();
    this.core.disconnect(conn.id);
  }

  private fourLetterState(): FourLetterState {
    const address = this.tcp?.address();
    let dataDirBytes = 0;
    try {
      for (const name of readdirSync(this.options.dataDir))
        dataDirBytes += statSync(join(this.options.dataDir, name)).size;
    } catch {
      // best effort
    }
    return {
      core: this.core,
      stats: this.stats,
      connections: [...this.conns.values()].map((c) => ({
        remote: c.remote,
        id: c.id,
        received: c.received,
        sent: c.sent,
        sessionId: this.core.sessionOf(c.id),
      })),
      uptimeMs: Date.now() - this.startedAtMs,
      options: {
        port: typeof address === 'object' && address ? address.port : 0,
        dataDir: this.options.dataDir,
        tickTimeMs: this.tickTimeMs,
        minSessionTimeoutMs: this.minSessionTimeoutMs,
        maxSessionTimeoutMs: this.maxSessionTimeoutMs,
        maxFrameBytes: this.maxFrameBytes,
        dataDirBytes,
      },
      resetStats: () => {
        this.stats.packetsReceived = 0;
        this.stats.packetsSent = 0;
        for (const c of this.conns.values()) c.received = c.sent = 0;
      },
    };
  }
}
