/**
 * A tamper-evident audit log in a directory, an entry, an inclusion proof an auditor checks
 * offline, and the auditor's full verification.
 * Run: `npx tsx examples/audit.ts` (keys from KEYWARDEN_AUDIT_SIGNER_KEY / KEYWARDEN_AUDIT_KEY,
 * made for this run when unset; the log in KEYWARDEN_AUDIT_DIR, a temporary directory when unset).
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
// #region readme
import { randomUUID } from 'node:crypto';
import { AuditIdHasher, AuditLog, FileAuditStore } from 'keywarden/audit';
import { verifyTlogProof } from 'keywarden/tlog';
// #endregion readme
import { verifyAuditLog } from 'keywarden/audit';
import { generateNoteKey } from 'keywarden/tlog';

async function main(): Promise<void> {
  const temporary = process.env.KEYWARDEN_AUDIT_DIR === undefined;
  process.env.KEYWARDEN_AUDIT_DIR ??= await mkdtemp(join(tmpdir(), 'keywarden-audit-example-'));
  process.env.KEYWARDEN_AUDIT_SIGNER_KEY ??= generateNoteKey('dm.example.com/keywarden-audit').signerKey;
  process.env.KEYWARDEN_AUDIT_KEY ??= Buffer.from(AuditIdHasher.generateKey()).toString('base64');

  // #region readme
  const signerKey = process.env.KEYWARDEN_AUDIT_SIGNER_KEY!;             // the log's signer key (a secret)
  const ids = new AuditIdHasher(Buffer.from(process.env.KEYWARDEN_AUDIT_KEY!, 'base64'));
  const log = await AuditLog.open({ store: await FileAuditStore.open(process.env.KEYWARDEN_AUDIT_DIR!), signerKey });

  const receipt = await log.append({
    id: randomUUID(), type: 'key.rotated', time: new Date().toISOString(), actor: 'svc-dm', lib: 'keywarden',
    conversation: ids.conversation('dm:alice:bob'), fromVersion: 1, version: 2, masterKeyId: 'alias/keywarden-dm',
  });

  // An inclusion proof (C2SP tlog-proof) that anyone with the log's verifier key checks offline:
  const proof = await log.proof(receipt.index);
  const checked = verifyTlogProof(proof, await log.entry(receipt.index), log.verifierKey); // { ok: true, index, size }
  // #endregion readme
  assert.equal(checked.ok, true);
  await log.close();

  // The auditor's side: every entry and checkpoint (as `keywarden audit verify --dir DIR --key VKEY` does).
  const store = await FileAuditStore.open(process.env.KEYWARDEN_AUDIT_DIR);
  const report = verifyAuditLog({ verifierKey: log.verifierKey, entries: await store.read(0, await store.size()), checkpoints: await store.checkpoints() });
  await store.close();
  assert.equal(report.ok, true, JSON.stringify(report.problems));
  console.log(`audit ok: ${report.entries} entries, ${report.checkpoints} checkpoints, proof for entry ${checked.index} verified`);
  if (temporary) await rm(process.env.KEYWARDEN_AUDIT_DIR, { recursive: true, force: true });
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
