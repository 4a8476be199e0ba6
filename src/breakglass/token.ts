/**
 * Break-glass policy tokens: a request document plus independent approvals.
 *
 * - The **request** says who asks, why (a closed reason code plus free-text detail such as a case
 *   number), for exactly what (conversation ids, a time window, a message cap, the operation),
 *   when (iat/nbf/exp), for which deployment (`aud`) and under which policy. Its RFC 8785
 *   canonical JSON is hashed; that digest is what approvers sign, so every field is covered.
 * - Each **approval** is a compact JWT (EdDSA / Ed25519, `typ` {@link APPROVAL_TYP}) over the
 *   digest, made by one approver on their own machine at their own time. Approvals are plain
 *   JOSE so that anyone can mint or check them with an independent `jose` script.
 *
 * The token on disk is the canonical JSON of `{ approvals, request }` on one line. Verification
 * against a trust policy lives in ./policy.ts.
 *
 * @example
 * ```ts
 * const req = createRequest({ policy: 'bg-prod', aud: 'keywarden://dm-prod', requester: 'ts-erin',
 *   reason: 'USER_REPORT_REVIEW', detail: 'case 4711',
 *   scope: { conversations: ['dm:alice:bob'], from: '2025-01-01T00:00:00.000Z', to: '2025-01-02T00:00:00.000Z', maxMessages: 50, operation: 'decrypt' },
 *   exp: Math.floor(Date.now() / 1000) + 3600 });
 * const approvals = [await approveRequest(req, alice), await approveRequest(req, carol)];
 * const text = encodeToken({ request: req, approvals });
 * ```
 * @module
 */
import { sha256 } from '@noble/hashes/sha2.js';
import { SignJWT, base64url, exportJWK, generateKeyPair, importJWK } from 'jose';
import { BreakGlassError, InvalidInputError } from '../errors.js';
import { utf8 } from '../util/bytes.js';
import { randomBytes } from '../util/random.js';
import { canonicalJson, duplicateKey } from '../util/json.js';
import { isCanonicalTime, normalizeTime } from '../util/time.js';
import { isCanonicalBase64url } from '../util/bytes.js';
import { type FieldProblem, conversationIdBytes, fieldPath, fieldsProblem, isPlainObject, own, ownOptions } from '../util/validate.js';

export { isCanonicalBase64url } from '../util/bytes.js';

/**
 * The closed list of reason codes, modelled on Google's Key Access Justifications. A policy
 * allows a subset; a request with any other code is refused (`ERR_BG_REASON_NOT_ALLOWED`).
 *
 * @example
 * ```ts
 * REASON_CODES.includes('LEGAL_PROCESS'); // true
 * ```
 */
export const REASON_CODES = ['USER_REPORT_REVIEW', 'IMMINENT_HARM', 'LEGAL_PROCESS', 'SECURITY_INCIDENT'] as const;

/**
 * A reason code from {@link REASON_CODES}.
 *
 * @example
 * ```ts
 * const r: ReasonCode = 'IMMINENT_HARM';
 * ```
 */
export type ReasonCode = (typeof REASON_CODES)[number];

/**
 * What a token lets its holder do: `operation` on at most `maxMessages` messages of exactly
 * these conversations, sent in `[from, to)`. Times are RFC 3339 UTC with milliseconds (the
 * `Date.prototype.toISOString()` spelling, so one instant has one spelling and one digest).
 *
 * @example
 * ```ts
 * const scope: BreakGlassScope = { conversations: ['dm:alice:bob'], from: '2025-01-01T00:00:00.000Z',
 *   to: '2025-01-02T00:00:00.000Z', maxMessages: 50, operation: 'decrypt' };
 * ```
 */
export interface BreakGlassScope {
  conversations: string[];
  from: string;
  to: string;
  maxMessages: number;
  operation: 'decrypt';
}

/**
 * The request document. Times are epoch seconds; `jti` is 128 random bits in base64url (22
 * characters); `aud` names the deployment and `policy` the trust policy it is meant for.
 *
 * @example
 * ```ts
 * const req: BreakGlassRequest = createRequest({ ...fields, exp: nowSeconds + 3600 });
 * req.v; // 1
 * ```
 */
export interface BreakGlassRequest {
  v: 1;
  jti: string;
  policy: string;
  aud: string;
  requester: string;
  reason: string;
  detail: string;
  scope: BreakGlassScope;
  iat: number;
  nbf: number;
  exp: number;
}

/**
 * A request plus the approvals collected for it (compact JWTs, in any order) and, when the
 * requester signed it ({@link signRequest}), the requester's signature: a compact JWT that a
 * policy listing `requesters` requires (docs/BREAK-GLASS.md §1).
 *
 * @example
 * ```ts
 * const token: BreakGlassToken = { request: req, requesterSignature: jwtFromErin, approvals: [jwtFromAlice, jwtFromCarol] };
 * ```
 */
export interface BreakGlassToken {
  request: BreakGlassRequest;
  approvals: string[];
  requesterSignature?: string;
}

/**
 * An Ed25519 key as a JSON Web Key (RFC 8037 OKP): `x` is the public key, `d` (private JWKs
 * only) the private key, both base64url; checked at run time. Declared here rather than taken from `jose`, so that
 * keywarden's type declarations load in CommonJS projects (jose's are ESM-only).
 *
 * @example
 * ```ts
 * const jwk: Jwk = { kty: 'OKP', crv: 'Ed25519', x: '11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo', kid: 'ana' };
 * ```
 */
export interface Jwk {
  kty?: string;
  crv?: string;
  x?: string;
  d?: string;
  kid?: string;
  [member: string]: unknown;
}

/**
 * What {@link createRequest} takes: the request's fields, with scope times as any RFC 3339 time
 * or a `Date`, and `jti`, `iat`, `nbf` optional.
 *
 * @example
 * ```ts
 * const fields: RequestFields = { policy: 'bg-prod', aud: 'keywarden://dm-prod', requester: 'ts-erin', reason: 'USER_REPORT_REVIEW',
 *   detail: 'report #8841', scope: { conversations: ['dm:alice:bob'], from: '2026-01-01T00:00:00Z', to: new Date(), maxMessages: 50, operation: 'decrypt' },
 *   exp: Math.floor(Date.now() / 1000) + 3600 };
 * ```
 */
export interface RequestFields {
  policy: string;
  aud: string;
  requester: string;
  reason: string;
  detail: string;
  scope: Omit<BreakGlassScope, 'from' | 'to'> & { from: string | Date; to: string | Date };
  /** Expiry, epoch seconds. */
  exp: number;
  nbf?: number;
  iat?: number;
  jti?: string;
}

/**
 * The JWT `typ` of an approval. Explicit typing (RFC 8725 §3.11) keeps an approval from being
 * accepted as any other kind of JWT signed by the same key, and vice versa.
 *
 * @example
 * ```ts
 * decodeProtectedHeader(approval).typ === APPROVAL_TYP; // true
 * ```
 */
export const APPROVAL_TYP = 'keywarden-bg-approval+jwt';

/**
 * The `typ` of a requester's signature over their own request ({@link signRequest}): distinct
 * from {@link APPROVAL_TYP}, so that an approval can never stand in for the requester's
 * signature, nor the requester's signature count as an approval.
 *
 * @example
 * ```ts
 * decodeProtectedHeader(token.requesterSignature!).typ === REQUEST_SIGNATURE_TYP; // true
 * ```
 */
export const REQUEST_SIGNATURE_TYP = 'keywarden-bg-request+jwt';

// ---------------------------------------------------------------------------------------------
// Structural limits. They bound the work an untrusted token can cause before any signature is
// checked; policy limits (./policy.ts) are usually far tighter.

const MAX_REQUEST_CONVERSATIONS = 1000; // the policy's maxScope is the real cap
const MAX_APPROVALS = 64;
const MAX_APPROVAL_CHARS = 8192;
const MAX_TOKEN_CHARS = 1024 * 1024;
// Year 9999: every time must still convert to an ISO string for display.
const MAX_EPOCH = 253402300799;

// 128 bits = 21 full base64url characters plus one carrying 2 bits: its 4 low bits must be zero,
// so the last character is one of A, Q, g, w. One jti has one spelling.
const JTI = /^[A-Za-z0-9_-]{21}[AQgw]$/;
const REASON_SHAPE = /^[A-Z][A-Z0-9_]{0,63}$/;

/** Whether `v` has the shape of a token id (128 bits in canonical base64url) — and so holds no free text. @internal */
export const isTokenId = (v: unknown): v is string => typeof v === 'string' && JTI.test(v);
/** Whether `v` has the shape of a reason code (A-Z, then A-Z, 0-9 and _) — and so holds no free text. @internal */
export const isReasonShape = (v: unknown): v is string => typeof v === 'string' && REASON_SHAPE.test(v);
const OPERATION_SHAPE = /^[a-z][a-z0-9-]{0,31}$/;
const REQUEST_KEYS = ['v', 'jti', 'policy', 'aud', 'requester', 'reason', 'detail', 'scope', 'iat', 'nbf', 'exp'];
const SCOPE_KEYS = ['conversations', 'from', 'to', 'maxMessages', 'operation'];

type Problem = FieldProblem;


/**
 * True for an identifier (approver, requester, policy, audience): 1 to 256 well-formed
 * characters and no control characters, so ids print safely in CLI output and logs.
 *
 * @example
 * ```ts
 * isIdentifier('ts-alice'); // true
 * isIdentifier('a\nb');     // false
 * ```
 */
export function isIdentifier(v: unknown, max = 256): v is string {
  return typeof v === 'string' && v.length > 0 && v.length <= max && v.isWellFormed() && !/[\u0000-\u001f\u007f-\u009f]/.test(v);
}

/**
 * The form in which two names (requester, approver ids) are compared: NFKC, lower case, without
 * default-ignorable characters (zero-width, bidi controls, soft hyphen, variation selectors,
 * Hangul fillers), whitespace and the braille blank (U+2800). Names are compared as strings — the requester never counts as
 * an approver, and a policy's approvers are distinct people — so names that print alike must
 * compare equal: a requester `'t1\u200b'` prints as `'t1'` and was not the approver t1 (found by
 * an outside review). Lookalikes from other scripts (Cyrillic 'а') are not folded: that needs
 * Unicode's confusables table (UTS #39).
 *
 * @example
 * ```ts
 * nameSkeleton('T1\u200b ') === nameSkeleton('t1'); // true
 * nameSkeleton('\uff54\uff11') === nameSkeleton('t1'); // true (fullwidth)
 * ```
 */
export function nameSkeleton(name: string): string {
  if (typeof name !== 'string') throw new InvalidInputError('name', `expected a string, got ${name === null ? 'null' : typeof name}`);
  // Invisible characters go before normalising as well as after: one between a letter and its
  // combining mark ("jose" + CGJ + U+0301) blocks composition, and removed only afterwards it
  // left "jose\u0301" where "josé" composed (outside review, 2026-12-01). Lower-casing can
  // decompose again (U+0130), so the steps repeat until nothing changes (twice in practice).
  let s = name;
  for (let i = 0; i < 4; i++) {
    const next = s.replace(INVISIBLE, '').normalize('NFKC').toLowerCase().normalize('NFKC').replace(INVISIBLE, '');
    if (next === s) break;
    s = next;
  }
  return s;
}

/** Characters that print as nothing or as a blank: default-ignorables, white space, the braille blank. */
const INVISIBLE = /[\p{Default_Ignorable_Code_Point}\s\u2800]/gu;

function epochProblem(path: string, v: unknown): Problem {
  return Number.isSafeInteger(v) && (v as number) >= 0 && (v as number) <= MAX_EPOCH ? undefined : { path, expected: `an integer number of seconds in [0, ${MAX_EPOCH}]` };
}

function timeProblem(path: string, v: unknown): Problem {
  return isCanonicalTime(v)
    ? undefined
    : { path, expected: 'an RFC 3339 UTC time with milliseconds, e.g. 2025-01-01T00:00:00.000Z' };
}

/**
 * The first structural problem of a request, or undefined. Structure only: policy questions
 * (lifetime, reason allowed, scope limits, from < to, operation) are answered by verifyToken
 * with their own error codes, so a request that merely breaks policy still parses and can be
 * inspected.
 */
function requestProblem(v: unknown, path: string): Problem {
  if (!isPlainObject(v)) return { path: path || 'request', expected: 'an object' };
  const kp = fieldsProblem(path, v, REQUEST_KEYS);
  if (kp) return kp;
  if (v.v !== 1) return { path: fieldPath(path, 'v'), expected: '1' };
  if (typeof v.jti !== 'string' || !JTI.test(v.jti)) return { path: fieldPath(path, 'jti'), expected: '128 bits in canonical base64url (22 characters)' };
  for (const k of ['policy', 'aud', 'requester'] as const) if (!isIdentifier(v[k])) return { path: fieldPath(path, k), expected: 'an identifier (1-256 characters, no control characters)' };
  if (typeof v.reason !== 'string' || !REASON_SHAPE.test(v.reason)) return { path: fieldPath(path, 'reason'), expected: 'a reason code such as USER_REPORT_REVIEW' };
  if (!isIdentifier(v.detail, 1024)) return { path: fieldPath(path, 'detail'), expected: 'text of 1-1024 characters without control characters' };
  for (const k of ['iat', 'nbf', 'exp'] as const) {
    const p = epochProblem(fieldPath(path, k), v[k]);
    if (p) return p;
  }
  const s = v.scope;
  const sp = fieldPath(path, 'scope');
  if (!isPlainObject(s)) return { path: sp, expected: 'an object' };
  const skp = fieldsProblem(sp, s, SCOPE_KEYS);
  if (skp) return skp;
  if (!Array.isArray(s.conversations) || s.conversations.length === 0 || s.conversations.length > MAX_REQUEST_CONVERSATIONS) {
    return { path: `${sp}.conversations`, expected: `an array of 1-${MAX_REQUEST_CONVERSATIONS} conversation ids` };
  }
  const seen = new Set<string>();
  for (const [i, c] of (s.conversations as unknown[]).entries()) {
    try {
      conversationIdBytes(c, `${sp}.conversations[${i}]`);
    } catch (e) {
      return { path: `${sp}.conversations[${i}]`, expected: (e as Error).message.replace(/^[^:]*: /, '') };
    }
    // A repeated id would make the request look wider than it is; there is one spelling per scope.
    if (seen.has(c as string)) return { path: `${sp}.conversations[${i}]`, expected: 'a conversation id not already listed' };
    seen.add(c as string);
  }
  for (const k of ['from', 'to'] as const) {
    const p = timeProblem(`${sp}.${k}`, s[k]);
    if (p) return p;
  }
  if (!Number.isSafeInteger(s.maxMessages) || (s.maxMessages as number) < 1) return { path: `${sp}.maxMessages`, expected: 'a positive integer' };
  if (typeof s.operation !== 'string' || !OPERATION_SHAPE.test(s.operation)) return { path: `${sp}.operation`, expected: "an operation name such as 'decrypt'" };
  return undefined;
}

function malformed(p: NonNullable<Problem>): BreakGlassError {
  return new BreakGlassError('ERR_BG_MALFORMED', `${p.path}: expected ${p.expected}`);
}

/** The clock's time in whole seconds; a clock that gives no valid Date is the caller's `param` (outside review, 2026-12-02). */
function clockSeconds(now: () => Date, param: string): number {
  const t: unknown = now();
  if (!(t instanceof Date) || Number.isNaN(t.getTime())) throw new InvalidInputError(param, 'expected a function returning a valid Date');
  return Math.floor(t.getTime() / 1000);
}

/**
 * Builds a request, filling in `v`, a fresh random `jti`, `iat` (now) and `nbf` (= iat). Scope
 * times may be any RFC 3339 time or a `Date` (`'2026-01-01T00:00:00Z'`, `'…+02:00'`); they are
 * normalised to UTC with milliseconds, the one spelling the signed digest uses. It is stricter
 * than the parser: it refuses what could never be accepted (an unknown reason code,
 * `exp <= nbf`, `from >= to`, an operation other than `decrypt`), so tooling fails early.
 * Throws {@link InvalidInputError} naming the field as the caller wrote it (e.g. `scope.from`).
 *
 * @example
 * ```ts
 * const req = createRequest({ policy: 'bg-prod', aud: 'keywarden://dm-prod', requester: 'ts-erin',
 *   reason: 'LEGAL_PROCESS', detail: 'subpoena 2025-17',
 *   scope: { conversations: ['dm:alice:bob'], from: '2025-01-01T00:00:00Z', to: '2025-01-08T00:00:00Z', maxMessages: 500, operation: 'decrypt' },
 *   exp: Math.floor(Date.now() / 1000) + 4 * 3600 });
 * ```
 */
export function createRequest(given: RequestFields, now: () => Date = () => new Date()): BreakGlassRequest {
  if (!isPlainObject(given)) throw new InvalidInputError('request', 'expected an object');
  if (typeof now !== 'function') throw new InvalidInputError('now', 'expected a function returning a Date');
  const allowed = ['policy', 'aud', 'requester', 'reason', 'detail', 'scope', 'exp', 'nbf', 'iat', 'jti'];
  for (const k of Object.keys(given)) if (!allowed.includes(k)) throw new InvalidInputError(k, 'unknown field');
  // The caller's own fields only: an inherited `jti` or `iat` (a polluted Object.prototype) is
  // not theirs (outside review, 2026-12-01).
  const fields = ownOptions('request', given, allowed) as RequestFields; // checked below (requestProblem)
  const iat = fields.iat ?? clockSeconds(now, 'now');
  let scope: unknown = fields.scope;
  if (isPlainObject(fields.scope)) {
    const s = ownOptions('scope', fields.scope, Object.keys(fields.scope)) as Record<string, unknown>;
    scope = {
      ...s,
      conversations: Array.isArray(s.conversations) ? [...(s.conversations as unknown[])] : s.conversations,
      from: normalizeTime('scope.from', s.from),
      to: normalizeTime('scope.to', s.to),
    };
  }
  const req = {
    v: 1 as const,
    jti: fields.jti ?? base64url.encode(randomBytes(16)),
    policy: fields.policy,
    aud: fields.aud,
    requester: fields.requester,
    reason: fields.reason,
    detail: fields.detail,
    scope: scope as BreakGlassScope,
    iat,
    nbf: fields.nbf ?? iat,
    exp: fields.exp,
  };
  const p = requestProblem(req, '');
  if (p) throw new InvalidInputError(p.path, p.expected);
  if (!(REASON_CODES as readonly string[]).includes(req.reason)) throw new InvalidInputError('reason', `expected one of ${REASON_CODES.join(', ')}`);
  if (req.scope.operation !== 'decrypt') throw new InvalidInputError('scope.operation', "expected 'decrypt'");
  if (Date.parse(req.scope.from) >= Date.parse(req.scope.to)) throw new InvalidInputError('scope.to', 'expected a time after scope.from');
  if (req.exp <= req.nbf) throw new InvalidInputError('exp', 'expected a time after nbf');
  return req;
}

/**
 * The request's RFC 8785 canonical JSON as UTF-8 bytes: the exact bytes whose digest approvers
 * sign. Validates the shape strictly (missing, unknown or mistyped fields throw
 * `BreakGlassError('ERR_BG_MALFORMED')`), because hashing an ill-formed document would let two
 * readers disagree about what was approved.
 *
 * @example
 * ```ts
 * new TextDecoder().decode(canonicalRequest(req)); // '{"aud":"keywarden://dm-prod","detail":…,"v":1}'
 * ```
 */
export function canonicalRequest(req: BreakGlassRequest): Uint8Array {
  const p = requestProblem(req, 'request');
  if (p) throw malformed(p);
  return utf8(canonicalJson(req));
}

/**
 * base64url(SHA-256(canonicalRequest(req))): what each approval signs (its `digest` claim).
 *
 * @example
 * ```ts
 * requestDigest(req); // 43 base64url characters, e.g. 'q3M9…'
 * ```
 */
export function requestDigest(req: BreakGlassRequest): string {
  return base64url.encode(sha256(canonicalRequest(req)));
}

/**
 * Whether 32 bytes encode a point of order 1, 2, 4 or 8, read as leniently as any verifier may
 * (non-canonical y >= p, either sign bit). Approvals are verified by jose through
 * WebCrypto/OpenSSL, whose Ed25519 check is cofactorless and takes such a key: under the
 * identity, R = identity and S = 0 verify for every message, so anyone could mint that
 * approver's approval (outside review 5, 2026-12-02). No private key has such a public key.
 * The eight small-order points have y in {1, -1, 0, y8, -y8} (mod p), and every point with such
 * a y is one of them, so y alone decides: no point decoding (a square root per key, on every
 * verification, since verifyToken validates its policy each time).
 */
function isSmallOrderPoint(x: Uint8Array): boolean {
  let y = 0n;
  for (let i = 31; i >= 0; i--) y = (y << 8n) | BigInt(i === 31 ? x[i]! & 0x7f : x[i]!);
  return SMALL_ORDER_Y.has(y % ED25519_P);
}
const ED25519_P = 2n ** 255n - 19n;
// y of the order-8 points: the y-coordinate of the encoding c7176a70…ac037a (little-endian).
const Y8 = 0x7a03ac9277fdc74ec6cc392cfa53202a0f67100d760b3cba4fd84d3d706a17c7n;
const SMALL_ORDER_Y = new Set([0n, 1n, ED25519_P - 1n, Y8, ED25519_P - Y8]);

function okpProblem(jwk: unknown, wantPrivate: boolean): string | undefined {
  if (!isPlainObject(jwk)) return 'expected a JWK object';
  if (jwk.kty !== 'OKP' || jwk.crv !== 'Ed25519') return 'expected an Ed25519 OKP JWK (kty "OKP", crv "Ed25519")';
  if (typeof jwk.x !== 'string' || jwk.x.length !== 43 || !isCanonicalBase64url(jwk.x)) return 'expected "x" to be 32 bytes of base64url';
  if (isSmallOrderPoint(base64url.decode(jwk.x))) return 'expected "x" to be a real Ed25519 public key (it is a small-order point, under which anyone can forge signatures)';
  if (wantPrivate && (typeof jwk.d !== 'string' || jwk.d.length !== 43 || !isCanonicalBase64url(jwk.d))) return 'expected a private JWK ("d" of 32 bytes)';
  if (!wantPrivate && jwk.d !== undefined) return 'expected a public JWK (it holds a private key "d")';
  return undefined;
}

/**
 * What is wrong with a public Ed25519 JWK, or undefined (shared with ./policy.ts, which refuses
 * private keys in a trust policy).
 *
 * @example
 * ```ts
 * publicJwkProblem({ kty: 'OKP', crv: 'Ed25519', x: k.publicJwk.x }); // undefined
 * publicJwkProblem(k.privateJwk); // 'expected a public JWK (it holds a private key "d")'
 * ```
 */
export function publicJwkProblem(jwk: unknown): string | undefined {
  return okpProblem(jwk, false);
}

/**
 * Signs an approval of `req` with an approver's Ed25519 private JWK: a compact JWT with header
 * `{ alg: 'EdDSA', typ: APPROVAL_TYP, kid: approver.id }` and claims `iss` (the approver),
 * `aud` (the request's audience), `jti` (the request's), `digest` ({@link requestDigest}),
 * `iat` and `exp` (by default the request's `exp`; `expiresInSeconds` sets a shorter one).
 * Approvers sign at their own time, on their own machine; nothing else is needed to combine
 * approvals.
 *
 * @example
 * ```ts
 * const { privateJwk } = JSON.parse(await readFile('alice.private.jwk', 'utf8'));
 * const jwt = await approveRequest(req, { id: 'ts-alice', privateJwk });
 * token.approvals.push(jwt);
 * ```
 */
export async function approveRequest(
  req: BreakGlassRequest,
  approver: { id: string; privateJwk: Jwk },
  options?: { expiresInSeconds?: number; now?: () => Date },
): Promise<string> {
  return signDigest(req, APPROVAL_TYP, 'approver', approver, options, true);
}

/**
 * Signs `req` as its requester: a compact JWT like an approval ({@link approveRequest}: the same
 * claims, `exp` the request's), but with `typ` {@link REQUEST_SIGNATURE_TYP}, by the key the
 * trust policy lists for `req.requester` under `requesters`. It goes into the token as
 * `requesterSignature`. A policy that lists requesters refuses a token without it
 * (`ERR_BG_REQUESTER_UNVERIFIED`): so no one can name someone else as the requester — an
 * approver cannot ask in a colleague's name and approve their own request
 * (docs/BREAK-GLASS.md §1). `requester.id` must be the request's requester, as written.
 *
 * @example
 * ```ts
 * const { privateJwk } = JSON.parse(await readFile('erin.private.jwk', 'utf8'));
 * const req = createRequest({ ...fields, requester: 'ts-erin' });
 * const token: BreakGlassToken = { request: req, requesterSignature: await signRequest(req, { id: 'ts-erin', privateJwk }), approvals: [] };
 * ```
 */
export async function signRequest(
  req: BreakGlassRequest,
  requester: { id: string; privateJwk: Jwk },
  options?: { now?: () => Date },
): Promise<string> {
  return signDigest(req, REQUEST_SIGNATURE_TYP, 'requester', requester, options, false);
}

/** The JWT of approveRequest and signRequest: `role` names the caller's parameter in errors. */
async function signDigest(
  req: BreakGlassRequest,
  typ: string,
  role: 'approver' | 'requester',
  signer: { id: string; privateJwk: Jwk },
  options: { expiresInSeconds?: number; now?: () => Date } | undefined,
  mayShorten: boolean,
): Promise<string> {
  const digest = requestDigest(req); // validates req first: never sign something malformed
  if (!isPlainObject(signer)) throw new InvalidInputError(role, 'expected { id, privateJwk }');
  const id = own(signer, 'id');
  const privateJwk = own(signer, 'privateJwk') as Jwk;
  if (!isIdentifier(id)) throw new InvalidInputError(`${role}.id`, 'expected an identifier (1-256 characters, no control characters)');
  // Exactly the requester as written: the policy looks their key up by this id.
  if (role === 'requester' && id !== req.requester) throw new InvalidInputError('requester.id', "expected the request's requester");
  const kp = okpProblem(privateJwk, true);
  if (kp) throw new InvalidInputError(`${role}.privateJwk`, kp);
  const allowed = mayShorten ? ['expiresInSeconds', 'now'] : ['now'];
  if (options !== undefined && !isPlainObject(options)) throw new InvalidInputError('options', 'expected an object');
  for (const k of Object.keys(options ?? {})) if (!allowed.includes(k)) throw new InvalidInputError(`options.${k}`, 'unknown option');
  // Own options only: an inherited `expiresInSeconds` signed ten-year approvals (outside review, 2026-12-01).
  const o = ownOptions('options', options, allowed) as { expiresInSeconds?: unknown; now?: unknown };
  if (o.now !== undefined && typeof o.now !== 'function') throw new InvalidInputError('options.now', 'expected a function returning a Date');
  const iat = clockSeconds((o.now as (() => Date) | undefined) ?? (() => new Date()), 'options.now');
  let exp = req.exp;
  if (o.expiresInSeconds !== undefined) {
    const s = o.expiresInSeconds;
    if (!Number.isSafeInteger(s) || (s as number) < 1) throw new InvalidInputError('options.expiresInSeconds', 'expected a positive integer');
    exp = iat + (s as number);
  }
  const { kty, crv, x, d } = privateJwk;
  // Import only the key members, so stray JWK fields (key_ops, alg) cannot change behaviour.
  let key: CryptoKey | Uint8Array;
  try {
    key = await importJWK({ kty: kty as string, crv: crv as string, x: x as string, d: d as string }, 'EdDSA');
  } catch {
    // Both are well-formed (okpProblem), so WebCrypto refused the pair: "x" is not d's public
    // key (a key file edited by hand, or two mixed up). Its DOMException is not our error, and
    // nothing of the key goes into the message.
    throw new InvalidInputError(`${role}.privateJwk`, 'expected "x" to be the public key of "d"');
  }
  return new SignJWT({ jti: req.jti, digest })
    .setProtectedHeader({ alg: 'EdDSA', typ, kid: id })
    .setIssuer(id)
    .setAudience(req.aud)
    .setIssuedAt(iat)
    .setExpirationTime(exp)
    .sign(key);
}

/** The first structural problem of a token object, or undefined. */
function tokenProblem(t: unknown): Problem {
  if (!isPlainObject(t)) return { path: 'token', expected: 'an object' };
  const kp = fieldsProblem('token', t, ['request', 'approvals'], ['requesterSignature']);
  if (kp) return kp;
  const rp = requestProblem(t.request, 'token.request');
  if (rp) return rp;
  // Own fields only, here and below: an inherited requesterSignature (a polluted Object.prototype)
  // is not the token's (review 6; test/review6-bg-inherited-requester-signature.test.ts).
  if (own(t, 'requesterSignature') !== undefined && !isCompactJwt(t.requesterSignature)) return { path: 'token.requesterSignature', expected: COMPACT_JWT };
  if (!Array.isArray(t.approvals) || t.approvals.length > MAX_APPROVALS) return { path: 'token.approvals', expected: `an array of at most ${MAX_APPROVALS} approvals` };
  for (const [i, a] of (t.approvals as unknown[]).entries()) {
    if (!isCompactJwt(a)) return { path: `token.approvals[${i}]`, expected: COMPACT_JWT };
  }
  return undefined;
}

const COMPACT_JWT = `a compact JWT of at most ${MAX_APPROVAL_CHARS} characters (three canonical base64url parts)`;

/**
 * Compact JWS with three non-empty canonical base64url parts. Canonical matters for the
 * signature part: lenient decoders would otherwise accept altered characters as the same
 * signature, and "any changed byte is refused" would not hold.
 */
function isCompactJwt(a: unknown): boolean {
  const parts = typeof a === 'string' && a.length <= MAX_APPROVAL_CHARS ? a.split('.') : [];
  return parts.length === 3 && parts.every((x) => x.length > 0 && isCanonicalBase64url(x));
}

/**
 * The token as one line of canonical JSON (`{"approvals":[…],"request":{…}}`, no trailing
 * newline). Throws `BreakGlassError('ERR_BG_MALFORMED')` for anything {@link decodeToken} would
 * refuse, so what is written can always be read back.
 *
 * @example
 * ```ts
 * await writeFile('token.json', `${encodeToken({ request: req, approvals: [] })}\n`);
 * ```
 */
export function encodeToken(t: BreakGlassToken): string {
  const p = tokenProblem(t);
  if (p) throw malformed(p);
  // Without a requester signature the text is what it always was.
  const requesterSignature = own(t, 'requesterSignature');
  return canonicalJson(requesterSignature === undefined
    ? { approvals: t.approvals, request: t.request }
    : { approvals: t.approvals, request: t.request, requesterSignature });
}

/**
 * Parses token text strictly: `{ "request": {...}, "approvals": ["<jwt>", ...] }` (and
 * `"requesterSignature": "<jwt>"` when the requester signed) with exactly
 * the request fields (no unknown, missing, mistyped or duplicate fields) and approvals that are
 * compact JWTs in canonical base64url. Everything else throws
 * `BreakGlassError('ERR_BG_MALFORMED')`. Whitespace and key order are free (a plain
 * `JSON.stringify` from another tool is fine): what approvers sign is the digest of the
 * request's canonical form, recomputed here, so the spelling of the text cannot matter.
 *
 * @example
 * ```ts
 * const token = decodeToken(await readFile('token.json', 'utf8'));
 * token.approvals.length; // approvals collected so far
 * ```
 */
export function decodeToken(text: string): BreakGlassToken {
  if (typeof text !== 'string') throw new BreakGlassError('ERR_BG_MALFORMED', 'token: expected a string');
  if (text.length > MAX_TOKEN_CHARS) throw new BreakGlassError('ERR_BG_MALFORMED', `token: longer than ${MAX_TOKEN_CHARS} characters`);
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new BreakGlassError('ERR_BG_MALFORMED', 'token: not JSON');
  }
  const p = tokenProblem(value);
  if (p) throw malformed(p);
  const dup = duplicateKey(text);
  if (dup !== undefined) throw new BreakGlassError('ERR_BG_MALFORMED', `token: field ${JSON.stringify(dup.slice(0, 64))} appears twice`);
  const t = value as BreakGlassToken;
  const requesterSignature = own(t, 'requesterSignature') as string | undefined;
  return { request: t.request, approvals: t.approvals, ...(requesterSignature === undefined ? {} : { requesterSignature }) };
}

/**
 * A new approver key pair: Ed25519 OKP JWKs with `kid` set to `id`. The private JWK goes to
 * the approver (file mode 0600); the public one into the service's trust policy.
 *
 * @example
 * ```ts
 * const k = await generateApproverKey('ts-alice');
 * policy.factors[0].approvers.push({ id: k.id, publicJwk: k.publicJwk });
 * ```
 */
export async function generateApproverKey(id: string): Promise<{ id: string; privateJwk: Jwk; publicJwk: Jwk }> {
  if (!isIdentifier(id)) throw new InvalidInputError('id', 'expected an identifier (1-256 characters, no control characters)');
  const { privateKey, publicKey } = await generateKeyPair('EdDSA', { crv: 'Ed25519', extractable: true });
  const privateJwk = { ...(await exportJWK(privateKey)), kid: id };
  const publicJwk = { ...(await exportJWK(publicKey)), kid: id };
  return { id, privateJwk, publicJwk };
}
