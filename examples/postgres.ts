/**
 * Many service instances sharing one PostgreSQL database: keys, the audit log and the
 * break-glass token ledger, with cross-instance cache invalidation, and the master key in KMS.
 * Run: `DATABASE_URL=postgres://… KEYWARDEN_KMS_KEY_ID=… npx tsx examples/postgres.ts` (needs a
 * server: the key-change subscription holds its own connection). The audit keys are made for
 * this run when KEYWARDEN_AUDIT_SIGNER_KEY / KEYWARDEN_AUDIT_KEY are unset.
 */
import assert from 'node:assert/strict';
// #region readme
import pg from 'pg';
import { KMSClient } from '@aws-sdk/client-kms';
import { Keywarden } from 'keywarden';
import { AuditIdHasher, AuditLog } from 'keywarden/audit';
import { AwsKmsMasterKey } from 'keywarden/aws';
import { PostgresAuditStore, PostgresKeyStore, PostgresTokenLedger, migrate } from 'keywarden/postgres';
// #endregion readme
import { generateNoteKey } from 'keywarden/tlog';

async function main(): Promise<void> {
  process.env.KEYWARDEN_AUDIT_SIGNER_KEY ??= generateNoteKey('dm.example.com/keywarden-audit').signerKey;
  process.env.KEYWARDEN_AUDIT_KEY ??= Buffer.from(AuditIdHasher.generateKey()).toString('base64');

  // #region readme
  const schema = process.env.KEYWARDEN_SCHEMA ?? 'keywarden';
  const pool = new pg.Pool({ connectionString: process.env.DATABASE_URL });
  await migrate(pool, { schema });                       // or, at deploy time: keywarden migrate --schema keywarden

  const masterKey = new AwsKmsMasterKey({ client: new KMSClient({}), keyId: process.env.KEYWARDEN_KMS_KEY_ID! });
  const keyStore = new PostgresKeyStore(pool, { schema });
  const log = await AuditLog.open({ store: new PostgresAuditStore(pool, { schema }), signerKey: process.env.KEYWARDEN_AUDIT_SIGNER_KEY! });
  const ids = new AuditIdHasher(Buffer.from(process.env.KEYWARDEN_AUDIT_KEY!, 'base64'));
  const kw = new Keywarden({ masterKey, keyStore, audit: { log, ids, actor: 'svc-dm' }, watchKeyChanges: true });
  const ledger = new PostgresTokenLedger(pool, { schema }); // for new BreakGlass({ ..., ledger })
  // #endregion readme

  await kw.ready();
  const conversation = `dm:example:${Date.now()}`;
  const sealed = await kw.encryptString(conversation, 'stored in PostgreSQL', { aad: 'msg-1' });
  assert.equal(await kw.decryptString(conversation, sealed, { aad: 'msg-1' }), 'stored in PostgreSQL');
  const versions = await kw.describeKeys(conversation);
  assert.equal(versions.length, 1);
  assert.equal(typeof ledger.consume, 'function');
  console.log(`postgres ok: key v${versions[0]!.version} stored in schema ${schema}, audit log size ${log.size}`);
  kw.close();
  await log.close();
  await pool.end();
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
