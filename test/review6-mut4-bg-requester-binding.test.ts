/**
 * Mutation review 4 (break-glass requester signature; SECURITY.md "break-glass approvals cannot
 * be forged ... only the listed requester's own key, as its own kid and iss, signs for them").
 *
 * Guarantee: under a policy that lists `requesters`, a token is accepted only with a signature by
 * the key the policy lists for `request.requester` itself, over this very request (its jti AND
 * its digest: src/breakglass/policy.ts checkRequesterSignature).
 *
 * Surviving mutations (every test of review6-bg-requester-signature and
 * review6-mut3-bg-requester-kid-iss still passed):
 * 1. `policy.requesters.find((r) => r.id === req.requester) ?? policy.requesters[0]`: a
 *    requester the policy does not list is verified with another requester's key. The tests
 *    only ever signed an unlisted requester's request with that stranger's own key.
 * 2. The requester's signature checked against the request's `jti` only, not its digest. The
 *    tests only replayed a signature of another request with another jti; a requester chooses
 *    the jti (`createRequest` accepts one), so a request with the same jti and a wider scope,
 *    another reason or another detail took the signature of the request the requester signed.
 *
 * Now asserted: a listed requester's key signing (as kid and iss) for a name the policy does not
 * list is refused ERR_BG_REQUESTER_UNVERIFIED; and for all changes of a signed request that keep
 * its jti (scope, reason, detail, times), the original signature is refused
 * ERR_BG_REQUESTER_UNVERIFIED, while the unchanged request verifies.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type BreakGlassPolicy, inspectToken } from '../src/breakglass/policy.js';
import { type BreakGlassRequest, approveRequest, createRequest, encodeToken, generateApproverKey, signRequest } from '../src/breakglass/token.js';
import { defaultScope, deployment } from './support/breakglass-fixtures.js';

async function setup() {
  const d = await deployment();
  const erin = await generateApproverKey('reviewer-7');
  const policy: BreakGlassPolicy = { ...structuredClone(d.policy), requesters: [{ id: erin.id, publicJwk: erin.publicJwk }] };
  const nowSec = Math.floor(d.now().getTime() / 1000);
  const fields = (requester: string) => ({ policy: d.policy.id, aud: d.policy.audience, requester, reason: 'USER_REPORT_REVIEW', detail: 'case-2026-0042', scope: defaultScope(), exp: nowSec + 3600 });
  const approve = async (request: BreakGlassRequest) => {
    const approvals: string[] = [];
    for (const a of [d.approvers.t1, d.approvers.t2, d.approvers.l1]) approvals.push(await approveRequest(request, { id: a.id, privateJwk: a.privateJwk }, { now: d.now }));
    return approvals;
  };
  const check = async (request: BreakGlassRequest, requesterSignature: string) => {
    const r = await inspectToken(encodeToken({ request, approvals: await approve(request), requesterSignature }), policy, d.now());
    return { ok: r.ok, verified: r.requesterVerified, codes: r.problems.map((p) => p.code) };
  };
  return { d, erin, policy, nowSec, fields, check };
}

describe('break-glass: the requester signature binds the listed requester and this very request', () => {
  it('a listed requester\'s key cannot sign for a name the policy does not list', async () => {
    const { d, erin, fields, check } = await setup();
    // The control: erin, listed, signing her own request.
    const own = createRequest(fields('reviewer-7'), d.now);
    expect(await check(own, await signRequest(own, { id: 'reviewer-7', privateJwk: erin.privateJwk }, { now: d.now }))).toEqual({ ok: true, verified: true, codes: [] });
    // Erin's key, with kid and iss naming someone the policy does not list.
    for (const name of ['reviewer-9', 'ceo', 'reviewer-7-x']) {
      const req = createRequest(fields(name), d.now);
      const sig = await signRequest(req, { id: name, privateJwk: erin.privateJwk }, { now: d.now });
      expect(await check(req, sig)).toEqual({ ok: false, verified: false, codes: ['ERR_BG_REQUESTER_UNVERIFIED'] });
    }
  });

  it('for all changes of a signed request that keep its jti: the signature is refused', async () => {
    const { d, erin, fields, nowSec, check } = await setup();
    const signed = createRequest(fields('reviewer-7'), d.now);
    const sig = await signRequest(signed, { id: 'reviewer-7', privateJwk: erin.privateJwk }, { now: d.now });
    expect(await check(signed, sig)).toEqual({ ok: true, verified: true, codes: [] });
    const scope = defaultScope();
    const change = fc.oneof(
      fc.constantFrom('another detail', 'case-2026-0043', 'x').map((detail) => ({ detail })),
      fc.constantFrom('LEGAL_PROCESS', 'IMMINENT_HARM').map((reason) => ({ reason })),
      fc.integer({ min: 1, max: 3000 }).map((s) => ({ exp: nowSec + 3600 - s })),
      fc.constantFrom(1, 2, 3).map((n) => ({ scope: { ...scope, maxMessages: Math.max(1, scope.maxMessages - n) } })),
    );
    await fc.assert(
      fc.asyncProperty(change, async (delta) => {
        // Same jti (the requester's author chooses it), anything else changed.
        let other: BreakGlassRequest;
        try {
          other = createRequest({ ...fields('reviewer-7'), ...delta, jti: signed.jti }, d.now);
        } catch {
          return; // a change createRequest itself refuses is no request at all
        }
        fc.pre(JSON.stringify(other) !== JSON.stringify(signed));
        const r = await check(other, sig);
        expect(r.verified).toBe(false);
        expect(r.codes).toContain('ERR_BG_REQUESTER_UNVERIFIED');
      }),
      { numRuns: 30 },
    );
  });
});
