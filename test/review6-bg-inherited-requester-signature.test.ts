/**
 * Review 6 (break-glass): a token's `requesterSignature` (new with cd9a19b) was read through the
 * prototype chain. tokenProblem, encodeToken and decodeToken (src/breakglass/token.ts) tested
 * `t.requesterSignature === undefined`, so with a polluted `Object.prototype.requesterSignature`
 * (SECURITY.md: options are read from own properties only):
 *  - a string there was written into every token encoded without a signature (the text was no
 *    longer "the same as before") and copied by decodeToken into tokens that had none, so
 *    verifyToken judged a signature the token's holder never gave;
 *  - anything else there (a number) made every token malformed: encodeToken and decodeToken
 *    threw ERR_BG_MALFORMED for all tokens, and BreakGlass refused all access.
 *
 * Now: only the token's own `requesterSignature` counts; an inherited one is ignored.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { type BreakGlassPolicy, verifyToken } from '../src/breakglass/policy.js';
import { decodeToken, encodeToken, generateApproverKey, signRequest } from '../src/breakglass/token.js';
import { deployment, token } from './support/breakglass-fixtures.js';

const P = Object.prototype as Record<string, unknown>;
afterEach(() => {
  delete P.requesterSignature;
});

describe('break-glass: a token\'s requesterSignature is its own (review 6)', () => {
  it('an inherited signature is neither encoded, nor decoded, nor verified', async () => {
    const d = await deployment();
    const { t1, t2, l1 } = d.approvers;
    const erin = await generateApproverKey('reviewer-7');
    const policy: BreakGlassPolicy = { ...structuredClone(d.policy), requesters: [{ id: erin.id, publicJwk: erin.publicJwk }] };
    const tk = await token(d, [t1, t2, l1]);
    const sig = await signRequest(tk.request, { id: 'reviewer-7', privateJwk: erin.privateJwk }, { now: d.now });
    P.requesterSignature = sig;
    let results: unknown[];
    try {
      results = [
        encodeToken({ request: tk.request, approvals: tk.approvals }) === tk.text,
        Object.hasOwn(decodeToken(tk.text), 'requesterSignature'),
        await verifyToken(tk.text, policy, d.now()).then((v) => v.requesterVerified, (e: { code: string }) => e.code),
      ];
    } finally {
      delete P.requesterSignature;
    }
    expect(results).toEqual([true, false, 'ERR_BG_REQUESTER_UNVERIFIED']);
  });

  it('an inherited non-string does not make every token malformed', async () => {
    const d = await deployment();
    const { t1, t2, l1 } = d.approvers;
    const tk = await token(d, [t1, t2, l1]);
    const m = d.messages.c0![0]!;
    P.requesterSignature = 1;
    let results: unknown[];
    try {
      results = [
        (() => { try { return encodeToken({ request: tk.request, approvals: tk.approvals }) === tk.text; } catch (e) { return (e as { code: string }).code; } })(),
        (() => { try { return decodeToken(tk.text).approvals.length; } catch (e) { return (e as { code: string }).code; } })(),
        await d.bg.decrypt(tk.text, 'c0', [{ ciphertext: m.ct, aad: m.aad }]).then((r) => r.opened, (e: { code: string }) => e.code),
      ];
    } finally {
      delete P.requesterSignature;
    }
    expect(results).toEqual([true, 3, 1]);
  });
});
