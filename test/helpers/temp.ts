import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface TempDir {
  path: string;
  /** Removes the directory and everything in it; safe to call twice. */
  remove(): void;
}

const live = new Set<string>();
let exitHookInstalled = false;

/**
 * A fresh directory under the OS temp dir, removed by `remove()` or, as a last resort, when the process
 * exits. Set SAMSA_KEEP_TEMP=1 to keep them for a post-mortem.
 */
export function createTempDir(prefix: string): TempDir {
  const path = mkdtempSync(join(tmpdir(), `samsa-${prefix}-`));
  live.add(path);
  installExitHook();
  return {
    path,
    remove() {
      live.delete(path);
      if (process.env.SAMSA_KEEP_TEMP !== '1') rmSync(path, { recursive: true, force: true });
    },
  };
}

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    if (process.env.SAMSA_KEEP_TEMP === '1') return;
    for (const path of live) rmSync(path, { recursive: true, force: true });
  });
}
