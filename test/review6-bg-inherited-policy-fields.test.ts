/**
 * Review 6 (break-glass): the policy's optional fields were read through the prototype chain.
 * validatePolicy checks the policy's OWN fields only (util/validate `fields`: "an absent optional
 * field is absent, whatever Object.prototype holds"), but verification then read
 * `policy.requesters` and `policy.clockToleranceSeconds` directly (src/breakglass/policy.ts:
 * evaluate, checkApproval, checkRequesterSignature, verifyToken). With a polluted
 * `Object.prototype` (SECURITY.md: "a caller with a polluted Object.prototype | inject options |
 * options are read from own properties only"):
 *  - `Object.prototype.requesters` (new with cd9a19b) turned a policy without requesters into one
 *    whose requester list nobody validated: every token of the deployment was refused
 *    ERR_BG_REQUESTER_UNVERIFIED, and one signed by a key of the polluter's choosing was reported
 *    `requesterVerified: true` (inspect: "signature verified");
 *  - `Object.prototype.clockToleranceSeconds` (older: the same read since the tolerance was
 *    added; never bounded by validatePolicy's 300 s) let a token that expired a day earlier be
 *    accepted, with `expiresAt` years ahead, and BreakGlass released its messages.
 *
 * Now: verification reads the policy as validatePolicy checked it, its own fields only; an
 * inherited `requesters` or `clockToleranceSeconds` changes nothing.
 */
import { SignJWT, importJWK } from 'jose';
import { afterEach, describe, expect, it } from 'vitest';
import { nodeAead } from '../src/aead/node.js';
import { decodeEntry } from '../src/audit/entry.js';
import { BreakGlass } from '../src/breakglass/access.js';
import { inspectToken, verifyToken } from '../src/breakglass/policy.js';
import { REQUEST_SIGNATURE_TYP, encodeToken, generateApproverKey, requestDigest } from '../src/breakglass/token.js';
import { deployment, token } from './support/breakglass-fixtures.js';

const P = Object.prototype as Record<string, unknown>;
afterEach(() => {
  delete P.requesters;
  delete P.clockToleranceSeconds;
});

describe('break-glass: a policy\'s optional fields are its own (review 6)', () => {
  it('an inherited requesters list neither refuses the deployment\'s tokens nor verifies anyone', async () => {
    const d = await deployment();
    const { t1, t2, l1 } = d.approvers;
    const tk = await token(d, [t1, t2, l1]); // requester 'reviewer-7', unsigned: fine under d.policy
    const mallory = await generateApproverKey('reviewer-7');
    const key = await importJWK({ ...mallory.privateJwk } as never, 'EdDSA');
    const nowS = Math.floor(d.now().getTime() / 1000);
    const sig = await new SignJWT({ jti: tk.request.jti, digest: requestDigest(tk.request) })
      .setProtectedHeader({ alg: 'EdDSA', typ: REQUEST_SIGNATURE_TYP, kid: 'reviewer-7' })
      .setIssuer('reviewer-7').setAudience(tk.request.aud).setIssuedAt(nowS).setExpirationTime(tk.request.exp).sign(key);
    const signed = encodeToken({ request: tk.request, approvals: tk.approvals, requesterSignature: sig });
    P.requesters = [{ id: 'reviewer-7', publicJwk: { kty: 'OKP', crv: 'Ed25519', x: mallory.publicJwk.x } }];
    let results: unknown[];
    try {
      results = [
        await verifyToken(tk.text, d.policy, d.now()).then((v) => v.requesterVerified, (e: { code: string }) => e.code),
        (await inspectToken(tk.text, d.policy, d.now())).ok,
        await verifyToken(signed, d.policy, d.now()).then((v) => v.requesterVerified, (e: { code: string }) => e.code),
        (await inspectToken(signed, d.policy, d.now())).requesterVerified,
        await d.bg.decrypt(tk.text, 'c0', [{ ciphertext: d.messages.c0![0]!.ct, aad: d.messages.c0![0]!.aad }]).then((r) => r.opened, (e: { code: string }) => e.code),
      ];
    } finally {
      delete P.requesters;
    }
    // As without the pollution: accepted, and the requester is a name, not verified.
    expect(results).toEqual([false, true, false, false, 1]);
  });

  it('an inherited clockToleranceSeconds does not keep an expired token alive', async () => {
    const d = await deployment();
    const { t1, t2, l1 } = d.approvers;
    const nowS = Math.floor(d.now().getTime() / 1000);
    const tk = await token(d, [t1, t2, l1], { exp: nowS + 60 });
    const fresh = await token(d, [t1, t2, l1], { exp: nowS + 3600 });
    const m = d.messages.c0![0]!;
    d.setTime(d.now().getTime() + 86_400_000); // a day after tk expired
    P.clockToleranceSeconds = 10 * 365 * 86_400;
    let results: unknown[];
    try {
      results = [
        await verifyToken(tk.text, d.policy, d.now()).then((v) => v.expiresAt, (e: { code: string }) => e.code),
        (await inspectToken(tk.text, d.policy, d.now())).ok,
        await d.bg.decrypt(tk.text, 'c0', [{ ciphertext: m.ct, aad: m.aad }]).then((r) => r.opened, (e: { code: string }) => e.code),
        // a valid token's expiresAt is its own exp (the policy has no tolerance)
        await verifyToken(fresh.text, d.policy, new Date(nowS * 1000)).then((v) => v.expiresAt, (e: { code: string }) => e.code),
      ];
    } finally {
      delete P.clockToleranceSeconds;
    }
    expect(results).toEqual(['ERR_BG_EXPIRED', false, 'ERR_BG_EXPIRED', nowS + 3600]);
    const log = (await d.auditStore.read(0, await d.auditStore.size())).map(decodeEntry);
    expect(log.some((e) => e.type === 'breakglass.access')).toBe(false);
    expect(log.at(-1)).toMatchObject({ type: 'breakglass.refused', refusal: 'ERR_BG_EXPIRED' });
  });

  it('a BreakGlass built on a policy with own requesters still requires the signature (control)', async () => {
    const d = await deployment();
    const { t1, t2, l1 } = d.approvers;
    const erin = await generateApproverKey('reviewer-7');
    const policy = { ...structuredClone(d.policy), requesters: [{ id: erin.id, publicJwk: erin.publicJwk }] };
    const bg = new BreakGlass({ policy, masterKey: d.masterKey, keyStore: d.keyStore, audit: { log: d.log, ids: d.ids, actor: 'tns-console' }, aead: nodeAead, now: d.now });
    const tk = await token(d, [t1, t2, l1]);
    await expect(bg.decrypt(tk.text, 'c0', [{ ciphertext: d.messages.c0![0]!.ct, aad: d.messages.c0![0]!.aad }])).rejects.toMatchObject({ code: 'ERR_BG_REQUESTER_UNVERIFIED' });
  });
});
