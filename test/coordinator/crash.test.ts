/**
 * Crash safety: "persist before acknowledging". A client writes continuously (creates, setData, and
 * multis of two creates and a setData), recording every acknowledged write; the server is SIGKILLed at a
 * random moment and restarted on the same data dir and port; every acknowledged write must be there with
 * its acknowledged data and version, and a multi must be there entirely or not at all.
 *
 * Runs against the embedded coordinator as a child process (packages/coordinator/dist/main.js; build it
 * with `npx tsc -b`) and, as a check of the test itself, against the real ZooKeeper (forceSync=yes).
 * SAMSA_CRASH_SEED=<n> replays a run's random schedule (the seed is printed).
 */
import { afterAll, describe, expect, test } from 'vitest';
import { coordinatorMainAvailability, startCoordinatorProcess } from '../helpers/coordinator.js';
import { freePort } from '../helpers/ports.js';
import { createTempDir, type TempDir } from '../helpers/temp.js';
import { ZkTestClient, ZkError } from '../helpers/zk-client.js';
import { deferred, withTimeout } from '../helpers/wait.js';
import { startZooKeeper, zookeeperAvailability, type Availability } from '../helpers/zookeeper.js';

const ROUNDS = 4;
const WRITERS = 6;
/** A round is killed once a random number of writes in [MIN, MAX) has been acknowledged. */
const MIN_ACKS_BEFORE_KILL = 20;
const MAX_ACKS_BEFORE_KILL = 2_000;
const TICK_TIME_MS = 500;

type CrashTarget = 'embedded' | 'zookeeper';

interface Server {
  connectString: string;
  kill(): Promise<void>;
  stop(): Promise<void>;
}

interface NodeState {
  /** The last acknowledged write. */
  acked: { data: string; version: number } | null;
  /** A write sent but not acknowledged when the server died: it may or may not have been applied. */
  inFlight: { data: string; version: number } | null;
  /** Created in one multi with this other node: after any crash, both exist or neither does. */
  partner?: string;
}

const availability: Record<CrashTarget, Availability> = {
  embedded: coordinatorMainAvailability(),
  zookeeper: zookeeperAvailability(),
};
for (const [name, status] of Object.entries(availability)) {
  if (!status.available) console.warn(`[coordinator crash test] SKIPPING the '${name}' target: ${status.reason}`);
}

const seed = Number(process.env.SAMSA_CRASH_SEED ?? Date.now() % 1_000_000);

/** mulberry32: small, seedable, good enough for schedules. */
function random(seedValue: number): () => number {
  let state = seedValue >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

async function startServer(target: CrashTarget, port: number, dataDir: string): Promise<Server> {
  if (target === 'embedded') {
    const server = await startCoordinatorProcess({ port, dataDir, tickTimeMs: TICK_TIME_MS });
    return { connectString: server.connectString, kill: () => server.kill(), stop: () => server.stop() };
  }
  const server = await startZooKeeper({ port, dataDir, tickTimeMs: TICK_TIME_MS });
  return { connectString: server.connectString, kill: () => server.kill(), stop: () => server.stop() };
}

/** One writer: its own nodes, one request in flight at a time, so each node's fate after a crash is exact. */
/** Called after every acknowledged write; the test uses it to pick the moment of the kill. */
let onAck: () => void = () => {};

async function writer(
  client: ZkTestClient,
  prefix: string,
  nodes: Map<string, NodeState>,
  stopped: () => boolean,
  next: () => number,
): Promise<void> {
  let counter = 0;
  let current: string | undefined;
  while (!stopped()) {
    const dice = next();
    if (current !== undefined && dice < 0.1) {
      // A transaction: two new nodes and a setData, all or nothing.
      const base = `${prefix}-${counter++}`;
      const [a, b] = [`${base}-a`, `${base}-b`];
      const currentState = nodes.get(current)!;
      const version = currentState.acked!.version + 1;
      const states: [string, NodeState][] = [
        [a, { acked: null, inFlight: { data: `${a}#0`, version: 0 }, partner: b }],
        [b, { acked: null, inFlight: { data: `${b}#0`, version: 0 }, partner: a }],
      ];
      for (const [path, state] of states) nodes.set(path, state);
      currentState.inFlight = { data: `${current}#${version}`, version };
      const { error } = await client.multi((tx) =>
        tx
          .create(a, Buffer.from(`${a}#0`))
          .create(b, Buffer.from(`${b}#0`))
          .setData(current!, Buffer.from(`${current}#${version}`), version - 1),
      );
      if (error) throw error;
      for (const [, state] of [...states, [current, currentState] as [string, NodeState]]) {
        state.acked = state.inFlight;
        state.inFlight = null;
      }
      onAck();
    } else if (current === undefined || dice < 0.3) {
      const path = `${prefix}-${counter++}`;
      const data = `${path}#0`;
      const state: NodeState = { acked: null, inFlight: { data, version: 0 } };
      nodes.set(path, state);
      await client.create(path, Buffer.from(data));
      state.acked = state.inFlight;
      state.inFlight = null;
      current = path;
      onAck();
    } else {
      const state = nodes.get(current)!;
      const version = state.acked!.version + 1;
      state.inFlight = { data: `${current}#${version}`, version };
      const stat = await client.setData(current, Buffer.from(state.inFlight.data), version - 1);
      expect(stat.version).toBe(version);
      state.acked = state.inFlight;
      state.inFlight = null;
      onAck();
    }
  }
}

/** Every acknowledged write is there; an unacknowledged one is there entirely or not at all. */
async function verify(
  client: ZkTestClient,
  nodes: Map<string, NodeState>,
): Promise<{ checked: number; inFlightApplied: number }> {
  const entries = [...nodes];
  const found = new Map<string, { data: string; version: number } | null>();
  let inFlightApplied = 0;
  for (let i = 0; i < entries.length; i += 200) {
    await Promise.all(
      entries.slice(i, i + 200).map(async ([path, state]) => {
        let current: { data: string; version: number } | null;
        try {
          const { data, stat } = await client.getData(path);
          current = { data: data?.toString() ?? '', version: stat.version };
        } catch (error) {
          if (!(error instanceof ZkError && error.codeName === 'NO_NODE')) throw error;
          current = null;
        }
        found.set(path, current);
        const allowed: ({ data: string; version: number } | null)[] = [state.acked, state.inFlight].filter(
          (s) => s !== null,
        );
        if (state.acked === null) allowed.push(null);
        expect(
          allowed,
          `${path}: acknowledged ${JSON.stringify(state.acked)}, in flight ${JSON.stringify(state.inFlight)}`,
        ).toContainEqual(current);
        if (state.inFlight && JSON.stringify(current) === JSON.stringify(state.inFlight)) inFlightApplied++;
      }),
    );
  }
  for (const [path, state] of entries) {
    if (state.partner !== undefined && found.has(state.partner)) {
      expect(found.get(path) === null, `${path} and ${state.partner} were created by one multi: both or neither`).toBe(
        found.get(state.partner) === null,
      );
    }
  }
  // Whatever survived is now the known state for the next round.
  for (const [path, state] of entries) {
    state.acked = found.get(path) ?? null;
    state.inFlight = null;
    if (state.acked === null) nodes.delete(path);
  }
  return { checked: entries.length, inFlightApplied };
}

for (const target of ['embedded', 'zookeeper'] as const) {
  describe.skipIf(!availability[target].available)(`crash safety: ${target}`, () => {
    let dataDir: TempDir | undefined;
    let server: Server | undefined;

    afterAll(async () => {
      await server?.stop();
      dataDir?.remove();
    });

    test(`every acknowledged write survives SIGKILL (${ROUNDS} rounds, seed ${seed})`, {
      timeout: 60_000,
    }, async () => {
      const next = random(seed);
      dataDir = createTempDir(`crash-${target}`);
      const port = await freePort();
      const nodes = new Map<string, NodeState>();
      let acknowledged = 0;
      console.info(`[coordinator crash test] ${target}: seed ${seed} (SAMSA_CRASH_SEED to replay)`);

      for (let round = 0; round < ROUNDS; round++) {
        server = await startServer(target, port, dataDir.path);
        // Two sessions, so that writes from several connections share the server's commits.
        const clients = await Promise.all(
          [0, 1].map(() => ZkTestClient.connect(server!.connectString, { sessionTimeoutMs: 2 * TICK_TIME_MS })),
        );
        const client = clients[0]!;
        const { checked, inFlightApplied } = await verify(client, nodes);
        if (round === 0) await client.create('/crash');
        const before = [...nodes.values()].filter((s) => s.acked).length;

        let killed = false;
        const writers = Array.from({ length: WRITERS }, (_, w) =>
          writer(clients[w % clients.length]!, `/crash/r${round}-w${w}`, nodes, () => killed, next).catch(
            (error: unknown) => {
              // After the kill, requests fail with CONNECTION_LOSS; before it, any failure is a bug.
              if (!killed) throw error;
            },
          ),
        );
        // A random moment: after a random number of acknowledged writes, with all writers mid-flight.
        const killAfter = Math.floor(MIN_ACKS_BEFORE_KILL + next() * (MAX_ACKS_BEFORE_KILL - MIN_ACKS_BEFORE_KILL));
        const killMoment = deferred<void>();
        let acks = 0;
        onAck = () => {
          acks++;
          if (acks !== killAfter) return;
          killed = true;
          killMoment.resolve();
        };
        await withTimeout(killMoment.promise, 30_000, `${killAfter} acknowledged writes`);
        await server.kill();
        for (const each of clients) each.abandon();
        await Promise.all(writers);
        const acked = [...nodes.values()].filter((s) => s.acked).length;
        acknowledged += acked - before;
        console.info(
          `[coordinator crash test] ${target} round ${round}: verified ${checked} nodes ` +
            `(${inFlightApplied} in-flight writes applied), killed after ` +
            `${killAfter} acknowledged writes, ${acked} nodes acknowledged`,
        );
        server = undefined;
      }

      server = await startServer(target, port, dataDir.path);
      const client = await ZkTestClient.connect(server.connectString);
      const { checked } = await verify(client, nodes);
      await client.close();
      expect(checked).toBeGreaterThan(ROUNDS * WRITERS);
      expect(acknowledged).toBeGreaterThan(0);
    });
  });
}
