// Mutation testing of the core (issue #11): `npm run mutation`. Not run in CI (hours on 2 cores).
// Reports: reports/mutation/ (mutation.html, mutation.json); the incremental file there lets a
// re-run reuse the results of mutants whose code and covering tests did not change
// (`npm run mutation -- --force` for a full run).
/** @type {import('@stryker-mutator/api/core').PartialStrykerOptions} */
export default {
  testRunner: 'vitest',
  vitest: { configFile: 'vitest.mutation.config.ts' },
  coverageAnalysis: 'perTest',
  appendPlugins: ['./stryker/ignore-error-messages.mjs'],
  ignorers: ['error-message'],
  mutate: [
    'src/format/**/*.ts',
    'src/aead/**/*.ts',
    'src/keys/**/*.ts',
    'src/breakglass/token.ts',
    'src/breakglass/policy.ts',
    'src/audit/merkle.ts',
    // Type-only: nothing to mutate.
    '!src/aead/types.ts',
  ],
  // Mutants hit outside any test (module load, beforeAll) would each re-run every related test
  // file (~590 of them, ~90% of the time). Those also hit inside tests run with just those tests;
  // the few hit only at load time are reported as Ignored (see issue #11's report for them).
  ignoreStatic: true,
  // One core: the machine has two and the other one is someone else's.
  concurrency: 1,
  timeoutMS: 10_000,
  timeoutFactor: 2,
  reporters: ['clear-text', 'progress', 'html', 'json'],
  htmlReporter: { fileName: 'reports/mutation/mutation.html' },
  jsonReporter: { fileName: 'reports/mutation/mutation.json' },
  incremental: true,
  incrementalFile: 'reports/mutation/stryker-incremental.json',
  tempDirName: '.stryker-tmp',
  cleanTempDir: true,
};
