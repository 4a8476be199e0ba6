/**
 * Break-glass policy tokens: every refusal code from a minimal change to an accepted token,
 * k-of-n counting per factor, tamper properties, strict parsing, inspection.
 */
import fc from 'fast-check';
import { SignJWT, base64url, importJWK } from 'jose';
import { beforeAll, describe, expect, it } from 'vitest';
import { BreakGlassError, InvalidInputError } from '../src/errors.js';
import { type BreakGlassPolicy, inspectToken, validatePolicy, verifyToken } from '../src/breakglass/policy.js';
import {
  APPROVAL_TYP,
  type BreakGlassRequest,
  type BreakGlassToken,
  REASON_CODES,
  approveRequest,
  canonicalRequest,
  createRequest,
  decodeToken,
  encodeToken,
  generateApproverKey,
  isCanonicalBase64url,
  requestDigest,
} from '../src/breakglass/token.js';

type Key = Awaited<ReturnType<typeof generateApproverKey>>;

const NOW = new Date('2030-01-01T00:00:00.000Z');
const T = NOW.getTime() / 1000;
const at = (s: number) => new Date((T + s) * 1000);
const NAMES = ['ts-alice', 'ts-bob', 'ts-carol', 'legal-dan', 'legal-erin', 'outsider'] as const;
const QUORUM = ['ts-alice', 'ts-bob', 'legal-dan'];

const K = {} as Record<(typeof NAMES)[number], Key>;
let policy: BreakGlassPolicy;
let base: BreakGlassRequest;
let good: BreakGlassToken;

const pub = (k: Key) => ({ id: k.id, publicJwk: k.publicJwk });
const approve = (req: BreakGlassRequest, who: string, opts: { expiresInSeconds?: number; now?: () => Date } = {}) =>
  approveRequest(req, K[who as keyof typeof K], { now: () => at(-30), ...opts });
const tokenOf = async (req: BreakGlassRequest, who: string[]): Promise<BreakGlassToken> => ({ request: req, approvals: await Promise.all(who.map((w) => approve(req, w))) });
const withReq = (patch: Partial<BreakGlassRequest>): BreakGlassRequest => ({ ...base, ...patch });
const withScope = (patch: Partial<BreakGlassRequest['scope']>): BreakGlassRequest => ({ ...base, scope: { ...base.scope, ...patch } });

async function codeOf(p: Promise<unknown> | (() => unknown)): Promise<string> {
  try {
    await (typeof p === 'function' ? p() : p);
    return 'ok';
  } catch (e) {
    if (e instanceof BreakGlassError || e instanceof InvalidInputError) return e.code;
    throw e;
  }
}
const verifyCode = (t: BreakGlassToken | string, pol = policy, now = NOW) => codeOf(verifyToken(t, pol, now));

/** Replaces character `i` of `s`. */
const setChar = (s: string, i: number, c: string) => s.slice(0, i) + c + s.slice(i + 1);
/** A signature character changed, keeping canonical base64url (so the signature check is what fails). */
function flipSignature(jwt: string): string {
  const i = jwt.lastIndexOf('.') + 10;
  return setChar(jwt, i, jwt[i] === 'A' ? 'B' : 'A');
}

beforeAll(async () => {
  for (const n of NAMES) K[n] = await generateApproverKey(n);
  policy = {
    id: 'bg-prod',
    audience: 'keywarden://dm-prod',
    factors: [
      { name: 'trust-and-safety', threshold: 2, approvers: [pub(K['ts-alice']), pub(K['ts-bob']), pub(K['ts-carol'])] },
      { name: 'legal', threshold: 1, approvers: [pub(K['legal-dan']), pub(K['legal-erin'])] },
    ],
    allowedReasons: ['USER_REPORT_REVIEW', 'IMMINENT_HARM', 'LEGAL_PROCESS'],
    maxLifetimeSeconds: 86_400,
    maxScope: { conversations: 3, messages: 500, windowSeconds: 7 * 86_400 },
  };
  // The requester is a trust-and-safety analyst who is also an approver: they may never count.
  base = createRequest(
    {
      policy: 'bg-prod', aud: 'keywarden://dm-prod', requester: 'ts-carol', reason: 'USER_REPORT_REVIEW', detail: 'case 4711',
      scope: { conversations: ['dm:alice:bob', 'dm:bob:mallory'], from: '2029-12-20T00:00:00.000Z', to: '2029-12-27T00:00:00.000Z', maxMessages: 200, operation: 'decrypt' },
      exp: T + 3600,
    },
    () => at(-60),
  );
  good = await tokenOf(base, QUORUM);
});

describe('break-glass token: acceptance', () => {
  it('2 of trust-and-safety AND 1 of legal: accepted, as object and as text, with who approved', async () => {
    for (const t of [good, encodeToken(good), JSON.stringify(good, null, 2)]) {
      const v = await verifyToken(t, policy, NOW);
      expect(v.approvers).toEqual(QUORUM);
      expect(v.factors).toEqual([{ name: 'trust-and-safety', have: 2, need: 2 }, { name: 'legal', have: 1, need: 1 }]);
      expect(v.digest).toBe(requestDigest(base));
      expect(v.request).toEqual(base);
    }
  });

  it('approvals collected at different times, in any order, with different iat: accepted', async () => {
    const approvals = [
      await approve(base, 'legal-dan', { now: () => at(-50) }),
      await approve(base, 'ts-bob', { now: () => at(600) }),
      await approve(base, 'ts-alice', { now: () => at(1800) }),
    ];
    const iats = approvals.map((a) => JSON.parse(new TextDecoder().decode(base64url.decode(a.split('.')[1]!))).iat);
    expect(new Set(iats).size).toBe(3);
    expect((await verifyToken({ request: base, approvals }, policy, at(1900))).approvers).toEqual(['legal-dan', 'ts-bob', 'ts-alice']);
  });

  it('more approvals than needed are fine; an approver listed in two factors counts in each, once per factor', async () => {
    expect(await verifyCode(await tokenOf(base, ['ts-alice', 'ts-bob', 'legal-dan', 'legal-erin']))).toBe('ok');
    const shared: BreakGlassPolicy = { ...policy, factors: [{ ...policy.factors[0]!, approvers: [...policy.factors[0]!.approvers, pub(K['legal-dan'])] }, policy.factors[1]!] };
    const v = await verifyToken(await tokenOf(base, ['ts-alice', 'legal-dan']), shared, NOW);
    expect(v.factors).toEqual([{ name: 'trust-and-safety', have: 2, need: 2 }, { name: 'legal', have: 1, need: 1 }]);
    // ...but once per factor: dan alone is 1 of 2 trust-and-safety.
    expect(await verifyCode(await tokenOf(base, ['legal-dan']), shared)).toBe('ERR_BG_THRESHOLD_NOT_MET');
  });

  it('clock tolerance widens nbf/exp for the request and the approvals', async () => {
    const tolerant = { ...policy, clockToleranceSeconds: 30 };
    expect(await verifyCode(good, tolerant, at(3600 + 29))).toBe('ok');
    expect(await verifyCode(good, tolerant, at(3600 + 30))).toBe('ERR_BG_EXPIRED');
    expect(await verifyCode(good, tolerant, at(-60 - 30))).toBe('ok');
    expect(await verifyCode(good, tolerant, at(-60 - 31))).toBe('ERR_BG_NOT_YET_VALID');
  });
});

describe('break-glass token: every refusal has its code (one minimal change each)', () => {
  it('ERR_BG_MALFORMED: an unknown request field', async () => {
    const text = encodeToken(good).replace('"v":1', '"v":1,"x":1');
    expect(await verifyCode(text)).toBe('ERR_BG_MALFORMED');
  });

  it('ERR_BG_MALFORMED: an approval whose protected header is not JSON, or has no kid', async () => {
    const [, p, s] = good.approvals[0]!.split('.');
    expect(await verifyCode({ ...good, approvals: [`${base64url.encode('{"alg":')}.${p}.${s}`, ...good.approvals.slice(1)] })).toBe('ERR_BG_MALFORMED');
    expect(await verifyCode({ ...good, approvals: [`${base64url.encode('{"alg":"EdDSA"}')}.${p}.${s}`, ...good.approvals.slice(1)] })).toBe('ERR_BG_MALFORMED');
  });

  it('ERR_BG_WRONG_AUDIENCE: made for another deployment (even if fully approved for it)', async () => {
    expect(await verifyCode(await tokenOf(withReq({ aud: 'keywarden://dm-staging' }), QUORUM))).toBe('ERR_BG_WRONG_AUDIENCE');
  });

  it('ERR_BG_WRONG_POLICY: made for another policy', async () => {
    expect(await verifyCode(await tokenOf(withReq({ policy: 'bg-other' }), QUORUM))).toBe('ERR_BG_WRONG_POLICY');
  });

  it('ERR_BG_NOT_YET_VALID: before nbf', async () => {
    expect(await verifyCode(good, policy, at(-61))).toBe('ERR_BG_NOT_YET_VALID');
  });

  it('ERR_BG_EXPIRED: at exp', async () => {
    expect(await verifyCode(good, policy, at(3599))).toBe('ok');
    expect(await verifyCode(good, policy, at(3600))).toBe('ERR_BG_EXPIRED');
  });

  it('ERR_BG_EXPIRED: an approval that expired before the request did', async () => {
    const short = await approve(base, 'legal-dan', { expiresInSeconds: 60 });
    const t = { request: base, approvals: [good.approvals[0]!, good.approvals[1]!, short] };
    expect(await verifyCode(t, policy, at(29))).toBe('ok');
    expect(await verifyCode(t, policy, at(30))).toBe('ERR_BG_EXPIRED');
  });

  it('ERR_BG_LIFETIME: exp - iat over the maximum, exp <= nbf, or a back-dated nbf', async () => {
    expect(await verifyCode(await tokenOf(withReq({ exp: base.iat + 86_400 }), QUORUM))).toBe('ok');
    expect(await verifyCode(await tokenOf(withReq({ exp: base.iat + 86_401 }), QUORUM))).toBe('ERR_BG_LIFETIME');
    expect(await verifyCode(await tokenOf(withReq({ nbf: base.exp }), QUORUM))).toBe('ERR_BG_LIFETIME');
    expect(await verifyCode(await tokenOf(withReq({ nbf: base.exp - 86_401 }), QUORUM))).toBe('ERR_BG_LIFETIME');
    // Each bound on its own: exp - nbf within the maximum does not excuse exp - iat over it.
    const late = withReq({ nbf: base.iat + 600, exp: base.iat + 86_401 });
    expect(late.exp - late.nbf).toBeLessThanOrEqual(86_400);
    expect(await verifyCode(await tokenOf(late, QUORUM), policy, at(late.nbf - T))).toBe('ERR_BG_LIFETIME');
  });

  it('ERR_BG_REASON_NOT_ALLOWED: a reason the policy does not list; an empty list denies everything', async () => {
    expect(await verifyCode(await tokenOf(withReq({ reason: 'SECURITY_INCIDENT' }), QUORUM))).toBe('ERR_BG_REASON_NOT_ALLOWED');
    expect(await verifyCode(await tokenOf(withReq({ reason: 'CURIOSITY' }), QUORUM))).toBe('ERR_BG_REASON_NOT_ALLOWED');
    for (const r of REASON_CODES) {
      expect(await verifyCode(await tokenOf(withReq({ reason: r }), QUORUM), { ...policy, allowedReasons: [] })).toBe('ERR_BG_REASON_NOT_ALLOWED');
    }
  });

  it.each([
    ['too many conversations', { conversations: ['c1', 'c2', 'c3', 'c4'] }],
    ['window longer than the maximum', { to: '2029-12-27T00:00:01.000Z' }],
    ['maxMessages over the maximum', { maxMessages: 501 }],
    ['another operation', { operation: 'export' as 'decrypt' }],
    ['from >= to', { to: '2029-12-20T00:00:00.000Z' }],
  ])('ERR_BG_OUT_OF_SCOPE: %s', async (_, patch) => {
    expect(await verifyCode(await tokenOf(withScope(patch), QUORUM))).toBe('ERR_BG_OUT_OF_SCOPE');
  });

  it('ERR_BG_UNKNOWN_APPROVER: an approval by a key the policy does not list', async () => {
    expect(await verifyCode(await tokenOf(base, [...QUORUM, 'outsider']))).toBe('ERR_BG_UNKNOWN_APPROVER');
  });

  it('ERR_BG_BAD_SIGNATURE: one changed signature byte rejects the token even when the rest meets every threshold', async () => {
    const t = await tokenOf(base, [...QUORUM, 'legal-erin']);
    expect(await verifyCode(t)).toBe('ok');
    expect(await verifyCode({ ...t, approvals: [...t.approvals.slice(0, 3), flipSignature(t.approvals[3]!)] })).toBe('ERR_BG_BAD_SIGNATURE');
  });

  it('ERR_BG_BAD_SIGNATURE: signed by another known key under kid ts-alice', async () => {
    const forged = await new SignJWT({ jti: base.jti, digest: requestDigest(base) })
      .setProtectedHeader({ alg: 'EdDSA', typ: APPROVAL_TYP, kid: 'ts-alice' })
      .setIssuer('ts-alice').setAudience(base.aud).setIssuedAt(T - 30).setExpirationTime(base.exp)
      .sign(await importJWK(K['ts-bob'].privateJwk, 'EdDSA'));
    expect(await verifyCode({ request: base, approvals: [forged, good.approvals[1]!, good.approvals[2]!] })).toBe('ERR_BG_BAD_SIGNATURE');
  });

  it('ERR_BG_BAD_SIGNATURE: a valid approval of another request (other jti or other digest)', async () => {
    const other = await approve(withReq({ jti: 'AAAAAAAAAAAAAAAAAAAAAA' }), 'legal-dan');
    expect(await verifyCode({ request: base, approvals: [good.approvals[0]!, good.approvals[1]!, other] })).toBe('ERR_BG_BAD_SIGNATURE');
    const wider = await approve(withScope({ maxMessages: 201 }), 'legal-dan');
    expect(await verifyCode({ request: base, approvals: [good.approvals[0]!, good.approvals[1]!, wider] })).toBe('ERR_BG_BAD_SIGNATURE');
  });

  it('ERR_BG_BAD_SIGNATURE: validly signed but not an approval (other typ, aud or iss)', async () => {
    const key = await importJWK(K['legal-dan'].privateJwk, 'EdDSA');
    const mk = (typ: string, aud: string, iss: string) =>
      new SignJWT({ jti: base.jti, digest: requestDigest(base) }).setProtectedHeader({ alg: 'EdDSA', typ, kid: 'legal-dan' })
        .setIssuer(iss).setAudience(aud).setIssuedAt(T - 30).setExpirationTime(base.exp).sign(key);
    expect(await verifyCode({ request: base, approvals: [...good.approvals.slice(0, 2), await mk(APPROVAL_TYP, base.aud, 'legal-dan')] })).toBe('ok');
    for (const jwt of [await mk('JWT', base.aud, 'legal-dan'), await mk(APPROVAL_TYP, 'other', 'legal-dan'), await mk(APPROVAL_TYP, base.aud, 'legal-erin')]) {
      expect(await verifyCode({ request: base, approvals: [...good.approvals.slice(0, 2), jwt] })).toBe('ERR_BG_BAD_SIGNATURE');
    }
  });

  it('ERR_BG_EXPIRED at the request\'s exp, even when its approvals were signed to last longer', async () => {
    const long = { request: base, approvals: await Promise.all(QUORUM.map((w) => approve(base, w, { expiresInSeconds: 86_400 }))) };
    expect(await verifyCode(long, policy, at(base.exp - T - 1))).toBe('ok');
    expect(await verifyCode(long, policy, at(base.exp - T))).toBe('ERR_BG_EXPIRED');
  });

  it('approval claims: one without exp or iat is refused as not an approval; one valid only later is not yet valid; a broken JWS is malformed', async () => {
    const key = await importJWK(K['legal-dan'].privateJwk, 'EdDSA');
    const jwt = (claims: { iat?: boolean; exp?: boolean; nbf?: number }) => {
      let j = new SignJWT({ jti: base.jti, digest: requestDigest(base) }).setProtectedHeader({ alg: 'EdDSA', typ: APPROVAL_TYP, kid: 'legal-dan' })
        .setIssuer('legal-dan').setAudience(base.aud);
      if (claims.iat !== false) j = j.setIssuedAt(T - 30);
      if (claims.exp !== false) j = j.setExpirationTime(base.exp);
      if (claims.nbf !== undefined) j = j.setNotBefore(claims.nbf);
      return j.sign(key);
    };
    const with3 = async (third: string) => verifyCode({ request: base, approvals: [...good.approvals.slice(0, 2), third] });
    expect(await with3(await jwt({}))).toBe('ok');
    // Missing claims from a known key: not that approver's approval (docs/BREAK-GLASS.md).
    expect(await with3(await jwt({ exp: false }))).toBe('ERR_BG_BAD_SIGNATURE');
    expect(await with3(await jwt({ iat: false }))).toBe('ERR_BG_BAD_SIGNATURE');
    expect(await with3(await jwt({ nbf: T + 600 }))).toBe('ERR_BG_NOT_YET_VALID');
    const ok = await jwt({});
    const [h, p] = ok.split('.');
    expect(await with3(`${h}.${p}.not*base64url`)).toBe('ERR_BG_MALFORMED');
  });

  it('ERR_BG_REQUESTER_APPROVED: refused even though the thresholds are met without the requester', async () => {
    const withoutRequester = await tokenOf(base, QUORUM);
    expect(await verifyCode(withoutRequester)).toBe('ok');
    expect(await verifyCode(await tokenOf(base, [...QUORUM, 'ts-carol']))).toBe('ERR_BG_REQUESTER_APPROVED');
  });

  it('ERR_BG_DUPLICATE_APPROVER: the same approver twice (a copy, or signed again later)', async () => {
    expect(await verifyCode({ ...good, approvals: [...good.approvals, good.approvals[0]!] })).toBe('ERR_BG_DUPLICATE_APPROVER');
    const again = await approve(base, 'ts-alice', { now: () => at(100) });
    expect(await verifyCode({ ...good, approvals: [...good.approvals, again] }, policy, at(200))).toBe('ERR_BG_DUPLICATE_APPROVER');
  });

  it('ERR_BG_THRESHOLD_NOT_MET: one trust-and-safety approver short; legal missing; no approvals', async () => {
    expect(await verifyCode(await tokenOf(base, ['ts-alice', 'legal-dan']))).toBe('ERR_BG_THRESHOLD_NOT_MET');
    expect(await verifyCode(await tokenOf(base, ['ts-alice', 'ts-bob']))).toBe('ERR_BG_THRESHOLD_NOT_MET');
    expect(await verifyCode({ request: base, approvals: [] })).toBe('ERR_BG_THRESHOLD_NOT_MET');
  });

  it('the error message names what failed but carries no token bytes', async () => {
    const e = await verifyToken({ ...good, approvals: [flipSignature(good.approvals[0]!), ...good.approvals.slice(1)] }, policy, NOW).catch((x) => x);
    expect(e).toBeInstanceOf(BreakGlassError);
    expect(e.message).toContain('ts-alice');
    for (const part of good.approvals[0]!.split('.')) expect(e.message).not.toContain(part);
  });
});

describe('break-glass token: tampering', () => {
  const b64chars = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';

  it('any single character changed anywhere in an approval JWT: refused', async () => {
    await fc.assert(
      fc.asyncProperty(fc.nat({ max: 2 }), fc.nat(), fc.oneof(fc.constantFrom(...b64chars), fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c))), async (which, pos, c) => {
        const jwt = good.approvals[which]!;
        const i = pos % jwt.length;
        fc.pre(jwt[i] !== c);
        const code = await verifyCode({ ...good, approvals: good.approvals.map((a, k) => (k === which ? setChar(jwt, i, c) : a)) });
        // A changed header may name another kid, which the policy does not know.
        const allowed = i < jwt.indexOf('.') ? ['ERR_BG_BAD_SIGNATURE', 'ERR_BG_MALFORMED', 'ERR_BG_UNKNOWN_APPROVER'] : ['ERR_BG_BAD_SIGNATURE', 'ERR_BG_MALFORMED'];
        expect(allowed).toContain(code);
      }),
      { numRuns: 300 },
    );
  });

  it('any single byte changed in the decoded header or payload of an approval: refused', async () => {
    await fc.assert(
      fc.asyncProperty(fc.nat({ max: 2 }), fc.nat({ max: 1 }), fc.nat(), fc.integer({ min: 1, max: 255 }), async (which, part, pos, x) => {
        const parts = good.approvals[which]!.split('.');
        const bytes = base64url.decode(parts[part]!);
        bytes[pos % bytes.length]! ^= x;
        parts[part] = base64url.encode(bytes);
        const code = await verifyCode({ ...good, approvals: good.approvals.map((a, k) => (k === which ? parts.join('.') : a)) });
        expect(part === 0 ? ['ERR_BG_BAD_SIGNATURE', 'ERR_BG_MALFORMED', 'ERR_BG_UNKNOWN_APPROVER'] : ['ERR_BG_BAD_SIGNATURE', 'ERR_BG_MALFORMED']).toContain(code);
      }),
      { numRuns: 300 },
    );
  });

  it('any field of the request changed after approval (still within policy): ERR_BG_BAD_SIGNATURE', async () => {
    const text = fc.string({ minLength: 1, maxLength: 20 }).filter((s) => s.isWellFormed() && !/[\u0000-\u001f\u007f-\u009f]/.test(s));
    const shift = (iso: string, s: number) => new Date(Date.parse(iso) + s * 1000).toISOString();
    const mutation: fc.Arbitrary<[string, BreakGlassRequest]> = fc.oneof(
      fc.uint8Array({ minLength: 16, maxLength: 16 }).map((b) => ['jti', withReq({ jti: base64url.encode(b) })] as [string, BreakGlassRequest]),
      text.map((s) => ['requester', withReq({ requester: `req-${s}` })]),
      fc.constantFrom('IMMINENT_HARM', 'LEGAL_PROCESS').map((r) => ['reason', withReq({ reason: r })]),
      text.map((s) => ['detail', withReq({ detail: `${base.detail}${s}` })]),
      text.map((s) => ['conversations', withScope({ conversations: [base.scope.conversations[0]!, `dm:x-${s}`] })]),
      fc.constant(['conversations', withScope({ conversations: [base.scope.conversations[0]!] })]),
      fc.constant(['conversations', withScope({ conversations: [...base.scope.conversations].reverse() })]),
      fc.integer({ min: 1, max: 86_400 }).map((s) => ['from', withScope({ from: shift(base.scope.from, s) })]),
      fc.integer({ min: 1, max: 1000 }).map((ms) => ['from', withScope({ from: new Date(Date.parse(base.scope.from) + ms).toISOString() })]),
      fc.integer({ min: 1, max: 86_400 }).map((s) => ['to', withScope({ to: shift(base.scope.to, -s) })]),
      fc.integer({ min: 1, max: 500 }).filter((n) => n !== base.scope.maxMessages).map((n) => ['maxMessages', withScope({ maxMessages: n })]),
      fc.integer({ min: 1, max: 1000 }).map((s) => ['iat', withReq({ iat: base.iat - s })]),
      fc.integer({ min: 1, max: 1000 }).map((s) => ['nbf', withReq({ nbf: base.nbf - s })]),
      fc.integer({ min: -3000, max: 3000 }).filter((s) => s !== 0).map((s) => ['exp', withReq({ exp: base.exp + s })]),
    ) as fc.Arbitrary<[string, BreakGlassRequest]>;
    await fc.assert(
      fc.asyncProperty(mutation, async ([, req]) => {
        expect(requestDigest(req)).not.toBe(requestDigest(base));
        expect(await verifyCode({ request: req, approvals: good.approvals })).toBe('ERR_BG_BAD_SIGNATURE');
      }),
      { numRuns: 300 },
    );
  });
});

describe('break-glass token: encoding', () => {
  it('canonicalRequest is RFC 8785: sorted keys, no whitespace, one spelling per request', () => {
    const text = new TextDecoder().decode(canonicalRequest(base));
    expect(text.startsWith('{"aud":"keywarden://dm-prod","detail":"case 4711","exp":')).toBe(true);
    expect(text).toContain('"scope":{"conversations":["dm:alice:bob","dm:bob:mallory"],"from":"2029-12-20T00:00:00.000Z","maxMessages":200,"operation":"decrypt","to":');
    const shuffled = Object.fromEntries(Object.entries(base).reverse()) as unknown as BreakGlassRequest;
    expect(canonicalRequest(shuffled)).toEqual(canonicalRequest(base));
    expect(requestDigest(base)).toMatch(/^[A-Za-z0-9_-]{43}$/);
  });

  it('createRequest: fresh 128-bit jti, nbf = iat; refuses what can never be accepted, naming the field', () => {
    expect(base.jti).toMatch(/^[A-Za-z0-9_-]{22}$/);
    expect(base.nbf).toBe(base.iat);
    expect(base.iat).toBe(T - 60);
    const fields = { policy: 'p', aud: 'a', requester: 'r', reason: 'LEGAL_PROCESS', detail: 'd', scope: base.scope, exp: T + 10 };
    expect(createRequest(fields, () => NOW).jti).not.toBe(createRequest(fields, () => NOW).jti);
    const param = (f: () => unknown) => {
      try {
        f();
      } catch (e) {
        return (e as InvalidInputError).param;
      }
      return 'ok';
    };
    // Parameters are named as the caller wrote them: createRequest({ scope: { from } }) -> 'scope.from'.
    expect(param(() => createRequest({ ...fields, reason: 'CURIOSITY' }, () => NOW))).toBe('reason');
    expect(param(() => createRequest({ ...fields, exp: T }, () => NOW))).toBe('exp');
    expect(param(() => createRequest({ ...fields, scope: { ...base.scope, to: base.scope.from } }, () => NOW))).toBe('scope.to');
    expect(param(() => createRequest({ ...fields, scope: { ...base.scope, from: '2029-12-20 00:00:00' } }, () => NOW))).toBe('scope.from');
    expect(param(() => createRequest({ ...fields, scope: { ...base.scope, from: '2029-02-30T00:00:00Z' } }, () => NOW))).toBe('scope.from');
    expect(param(() => createRequest({ ...fields, scope: { ...base.scope, conversations: [] } }, () => NOW))).toBe('scope.conversations');
    expect(param(() => createRequest({ ...fields, scope: { ...base.scope, conversations: ['a', 'a'] } }, () => NOW))).toBe('scope.conversations[1]');
    expect(param(() => createRequest({ ...fields, detail: '' }, () => NOW))).toBe('detail');
    expect(param(() => createRequest({ ...fields, jti: 'short' }, () => NOW))).toBe('jti');
    expect(param(() => createRequest({ ...fields, colour: 'red' } as typeof fields, () => NOW))).toBe('colour');
  });

  it('createRequest: accepts any RFC 3339 time (Z or offset, any precision down to ms, or a Date) and normalises it', () => {
    const fields = { policy: 'p', aud: 'a', requester: 'r', reason: 'LEGAL_PROCESS', detail: 'd', scope: base.scope, exp: T + 10 };
    const scope = (from: string | Date, to: string | Date) => createRequest({ ...fields, scope: { ...base.scope, from, to } as BreakGlassRequest['scope'] }, () => NOW).scope;
    expect(scope('2029-12-20T00:00:00Z', '2029-12-21T00:00:00.5Z')).toMatchObject({ from: '2029-12-20T00:00:00.000Z', to: '2029-12-21T00:00:00.500Z' });
    expect(scope('2029-12-20T01:00:00+01:00', '2029-12-20t10:00:00.123000z')).toMatchObject({ from: '2029-12-20T00:00:00.000Z', to: '2029-12-20T10:00:00.123Z' });
    expect(scope(new Date('2029-12-20T00:00:00Z'), '2029-12-21T00:00:00.000Z').from).toBe('2029-12-20T00:00:00.000Z');
    // A sub-millisecond instant cannot be represented exactly: refused rather than silently moved.
    expect(() => scope('2029-12-20T00:00:00.0001Z', '2029-12-21T00:00:00Z')).toThrow(/scope\.from/);
  });

  it('approveRequest: compact JWT with the documented header and claims', async () => {
    const [h, p] = good.approvals[0]!.split('.').slice(0, 2).map((x) => JSON.parse(new TextDecoder().decode(base64url.decode(x))));
    expect(h).toEqual({ alg: 'EdDSA', typ: APPROVAL_TYP, kid: 'ts-alice' });
    expect(p).toEqual({ iss: 'ts-alice', aud: base.aud, jti: base.jti, digest: requestDigest(base), iat: T - 30, exp: base.exp });
    expect(await codeOf(approveRequest(base, { id: 'x', privateJwk: K['ts-alice'].publicJwk }))).toBe('ERR_INVALID_INPUT');
    expect(await codeOf(approveRequest({ ...base, v: 2 as 1 }, K['ts-alice']))).toBe('ERR_BG_MALFORMED');
  });

  it('generateApproverKey: Ed25519 OKP JWKs with kid; the public one has no private part', async () => {
    const k = K['ts-alice'];
    expect(k.publicJwk).toMatchObject({ kty: 'OKP', crv: 'Ed25519', kid: 'ts-alice' });
    expect(k.publicJwk.d).toBeUndefined();
    expect(k.privateJwk).toMatchObject({ kty: 'OKP', crv: 'Ed25519', kid: 'ts-alice', x: k.publicJwk.x });
    expect(typeof k.privateJwk.d).toBe('string');
  });

  it('encodeToken/decodeToken round-trip; encoding is one canonical line', () => {
    const text = encodeToken(good);
    expect(text).not.toContain('\n');
    expect(text.startsWith('{"approvals":["')).toBe(true);
    expect(decodeToken(text)).toEqual(good);
    expect(decodeToken(`${JSON.stringify(good, null, 2)}\n`)).toEqual(good); // spelling is free, content is not
  });

  it('decodeToken is strict: unknown, missing, mistyped or duplicate fields are ERR_BG_MALFORMED', () => {
    const text = encodeToken(good);
    const bad = [
      '', 'null', '[]', '{}', text.slice(0, -1), `${text}x`,
      text.replace('{"approvals"', '{"extra":1,"approvals"'),
      text.replace('"v":1', '"v":2'),
      text.replace('"v":1', '"v":1,"v":1'),
      text.replace('"v":1', '"v":"1"'),
      text.replace(/"maxMessages":200/, '"maxMessages":200.5'),
      text.replace(/"maxMessages":200/, '"maxMessages":0'),
      text.replace(/"requester":"ts-carol"/, '"requester":"ts-carol","requester":"ts-alice"'),
      text.replace(/"from":"[^"]*"/, '"from":"2029-12-20"'),
      text.replace(/"jti":"[^"]*"/, '"jti":"abc"'),
      text.replace(/"approvals":\[/, '"approvals":[1,'),
      text.replace(/"approvals":\[/, '"approvals":["a.b",'),
      text.replace(/"detail":"[^"]*"/, '"detail":"\\ud800"'),
      text.replace(/"detail":"[^"]*"/, '"detail":"a\\nb"'),
      text.replace(/"conversations":\[/, '"conversations":["dm:alice:bob",'),
      text.replace(/"approvals":\[/, '"__proto__":{},"approvals":['),
    ];
    for (const t of bad) {
      expect(() => decodeToken(t), t.slice(0, 80)).toThrow(expect.objectContaining({ code: 'ERR_BG_MALFORMED' }));
    }
    // A signature whose last character has non-zero spare bits decodes to the same bytes in
    // lenient decoders: not canonical, refused.
    const jwt = good.approvals[0]!;
    expect(isCanonicalBase64url(jwt.split('.')[2]!)).toBe(true);
    const last = jwt.at(-1)!;
    const alias = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'['ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'.indexOf(last) + 1]!;
    expect(base64url.decode(setChar(jwt, jwt.length - 1, alias).split('.')[2]!)).toEqual(base64url.decode(jwt.split('.')[2]!));
    expect(() => decodeToken(encodeToken(good).replace(jwt, setChar(jwt, jwt.length - 1, alias)))).toThrow(expect.objectContaining({ code: 'ERR_BG_MALFORMED' }));
  });

  it('decodeToken fuzz: anything else either parses to a valid token or is ERR_BG_MALFORMED', () => {
    const text = encodeToken(good);
    const onlyMalformed = (t: string) => {
      try {
        const d = decodeToken(t);
        expect(decodeToken(encodeToken(d))).toEqual(d);
      } catch (e) {
        expect(e).toBeInstanceOf(BreakGlassError);
        expect((e as BreakGlassError).code).toBe('ERR_BG_MALFORMED');
      }
    };
    fc.assert(fc.property(fc.string({ unit: 'binary', maxLength: 200 }), onlyMalformed), { numRuns: 300 });
    fc.assert(fc.property(fc.json(), onlyMalformed), { numRuns: 300 });
    fc.assert(
      fc.property(fc.nat(), fc.nat({ max: 2 }), fc.string({ unit: 'binary', maxLength: 3 }), (pos, op, s) => {
        const i = pos % text.length;
        onlyMalformed(op === 0 ? text.slice(0, i) + s + text.slice(i) : op === 1 ? text.slice(0, i) + text.slice(i + 1) : text.slice(0, i) + s + text.slice(i + 1));
      }),
      { numRuns: 500 },
    );
    // Structured: one field of the token replaced by any JSON value.
    const paths = ['request.v', 'request.jti', 'request.iat', 'request.scope', 'request.scope.conversations', 'request.scope.maxMessages', 'request.scope.to', 'approvals', 'request.reason'];
    fc.assert(
      fc.property(fc.constantFrom(...paths), fc.jsonValue(), (path, v) => {
        const t = JSON.parse(text);
        const keys = path.split('.');
        let o = t;
        for (const k of keys.slice(0, -1)) o = o[k];
        o[keys.at(-1)!] = v;
        onlyMalformed(JSON.stringify(t));
      }),
      { numRuns: 300 },
    );
  });
});

describe('break-glass token: inspection', () => {
  it('lists, per factor, who approved and who could still approve (never the requester)', async () => {
    const r = await inspectToken(await tokenOf(base, ['ts-alice']), policy, NOW);
    expect(r.ok).toBe(false);
    expect(r.request).toEqual(base);
    expect(r.digest).toBe(requestDigest(base));
    expect(r.approvals).toEqual([{ index: 0, approver: 'ts-alice', valid: true }]);
    expect(r.factors).toEqual([
      { name: 'trust-and-safety', have: 1, need: 2, missing: ['ts-bob'] },
      { name: 'legal', have: 0, need: 1, missing: ['legal-dan', 'legal-erin'] },
    ]);
    expect(r.problems.map((p) => p.code)).toEqual(['ERR_BG_THRESHOLD_NOT_MET']);
    expect(r.problems[0]!.message).toContain('legal');
  });

  it('ok exactly when verifyToken accepts; every problem listed, in check order', async () => {
    const ok = await inspectToken(good, policy, NOW);
    expect(ok).toMatchObject({ ok: true, problems: [] });
    expect(ok.factors.every((f) => f.missing.length === 0)).toBe(true);
    const t = await tokenOf(withReq({ reason: 'SECURITY_INCIDENT' }), ['ts-alice', 'outsider', 'ts-carol']);
    t.approvals.push(flipSignature(t.approvals[0]!), await approve(t.request, 'legal-dan', { expiresInSeconds: 10 }));
    const r = await inspectToken(t, policy, NOW);
    expect(r.problems.map((p) => p.code)).toEqual([
      'ERR_BG_REASON_NOT_ALLOWED', 'ERR_BG_UNKNOWN_APPROVER', 'ERR_BG_BAD_SIGNATURE', 'ERR_BG_EXPIRED', 'ERR_BG_REQUESTER_APPROVED', 'ERR_BG_THRESHOLD_NOT_MET',
    ]);
    expect(r.approvals.map((a) => [a.approver, a.valid, a.code])).toEqual([
      ['ts-alice', true, undefined],
      ['outsider', false, 'ERR_BG_UNKNOWN_APPROVER'],
      ['ts-carol', true, undefined],
      ['ts-alice', false, 'ERR_BG_BAD_SIGNATURE'],
      ['legal-dan', false, 'ERR_BG_EXPIRED'],
    ]);
    expect(r.factors.map((f) => [f.have, f.missing])).toEqual([[1, ['ts-bob']], [0, ['legal-dan', 'legal-erin']]]);
    expect(await verifyCode(t, policy, NOW)).toBe(r.problems[0]!.code);
  });

  it('never throws for bad token content', async () => {
    for (const t of ['', 'garbage', '{"request":{}}', 42 as unknown as string, { request: null } as unknown as BreakGlassToken]) {
      const r = await inspectToken(t, policy, NOW);
      expect(r).toMatchObject({ ok: false, approvals: [], problems: [{ code: 'ERR_BG_MALFORMED' }] });
      expect(r.factors.map((f) => f.missing.length)).toEqual([3, 2]);
    }
  });
});

describe('break-glass policy validation', () => {
  it('names the offending field', () => {
    const param = (p: unknown) => {
      try {
        validatePolicy(p);
        return 'ok';
      } catch (e) {
        return (e as InvalidInputError).param;
      }
    };
    const f0 = policy.factors[0]!;
    expect(param(policy)).toBe('ok');
    expect(param({ ...policy, extra: 1 })).toBe('policy.extra');
    expect(param({ ...policy, factors: [] })).toBe('policy.factors');
    expect(param({ ...policy, factors: [{ ...f0, threshold: 4 }] })).toBe('policy.factors[0].threshold');
    expect(param({ ...policy, factors: [{ ...f0, threshold: 0 }] })).toBe('policy.factors[0].threshold');
    expect(param({ ...policy, factors: [f0, { ...f0 }] })).toBe('policy.factors[1].name');
    expect(param({ ...policy, factors: [{ ...f0, approvers: [...f0.approvers, f0.approvers[0]] }] })).toBe('policy.factors[0].approvers[3].id');
    expect(param({ ...policy, factors: [{ ...f0, approvers: [...f0.approvers, { id: 'alias', publicJwk: { ...K['ts-alice'].publicJwk, kid: undefined } }] }] })).toBe('policy.factors[0].approvers[3].publicJwk');
    expect(param({ ...policy, factors: [{ ...f0, approvers: [{ id: 'ts-alice', publicJwk: K['ts-alice'].privateJwk }] , threshold: 1 }] })).toBe('policy.factors[0].approvers[0].publicJwk');
    expect(param({ ...policy, factors: [f0, { name: 'legal', threshold: 1, approvers: [{ id: 'ts-alice', publicJwk: { ...K['ts-bob'].publicJwk, kid: 'ts-alice' } }] }] })).toBe('policy.factors[1].approvers[0].publicJwk');
    expect(param({ ...policy, allowedReasons: ['CURIOSITY'] })).toBe('policy.allowedReasons[0]');
    expect(param({ ...policy, maxLifetimeSeconds: 0 })).toBe('policy.maxLifetimeSeconds');
    expect(param({ ...policy, maxScope: { ...policy.maxScope, messages: -1 } })).toBe('policy.maxScope.messages');
    expect(param({ ...policy, clockToleranceSeconds: 301 })).toBe('policy.clockToleranceSeconds');
  });
});
