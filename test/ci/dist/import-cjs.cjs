// Requires the built package (dist/) through its own name and "exports" map, as a CommonJS consumer.
const assert = require('node:assert/strict');
const { Keywarden, LocalMasterKey, MemoryKeyStore, KmsError, inspectCiphertext } = require('keywarden');
const portable = require('keywarden/portable');
const { AwsKmsMasterKey, mapKmsError } = require('keywarden/aws');
const { PostgresKeyStore } = require('keywarden/postgres');
const { verifyTlogProof } = require('keywarden/tlog');
const { BreakGlass } = require('keywarden/breakglass');
const { FileAuditStore } = require('keywarden/audit');

(async () => {
  const masterKey = new LocalMasterKey(LocalMasterKey.generateKey());
  const keyStore = new MemoryKeyStore();
  const kw = new Keywarden({ masterKey, keyStore });
  assert.equal(kw.implementation, 'node');
  const ct = await kw.encryptString('cjs', 'hello', { aad: 'm1' });
  assert.equal(inspectCiphertext(ct).overhead, 38);
  assert.equal(await kw.decryptString('cjs', ct, { aad: 'm1' }), 'hello');
  const pk = new portable.Keywarden({ masterKey, keyStore });
  assert.equal(pk.implementation, 'noble');
  assert.equal(await pk.decryptString('cjs', ct, { aad: 'm1' }), 'hello');
  assert.equal(typeof AwsKmsMasterKey, 'function');
  assert.ok(mapKmsError({ name: 'ThrottlingException' }, 'Op') instanceof KmsError, 'one KmsError class across entry points');
  for (const f of [PostgresKeyStore, verifyTlogProof, BreakGlass, FileAuditStore]) assert.equal(typeof f, 'function');
  console.log('dist CJS require ok');
})().catch((err) => {
  console.error(err);
  process.exit(1);
});
