/** `keywarden token …`: keygen → request → approve ×3 → inspect, exit codes 0/1/2/3. */
import { chmod, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { verifyToken } from '../src/breakglass/policy.js';
import { decodeToken } from '../src/breakglass/token.js';
import { main } from '../src/cli/index.js';

let dir: string;
const f = (name: string) => join(dir, name);

async function run(...args: string[]) {
  const out: string[] = [];
  const err: string[] = [];
  const code = await main(['token', ...args], { out: (s) => void out.push(String(s)), err: (s) => void err.push(s) });
  return { code, out: out.join(''), err: err.join('') };
}

const REQUEST = [
  '--policy', 'dm-bg', '--aud', 'dm.example.com', '--requester', 'reviewer-7', '--reason', 'USER_REPORT_REVIEW', '--detail', 'case 2026-0042',
  '--conversation', 'dm:alice:bob', '--conversation', 'dm:bob:carol', '--from', '2026-05-01T00:00:00Z', '--to', '2026-05-08T00:00:00Z',
  '--max-messages', '50', '--expires-in', '3600',
];

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'kw-token-cli-'));
  const approvers: Record<string, unknown> = {};
  for (const id of ['t1', 't2', 't3', 'l1', 'reviewer-7']) {
    const r = await run('keygen', '--id', id, '--out-private', f(`${id}.private.jwk`), '--out-public', f(`${id}.public.jwk`));
    expect(r.code).toBe(0);
    approvers[id] = JSON.parse(r.out);
  }
  const pubOf = async (id: string) => ({ id, publicJwk: JSON.parse(await readFile(f(`${id}.public.jwk`), 'utf8')) });
  const policy = {
    id: 'dm-bg',
    audience: 'dm.example.com',
    factors: [
      { name: 'trust-and-safety', threshold: 2, approvers: [await pubOf('t1'), await pubOf('t2'), await pubOf('t3'), await pubOf('reviewer-7')] },
      { name: 'legal', threshold: 1, approvers: [await pubOf('l1')] },
    ],
    allowedReasons: ['USER_REPORT_REVIEW'],
    maxLifetimeSeconds: 86_400,
    maxScope: { conversations: 5, messages: 100, windowSeconds: 30 * 86_400 },
  };
  expect(approvers.t1).toEqual(policy.factors[0]!.approvers[0]); // keygen prints the policy entry
  await writeFile(f('policy.json'), JSON.stringify(policy, null, 2));
});
afterAll(async () => rm(dir, { recursive: true, force: true }));

describe('keywarden token', () => {
  it('keygen: Ed25519 JWK files, the private one mode 0600; never overwrites', async () => {
    const priv = JSON.parse(await readFile(f('t1.private.jwk'), 'utf8'));
    const pub = JSON.parse(await readFile(f('t1.public.jwk'), 'utf8'));
    expect(priv).toMatchObject({ kty: 'OKP', crv: 'Ed25519', kid: 't1', x: pub.x });
    expect(pub.d).toBeUndefined();
    expect((await stat(f('t1.private.jwk'))).mode & 0o777).toBe(0o600);
    const again = await run('keygen', '--id', 't1', '--out-private', f('t1.private.jwk'), '--out-public', f('t1-new.public.jwk'));
    expect(again.code).toBe(3);
    expect(JSON.parse(await readFile(f('t1.private.jwk'), 'utf8'))).toEqual(priv);
    await expect(stat(f('t1-new.public.jwk'))).rejects.toThrow(); // no half-written pair left behind
  });

  it('request → approve ×3 → inspect: exit 0; with one approval missing inspect exits 1 and says what is missing', async () => {
    const req = await run('request', ...REQUEST, '--out', f('token.json'));
    expect(req.code).toBe(0);
    const t0 = decodeToken(await readFile(f('token.json'), 'utf8'));
    expect(t0.approvals).toEqual([]);
    expect(t0.request.scope).toEqual({ conversations: ['dm:alice:bob', 'dm:bob:carol'], from: '2026-05-01T00:00:00.000Z', to: '2026-05-08T00:00:00.000Z', maxMessages: 50, operation: 'decrypt' });

    // Each approver adds their approval to the file in turn.
    for (const id of ['t1', 't2']) {
      const a = await run('approve', '--token', f('token.json'), '--key', f(`${id}.private.jwk`), '--id', id, '--out', f('token.json'));
      expect(a.code, a.err).toBe(0);
      expect(a.err).toContain('case 2026-0042'); // the approver is shown what they sign
    }
    const partial = await run('inspect', '--token', f('token.json'), '--policy', f('policy.json'));
    expect(partial.code).toBe(1);
    expect(partial.out).toContain('trust-and-safety: 2 of 2 (met)');
    expect(partial.out).toMatch(/legal: 0 of 1 — missing 1 more of: l1/);
    expect(partial.out).toContain('ERR_BG_THRESHOLD_NOT_MET');
    expect(partial.out).toContain('NOT ACCEPTABLE');
    const json = await run('inspect', '--token', f('token.json'), '--policy', f('policy.json'), '--json');
    expect(json.code).toBe(1);
    expect(JSON.parse(json.out).factors).toEqual([
      { name: 'trust-and-safety', have: 2, need: 2, missing: [] },
      { name: 'legal', have: 0, need: 1, missing: ['l1'] },
    ]);

    // The third approval goes to stdout when there is no --out.
    const last = await run('approve', '--token', f('token.json'), '--key', f('l1.private.jwk'), '--id', 'l1');
    expect(last.code).toBe(0);
    await writeFile(f('token3.json'), last.out);
    const ok = await run('inspect', '--token', f('token3.json'), '--policy', f('policy.json'));
    expect(ok.code, ok.out).toBe(0);
    expect(ok.out).toContain('ACCEPTABLE now');
    expect(ok.out).toContain('requester "reviewer-7" asks to decrypt at most 50 message(s)');
    expect(ok.out).toMatch(/#2 "l1": valid/);
    const policy = JSON.parse(await readFile(f('policy.json'), 'utf8'));
    expect((await verifyToken(last.out, policy)).approvers).toEqual(['t1', 't2', 'l1']);
  });

  it('approve refuses (exit 1) the requester and a second approval by the same approver', async () => {
    expect((await run('request', ...REQUEST, '--out', f('t-refuse.json'))).code).toBe(0);
    const self = await run('approve', '--token', f('t-refuse.json'), '--key', f('reviewer-7.private.jwk'), '--id', 'reviewer-7');
    expect(self.code).toBe(1);
    expect(self.err).toContain('ERR_BG_REQUESTER_APPROVED');
    expect((await run('approve', '--token', f('t-refuse.json'), '--key', f('t3.private.jwk'), '--id', 't3', '--out', f('t-refuse.json'))).code).toBe(0);
    const twice = await run('approve', '--token', f('t-refuse.json'), '--key', f('t3.private.jwk'), '--id', 't3');
    expect(twice.code).toBe(1);
    expect(twice.err).toContain('ERR_BG_DUPLICATE_APPROVER');
  });

  it('approve warns when the private key file can be read by others, as the keys commands do', async () => {
    // Outside review, 2026-12-01: token approve read an approver's private JWK without the
    // warning the keys commands give for their key files.
    expect((await run('request', ...REQUEST, '--out', f('t-mode.json'))).code).toBe(0);
    const quiet = await run('approve', '--token', f('t-mode.json'), '--key', f('t2.private.jwk'), '--id', 't2');
    expect([quiet.code, quiet.err]).toEqual([0, expect.not.stringContaining('can be read by others')]);
    await chmod(f('t2.private.jwk'), 0o644);
    try {
      const loud = await run('approve', '--token', f('t-mode.json'), '--key', f('t2.private.jwk'), '--id', 't2');
      expect(loud.code).toBe(0);
      expect(loud.err).toContain(`--key ${f('t2.private.jwk')} can be read by others (mode 0644; chmod 600 it)`);
    } finally {
      await chmod(f('t2.private.jwk'), 0o600);
    }
  });

  it('inspect exits 1 for a tampered or unreadable token, listing the problem', async () => {
    const text = await readFile(f('token3.json'), 'utf8');
    await writeFile(f('tampered.json'), text.replace('"maxMessages":50', '"maxMessages":99'));
    const r = await run('inspect', '--token', f('tampered.json'), '--policy', f('policy.json'));
    expect(r.code).toBe(1);
    expect(r.out).toContain('ERR_BG_BAD_SIGNATURE');
    await writeFile(f('garbage.json'), 'not a token');
    const g = await run('inspect', '--token', f('garbage.json'), '--policy', f('policy.json'));
    expect(g.code).toBe(1);
    expect(g.out).toContain('ERR_BG_MALFORMED');
  });

  it.each([
    [[], 'missing command'],
    [['frobnicate'], "unknown command 'frobnicate'"],
    [['inspect', '--token', 'x'], "missing required option '--policy'"],
    [['inspect', '--token', 'x', '--policy', 'y', '--bogus'], "unknown option '--bogus'"],
    [['inspect', '--token'], "missing value for option '--token'"],
    [['inspect', 'positional', '--token', 'x', '--policy', 'y'], "unexpected argument 'positional'"],
    [['keygen', '--id', 'a', '--id', 'b', '--out-private', 'p', '--out-public', 'q'], "option '--id' given more than once"],
    [['keygen', '--id', 'bad\u0007id', '--out-private', 'p', '--out-public', 'q'], '--id: expected an identifier'],
    [['request', ...REQUEST.map((a) => (a === 'USER_REPORT_REVIEW' ? 'CURIOSITY' : a))], '--reason: expected one of'],
    [['request', ...REQUEST.map((a) => (a === '50' ? 'fifty' : a))], '--max-messages: expected a positive integer'],
    [['request', ...REQUEST.map((a) => (a === '2026-05-01T00:00:00Z' ? 'yesterday' : a))], '--from: expected an RFC 3339 time'],
    [['request', ...REQUEST.map((a) => (a === '2026-05-08T00:00:00Z' ? '2026-04-01T00:00:00Z' : a))], '--to: expected a time after'],
    [['request', ...REQUEST.slice(0, -2)], "missing required option '--expires-in'"], // --expires-in missing
  ])('usage error exits 2 with one line naming it: %j', async (args, message) => {
    const r = await run(...args);
    expect(r.code, r.err).toBe(2);
    expect(r.out).toBe('');
    expect(r.err).toMatch(/^keywarden token[^\n]*\(see 'keywarden token[^\n]* --help'\)\n$/);
    expect(r.err).toContain(message);
  });

  it('could not complete exits 3: missing files, a bad policy file, a key that is not a private key', async () => {
    expect((await run('inspect', '--token', f('nope.json'), '--policy', f('policy.json'))).code).toBe(3);
    await writeFile(f('bad-policy.json'), JSON.stringify({ id: 'dm-bg' }));
    const bad = await run('inspect', '--token', f('token3.json'), '--policy', f('bad-policy.json'));
    expect(bad.code).toBe(3);
    expect(bad.err).toContain('policy.audience');
    expect((await run('approve', '--token', f('token3.json'), '--key', f('t3.public.jwk'), '--id', 't3')).code).toBe(3);
    expect((await run('approve', '--token', f('garbage.json'), '--key', f('t3.private.jwk'), '--id', 't3')).code).toBe(3);
  });
});
