/**
 * An SDK producer through a SIGKILL of its partition's leader, on real processes: the first send
 * started after the kill is acknowledged about one session timeout (the dead broker's registration
 * expiring) plus an election later, not after the producer's backoff against the dead broker has run
 * its course. The client's retry backoff starts at 250 ms and doubles up to 20 s here (Kafka's
 * retry.backoff.max.ms, 1 s by default, may be set so): a producer that learnt the new leader only at
 * its own retry times, and then waited out that retry's backoff, would be acknowledged at least twice
 * the election's time after the kill (6.5 s and more), past the bound; the bound leaves 2.5 s for an
 * election and a retry on a loaded machine (measured: about 3.2 s in all). `scripts/bench-failover.mjs
 * --fault kill` measures the figure.
 */
import { Samsa } from '@samsa/client';
import { ErrorCodes, encodeBatch, type v1 } from '@samsa/protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LocalCluster } from '../helpers/cluster.js';
import { waitFor } from '../helpers/wait.js';
import { RawBroker } from './grpc.js';

const SESSION_TIMEOUT_MS = 3000;
/** The coordinator's tick rounds a session's expiry up by at most one tick (LocalCluster's default). */
const TICK_MS = 500;
let cluster: LocalCluster;
let samsa: Samsa;

beforeAll(async () => {
  cluster = await LocalCluster.start({
    brokers: 3,
    tickTimeMs: TICK_MS,
    brokerSettings: { 'zookeeper.session.timeout.ms': String(SESSION_TIMEOUT_MS), 'replica.lag.time.max.ms': '2000' },
  });
  samsa = new Samsa({
    brokers: cluster.bootstrap,
    requestTimeoutMs: 4000,
    retry: { retries: 100, initialRetryTimeMs: 250, maxRetryTimeMs: 20_000 },
  });
}, 60_000);

afterAll(async () => {
  await samsa?.close();
  await cluster?.close();
});

/** Creates an RF 3 topic of one partition (refused until all three brokers registered) and waits for a full ISR. */
async function createTopic(topic: string) {
  await waitFor(
    async () => {
      await samsa
        .admin()
        .createTopics([{ topic, numPartitions: 1, replicationFactor: 3, configs: { 'min.insync.replicas': '2' } }]);
      return true;
    },
    { timeoutMs: 30_000, description: 'the topic created (all three brokers registered)' },
  );
  const partition = async () => (await samsa.admin().describeTopics([topic]))[0]!.partitions[0]!;
  await waitFor(async () => (await partition()).isr.length === 3, { timeoutMs: 30_000, description: 'a full ISR' });
  return partition;
}

describe('a broker that does not lead a partition (KIP-951)', () => {
  it('names the leader, its epoch and its address in a Produce or Fetch refusal', async () => {
    const topic = 'leader-hints';
    const { leader, leaderEpoch } = await (await createTopic(topic))();
    const follower = cluster.brokers.find((b) => b.id !== leader)!;
    const leaderAddress = cluster.brokers.find((b) => b.id === leader)!.address;
    const raw = new RawBroker(follower.address);
    try {
      const records = encodeBatch([{ value: Buffer.from('x') }], { now: Date.now() });
      const produced = await raw.call<v1.ProduceResponse__Output>('Produce', {
        acks: 1,
        timeoutMs: 5000,
        topics: [{ name: topic, partitions: [{ partition: 0, records }] }],
      });
      const refused = produced.topics[0]!.partitions[0]!;
      expect(refused.errorCode).toBe(ErrorCodes.NOT_LEADER_OR_FOLLOWER.code);
      expect(refused.currentLeader).toEqual({ leaderId: leader, leaderEpoch });
      expect(produced.nodeEndpoints.map((b) => [b.id, `${b.host}:${b.port}`])).toEqual([[leader, leaderAddress]]);
      const fetchPartition = { partition: 0, fetchOffset: 0, partitionMaxBytes: 1 << 20, currentLeaderEpoch: -1 };
      const fetched = await raw.call<v1.FetchResponse__Output>('Fetch', {
        maxWaitMs: 0,
        minBytes: 1,
        maxBytes: 1 << 20,
        topics: [{ name: topic, partitions: [fetchPartition] }],
      });
      const fetchRefused = fetched.topics[0]!.partitions[0]!;
      expect(fetchRefused.errorCode).toBe(ErrorCodes.NOT_LEADER_OR_FOLLOWER.code);
      expect(fetchRefused.currentLeader).toEqual({ leaderId: leader, leaderEpoch });
      expect(fetched.nodeEndpoints.map((b) => b.id)).toEqual([leader]);
    } finally {
      raw.close();
    }
  }, 60_000);
});

/**
 * Writes one record at a time to `topic`'s only partition through `client` while `fault(leader)` strikes
 * its leader; returns the time from the fault to the acknowledgement of the first send started after it.
 */
async function firstAckAfterFault(client: Samsa, topic: string, fault: (leader: number) => Promise<void>) {
  const partition = await createTopic(topic);
  const producer = client.producer({ acks: 'all', deliveryTimeoutMs: 60_000 });
  const sends: { sentAt: number; ackAt: number; offset: number }[] = [];
  let running = true;
  const writing = (async () => {
    for (let i = 0; running; i++) {
      const sentAt = Date.now();
      const { offset } = await producer.send({ topic, partition: 0, value: `v${i}` });
      sends.push({ sentAt, ackAt: Date.now(), offset });
    }
  })();
  try {
    await waitFor(async () => sends.length >= 20, { timeoutMs: 30_000, description: 'the writes going' });
    const leader = (await partition()).leader;
    const faultAt = Date.now();
    await fault(leader);
    await waitFor(async () => sends.some((s) => s.sentAt > faultAt), {
      timeoutMs: 60_000,
      description: 'a send started after the fault acknowledged',
    });
    const faultToAckMs = sends.find((s) => s.sentAt > faultAt)!.ackAt - faultAt;
    console.log(`${topic}: leader ${leader}, fault to the first acknowledgement ${faultToAckMs} ms`);
    expect((await partition()).leader).not.toBe(leader);
    return faultToAckMs;
  } finally {
    running = false;
    await writing;
    await producer.close();
    // One record at a time, each acknowledged once: offsets follow send order without gaps or repeats.
    expect(sends.map((s) => s.offset)).toEqual(sends.map((_, i) => (sends[0]?.offset ?? 0) + i));
  }
}

describe('a producer across a paused leader', () => {
  it('gives up on the request the paused leader holds once another is elected', async () => {
    // The client's default request timeout (30 s): without giving up, the held request waits it out.
    const client = new Samsa({ brokers: cluster.bootstrap });
    let paused = -1;
    try {
      const faultToAckMs = await firstAckAfterFault(client, 'failover-pause', async (leader) => {
        paused = leader;
        cluster.pauseBroker(leader);
      });
      expect(faultToAckMs).toBeLessThan(SESSION_TIMEOUT_MS + TICK_MS + 2500);
    } finally {
      if (paused >= 0) cluster.resumeBroker(paused);
      await client.close();
    }
  }, 120_000);
});

describe('a producer across a leader kill', () => {
  it('is acknowledged again within a session timeout and an election of the kill', async () => {
    const faultToAckMs = await firstAckAfterFault(samsa, 'failover-kill', (leader) => cluster.killBroker(leader));
    expect(faultToAckMs).toBeLessThan(SESSION_TIMEOUT_MS + TICK_MS + 2500);
  }, 120_000);
});
