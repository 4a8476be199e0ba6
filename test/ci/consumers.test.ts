/**
 * Consumer projects built from the packed tarball, as a new user's would be: `npm pack`, install
 * it with the optional peers into a fresh directory, copy the README's examples in, and for each
 * TypeScript resolver a user may have —
 *   esm-node16  ("type": "module",   module/moduleResolution node16),
 *   cjs-node16  ("type": "commonjs", module/moduleResolution node16),
 *   cjs-node10  ("type": "commonjs", module commonjs: TypeScript's classic node10 resolution),
 *   bundler     (moduleResolution bundler, then bundled by esbuild)
 * — type-check the examples against the installed declarations and run them. Needs dist/
 * (`npm run build`) and the npm cache that `npm ci` filled (installs prefer it).
 */
import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EXAMPLES, type ExampleEnv, exampleEnv, run } from '../support/examples.js';

const root = join(import.meta.dirname, '../..');
const version = (pkg: string) => (JSON.parse(readFileSync(join(root, 'node_modules', pkg, 'package.json'), 'utf8')) as { version: string }).version;
const work = mkdtempSync(join(tmpdir(), 'keywarden-consumers-'));
let ctx: ExampleEnv;

const common = { strict: true, target: 'ES2022', lib: ['ES2022'], types: ['node'], skipLibCheck: false, outDir: 'dist', rootDir: 'src' };
const PROJECTS = {
  'esm-node16': { type: 'module', compilerOptions: { ...common, module: 'node16', moduleResolution: 'node16' } },
  'cjs-node16': { type: 'commonjs', compilerOptions: { ...common, module: 'node16', moduleResolution: 'node16', esModuleInterop: true } },
  'cjs-node10': { type: 'commonjs', compilerOptions: { ...common, module: 'commonjs', moduleResolution: 'node10', esModuleInterop: true } },
  bundler: { type: 'module', compilerOptions: { ...common, module: 'esnext', moduleResolution: 'bundler', noEmit: true } },
} as const;

beforeAll(async () => {
  if (!existsSync(join(root, 'dist/index.js'))) execFileSync('npm', ['run', 'build', '--silent'], { cwd: root, stdio: 'pipe' });
  const tgz = execFileSync('npm', ['pack', '--silent', '--pack-destination', work], { cwd: root, encoding: 'utf8' }).trim().split('\n').pop()!;
  // One install for every project (they sit below it and resolve from its node_modules).
  writeFileSync(
    join(work, 'package.json'),
    JSON.stringify({
      name: 'keywarden-consumers',
      private: true,
      dependencies: {
        keywarden: `file:./${tgz}`,
        pg: version('pg'),
        '@aws-sdk/client-kms': version('@aws-sdk/client-kms'),
        typescript: version('typescript'),
        '@types/node': version('@types/node'),
        '@types/pg': version('@types/pg'),
      },
    }),
  );
  execFileSync('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', '--ignore-scripts', '--loglevel=error'], { cwd: work, stdio: 'pipe' });
  for (const [name, p] of Object.entries(PROJECTS)) {
    const dir = join(work, name);
    mkdirSync(join(dir, 'src'), { recursive: true });
    writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: `consumer-${name}`, private: true, type: p.type }));
    writeFileSync(join(dir, 'tsconfig.json'), JSON.stringify({ compilerOptions: p.compilerOptions, include: ['src'] }, null, 2));
    for (const ex of EXAMPLES) copyFileSync(join(root, 'examples', ex.file), join(dir, 'src', ex.file));
  }
  ctx = await exampleEnv();
}, 600_000);

afterAll(async () => {
  await ctx?.close();
  rmSync(work, { recursive: true, force: true });
});

const tsc = () => join(work, 'node_modules/.bin/tsc');

describe('consumer projects from the packed tarball', () => {
  it('the tarball holds dist, docs and licence, and no tests or sources', () => {
    const listing = execFileSync('tar', ['-tzf', readdirSync(work).find((f) => f.endsWith('.tgz'))!], { cwd: work, encoding: 'utf8' });
    expect(listing).toContain('package/dist/index.d.ts');
    expect(listing).toContain('package/LICENSE');
    expect(listing).not.toMatch(/package\/(test|src)\//);
  });

  for (const name of Object.keys(PROJECTS) as (keyof typeof PROJECTS)[]) {
    describe(name, () => {
      it('type-checks (and compiles) the README examples against the installed declarations', () => {
        const r = (() => {
          try {
            return { code: 0, out: execFileSync(tsc(), ['-p', '.'], { cwd: join(work, name), encoding: 'utf8' }) };
          } catch (e) {
            return { code: 1, out: `${(e as { stdout?: string }).stdout ?? ''}${(e as { stderr?: string }).stderr ?? ''}` };
          }
        })();
        expect(r.out).toBe('');
        expect(r.code).toBe(0);
        if (name === 'bundler') {
          // Bundle each example as a bundler would (resolving keywarden through its "exports").
          for (const ex of EXAMPLES) {
            execFileSync(join(root, 'node_modules/.bin/esbuild'), [
              `src/${ex.file}`, '--bundle', '--platform=node', '--format=esm', '--log-level=error',
              '--external:pg', '--external:@aws-sdk/*', `--outfile=dist/${ex.file.replace(/\.ts$/, '.mjs')}`,
            ], { cwd: join(work, name) });
          }
        }
      }, 300_000);

      for (const ex of EXAMPLES) {
        it.skipIf(ex.postgres && !process.env.DATABASE_URL)(`runs ${ex.file}`, async () => {
          const file = join('dist', ex.file.replace(/\.ts$/, name === 'bundler' ? '.mjs' : '.js'));
          const r = await run(process.execPath, [file], { cwd: join(work, name), env: { ...ctx.env, KEYWARDEN_SCHEMA: ctx.schema(name) } });
          expect(r.code, `${r.out}\n${r.err}`).toBe(0);
          expect(r.out).toContain(`${ex.file.replace(/\.ts$/, '')} ok`);
        });
      }
    });
  }
});
