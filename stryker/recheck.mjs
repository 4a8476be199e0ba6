// Re-check of survivors (docs/MUTATION.md): the per-file config with coverage analysis off, so
// each selected mutant runs every test of the list. Select the mutants with
// `--mutate "$(node stryker/survivor-ranges.mjs reports/by-file/<name>.json)"`.
import byFile from './by-file.mjs';

export default { ...byFile, coverageAnalysis: 'off', ignoreStatic: false };
