// usage: node stryker/survivor-ranges.mjs reports/by-file/<name>.json
// Prints a Stryker --mutate argument selecting the lines of every surviving or uncovered mutant
// of the report, for a re-check with `--coverageAnalysis off` (each mutant then runs every test
// of the list, not only the tests perTest coverage attributed to it: docs/MUTATION.md).
import { readFileSync } from 'node:fs';

const report = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const ranges = [];
for (const [file, data] of Object.entries(report.files)) {
  const lines = new Map();
  for (const m of data.mutants) {
    if (m.status !== 'Survived' && m.status !== 'NoCoverage') continue;
    const { start, end } = m.location;
    const cur = lines.get(start.line);
    lines.set(start.line, Math.max(cur ?? 0, end.line));
  }
  for (const [from, to] of [...lines].sort((a, b) => a[0] - b[0])) ranges.push(`${file}:${from}:1-${to}:1000`);
}
process.stdout.write(ranges.join(','));
