/**
 * How `samsa dev` knows a member is up: it answered as itself on its port. Accepting a connection
 * proves nothing (a member left over from an earlier run accepts them too): the coordinator must
 * report its own port and data directory (ZooKeeper's `conf` four-letter word), a broker must be
 * serving and list itself, with its id and port, in the cluster it describes.
 */
import { connect, createServer } from 'node:net';
import { Samsa } from '@samsa/client';

const PROBE_TIMEOUT_MS = 2_000;

/** Whether nothing listens on 127.0.0.1:port right now (binding it is the only sure test). */
export function portIsFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen({ host: '127.0.0.1', port, exclusive: true }, () => server.close(() => resolve(true)));
  });
}

/** Sends a four-letter word and returns everything the server writes before it closes. */
export function fourLetterWord(port: number, word: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const socket = connect({ host: '127.0.0.1', port }, () => socket.write(word));
    socket.setTimeout(PROBE_TIMEOUT_MS, () => socket.destroy(new Error(`no answer to '${word}'`)));
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.once('error', (err) => (chunks.length > 0 ? resolve(Buffer.concat(chunks).toString()) : reject(err)));
    socket.once('close', () => resolve(Buffer.concat(chunks).toString()));
  });
}

/** Why the coordinator on `port` is not (yet) the one keeping `dataDir`, or undefined when it is. */
export async function coordinatorMismatch(port: number, dataDir: string): Promise<string | undefined> {
  const conf = await fourLetterWord(port, 'conf');
  const value = (key: string) => new RegExp(`^${key}=(.*)$`, 'm').exec(conf)?.[1];
  if (value('clientPort') !== String(port)) return `its port answered '${conf.split('\n')[0] ?? ''}'`;
  if (value('dataDir') !== dataDir) return `the coordinator on port ${port} keeps ${value('dataDir')}, not ${dataDir}`;
  return undefined;
}

export interface BrokerIdentity {
  readonly clusterId: string;
}

/**
 * The cluster id broker `id` reports when it serves on `port` and lists itself there; undefined while
 * it does not (still starting, or not registered yet). `expectedClusterId` (when known) must match.
 */
export async function brokerIdentity(
  id: number,
  port: number,
  expectedClusterId: string | undefined,
): Promise<BrokerIdentity | undefined> {
  const samsa = new Samsa({
    brokers: [`127.0.0.1:${port}`],
    clientId: 'samsa-dev-probe',
    requestTimeoutMs: PROBE_TIMEOUT_MS,
    defaultApiTimeoutMs: PROBE_TIMEOUT_MS,
    retry: { retries: 0 },
  });
  try {
    const cluster = await samsa.admin().describeCluster();
    const listed = cluster.brokers.some((b) => b.id === id && b.port === port);
    if (!listed || cluster.clusterId === '') return undefined;
    if (expectedClusterId !== undefined && cluster.clusterId !== expectedClusterId) return undefined;
    return { clusterId: cluster.clusterId };
  } catch {
    return undefined;
  } finally {
    await samsa.close();
  }
}
