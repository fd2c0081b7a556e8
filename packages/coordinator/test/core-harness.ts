/** A deterministic driver for the pure core: fake clock, counter passwords, helpers to pick outputs. */
import { CoordinatorCore, type Output, type Txn } from '../src/core.js';
import type { Acl, RequestBody, ResponseBody } from '../src/jute.js';
import { OpCode, Perms } from '../src/protocol.js';

export const OPEN: Acl[] = [{ perms: Perms.ALL, id: { scheme: 'world', id: 'anyone' } }];

export class Harness {
  readonly core: CoordinatorCore;
  readonly txns: Txn[] = [];
  readonly log: Output[] = [];
  nowMs = 1_000_000;
  private xid = 1;
  private passwords = 0;

  constructor(opts: { minSessionTimeoutMs?: number; maxSessionTimeoutMs?: number } = {}) {
    this.core = new CoordinatorCore({
      minSessionTimeoutMs: opts.minSessionTimeoutMs ?? 4000,
      maxSessionTimeoutMs: opts.maxSessionTimeoutMs ?? 40000,
      newPassword: () => {
        const b = Buffer.alloc(16);
        b.writeUInt32BE(++this.passwords, 12);
        return b;
      },
      sessionIdBase: 0x1000n,
    });
  }

  private record(outs: Output[]): Output[] {
    for (const o of outs) if (o.kind === 'txn') this.txns.push(o.txn);
    this.log.push(...outs);
    return outs;
  }

  connect(
    connId: number,
    opts: { timeoutMs?: number; sessionId?: bigint; passwd?: Buffer; lastZxidSeen?: number } = {},
  ): Output[] {
    return this.record(
      this.core.connect(
        connId,
        {
          protocolVersion: 0,
          lastZxidSeen: opts.lastZxidSeen ?? 0,
          timeOutMs: opts.timeoutMs ?? 10_000,
          sessionId: opts.sessionId ?? 0n,
          passwd: opts.passwd ?? Buffer.alloc(16),
          readOnly: null,
        },
        this.nowMs,
      ),
    );
  }

  /** Connects and returns the new session id. */
  session(connId: number, timeoutMs = 10_000): bigint {
    const out = this.connect(connId, { timeoutMs });
    const c = out.find((o) => o.kind === 'connected');
    if (c?.kind !== 'connected') throw new Error('no connect response');
    return c.rsp.sessionId;
  }

  send(connId: number, body: RequestBody): Output[] {
    return this.record(this.core.handle(connId, { xid: this.xid++, body }, this.nowMs));
  }

  /** Sends and returns the reply (err, zxid, body). */
  call(connId: number, body: RequestBody): { err: number; zxid: number; body: ResponseBody; outputs: Output[] } {
    const outputs = this.send(connId, body);
    const r = outputs.find((o) => o.kind === 'reply');
    if (r?.kind !== 'reply') throw new Error('no reply');
    return { err: r.err, zxid: r.zxid, body: r.body, outputs };
  }

  tick(): Output[] {
    return this.record(this.core.tick(this.nowMs));
  }

  create(connId: number, path: string, data: string | null = null, flags = 0, acl: Acl[] = OPEN) {
    return this.call(connId, { type: OpCode.create, path, data: data === null ? null : Buffer.from(data), acl, flags });
  }
  setData(connId: number, path: string, data: string, version = -1) {
    return this.call(connId, { type: OpCode.setData, path, data: Buffer.from(data), version });
  }
  remove(connId: number, path: string, version = -1) {
    return this.call(connId, { type: OpCode.delete, path, version });
  }
  exists(connId: number, path: string, watch = false) {
    return this.call(connId, { type: OpCode.exists, path, watch });
  }
  getData(connId: number, path: string, watch = false) {
    return this.call(connId, { type: OpCode.getData, path, watch });
  }
  children(connId: number, path: string, watch = false) {
    return this.call(connId, { type: OpCode.getChildren2, path, watch });
  }
}

export function events(outputs: Output[]): string[] {
  return outputs.flatMap((o) => (o.kind === 'event' ? [`${o.connId}:${o.type}:${o.path}`] : []));
}

export function stat(body: ResponseBody) {
  if (
    body.kind === 'stat' ||
    body.kind === 'data' ||
    body.kind === 'children2' ||
    body.kind === 'pathStat' ||
    body.kind === 'acl'
  )
    return body.stat;
  throw new Error(`no stat in ${body.kind}`);
}
