/**
 * Review 6 (break-glass): the requester was not authenticated (SECURITY.md "Known open
 * findings"). A request's `requester` is text its author chooses and nothing signed it, so an
 * approver who wanted access could create a request naming a colleague as requester, approve it
 * themselves, collect the rest of the quorum, and read the conversation: "the requester never
 * counts" held for the name, not the person, and the audit log named the colleague as the one who
 * asked. Reproduced below on the code before this change: a token made by approver t1 in the name
 * of `reviewer-7`, approved by t1, t2 and l1, released the page.
 *
 * Now: a policy may list `requesters` (id and Ed25519 public key, under the same one-person-one-key
 * rules as approvers). With it, a token is accepted only with `requesterSignature`: a JWT of
 * typ `keywarden-bg-request+jwt` by the key listed for `request.requester`, over the request's
 * jti and digest (`signRequest`); anything else is refused `ERR_BG_REQUESTER_UNVERIFIED` (the
 * refusal is recorded, nothing is unwrapped). Without `requesters` nothing changes, and a token
 * without the signature encodes to the same text as before.
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { decodeProtectedHeader } from 'jose';
import { describe, expect, it } from 'vitest';
import { nodeAead } from '../src/aead/node.js';
import { decodeEntry } from '../src/audit/entry.js';
import { BreakGlass } from '../src/breakglass/access.js';
import { type BreakGlassPolicy, inspectToken, validatePolicy, verifyToken } from '../src/breakglass/policy.js';
import {
  APPROVAL_TYP, REQUEST_SIGNATURE_TYP, approveRequest, createRequest, decodeToken, encodeToken, generateApproverKey, signRequest,
} from '../src/breakglass/token.js';
import { main } from '../src/cli/index.js';
import { type Approver, defaultScope, deployment } from './support/breakglass-fixtures.js';

type D = Awaited<ReturnType<typeof deployment>>;
const page = (d: D, c: string, idx = [0, 1, 2]) => idx.map((i) => ({ ciphertext: d.messages[c]![i]!.ct, aad: d.messages[c]![i]!.aad }));
const entries = async (d: D) => (await d.auditStore.read(0, await d.auditStore.size())).map(decodeEntry);

async function setup() {
  const d = await deployment();
  const erin = await generateApproverKey('reviewer-7');
  const frank = await generateApproverKey('reviewer-8');
  const policy: BreakGlassPolicy = { ...structuredClone(d.policy), requesters: [erin, frank].map((k) => ({ id: k.id, publicJwk: k.publicJwk })) };
  const bg = new BreakGlass({ policy, masterKey: d.masterKey, keyStore: d.keyStore, audit: { log: d.log, ids: d.ids, actor: 'tns-console' }, aead: nodeAead, now: d.now });
  return { d, erin, frank, policy, bg };
}

/** A request naming `requester`, signed by `signer` (none: unsigned), approved by `by`. */
async function make(d: D, requester: string, signer: Approver | undefined, by: Approver[], sigOver?: (req: ReturnType<typeof createRequest>) => Promise<string>) {
  const nowSec = Math.floor(d.now().getTime() / 1000);
  const request = createRequest({ policy: d.policy.id, aud: d.policy.audience, requester, reason: 'USER_REPORT_REVIEW', detail: 'case-2026-0042', scope: defaultScope(), exp: nowSec + 3600 }, d.now);
  const approvals = [];
  for (const a of by) approvals.push(await approveRequest(request, { id: a.id, privateJwk: a.privateJwk }, { now: d.now }));
  const requesterSignature = sigOver !== undefined ? await sigOver(request)
    : signer === undefined ? undefined : await signRequest(request, { id: requester, privateJwk: signer.privateJwk }, { now: d.now });
  return { request, approvals, ...(requesterSignature === undefined ? {} : { requesterSignature }) };
}

async function refusedWith(d: D, p: Promise<unknown>, code: string) {
  const before = d.unwrapped.length;
  const err = await p.then(() => undefined, (e: unknown) => e);
  expect(err).toMatchObject({ code });
  expect(d.unwrapped.length).toBe(before); // nothing unwrapped, nothing released
  const refused = (await entries(d)).filter((e) => e.type === 'breakglass.refused');
  expect(refused.at(-1)?.refusal).toBe(code);
}

describe('break-glass: the requester signs the request (policy.requesters)', () => {
  it('an approver can no longer ask in a colleague\'s name and approve their own request', async () => {
    const { d, bg } = await setup();
    const { t1, t2, l1 } = d.approvers;
    // t1 writes the request in reviewer-7's name and approves it; t2 and l1 approve in good faith.
    const forged = await make(d, 'reviewer-7', undefined, [t1, t2, l1]);
    await refusedWith(d, bg.decrypt(encodeToken(forged), 'c0', page(d, 'c0')), 'ERR_BG_REQUESTER_UNVERIFIED');
    // Signing it with t1's own key under reviewer-7's name does not help either.
    const selfSigned = await make(d, 'reviewer-7', t1, [t1, t2, l1]);
    await refusedWith(d, bg.decrypt(encodeToken(selfSigned), 'c0', page(d, 'c0')), 'ERR_BG_REQUESTER_UNVERIFIED');
    // Without requesters in the policy the same forged token is still accepted (the old behaviour, documented).
    const r = await d.bg.decrypt(encodeToken(await make(d, 'reviewer-7', undefined, [t1, t2, l1])), 'c0', page(d, 'c0'));
    expect(r.opened).toBe(3);
  });

  it('the listed requester\'s signature makes the token acceptable; the log names them', async () => {
    const { d, bg, erin, policy } = await setup();
    const { t1, t2, l1 } = d.approvers;
    const tok = await make(d, 'reviewer-7', erin, [t1, t2, l1]);
    const v = await verifyToken(encodeToken(tok), policy, d.now());
    expect(v.requesterVerified).toBe(true);
    expect((await verifyToken(encodeToken(await make(d, 'reviewer-7', undefined, [t1, t2, l1])), d.policy, d.now())).requesterVerified).toBe(false);
    const r = await bg.decrypt(encodeToken(tok), 'c0', page(d, 'c0'));
    expect(r.opened).toBe(3);
    const access = (await entries(d)).find((e) => e.type === 'breakglass.access');
    expect(access).toMatchObject({ requester: 'reviewer-7', token: tok.request.jti });
    expect(decodeProtectedHeader(tok.requesterSignature!)).toMatchObject({ typ: REQUEST_SIGNATURE_TYP, kid: 'reviewer-7', alg: 'EdDSA' });
  });

  it('refuses every wrong signature: another requester\'s key, another request, an approval in its place, a requester not listed', async () => {
    const { d, policy, erin, frank } = await setup();
    const { t1, t2, l1 } = d.approvers;
    const now = d.now();
    const code = async (tok: object) => (await inspectToken(encodeToken(tok as never), policy, now)).problems.map((p) => p.code);
    // frank's key under erin's name
    expect(await code(await make(d, 'reviewer-7', frank, [t1, t2, l1]))).toEqual(['ERR_BG_REQUESTER_UNVERIFIED']);
    // erin's valid signature of ANOTHER request of hers
    const other = await make(d, 'reviewer-7', erin, []);
    expect(await code(await make(d, 'reviewer-7', undefined, [t1, t2, l1], async () => other.requesterSignature!))).toEqual(['ERR_BG_REQUESTER_UNVERIFIED']);
    // an approval (APPROVAL_TYP) by an approver who is also listed as a requester, in place of the signature
    const both = { ...policy, requesters: [...policy.requesters!, { id: 't3', publicJwk: d.approvers.t3.publicJwk }] };
    validatePolicy(both);
    const asApproval = await make(d, 't3', undefined, [t1, t2, l1], (req) => approveRequest(req, { id: 't3', privateJwk: d.approvers.t3.privateJwk }, { now: d.now }));
    expect(decodeProtectedHeader(asApproval.requesterSignature!).typ).toBe(APPROVAL_TYP);
    expect((await inspectToken(encodeToken(asApproval), both, now)).problems.map((p) => p.code)).toEqual(['ERR_BG_REQUESTER_UNVERIFIED']);
    // the same person properly signed: accepted (t3 asks, t1, t2 and l1 approve)
    const t3asks = await make(d, 't3', d.approvers.t3, [t1, t2, l1]);
    expect((await inspectToken(encodeToken(t3asks), both, now)).ok).toBe(true);
    // a requester the policy does not list, however well signed
    const stranger = await generateApproverKey('reviewer-9');
    expect(await code(await make(d, 'reviewer-9', stranger, [t1, t2, l1]))).toEqual(['ERR_BG_REQUESTER_UNVERIFIED']);
    // signRequest signs only for the request's own requester
    const req = (await make(d, 'reviewer-7', undefined, [])).request;
    await expect(signRequest(req, { id: 'reviewer-8', privateJwk: frank.privateJwk })).rejects.toMatchObject({ code: 'ERR_INVALID_INPUT', param: 'requester.id' });
    await expect(signRequest(req, { id: 'reviewer-7', privateJwk: erin.publicJwk })).rejects.toMatchObject({ code: 'ERR_INVALID_INPUT', param: 'requester.privateJwk' });
  });

  it('a requester\'s signature that expires first ends the token (expiresAt)', async () => {
    const { d, policy, erin } = await setup();
    const { t1, t2, l1 } = d.approvers;
    const nowSec = Math.floor(d.now().getTime() / 1000);
    const { SignJWT, importJWK } = await import('jose');
    const key = await importJWK({ ...erin.privateJwk } as never, 'EdDSA');
    const tok = await make(d, 'reviewer-7', undefined, [t1, t2, l1], async (req) => new SignJWT({ jti: req.jti, digest: (await import('../src/breakglass/token.js')).requestDigest(req) })
      .setProtectedHeader({ alg: 'EdDSA', typ: REQUEST_SIGNATURE_TYP, kid: 'reviewer-7' }).setIssuer('reviewer-7').setAudience(req.aud).setIssuedAt(nowSec).setExpirationTime(nowSec + 60).sign(key));
    expect((await verifyToken(encodeToken(tok), policy, d.now())).expiresAt).toBe(nowSec + 60);
    await expect(verifyToken(encodeToken(tok), policy, new Date((nowSec + 61) * 1000))).rejects.toMatchObject({ code: 'ERR_BG_EXPIRED' });
  });

  it('for all byte changes of a valid requester signature: refused', async () => {
    const { d, policy, erin } = await setup();
    const { t1, t2, l1 } = d.approvers;
    const tok = await make(d, 'reviewer-7', erin, [t1, t2, l1]);
    const sig = tok.requesterSignature!;
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
    await fc.assert(
      fc.asyncProperty(fc.nat({ max: sig.length - 1 }), fc.nat({ max: 63 }), async (at, c) => {
        if (sig[at] === '.' || alphabet[c] === sig[at]) return;
        const changed = `${sig.slice(0, at)}${alphabet[c]}${sig.slice(at + 1)}`;
        let text: string;
        try {
          text = encodeToken({ ...tok, requesterSignature: changed });
        } catch (e) {
          expect(e).toMatchObject({ code: 'ERR_BG_MALFORMED' }); // not canonical base64url
          return;
        }
        const r = await inspectToken(text, policy, d.now());
        expect(r.ok).toBe(false);
        expect(r.requesterVerified).toBe(false);
      }),
      { numRuns: 150, verbose: 1 },
    );
  });

  it('policy.requesters follows the approvers\' rules: one person one key, names that read alike, weak keys', async () => {
    const { d, policy, erin } = await setup();
    const withReq = (requesters: unknown) => ({ ...structuredClone(d.policy), requesters }) as unknown;
    const param = (p: unknown) => {
      try {
        validatePolicy(p);
        return undefined;
      } catch (e) {
        return (e as { param?: string }).param;
      }
    };
    expect(param(policy)).toBeUndefined();
    expect(param(withReq([]))).toBe('policy.requesters');
    expect(param(withReq('erin'))).toBe('policy.requesters');
    const e = { id: erin.id, publicJwk: erin.publicJwk };
    const bare = (k: Approver) => ({ kty: 'OKP', crv: 'Ed25519', x: k.publicJwk.x }); // no kid: the key alone decides
    expect(param(withReq([e, e]))).toBe('policy.requesters[1].id');
    // an approver's key under a requester's id (one key, two people)
    expect(param(withReq([{ id: 'reviewer-7', publicJwk: bare(d.approvers.t1) }]))).toBe('policy.requesters[0].publicJwk');
    // an approver's id with another key
    expect(param(withReq([{ id: 't1', publicJwk: bare(erin) }]))).toBe('policy.requesters[0].publicJwk');
    // an id that reads like an approver's
    expect(param(withReq([{ id: 'T1', publicJwk: bare(erin) }]))).toBe('policy.requesters[0].id');
    // a private key, a small-order key
    expect(param(withReq([{ id: erin.id, publicJwk: erin.privateJwk }]))).toBe('policy.requesters[0].publicJwk');
    expect(param(withReq([{ id: erin.id, publicJwk: { kty: 'OKP', crv: 'Ed25519', x: 'AQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA' } }]))).toBe('policy.requesters[0].publicJwk');
    // the approver himself may also be listed as a requester, with his one key
    expect(param(withReq([{ id: 't1', publicJwk: d.approvers.t1.publicJwk }]))).toBeUndefined();
  });

  it('the token text: unchanged without a signature; round-trips with one; a malformed one is refused', async () => {
    const { d, erin } = await setup();
    const unsigned = await make(d, 'reviewer-7', undefined, []);
    expect(encodeToken(unsigned)).toMatch(/^\{"approvals":\[\],"request":\{/);
    expect(encodeToken(unsigned)).not.toContain('requesterSignature');
    const signed = await make(d, 'reviewer-7', erin, []);
    const text = encodeToken(signed);
    expect(decodeToken(text)).toEqual(signed);
    expect(encodeToken(decodeToken(text))).toBe(text);
    expect(() => decodeToken(text.replace(signed.requesterSignature!, 'not-a-jwt'))).toThrow(expect.objectContaining({ code: 'ERR_BG_MALFORMED' }));
    expect(() => decodeToken(text.replace('"requesterSignature"', '"requesterSig"'))).toThrow(expect.objectContaining({ code: 'ERR_BG_MALFORMED' }));
  });

  it('CLI: token request --key signs as --requester; approvals keep the signature; inspect says it verified', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'kw-requester-sig-'));
    const f = (n: string) => join(dir, n);
    const run = async (...args: string[]) => {
      const out: string[] = [];
      const err: string[] = [];
      const code = await main(['token', ...args], { out: (x) => void out.push(String(x)), err: (x) => void err.push(x) });
      return { code, out: out.join(''), err: err.join('') };
    };
    try {
      const entry: Record<string, unknown> = {};
      for (const id of ['t1', 't2', 'l1', 'reviewer-7', 'reviewer-8']) {
        const r = await run('keygen', '--id', id, '--out-private', f(`${id}.jwk`), '--out-public', f(`${id}.pub.jwk`), '--json');
        expect(r.code, r.err).toBe(0);
        entry[id] = JSON.parse(r.out).approver;
      }
      const policy = {
        id: 'dm-bg', audience: 'dm.example.com',
        factors: [{ name: 'tns', threshold: 2, approvers: [entry.t1, entry.t2] }, { name: 'legal', threshold: 1, approvers: [entry.l1] }],
        requesters: [entry['reviewer-7'], entry['reviewer-8']],
        allowedReasons: ['USER_REPORT_REVIEW'], maxLifetimeSeconds: 86_400, maxScope: { conversations: 5, messages: 100, windowSeconds: 30 * 86_400 },
      };
      await writeFile(f('policy.json'), JSON.stringify(policy));
      const request = (key: string, out: string) => run('request', '--policy', 'dm-bg', '--aud', 'dm.example.com', '--requester', 'reviewer-7', '--reason', 'USER_REPORT_REVIEW',
        '--detail', 'case 1', '--conversation', 'dm:a:b', '--from', '2026-05-01T00:00:00Z', '--to', '2026-05-02T00:00:00Z', '--max-messages', '5', '--expires-in', '3600',
        ...(key === '' ? [] : ['--key', f(key)]), '--out', f(out));
      // another requester's key file under --requester reviewer-7: refused before anything is written
      const wrong = await request('reviewer-8.jwk', 'wrong.json');
      expect(wrong.code).toBe(2);
      expect(wrong.err).toContain('--requester');
      await expect(readFile(f('wrong.json'))).rejects.toThrow();
      for (const [key, out] of [['reviewer-7.jwk', 'signed.json'], ['', 'unsigned.json']] as const) {
        expect((await request(key, out)).code).toBe(0);
        for (const id of ['t1', 't2', 'l1']) expect((await run('approve', '--token', f(out), '--key', f(`${id}.jwk`), '--id', id, '--out', f(out))).code).toBe(0);
      }
      const signed = decodeToken(await readFile(f('signed.json'), 'utf8'));
      expect(signed.approvals).toHaveLength(3);
      expect(signed.requesterSignature).toBeDefined();
      const ok = await run('inspect', '--token', f('signed.json'), '--policy', f('policy.json'));
      expect(ok.code, ok.out).toBe(0);
      expect(ok.out).toContain('"reviewer-7" (signature verified)');
      const no = await run('inspect', '--token', f('unsigned.json'), '--policy', f('policy.json'));
      expect(no.code).toBe(1);
      expect(no.out).toContain('PROBLEM ERR_BG_REQUESTER_UNVERIFIED');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
