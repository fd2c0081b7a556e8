import { describe, expect, it } from 'vitest';
import { type CoordinatorCore, sequenceSuffix } from '../src/core.js';
import { decodeSnapshot, encodeSnapshot } from '../src/records.js';
import { ErrorCode, EventType, OpCode, Perms } from '../src/protocol.js';
import { events, Harness, OPEN, stat } from './core-harness.js';

describe('data tree', () => {
  it('starts with the tree of a fresh ZooKeeper 3.8', () => {
    const h = new Harness();
    h.session(1);
    const root = h.children(1, '/');
    expect(root.body).toMatchObject({ kind: 'children2', children: ['zookeeper'] });
    expect(stat(root.body)).toMatchObject({ cversion: -1, numChildren: 1, czxid: 0, pzxid: 0 });
    const zk = h.children(1, '/zookeeper');
    expect(zk.body).toMatchObject({ children: ['config', 'quota'] });
    expect(stat(zk.body).cversion).toBe(-2);
    expect(stat(h.getData(1, '/zookeeper/config').body).aversion).toBe(-1);
  });

  it('fills every Stat field on create, and updates the parent', () => {
    const h = new Harness();
    const sid = h.session(1); // createSession is zxid 1
    h.nowMs = 5000;
    const c = h.create(1, '/a', 'xyz');
    expect(c.err).toBe(0);
    expect(c.zxid).toBe(2);
    expect(c.body).toEqual({ kind: 'path', path: '/a' });
    expect(stat(h.exists(1, '/a').body)).toEqual({
      czxid: 2,
      mzxid: 2,
      pzxid: 2,
      ctime: 5000,
      mtime: 5000,
      version: 0,
      cversion: 0,
      aversion: 0,
      ephemeralOwner: 0n,
      dataLength: 3,
      numChildren: 0,
    });
    h.nowMs = 6000;
    h.create(1, '/a/e', null, 1);
    const a = stat(h.exists(1, '/a').body);
    expect(a).toMatchObject({ pzxid: 3, cversion: 1, numChildren: 1, mzxid: 2 });
    expect(stat(h.exists(1, '/a/e').body)).toMatchObject({ ephemeralOwner: sid, dataLength: 0 });
    const s = h.setData(1, '/a', 'hello', 0);
    expect(stat(s.body)).toMatchObject({ version: 1, mzxid: 4, mtime: 6000, ctime: 5000, dataLength: 5 });
    const acl = h.call(1, { type: OpCode.setACL, path: '/a', acl: OPEN, version: 0 });
    expect(stat(acl.body)).toMatchObject({ aversion: 1, version: 1, mzxid: 4 });
    // Reads report the latest zxid; failed writes consume one.
    expect(h.create(1, '/a', 'again').err).toBe(ErrorCode.NODEEXISTS);
    expect(h.getData(1, '/a').zxid).toBe(6);
  });

  it('numbers sequential nodes by child creations; cversion counts deletes too', () => {
    const h = new Harness();
    h.session(1);
    h.create(1, '/q');
    expect(h.create(1, '/q/n-', null, 2).body).toEqual({ kind: 'path', path: '/q/n-0000000000' });
    expect(h.create(1, '/q/n-', null, 3).body).toEqual({ kind: 'path', path: '/q/n-0000000001' });
    h.remove(1, '/q/n-0000000000');
    expect(stat(h.exists(1, '/q').body)).toMatchObject({ cversion: 3, numChildren: 1 });
    expect(h.create(1, '/q/n-', null, 2).body).toEqual({ kind: 'path', path: '/q/n-0000000002' });
    expect(h.create(1, '/q/', null, 2).body).toEqual({ kind: 'path', path: '/q/0000000003' });
    expect(sequenceSuffix(-5)).toBe('-000000005');
  });

  it('answers with ZooKeeper error codes', () => {
    const h = new Harness();
    h.session(1);
    h.create(1, '/p');
    h.create(1, '/p/c');
    h.create(1, '/eph', null, 1);
    expect(h.create(1, '/missing/x').err).toBe(ErrorCode.NONODE);
    expect(h.create(1, '/p').err).toBe(ErrorCode.NODEEXISTS);
    expect(h.create(1, '/').err).toBe(ErrorCode.NODEEXISTS);
    expect(h.create(1, '/eph/x').err).toBe(ErrorCode.NOCHILDRENFOREPHEMERALS);
    expect(h.create(1, '/p/').err).toBe(ErrorCode.BADARGUMENTS);
    expect(h.create(1, '/p//x').err).toBe(ErrorCode.NONODE); // the parent '/p/' is looked up first, as ZooKeeper does
    expect(h.create(1, '/p/a\u0001').err).toBe(ErrorCode.BADARGUMENTS);
    expect(h.create(1, '/p/.').err).toBe(ErrorCode.BADARGUMENTS);
    expect(h.create(1, 'relative').err).toBe(ErrorCode.BADARGUMENTS);
    expect(h.create(1, '/p/x', null, 7).err).toBe(ErrorCode.BADARGUMENTS);
    expect(h.create(1, '/p/x', null, 0, []).err).toBe(ErrorCode.INVALIDACL);
    expect(h.create(1, '/p/x', null, 0, [{ perms: 31, id: { scheme: 'auth', id: '' } }]).err).toBe(
      ErrorCode.INVALIDACL,
    );
    expect(h.remove(1, '/p').err).toBe(ErrorCode.NOTEMPTY);
    expect(h.remove(1, '/p/c', 3).err).toBe(ErrorCode.BADVERSION);
    expect(h.remove(1, '/p/none').err).toBe(ErrorCode.NONODE);
    expect(h.remove(1, '/').err).toBe(ErrorCode.BADARGUMENTS);
    expect(h.remove(1, '/zookeeper').err).toBe(ErrorCode.BADARGUMENTS);
    expect(h.setData(1, '/p', 'x', 9).err).toBe(ErrorCode.BADVERSION);
    expect(h.setData(1, '/zookeeper/config', 'x').err).toBe(ErrorCode.NOAUTH);
    expect(h.getData(1, '/none').err).toBe(ErrorCode.NONODE);
    expect(h.exists(1, '/none').err).toBe(ErrorCode.NONODE);
    expect(h.call(1, { type: OpCode.check, path: '/p', version: 1 }).err).toBe(ErrorCode.BADVERSION);
  });

  it('enforces world and digest ACLs', () => {
    const h = new Harness();
    h.session(1);
    h.session(2);
    h.call(1, { type: OpCode.auth, authType: 0, scheme: 'digest', auth: Buffer.from('bob:secret') });
    expect(h.create(1, '/private', 'x', 0, [{ perms: Perms.ALL, id: { scheme: 'auth', id: '' } }]).err).toBe(0);
    expect(h.getData(2, '/private').err).toBe(ErrorCode.NOAUTH);
    expect(h.getData(1, '/private').err).toBe(0);
    const bad = h.send(2, { type: OpCode.auth, authType: 0, scheme: 'kerberos', auth: Buffer.alloc(0) });
    expect(bad.map((o) => o.kind)).toEqual(['reply', 'close']);
  });
});

describe('containers', () => {
  it('reports ephemeralOwner 0, allows children, and are deleted once empty after having had children', () => {
    const h = new Harness();
    h.session(1, 40_000);
    expect(h.create(1, '/box', null, 4).err).toBe(0);
    expect(stat(h.exists(1, '/box').body).ephemeralOwner).toBe(0n);
    const wait61s = () => {
      for (let i = 0; i < 2; i++) {
        h.nowMs += 30_500;
        h.call(1, { type: OpCode.ping });
      }
    };
    wait61s();
    expect(h.tick()).toEqual([]); // never had children: stays
    expect(h.create(1, '/box/item').err).toBe(0);
    h.remove(1, '/box/item');
    h.exists(1, '/box', true);
    wait61s();
    const out = h.tick();
    expect(events(out)).toEqual([`1:${EventType.NodeDeleted}:/box`]);
    expect(h.core.getNode('/box')).toBeUndefined();
  });
});

describe('multi', () => {
  it('applies all ops atomically under one zxid', () => {
    const h = new Harness();
    h.session(1);
    const r = h.call(1, {
      type: OpCode.multi,
      ops: [
        { type: OpCode.create, path: '/m', data: Buffer.from('a'), acl: OPEN, flags: 0 },
        { type: OpCode.create2, path: '/m/s-', data: null, acl: OPEN, flags: 2 },
        { type: OpCode.setData, path: '/m', data: Buffer.from('bb'), version: 0 },
        { type: OpCode.check, path: '/m', version: 1 },
      ],
    });
    expect(r.err).toBe(0);
    expect(r.body.kind).toBe('multi');
    if (r.body.kind !== 'multi') return;
    expect(r.body.results.map((x) => x.type)).toEqual([OpCode.create, OpCode.create2, OpCode.setData, OpCode.check]);
    expect(r.body.results[1]).toMatchObject({ path: '/m/s-0000000000', stat: { czxid: r.zxid } });
    expect(stat(h.exists(1, '/m').body)).toMatchObject({ czxid: r.zxid, mzxid: r.zxid, version: 1, numChildren: 1 });
  });

  it('on failure changes nothing and reports OK / the error / RUNTIMEINCONSISTENCY', () => {
    const h = new Harness();
    h.session(1);
    h.create(1, '/keep', 'k');
    const before = h.core.snapshot();
    const watch = h.getData(1, '/keep', true);
    expect(watch.err).toBe(0);
    const r = h.call(1, {
      type: OpCode.multi,
      ops: [
        { type: OpCode.create, path: '/m1', data: null, acl: OPEN, flags: 0 },
        { type: OpCode.setData, path: '/keep', data: Buffer.from('changed'), version: -1 },
        { type: OpCode.delete, path: '/keep', version: 7 },
        { type: OpCode.create, path: '/m2', data: null, acl: OPEN, flags: 0 },
      ],
    });
    expect(r.err).toBe(0);
    expect(r.body).toEqual({
      kind: 'multi',
      results: [
        { type: OpCode.error, err: 0 },
        { type: OpCode.error, err: 0 },
        { type: OpCode.error, err: ErrorCode.BADVERSION },
        { type: OpCode.error, err: ErrorCode.RUNTIMEINCONSISTENCY },
      ],
    });
    expect(events(r.outputs)).toEqual([]);
    expect(r.zxid).toBe(before.zxid + 1);
    const after = h.core.snapshot();
    expect(after.nodes).toEqual(before.nodes);
    expect(h.getData(1, '/keep').body).toMatchObject({ data: Buffer.from('k') });
  });
});

describe('watches', () => {
  it('fires one-shot data, exist and child watches with the right types, before the write reply', () => {
    const h = new Harness();
    h.session(1);
    h.session(2);
    h.create(1, '/w', 'a');
    h.getData(2, '/w', true);
    h.getData(2, '/w', true); // registering twice still fires once
    h.exists(2, '/x', true);
    h.children(2, '/', true);
    const set = h.setData(1, '/w', 'b');
    expect(events(set.outputs)).toEqual([`2:${EventType.NodeDataChanged}:/w`]);
    const kinds = set.outputs.map((o) => o.kind);
    expect(kinds.indexOf('event')).toBeLessThan(kinds.indexOf('reply'));
    expect(events(h.setData(1, '/w', 'c').outputs)).toEqual([]);
    expect(events(h.create(1, '/x').outputs)).toEqual([
      `2:${EventType.NodeCreated}:/x`,
      `2:${EventType.NodeChildrenChanged}:/`,
    ]);
    expect(h.core.watchCount).toBe(0);
  });

  it('sends one NodeDeleted per connection when data and child watches are both set', () => {
    const h = new Harness();
    h.session(1);
    h.session(2);
    h.create(1, '/d');
    h.getData(2, '/d', true);
    h.children(2, '/d', true);
    h.children(1, '/d', true);
    h.children(2, '/', true);
    expect(events(h.remove(1, '/d').outputs)).toEqual([
      `2:${EventType.NodeDeleted}:/d`,
      `1:${EventType.NodeDeleted}:/d`,
      `2:${EventType.NodeChildrenChanged}:/`,
    ]);
  });

  it('does not set a getData watch on a missing node, and drops watches with the connection', () => {
    const h = new Harness();
    h.session(1);
    h.session(2);
    h.getData(2, '/none', true);
    expect(h.core.watchCount).toBe(0);
    h.exists(2, '/none', true);
    expect(h.core.watchCount).toBe(1);
    h.core.disconnect(2);
    expect(h.core.watchCount).toBe(0);
    expect(events(h.create(1, '/none').outputs)).toEqual([]);
  });

  it('setWatches fires at once for changes after relativeZxid and re-registers the rest', () => {
    const h = new Harness();
    h.session(1);
    h.create(1, '/same', 's');
    h.create(1, '/changed', 'c');
    h.create(1, '/gone');
    h.create(1, '/kids');
    const rel = h.core.zxid;
    h.setData(1, '/changed', 'c2');
    h.remove(1, '/gone');
    h.create(1, '/kids/k');
    h.create(1, '/born');
    const sid = h.session(2);
    expect(sid).toBeGreaterThan(0n);
    const r = h.call(2, {
      type: OpCode.setWatches,
      relativeZxid: rel,
      dataWatches: ['/same', '/changed', '/gone'],
      existWatches: ['/born', '/unborn'],
      childWatches: ['/kids', '/same'],
    });
    expect(r.err).toBe(0);
    expect(events(r.outputs)).toEqual([
      `2:${EventType.NodeDataChanged}:/changed`,
      `2:${EventType.NodeDeleted}:/gone`,
      `2:${EventType.NodeCreated}:/born`,
      `2:${EventType.NodeChildrenChanged}:/kids`,
    ]);
    expect(h.core.watchCount).toBe(3);
    expect(events(h.setData(1, '/same', 'x').outputs)).toEqual([`2:${EventType.NodeDataChanged}:/same`]);
  });
});

describe('persistent watches', () => {
  it('persistent watches stay; recursive ones see descendants, not child lists; getData makes data one-shot', () => {
    const h = new Harness();
    h.session(1);
    h.session(2);
    h.create(1, '/p');
    expect(h.call(2, { type: OpCode.addWatch, path: '/p', mode: 0 }).err).toBe(0);
    expect(h.call(2, { type: OpCode.addWatch, path: '/r', mode: 1 }).err).toBe(0);
    expect(h.call(2, { type: OpCode.addWatch, path: '/p', mode: 9 }).err).toBe(ErrorCode.MARSHALLINGERROR);
    expect(events(h.setData(1, '/p', 'a').outputs)).toEqual([`2:${EventType.NodeDataChanged}:/p`]);
    expect(events(h.setData(1, '/p', 'b').outputs)).toEqual([`2:${EventType.NodeDataChanged}:/p`]);
    expect(events(h.create(1, '/p/c').outputs)).toEqual([`2:${EventType.NodeChildrenChanged}:/p`]);
    expect(events(h.create(1, '/r').outputs)).toEqual([`2:${EventType.NodeCreated}:/r`]);
    expect(events(h.create(1, '/r/x').outputs)).toEqual([`2:${EventType.NodeCreated}:/r/x`]);
    expect(events(h.setData(1, '/r/x', 'd').outputs)).toEqual([`2:${EventType.NodeDataChanged}:/r/x`]);
    expect(events(h.remove(1, '/r/x').outputs)).toEqual([`2:${EventType.NodeDeleted}:/r/x`]);
    h.getData(2, '/p', true);
    expect(events(h.setData(1, '/p', 'c').outputs)).toEqual([`2:${EventType.NodeDataChanged}:/p`]);
    expect(events(h.setData(1, '/p', 'd').outputs)).toEqual([]);
    expect(h.call(2, { type: OpCode.checkWatches, path: '/p', watcherType: 2 }).err).toBe(ErrorCode.NOWATCHER);
    expect(h.call(2, { type: OpCode.checkWatches, path: '/p', watcherType: 1 }).err).toBe(0);
    expect(h.call(2, { type: OpCode.removeWatches, path: '/p', watcherType: 3 }).err).toBe(0);
    expect(h.call(2, { type: OpCode.removeWatches, path: '/p', watcherType: 3 }).err).toBe(ErrorCode.NOWATCHER);
    expect(events(h.create(1, '/p/d').outputs)).toEqual([]);
    h.core.disconnect(2);
    expect(h.core.watchCount).toBe(0);
  });

  it('a recursive watch lives in both tables, as on ZooKeeper 3.8 (differential testing found this)', () => {
    const h = new Harness();
    h.session(1);
    h.session(2);
    h.create(1, '/q');
    h.children(2, '/q', true);
    h.call(2, { type: OpCode.addWatch, path: '/q', mode: 1 });
    // The recursive mode replaced the one-shot child watch: no NodeChildrenChanged.
    expect(events(h.create(1, '/q/a').outputs)).toEqual([`2:${EventType.NodeCreated}:/q/a`]);
    // A getData watch turns the data side one-shot; the child side still hears deletions below.
    h.getData(2, '/q', true);
    expect(events(h.setData(1, '/q', 'x').outputs)).toEqual([`2:${EventType.NodeDataChanged}:/q`]);
    expect(events(h.create(1, '/q/a/b').outputs)).toEqual([]);
    expect(events(h.remove(1, '/q/a/b').outputs)).toEqual([`2:${EventType.NodeDeleted}:/q/a/b`]);
  });
});

describe('multiRead and ip ACLs', () => {
  it('answers each read op, with per-op errors', () => {
    const h = new Harness();
    h.session(1);
    h.create(1, '/m', 'data');
    h.create(1, '/m/k');
    const r = h.call(1, {
      type: OpCode.multiRead,
      ops: [
        { type: OpCode.getChildren, path: '/m', watch: false },
        { type: OpCode.getData, path: '/m', watch: true },
        { type: OpCode.getData, path: '/missing', watch: false },
      ],
    });
    expect(r.err).toBe(0);
    expect(r.body).toMatchObject({
      kind: 'multiRead',
      results: [
        { type: OpCode.getChildren, children: ['k'] },
        { type: OpCode.getData, data: Buffer.from('data') },
        { type: OpCode.error, err: ErrorCode.NONODE },
      ],
    });
    expect(h.core.watchCount).toBe(1);
  });

  it('matches ip ACLs against the client address and mask', () => {
    const h = new Harness();
    h.core.connect(
      7,
      {
        protocolVersion: 0,
        lastZxidSeen: 0,
        timeOutMs: 10_000,
        sessionId: 0n,
        passwd: Buffer.alloc(16),
        readOnly: null,
      },
      h.nowMs,
      '::ffff:10.1.2.3',
    );
    expect(h.create(7, '/ten', 'x', 0, [{ perms: 31, id: { scheme: 'ip', id: '10.0.0.0/8' } }]).err).toBe(0);
    expect(h.create(7, '/other', 'x', 0, [{ perms: 31, id: { scheme: 'ip', id: '192.168.0.1' } }]).err).toBe(0);
    expect(h.create(7, '/bad', 'x', 0, [{ perms: 31, id: { scheme: 'ip', id: 'not-an-ip' } }]).err).toBe(
      ErrorCode.INVALIDACL,
    );
    expect(h.getData(7, '/ten').err).toBe(0);
    expect(h.getData(7, '/other').err).toBe(ErrorCode.NOAUTH);
  });
});

describe('sessions', () => {
  it('clamps the timeout and expires idle sessions, deleting their ephemerals', () => {
    const h = new Harness({ minSessionTimeoutMs: 4000, maxSessionTimeoutMs: 40000 });
    const out = h.connect(1, { timeoutMs: 100 });
    expect(out.find((o) => o.kind === 'connected')).toMatchObject({ rsp: { timeOutMs: 4000 } });
    const big = h.connect(9, { timeoutMs: 1_000_000 });
    expect(big.find((o) => o.kind === 'connected')).toMatchObject({ rsp: { timeOutMs: 40000 } });
    h.session(2, 40000);
    h.create(1, '/e', null, 1);
    h.exists(2, '/e', true);
    h.nowMs += 3999;
    expect(h.tick()).toEqual([]);
    h.nowMs += 1;
    const expired = h.tick();
    expect(expired.map((o) => o.kind)).toEqual(['txn', 'event', 'close']);
    expect(events(expired)).toEqual([`2:${EventType.NodeDeleted}:/e`]);
    expect(h.exists(2, '/e').err).toBe(ErrorCode.NONODE);
  });

  it('keeps a session alive while it sends requests', () => {
    const h = new Harness();
    h.session(1, 4000);
    for (let i = 0; i < 10; i++) {
      h.nowMs += 3000;
      expect(h.tick()).toEqual([]);
      expect(h.call(1, { type: OpCode.ping }).err).toBe(0);
    }
  });

  it('reattaches with the right password, refuses a wrong one, and refuses clients ahead of it', () => {
    const h = new Harness();
    const out = h.connect(1);
    const c = out.find((o) => o.kind === 'connected');
    if (c?.kind !== 'connected') throw new Error('no connect');
    const { sessionId, passwd } = c.rsp;
    h.create(1, '/e', null, 1);
    const wrong = h.connect(2, { sessionId, passwd: Buffer.alloc(16, 7) });
    expect(wrong[0]).toMatchObject({ kind: 'connected', rsp: { timeOutMs: 0, sessionId: 0n } });
    expect(wrong[1]).toMatchObject({ kind: 'close', connId: 2 });
    const moved = h.connect(3, { sessionId, passwd, lastZxidSeen: h.core.zxid });
    expect(moved).toMatchObject([
      { kind: 'close', connId: 1 },
      { kind: 'connected', connId: 3, rsp: { sessionId } },
    ]);
    expect(h.exists(3, '/e').err).toBe(0);
    expect(h.connect(4, { lastZxidSeen: h.core.zxid + 1 })).toMatchObject([{ kind: 'close', connId: 4 }]);
    const closed = h.send(3, { type: OpCode.closeSession });
    expect(closed.map((o) => o.kind)).toEqual(['txn', 'reply', 'close']);
    expect(h.core.getNode('/e')).toBeUndefined();
    const late = h.connect(5, { sessionId, passwd });
    expect(late[0]).toMatchObject({ kind: 'connected', rsp: { timeOutMs: 0 } });
  });
});

/** A seeded PRNG so a failing seed reproduces. */
function prng(seed: number) {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function checkInvariants(core: CoordinatorCore): void {
  const snap = core.snapshot();
  const paths = new Set(snap.nodes.map((n) => n.path));
  const sessions = new Set(snap.sessions.map((s) => s.id));
  for (const { path, node } of snap.nodes) {
    for (const child of node.children) expect(paths.has(path === '/' ? `/${child}` : `${path}/${child}`)).toBe(true);
    if (path !== '/') {
      const parent = path.slice(0, path.lastIndexOf('/')) || '/';
      expect(paths.has(parent), `parent of ${path}`).toBe(true);
      expect(core.getNode(parent)!.children.has(path.slice(path.lastIndexOf('/') + 1))).toBe(true);
    }
    if (node.ephemeralOwner !== 0n) expect(sessions.has(node.ephemeralOwner), `owner of ${path}`).toBe(true);
    expect(node.mzxid).toBeGreaterThanOrEqual(node.czxid);
    expect(node.pzxid).toBeGreaterThanOrEqual(node.czxid);
  }
}

describe('snapshots', () => {
  it('a captured snapshot is not changed by later writes (nodes are copy-on-write), and round-trips', () => {
    const h = new Harness();
    h.session(1);
    h.create(1, '/s', 'one');
    h.create(1, '/s/c');
    const snap = h.core.snapshot();
    const bytes = encodeSnapshot(snap);
    h.setData(1, '/s', 'two');
    h.call(1, { type: OpCode.setACL, path: '/s', acl: OPEN, version: -1 });
    h.create(1, '/s/d');
    h.remove(1, '/s/c');
    h.call(1, {
      type: OpCode.multi,
      ops: [
        { type: OpCode.create, path: '/s/e', data: null, acl: OPEN, flags: 0 },
        { type: OpCode.delete, path: '/nope', version: -1 },
      ],
    });
    expect(encodeSnapshot(snap).equals(bytes)).toBe(true);
    const restored = new Harness();
    restored.core.restore(decodeSnapshot(bytes), 0);
    restored.session(1);
    expect(restored.getData(1, '/s').body).toMatchObject({
      data: Buffer.from('one'),
      stat: { numChildren: 1, cversion: 1 },
    });
    expect(encodeSnapshot(restored.core.snapshot()).subarray(0, 20)).toBeDefined();
  });
});

describe('seeded random workloads', () => {
  for (const seed of [1, 2, 3, 42, 1234]) {
    it(`seed ${seed}: invariants hold; replaying txns (or a snapshot + the rest) rebuilds the same state`, () => {
      const rand = prng(seed);
      const h = new Harness();
      const conns = [1, 2, 3];
      for (const c of conns) h.session(c, 4000);
      let nextConn = 4;
      const names = ['a', 'b', 'c'];
      const randomPath = () => {
        const depth = 1 + Math.floor(rand() * 3);
        let p = '';
        for (let i = 0; i < depth; i++) p += `/${names[Math.floor(rand() * names.length)]}`;
        return p;
      };
      let midSnapshot: ReturnType<CoordinatorCore['snapshot']> | null = null;
      let midTxns = 0;
      for (let step = 0; step < 400; step++) {
        const conn = conns[Math.floor(rand() * conns.length)]!;
        const r = rand();
        h.nowMs += Math.floor(rand() * 300);
        if (r < 0.3) h.create(conn, randomPath(), 'd', Math.floor(rand() * 4));
        else if (r < 0.45) h.remove(conn, randomPath(), rand() < 0.8 ? -1 : 0);
        else if (r < 0.6) h.setData(conn, randomPath(), String(step), rand() < 0.8 ? -1 : 1);
        else if (r < 0.7) h.getData(conn, randomPath(), true);
        else if (r < 0.75) h.children(conn, randomPath(), true);
        else if (r < 0.85) {
          const p = randomPath();
          h.call(conn, {
            type: OpCode.multi,
            ops: [
              { type: OpCode.create, path: p, data: null, acl: OPEN, flags: 0 },
              { type: OpCode.setData, path: randomPath(), data: Buffer.from('m'), version: -1 },
            ],
          });
        } else if (r < 0.9) h.call(conn, { type: OpCode.ping });
        else if (r < 0.93) {
          // a client goes away; a new one arrives
          h.core.disconnect(conn);
          conns.splice(conns.indexOf(conn), 1, nextConn);
          h.session(nextConn++, 4000);
        } else h.tick();
        checkInvariants(h.core);
        if (step === 200) {
          midSnapshot = decodeSnapshot(encodeSnapshot(h.core.snapshot()));
          midTxns = h.txns.length;
        }
      }
      for (let i = 1; i < h.txns.length; i++) expect(h.txns[i]!.zxid).toBe(h.txns[i - 1]!.zxid + 1);

      const replayed = new Harness();
      for (const txn of h.txns) replayed.core.applyTxn(txn, null);
      expect(replayed.core.snapshot()).toEqual(h.core.snapshot());

      const fromSnapshot = new Harness();
      fromSnapshot.core.restore(midSnapshot!, 0);
      for (const txn of h.txns.slice(midTxns)) fromSnapshot.core.applyTxn(txn, null);
      const a = fromSnapshot.core.snapshot();
      const b = h.core.snapshot();
      const byPath = (s: typeof a) => new Map(s.nodes.map((n) => [n.path, n.node]));
      expect(byPath(a)).toEqual(byPath(b));
      expect(a.zxid).toBe(b.zxid);
      expect(new Set(a.sessions.map((s) => s.id))).toEqual(new Set(b.sessions.map((s) => s.id)));
    });
  }
});
