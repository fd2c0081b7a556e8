/** Creating, reading, updating and deleting znodes; stats; children. */
import { expect } from 'vitest';
import { errorName, long, codeName } from '../../helpers/zk-client.js';
import { CreateMode, expectFreshStat, type ConformanceCase } from '../support/case-context.js';

const SEQUENCE_SUFFIX = /\d{10}$/;

export const nodeCases: ConformanceCase[] = [
  {
    name: 'create persistent: returned path, data and a fresh stat',
    async run(c) {
      const a = await c.client('A');
      const created = await a.create(c.path('p'), Buffer.from('hello'));
      expect(created).toBe(c.path('p'));
      c.record('create p', created);
      const { data, stat } = await a.getData(c.path('p'));
      expect(data?.toString()).toBe('hello');
      expectFreshStat(stat);
      expect(long(stat.ephemeralOwner)).toBe(0n);
      expect([stat.dataLength, stat.numChildren]).toEqual([5, 0]);
      c.record('getData p', { data, stat: c.transcript.stat(stat) });
      const existsStat = await a.exists(c.path('p'));
      expect(existsStat).toEqual(stat);
      c.record('exists p', c.transcript.stat(existsStat));

      await a.create(c.path('no-data'));
      const noData = await a.getData(c.path('no-data'));
      expect(noData.stat.dataLength).toBe(0);
      c.record('getData no-data', { data: noData.data, stat: c.transcript.stat(noData.stat) });

      await a.create(c.path('empty'), Buffer.alloc(0));
      const empty = await a.getData(c.path('empty'));
      expect(empty.stat.dataLength).toBe(0);
      c.record('getData empty', { data: empty.data, stat: c.transcript.stat(empty.stat) });

      const binary = Buffer.from([0, 1, 2, 253, 254, 255]);
      await a.create(c.path('binary'), binary);
      const readBack = await a.getData(c.path('binary'));
      expect(readBack.data?.equals(binary)).toBe(true);
      c.record('getData binary', readBack.data?.toString('hex'));
    },
  },
  {
    name: 'create ephemeral: owner is the session; gone when the session closes',
    async run(c) {
      const a = await c.client('A');
      const b = await c.client('B');
      await a.create(c.path('e'), Buffer.from('x'), CreateMode.EPHEMERAL);
      const stat = await b.exists(c.path('e'));
      expect(stat).not.toBeNull();
      expect(stat!.ephemeralOwner.equals(a.sessionId())).toBe(true);
      expectFreshStat(stat!);
      c.record('exists e (B)', c.transcript.stat(stat));
      const parent = await b.exists(c.base);
      expect(parent?.numChildren).toBe(1);
      c.record('exists base', c.transcript.stat(parent));
      await a.close();
      const after = await b.exists(c.path('e'));
      expect(after).toBeNull();
      c.record('exists e after A closed', after);
      const parentAfter = await b.exists(c.base);
      expect([parentAfter?.numChildren, parentAfter?.cversion]).toEqual([0, 2]);
      c.record('exists base after A closed', c.transcript.stat(parentAfter));
    },
  },
  {
    name: 'sequential: 10-digit suffix from a per-parent counter (the parent cversion)',
    async run(c) {
      const a = await c.client('A');
      await a.create(c.path('p1'));
      await a.create(c.path('p2'));
      const names: string[] = [];
      const seq = async (parent: string, prefix: string, mode: number = CreateMode.PERSISTENT_SEQUENTIAL) => {
        const created = await a.create(c.path(`${parent}/${prefix}`), Buffer.from(prefix), mode);
        expect(created.startsWith(c.path(`${parent}/${prefix}`))).toBe(true);
        expect(created.slice(c.path(`${parent}/${prefix}`).length)).toMatch(/^\d{10}$/);
        names.push(created);
        c.record(`create seq ${parent}/${prefix}`, created);
        return created;
      };
      expect(await seq('p1', 'n-')).toBe(c.path('p1/n-0000000000'));
      expect(await seq('p1', 'n-')).toBe(c.path('p1/n-0000000001'));
      expect(await seq('p1', 'other-')).toBe(c.path('p1/other-0000000002'));
      await a.create(c.path('p1/plain'));
      expect(await seq('p1', 'n-')).toBe(c.path('p1/n-0000000004'));
      await a.remove(c.path('p1/plain'));
      const afterDelete = await a.exists(c.path('p1'));
      c.record('p1 after deleting a child', c.transcript.stat(afterDelete));
      // ZooKeeper counts the delete in cversion but names the next sequential node from the counter
      // before it: the name reuses 5, not 6.
      expect(afterDelete?.cversion).toBe(6);
      expect(await seq('p1', 'n-')).toBe(c.path('p1/n-0000000005'));
      expect(await seq('p2', 'n-')).toBe(c.path('p2/n-0000000000'));
      const ephemeral = await seq('p2', 'e-', CreateMode.EPHEMERAL_SEQUENTIAL);
      expect(ephemeral).toBe(c.path('p2/e-0000000001'));
      const stat = await a.exists(ephemeral);
      expect(stat?.ephemeralOwner.equals(a.sessionId())).toBe(true);
      c.record('exists ephemeral-sequential', c.transcript.stat(stat));
      const { children } = await a.getChildren(c.path('p1'));
      expect(children.sort()).toEqual(['n-0000000000', 'n-0000000001', 'n-0000000004', 'n-0000000005', 'other-0000000002']);
      c.record('children p1', children.sort());
      expect(names.every((name) => SEQUENCE_SUFFIX.test(name))).toBe(true);

      // An existing node with the name the counter produces: ZooKeeper fails the create (NODE_EXISTS).
      await a.create(c.path('p2/n-0000000003'));
      const clash = await errorName(a.create(c.path('p2/n-'), null, CreateMode.PERSISTENT_SEQUENTIAL));
      c.record('create seq onto an existing name', clash);
      expect(clash).toBe('NODE_EXISTS');
      // The failed create did not advance the counter; another child change does.
      await a.create(c.path('p2/z'));
      expect(await seq('p2', 'n-')).toBe(c.path('p2/n-0000000004'));

      // Over the wire: a sequential create of '<parent>/' names the node by the counter alone.
      const wire = await c.wire('W');
      const bare = await wire.create(`${c.path('p2')}/`, null, 2);
      c.record('create seq <parent>/', { err: codeName(bare.err), path: bare.path });
      expect(bare.path).toBe(c.path('p2/0000000005'));
    },
  },
  {
    name: 'create errors: NODE_EXISTS, NO_NODE, NO_CHILDREN_FOR_EPHEMERALS',
    async run(c) {
      const a = await c.client('A');
      await a.create(c.path('x'));
      const outcomes: Record<string, string> = {
        'create existing': await errorName(a.create(c.path('x'))),
        'create under missing parent': await errorName(a.create(c.path('missing/child'))),
        'create seq under missing parent': await errorName(a.create(c.path('missing/s-'), null, CreateMode.PERSISTENT_SEQUENTIAL)),
      };
      await a.create(c.path('eph'), null, CreateMode.EPHEMERAL);
      outcomes['create under ephemeral'] = await errorName(a.create(c.path('eph/child')));
      outcomes['create ephemeral under ephemeral'] = await errorName(a.create(c.path('eph/child'), null, CreateMode.EPHEMERAL));
      outcomes['create root'] = await errorName(a.create('/'));
      outcomes['create existing ephemeral (same session)'] = await errorName(a.create(c.path('eph'), null, CreateMode.EPHEMERAL));
      c.record('outcomes', outcomes);
      expect(outcomes).toEqual({
        'create existing': 'NODE_EXISTS',
        'create under missing parent': 'NO_NODE',
        'create seq under missing parent': 'NO_NODE',
        'create under ephemeral': 'NO_CHILDREN_FOR_EPHEMERALS',
        'create ephemeral under ephemeral': 'NO_CHILDREN_FOR_EPHEMERALS',
        'create root': 'NODE_EXISTS',
        'create existing ephemeral (same session)': 'NODE_EXISTS',
      });
      // A failed create changes nothing.
      const parent = await a.exists(c.base);
      expect(parent?.numChildren).toBe(2);
      c.record('base after failed creates', c.transcript.stat(parent));
    },
  },
  {
    name: 'bad paths (sent raw; the client library would refuse them)',
    async run(c) {
      const wire = await c.wire('W');
      // ZooKeeper checks the parent before the name: '<base>//x' is NO_NODE (parent '<base>/' is missing).
      const expected: Record<string, string> = {
        '': 'BAD_ARGUMENTS',
        relative: 'BAD_ARGUMENTS',
        '<base>/': 'BAD_ARGUMENTS',
        '<base>//x': 'NO_NODE',
        '<base>/./x': 'NO_NODE',
        '<base>/../x': 'NO_NODE',
        '<base>/.': 'BAD_ARGUMENTS',
        '<base>/..': 'BAD_ARGUMENTS',
        '<base>/a\u0000b': 'BAD_ARGUMENTS',
        '//': 'BAD_ARGUMENTS',
      };
      const results: Record<string, string> = {};
      for (const label of Object.keys(expected)) {
        const created = await wire.create(label.replace('<base>', c.base), null, 0);
        results[label] = codeName(created.err);
      }
      c.record('create', results);
      expect(results).toEqual(expected);
      const reads = {
        'getData relative': codeName((await wire.getData('relative')).err),
        'exists relative': codeName((await wire.exists('relative')).err),
        'delete relative': codeName((await wire.delete('relative')).err),
        'setData relative': codeName((await wire.setData('relative', null)).err),
      };
      c.record('other ops', reads);
      expect(reads).toEqual({ 'getData relative': 'NO_NODE', 'exists relative': 'NO_NODE', 'delete relative': 'BAD_ARGUMENTS', 'setData relative': 'BAD_ARGUMENTS' });
      expect(wire.connectionClosed()).toBe(false);
      // Names that merely look odd are fine.
      const odd = [`${c.base}/...`, `${c.base}/.x`, `${c.base}/x y`, `${c.base}/ünïcødé`, `${c.base}/a:b@c`];
      const oddResults: Record<string, string> = {};
      for (const path of odd) oddResults[path] = codeName((await wire.create(path, null, 0)).err);
      c.record('odd but valid names', oddResults);
      for (const path of odd) expect(oddResults[path]).toBe('OK');
    },
  },
  {
    name: 'versions: setData and delete with expected versions',
    async run(c) {
      const a = await c.client('A');
      const node = c.path('v');
      await a.create(node, Buffer.from('v0'));
      const s1 = await a.setData(node, Buffer.from('v1'), 0);
      expect(s1.version).toBe(1);
      c.record('setData v=0', c.transcript.stat(s1));
      const stale = await errorName(a.setData(node, Buffer.from('stale'), 0));
      expect(stale).toBe('BAD_VERSION');
      c.record('setData stale v=0', stale);
      const s2 = await a.setData(node, Buffer.from('v2-longer'), -1);
      expect([s2.version, s2.dataLength]).toEqual([2, 9]);
      c.record('setData v=-1', c.transcript.stat(s2));
      const s3 = await a.setData(node, Buffer.alloc(0), 2);
      expect([s3.version, s3.dataLength]).toEqual([3, 0]);
      c.record('setData empty v=2', c.transcript.stat(s3));
      const future = await errorName(a.setData(node, Buffer.from('x'), 99));
      expect(future).toBe('BAD_VERSION');
      c.record('setData v=99', future);
      const { data, stat } = await a.getData(node);
      c.record('getData after setData empty', { data, stat: c.transcript.stat(stat) });
      expect(stat.version).toBe(3);

      await a.create(`${node}/child`);
      const outcomes: Record<string, string> = {
        'delete wrong version': await errorName(a.remove(node, 1)),
        'delete not empty': await errorName(a.remove(node, 3)),
        'delete not empty (any version)': await errorName(a.remove(node)),
        'delete missing': await errorName(a.remove(c.path('missing'))),
        'delete missing with version': await errorName(a.remove(c.path('missing'), 5)),
        'setData missing': await errorName(a.setData(c.path('missing'), Buffer.from('x'))),
        'getData missing': await errorName(a.getData(c.path('missing'))),
        'delete root': await errorName(a.remove('/')),
      };
      c.record('outcomes', outcomes);
      expect(outcomes).toMatchObject({
        'delete wrong version': 'BAD_VERSION',
        'delete not empty': 'NOT_EMPTY',
        'delete not empty (any version)': 'NOT_EMPTY',
        'delete missing': 'NO_NODE',
        'delete missing with version': 'NO_NODE',
        'setData missing': 'NO_NODE',
        'getData missing': 'NO_NODE',
      });
      expect(await a.exists(c.path('missing'))).toBeNull();
      await a.remove(`${node}/child`, 0);
      await a.remove(node, 3);
      expect(await a.exists(node)).toBeNull();
      c.record('deleted', true);
    },
  },
  {
    name: 'stat fields: zxid ordering, versions, numChildren, dataLength, times',
    async run(c) {
      const a = await c.client('A');
      const parent = c.path('parent');
      const child = `${parent}/child`;
      await a.create(parent, Buffer.from('pp'));
      const p0 = (await a.exists(parent))!;
      c.record('parent created', c.transcript.stat(p0));

      await a.create(child, Buffer.from('c'));
      const p1 = (await a.exists(parent))!;
      const c1 = (await a.exists(child))!;
      c.record('after child create', { parent: c.transcript.stat(p1), child: c.transcript.stat(c1) });
      expect(long(c1.czxid)).toBeGreaterThan(long(p0.czxid));
      expect(p1.pzxid.equals(c1.czxid)).toBe(true);
      expect(p1.mzxid.equals(p0.mzxid)).toBe(true);
      expect([p1.version, p1.cversion, p1.numChildren, p1.dataLength]).toEqual([0, 1, 1, 2]);
      expect(p1.mtime.equals(p0.mtime)).toBe(true);

      const c2 = await a.setData(child, Buffer.from('changed'));
      const p2 = (await a.exists(parent))!;
      c.record('after child setData', { parent: c.transcript.stat(p2), child: c.transcript.stat(c2) });
      expect(long(c2.mzxid)).toBeGreaterThan(long(c2.czxid));
      expect(c2.pzxid.equals(c1.pzxid)).toBe(true);
      expect(long(c2.mtime)).toBeGreaterThanOrEqual(long(c2.ctime));
      expect([c2.version, c2.dataLength]).toEqual([1, 7]);
      expect(p2).toEqual(p1);

      await a.create(`${child}/grandchild`);
      const p3 = (await a.exists(parent))!;
      expect(p3).toEqual(p1);

      await a.remove(`${child}/grandchild`);
      await a.remove(child);
      const p4 = (await a.exists(parent))!;
      c.record('after child delete', c.transcript.stat(p4));
      expect(long(p4.pzxid)).toBeGreaterThan(long(c2.mzxid));
      expect(p4.mzxid.equals(p0.mzxid)).toBe(true);
      expect([p4.cversion, p4.numChildren, p4.version]).toEqual([2, 0, 0]);

      const p5 = await a.setData(parent, Buffer.from('new parent data'));
      c.record('after parent setData', c.transcript.stat(p5));
      expect([p5.version, p5.cversion, p5.dataLength]).toEqual([1, 2, 15]);
      expect(p5.pzxid.equals(p4.pzxid)).toBe(true);
      expect(long(p5.mzxid)).toBeGreaterThan(long(p4.pzxid));
    },
  },
  {
    name: 'getChildren: names, with the parent stat',
    async run(c) {
      const a = await c.client('A');
      const parent = c.path('kids');
      await a.create(parent);
      for (const name of ['b', 'a', 'c', 'a-long-name']) await a.create(`${parent}/${name}`);
      await a.create(`${parent}/a/nested`);
      const { children, stat } = await a.getChildren(parent);
      const parentStat = await a.exists(parent);
      expect([...children].sort()).toEqual(['a', 'a-long-name', 'b', 'c']);
      expect(stat).toEqual(parentStat);
      c.record('getChildren kids', { children: [...children].sort(), stat: c.transcript.stat(stat) });
      const leaf = await a.getChildren(`${parent}/b`);
      expect(leaf.children).toEqual([]);
      c.record('getChildren leaf', { children: leaf.children, stat: c.transcript.stat(leaf.stat) });
      const missing = await errorName(a.getChildren(c.path('missing')));
      expect(missing).toBe('NO_NODE');
      c.record('getChildren missing', missing);
      const root = await a.getChildren('/');
      expect(root.children).toContain(c.base.slice(1));
      c.record('root has base', root.children.includes(c.base.slice(1)));
    },
  },
  {
    name: 'concurrent sessions: one winner per expected version; sequential names unique and dense',
    async run(c) {
      const clients = await Promise.all(['A', 'B', 'C', 'D', 'E', 'F'].map((label) => c.client(label)));
      await clients[0]!.create(c.path('cas'), Buffer.from('0'));
      await clients[0]!.create(c.path('q'));
      const attempts = await Promise.all(
        clients.map((client, i) => client.setData(c.path('cas'), Buffer.from(`by ${i}`), 0).then(() => 'OK', (e: Error) => e.message.split('[')[0])),
      );
      const outcome = { OK: attempts.filter((a) => a === 'OK').length, BAD_VERSION: attempts.filter((a) => a === 'BAD_VERSION').length };
      c.record('compare-and-set by 6 sessions', outcome);
      expect(outcome).toEqual({ OK: 1, BAD_VERSION: 5 });
      const creates = clients.flatMap((client) => [1, 2, 3, 4, 5].map(() => client.create(c.path('q/n-'), null, CreateMode.PERSISTENT_SEQUENTIAL)));
      const names = (await Promise.all(creates)).map((p) => p.slice(-10)).sort();
      c.record('30 concurrent sequential creates', { unique: new Set(names).size, first: names[0], last: names[names.length - 1] });
      expect(names).toEqual(Array.from({ length: 30 }, (_, i) => String(i).padStart(10, '0')));
    },
  },
  {
    name: 'long names and deep paths',
    async run(c) {
      const a = await c.client('A');
      const long = 'n'.repeat(4000);
      await a.create(c.path(long), Buffer.from('long'));
      expect((await a.getData(c.path(long))).data?.toString()).toBe('long');
      let path = c.path('deep');
      await a.create(path);
      for (let depth = 1; depth < 100; depth++) {
        path = `${path}/d${depth}`;
        await a.create(path);
      }
      const leaf = await a.exists(path);
      const { children } = await a.getChildren(c.base);
      c.record('long and deep', { children: children.map((n) => (n.length > 20 ? `${n.length} chars` : n)).sort(), leaf: c.transcript.stat(leaf) });
      expect(children.length).toBe(2);
      expect(leaf?.numChildren).toBe(0);
    },
  },
];
