/**
 * Outside review 6 (parsers, CLI): the one-line error of `keywarden …` carried the command line's
 * bytes verbatim.
 *
 * - `runCli` (src/cli/common.ts) writes every usage, refusal and could-not-complete error as
 *   `<path>: <message>`, and its `oneLine` only folded CR/LF. A FILE, --dir or --key path, or an
 *   unknown command or option, went to stderr with its escape sequences (`\x1b[2J` clears the
 *   screen, `\x1b[31m` forges colour), C1 controls (`\u009b` is an 8-bit CSI), bidi overrides
 *   (`\u202e`) and line separators (`\u2028`, `\u0085` NEL): `keywarden inspect "$upload"` on an
 *   attacker-named file could erase or forge what the operator sees, and the "one line" was
 *   several for anything that honours NEL/LS. `quote` (JSON.stringify) escapes C0 controls only.
 *
 * Now: every error line is one line of text in which each control, format or line-separator
 * character is shown escaped (`\u001b`), whatever the argument list.
 */
import fc from 'fast-check';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../src/cli/index.js';
import { params } from './support/fuzz.js';

// C0 (but the final newline), DEL, C1, Unicode format characters (bidi overrides, zero-width), LS/PS.
const UNSAFE = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\p{Cf}\u2028\u2029]/u;

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'kw-r6-cli-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function run(argv: string[]): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await main(argv, { out: (s) => void out.push(String(s)), err: (s) => void err.push(s), env: {}, stdin: async () => new Uint8Array(0) });
  return { code, out: out.join(''), err: err.join('') };
}

function expectOneSafeLine(r: { code: number; err: string }, argv: string[]): void {
  expect([0, 1, 2, 3], JSON.stringify(argv)).toContain(r.code);
  if (r.code < 2) return;
  expect(r.err.endsWith('\n'), JSON.stringify(r.err)).toBe(true);
  expect(r.err.slice(0, -1), JSON.stringify(r.err)).not.toMatch(/\n/);
  expect(r.err.slice(0, -1), JSON.stringify(r.err)).not.toMatch(UNSAFE);
}

describe('keywarden CLI: error lines show no raw control characters from the command line', () => {
  it('a FILE, --dir, --key path or an unknown command/option: escaped, not written raw', async () => {
    const nasty = '\u001b[2J\u001b[31mforged\u009b2J\u202eevil\u2028next\u0085line';
    const cases: string[][] = [
      ['inspect', join(dir, `missing-${nasty}`)],
      [`cmd-${nasty}`],
      ['keys', `sub-${nasty}`],
      ['inspect', `--opt-${nasty}`],
      ['version', nasty],
      ['audit', 'verify', `--dir=${join(dir, nasty)}`, `--key=@${join(dir, `k-${nasty}`)}`],
      ['help', nasty],
    ];
    for (const argv of cases) {
      const r = await run(argv);
      expectOneSafeLine(r, argv);
      expect(r.code).toBeGreaterThanOrEqual(2);
      expect(r.err).toContain('\\u001b'); // shown, escaped: the operator still sees what was given
    }
  });

  it('any argument list of read-only commands: every error is one line without raw control, format or separator characters', async () => {
    const word = fc.oneof(
      fc.constantFrom('--json', '--help', '--', '-', '--dir', '--key', '--token', '--policy', '--x=', '1'),
      fc.string({ unit: fc.constantFrom('a', '-', '=', '/', '\u001b', '\u0007', '\u009b', '\u0085', '\u202e', '\u200b', '\u2028', '\u2029', '\ufeff', '\r', '\n'), maxLength: 8 }),
      fc.string({ unit: 'binary', maxLength: 4 }),
    );
    const command = fc.constantFrom(['inspect'], ['version'], ['help'], ['audit', 'verify'], ['audit', 'entry'], ['token', 'inspect'], ['keys', 'status'], []);
    await fc.assert(
      fc.asyncProperty(command, fc.array(word, { maxLength: 5 }), async (c, rest) => {
        // Paths inside the scratch directory: nothing outside it is read.
        const argv = [...c, ...rest.map((w) => (w.startsWith('--') || w === '-' ? w : c[0] === 'inspect' ? join(dir, w) : w))];
        expectOneSafeLine(await run(argv), argv);
      }),
      params(150),
    );
  });
});
