/**
 * Fuzzing break-glass tokens and policies (issue #11): `decodeToken`, `canonicalRequest` /
 * `requestDigest`, `verifyToken`, `inspectToken`, `validatePolicy`, `approveRequest` (with
 * whatever a private key file holds) and `BreakGlass.decrypt`. Mutants start from a genuine,
 * fully approved token of the test deployment: its JSON structure, its text, and the header and
 * claims inside each approval JWT. Properties:
 *  - only KeywardenErrors escape; token problems are ERR_BG_* (also from BreakGlass.decrypt,
 *    which records every refusal in the audit log);
 *  - no forgery: whatever is accepted carries the genuine request's digest and approvers;
 *  - inspectToken never throws for bad token content and agrees with verifyToken;
 *  - decodeToken takes time linear in its input, and every structural limit is enforced.
 */
import fc from 'fast-check';
import { base64url } from 'jose';
import { beforeAll, describe, expect, it } from 'vitest';
import { decodeEntry } from '../src/audit/entry.js';
import { BreakGlass } from '../src/breakglass/access.js';
import { MemoryTokenLedger } from '../src/breakglass/ledger.js';
import { type BreakGlassPolicy, inspectToken, validatePolicy, verifyToken } from '../src/breakglass/policy.js';
import { type BreakGlassToken, approveRequest, canonicalRequest, decodeToken, encodeToken, requestDigest } from '../src/breakglass/token.js';
import { type Approver, deployment, token } from './support/breakglass-fixtures.js';
import { EDGE_STRINGS, attempt, attemptAsync, deepText, expectLinear, mutatedBytes, mutatedJson, mutatedText, mutatedValues, params } from './support/fuzz.js';

type Deployment = Awaited<ReturnType<typeof deployment>>;
let d: Deployment;
let good: { request: BreakGlassToken['request']; approvals: string[]; text: string };
let weak: typeof good; // approved by one person only: a donor of other approvals and requests
let goodDigest: string;
let approvers: Approver[];

beforeAll(async () => {
  d = await deployment();
  approvers = [d.approvers.t1, d.approvers.t2, d.approvers.l1];
  good = await token(d, approvers);
  weak = await token(d, [d.approvers.t3], { scope: { maxMessages: 3 } });
  goodDigest = requestDigest(good.request);
});

const tokenObject = (t: typeof good): BreakGlassToken => ({ request: t.request, approvals: t.approvals });
const decodePart = (p: string) => JSON.parse(new TextDecoder().decode(base64url.decode(p))) as unknown;
const encodePart = (text: string) => base64url.encode(new TextEncoder().encode(text));

/** Token texts: JSON structure and text mutations of the genuine tokens, and approvals changed inside their JWTs. */
function tokenTextArb(): fc.Arbitrary<string> {
  const texts = [good.text, JSON.stringify(tokenObject(good), null, 2), weak.text];
  const docs = [tokenObject(good), tokenObject(weak)];
  const jwts = [...good.approvals, ...weak.approvals];
  // A header or claims set mutated as JSON and re-encoded; the other two parts kept.
  const insideJwt = fc.tuple(fc.nat(), fc.nat({ max: 1 }), fc.nat()).chain(([j, part, at]) => {
    const parts = jwts[j % jwts.length]!.split('.');
    return mutatedJson([decodePart(parts[part]!)]).map((text) => {
      const out = [...parts];
      out[part] = encodePart(text);
      const approvals = [...good.approvals];
      approvals[at % approvals.length] = out.join('.');
      return JSON.stringify({ approvals, request: good.request });
    });
  });
  const swapped = fc.tuple(fc.nat(), fc.nat()).map(([a, b]) => {
    const approvals = [...good.approvals];
    approvals[a % approvals.length] = jwts[b % jwts.length]!;
    return JSON.stringify({ approvals, request: good.request });
  });
  const jwtChars = fc.tuple(mutatedText(jwts), fc.nat()).map(([jwt, at]) => {
    const approvals = [...good.approvals];
    approvals[at % approvals.length] = jwt;
    return JSON.stringify({ approvals, request: good.request });
  });
  return fc.oneof(mutatedJson(docs), mutatedText(texts), insideJwt, swapped, jwtChars);
}

describe('fuzz: decodeToken and the request digest', () => {
  it('mutated token texts: ERR_BG_MALFORMED, or a token that round-trips and hashes', () => {
    fc.assert(
      fc.property(tokenTextArb(), (text) => {
        const r = attempt(() => decodeToken(text));
        if (!r.ok) {
          expect(r.error.code).toBe('ERR_BG_MALFORMED');
          return;
        }
        const canonical = encodeToken(r.value);
        expect(encodeToken(decodeToken(canonical))).toBe(canonical);
        expect(requestDigest(r.value.request)).toMatch(/^[A-Za-z0-9_-]{43}$/);
      }),
      params(250),
    );
  });

  it('mutated request objects (and values JSON cannot hold): ERR_BG_MALFORMED, or canonical JSON that reads back as the request', () => {
    const jsOnly = fc.tuple(fc.constantFrom('jti', 'policy', 'aud', 'requester', 'reason', 'detail', 'iat', 'nbf', 'exp', 'v'), fc.constantFrom<unknown>(undefined, Number.NaN, Infinity, -0, 1.5, 10n, Symbol('s'), new Date(0), () => 1, [], {}, '\uD800', 'a\u0000b')).map(([k, v]) => ({ ...good.request, [k]: v }));
    fc.assert(
      fc.property(fc.oneof(mutatedValues([good.request, weak.request]), jsOnly), (req) => {
        const r = attempt(() => canonicalRequest(req as never));
        if (!r.ok) {
          expect(r.error.code).toBe('ERR_BG_MALFORMED');
          expect(attempt(() => requestDigest(req as never)).ok).toBe(false);
          return;
        }
        expect(JSON.parse(new TextDecoder().decode(r.value))).toEqual(JSON.parse(JSON.stringify(req)));
      }),
      params(300),
    );
  });

  it('takes time linear in the token size (whitespace, escapes, long invalid text)', () => {
    const padded = (n: number) => JSON.stringify(tokenObject(good), null, n % 10).replace(/,/g, `,${' '.repeat(n / 20)}`);
    expectLinear('decodeToken (whitespace)', padded, decodeToken, 2000);
    const escaped = (n: number) => JSON.stringify({ approvals: [], request: { ...good.request, scope: { ...good.request.scope, conversations: Array.from({ length: n / 100 }, (_, i) => `c${i}${'é'.repeat(40)}`) } } }).replace(/é/g, '\\u00e9');
    expectLinear('decodeToken (escaped conversation ids)', escaped, decodeToken, 10_000);
    const junk = (n: number) => `{"approvals":[${'"a",'.repeat(n / 4)}`;
    expectLinear('decodeToken (unterminated)', junk, (t) => attempt(() => decodeToken(t)), 20_000);
  });

  it('enforces the structural limits: token length, approvals, approval length, conversations', () => {
    const MAX_TOKEN_CHARS = 1024 * 1024;
    const pad = (n: number) => `${good.text}${' '.repeat(n - good.text.length)}`;
    expect(decodeToken(pad(MAX_TOKEN_CHARS)).request.jti).toBe(good.request.jti);
    const tooLong = attempt(() => decodeToken(pad(MAX_TOKEN_CHARS + 1)));
    expect(!tooLong.ok && tooLong.error.message).toBe(`token: longer than ${MAX_TOKEN_CHARS} characters`);
    const refused = (t: unknown) => {
      const r = attempt(() => decodeToken(JSON.stringify(t)));
      return r.ok ? 'accepted' : r.error.message.split(':')[0];
    };
    const jwt = good.approvals[0]!;
    expect(refused({ request: good.request, approvals: Array(64).fill(jwt) })).toBe('accepted');
    expect(refused({ request: good.request, approvals: Array(65).fill(jwt) })).toBe('token.approvals');
    const [h, p, s] = jwt.split('.');
    const longJwt = `${h}.${p}${'A'.repeat(8192 - jwt.length + 1)}.${s}`;
    expect(refused({ request: good.request, approvals: [longJwt] })).toBe('token.approvals[0]');
    const convs = (n: number) => ({ request: { ...good.request, scope: { ...good.request.scope, conversations: Array.from({ length: n }, (_, i) => `c${i}`) } }, approvals: [] });
    expect(refused(convs(1000))).toBe('accepted');
    expect(refused(convs(1001))).toBe('token.request.scope.conversations');
    // Far deeper than any recursion could go: refused, not a stack overflow (nothing recurses
    // before validation). Not at the length limit: V8's JSON.parse alone takes ~1 s there.
    for (const deep of [deepText(50_000, 'array'), `{"approvals":[],"request":${deepText(20_000, 'object')}}`]) {
      const r = attempt(() => decodeToken(deep));
      expect(!r.ok && r.error.code).toBe('ERR_BG_MALFORMED');
    }
  });
});

describe('fuzz: verifyToken and inspectToken', () => {
  it('mutated tokens: only KeywardenErrors; an accepted token is the genuine request with genuine approvers; inspectToken agrees and never throws', async () => {
    await fc.assert(
      fc.asyncProperty(tokenTextArb(), async (text) => {
        const v = await attemptAsync(() => verifyToken(text, d.policy, d.now()));
        if (v.ok) {
          expect(v.value.digest).toBe(goodDigest);
          for (const a of v.value.approvers) expect(approvers.map((x) => x.id)).toContain(a);
        } else {
          expect(v.error.code).toMatch(/^ERR_BG_/);
        }
        const i = await inspectToken(text, d.policy, d.now()); // never throws for token content
        expect(i.ok).toBe(v.ok);
        if (!v.ok) expect(i.problems.map((p) => p.code)).toContain(v.error.code);
      }),
      params(100),
    );
  });

  it('mutated token objects (not text): the same', async () => {
    const objects = fc.oneof(
      mutatedValues([tokenObject(good)]),
      fc.tuple(fc.constantFrom('jti', 'requester', 'reason', 'detail', 'aud', 'policy'), fc.constantFrom(...EDGE_STRINGS)).map(([k, v]) => ({ ...tokenObject(good), request: { ...good.request, [k]: v } })),
    );
    await fc.assert(
      fc.asyncProperty(objects, async (t) => {
        const v = await attemptAsync(() => verifyToken(t as BreakGlassToken, d.policy, d.now()));
        if (v.ok) expect(v.value.digest).toBe(goodDigest);
        else expect(v.error.code).toMatch(/^ERR_BG_/);
        expect((await inspectToken(t as BreakGlassToken, d.policy, d.now())).ok).toBe(v.ok);
      }),
      params(60),
    );
  });
});

describe('fuzz: policies', () => {
  it('mutated policies: validatePolicy throws only ERR_INVALID_INPUT; a token under an accepted policy is judged with KeywardenErrors only', async () => {
    await fc.assert(
      fc.asyncProperty(mutatedValues([d.policy]), async (policy) => {
        const p = attempt(() => validatePolicy(policy));
        if (!p.ok) {
          expect(p.error.code).toBe('ERR_INVALID_INPUT');
          return;
        }
        const v = await attemptAsync(() => verifyToken(good.text, policy as BreakGlassPolicy, d.now()));
        if (!v.ok) expect(v.error.code).toMatch(/^ERR_BG_/);
        expect((await inspectToken(good.text, policy as BreakGlassPolicy, d.now())).ok).toBe(v.ok);
      }),
      params(100),
    );
  });

  it('enforces the policy limits: 16 factors, 64 approvers per factor', () => {
    const f = d.policy.factors[1]!;
    const factors = (n: number) => Array.from({ length: n }, (_, i) => ({ ...f, name: `f${i}` }));
    expect(attempt(() => validatePolicy({ ...d.policy, factors: factors(16) })).ok).toBe(true);
    const many = attempt(() => validatePolicy({ ...d.policy, factors: factors(17) }));
    expect(!many.ok && many.error.message).toMatch(/^policy\.factors: /);
    const approversOf = (n: number) => Array.from({ length: n }, (_, i) => ({ id: `a${i}`, publicJwk: { kty: 'OKP', crv: 'Ed25519', x: base64url.encode(new Uint8Array(32).fill(i + 1)) } }));
    expect(attempt(() => validatePolicy({ ...d.policy, factors: [{ name: 'big', threshold: 1, approvers: approversOf(64) }] })).ok).toBe(true);
    const big = attempt(() => validatePolicy({ ...d.policy, factors: [{ name: 'big', threshold: 1, approvers: approversOf(65) }] }));
    expect(!big.ok && big.error.message).toMatch(/^policy\.factors\[0\]\.approvers: /);
  });
});

describe('fuzz: approveRequest with whatever a private key file holds', () => {
  it('mutated private JWKs: ERR_INVALID_INPUT naming approver.privateJwk and never showing d, or a valid approval', async () => {
    const jwks = [d.approvers.t1.privateJwk, d.approvers.t2.privateJwk];
    const crossed = fc.tuple(fc.nat({ max: 3 }), fc.nat({ max: 3 })).map(([a, b]) => {
      const keys = [d.approvers.t1, d.approvers.t2, d.approvers.t3, d.approvers.l1];
      return { ...keys[a]!.privateJwk, x: keys[b]!.publicJwk.x };
    });
    const jwkArb = fc.oneof(mutatedValues(jwks), crossed);
    await fc.assert(
      fc.asyncProperty(jwkArb, async (jwk) => {
        const r = await attemptAsync(() => approveRequest(good.request, { id: 't1', privateJwk: jwk as never }, { now: d.now }));
        if (r.ok) {
          expect(r.value.split('.')).toHaveLength(3);
          return;
        }
        expect(r.error.code).toBe('ERR_INVALID_INPUT');
        expect((r.error as { param?: string }).param).toBe('approver.privateJwk');
        for (const k of jwks) expect(r.error.message).not.toContain(k.d);
      }),
      params(100),
    );
  });
});

describe('fuzz: BreakGlass.decrypt', () => {
  it('mutated tokens (text and objects): refusals are ERR_BG_* and each is recorded; an access needs the genuine token', async () => {
    const items = () => d.messages.c0!.map((m) => ({ ciphertext: m.ct, aad: m.aad }));
    const objects = fc.tuple(fc.constantFrom('jti', 'requester', 'reason', 'detail'), fc.constantFrom(...EDGE_STRINGS)).map(([k, v]) => ({ ...tokenObject(good), request: { ...good.request, [k]: v } }));
    await fc.assert(
      fc.asyncProperty(fc.oneof(tokenTextArb(), objects), async (t) => {
        const bg = new BreakGlass({ policy: d.policy, masterKey: d.masterKey, keyStore: d.keyStore, audit: { log: d.log, ids: d.ids, actor: 'fuzz' }, ledger: new MemoryTokenLedger(), now: d.now });
        const before = d.log.size;
        const r = await attemptAsync(() => bg.decrypt(t as string, 'c0', items()));
        if (r.ok) {
          expect(requestDigest((typeof t === 'string' ? decodeToken(t) : (t as BreakGlassToken)).request)).toBe(goodDigest);
          return;
        }
        expect(r.error.code, r.error.message).toMatch(/^ERR_BG_/);
        expect(d.log.size).toBe(before + 1);
        const [entry] = await d.auditStore.read(before, before + 1);
        expect(decodeEntry(entry!)).toMatchObject({ type: 'breakglass.refused', refusal: r.error.code });
      }),
      params(40),
    );
  });

  it('the genuine token over mutated ciphertexts and aads: a message opens only as it was sealed; the rest fail one by one', async () => {
    const genuine = Object.values(d.messages).flat();
    const itemArb = fc.oneof(
      fc.constantFrom(...d.messages.c0!.map((m) => ({ ciphertext: m.ct, aad: m.aad }))),
      fc.record({
        ciphertext: fc.oneof(fc.constantFrom(...genuine.map((m) => m.ct)), mutatedBytes(genuine.map((m) => m.ct))),
        aad: fc.oneof(fc.constantFrom(...genuine.map((m) => m.aad)), mutatedText(genuine.map((m) => m.aad).filter((a) => a.length > 0))),
      }),
    );
    await fc.assert(
      fc.asyncProperty(fc.array(itemArb, { minLength: 1, maxLength: 4 }), async (items) => {
        const bg = new BreakGlass({ policy: d.policy, masterKey: d.masterKey, keyStore: d.keyStore, audit: { log: d.log, ids: d.ids, actor: 'fuzz' }, ledger: new MemoryTokenLedger(), now: d.now });
        const r = await attemptAsync(() => bg.decrypt(good.text, 'c0', items));
        if (!r.ok) {
          expect(r.error.code).toBe('ERR_INVALID_INPUT'); // an aad that is not well-formed Unicode
          return;
        }
        for (const [i, res] of r.value.results.entries()) {
          const sealed = d.messages.c0!.find((m) => Buffer.from(m.ct).equals(Buffer.from(items[i]!.ciphertext)) && m.aad === items[i]!.aad);
          if (res.ok) expect(new TextDecoder().decode(res.plaintext)).toBe(sealed?.text);
          else expect(['ERR_DECRYPT_FAILED', 'ERR_BG_OUT_OF_SCOPE']).toContain(res.error.code);
        }
        expect(r.value.opened).toBe(r.value.results.filter((x) => x.ok).length);
      }),
      params(20),
    );
  });
});
