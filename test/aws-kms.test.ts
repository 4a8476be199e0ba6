/**
 * AwsKmsMasterKey with the real @aws-sdk/client-kms over HTTP, against the KMS-compatible
 * endpoint in test/support/kms-server.ts on 127.0.0.1.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { AwsKmsMasterKey, mapKmsError } from '../src/kms/aws.js';
import { BranchKeyProvider, Keywarden, KmsError, MemoryKeyStore, inspectCiphertext } from '../src/node.js';
import { type KmsServer, kmsClientFor, startKmsServer } from './support/kms-server.js';
import { errorCode } from './support/fixtures.js';

let server: KmsServer;
let keyArn: string;
let keyId: string;

beforeAll(async () => {
  server = await startKmsServer();
  const key = server.createKey({ description: 'keywarden tests', alias: 'alias/keywarden-test' });
  keyArn = key.arn;
  keyId = key.keyId;
});
afterAll(async () => server.close());
beforeEach(() => {
  server.faults.reset();
  server.resetCounters();
  server.setKeyState(keyId, 'Enabled');
  server.allowAccess(keyId);
});

const text = (s: string) => new TextEncoder().encode(s);
const make = (config = {}, id = 'alias/keywarden-test') => {
  const keyStore = new MemoryKeyStore();
  const masterKey = new AwsKmsMasterKey({ client: kmsClientFor(server, config), keyId: id });
  return { keyStore, masterKey, kw: new Keywarden({ masterKey, keyStore }) };
};

describe('AwsKmsMasterKey', () => {
  it('wraps with GenerateDataKey and unwraps with Decrypt, binding conversation and version in the EncryptionContext', async () => {
    const { kw, keyStore, masterKey } = make();
    const ct = await kw.encrypt('conv-a', text('hello'));
    expect(server.calls.GenerateDataKey).toBe(1);
    const gen = server.log.find((l) => l.op === 'GenerateDataKey')!;
    expect(gen.encryptionContext).toEqual({
      'keywarden:purpose': 'conversation-data-key',
      'keywarden:conversation': 'conv-a',
      'keywarden:key-version': '1',
    });
    const rec = (await keyStore.getLatest('conv-a'))!;
    expect(rec.masterKeyId).toBe(keyArn); // the alias resolved to the key ARN
    expect(rec.wrappedKey.length).toBeGreaterThan(32);
    // A second instance (cold cache) unwraps through KMS Decrypt.
    const other = new Keywarden({ masterKey, keyStore });
    expect(new TextDecoder().decode(await other.decrypt('conv-a', ct))).toBe('hello');
    expect(server.calls.Decrypt).toBe(1);
    expect(server.log.find((l) => l.op === 'Decrypt')!.encryptionContext).toEqual(gen.encryptionContext);
  });

  it('a branch key binds its purpose, branch and branch version in the EncryptionContext (docs/KEYS.md §9)', async () => {
    const { masterKey } = make();
    const branchStore = new MemoryKeyStore();
    const keyStore = new MemoryKeyStore();
    const kw = new Keywarden({ masterKey: new BranchKeyProvider({ masterKey, store: branchStore }), keyStore });
    const ct = await kw.encrypt('conv-b', text('hi'));
    const gen = server.log.filter((l) => l.op === 'GenerateDataKey');
    expect(gen.map((l) => l.encryptionContext)).toEqual([{ 'keywarden:purpose': 'branch-key', 'keywarden:branch': 'default', 'keywarden:branch-version': '1' }]);
    // A cold provider unwraps the branch key with the same context, and nothing else goes to KMS.
    const cold = new Keywarden({ masterKey: new BranchKeyProvider({ masterKey, store: branchStore }), keyStore });
    expect(new TextDecoder().decode(await cold.decrypt('conv-b', ct))).toBe('hi');
    expect(server.log.filter((l) => l.op === 'Decrypt').map((l) => l.encryptionContext)).toEqual([gen[0]!.encryptionContext]);
  });

  it('KMS refuses a wrapped key moved to another conversation or version (EncryptionContext enforced)', async () => {
    const { kw, keyStore, masterKey } = make();
    await kw.encrypt('victim', text('secret'));
    await kw.encrypt('attacker', text('mine'));
    const victim = (await keyStore.getLatest('victim'))!;
    // The attacker's conversation row now carries the victim's wrapped key.
    const forged = new MemoryKeyStore();
    await forged.insertFirst({ ...victim, conversationId: 'attacker' });
    const cold = new Keywarden({ masterKey, keyStore: forged });
    const err = await cold.encrypt('attacker', text('x')).catch((e) => e);
    expect(err).toBeInstanceOf(KmsError);
    expect(err.code).toBe('ERR_KMS_INVALID_CIPHERTEXT');
    expect(err.cause.name).toBe('InvalidCiphertextException');
    // Same for another version of the same conversation.
    const forged2 = new MemoryKeyStore();
    await forged2.insertFirst(victim);
    await forged2.insertNext({ ...victim, version: 2, activatedAt: new Date() }, 1);
    expect(await errorCode(new Keywarden({ masterKey, keyStore: forged2 }).encrypt('victim', text('x')))).toBe('ERR_KMS_INVALID_CIPHERTEXT');
  });

  it('100 concurrent first encrypts under KMS latency make one GenerateDataKey call', async () => {
    const { kw } = make();
    server.faults.latencyMs = 30;
    const cts = await Promise.all(Array.from({ length: 100 }, (_, i) => kw.encrypt('slow', text(String(i)))));
    expect(server.calls.GenerateDataKey).toBe(1);
    expect(cts.every((c) => inspectCiphertext(c).keyVersion === 1)).toBe(true);
    expect(kw.stats().kms).toEqual({ generateDataKey: 1, unwrapDataKey: 0 });
  });

  it('maps throttling to ERR_KMS_UNAVAILABLE (retryable) and writes nothing', async () => {
    const { kw, keyStore } = make({ maxAttempts: 1 });
    server.faults.throttleNext(1);
    const err = await kw.encrypt('t', text('x')).catch((e) => e);
    expect([err.code, err.retryable, err.cause?.name]).toEqual(['ERR_KMS_UNAVAILABLE', true, 'ThrottlingException']);
    expect(await keyStore.getLatest('t')).toBeUndefined();
    // The next call succeeds: nothing was cached from the failure.
    await kw.encrypt('t', text('x'));
  });

  it('the SDK retries a single throttle transparently with its default strategy', async () => {
    const { kw } = make();
    server.faults.throttleNext(1);
    await kw.encrypt('retry', text('x'));
    expect(server.calls.GenerateDataKey).toBe(2);
  });

  it('maps HTTP 500 and a dropped connection to ERR_KMS_UNAVAILABLE', async () => {
    const { kw } = make({ maxAttempts: 1 });
    server.faults.failNext(1, 500);
    expect(await kw.encrypt('f', text('x')).catch((e) => [e.code, e.retryable])).toEqual(['ERR_KMS_UNAVAILABLE', true]);
    server.faults.dropNext(1);
    expect(await kw.encrypt('f', text('x')).catch((e) => [e.code, e.retryable])).toEqual(['ERR_KMS_UNAVAILABLE', true]);
  });

  it('maps access denied, disabled, pending deletion and unknown keys', async () => {
    const { kw } = make({ maxAttempts: 1 });
    server.denyAccess(keyId);
    expect(await errorCode(kw.encrypt('d1', text('x')))).toBe('ERR_KMS_ACCESS_DENIED');
    server.allowAccess(keyId);
    server.setKeyState(keyId, 'Disabled');
    expect(await errorCode(kw.encrypt('d2', text('x')))).toBe('ERR_KMS_KEY_UNAVAILABLE');
    server.setKeyState(keyId, 'PendingDeletion');
    expect(await errorCode(kw.encrypt('d3', text('x')))).toBe('ERR_KMS_KEY_UNAVAILABLE');
    server.setKeyState(keyId, 'Enabled');
    const missing = make({ maxAttempts: 1 }, 'alias/does-not-exist').kw;
    const err = await missing.encrypt('d4', text('x')).catch((e) => e);
    expect([err.code, err.retryable, err.cause.name]).toEqual(['ERR_KMS_KEY_UNAVAILABLE', false, 'NotFoundException']);
  });

  it('a key disabled after wrapping stops unwraps on cold instances, not warm ones', async () => {
    const { kw, keyStore, masterKey } = make({ maxAttempts: 1 });
    const ct = await kw.encrypt('warm', text('x'));
    server.setKeyState(keyId, 'Disabled');
    await kw.decrypt('warm', ct); // cached key: no KMS call
    const cold = new Keywarden({ masterKey, keyStore });
    expect(await errorCode(cold.decrypt('warm', ct))).toBe('ERR_KMS_KEY_UNAVAILABLE');
  });

  it('errors never carry key material', async () => {
    const { kw } = make({ maxAttempts: 1 });
    server.faults.throttleNext(1);
    const err = await kw.encrypt('leak', text('top secret plaintext')).catch((e) => e);
    expect(JSON.stringify({ m: err.message, s: err.stack })).not.toContain('top secret');
  });

  it('validates its options', () => {
    expect(() => new AwsKmsMasterKey({ client: {} as never, keyId: 'k' })).toThrow(expect.objectContaining({ param: 'options.client' }));
    expect(() => new AwsKmsMasterKey({ client: kmsClientFor(server), keyId: '' })).toThrow(expect.objectContaining({ param: 'options.keyId' }));
    expect(() => new AwsKmsMasterKey({ client: kmsClientFor(server), keyId: 'k', extra: 1 } as never)).toThrow(expect.objectContaining({ param: 'options.extra' }));
  });

  it('mapKmsError classifies by name, fault and network code', () => {
    const c = (e: object) => mapKmsError(e, 'Op').code;
    expect(c({ name: 'KMSInternalException', $fault: 'server' })).toBe('ERR_KMS_UNAVAILABLE');
    expect(c({ name: 'Whatever', $fault: 'server' })).toBe('ERR_KMS_UNAVAILABLE');
    expect(c({ name: 'Error', code: 'ECONNREFUSED' })).toBe('ERR_KMS_UNAVAILABLE');
    expect(c({ name: 'IncorrectKeyException' })).toBe('ERR_KMS_INVALID_CIPHERTEXT');
    expect(c({ name: 'ValidationException', $fault: 'client' })).toBe('ERR_KMS_FAILED');
  });
});
