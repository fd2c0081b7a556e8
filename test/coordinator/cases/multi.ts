/** multi / transaction: all-or-nothing, one zxid, per-op results of a failing transaction. */
import { expect } from 'vitest';
import { codeName, long } from '../../helpers/zk-client.js';
import { CreateMode, type ConformanceCase } from '../support/case-context.js';

export const multiCases: ConformanceCase[] = [
  {
    name: 'multi commits all ops atomically under one zxid',
    async run(c) {
      const a = await c.client('A');
      await a.create(c.path('old'), Buffer.from('old'));
      await a.create(c.path('doomed'));
      const { error, results } = await a.multi((tx) =>
        tx
          .create(c.path('m1'), Buffer.from('one'))
          .create(c.path('m1/child'), Buffer.from('two'), CreateMode.EPHEMERAL)
          .setData(c.path('old'), Buffer.from('new'), 0)
          .check(c.path('old'), 1)
          .remove(c.path('doomed'), 0)
          .create(c.path('seq-'), CreateMode.PERSISTENT_SEQUENTIAL),
      );
      expect(error).toBeNull();
      const shaped = results.map((r) => ({ type: r.type, path: r.path, stat: c.transcript.stat(r.stat) }));
      c.record('results', shaped);
      expect(results.map((r) => r.type)).toEqual([1, 1, 5, 13, 2, 1]);
      expect(results[0]?.path).toBe(c.path('m1'));
      expect(results[5]?.path).toMatch(/\/seq-\d{10}$/);
      const m1 = (await a.exists(c.path('m1')))!;
      const child = (await a.exists(c.path('m1/child')))!;
      const old = (await a.getData(c.path('old'))).stat;
      expect(child.czxid.equals(m1.czxid)).toBe(true);
      expect(old.mzxid.equals(m1.czxid)).toBe(true);
      expect(results[2]?.stat?.mzxid.equals(m1.czxid)).toBe(true);
      expect(child.ephemeralOwner.equals(a.sessionId())).toBe(true);
      expect(await a.exists(c.path('doomed'))).toBeNull();
      const base = (await a.exists(c.base))!;
      expect(base.pzxid.equals(m1.czxid)).toBe(true);
      c.record('after', { m1: c.transcript.stat(m1), child: c.transcript.stat(child), old: c.transcript.stat(old), base: c.transcript.stat(base) });
    },
  },
  {
    name: 'multi failure: nothing applied; ops before OK, the failing op its error, ops after RUNTIME_INCONSISTENCY',
    async run(c) {
      const a = await c.client('A');
      await a.create(c.path('x'), Buffer.from('x'));
      const before = (await a.exists(c.base))!;
      const { error, results } = await a.multi((tx) =>
        tx
          .create(c.path('new'), Buffer.from('n'))
          .setData(c.path('x'), Buffer.from('y'), -1)
          .check(c.path('x'), 7)
          .create(c.path('other')),
      );
      expect(error?.codeName).toBe('BAD_VERSION');
      const shaped = results.map((r) => ({ type: r.type, err: r.err === undefined ? undefined : codeName(r.err) }));
      c.record('client results', { error: error?.codeName, results: shaped });
      expect(shaped).toEqual([
        { type: -1, err: 'OK' },
        { type: -1, err: 'OK' },
        { type: -1, err: 'BAD_VERSION' },
        { type: -1, err: 'RUNTIME_INCONSISTENCY' },
      ]);
      expect(await a.exists(c.path('new'))).toBeNull();
      const x = await a.getData(c.path('x'));
      expect([x.data?.toString(), x.stat.version]).toEqual(['x', 0]);
      const after = (await a.exists(c.base))!;
      expect(after).toEqual(before);

      // The same over the wire, to see the reply header's error code as well.
      const wire = await c.wire('W');
      const raw = await wire.multi([
        { op: 'create', path: c.path('w1') },
        { op: 'create', path: c.path('missing/child') },
        { op: 'delete', path: c.path('x') },
      ]);
      const rawShaped = { err: codeName(raw.err), results: raw.results.map((r) => ({ type: r.type, err: codeName(r.err) })) };
      c.record('wire results (NO_NODE in the middle)', rawShaped);
      expect(rawShaped.results).toEqual([
        { type: -1, err: 'OK' },
        { type: -1, err: 'NO_NODE' },
        { type: -1, err: 'RUNTIME_INCONSISTENCY' },
      ]);
      expect(await a.exists(c.path('w1'))).toBeNull();
      expect(await a.exists(c.path('x'))).not.toBeNull();

      // Ops in one multi see the effects of earlier ops in it.
      const chained = await wire.multi([
        { op: 'create', path: c.path('chain') },
        { op: 'create', path: c.path('chain/a') },
        { op: 'check', path: c.path('chain'), version: 0 },
        { op: 'delete', path: c.path('chain/a') },
        { op: 'delete', path: c.path('chain') },
        { op: 'create', path: c.path('chain'), data: Buffer.from('again') },
      ]);
      c.record('wire chained', { err: codeName(chained.err), results: chained.results.map((r) => ({ type: r.type, err: codeName(r.err), path: r.path ?? null })) });
      expect(chained.err).toBe(0);
      const chain = (await a.getData(c.path('chain')))!;
      expect(chain.data?.toString()).toBe('again');
      c.record('chain stat', c.transcript.stat(chain.stat));

      const empty = await wire.multi([]);
      c.record('empty multi', { err: codeName(empty.err), results: empty.results });
      expect(empty.err).toBe(0);
      expect(long(chain.stat.czxid)).toBeGreaterThan(0n);
    },
  },
  {
    name: 'multi: watches fire only for a committed transaction',
    async run(c) {
      const a = await c.client('A');
      const b = await c.client('B');
      await a.create(c.path('w'), Buffer.from('w'));
      await a.getData(c.path('w'), c.watcher('A data w'));
      await a.getChildren(c.base, c.watcher('A children base'));
      const failed = await b.multi((tx) => tx.setData(c.path('w'), Buffer.from('no'), -1).create(c.path('w')));
      expect(failed.error?.codeName).toBe('NODE_EXISTS');
      await c.barrier(a, b);
      // The barrier's own create fired the children watch on base; nothing else may have fired.
      expect(c.events.map((e) => `${e.watcher}: ${e.type}`)).toEqual(['A children base: NODE_CHILDREN_CHANGED']);
      await a.getChildren(c.base, c.watcher('A children base'));
      const committed = await b.multi((tx) => tx.setData(c.path('w'), Buffer.from('yes'), -1).create(c.path('w2')));
      expect(committed.error).toBeNull();
      await c.eventCount(3);
      expect(c.events.slice(1).map((e) => `${e.watcher}: ${e.type} ${e.path}`)).toEqual([
        `A data w: NODE_DATA_CHANGED ${c.path('w')}`,
        `A children base: NODE_CHILDREN_CHANGED ${c.base}`,
      ]);
    },
  },
];
