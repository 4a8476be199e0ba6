import { defineConfig } from 'vitest/config';

// `npm run test:ci` (after `npm run build`): suites that need dist/ or take minutes — the built
// package and CLI, consumer projects from the packed tarball, the benchmark's smoke run.
export default defineConfig({
  test: {
    include: ['test/ci/**/*.test.ts'],
    setupFiles: ['test/support/setup.ts'],
    testTimeout: 300_000,
    hookTimeout: 300_000,
    pool: 'forks',
    // One file at a time: each spawns its own processes (builds, npm, benchmark).
    fileParallelism: false,
  },
});
