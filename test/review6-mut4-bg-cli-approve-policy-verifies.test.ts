/**
 * Mutation review 4 (`token approve --policy`, SECURITY.md; test/review6-bg-cli-out-key-and-approve-policy.test.ts).
 *
 * Guarantee: under a policy that lists requesters, `token approve --policy FILE` signs nothing
 * for a request whose requester's signature does not VERIFY (exit 1, ERR_BG_REQUESTER_UNVERIFIED),
 * and says "signature verified" only for one that does.
 *
 * Surviving mutation: src/cli/token.ts refusing only a token WITHOUT `requesterSignature`
 * (`token.requesterSignature === undefined` in place of `!r.requesterVerified`), and calling any
 * signed one verified. The named test only tried an unsigned request and a genuinely signed one,
 * so a request signed under the requester's name with someone else's key was approved and shown
 * as "(signature verified)".
 *
 * Now asserted: a request signed as reviewer-7 with t1's key is refused by `approve --policy`
 * (exit 1, ERR_BG_REQUESTER_UNVERIFIED), the token file is unchanged and nothing says verified.
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeToken, encodeToken, signRequest } from '../src/breakglass/token.js';
import { main } from '../src/cli/index.js';

let dir: string;
const f = (n: string) => join(dir, n);
async function run(...args: string[]) {
  const out: string[] = [];
  const err: string[] = [];
  const code = await main(['token', ...args], { out: (x) => void out.push(String(x)), err: (x) => void err.push(x) });
  return { code, out: out.join(''), err: err.join('') };
}
const request = (...extra: string[]) => run('request', '--policy', 'dm-bg', '--aud', 'dm.example.com', '--requester', 'reviewer-7', '--reason', 'USER_REPORT_REVIEW',
  '--detail', 'case 1', '--conversation', 'dm:a:b', '--from', '2026-05-01T00:00:00Z', '--to', '2026-05-02T00:00:00Z', '--max-messages', '5', '--expires-in', '3600', ...extra);

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'kw-r6m4-cli-'));
  const entry: Record<string, unknown> = {};
  for (const id of ['t1', 't2', 'reviewer-7']) {
    const r = await run('keygen', '--id', id, '--out-private', f(`${id}.jwk`), '--out-public', f(`${id}.pub.jwk`), '--json');
    expect(r.code, r.err).toBe(0);
    entry[id] = JSON.parse(r.out).approver;
  }
  const policy = {
    id: 'dm-bg', audience: 'dm.example.com', factors: [{ name: 'tns', threshold: 2, approvers: [entry.t1, entry.t2] }],
    allowedReasons: ['USER_REPORT_REVIEW'], maxLifetimeSeconds: 86_400, maxScope: { conversations: 5, messages: 100, windowSeconds: 30 * 86_400 },
    requesters: [entry['reviewer-7']],
  };
  await writeFile(f('policy.json'), JSON.stringify(policy));
});
afterAll(async () => rm(dir, { recursive: true, force: true }));

describe('token approve --policy: a requester signature that does not verify is refused, not only a missing one', () => {
  it('a request signed in reviewer-7\'s name with t1\'s key is not approved', async () => {
    // t1 writes the request in reviewer-7's name and signs it as reviewer-7 with t1's own key.
    expect((await request('--out', f('forged.json'))).code).toBe(0);
    const unsigned = decodeToken(await readFile(f('forged.json'), 'utf8'));
    const { kid: _kid, ...t1Key } = JSON.parse(await readFile(f('t1.jwk'), 'utf8')) as Record<string, unknown>;
    const requesterSignature = await signRequest(unsigned.request, { id: 'reviewer-7', privateJwk: t1Key as never });
    await writeFile(f('forged.json'), encodeToken({ ...unsigned, requesterSignature }));
    const before = await readFile(f('forged.json'), 'utf8');
    expect(decodeToken(before).requesterSignature).toBeDefined();
    const r = await run('approve', '--token', f('forged.json'), '--key', f('t2.jwk'), '--id', 't2', '--policy', f('policy.json'), '--out', f('forged.json'));
    expect(r.code).toBe(1);
    expect(r.err).toContain('ERR_BG_REQUESTER_UNVERIFIED');
    expect(r.err).not.toContain('signature verified');
    expect(await readFile(f('forged.json'), 'utf8')).toBe(before); // nothing signed
  });
});
