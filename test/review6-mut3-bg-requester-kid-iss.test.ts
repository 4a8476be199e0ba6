/**
 * Mutation review 3 (break-glass requester signature, SECURITY.md "Known open findings" and
 * test/review6-bg-requester-signature.test.ts).
 *
 * Guarantee: with `policy.requesters`, the requester's signature is a JWT of typ
 * `keywarden-bg-request+jwt` by the key listed for `request.requester`, whose `kid` AND `iss` are
 * exactly that id (src/breakglass/policy.ts checkRequesterSignature).
 *
 * Surviving mutations: dropping the `kid !== req.requester` check, or dropping `issuer:
 * req.requester` from jwtVerify, left every test of review6-bg-requester-signature passing — they
 * only ever sign with a wrong key or a wrong typ, never with the right key under another name.
 *
 * Now asserted, for any other name in the header or the claims (property): a signature made with
 * the listed requester's own key but naming someone else as `kid` or `iss` is refused
 * ERR_BG_REQUESTER_UNVERIFIED, and the unchanged signature is accepted.
 */
import fc from 'fast-check';
import { SignJWT, importJWK } from 'jose';
import { describe, expect, it } from 'vitest';
import { type BreakGlassPolicy, inspectToken } from '../src/breakglass/policy.js';
import { REQUEST_SIGNATURE_TYP, approveRequest, createRequest, encodeToken, generateApproverKey, requestDigest } from '../src/breakglass/token.js';
import { defaultScope, deployment } from './support/breakglass-fixtures.js';

describe('break-glass: the requester signature names the requester in kid and iss', () => {
  it('the listed key under another kid or iss is refused; under the requester\'s name it is accepted', async () => {
    const d = await deployment();
    const erin = await generateApproverKey('reviewer-7');
    const policy: BreakGlassPolicy = { ...structuredClone(d.policy), requesters: [{ id: erin.id, publicJwk: erin.publicJwk }] };
    const { t1, t2, l1 } = d.approvers;
    const nowSec = Math.floor(d.now().getTime() / 1000);
    const request = createRequest({ policy: d.policy.id, aud: d.policy.audience, requester: 'reviewer-7', reason: 'USER_REPORT_REVIEW', detail: 'case-2026-0042', scope: defaultScope(), exp: nowSec + 3600 }, d.now);
    const approvals: string[] = [];
    for (const a of [t1, t2, l1]) approvals.push(await approveRequest(request, { id: a.id, privateJwk: a.privateJwk }, { now: d.now }));
    const key = await importJWK({ ...erin.privateJwk } as never, 'EdDSA');
    const sign = (kid: string, iss: string) => new SignJWT({ jti: request.jti, digest: requestDigest(request) })
      .setProtectedHeader({ alg: 'EdDSA', typ: REQUEST_SIGNATURE_TYP, kid }).setIssuer(iss).setAudience(request.aud)
      .setIssuedAt(nowSec).setExpirationTime(nowSec + 3600).sign(key);
    const codes = async (sig: string) => {
      const r = await inspectToken(encodeToken({ request, approvals, requesterSignature: sig }), policy, d.now());
      return { ok: r.ok, verified: r.requesterVerified, codes: r.problems.map((p) => p.code) };
    };
    // The control: the requester's key under the requester's name verifies.
    expect(await codes(await sign('reviewer-7', 'reviewer-7'))).toEqual({ ok: true, verified: true, codes: [] });
    const other = fc.oneof(fc.constantFrom('reviewer-8', 't1', 'l1', 'Reviewer-7', 'reviewer-7 '), fc.stringMatching(/^[a-z][a-z0-9-]{0,15}$/)).filter((s) => s !== 'reviewer-7');
    await fc.assert(
      fc.asyncProperty(other, fc.constantFrom('kid', 'iss', 'both'), async (name, where) => {
        const sig = await sign(where === 'iss' ? 'reviewer-7' : name, where === 'kid' ? 'reviewer-7' : name);
        const r = await codes(sig);
        expect(r.ok).toBe(false);
        expect(r.verified).toBe(false);
        expect(r.codes).toEqual(['ERR_BG_REQUESTER_UNVERIFIED']);
      }),
      { numRuns: 40 },
    );
  });
});
