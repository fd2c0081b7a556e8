import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type * as grpc from '@grpc/grpc-js';
import { BrokerConnection } from '../src/transport.js';
import { TestCluster, waitFor } from './support/test-cluster.js';

/**
 * hasStalledRequest tells the metadata requests which brokers to try last: only a request the broker
 * should answer at once may count, and a call leaves the count on every path.
 */
describe('a connection holding a request unanswered', () => {
  let cluster: TestCluster;
  let connection: BrokerConnection;

  beforeEach(async () => {
    cluster = await TestCluster.start();
    cluster.createTopic('t', 1);
    connection = new BrokerConnection(cluster.bootstrap[0] as string, 'stall-test');
  });

  afterEach(async () => {
    connection.close();
    await cluster.stop();
  });

  // A threshold of 0 counts every request still waiting for its answer (no time needs to pass).
  const NOW = 0;

  it('does not count a long poll (Fetch) as stalled, but does a Metadata request', async () => {
    const releaseFetch = cluster.hold('Fetch');
    const fetching = connection
      .call(
        'Fetch',
        { maxWaitMs: 10_000, minBytes: 0, topics: [{ name: 't', partitions: [{ partition: 0, fetchOffset: 0 }] }] },
        { timeoutMs: 20_000 },
      )
      .catch((err: unknown) => err);
    await waitFor(() => cluster.requestsOf('Fetch').length === 1, 5000, 'the Fetch to reach the broker');
    expect(connection.hasStalledRequest(NOW)).toBe(false);

    const releaseMetadata = cluster.hold('Metadata');
    const asking = connection.call('Metadata', { topics: [] }, { timeoutMs: 20_000 }).catch((err: unknown) => err);
    await waitFor(() => cluster.requestsOf('Metadata').length === 1, 5000, 'the Metadata request to reach the broker');
    expect(connection.hasStalledRequest(NOW)).toBe(true);
    releaseMetadata();
    await asking;
    expect(connection.hasStalledRequest(NOW)).toBe(false);
    releaseFetch();
    await fetching;
  }, 30_000);

  it('forgets a call that threw while being made', async () => {
    // The channel shut down under the connection: grpc-js throws from the call itself, no callback follows.
    (connection as unknown as { client: grpc.Client }).client.close();
    await expect(connection.call('Metadata', { topics: [] }, { timeoutMs: 5000 })).rejects.toThrow(/shut down/);
    expect(connection.hasStalledRequest(NOW)).toBe(false);
  });
});
