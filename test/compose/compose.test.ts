/**
 * The docker-compose.yml cluster, end to end, through testcontainers: build the image, bring up the
 * ZooKeeper ensemble and three brokers, wait for every healthcheck, then through the EXTERNAL
 * listeners (127.0.0.1:9092-9094, as a client on the host would) create a topic with replication
 * factor 3 and min.insync.replicas 2, produce with acks=all while the partition leader's container is
 * killed (SIGKILL, as `docker compose kill`) and later started again, and read everything back: no
 * acknowledged value may be missing from the offset it was acknowledged at. A Kafka client (KafkaJS)
 * on the host reaches the brokers through their KAFKA listeners (127.0.0.1:19092-19094).
 *
 * Needs a local Docker engine with Compose v2.20 or newer, and host ports 9092-9094 and 19092-19094
 * free (the brokers advertise 127.0.0.1:909N and 127.0.0.1:1909N). Without an engine the suite is
 * skipped at once, with a notice.
 *   npx vitest run test/compose
 * COMPOSE_PROFILE=embedded runs it against the embedded coordinator instead of ZooKeeper.
 */
import { execFile } from 'node:child_process';
import { createRequire } from 'node:module';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Samsa } from '@samsa/client';
import { check, type Ack, type Stored } from '../chaos/checker.js';
import { REPO_ROOT } from '../helpers/coordinator.js';
import { waitFor } from '../helpers/wait.js';

const require = createRequire(import.meta.url);
const BOOTSTRAP = ['127.0.0.1:9092', '127.0.0.1:9093', '127.0.0.1:9094'];
/** The brokers' KAFKA listeners, Kafka's protocol, published as the gRPC ports + 10000. */
const KAFKA_BOOTSTRAP = ['127.0.0.1:19092', '127.0.0.1:19093', '127.0.0.1:19094'];
const PROFILE = process.env.COMPOSE_PROFILE ?? 'zookeeper';
const MIN_COMPOSE_VERSION = [2, 20];
/** Values produced in each phase: before the kill, while the leader is down, after it is back. */
const PER_PHASE = 200;

/** Why the suite cannot run here, or undefined when it can. Quick: no engine answers in milliseconds. */
async function dockerUnavailable(): Promise<string | undefined> {
  const { getContainerRuntimeClient } = await import('testcontainers');
  let host: string;
  try {
    const client = await Promise.race([
      getContainerRuntimeClient(),
      new Promise<never>((_, reject) => setTimeout(() => reject(new Error('no answer within 10 s')), 10_000).unref()),
    ]);
    host = client.info.containerRuntime.host;
  } catch (err) {
    return (
      `no Docker engine (${err instanceof Error ? err.message : String(err)}; ` +
      `DOCKER_HOST=${process.env.DOCKER_HOST ?? 'unset'})`
    );
  }
  if (!['localhost', '127.0.0.1', '::1'].includes(host)) {
    return (
      `the Docker engine is remote (${host}): the brokers advertise ` +
      `127.0.0.1:9092-9094, reachable only from the engine's own host`
    );
  }
  const version = await new Promise<string | undefined>((resolve) => {
    execFile('docker', ['compose', 'version', '--short'], { timeout: 10_000 }, (err, stdout) =>
      resolve(err ? undefined : stdout.trim()),
    );
  });
  const [major = 0, minor = 0] = (version ?? '').replace(/^v/, '').split('.').map(Number);
  if (
    !version ||
    major < MIN_COMPOSE_VERSION[0]! ||
    (major === MIN_COMPOSE_VERSION[0] && minor < MIN_COMPOSE_VERSION[1]!)
  ) {
    return (
      `Docker Compose ${MIN_COMPOSE_VERSION.join('.')} or newer is needed ` +
      `(depends_on with required: false), found ${version ?? 'none'}`
    );
  }
  return undefined;
}

const unavailable = await dockerUnavailable();
if (unavailable) console.warn(`test/compose skipped: ${unavailable}`);

// Imported only where Docker is: its types are all this file needs from it otherwise.
type Environment = import('testcontainers').StartedDockerComposeEnvironment;

describe.skipIf(unavailable !== undefined)(`docker compose (profile ${PROFILE})`, () => {
  let environment: Environment | undefined;
  let samsa: Samsa;

  beforeAll(async () => {
    const { DockerComposeEnvironment } = await import('testcontainers');
    // Waits for every container's healthcheck (each service has one); the first build takes minutes.
    environment = await new DockerComposeEnvironment(REPO_ROOT, 'docker-compose.yml')
      .withProfiles(PROFILE)
      .withBuild()
      .withStartupTimeout(300_000)
      .up();
    samsa = new Samsa({ brokers: BOOTSTRAP, requestTimeoutMs: 10_000 });
    await samsa.connect();
    const admin = samsa.admin();
    await waitFor(async () => (await admin.describeCluster()).brokers.length === 3, {
      timeoutMs: 120_000,
      intervalMs: 500,
      description: 'all three brokers registered',
    });
  }, 900_000);

  afterAll(async () => {
    await samsa?.close();
    await environment?.down({ removeVolumes: true, timeout: 10_000 });
  }, 120_000);

  it('tells a client on the host only EXTERNAL addresses', async () => {
    const cluster = await samsa.admin().describeCluster();
    expect(cluster.brokers.map((b) => `${b.host}:${b.port}`)).toEqual(BOOTSTRAP);
  });

  it('serves a Kafka client on the host through the KAFKA listeners, and tells it only their addresses', async () => {
    const { Kafka, logLevel } = require('kafkajs') as typeof import('kafkajs');
    const kafka = new Kafka({ clientId: 'compose-test', brokers: [KAFKA_BOOTSTRAP[0]!], logLevel: logLevel.NOTHING });
    const admin = kafka.admin();
    await admin.connect();
    try {
      const cluster = await admin.describeCluster();
      expect(cluster.brokers.map((b) => `${b.host}:${b.port}`).sort()).toEqual(KAFKA_BOOTSTRAP);
      const topic = `compose-kafka-${Date.now()}`;
      await admin.createTopics({ topics: [{ topic, numPartitions: 1, replicationFactor: 3 }], waitForLeaders: true });
      const producer = kafka.producer();
      await producer.connect();
      await producer.send({ topic, acks: -1, messages: [{ key: 'k', value: 'from a Kafka client' }] });
      await producer.disconnect();
      const [offsets] = await samsa.admin().fetchTopicOffsets(topic);
      expect(offsets!.high).toBe(1);
    } finally {
      await admin.disconnect();
    }
  });

  it("loses no acknowledged value when the partition leader's container is killed and started again", async () => {
    const admin = samsa.admin();
    const topic = `compose-${Date.now()}`;
    await admin.createTopics([
      { topic, numPartitions: 1, replicationFactor: 3, configs: { 'min.insync.replicas': '2' } },
    ]);
    const partitionState = async () => (await admin.describeTopics([topic]))[0]!.partitions[0]!;
    await waitFor(async () => (await partitionState()).isr.length === 3, {
      timeoutMs: 60_000,
      description: 'a leader and a full ISR',
    });

    const producer = samsa.producer({ acks: 'all', lingerMs: 0, deliveryTimeoutMs: 60_000 });
    const acks: Ack[] = [];
    let attempted = 0;
    /** Sends values first..first+count-1, ten at a time; records every acknowledgement. */
    const produce = async (first: number, count: number) => {
      for (let base = first; base < first + count; base += 10) {
        await Promise.all(
          Array.from({ length: 10 }, async (_, i) => {
            const seq = base + i;
            const value = `v${seq}`;
            attempted++;
            try {
              const r = await producer.send({ topic, partition: 0, value });
              acks.push({ producer: 0, seq, partition: 0, offset: r.offset, value });
            } catch {
              // Not acknowledged: it may or may not be stored, and either is allowed.
            }
          }),
        );
      }
    };

    try {
      await produce(0, PER_PHASE);
      expect(acks.length).toBe(PER_PHASE); // nothing was wrong yet

      const leader = (await partitionState()).leader;
      const container = environment!.getContainer(`broker-${leader}-1`);
      const { getContainerRuntimeClient } = await import('testcontainers');
      const docker = (await getContainerRuntimeClient()).container.getById(container.getId());
      await docker.kill({ signal: 'SIGKILL' }); // docker compose kill broker-N

      // Writes go on while the cluster notices (one session timeout) and elects a new leader.
      await produce(PER_PHASE, PER_PHASE);
      const during = await waitFor(
        async () => {
          const p = await partitionState();
          return p.leader >= 0 && p.leader !== leader && p;
        },
        { timeoutMs: 60_000, intervalMs: 250, description: `a leader other than broker ${leader}` },
      );
      expect(during.isr).not.toContain(leader);

      // `restart: unless-stopped` may already have started it again; starting it twice is harmless.
      await docker.start().catch((err: { statusCode?: number }) => {
        if (err.statusCode !== 304) throw err;
      });
      await waitFor(async () => (await partitionState()).isr.includes(leader), {
        timeoutMs: 120_000,
        intervalMs: 500,
        description: `broker ${leader} back in the ISR`,
      });
      await produce(2 * PER_PHASE, PER_PHASE);
    } finally {
      await producer.close();
    }

    const [offsets] = await admin.fetchTopicOffsets(topic);
    const stored: Stored[] = [];
    const consumer = samsa.consumer({ autoOffsetReset: 'earliest', maxWaitMs: 200 });
    await consumer.assign([{ topic, partition: 0 }]);
    try {
      if (offsets!.high > 0) {
        for await (const m of consumer.messages({ signal: AbortSignal.timeout(60_000) })) {
          stored.push({ partition: m.partition, offset: m.offset, value: m.value!.toString() });
          if (m.offset >= offsets!.high - 1) break;
        }
      }
    } finally {
      await consumer.close();
    }
    const verdict = check(attempted, acks, stored);
    console.info(
      `compose: ${verdict.attempted} attempted, ${verdict.acknowledged} ` +
        `acknowledged, ${stored.length} stored, ${verdict.duplicated} duplicated`,
    );
    expect(verdict.lost).toEqual([]);
    expect(verdict.holes).toEqual([]);
    expect(verdict.reordered).toEqual([]);
    expect(verdict.acknowledged).toBeGreaterThan(2 * PER_PHASE); // the cluster kept taking writes
  }, 600_000);
});
