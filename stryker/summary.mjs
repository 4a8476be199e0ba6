// node stryker/summary.mjs report.json...: per-file and overall counts and scores from Stryker's
// JSON reports (reports/mutation/mutation.json, or one per file from stryker/run-files.sh),
// as a Markdown table (docs/MUTATION.md).
// Score = Stryker's "mutation score": (killed + timeout) / (killed + timeout + survived + no coverage),
// i.e. a mutant no test reaches counts as survived; ignored mutants and compile or runtime errors
// are left out. "Covered" = the same without the no-coverage mutants (Stryker's "of covered code").
// Where one file appears in several reports, the last report given wins.
import { readFileSync } from 'node:fs';

const STATUSES = ['Killed', 'Timeout', 'Survived', 'NoCoverage', 'Ignored', 'RuntimeError', 'CompileError', 'Pending'];
const files = new Map();
for (const report of process.argv.slice(2).filter((f) => !f.endsWith(".incremental.json"))) {
  const r = JSON.parse(readFileSync(report, 'utf8'));
  for (const [name, file] of Object.entries(r.files)) {
    const c = Object.fromEntries(STATUSES.map((s) => [s, 0]));
    for (const m of file.mutants) c[m.status] = (c[m.status] ?? 0) + 1;
    files.set(name, c);
  }
}
const pct = (n, d) => (d === 0 ? 'n/a' : ((100 * n) / d).toFixed(2));
const score = (c) => pct(c.Killed + c.Timeout, c.Killed + c.Timeout + c.Survived + c.NoCoverage);
const covered = (c) => pct(c.Killed + c.Timeout, c.Killed + c.Timeout + c.Survived);
const total = Object.fromEntries(STATUSES.map((s) => [s, 0]));
console.log('| file | score % | covered % | killed | timeout | survived | no coverage | ignored | errors |');
console.log('|---|---:|---:|---:|---:|---:|---:|---:|---:|');
for (const [name, c] of [...files].sort(([a], [b]) => a.localeCompare(b))) {
  for (const s of STATUSES) total[s] += c[s];
  console.log(`| ${name} | ${score(c)} | ${covered(c)} | ${c.Killed} | ${c.Timeout} | ${c.Survived} | ${c.NoCoverage} | ${c.Ignored} | ${c.RuntimeError + c.CompileError} |`);
}
console.log(`| **all** | **${score(total)}** | ${covered(total)} | ${total.Killed} | ${total.Timeout} | ${total.Survived} | ${total.NoCoverage} | ${total.Ignored} | ${total.RuntimeError + total.CompileError} |`);
