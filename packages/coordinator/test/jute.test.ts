import { createRequire } from 'node:module';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  BodyError,
  decodeConnectRequest,
  decodeRequest,
  encodeConnectRequest,
  encodeConnectResponse,
  encodeReply,
  encodeRequest,
  encodeWatchEvent,
  FrameDecoder,
  JuteError,
  Reader,
  UnknownOpcodeError,
  Writer,
  type Request,
  type Stat,
} from '../src/jute.js';
import { decodeSnapshot, encodeSnapshot, encodeTxnRecord, scanLog } from '../src/records.js';
import { OpCode } from '../src/protocol.js';

// node-zookeeper-client's own jute classes: the bytes a real client sends and expects.
const require = createRequire(import.meta.url);
// biome-ignore lint/suspicious/noExplicitAny: node-zookeeper-client's jute module is untyped JavaScript
const clientJute: any = require('node-zookeeper-client/lib/jute/index.js');

const long = (n: number) => {
  const b = Buffer.alloc(8);
  b.writeBigInt64BE(BigInt(n));
  return b;
};

function clientFrame(type: number, xid: number, payload: unknown): Buffer {
  const header = new clientJute.protocol.RequestHeader(xid, type);
  const bytes: Buffer = new clientJute.Request(header, payload).toBuffer();
  return bytes.subarray(4); // without the length prefix
}

const STAT: Stat = {
  czxid: 0x1_0000_0005,
  mzxid: 7,
  ctime: 1_700_000_000_123,
  mtime: 1_700_000_000_456,
  version: 3,
  cversion: -1,
  aversion: 2,
  ephemeralOwner: -0x7123456789abcdefn,
  dataLength: 5,
  numChildren: 1,
  pzxid: 9,
};

describe('requests as node-zookeeper-client encodes them', () => {
  it('decodes the connect request (without the readOnly byte) and a Java-style one (with it)', () => {
    const req = new clientJute.protocol.ConnectRequest(0, long(42), 30000, long(0x1234), Buffer.alloc(16, 1));
    const frame: Buffer = new clientJute.Request(null, req).toBuffer().subarray(4);
    expect(decodeConnectRequest(frame)).toEqual({
      protocolVersion: 0,
      lastZxidSeen: 42,
      timeOutMs: 30000,
      sessionId: 0x1234n,
      passwd: Buffer.alloc(16, 1),
      readOnly: null,
    });
    const w = new Writer();
    encodeConnectRequest(w, {
      protocolVersion: 0,
      lastZxidSeen: 0,
      timeOutMs: 1,
      sessionId: 0n,
      passwd: Buffer.alloc(16),
      readOnly: false,
    });
    expect(decodeConnectRequest(w.take().subarray(4)).readOnly).toBe(false);
  });

  it('decodes create, setData, getData, getChildren2, delete, setACL and setWatches', () => {
    const acl = [new clientJute.data.ACL(31, new clientJute.data.Id('world', 'anyone'))];
    const create = new clientJute.protocol.CreateRequest('/a/b', Buffer.from('data'), acl, 3);
    expect(decodeRequest(clientFrame(OpCode.create, 5, create))).toEqual({
      xid: 5,
      body: {
        type: OpCode.create,
        path: '/a/b',
        data: Buffer.from('data'),
        acl: [{ perms: 31, id: { scheme: 'world', id: 'anyone' } }],
        flags: 3,
      },
    });
    const nullData = new clientJute.protocol.CreateRequest('/n', undefined, acl, 0);
    expect(decodeRequest(clientFrame(OpCode.create, 6, nullData)).body).toMatchObject({ data: null });
    const set = new clientJute.protocol.SetDataRequest('/a', Buffer.from('x'), 4);
    expect(decodeRequest(clientFrame(OpCode.setData, 7, set)).body).toEqual({
      type: OpCode.setData,
      path: '/a',
      data: Buffer.from('x'),
      version: 4,
    });
    const get = new clientJute.protocol.GetDataRequest('/a', true);
    expect(decodeRequest(clientFrame(OpCode.getData, 8, get)).body).toEqual({
      type: OpCode.getData,
      path: '/a',
      watch: true,
    });
    const kids = new clientJute.protocol.GetChildren2Request('/', false);
    expect(decodeRequest(clientFrame(OpCode.getChildren2, 9, kids)).body).toEqual({
      type: OpCode.getChildren2,
      path: '/',
      watch: false,
    });
    const del = new clientJute.protocol.DeleteRequest('/a', -1);
    expect(decodeRequest(clientFrame(OpCode.delete, 10, del)).body).toEqual({
      type: OpCode.delete,
      path: '/a',
      version: -1,
    });
    const sw = new clientJute.protocol.SetWatches(long(77), ['/d'], ['/e1', '/e2'], []);
    expect(decodeRequest(clientFrame(OpCode.setWatches, -8, sw))).toEqual({
      xid: -8,
      body: {
        type: OpCode.setWatches,
        relativeZxid: 77,
        dataWatches: ['/d'],
        existWatches: ['/e1', '/e2'],
        childWatches: [],
      },
    });
    const ping: Buffer = new clientJute.Request(new clientJute.protocol.RequestHeader(-2, OpCode.ping), null)
      .toBuffer()
      .subarray(4);
    expect(decodeRequest(ping)).toEqual({ xid: -2, body: { type: OpCode.ping } });
  });

  it('decodes a multi (TransactionRequest)', () => {
    const acl = { toRecord: () => new clientJute.data.ACL(31, new clientJute.data.Id('world', 'anyone')) };
    const txn = new clientJute.TransactionRequest([
      { type: OpCode.create, path: '/m', data: Buffer.from('d'), acls: [acl], mode: 0 },
      { type: OpCode.check, path: '/m', version: 0 },
      { type: OpCode.setData, path: '/m', data: Buffer.from('e'), version: -1 },
      { type: OpCode.delete, path: '/m', version: -1 },
    ]);
    const body = decodeRequest(clientFrame(OpCode.multi, 11, txn)).body;
    expect(body.type).toBe(OpCode.multi);
    if (body.type !== OpCode.multi) return;
    expect(body.ops.map((o) => [o.type, o.path])).toEqual([
      [OpCode.create, '/m'],
      [OpCode.check, '/m'],
      [OpCode.setData, '/m'],
      [OpCode.delete, '/m'],
    ]);
  });

  it('round-trips every request body through encodeRequest/decodeRequest', () => {
    const requests: Request[] = [
      { xid: 1, body: { type: OpCode.getACL, path: '/x' } },
      {
        xid: 2,
        body: { type: OpCode.setACL, path: '/x', acl: [{ perms: 1, id: { scheme: 'digest', id: 'u:h' } }], version: 2 },
      },
      { xid: 3, body: { type: OpCode.sync, path: '/' } },
      { xid: 4, body: { type: OpCode.check, path: '/x', version: 3 } },
      { xid: -4, body: { type: OpCode.auth, authType: 0, scheme: 'digest', auth: Buffer.from('u:p') } },
      { xid: 5, body: { type: OpCode.closeSession } },
      { xid: 6, body: { type: OpCode.getAllChildrenNumber, path: '/' } },
    ];
    for (const req of requests) {
      const w = new Writer(8);
      encodeRequest(w, req);
      expect(decodeRequest(w.take().subarray(4))).toEqual(req);
    }
  });

  it('reports unknown opcodes and bad bodies with the xid', () => {
    const w = new Writer();
    w.int(9).int(999);
    expect(() => decodeRequest(w.take())).toThrow(UnknownOpcodeError);
    w.int(10).int(OpCode.getData).int(100); // path length past the end
    try {
      decodeRequest(w.take());
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(BodyError);
      expect((err as BodyError).xid).toBe(10);
    }
  });
});

describe('replies as node-zookeeper-client decodes them', () => {
  const parse = (bytes: Buffer) => {
    const header = new clientJute.protocol.ReplyHeader();
    const off = 4 + header.deserialize(bytes, 4);
    return { header, off };
  };

  it('encodes ConnectResponse, GetDataResponse (with the Stat), children and watch events', () => {
    const w = new Writer();
    encodeConnectResponse(w, { timeOutMs: 4000, sessionId: 0x77n, passwd: Buffer.alloc(16, 9), readOnly: null });
    const connect = w.take();
    expect(connect.readInt32BE(0)).toBe(connect.length - 4);
    const rsp = new clientJute.protocol.ConnectResponse();
    rsp.deserialize(connect, 4);
    expect([rsp.timeOut, rsp.sessionId.readBigInt64BE(0), rsp.passwd]).toEqual([4000, 0x77n, Buffer.alloc(16, 9)]);

    encodeReply(w, 3, 0x1_0000_0009, 0, { kind: 'data', data: Buffer.from('hello'), stat: STAT });
    const data = w.take();
    const { header, off } = parse(data);
    expect([header.xid, header.zxid.readBigInt64BE(0), header.err]).toEqual([3, 0x1_0000_0009n, 0]);
    const body = new clientJute.protocol.GetDataResponse();
    body.deserialize(data, off);
    expect(body.data.toString()).toBe('hello');
    expect(body.stat.czxid.readBigInt64BE(0)).toBe(BigInt(STAT.czxid));
    expect(body.stat.ctime.readBigInt64BE(0)).toBe(BigInt(STAT.ctime));
    expect(body.stat.ephemeralOwner.readBigInt64BE(0)).toBe(STAT.ephemeralOwner);
    expect([
      body.stat.version,
      body.stat.cversion,
      body.stat.aversion,
      body.stat.dataLength,
      body.stat.numChildren,
    ]).toEqual([3, -1, 2, 5, 1]);

    encodeReply(w, 4, 1, 0, { kind: 'data', data: null, stat: STAT });
    const nul = w.take();
    const g = new clientJute.protocol.GetDataResponse();
    g.deserialize(nul, parse(nul).off);
    expect(g.data).toBeUndefined();

    encodeReply(w, 5, 1, 0, { kind: 'children2', children: ['a', 'b'], stat: STAT });
    const kids = w.take();
    const k = new clientJute.protocol.GetChildren2Response();
    k.deserialize(kids, parse(kids).off);
    expect(k.children).toEqual(['a', 'b']);

    encodeWatchEvent(w, 3, 3, '/p');
    const ev = w.take();
    const evh = parse(ev);
    expect([evh.header.xid, evh.header.zxid.readBigInt64BE(0)]).toEqual([-1, -1n]);
    const we = new clientJute.protocol.WatcherEvent();
    we.deserialize(ev, evh.off);
    expect([we.type, we.state, we.path]).toEqual([3, 3, '/p']);
  });

  it('omits the body on errors and encodes multi results', () => {
    const w = new Writer();
    encodeReply(w, 7, 2, -101, { kind: 'stat', stat: STAT });
    expect(w.take().length).toBe(4 + 16);
    encodeReply(w, 8, 2, 0, {
      kind: 'multi',
      results: [
        { type: OpCode.create, path: '/m' },
        { type: OpCode.setData, stat: STAT },
        { type: OpCode.check },
        { type: OpCode.delete },
        { type: OpCode.error, err: -2 },
      ],
    });
    const multi = w.take();
    const t = new clientJute.TransactionResponse();
    t.deserialize(multi, parse(multi).off);
    expect(t.results.map((r: { type: number }) => r.type)).toEqual([
      OpCode.create,
      OpCode.setData,
      OpCode.check,
      OpCode.delete,
      -1,
    ]);
    expect(t.results[0].path).toBe('/m');
    expect(t.results[4].err).toBe(-2);
  });

  it('reads and writes longs exactly across the 32-bit boundary', () => {
    for (const v of [0, 1, 0xffff_ffff, 0x1_0000_0000, 2 ** 53 - 1, -1, -(2 ** 40)]) {
      const w = new Writer(1);
      w.long(v);
      expect(new Reader(w.take()).long()).toBe(v);
    }
  });
});

describe('fuzzing: malformed input only ever raises JuteError', () => {
  const onlyJute = (fn: () => unknown) => {
    try {
      fn();
    } catch (err) {
      if (!(err instanceof JuteError)) throw err;
    }
  };
  const validFrames: Buffer[] = (() => {
    const w = new Writer();
    const acl = [{ perms: 31, id: { scheme: 'world', id: 'anyone' } }];
    const reqs: Request[] = [
      { xid: 1, body: { type: OpCode.create, path: '/abc', data: Buffer.from('xyz'), acl, flags: 1 } },
      {
        xid: 2,
        body: {
          type: OpCode.setWatches,
          relativeZxid: 5,
          dataWatches: ['/a'],
          existWatches: [],
          childWatches: ['/b', '/c'],
        },
      },
      {
        xid: 3,
        body: {
          type: OpCode.multi,
          ops: [
            { type: OpCode.create, path: '/m', data: null, acl, flags: 0 },
            { type: OpCode.delete, path: '/m', version: -1 },
          ],
        },
      },
      { xid: 4, body: { type: OpCode.setACL, path: '/x', acl, version: 0 } },
    ];
    return reqs.map((r) => {
      encodeRequest(w, r);
      return w.take().subarray(4);
    });
  })();

  it('decodeRequest / decodeConnectRequest on random bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => {
        const buf = Buffer.from(bytes);
        onlyJute(() => decodeRequest(buf));
        onlyJute(() => decodeConnectRequest(buf));
      }),
      { numRuns: 3000 },
    );
  });

  it('decodeRequest on mutated and truncated valid frames', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: validFrames.length - 1 }),
        fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 6 }),
        fc.nat(),
        (which, flips, cut) => {
          const buf = Buffer.from(validFrames[which]!);
          for (const [pos, value] of flips) buf[pos % buf.length] = value;
          onlyJute(() => decodeRequest(buf));
          onlyJute(() => decodeRequest(buf.subarray(0, cut % (buf.length + 1))));
        },
      ),
      { numRuns: 3000 },
    );
  });

  it('FrameDecoder reassembles frames split anywhere, and rejects bad lengths with JuteError', () => {
    fc.assert(
      fc.property(
        fc.array(fc.uint8Array({ maxLength: 50 }), { maxLength: 8 }),
        fc.array(fc.nat(), { maxLength: 10 }),
        (payloads, cuts) => {
          const stream = Buffer.concat(
            payloads.map((p) => {
              const b = Buffer.alloc(4 + p.length);
              b.writeInt32BE(p.length);
              Buffer.from(p).copy(b, 4);
              return b;
            }),
          );
          const points = [...new Set(cuts.map((c) => c % (stream.length + 1)))].sort((a, b) => a - b);
          const decoder = new FrameDecoder(100);
          const got: Buffer[] = [];
          let prev = 0;
          for (const p of [...points, stream.length]) {
            got.push(...decoder.push(stream.subarray(prev, p)).map((f) => Buffer.from(f)));
            prev = p;
          }
          expect(got).toEqual(payloads.map((p) => Buffer.from(p)));
        },
      ),
      { numRuns: 500 },
    );
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (bytes) => {
        const decoder = new FrameDecoder(64);
        onlyJute(() => decoder.push(Buffer.from(bytes)));
      }),
      { numRuns: 2000 },
    );
    const decoder = new FrameDecoder(1024);
    const big = Buffer.alloc(4);
    big.writeInt32BE(1025);
    expect(() => decoder.push(big)).toThrow(JuteError);
    const neg = Buffer.alloc(4);
    neg.writeInt32BE(-1);
    expect(() => new FrameDecoder(1024).push(neg)).toThrow(JuteError);
  });

  it('log scanning and snapshot decoding never throw on garbage', () => {
    const record = encodeTxnRecord({
      zxid: 1,
      timeMs: 2,
      sessionId: 3n,
      op: { type: 'create', path: '/a', data: null, acl: [], ephemeralOwner: 0n, parentCversion: 1 },
    });
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), fc.nat(), (bytes, pos) => {
        scanLog(Buffer.from(bytes));
        const mutated = Buffer.from(record);
        const at = pos % mutated.length;
        mutated[at] = mutated[at]! ^ 0xff;
        const scan = scanLog(mutated);
        expect(scan.txns.length).toBe(0); // the checksum catches any single-byte change
        onlyJute(() => decodeSnapshot(Buffer.from(bytes)));
      }),
      { numRuns: 2000 },
    );
    const snap = encodeSnapshot({ zxid: 5, highestSessionId: 1n, sessions: [], nodes: [] });
    expect(decodeSnapshot(snap).zxid).toBe(5);
    const bad = Buffer.from(snap);
    bad[10] = bad[10]! ^ 1;
    expect(() => decodeSnapshot(bad)).toThrow(JuteError);
  });
});
