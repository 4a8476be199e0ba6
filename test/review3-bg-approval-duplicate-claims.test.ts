/**
 * Outside review 3 (break-glass): approvals whose JWS header or claims hold a duplicate member
 * are accepted, although the token parser refuses duplicate fields for exactly this reason.
 *
 * Where: src/breakglass/policy.ts:252 (`decodeProtectedHeader(jwt).kid`) and :261 (`jwtVerify`)
 * read the approval's protected header and claims with JSON.parse, which keeps the LAST of two
 * equal members. decodeToken (src/breakglass/token.ts:534-535, src/util/json.ts:20-24) refuses a
 * token with a duplicate key because "JSON.parse keeps the last one; other parsers the first, so
 * a token with duplicate keys could show an auditor's script a different request than the one
 * verified" — but the approvals inside it get no such check. An approval signed with header
 * {"kid":"t3",…,"kid":"t1"} and claims {"iss":"t3",…,"iss":"t1"} counts as t1's for keywarden,
 * while a first-wins reader (the independent `jose`-style script docs/BREAK-GLASS.md §1 invites)
 * attributes it to t3. Producing one needs an approver's key, so this is an auditability /
 * parser-differential defect, not a way to forge approvals.
 *
 * Correct: refuse (ERR_BG_MALFORMED) an approval whose protected header or claims set has a
 * duplicate member name, as the token text itself is refused.
 *
 * Now: an approval whose header or claims name a member twice is ERR_BG_MALFORMED.
 */
import { importJWK } from 'jose';
import { describe, expect, it } from 'vitest';
import { verifyToken } from '../src/breakglass/policy.js';
import { APPROVAL_TYP, approveRequest, requestDigest } from '../src/breakglass/token.js';
import { deployment, token } from './support/breakglass-fixtures.js';

describe('approvals with duplicate JSON members', () => {
  it('an approval whose header and claims repeat kid/iss is refused as malformed', async () => {
    const d = await deployment();
    const { t1, t2, l1 } = d.approvers;
    const base = await token(d, []);
    const req = base.request;
    const now = Math.floor(d.now().getTime() / 1000);
    const header = `{"alg":"EdDSA","typ":"${APPROVAL_TYP}","kid":"t3","kid":"t1"}`;
    const claims = `{"jti":"${req.jti}","digest":"${requestDigest(req)}","iss":"t3","aud":"${req.aud}","iat":${now},"exp":${req.exp},"iss":"t1"}`;
    // The compact JWS built by hand (jose's builders cannot repeat a member), signed by t1.
    const key = await importJWK({ kty: 'OKP', crv: 'Ed25519', x: t1.privateJwk.x as string, d: t1.privateJwk.d as string }, 'EdDSA');
    const enc = (s: string) => Buffer.from(s).toString('base64url');
    const signingInput = `${enc(header)}.${enc(claims)}`;
    const raw = new Uint8Array(await crypto.subtle.sign('Ed25519', key as CryptoKey, new TextEncoder().encode(signingInput)));
    const dupApproval = `${signingInput}.${Buffer.from(raw).toString('base64url')}`;
    const approvals = [dupApproval, await approveRequest(req, { id: 't2', privateJwk: t2.privateJwk }, { now: d.now }), await approveRequest(req, { id: 'l1', privateJwk: l1.privateJwk }, { now: d.now })];
    let outcome: unknown;
    try {
      outcome = await verifyToken({ request: req, approvals }, d.policy, d.now());
    } catch (e) {
      outcome = e;
    }
    // Today: accepted, the approval counted as t1's (approvers ['t1', 't2', 'l1']).
    expect(outcome).toMatchObject({ code: 'ERR_BG_MALFORMED' });
  });
});
