/**
 * Every TypeScript block in README.md is cut from a runnable example (scripts/readme-snippets.ts):
 * each is marked with the file it comes from and equals that file's `#region readme` parts now.
 * Fix a failure with `npm run readme` after editing the example (never by editing the README).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readmeBlocks, snippetOf } from '../scripts/readme-snippets.js';

const root = join(import.meta.dirname, '..');
const readme = readFileSync(join(root, 'README.md'), 'utf8');

describe('README code blocks', () => {
  it('every ```ts block is marked with the example it is cut from', () => {
    const tsBlocks = readme.match(/^```ts$/gm)?.length ?? 0;
    expect(tsBlocks).toBeGreaterThan(0);
    expect(readmeBlocks(readme).length).toBe(tsBlocks);
    // Other fences are shell or plain text, never unchecked code in another language tag.
    for (const fence of readme.match(/^```\S+$/gm) ?? []) expect(['```ts', '```sh', '```text']).toContain(fence);
  });

  for (const { file, code } of readmeBlocks(readme)) {
    it(`${file} matches the example`, () => {
      expect(code).toBe(snippetOf(file, root));
    });
  }
});

describe('README claims', () => {
  // Issue #10, defect 10: "a deleted entry always exits 1" was not true of a deleted tail.
  it('says that a deleted tail is found only against a trusted checkpoint or witnesses', () => {
    const row = readme.split('\n').find((l) => l.startsWith('| audit:') && l.includes('exit 1'))!;
    expect(row).toBeDefined();
    expect(row).not.toMatch(/any modified, deleted, inserted/);
    expect(row).toMatch(/deleted \*\*tail\*\*.*--trusted.*witness/);
  });
});
