/**
 * Every example under examples/ runs as written (the README's snippets are cut from them, see
 * test/readme.test.ts), importing the package by its own name: here through tsconfig `paths`
 * (the sources), and from the packed tarball in test/ci/consumers.test.ts. The PostgreSQL example
 * needs a server (DATABASE_URL, which .ci/run always sets).
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EXAMPLES, type ExampleEnv, exampleEnv, run } from '../support/examples.js';

const root = join(import.meta.dirname, '../..');
const tsx = join(root, 'node_modules/.bin/tsx');
let ctx: ExampleEnv;

beforeAll(async () => {
  ctx = await exampleEnv();
});
afterAll(async () => {
  await ctx?.close();
});

describe('examples/', () => {
  it('.ci/run provides a PostgreSQL server for the PostgreSQL example', () => {
    if (process.env.KEYWARDEN_CI === '1') expect(process.env.DATABASE_URL, 'DATABASE_URL must be set in CI').toBeTruthy();
  });

  for (const ex of EXAMPLES) {
    it.skipIf(ex.postgres && !process.env.DATABASE_URL)(`${ex.file} runs and reports ok`, async () => {
      const r = await run(tsx, [join('examples', ex.file)], { cwd: root, env: { ...ctx.env, KEYWARDEN_SCHEMA: ctx.schema('examples') } });
      expect(r.code, `${r.out}\n${r.err}`).toBe(0);
      expect(r.out).toContain(`${ex.file.replace(/\.ts$/, '')} ok`);
      if (ex.file === 'aws-kms.ts') expect(ctx.kms.calls.GenerateDataKey ?? 0).toBeGreaterThan(0); // it really used KMS
    });
  }
});
