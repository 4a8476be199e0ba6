/**
 * Outside review (2026-12-02, round 7, a new user's first hour): the published declarations of
 * `keywarden` and `keywarden/portable` declared `AttachmentReader`, `AttachmentEncryptor` and
 * `AttachmentDecryptor` as values (`declare class` + `export { … }`), while the runtime builds
 * do not export them (the sources export them with `export type`, and the declaration bundle
 * dropped the `type`). A consumer's `import { AttachmentReader } from 'keywarden'` used in
 * `x instanceof AttachmentReader` type-checked under every resolver and then failed at load:
 * "SyntaxError: The requested module 'keywarden' does not provide an export named
 * 'AttachmentReader'" (undefined under `require`).
 *
 * Where: src/envelope-exports.ts (the attachment class re-exports); the bundle is tsup's dts.
 *
 * Now: for every subpath in package.json "exports", under the bundler, node16 and nodenext
 * resolvers from ESM and from CommonJS, the names the declarations export as values are exactly
 * the names the runtime module has (`Object.keys(await import(x))` and `require(x)`). Resolved
 * through the package's own name (self-reference through "exports", as a consumer resolves it).
 * Needs dist/ (`npm run build`; built here when missing).
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import ts from 'typescript';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const root = join(import.meta.dirname, '../..');
const dir = join(root, '.scratch', 'review7-declared-value-exports');
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { name: string; exports: Record<string, unknown> };
const specs = Object.keys(pkg.exports).filter((k) => k !== './package.json').map((k) => (k === '.' ? pkg.name : `${pkg.name}/${k.slice(2)}`));
const require = createRequire(join(root, 'package.json'));

const RESOLVERS = {
  'bundler': { module: ts.ModuleKind.ESNext, moduleResolution: ts.ModuleResolutionKind.Bundler, ext: '.ts' },
  'node16 ESM': { module: ts.ModuleKind.Node16, moduleResolution: ts.ModuleResolutionKind.Node16, ext: '.mts' },
  'node16 CommonJS': { module: ts.ModuleKind.Node16, moduleResolution: ts.ModuleResolutionKind.Node16, ext: '.cts' },
  'nodenext ESM': { module: ts.ModuleKind.NodeNext, moduleResolution: ts.ModuleResolutionKind.NodeNext, ext: '.mts' },
  'nodenext CommonJS': { module: ts.ModuleKind.NodeNext, moduleResolution: ts.ModuleResolutionKind.NodeNext, ext: '.cts' },
} as const;

/** The last program, reused by the next (the declarations are parsed once). */
let previous: ts.Program | undefined;

/** The names each subpath's declarations export as values (classes, functions, constants), per resolver. */
function declaredValues(resolver: keyof typeof RESOLVERS): Map<string, string[]> {
  const r = RESOLVERS[resolver];
  const file = join(dir, `probe-${resolver.replace(/\W+/g, '-')}${r.ext}`);
  writeFileSync(file, specs.map((s, i) => `import * as m${i} from '${s}';\nexport { m${i} };`).join('\n'));
  const program = (previous = ts.createProgram([file], {
    module: r.module, moduleResolution: r.moduleResolution, target: ts.ScriptTarget.ES2022, strict: true, noEmit: true,
    types: ['node'], typeRoots: [join(root, 'node_modules/@types')], skipLibCheck: true,
  }, undefined, previous));
  const checker = program.getTypeChecker();
  const sf = program.getSourceFile(file)!;
  const out = new Map<string, string[]>();
  for (const st of sf.statements) {
    if (!ts.isImportDeclaration(st)) continue;
    const spec = (st.moduleSpecifier as ts.StringLiteral).text;
    const sym = checker.getSymbolAtLocation(st.moduleSpecifier);
    expect(sym, `${resolver}: ${spec} resolves to declarations`).toBeDefined();
    const names = checker.getExportsOfModule(sym!).filter((e) => {
      const target = e.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(e) : e;
      return (target.flags & ts.SymbolFlags.Value) !== 0;
    });
    out.set(spec, names.map((e) => e.name).filter((n) => n !== 'default').sort());
  }
  return out;
}

const runtimeKeys = (m: object) => Object.keys(m).filter((k) => k !== 'default' && k !== '__esModule' && k !== 'module.exports').sort();

beforeAll(() => {
  if (!existsSync(join(root, 'dist/index.js'))) execFileSync('npm', ['run', 'build', '--silent'], { cwd: root, stdio: 'pipe' });
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
}, 300_000);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('declared value exports are the runtime exports, for every subpath', () => {
  it('every subpath is checked', () => {
    expect(specs).toEqual(expect.arrayContaining(['keywarden', 'keywarden/portable', 'keywarden/attachments', 'keywarden/breakglass']));
  });

  it.each(Object.keys(RESOLVERS) as (keyof typeof RESOLVERS)[])('%s', async (resolver) => {
    const declared = declaredValues(resolver);
    const cjs = resolver.endsWith('CommonJS');
    for (const spec of specs) {
      const runtime = runtimeKeys(cjs ? (require(spec) as object) : ((await import(spec)) as object));
      expect(declared.get(spec), `${resolver}: ${spec}`).toEqual(runtime);
    }
  }, 120_000);

  it('the attachment classes are types only: a value use does not type-check', () => {
    const file = join(dir, 'value-use.mts');
    writeFileSync(file, "import { AttachmentReader } from 'keywarden';\nexport const isReader = (x: unknown) => x instanceof AttachmentReader;\n");
    const program = ts.createProgram([file], { module: ts.ModuleKind.NodeNext, moduleResolution: ts.ModuleResolutionKind.NodeNext, strict: true, noEmit: true, types: [], skipLibCheck: true });
    // TS2693: "'AttachmentReader' only refers to a type, but is being used as a value here."
    expect(ts.getPreEmitDiagnostics(program).map((d) => d.code)).toEqual([2693]);
  });
});
