import { Samsa } from '@samsa/client';
import { afterAll, beforeAll } from 'vitest';
import { LocalCluster } from './cluster.js';

/**
 * A test file's one-broker cluster (two transaction-log partitions) with `topic` (1 partition) created,
 * and an SDK client with quick retries: started before the file's tests and closed after them.
 */
export function oneBrokerWithTopic(topic: string): { readonly cluster: LocalCluster; readonly samsa: Samsa } {
  const env = {} as { cluster: LocalCluster; samsa: Samsa };
  beforeAll(async () => {
    env.cluster = await LocalCluster.start({
      brokers: 1,
      brokerSettings: { 'transaction.state.log.num.partitions': '2' },
    });
    env.samsa = new Samsa({
      brokers: env.cluster.bootstrap,
      retry: { retries: 50, initialRetryTimeMs: 50, maxRetryTimeMs: 300 },
    });
    await env.samsa.admin().createTopics([{ topic, numPartitions: 1, replicationFactor: 1 }]);
  }, 60_000);
  afterAll(async () => {
    await env.samsa?.close();
    await env.cluster?.close();
  });
  return env;
}
