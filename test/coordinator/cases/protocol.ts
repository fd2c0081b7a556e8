/**
 * Wire-level behaviour real clients depend on beyond the basic operations: reply-header zxids,
 * reconnecting with SetWatches, create2, getChildren without stat, frame-size limits, invalid ACLs,
 * unknown opcodes, and a client that has seen a zxid the server has not.
 */
import { expect } from 'vitest';
import { fourLetterWord, parseSrvr } from '../../helpers/four-letter-words.js';
import { JuteWriter } from '../../helpers/zk-wire.js';
import { codeName, long, zookeeper } from '../../helpers/zk-client.js';
import { waitFor, withTimeout } from '../../helpers/wait.js';
import { CreateMode, type ConformanceCase } from '../support/case-context.js';

const srvrZxid = async (host: string, port: number) => BigInt(parseSrvr(await fourLetterWord(host, port, 'srvr')).get('Zxid') ?? '-1');

export const protocolCases: ConformanceCase[] = [
  {
    name: 'reply-header zxids: a write carries its txn zxid, a read the last committed one',
    async run(c) {
      const { host, port } = c.target;
      const wire = await c.wire('W');
      const created = await wire.create(c.path('a'), Buffer.from('a'));
      const stat = (await wire.exists(c.path('a'))).stat!;
      expect(created.zxid).toBe(stat.czxid);
      const read = await wire.request(3, Buffer.concat([lengthPrefixed(c.path('a')), Buffer.from([0])]));
      expect(read.zxid).toBe(created.zxid);
      expect(await srvrZxid(host, port)).toBe(created.zxid);

      const failed = await wire.create(c.path('a'), null);
      expect(codeName(failed.err)).toBe('NODE_EXISTS');
      const serverAfterFailure = await srvrZxid(host, port);
      const next = await wire.create(c.path('b'), null);
      const relations = {
        'failed write reply zxid vs previous write': cmp(failed.zxid, created.zxid),
        'failed write reply zxid vs server zxid (srvr)': cmp(failed.zxid, serverAfterFailure),
        'next write zxid vs failed write reply zxid': cmp(next.zxid, failed.zxid),
        'next write zxid - previous write zxid': Number(next.zxid - created.zxid),
      };
      c.record('relations', relations);
      // ZooKeeper logs a failed write as an error txn: it takes a zxid of its own.
      expect(relations).toEqual({
        'failed write reply zxid vs previous write': '>',
        'failed write reply zxid vs server zxid (srvr)': '=',
        'next write zxid vs failed write reply zxid': '>',
        'next write zxid - previous write zxid': 2,
      });
      // A read's reply zxid never runs ahead of what the server reports.
      const lastRead = await wire.getData(c.path('b'));
      expect(lastRead.err).toBe(0);
      expect(wire.lastZxid).toBeLessThanOrEqual(await srvrZxid(host, port));
    },
  },
  {
    name: 'reconnect with SetWatches: changes missed while disconnected fire at once',
    async run(c) {
      const writer = await c.client('B');
      for (const name of ['data', 'deleted', 'parent', 'unchanged']) await writer.create(c.path(name), Buffer.from(name));
      const first = await c.wire('A', { sessionTimeoutMs: 20 * c.target.tickTimeMs });
      for (const name of ['data', 'deleted', 'unchanged']) expect((await first.getData(c.path(name), true)).err).toBe(0);
      expect((await first.exists(c.path('born'), true)).err).toBe(-101);
      expect((await first.getChildren(c.path('parent'), true)).err).toBe(0);
      const { id, password, timeoutMs } = first.session;
      const lastZxid = first.lastZxid;
      first.abandon();

      await writer.setData(c.path('data'), Buffer.from('changed'));
      await writer.remove(c.path('deleted'));
      await writer.create(c.path('born'));
      await writer.create(c.path('parent/kid'));

      const second = await c.wire('A', { sessionId: id, password, sessionTimeoutMs: timeoutMs, lastZxidSeen: lastZxid });
      expect(second.session.expired).toBe(false);
      const reply = await second.setWatches(lastZxid, {
        data: [c.path('data'), c.path('deleted'), c.path('unchanged')],
        exist: [c.path('born')],
        child: [c.path('parent')],
      });
      expect(codeName(reply.err)).toBe('OK');
      await waitFor(() => second.frames.filter((f) => f.kind === 'notification').length >= 4, { description: '4 notifications after SetWatches' });
      // A round trip, so that a stray fifth notification would have arrived before its reply.
      await second.exists(c.path('unchanged'));
      const notifications = second.frames.flatMap((f) => (f.kind === 'notification' ? [`type=${f.event.type} ${f.event.path}`] : [])).sort();
      c.record('notifications after SetWatches (sorted)', notifications);
      expect(notifications).toEqual(
        [`type=1 ${c.path('born')}`, `type=2 ${c.path('deleted')}`, `type=3 ${c.path('data')}`, `type=4 ${c.path('parent')}`].sort(),
      );
      // The SetWatches reply comes with the xid the client used.
      const setWatchesReply = second.frames.find((f) => f.kind === 'reply');
      c.record('SetWatches reply xid', setWatchesReply?.kind === 'reply' ? setWatchesReply.reply.xid : null);
      // The restored watch on the unchanged node is live.
      await writer.setData(c.path('unchanged'), Buffer.from('now'));
      await waitFor(() => second.frames.filter((f) => f.kind === 'notification').length >= 5, { description: 'the restored data watch' });
    },
  },
  {
    name: 'SetWatches details: an exist watch on a node that exists fires NODE_CREATED; a child watch on a vanished node fires NODE_DELETED',
    async run(c) {
      const writer = await c.client('B');
      await writer.create(c.path('old'));
      await writer.create(c.path('gone'));
      const wire = await c.wire('A');
      const relative = (await wire.exists(c.path('old'))).stat!.mzxid;
      await writer.remove(c.path('gone'));
      const reply = await wire.setWatches(relative + 1000n, { exist: [c.path('old'), c.path('missing')], child: [c.path('gone')], data: [c.path('missing-too')] });
      expect(reply.err).toBe(0);
      await waitFor(() => wire.frames.filter((f) => f.kind === 'notification').length >= 3, { description: '3 notifications' });
      await wire.exists('/');
      const notifications = wire.frames.flatMap((f) => (f.kind === 'notification' ? [`type=${f.event.type} ${f.event.path}`] : [])).sort();
      c.record('notifications (sorted)', notifications);
      expect(notifications).toEqual([`type=1 ${c.path('old')}`, `type=2 ${c.path('gone')}`, `type=2 ${c.path('missing-too')}`].sort());
      // The exist watch on the missing node stays registered.
      await writer.create(c.path('missing'));
      await waitFor(() => wire.frames.filter((f) => f.kind === 'notification').length >= 4, { description: 'the restored exist watch' });
    },
  },
  {
    name: 'node-zookeeper-client reconnects after a dropped connection and keeps its watches',
    async run(c) {
      const a = await c.client('A');
      const b = await c.client('B');
      await a.create(c.path('n'), Buffer.from('0'));
      await a.getData(c.path('n'), c.watcher('A data'));
      await a.create(c.path('e'), null, CreateMode.EPHEMERAL);
      const reconnected = new Promise<void>((resolve) => a.client.once('connected', () => resolve()));
      (a.client as unknown as { connectionManager: { socket: import('node:net').Socket } }).connectionManager.socket.destroy();
      await b.setData(c.path('n'), Buffer.from('1'));
      await reconnected;
      await c.eventCount(1);
      await c.barrier(a, b);
      expect(c.events.map((e) => `${e.type} ${e.path}`)).toEqual([`NODE_DATA_CHANGED ${c.path('n')}`]);
      // Same session: the ephemeral is still there and still A's.
      const stat = await b.exists(c.path('e'));
      expect(stat?.ephemeralOwner.equals(a.sessionId())).toBe(true);
      c.record('ephemeral after reconnect', c.transcript.stat(stat));
    },
  },
  {
    name: 'create2 answers with the stat; getChildren (op 8) with names only',
    async run(c) {
      const wire = await c.wire('W');
      const created = await wire.create2(c.path('c2'), Buffer.from('abc'), 0);
      expect(codeName(created.err)).toBe('OK');
      expect(created.path).toBe(c.path('c2'));
      expect(created.stat?.czxid).toBe(created.zxid);
      expect(created.stat?.dataLength).toBe(3);
      c.record('create2', { path: created.path, stat: c.transcript.stat(created.stat) });
      const seq = await wire.create2(c.path('s-'), null, 3);
      expect(seq.path).toMatch(/s-0000000001$/);
      expect(seq.stat?.ephemeralOwner).toBe(wire.session.id);
      c.record('create2 ephemeral sequential', { path: seq.path, stat: c.transcript.stat(seq.stat) });
      const exists = await wire.create2(c.path('c2'), null, 0);
      c.record('create2 existing', codeName(exists.err));
      expect(codeName(exists.err)).toBe('NODE_EXISTS');
      const children = await wire.getChildrenNoStat(c.base);
      expect(children.children.sort()).toEqual(['c2', 's-0000000001']);
      expect(children.trailingBytes).toBe(0);
      c.record('getChildren op 8', children.children.sort());
      expect(codeName((await wire.getChildrenNoStat(c.path('missing'))).err)).toBe('NO_NODE');
    },
  },
  {
    name: 'frame limits: 1,000,000 bytes of data round-trip; a request over jute.maxbuffer closes the connection',
    async run(c) {
      const a = await c.client('A');
      const big = Buffer.alloc(1_000_000, 7);
      await a.create(c.path('big'), big);
      const read = await a.getData(c.path('big'));
      expect(read.data?.equals(big)).toBe(true);
      expect(read.stat.dataLength).toBe(1_000_000);
      c.record('1,000,000 bytes', read.stat.dataLength);
      const wire = await c.wire('W');
      const tooBig = await wire.create(c.path('too-big'), Buffer.alloc(1024 * 1024, 1)).then(
        (reply) => `reply ${codeName(reply.err)}`,
        () => 'connection closed',
      );
      await waitFor(() => wire.connectionClosed() || tooBig !== 'connection closed', { description: 'the oversized request to be answered or the connection closed' });
      c.record('1 MiB of data (frame over 1 MiB - 1)', tooBig);
      expect(tooBig).toBe('connection closed');
      expect(await a.exists(c.path('too-big'))).toBeNull();
    },
  },
  {
    name: 'ACL validation: an empty ACL is INVALID_ACL',
    async run(c) {
      const wire = await c.wire('W');
      const created = await wire.create(c.path('x'), null, 0, []);
      await wire.create(c.path('y'), null, 0);
      const set = await wire.setACL(c.path('y'), []);
      const outcomes = { 'create with []': codeName(created.err), 'setACL []': codeName(set.err) };
      c.record('outcomes', outcomes);
      expect(outcomes).toEqual({ 'create with []': 'INVALID_ACL', 'setACL []': 'INVALID_ACL' });
      expect((await wire.exists(c.path('x'))).stat).toBeNull();
    },
  },
  {
    name: 'a client that has seen a newer zxid than the server is refused',
    async run(c) {
      const { host, port } = c.target;
      const ahead = (await srvrZxid(host, port)) + 1_000_000n;
      const wire = await c.wire('W', { lastZxidSeen: ahead });
      c.record('session', { expired: wire.session.expired, refused: wire.session.refused });
      expect(wire.session.refused).toBe(true);
      const fine = await c.wire('W2', { lastZxidSeen: await srvrZxid(host, port) });
      expect(fine.session.expired).toBe(false);
    },
  },
  {
    name: 'versions other than -1 must match exactly (-2 is not "any")',
    async run(c) {
      const a = await c.client('A');
      await a.create(c.path('v'));
      const wire = await c.wire('W');
      const outcomes = {
        'setData v=-2': codeName((await wire.setData(c.path('v'), null, -2)).err),
        'delete v=-2': codeName((await wire.delete(c.path('v'), -2)).err),
        'setACL v=-2': codeName((await wire.setACL(c.path('v'), [{ perms: 31, scheme: 'world', id: 'anyone' }], -2)).err),
      };
      c.record('outcomes', outcomes);
      expect(outcomes).toEqual({ 'setData v=-2': 'BAD_VERSION', 'delete v=-2': 'BAD_VERSION', 'setACL v=-2': 'BAD_VERSION' });
      const stat = (await a.exists(c.path('v')))!;
      expect([stat.version, stat.aversion, long(stat.mzxid) === long(stat.czxid)]).toEqual([0, 0, true]);
      expect(zookeeper.Exception.BAD_VERSION).toBe(-103);
    },
  },
  {
    name: 'multi edge cases: check on a missing node, duplicate create, op after delete',
    async run(c) {
      const wire = await c.wire('W');
      await wire.create(c.path('x'), null);
      const shape = (r: Awaited<ReturnType<typeof wire.multi>>) => ({ err: codeName(r.err), results: r.results.map((x) => `${x.type}:${codeName(x.err)}`) });
      const outcomes = {
        'check missing': shape(await wire.multi([{ op: 'check', path: c.path('missing'), version: -1 }])),
        'duplicate create': shape(await wire.multi([{ op: 'create', path: c.path('d') }, { op: 'create', path: c.path('d') }])),
        'setData after delete': shape(await wire.multi([{ op: 'delete', path: c.path('x') }, { op: 'setData', path: c.path('x'), data: null }])),
        'check version -1 on existing': shape(await wire.multi([{ op: 'check', path: c.path('x'), version: -1 }])),
      };
      c.record('outcomes', outcomes);
      expect(outcomes['check missing'].results).toEqual(['-1:NO_NODE']);
      expect(outcomes['duplicate create'].results).toEqual(['-1:OK', '-1:NODE_EXISTS']);
      expect(outcomes['setData after delete'].results).toEqual(['-1:OK', '-1:NO_NODE']);
      expect(outcomes['check version -1 on existing'].results).toEqual(['13:OK']);
      expect((await wire.exists(c.path('x'))).stat).not.toBeNull();
      expect((await wire.exists(c.path('d'))).stat).toBeNull();
    },
  },
  {
    name: 'create mode flags beyond the four classic ones (container, TTL, invalid) through create (op 1)',
    async run(c) {
      const wire = await c.wire('W');
      const outcomes: Record<string, string> = {};
      for (const [label, flags] of [['container (4)', 4], ['persistent TTL (5)', 5], ['persistent sequential TTL (6)', 6], ['invalid (7)', 7], ['invalid (-1)', -1]] as const) {
        outcomes[label] = codeName((await wire.create(c.path(`f${flags}`), null, flags)).err);
      }
      c.record('outcomes', outcomes);
      // TTL nodes are an "extended type", off unless zookeeper.extendedTypesEnabled is set.
      expect(outcomes).toEqual({
        'container (4)': 'OK',
        'persistent TTL (5)': 'UNIMPLEMENTED',
        'persistent sequential TTL (6)': 'UNIMPLEMENTED',
        'invalid (7)': 'BAD_ARGUMENTS',
        'invalid (-1)': 'BAD_ARGUMENTS',
      });
      const container = (await wire.exists(c.path('f4'))).stat;
      c.record('container stat', c.transcript.stat(container));
    },
  },
  {
    name: 'names with unicode and punctuation round-trip through getChildren',
    async run(c) {
      const a = await c.client('A');
      const names = ['ünïcødé', '日本語', 'a:b@c', 'x y', '.x', '...', 'tab\u00a0nbsp'];
      for (const name of names) await a.create(c.path(name), Buffer.from(name));
      // ZooKeeper refuses control characters, surrogates (so any character outside the BMP), the
      // private-use area and U+FFF0..U+FFFF.
      const wire = await c.wire('W');
      const refused: Record<string, string> = {};
      const characters = [
        ['U+0001', '\u0001'],
        ['U+001F', '\u001f'],
        ['U+007F', '\u007f'],
        ['U+009F', '\u009f'],
        ['emoji U+1F600', '\u{1f600}'],
        ['U+E000', '\ue000'],
        ['U+F8FF', '\uf8ff'],
        ['U+FFF0', '\ufff0'],
        ['U+FFFD', '\ufffd'],
        ['U+F900', '\uf900'],
      ] as const;
      for (const [label, name] of characters) {
        refused[label] = codeName((await wire.create(c.path(`c-${name}`), null)).err);
      }
      c.record('characters', refused);
      expect(refused).toEqual({
        'U+0001': 'BAD_ARGUMENTS',
        'U+001F': 'BAD_ARGUMENTS',
        'U+007F': 'BAD_ARGUMENTS',
        'U+009F': 'BAD_ARGUMENTS',
        'emoji U+1F600': 'BAD_ARGUMENTS',
        'U+E000': 'BAD_ARGUMENTS',
        'U+F8FF': 'BAD_ARGUMENTS',
        'U+FFF0': 'BAD_ARGUMENTS',
        'U+FFFD': 'BAD_ARGUMENTS',
        'U+F900': 'OK',
      });
      const { children } = await a.getChildren(c.base);
      expect([...children].sort()).toEqual([...names, 'c-\uf900'].sort());
      c.record('children', [...children].sort());
      for (const name of names) expect((await a.getData(c.path(name))).data?.toString()).toBe(name);
    },
  },
  {
    name: 'permissions: READ guards getData/getChildren, not exists; DELETE on the parent guards delete',
    async run(c) {
      const wire = await c.wire('W');
      const perm = (perms: number) => [{ perms, scheme: 'world', id: 'anyone' }];
      // 31 = ALL; 1 READ, 2 WRITE, 4 CREATE, 8 DELETE, 16 ADMIN
      await wire.create(c.path('no-read'), Buffer.from('secret'), 0, perm(31 & ~1));
      await wire.create(c.path('no-read-admin'), Buffer.from('secret'), 0, perm(2));
      await wire.create(c.path('no-delete'), null, 0, perm(31 & ~8));
      await wire.create(c.path('no-delete/child'), null, 0);
      const outcomes = {
        'getData without READ': codeName((await wire.getData(c.path('no-read'))).err),
        'getChildren without READ': codeName((await wire.getChildren(c.path('no-read'))).err),
        'exists without READ': codeName((await wire.exists(c.path('no-read'))).err),
        'getACL with ADMIN only': codeName((await wire.request(6, lengthPrefixed(c.path('no-read')))).err),
        'delete child without DELETE on parent': codeName((await wire.delete(c.path('no-delete/child'))).err),
        'delete the node itself (parent allows)': codeName((await wire.delete(c.path('no-read-admin'))).err),
      };
      c.record('outcomes', outcomes);
      expect(outcomes).toEqual({
        'getData without READ': 'NO_AUTH',
        'getChildren without READ': 'NO_AUTH',
        'exists without READ': 'OK',
        'getACL with ADMIN only': 'OK',
        'delete child without DELETE on parent': 'NO_AUTH',
        'delete the node itself (parent allows)': 'OK',
      });
    },
  },
  {
    name: 'getACL needs READ or ADMIN on the node',
    async run(c) {
      const wire = await c.wire('W');
      await wire.create(c.path('write-only'), Buffer.from('secret'), 0, [{ perms: 2, scheme: 'world', id: 'anyone' }]);
      await wire.create(c.path('read-only'), Buffer.from('open'), 0, [{ perms: 1, scheme: 'world', id: 'anyone' }]);
      const outcomes = {
        'getACL with WRITE only': codeName((await wire.request(6, lengthPrefixed(c.path('write-only')))).err),
        'getACL with READ only': codeName((await wire.request(6, lengthPrefixed(c.path('read-only')))).err),
      };
      c.record('outcomes', outcomes);
      expect(outcomes).toEqual({ 'getACL with WRITE only': 'NO_AUTH', 'getACL with READ only': 'OK' });
    },
  },
  {
    name: 'multi deleting and re-creating a watched node: one NODE_DELETED, one NODE_CHILDREN_CHANGED',
    async run(c) {
      const writer = await c.wire('B');
      await writer.create(c.path('x'), Buffer.from('1'));
      const watcher = await c.wire('A');
      expect((await watcher.getData(c.path('x'), true)).err).toBe(0);
      expect((await watcher.exists(c.path('x'), true)).err).toBe(0);
      expect((await watcher.getChildren(c.base, true)).err).toBe(0);
      const result = await writer.multi([
        { op: 'delete', path: c.path('x') },
        { op: 'create', path: c.path('x'), data: Buffer.from('2') },
      ]);
      expect(result.err).toBe(0);
      await waitFor(() => watcher.frames.filter((f) => f.kind === 'notification').length >= 2, { description: '2 notifications' });
      await watcher.exists('/');
      const frames = watcher.frames.slice(3).map((f) => (f.kind === 'reply' ? `reply ${f.reply.err}` : `notification type=${f.event.type} ${f.event.path}`));
      c.record('frames', frames);
      expect(frames).toEqual([`notification type=2 ${c.path('x')}`, `notification type=4 ${c.base}`, 'reply 0']);
    },
  },
  {
    name: 'top level: a child watch on / and a sequential node at the root',
    async run(c) {
      const a = await c.client('A');
      const b = await c.client('B');
      await a.getChildren('/', c.watcher('A children /'));
      const top = `${c.base}-top`;
      await b.create(top);
      await c.eventCount(1);
      expect(c.events[0]).toEqual({ watcher: 'A children /', type: 'NODE_CHILDREN_CHANGED', path: '/' });
      const seq = await b.create(`${c.base}-s-`, null, CreateMode.EPHEMERAL_SEQUENTIAL);
      expect(seq).toMatch(/-s-\d{10}$/);
      c.record('root sequential suffix', seq.slice(-10));
      await b.remove(top);
    },
  },
  {
    name: 'pipelined requests on one connection: replies in request order, each read sees the writes before it',
    async run(c) {
      const wire = await c.wire('W');
      const node = c.path('p');
      const pending: Promise<unknown>[] = [wire.create(node, Buffer.from('v0'))];
      const reads: Promise<{ err: number; data: Buffer | null }>[] = [];
      for (let i = 1; i <= 40; i++) {
        pending.push(wire.setData(node, Buffer.from(`v${i}`)));
        const read = wire.getData(node);
        reads.push(read);
        pending.push(read, wire.exists(c.path(`missing-${i}`)), wire.create(`${node}/k${i}`, null));
      }
      pending.push(wire.getChildren(node));
      await Promise.all(pending);
      const xids = wire.frames.flatMap((f) => (f.kind === 'reply' ? [f.reply.xid] : []));
      const inOrder = xids.every((xid, i) => i === 0 || xid > xids[i - 1]!);
      const readValues = (await Promise.all(reads)).map((r) => r.data?.toString());
      c.record('pipelined', { replies: xids.length, inOrder, readValues });
      expect(inOrder).toBe(true);
      expect(readValues).toEqual(Array.from({ length: 40 }, (_, i) => `v${i + 1}`));
    },
  },
  {
    name: 'multi sees its own earlier ops: sequential counters, ephemeral parents, versions, non-empty deletes',
    async run(c) {
      const wire = await c.wire('W');
      await wire.create(c.path('q'), null);
      const shape = (r: Awaited<ReturnType<typeof wire.multi>>) => ({
        err: codeName(r.err),
        results: r.results.map((x) => `${x.type}:${codeName(x.err)}${x.path ? ` ${x.path}` : ''}${x.stat ? ` v${x.stat.version}` : ''}`),
      });
      const outcomes = {
        'two sequential creates': shape(await wire.multi([
          { op: 'create', path: c.path('q/s-'), flags: 2 },
          { op: 'create', path: c.path('q/plain') },
          { op: 'create', path: c.path('q/s-'), flags: 2 },
        ])),
        'child of an ephemeral created in the same multi': shape(await wire.multi([
          { op: 'create', path: c.path('eph'), flags: 1 },
          { op: 'create', path: c.path('eph/child') },
        ])),
        'check the version a setData in the same multi produced': shape(await wire.multi([
          { op: 'setData', path: c.path('q'), data: Buffer.from('1') },
          { op: 'check', path: c.path('q'), version: 1 },
          { op: 'setData', path: c.path('q'), data: Buffer.from('2'), version: 1 },
        ])),
        'delete a node whose child the same multi created': shape(await wire.multi([
          { op: 'create', path: c.path('parent') },
          { op: 'create', path: c.path('parent/kid') },
          { op: 'delete', path: c.path('parent') },
        ])),
      };
      c.record('outcomes', outcomes);
      expect(outcomes['two sequential creates'].results).toEqual([
        `1:OK ${c.path('q/s-0000000000')}`,
        `1:OK ${c.path('q/plain')}`,
        `1:OK ${c.path('q/s-0000000002')}`,
      ]);
      expect(outcomes['child of an ephemeral created in the same multi'].results).toEqual(['-1:OK', '-1:NO_CHILDREN_FOR_EPHEMERALS']);
      expect(outcomes['check the version a setData in the same multi produced'].results).toEqual(['5:OK v1', '13:OK', '5:OK v2']);
      expect(outcomes['delete a node whose child the same multi created'].results).toEqual(['-1:OK', '-1:OK', '-1:NOT_EMPTY']);
      expect((await wire.exists(c.path('eph'))).stat).toBeNull();
      expect((await wire.exists(c.path('parent'))).stat).toBeNull();
    },
  },
  {
    name: "another session may delete an ephemeral; its owner's close then leaves the new one alone",
    async run(c) {
      const a = await c.client('A');
      const b = await c.client('B');
      await a.create(c.path('e'), Buffer.from('a'), CreateMode.EPHEMERAL);
      await b.remove(c.path('e'));
      await b.create(c.path('e'), Buffer.from('b'), CreateMode.EPHEMERAL);
      await a.close();
      const stat = await b.exists(c.path('e'));
      c.record('e after A closed', c.transcript.stat(stat));
      expect(stat?.ephemeralOwner.equals(b.sessionId())).toBe(true);
    },
  },
  {
    name: 'a truncated request body: MARSHALLING_ERROR, the connection stays open',
    async run(c) {
      const wire = await c.wire('W');
      const full = new JuteWriter().string(c.path('t')).buffer(Buffer.from('data')).openAcl().int(0).toBuffer();
      const outcome = await wire.request(1, full.subarray(0, full.length - 6)).then(
        (reply) => `reply ${codeName(reply.err)}`,
        () => 'connection closed',
      );
      await waitFor(() => wire.connectionClosed() || outcome.startsWith('reply'), { description: 'an answer or a close' });
      const connection = wire.connectionClosed() ? 'closed' : await wire.exists('/').then((r) => `open (${codeName(r.err)})`, () => 'closed');
      c.record('truncated create', { outcome, connection });
      const observer = await c.client('O');
      expect(await observer.exists(c.path('t'))).toBeNull();
      expect({ outcome, connection }).toEqual({ outcome: 'reply MARSHALLING_ERROR', connection: 'open (OK)' });
    },
  },
  {
    name: 'malformed multis: a read or an unknown op inside a write multi',
    async run(c) {
      const wire = await c.wire('W');
      const header = (type: number, done = false) => new JuteWriter().int(type).bool(done).int(-1);
      const end = header(-1, true).toBuffer();
      const createOp = Buffer.concat([header(1).toBuffer(), new JuteWriter().string(c.path('m')).buffer(null).openAcl().int(0).toBuffer()]);
      const getDataOp = Buffer.concat([header(4).toBuffer(), new JuteWriter().string(c.base).bool(false).toBuffer()]);
      const unknownOp = Buffer.concat([header(99).toBuffer(), new JuteWriter().string(c.base).toBuffer()]);
      const attempt = async (body: Buffer) => {
        if (wire.connectionClosed()) return 'connection already closed';
        return wire.request(14, body).then(
          (reply) => `reply ${codeName(reply.err)}${reply.body.length > 0 ? ` (${reply.body.length} bytes)` : ''}`,
          () => 'connection closed',
        );
      };
      const outcomes = {
        'create + getData': await attempt(Buffer.concat([createOp, getDataOp, end])),
        'create + unknown op 99': await attempt(Buffer.concat([createOp, unknownOp, end])),
      };
      const created = await (await c.client('O')).exists(c.path('m'));
      c.record('outcomes', { ...outcomes, 'm created': created !== null });
      expect({ ...outcomes, 'm created': created !== null }).toEqual({
        'create + getData': 'reply MARSHALLING_ERROR',
        'create + unknown op 99': 'reply MARSHALLING_ERROR',
        'm created': false,
      });
    },
  },
  {
    name: 'authentication with an unknown scheme fails the connection (AUTH_FAILED)',
    async run(c) {
      const a = await c.client('A');
      const failed = new Promise<string>((resolve) => a.client.once('authenticationFailed', () => resolve('authenticationFailed')));
      a.client.addAuthInfo('no-such-scheme', Buffer.from('whatever'));
      const outcome = await withTimeout(failed, 5_000, 'authenticationFailed').catch(() => 'no authenticationFailed event');
      c.record('unknown auth scheme', outcome);
      expect(outcome).toBe('authenticationFailed');
    },
  },
  {
    name: 'an unknown opcode: UNIMPLEMENTED, then the connection (not the session) is closed',
    async run(c) {
      const wire = await c.wire('W');
      const outcome = await wire.request(77, Buffer.alloc(0)).then(
        (reply) => `reply ${codeName(reply.err)}`,
        () => 'connection closed',
      );
      c.record('op 77', outcome);
      const closed = await withTimeout(wire.closed, 5_000, 'the connection to close').then(
        () => 'connection closed',
        () => 'connection open',
      );
      c.record('connection afterwards', closed);
      const again = await c.wire('W', { sessionId: wire.session.id, password: wire.session.password });
      c.record('session reattachable', !again.session.expired);
      expect({ outcome, closed, reattached: !again.session.expired }).toEqual({ outcome: 'reply UNIMPLEMENTED', closed: 'connection closed', reattached: true });
    },
  },
];

function lengthPrefixed(text: string): Buffer {
  const bytes = Buffer.from(text, 'utf8');
  const length = Buffer.alloc(4);
  length.writeInt32BE(bytes.length);
  return Buffer.concat([length, bytes]);
}

function cmp(a: bigint, b: bigint): '<' | '=' | '>' {
  return a < b ? '<' : a > b ? '>' : '=';
}
