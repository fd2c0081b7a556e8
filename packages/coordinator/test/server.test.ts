import { spawn } from 'node:child_process';
import { appendFileSync, existsSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import zookeeper from 'node-zookeeper-client';
import type { Client } from 'node-zookeeper-client';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { startCoordinator, type CoordinatorOptions, type RunningCoordinator } from '../src/server.js';
import { ErrorCode, OpCode } from '../src/protocol.js';
import { Writer } from '../src/jute.js';
import { RawClient } from './wire.js';

const dirs: string[] = [];
const running: RunningCoordinator[] = [];
const clients: Client[] = [];

function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'samsa-coord-'));
  dirs.push(d);
  return d;
}

async function start(options: Partial<CoordinatorOptions> & { dataDir: string }): Promise<RunningCoordinator> {
  const c = await startCoordinator({ port: 0, tickTimeMs: 200, ...options });
  running.push(c);
  return c;
}

async function stop(c: RunningCoordinator): Promise<void> {
  running.splice(running.indexOf(c), 1);
  await c.close();
}

function client(connectString: string, options: Record<string, unknown> = {}): Promise<Client> {
  return new Promise((resolve) => {
    const c = zookeeper.createClient(connectString, { sessionTimeout: 4000, retries: 0, ...options });
    clients.push(c);
    c.once('connected', () => resolve(c));
    c.connect();
  });
}

const p = <T>(f: (cb: (err: unknown, r: T) => void) => void) =>
  new Promise<T>((resolve, reject) => f((err, r) => (err ? reject(err) : resolve(r))));

afterEach(async () => {
  for (const c of clients.splice(0)) c.close();
  for (const c of running.splice(0)) await c.close();
});
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

describe('with node-zookeeper-client', () => {
  it('creates, reads, watches and runs transactions', async () => {
    const server = await start({ dataDir: tempDir() });
    expect(server.connectString).toBe(`127.0.0.1:${server.port}`);
    const a = await client(server.connectString);
    const b = await client(server.connectString);
    await p<string>((cb) => a.create('/app', Buffer.from('v1'), cb));
    const seen: string[] = [];
    const watched = new Promise<void>((resolve) =>
      b.getData(
        '/app',
        (event) => {
          seen.push(`${event.getName()} ${event.getPath()}`);
          resolve();
        },
        () => {},
      ),
    );
    await p((cb) => a.setData('/app', Buffer.from('v2'), 0, cb));
    await watched;
    expect(seen).toEqual(['NODE_DATA_CHANGED /app']);
    const eph = await p<string>((cb) =>
      a.create('/app/e-', Buffer.from(''), zookeeper.CreateMode.EPHEMERAL_SEQUENTIAL, cb),
    );
    expect(eph).toBe('/app/e-0000000000');
    const kids = await p<string[]>((cb) => b.getChildren('/app', cb));
    expect(kids).toEqual(['e-0000000000']);
    const results = await p<unknown[]>((cb) =>
      a.transaction().create('/t').setData('/t', Buffer.from('x'), 0).remove('/t', 1).commit(cb),
    );
    expect(results).toHaveLength(3);
    const failed = await p((cb) => a.transaction().create('/u').check('/u', 5).commit(cb)).catch(
      (e: { code: number }) => e.code,
    );
    expect(failed).toBe(ErrorCode.BADVERSION);
    expect(await p((cb) => a.exists('/u', cb))).toBeNull();
  });

  it('expires a dropped session and deletes its ephemerals', async () => {
    const server = await start({ dataDir: tempDir() });
    const owner = await RawClient.open(server.port);
    const hs = await owner.handshake({ timeOutMs: 400 });
    expect(hs?.timeOutMs).toBe(400);
    const created = await owner.call(1, {
      type: OpCode.create,
      path: '/lock',
      data: null,
      acl: [{ perms: 31, id: { scheme: 'world', id: 'anyone' } }],
      flags: 1,
    });
    expect(created?.err).toBe(0);
    const watcher = await client(server.connectString);
    const deleted = new Promise<string>((resolve) =>
      watcher.exists(
        '/lock',
        (e) => resolve(e.getName()),
        () => {},
      ),
    );
    owner.close();
    expect(await deleted).toBe('NODE_DELETED');
  });
});

describe('durability', () => {
  it('recovers the exact tree, zxid and sessions after a restart', async () => {
    const dataDir = tempDir();
    let server = await start({ dataDir, maxSessionTimeoutMs: 30_000 });
    const writers = await Promise.all([1, 2, 3, 4].map(() => client(server.connectString)));
    await p((cb) => writers[0]!.create('/d', cb));
    await Promise.all(
      writers.flatMap((w, i) =>
        Array.from({ length: 50 }, (_, j) => p((cb) => w.create(`/d/n${i}-${j}`, Buffer.from(`v${j}`), cb))),
      ),
    );
    const raw = await RawClient.open(server.port);
    const session = (await raw.handshake({ timeOutMs: 30_000 }))!;
    await raw.call(1, {
      type: OpCode.create,
      path: '/d/eph',
      data: null,
      acl: [{ perms: 31, id: { scheme: 'world', id: 'anyone' } }],
      flags: 1,
    });
    const before = await p<unknown>((cb) => writers[0]!.exists('/d/n3-49', cb));
    for (const c of clients.splice(0)) c.close();
    raw.close();
    await stop(server);

    server = await start({ dataDir, maxSessionTimeoutMs: 30_000 });
    const reader = await client(server.connectString);
    const kids = await p<string[]>((cb) => reader.getChildren('/d', cb));
    expect(kids.length).toBe(201);
    expect(await p<unknown>((cb) => reader.exists('/d/n3-49', cb))).toEqual(before);
    // The persisted session can be reattached with its password, and still owns its ephemeral.
    const again = await RawClient.open(server.port);
    const reattached = await again.handshake({ sessionId: session.sessionId, passwd: session.passwd });
    expect(reattached?.sessionId).toBe(session.sessionId);
    const exists = await again.call(2, { type: OpCode.exists, path: '/d/eph', watch: false });
    expect(exists?.err).toBe(0);
    again.close();
  });

  it('keeps a client session, its ephemerals and its watches across a server restart', async () => {
    const dataDir = tempDir();
    let server = await start({ dataDir });
    const port = server.port;
    const a = await client(server.connectString, { sessionTimeout: 4000, retries: 1000, spinDelay: 50 });
    await p((cb) => a.create('/eph', Buffer.from('e'), zookeeper.CreateMode.EPHEMERAL, cb));
    await p((cb) => a.create('/watched', Buffer.from('w'), cb));
    let resolveChanged: (what: string) => void = () => {};
    const changed = new Promise<string>((resolve) => (resolveChanged = resolve));
    await p((cb) => a.getData('/watched', (e) => resolveChanged(`${e.getName()} ${e.getPath()}`), cb));
    await stop(server);
    server = await start({ dataDir, port });
    const b = await client(server.connectString);
    await p((cb) => b.setData('/watched', Buffer.from('w2'), -1, cb));
    // a reconnects with its session and re-sends its watch (setWatches); the change it missed fires at once.
    expect(await changed).toBe('NODE_DATA_CHANGED /watched');
    const stat = await p<{ ephemeralOwner: Buffer }>((cb) => b.exists('/eph', cb));
    expect(stat.ephemeralOwner.equals(a.getSessionId())).toBe(true);
  });

  it('expires the ephemerals of sessions that do not come back after a restart', async () => {
    const dataDir = tempDir();
    let server = await start({ dataDir });
    const raw = await RawClient.open(server.port);
    await raw.handshake({ timeOutMs: 400 });
    await raw.call(1, {
      type: OpCode.create,
      path: '/gone',
      data: null,
      acl: [{ perms: 31, id: { scheme: 'world', id: 'anyone' } }],
      flags: 1,
    });
    raw.close();
    await stop(server);
    server = await start({ dataDir });
    const c = await client(server.connectString);
    expect(await p((cb) => c.exists('/gone', cb))).not.toBeNull();
    const gone = new Promise<string>((resolve) =>
      c.exists(
        '/gone',
        (e) => resolve(e.getName()),
        () => {},
      ),
    );
    expect(await gone).toBe('NODE_DELETED');
  });

  it('truncates a torn log tail on recovery and keeps everything before it', async () => {
    const dataDir = tempDir();
    let server = await start({ dataDir });
    const c = await client(server.connectString);
    for (let i = 0; i < 10; i++) await p((cb) => c.create(`/k${i}`, Buffer.from('x'), cb));
    c.close();
    await stop(server);
    const logs = readdirSync(dataDir)
      .filter((f) => f.startsWith('log.'))
      .sort();
    const last = join(dataDir, logs.find((f) => statSync(join(dataDir, f)).size > 0)!);
    const size = statSync(last).size;
    appendFileSync(last, Buffer.from([0, 0, 0, 80, 1, 2, 3, 4, 5, 6])); // a record cut off mid-write
    server = await start({ dataDir });
    expect(statSync(last).size).toBe(size);
    const d = await client(server.connectString);
    expect(await p<string[]>((cb) => d.getChildren('/', cb))).toHaveLength(11);
    await p((cb) => d.create('/after', cb));
  });

  it('takes snapshots, rolls and prunes the log, and recovers from snapshot + log', async () => {
    const dataDir = tempDir();
    let server = await start({ dataDir, snapshotEveryTxns: 40 });
    const c = await client(server.connectString);
    for (let i = 0; i < 130; i++) await p((cb) => c.create(`/s${i}`, Buffer.from(String(i)), cb));
    await p((cb) => c.setData('/s7', Buffer.from('changed'), -1, cb));
    c.close();
    await stop(server);
    const files = readdirSync(dataDir);
    expect(files.filter((f) => f.startsWith('snapshot.')).length).toBe(1);
    expect(files.filter((f) => f.startsWith('log.')).length).toBeLessThanOrEqual(2);
    server = await start({ dataDir, snapshotEveryTxns: 40 });
    const d = await client(server.connectString);
    expect((await p<string[]>((cb) => d.getChildren('/', cb))).length).toBe(131);
    const data = await p<Buffer>((cb) => d.getData('/s7', cb));
    expect(data.toString()).toBe('changed');
  });

  const killTest = async (extraArgs: string[], rounds: number) => {
    const main = fileURLToPath(new URL('../dist/main.js', import.meta.url));
    if (!existsSync(main)) throw new Error(`${main} missing: build first (npx tsc -b)`);
    const dataDir = tempDir();
    const launch = async () => {
      const child = spawn(
        process.execPath,
        [main, '--port', '0', '--data-dir', dataDir, '--tick-time-ms', '200', ...extraArgs],
        { stdio: ['ignore', 'pipe', 'inherit'] },
      );
      const port = await new Promise<number>((resolve, reject) => {
        let out = '';
        child.stdout.on('data', (d: Buffer) => {
          out += d.toString();
          const m = /"port":(\d+).*listening/.exec(out);
          if (m) resolve(Number(m[1]));
        });
        child.once('exit', () => reject(new Error(`coordinator exited: ${out}`)));
      });
      const exited = new Promise<void>((resolve) =>
        child.exitCode !== null || child.signalCode !== null ? resolve() : child.once('exit', () => resolve()),
      );
      return { child, port, exited };
    };
    const acked: string[] = [];
    let server = await launch();
    for (let round = 0; round < rounds; round++) {
      const writers = await Promise.all([1, 2, 3].map(() => client(`127.0.0.1:${server.port}`, { retries: 0 })));
      let stopWriting = false;
      const target = acked.length + 200 + Math.floor(Math.random() * 200);
      const loops = writers.map(async (w, i) => {
        for (let j = 0; !stopWriting; j++) {
          const path = `/w${round}-${i}-${j}`;
          try {
            await p((cb) => w.create(path, Buffer.from('x'), cb));
            acked.push(path);
          } catch {
            return;
          }
        }
      });
      while (acked.length < target) await new Promise((r) => setTimeout(r, 2));
      server.child.kill('SIGKILL');
      stopWriting = true;
      await Promise.all(loops);
      for (const c of clients.splice(0)) c.close();
      await server.exited;
      server = await launch();
      const r = await client(`127.0.0.1:${server.port}`);
      const present = new Set(await p<string[]>((cb) => r.getChildren('/', cb)));
      const lost = acked.filter((path) => !present.has(path.slice(1)));
      expect(lost, `round ${round}`).toEqual([]);
      r.close();
      clients.splice(0);
    }
    server.child.kill('SIGTERM');
    await server.exited;
  };

  it('loses no acknowledged write when the process is killed (SIGKILL)', () => killTest([], 2));

  it('loses no acknowledged write when killed while snapshotting and rolling the log every 100 txns', () =>
    killTest(['--snapshot-every-txns', '100'], 3));
});

describe('bad input', () => {
  const sendRaw = async (port: number, bytes: Buffer) => {
    const raw = await RawClient.open(port);
    raw.write(bytes);
    return raw;
  };

  it('closes connections with oversized, negative or garbage frames and keeps serving', async () => {
    const server = await start({ dataDir: tempDir(), maxFrameBytes: 4096 });
    const huge = Buffer.alloc(8);
    huge.writeInt32BE(4097);
    const neg = Buffer.alloc(8);
    neg.writeInt32BE(-5);
    const garbage = Buffer.from([0, 0, 0, 3, 1, 2, 3]);
    for (const bytes of [huge, neg, garbage]) {
      const raw = await sendRaw(server.port, bytes);
      expect(await raw.next()).toBeNull();
    }
    const ok = await client(server.connectString);
    await p((cb) => ok.create('/alive', cb));
  });

  it('answers unknown opcodes with UNIMPLEMENTED and closes; malformed bodies with MARSHALLINGERROR', async () => {
    const server = await start({ dataDir: tempDir() });
    const raw = await RawClient.open(server.port);
    await raw.handshake();
    const w = new Writer();
    const at = w.beginFrame();
    w.int(1).int(OpCode.getData).int(1000); // path longer than the frame
    w.endFrame(at);
    raw.write(w.take());
    const bad = await raw.next();
    expect(bad!.readInt32BE(0)).toBe(1);
    expect(bad!.readInt32BE(12)).toBe(ErrorCode.MARSHALLINGERROR);
    const ping = await raw.call(2, { type: OpCode.ping });
    expect(ping?.err).toBe(0);
    const at2 = w.beginFrame();
    w.int(3).int(4242);
    w.endFrame(at2);
    raw.write(w.take());
    const unknown = await raw.next();
    expect(unknown!.readInt32BE(12)).toBe(ErrorCode.UNIMPLEMENTED);
    expect(await raw.next()).toBeNull();
  });

  it('survives random and mutated frames from many connections, losing nothing', async () => {
    const server = await start({ dataDir: tempDir(), maxFrameBytes: 4096 });
    const keeper = await client(server.connectString);
    await p((cb) => keeper.create('/kept', Buffer.from('k'), cb));
    let seed = 12345;
    const rand = () => {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
      return seed / 2 ** 32;
    };
    const valid = new Writer();
    const at = valid.beginFrame();
    valid
      .int(1)
      .int(OpCode.create)
      .string('/fuzz')
      .int(1)
      .raw(Buffer.from('x'))
      .int(1)
      .int(31)
      .string('world')
      .string('anyone')
      .int(0);
    valid.endFrame(at);
    const template = valid.take();
    for (let round = 0; round < 40; round++) {
      const raw = await RawClient.open(server.port);
      if (rand() < 0.7) await raw.handshake({ timeOutMs: 4000 });
      for (let i = 0; i < 10; i++) {
        let frame: Buffer;
        if (rand() < 0.5) {
          frame = Buffer.from(template);
          for (let k = 0; k < 3; k++) frame[4 + Math.floor(rand() * (frame.length - 4))] = Math.floor(rand() * 256);
        } else {
          const len = Math.floor(rand() * 64);
          frame = Buffer.alloc(4 + len);
          frame.writeInt32BE(len);
          for (let k = 0; k < len; k++) frame[4 + k] = Math.floor(rand() * 256);
        }
        raw.write(frame);
      }
      raw.close();
    }
    const fresh = await client(server.connectString);
    expect((await p<Buffer>((cb) => fresh.getData('/kept', cb))).toString()).toBe('k');
    await p((cb) => keeper.create('/still-working', cb));
  });

  it('refuses to share a data directory with a running coordinator', async () => {
    const dataDir = tempDir();
    const first = await start({ dataDir });
    await expect(start({ dataDir })).rejects.toThrow(/in use by process/);
    await stop(first);
    const second = await start({ dataDir });
    expect(second.port).toBeGreaterThan(0);
  });

  it('refuses a client that has seen a later zxid than the server', async () => {
    const server = await start({ dataDir: tempDir() });
    const raw = await RawClient.open(server.port);
    expect(await raw.handshake({ lastZxidSeen: 1_000_000 })).toBeNull();
  });

  it('answers four-letter words on the client port', async () => {
    const server = await start({ dataDir: tempDir() });
    const word = (w: string) =>
      new Promise<string>((resolve) => {
        const s = connect(server.port, '127.0.0.1', () => s.write(w));
        let out = '';
        s.on('data', (d) => (out += d.toString()));
        s.on('close', () => resolve(out));
      });
    expect(await word('ruok')).toBe('imok');
    expect(await word('srvr')).toMatch(/Mode: standalone\nNode count: 5\n$/);
    expect(await word('mntr')).toMatch(/^zk_version\t/);
  });
});
