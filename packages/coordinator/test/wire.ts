/** A raw wire client for tests, built on the coordinator's own codec. */
import { connect, type Socket } from 'node:net';
import { encodeConnectRequest, encodeRequest, FrameDecoder, Reader, Writer, type RequestBody } from '../src/jute.js';

export class RawClient {
  private readonly decoder = new FrameDecoder(64 << 20);
  private readonly frames: Buffer[] = [];
  private waiters: Array<() => void> = [];
  closed = false;
  readonly closedPromise: Promise<void>;
  /** Watch events seen by `call` while waiting for replies: [type, path]. */
  readonly events: Array<[number, string]> = [];

  private constructor(readonly socket: Socket) {
    socket.on('data', (chunk) => {
      this.frames.push(...this.decoder.push(chunk).map((f) => Buffer.from(f)));
      this.wake();
    });
    this.closedPromise = new Promise((resolve) =>
      socket.on('close', () => {
        this.closed = true;
        this.wake();
        resolve();
      }),
    );
    socket.on('error', () => {});
  }

  static async open(port: number): Promise<RawClient> {
    const socket = connect(port, '127.0.0.1');
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', reject);
    });
    return new RawClient(socket);
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  /** The next frame, or null if the connection closed first. */
  async next(timeoutMs = 5000): Promise<Buffer | null> {
    const deadline = Date.now() + timeoutMs;
    while (this.frames.length === 0) {
      if (this.closed) return null;
      if (Date.now() > deadline) throw new Error('timed out waiting for a frame');
      await new Promise<void>((resolve) => {
        this.waiters.push(resolve);
        setTimeout(resolve, 50);
      });
    }
    return this.frames.shift()!;
  }

  write(bytes: Buffer): void {
    this.socket.write(bytes);
  }

  /** Reads the watch events that arrive within `quietMs` of each other (after the last request). */
  async drainEvents(quietMs = 300): Promise<void> {
    for (;;) {
      let frame: Buffer | null;
      try {
        frame = await this.next(quietMs);
      } catch {
        return;
      }
      if (!frame) return;
      const reader = new Reader(frame);
      if (reader.int() !== -1) continue;
      reader.long();
      reader.int();
      const type = reader.int();
      reader.int();
      this.events.push([type, reader.string()]);
    }
  }

  async handshake(opts: { sessionId?: bigint; passwd?: Buffer; lastZxidSeen?: number; timeOutMs?: number } = {}) {
    const w = new Writer();
    encodeConnectRequest(w, {
      protocolVersion: 0,
      lastZxidSeen: opts.lastZxidSeen ?? 0,
      timeOutMs: opts.timeOutMs ?? 10_000,
      sessionId: opts.sessionId ?? 0n,
      passwd: opts.passwd ?? Buffer.alloc(16),
      readOnly: false,
    });
    this.write(w.take());
    const frame = await this.next();
    if (!frame) return null;
    const r = new Reader(frame);
    r.int();
    const timeOutMs = r.int();
    const sessionId = r.bigLong();
    const passwd = r.buffer();
    return { timeOutMs, sessionId, passwd };
  }

  async call(
    xid: number,
    body: RequestBody,
  ): Promise<{ xid: number; zxid: number; err: number; reader: Reader } | null> {
    const w = new Writer();
    encodeRequest(w, { xid, body });
    this.write(w.take());
    for (;;) {
      const frame = await this.next();
      if (!frame) return null;
      const reader = new Reader(frame);
      const header = { xid: reader.int(), zxid: reader.long(), err: reader.int() };
      if (header.xid === -1) {
        const type = reader.int();
        reader.int();
        this.events.push([type, reader.string()]);
        continue;
      }
      return { ...header, reader };
    }
  }

  close(): void {
    this.socket.destroy();
  }
}
