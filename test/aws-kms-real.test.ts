/**
 * Opt-in: the same round trip against real AWS KMS. Runs only when KEYWARDEN_AWS_KMS_KEY_ID
 * names a symmetric encryption key; credentials and region come from the standard AWS
 * environment (AWS_REGION, AWS_PROFILE, ...). Skipped, with a message, otherwise.
 */
import { KMSClient } from '@aws-sdk/client-kms';
import { describe, expect, it } from 'vitest';
import { AwsKmsMasterKey } from '../src/kms/aws.js';
import { Keywarden, MemoryKeyStore } from '../src/node.js';

const keyId = process.env.KEYWARDEN_AWS_KMS_KEY_ID;
if (!keyId) console.log('aws-kms-real: skipped — set KEYWARDEN_AWS_KMS_KEY_ID (and AWS credentials/region) to run against real AWS KMS');

describe.skipIf(!keyId)('real AWS KMS (KEYWARDEN_AWS_KMS_KEY_ID)', () => {
  it('round-trips through GenerateDataKey/Decrypt and KMS enforces the encryption context', async () => {
    const masterKey = new AwsKmsMasterKey({ client: new KMSClient({}), keyId: keyId! });
    const keyStore = new MemoryKeyStore();
    const conv = `keywarden-test-${Date.now()}`;
    const ct = await new Keywarden({ masterKey, keyStore }).encryptString(conv, 'hello from keywarden');
    expect(ct.length).toBe(20 + 38); // format v2 overhead (docs/FORMAT.md)
    // A cold instance must unwrap through KMS Decrypt.
    expect(await new Keywarden({ masterKey, keyStore }).decryptString(conv, ct)).toBe('hello from keywarden');
    // The same wrapped key filed under another conversation is refused by KMS itself.
    const rec = (await keyStore.getLatest(conv))!;
    const forged = new MemoryKeyStore();
    await forged.insertFirst({ ...rec, conversationId: `${conv}-other` });
    const err = await new Keywarden({ masterKey, keyStore: forged }).encryptString(`${conv}-other`, 'x').catch((e) => e);
    expect(err.code).toBe('ERR_KMS_INVALID_CIPHERTEXT');
  });
});
