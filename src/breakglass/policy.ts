/**
 * The service's break-glass trust policy and the verification of tokens against it.
 *
 * A policy groups approver public keys into factors, each with a threshold (e.g. 2 of
 * trust-and-safety AND 1 of legal), lists the reason codes it accepts (an empty list accepts
 * none), and caps token lifetime and scope. {@link verifyToken} checks every approval on its own
 * (jose's general-JWS verify stops at the first good signature, so it cannot count k-of-n) and
 * counts distinct approvers per factor. {@link inspectToken} runs the same checks without
 * stopping, for tooling.
 *
 * @example
 * ```ts
 * const policy: BreakGlassPolicy = JSON.parse(await readFile('breakglass-policy.json', 'utf8'));
 * validatePolicy(policy);
 * const ok = await verifyToken(await readFile('token.json', 'utf8'), policy);
 * ok.approvers; // ['ts-alice', 'ts-bob', 'legal-carol']
 * ```
 * @module
 */
import { base64url, decodeProtectedHeader, errors, importJWK, jwtVerify } from 'jose';
import { BreakGlassError, type BreakGlassErrorCode, InvalidInputError } from '../errors.js';
import {
  APPROVAL_TYP,
  type Jwk,
  type BreakGlassRequest,
  type BreakGlassToken,
  REASON_CODES,
  REQUEST_SIGNATURE_TYP,
  decodeToken,
  encodeToken,
  isIdentifier,
  nameSkeleton,
  publicJwkProblem,
  requestDigest,
} from './token.js';
import { duplicateKey } from '../util/json.js';
import { assertInt, fields, own } from '../util/validate.js';

/**
 * One approver: the id they sign as (JWT `kid` and `iss`) and their Ed25519 public JWK.
 *
 * @example
 * ```ts
 * const a: ApproverKey = { id: 'ts-alice', publicJwk: { kty: 'OKP', crv: 'Ed25519', x: '11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo' } };
 * ```
 */
export interface ApproverKey {
  id: string;
  publicJwk: Jwk;
}

/**
 * A group of approvers of which at least `threshold` distinct ones must approve.
 *
 * @example
 * ```ts
 * const legal: PolicyFactor = { name: 'legal', threshold: 1, approvers: [carol, dan] };
 * ```
 */
export interface PolicyFactor {
  name: string;
  threshold: number;
  approvers: ApproverKey[];
}

/**
 * A trust policy. Every factor must be met. `audience` is this deployment (the request's and
 * the approvals' `aud`); `id` is the request's `policy`. `maxScope.windowSeconds` caps
 * `scope.to - scope.from`. `clockToleranceSeconds` (default 0, at most 300) widens every time
 * check by that much, for approvers' and servers' clock skew.
 *
 * @example
 * ```ts
 * const policy: BreakGlassPolicy = {
 *   id: 'bg-prod', audience: 'keywarden://dm-prod',
 *   factors: [{ name: 'trust-and-safety', threshold: 2, approvers: [alice, bob, eve] }, { name: 'legal', threshold: 1, approvers: [carol, dan] }],
 *   allowedReasons: ['USER_REPORT_REVIEW', 'IMMINENT_HARM', 'LEGAL_PROCESS'],
 *   maxLifetimeSeconds: 24 * 3600,
 *   maxScope: { conversations: 10, messages: 1000, windowSeconds: 30 * 86400 },
 * };
 * ```
 */
export interface BreakGlassPolicy {
  id: string;
  audience: string;
  factors: PolicyFactor[];
  allowedReasons: string[];
  maxLifetimeSeconds: number;
  maxScope: { conversations: number; messages: number; windowSeconds: number };
  clockToleranceSeconds?: number;
  /**
   * Who may ask, each with their Ed25519 public key. When set, a token is accepted only with its
   * requester's signature ({@link signRequest}) by the key listed for `request.requester`:
   * without it a request's `requester` is a name its author chose, and an approver could name a
   * colleague as requester and approve their own request (docs/BREAK-GLASS.md §1). One person
   * may be a requester and an approver (with one key), never both for the same request.
   */
  requesters?: ApproverKey[];
}

/**
 * What an accepted token allows and who allowed it. `approvers` are the distinct approvers in
 * approval order; `factors` how many of each factor approved (`have`) against its threshold.
 *
 * @example
 * ```ts
 * const v: VerifiedToken = await verifyToken(token, policy);
 * v.factors; // [{ name: 'trust-and-safety', have: 2, need: 2 }, { name: 'legal', have: 1, need: 1 }]
 * ```
 */
export interface VerifiedToken {
  request: BreakGlassRequest;
  digest: string;
  approvers: string[];
  factors: { name: string; have: number; need: number }[];
  /**
   * True when the policy lists `requesters`, so that the requester is who signed the request
   * (always true then: without the signature the token is refused); false when the policy does
   * not, and `request.requester` is only a name.
   */
  requesterVerified: boolean;
  /**
   * The second (since 1970) from which the token is refused as expired: the earliest `exp` of
   * the request and its approvals, plus the policy's clock tolerance. A redemption checks it
   * again at the point of use (BreakGlass: inside the ledger's step).
   */
  expiresAt: number;
}

/**
 * A report on a token: what it asks for, each approval's state (`approver` is the `kid` the
 * approval claims; `valid` false with `code` when it fails on its own), each factor's count and
 * the approvers who could still approve (`missing`, empty once met), every problem found with
 * its refusal code, and `ok` when {@link verifyToken} would accept it at that time.
 *
 * @example
 * ```ts
 * const r: TokenInspection = await inspectToken(token, policy);
 * if (!r.ok) console.log(r.problems.map((p) => p.code)); // ['ERR_BG_THRESHOLD_NOT_MET']
 * ```
 */
export interface TokenInspection {
  request?: BreakGlassRequest;
  digest?: string;
  approvals: { index: number; approver?: string; valid: boolean; code?: string }[];
  factors: { name: string; have: number; need: number; missing: string[] }[];
  problems: { code: string; message: string }[];
  /** True when the policy lists requesters and the token carries the requester's valid signature. */
  requesterVerified: boolean;
  ok: boolean;
}

const MAX_FACTORS = 16;
const MAX_APPROVERS_PER_FACTOR = 64;
const MAX_REQUESTERS = 1024;
const MAX_LIFETIME_SECONDS = 366 * 86400;
const MAX_CLOCK_TOLERANCE_SECONDS = 300;
// The access intent lists one HMAC per conversation (64 hex digits, 67 bytes in the entry's
// JSON): 900 take 60,300 of an entry's 65,535 bytes, leaving room for the rest of the intent
// (at 1,000 the intent of a valid token could not be recorded: outside review, 2026-12-01).
const MAX_SCOPE_CONVERSATIONS = 900;

const POLICY_FIELDS = ['id', 'audience', 'factors', 'allowedReasons', 'maxLifetimeSeconds', 'maxScope'];
const POLICY_OPTIONAL_FIELDS = ['clockToleranceSeconds', 'requesters'];

/**
 * The policy as {@link validatePolicy} checked it: its own fields only (a snapshot on a null
 * prototype). Verification reads it, never the caller's object: an inherited `requesters` or
 * `clockToleranceSeconds` (a polluted Object.prototype) was read as the policy's own, unchecked
 * (review 6; test/review6-bg-inherited-policy-fields.test.ts).
 */
function ownPolicy(policy: BreakGlassPolicy): BreakGlassPolicy {
  return fields('policy', policy, POLICY_FIELDS, POLICY_OPTIONAL_FIELDS) as unknown as BreakGlassPolicy;
}

function id(param: string, v: unknown): void {
  if (!isIdentifier(v)) throw new InvalidInputError(param, 'expected an identifier (1-256 characters, no control characters)');
}

/**
 * Checks a trust policy strictly, throwing {@link InvalidInputError} naming the field (e.g.
 * `policy.factors[1].threshold`). Beyond types and ranges it refuses what would let one person
 * count twice or make a factor unsatisfiable: a threshold above the factor's approver count, the
 * same id twice in a factor, one id with two different keys, one key under two ids, a private
 * key (`d`), a small-order public key (under which anyone can forge signatures), an unknown
 * reason code.
 *
 * @example
 * ```ts
 * const policy: unknown = JSON.parse(await readFile('breakglass-policy.json', 'utf8'));
 * validatePolicy(policy); // policy: BreakGlassPolicy from here on
 * ```
 */
export function validatePolicy(policy: unknown): asserts policy is BreakGlassPolicy {
  // Own fields only (util/validate `fields`): an absent optional field is absent, whatever
  // Object.prototype holds.
  const p = fields('policy', policy, POLICY_FIELDS, POLICY_OPTIONAL_FIELDS);
  id('policy.id', p.id);
  id('policy.audience', p.audience);
  if (!Array.isArray(p.factors) || p.factors.length === 0 || p.factors.length > MAX_FACTORS) throw new InvalidInputError('policy.factors', `expected an array of 1-${MAX_FACTORS} factors`);
  const factorNames = new Set<string>();
  const keyOfId = new Map<string, string>(); // approver id -> x
  const idOfKey = new Map<string, string>(); // x -> approver id
  const idOfSkeleton = new Map<string, string>(); // nameSkeleton(id) -> approver id
  for (const [i, factor] of (p.factors as unknown[]).entries()) {
    const fp = `policy.factors[${i}]`;
    const f = fields(fp, factor, ['name', 'threshold', 'approvers']);
    id(`${fp}.name`, f.name);
    if (factorNames.has(f.name as string)) throw new InvalidInputError(`${fp}.name`, 'expected a name not used by another factor');
    factorNames.add(f.name as string);
    if (!Array.isArray(f.approvers) || f.approvers.length === 0 || f.approvers.length > MAX_APPROVERS_PER_FACTOR) {
      throw new InvalidInputError(`${fp}.approvers`, `expected an array of 1-${MAX_APPROVERS_PER_FACTOR} approvers`);
    }
    assertInt(`${fp}.threshold`, f.threshold, 1, f.approvers.length);
    const inFactor = new Set<string>();
    for (const [j, approver] of (f.approvers as unknown[]).entries()) {
      const aid = checkPerson(`${fp}.approvers[${j}]`, approver, 'approver', keyOfId, idOfKey, idOfSkeleton);
      if (inFactor.has(aid)) throw new InvalidInputError(`${fp}.approvers[${j}].id`, 'expected an approver not already in this factor');
      inFactor.add(aid);
    }
  }
  if (p.requesters !== undefined) {
    if (!Array.isArray(p.requesters) || p.requesters.length === 0 || p.requesters.length > MAX_REQUESTERS) {
      throw new InvalidInputError('policy.requesters', `expected an array of 1-${MAX_REQUESTERS} requesters (or no requesters field)`);
    }
    // The same rules across both lists: one person (one id as read) has one key, and one key is one person.
    const listed = new Set<string>();
    for (const [j, requester] of (p.requesters as unknown[]).entries()) {
      const rid = checkPerson(`policy.requesters[${j}]`, requester, 'requester', keyOfId, idOfKey, idOfSkeleton);
      if (listed.has(rid)) throw new InvalidInputError(`policy.requesters[${j}].id`, 'expected a requester not already listed');
      listed.add(rid);
    }
  }
  if (!Array.isArray(p.allowedReasons)) throw new InvalidInputError('policy.allowedReasons', 'expected an array (empty denies everything)');
  for (const [i, r] of (p.allowedReasons as unknown[]).entries()) {
    if (typeof r !== 'string' || !(REASON_CODES as readonly string[]).includes(r)) throw new InvalidInputError(`policy.allowedReasons[${i}]`, `expected one of ${REASON_CODES.join(', ')}`);
    if ((p.allowedReasons as unknown[]).indexOf(r) !== i) throw new InvalidInputError(`policy.allowedReasons[${i}]`, 'expected a reason not already listed');
  }
  assertInt('policy.maxLifetimeSeconds', p.maxLifetimeSeconds, 1, MAX_LIFETIME_SECONDS);
  const ms = fields('policy.maxScope', p.maxScope, ['conversations', 'messages', 'windowSeconds']);
  assertInt('policy.maxScope.conversations', ms.conversations, 1, MAX_SCOPE_CONVERSATIONS);
  assertInt('policy.maxScope.messages', ms.messages, 1, Number.MAX_SAFE_INTEGER);
  assertInt('policy.maxScope.windowSeconds', ms.windowSeconds, 1, Number.MAX_SAFE_INTEGER);
  if (p.clockToleranceSeconds !== undefined) assertInt('policy.clockToleranceSeconds', p.clockToleranceSeconds, 0, MAX_CLOCK_TOLERANCE_SECONDS);
}

/**
 * Checks one `{ id, publicJwk }` of the policy (an approver or a requester at `path`) against
 * everyone checked before it; returns the id. Ids that print alike are one person to whoever
 * reads them (nameSkeleton); a person may sit in several lists, but always with one key; and one
 * key is one person, so it may not appear under two ids (that would let one signer count twice).
 */
function checkPerson(
  path: string, entry: unknown, role: 'approver' | 'requester',
  keyOfId: Map<string, string>, idOfKey: Map<string, string>, idOfSkeleton: Map<string, string>,
): string {
  const a = fields(path, entry, ['id', 'publicJwk']);
  id(`${path}.id`, a.id);
  const aid = a.id as string;
  const other = idOfSkeleton.get(nameSkeleton(aid));
  if (other !== undefined && other !== aid) throw new InvalidInputError(`${path}.id`, `expected an id that does not read like ${show(other)}`);
  idOfSkeleton.set(nameSkeleton(aid), aid);
  const problem = publicJwkProblem(a.publicJwk);
  if (problem) throw new InvalidInputError(`${path}.publicJwk`, problem);
  const jwk = fields(`${path}.publicJwk`, a.publicJwk, ['kty', 'crv', 'x'], ['kid', 'alg', 'use', 'key_ops', 'ext']);
  if (jwk.kid !== undefined && jwk.kid !== aid) throw new InvalidInputError(`${path}.publicJwk.kid`, `expected the ${role} id (or no kid)`);
  if (jwk.alg !== undefined && jwk.alg !== 'EdDSA' && jwk.alg !== 'Ed25519') throw new InvalidInputError(`${path}.publicJwk.alg`, "expected 'EdDSA' (or no alg)");
  const x = jwk.x as string;
  if (keyOfId.has(aid) && keyOfId.get(aid) !== x) throw new InvalidInputError(`${path}.publicJwk`, `expected the same key as ${aid} has elsewhere in the policy`);
  if (idOfKey.has(x) && idOfKey.get(x) !== aid) throw new InvalidInputError(`${path}.publicJwk`, `expected a key not already used by ${idOfKey.get(x)}`);
  keyOfId.set(aid, x);
  idOfKey.set(x, aid);
  return aid;
}

type Problem = { code: BreakGlassErrorCode; message: string };
type ApprovalResult = { approver?: string; code?: BreakGlassErrorCode; message?: string; exp?: number };

interface Evaluation {
  request?: BreakGlassRequest;
  digest?: string;
  approvals: TokenInspection['approvals'];
  approvers: string[];
  factors: TokenInspection['factors'];
  problems: Problem[];
  /** The earliest `exp` of the request, its requester's signature and its valid approvals (seconds), when read. */
  exp?: number;
  requesterVerified: boolean;
  /** The policy's own clock tolerance (seconds; 0 when it sets none). */
  tolerance: number;
}

const show = (s: string) => JSON.stringify(s.length > 64 ? `${s.slice(0, 64)}…` : s);
const iso = (epochSeconds: number) => new Date(epochSeconds * 1000).toISOString();

/** Maps a jose verification failure to a refusal code. */
function joseCode(e: unknown): BreakGlassErrorCode {
  if (e instanceof errors.JWTExpired) return 'ERR_BG_EXPIRED';
  if (e instanceof errors.JWTClaimValidationFailed && e.claim === 'nbf' && e.reason === 'check_failed') return 'ERR_BG_NOT_YET_VALID';
  // Unparseable JWS structure (bad base64url or JSON, unsupported crit): not an approval at all.
  if (e instanceof errors.JWSInvalid) return 'ERR_BG_MALFORMED';
  // Everything else from a known key — wrong signature, another alg, another typ, aud or iss,
  // missing or mistyped claims — means it is not that approver's signature over this approval.
  return 'ERR_BG_BAD_SIGNATURE';
}

/** The first member named twice in a compact JWS's header or claims, described; else undefined. */
function duplicateMember(jwt: string): string | undefined {
  const parts = jwt.split('.');
  const text = new TextDecoder('utf-8', { fatal: false });
  for (const [i, what] of [[0, 'protected header'], [1, 'claims']] as const) {
    let json: string;
    try {
      json = text.decode(base64url.decode(parts[i] ?? ''));
      JSON.parse(json); // duplicateKey reads valid JSON only
    } catch {
      return `${what} is not base64url JSON`;
    }
    const dup = duplicateKey(json);
    if (dup !== undefined) return `${what} name ${JSON.stringify(dup.slice(0, 64))} twice`;
  }
  return undefined;
}

/** Checks one approval on its own: it is a valid signature by a policy approver over this request. */
async function checkApproval(
  jwt: string,
  keyFor: (id: string) => Promise<CryptoKey | Uint8Array | undefined>,
  req: BreakGlassRequest,
  digest: string,
  policy: BreakGlassPolicy,
  now: Date,
): Promise<ApprovalResult> {
  let kid: unknown;
  try {
    kid = decodeProtectedHeader(jwt).kid;
  } catch {
    return { code: 'ERR_BG_MALFORMED', message: 'protected header is not base64url JSON' };
  }
  if (!isIdentifier(kid)) return { code: 'ERR_BG_MALFORMED', message: 'protected header has no usable "kid"' };
  const key = await keyFor(kid);
  if (key === undefined) return { approver: kid, code: 'ERR_BG_UNKNOWN_APPROVER', message: `${show(kid)} is not an approver in policy ${show(policy.id)}` };
  let payload: Record<string, unknown>;
  try {
    ({ payload } = await jwtVerify(jwt, key, {
      algorithms: ['EdDSA'],
      typ: APPROVAL_TYP,
      audience: policy.audience,
      issuer: kid,
      requiredClaims: ['jti', 'digest', 'iat', 'exp'],
      currentDate: now,
      clockTolerance: policy.clockToleranceSeconds ?? 0,
    }));
  } catch (e) {
    const code = joseCode(e);
    const why = code === 'ERR_BG_EXPIRED' ? 'has expired' : code === 'ERR_BG_NOT_YET_VALID' ? 'is not valid yet' : code === 'ERR_BG_MALFORMED' ? 'is not a well-formed JWS' : `does not verify (${(e as { code?: string }).code ?? 'error'})`;
    return { approver: kid, code, message: `approval by ${show(kid)} ${why}` };
  }
  // A member given twice is read as its last copy here and as its first by other parsers: the
  // approval would count for one approver here and another in an auditor's script. The token
  // refuses duplicates (decodeToken); its approvals do too (outside review, 2026-12-02) — checked
  // once the signature verified, so that a changed byte is a bad signature, as before.
  const twice = duplicateMember(jwt);
  if (twice !== undefined) return { approver: kid, code: 'ERR_BG_MALFORMED', message: `the approval's ${twice}` };
  // A valid signature over another request (or another copy of it) approves something else.
  if (payload.jti !== req.jti || payload.digest !== digest) return { approver: kid, code: 'ERR_BG_BAD_SIGNATURE', message: `approval by ${show(kid)} is for a different request` };
  return { approver: kid, exp: payload.exp as number };
}

/**
 * Checks the requester's signature of a policy that lists requesters: a JWT of typ
 * REQUEST_SIGNATURE_TYP by the key listed for `req.requester` (its `kid` and `iss` exactly that
 * id), over this request's jti and digest, for this audience, within its own times.
 */
async function checkRequesterSignature(
  jwt: string | undefined, policy: BreakGlassPolicy, req: BreakGlassRequest, digest: string, now: Date,
): Promise<ApprovalResult> {
  const code = 'ERR_BG_REQUESTER_UNVERIFIED';
  if (jwt === undefined) return { code, message: `policy ${show(policy.id)} requires the requester's signature (requesterSignature); the token has none` };
  const entry = policy.requesters!.find((r) => r.id === req.requester);
  if (entry === undefined) return { code, message: `${show(req.requester)} is not a requester in policy ${show(policy.id)}` };
  let kid: unknown;
  try {
    kid = decodeProtectedHeader(jwt).kid;
  } catch {
    return { code: 'ERR_BG_MALFORMED', message: "the requester's signature: protected header is not base64url JSON" };
  }
  if (kid !== req.requester) return { code, message: `the requester's signature is not by ${show(req.requester)}` };
  let payload: Record<string, unknown>;
  try {
    const key = await importJWK({ kty: entry.publicJwk.kty as string, crv: entry.publicJwk.crv as string, x: entry.publicJwk.x as string }, 'EdDSA');
    ({ payload } = await jwtVerify(jwt, key, {
      algorithms: ['EdDSA'], typ: REQUEST_SIGNATURE_TYP, audience: policy.audience, issuer: req.requester,
      requiredClaims: ['jti', 'digest', 'iat', 'exp'], currentDate: now, clockTolerance: policy.clockToleranceSeconds ?? 0,
    }));
  } catch (e) {
    const c = joseCode(e);
    if (c === 'ERR_BG_EXPIRED' || c === 'ERR_BG_NOT_YET_VALID') return { code: c, message: `the requester's signature ${c === 'ERR_BG_EXPIRED' ? 'has expired' : 'is not valid yet'}` };
    return { code, message: `the requester's signature does not verify (${(e as { code?: string }).code ?? 'error'})` };
  }
  const twice = duplicateMember(jwt);
  if (twice !== undefined) return { code: 'ERR_BG_MALFORMED', message: `the requester's signature's ${twice}` };
  if (payload.jti !== req.jti || payload.digest !== digest) return { code, message: "the requester's signature is for a different request" };
  return { approver: req.requester, exp: payload.exp as number };
}

/**
 * Runs every check in order. With `all` false (verifyToken) the first problem throws, so later
 * (more expensive) checks never run; with `all` true (inspectToken) problems are collected.
 *
 * ORDER, and why:
 *  1. parse (MALFORMED): nothing else can be read from a document that does not parse.
 *  2. aud (WRONG_AUDIENCE), then policy id (WRONG_POLICY): a token for another deployment or
 *     policy is not ours to judge further; cheap string compares.
 *  3. times: LIFETIME first (exp - iat or exp - nbf over maxLifetimeSeconds, or exp <= nbf),
 *     then NOT_YET_VALID (now < nbf - tol), then EXPIRED (now >= exp + tol). LIFETIME goes first
 *     because it does not depend on the clock: a token that can never be valid says so, instead
 *     of "not yet valid" turning into "expired" (with exp <= nbf and no tolerance it would
 *     otherwise never be reported at all).
 *  4. reason (REASON_NOT_ALLOWED; an empty list allows none), 5. scope (OUT_OF_SCOPE). These are
 *     all cheap and need no key: an unauthenticated token that breaks policy costs no signature
 *     verification (denial-of-service) and gets the most specific answer.
 *  6. the requester's signature, when the policy lists requesters (REQUESTER_UNVERIFIED; EXPIRED
 *     or NOT_YET_VALID from its own times): one signature check before the k approvals', and
 *     who asks is settled before anyone's approval is weighed against them.
 *  7. each approval on its own (MALFORMED header, UNKNOWN_APPROVER, BAD_SIGNATURE, EXPIRED,
 *     request mismatch = BAD_SIGNATURE): signatures before anything that counts, because
 *     counting unauthenticated claims would be meaningless, and one bad signature from a known
 *     key rejects the token (someone tampered, or a key is misused: fail closed, investigate).
 *  8. REQUESTER_APPROVED, then DUPLICATE_APPROVER: misconduct or a replayed approval, reported
 *     even when the thresholds would be met without it.
 *  9. THRESHOLD_NOT_MET: distinct approvers per factor, every factor must be met.
 */
async function evaluate(token: BreakGlassToken | string, given: BreakGlassPolicy, now: Date, all: boolean): Promise<Evaluation> {
  // Own fields only, snapshotted once; the snapshot is what is validated and read.
  const policy = ownPolicy(given);
  validatePolicy(policy);
  if (!(now instanceof Date) || Number.isNaN(now.getTime())) throw new InvalidInputError('now', 'expected a valid Date');
  const ev: Evaluation = { approvals: [], approvers: [], factors: [], problems: [], requesterVerified: false, tolerance: policy.clockToleranceSeconds ?? 0 };
  const add = (code: BreakGlassErrorCode, message: string) => {
    if (!all) throw new BreakGlassError(code, message);
    ev.problems.push({ code, message });
  };
  const requester = () => ev.request?.requester;
  const finishFactors = (counted: Set<string>) => {
    ev.factors = policy.factors.map((f) => {
      const have = f.approvers.filter((a) => counted.has(a.id)).length;
      // The requester is never one who could still approve, however their name is written
      // (nameSkeleton, as counting compares it: outside review, 2026-12-02).
      const self = requester() === undefined ? undefined : nameSkeleton(requester()!);
      const missing = have >= f.threshold ? [] : f.approvers.map((a) => a.id).filter((a) => !counted.has(a) && nameSkeleton(a) !== self);
      return { name: f.name, have, need: f.threshold, missing };
    });
  };

  // 1. parse. An object goes through encode/decode too: the same strict checks, and a private
  // copy, so the caller cannot change it while signatures are being checked.
  let t: BreakGlassToken;
  try {
    t = decodeToken(typeof token === 'string' ? token : encodeToken(token));
  } catch (e) {
    if (!(e instanceof BreakGlassError)) throw e;
    finishFactors(new Set());
    add('ERR_BG_MALFORMED', e.message);
    return ev;
  }
  const req = t.request;
  ev.request = req;

  // 2. audience, policy.
  if (req.aud !== policy.audience) add('ERR_BG_WRONG_AUDIENCE', `token is for audience ${show(req.aud)}, this deployment is ${show(policy.audience)}`);
  if (req.policy !== policy.id) add('ERR_BG_WRONG_POLICY', `token is for policy ${show(req.policy)}, this policy is ${show(policy.id)}`);

  // 3. times (see ORDER above).
  const tol = ev.tolerance;
  const nowS = Math.floor(now.getTime() / 1000); // the same rounding jose uses for approvals
  const max = policy.maxLifetimeSeconds;
  if (req.exp <= req.nbf) add('ERR_BG_LIFETIME', `exp ${iso(req.exp)} is not after nbf ${iso(req.nbf)}`);
  // exp - nbf as well as exp - iat: a back-dated nbf would otherwise stretch the valid window.
  else if (req.exp - req.iat > max || req.exp - req.nbf > max) add('ERR_BG_LIFETIME', `lifetime ${Math.max(req.exp - req.iat, req.exp - req.nbf)} s exceeds the policy's ${max} s`);
  if (nowS < req.nbf - tol) add('ERR_BG_NOT_YET_VALID', `token is valid from ${iso(req.nbf)}`);
  if (nowS >= req.exp + tol) add('ERR_BG_EXPIRED', `token expired at ${iso(req.exp)}`);

  // 4. reason.
  if (!policy.allowedReasons.includes(req.reason)) {
    add('ERR_BG_REASON_NOT_ALLOWED', policy.allowedReasons.length === 0 ? 'this policy allows no reason' : `reason ${show(req.reason)} is not one of ${policy.allowedReasons.join(', ')}`);
  }

  // 5. scope.
  const s = req.scope;
  const ms = policy.maxScope;
  const from = Date.parse(s.from);
  const to = Date.parse(s.to);
  if (s.operation !== 'decrypt') add('ERR_BG_OUT_OF_SCOPE', `operation ${show(s.operation)} is not allowed (only decrypt)`);
  if (from >= to) add('ERR_BG_OUT_OF_SCOPE', `scope.from ${s.from} is not before scope.to ${s.to}`);
  else if ((to - from) / 1000 > ms.windowSeconds) add('ERR_BG_OUT_OF_SCOPE', `time window ${(to - from) / 1000} s exceeds the policy's ${ms.windowSeconds} s`);
  if (s.conversations.length > ms.conversations) add('ERR_BG_OUT_OF_SCOPE', `${s.conversations.length} conversations exceed the policy's ${ms.conversations}`);
  if (s.maxMessages > ms.messages) add('ERR_BG_OUT_OF_SCOPE', `maxMessages ${s.maxMessages} exceeds the policy's ${ms.messages}`);

  // 6. the requester's signature, when the policy lists requesters.
  const digest = requestDigest(req);
  ev.digest = digest;
  if (policy.requesters !== undefined) {
    // The token's own signature (decodeToken's copy has none when the text has none, whatever Object.prototype holds).
    const r = await checkRequesterSignature(own(t, 'requesterSignature') as string | undefined, policy, req, digest, now);
    if (r.code !== undefined) add(r.code, r.message!);
    else {
      ev.requesterVerified = true;
      ev.exp = Math.min(ev.exp ?? req.exp, r.exp ?? req.exp);
    }
  }

  // 7. each approval on its own.
  const keys = new Map<string, Promise<CryptoKey | Uint8Array>>();
  const keyFor = (kid: string) => {
    if (!keys.has(kid)) {
      const a = policy.factors.flatMap((f) => f.approvers).find((x) => x.id === kid);
      if (a === undefined) return Promise.resolve(undefined);
      // Only the key members: stray JWK fields (key_ops, alg) must not change behaviour.
      keys.set(kid, importJWK({ kty: a.publicJwk.kty as string, crv: a.publicJwk.crv as string, x: a.publicJwk.x as string }, 'EdDSA'));
    }
    return keys.get(kid)!;
  };
  const valid: string[] = [];
  for (const [index, jwt] of t.approvals.entries()) {
    const r = await checkApproval(jwt, keyFor, req, digest, policy, now);
    ev.approvals.push({ index, ...(r.approver !== undefined ? { approver: r.approver } : {}), valid: r.code === undefined, ...(r.code ? { code: r.code } : {}) });
    if (r.code) add(r.code, `approval ${index}: ${r.message}`);
    else {
      valid.push(r.approver!);
      ev.exp = Math.min(ev.exp ?? req.exp, r.exp ?? req.exp);
    }
  }

  // 8. requester (compared as names are read: nameSkeleton), duplicates.
  const asRead = nameSkeleton(req.requester);
  const self = valid.find((a) => nameSkeleton(a) === asRead);
  if (self !== undefined) add('ERR_BG_REQUESTER_APPROVED', `the requester ${show(req.requester)} approved their own request${self === req.requester ? '' : ` (as ${show(self)})`}`);
  const dup = valid.find((a, i) => valid.indexOf(a) !== i);
  if (dup !== undefined) add('ERR_BG_DUPLICATE_APPROVER', `${show(dup)} approved more than once`);

  // 9. thresholds: distinct approvers, never the requester. An approver listed in several
  // factors counts once in each of them.
  const counted = new Set(valid.filter((a) => nameSkeleton(a) !== asRead));
  ev.approvers = [...counted];
  finishFactors(counted);
  const unmet = ev.factors.filter((f) => f.have < f.need);
  if (unmet.length > 0) {
    add('ERR_BG_THRESHOLD_NOT_MET', unmet.map((f) => `${f.name}: ${f.have} of ${f.need} (missing any ${f.need - f.have} of ${f.missing.join(', ') || 'nobody left'})`).join('; '));
  }
  return ev;
}

/**
 * Verifies a token (object or its JSON text) against a trust policy at `now`, throwing a
 * {@link BreakGlassError} whose `code` says why it is refused; the policy itself is checked
 * with {@link validatePolicy} ({@link InvalidInputError} for a bad policy). Checks run in this
 * order, the first failure wins: MALFORMED → WRONG_AUDIENCE → WRONG_POLICY → LIFETIME →
 * NOT_YET_VALID → EXPIRED → REASON_NOT_ALLOWED → OUT_OF_SCOPE → the requester's signature
 * when the policy lists requesters (REQUESTER_UNVERIFIED) → each approval on its own
 * (MALFORMED, UNKNOWN_APPROVER, BAD_SIGNATURE, EXPIRED; one bad approval rejects the whole
 * token) → REQUESTER_APPROVED → DUPLICATE_APPROVER → THRESHOLD_NOT_MET.
 *
 * Approvers are counted once each; the requester never counts (their approval is refused);
 * an approver listed in two factors counts in each, once per factor.
 *
 * @example
 * ```ts
 * try {
 *   const v = await verifyToken(tokenText, policy);
 *   await breakGlassDecrypt(v.request.scope);
 * } catch (e) {
 *   if (e instanceof BreakGlassError) audit.refused(e.code);
 *   throw e;
 * }
 * ```
 */
export async function verifyToken(token: BreakGlassToken | string, policy: BreakGlassPolicy, now: Date = new Date()): Promise<VerifiedToken> {
  const ev = await evaluate(token, policy, now, false);
  return {
    request: ev.request!, digest: ev.digest!, approvers: ev.approvers, factors: ev.factors.map(({ name, have, need }) => ({ name, have, need })),
    requesterVerified: ev.requesterVerified,
    expiresAt: Math.min(ev.exp ?? ev.request!.exp, ev.request!.exp) + ev.tolerance,
  };
}

/**
 * Reports on a token without stopping at the first problem: what it asks for, who approved,
 * which approvals fail and why, and per factor who could still approve. It never throws for
 * bad token content (a token that does not parse is one ERR_BG_MALFORMED problem); a bad
 * policy or `now` still throws {@link InvalidInputError}. `ok` is true exactly when
 * {@link verifyToken} would accept the token at `now`.
 *
 * @example
 * ```ts
 * const r = await inspectToken(tokenText, policy);
 * for (const f of r.factors) if (f.have < f.need) console.log(`${f.name}: need ${f.need - f.have} more of ${f.missing.join(', ')}`);
 * ```
 */
export async function inspectToken(token: BreakGlassToken | string, policy: BreakGlassPolicy, now: Date = new Date()): Promise<TokenInspection> {
  const ev = await evaluate(token, policy, now, true);
  return {
    ...(ev.request ? { request: ev.request } : {}),
    ...(ev.digest ? { digest: ev.digest } : {}),
    approvals: ev.approvals,
    factors: ev.factors,
    problems: ev.problems,
    requesterVerified: ev.requesterVerified,
    ok: ev.problems.length === 0,
  };
}
