/**
 * Outside review 5 (break-glass): `keywarden token approve` without `--out` (and `token
 * request`) prints the token to stdout — the approver's terminal, unless redirected — as
 * JSON.stringify wrote it. JSON.stringify escapes C0 controls but leaves DEL, the C1 controls
 * (U+0080-U+009F: CSI U+009B, OSC U+009D, which terminals that honour 8-bit controls act on) and
 * Unicode format characters (bidi overrides, zero-width) raw. A conversation id may hold any of
 * them (only requester, detail, aud and policy are identifiers), and requester and detail may
 * hold format characters: so requester-controlled text reached the terminal unescaped, although
 * src/cli/text.ts and docs/BREAK-GLASS.md §1 say the CLI escapes it (the summary line on stderr
 * was escaped; the token line on stdout was not).
 *
 * Now: the token is printed with DEL, C1 and format characters written as JSON `\uXXXX` escapes
 * — the same JSON value, so the printed token decodes to exactly the request that was signed
 * and verifies; with `--out` the file is written as before.
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { verifyToken } from '../src/breakglass/policy.js';
import { createRequest, decodeToken, encodeToken } from '../src/breakglass/token.js';
import { main } from '../src/cli/index.js';

let dir: string;
const f = (name: string) => join(dir, name);

async function run(...args: string[]) {
  const out: string[] = [];
  const err: string[] = [];
  const code = await main(['token', ...args], { out: (s) => void out.push(String(s)), err: (s) => void err.push(s) });
  return { code, out: out.join(''), err: err.join('') };
}

const UNSAFE = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\p{Cf}]/u;
let policy: unknown;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'kw-review5-stdout-'));
  for (const id of ['t1', 'l1']) expect((await run('keygen', '--id', id, '--out-private', f(`${id}.private.jwk`), '--out-public', f(`${id}.public.jwk`))).code).toBe(0);
  const pub = async (id: string) => ({ id, publicJwk: JSON.parse(await readFile(f(`${id}.public.jwk`), 'utf8')) });
  policy = {
    id: 'dm-bg', audience: 'dm.example.com',
    factors: [{ name: 'trust-and-safety', threshold: 1, approvers: [await pub('t1')] }, { name: 'legal', threshold: 1, approvers: [await pub('l1')] }],
    allowedReasons: ['USER_REPORT_REVIEW'], maxLifetimeSeconds: 86_400, maxScope: { conversations: 5, messages: 100, windowSeconds: 30 * 86_400 },
  };
});
afterAll(async () => rm(dir, { recursive: true, force: true }));

/** A request file whose requester-controlled text holds `bad`. */
async function requestFile(bad: string): Promise<string> {
  const req = createRequest({
    policy: 'dm-bg', aud: 'dm.example.com', requester: `reviewer-7${bad.replace(/[\u0000-\u001f\u007f-\u009f]/g, '')}x`, reason: 'USER_REPORT_REVIEW',
    detail: `case ${bad.replace(/[\u0000-\u001f\u007f-\u009f]/g, '')}1`,
    scope: { conversations: [`dm:${bad}:bob`], from: '2026-05-01T00:00:00Z', to: '2026-05-08T00:00:00Z', maxMessages: 5, operation: 'decrypt' },
    exp: Math.floor(Date.now() / 1000) + 3600,
  });
  await writeFile(f('req.json'), encodeToken({ request: req, approvals: [] }));
  return f('req.json');
}

describe('token approve: the token printed on stdout', () => {
  it('holds no raw C1 control or format character, and is the same token', async () => {
    const file = await requestFile('\u009b2J\u009d0;pwned\u009c\u202e\u200b\u007f');
    const r = await run('approve', '--token', file, '--key', f('t1.private.jwk'), '--id', 't1');
    expect(r.code, r.err).toBe(0);
    expect(r.out).not.toMatch(UNSAFE);
    const printed = decodeToken(r.out);
    expect(printed.request).toEqual(decodeToken(await readFile(file, 'utf8')).request);
    // The next approver works on the printed token; it verifies.
    await writeFile(f('t1.json'), r.out);
    const r2 = await run('approve', '--token', f('t1.json'), '--key', f('l1.private.jwk'), '--id', 'l1');
    expect(r2.code, r2.err).toBe(0);
    expect(r2.out).not.toMatch(UNSAFE);
    expect((await verifyToken(r2.out, policy as never)).approvers).toEqual(['t1', 'l1']);
  });

  it('for any conversation id, what approve prints holds no control or format character (property)', async () => {
    const ch = fc.constantFrom('\u0085', '\u009b', '\u009d', '\u009c', '\u007f', '\u202e', '\u2066', '\u200b', '\u061c', '\ufeff', '\u00ad', 'a', ':');
    await fc.assert(
      fc.asyncProperty(fc.array(ch, { minLength: 1, maxLength: 10 }).map((a) => a.join('')), async (bad) => {
        const file = await requestFile(bad);
        const r = await run('approve', '--token', file, '--key', f('t1.private.jwk'), '--id', 't1');
        expect(r.code, r.err).toBe(0);
        expect(r.out).not.toMatch(UNSAFE);
        expect(decodeToken(r.out).request).toEqual(decodeToken(await readFile(file, 'utf8')).request);
      }),
      { numRuns: 30 },
    );
  });
});
