import type { FileHandle } from 'node:fs/promises';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { openPartitionLog } from '@samsa/broker/internal';
import { KafkaStorageError } from '../../src/storage/errors.js';
import { makeBatch, tempDir } from './helpers.js';

// Every FileHandle the storage opens, and a switch that makes saving the cleaner checkpoint fail (ENOSPC).
const seen = vi.hoisted(() => ({ handles: [] as FileHandle[], failCheckpoint: false }));
vi.mock('node:fs/promises', async (importOriginal) => {
  const real = await importOriginal<typeof import('node:fs/promises')>();
  const open = async (...args: Parameters<typeof real.open>) => {
    const fh = await real.open(...args);
    seen.handles.push(fh);
    return fh;
  };
  return { ...real, open, default: { ...real, open } };
});
vi.mock('../../src/storage/files.js', async (importOriginal) => {
  const real = await importOriginal<typeof import('../../src/storage/files.js')>();
  return {
    ...real,
    writeFileAtomic: async (path: string, data: Buffer | string, dir: string) => {
      if (seen.failCheckpoint && path.endsWith('cleaner-offset-checkpoint'))
        throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
      return real.writeFileAtomic(path, data, dir);
    },
  };
});

describe('PartitionLog.open', () => {
  let dir: { path: string; remove: () => Promise<void> };
  beforeEach(async () => {
    dir = await tempDir();
  });
  afterEach(async () => {
    seen.failCheckpoint = false;
    await dir.remove();
  });

  it('closes the segment files it opened when lowering the cleaner checkpoint fails', async () => {
    const log = await openPartitionLog({ dir: dir.path });
    for (let i = 0; i < 3; i++) await log.append(makeBatch({ count: 2 }));
    await log.close();
    // A checkpoint past the log's end (a crash after a truncation): opening lowers it, a file write.
    await writeFile(join(dir.path, 'cleaner-offset-checkpoint'), '100\n');
    seen.handles.length = 0;
    seen.failCheckpoint = true;
    await expect(openPartitionLog({ dir: dir.path })).rejects.toThrow(KafkaStorageError);
    expect(seen.handles.length).toBeGreaterThan(0);
    // A closed FileHandle's fd is -1; an open one would be left to the garbage collector (DEP0137).
    expect(seen.handles.filter((fh) => fh.fd !== -1)).toEqual([]);
    seen.failCheckpoint = false;
    const reopened = await openPartitionLog({ dir: dir.path });
    expect(reopened.logEndOffset).toBe(6);
    await reopened.close();
  });
});
