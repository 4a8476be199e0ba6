/**
 * Handling keywarden's errors: stable codes, one error for every failed decryption, and a check
 * that works whether your dependencies loaded keywarden's ESM or CommonJS build.
 * Run: `npx tsx examples/errors.ts`.
 */
import assert from 'node:assert/strict';
// #region readme
import { Keywarden, LocalMasterKey, MemoryKeyStore, isKeywardenError } from 'keywarden';

/** Opens a stored message; null when it cannot be authenticated (tampered, or moved between rows). */
async function openMessage(kw: Keywarden, conversationId: string, row: { id: string; body: Uint8Array }): Promise<string | null> {
  try {
    return await kw.decryptString(conversationId, row.body, { aad: row.id });
  } catch (err) {
    if (!isKeywardenError(err)) throw err;
    switch (err.code) {
      case 'ERR_DECRYPT_FAILED':
        return null; // one code for every authentication or format failure: no oracle
      case 'ERR_INVALID_INPUT':
        throw new Error(`bug in the caller: ${err.param}`, { cause: err }); // err is an InvalidInputError here
      default:
        throw err; // err.retryable: KMS throttling, store outages, ... may succeed later
    }
  }
}
// #endregion readme

async function main(): Promise<void> {
  const kw = new Keywarden({ masterKey: new LocalMasterKey(LocalMasterKey.generateKey()), keyStore: new MemoryKeyStore() });
  const body = await kw.encryptString('dm:alice:bob', 'hi', { aad: 'msg-1' });
  assert.equal(await openMessage(kw, 'dm:alice:bob', { id: 'msg-1', body }), 'hi');
  assert.equal(await openMessage(kw, 'dm:alice:bob', { id: 'msg-2', body }), null); // moved to another row
  assert.equal(await openMessage(kw, 'dm:alice:eve', { id: 'msg-1', body }), null); // moved to another conversation
  await assert.rejects(openMessage(kw, '', { id: 'msg-1', body }), /bug in the caller: conversationId/);
  console.log('errors ok');
  kw.close();
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
