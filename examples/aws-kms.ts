/**
 * Keywarden with its master key in AWS KMS, through your own `@aws-sdk/client-kms` client.
 * Run against real KMS: `KEYWARDEN_KMS_KEY_ID=arn:aws:kms:... AWS_REGION=eu-west-1 npx tsx examples/aws-kms.ts`.
 * CI runs it against the KMS-compatible test endpoint (AWS_ENDPOINT_URL_KMS, which the SDK reads itself).
 */
import assert from 'node:assert/strict';
// #region readme
import { KMSClient } from '@aws-sdk/client-kms';
import { Keywarden, MemoryKeyStore } from 'keywarden';
import { AwsKmsMasterKey } from 'keywarden/aws';
// #endregion readme

async function main(): Promise<void> {
  // #region readme
  const keyStore = new MemoryKeyStore();       // PostgresKeyStore in production (see below)
  const masterKey = new AwsKmsMasterKey({
    client: new KMSClient({}),                 // region, credentials, retries: the SDK's own configuration
    keyId: process.env.KEYWARDEN_KMS_KEY_ID!,  // key id, key ARN, alias name or alias ARN
    // previousKeyIds: ['arn:aws:kms:…:key/…'], // earlier keys' ARNs, until `keys rewrap` has moved their keys
  });                                          // keys recorded under any other KMS key are refused (SECURITY.md)
  const kw = new Keywarden({ masterKey, keyStore, cache: { maxEntries: 100_000, maxAgeMs: 300_000 } });
  // #endregion readme

  const sealed = await kw.encryptString('dm:alice:bob', 'hello via KMS', { aad: 'msg-1' });
  assert.equal(await kw.decryptString('dm:alice:bob', sealed, { aad: 'msg-1' }), 'hello via KMS');
  const { kms } = kw.stats();
  console.log(`aws-kms ok: ${kms.generateDataKey} GenerateDataKey call(s), ${kms.unwrapDataKey} Decrypt call(s)`);
  kw.close();
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
