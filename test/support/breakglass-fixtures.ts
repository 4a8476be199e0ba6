/** Break-glass fixtures: a deployment with conversations, key versions over time, approvers, a policy. */
import { AuditIdHasher } from '../../src/audit/entry.js';
import { AuditLog } from '../../src/audit/log.js';
import { generateNoteKey } from '../../src/audit/note.js';
import { type AuditStore, MemoryAuditStore } from '../../src/audit/store.js';
import { BreakGlass } from '../../src/breakglass/access.js';
import type { BreakGlassPolicy } from '../../src/breakglass/policy.js';
import { type BreakGlassRequest, type BreakGlassScope, approveRequest, createRequest, encodeToken, generateApproverKey } from '../../src/breakglass/token.js';
import { Keywarden, LocalMasterKey, type MasterKeyProvider, MemoryKeyStore } from '../../src/node.js';
import { nodeAead } from '../../src/aead/node.js';

export const DAY = 86_400_000;
export const T0 = Date.parse('2026-06-01T00:00:00.000Z');
const logKey = generateNoteKey('keywarden.example/bg-test', new Uint8Array(32).fill(6));

export type Approver = Awaited<ReturnType<typeof generateApproverKey>>;

/** Days (from T0) on which messages 0..5 of each conversation are sealed: v1 before day 10, v2 from it. */
export const SEALED_DAYS = [1, 4, 7, 10, 14, 18];

/**
 * A deployment: conversations c0..c2, each with key v1 active for days 0-10, v2 from day 10,
 * and 3 messages per version, sealed (format v2) on the days of SEALED_DAYS (+1 s); approvers t1..t3 (trust-and-safety) and l1 (legal); policy
 * "2 of trust-and-safety AND 1 of legal".
 */
export async function deployment(opts: { auditStore?: AuditStore } = {}) {
  let t = T0;
  const now = () => new Date(t);
  const inner = new LocalMasterKey(LocalMasterKey.generateKey());
  const unwrapped: { version: string; key: Uint8Array }[] = [];
  const masterKey: MasterKeyProvider = {
    keyId: inner.keyId,
    generateDataKey: (ctx) => inner.generateDataKey(ctx),
    async unwrapDataKey(w, ctx, id) {
      const key = await inner.unwrapDataKey(w, ctx, id);
      unwrapped.push({ version: `${ctx['keywarden:conversation']}#${ctx['keywarden:key-version']}`, key });
      return key;
    },
  };
  const keyStore = new MemoryKeyStore();
  const kw = new Keywarden({ masterKey: inner, keyStore, now });
  const messages: Record<string, { version: number; ct: Uint8Array; aad: string; text: string; sealedAt: number }[]> = {};
  for (const c of ['c0', 'c1', 'c2']) {
    messages[c] = [];
    for (let i = 0; i < 6; i++) {
      if (i === 3) {
        t = T0 + 10 * DAY;
        await kw.rotate(c);
      }
      t = T0 + SEALED_DAYS[i]! * DAY + 1000;
      messages[c]!.push(await seal(kw, c, i < 3 ? 1 : 2, i, t));
    }
  }
  t = T0 + 20 * DAY;
  const approvers = {
    t1: await generateApproverKey('t1'), t2: await generateApproverKey('t2'), t3: await generateApproverKey('t3'), l1: await generateApproverKey('l1'),
  };
  const policy: BreakGlassPolicy = {
    id: 'dm-breakglass-v1',
    audience: 'dm.example.com',
    factors: [
      { name: 'trust-and-safety', threshold: 2, approvers: [approvers.t1, approvers.t2, approvers.t3].map((a) => ({ id: a.id, publicJwk: a.publicJwk })) },
      { name: 'legal', threshold: 1, approvers: [{ id: approvers.l1.id, publicJwk: approvers.l1.publicJwk }] },
    ],
    allowedReasons: ['USER_REPORT_REVIEW', 'LEGAL_PROCESS'],
    maxLifetimeSeconds: 7 * 86_400,
    maxScope: { conversations: 3, messages: 50, windowSeconds: 60 * 86_400 },
  };
  const auditStore = opts.auditStore ?? new MemoryAuditStore();
  const log = await AuditLog.open({ store: auditStore, signerKey: logKey.signerKey, appendTimeoutMs: 500 });
  const ids = new AuditIdHasher(new Uint8Array(32).fill(11));
  const bg = new BreakGlass({ policy, masterKey, keyStore, audit: { log, ids, actor: 'tns-console' }, aead: nodeAead, now });
  return {
    bg, kw, keyStore, masterKey, log, auditStore, ids, policy, approvers, messages, unwrapped, logVerifierKey: logKey.verifierKey,
    setTime: (ms: number) => (t = ms),
    now,
  };
}

async function seal(kw: Keywarden, c: string, version: number, i: number, sealedAt: number) {
  const text = `${c} message ${i}`;
  const aad = `${c}/m${i}`;
  return { version, ct: await kw.encryptString(c, text, { aad }), aad, text, sealedAt };
}

export function defaultScope(over: Partial<BreakGlassScope> = {}): BreakGlassScope {
  return { conversations: ['c0'], from: new Date(T0).toISOString(), to: new Date(T0 + 30 * DAY).toISOString(), maxMessages: 10, operation: 'decrypt', ...over };
}

/** A request by `requester`, approved by `by`. */
export async function token(d: Awaited<ReturnType<typeof deployment>>, by: Approver[], over: { scope?: Partial<BreakGlassScope>; reason?: string; aud?: string; requester?: string; exp?: number; policy?: string } = {}) {
  const nowSec = Math.floor(d.now().getTime() / 1000);
  const req: BreakGlassRequest = createRequest(
    {
      policy: over.policy ?? d.policy.id, aud: over.aud ?? d.policy.audience, requester: over.requester ?? 'reviewer-7', reason: over.reason ?? 'USER_REPORT_REVIEW',
      detail: 'case-2026-0042', scope: defaultScope(over.scope), exp: over.exp ?? nowSec + 3600,
    },
    d.now,
  );
  const approvals = [];
  for (const a of by) approvals.push(await approveRequest(req, { id: a.id, privateJwk: a.privateJwk }, { now: d.now }));
  return { request: req, approvals, text: encodeToken({ request: req, approvals }) };
}
