// usage: KEYWARDEN_MUT_TESTS=<tests> [KEYWARDEN_MUT_LINES=from-to] node stryker/recheck-by-hand.mjs reports/by-file/<name>.json
//
// Re-checks every surviving or uncovered mutant of a Stryker report outside Stryker: writes the
// mutated source file (the report's own source with the mutant's replacement, so the file must
// be unchanged since the run), runs `vitest run -c vitest.mutation.config.ts` with the same test
// list, and restores the file. A failing run (or one over 3 minutes) kills the mutant. Writes
// reports/by-file/<name>-merged.json (the report with those statuses; stryker/summary.mjs reads
// it) and prints the mutants that still survive: a second opinion on Stryker's perTest coverage,
// and the way to check a survivor against a wider test list (docs/MUTATION.md).
// Run it in a checkout nothing else writes to (it edits the file in place while it runs).
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';

const path = process.argv[2];
const report = JSON.parse(readFileSync(path, 'utf8'));
let killed = 0;
const survivors = [];
for (const [file, data] of Object.entries(report.files)) {
  const current = readFileSync(file, 'utf8');
  if (current !== data.source) throw new Error(`${file} changed since the Stryker run: check out the commit it ran on`);
  const lines = data.source.split('\n');
  const offset = (p) => lines.slice(0, p.line - 1).reduce((a, l) => a + l.length + 1, 0) + p.column - 1;
  // KEYWARDEN_MUT_LINES=from-to re-checks only the survivors starting on those lines.
  const [lo, hi] = (process.env.KEYWARDEN_MUT_LINES ?? '1-1e9').split('-').map(Number);
  const todo = data.mutants.filter((m) => (m.status === 'Survived' || m.status === 'NoCoverage') && m.location.start.line >= lo && m.location.start.line <= hi);
  let n = 0;
  try {
    for (const m of todo) {
      n++;
      const from = offset(m.location.start);
      const to = offset(m.location.end);
      writeFileSync(file, data.source.slice(0, from) + m.replacement + data.source.slice(to));
      const t0 = Date.now();
      const run = spawnSync('npx', ['vitest', 'run', '-c', 'vitest.mutation.config.ts', '--bail=1', '--reporter=dot'], { encoding: 'utf8', timeout: 180_000, env: process.env });
      const outcome = run.status === 0 ? 'Survived' : run.error || run.signal ? 'Timeout' : 'Killed';
      process.stderr.write(`${n}/${todo.length} ${m.location.start.line}:${m.location.start.column} ${m.mutatorName} ${outcome} (${Date.now() - t0} ms)\n`);
      if (outcome === 'Survived') {
        survivors.push(`${m.location.start.line}:${m.location.start.column} ${m.mutatorName} | ${lines[m.location.start.line - 1].trim().slice(0, 90)} => ${String(m.replacement).replace(/\s+/g, ' ').slice(0, 60)}`);
        continue;
      }
      m.status = outcome;
      m.statusReason = 'killed when applied by hand (stryker/recheck-by-hand.mjs)';
      killed++;
    }
  } finally {
    writeFileSync(file, data.source);
  }
}
writeFileSync(path.replace(/\.json$/, '-merged.json'), JSON.stringify(report));
console.log(survivors.join('\n'));
console.error(`${killed} killed by hand; ${survivors.length} survive`);
