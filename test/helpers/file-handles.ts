/**
 * Opt-in vitest setup file (SAMSA_TRACK_FILE_HANDLES=1, see vitest.config.ts): records where each
 * FileHandle of `fs/promises` open() was opened, and fails a test file that ends with one still open,
 * printing its path, the test that opened it and the opener's stack. Node only says "Closing file
 * descriptor N on garbage collection" (DEP0137), from the collector, long after, with no hint of who
 * opened it. The map holds the handles, so none is collected meanwhile.
 */
import { createRequire, syncBuiltinESMExports } from 'node:module';
import { afterAll, expect } from 'vitest';

interface Opened {
  readonly path: string;
  readonly test: string;
  readonly stack: string;
}

type Open = (path: unknown, ...rest: unknown[]) => Promise<{ close(): Promise<void> }>;

const require = createRequire(import.meta.url);
const fsPromises = require('node:fs/promises') as { open: Open };
const open: Map<object, Opened> = new Map();
const realOpen = fsPromises.open;

fsPromises.open = async (path, ...rest) => {
  const test = expect.getState().currentTestName ?? '(outside a test)';
  const stack = new Error('opened here').stack ?? '';
  const fh = await realOpen(path, ...rest);
  open.set(fh, { path: String(path), test, stack });
  const close = fh.close.bind(fh);
  fh.close = () => {
    open.delete(fh);
    return close();
  };
  return fh;
};
// The ESM bindings of node:fs/promises (what `import { open }` reads) follow the CommonJS exports.
syncBuiltinESMExports();
Error.stackTraceLimit = Math.max(Error.stackTraceLimit, 30);

afterAll(async () => {
  // A close just started by the last test's clean-up gets a moment to finish.
  for (let i = 0; i < 50 && open.size > 0; i++) await new Promise((resolve) => setTimeout(resolve, 20));
  if (open.size === 0) return;
  const report = [...open.values()].map(({ path, test, stack }) => `${path}\n  test: ${test}\n${stack}`);
  open.clear();
  throw new Error(`FileHandles never closed:\n${report.join('\n\n')}`);
});
