/**
 * The partition registry on a real full filesystem (a 4 MB tmpfs; needs root for `mount`, skipped
 * with a notice otherwise): a role that cannot be applied on the full disk (a topic created meanwhile)
 * leaves no file handle to the garbage collector, takes the partition offline and reports it; a log
 * that fails under appends is closed and reported; once there is room both are reopened by the
 * recovery tick with the role metadata gives them now, and reported back online.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, unlinkSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import { ErrorCodes } from '@samsa/protocol';
import type { RoleChange } from '../../src/cluster/metadata.js';
import { BROKER_SETTINGS, resolveSettings } from '../../src/config.js';
import { DelayedOperations } from '../../src/server/delayed.js';
import { PartitionRegistry, type ReplicaRole } from '../../src/server/partitions.js';
import { makeBatch } from '../storage/helpers.js';

const temp = mkdtempSync(join(tmpdir(), 'samsa-offline-'));
const mountPoint = join(temp, 'fs');
const mounted = (() => {
  mkdirSync(mountPoint, { recursive: true });
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=4m', 'tmpfs', mountPoint], { stdio: 'pipe' });
    return true;
  } catch (err) {
    console.warn(`offline-partition tests SKIPPED: cannot mount a tmpfs (needs root): ${(err as Error).message}`);
    return false;
  }
})();

afterAll(() => {
  if (mounted) execFileSync('umount', ['-l', mountPoint]);
  rmSync(temp, { recursive: true, force: true });
});

const openFds = (): number => readdirSync('/proc/self/fd').length;

async function fill(path: string): Promise<void> {
  const fh = await open(path, 'w');
  try {
    for (const size of [256 * 1024, 512]) {
      try {
        for (;;) await fh.appendFile(Buffer.alloc(size, 1));
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOSPC') throw err;
      }
    }
  } finally {
    await fh.close();
  }
}

const lead = (topic: string): ReplicaRole => ({
  kind: 'leader',
  topic,
  partition: 0,
  leader: 1,
  leaderEpoch: 0,
  isr: [1],
  replicas: [1],
  stateMzxid: '0000000000000002',
  topicId: `id-${topic}`,
});

async function until(condition: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe.skipIf(!mounted)('PartitionRegistry on a full disk', () => {
  it('takes partitions offline, reports them, leaks no handle, and reopens them when there is room', async () => {
    const logDir = join(mountPoint, 'data');
    mkdirSync(logDir);
    const reports: string[][] = [];
    const roles = new Map<string, ReplicaRole>();
    const registry = new PartitionRegistry({
      brokerId: 1,
      logDir,
      brokerSettings: resolveSettings(BROKER_SETTINGS, {
        'broker.id': '1',
        'log.offline.retry.backoff.ms': '50',
        'log.offline.retry.backoff.max.ms': '200',
      }),
      topicConfigs: () => ({}),
      waiters: new DelayedOperations(),
      hooks: {
        applyRole: async (hosted, change) => {
          Object.assign(hosted, { role: change.kind, leaderEpoch: change.leaderEpoch, leader: change.leader });
          return true;
        },
        stepDown: () => {},
      },
      registrationZxid: () => '0000000000000001',
      currentRole: (topic) => roles.get(topic),
      reportOffline: async (partitions) => {
        reports.push(partitions.map((p) => `${p.topic}-${p.partition}`).sort());
      },
      logger: pino({ level: 'silent' }),
    });
    const apply = (topic: string): Promise<void> => {
      roles.set(topic, lead(topic));
      return registry.applyRoles([lead(topic) as RoleChange]);
    };
    await apply('busy');
    const busy = registry.get('busy', 0)!;
    for (let i = 0; i < 5; i++) await busy.log.append(makeBatch({ valueSize: 8192 }), { leaderEpoch: 0 });

    const filler = join(mountPoint, 'filler');
    await fill(filler);

    // A topic created while the disk is full: its log opens, but partition.metadata cannot be written.
    const before = openFds();
    await apply('created');
    expect(openFds()).toBe(before);
    expect(registry.offlinePartitions()).toEqual(['created-0']);
    expect(() => registry.leaderOf('created', 0, true)).toThrow(
      expect.objectContaining({ code: ErrorCodes.KAFKA_STORAGE_ERROR.code }),
    );

    // The busy log fails on its next append: closed, offline, reported.
    await expect(busy.log.append(makeBatch({ valueSize: 8192 }), { leaderEpoch: 0 })).rejects.toMatchObject({
      code: ErrorCodes.KAFKA_STORAGE_ERROR.code,
    });
    await until(() => registry.offlinePartitions().length === 2, 'the busy log offline');
    expect(busy.log.state).toBe('closed');
    expect(reports.at(-1)).toEqual(['busy-0', 'created-0']);

    registry.startOfflineRecovery();
    unlinkSync(filler);
    await until(() => registry.offlinePartitions().length === 0, 'both logs back');
    await until(() => reports.at(-1)?.length === 0, 'the empty set reported');
    // The controller hears first, then each role is applied again (3a9605e): wait for both.
    await until(
      () => registry.get('busy', 0) !== undefined && registry.get('created', 0) !== undefined,
      'both partitions hosted again',
    );
    const back = registry.get('busy', 0)!;
    expect(back.role).toBe('leader');
    expect(back.log.logEndOffset).toBe(5);
    await back.log.append(makeBatch(), { leaderEpoch: 0 });
    expect(registry.get('created', 0)!.log.state).toBe('online');
    await registry.close();
  });
});
