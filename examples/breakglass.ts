/**
 * Break-glass: a trust & safety reviewer reads one conversation for a user report, with the
 * approval of two colleagues and a lawyer, once, on the record. In memory here (examples/postgres.ts
 * shows the shared stores and the PostgreSQL token ledger). Run: `npx tsx examples/breakglass.ts`.
 */
import assert from 'node:assert/strict';
import { Keywarden, LocalMasterKey, MemoryKeyStore } from 'keywarden';
import { AuditIdHasher, AuditLog, MemoryAuditStore, verifyAuditLog } from 'keywarden/audit';
import { generateApproverKey } from 'keywarden/breakglass';
import { generateNoteKey } from 'keywarden/tlog';
// #region readme:service
import type { KeyStore, MasterKeyProvider } from 'keywarden';
import type { AuditIdHasher as Ids, AuditLog as Log } from 'keywarden/audit';
import { BreakGlass, type ApproverKey, type BreakGlassPolicy } from 'keywarden/breakglass';

/** The service side, made once per process: who may ask, who may approve, and what any token may allow at most. */
export function breakGlassService(
  keys: { masterKey: MasterKeyProvider; keyStore: KeyStore },
  audit: { log: Log; ids: Ids },
  people: { requesters: ApproverKey[]; trustAndSafety: ApproverKey[]; legal: ApproverKey[] }, // [{ id, publicJwk }]
): BreakGlass {
  const policy: BreakGlassPolicy = {
    id: 'dm-breakglass-v1',
    audience: 'dm.example.com',
    factors: [
      { name: 'trust-and-safety', threshold: 2, approvers: people.trustAndSafety },
      { name: 'legal', threshold: 1, approvers: people.legal },
    ],
    requesters: people.requesters, // a token must carry its requester's signature
    allowedReasons: ['USER_REPORT_REVIEW', 'LEGAL_PROCESS'],
    maxLifetimeSeconds: 86_400,
    maxScope: { conversations: 5, messages: 500, windowSeconds: 90 * 86_400 },
  };
  // No `ledger`: the process-wide one, shared by every BreakGlass built here, makes tokens single-use.
  // A fleet, or a service that must not forget used tokens on restart: `ledger: new PostgresTokenLedger(pool)`.
  return new BreakGlass({ policy, ...keys, audit: { ...audit, actor: 'tns-console' } });
}
// #endregion readme:service
// #region readme:request
import { approveRequest, createRequest, encodeToken, signRequest, type Jwk } from 'keywarden/breakglass';

/** The reviewer's request for one conversation's last week, signed by them, approved by each approver with their own key. */
export async function requestAccess(conversationId: string, reviewer: { id: string; privateJwk: Jwk }, approvers: { id: string; privateJwk: Jwk }[]): Promise<string> {
  const request = createRequest({
    policy: 'dm-breakglass-v1', aud: 'dm.example.com', requester: reviewer.id, reason: 'USER_REPORT_REVIEW', detail: 'report #8841',
    scope: { conversations: [conversationId], from: new Date(Date.now() - 7 * 86_400_000), to: new Date(Date.now() + 60_000), maxMessages: 50, operation: 'decrypt' },
    exp: Math.floor(Date.now() / 1000) + 3600,
  });
  const requesterSignature = await signRequest(request, reviewer); // `keywarden token request --key FILE`
  // In practice each approver runs `keywarden token approve` on their own machine and passes the file on.
  const approvals = await Promise.all(approvers.map((a) => approveRequest(request, a)));
  return encodeToken({ request, requesterSignature, approvals });
}
// #endregion readme:request

async function main(): Promise<void> {
  // The platform's service wrote some messages.
  const masterKey = new LocalMasterKey(LocalMasterKey.generateKey());
  const keyStore = new MemoryKeyStore();
  const kw = new Keywarden({ masterKey, keyStore });
  const conversationId = 'dm:alice:bob';
  const rows = await Promise.all(['hi bob', 'hi alice'].map(async (text, i) => ({ id: `msg-${i}`, body: await kw.encryptString(conversationId, text, { aad: `msg-${i}` }) })));
  const auditStore = new MemoryAuditStore();
  const log = await AuditLog.open({ store: auditStore, signerKey: generateNoteKey('dm.example.com/keywarden-audit').signerKey });
  const ids = new AuditIdHasher(AuditIdHasher.generateKey());
  const [ana, ben, lee, reviewer] = await Promise.all(['ana', 'ben', 'lee', 'reviewer-7'].map((id) => generateApproverKey(id)));
  const pub = (k: { id: string; publicJwk: Jwk }) => ({ id: k.id, publicJwk: k.publicJwk });

  const bg = breakGlassService({ masterKey, keyStore }, { log, ids }, { requesters: [pub(reviewer!)], trustAndSafety: [pub(ana!), pub(ben!)], legal: [pub(lee!)] });
  const token = await requestAccess(conversationId, reviewer!, [ana!, ben!, lee!]);
  const { results, opened } = await bg.decrypt(token, conversationId, rows.map((r) => ({ ciphertext: r.body, aad: r.id })));

  assert.equal(opened, 2);
  assert.deepEqual(results.map((r) => (r.ok ? new TextDecoder().decode(r.plaintext) : r.error.code)), ['hi bob', 'hi alice']);
  await assert.rejects(bg.decrypt(token, conversationId, rows.map((r) => ({ ciphertext: r.body, aad: r.id }))), { code: 'ERR_BG_REPLAYED' });
  const report = verifyAuditLog({ verifierKey: log.verifierKey, entries: await auditStore.read(0, log.size), checkpoints: await auditStore.checkpoints() });
  assert.equal(report.ok, true);
  console.log(`breakglass ok: opened ${opened} messages once, replay refused, audit log of ${report.entries} entries verifies`);
  kw.close();
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
