/**
 * What was wrong: README and SECURITY.md tell operators to configure `AwsKmsMasterKey` by alias
 * (`keyId: 'alias/keywarden-dm'`) and to give the service `kms:GenerateDataKey` and `kms:Decrypt`
 * only. Since unwrapping was pinned to the configured key (aws-kms-pinned), an instance
 * configured by alias that has not generated a key yet learnt its key ARN through KMS
 * `DescribeKey` before its first unwrap — a permission the documented policy does not grant. A
 * freshly started process (or a BranchKeyProvider over it, for its branch keys) could then open no
 * existing message until it happened to create a new conversation key: every decrypt failed with
 * ERR_KMS_ACCESS_DENIED, not retryable.
 *
 * The same held for a MasterKeyRing (a master key being replaced) whose members are configured by
 * alias: it routes a record by the ARN it names, and a member that could not DescribeKey claimed
 * none, so the ring refused every key with ERR_KMS_KEY_UNAVAILABLE.
 *
 * Now: with only GenerateDataKey and Decrypt allowed, a cold instance configured by alias
 * unwraps existing keys: the Decrypt names the configured alias (so KMS itself refuses a blob
 * under any other key, and nothing is sent to a key the record names but this one is not), and
 * the ARN KMS answers with must be the one the record names. Keys recorded under a foreign ARN are
 * still refused (ERR_KMS_KEY_UNAVAILABLE) and never reach a Decrypt naming that key. A ring asks
 * the members that may not describe their key, in order; each refuses a key that is not its own.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { AwsKmsMasterKey } from '../src/kms/aws.js';
import { BranchKeyProvider, Keywarden, MasterKeyRing, MemoryKeyStore } from '../src/node.js';
import { errorCode } from './support/fixtures.js';
import { type KmsServer, kmsClientFor, startKmsServer } from './support/kms-server.js';

let server: KmsServer;
let own: { keyId: string; arn: string };
let foreign: { keyId: string; arn: string };
const ALIAS = 'alias/kw-min-policy';
beforeAll(async () => {
  server = await startKmsServer();
  own = server.createKey({ description: 'keywarden master key', alias: ALIAS });
  foreign = server.createKey({ description: 'a key the attacker can Encrypt under' });
  // The documented key policy: GenerateDataKey and Decrypt, nothing else.
  server.denyAccess(own.keyId, ['DescribeKey', 'Encrypt', 'ReEncrypt', 'ReEncryptFrom', 'ReEncryptTo']);
});
afterAll(async () => server.close());
beforeEach(() => server.resetCounters());

const text = (s: string) => new TextEncoder().encode(s);
const dec = (b: Uint8Array) => new TextDecoder().decode(b);

describe('AwsKmsMasterKey configured by alias under the documented minimal key policy', () => {
  it('a cold instance opens messages sealed by another instance (no DescribeKey needed)', async () => {
    const keyStore = new MemoryKeyStore();
    const writer = new Keywarden({ masterKey: new AwsKmsMasterKey({ client: kmsClientFor(server), keyId: ALIAS }), keyStore });
    const ct = await writer.encrypt('dm:alice:bob', text('hello'), { aad: 'm1' });
    expect((await keyStore.getLatest('dm:alice:bob'))!.masterKeyId).toBe(own.arn);

    // A process that just started: it has not generated any key, so it does not know the ARN yet.
    const reader = new Keywarden({ masterKey: new AwsKmsMasterKey({ client: kmsClientFor(server), keyId: ALIAS }), keyStore });
    expect(dec(await reader.decrypt('dm:alice:bob', ct, { aad: 'm1' }))).toBe('hello');
    // and it seals under the existing version (an unwrap, then a seal) too
    const ct2 = await reader.encrypt('dm:alice:bob', text('again'), { aad: 'm2' });
    expect(dec(await writer.decrypt('dm:alice:bob', ct2, { aad: 'm2' }))).toBe('again');
  });

  it('a branch provider over an alias unwraps its existing branch key on a cold start', async () => {
    const keyStore = new MemoryKeyStore();
    const branchStore = new MemoryKeyStore();
    const mk = () => new BranchKeyProvider({ masterKey: new AwsKmsMasterKey({ client: kmsClientFor(server), keyId: ALIAS }), store: branchStore });
    const ct = await new Keywarden({ masterKey: mk(), keyStore }).encrypt('dm:carol:dave', text('branch'), { aad: 'm1' });
    const reader = new Keywarden({ masterKey: mk(), keyStore });
    expect(dec(await reader.decrypt('dm:carol:dave', ct, { aad: 'm1' }))).toBe('branch');
  });

  it('still refuses a record rewritten to name a foreign key, before any Decrypt naming it', async () => {
    const keyStore = new MemoryKeyStore();
    await new Keywarden({ masterKey: new AwsKmsMasterKey({ client: kmsClientFor(server), keyId: ALIAS }), keyStore }).encrypt('dm:x:y', text('before'));
    const rec = (await keyStore.getLatest('dm:x:y'))!;
    const ctx = { 'keywarden:purpose': 'conversation-data-key', 'keywarden:conversation': 'dm:x:y', 'keywarden:key-version': String(rec.version) };
    const { ciphertextBlob, keyArn } = server.encryptDirect(foreign.keyId, new Uint8Array(32).fill(0x41), ctx);
    await keyStore.updateWrappings([{ conversationId: 'dm:x:y', version: rec.version, expected: { masterKeyId: rec.masterKeyId, wrappedKey: rec.wrappedKey }, next: { masterKeyId: keyArn, wrappedKey: ciphertextBlob } }]);
    server.resetCounters();
    const cold = new Keywarden({ masterKey: new AwsKmsMasterKey({ client: kmsClientFor(server), keyId: ALIAS }), keyStore });
    expect(await errorCode(cold.encrypt('dm:x:y', text('meet at 9')))).toBe('ERR_KMS_KEY_UNAVAILABLE');
    expect(server.log.filter((l) => l.op === 'Decrypt' && l.keyId === foreign.keyId)).toHaveLength(0);
    expect(server.log.filter((l) => l.op === 'Decrypt' && l.status === 200)).toHaveLength(0); // nothing was decrypted
  });

  it('a record naming the foreign ARN but holding a blob of this key is refused too (the ARNs must agree)', async () => {
    const keyStore = new MemoryKeyStore();
    await new Keywarden({ masterKey: new AwsKmsMasterKey({ client: kmsClientFor(server), keyId: ALIAS }), keyStore }).encrypt('dm:p:q', text('x'));
    const rec = (await keyStore.getLatest('dm:p:q'))!;
    await keyStore.updateWrappings([{ conversationId: 'dm:p:q', version: rec.version, expected: { masterKeyId: rec.masterKeyId, wrappedKey: rec.wrappedKey }, next: { masterKeyId: foreign.arn, wrappedKey: rec.wrappedKey } }]);
    const cold = new Keywarden({ masterKey: new AwsKmsMasterKey({ client: kmsClientFor(server), keyId: ALIAS }), keyStore });
    expect(await errorCode(cold.encrypt('dm:p:q', text('y')))).toBe('ERR_KMS_KEY_UNAVAILABLE');
  });

  it('a cold MasterKeyRing of alias-configured members opens keys under either member', async () => {
    const other = server.createKey({ description: 'the previous master key', alias: 'alias/kw-min-old' });
    server.denyAccess(other.keyId, ['DescribeKey']);
    const keyStore = new MemoryKeyStore();
    const ring = () => new MasterKeyRing(new AwsKmsMasterKey({ client: kmsClientFor(server), keyId: ALIAS }), [new AwsKmsMasterKey({ client: kmsClientFor(server), keyId: 'alias/kw-min-old' })]);
    const oldOnly = new Keywarden({ masterKey: new AwsKmsMasterKey({ client: kmsClientFor(server), keyId: 'alias/kw-min-old' }), keyStore });
    const ctOld = await oldOnly.encrypt('dm:old', text('under the old key'), { aad: 'm' });
    const ctNew = await new Keywarden({ masterKey: ring(), keyStore }).encrypt('dm:new', text('under the new key'), { aad: 'm' });
    const cold = new Keywarden({ masterKey: ring(), keyStore });
    expect(dec(await cold.decrypt('dm:new', ctNew, { aad: 'm' }))).toBe('under the new key');
    expect(dec(await new Keywarden({ masterKey: ring(), keyStore }).decrypt('dm:old', ctOld, { aad: 'm' }))).toBe('under the old key');
    // and a foreign key is still refused by every member
    const rec = (await keyStore.getLatest('dm:new'))!;
    const ctx = { 'keywarden:purpose': 'conversation-data-key', 'keywarden:conversation': 'dm:new', 'keywarden:key-version': String(rec.version) };
    const { ciphertextBlob, keyArn } = server.encryptDirect(foreign.keyId, new Uint8Array(32).fill(0x41), ctx);
    await keyStore.updateWrappings([{ conversationId: 'dm:new', version: rec.version, expected: { masterKeyId: rec.masterKeyId, wrappedKey: rec.wrappedKey }, next: { masterKeyId: keyArn, wrappedKey: ciphertextBlob } }]);
    server.resetCounters();
    expect(await errorCode(new Keywarden({ masterKey: ring(), keyStore }).encrypt('dm:new', text('x')))).toBe('ERR_KMS_KEY_UNAVAILABLE');
    expect(server.log.filter((l) => l.op === 'Decrypt' && l.keyId === foreign.keyId)).toHaveLength(0);
    expect(server.log.filter((l) => l.op === 'Decrypt' && l.status === 200)).toHaveLength(0);
  });
});
