/**
 * Restarts: data, sessions, ephemerals and counters across a clean stop (SIGTERM) and a crash
 * (SIGKILL), against ZooKeeper and against the coordinator, both as processes on the same data dir and
 * port. ZooKeeper keeps sessions in its log: after a restart a session's ephemerals stay until the
 * session either comes back (reattaches) or times out. The two transcripts must be equal.
 */
import { afterAll, describe, expect, test } from 'vitest';
import { coordinatorMainAvailability, startCoordinatorProcess } from '../helpers/coordinator.js';
import { freePort } from '../helpers/ports.js';
import { createTempDir, type TempDir } from '../helpers/temp.js';
import { waitFor } from '../helpers/wait.js';
import { ZkTestClient } from '../helpers/zk-client.js';
import { WireClient } from '../helpers/zk-wire.js';
import { startZooKeeper, zookeeperAvailability, type Availability } from '../helpers/zookeeper.js';
import { Transcript, type TranscriptEntry } from './support/transcript.js';

const TICK_TIME_MS = 500;
type Target = 'zookeeper' | 'embedded';

interface Server {
  host: string;
  port: number;
  connectString: string;
  stop(): Promise<void>;
  kill(): Promise<void>;
}

const availability: Record<Target, Availability> = {
  zookeeper: zookeeperAvailability(),
  embedded: coordinatorMainAvailability(),
};
for (const [name, status] of Object.entries(availability)) {
  if (!status.available) console.warn(`[coordinator restart test] SKIPPING the '${name}' target: ${status.reason}`);
}

async function start(target: Target, port: number, dataDir: string): Promise<Server> {
  if (target === 'zookeeper') {
    const zk = await startZooKeeper({ port, dataDir, tickTimeMs: TICK_TIME_MS });
    return { host: zk.host, port, connectString: zk.connectString, stop: () => zk.stop(), kill: () => zk.kill() };
  }
  const coordinator = await startCoordinatorProcess({ port, dataDir, tickTimeMs: TICK_TIME_MS });
  return {
    host: coordinator.host,
    port,
    connectString: coordinator.connectString,
    stop: () => coordinator.stop(),
    kill: () => coordinator.kill(),
  };
}

const transcripts = new Map<Target, TranscriptEntry[]>();

for (const target of ['zookeeper', 'embedded'] as const) {
  describe.skipIf(!availability[target].available)(`restarts: ${target}`, () => {
    let server: Server | undefined;
    let dataDir: TempDir | undefined;
    const opened: { close(): unknown }[] = [];

    afterAll(async () => {
      for (const client of opened) await Promise.resolve(client.close()).catch(() => {});
      await server?.kill();
      dataDir?.remove();
    });

    test('sessions, ephemerals, data and counters survive a clean stop and a crash', { timeout: 60_000 }, async () => {
      const t = new Transcript('/r');
      dataDir = createTempDir(`restart-${target}`);
      const port = await freePort();
      server = await start(target, port, dataDir.path);
      const { host } = server;

      const keeper = await WireClient.connect(host, port, { sessionTimeoutMs: 20 * TICK_TIME_MS });
      const leaver = await WireClient.connect(host, port, { sessionTimeoutMs: 2 * TICK_TIME_MS });
      t.labelSession(keeper.session.id, 'keeper');
      t.labelSession(leaver.session.id, 'leaver');
      expect((await keeper.create('/r', Buffer.from('root'))).err).toBe(0);
      expect((await keeper.create('/r/e', Buffer.from('keeper'), 1)).err).toBe(0);
      expect((await keeper.create('/r/s-', null, 2)).path).toBe('/r/s-0000000001');
      expect((await leaver.create('/r/v', null, 1)).err).toBe(0);
      const set = await keeper.setData('/r', Buffer.from('root v1'));
      const lastZxidBefore = keeper.lastZxid;
      t.record('before stop', { r: t.stat(set.stat) });

      // 1. Clean stop and restart.
      keeper.abandon();
      leaver.abandon();
      await server.stop();
      server = await start(target, port, dataDir.path);
      const observer = await ZkTestClient.connect(server.connectString);
      opened.push(observer);
      const afterStop = await observer.getChildren('/r');
      t.record('children after restart', [...afterStop.children].sort());
      expect([...afterStop.children].sort()).toEqual(['e', 's-0000000001', 'v']);
      const rootData = await observer.getData('/r');
      expect(rootData.data?.toString()).toBe('root v1');
      t.record('/r after restart', t.stat(rootData.stat));

      const keeperSession = {
        sessionId: keeper.session.id,
        password: keeper.session.password,
        sessionTimeoutMs: 20 * TICK_TIME_MS,
      };
      const back = await WireClient.connect(host, port, { ...keeperSession, lastZxidSeen: lastZxidBefore });
      opened.push({ close: () => back.abandon() });
      t.record('keeper reattaches after restart', { expired: back.session.expired, refused: back.session.refused });
      expect(back.session.expired).toBe(false);
      expect((await back.exists('/r/e')).stat?.ephemeralOwner).toBe(keeper.session.id);

      let leaverGone = false;
      await observer.exists('/r/v', () => {
        leaverGone = true;
      });
      await waitFor(() => leaverGone, {
        timeoutMs: 20_000,
        description: "the leaver's ephemeral to go when its session expires after the restart",
      });
      t.record('leaver ephemeral after its session expired', await observer.exists('/r/v'));

      const next = await back.create('/r/s-', null, 2);
      t.record('sequential after restart', next.path);
      expect(next.path).toBe('/r/s-0000000003');
      t.record('first write after restart vs last before', next.zxid > lastZxidBefore ? '>' : '<=');
      expect(next.zxid).toBeGreaterThan(lastZxidBefore);

      // 2. Crash and restart.
      const lastZxidBeforeCrash = back.lastZxid;
      await observer.close();
      back.abandon();
      await server.kill();
      server = await start(target, port, dataDir.path);
      const again = await WireClient.connect(host, port, { ...keeperSession, lastZxidSeen: lastZxidBeforeCrash });
      opened.push({ close: () => again.abandon() });
      t.record('keeper reattaches after crash', { expired: again.session.expired, refused: again.session.refused });
      expect(again.session.expired).toBe(false);
      const children = await again.getChildren('/r');
      t.record('children after crash', [...children.children].sort());
      expect([...children.children].sort()).toEqual(['e', 's-0000000001', 's-0000000003']);

      const watcherClient = await ZkTestClient.connect(server.connectString);
      opened.push(watcherClient);
      let ephemeralGone = false;
      await watcherClient.exists('/r/e', () => {
        ephemeralGone = true;
      });
      await again.closeSession();
      await waitFor(() => ephemeralGone, { description: "the keeper's ephemeral to go when it closes its session" });
      const final = await watcherClient.getChildren('/r');
      t.record('children after keeper closed', [...final.children].sort());
      t.record('/r at the end', t.stat(final.stat));
      expect([...final.children].sort()).toEqual(['s-0000000001', 's-0000000003']);
      transcripts.set(target, t.finalize());
    });
  });
}

const bothRun = availability.zookeeper.available && availability.embedded.available;
describe.skipIf(!bothRun)('restarts: coordinator transcript equals ZooKeeper transcript', () => {
  test('same observations', () => {
    expect(transcripts.get('zookeeper'), 'the ZooKeeper run recorded no transcript').toBeDefined();
    expect(transcripts.get('embedded')).toEqual(transcripts.get('zookeeper'));
  });
});
