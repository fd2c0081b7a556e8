import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

const src = (name: string, file: string) => fileURLToPath(new URL(`./packages/${name}/src/${file}`, import.meta.url));
const pkg = (name: string) => src(name, 'index.ts');

export default defineConfig({
  resolve: {
    // Unit tests run against sources; spawned processes (integration, chaos) run the built dist/.
    alias: {
      // Subpaths before their package: an alias also matches what starts with its key and a slash.
      '@samsa/protocol/kafka': src('protocol', 'kafka/entry.ts'),
      '@samsa/protocol': pkg('protocol'),
      '@samsa/broker/internal': src('broker', 'internal.ts'),
      '@samsa/broker': pkg('broker'),
      '@samsa/coordinator': pkg('coordinator'),
      '@samsa/client': pkg('client'),
      '@samsa/cli': pkg('cli'),
    },
  },
  test: {
    include: ['packages/*/test/**/*.test.ts', 'test/**/*.test.ts'],
    pool: 'forks',
    // Vitest's default is one worker fewer than the cores: one file at a time on a 2-core machine, where the
    // integration files spend most of their time waiting on processes and timeouts. Two files at once took
    // the suite from 596 s to 562 s with the machine already at load 8-10 from other work (nothing failed).
    maxWorkers: Math.max(availableParallelism(), 2),
    testTimeout: 30_000,
    hookTimeout: 60_000,
    reporters: ['default'],
    // Fails a file that leaves a FileHandle open, with the opener's stack (README, Tests).
    setupFiles: process.env.SAMSA_TRACK_FILE_HANDLES ? ['test/helpers/file-handles.ts'] : [],
  },
});
