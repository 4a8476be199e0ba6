/**
 * Unwrapping is pinned to the configured KMS keys (outside review, 2026-12-01). A key record
 * names the KMS key its data key is wrapped under, and someone who can write the key store can
 * rewrite it: wrap a data key of their own choosing under any KMS key the service's credentials
 * may Decrypt with (another key in the account, or a key in their own account whose policy lets
 * the service's role in), with the encryption context keywarden asks for, and point the record
 * at it. Before, AwsKmsMasterKey sent Decrypt to whatever key the record named, and the service
 * then sealed new messages under a data key the attacker knew. Now a key recorded under an ARN
 * that is neither this master key's nor one of its `previousKeyIds` is refused before any KMS
 * call (ERR_KMS_KEY_UNAVAILABLE), and re-wrap does not launder such a key into the new master key.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { AwsKmsMasterKey } from '../src/kms/aws.js';
import { Keywarden, LocalMasterKey, MasterKeyRing, MemoryKeyStore } from '../src/node.js';
import { errorCode } from './support/fixtures.js';
import { type KmsServer, kmsClientFor, startKmsServer } from './support/kms-server.js';

let server: KmsServer;
let own: { keyId: string; arn: string };
let foreign: { keyId: string; arn: string };
beforeAll(async () => {
  server = await startKmsServer();
  own = server.createKey({ description: 'keywarden master key', alias: 'alias/kw-pinned' });
  foreign = server.createKey({ description: 'a key the attacker can Encrypt under' });
});
afterAll(async () => server.close());
beforeEach(() => server.resetCounters());

const text = (s: string) => new TextEncoder().encode(s);

/** Rewrites conversation `c`'s active record to an attacker-chosen data key wrapped under `arn`'s key. */
async function substitute(keyStore: MemoryKeyStore, c: string, keyId: string): Promise<void> {
  const rec = (await keyStore.getLatest(c))!;
  const ctx = { 'keywarden:purpose': 'conversation-data-key', 'keywarden:conversation': c, 'keywarden:key-version': String(rec.version) };
  const { ciphertextBlob, keyArn } = server.encryptDirect(keyId, new Uint8Array(32).fill(0x41), ctx);
  const [ok] = await keyStore.updateWrappings([{ conversationId: c, version: rec.version,
    expected: { masterKeyId: rec.masterKeyId, wrappedKey: rec.wrappedKey }, next: { masterKeyId: keyArn, wrappedKey: ciphertextBlob } }]);
  expect(ok).toBe(true);
}

const decryptsNaming = (arn: string) => server.log.filter((l) => l.op === 'Decrypt' && l.keyId !== undefined && arn.endsWith(`key/${l.keyId}`)).length;

describe('AwsKmsMasterKey unwraps only under its own key and its previousKeyIds', () => {
  for (const configured of ['alias/kw-pinned', 'arn']) {
    it(`a record rewritten to name a foreign KMS key is refused before any Decrypt (configured by ${configured})`, async () => {
      const keyId = configured === 'arn' ? own.arn : configured;
      const keyStore = new MemoryKeyStore();
      const masterKey = new AwsKmsMasterKey({ client: kmsClientFor(server), keyId });
      await new Keywarden({ masterKey, keyStore }).encrypt('dm:alice:bob', text('before'));
      await substitute(keyStore, 'dm:alice:bob', foreign.keyId);
      server.resetCounters();
      // A cold instance: the next message would have been sealed under the attacker's data key.
      const cold = new Keywarden({ masterKey: new AwsKmsMasterKey({ client: kmsClientFor(server), keyId }), keyStore });
      expect(await errorCode(cold.encrypt('dm:alice:bob', text('meet at 9')))).toBe('ERR_KMS_KEY_UNAVAILABLE');
      expect(decryptsNaming(foreign.arn)).toBe(0);
    });
  }

  it('a ring refuses it too: no member claims a key it was not configured with', async () => {
    const keyStore = new MemoryKeyStore();
    const aws = new AwsKmsMasterKey({ client: kmsClientFor(server), keyId: 'alias/kw-pinned' });
    const ring = new MasterKeyRing(aws, [new LocalMasterKey(LocalMasterKey.generateKey())]);
    await new Keywarden({ masterKey: ring, keyStore }).encrypt('c1', text('x'));
    await substitute(keyStore, 'c1', foreign.keyId);
    server.resetCounters();
    const cold = new Keywarden({ masterKey: new MasterKeyRing(new AwsKmsMasterKey({ client: kmsClientFor(server), keyId: 'alias/kw-pinned' }), []), keyStore });
    expect(await errorCode(cold.encrypt('c1', text('y')))).toBe('ERR_KMS_KEY_UNAVAILABLE');
    expect(decryptsNaming(foreign.arn)).toBe(0);
    expect(ring.handlesKeyId(foreign.arn)).toBe(false);
  });

  it('keys under a previous master key open when its ARN is listed in previousKeyIds, and only then', async () => {
    const old = server.createKey({ alias: 'alias/kw-old' });
    const keyStore = new MemoryKeyStore();
    const before = new Keywarden({ masterKey: new AwsKmsMasterKey({ client: kmsClientFor(server), keyId: 'alias/kw-old' }), keyStore });
    const ct = await before.encrypt('c2', text('sealed under the old key'));
    const strict = new Keywarden({ masterKey: new AwsKmsMasterKey({ client: kmsClientFor(server), keyId: own.arn }), keyStore });
    expect(await errorCode(strict.decrypt('c2', ct))).toBe('ERR_KMS_KEY_UNAVAILABLE');
    const listed = new Keywarden({ masterKey: new AwsKmsMasterKey({ client: kmsClientFor(server), keyId: own.arn, previousKeyIds: [old.arn] }), keyStore });
    expect(new TextDecoder().decode(await listed.decrypt('c2', ct))).toBe('sealed under the old key');
    // A ring of the two keys, each configured by alias, routes by the ARNs behind the aliases.
    const ring = new MasterKeyRing(new AwsKmsMasterKey({ client: kmsClientFor(server), keyId: 'alias/kw-pinned' }), [new AwsKmsMasterKey({ client: kmsClientFor(server), keyId: 'alias/kw-old' })]);
    expect(new TextDecoder().decode(await new Keywarden({ masterKey: ring, keyStore }).decrypt('c2', ct))).toBe('sealed under the old key');
  });

  it('re-wrap does not move a substituted key into the new master key', async () => {
    const old = server.createKey({ alias: 'alias/kw-old-2' });
    const keyStore = new MemoryKeyStore();
    const before = new Keywarden({ masterKey: new AwsKmsMasterKey({ client: kmsClientFor(server), keyId: 'alias/kw-old-2' }), keyStore });
    await before.encrypt('good', text('a'));
    await before.encrypt('bad', text('b'));
    await substitute(keyStore, 'bad', foreign.keyId);
    server.resetCounters();
    const to = new AwsKmsMasterKey({ client: kmsClientFor(server), keyId: own.arn, previousKeyIds: [old.arn] });
    const err = await new Keywarden({ masterKey: to, keyStore }).rewrap({ maxAttempts: 1 }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'ERR_KMS_KEY_UNAVAILABLE' });
    // The substituted record still names the foreign key: nothing re-encrypted it under ours.
    expect((await keyStore.getLatest('bad'))!.masterKeyId).toBe(foreign.arn);
    expect(server.log.filter((l) => l.op === 'ReEncrypt' || l.op === 'Decrypt').every((l) => l.keyId !== foreign.keyId)).toBe(true);
  });

  it('validates previousKeyIds: key ARNs only', () => {
    const client = kmsClientFor(server);
    expect(() => new AwsKmsMasterKey({ client, keyId: own.arn, previousKeyIds: ['alias/old'] })).toThrow(expect.objectContaining({ param: 'options.previousKeyIds[0]' }));
    expect(() => new AwsKmsMasterKey({ client, keyId: own.arn, previousKeyIds: 'arn' as never })).toThrow(expect.objectContaining({ param: 'options.previousKeyIds' }));
  });
});
