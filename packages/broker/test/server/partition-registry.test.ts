import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { encodeBatch } from '@samsa/protocol';
import type { RoleChange } from '../../src/cluster/metadata.js';
import { BROKER_SETTINGS, resolveSettings } from '../../src/config.js';
import { DelayedOperations } from '../../src/server/delayed.js';
import { PARTITION_METADATA_FILE, parsePartitionMetadata } from '../../src/server/partition-metadata.js';
import { LeaderEpochCache, saveEpochCache } from '../../src/replication/index.js';
import { PartitionRegistry } from '../../src/server/partitions.js';

function registry(logDir: string, settings: Record<string, string> = {}): PartitionRegistry {
  return new PartitionRegistry({
    brokerId: 1,
    logDir,
    brokerSettings: resolveSettings(BROKER_SETTINGS, { 'broker.id': '1', ...settings }),
    topicConfigs: () => ({}),
    waiters: new DelayedOperations(),
    hooks: {
      // Takes the role without replicating: these tests are about the logs the registry keeps.
      applyRole: async (hosted, change) => {
        const same = hosted.role === change.kind && hosted.leaderEpoch === change.leaderEpoch;
        Object.assign(hosted, { role: change.kind, leaderEpoch: change.leaderEpoch, leader: change.leader });
        return !same;
      },
      stepDown: () => {},
    },
    registrationZxid: () => '0000000000000001',
    currentRole: () => undefined,
    reportOffline: async () => {},
    logger: pino({ level: 'silent' }),
  });
}

const follow = (topicId: string): RoleChange => ({
  kind: 'follower',
  topic: 't',
  partition: 0,
  leader: 2,
  leaderEpoch: 0,
  isr: [2, 1],
  replicas: [2, 1],
  stateMzxid: '0000000000000002',
  topicId,
});

describe('PartitionRegistry: topic ids and saved high watermarks', () => {
  const dirs: string[] = [];
  afterEach(async () => {
    await Promise.all(dirs.splice(0).map((d) => rm(d, { recursive: true, force: true })));
  });

  it('records the topic id in partition.metadata; keeps the log for the same creation, not another', async () => {
    const logDir = await mkdtemp(join(tmpdir(), 'samsa-registry-'));
    dirs.push(logDir);
    const first = registry(logDir);
    await first.applyRoles([follow('00000000000000a1')]);
    const hosted = first.get('t', 0)!;
    expect(hosted.topicId).toBe('00000000000000a1');
    const batch = encodeBatch([{ key: null, value: Buffer.from('old'), headers: [] }], {
      baseOffset: 0,
      now: Date.now(),
    });
    await hosted.log.appendAsFollower(batch);
    await first.close();
    // Closing saves the high watermarks (a follower that never heard from its leader: 0).
    expect(await readFile(join(logDir, 'replication-offset-checkpoint'), 'utf8')).toBe('0\n1\nt 0 0\n');
    const marker = await readFile(join(logDir, 't-0', PARTITION_METADATA_FILE), 'utf8');
    expect(marker).toBe('version: 0\ntopic_id: 00000000000000a1\n');

    // Same creation: the records stay.
    const same = registry(logDir);
    await same.applyRoles([follow('00000000000000a1')]);
    expect(same.get('t', 0)!.log.logEndOffset).toBe(1);
    await same.close();

    // Deleted and created again while this broker was away: the old records go.
    const other = registry(logDir);
    await other.applyRoles([follow('00000000000000b2')]);
    expect(other.get('t', 0)!.log.logEndOffset).toBe(0);
    expect(other.get('t', 0)!.topicId).toBe('00000000000000b2');
    await other.close();
    expect(parsePartitionMetadata(await readFile(join(logDir, 't-0', PARTITION_METADATA_FILE), 'utf8'))).toBe(
      '00000000000000b2',
    );
  });

  it('trims a saved epoch cache to the log at open: a reset whose cleared cache a crash lost keeps one', async () => {
    const logDir = await mkdtemp(join(tmpdir(), 'samsa-registry-'));
    dirs.push(logDir);
    const first = registry(logDir);
    await first.applyRoles([follow('00000000000000a1')]);
    const hosted = first.get('t', 0)!;
    for (const baseOffset of [0, 1])
      await hosted.log.appendAsFollower(
        encodeBatch([{ key: null, value: Buffer.from('old'), headers: [] }], { baseOffset, now: Date.now() }),
      );
    await saveEpochCache(
      join(logDir, 't-0'),
      new LeaderEpochCache([
        { epoch: 1, startOffset: 0 },
        { epoch: 3, startOffset: 1 },
      ]),
    );
    // A follower behind its leader's start: the log restarts at 200, and the process dies before
    // the cleared cache is saved (FollowerDriver saves it after the reset, as Kafka does).
    await hosted.log.resetTo(200);
    await first.close();
    const again = registry(logDir);
    await again.applyRoles([follow('00000000000000a1')]);
    const reopened = again.get('t', 0)!;
    expect(reopened.log.logEndOffset).toBe(200);
    // The old log's last epoch clamped to the start, as Kafka's loader keeps it: the history the empty log
    // states, which its leader checks (and resets it again if older than its own, rule 10).
    expect(reopened.epochCache.epochEntries).toEqual([{ epoch: 3, startOffset: 200 }]);
    await again.close();
  });

  it('reads only its own format', () => {
    expect(parsePartitionMetadata('version: 0\ntopic_id: abc\n')).toBe('abc');
    expect(parsePartitionMetadata('version: 1\ntopic_id: abc\n')).toBeUndefined();
    expect(parsePartitionMetadata('version: 0\n')).toBeUndefined();
    expect(parsePartitionMetadata('\u0000garbage')).toBeUndefined();
  });
});

describe("PartitionRegistry: the log cleaner's I/O budget", () => {
  it('adapts when its budget is left unset, and is a hard cap when set, even to the default', async () => {
    const key = 'log.cleaner.io.max.bytes.per.second';
    const logDir = await mkdtemp(join(tmpdir(), 'samsa-registry-'));
    try {
      expect(registry(logDir).cleaner.budgetAdapts).toBe(true);
      expect(registry(logDir, { [key]: '31457280' }).cleaner.budgetAdapts).toBe(false);
      expect(registry(logDir, { [key]: '1.7976931348623157E308' }).cleaner.budgetAdapts).toBe(false);
    } finally {
      await rm(logDir, { recursive: true, force: true });
    }
  });
});
