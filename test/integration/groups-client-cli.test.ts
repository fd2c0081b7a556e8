/**
 * `samsa consume --group` and `samsa consumer-groups` end to end against real processes: two console
 * consumers in one group split a topic; list, describe (offsets, lag, members, state), reset-offsets
 * (dry run, execute, refused while the group has members) and delete; lag to the last stable offset
 * with --isolation read_committed.
 */
import { join } from 'node:path';
import { Samsa } from '@samsa/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runSamsa } from '../helpers/cli.js';
import { CLI_MAIN, LocalCluster } from '../helpers/cluster.js';
import { REPO_ROOT } from '../helpers/coordinator.js';
import { type SpawnedProcess, spawnProcess } from '../helpers/process.js';
import { createTempDir, type TempDir } from '../helpers/temp.js';
import { waitFor } from '../helpers/wait.js';

let cluster: LocalCluster;
let bootstrap: string;
let logs: TempDir;
let seq = 0;
const unique = (name: string) => `${name}-${process.pid}-${++seq}`;

beforeAll(async () => {
  logs = createTempDir('groups-cli');
  cluster = await LocalCluster.start({
    brokers: 1,
    brokerSettings: {
      'group.consumer.session.timeout.ms': '6000',
      'group.consumer.heartbeat.interval.ms': '500',
      'offsets.topic.num.partitions': '3',
      'offsets.topic.replication.factor': '1',
      'transaction.state.log.num.partitions': '2',
    },
  });
  bootstrap = cluster.bootstrap[0]!;
}, 60_000);

afterAll(async () => {
  await cluster?.close();
  logs?.remove();
});

const samsa = (args: string[], stdin = '') => runSamsa([...args, '--bootstrap-server', bootstrap], stdin);

async function topicWith(partitions: number, lines: string[]): Promise<string> {
  const topic = unique('cg');
  const created = await samsa(['topics', 'create', '--topic', topic, '--partitions', String(partitions)]);
  expect(created.code).toBe(0);
  if (lines.length === 0) return topic;
  // Keys k0, k1, ...: spread over the partitions by murmur2.
  const input = lines.map((line, i) => `k${i}:${line}`).join('\n');
  const produced = await samsa(['produce', '--topic', topic, '--key-separator', ':'], `${input}\n`);
  expect(produced).toMatchObject({ code: 0, stderr: '' });
  return topic;
}

/** `samsa consume --group` running in the background, printing partition:offset and value. */
function consoleConsumer(topic: string, group: string, name: string): SpawnedProcess {
  return spawnProcess({
    name,
    command: process.execPath,
    args: [
      CLI_MAIN,
      'consume',
      '--topic',
      topic,
      '--group',
      group,
      '--from-beginning',
      '--print-offset',
      '--bootstrap-server',
      bootstrap,
    ],
    cwd: REPO_ROOT,
    logFile: join(logs.path, `${name}.log`),
  });
}

/** The data rows of a table the tool printed, as arrays of cells. */
function rows(stdout: string, header: string): string[][] {
  const lines = stdout.split('\n');
  const at = lines.findIndex((l) => l.startsWith(header));
  expect(at, stdout).toBeGreaterThanOrEqual(0);
  return lines
    .slice(at + 1)
    .filter((l) => l.trim() !== '' && !l.startsWith('('))
    .map((l) => l.trim().split(/\s+/));
}

describe('samsa consume --group and samsa consumer-groups', () => {
  it('--describe --isolation read_committed: lag to the last stable offset, before an open transaction', async () => {
    const topic = await topicWith(1, ['a', 'b', 'c']);
    const group = unique('isolation');
    const reset = ['consumer-groups', '--reset-offsets', '--group', group, '--topic', topic, '--to-offset', '1'];
    expect((await samsa([...reset, '--execute'])).code).toBe(0);
    await using client = new Samsa({ brokers: [bootstrap] });
    const producer = client.producer({ transactionalId: unique('isolation-tx') });
    await producer.begin();
    for (const v of ['t0', 't1']) await producer.send({ topic, partition: 0, value: v });
    try {
      // Kafka's default: lag to the log end offset, the open transaction's records included.
      const plain = await samsa(['consumer-groups', '--describe', '--group', group]);
      expect(plain.code, plain.stderr).toBe(0);
      expect(plain.stdout).toContain('LOG-END-OFFSET');
      expect(rows(plain.stdout, 'GROUP')[0]!.slice(3, 6)).toEqual(['1', '5', '4']);
      const stable = await samsa(['consumer-groups', '--describe', '--group', group, '--isolation', 'read_committed']);
      expect(stable.code, stable.stderr).toBe(0);
      expect(stable.stdout).toContain('LAST-STABLE-OFFSET');
      expect(rows(stable.stdout, 'GROUP')[0]!.slice(3, 6)).toEqual(['1', '3', '2']);
      const bad = await samsa(['consumer-groups', '--describe', '--group', group, '--isolation', 'committed']);
      expect(bad.code).toBe(2);
    } finally {
      await producer.abort();
      await producer.close();
    }
  });

  it('two console consumers in one group split a topic between them', async () => {
    const topic = await topicWith(2, []);
    const group = unique('console');
    const first = consoleConsumer(topic, group, 'console-1');
    const second = consoleConsumer(topic, group, 'console-2');
    try {
      await waitFor(
        async () => {
          const described = await samsa(['consumer-groups', '--describe', '--group', group, '--members']);
          const members = described.code === 0 ? rows(described.stdout, 'GROUP') : [];
          return members.length === 2 && members.every((m) => m[5] === '1');
        },
        { timeoutMs: 30_000, description: 'two members with one partition each' },
      );
      const lines = Array.from({ length: 40 }, (_, i) => `line-${i}`);
      const produced = await samsa(
        ['produce', '--topic', topic, '--key-separator', ':'],
        `${lines.map((l, i) => `k${i}:${l}`).join('\n')}\n`,
      );
      expect(produced.code).toBe(0);
      const printed = (p: SpawnedProcess) =>
        p
          .output()
          .split('\n')
          .filter((l) => /^\d+:\d+\t/.test(l));
      await waitFor(() => printed(first).length + printed(second).length >= 40, {
        timeoutMs: 30_000,
        description: 'all 40 lines printed',
      });
      const partitionsOf = (p: SpawnedProcess) => new Set(printed(p).map((l) => l.split(':')[0]));
      expect(partitionsOf(first).size).toBe(1);
      expect(partitionsOf(second).size).toBe(1);
      expect([...partitionsOf(first)]).not.toEqual([...partitionsOf(second)]);
      const values = [...printed(first), ...printed(second)].map((l) => l.split('\t')[1]).sort();
      expect(values).toEqual([...lines].sort());
      // Describing an active group: committed offsets, lag and the owning member of each partition.
      await waitFor(
        async () => {
          const described = await samsa(['consumer-groups', '--describe', '--group', group]);
          expect(described.code, described.stderr).toBe(0);
          const table = rows(described.stdout, 'GROUP');
          return table.length === 2 && table.every((r) => r[5] === '0' && r[6] !== '-');
        },
        { timeoutMs: 30_000, description: 'both partitions committed, lag 0, owned' },
      );
    } finally {
      await Promise.all([first.stop(), second.stop()]);
    }
  }, 60_000); // two console consumers and a produce, with waits of up to 30 s: 14.4 s at load 13

  it('list, describe, reset-offsets (refused while active), delete', async () => {
    const lines = Array.from({ length: 20 }, (_, i) => `r${i}`);
    const topic = await topicWith(2, lines);
    const group = unique('tool');
    const consumed = await samsa([
      'consume',
      '--topic',
      topic,
      '--group',
      group,
      '--from-beginning',
      '--max-messages',
      '20',
    ]);
    expect(consumed.code, consumed.stderr).toBe(0);
    expect(consumed.stdout.trim().split('\n').sort()).toEqual([...lines].sort());

    const listed = await samsa(['consumer-groups', '--list']);
    expect(listed.stdout.split('\n')).toContain(group);

    const described = await samsa(['consumer-groups', '--describe', '--group', group]);
    expect(described.code, described.stderr).toBe(0);
    const table = rows(described.stdout, 'GROUP');
    expect(table).toHaveLength(2);
    for (const row of table) {
      expect(row.slice(0, 2)).toEqual([group, topic]);
      expect(row[3]).toBe(row[4]); // committed = log end offset
      expect(row[5]).toBe('0'); // lag
    }
    const ends = new Map(table.map((r) => [r[2], Number(r[4])]));

    const state = await samsa(['consumer-groups', '--describe', '--group', group, '--state']);
    expect(rows(state.stdout, 'GROUP')[0]).toContain('Empty');

    const dryRun = await samsa([
      'consumer-groups',
      '--reset-offsets',
      '--group',
      group,
      '--topic',
      topic,
      '--to-earliest',
    ]);
    expect(dryRun.code, dryRun.stderr).toBe(0);
    expect(rows(dryRun.stdout, 'GROUP').map((r) => r[3])).toEqual(['0', '0']);
    expect(dryRun.stdout).toContain('dry run');
    const unchanged = rows((await samsa(['consumer-groups', '--describe', '--group', group])).stdout, 'GROUP');
    expect(unchanged.map((r) => r[5])).toEqual(['0', '0']);

    const executed = await samsa([
      'consumer-groups',
      '--reset-offsets',
      '--group',
      group,
      '--topic',
      `${topic}:0`,
      '--to-earliest',
      '--execute',
    ]);
    expect(executed.code, executed.stderr).toBe(0);
    const afterReset = rows((await samsa(['consumer-groups', '--describe', '--group', group])).stdout, 'GROUP');
    expect(afterReset.find((r) => r[2] === '0')?.[3]).toBe('0');
    expect(afterReset.find((r) => r[2] === '0')?.[5]).toBe(String(ends.get('0')));

    const shifted = await samsa([
      'consumer-groups',
      '--reset-offsets',
      '--group',
      group,
      '--topic',
      `${topic}:0`,
      '--shift-by',
      '2',
      '--execute',
    ]);
    expect(rows(shifted.stdout, 'GROUP')[0]?.[3]).toBe(String(Math.min(2, ends.get('0') as number)));
    const byTime = await samsa([
      'consumer-groups',
      '--reset-offsets',
      '--group',
      group,
      '--all-topics',
      '--to-datetime',
      new Date(Date.now() + 3_600_000).toISOString(),
    ]);
    expect(
      rows(byTime.stdout, 'GROUP')
        .map((r) => r[3])
        .sort(),
    ).toEqual([...ends.values()].map(String).sort());

    // While a member is active, offsets cannot be reset and the group cannot be deleted.
    const active = consoleConsumer(topic, group, 'active');
    try {
      await waitFor(
        async () => {
          const s = await samsa(['consumer-groups', '--describe', '--group', group, '--state']);
          return s.code === 0 && rows(s.stdout, 'GROUP')[0]?.[5] === '1';
        },
        { timeoutMs: 30_000, description: 'one active member' },
      );
      const refused = await samsa([
        'consumer-groups',
        '--reset-offsets',
        '--group',
        group,
        '--topic',
        topic,
        '--to-latest',
        '--execute',
      ]);
      expect(refused.code).toBe(1);
      expect(refused.stderr).toMatch(/inactive/);
      const notDeleted = await samsa(['consumer-groups', '--delete', '--group', group]);
      expect(notDeleted.code).toBe(1);
      expect(notDeleted.stderr).toMatch(/NonEmptyGroup|not empty/);
    } finally {
      await active.stop();
    }
    const deleted = await samsa(['consumer-groups', '--delete', '--group', group]);
    expect(deleted.code, deleted.stderr).toBe(0);
    expect((await samsa(['consumer-groups', '--list'])).stdout.split('\n')).not.toContain(group);
    const gone = await samsa(['consumer-groups', '--describe', '--group', group, '--state']);
    expect(gone.code).toBe(1);
  }, 180_000); // a dozen CLI processes one after another, each a Node start: 76 s alone at load 13

  it('usage errors are one line and exit 2', async () => {
    const none = await samsa(['consumer-groups']);
    expect(none.code).toBe(2);
    const noGroup = await samsa(['consumer-groups', '--describe']);
    expect(noGroup).toMatchObject({ code: 2 });
    const twoTargets = await samsa([
      'consumer-groups',
      '--reset-offsets',
      '--group',
      'g',
      '--topic',
      't',
      '--to-earliest',
      '--to-latest',
    ]);
    expect(twoTargets.code).toBe(2);
    const withPartition = await samsa(['consume', '--topic', 't', '--group', 'g', '--partition', '0']);
    expect(withPartition.code).toBe(2);
  }, 60_000); // four CLI processes one after another: 18.8 s in a full run at load 15
});
