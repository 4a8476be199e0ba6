// Imports the built package (dist/) through its own name and "exports" map, as an ESM consumer.
import assert from 'node:assert/strict';
import { Keywarden, LocalMasterKey, MemoryKeyStore, KmsError, inspectCiphertext } from 'keywarden';
import * as portable from 'keywarden/portable';
import { AwsKmsMasterKey, mapKmsError } from 'keywarden/aws';

const masterKey = new LocalMasterKey(LocalMasterKey.generateKey());
const keyStore = new MemoryKeyStore();
const kw = new Keywarden({ masterKey, keyStore });
assert.equal(kw.implementation, 'node');
const ct = await kw.encryptString('esm', 'hello', { aad: 'm1' });
assert.equal(inspectCiphertext(ct).overhead, 34);
assert.equal(await kw.decryptString('esm', ct, { aad: 'm1' }), 'hello');

const pk = new portable.Keywarden({ masterKey, keyStore });
assert.equal(pk.implementation, 'noble');
assert.equal(await pk.decryptString('esm', ct, { aad: 'm1' }), 'hello');

assert.equal(typeof AwsKmsMasterKey, 'function');
assert.ok(mapKmsError({ name: 'ThrottlingException' }, 'Op') instanceof KmsError, 'one KmsError class across entry points');
console.log('dist ESM import ok');
