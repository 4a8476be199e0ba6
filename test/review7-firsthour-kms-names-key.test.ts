/**
 * Outside review 7 (a new user's first hour): a wrong KMS key id — a mistyped alias, an ARN of
 * a deleted key — failed with `[ERR_KMS_KEY_UNAVAILABLE] KMS GenerateDataKey failed
 * (NotFoundException)`: the code was stable, but nothing said which key, nor that it came from
 * `options.keyId`. A deployment with several master keys (a MasterKeyRing, previousKeyIds) could
 * not tell from the error which one to fix.
 *
 * Where: src/kms/aws.ts `mapKmsError` and its callers in AwsKmsMasterKey.
 *
 * Now: the message names the key the call used (key ids, ARNs and aliases are not secret: KMS
 * and CloudTrail print them), and, for the configured key, `options.keyId`. A key id that does
 * not look like one (a caller's stray text) is not echoed.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AwsKmsMasterKey, mapKmsError } from '../src/kms/aws.js';
import { Keywarden, MemoryKeyStore } from '../src/node.js';
import { type KmsServer, kmsClientFor, startKmsServer } from './support/kms-server.js';

let server: KmsServer;
beforeAll(async () => {
  server = await startKmsServer();
});
afterAll(async () => server.close());

const fail = (p: Promise<unknown>) => p.then(() => undefined, (e: { code?: string; message?: string }) => ({ code: e.code, message: e.message ?? '' }));

describe('a KMS failure names the key', () => {
  it('a mistyped alias: ERR_KMS_KEY_UNAVAILABLE naming alias/keywarden-typo and options.keyId', async () => {
    const masterKey = new AwsKmsMasterKey({ client: kmsClientFor(server), keyId: 'alias/keywarden-typo' });
    const kw = new Keywarden({ masterKey, keyStore: new MemoryKeyStore() });
    const r = await fail(kw.encrypt('conv-a', new Uint8Array(3)));
    expect(r?.code).toBe('ERR_KMS_KEY_UNAVAILABLE');
    expect(r?.message).toContain('alias/keywarden-typo');
    expect(r?.message).toContain('options.keyId');
  });

  it('an ARN of a key that does not exist is named too', async () => {
    const arn = 'arn:aws:kms:us-east-1:111122223333:key/00000000-0000-4000-8000-000000000000';
    const masterKey = new AwsKmsMasterKey({ client: kmsClientFor(server), keyId: arn });
    const r = await fail(masterKey.generateDataKey({ 'keywarden:purpose': 'test' }));
    expect(r?.code).toBe('ERR_KMS_KEY_UNAVAILABLE');
    expect(r?.message).toContain(arn);
  });

  it('mapKmsError echoes only what looks like a key id', () => {
    const err = Object.assign(new Error('x'), { name: 'NotFoundException' });
    expect(mapKmsError(err, 'Decrypt', 'alias/ok-name').message).toContain('alias/ok-name');
    const stray = mapKmsError(err, 'Decrypt', 'secret sauce\n\u001b[31m');
    expect(stray.message).not.toContain('secret');
    expect(stray.message).toMatch(/^KMS Decrypt failed \(NotFoundException\)/);
  });
});
