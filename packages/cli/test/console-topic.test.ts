/**
 * samsa produce / consume and a topic that does not exist or a partition past its count, against an
 * in-process stand-in broker that creates no topics (as auto.create.topics.enable=false): the command fails
 * after one Metadata request that allows creation, not after waiting for the topic to appear.
 */
import type { v1 } from '@samsa/protocol';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { TestCluster } from '../../client/test/support/test-cluster.js';
import { runCli } from '../src/cli.js';

let cluster: TestCluster;
beforeAll(async () => {
  cluster = await TestCluster.start();
  cluster.createTopic('three', 3);
});
afterAll(async () => {
  await cluster?.stop();
});

/** Runs the CLI in this process; its exit code and what it wrote to stderr. */
async function samsa(args: string[]): Promise<{ code: number; stderr: string }> {
  let stderr = '';
  const write = vi.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => {
    stderr += chunk.toString();
    return true;
  });
  try {
    const code = await runCli([...args, '--bootstrap-server', cluster.bootstrap.join(',')]);
    return { code, stderr };
  } finally {
    write.mockRestore();
  }
}

/** The Metadata requests naming `topic` that let the broker create it. */
const creatingLookups = (topic: string) =>
  cluster
    .requestsOf<v1.MetadataRequest__Output>('Metadata')
    .filter((r) => r.request.topics.includes(topic) && r.request.allowAutoTopicCreation);

describe('the console commands and a topic the brokers do not have and do not create', () => {
  const commands = [
    ['produce'],
    ['consume'],
    ['consume', '--partition', '0', '--offset', '0'],
    ['consume', '--group', 'g'],
    ['consume', '--timeout-ms', '600000'],
  ];
  for (const [i, command] of commands.entries()) {
    it(`samsa ${command.join(' ')} fails after one lookup, naming the topic`, async () => {
      const typo = `typo-${i}`;
      const run = await samsa([...command, '--topic', typo]);
      expect(run.code).toBe(1);
      expect(run.stderr).toBe(
        `samsa: UnknownTopicOrPartition: unknown topic ${typo}: it does not exist, and the brokers do not create ` +
          'topics on use (auto.create.topics.enable=false)\n',
      );
      // The answer is final: no second look, no wait for the brokers to create it.
      expect(creatingLookups(typo)).toHaveLength(1);
    });
  }
});

describe('the console commands and a partition past the topic’s count', () => {
  for (const command of [['produce'], ['consume'], ['consume', '--offset', 'earliest']]) {
    it(`samsa ${command.join(' ')} --partition 3 of a 3-partition topic fails naming the count`, async () => {
      const run = await samsa([...command, '--topic', 'three', '--partition', '3']);
      expect(run.code).toBe(1);
      expect(run.stderr).toBe(
        'samsa: UnknownTopicOrPartition: topic three has 3 partitions (0 to 2); there is no partition 3\n',
      );
    });
  }
});
