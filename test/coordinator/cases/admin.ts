/** ACLs (world:anyone), sync, four-letter words, the root and /zookeeper. */
import { createHash } from 'node:crypto';
import { expect } from 'vitest';
import { fourLetterWord, parseMntr, parseSrvr } from '../../helpers/four-letter-words.js';
import { codeName, errorName, long, zookeeper, type ACL } from '../../helpers/zk-client.js';
import type { ConformanceCase } from '../support/case-context.js';

const { Permission } = zookeeper;
const worldAnyone = (perms: number): ACL[] => [new zookeeper.ACL(perms, new zookeeper.Id('world', 'anyone'))];
/** The library's ACL objects carry `permission` (its typings say `perms`). */
const permsOf = (acl: ACL) => (acl as unknown as { permission?: number }).permission ?? acl.perms;
const showAcls = (acls: ACL[]) => acls.map((acl) => `${acl.id.scheme}:${acl.id.id}=${permsOf(acl)}`);

export const adminCases: ConformanceCase[] = [
  {
    name: 'getACL/setACL with world:anyone; permissions enforced; aversion',
    async run(c) {
      const a = await c.client('A');
      const node = c.path('acl');
      await a.create(node, Buffer.from('d'));
      const initial = await a.getACL(node);
      expect(showAcls(initial.acls)).toEqual([`world:anyone=${Permission.ALL}`]);
      expect(initial.stat.aversion).toBe(0);
      c.record('getACL initial', { acls: showAcls(initial.acls), stat: c.transcript.stat(initial.stat) });

      const readAdmin = Permission.READ | Permission.ADMIN;
      const s1 = await a.setACL(node, worldAnyone(readAdmin), 0);
      expect([s1.aversion, s1.version, s1.cversion]).toEqual([1, 0, 0]);
      c.record('setACL read+admin', c.transcript.stat(s1));
      const denied: Record<string, string> = {
        'setACL stale aversion': await errorName(a.setACL(node, worldAnyone(Permission.ALL), 0)),
        setData: await errorName(a.setData(node, Buffer.from('x'))),
        'create child': await errorName(a.create(`${node}/child`)),
      };
      c.record('denied', denied);
      expect(denied).toEqual({ 'setACL stale aversion': 'BAD_VERSION', setData: 'NO_AUTH', 'create child': 'NO_AUTH' });
      expect((await a.getData(node)).data?.toString()).toBe('d');

      const s2 = await a.setACL(node, worldAnyone(Permission.ALL), 1);
      expect(s2.aversion).toBe(2);
      await a.create(`${node}/child`);
      c.record('after restoring ALL', c.transcript.stat(await a.exists(node)));

      await a.create(c.path('read-only'), Buffer.from('r'), zookeeper.CreateMode.PERSISTENT, worldAnyone(Permission.READ));
      const readOnly = await a.getACL(c.path('read-only'));
      c.record('created with READ', showAcls(readOnly.acls));
      expect(showAcls(readOnly.acls)).toEqual([`world:anyone=${Permission.READ}`]);
      const readOnlyOutcomes = {
        setACL: await errorName(a.setACL(c.path('read-only'), worldAnyone(Permission.ALL))),
        setData: await errorName(a.setData(c.path('read-only'), Buffer.alloc(0))),
      };
      c.record('read-only outcomes', readOnlyOutcomes);
      expect(readOnlyOutcomes).toEqual({ setACL: 'NO_AUTH', setData: 'NO_AUTH' });
      // Deleting is the parent's permission, not the node's.
      await a.remove(c.path('read-only'));
      expect(await errorName(a.getACL(c.path('missing')))).toBe('NO_NODE');
      expect(await errorName(a.setACL(c.path('missing'), worldAnyone(Permission.ALL)))).toBe('NO_NODE');
    },
  },
  {
    name: 'sync answers with the path',
    async run(c) {
      const a = await c.client('A');
      await a.create(c.path('s'));
      const wire = await c.wire('W');
      const synced = await wire.sync(c.path('s'));
      const missing = await wire.sync(c.path('missing'));
      const root = await wire.sync('/');
      const results = {
        existing: { err: codeName(synced.err), path: synced.path },
        missing: { err: codeName(missing.err), path: missing.path },
        root: { err: codeName(root.err), path: root.path },
      };
      c.record('sync', results);
      expect(results).toEqual({
        existing: { err: 'OK', path: c.path('s') },
        missing: { err: 'OK', path: c.path('missing') },
        root: { err: 'OK', path: '/' },
      });
      // A read after sync sees a write made through another session before the sync.
      await a.setData(c.path('s'), Buffer.from('after'));
      await wire.sync(c.path('s'));
      const read = await wire.getData(c.path('s'));
      expect(read.data?.toString()).toBe('after');
    },
  },
  {
    name: 'four-letter words: ruok, isro, srvr, stat, mntr',
    async run(c) {
      const { host, port } = c.target;
      const a = await c.client('A');
      expect(await fourLetterWord(host, port, 'ruok')).toBe('imok');
      expect((await fourLetterWord(host, port, 'isro')).trim()).toBe('rw');
      c.record('ruok/isro', 'imok/rw');

      const srvr = parseSrvr(await fourLetterWord(host, port, 'srvr'));
      const srvrKeys = ['Zookeeper version', 'Latency min/avg/max', 'Received', 'Sent', 'Connections', 'Outstanding', 'Zxid', 'Mode', 'Node count'];
      const srvrPresent = Object.fromEntries(srvrKeys.map((key) => [key, srvr.has(key)]));
      c.record('srvr keys', srvrPresent);
      expect(srvrPresent).toEqual(Object.fromEntries(srvrKeys.map((key) => [key, true])));
      expect(srvr.get('Mode')).toBe('standalone');
      expect(srvr.get('Zxid')).toMatch(/^0x[0-9a-f]+$/);
      expect(Number(srvr.get('Connections'))).toBeGreaterThanOrEqual(1);

      const statText = await fourLetterWord(host, port, 'stat');
      expect(statText).toMatch(/^Clients:$/m);
      expect(statText).toMatch(/^Mode: standalone$/m);
      c.record('stat has Clients and Mode', true);

      const before = parseMntr(await fourLetterWord(host, port, 'mntr'));
      const mntrKeys = [
        'zk_version',
        'zk_server_state',
        'zk_avg_latency',
        'zk_max_latency',
        'zk_min_latency',
        'zk_packets_received',
        'zk_packets_sent',
        'zk_num_alive_connections',
        'zk_outstanding_requests',
        'zk_znode_count',
        'zk_watch_count',
        'zk_ephemerals_count',
        'zk_approximate_data_size',
      ];
      const mntrPresent = Object.fromEntries(mntrKeys.map((key) => [key, before.has(key)]));
      c.record('mntr keys', mntrPresent);
      expect(mntrPresent).toEqual(Object.fromEntries(mntrKeys.map((key) => [key, true])));
      expect(before.get('zk_server_state')).toBe('standalone');

      await a.create(c.path('one'));
      await a.create(c.path('two'), null, zookeeper.CreateMode.EPHEMERAL);
      await a.getData(c.path('one'), () => {});
      const after = parseMntr(await fourLetterWord(host, port, 'mntr'));
      const delta = (key: string) => Number(after.get(key)) - Number(before.get(key));
      const deltas = { zk_znode_count: delta('zk_znode_count'), zk_ephemerals_count: delta('zk_ephemerals_count'), zk_watch_count: delta('zk_watch_count') };
      c.record('mntr deltas', deltas);
      expect(deltas).toEqual({ zk_znode_count: 2, zk_ephemerals_count: 1, zk_watch_count: 1 });


    },
  },
  {
    name: 'four-letter words beyond the basic ones, in the formats tools parse',
    async run(c) {
      const { host, port } = c.target;
      const a = await c.client('A');
      await a.create(c.path('eph'), null, zookeeper.CreateMode.EPHEMERAL);
      await a.getData(c.path('eph'), () => {});
      const words = ['conf', 'cons', 'crst', 'dirs', 'dump', 'envi', 'srst', 'wchc', 'wchp', 'wchs'];
      const replies = Object.fromEntries(await Promise.all(words.map(async (word) => [word, await fourLetterWord(host, port, word)] as const)));
      const notWhitelisted = /is not executed because it is not in the whitelist/;
      const answered = Object.fromEntries(words.map((word) => [word, replies[word]!.trim().length > 0 && !notWhitelisted.test(replies[word]!)]));
      c.record('answered (whitelist *)', answered);
      const formats = {
        'srvr version is x.y.z': /^Zookeeper version: \d+\.\d+\.\d+/.test(await fourLetterWord(host, port, 'srvr')),
        'envi has zookeeper.version=': /^zookeeper\.version=\d+\.\d+\.\d+/m.test(replies.envi!),
        'conf has clientPort, dataDir, tickTime, min/maxSessionTimeout': ['clientPort=', 'dataDir=', 'tickTime=', 'minSessionTimeout=', 'maxSessionTimeout='].every(
          (key) => replies.conf!.includes(key),
        ),
        'wchs totals': /^Total watches:\d+$/m.test(replies.wchs!),
        'dump lists our ephemeral': replies.dump!.includes(c.path('eph')),
        'cons lists connections': /^ \/127\.0\.0\.1:\d+\[\d+\]\(/m.test(replies.cons!),
        'unknown word: no answer': (await fourLetterWord(host, port, 'xyzw')) === '',
      };
      c.record('formats', formats);
      expect(answered).toEqual(Object.fromEntries(words.map((word) => [word, true])));
      expect(formats).toEqual(Object.fromEntries(Object.keys(formats).map((key) => [key, true])));
    },
  },
  {
    name: 'mntr zk_znode_count is one more than the nodes reachable from / (as ZooKeeper counts)',
    async run(c) {
      const { host, port } = c.target;
      const a = await c.client('A');
      await a.create(c.path('x'));
      const walk = async (path: string): Promise<number> => {
        const { children } = await a.getChildren(path);
        let count = 1;
        for (const child of children) count += await walk(path === '/' ? `/${child}` : `${path}/${child}`);
        return count;
      };
      const walked = await walk('/');
      const counted = Number(parseMntr(await fourLetterWord(host, port, 'mntr')).get('zk_znode_count'));
      const nodeCount = Number(parseSrvr(await fourLetterWord(host, port, 'srvr')).get('Node count'));
      c.record('zk_znode_count - nodes found by a walk from /', counted - walked);
      c.record('srvr Node count - nodes found by a walk from /', nodeCount - walked);
      expect([counted - walked, nodeCount - walked]).toEqual([1, 1]);
    },
  },
  {
    name: 'the root and /zookeeper',
    async run(c) {
      const a = await c.client('A');
      const root = await a.exists('/');
      expect(root).not.toBeNull();
      expect(root!.ephemeralOwner.readBigInt64BE(0)).toBe(0n);
      const zk = await a.exists('/zookeeper');
      expect(zk).not.toBeNull();
      const rootChildren = (await a.getChildren('/')).children;
      expect(rootChildren).toContain('zookeeper');
      const system = (await a.getChildren('/zookeeper')).children.sort();
      c.record('/zookeeper children', system);
      expect(system).toEqual(['config', 'quota']);
      // The built-in nodes predate every txn: zxids and times are 0.
      const builtIn: Record<string, unknown> = {};
      for (const path of ['/', '/zookeeper', '/zookeeper/quota', '/zookeeper/config']) {
        const stat = (await a.exists(path))!;
        const { acls } = await a.getACL(path);
        const dataLength = path === '/' ? 'n/a' : stat.dataLength;
        builtIn[path] = {
          czxid: String(long(stat.czxid)),
          ctime: String(long(stat.ctime)),
          acl: showAcls(acls),
          dataLength,
        };
      }
      c.record('built-in nodes', builtIn);
      expect(builtIn).toEqual({
        '/': { czxid: '0', ctime: '0', acl: ['world:anyone=31'], dataLength: 'n/a' },
        '/zookeeper': { czxid: '0', ctime: '0', acl: ['world:anyone=31'], dataLength: 0 },
        '/zookeeper/quota': { czxid: '0', ctime: '0', acl: ['world:anyone=31'], dataLength: 0 },
        '/zookeeper/config': { czxid: '0', ctime: '0', acl: ['world:anyone=1'], dataLength: 0 },
      });
      const outcomes = {
        'delete /': await errorName(a.remove('/')),
        'delete /zookeeper': await errorName(a.remove('/zookeeper')),
        'setData /': (await a.setData('/', Buffer.from('root')).then((s) => `version ${s.version}`, (e: Error) => e.message)),
      };
      c.record('outcomes', outcomes);
      expect(outcomes).toEqual({ 'delete /': 'BAD_ARGUMENTS', 'delete /zookeeper': 'BAD_ARGUMENTS', 'setData /': 'version 1' });
    },
  },
  {
    name: 'ACL schemes beyond world:anyone: digest, auth, ip, and invalid ids',
    async run(c) {
      const owner = await c.client('A');
      const stranger = await c.wire('S');
      owner.client.addAuthInfo('digest', Buffer.from('user:secret'));
      await owner.exists('/');
      const digestId = `user:${createHash('sha1').update('user:secret').digest('base64')}`;
      const outcomes: Record<string, string> = {};
      const create = async (label: string, name: string, acl: { perms: number; scheme: string; id: string }[]) => {
        outcomes[`create ${label}`] = codeName((await stranger.create(c.path(name), Buffer.from('x'), 0, acl)).err);
      };
      await create('ip 127.0.0.1', 'ip-local', [{ perms: 31, scheme: 'ip', id: '127.0.0.1' }]);
      await create('ip 10.0.0.0/8', 'ip-ten', [{ perms: 31, scheme: 'ip', id: '10.0.0.0/8' }]);
      await create('ip not-an-ip', 'ip-bad', [{ perms: 31, scheme: 'ip', id: 'not-an-ip' }]);
      await create('digest without colon', 'digest-bad', [{ perms: 31, scheme: 'digest', id: 'nocolon' }]);
      await create('unknown scheme', 'foo', [{ perms: 31, scheme: 'foo', id: 'bar' }]);
      await create('auth without credentials', 'auth-bad', [{ perms: 31, scheme: 'auth', id: '' }]);
      await create('digest for user', 'digest-user', [{ perms: 31, scheme: 'digest', id: digestId }]);
      outcomes['stranger getData on the digest node'] = codeName((await stranger.getData(c.path('digest-user'))).err);
      outcomes['stranger (127.0.0.1) getData on the ip 127.0.0.1 node'] = codeName((await stranger.getData(c.path('ip-local'))).err);
      outcomes['stranger (127.0.0.1) getData on the ip 10/8 node'] = codeName((await stranger.getData(c.path('ip-ten'))).err);
      outcomes['owner getData on the digest node'] = await owner.getData(c.path('digest-user')).then(() => 'OK', (e: Error) => e.message.split('[')[0] ?? 'error');
      await owner.create(c.path('auth-node'), Buffer.from('a'), zookeeper.CreateMode.PERSISTENT, [new zookeeper.ACL(Permission.ALL, new zookeeper.Id('auth', ''))]);
      const authAcl = await owner.getACL(c.path('auth-node'));
      outcomes['auth scheme expands to'] = showAcls(authAcl.acls).join(',') === `digest:${digestId}=31` ? 'digest:user:<hash>=31' : showAcls(authAcl.acls).join(',');
      c.record('outcomes', outcomes);
      expect(outcomes).toEqual({
        'create ip 127.0.0.1': 'OK',
        'create ip 10.0.0.0/8': 'OK',
        'create ip not-an-ip': 'INVALID_ACL',
        'create digest without colon': 'INVALID_ACL',
        'create unknown scheme': 'INVALID_ACL',
        'create auth without credentials': 'INVALID_ACL',
        'create digest for user': 'OK',
        'stranger getData on the digest node': 'NO_AUTH',
        'stranger (127.0.0.1) getData on the ip 127.0.0.1 node': 'OK',
        'stranger (127.0.0.1) getData on the ip 10/8 node': 'NO_AUTH',
        'owner getData on the digest node': 'OK',
        'auth scheme expands to': 'digest:user:<hash>=31',
      });
    },
  },
  {
    name: 'getACL redacts digest ids for a client with READ but not ADMIN',
    async run(c) {
      const owner = await c.client('A');
      owner.client.addAuthInfo('digest', Buffer.from('user:secret'));
      await owner.exists('/');
      const digestId = `user:${createHash('sha1').update('user:secret').digest('base64')}`;
      const stranger = await c.client('S');
      await owner.create(c.path('mixed'), Buffer.from('m'), zookeeper.CreateMode.PERSISTENT, [
        new zookeeper.ACL(Permission.ALL, new zookeeper.Id('digest', digestId)),
        new zookeeper.ACL(Permission.READ, new zookeeper.Id('world', 'anyone')),
      ]);
      const hide = (acl: string) => acl.replace(digestId, 'user:<hash>');
      const seenByStranger = showAcls((await stranger.getACL(c.path('mixed'))).acls).map(hide);
      const seenByOwner = showAcls((await owner.getACL(c.path('mixed'))).acls).map(hide);
      c.record('getACL', { seenByStranger, seenByOwner });
      expect({ seenByStranger, seenByOwner }).toEqual({
        seenByStranger: ['digest:user:x=31', 'world:anyone=1'],
        seenByOwner: ['digest:user:<hash>=31', 'world:anyone=1'],
      });
    },
  },
  {
    name: 'ACL entries combine: permissions are the union of the entries that match the client',
    async run(c) {
      const wire = await c.wire('W');
      const acl = [
        { perms: Permission.READ, scheme: 'world', id: 'anyone' },
        { perms: Permission.WRITE, scheme: 'ip', id: '127.0.0.0/8' },
        { perms: Permission.DELETE, scheme: 'ip', id: '192.168.0.1' },
      ];
      expect(codeName((await wire.create(c.path('u'), Buffer.from('u'), 0, acl)).err)).toBe('OK');
      await wire.create(c.path('u-child-parent'), null, 0, acl);
      const outcomes = {
        getData: codeName((await wire.getData(c.path('u'))).err),
        setData: codeName((await wire.setData(c.path('u'), Buffer.from('v'))).err),
        'create child (no CREATE)': codeName((await wire.create(c.path('u/child'), null)).err),
        'setACL (no ADMIN)': codeName((await wire.setACL(c.path('u'), [{ perms: 31, scheme: 'world', id: 'anyone' }])).err),
      };
      c.record('outcomes', outcomes);
      expect(outcomes).toEqual({ getData: 'OK', setData: 'OK', 'create child (no CREATE)': 'NO_AUTH', 'setACL (no ADMIN)': 'NO_AUTH' });
    },
  },
];
