/**
 * Each README code block compiles on its own, as a user who pastes it into a fresh ES module
 * would have it: every name it uses is defined in the block or imported by it (the 0.1 README's
 * snippets used `signerKey`, `masterKey`, `keyStore`, … without defining them). Type-checked
 * against the sources through the package's own name (tsconfig `paths`).
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { readmeBlocks } from '../../scripts/readme-snippets.js';

const root = join(import.meta.dirname, '../..');
const dir = join(root, '.scratch', 'readme-snippets');

afterAll(() => rmSync(dir, { recursive: true, force: true }));

it('every README block type-checks standalone', () => {
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const blocks = readmeBlocks(readFileSync(join(root, 'README.md'), 'utf8'));
  const files = blocks.map((b, i) => {
    const name = `snippet-${i}-${b.file.replace(/[^\w]+/g, '-')}.ts`;
    // `export {}` makes each block a module (top-level await allowed, no shared globals).
    writeFileSync(join(dir, name), `${b.code}\nexport {};\n`);
    return name;
  });
  writeFileSync(
    join(dir, 'tsconfig.json'),
    JSON.stringify({ extends: '../../tsconfig.json', compilerOptions: { noEmit: true, rootDir: '../..', noUnusedLocals: false }, include: files }),
  );
  let out = '';
  try {
    execFileSync(join(root, 'node_modules/.bin/tsc'), ['-p', dir], { encoding: 'utf8' });
  } catch (e) {
    out = `${(e as { stdout?: string }).stdout ?? ''}`;
  }
  expect(out).toBe('');
  expect(files.length).toBe(blocks.length);
});
