/**
 * Outside review 5 (break-glass): a trust policy accepted an approver public key that is a
 * small-order point of Ed25519 (the identity, the point of order 2, the points of order 4 and
 * 8, in any of their encodings). Approvals are verified by jose through WebCrypto/OpenSSL, whose
 * Ed25519 verification is cofactorless and does not refuse such keys: under the identity key
 * the signature R = identity, S = 0 verifies for EVERY message. So whoever learns that an
 * approver enrolled such a "key" (a careless or malicious keygen, a key file edited by hand)
 * can mint that approver's approval for any request — no private key exists for it — and
 * `verifyToken` counted it, and `BreakGlass.decrypt` released plaintext with the forged approver
 * named in the audit log. keywarden's own notes refuse this signature (strict RFC 8032,
 * test/audit-note.test.ts); break-glass approvals, the more sensitive path, did not.
 *
 * Now: `validatePolicy` (and so `verifyToken`, `inspectToken`, `new BreakGlass`, `token inspect`)
 * refuses a public JWK whose "x" decodes to a small-order point, in any encoding (canonical or
 * not), naming the field; a forged approval can therefore never count.
 */
import { ed25519 } from '@noble/curves/ed25519.js';
import fc from 'fast-check';
import { base64url } from 'jose';
import { describe, expect, it } from 'vitest';
import { BreakGlass } from '../src/breakglass/access.js';
import { type BreakGlassPolicy, validatePolicy, verifyToken } from '../src/breakglass/policy.js';
import { APPROVAL_TYP, encodeToken, publicJwkProblem, requestDigest } from '../src/breakglass/token.js';
import { nodeAead } from '../src/aead/node.js';
import { deployment, token } from './support/breakglass-fixtures.js';

const hex = (h: string) => Uint8Array.from(h.match(/../g)!.map((b) => parseInt(b, 16)));

/** Every 32-byte string that decodes (leniently, as OpenSSL may) to a point of order 1, 2, 4 or 8. */
function smallOrderEncodings(): Uint8Array[] {
  const P = ed25519.Point;
  const gen8 = P.fromBytes(hex('c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a'));
  const out: Uint8Array[] = [];
  const seen = new Set<string>();
  const add = (b: Uint8Array) => {
    const k = base64url.encode(b);
    if (!seen.has(k)) {
      seen.add(k);
      out.push(b);
    }
  };
  for (let i = 0n; i < 8n; i++) {
    const enc = (i === 0n ? P.ZERO : gen8.multiply(i)).toBytes();
    add(enc);
    const flipped = enc.slice();
    flipped[31]! ^= 0x80; // the sign bit: the negation, or a non-canonical "-0" when x = 0
    add(flipped);
  }
  // y >= p (non-canonical) for y = 0 and y = 1: p and p + 1, with both sign bits.
  for (const low of [0xed, 0xee]) {
    for (const top of [0x7f, 0xff]) {
      const b = new Uint8Array(32).fill(0xff);
      b[0] = low;
      b[31] = top;
      add(b);
    }
  }
  return out;
}

/** (R = identity, S = 0): a "signature" that verifies for any message under the identity key. */
function forgedApproval(kid: string, claims: Record<string, unknown>): string {
  const enc = (o: unknown) => base64url.encode(new TextEncoder().encode(JSON.stringify(o)));
  const sig = new Uint8Array(64);
  sig[0] = 1;
  return `${enc({ alg: 'EdDSA', typ: APPROVAL_TYP, kid })}.${enc({ iss: kid, ...claims })}.${base64url.encode(sig)}`;
}

describe('break-glass: small-order approver public keys', () => {
  it('validatePolicy refuses every small-order point as an approver key, in every encoding', async () => {
    const d = await deployment();
    const encodings = smallOrderEncodings();
    expect(encodings.length).toBeGreaterThanOrEqual(14);
    for (const b of encodings) {
      const jwk = { kty: 'OKP', crv: 'Ed25519', x: base64url.encode(b) };
      const policy: BreakGlassPolicy = structuredClone(d.policy);
      policy.factors[1]!.approvers = [{ id: 'l1', publicJwk: jwk }];
      expect(() => validatePolicy(policy), jwk.x).toThrow(expect.objectContaining({ code: 'ERR_INVALID_INPUT', param: 'policy.factors[1].approvers[0].publicJwk' }));
      expect(publicJwkProblem(jwk), jwk.x).toMatch(/small-order/);
    }
    // A real key still passes.
    expect(publicJwkProblem(d.policy.factors[1]!.approvers[0]!.publicJwk)).toBeUndefined();
  });

  it('every real public key (of a private key) is still accepted (property)', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 32, maxLength: 32 }), (seed) => {
        expect(publicJwkProblem({ kty: 'OKP', crv: 'Ed25519', x: base64url.encode(ed25519.getPublicKey(seed)) })).toBeUndefined();
      }),
      { numRuns: 200 },
    );
  });

  it('a forged approval under an identity "key" is never counted, and nothing is released with it', async () => {
    const d = await deployment();
    const identity = new Uint8Array(32);
    identity[0] = 1;
    const policy: BreakGlassPolicy = structuredClone(d.policy);
    policy.factors[1]!.approvers = [{ id: 'l1', publicJwk: { kty: 'OKP', crv: 'Ed25519', x: base64url.encode(identity) } }];
    // Two genuine trust-and-safety approvals; the legal one is forged by the requester.
    const tk = await token(d, [d.approvers.t1, d.approvers.t2]);
    const nowS = Math.floor(d.now().getTime() / 1000);
    const forged = forgedApproval('l1', { aud: policy.audience, jti: tk.request.jti, digest: requestDigest(tk.request), iat: nowS, exp: nowS + 3600 });
    const text = encodeToken({ request: tk.request, approvals: [...tk.approvals, forged] });

    const verified = await verifyToken(text, policy, d.now()).then((v) => v.approvers, (e: { code?: string }) => e.code);
    const before = d.unwrapped.length;
    const released = await (async () => {
      const bg = new BreakGlass({ policy, masterKey: d.masterKey, keyStore: d.keyStore, audit: { log: d.log, ids: d.ids, actor: 'tns-console' }, aead: nodeAead, now: d.now });
      const m = d.messages.c0![0]!;
      return bg.decrypt(text, 'c0', [{ ciphertext: m.ct, aad: m.aad }]);
    })().then((r) => r.opened, () => 0);
    expect({ verified, released, unwrapped: d.unwrapped.length - before }).toEqual({ verified: 'ERR_INVALID_INPUT', released: 0, unwrapped: 0 });
  });
});
