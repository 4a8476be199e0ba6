// The mutation run against the whole fast suite (vitest.config.ts) instead of the core's test
// files (vitest.mutation.config.ts). Too slow for every mutant; meant for re-checking survivors:
//   npx stryker run stryker.full.config.mjs --mutate 'src/format/items.ts:40-53'
import base from './stryker.config.mjs';

export default {
  ...base,
  vitest: { configFile: 'vitest.config.ts' },
  htmlReporter: { fileName: 'reports/mutation-full/mutation.html' },
  jsonReporter: { fileName: 'reports/mutation-full/mutation.json' },
  incremental: false,
};
