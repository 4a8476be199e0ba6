/**
 * Interoperability: a break-glass token minted WITHOUT keywarden's helpers — `jose` directly
 * for keys and JWTs, a hand-written RFC 8785 serialisation and node:crypto SHA-256 for the
 * request digest, JSON.stringify for the token — is accepted by verifyToken when valid and
 * refused when any signed byte changes. Nothing from src/breakglass/token.ts is used to mint.
 */
import { createHash } from 'node:crypto';
import { SignJWT, exportJWK, generateKeyPair, jwtVerify, importJWK, type JWK } from 'jose';
import { beforeAll, describe, expect, it } from 'vitest';
import { type BreakGlassPolicy, verifyToken } from '../src/breakglass/policy.js';
import { approveRequest } from '../src/breakglass/token.js';

/** RFC 8785 (JCS), written here independently for the value types a request holds. */
function jcs(value: unknown): string {
  switch (typeof value) {
    case 'string':
      return JSON.stringify(value); // ES string serialisation is JCS's (§3.2.2.2)
    case 'number':
      if (!Number.isFinite(value)) throw new Error('not JSON');
      return JSON.stringify(value); // ES number serialisation is JCS's (§3.2.2.3)
    case 'boolean':
      return value ? 'true' : 'false';
    case 'object': {
      if (value === null) return 'null';
      if (Array.isArray(value)) return '[' + value.map(jcs).join(',') + ']';
      const keys = Object.keys(value);
      // Sort by UTF-16 code units (§3.2.3): compare char codes explicitly, not localeCompare.
      keys.sort((a, b) => {
        for (let i = 0; i < Math.min(a.length, b.length); i++) if (a.charCodeAt(i) !== b.charCodeAt(i)) return a.charCodeAt(i) - b.charCodeAt(i);
        return a.length - b.length;
      });
      return '{' + keys.map((k) => JSON.stringify(k) + ':' + jcs((value as Record<string, unknown>)[k])).join(',') + '}';
    }
    default:
      throw new Error('not JSON');
  }
}
const digestOf = (request: object) => createHash('sha256').update(jcs(request), 'utf8').digest('base64url');

const NOW = new Date('2031-03-01T12:00:00.000Z');
const T = NOW.getTime() / 1000;
const AUD = 'https://dm.example.com/keywarden';
const IDS = ['tns-1', 'tns-2', 'tns-3', 'legal-1'] as const;
const keys = {} as Record<(typeof IDS)[number], { privateKey: CryptoKey; publicJwk: JWK; privateJwk: JWK }>;
let policy: BreakGlassPolicy;
let request: Record<string, unknown>;
let approvals: string[];

/** One approval, exactly as the format says, with jose's SignJWT only. */
function sign(id: (typeof IDS)[number], req: Record<string, unknown>, iat: number) {
  return new SignJWT({ jti: req.jti as string, digest: digestOf(req) })
    .setProtectedHeader({ alg: 'EdDSA', typ: 'keywarden-bg-approval+jwt', kid: id })
    .setIssuer(id)
    .setAudience(AUD)
    .setIssuedAt(iat)
    .setExpirationTime(req.exp as number)
    .sign(keys[id].privateKey);
}
const tokenText = (req: unknown, apps: string[]) => JSON.stringify({ request: req, approvals: apps });
async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return 'ok';
  } catch (e) {
    return (e as { code?: string }).code ?? String(e);
  }
}

beforeAll(async () => {
  for (const id of IDS) {
    const { privateKey, publicKey } = await generateKeyPair('EdDSA', { crv: 'Ed25519', extractable: true });
    keys[id] = { privateKey, publicJwk: await exportJWK(publicKey), privateJwk: await exportJWK(privateKey) };
  }
  policy = {
    id: 'dm-bg-2031',
    audience: AUD,
    factors: [
      { name: 'trust-and-safety', threshold: 2, approvers: ['tns-1', 'tns-2', 'tns-3'].map((id) => ({ id, publicJwk: keys[id as 'tns-1'].publicJwk })) },
      { name: 'legal', threshold: 1, approvers: [{ id: 'legal-1', publicJwk: keys['legal-1'].publicJwk }] },
    ],
    allowedReasons: ['IMMINENT_HARM', 'LEGAL_PROCESS'],
    maxLifetimeSeconds: 6 * 3600,
    maxScope: { conversations: 2, messages: 100, windowSeconds: 3 * 86_400 },
  };
  // Written out by hand, in no particular key order.
  request = {
    scope: { operation: 'decrypt', maxMessages: 40, to: '2031-02-28T00:00:00.000Z', from: '2031-02-26T00:00:00.000Z', conversations: ['dm:7731:9120'] },
    v: 1,
    requester: 'analyst-42',
    reason: 'IMMINENT_HARM',
    detail: 'ticket SEC-2031-0099 — threat report',
    policy: 'dm-bg-2031',
    aud: AUD,
    jti: createHash('sha256').update('independent').digest().subarray(0, 16).toString('base64url'),
    iat: T - 600,
    nbf: T - 600,
    exp: T + 3600,
  };
  // Collected at different times.
  approvals = [await sign('tns-2', request, T - 500), await sign('legal-1', request, T - 300), await sign('tns-1', request, T - 60)];
});

describe('break-glass token minted with jose alone', () => {
  it('is accepted', async () => {
    const v = await verifyToken(tokenText(request, approvals), policy, NOW);
    expect(v.approvers).toEqual(['tns-2', 'legal-1', 'tns-1']);
    expect(v.digest).toBe(digestOf(request));
    expect(v.factors).toEqual([{ name: 'trust-and-safety', have: 2, need: 2 }, { name: 'legal', have: 1, need: 1 }]);
  });

  it('an approval made by the library verifies with plain jose, and mixes with independent ones', async () => {
    const mine = await approveRequest(request as never, { id: 'tns-3', privateJwk: keys['tns-3'].privateJwk }, { now: () => NOW });
    const { payload, protectedHeader } = await jwtVerify(mine, await importJWK(keys['tns-3'].publicJwk, 'EdDSA'), { typ: 'keywarden-bg-approval+jwt', audience: AUD, issuer: 'tns-3', currentDate: NOW });
    expect(protectedHeader).toEqual({ alg: 'EdDSA', typ: 'keywarden-bg-approval+jwt', kid: 'tns-3' });
    expect(payload.digest).toBe(digestOf(request));
    expect(await codeOf(verifyToken(tokenText(request, [approvals[1]!, approvals[2]!, mine]), policy, NOW))).toBe('ok');
  });

  it('is refused when any character of any part of an approval changes (exhaustive over one approval)', async () => {
    const jwt = approvals[1]!;
    const headerEnd = jwt.indexOf('.');
    const seen = new Set<string>();
    for (let i = 0; i < jwt.length; i++) {
      if (jwt[i] === '.') continue;
      const c = jwt[i] === 'A' ? 'B' : 'A';
      const changed = jwt.slice(0, i) + c + jwt.slice(i + 1);
      const code = await codeOf(verifyToken(tokenText(request, [approvals[0]!, changed, approvals[2]!]), policy, NOW));
      expect(i < headerEnd ? ['ERR_BG_BAD_SIGNATURE', 'ERR_BG_MALFORMED', 'ERR_BG_UNKNOWN_APPROVER'] : ['ERR_BG_BAD_SIGNATURE', 'ERR_BG_MALFORMED'], `position ${i}`).toContain(code);
      seen.add(code);
    }
    expect(seen.has('ERR_BG_BAD_SIGNATURE')).toBe(true);
    // The last character of each part carries spare bits that lenient base64url decoders
    // ignore: every other character there must be refused too, not read as the same bytes.
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
    const ends = [headerEnd - 1, jwt.lastIndexOf('.') - 1, jwt.length - 1];
    for (const i of ends) {
      for (const c of alphabet) {
        if (c === jwt[i]) continue;
        const changed = jwt.slice(0, i) + c + jwt.slice(i + 1);
        const code = await codeOf(verifyToken(tokenText(request, [approvals[0]!, changed, approvals[2]!]), policy, NOW));
        expect(['ERR_BG_BAD_SIGNATURE', 'ERR_BG_MALFORMED', 'ERR_BG_UNKNOWN_APPROVER'], `position ${i} -> ${c}`).toContain(code);
      }
    }
  });

  it('is refused when any byte of the decoded header, payload or signature changes (exhaustive)', async () => {
    const parts = approvals[0]!.split('.');
    for (const part of [0, 1, 2]) {
      const bytes = Buffer.from(parts[part]!, 'base64url');
      for (let i = 0; i < bytes.length; i++) {
        const b = Buffer.from(bytes);
        b[i]! ^= 0x01;
        const p = [...parts];
        p[part] = b.toString('base64url');
        const code = await codeOf(verifyToken(tokenText(request, [p.join('.'), approvals[1]!, approvals[2]!]), policy, NOW));
        expect(part === 0 ? ['ERR_BG_BAD_SIGNATURE', 'ERR_BG_MALFORMED', 'ERR_BG_UNKNOWN_APPROVER'] : ['ERR_BG_BAD_SIGNATURE'], `part ${part} byte ${i}`).toContain(code);
      }
    }
  });

  it('is refused when one request field changes after approval', async () => {
    const changes: [string, (r: Record<string, any>) => void][] = [
      ['jti', (r) => (r.jti = Buffer.alloc(16, 7).toString('base64url'))],
      ['requester', (r) => (r.requester = 'analyst-43')],
      ['reason', (r) => (r.reason = 'LEGAL_PROCESS')],
      ['detail', (r) => (r.detail += '.')],
      ['iat', (r) => (r.iat -= 1)],
      ['nbf', (r) => (r.nbf -= 1)],
      ['exp', (r) => (r.exp += 1)],
      ['scope.conversations', (r) => r.scope.conversations.push('dm:7731:0001')],
      ['scope.from', (r) => (r.scope.from = '2031-02-26T00:00:00.001Z')],
      ['scope.to', (r) => (r.scope.to = '2031-02-27T23:59:59.999Z')],
      ['scope.maxMessages', (r) => (r.scope.maxMessages = 41)],
    ];
    for (const [field, change] of changes) {
      const r = structuredClone(request);
      change(r);
      expect(digestOf(r)).not.toBe(digestOf(request));
      expect(await codeOf(verifyToken(tokenText(r, approvals), policy, NOW)), field).toBe('ERR_BG_BAD_SIGNATURE');
    }
    // Fields that break structure or policy are refused before any signature is looked at.
    const v2 = structuredClone(request);
    v2.v = 2;
    expect(await codeOf(verifyToken(tokenText(v2, approvals), policy, NOW))).toBe('ERR_BG_MALFORMED');
    const aud = structuredClone(request);
    aud.aud = 'https://staging.example.com/keywarden';
    expect(await codeOf(verifyToken(tokenText(aud, approvals), policy, NOW))).toBe('ERR_BG_WRONG_AUDIENCE');
  });

  it('k-of-n is counted per approver: two approvals by one key, or by the requester, do not make a quorum', async () => {
    const again = await sign('tns-2', request, T - 10);
    expect(await codeOf(verifyToken(tokenText(request, [approvals[0]!, approvals[1]!, again]), policy, NOW))).toBe('ERR_BG_DUPLICATE_APPROVER');
    expect(await codeOf(verifyToken(tokenText(request, [approvals[0]!, approvals[1]!]), policy, NOW))).toBe('ERR_BG_THRESHOLD_NOT_MET');
    const selfReq = { ...request, requester: 'tns-3' };
    const self = [await sign('tns-1', selfReq, T - 60), await sign('tns-2', selfReq, T - 60), await sign('legal-1', selfReq, T - 60), await sign('tns-3', selfReq, T - 60)];
    expect(await codeOf(verifyToken(tokenText(selfReq, self), policy, NOW))).toBe('ERR_BG_REQUESTER_APPROVED');
  });
});
