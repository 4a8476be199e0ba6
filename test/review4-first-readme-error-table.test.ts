/**
 * Outside review (2026-12-02, a new user's first hour): the README's "Errors" section says
 * "Every error keywarden throws is a `KeywardenError` with a stable `code`" and gives the table
 * a caller writes its `switch (err.code)` from, but the table had no row for four of the
 * exported error classes: `KeyShreddedError` (`ERR_KEY_SHREDDED` — what every decrypt of a
 * shredded or retired key version throws, and what the README's own key-lifecycle example
 * catches), `AbortedError` (`ERR_ABORTED`, from any call given an AbortSignal), `NoteError`
 * (`ERR_NOTE_*`, `ERR_CHECKPOINT_*`, `ERR_PROOF_MALFORMED` from `keywarden/tlog` and proofs) and
 * `InternalError` (`ERR_INTERNAL`).
 *
 * Now: every code of every error class the package exports has a row in the README's error
 * table (a row may cover a family with a wildcard, `ERR_BG_*`), next to its class.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import * as root from '../src/node.js';

const readme = readFileSync(join(import.meta.dirname, '..', 'README.md'), 'utf8');

/** The rows of the table under "## Errors" whose first column is a code. */
function errorRows(): { codes: string[]; cls: string }[] {
  const start = readme.indexOf('\n## Errors\n');
  expect(start).toBeGreaterThan(0);
  const end = readme.indexOf('\n## ', start + 1);
  return readme
    .slice(start, end)
    .split('\n')
    .filter((l) => /^\| `ERR_/.test(l))
    .map((l) => {
      const [codes = '', cls = ''] = l.split('|').slice(1).map((c) => c.trim());
      return { codes: [...codes.matchAll(/`(ERR_[A-Z_*]+)`/g)].map((m) => m[1]!), cls };
    });
}

const classes = Object.entries(root)
  .filter(([, v]) => typeof v === 'function' && (v as { prototype?: unknown }).prototype instanceof root.KeywardenError)
  .map(([name, v]) => ({ name, codes: (v as unknown as { codes: readonly string[] }).codes }));

const matches = (pattern: string, code: string) => (pattern.endsWith('*') ? code.startsWith(pattern.slice(0, -1)) : pattern === code);

describe("README's error table covers every error class and code", () => {
  it('the classes include KeyShreddedError, AbortedError, NoteError and InternalError', () => {
    expect(classes.map((c) => c.name)).toEqual(expect.arrayContaining(['KeyShreddedError', 'AbortedError', 'NoteError', 'InternalError']));
  });

  it.each(classes.flatMap((c) => c.codes.map((code) => ({ cls: c.name, code }))))('$code ($cls)', ({ cls, code }) => {
    const row = errorRows().find((r) => r.codes.some((p) => matches(p, code)));
    expect(row, `no row for ${code} in the README's error table`).toBeDefined();
    expect(row!.cls).toContain(`\`${cls}\``);
  });
});
