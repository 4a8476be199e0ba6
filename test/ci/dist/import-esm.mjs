// Imports the built package (dist/) through its own name and "exports" map, as an ESM consumer.
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { DecryptionError, Keywarden, KeywardenError, LocalMasterKey, MemoryKeyStore, KmsError, inspectCiphertext, isKeywardenError } from 'keywarden';
import { AuditLog, MemoryAuditStore } from 'keywarden/audit';
import { generateNoteKey } from 'keywarden/tlog';
import { createRequest } from 'keywarden/breakglass';
import * as portable from 'keywarden/portable';
import { AwsKmsMasterKey, mapKmsError } from 'keywarden/aws';

const masterKey = new LocalMasterKey(LocalMasterKey.generateKey());
const keyStore = new MemoryKeyStore();
const kw = new Keywarden({ masterKey, keyStore });
assert.equal(kw.implementation, 'node');
const ct = await kw.encryptString('esm', 'hello', { aad: 'm1' });
assert.equal(inspectCiphertext(ct).overhead, 38);
assert.equal(await kw.decryptString('esm', ct, { aad: 'm1' }), 'hello');

const pk = new portable.Keywarden({ masterKey, keyStore });
assert.equal(pk.implementation, 'noble');
assert.equal(await pk.decryptString('esm', ct, { aad: 'm1' }), 'hello');

assert.equal(typeof AwsKmsMasterKey, 'function');
assert.ok(mapKmsError({ name: 'ThrottlingException' }, 'Op') instanceof KmsError, 'one KmsError class across entry points');

// The dual-package hazard: the CommonJS copy's errors are recognised by the ESM copy, and back.
const cjs = createRequire(import.meta.url)('keywarden');
assert.notEqual(cjs.KeywardenError, KeywardenError, 'two copies of the classes are loaded');
const fromCjs = await new cjs.Keywarden({ masterKey, keyStore }).decrypt('esm', ct, { aad: 'wrong' }).catch((e) => e);
assert.ok(isKeywardenError(fromCjs, 'ERR_DECRYPT_FAILED'), 'isKeywardenError across copies');
assert.ok(fromCjs instanceof KeywardenError && fromCjs instanceof DecryptionError && !(fromCjs instanceof KmsError), 'instanceof across copies');
assert.ok(cjs.isKeywardenError(new DecryptionError()) && new DecryptionError() instanceof cjs.DecryptionError);
// A KeyCache of the other copy cannot be shared: refused, not silently made a private cache.
assert.throws(() => new Keywarden({ masterKey, keyStore, cache: new cjs.KeyCache({ maxEntries: 10 }) }), (e) => isKeywardenError(e, 'ERR_INVALID_INPUT') && e.param === 'options.cache');

// Every subpath loads and shares the root's error classes.
const log = await AuditLog.open({ store: new MemoryAuditStore(), signerKey: generateNoteKey('dist.example/log').signerKey });
assert.equal(log.size, 0);
assert.throws(() => createRequest({}), (e) => e instanceof KeywardenError && e.code === 'ERR_INVALID_INPUT');
console.log('dist ESM import ok');
