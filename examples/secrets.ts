/**
 * The keys and secrets a deployment holds, generated once by whoever sets it up. Each is printed
 * here only to show its shape; in a deployment each goes to the place the README's "Keys and
 * secrets you will hold" table names (a secret manager, the approver's own machine, or the public).
 * Run: `npx tsx examples/secrets.ts`.
 */
import assert from 'node:assert/strict';
// #region readme
import { AuditIdHasher } from 'keywarden/audit';
import { generateApproverKey } from 'keywarden/breakglass';
import { generateNoteKey } from 'keywarden/tlog';
// #endregion readme

async function main(): Promise<void> {
  // #region readme
  // The audit log's signing key: the signer key is a secret of the service, the verifier key is public.
  const { signerKey, verifierKey } = generateNoteKey('dm.example.com/keywarden-audit');
  // The audit HMAC key: turns conversation and case ids into keyed identifiers in the log.
  const auditKey = AuditIdHasher.generateKey();
  // One key pair per break-glass approver: the private JWK stays with the approver.
  const ana = await generateApproverKey('ana');
  const policyEntry = { id: ana.id, publicJwk: ana.publicJwk }; // goes into the trust policy
  // #endregion readme

  assert.match(signerKey, /^PRIVATE\+KEY\+dm\.example\.com\/keywarden-audit\+[0-9a-f]{8}\+/);
  assert.equal(auditKey.length, 32);
  assert.equal(policyEntry.publicJwk.d, undefined);
  // Never print secrets in a real tool; the shapes only:
  console.log(`secrets ok: verifier key ${verifierKey.split('+')[0]}+…, audit key ${auditKey.length} bytes, approver ${policyEntry.id} (${policyEntry.publicJwk.crv})`);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
