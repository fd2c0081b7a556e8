/** Watches: kinds, one-shot, event types, order, and ordering against later replies. */
import { expect } from 'vitest';
import { waitFor } from '../../helpers/wait.js';
import type { ConformanceCase } from '../support/case-context.js';

export const watchCases: ConformanceCase[] = [
  {
    name: 'data watch: NODE_DATA_CHANGED once, then NODE_DELETED',
    async run(c) {
      const a = await c.client('A');
      const b = await c.client('B');
      const node = c.path('d');
      await a.create(node, Buffer.from('0'));
      await a.getData(node, c.watcher('A data'));
      await b.setData(node, Buffer.from('1'));
      await c.eventCount(1);
      await b.setData(node, Buffer.from('2'));
      await c.barrier(a, b);
      expect(c.events.map((e) => `${e.type} ${e.path}`)).toEqual([`NODE_DATA_CHANGED ${node}`]);
      await a.getData(node, c.watcher('A data'));
      await b.remove(node);
      await c.eventCount(2);
      expect(c.events[1]).toEqual({ watcher: 'A data', type: 'NODE_DELETED', path: node });
      // Setting the same data still counts as a change.
      await a.create(node, Buffer.from('same'));
      await a.getData(node, c.watcher('A data'));
      await b.setData(node, Buffer.from('same'));
      await c.eventCount(3);
      expect(c.events[2]?.type).toBe('NODE_DATA_CHANGED');
    },
  },
  {
    name: 'child watch: NODE_CHILDREN_CHANGED on create and delete of a child, not on its data or grandchildren',
    async run(c) {
      const a = await c.client('A');
      const b = await c.client('B');
      const parent = c.path('p');
      await a.create(parent);
      await a.getChildren(parent, c.watcher('A children'));
      await b.create(`${parent}/k`);
      await c.eventCount(1);
      await a.getChildren(parent, c.watcher('A children'));
      await b.setData(`${parent}/k`, Buffer.from('data'));
      await b.create(`${parent}/k/grandchild`);
      await b.setData(parent, Buffer.from('parent data'));
      await c.barrier(a, b);
      expect(c.events).toHaveLength(1);
      await b.remove(`${parent}/k/grandchild`);
      await b.remove(`${parent}/k`);
      await c.eventCount(2);
      expect(c.events.map((e) => `${e.type} ${e.path}`)).toEqual([`NODE_CHILDREN_CHANGED ${parent}`, `NODE_CHILDREN_CHANGED ${parent}`]);
      // A child watch on a node that is deleted reports the deletion.
      await a.getChildren(parent, c.watcher('A children'));
      await b.remove(parent);
      await c.eventCount(3);
      expect(c.events[2]).toEqual({ watcher: 'A children', type: 'NODE_DELETED', path: parent });
    },
  },
  {
    name: 'exist watch: NODE_CREATED on a missing node; NODE_DATA_CHANGED and NODE_DELETED on an existing one',
    async run(c) {
      const a = await c.client('A');
      const b = await c.client('B');
      const node = c.path('x');
      expect(await a.exists(node, c.watcher('A exists'))).toBeNull();
      await b.create(node, Buffer.from('1'));
      await c.eventCount(1);
      expect(await a.exists(node, c.watcher('A exists'))).not.toBeNull();
      await b.setData(node, Buffer.from('2'));
      await c.eventCount(2);
      expect(await a.exists(node, c.watcher('A exists'))).not.toBeNull();
      await b.remove(node);
      await c.eventCount(3);
      expect(c.events.map((e) => e.type)).toEqual(['NODE_CREATED', 'NODE_DATA_CHANGED', 'NODE_DELETED']);
      // An exist watch on a node that does not come into being does not fire on its siblings.
      expect(await a.exists(c.path('never'), c.watcher('A exists never'))).toBeNull();
      await b.create(c.path('sibling'));
      await c.barrier(a, b);
      expect(c.events).toHaveLength(3);
    },
  },
  {
    name: 'watch events in commit order; within one delete: the node, then its parent',
    async run(c) {
      const a = await c.client('A');
      const b = await c.client('B');
      const parent = c.path('p');
      await b.create(parent);
      await b.create(`${parent}/x`, Buffer.from('x'));
      await b.create(c.path('y'), Buffer.from('y'));
      await a.getData(`${parent}/x`, c.watcher('A data x'));
      await a.getChildren(parent, c.watcher('A children p'));
      await a.exists(`${parent}/new`, c.watcher('A exists new'));
      await a.getData(c.path('y'), c.watcher('A data y'));
      await a.getChildren(`${parent}/x`, c.watcher('A children x'));
      await b.setData(c.path('y'), Buffer.from('y2'));
      await b.remove(`${parent}/x`);
      await a.getChildren(parent, c.watcher('A children p'));
      await b.create(`${parent}/new`);
      await c.eventCount(6);
      c.record('events', c.events.map((e) => `${e.watcher}: ${e.type} ${e.path}`));
      const summary = c.events.map((e) => `${e.type} ${e.path}`);
      expect(summary[0]).toBe(`NODE_DATA_CHANGED ${c.path('y')}`);
      // The deleted node's watches (data and child, same event) come before its parent's child watch.
      expect(summary.slice(1, 3)).toEqual([`NODE_DELETED ${parent}/x`, `NODE_DELETED ${parent}/x`]);
      expect(summary[3]).toBe(`NODE_CHILDREN_CHANGED ${parent}`);
      // The create: the exist watch on the new node, then the parent's child watch.
      expect(summary.slice(4)).toEqual([`NODE_CREATED ${parent}/new`, `NODE_CHILDREN_CHANGED ${parent}`]);
    },
  },
  {
    name: "a watch event arrives before the reply to a later read that sees the change",
    async run(c) {
      const a = await c.client('A');
      const b = await c.client('B');
      const node = c.path('n');
      await a.create(node, Buffer.from('0'));
      const order: string[] = [];
      await a.getData(node, (event) => order.push(`event ${event.getName()}`));
      await a.getChildren(node, (event) => order.push(`event ${event.getName()}`));
      await b.setData(node, Buffer.from('1'));
      await b.create(`${node}/child`);
      const read = await a.getData(node);
      order.push(`read ${read.data?.toString()} v${read.stat.version} children=${read.stat.numChildren}`);
      c.record('order (other client wrote)', order.slice());
      expect(order).toEqual(['event NODE_DATA_CHANGED', 'event NODE_CHILDREN_CHANGED', 'read 1 v1 children=1']);

      // The writer's own watch fires before the reply to its write.
      const own: string[] = [];
      await a.getData(node, (event) => own.push(`event ${event.getName()}`));
      const stat = await a.setData(node, Buffer.from('2'));
      own.push(`setData reply v${stat.version}`);
      c.record('order (same client wrote)', own);
      expect(own).toEqual(['event NODE_DATA_CHANGED', 'setData reply v2']);
    },
  },
  {
    name: 'watches are per session and per path: every watching client is told, once',
    async run(c) {
      const a = await c.client('A');
      const b = await c.client('B');
      const w = await c.client('W');
      const node = c.path('shared');
      await w.create(node, Buffer.from('0'));
      // Two clients' notifications are not ordered with respect to each other: keep them out of the
      // transcript in arrival order and record them sorted.
      await a.getData(node, c.watcher('A data', false));
      await a.exists(node, c.watcher('A exists', false));
      await b.getData(node, c.watcher('B data', false));
      await w.setData(node, Buffer.from('1'));
      await c.eventCount(3);
      await c.barrier(a, w);
      await c.barrier(b, w);
      c.record('events', c.events.map((e) => `${e.watcher}: ${e.type}`).sort());
      expect(c.events.map((e) => `${e.watcher}: ${e.type}`).sort()).toEqual([
        'A data: NODE_DATA_CHANGED',
        'A exists: NODE_DATA_CHANGED',
        'B data: NODE_DATA_CHANGED',
      ]);
    },
  },
];

watchCases.push({
  name: 'wire: one notification frame per connection and event, before the reply that follows it',
  async run(c) {
    const writer = await c.client('B');
    const node = c.path('n');
    await writer.create(node, Buffer.from('0'));
    const wire = await c.wire('W');
    expect((await wire.getData(node, true)).err).toBe(0);
    expect((await wire.getChildren(node, true)).err).toBe(0);
    expect((await wire.exists(node, true)).err).toBe(0);
    await writer.remove(node);
    const after = await wire.exists(node, false);
    expect(after.err).toBe(-101);
    const frames = wire.frames.map((f) => (f.kind === 'reply' ? `reply ${f.reply.err}` : `notification type=${f.event.type} state=${f.event.state} ${f.event.path}`));
    c.record('frames', frames);
    expect(frames).toEqual(['reply 0', 'reply 0', 'reply 0', `notification type=2 state=3 ${node}`, 'reply -101']);
  },
});

watchCases.push({
  name: 'wire: failed reads leave no watch; a repeated registration gives one notification',
  async run(c) {
    const writer = await c.client('B');
    const wire = await c.wire('W');
    const outcomes = {
      'getData(watch) on missing': (await wire.getData(c.path('a'), true)).err,
      'getChildren(watch) on missing': (await wire.getChildren(c.path('b'), true)).err,
      'exists(watch) on missing': (await wire.exists(c.path('c'), true)).err,
    };
    c.record('outcomes', outcomes);
    expect(outcomes).toEqual({ 'getData(watch) on missing': -101, 'getChildren(watch) on missing': -101, 'exists(watch) on missing': -101 });
    await writer.create(c.path('a'));
    await writer.create(c.path('b'));
    await writer.create(c.path('c'), Buffer.from('c'));
    await waitFor(() => wire.frames.some((f) => f.kind === 'notification'), { description: 'the exist watch on c' });
    expect((await wire.getData(c.path('c'), true)).err).toBe(0);
    expect((await wire.getData(c.path('c'), true)).err).toBe(0);
    expect((await wire.exists(c.path('c'), true)).err).toBe(0);
    await writer.setData(c.path('c'), Buffer.from('c2'));
    await waitFor(() => wire.frames.filter((f) => f.kind === 'notification').length >= 2, { description: 'the data watch on c' });
    await writer.setData(c.path('c'), Buffer.from('c3'));
    const setStat = (await wire.exists(c.path('c'), false)).stat!;
    const notifications = wire.frames.flatMap((f) => (f.kind === 'notification' ? [`type=${f.event.type} ${f.event.path}`] : []));
    c.record('notifications', notifications);
    expect(notifications).toEqual([`type=1 ${c.path('c')}`, `type=3 ${c.path('c')}`]);
    // What the notification header's zxid holds (clients ignore it): -1, or the txn's zxid.
    const zxids = wire.frames.flatMap((f) => (f.kind === 'notification' ? [f.event.zxid] : []));
    c.record('notification header zxids', zxids.map((z) => (z === -1n ? '-1' : z > 0n && z <= setStat.mzxid ? 'a txn zxid' : String(z))));
  },
});
