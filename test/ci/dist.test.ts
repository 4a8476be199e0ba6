/**
 * The built package: ESM and CommonJS consumers can import it through its "exports" map, and
 * the core entry points load no AWS code. Builds dist/ first (tsup, ~5 s).
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';

const root = join(import.meta.dirname, '../..');
const run = (file: string) => execFileSync(process.execPath, [join(root, 'test/ci/dist', file)], { cwd: root, encoding: 'utf8' });

describe('dist/', () => {
  beforeAll(() => {
    // .ci/run (npm run test:ci) builds dist/ first; build here only when it is missing.
    if (!existsSync(join(root, 'dist/index.js'))) execFileSync('npm', ['run', 'build', '--silent'], { cwd: root, stdio: 'pipe' });
  }, 120_000);

  it('imports from ESM', () => {
    expect(run('import-esm.mjs')).toContain('dist ESM import ok');
  });

  it('requires from CommonJS', () => {
    expect(run('import-cjs.cjs')).toContain('dist CJS require ok');
  });

  it('core bundles do not reference @aws-sdk; the aws entry does', () => {
    const files = readdirSync(join(root, 'dist')).filter((f) => /\.(c?js)$/.test(f));
    const withAws = files.filter((f) => readFileSync(join(root, 'dist', f), 'utf8').includes('@aws-sdk/client-kms'));
    // Only the aws entry, its shared chunk and the CLI (which talks to KMS) name the SDK; no core
    // entry imports any of them.
    expect(withAws.every((f) => /^(aws(-[A-Z0-9]+)?|cli)\.c?js$/.test(f)), withAws.join(', ')).toBe(true);
    expect(withAws).toEqual(expect.arrayContaining(['aws.cjs', 'aws.js']));
    for (const core of ['index.js', 'index.cjs', 'index.node.js', 'index.node.cjs']) {
      const text = readFileSync(join(root, 'dist', core), 'utf8');
      for (const chunk of withAws.filter((f) => f.startsWith('aws-'))) expect(text.includes(chunk), `${core} imports ${chunk}`).toBe(false);
    }
  });

  it('ships type declarations for every entry and format', () => {
    const files = readdirSync(join(root, 'dist'));
    for (const e of ['index', 'audit', 'tlog', 'breakglass', 'postgres', 'aws', 'dynamodb']) for (const x of ['.js', '.cjs', '.d.ts', '.d.cts']) expect(files).toContain(e + x);
    for (const e of ['index.node', 'breakglass.node']) for (const x of ['.js', '.cjs']) expect(files).toContain(e + x);
  });
});
