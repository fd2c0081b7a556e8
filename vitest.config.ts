import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

const pkg = (name: string) => fileURLToPath(new URL(`./packages/${name}/src/index.ts`, import.meta.url));

export default defineConfig({
  resolve: {
    // Unit tests run against sources; spawned processes (integration, chaos) run the built dist/.
    alias: {
      '@samsa/protocol': pkg('protocol'),
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
