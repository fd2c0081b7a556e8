import { mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { LogSegment } from '../../src/storage/segment.js';

let dir: string | undefined;
afterEach(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
  dir = undefined;
});

describe('LogSegment.handle', () => {
  it('opens the file again after a failed open (the failure is not kept)', async () => {
    dir = await mkdtemp(join(tmpdir(), 'samsa-segment-handle-'));
    const segment = new LogSegment(dir, 0, Date.now());
    // The file is missing for a moment (as an open failing with EMFILE would fail for a moment).
    await expect(segment.handle()).rejects.toThrow(/ENOENT/);
    await writeFile(join(dir, 'elsewhere.log'), '');
    await rename(join(dir, 'elsewhere.log'), segment.paths.log);
    const fh = await segment.handle();
    expect(fh).toBe(segment.fh);
    await segment.retire();
  });
});
