/**
 * Outside review 5 (break-glass): `keywarden token approve` printed the reason a token file does
 * not parse to the approver's terminal raw. The approver runs `approve` on a file the requester
 * hands them; decodeToken names an unknown field by its path (`token.request.<name>`, the name
 * verbatim) and a duplicate one through JSON.stringify (which leaves C1 controls and Unicode
 * format characters as they are), and the CLI's error line only joins lines. So a field name
 * holding ESC sequences (`\u001b[1A\u001b[2K` …), a C1 CSI (U+009B) or bidi overrides reached the
 * terminal: it could erase the error and draw a fake "approved as …" line, or reorder it —
 * exactly what src/cli/text.ts exists to prevent for requester-controlled text ("Such characters
 * are shown escaped"), and what docs/BREAK-GLASS.md §1 promises for what an approver reads.
 *
 * Now: the error is printed with every control and format character escaped (`\u001b`), still
 * as one line with exit status 3; for all field names (property).
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../src/cli/index.js';

let dir: string;
const f = (name: string) => join(dir, name);

async function run(...args: string[]) {
  const out: string[] = [];
  const err: string[] = [];
  const code = await main(['token', ...args], { out: (s) => void out.push(String(s)), err: (s) => void err.push(s) });
  return { code, out: out.join(''), err: err.join('') };
}

// Any C0/C1 control except the final newline, and any format character (bidi, zero-width).
const UNSAFE = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\p{Cf}]/u;
let valid: { request: Record<string, unknown>; approvals: string[] };

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'kw-review5-approve-'));
  expect((await run('keygen', '--id', 't1', '--out-private', f('t1.private.jwk'), '--out-public', f('t1.public.jwk'))).code).toBe(0);
  const r = await run(
    'request', '--policy', 'dm-bg', '--aud', 'dm.example.com', '--requester', 'reviewer-7', '--reason', 'USER_REPORT_REVIEW', '--detail', 'case 1',
    '--conversation', 'dm:alice:bob', '--from', '2026-05-01T00:00:00Z', '--to', '2026-05-08T00:00:00Z', '--max-messages', '5', '--expires-in', '3600',
    '--out', f('token.json'),
  );
  expect(r.code).toBe(0);
  valid = JSON.parse(await readFile(f('token.json'), 'utf8'));
});
afterAll(async () => rm(dir, { recursive: true, force: true }));

const approve = () => run('approve', '--token', f('evil.json'), '--key', f('t1.private.jwk'), '--id', 't1');
const forged = '\u001b[1A\u001b[2K\u001b[32mapproved as "t1"\u001b[0m\r\u009b2K\u202e';

describe('token approve: a token that does not parse', () => {
  it('an unknown field named with terminal control sequences is reported escaped', async () => {
    await writeFile(f('evil.json'), JSON.stringify({ ...valid, request: { ...valid.request, [forged]: 1 } }));
    const r = await approve();
    expect(r.code).toBe(3);
    expect(r.err).not.toMatch(UNSAFE);
    expect(r.err).toContain('\\u001b');
    expect(r.err.split('\n').filter(Boolean)).toHaveLength(1);
  });

  it('an unknown field at the top level or in the scope is reported escaped too', async () => {
    for (const t of [{ ...valid, [forged]: 1 }, { ...valid, request: { ...valid.request, scope: { ...(valid.request.scope as object), [forged]: 1 } } }]) {
      await writeFile(f('evil.json'), JSON.stringify(t));
      const r = await approve();
      expect(r.code).toBe(3);
      expect(r.err).not.toMatch(UNSAFE);
    }
  });

  it('for any field name, what reaches the terminal holds no control or format character', async () => {
    const unsafeChar = fc.constantFrom('\u001b', '\u0007', '\r', '\u0008', '\u009b', '\u0085', '\u202e', '\u2066', '\u200b', '\u061c', '\ufeff');
    const name = fc.array(fc.oneof(unsafeChar, fc.constantFrom('a', '[', '2', 'K', ';', ' ')), { minLength: 1, maxLength: 12 }).map((a) => a.join(''));
    await fc.assert(
      fc.asyncProperty(name, async (n) => {
        await writeFile(f('evil.json'), JSON.stringify({ ...valid, request: { ...valid.request, [`x${n}`]: 1 } }));
        const r = await approve();
        expect(r.code).toBe(3);
        expect(r.err).not.toMatch(UNSAFE);
      }),
      { numRuns: 40 },
    );
  });
});
