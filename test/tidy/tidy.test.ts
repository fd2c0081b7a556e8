import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';

const SCRIPT = fileURLToPath(new URL('../../scripts/tidy.mjs', import.meta.url));

let root: string | undefined;
afterEach(() => {
  if (root) rmSync(root, { recursive: true, force: true });
  root = undefined;
});

/** A small repository: two packages (a and b, b exporting an internal entry) plus the given files. */
function tree(files: Record<string, string>): string {
  root = mkdtempSync(join(tmpdir(), 'samsa-tidy-'));
  const manifests = {
    'packages/a/package.json': JSON.stringify({ name: '@samsa/a', exports: { '.': './dist/index.js' } }),
    'packages/b/package.json': JSON.stringify({
      name: '@samsa/b',
      exports: { '.': './dist/index.js', './internal': './dist/internal.js' },
    }),
  };
  for (const [path, text] of Object.entries({ ...manifests, ...files })) {
    mkdirSync(dirname(join(root, path)), { recursive: true });
    writeFileSync(join(root, path), text);
  }
  return root;
}

function tidy(dir: string): { status: number | null; lines: string[] } {
  const run = spawnSync(process.execPath, [SCRIPT, '--root', dir], { encoding: 'utf8' });
  if (run.stderr) throw new Error(run.stderr);
  return { status: run.status, lines: run.stdout.trim().split('\n').filter(Boolean) };
}

describe('scripts/tidy.mjs', () => {
  it('passes a clean tree', () => {
    const dir = tree({
      'packages/a/src/index.ts': "import { b } from '@samsa/b';\nexport const a = b;\n",
      'packages/a/src/core.ts':
        '// tidy: pure\nexport function step(nowMs: number): number {\n  return nowMs + 1;\n}\n',
      'packages/b/test/b.test.ts': "import { x } from '@samsa/b/internal';\nawait Promise.resolve(x);\n",
    });
    expect(tidy(dir)).toEqual({ status: 0, lines: [] });
  });

  it('finds clocks, timers, randomness, await and I/O in pure cores, not in comments or strings', () => {
    const dir = tree({
      'packages/a/src/core.ts': [
        '// tidy: pure',
        "import { readFileSync } from 'node:fs';",
        '// Date.now() in a comment and setTimeout in a string are fine:',
        "export const note = 'setTimeout(Math.random)';",
        'export function step(): number {',
        '  return Date.now() + Math.random();',
        '}',
        'export async function later(): Promise<void> {',
        '  await new Promise((resolve) => setTimeout(resolve, 1));',
        '}',
      ].join('\n'),
      'packages/a/src/driver.ts': 'export const now = (): number => Date.now();\n',
    });
    const { status, lines } = tidy(dir);
    expect(status).toBe(1);
    expect(lines).toEqual([
      'packages/a/src/core.ts:2: pure-core: imports node:fs: I/O comes through the interfaces the driver is given',
      expect.stringMatching(/^packages\/a\/src\/core\.ts:6: pure-core: `Date\.now` reads the clock/),
      expect.stringMatching(/^packages\/a\/src\/core\.ts:6: pure-core: `Math\.random` draws randomness/),
      expect.stringMatching(/^packages\/a\/src\/core\.ts:8: pure-core: `async` is asynchronous/),
      expect.stringMatching(/^packages\/a\/src\/core\.ts:9: pure-core: `setTimeout` sets a timer/),
      expect.stringMatching(/^packages\/a\/src\/core\.ts:9: pure-core: `await` is asynchronous/),
      'tidy: 6 violation(s)',
    ]);
  });

  it('holds the drivers in a listed core directory to the driver rule: they may await', () => {
    const dir = tree({
      'packages/broker/package.json': JSON.stringify({ name: '@samsa/broker' }),
      'packages/broker/src/group/state.ts': 'export async function f(): Promise<number> {\n  return 1;\n}\n',
      'packages/broker/src/group/group-driver.ts': [
        'export async function tick(clock: { now(): number }): Promise<number> {',
        '  await Promise.resolve();',
        '  return clock.now() + Date.now();',
        '}',
      ].join('\n'),
    });
    expect(tidy(dir).lines).toEqual([
      expect.stringMatching(/^packages\/broker\/src\/group\/group-driver\.ts:3: simulated-driver: `Date\.now` reads/),
      expect.stringMatching(/^packages\/broker\/src\/group\/state\.ts:1: pure-core: `async` is asynchronous/),
      'tidy: 2 violation(s)',
    ]);
  });

  it("finds imports of another package's internals", () => {
    const dir = tree({
      'packages/a/src/index.ts': [
        "import { x } from '../../b/src/x.js';",
        "import { y } from '@samsa/b/src/y.js';",
        "import { z } from '@samsa/b/internal';",
        "import { h } from '../test/helper.js';",
        "const lazy = await import('@samsa/b/dist/x.js');",
      ].join('\n'),
      'test/e2e.test.ts': "import { x } from '../packages/b/src/x.js';\nimport { y } from '../packages/b/test/y.js';\n",
    });
    const { status, lines } = tidy(dir);
    expect(status).toBe(1);
    const at = (line: number, why: string) => `packages/a/src/index.ts:${line}: package-internals: imports ${why}`;
    expect(lines).toEqual([
      at(1, '../../b/src/x.js: package sources import only inside src/'),
      at(2, "@samsa/b/src/y.js: not in @samsa/b's package.json exports"),
      at(3, '@samsa/b/internal: internal entries are for tests, not packages'),
      at(4, '../test/helper.js: package sources import only inside src/'),
      at(5, "@samsa/b/dist/x.js: not in @samsa/b's package.json exports"),
      'test/e2e.test.ts:1: package-internals: imports ../packages/b/src/x.js: ' +
        'reach @samsa/b through its exports instead',
      'tidy: 6 violation(s)',
    ]);
  });

  it('finds import cycles and directory cycles within a package (type-only imports too)', () => {
    const dir = tree({
      'packages/a/src/x/one.ts': "import { two } from './two.js';\nexport const one = two;\n",
      'packages/a/src/x/two.ts': "import type { Three } from '../y/three.js';\nexport const two = 2;\n",
      'packages/a/src/y/three.ts': "import { one } from '../x/one.js';\nexport type Three = typeof one;\n",
      'packages/b/src/alone.ts': "import { alone } from './alone.js';\nexport const again = alone;\n",
    });
    const { status, lines } = tidy(dir);
    expect(lines).toEqual([
      'packages/a/src/x/one.ts:1: import-cycle: x/one.ts -> x/two.ts -> y/three.ts -> x/one.ts',
      'packages/a/src/x/two.ts:1: layer-cycle: x -> y -> x ' +
        '(x/two.ts imports y/three.ts; y/three.ts imports x/one.ts)',
      'packages/b/src/alone.ts:1: import-cycle: alone.ts -> alone.ts',
      'tidy: 3 violation(s)',
    ]);
    expect(status).toBe(1);
  });

  it('finds lines past the formatter width in code files only', () => {
    const long = `export const s = '${'x'.repeat(110)}';\n`;
    const dir = tree({ 'scripts/long.mjs': long, 'docs/long.md': long, 'packages/a/dist/long.js': long });
    expect(tidy(dir).lines).toEqual(['scripts/long.mjs:1: line-width: 130 columns, over 120', 'tidy: 1 violation(s)']);
  });
});
