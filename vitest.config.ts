import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

const src = (name: string, file: string) => fileURLToPath(new URL(`./packages/${name}/src/${file}`, import.meta.url));
const pkg = (name: string) => src(name, 'index.ts');

export default defineConfig({
  resolve: {
    // Unit tests run against sources; spawned processes (integration, chaos) run the built dist/.
    alias: {
      '@samsa/protocol': pkg('protocol'),
      // Subpaths before their package: an alias also matches what starts with its key and a slash.
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
    testTimeout: 30_000,
    hookTimeout: 60_000,
    reporters: ['default'],
  },
});
