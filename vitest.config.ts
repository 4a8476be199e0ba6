import { defineConfig } from 'vitest/config';

// `npm test`: the developer's loop. The slow suites that need a build (dist/, the built CLI,
// packed-tarball consumers) or run the benchmark live in test/ci/ and run in `.ci/run` through
// vitest.ci.config.ts (`npm run test:ci`).
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    exclude: ['test/ci/**', 'node_modules/**'],
    setupFiles: ['test/support/setup.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
  },
});
