/**
 * README code blocks are cut from runnable files under examples/: every ```ts block in README.md
 * is preceded by `<!-- example: examples/NAME.ts -->` (or `…/NAME.ts#PART`) and holds that
 * file's `// #region readme` (or `// #region readme:PART`) parts, dedented and joined by a blank
 * line. Each block is a whole program or module on its own: test/ci/readme-snippets.test.ts
 * type-checks every block alone, as a user pasting it would. `npm run readme` rewrites the blocks
 * from the files; test/readme.test.ts fails when they disagree.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const MARKER = /<!-- example: (examples\/[\w.-]+\.ts(?:#[\w-]+)?) -->\n```ts\n([\s\S]*?)```\n/g;

/** The `// #region readme[:part]` … `// #endregion` parts of a file, each dedented, joined by a blank line. */
export function readmeRegions(source: string, part?: string): string {
  const parts: string[] = [];
  const name = part === undefined ? 'readme' : `readme:${part}`;
  const re = new RegExp(`^[ \\t]*// #region ${name}\\n([\\s\\S]*?)^[ \\t]*// #endregion ${name}\\n`, 'gm');
  for (const m of source.matchAll(re)) {
    const lines = m[1]!.replace(/\n$/, '').split('\n');
    const indent = Math.min(...lines.filter((l) => l.trim() !== '').map((l) => l.length - l.trimStart().length));
    parts.push(lines.map((l) => l.slice(indent)).join('\n'));
  }
  return parts.join('\n\n');
}

/** Every marked block of the README: the example file it names and the code it shows. */
export function readmeBlocks(readme: string): { file: string; code: string }[] {
  return [...readme.matchAll(MARKER)].map((m) => ({ file: m[1]!, code: m[2]!.replace(/\n$/, '') }));
}

/** The code a marker reference (`examples/x.ts` or `examples/x.ts#part`) stands for. */
export function snippetOf(ref: string, root: string): string {
  const [file, part] = ref.split('#') as [string, string | undefined];
  const code = readmeRegions(readFileSync(join(root, file), 'utf8'), part);
  if (code === '') throw new Error(`${ref}: no #region ${part === undefined ? 'readme' : `readme:${part}`} in ${file}`);
  return code;
}

/** The README with every marked block refilled from its file (and `REGION:file` placeholders resolved). */
export function renderReadme(readme: string, root: string): string {
  const fill = (ref: string) => `<!-- example: ${ref} -->\n\`\`\`ts\n${snippetOf(ref, root)}\n\`\`\`\n`;
  return readme
    .replace(/<!-- example: (examples\/[\w.#-]+) -->\n```ts\nREGION:[\w.#-]+\n```\n/g, (_m, ref: string) => fill(ref))
    .replace(MARKER, (_m, file: string) => fill(file));
}

if (process.argv[1]?.endsWith('readme-snippets.ts')) {
  const root = join(import.meta.dirname, '..');
  const file = join(root, 'README.md');
  writeFileSync(file, renderReadme(readFileSync(file, 'utf8'), root));
  console.log('README.md code blocks refreshed from examples/');
}
