/**
 * Operations ZooKeeper 3.5-3.8 added beyond what node-zookeeper-client sends (Java and Go clients,
 * Curator and tooling use them): getAllChildrenNumber, getEphemerals, checkWatches, removeWatches,
 * addWatch (persistent and persistent recursive watches), multiRead. Sent over the wire.
 */
import { expect } from 'vitest';
import { codeName } from '../../helpers/zk-client.js';
import { waitFor } from '../../helpers/wait.js';
import { JuteReader, JuteWriter } from '../../helpers/zk-wire.js';
import { CreateMode, type ConformanceCase } from '../support/case-context.js';

const Op = { getAllChildrenNumber: 104, getEphemerals: 103, checkWatches: 17, removeWatches: 18, addWatch: 106, multiRead: 22 } as const;
const WatcherType = { children: 1, data: 2, any: 3 } as const;

export const newerOpCases: ConformanceCase[] = [
  {
    name: 'getAllChildrenNumber and getEphemerals',
    async run(c) {
      const a = await c.client('A');
      const wire = await c.wire('W');
      await a.create(c.path('t'));
      await a.create(c.path('t/a'));
      await a.create(c.path('t/a/b'));
      await a.create(c.path('t/c'));
      for (const name of ['e1', 'e2']) expect((await wire.create(c.path(`t/${name}`), null, CreateMode.EPHEMERAL)).err).toBe(0);
      await a.create(c.path('t/mine'), null, CreateMode.EPHEMERAL);

      const count = await wire.request(Op.getAllChildrenNumber, new JuteWriter().string(c.path('t')).toBuffer());
      const countResult = count.err === 0 ? new JuteReader(count.body).int() : codeName(count.err);
      const countMissing = codeName((await wire.request(Op.getAllChildrenNumber, new JuteWriter().string(c.path('none')).toBuffer())).err);
      const ephemerals = await wire.request(Op.getEphemerals, new JuteWriter().string(c.path('t')).toBuffer());
      let ephemeralPaths: string[] | string = codeName(ephemerals.err);
      if (ephemerals.err === 0) {
        const reader = new JuteReader(ephemerals.body);
        const n = reader.int();
        ephemeralPaths = Array.from({ length: n }, () => reader.string() ?? '').sort();
      }
      const all = await wire.request(Op.getEphemerals, new JuteWriter().string('/').toBuffer());
      const allCount = all.err === 0 ? new JuteReader(all.body).int() : codeName(all.err);
      const results = { 'getAllChildrenNumber t': countResult, 'getAllChildrenNumber missing': countMissing, 'getEphemerals t (own session)': ephemeralPaths, 'getEphemerals / count': allCount };
      c.record('results', results);
      expect(results).toEqual({
        'getAllChildrenNumber t': 6,
        'getAllChildrenNumber missing': 'NO_NODE',
        'getEphemerals t (own session)': [c.path('t/e1'), c.path('t/e2')],
        'getEphemerals / count': 2,
      });
    },
  },
  {
    name: 'checkWatches and removeWatches',
    async run(c) {
      const a = await c.client('B');
      await a.create(c.path('n'), Buffer.from('x'));
      const wire = await c.wire('W');
      const watchBody = (path: string, type: number) => new JuteWriter().string(path).int(type).toBuffer();
      const check = async (type: number) => codeName((await wire.request(Op.checkWatches, watchBody(c.path('n'), type))).err);
      const before = { data: await check(WatcherType.data), children: await check(WatcherType.children) };
      expect((await wire.getData(c.path('n'), true)).err).toBe(0);
      const afterData = { data: await check(WatcherType.data), children: await check(WatcherType.children), any: await check(WatcherType.any) };
      const removed = codeName((await wire.request(Op.removeWatches, watchBody(c.path('n'), WatcherType.data))).err);
      const removedAgain = codeName((await wire.request(Op.removeWatches, watchBody(c.path('n'), WatcherType.data))).err);
      const afterRemove = { data: await check(WatcherType.data) };
      await a.setData(c.path('n'), Buffer.from('y'));
      await wire.exists('/');
      await a.exists('/');
      await wire.exists('/');
      const notifications = wire.frames.flatMap((f) => (f.kind === 'notification' ? [`type=${f.event.type} ${f.event.path}`] : []));
      const results = { before, afterData, removed, removedAgain, afterRemove, notifications };
      c.record('results', results);
      expect(results).toEqual({
        before: { data: 'NO_WATCHER', children: 'NO_WATCHER' },
        afterData: { data: 'OK', children: 'NO_WATCHER', any: 'OK' },
        removed: 'OK',
        removedAgain: 'NO_WATCHER',
        afterRemove: { data: 'NO_WATCHER' },
        notifications: [],
      });
    },
  },
  {
    name: 'addWatch: persistent and persistent recursive watches',
    async run(c) {
      const writer = await c.client('B');
      await writer.create(c.path('p'));
      await writer.create(c.path('r'));
      const wire = await c.wire('W');
      const add = async (path: string, mode: number) => codeName((await wire.request(Op.addWatch, new JuteWriter().string(path).int(mode).toBuffer())).err);
      const added = { persistent: await add(c.path('p'), 0), recursive: await add(c.path('r'), 1) };
      c.record('addWatch', added);
      expect(added).toEqual({ persistent: 'OK', recursive: 'OK' });
      await writer.setData(c.path('p'), Buffer.from('1'));
      await writer.setData(c.path('p'), Buffer.from('2'));
      await writer.create(c.path('p/kid'));
      await writer.create(c.path('r/a'));
      await writer.create(c.path('r/a/b'));
      await writer.setData(c.path('r/a/b'), Buffer.from('deep'));
      await writer.remove(c.path('r/a/b'));
      await waitFor(() => wire.frames.filter((f) => f.kind === 'notification').length >= 7, { description: '7 notifications' });
      await writer.create(c.path('barrier'));
      await wire.exists('/');
      const notifications = wire.frames.flatMap((f) => (f.kind === 'notification' ? [`type=${f.event.type} ${f.event.path.replace(c.base, '<base>')}`] : []));
      c.record('notifications', notifications);
      expect(notifications).toEqual([
        'type=3 <base>/p',
        'type=3 <base>/p',
        'type=4 <base>/p',
        'type=1 <base>/r/a',
        'type=1 <base>/r/a/b',
        'type=3 <base>/r/a/b',
        'type=2 <base>/r/a/b',
      ]);
    },
  },
  {
    name: 'multiRead: getChildren and getData in one request, errors per op',
    async run(c) {
      const a = await c.client('A');
      await a.create(c.path('m'), Buffer.from('data'));
      await a.create(c.path('m/k'));
      const wire = await c.wire('W');
      const body = new JuteWriter()
        .int(8).bool(false).int(-1).string(c.path('m')).bool(false)
        .int(4).bool(false).int(-1).string(c.path('m')).bool(false)
        .int(4).bool(false).int(-1).string(c.path('missing')).bool(false)
        .int(-1).bool(true).int(-1)
        .toBuffer();
      const reply = await wire.request(Op.multiRead, body);
      const results: unknown[] = [];
      if (reply.err === 0) {
        const reader = new JuteReader(reply.body);
        for (;;) {
          const type = reader.int();
          const done = reader.bool();
          const err = reader.int();
          if (done) break;
          if (type === 8) {
            const n = reader.int();
            results.push({ type, children: Array.from({ length: n }, () => reader.string()) });
          } else if (type === 4) {
            const data = reader.buffer();
            reader.stat();
            results.push({ type, data: data?.toString() ?? null });
          } else results.push({ type, err: codeName(type === -1 ? reader.int() : err) });
        }
      }
      const shaped = { err: codeName(reply.err), results };
      c.record('multiRead', shaped);
      expect(shaped).toEqual({ err: 'OK', results: [{ type: 8, children: ['k'] }, { type: 4, data: 'data' }, { type: -1, err: 'NO_NODE' }] });
    },
  },
];

const notificationsOf = (frames: { kind: string; event?: { type: number; path: string } }[], base: string) =>
  frames.flatMap((f) => (f.kind === 'notification' && f.event ? [`type=${f.event.type} ${f.event.path.replace(base, '<base>')}`] : []));

newerOpCases.push(
  {
    name: 'persistent watches in detail: survive triggers, dedupe with standard watches, removal by type',
    async run(c) {
      const writer = await c.client('B');
      const wire = await c.wire('W');
      const addWatch = async (path: string, mode: number) => codeName((await wire.request(Op.addWatch, new JuteWriter().string(path).int(mode).toBuffer())).err);
      const removeWatches = async (path: string, type: number) => codeName((await wire.request(Op.removeWatches, new JuteWriter().string(path).int(type).toBuffer())).err);
      const checkWatches = async (path: string, type: number) => codeName((await wire.request(Op.checkWatches, new JuteWriter().string(path).int(type).toBuffer())).err);
      const steps: Record<string, string> = {};
      steps['addWatch persistent on missing p'] = await addWatch(c.path('p'), 0);
      await writer.create(c.path('p'));
      await writer.create(c.path('p/k'));
      await writer.setData(c.path('p/k'), Buffer.from('x'));
      await writer.remove(c.path('p/k'));
      await writer.remove(c.path('p'));
      await writer.create(c.path('p'));

      await writer.create(c.path('q'), Buffer.from('0'));
      expect((await wire.getData(c.path('q'), true)).err).toBe(0);
      steps['addWatch persistent on q (with a standard data watch too)'] = await addWatch(c.path('q'), 0);
      steps['checkWatches q data'] = await checkWatches(c.path('q'), 2);
      steps['checkWatches q persistent'] = await checkWatches(c.path('q'), 4);
      await writer.setData(c.path('q'), Buffer.from('1'));
      await writer.setData(c.path('q'), Buffer.from('2'));
      // ZooKeeper 3.8 knows only Children (1), Data (2) and Any (3) here: 4 and 5 are MARSHALLING_ERROR.
      steps['removeWatches q persistent (type 4)'] = await removeWatches(c.path('q'), 4);
      steps['removeWatches q any'] = await removeWatches(c.path('q'), 3);
      steps['removeWatches q any again'] = await removeWatches(c.path('q'), 3);
      await writer.setData(c.path('q'), Buffer.from('3'));

      await writer.create(c.path('r'));
      steps['addWatch recursive on r'] = await addWatch(c.path('r'), 1);
      await writer.create(c.path('r/a'));
      await writer.create(c.path('r/a/b'));
      steps['removeWatches r recursive (type 5)'] = await removeWatches(c.path('r'), 5);
      steps['removeWatches r any'] = await removeWatches(c.path('r'), 3);
      await writer.create(c.path('r/a/b/c'));
      await writer.create(c.path('end'));
      await wire.exists('/');
      const notifications = notificationsOf(wire.frames, c.base);
      c.record('steps', steps);
      c.record('notifications', notifications);
      expect(steps).toEqual({
        'addWatch persistent on missing p': 'OK',
        'addWatch persistent on q (with a standard data watch too)': 'OK',
        'checkWatches q data': 'OK',
        'checkWatches q persistent': 'MARSHALLING_ERROR',
        'removeWatches q persistent (type 4)': 'MARSHALLING_ERROR',
        'removeWatches q any': 'OK',
        'removeWatches q any again': 'NO_WATCHER',
        'addWatch recursive on r': 'OK',
        'removeWatches r recursive (type 5)': 'MARSHALLING_ERROR',
        'removeWatches r any': 'OK',
      });
      expect(notifications).toEqual([
        'type=1 <base>/p',
        'type=4 <base>/p',
        'type=4 <base>/p',
        'type=2 <base>/p',
        'type=1 <base>/p',
        'type=3 <base>/q',
        'type=3 <base>/q',
        'type=1 <base>/r/a',
        'type=1 <base>/r/a/b',
      ]);
    },
  },
  {
    name: 'setWatches2 restores persistent watches after a reconnect',
    async run(c) {
      const writer = await c.client('B');
      await writer.create(c.path('p'));
      await writer.create(c.path('r'));
      const first = await c.wire('A', { sessionTimeoutMs: 20 * c.target.tickTimeMs });
      for (const [path, mode] of [[c.path('p'), 0], [c.path('r'), 1]] as const) {
        expect((await first.request(Op.addWatch, new JuteWriter().string(path).int(mode).toBuffer())).err).toBe(0);
      }
      const { id, password, timeoutMs } = first.session;
      const lastZxid = first.lastZxid;
      first.abandon();
      await writer.setData(c.path('p'), Buffer.from('missed'));
      await writer.create(c.path('r/missed'));
      const second = await c.wire('A', { sessionId: id, password, sessionTimeoutMs: timeoutMs, lastZxidSeen: lastZxid });
      const body = new JuteWriter().long(lastZxid).strings([]).strings([]).strings([]).strings([c.path('p')]).strings([c.path('r')]).toBuffer();
      const reply = await second.request(105, body, -8);
      c.record('setWatches2', codeName(reply.err));
      expect(codeName(reply.err)).toBe('OK');
      await writer.setData(c.path('p'), Buffer.from('live'));
      await writer.create(c.path('r/live'));
      await waitFor(() => notificationsOf(second.frames, c.base).some((n) => n.endsWith('/r/live')), { description: 'the live event on r' });
      await second.exists('/');
      const notifications = notificationsOf(second.frames, c.base);
      c.record('notifications after setWatches2', notifications);
      expect(notifications.filter((n) => !n.includes('missed'))).toEqual(['type=3 <base>/p', 'type=1 <base>/r/live']);
    },
  },
);
