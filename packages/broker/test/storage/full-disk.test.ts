/**
 * The partition log on a real full filesystem (a 4 MB tmpfs; needs root for `mount`, skipped with a
 * notice otherwise): an append that meets ENOSPC takes the log offline with an I/O error the broker
 * can retry on (`ioErrorCode`) and calls `onOffline` once; closed, it releases its files; reopened
 * once there is room, it holds every acknowledged batch and takes appends again.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, unlinkSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { KafkaStorageError, openPartitionLog } from '../../src/storage/index.js';
import { makeBatch } from './helpers.js';

const temp = mkdtempSync(join(tmpdir(), 'samsa-full-disk-'));
const mountPoint = join(temp, 'fs');
const mounted = (() => {
  mkdirSync(mountPoint, { recursive: true });
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=4m', 'tmpfs', mountPoint], { stdio: 'pipe' });
    return true;
  } catch (err) {
    console.warn(`full-disk storage tests SKIPPED: cannot mount a tmpfs (needs root): ${(err as Error).message}`);
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

/** Larger than a page: no room for it in the last page of a file once the filesystem is full. */
const batch = (i: number): Buffer => makeBatch({ valueSize: 8192, fill: 0x61 + i });

describe.skipIf(!mounted)('partition log on a full filesystem', () => {
  it('goes offline on ENOSPC, calls onOffline once, closes, reopens with every batch', async () => {
    const dir = join(mountPoint, 't-0');
    const failures: KafkaStorageError[] = [];
    const log = await openPartitionLog({ dir, onOffline: (e) => failures.push(e) });
    for (let i = 0; i < 10; i++) await log.append(batch(i));
    const filler = join(mountPoint, 'filler');
    await fill(filler);
    const refused = await log.append(batch(10)).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(KafkaStorageError);
    expect((refused as KafkaStorageError).ioErrorCode).toBe('ENOSPC');
    expect(log.state).toBe('offline');
    expect(failures).toHaveLength(1);
    await expect(log.append(batch(11))).rejects.toBeInstanceOf(KafkaStorageError);
    expect(failures).toHaveLength(1);

    // Closing an offline log releases its files.
    const before = openFds();
    await log.close();
    expect(openFds()).toBeLessThan(before);
    unlinkSync(filler);
    const reopened = await openPartitionLog({ dir });
    expect(reopened.state).toBe('online');
    expect(reopened.logEndOffset).toBe(10);
    await reopened.append(batch(12));
    await reopened.close();
  });
});
