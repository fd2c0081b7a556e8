/** Sessions: timeout negotiation, expiry, reattaching on a new connection, closing. */
import { expect } from 'vitest';
import { codeName } from '../../helpers/zk-client.js';
import { nextEvent, waitFor, withTimeout } from '../../helpers/wait.js';
import { CreateMode, type ConformanceCase } from '../support/case-context.js';

export const sessionCases: ConformanceCase[] = [
  {
    name: 'session timeout is negotiated into [2, 20] ticks',
    async run(c) {
      const tick = c.target.tickTimeMs;
      const requested = [-1, 0, 1, 100, 2 * tick, 3 * tick + 1, 20 * tick, 600_000];
      const negotiated: Record<string, number> = {};
      for (const timeout of requested) {
        const wire = await c.wire(`W${timeout}`, { sessionTimeoutMs: timeout });
        negotiated[`${timeout / tick} ticks`] = wire.session.timeoutMs / tick;
        expect(wire.session.expired).toBe(false);
        expect(wire.session.password.length).toBe(16);
        await wire.closeSession();
      }
      c.record('negotiated (in ticks)', negotiated);
      expect(Object.values(negotiated)).toEqual([2, 2, 2, 2, 2, 3 + 1 / tick, 20, 20]);
    },
  },
  {
    name: 'session expiry (connection dropped) deletes ephemerals and fires their watches',
    async run(c) {
      const tick = c.target.tickTimeMs;
      const doomed = await c.client('A', { sessionTimeoutMs: 2 * tick });
      const observer = await c.client('B');
      expect(doomed.sessionTimeoutMs()).toBe(2 * tick);
      await observer.create(c.path('p'));
      await doomed.create(c.path('p/e'), Buffer.from('e'), CreateMode.EPHEMERAL);
      const seq = await doomed.create(c.path('p/s-'), null, CreateMode.EPHEMERAL_SEQUENTIAL);
      await doomed.create(c.path('persistent'), Buffer.from('stays'));
      await observer.exists(c.path('p/e'), c.watcher('B exists e', false));
      await observer.getData(seq, c.watcher('B data s', false));
      await observer.getChildren(c.path('p'), c.watcher('B children p', false));
      const sessionId = doomed.sessionId();
      const password = doomed.sessionPassword();
      const droppedAt = Date.now();
      doomed.abandon();
      await c.eventCount(3, 10 * tick + 10_000);
      const elapsedMs = Date.now() - droppedAt;
      // ZooKeeper expires a session between its timeout and one tick after it (expiry buckets of one
      // tick); the slack is for a loaded machine.
      expect(elapsedMs).toBeGreaterThanOrEqual(2 * tick - 200);
      expect(elapsedMs).toBeLessThan(3 * tick + 2_000);
      // ZooKeeper deletes a session's ephemerals in no specified order.
      const events = c.events.map((e) => `${e.watcher}: ${e.type} ${e.path}`).sort();
      c.record('events (sorted)', events);
      expect(events).toEqual([
        `B children p: NODE_CHILDREN_CHANGED ${c.path('p')}`,
        `B data s: NODE_DELETED ${seq}`,
        `B exists e: NODE_DELETED ${c.path('p/e')}`,
      ]);
      expect(await observer.exists(c.path('p/e'))).toBeNull();
      expect(await observer.exists(seq)).toBeNull();
      const parent = await observer.getChildren(c.path('p'));
      expect(parent.children).toEqual([]);
      c.record('parent after expiry', c.transcript.stat(parent.stat));
      expect((await observer.getData(c.path('persistent'))).data?.toString()).toBe('stays');

      // The expired session cannot be reattached.
      const late = await c.wire('late', { sessionId: sessionId.readBigInt64BE(0), password, sessionTimeoutMs: 2 * tick });
      c.record('reattach after expiry', { expired: late.session.expired, timeoutMs: late.session.timeoutMs });
      expect(late.session.expired).toBe(true);
    },
  },
  {
    name: "node-zookeeper-client reconnecting after its session expired emits 'expired'",
    async run(c) {
      const tick = c.target.tickTimeMs;
      const a = await c.client('A', { sessionTimeoutMs: 2 * tick });
      const observer = await c.client('B');
      await a.create(c.path('e'), null, CreateMode.EPHEMERAL);
      await observer.exists(c.path('e'), c.watcher('B exists e'));
      const resume = a.suspend();
      await c.eventCount(1, 10 * tick + 10_000);
      const expired = nextEvent(a.client, 'expired', 10_000).then(() => 'expired');
      resume();
      const outcome = await expired;
      c.record('A after reconnecting', outcome);
      expect(outcome).toBe('expired');
    },
  },
  {
    name: 'reattach a session on a new connection; the old connection is closed; close deletes ephemerals',
    async run(c) {
      const observer = await c.client('B');
      const first = await c.wire('A', { sessionTimeoutMs: 10 * c.target.tickTimeMs });
      const created = await first.create(c.path('e'), Buffer.from('e'), CreateMode.EPHEMERAL);
      expect(codeName(created.err)).toBe('OK');
      const { id, password, timeoutMs } = first.session;

      const second = await c.wire('A', { sessionId: id, password, sessionTimeoutMs: timeoutMs });
      expect(second.session).toMatchObject({ id, expired: false, timeoutMs });
      expect(second.session.password.equals(password)).toBe(true);
      await first.closed;
      c.record('old connection closed by the server', first.connectionClosed());
      const seen = await second.exists(c.path('e'));
      expect(seen.stat?.ephemeralOwner).toBe(id);
      c.record('exists e over the reattached connection', c.transcript.stat(seen.stat));

      // node-zookeeper-client can take it over too (sessionId/sessionPassword options).
      const third = await c.client('A', { sessionId: bigintBuffer(id), sessionPassword: password, sessionTimeoutMs: timeoutMs });
      expect(third.sessionIdHex()).toBe(id.toString(16).padStart(16, '0'));
      await second.closed;
      expect((await third.getData(c.path('e'))).data?.toString()).toBe('e');
      await observer.exists(c.path('e'), c.watcher('B exists e'));
      await third.close();
      await c.eventCount(1);
      expect(c.events[0]?.type).toBe('NODE_DELETED');
      expect(await observer.exists(c.path('e'))).toBeNull();

      const afterClose = await c.wire('late', { sessionId: id, password });
      c.record('reattach after close', afterClose.session.expired);
      expect(afterClose.session.expired).toBe(true);
    },
  },
  {
    name: 'controller election recipe: one ephemeral winner; on its expiry the watchers race and one wins',
    async run(c) {
      const tick = c.target.tickTimeMs;
      const labels = ['B1', 'B2', 'B3', 'B4', 'B5'];
      const brokers = await Promise.all(labels.map((label) => c.client(label, { sessionTimeoutMs: 2 * tick })));
      const controller = c.path('controller');
      const race = async (candidates: typeof brokers) =>
        Promise.all(candidates.map((b, i) => b.create(controller, Buffer.from(labels[brokers.indexOf(b)]!), CreateMode.EPHEMERAL).then(() => i, () => -1)));
      const first = (await race(brokers)).filter((i) => i >= 0);
      expect(first).toHaveLength(1);
      const winner = brokers[first[0]!]!;
      const others = brokers.filter((b) => b !== winner);
      let deletions = 0;
      await Promise.all(others.map((b) => b.exists(controller, () => deletions++)));
      winner.abandon();
      await waitFor(() => deletions === others.length, { timeoutMs: 10 * tick + 10_000, description: 'every watcher to see the controller go' });
      const second = (await race(others)).filter((i) => i >= 0);
      expect(second).toHaveLength(1);
      const stat = await others[0]!.exists(controller);
      expect(stat?.ephemeralOwner.equals(others[second[0]!]!.sessionId())).toBe(true);
      c.record('election', { firstWinners: first.length, watchersNotified: deletions, secondWinners: second.length, owner: c.transcript.stat(stat)?.ephemeralOwner !== 'none' });
    },
  },
  {
    name: 'reattach with a wrong password is refused and leaves the session alive',
    async run(c) {
      const owner = await c.client('A');
      await owner.create(c.path('e'), null, CreateMode.EPHEMERAL);
      const wrong = Buffer.from(owner.sessionPassword());
      wrong[0] = wrong[0]! ^ 0xff;
      const intruder = await c.wire('intruder', { sessionId: owner.sessionId().readBigInt64BE(0), password: wrong });
      c.record('intruder', { expired: intruder.session.expired, timeoutMs: intruder.session.timeoutMs });
      expect(intruder.session.expired).toBe(true);
      expect(intruder.session.timeoutMs).toBe(0);
      await intruder.closed;
      // An id the server never issued is refused the same way.
      const unknown = await c.wire('unknown', { sessionId: 0x0123456789abcdefn, password: Buffer.alloc(16, 1) });
      c.record('unknown session id', { expired: unknown.session.expired, timeoutMs: unknown.session.timeoutMs });
      expect(unknown.session.expired).toBe(true);
      // The owner's session and connection are untouched.
      const stat = await owner.exists(c.path('e'));
      expect(stat?.ephemeralOwner.equals(owner.sessionId())).toBe(true);
      c.record('owner still has e', c.transcript.stat(stat));
    },
  },
  {
    name: 'Java-style ConnectRequest (trailing readOnly flag) is accepted and answered with the readOnly byte',
    async run(c) {
      const java = await c.wire('J', { readOnlyFlag: true });
      const plain = await c.wire('P');
      const shape = { java: { expired: java.session.expired, hasReadOnlyByte: java.session.hasReadOnlyByte, readOnly: java.session.readOnly }, plain: { hasReadOnlyByte: plain.session.hasReadOnlyByte } };
      c.record('sessions', shape);
      // ZooKeeper answers with the readOnly byte only when the request carried the flag.
      expect(shape).toEqual({ java: { expired: false, hasReadOnlyByte: true, readOnly: false }, plain: { hasReadOnlyByte: false } });
      expect(codeName((await java.create(c.path('j'), null)).err)).toBe('OK');
      expect(java.session.id).not.toBe(plain.session.id);
    },
  },
  {
    name: 'a silent connection (no pings) is expired by the server, which closes it',
    async run(c) {
      const tick = c.target.tickTimeMs;
      const observer = await c.client('B');
      const silent = await c.wire('S', { sessionTimeoutMs: 2 * tick, ping: false });
      expect(codeName((await silent.create(c.path('e'), null, 1)).err)).toBe('OK');
      await observer.exists(c.path('e'), c.watcher('B exists e'));
      const started = Date.now();
      await withTimeout(silent.closed, 2 * tick + 10_000, 'the server to close the silent connection');
      const closedAfterMs = Date.now() - started;
      await c.eventCount(1, 10_000);
      c.record('closed by server, ephemeral deleted', c.events.map((e) => e.type));
      expect(closedAfterMs).toBeGreaterThanOrEqual(2 * tick - 200);
      expect(closedAfterMs).toBeLessThan(3 * tick + 2_000);
      expect(await observer.exists(c.path('e'))).toBeNull();
    },
  },
  {
    name: 'reattaching with another requested timeout renegotiates it',
    async run(c) {
      const tick = c.target.tickTimeMs;
      const first = await c.wire('A', { sessionTimeoutMs: 4 * tick });
      const second = await c.wire('A', { sessionId: first.session.id, password: first.session.password, sessionTimeoutMs: 8 * tick });
      const third = await c.wire('A', { sessionId: first.session.id, password: first.session.password, sessionTimeoutMs: 1 });
      const ticks = [first, second, third].map((w) => w.session.timeoutMs / tick);
      c.record('negotiated (ticks)', ticks);
      expect(ticks).toEqual([4, 8, 2]);
    },
  },
  {
    name: 'digest authentication is accepted and the session keeps working',
    async run(c) {
      const a = await c.client('A');
      let authFailed = false;
      a.client.once('authenticationFailed', () => {
        authFailed = true;
      });
      a.client.addAuthInfo('digest', Buffer.from('user:secret'));
      await a.create(c.path('after-auth'), Buffer.from('x'));
      const { data } = await a.getData(c.path('after-auth'));
      c.record('after addAuthInfo', { authFailed, data: data?.toString() });
      expect({ authFailed, data: data?.toString() }).toEqual({ authFailed: false, data: 'x' });
    },
  },
];

function bigintBuffer(value: bigint): Buffer {
  const buffer = Buffer.alloc(8);
  buffer.writeBigInt64BE(value);
  return buffer;
}
