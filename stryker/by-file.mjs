// stryker/run-files.sh: the main config, with a report and an incremental file per mutated file.
import base from '../stryker.config.mjs';

const name = process.env.MUT_NAME;
if (!name) throw new Error('MUT_NAME is not set (use stryker/run-files.sh)');
export default {
  ...base,
  htmlReporter: { fileName: `reports/by-file/${name}.html` },
  jsonReporter: { fileName: `reports/by-file/${name}.json` },
  incrementalFile: `reports/by-file/${name}.incremental.json`,
};
