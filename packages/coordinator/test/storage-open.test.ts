import type { FileHandle } from 'node:fs/promises';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { TxnLog } from '../src/storage.js';

// Every FileHandle the storage opens, and a switch that makes the directory fsync fail (EIO) once.
const seen = vi.hoisted(() => ({ handles: [] as FileHandle[], failDirSync: false }));
vi.mock('node:fs/promises', async (importOriginal) => {
  const real = await importOriginal<typeof import('node:fs/promises')>();
  const open = async (...args: Parameters<typeof real.open>) => {
    const fh = await real.open(...args);
    seen.handles.push(fh);
    return fh;
  };
  return { ...real, open, default: { ...real, open } };
});
vi.mock('node:fs', async (importOriginal) => {
  const real = await importOriginal<typeof import('node:fs')>();
  const fsyncSync = (fd: number) => {
    if (seen.failDirSync) {
      seen.failDirSync = false;
      throw Object.assign(new Error('EIO: i/o error, fsync'), { code: 'EIO' });
    }
    real.fsyncSync(fd);
  };
  return { ...real, fsyncSync, default: { ...real, fsyncSync } };
});

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

describe('TxnLog.open', () => {
  it('closes the log file it opened when the directory fsync after it fails', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'samsa-coord-open-'));
    dirs.push(dataDir);
    const options = { dataDir, logger: pino({ level: 'silent' }), onDurable: () => {}, onFatal: () => {} };
    seen.failDirSync = true;
    await expect(TxnLog.open(options, 0)).rejects.toThrow(/EIO/);
    expect(seen.handles).toHaveLength(1);
    // A closed FileHandle's fd is -1; an open one would be left to the garbage collector (DEP0137).
    expect(seen.handles[0]!.fd).toBe(-1);
    // The next start opens and closes normally.
    const log = await TxnLog.open(options, 0);
    await log.close();
    expect(seen.handles.every((fh) => fh.fd === -1)).toBe(true);
  });
});
