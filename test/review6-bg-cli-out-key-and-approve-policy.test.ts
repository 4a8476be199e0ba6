/**
 * Review 6 (break-glass CLI), two points found while attacking the requester signature:
 *
 * 1. `token approve --key a.jwk --out a.jwk` (and `token request --key r.jwk --out r.jwk`)
 *    replaced the private key file with the token: the key was gone, and a secret file became a
 *    file that is passed from person to person. Now the command refuses (exit 2, usage) when
 *    `--out` names the key file — by path or by another name for the same file — before anything
 *    is written, and the key file is untouched.
 * 2. An approver could not tell whether the requester really asked: `token approve` takes no
 *    policy, so a request written in a colleague's name looked the same as a signed one. Now
 *    `token approve --policy FILE` checks the requester's signature when the policy lists
 *    requesters: a token its requester did not sign is refused (exit 1,
 *    ERR_BG_REQUESTER_UNVERIFIED) and nothing is signed; a verified one is shown as such. A
 *    request signed in the requester's name with another person's key is refused too (mutation
 *    review 4: a check of the signature's presence alone had passed these tests).
 */
import { link, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
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
  dir = await mkdtemp(join(tmpdir(), 'kw-r6-cli-'));
  const entry: Record<string, unknown> = {};
  for (const id of ['t1', 't2', 'reviewer-7']) {
    const r = await run('keygen', '--id', id, '--out-private', f(`${id}.jwk`), '--out-public', f(`${id}.pub.jwk`), '--json');
    expect(r.code, r.err).toBe(0);
    entry[id] = JSON.parse(r.out).approver;
  }
  const policy = {
    id: 'dm-bg', audience: 'dm.example.com', factors: [{ name: 'tns', threshold: 2, approvers: [entry.t1, entry.t2] }],
    allowedReasons: ['USER_REPORT_REVIEW'], maxLifetimeSeconds: 86_400, maxScope: { conversations: 5, messages: 100, windowSeconds: 30 * 86_400 },
  };
  await writeFile(f('policy-open.json'), JSON.stringify(policy));
  await writeFile(f('policy.json'), JSON.stringify({ ...policy, requesters: [entry['reviewer-7']] }));
});
afterAll(async () => rm(dir, { recursive: true, force: true }));

describe('token CLI: --out never replaces the key file', () => {
  it('approve --out naming the --key file (or a hard link to it) is refused before anything is written', async () => {
    expect((await request('--key', f('reviewer-7.jwk'), '--out', f('token.json'))).code).toBe(0);
    const key = await readFile(f('t1.jwk'), 'utf8');
    const tokenBefore = await readFile(f('token.json'), 'utf8');
    const same = await run('approve', '--token', f('token.json'), '--key', f('t1.jwk'), '--id', 't1', '--out', f('t1.jwk'));
    expect(same.code).toBe(2);
    expect(same.err).toMatch(/--out/);
    await link(f('t1.jwk'), f('t1-link.jwk'));
    const linked = await run('approve', '--token', f('token.json'), '--key', f('t1.jwk'), '--id', 't1', '--out', f('t1-link.jwk'));
    expect(linked.code).toBe(2);
    const dotted = await run('approve', '--token', f('token.json'), '--key', f('t1.jwk'), '--id', 't1', '--out', join(dir, '.', 't1.jwk'));
    expect(dotted.code).toBe(2);
    expect(await readFile(f('t1.jwk'), 'utf8')).toBe(key);
    expect(await readFile(f('token.json'), 'utf8')).toBe(tokenBefore);
  });

  it('request --out naming the --key file is refused too; the key stays', async () => {
    const key = await readFile(f('reviewer-7.jwk'), 'utf8');
    const r = await request('--key', f('reviewer-7.jwk'), '--out', f('reviewer-7.jwk'));
    expect(r.code).toBe(2);
    expect(await readFile(f('reviewer-7.jwk'), 'utf8')).toBe(key);
  });
});

describe('token approve --policy: the approver learns whether the requester signed', () => {
  it('refuses (exit 1, ERR_BG_REQUESTER_UNVERIFIED) to approve an unsigned request under a policy that lists requesters', async () => {
    expect((await request('--out', f('unsigned.json'))).code).toBe(0);
    const before = await readFile(f('unsigned.json'), 'utf8');
    const r = await run('approve', '--token', f('unsigned.json'), '--key', f('t1.jwk'), '--id', 't1', '--policy', f('policy.json'), '--out', f('unsigned.json'));
    expect(r.code).toBe(1);
    expect(r.err).toContain('ERR_BG_REQUESTER_UNVERIFIED');
    expect(await readFile(f('unsigned.json'), 'utf8')).toBe(before); // nothing signed
    // Under a policy without requesters it is approved as before (and said to be unverified).
    const open = await run('approve', '--token', f('unsigned.json'), '--key', f('t1.jwk'), '--id', 't1', '--policy', f('policy-open.json'), '--out', f('unsigned.json'));
    expect(open.code, open.err).toBe(0);
    expect(open.err).toMatch(/not verified/);
    expect(decodeToken(await readFile(f('unsigned.json'), 'utf8')).approvals).toHaveLength(1);
  });

  it('a signed request is approved and shown as verified; the signature stays in the token', async () => {
    expect((await request('--key', f('reviewer-7.jwk'), '--out', f('signed.json'))).code).toBe(0);
    const r = await run('approve', '--token', f('signed.json'), '--key', f('t2.jwk'), '--id', 't2', '--policy', f('policy.json'), '--out', f('signed.json'));
    expect(r.code, r.err).toBe(0);
    expect(r.err).toContain('"reviewer-7" (signature verified)');
    const t = decodeToken(await readFile(f('signed.json'), 'utf8'));
    expect(t.requesterSignature).toBeDefined();
    expect(t.approvals).toHaveLength(1);
  });

  // Mutation review 4: a check of presence only (not of the signature) survived the tests above.
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
